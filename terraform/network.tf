# The management server's network: `<prefix>-net` with one IPv4 subnet, a router to the
# external network, and the external network itself (given or auto-detected).

locals {
  # A Neutron network ID is a UUID; anything else is a name.
  external_is_id = can(regex("^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$", var.external))
}

# With `external` empty this filters on `router:external` alone, so it finds the only
# external network; the provider fails with "more than one result" when there are
# several (then set `external`).
data "openstack_networking_network_v2" "external" {
  network_id = local.external_is_id ? var.external : null
  name       = var.external != "" && !local.external_is_id ? var.external : null
  external   = true
}

resource "openstack_networking_network_v2" "mgmt" {
  name           = "${var.prefix}-net"
  description    = "scs-capi management server network (managed by terraform)"
  admin_state_up = true
}

resource "openstack_networking_subnet_v2" "mgmt" {
  name            = "${var.prefix}-subnet"
  description     = "scs-capi management server subnet (managed by terraform)"
  network_id      = openstack_networking_network_v2.mgmt.id
  ip_version      = 4
  cidr            = var.mgmt_cidr
  dns_nameservers = var.dns_nameservers

  allocation_pool {
    start = var.mgmt_ip_range.start
    end   = var.mgmt_ip_range.end
  }

  lifecycle {
    # An address is inside the CIDR when masking it with the CIDR's prefix length gives
    # the CIDR's network address.
    precondition {
      condition = alltrue([
        for ip in [var.mgmt_ip_range.start, var.mgmt_ip_range.end] :
        cidrhost("${ip}/${split("/", var.mgmt_cidr)[1]}", 0) == cidrhost(var.mgmt_cidr, 0)
      ])
      error_message = "The mgmt_ip_range (${var.mgmt_ip_range.start} - ${var.mgmt_ip_range.end}) must lie inside mgmt_cidr (${var.mgmt_cidr})."
    }
  }
}

# No `availability_zone_hints` (R4 set the compute AZ here): Neutron's zones are often
# named differently from Nova's, and the router works in any of them.
resource "openstack_networking_router_v2" "mgmt" {
  name                = "${var.prefix}-rtr"
  description         = "scs-capi management server router (managed by terraform)"
  external_network_id = data.openstack_networking_network_v2.external.id
}

resource "openstack_networking_router_interface_v2" "mgmt" {
  router_id = openstack_networking_router_v2.mgmt.id
  subnet_id = openstack_networking_subnet_v2.mgmt.id
}
