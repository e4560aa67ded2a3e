# The keypair `<prefix>-keypair` from the public key you supply. It is the settings'
# default `ssh_keypair`, so the cluster nodes get the same key. No private key is
# generated, so none lands in the terraform state (R4 generated one and kept it there).

resource "openstack_compute_keypair_v2" "mgmt" {
  name       = "${var.prefix}-keypair"
  public_key = trimspace(var.ssh_public_key)
}
