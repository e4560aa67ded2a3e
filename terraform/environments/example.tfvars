# Example settings for the scs-capi management server. Copy this file to
# environments/<your cloud>.tfvars, edit it, and run (from terraform/):
#
#   tofu init
#   tofu apply -var-file=environments/<your cloud>.tfvars
#
# Every variable is described in variables.tf; the README lists them. Lines commented
# out show the default.

# --- cloud and credentials ---
# The entry of your clouds.yaml (./clouds.yaml, ~/.config/openstack/ or /etc/openstack/)
# that terraform uses. Authenticate with a password or an unrestricted application
# credential: a restricted one cannot create the server's application credential.
cloud_provider = "mycloud"
# The `auth.auth_url` of that entry; written into the server's clouds.yaml.
auth_url = "https://keystone.example.com:5000/v3"
# region_name = ""
# interface   = "public"
# A PEM CA bundle when the cloud's API certificates are not publicly trusted.
# cacert_file = "~/.config/openstack/my-cloud-ca.pem"

# --- names and placement ---
# prefix            = "capi"
availability_zone = "nova"
# Name or ID; leave empty when the cloud has exactly one external network.
external = "ext01"

# --- network ---
# mgmt_cidr     = "10.0.0.0/24"
# mgmt_ip_range = { start = "10.0.0.11", end = "10.0.0.254" }
# Prefer the cloud's own resolvers when it has some.
dns_nameservers = ["9.9.9.9", "149.112.112.112"]

# --- access ---
# Who may ssh into the management server: your office/VPN egress, e.g. from
# `curl -4 https://ifconfig.co`. ["0.0.0.0/0"] allows everyone.
restrict_mgmt_server = ["198.51.100.0/24", "203.0.113.7"]
# node_ssh_cidrs     = ["0.0.0.0/0"]
# Your public key, e.g. the line in ~/.ssh/id_ed25519.pub (or pass it on the command
# line: -var "ssh_public_key=$(cat ~/.ssh/id_ed25519.pub)").
ssh_public_key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExampleExampleExampleExampleExampleExample operator@laptop"
# ssh_username   = "ubuntu"

# --- the management application credential (unrestricted, see README) ---
# Let it expire, and rotate it before it does:
appcred_expires_at = "2027-01-31T00:00:00Z"

# --- the server ---
# image              = "Ubuntu 24.04"
# kind_flavor        = "SCS-2V-4"
# mgmt_root_disk_gib = 30
# kind_mtu           = 0
# kind_version       = "v0.32.0"
# kind_sha256        = "50030de23cf40a18505f20426f6a8506bedf13c6e509244bd1fa9463721b0f54"
# kind_node_image    = ""

# --- scs-capi on the server: exactly one of the two ways ---
# A binary you built (cargo build --release; for linux-amd64 with a glibc no newer than
# the image's, or a musl build). Copied over ssh: `ssh-add` your key first.
scs_capi_binary = "../target/release/scs-capi"
# Or a released binary and its SHA-256:
# scs_capi_url    = "https://example.com/scs-capi/v1.0.0/scs-capi-linux-amd64"
# scs_capi_sha256 = "<64 hex digits from the release's checksum file>"

# --- management tools without a published SHA-256 (see `scs-capi mgmt init --dry-run`) ---
# Sums you checked yourself; without them (or mgmt_allow_unpinned = true) the bootstrap
# stops before `clusterctl init` and names what is missing.
# mgmt_tool_sha256 = {
#   clusterctl = "<64 hex digits>"
#   hubble     = "<64 hex digits>"
#   orc        = "<64 hex digits>"
# }
# mgmt_allow_unpinned = false

# --- more defaults for every cluster (scs-capi settings keys; docs/configuration.md) ---
cluster_defaults = {
  controller_flavor  = "SCS-2V-4-20s"
  worker_flavor      = "SCS-2V-4-20"
  kubernetes_version = "v1.34.x"
  worker_count       = 3
  restrict_kubeapi   = ["198.51.100.0/24"]
  etcd_defrag = {
    schedule = "*-*-* 03:30:00"
  }
}
