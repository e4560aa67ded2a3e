# Every input of the management server. Names follow SCS R4's terraform where the
# variable means the same thing; the ones that seed the scs-capi defaults file
# (`~/.config/scs-capi/defaults.yaml` on the server) are named exactly like the settings
# key they seed (tests/terraform.rs checks that against the settings schema).
#
# Validations only look at their own variable (OpenTofu/Terraform 1.6 allow nothing
# else); checks that combine variables are preconditions in server.tf. `||` does not
# short-circuit in Terraform: a function that fails on the empty default is wrapped in
# try()/can().

# --- cloud and credentials ---------------------------------------------------------

variable "cloud_provider" {
  description = "Name of the cloud in the deploy host's clouds.yaml that terraform uses, and the name of the cloud in the clouds.yaml written on the server. Seeds the setting `cloud_provider`."
  type        = string

  validation {
    condition     = can(regex("^[^\"\\\\$\u0060[:cntrl:]]+$", var.cloud_provider))
    error_message = "The cloud_provider must be a non-empty clouds.yaml cloud name without quotes, backslashes, `$`, backticks or control characters."
  }
}

variable "region_name" {
  description = "Region of the cloud, for terraform and in the server's clouds.yaml. Empty = the region of the clouds.yaml entry (terraform) and none written (the server's clients use the only region)."
  type        = string
  default     = ""

  validation {
    condition     = can(regex("^[^\"\\\\$\u0060[:cntrl:]]*$", var.region_name))
    error_message = "The region_name must not contain quotes, backslashes, `$`, backticks or control characters."
  }
}

variable "auth_url" {
  description = "Keystone URL written into the server's clouds.yaml (the `auth.auth_url` of your own clouds.yaml entry, e.g. `https://keystone.example.com:5000/v3`)."
  type        = string

  validation {
    condition     = can(regex("^https?://[^\\s\"'\\\\$\u0060]+$", var.auth_url))
    error_message = "The auth_url must be an http(s) URL such as https://keystone.example.com:5000/v3."
  }
}

variable "interface" {
  description = "Endpoint interface the server's OpenStack clients use (`interface` in its clouds.yaml)."
  type        = string
  default     = "public"

  validation {
    condition     = contains(["public", "internal", "admin"], var.interface)
    error_message = "The interface must be one of public, internal or admin."
  }
}

variable "cacert_file" {
  description = "Path (on the deploy host) of the PEM CA certificate(s) of a cloud whose API certificates are not publicly trusted (at most 32 KiB); copied to the server and set as `cacert` in its clouds.yaml. Empty = the system CAs."
  type        = string
  default     = ""

  validation {
    condition     = var.cacert_file == "" || try(fileexists(pathexpand(var.cacert_file)), false)
    error_message = "The cacert_file does not exist; give the path of a PEM file, or leave it empty."
  }

  # It travels in the user-data, which Nova limits to 64 KiB (base64-encoded).
  validation {
    condition     = var.cacert_file == "" || try(length(file(pathexpand(var.cacert_file))) <= 32768, false)
    error_message = "The cacert_file is larger than 32 KiB: give only the CA(s) of the cloud's API, not a whole system bundle."
  }
}

# --- names and placement -----------------------------------------------------------

variable "prefix" {
  description = "Prefix of every OpenStack resource created here (`<prefix>-net`, `<prefix>-mgmtcluster`, ...) and of the clusters' resources. Seeds the setting `prefix`."
  type        = string
  default     = "capi"

  validation {
    condition     = can(regex("^[a-z]([-a-z0-9]*[a-z0-9])?$", var.prefix)) && length(var.prefix) <= 51
    error_message = "The prefix must be a DNS label of at most 51 characters (lower-case letters, digits and -, starting with a letter), so that <prefix>-mgmtcluster is a valid host name."
  }
}

variable "availability_zone" {
  description = "Compute availability zone of the management server; also the failure domain of the clusters' workers. Empty = let Nova choose. Seeds the setting `availability_zone`."
  type        = string
  default     = ""

  validation {
    condition     = can(regex("^[^\"\\\\$\u0060[:cntrl:]]*$", var.availability_zone))
    error_message = "The availability_zone must not contain quotes, backslashes, `$`, backticks or control characters."
  }
}

variable "external" {
  description = "External network (name or ID) for the router and the floating IP. Empty = the only external network of the cloud (terraform fails with \"more than one result\" when there are several: then set it). Seeds the setting `external` with the network's ID."
  type        = string
  default     = ""

  validation {
    condition     = can(regex("^[^\"\\\\$\u0060[:cntrl:]]*$", var.external))
    error_message = "The external network name must not contain quotes, backslashes, `$`, backticks or control characters."
  }
}

# --- network -----------------------------------------------------------------------

variable "mgmt_cidr" {
  description = "IPv4 CIDR of the management server's subnet `<prefix>-subnet`. Must not overlap the clusters' `node_cidr`."
  type        = string
  default     = "10.0.0.0/24"

  validation {
    condition     = can(cidrnetmask(var.mgmt_cidr)) && can(regex("/([0-9]|[12][0-9])$", var.mgmt_cidr))
    error_message = "The mgmt_cidr must be an IPv4 CIDR with a prefix length of at most /29, e.g. 10.0.0.0/24."
  }
}

variable "mgmt_ip_range" {
  description = "Allocation pool (first and last address) of the management subnet; both inside `mgmt_cidr`."
  type = object({
    start = string
    end   = string
  })
  default = {
    start = "10.0.0.11"
    end   = "10.0.0.254"
  }

  validation {
    condition     = can(cidrnetmask("${var.mgmt_ip_range.start}/32")) && can(cidrnetmask("${var.mgmt_ip_range.end}/32"))
    error_message = "The mgmt_ip_range start and end must be IPv4 addresses, e.g. { start = \"10.0.0.11\", end = \"10.0.0.254\" }."
  }
}

variable "dns_nameservers" {
  description = "DNS resolvers of the management subnet and of the clusters' node subnets (prefer the cloud's own resolvers when it has some). Seeds the setting `dns_nameservers`."
  type        = list(string)
  default     = ["5.1.66.255", "185.150.99.255"]

  validation {
    condition     = alltrue([for ns in var.dns_nameservers : can(cidrhost("${ns}/${strcontains(ns, ":") ? 128 : 32}", 0))])
    error_message = "Each entry of dns_nameservers must be an IP address (no CIDR), e.g. 9.9.9.9."
  }
}

# --- security ----------------------------------------------------------------------

variable "restrict_mgmt_server" {
  description = "Networks allowed to reach the management server by ssh (CIDRs; a bare address means that one host). Use [\"0.0.0.0/0\"] to allow everyone."
  type        = list(string)

  validation {
    condition = length(var.restrict_mgmt_server) > 0 && alltrue([
      for c in var.restrict_mgmt_server :
      can(cidrhost(c, 0)) || can(cidrhost("${c}/${strcontains(c, ":") ? 128 : 32}", 0))
    ])
    error_message = "The restrict_mgmt_server list must hold at least one CIDR or IP address, e.g. [\"203.0.113.0/24\"]."
  }
}

variable "node_ssh_cidrs" {
  description = "Networks allowed to ssh into the cluster nodes through the `<prefix>-allow-ssh` security group (the nodes have no floating IPs, so this matters only for addresses that can route to them). Empty = no ssh to the nodes."
  type        = list(string)
  default     = ["0.0.0.0/0"]

  validation {
    condition = alltrue([
      for c in var.node_ssh_cidrs :
      can(cidrhost(c, 0)) || can(cidrhost("${c}/${strcontains(c, ":") ? 128 : 32}", 0))
    ])
    error_message = "Each entry of node_ssh_cidrs must be a CIDR or an IP address."
  }
}

variable "ssh_public_key" {
  description = "Your ssh public key (the text of e.g. ~/.ssh/id_ed25519.pub); becomes the keypair `<prefix>-keypair` of the server and the cluster nodes. Only the public key is handled: no private key is created or stored."
  type        = string

  validation {
    condition     = can(regex("^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)|sk-ssh-ed25519@openssh\\.com|sk-ecdsa-sha2-nistp256@openssh\\.com) AAAA[A-Za-z0-9+/]+=*( [^\\n]*)?$", trimspace(var.ssh_public_key)))
    error_message = "The ssh_public_key must be one OpenSSH public key line (ssh-ed25519 AAAA... comment), not a private key or a file name."
  }
}

variable "ssh_username" {
  description = "Login user of `image` (the image's default cloud-init user); owns the kind cluster and the scs-capi files on the server."
  type        = string
  default     = "ubuntu"

  validation {
    condition     = can(regex("^[a-z_][a-z0-9_-]{0,31}$", var.ssh_username))
    error_message = "The ssh_username must be a Linux user name (lower-case letters, digits, _ and -)."
  }
}

# --- application credential --------------------------------------------------------

variable "appcred_expires_at" {
  description = "Expiry of the management server's (unrestricted) application credential, RFC 3339 (e.g. 2026-12-31T23:59:59Z). Empty = it never expires. After it expires the server can no longer manage clusters until you rotate it (see README)."
  type        = string
  default     = ""

  validation {
    condition     = var.appcred_expires_at == "" || can(formatdate("YYYY", var.appcred_expires_at))
    error_message = "The appcred_expires_at must be an RFC 3339 timestamp such as 2026-12-31T23:59:59Z, or empty."
  }
}

# --- the server --------------------------------------------------------------------

variable "image" {
  description = "Glance image of the management server (the newest image of that name is used). Ubuntu 22.04 or newer."
  type        = string
  default     = "Ubuntu 24.04"

  validation {
    condition     = trimspace(var.image) != ""
    error_message = "The image name must not be empty."
  }
}

variable "kind_flavor" {
  description = "Flavor of the management server (SCS v2 name). At least 2 vCPUs and 4 GiB RAM; diskless flavors such as SCS-2V-4 boot from a volume (see mgmt_root_disk_gib)."
  type        = string
  default     = "SCS-2V-4"

  validation {
    condition     = trimspace(var.kind_flavor) != ""
    error_message = "The kind_flavor must not be empty."
  }
}

variable "mgmt_root_disk_gib" {
  description = "Size in GiB of the root volume the server boots from. 0 = boot from the flavor's local disk (not possible with a diskless flavor)."
  type        = number
  default     = 30

  validation {
    condition     = var.mgmt_root_disk_gib == 0 || (floor(var.mgmt_root_disk_gib) == var.mgmt_root_disk_gib && var.mgmt_root_disk_gib >= 10)
    error_message = "The mgmt_root_disk_gib must be 0 (flavor disk) or a whole number of at least 10."
  }
}

variable "kind_mtu" {
  description = "MTU of docker and hence of the kind cluster. 0 = the MTU of the server's network interface (detected at boot)."
  type        = number
  default     = 0

  validation {
    condition     = var.kind_mtu == 0 || (floor(var.kind_mtu) == var.kind_mtu && var.kind_mtu >= 1280 && var.kind_mtu <= 9000)
    error_message = "The kind_mtu must be 0 (detect) or a whole number between 1280 and 9000."
  }
}

variable "kind_version" {
  description = "kind release installed on the server (linux-amd64 binary from GitHub), verified against kind_sha256."
  type        = string
  default     = "v0.32.0"

  validation {
    condition     = can(regex("^v[0-9]+\\.[0-9]+\\.[0-9]+$", var.kind_version))
    error_message = "The kind_version must look like v0.32.0."
  }
}

variable "kind_sha256" {
  description = "SHA-256 of the kind-linux-amd64 binary of kind_version (from the release's kind-linux-amd64.sha256sum). Change both together."
  type        = string
  default     = "50030de23cf40a18505f20426f6a8506bedf13c6e509244bd1fa9463721b0f54"

  validation {
    condition     = can(regex("^[0-9a-fA-F]{64}$", var.kind_sha256))
    error_message = "The kind_sha256 must be 64 hexadecimal characters."
  }
}

variable "kind_node_image" {
  description = "Node image of the kind cluster (e.g. kindest/node:v1.34.0@sha256:...), to pin the management cluster's Kubernetes version to one Cluster API supports. Empty = the default of kind_version."
  type        = string
  default     = ""

  validation {
    condition     = can(regex("^[A-Za-z0-9./_:@-]*$", var.kind_node_image))
    error_message = "The kind_node_image must be an image reference such as kindest/node:v1.34.0, or empty."
  }
}

# --- scs-capi on the server ----------------------------------------------------------

variable "scs_capi_url" {
  description = "https URL of a released scs-capi linux-amd64 binary to install (set scs_capi_sha256 too). Empty = copy the binary at scs_capi_binary instead. Exactly one of the two must be set."
  type        = string
  default     = ""

  validation {
    condition     = var.scs_capi_url == "" || can(regex("^https://[^\\s\"'\\\\$\u0060]+$", var.scs_capi_url))
    error_message = "The scs_capi_url must be an https URL without quotes, spaces or $, or empty."
  }
}

variable "scs_capi_sha256" {
  description = "SHA-256 of the binary at scs_capi_url (required with it). With scs_capi_binary it is optional: when set, the local file must have this checksum."
  type        = string
  default     = ""

  validation {
    condition     = var.scs_capi_sha256 == "" || can(regex("^[0-9a-fA-F]{64}$", var.scs_capi_sha256))
    error_message = "The scs_capi_sha256 must be 64 hexadecimal characters, or empty."
  }
}

variable "mgmt_tool_sha256" {
  description = "SHA-256 sums, by tool name, for the management tools scs-capi has no published checksum pinned for (clusterctl, hubble, orc; `scs-capi mgmt init --dry-run` lists them). Passed to `scs-capi mgmt init` as --sha256 TOOL=SUM. Without them (or mgmt_allow_unpinned) the bootstrap stops before installing anything and names the missing sums."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for tool, sum in var.mgmt_tool_sha256 : can(regex("^[a-z][a-z0-9-]*$", tool)) && can(regex("^[0-9a-fA-F]{64}$", sum))])
    error_message = "The mgmt_tool_sha256 keys must be tool names (clusterctl, hubble, orc) and the values 64 hexadecimal characters."
  }
}

variable "mgmt_allow_unpinned" {
  description = "Let `scs-capi mgmt init` install tools that have neither a pinned nor a given SHA-256 (--allow-unpinned: checked against the release's own checksum file where it has one, else installed unverified with a warning). Prefer mgmt_tool_sha256."
  type        = bool
  default     = false

  validation {
    condition     = var.mgmt_allow_unpinned == true || var.mgmt_allow_unpinned == false
    error_message = "The mgmt_allow_unpinned must be true or false."
  }
}

variable "scs_capi_binary" {
  description = "Path (on the deploy host) of a locally built scs-capi for linux-amd64 (e.g. ../target/release/scs-capi). It is copied over ssh (your ssh-agent must hold the key of ssh_public_key) and checked against its SHA-256 on the server. Empty = download scs_capi_url."
  type        = string
  default     = ""

  validation {
    condition     = var.scs_capi_binary == "" || try(fileexists(pathexpand(var.scs_capi_binary)), false)
    error_message = "The scs_capi_binary does not exist; build it first (cargo build --release) or give its path."
  }
}

variable "cluster_defaults" {
  description = "More settings for the defaults file (`~/.config/scs-capi/defaults.yaml`), as an object of settings keys to values, e.g. { controller_flavor = \"SCS-4V-8-50s\", worker_count = 3 }. Keys are checked against the settings schema at plan time; the values by `scs-capi validate` on the server. The keys that other variables seed are not allowed here."
  type        = any
  default     = {}

  validation {
    condition     = can(keys(var.cluster_defaults)) && alltrue([for k in try(keys(var.cluster_defaults), []) : can(regex("^[a-z][a-z0-9_]*$", k))])
    error_message = "The cluster_defaults must be an object whose keys are scs-capi settings keys (snake_case), e.g. { worker_count = 3 }."
  }

  validation {
    condition     = length(setintersection(try(keys(var.cluster_defaults), []), ["cloud_provider", "prefix", "availability_zone", "external", "dns_nameservers", "mgmt_egress_cidr", "cluster_name"])) == 0
    error_message = "The cluster_defaults must not set cloud_provider, prefix, availability_zone, external, dns_nameservers or mgmt_egress_cidr (set the terraform variables of those names; mgmt_egress_cidr is the floating IP), nor cluster_name (per cluster only)."
  }
}
