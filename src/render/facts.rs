//! What only the cloud knows, as rendering input: [`CloudFacts`], produced by
//! `prepare-cloud` (`crate::cloud::facts`) and read by [`super::Renderer::render`].
//!
//! With facts, the manifests and files get:
//! - the `${CLUSTER_NAME}-cloud-config` Secret (CAPO's `identityRef`) with a `clouds.yaml`
//!   holding the cluster's own restricted application credential (`OPENSTACK_CLOUD_YAML_B64`,
//!   and `OPENSTACK_CLOUD_CACERT_B64` when the cloud has a `cacert`), and a `cloud.conf`
//!   for OCCM and Cinder CSI with the same credential (R4 gave every workload cluster the
//!   management server's unrestricted one there);
//! - server-group ids (`OPENSTACK_SRVGRP_CONTROLLER`/`_WORKER`), root-volume sizes for
//!   diskless flavors (`*_ROOT_DISKSIZE`, unless the settings set one), the external
//!   network's id, and the management cluster's egress CIDR in the kube-API allowlist.
//!
//! Without facts (`render`, `render --example`) nothing is invented: the Secret's
//! `clouds.yaml` and `cacert` are empty (`${OPENSTACK_CLOUD_YAML_B64:=}`; an r4 user fills
//! `OPENSTACK_CLOUD_YAML_B64` in `clusterctl.yaml` as with R4), no `cloud.conf` is written,
//! server groups are found by name (profile default) or left empty (profile r4,
//! `serverGroupID: ""`), root volumes come only from `*_root_disk_gib`, and the allowlist
//! needs `mgmt_egress_cidr` or `--mgmt-cidr`. There are no placeholder credentials that
//! could pass for real ones.
//!
//! The secret stays in [`Secret`]: `Debug` never prints it.

use crate::cloud::Secret;
use crate::settings::values::Cidr;

/// What `prepare-cloud` learned about the cloud for one cluster.
#[derive(Debug, Clone, Default)]
pub struct CloudFacts {
    /// The cluster's own application credential; `None` on a cloud without Keystone.
    pub credential: Option<AppCredential>,
    pub controller_server_group_id: Option<String>,
    pub worker_server_group_id: Option<String>,
    /// Root volume (GiB) of the control plane: set for a diskless flavor (computed) or
    /// from `controller_root_disk_gib`.
    pub controller_root_volume_gib: Option<u64>,
    pub worker_root_volume_gib: Option<u64>,
    /// The management cluster's egress address (`mgmt_egress_cidr`, or the floating IP of
    /// `<prefix>-mgmtcluster`).
    pub mgmt_egress_cidr: Option<Cidr>,
    pub external_network_id: Option<String>,
    /// The Octavia provider OCCM uses: `ovn` or `amphora`; `None` when not probed.
    pub lb_provider: Option<String>,
}

/// An application credential and where to use it.
#[derive(Debug, Clone)]
pub struct AppCredential {
    pub id: String,
    pub secret: Secret,
    /// Keystone's URL, as the caller's cloud configuration has it.
    pub auth_url: String,
    pub region: Option<String>,
    /// `public`, `internal` or `admin`.
    pub interface: String,
    pub project_id: Option<String>,
    /// The cloud's CA bundle (PEM), when it has its own.
    pub cacert_pem: Option<String>,
}
