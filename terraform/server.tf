# The management server `<prefix>-mgmtcluster`: its port and floating IP, the VM (from
# a volume when `mgmt_root_disk_gib` > 0), its cloud-init, and in binary mode the copy of
# a locally built scs-capi.

data "openstack_compute_flavor_v2" "mgmt" {
  name = var.kind_flavor
}

# The newest image of that name (SCS clouds replace images under the same name).
data "openstack_images_image_v2" "mgmt" {
  name        = var.image
  most_recent = true
}

locals {
  boot_from_volume = var.mgmt_root_disk_gib > 0
  cacert_path      = var.cacert_file != "" ? "/home/${var.ssh_username}/.config/openstack/cacert.pem" : ""
  # Binary mode: the checksum of the local file goes into the user-data, so the server
  # checks what arrives over ssh against what terraform saw.
  scs_capi_sha256 = lower(var.scs_capi_binary != "" ? filesha256(pathexpand(var.scs_capi_binary)) : var.scs_capi_sha256)

  clouds_yaml = templatefile("${path.module}/templates/clouds.yaml.tftpl", {
    cloud_provider = var.cloud_provider
    auth_url       = var.auth_url
    appcred_id     = openstack_identity_application_credential_v3.mgmt.id
    appcred_secret = openstack_identity_application_credential_v3.mgmt.secret
    region_name    = var.region_name
    interface      = var.interface
    cacert_path    = local.cacert_path
  })

  user_data = templatefile("${path.module}/templates/cloud-init.yaml.tftpl", {
    ssh_username    = var.ssh_username
    clouds_yaml     = local.clouds_yaml
    cacert          = var.cacert_file != "" ? file(pathexpand(var.cacert_file)) : ""
    cacert_path     = local.cacert_path
    kind_mtu        = var.kind_mtu
    kind_version    = var.kind_version
    kind_sha256     = lower(var.kind_sha256)
    kind_node_image = var.kind_node_image
    scs_capi_url    = var.scs_capi_url
    scs_capi_sha256 = local.scs_capi_sha256
    # --sha256 TOOL=SUM flags of `scs-capi mgmt init` (validated: names and hex only).
    mgmt_tool_sha256    = var.mgmt_tool_sha256
    mgmt_allow_unpinned = var.mgmt_allow_unpinned
    # The defaults file: these keys are scs-capi settings keys.
    cloud_provider    = var.cloud_provider
    prefix            = var.prefix
    availability_zone = var.availability_zone
    external          = data.openstack_networking_network_v2.external.id
    dns_nameservers   = var.dns_nameservers
    # With a floating IP, the server's outgoing traffic leaves from that address; the
    # clusters' kube-API allowlists always admit it.
    mgmt_egress_cidr = "${openstack_networking_floatingip_v2.mgmt.address}/32"
    cluster_defaults = var.cluster_defaults
  })
}

resource "openstack_networking_port_v2" "mgmt" {
  name               = "${var.prefix}-port"
  description        = "scs-capi management server port (managed by terraform)"
  network_id         = openstack_networking_network_v2.mgmt.id
  admin_state_up     = true
  security_group_ids = [openstack_networking_secgroup_v2.mgmt.id]

  fixed_ip {
    subnet_id = openstack_networking_subnet_v2.mgmt.id
  }
}

resource "openstack_networking_floatingip_v2" "mgmt" {
  pool        = data.openstack_networking_network_v2.external.name
  port_id     = openstack_networking_port_v2.mgmt.id
  description = "${var.prefix}-mgmtcluster (managed by terraform)"

  # Neutron refuses a floating IP for a port whose subnet has no router to the pool.
  depends_on = [openstack_networking_router_interface_v2.mgmt]
}

resource "openstack_compute_instance_v2" "mgmt" {
  name              = "${var.prefix}-mgmtcluster"
  flavor_id         = data.openstack_compute_flavor_v2.mgmt.id
  image_id          = local.boot_from_volume ? null : data.openstack_images_image_v2.mgmt.id
  key_pair          = openstack_compute_keypair_v2.mgmt.name
  availability_zone = var.availability_zone != "" ? var.availability_zone : null
  user_data         = local.user_data

  network {
    port = openstack_networking_port_v2.mgmt.id
  }

  dynamic "block_device" {
    for_each = local.boot_from_volume ? [var.mgmt_root_disk_gib] : []
    content {
      uuid                  = data.openstack_images_image_v2.mgmt.id
      source_type           = "image"
      destination_type      = "volume"
      volume_size           = block_device.value
      boot_index            = 0
      delete_on_termination = true
    }
  }

  # cloud-init downloads packages and binaries at first boot.
  depends_on = [openstack_networking_router_interface_v2.mgmt]

  lifecycle {
    # The server holds the management cluster (every workload cluster's CAPI objects):
    # a changed cloud-init input, a newer image of the same name or a rotated credential
    # must not silently rebuild it. Re-provision on purpose with
    # `tofu apply -replace=openstack_compute_instance_v2.mgmt`.
    ignore_changes = [user_data, image_id, block_device]

    precondition {
      condition     = (var.scs_capi_url != "") != (var.scs_capi_binary != "")
      error_message = "Set exactly one of scs_capi_url (a released binary, with scs_capi_sha256) and scs_capi_binary (a locally built binary, e.g. ../target/release/scs-capi)."
    }
    precondition {
      condition     = var.scs_capi_url == "" || var.scs_capi_sha256 != ""
      error_message = "The scs_capi_url needs scs_capi_sha256 (the release's SHA-256), so the server can verify the download."
    }
    precondition {
      condition     = var.scs_capi_binary == "" || var.scs_capi_sha256 == "" || lower(var.scs_capi_sha256) == local.scs_capi_sha256
      error_message = "The file at scs_capi_binary does not have the SHA-256 given in scs_capi_sha256 (it has ${local.scs_capi_sha256}); rebuild it or fix the checksum."
    }
    precondition {
      condition     = local.boot_from_volume || data.openstack_compute_flavor_v2.mgmt.disk > 0
      error_message = "The flavor ${var.kind_flavor} has no local disk: set mgmt_root_disk_gib (e.g. 30) so the server boots from a volume."
    }
    precondition {
      condition     = length(setsubtract(keys(var.cluster_defaults), local.settings_keys)) == 0
      error_message = "The cluster_defaults has keys that are not scs-capi settings: ${join(", ", sort(setsubtract(keys(var.cluster_defaults), local.settings_keys)))} (see docs/configuration.md or `scs-capi schema`)."
    }
  }
}

# Binary mode: copy the local scs-capi to the server over ssh (key from your ssh-agent:
# this configuration never sees a private key). It lands under a temporary name and is
# renamed when complete; the bootstrap script waits for it and checks its SHA-256.
resource "terraform_data" "scs_capi_upload" {
  count            = var.scs_capi_binary != "" ? 1 : 0
  triggers_replace = [openstack_compute_instance_v2.mgmt.id]

  connection {
    type    = "ssh"
    host    = openstack_networking_floatingip_v2.mgmt.address
    user    = var.ssh_username
    agent   = true
    timeout = "10m"
  }

  provisioner "file" {
    source      = pathexpand(var.scs_capi_binary)
    destination = "/home/${var.ssh_username}/.scs-capi.part"
  }

  provisioner "remote-exec" {
    inline = ["mv -f ~/.scs-capi.part ~/.scs-capi.upload"]
  }
}
