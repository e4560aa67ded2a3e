//! Running a cleanup [`Plan`]: every node is deleted as soon as everything it waits for is
//! gone, at most `parallelism` deletions at a time, and the outcome of each is reported.
//!
//! The OpenStack calls are behind the [`Deleter`] trait ([`super::deleter`] implements it
//! for a real session; tests use an in-memory one). Errors the deleter marks retryable
//! (409 conflicts of resources still being torn down, transient failures left after the
//! HTTP-level retries) are tried again with a growing pause. A node that fails is reported
//! with OpenStack's message and blocks only the nodes that wait for it; everything else
//! proceeds, so a re-run (new inventory, new plan) finishes the job.

use std::collections::VecDeque;
use std::fmt::{self, Write as _};
use std::future::Future;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::plan::{Action, Kind, Node, Plan};

/// Deletes one node in OpenStack. Implementations map "404 Not Found" to
/// `Ok(Gone::AlreadyGone)` (or return an error with `status: Some(404)`), mark errors worth
/// retrying (409 on a resource still in use or in a `PENDING_*` state, transport errors) as
/// `retryable`, and wait for asynchronous deletions (load balancers, servers, volumes) to
/// finish.
pub trait Deleter {
    fn delete(&self, node: &Node) -> impl Future<Output = Result<Gone, DeleteError>> + Send;
}

/// How a deletion ended successfully.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Gone {
    Deleted,
    AlreadyGone,
}

/// A failed deletion: the OpenStack message, its status if any, and whether retrying may help.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteError {
    pub status: Option<u16>,
    pub message: String,
    pub retryable: bool,
}

impl fmt::Display for DeleteError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self.status {
            Some(s) => write!(f, "{s}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for DeleteError {}

/// How [`execute`] runs a plan.
#[derive(Debug, Clone, Copy)]
pub struct ExecOptions {
    /// Deletions in flight at once.
    pub parallelism: usize,
    /// Tries per node for retryable errors (1 = no retry).
    pub attempts: u32,
    /// Pause before retry `k` is `backoff * k`.
    pub backoff: Duration,
}

impl Default for ExecOptions {
    fn default() -> Self {
        ExecOptions {
            parallelism: 8,
            attempts: 4,
            backoff: Duration::from_millis(500),
        }
    }
}

/// What happened to one node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum Outcome {
    Deleted,
    AlreadyGone,
    Kept,
    Failed { message: String },
    Blocked { holder: String },
}

impl Outcome {
    pub fn label(&self) -> &'static str {
        match self {
            Outcome::Deleted => "deleted",
            Outcome::AlreadyGone => "already-gone",
            Outcome::Kept => "kept",
            Outcome::Failed { .. } => "failed",
            Outcome::Blocked { .. } => "blocked",
        }
    }

    /// Deleted, already gone or deliberately kept.
    pub fn is_done(&self) -> bool {
        matches!(
            self,
            Outcome::Deleted | Outcome::AlreadyGone | Outcome::Kept
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodeResult {
    pub kind: Kind,
    pub id: String,
    pub name: String,
    /// Why it belongs to the cluster.
    pub reason: String,
    #[serde(flatten)]
    pub outcome: Outcome,
}

/// Results of [`execute`], one per node of the plan plus its blocked resources.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    pub results: Vec<NodeResult>,
}

impl Report {
    /// True when nothing failed and nothing is blocked (kept volumes are fine).
    pub fn is_complete(&self) -> bool {
        self.results.iter().all(|r| r.outcome.is_done())
    }

    /// How many results carry the [`Outcome::label`] `label`.
    pub fn count(&self, label: &str) -> usize {
        self.results
            .iter()
            .filter(|r| r.outcome.label() == label)
            .count()
    }

    /// `3 deleted, 0 already gone, 2 kept, 0 failed, 0 blocked`.
    pub fn summary(&self) -> String {
        format!(
            "{} deleted, {} already gone, {} kept, {} failed, {} blocked",
            self.count("deleted"),
            self.count("already-gone"),
            self.count("kept"),
            self.count("failed"),
            self.count("blocked")
        )
    }

    /// A plain-text table: kind, name, id, result, detail (OpenStack's message, the holder,
    /// or why a volume was kept), then the summary line.
    pub fn render_table(&self) -> String {
        let rows: Vec<Vec<String>> = self
            .results
            .iter()
            .map(|r| {
                let detail = match &r.outcome {
                    Outcome::Failed { message } => message.clone(),
                    Outcome::Blocked { holder } => format!("held by {holder}"),
                    Outcome::Kept => format!("{} (use `--volumes delete` to delete)", r.reason),
                    Outcome::Deleted | Outcome::AlreadyGone => String::new(),
                };
                vec![
                    r.kind.to_string(),
                    r.name.clone(),
                    r.id.clone(),
                    r.outcome.label().to_string(),
                    detail,
                ]
            })
            .collect();
        let mut t = super::table::render(&["KIND", "NAME", "ID", "RESULT", "DETAIL"], &rows);
        let _ = writeln!(t, "{}", self.summary());
        t
    }
}

/// Runs `plan`: a node starts once every node it waits for is gone, `opts.parallelism`
/// deletions at a time (longest-waiting kinds first, in wave order). A node whose
/// prerequisite failed is not attempted (`Blocked`, naming that prerequisite); everything
/// else proceeds, so one failure costs only its dependants. `done` is called once per
/// finished node (for progress), with how long it took.
pub async fn execute<D: Deleter + Sync>(
    plan: &Plan,
    deleter: &D,
    opts: ExecOptions,
    done: &mut dyn FnMut(&NodeResult, Duration),
) -> Report {
    use futures_util::stream::{FuturesUnordered, StreamExt};

    let n = plan.nodes.len();
    let mut outcome: Vec<Option<Outcome>> = vec![None; n];
    let mut waiting = vec![0usize; n];
    let mut dependants: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (i, node) in plan.nodes.iter().enumerate() {
        if node.action == Action::Keep {
            outcome[i] = Some(Outcome::Kept);
            continue;
        }
        for &d in &plan.after[i] {
            if plan.nodes[d].action == Action::Delete {
                waiting[i] += 1;
                dependants[d].push(i);
            }
        }
    }
    // Wave order decides who goes first when more nodes are ready than may run.
    let order: Vec<usize> = plan.waves().into_iter().flatten().collect();
    let mut rank = vec![usize::MAX; n];
    for (r, i) in order.iter().enumerate() {
        rank[*i] = r;
    }
    let mut ready: VecDeque<usize> = order.iter().copied().filter(|i| waiting[*i] == 0).collect();
    let mut running = FuturesUnordered::new();
    let parallelism = opts.parallelism.max(1);
    loop {
        // A safe point: after SIGINT/SIGTERM the running deletions finish, no new one
        // starts; what is left is reported as not scheduled (a re-run continues).
        while running.len() < parallelism && crate::interrupt::signal().is_none() {
            let Some(i) = ready.pop_front() else { break };
            running.push(async move {
                let t = Instant::now();
                let o = delete_one(deleter, &plan.nodes[i], opts).await;
                (i, o, t.elapsed())
            });
        }
        let Some((i, o, took)) = running.next().await else {
            break;
        };
        let ok = o.is_done();
        outcome[i] = Some(o);
        if let Some(o) = &outcome[i] {
            done(&result(&plan.nodes[i], o.clone()), took);
        }
        if ok {
            let mut newly: Vec<usize> = Vec::new();
            for &j in &dependants[i] {
                waiting[j] -= 1;
                if waiting[j] == 0 && outcome[j].is_none() {
                    newly.push(j);
                }
            }
            newly.sort_by_key(|j| rank[*j]);
            ready.extend(newly);
        } else {
            // Everything that waits for `i`, directly or not, stays.
            let holder = format!("{} (not deleted)", plan.nodes[i].key());
            let mut stack = dependants[i].clone();
            while let Some(j) = stack.pop() {
                if outcome[j].is_none() {
                    let o = Outcome::Blocked {
                        holder: holder.clone(),
                    };
                    done(&result(&plan.nodes[j], o.clone()), Duration::ZERO);
                    outcome[j] = Some(o);
                    stack.extend(dependants[j].iter().copied());
                }
            }
        }
    }
    let mut results: Vec<NodeResult> = order
        .iter()
        .copied()
        .chain((0..n).filter(|i| rank[*i] == usize::MAX))
        .map(|i| {
            let o = outcome[i].clone().unwrap_or_else(|| Outcome::Blocked {
                holder: if crate::interrupt::signal().is_some() {
                    "not started: interrupted".into()
                } else {
                    "not scheduled".into()
                },
            });
            result(&plan.nodes[i], o)
        })
        .collect();
    results.extend(plan.blocked.iter().map(|b| NodeResult {
        kind: b.kind,
        id: b.id.clone(),
        name: b.name.clone(),
        reason: b.reason.clone(),
        outcome: Outcome::Blocked {
            holder: b.holder.clone(),
        },
    }));
    Report { results }
}

fn result(node: &Node, outcome: Outcome) -> NodeResult {
    NodeResult {
        kind: node.kind,
        id: node.id.clone(),
        name: node.name.clone(),
        reason: node.reason.clone(),
        outcome,
    }
}

async fn delete_one<D: Deleter>(deleter: &D, node: &Node, opts: ExecOptions) -> Outcome {
    let attempts = opts.attempts.max(1);
    let mut k = 1;
    loop {
        match deleter.delete(node).await {
            Ok(Gone::Deleted) => return Outcome::Deleted,
            Ok(Gone::AlreadyGone) => return Outcome::AlreadyGone,
            Err(e) if e.status == Some(404) => return Outcome::AlreadyGone,
            Err(e) if e.retryable && k < attempts => {
                tokio::time::sleep(opts.backoff * k).await;
                k += 1;
            }
            Err(e) => {
                return Outcome::Failed {
                    message: e.to_string(),
                };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;
    use super::super::inventory::Inventory;
    use super::super::plan::{VolumePolicy, plan};
    use super::*;
    use crate::cloud::names::ClusterNames;
    use std::collections::{BTreeSet, HashMap, HashSet};
    use std::sync::Mutex;

    /// A cloud that deletes what it is asked to, except the nodes told to fail.
    struct FakeDeleter {
        live: Mutex<HashSet<(Kind, String)>>,
        fail: HashMap<(Kind, String), DeleteError>,
        /// retryable failures left per node
        flaky: Mutex<HashMap<(Kind, String), u32>>,
        attempts: Mutex<Vec<(Kind, String)>>,
        in_flight: Mutex<(usize, usize)>,
    }

    impl FakeDeleter {
        fn new(inv: &Plan) -> Self {
            FakeDeleter {
                live: Mutex::new(inv.nodes.iter().map(identity).collect()),
                fail: HashMap::new(),
                flaky: Mutex::new(HashMap::new()),
                attempts: Mutex::new(Vec::new()),
                in_flight: Mutex::new((0, 0)),
            }
        }
    }

    impl Deleter for FakeDeleter {
        async fn delete(&self, node: &Node) -> Result<Gone, DeleteError> {
            let id = identity(node);
            self.attempts.lock().unwrap().push(id.clone());
            {
                let mut f = self.in_flight.lock().unwrap();
                f.0 += 1;
                f.1 = f.1.max(f.0);
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
            self.in_flight.lock().unwrap().0 -= 1;
            if let Some(n) = self.flaky.lock().unwrap().get_mut(&id)
                && *n > 0
            {
                *n -= 1;
                return Err(DeleteError {
                    status: Some(503),
                    message: "The server is currently unavailable.".into(),
                    retryable: true,
                });
            }
            if let Some(e) = self.fail.get(&id) {
                return Err(e.clone());
            }
            if self.live.lock().unwrap().remove(&id) {
                Ok(Gone::Deleted)
            } else {
                Err(DeleteError {
                    status: Some(404),
                    message: "not found".into(),
                    retryable: false,
                })
            }
        }
    }

    /// The inventory without what `gone` says was deleted (and a load balancer's VIP port).
    fn without(inv: &Inventory, gone: &HashSet<(Kind, String)>) -> Inventory {
        let has = |k: Kind, id: &str| gone.contains(&(k, id.to_string()));
        let mut out = inv.clone();
        let vips: Vec<String> = inv
            .load_balancers
            .iter()
            .filter(|l| has(Kind::LoadBalancer, &l.id))
            .filter_map(|l| l.vip_port_id.clone())
            .collect();
        out.load_balancers
            .retain(|x| !has(Kind::LoadBalancer, &x.id));
        out.floating_ips.retain(|x| !has(Kind::FloatingIp, &x.id));
        out.servers.retain(|x| !has(Kind::Server, &x.id));
        out.ports
            .retain(|x| !has(Kind::Port, &x.id) && !vips.contains(&x.id));
        out.router_interfaces.retain(|x| {
            !has(
                Kind::RouterInterface,
                &format!("{}:{}", x.router_id, x.subnet_id),
            )
        });
        out.subnets.retain(|x| !has(Kind::Subnet, &x.id));
        out.networks.retain(|x| !has(Kind::Network, &x.id));
        out.routers.retain(|x| !has(Kind::Router, &x.id));
        out.security_groups
            .retain(|x| !has(Kind::SecurityGroup, &x.id));
        out.server_groups.retain(|x| !has(Kind::ServerGroup, &x.id));
        out.volumes.retain(|x| !has(Kind::Volume, &x.id));
        out.app_credentials
            .retain(|x| !has(Kind::AppCredential, &x.id));
        out
    }

    fn deleted(report: &Report) -> HashSet<(Kind, String)> {
        report
            .results
            .iter()
            .filter(|r| matches!(r.outcome, Outcome::Deleted | Outcome::AlreadyGone))
            .map(|r| (r.kind, r.id.clone()))
            .collect()
    }

    fn opts() -> ExecOptions {
        ExecOptions {
            parallelism: 4,
            attempts: 3,
            backoff: Duration::from_millis(1),
        }
    }

    #[tokio::test]
    async fn a_failed_node_blocks_only_its_dependants_and_a_rerun_converges() {
        let (c, foo, foobar, mgmt) = two_clusters();
        let names = foo_names();
        let p1 = plan(&c.inv, &names, VolumePolicy::Delete);
        let mut d = FakeDeleter::new(&p1);
        let worker = (Kind::Server, foo.servers[1].clone());
        d.fail.insert(
            worker.clone(),
            DeleteError {
                status: Some(409),
                message: "Cannot 'delete' instance while it is in task_state rebuilding".into(),
                retryable: false,
            },
        );
        d.flaky
            .lock()
            .unwrap()
            .insert((Kind::LoadBalancer, foo.kubeapi_lb.clone()), 2);
        let r1 = execute(&p1, &d, opts(), &mut |_, _| {}).await;
        assert!(!r1.is_complete());
        let failed: Vec<&NodeResult> = r1
            .results
            .iter()
            .filter(|r| matches!(r.outcome, Outcome::Failed { .. }))
            .collect();
        assert_eq!(failed.len(), 1);
        assert!(
            r1.render_table().contains("task_state rebuilding"),
            "the OpenStack message"
        );
        // dependants were not attempted: its port, and what waits for that port
        let attempted: HashSet<(Kind, String)> =
            d.attempts.lock().unwrap().iter().cloned().collect();
        for dep in [
            (Kind::Port, foo.worker_ports[0].clone()),
            (Kind::Subnet, foo.subnet.clone()),
            (Kind::Network, foo.network.clone()),
            (Kind::Volume, foo.volumes[0].clone()),
            (Kind::AppCredential, foo.appcred.clone()),
        ] {
            assert!(!attempted.contains(&dep), "{dep:?} was attempted");
            let r = r1
                .results
                .iter()
                .find(|r| (r.kind, r.id.clone()) == dep)
                .unwrap();
            assert!(matches!(r.outcome, Outcome::Blocked { .. }), "{r:?}");
        }
        // independent work went ahead, retries included
        for done in [
            (Kind::Server, foo.servers[2].clone()),
            (Kind::Port, foo.worker_ports[1].clone()),
            (Kind::LoadBalancer, foo.kubeapi_lb.clone()),
            (Kind::FloatingIp, foo.occm_fip.clone()),
        ] {
            let r = r1
                .results
                .iter()
                .find(|r| (r.kind, r.id.clone()) == done)
                .unwrap();
            assert_eq!(r.outcome, Outcome::Deleted, "{done:?}");
        }
        let max_in_flight = d.in_flight.lock().unwrap().1;
        assert!(
            (2..=4).contains(&max_in_flight),
            "bounded parallelism: {max_in_flight}"
        );

        // the instance recovers; a re-run on a fresh inventory finishes the job
        let inv2 = without(&c.inv, &deleted(&r1));
        let p2 = plan(&inv2, &names, VolumePolicy::Delete);
        assert!(p2.nodes.len() < p1.nodes.len());
        d.fail.clear();
        let r2 = execute(&p2, &d, opts(), &mut |_, _| {}).await;
        assert!(r2.is_complete(), "{}", r2.render_table());
        let inv3 = without(&inv2, &deleted(&r2));
        assert!(plan(&inv3, &names, VolumePolicy::Delete).is_empty());
        // foobar and the management server are untouched
        let left: HashSet<String> = inv3
            .servers
            .iter()
            .map(|s| s.id.clone())
            .chain(inv3.networks.iter().map(|n| n.id.clone()))
            .chain(inv3.security_groups.iter().map(|n| n.id.clone()))
            .chain(inv3.app_credentials.iter().map(|n| n.id.clone()))
            .collect();
        for (k, id) in &foobar.all {
            if matches!(
                k,
                Kind::Server | Kind::Network | Kind::SecurityGroup | Kind::AppCredential
            ) {
                assert!(left.contains(id), "foobar's {k} {id} survived");
            }
        }
        assert!(
            mgmt.iter()
                .filter(|m| m.starts_with("srv"))
                .all(|m| left.contains(m))
        );
        let p_bar = plan(
            &inv3,
            &ClusterNames::new("capi", "foobar", "default"),
            VolumePolicy::Delete,
        );
        let bar: BTreeSet<(Kind, String)> = p_bar.nodes.iter().map(identity).collect();
        assert_eq!(bar, foobar.all);
    }

    #[tokio::test]
    async fn not_found_is_done_and_kept_volumes_are_reported() {
        let (c, foo, _, _) = two_clusters();
        let p = plan(&c.inv, &foo_names(), VolumePolicy::Keep);
        let d = FakeDeleter::new(&p);
        d.live
            .lock()
            .unwrap()
            .remove(&(Kind::Server, foo.servers[0].clone()));
        let r = execute(&p, &d, opts(), &mut |_, _| {}).await;
        assert!(r.is_complete(), "{}", r.render_table());
        assert_eq!(r.count("already-gone"), 1);
        assert_eq!(r.count("kept"), 2);
        let j = serde_json::to_value(&r).unwrap();
        assert!(
            j["results"]
                .as_array()
                .unwrap()
                .iter()
                .any(|x| x["outcome"] == "kept")
        );
    }
}
