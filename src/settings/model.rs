//! The typed settings of one cluster, after layering: every key of R4's
//! `clusterctl.yaml` and of the cluster-related R4 terraform variables, with R4's
//! defaults and the v2 flavor names.
//!
//! The doc comment of each field is its user documentation: it becomes the JSON Schema
//! description, the comment in `settings init`, and the configuration reference.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::etcd_defrag::EtcdDefrag;
use super::values::{
    Allowlist, Cidr, CiliumBinaries, Lifetime, LifetimeUnit, Nameservers, OvnLbProvider, Toggle,
};
use super::versions::KubernetesVersion;
use crate::render::Profile;

/// Operating system of the node image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum NodeOs {
    #[serde(rename = "ubuntu-22.04")]
    Ubuntu2204,
    #[serde(rename = "ubuntu-20.04")]
    Ubuntu2004,
}

impl NodeOs {
    /// The short form used in image names and URLs (`2204`).
    pub fn short(self) -> &'static str {
        match self {
            NodeOs::Ubuntu2204 => "2204",
            NodeOs::Ubuntu2004 => "2004",
        }
    }
}

/// Settings of one cluster (and the management-wide defaults it inherits).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    // --- management-wide (usually in the defaults file) ---
    /// Name of the cloud in `clouds.yaml` (R4 terraform `cloud_provider`).
    pub cloud_provider: String,
    /// Prefix of every OpenStack resource this tool creates (R4 `prefix`).
    pub prefix: String,
    /// Cluster API (core, kubeadm) version on the management cluster; empty = the
    /// version the render profile targets.
    pub clusterapi_version: String,
    /// Cluster API provider OpenStack version; empty = the version the profile targets.
    pub capi_openstack_version: String,
    /// cilium CLI and hubble CLI versions installed on the management server (profile
    /// `r4`: `v0.13.1;v0.11.2`, R4's).
    pub cilium_binaries: CiliumBinaries,
    /// Minutes CAPO waits for a server to become active.
    pub capo_instance_create_timeout: u32,
    /// Egress address (CIDR) of the management cluster; always allowed to reach the
    /// kube-API when `restrict_kubeapi` is set (so the tool cannot lock itself out).
    pub mgmt_egress_cidr: Option<Cidr>,
    /// Lifetime of the cluster's application credential, counted from when
    /// `prepare-cloud` creates it: `365d`, `8760h`, `52w` (1 day to 10 years) or `never`.
    /// At expiry CAPO, OCCM and Cinder CSI lose access to the cloud; `prepare-cloud` and
    /// `create-cluster` warn 30 days before (see docs/maintenance.md, "Application
    /// credential"). Changing it affects only credentials created afterwards.
    pub app_credential_expires_in: Lifetime,

    // --- the cluster ---
    /// Name of the cluster (a DNS label); defaults to the settings file's name.
    pub cluster_name: Option<String>,
    /// Kubernetes version, `v1.MINOR.PATCH` or `v1.MINOR.x` (newest known patch); must be
    /// one the render profile's Cluster API supports (`default`: v1.31-v1.36; `r4`:
    /// v1.18-v1.26, default `v1.25.x`). The default is the newest release the default
    /// node image source has (see `node_image_url`).
    pub kubernetes_version: KubernetesVersion,
    /// Glance image of the nodes; empty = `ubuntu-capi-image-<kubernetes version>`.
    pub node_image: String,
    /// Operating system of the node image (used to find the image to upload).
    pub node_image_os: NodeOs,
    /// URL (or local path) to upload the node image from when it is missing; empty =
    /// OSISM's k8s-capi-images for the Kubernetes version and OS
    /// (`.../ubuntu-2204-kube-v1.MINOR/ubuntu-2204-kube-vX.Y.Z.qcow2`), which has Ubuntu
    /// 22.04 images up to Kubernetes v1.33.3: newer versions need this setting.
    pub node_image_url: String,
    /// SHA-256 the image's bytes must have; empty = the one in `<url>.CHECKSUM` next to
    /// the image (OSISM publishes these). Without either, a missing image is not uploaded.
    pub node_image_sha256: String,
    /// Convert a qcow2 node image to raw before upload (copy-on-write on Ceph backends);
    /// needs `qemu-img` (Debian: `qemu-utils`).
    pub kube_image_raw: bool,
    /// Extra properties set on the uploaded image (R4's
    /// `image_registration_extra_flags` as `--property` pairs).
    pub node_image_properties: std::collections::BTreeMap<String, String>,
    /// Flavor of the control-plane nodes (local SSD recommended for etcd).
    pub controller_flavor: String,
    /// Flavor of the worker nodes.
    pub worker_flavor: String,
    /// Root volume (GiB) for the control-plane nodes; 0 = the flavor's disk, or for a
    /// diskless flavor such as `SCS-2V-4` a size `prepare-cloud` computes (image size + 2 +
    /// half the RAM in GiB, rounded down to 5, at most 125).
    pub controller_root_disk_gib: u32,
    /// Root volume (GiB) for the workers; 0 = as for `controller_root_disk_gib`.
    pub worker_root_disk_gib: u32,
    /// Number of control-plane nodes (odd: 1, 3, 5).
    pub controller_count: u32,
    /// Number of worker nodes.
    pub worker_count: u32,
    /// Availability zone (failure domain) of the workers; empty = let Nova choose.
    pub availability_zone: String,
    /// Subnet CAPO creates for the nodes.
    pub node_cidr: Cidr,
    /// Pod network.
    pub pod_cidr: Cidr,
    /// Service network.
    pub service_cidr: Cidr,
    /// DNS resolvers of the node subnet.
    pub dns_nameservers: Nameservers,
    /// External network (name or ID); empty = the only external network of the cloud.
    pub external: String,
    /// MTU of the CNI (calico `veth_mtu`); 0 = cloud MTU minus 50, rounded down to 8.
    pub mtu_value: u32,
    /// Spread nodes over hypervisors with server groups (hard anti-affinity for the
    /// control plane, soft for workers).
    pub anti_affinity: bool,
    /// Use soft anti-affinity for the control plane too (when there are fewer
    /// hypervisors than control-plane nodes).
    pub soft_anti_affinity_controller: bool,
    /// SSH keypair injected into the nodes; empty = `<prefix>-keypair`.
    pub ssh_keypair: String,
    /// Calico version (per cluster), used when cilium is off (profile `r4`: `v3.25.0`,
    /// R4's).
    pub calico_version: String,
    /// Cilium as CNI: `false` (calico), `true` (the pinned version) or `vX.Y.Z`.
    pub use_cilium: Toggle,
    /// OpenStack cloud controller manager: `true` = the version matching the Kubernetes
    /// minor, or a cloud-provider-openstack version or git ref.
    pub deploy_occm: Toggle,
    /// Cinder CSI: `true` = the version matching the Kubernetes minor, a version or git
    /// ref, or `false` (none).
    pub deploy_cindercsi: Toggle,
    /// metrics-server.
    pub deploy_metrics: bool,
    /// ingress-nginx: `false`, `true` or `vX.Y.Z`.
    pub deploy_nginx_ingress: Toggle,
    /// ingress-nginx behind Octavia with the PROXY protocol (client addresses visible).
    pub nginx_ingress_proxy: bool,
    /// cert-manager: `false`, `true` or `vX.Y.Z`.
    pub deploy_cert_manager: Toggle,
    /// flux: `false`, `true` or `vX.Y.Z`.
    pub deploy_flux: Toggle,
    /// Octavia OVN provider for OCCM load balancers: `false`, `auto` or `true`.
    pub use_ovn_lb_provider: OvnLbProvider,
    /// Networks allowed to reach the kube-API load balancer (CIDRs or addresses; `[none]`
    /// = only the management cluster; empty = everyone).
    pub restrict_kubeapi: Allowlist,
    /// Mount the control plane's root file system with `barrier=0,commit=20` (faster
    /// etcd on slow disks, unsafe on power loss).
    pub etcd_unsafe_fs: bool,
    /// etcd backend quota in MiB (`quota-backend-bytes`); defragmentation keeps the
    /// database file below it.
    pub etcd_quota_backend_mib: u64,
    /// The etcd defragmentation timer on the control-plane nodes.
    pub etcd_defrag: EtcdDefrag,
    /// Explicit name suffix of the control-plane machine template (R4
    /// `CONTROL_PLANE_MACHINE_GEN`); empty = a hash of its spec.
    pub control_plane_machine_gen: String,
    /// Explicit name suffix of the worker templates (R4 `WORKER_MACHINE_GEN`); empty = a
    /// hash of their spec.
    pub worker_machine_gen: String,
}

impl Default for Settings {
    /// The built-in defaults of the default profile.
    fn default() -> Self {
        Settings::builtin(Profile::Default)
    }
}

impl Settings {
    /// The built-in defaults for the profile the settings render for. Versions are chosen
    /// so that each works with the others and with the profile's Cluster API:
    ///
    /// - `default` (CAPI v1.14, workload clusters v1.31-v1.36): Kubernetes v1.33.3, the
    ///   newest release OSISM's default image source builds on Ubuntu 22.04
    ///   ([`super::versions::DEFAULT_IMAGE_SOURCE_NEWEST`]); calico v3.31.7 (tested by
    ///   Tigera on Kubernetes v1.32-v1.35, pinned in [`crate::mgmt::tools::PINS`]); cilium
    ///   CLI v0.19.7 (pinned) and hubble CLI v1.18.3 (the release matching the cilium
    ///   v1.18 agent the addons pick for v1.31 and newer).
    /// - `r4` (CAPI v1.3, workload clusters v1.18-v1.26): R4's own defaults (v1.25.x, calico
    ///   v3.25.0, cilium CLI v0.13.1, hubble v0.11.2), so imported R4 clusters keep them.
    pub fn builtin(profile: Profile) -> Settings {
        let (kubernetes_version, calico, cilium_cli, hubble) = match profile {
            Profile::Default => (
                KubernetesVersion {
                    minor: 33,
                    patch: Some(3),
                },
                "v3.31.7",
                "v0.19.7",
                "v1.18.3",
            ),
            Profile::R4 => (
                KubernetesVersion {
                    minor: 25,
                    patch: None,
                },
                "v3.25.0",
                "v0.13.1",
                "v0.11.2",
            ),
        };
        let cidr = |s: &str| s.parse::<Cidr>().expect("built-in CIDR");
        Settings {
            cloud_provider: "openstack".into(),
            prefix: "capi".into(),
            clusterapi_version: String::new(),
            capi_openstack_version: String::new(),
            cilium_binaries: CiliumBinaries {
                cilium: cilium_cli.into(),
                hubble: hubble.into(),
            },
            capo_instance_create_timeout: 5,
            mgmt_egress_cidr: None,
            app_credential_expires_in: Lifetime::After {
                amount: 365,
                unit: LifetimeUnit::Days,
            },
            cluster_name: None,
            kubernetes_version,
            node_image: String::new(),
            node_image_os: NodeOs::Ubuntu2204,
            node_image_url: String::new(),
            node_image_sha256: String::new(),
            kube_image_raw: true,
            node_image_properties: Default::default(),
            controller_flavor: "SCS-2V-4-20s".into(),
            worker_flavor: "SCS-2V-4-20".into(),
            controller_root_disk_gib: 0,
            worker_root_disk_gib: 0,
            controller_count: 1,
            worker_count: 3,
            availability_zone: String::new(),
            node_cidr: cidr("10.8.0.0/20"),
            pod_cidr: cidr("192.168.0.0/16"),
            service_cidr: cidr("10.96.0.0/12"),
            dns_nameservers: Nameservers(vec![[5, 1, 66, 255].into(), [185, 150, 99, 255].into()]),
            external: String::new(),
            mtu_value: 0,
            anti_affinity: true,
            soft_anti_affinity_controller: false,
            ssh_keypair: String::new(),
            calico_version: calico.into(),
            use_cilium: Toggle::Off,
            deploy_occm: Toggle::Default,
            deploy_cindercsi: Toggle::Default,
            deploy_metrics: true,
            deploy_nginx_ingress: Toggle::Default,
            nginx_ingress_proxy: true,
            deploy_cert_manager: Toggle::Off,
            deploy_flux: Toggle::Off,
            use_ovn_lb_provider: OvnLbProvider::False,
            restrict_kubeapi: Allowlist::default(),
            etcd_unsafe_fs: false,
            etcd_quota_backend_mib: 2048,
            etcd_defrag: EtcdDefrag::default(),
            control_plane_machine_gen: String::new(),
            worker_machine_gen: String::new(),
        }
    }
}

/// Keys whose value is a section of its own: its keys are checked and merged one by one
/// across layers (a plain map such as `node_image_properties` is replaced as a whole).
pub const SECTIONS: &[&str] = &["etcd_defrag"];

impl Settings {
    /// The cluster name, which loading always fills in.
    pub fn name(&self) -> &str {
        self.cluster_name.as_deref().unwrap_or("cluster")
    }

    /// The Glance image name of the nodes.
    pub fn node_image_name(&self) -> String {
        if self.node_image.is_empty() {
            format!("ubuntu-capi-image-{}", self.kubernetes_version.resolve())
        } else {
            self.node_image.clone()
        }
    }

    pub fn ssh_keypair_name(&self) -> String {
        if self.ssh_keypair.is_empty() {
            format!("{}-keypair", self.prefix)
        } else {
            self.ssh_keypair.clone()
        }
    }
}
