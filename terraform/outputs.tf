# What you need to reach the management server.

output "mgmtcluster_address" {
  description = "Floating IP of the management server (R4's output name)."
  value       = openstack_networking_floatingip_v2.mgmt.address
}

output "ssh_command" {
  description = "Log in to the management server."
  value       = "ssh ${var.ssh_username}@${openstack_networking_floatingip_v2.mgmt.address}"
}

output "cloud_init_status_command" {
  description = "Wait for the bootstrap (docker, kind, scs-capi, `scs-capi mgmt init`) and show how it went."
  value       = "ssh ${var.ssh_username}@${openstack_networking_floatingip_v2.mgmt.address} cloud-init status --wait --long"
}

output "mgmt_clouds_yaml" {
  description = "The clouds.yaml written on the server (holds the application credential secret): to put a rotated credential on the server, see README."
  value       = local.clouds_yaml
  sensitive   = true
}
