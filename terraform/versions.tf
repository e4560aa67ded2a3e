# Tool and provider versions. OpenTofu >= 1.6 and Terraform >= 1.6 both work: nothing
# here needs a newer language feature (variable validations only look at their own
# variable; cross-variable checks are preconditions, see server.tf).

terraform {
  required_version = ">= 1.6.0"

  required_providers {
    openstack = {
      source = "terraform-provider-openstack/openstack"
      # 1.54 is what SCS R6 pinned; 3.x removed only resources this module does not use
      # (`openstack_compute_secgroup_v2` & co.).
      version = ">= 1.54.0, < 4.0.0"
    }
  }
}

# Credentials come from the deploy host's clouds.yaml entry `cloud_provider` (and
# secure.yaml); they never reach the server: the server gets the application credential
# created in appcred.tf.
provider "openstack" {
  cloud  = var.cloud_provider
  region = var.region_name != "" ? var.region_name : null
}
