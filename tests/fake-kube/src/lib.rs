//! An in-process fake Kubernetes API server with a simulated CAPI/CAPO controller, for
//! scs-capi's tests, demos and benchmarks.
//!
//! One [`Fake`] is a management cluster: an [`ApiServer`] on 127.0.0.1 (discovery, CRUD,
//! server-side apply, watches, CRDs) plus a controller task that drives Cluster,
//! OpenStackCluster, KubeadmControlPlane, MachineDeployment and Machine objects the way
//! CAPI + CAPO do, and starts one more `ApiServer` per workload cluster (its kubeconfig in
//! Secret `<cluster>-kubeconfig`, as CAPI writes it). See `README.md`.
//!
//! ```no_run
//! # fn demo() -> Result<(), String> {
//! let fake = fake_kube::Fake::for_profile(fake_kube::Profile::Default)?;
//! let running = fake.serve_in_background(0).map_err(|e| e.to_string())?;
//! let kubeconfig = fake.kubeconfig().expect("serving");
//! // ... apply manifests with kube-rs / kubectl; then:
//! fake.fail_machine_quota("demo");
//! let wl = fake.workload_kubeconfig("default", "demo"); // once the control plane is up
//! # drop((running, kubeconfig, wl)); Ok(()) }
//! ```
// Handlers return ready-made error responses as `Err`; they are rare and cheap to move.
#![allow(clippy::result_large_err)]

pub mod apply;
pub mod controller;
pub mod discovery;
pub mod faults;
mod handlers;
pub mod kubeconfig;
pub mod log;
pub mod managed;
pub mod patch;
pub mod registry;
pub mod select;
mod server;
pub mod status;
pub mod store;
pub mod table;
mod util;
mod watch;

pub use controller::hooks::{
    CloudHooks, ClusterCtx, ClusterInfra, LoadBalancerInfo, MachineCtx, NoCloud, ServerInfo,
};
pub use controller::{ClusterFaults, QUOTA_MESSAGE, Settings};
pub use faults::FaultKind;
pub use log::LoggedRequest;
pub use server::{ApiServer, Running};

use base64::Engine;
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Env variable overriding where the upstream CRD folders are (default
/// `<workspace>/../shared/crds`).
pub const CRDS_DIR_ENV: &str = "SCS_TEST_CRDS_DIR";

/// The folder holding the upstream CRD folders.
pub fn crds_root() -> PathBuf {
    std::env::var_os(CRDS_DIR_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/crds"))
}

/// The API generations scs-capi renders, and the CRDs of the management cluster each needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    /// CAPI v1.14 (v1beta2) + CAPO v0.14 (v1beta1).
    Default,
    /// CAPI v1.3.5 (v1beta1) + CAPO v0.7.1 (v1alpha6), as R4 shipped.
    R4,
}

impl Profile {
    /// The CRD folders under [`crds_root`].
    pub fn crd_dirs(self) -> [PathBuf; 2] {
        let r = crds_root();
        match self {
            Profile::Default => [
                r.join("cluster-api-v1.14.0"),
                r.join("cluster-api-provider-openstack-v0.14.7"),
            ],
            Profile::R4 => [
                r.join("cluster-api-v1.3.5"),
                r.join("cluster-api-provider-openstack-v0.7.1"),
            ],
        }
    }
}

/// Builds a [`Fake`].
pub struct FakeBuilder {
    crd_dirs: Vec<PathBuf>,
    settings: Settings,
    controller: bool,
}

impl FakeBuilder {
    /// Loads every CRD in the YAML files of `dir` (repeatable).
    pub fn crds(mut self, dir: impl AsRef<Path>) -> Self {
        self.crd_dirs.push(dir.as_ref().to_path_buf());
        self
    }

    /// Loads the CRDs of a profile (see [`Profile::crd_dirs`]).
    pub fn profile(mut self, p: Profile) -> Self {
        self.crd_dirs.extend(p.crd_dirs());
        self
    }

    /// Time per controller step (default 20 ms; zero = as fast as possible).
    pub fn tick(mut self, tick: Duration) -> Self {
        self.settings.tick = tick;
        self
    }

    /// Cloud side effects of the simulated CAPO (default [`NoCloud`]).
    pub fn hooks(mut self, hooks: impl CloudHooks) -> Self {
        self.settings.hooks = Arc::new(hooks);
        self
    }

    /// Nodes stay NotReady until a CNI DaemonSet exists in the workload cluster.
    pub fn nodes_need_cni(mut self, on: bool) -> Self {
        self.settings.nodes_need_cni = on;
        self
    }

    /// No simulated controller: a plain API server.
    pub fn without_controller(mut self) -> Self {
        self.controller = false;
        self
    }

    pub fn build(self) -> Result<Fake, String> {
        let api = ApiServer::new("management");
        for d in &self.crd_dirs {
            api.load_crds(d)?;
        }
        let shared = Arc::new(controller::Shared::new(api.clone(), self.settings));
        Ok(Fake {
            api,
            shared,
            controller: self.controller,
        })
    }
}

/// A management-cluster fake: API server + simulated CAPI/CAPO controller. Derefs to its
/// [`ApiServer`] (request log, snapshot, get/list/put, faults).
pub struct Fake {
    api: ApiServer,
    shared: Arc<controller::Shared>,
    controller: bool,
}

impl Deref for Fake {
    type Target = ApiServer;
    fn deref(&self) -> &ApiServer {
        &self.api
    }
}

impl Fake {
    pub fn builder() -> FakeBuilder {
        FakeBuilder {
            crd_dirs: Vec::new(),
            settings: Settings::default(),
            controller: true,
        }
    }

    /// A fake with the CRDs in `dirs` and default settings.
    pub fn with_crds<P: AsRef<Path>>(dirs: &[P]) -> Result<Fake, String> {
        dirs.iter().fold(Fake::builder(), |b, d| b.crds(d)).build()
    }

    /// A fake with a profile's CRDs and default settings.
    pub fn for_profile(p: Profile) -> Result<Fake, String> {
        Fake::builder().profile(p).build()
    }

    pub fn api(&self) -> &ApiServer {
        &self.api
    }

    /// Serves on `127.0.0.1:port` and starts the controller, on the current runtime.
    pub async fn serve(&self, port: u16) -> std::io::Result<Running> {
        let running = self.api.serve(port).await?;
        if self.controller
            && let Some(stop) = running.stop_signal()
        {
            tokio::spawn(controller::run(self.shared.clone(), stop));
        }
        Ok(running)
    }

    /// Like [`Fake::serve`], on a runtime of its own (2 worker threads).
    pub fn serve_in_background(&self, port: u16) -> std::io::Result<Running> {
        let rt = server::background_runtime("fake-kube")?;
        let mut running = rt.block_on(self.serve(port))?;
        running.runtime = Some(rt);
        Ok(running)
    }

    /// The management cluster's kubeconfig (context `management-admin@management`).
    pub fn kubeconfig(&self) -> Option<String> {
        self.api.kubeconfig("management")
    }

    /// Writes [`Fake::kubeconfig`] to `path` (mode 0600).
    pub fn write_kubeconfig(&self, path: &Path) -> std::io::Result<()> {
        self.api.write_kubeconfig("management", path)
    }

    /// Every server of cluster `cluster` (any namespace) fails with Nova's quota error.
    pub fn fail_machine_quota(&self, cluster: &str) {
        self.update_faults(cluster, |f| f.quota_after = Some(0));
    }

    /// The first `n` servers of `cluster` (counted from the start) succeed, later ones hit
    /// the quota.
    pub fn fail_machine_quota_after(&self, cluster: &str, n: usize) {
        self.update_faults(cluster, |f| f.quota_after = Some(n));
    }

    /// Servers of `cluster` stay in BUILD (machines `Provisioning`) until cleared.
    pub fn stick_provisioning(&self, cluster: &str) {
        self.update_faults(cluster, |f| f.stuck_provisioning = true);
    }

    /// `cluster`'s OpenStackCluster never becomes ready until cleared.
    pub fn stick_infrastructure(&self, cluster: &str) {
        self.update_faults(cluster, |f| f.stuck_infrastructure = true);
    }

    pub fn set_cluster_faults(&self, cluster: &str, faults: ClusterFaults) {
        self.update_faults(cluster, |f| *f = faults);
    }

    pub fn clear_cluster_faults(&self, cluster: &str) {
        server::lock(&self.shared.faults).remove(cluster);
        self.api.inner.changed.notify_one();
    }

    fn update_faults(&self, cluster: &str, f: impl FnOnce(&mut ClusterFaults)) {
        f(server::lock(&self.shared.faults)
            .entry(cluster.to_string())
            .or_default());
        self.api.inner.changed.notify_one();
    }

    /// The workload cluster fake of Cluster `ns/cluster`, once its control plane is
    /// initialized.
    pub fn workload(&self, ns: &str, cluster: &str) -> Option<ApiServer> {
        self.shared.workload(ns, cluster)
    }

    /// The kubeconfig CAPI would write for `ns/cluster` (decoded `data.value` of Secret
    /// `<cluster>-kubeconfig`), once it exists.
    pub fn workload_kubeconfig(&self, ns: &str, cluster: &str) -> Option<String> {
        let s = self
            .api
            .get("v1", "Secret", ns, &format!("{cluster}-kubeconfig"))?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(s["data"]["value"].as_str()?)
            .ok()?;
        String::from_utf8(bytes).ok()
    }
}
