//! The simulated CAPI + CAPO controllers of a management fake: one tokio task that, every
//! tick, moves each Cluster, OpenStackCluster, KubeadmControlPlane, MachineDeployment and
//! Machine one step towards its spec, driven only by the stored objects (so a client sees
//! the same sequence of states it would see from the real controllers, just faster).
//!
//! Submodules: [`cluster`] (Cluster + OpenStackCluster, deletion order), [`owners`]
//! (KubeadmControlPlane and MachineDeployment: scaling, rolling replacement, status),
//! [`machines`] (Machine + OpenStackMachine + KubeadmConfig + Node), [`workload`] (the
//! workload API servers and their kubeconfig Secrets), [`conditions`], [`hooks`] (the cloud
//! seam) and the fault knobs in [`ClusterFaults`].
//!
//! Both generations the tool renders are simulated; the Cluster's `apiVersion` decides:
//! `cluster.x-k8s.io/v1beta2` (+ CAPO v1beta1) or `v1beta1` (+ CAPO v1alpha6).

pub(crate) mod cluster;
pub mod conditions;
pub mod hooks;
pub(crate) mod machines;
pub(crate) mod owners;
pub(crate) mod workload;

use crate::managed;
use crate::server::{ApiServer, Running, lock};
use crate::util;
use hooks::CloudHooks;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;

pub const CLUSTERS: &str = "clusters.cluster.x-k8s.io";
pub const MACHINES: &str = "machines.cluster.x-k8s.io";
pub const MACHINE_DEPLOYMENTS: &str = "machinedeployments.cluster.x-k8s.io";
pub const KCPS: &str = "kubeadmcontrolplanes.controlplane.cluster.x-k8s.io";
pub const KUBEADM_CONFIGS: &str = "kubeadmconfigs.bootstrap.cluster.x-k8s.io";
pub const OPENSTACK_CLUSTERS: &str = "openstackclusters.infrastructure.cluster.x-k8s.io";
pub const OPENSTACK_MACHINES: &str = "openstackmachines.infrastructure.cluster.x-k8s.io";
pub const OPENSTACK_MACHINE_TEMPLATES: &str =
    "openstackmachinetemplates.infrastructure.cluster.x-k8s.io";
pub const SECRETS: &str = "secrets";

/// Field managers of the simulated controllers (visible in `managedFields`).
pub const CAPI: &str = "capi-controller";
pub const KCP: &str = "capi-kubeadm-control-plane";
pub const BOOTSTRAP: &str = "capi-kubeadm-bootstrap";
pub const CAPO: &str = "capo-controller";

pub const LABEL_CLUSTER: &str = "cluster.x-k8s.io/cluster-name";
pub const LABEL_CONTROL_PLANE: &str = "cluster.x-k8s.io/control-plane";
pub const LABEL_CONTROL_PLANE_NAME: &str = "cluster.x-k8s.io/control-plane-name";
pub const LABEL_DEPLOYMENT: &str = "cluster.x-k8s.io/deployment-name";
pub const LABEL_SET: &str = "cluster.x-k8s.io/set-name";

/// The `failureMessage` CAPO reports when Nova refuses a server for quota (see
/// [`ClusterFaults::quota_after`]).
pub const QUOTA_MESSAGE: &str =
    "Quota exceeded for cores: Requested 2, but already used 20 of 20 cores";

/// Fault knobs of one cluster (by Cluster name, any namespace).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClusterFaults {
    /// After this many servers were created for the cluster, every further server fails
    /// with Nova's quota error (`Some(0)`: every server). The machine that hits it fails for
    /// good, as with CAPO; clearing the knob only helps machines created later.
    pub quota_after: Option<usize>,
    /// Servers stay in BUILD: machines stay `Provisioning` until cleared.
    pub stuck_provisioning: bool,
    /// The OpenStackCluster never becomes ready (e.g. an LB stuck in PENDING_CREATE).
    pub stuck_infrastructure: bool,
}

/// How the simulation behaves.
#[derive(Clone)]
pub struct Settings {
    /// Time per step (default 20 ms; zero runs steps back to back).
    pub tick: Duration,
    pub hooks: Arc<dyn CloudHooks>,
    /// Nodes stay `NotReady` until a CNI DaemonSet (name containing `calico`, `cilium`,
    /// `flannel` or `weave`) exists in the workload cluster's `kube-system`.
    pub nodes_need_cni: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            tick: Duration::from_millis(20),
            hooks: Arc::new(hooks::NoCloud),
            nodes_need_cni: false,
        }
    }
}

/// A running workload cluster fake.
pub struct Workload {
    pub api: ApiServer,
    _running: Running,
}

/// State shared by the controller task and the [`crate::Fake`] handle.
pub(crate) struct Shared {
    pub mgmt: ApiServer,
    pub settings: Settings,
    pub faults: Mutex<BTreeMap<String, ClusterFaults>>,
    /// Servers created so far, per cluster name (for `quota_after`).
    pub servers: Mutex<BTreeMap<String, usize>>,
    pub workloads: Mutex<BTreeMap<(String, String), Workload>>,
    pub infra: Mutex<BTreeMap<(String, String), hooks::ClusterInfra>>,
}

impl Shared {
    pub fn new(mgmt: ApiServer, settings: Settings) -> Shared {
        Shared {
            mgmt,
            settings,
            faults: Mutex::new(BTreeMap::new()),
            servers: Mutex::new(BTreeMap::new()),
            workloads: Mutex::new(BTreeMap::new()),
            infra: Mutex::new(BTreeMap::new()),
        }
    }

    pub fn faults_of(&self, cluster: &str) -> ClusterFaults {
        lock(&self.faults).get(cluster).cloned().unwrap_or_default()
    }

    pub fn has_kind(&self, key: &str) -> bool {
        lock(&self.mgmt.inner.state).registry.by_key(key).is_some()
    }

    pub fn get(&self, key: &str, ns: &str, name: &str) -> Option<Value> {
        lock(&self.mgmt.inner.state).get(key, ns, name).cloned()
    }

    pub fn list(&self, key: &str, ns: Option<&str>) -> Vec<Value> {
        lock(&self.mgmt.inner.state)
            .list(key, ns)
            .into_iter()
            .cloned()
            .collect()
    }

    /// Read-modify-write of one object as `manager` (a status write when `status`).
    /// Returns true when something changed.
    pub fn modify(
        &self,
        key: &str,
        ns: &str,
        name: &str,
        manager: &str,
        status: bool,
        f: impl FnOnce(&mut Value),
    ) -> bool {
        modify_in(&self.mgmt, key, ns, name, manager, status, f)
    }

    /// Creates an object as `manager`; false when it exists or its kind is unknown.
    pub fn create(&self, obj: Value, manager: &str) -> bool {
        create_in(&self.mgmt, obj, manager)
    }

    /// Deletes an object (finalizers respected); false when it was not there.
    pub fn delete(&self, key: &str, ns: &str, name: &str) -> bool {
        delete_in(&self.mgmt, key, ns, name)
    }

    pub fn workload(&self, ns: &str, name: &str) -> Option<ApiServer> {
        lock(&self.workloads)
            .get(&(ns.to_string(), name.to_string()))
            .map(|w| w.api.clone())
    }
}

pub(crate) fn modify_in(
    api: &ApiServer,
    key: &str,
    ns: &str,
    name: &str,
    manager: &str,
    status: bool,
    f: impl FnOnce(&mut Value),
) -> bool {
    let mut st = lock(&api.inner.state);
    let Some(old) = st.get(key, ns, name).cloned() else {
        return false;
    };
    // Objects are not schema-checked, so a client may have stored `spec: "x"`; writing
    // into such a shape would panic. Leave those objects alone instead.
    let shaped = |v: &Value| v.is_object() || v.is_null();
    if !old.is_object()
        || !old["metadata"].is_object()
        || !shaped(&old["spec"])
        || !shaped(&old["status"])
    {
        return false;
    }
    let mut new = old.clone();
    let applied = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&mut new)));
    if applied.is_err() || new == old {
        return false;
    }
    let mut entries = managed::read(&old);
    let av = old["apiVersion"].as_str().unwrap_or("").to_string();
    managed::record_update(
        &mut entries,
        &old,
        &new,
        manager,
        &av,
        status.then_some("status"),
        &util::now(),
    );
    managed::write(&mut new, &entries);
    st.commit(&new);
    true
}

pub(crate) fn create_in(api: &ApiServer, mut obj: Value, manager: &str) -> bool {
    let mut st = lock(&api.inner.state);
    let Some(t) = st
        .registry
        .by_kind(
            obj["apiVersion"].as_str().unwrap_or(""),
            obj["kind"].as_str().unwrap_or(""),
        )
        .cloned()
    else {
        return false;
    };
    if st
        .get(
            &t.key(),
            crate::store::namespace_of(&obj),
            crate::store::name_of(&obj),
        )
        .is_some()
    {
        return false;
    }
    let mut entries = Vec::new();
    let av = obj["apiVersion"].as_str().unwrap_or("").to_string();
    managed::record_update(
        &mut entries,
        &serde_json::json!({}),
        &obj,
        manager,
        &av,
        None,
        &util::now(),
    );
    if obj.get("status").is_some() {
        let mut no_status = obj.clone();
        if let Some(m) = no_status.as_object_mut() {
            m.shift_remove("status");
        }
        managed::record_update(
            &mut entries,
            &no_status,
            &obj,
            manager,
            &av,
            Some("status"),
            &util::now(),
        );
    }
    managed::write(&mut obj, &entries);
    st.commit(&obj);
    true
}

pub(crate) fn delete_in(api: &ApiServer, key: &str, ns: &str, name: &str) -> bool {
    let mut st = lock(&api.inner.state);
    let Some(t) = st.registry.by_key(key).cloned() else {
        return false;
    };
    st.delete(&t, ns, name, &crate::store::DeleteOpts::default())
        .is_some()
}

pub fn meta<'a>(o: &'a Value, k: &str) -> &'a str {
    o["metadata"][k].as_str().unwrap_or("")
}

pub fn label<'a>(o: &'a Value, k: &str) -> Option<&'a str> {
    o["metadata"]["labels"][k].as_str()
}

pub fn deleting(o: &Value) -> bool {
    o["metadata"].get("deletionTimestamp").is_some()
}

pub fn generation(o: &Value) -> i64 {
    o["metadata"]["generation"].as_i64().unwrap_or(1)
}

/// Adds `f` to the finalizers (no-op when present).
pub fn add_finalizer(o: &mut Value, f: &str) {
    let list = &mut o["metadata"]["finalizers"];
    if !list.is_array() {
        *list = serde_json::json!([]);
    }
    if let Some(a) = list.as_array_mut()
        && !a.iter().any(|x| x == f)
    {
        a.push(serde_json::json!(f));
    }
}

pub fn remove_finalizer(o: &mut Value, f: &str) {
    if let Some(a) = o["metadata"]["finalizers"].as_array_mut() {
        a.retain(|x| x != f);
    }
}

pub fn has_finalizer(o: &Value, f: &str) -> bool {
    o["metadata"]["finalizers"]
        .as_array()
        .is_some_and(|a| a.iter().any(|x| x == f))
}

/// An ownerReference to `owner` (controller when `controller`).
pub fn owner_ref(owner: &Value, controller: bool) -> Value {
    serde_json::json!({"apiVersion": owner["apiVersion"], "kind": owner["kind"],
        "name": owner["metadata"]["name"], "uid": owner["metadata"]["uid"],
        "controller": controller, "blockOwnerDeletion": true})
}

/// Adds an owner reference (by uid) unless present.
pub fn ensure_owner(o: &mut Value, owner: &Value, controller: bool) {
    let uid = owner["metadata"]["uid"].clone();
    let refs = &mut o["metadata"]["ownerReferences"];
    if !refs.is_array() {
        *refs = serde_json::json!([]);
    }
    if let Some(a) = refs.as_array_mut()
        && !a.iter().any(|r| r["uid"] == uid)
    {
        a.push(owner_ref(owner, controller));
    }
}

pub fn set_label(o: &mut Value, k: &str, v: &str) {
    if !o["metadata"]["labels"].is_object() {
        o["metadata"]["labels"] = serde_json::json!({});
    }
    o["metadata"]["labels"][k] = serde_json::json!(v);
}

/// One pass over everything; true when anything moved.
async fn reconcile(shared: &Arc<Shared>) -> bool {
    let mut progressed = false;
    for c in shared.list(CLUSTERS, None) {
        progressed |= cluster::reconcile(shared, &c).await;
    }
    for k in shared.list(KCPS, None) {
        progressed |= owners::reconcile_kcp(shared, &k).await;
    }
    for md in shared.list(MACHINE_DEPLOYMENTS, None) {
        progressed |= owners::reconcile_md(shared, &md);
    }
    for m in shared.list(MACHINES, None) {
        progressed |= machines::reconcile(shared, &m).await;
    }
    progressed |= machines::reconcile_openstack_machines(shared).await;
    progressed |= cluster::reconcile_openstack_clusters(shared).await;
    progressed
}

/// The controller task: runs until `stop` fires, then stops every workload server.
pub(crate) async fn run(shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let tick = shared.settings.tick;
    let idle = tick.max(Duration::from_millis(50));
    loop {
        if *stop.borrow() {
            break;
        }
        let progressed = reconcile(&shared).await;
        let wait = if progressed { tick } else { idle };
        if progressed && tick.is_zero() {
            tokio::task::yield_now().await;
            continue;
        }
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = shared.mgmt.inner.changed.notified(), if !progressed => {}
            _ = stop.changed() => break,
        }
    }
    lock(&shared.workloads).clear();
}
