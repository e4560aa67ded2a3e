//! The workload-cluster lifecycle: `create-cluster` (prepare the cloud, render, apply to
//! the management cluster, wait, kubeconfig, addons), `upgrade-cluster`, `delete-cluster`,
//! `get-kubeconfig`, and the pieces they share.
//!
//! - [`objects`]: the rendered manifests as objects in apply order, and the dry-run
//!   comparison with the live objects (create / change / unchanged);
//! - [`wait`]: whether a cluster (or only its control plane) converged, and when it does
//!   not, the conditions that block it (machine failures, OpenStack faults), read from the
//!   CAPI/CAPO objects;
//! - [`kubeconfig`]: the workload kubeconfig from `<cluster>-kubeconfig`, saved 0600 and
//!   merged into the user's kubeconfig;
//! - [`addons_apply`]: the addons of [`crate::addons`] applied into the workload cluster,
//!   cilium through the runner, switched-off addons removed;
//! - [`generation`]: which Cluster API generation (render profile) the management
//!   cluster serves; [`live`]: which Kubernetes version a cluster runs;
//! - [`create`]: the orchestration of `create-cluster`; [`upgrade`]: `upgrade-cluster`
//!   (one minor at a time, control plane before workers, unused machine templates
//!   pruned); [`delete`]: `delete-cluster`.
//!
//! Nothing here prints: progress goes to a [`crate::ui::Progress`], results are returned.

pub mod addons_apply;
pub mod create;
pub mod delete;
pub mod generation;
pub mod kubeconfig;
pub mod live;
pub mod named;
pub mod objects;
pub mod upgrade;
pub mod wait;

use std::fmt;

/// The namespace of the cluster objects on the management cluster (R4's, and the one in
/// CAPO's resource names `k8s-clusterapi-cluster-default-<cluster>`).
pub const NAMESPACE: &str = "default";

/// The cluster did not reach the wanted state; `blockers` are the conditions that hold
/// it (each one line: object, condition or failure, message).
#[derive(Debug, Clone)]
pub struct NotConverged {
    pub message: String,
    pub blockers: Vec<String>,
    pub hint: Option<String>,
}

impl fmt::Display for NotConverged {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(&self.message)?;
        if self.blockers.is_empty() {
            f.write_str(" (no object reports a reason)")?;
        }
        for b in &self.blockers {
            write!(f, "\n  - {b}")?;
        }
        Ok(())
    }
}

impl std::error::Error for NotConverged {}
