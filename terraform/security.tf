# Security groups: `<prefix>-mgmt` on the management server's port (ssh only from
# `restrict_mgmt_server`, ICMP from anywhere), and `<prefix>-allow-ssh` /
# `<prefix>-allow-icmp`, which the clusters' machine templates attach to every node
# (src/render: `${PREFIX}-allow-ssh`, `${PREFIX}-allow-icmp`). scs-capi's cleanup never
# deletes groups with these names.

locals {
  # A bare address means that one host; CIDRs are normalised to their network address
  # (Neutron rejects or rewrites prefixes with host bits set).
  to_cidr = {
    for c in distinct(concat(var.restrict_mgmt_server, var.node_ssh_cidrs)) :
    c => cidrsubnet(strcontains(c, "/") ? c : "${c}/${strcontains(c, ":") ? 128 : 32}", 0, 0)
  }
  mgmt_ssh_cidrs = toset([for c in var.restrict_mgmt_server : local.to_cidr[c]])
  node_ssh_cidrs = toset([for c in var.node_ssh_cidrs : local.to_cidr[c]])
}

resource "openstack_networking_secgroup_v2" "mgmt" {
  name        = "${var.prefix}-mgmt"
  description = "scs-capi management server: ssh from restrict_mgmt_server, ICMP (managed by terraform)"
}

resource "openstack_networking_secgroup_rule_v2" "mgmt_ssh" {
  for_each          = local.mgmt_ssh_cidrs
  security_group_id = openstack_networking_secgroup_v2.mgmt.id
  direction         = "ingress"
  ethertype         = strcontains(each.value, ":") ? "IPv6" : "IPv4"
  protocol          = "tcp"
  port_range_min    = 22
  port_range_max    = 22
  remote_ip_prefix  = each.value
  description       = "ssh from ${each.value}"
}

resource "openstack_networking_secgroup_rule_v2" "mgmt_icmp" {
  security_group_id = openstack_networking_secgroup_v2.mgmt.id
  direction         = "ingress"
  ethertype         = "IPv4"
  protocol          = "icmp"
  remote_ip_prefix  = "0.0.0.0/0"
  description       = "ICMP (ping, path MTU discovery)"
}

resource "openstack_networking_secgroup_v2" "allow_ssh" {
  name        = "${var.prefix}-allow-ssh"
  description = "scs-capi cluster nodes: ssh from node_ssh_cidrs (managed by terraform)"
}

resource "openstack_networking_secgroup_rule_v2" "allow_ssh" {
  for_each          = local.node_ssh_cidrs
  security_group_id = openstack_networking_secgroup_v2.allow_ssh.id
  direction         = "ingress"
  ethertype         = strcontains(each.value, ":") ? "IPv6" : "IPv4"
  protocol          = "tcp"
  port_range_min    = 22
  port_range_max    = 22
  remote_ip_prefix  = each.value
  description       = "ssh from ${each.value}"
}

resource "openstack_networking_secgroup_v2" "allow_icmp" {
  name        = "${var.prefix}-allow-icmp"
  description = "scs-capi cluster nodes: ICMP (managed by terraform)"
}

resource "openstack_networking_secgroup_rule_v2" "allow_icmp" {
  security_group_id = openstack_networking_secgroup_v2.allow_icmp.id
  direction         = "ingress"
  ethertype         = "IPv4"
  protocol          = "icmp"
  remote_ip_prefix  = "0.0.0.0/0"
  description       = "ICMP (ping, path MTU discovery)"
}
