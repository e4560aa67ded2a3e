//! Whether a workload cluster converged, read from its CAPI/CAPO objects on the management
//! cluster, and the blocking conditions when it did not.
//!
//! [`assess`] is pure (unit-tested with both API generations' status shapes): control
//! plane initialized, control-plane machines ready and up to date, every MachineDeployment
//! ready and up to date, the Cluster `Available` (v1beta2) / `Ready` (v1beta1). A machine
//! whose infrastructure failed (`failureReason`/`failureMessage` on the Machine or its
//! OpenStackMachine, e.g. Nova's quota error) is terminal, as it is for CAPO: the wait stops
//! at once and reports it. [`until_converged`] polls with a deadline and, when it expires,
//! reports the conditions that block instead of a bare "timed out".

use std::time::{Duration, Instant};

use kube::api::{DynamicObject, ListParams};
use kube::core::TypeMeta;
use kube::discovery::ApiResource;
use kube::{Api, Client};
use serde_json::Value;

use super::NotConverged;
use super::objects::kind_of;
use crate::mgmt::MgmtError;
use crate::mgmt::client::api_error;
use crate::ui::Progress;

/// The label CAPI puts on every object of a cluster.
pub const CLUSTER_LABEL: &str = "cluster.x-k8s.io/cluster-name";

/// What the objects of one cluster say.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Assessment {
    pub initialized: bool,
    pub cp_ready: u64,
    pub cp_up_to_date: u64,
    pub cp_wanted: u64,
    /// Control-plane machines that exist, old and new.
    pub cp_total: u64,
    pub workers_ready: u64,
    pub workers_up_to_date: u64,
    pub workers_wanted: u64,
    pub workers_total: u64,
    pub cluster_ready: bool,
    /// The control plane alone: initialized, every machine ready and up to date, none
    /// old left (what an upgrade waits for before it rolls the workers).
    pub cp_converged: bool,
    /// Every wanted count reached, nothing old left, the Cluster ready.
    pub converged: bool,
    /// Failures that will not heal by waiting (CAPO does not retry a failed server).
    pub terminal: Vec<String>,
    /// Conditions that are False with a message, for the report.
    pub blockers: Vec<String>,
}

impl Assessment {
    /// `machines up to date 3/4` for progress.
    pub fn machines(&self) -> (u64, u64) {
        (
            self.cp_machines().0
                + ready_and_up_to_date(
                    self.workers_ready,
                    self.workers_up_to_date,
                    self.workers_total,
                ),
            self.cp_wanted + self.workers_wanted,
        )
    }

    /// What blocks, for an error: the terminal failures, then the blocking conditions,
    /// without the lines that only repeat another's text. A failed server otherwise shows
    /// the cloud's message up to six times: on the OpenStackMachine, wrapped again on its
    /// Machine, and in both objects' `Ready`/`InfrastructureReady`/`InstanceReady`.
    /// Machines failing alike are each named: a failure goes only when another one
    /// quotes it in full and says more (the Machine wrapping its OpenStackMachine's).
    pub fn blocking(&self) -> Vec<String> {
        let failures: Vec<&str> = self.terminal.iter().map(|l| quoted(l)).collect();
        let says_more = |text: &str| {
            !text.is_empty()
                && failures
                    .iter()
                    .any(|f| f.len() > text.len() && f.contains(text))
        };
        let quotes = |text: &str| !text.is_empty() && failures.iter().any(|f| f.contains(text));
        self.terminal
            .iter()
            .filter(|l| !says_more(quoted(l)))
            .chain(self.blockers.iter().filter(|l| !quotes(quoted(l))))
            .cloned()
            .collect()
    }

    /// The control plane's share of [`Assessment::machines`].
    pub fn cp_machines(&self) -> (u64, u64) {
        (
            ready_and_up_to_date(self.cp_ready, self.cp_up_to_date, self.cp_total),
            self.cp_wanted,
        )
    }

    /// Whether `scope` is reached, and its `(done, total)` machines.
    pub fn reached(&self, scope: Scope) -> (bool, (u64, u64)) {
        match scope {
            Scope::Cluster => (self.converged, self.machines()),
            Scope::ControlPlane => (self.cp_converged, self.cp_machines()),
        }
    }
}

/// What a wait waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The whole cluster ([`Assessment::converged`]).
    Cluster,
    /// The control plane only ([`Assessment::cp_converged`]).
    ControlPlane,
}

/// One wait: what it is called in progress and errors (`create`, `control-plane
/// rollout`), what it waits for, and how its machine counter is labelled.
#[derive(Debug, Clone, Copy)]
pub struct Goal<'a> {
    pub what: &'a str,
    pub scope: Scope,
    /// `machines ready and up to date`, `machines replaced`.
    pub counter: &'a str,
}

/// The objects of one cluster as read from the management cluster.
#[derive(Debug, Default, Clone)]
pub struct Observed {
    pub cluster: Option<Value>,
    pub openstack_cluster: Option<Value>,
    pub control_plane: Option<Value>,
    pub machine_deployments: Vec<Value>,
    pub machines: Vec<Value>,
    pub openstack_machines: Vec<Value>,
}

/// The text a [`failure`] or [`false_conditions`] line quotes: what follows
/// `Kind name: ` and the reason (`Reason: ` or `Type (Reason): `).
fn quoted(line: &str) -> &str {
    line.split_once(": ")
        .and_then(|(_, rest)| rest.split_once(": "))
        .map_or("", |(_, text)| text)
}

/// Machines both ready and up to date, from the counts a KCP/MachineDeployment reports
/// (it has no count of both). During a rollout the ready ones are old and the up-to-date
/// ones may not be ready yet (a new server stuck in BUILD), so `min(ready, up to date)`
/// would claim a stuck rollout done; `ready + up to date - total` is what the two sets
/// must share, exact whenever every machine is ready or up to date, and never more.
fn ready_and_up_to_date(ready: u64, up_to_date: u64, total: u64) -> u64 {
    (ready + up_to_date)
        .saturating_sub(total)
        .min(ready)
        .min(up_to_date)
}

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or(0)
}

fn name(o: &Value) -> &str {
    o["metadata"]["name"].as_str().unwrap_or("?")
}

fn condition_true(status: &Value, ty: &str) -> bool {
    status["conditions"]
        .as_array()
        .is_some_and(|l| l.iter().any(|c| c["type"] == ty && c["status"] == "True"))
}

/// Conditions that are False with a message (`Kind name: Type (Reason): message`).
/// Polarity-negative v1beta2 conditions (in progress when True) are skipped.
fn false_conditions(kind: &str, o: &Value, out: &mut Vec<String>) {
    const NEGATIVE: &[&str] = &[
        "Deleting",
        "Paused",
        "RollingOut",
        "ScalingUp",
        "ScalingDown",
        "Remediating",
    ];
    for list in [
        &o["status"]["conditions"],
        &o["status"]["v1beta2"]["conditions"],
    ] {
        for c in list.as_array().into_iter().flatten() {
            let ty = c["type"].as_str().unwrap_or("?");
            let msg = c["message"].as_str().unwrap_or("").trim();
            if c["status"] == "False" && !msg.is_empty() && !NEGATIVE.contains(&ty) {
                let line = format!(
                    "{kind} {}: {ty} ({}): {msg}",
                    name(o),
                    c["reason"].as_str().unwrap_or("-")
                );
                if !out.contains(&line) {
                    out.push(line);
                }
            }
        }
    }
}

fn failure(kind: &str, o: &Value) -> Option<String> {
    let s = &o["status"];
    let (reason, msg) = [s, &s["deprecated"]["v1beta1"]].into_iter().find_map(|s| {
        s["failureMessage"]
            .as_str()
            .map(|m| (s["failureReason"].as_str().unwrap_or("Failed"), m))
    })?;
    Some(format!("{kind} {}: {reason}: {msg}", name(o)))
}

/// `(wanted, ready, up to date, total)` of a KCP or MachineDeployment.
fn replicas(o: &Value) -> (u64, u64, u64, u64) {
    let s = &o["status"];
    let wanted = o["spec"]["replicas"].as_u64().unwrap_or(1);
    let up = s
        .get("upToDateReplicas")
        .or_else(|| s.get("updatedReplicas"))
        .map_or(0, u);
    let stale = o["metadata"]["generation"].as_u64().unwrap_or(0)
        > s["observedGeneration"].as_u64().unwrap_or(0);
    if stale {
        return (wanted, 0, 0, 0);
    }
    (wanted, u(&s["readyReplicas"]), up, u(&s["replicas"]))
}

/// Assesses the objects of one cluster.
pub fn assess(o: &Observed) -> Assessment {
    let mut a = Assessment::default();
    let mut complete = true;
    if let Some(c) = &o.cluster {
        let s = &c["status"];
        a.initialized = s["initialization"]["controlPlaneInitialized"].as_bool() == Some(true)
            || s["controlPlaneReady"].as_bool() == Some(true)
            || condition_true(s, "ControlPlaneInitialized");
        a.cluster_ready = if c["apiVersion"]
            .as_str()
            .is_some_and(|v| v.ends_with("/v1beta1"))
        {
            condition_true(s, "Ready")
        } else {
            condition_true(s, "Available")
        };
        false_conditions("Cluster", c, &mut a.blockers);
    } else {
        complete = false;
        a.blockers.push("the Cluster object does not exist".into());
    }
    if let Some(osc) = &o.openstack_cluster {
        if let Some(f) = failure("OpenStackCluster", osc) {
            a.terminal.push(f);
        }
        false_conditions("OpenStackCluster", osc, &mut a.blockers);
    }
    match &o.control_plane {
        Some(kcp) => {
            let (wanted, ready, up, total) = replicas(kcp);
            a.cp_wanted = wanted;
            a.cp_ready = ready;
            a.cp_up_to_date = up;
            a.cp_total = total;
            let cp_done = ready == wanted && up == wanted && total == wanted;
            a.cp_converged = cp_done;
            complete &= cp_done;
            false_conditions("KubeadmControlPlane", kcp, &mut a.blockers);
        }
        None => complete = false,
    }
    for md in &o.machine_deployments {
        let (wanted, ready, up, total) = replicas(md);
        a.workers_wanted += wanted;
        a.workers_ready += ready;
        a.workers_up_to_date += up;
        a.workers_total += total;
        complete &= ready == wanted && up == wanted && total == wanted;
        false_conditions("MachineDeployment", md, &mut a.blockers);
    }
    for m in &o.machines {
        if let Some(f) = failure("Machine", m) {
            a.terminal.push(f);
        }
        false_conditions("Machine", m, &mut a.blockers);
    }
    for m in &o.openstack_machines {
        if let Some(f) = failure("OpenStackMachine", m) {
            a.terminal.push(f);
        }
        false_conditions("OpenStackMachine", m, &mut a.blockers);
    }
    a.cp_converged &= a.initialized && a.terminal.is_empty();
    a.converged = complete && a.initialized && a.cluster_ready && a.terminal.is_empty();
    a
}

/// Where the objects of one cluster live: their API resources (from the rendered objects'
/// apiVersions) and namespace.
#[derive(Debug, Clone)]
pub struct ClusterRefs {
    pub namespace: String,
    pub cluster: String,
    pub control_plane: Option<String>,
    cluster_ar: ApiResource,
    kcp_ar: ApiResource,
    md_ar: ApiResource,
    machine_ar: ApiResource,
    osc_ar: ApiResource,
    osm_ar: ApiResource,
}

fn ar(api_version: &str, kind: &str) -> ApiResource {
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    ApiResource {
        group: group.into(),
        version: version.into(),
        api_version: api_version.into(),
        kind: kind.into(),
        plural: format!("{}s", kind.to_lowercase()),
    }
}

impl ClusterRefs {
    /// From the rendered objects (the Cluster and OpenStackCluster give the API versions).
    pub fn from_objects(objs: &[DynamicObject], namespace: &str) -> Option<ClusterRefs> {
        let find = |k: &str| objs.iter().find(|o| kind_of(o) == k);
        let cluster = find("Cluster")?;
        let capi = cluster.types.as_ref()?.api_version.clone();
        let capo = find("OpenStackCluster")
            .and_then(|o| o.types.as_ref().map(|t| t.api_version.clone()))
            .unwrap_or_else(|| "infrastructure.cluster.x-k8s.io/v1beta1".into());
        let kcp = find("KubeadmControlPlane");
        let cp_api = kcp
            .and_then(|o| o.types.as_ref().map(|t: &TypeMeta| t.api_version.clone()))
            .unwrap_or_else(|| capi.replace("cluster.x-k8s.io", "controlplane.cluster.x-k8s.io"));
        Some(ClusterRefs {
            namespace: namespace.into(),
            cluster: cluster.metadata.name.clone()?,
            control_plane: kcp.and_then(|k| k.metadata.name.clone()),
            cluster_ar: ar(&capi, "Cluster"),
            kcp_ar: ar(&cp_api, "KubeadmControlPlane"),
            md_ar: ar(&capi, "MachineDeployment"),
            machine_ar: ar(&capi, "Machine"),
            osc_ar: ar(&capo, "OpenStackCluster"),
            osm_ar: ar(&capo, "OpenStackMachine"),
        })
    }

    /// For a cluster known by name whose objects `profile` renders (read before anything
    /// is rendered, e.g. the running version before an upgrade).
    pub fn for_profile(
        name: &str,
        namespace: &str,
        profile: crate::render::Profile,
    ) -> ClusterRefs {
        let (capi, capo) = profile.api_versions();
        let core = format!("cluster.x-k8s.io/{capi}");
        let infra = format!("infrastructure.cluster.x-k8s.io/{capo}");
        ClusterRefs {
            namespace: namespace.into(),
            cluster: name.into(),
            control_plane: None,
            cluster_ar: ar(&core, "Cluster"),
            kcp_ar: ar(
                &format!("controlplane.cluster.x-k8s.io/{capi}"),
                "KubeadmControlPlane",
            ),
            md_ar: ar(&core, "MachineDeployment"),
            machine_ar: ar(&core, "Machine"),
            osc_ar: ar(&infra, "OpenStackCluster"),
            osm_ar: ar(&infra, "OpenStackMachine"),
        }
    }

    pub fn cluster_api(&self, client: &Client) -> Api<DynamicObject> {
        Api::namespaced_with(client.clone(), &self.namespace, &self.cluster_ar)
    }

    pub fn machine_template_api(&self, client: &Client) -> Api<DynamicObject> {
        let mut a = self.osm_ar.clone();
        a.kind = "OpenStackMachineTemplate".into();
        a.plural = "openstackmachinetemplates".into();
        Api::namespaced_with(client.clone(), &self.namespace, &a)
    }

    pub fn kcp_api(&self, client: &Client) -> Api<DynamicObject> {
        Api::namespaced_with(client.clone(), &self.namespace, &self.kcp_ar)
    }

    pub fn md_api(&self, client: &Client) -> Api<DynamicObject> {
        Api::namespaced_with(client.clone(), &self.namespace, &self.md_ar)
    }

    /// Reads every object of the cluster.
    ///
    /// # Errors
    /// API failures.
    pub async fn observe(&self, client: &Client, server: &str) -> Result<Observed, MgmtError> {
        let ns = &self.namespace;
        let sel = ListParams::default().labels(&format!("{CLUSTER_LABEL}={}", self.cluster));
        let api = |a: &ApiResource| Api::<DynamicObject>::namespaced_with(client.clone(), ns, a);
        let err = |what: &str, e| {
            api_error(
                &format!("reading the {what} of cluster `{}`", self.cluster),
                server,
                e,
            )
        };
        let to_v = |o: DynamicObject| serde_json::to_value(o).unwrap_or(Value::Null);
        let cluster = api(&self.cluster_ar)
            .get_opt(&self.cluster)
            .await
            .map_err(|e| err("Cluster", e))?
            .map(to_v);
        let kcp_name = self.control_plane.clone().or_else(|| {
            cluster.as_ref().and_then(|c| {
                c["spec"]["controlPlaneRef"]["name"]
                    .as_str()
                    .map(String::from)
            })
        });
        let control_plane = match kcp_name {
            Some(n) => api(&self.kcp_ar)
                .get_opt(&n)
                .await
                .map_err(|e| err("control plane", e))?
                .map(to_v),
            None => None,
        };
        let osc = api(&self.osc_ar)
            .get_opt(&self.cluster)
            .await
            .map_err(|e| err("OpenStackCluster", e))?
            .map(to_v);
        let list = |a: ApiResource, what: &'static str| {
            let sel = sel.clone();
            async move {
                api(&a)
                    .list(&sel)
                    .await
                    .map(|l| l.items.into_iter().map(to_v).collect::<Vec<_>>())
                    .map_err(|e| err(what, e))
            }
        };
        let (mds, machines, osms) = futures_util::try_join!(
            list(self.md_ar.clone(), "MachineDeployments"),
            list(self.machine_ar.clone(), "Machines"),
            list(self.osm_ar.clone(), "OpenStackMachines"),
        )?;
        Ok(Observed {
            cluster,
            openstack_cluster: osc,
            control_plane,
            machine_deployments: mds,
            machines,
            openstack_machines: osms,
        })
    }
}

/// Polls until the cluster converged, a terminal failure shows, or `limit` passes.
/// `what` names the wait in progress and errors (`create`, `rollout`).
///
/// # Errors
/// [`WaitError::NotConverged`] with the blocking conditions; API failures.
pub async fn until_converged(
    client: &Client,
    server: &str,
    refs: &ClusterRefs,
    limit: Duration,
    what: &str,
    progress: &dyn Progress,
) -> Result<Assessment, WaitError> {
    let goal = Goal {
        what,
        scope: Scope::Cluster,
        counter: "machines ready and up to date",
    };
    until(client, server, refs, limit, &goal, progress).await
}

/// Polls until `goal` is reached, a terminal failure shows, or `limit` passes; the
/// machine counter goes to `progress` whenever it moves.
///
/// # Errors
/// [`WaitError::NotConverged`] with the blocking conditions; API failures.
pub async fn until(
    client: &Client,
    server: &str,
    refs: &ClusterRefs,
    limit: Duration,
    goal: &Goal<'_>,
    progress: &dyn Progress,
) -> Result<Assessment, WaitError> {
    let what = goal.what;
    let start = Instant::now();
    let mut interval = Duration::from_millis(20);
    let mut last: Option<(bool, (u64, u64))> = None;
    progress.phase(&format!("waiting for cluster `{}` ({what})", refs.cluster));
    loop {
        let observed = refs.observe(client, server).await?;
        let a = assess(&observed);
        let (reached, counts) = a.reached(goal.scope);
        let now = (a.initialized, counts);
        if last != Some(now) {
            if a.initialized && last.is_none_or(|l| !l.0) {
                progress.message(&format!("control plane of `{}` initialized", refs.cluster));
            }
            progress.count(goal.counter, counts.0, counts.1);
            last = Some(now);
            interval = Duration::from_millis(20);
        }
        if reached {
            progress.finish(&match goal.scope {
                Scope::Cluster => format!("cluster `{}` is ready", refs.cluster),
                Scope::ControlPlane => {
                    format!("control plane of `{}` is ready", refs.cluster)
                }
            });
            return Ok(a);
        }
        if !a.terminal.is_empty() {
            progress.finish("failed");
            let blockers = a.blocking();
            return Err(WaitError::NotConverged(NotConverged {
                message: format!("cluster `{}` cannot converge ({what}): a machine failed", refs.cluster),
                blockers,
                hint: Some("fix the cause in the cloud (quota, flavor, image), delete the failed Machine so CAPI replaces it, and run the command again".into()),
            }));
        }
        if start.elapsed() >= limit {
            progress.finish("timed out");
            let (done, total) = counts;
            let counter = goal.counter;
            let mut blockers = a.blockers.clone();
            if blockers.is_empty() {
                blockers.push(format!("{counter}: {done} of {total}"));
            }
            return Err(WaitError::NotConverged(NotConverged {
                message: format!(
                    "cluster `{}` did not converge within {}s ({what}); control plane initialized: {}, {counter}: {done}/{total}",
                    refs.cluster,
                    limit.as_secs(),
                    if a.initialized { "yes" } else { "no" }
                ),
                blockers,
                hint: Some("run the command again to keep waiting (it changes nothing that is already right), or raise `--timeout`".into()),
            }));
        }
        tokio::time::sleep(interval.min(limit.saturating_sub(start.elapsed()))).await;
        interval = (interval * 2).min(Duration::from_secs(2));
    }
}

/// Why a wait ended without success.
#[derive(Debug)]
pub enum WaitError {
    NotConverged(NotConverged),
    Api(MgmtError),
}

impl From<MgmtError> for WaitError {
    fn from(e: MgmtError) -> Self {
        WaitError::Api(e)
    }
}

impl From<WaitError> for crate::error::Error {
    fn from(e: WaitError) -> Self {
        match e {
            WaitError::NotConverged(n) => n.into(),
            WaitError::Api(m) => m.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ready_v1beta2() -> Observed {
        Observed {
            cluster: Some(
                json!({"apiVersion": "cluster.x-k8s.io/v1beta2", "metadata": {"name": "c"},
                "status": {"initialization": {"controlPlaneInitialized": true},
                           "conditions": [{"type": "Available", "status": "True"}]}}),
            ),
            openstack_cluster: None,
            control_plane: Some(json!({"metadata": {"name": "cp", "generation": 2},
                "spec": {"replicas": 3},
                "status": {"observedGeneration": 2, "replicas": 3, "readyReplicas": 3, "upToDateReplicas": 3}})),
            machine_deployments: vec![json!({"metadata": {"name": "md", "generation": 1},
                "spec": {"replicas": 2},
                "status": {"observedGeneration": 1, "replicas": 2, "readyReplicas": 2, "upToDateReplicas": 2}})],
            machines: vec![],
            openstack_machines: vec![],
        }
    }

    #[test]
    fn converged_when_every_count_and_the_cluster_are_ready() {
        let a = assess(&ready_v1beta2());
        assert!(a.converged, "{a:?}");
        assert!(a.cp_converged, "{a:?}");
        assert_eq!(a.machines(), (5, 5));
        assert_eq!(a.reached(Scope::ControlPlane), (true, (3, 3)));
    }

    #[test]
    fn the_control_plane_can_be_done_while_workers_still_roll() {
        let mut o = ready_v1beta2();
        let md = &mut o.machine_deployments[0]["status"];
        md["replicas"] = json!(3);
        md["upToDateReplicas"] = json!(1);
        let a = assess(&o);
        assert!(!a.converged);
        assert_eq!(a.reached(Scope::ControlPlane), (true, (3, 3)));
        // 3 workers, 2 ready, 1 up to date: the new one may be the unready one.
        assert_eq!(a.reached(Scope::Cluster), (false, (3, 5)));
        o.machine_deployments[0]["status"]["readyReplicas"] = json!(3);
        assert_eq!(assess(&o).reached(Scope::Cluster), (false, (4, 5)));
        // An old control-plane machine left: the control plane is not done either.
        o.control_plane.as_mut().unwrap()["status"]["replicas"] = json!(4);
        o.control_plane.as_mut().unwrap()["status"]["upToDateReplicas"] = json!(2);
        let a = assess(&o);
        assert_eq!(a.reached(Scope::ControlPlane), (false, (1, 3)));
    }

    #[test]
    fn a_new_machine_that_is_not_ready_is_not_counted_as_replaced() {
        // One control-plane machine being replaced: the old one ready, the new one up to
        // date but stuck (server in BUILD). Nothing is replaced yet.
        let mut o = ready_v1beta2();
        let s = &mut o.control_plane.as_mut().unwrap()["status"];
        s["replicas"] = json!(2);
        s["readyReplicas"] = json!(1);
        s["upToDateReplicas"] = json!(1);
        o.control_plane.as_mut().unwrap()["spec"]["replicas"] = json!(1);
        let a = assess(&o);
        assert_eq!(a.reached(Scope::ControlPlane), (false, (0, 1)));
        // The new one ready, the old one still there: replaced.
        o.control_plane.as_mut().unwrap()["status"]["readyReplicas"] = json!(2);
        assert_eq!(assess(&o).reached(Scope::ControlPlane), (false, (1, 1)));
    }

    #[test]
    fn a_rollout_in_progress_or_stale_status_is_not_converged() {
        let mut o = ready_v1beta2();
        o.machine_deployments[0]["status"]["replicas"] = json!(3); // old machine still there
        assert!(!assess(&o).converged);
        let mut o = ready_v1beta2();
        o.control_plane.as_mut().unwrap()["metadata"]["generation"] = json!(3);
        let a = assess(&o);
        assert!(!a.converged);
        assert_eq!(a.machines(), (2, 5));
    }

    #[test]
    fn v1beta1_uses_ready_and_updated_replicas() {
        let mut o = ready_v1beta2();
        o.cluster = Some(
            json!({"apiVersion": "cluster.x-k8s.io/v1beta1", "metadata": {"name": "c"},
            "status": {"controlPlaneReady": true, "conditions": [{"type": "Ready", "status": "True"}]}}),
        );
        let md = &mut o.machine_deployments[0]["status"];
        md.as_object_mut().unwrap().remove("upToDateReplicas");
        md["updatedReplicas"] = json!(2);
        assert!(assess(&o).converged);
    }

    #[test]
    fn the_blocking_lines_quote_a_failure_once() {
        // As CAPI 1.3 and CAPO 0.7 report one server refused for quota.
        let nova = "Expected HTTP response code [202] ...: Quota exceeded for cores";
        let osm_failure =
            format!("OpenStack instance cannot be created: create OpenStack instance: {nova}");
        let mut o = ready_v1beta2();
        let failed = |ty: &str| json!({"type": ty, "status": "False", "reason": "InstanceCreateFailed", "message": nova});
        o.openstack_machines
            .push(json!({"metadata": {"name": "w-1"}, "status": {
            "failureReason": "UpdateError", "failureMessage": osm_failure,
            "conditions": [failed("Ready"), failed("InstanceReady")]}}));
        o.machines.push(json!({"metadata": {"name": "m-1"}, "status": {
            "failureReason": "UpdateError",
            "failureMessage": format!("Failure detected from referenced resource infrastructure.cluster.x-k8s.io/v1alpha6, Kind=OpenStackMachine with name \"w-1\": {osm_failure}"),
            "conditions": [failed("Ready"), failed("InfrastructureReady")]}}));
        o.machine_deployments[0]["status"]["conditions"] = json!([{"type": "Available", "status": "False",
            "reason": "WaitingForAvailableMachines", "message": "Minimum availability requires more machines"}]);
        let a = assess(&o);
        assert_eq!(a.terminal.len() + a.blockers.len(), 7, "{a:#?}");
        let lines = a.blocking();
        assert_eq!(lines.len(), 2, "{lines:#?}");
        assert!(lines[0].starts_with("Machine m-1: UpdateError: Failure detected"));
        assert!(lines[0].ends_with("Quota exceeded for cores"));
        assert_eq!(
            lines[1],
            "MachineDeployment md: Available (WaitingForAvailableMachines): Minimum availability requires more machines"
        );
        // Two machines failing alike are both named.
        let mut second = o.machines[0].clone();
        second["metadata"]["name"] = json!("m-2");
        o.machines.push(second);
        let lines = assess(&o).blocking();
        assert!(
            lines[0].starts_with("Machine m-1:") && lines[1].starts_with("Machine m-2:"),
            "{lines:#?}"
        );
    }

    #[test]
    fn machine_failures_are_terminal_and_quote_the_cloud() {
        let mut o = ready_v1beta2();
        o.openstack_machines.push(json!({"metadata": {"name": "w-1"}, "status": {
            "failureReason": "CreateError", "failureMessage": "Quota exceeded for cores",
            "conditions": [{"type": "InstanceReady", "status": "False", "reason": "InstanceCreateFailed", "message": "Quota exceeded for cores"}]}}));
        o.machines.push(
            json!({"metadata": {"name": "m-1"}, "status": {"deprecated": {"v1beta1": {
            "failureReason": "CreateError", "failureMessage": "Quota exceeded for cores"}}}}),
        );
        let a = assess(&o);
        assert!(!a.converged);
        assert_eq!(
            a.terminal,
            [
                "Machine m-1: CreateError: Quota exceeded for cores",
                "OpenStackMachine w-1: CreateError: Quota exceeded for cores"
            ]
        );
        assert_eq!(
            a.blockers,
            [
                "OpenStackMachine w-1: InstanceReady (InstanceCreateFailed): Quota exceeded for cores"
            ]
        );
    }
}
