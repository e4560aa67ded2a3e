//! The cleanup planner and executor: which OpenStack resources belong to one cluster, in
//! which order they must go, and running that order with bounded parallelism.
//!
//! [`plan`] is pure: it takes an [`Inventory`] (plain structs the caller filled from the
//! list calls), the cluster's [`ClusterNames`] and a [`VolumePolicy`], and returns a
//! [`Plan`]: a dependency graph of [`Node`]s (what must be gone before what), each with the
//! reason it matched, plus the [`Blocked`] resources that would belong to the cluster but
//! are held by something outside the plan (never deleted; reported with the holder).
//! Matching is by the exact names of [`super::names`], so `foo` never takes `foobar`'s
//! resources, and the management server's resources are never planned.
//!
//! Order (an edge means "the first must be gone before the second"): floating IPs of load
//! balancers and servers -> load balancers (cascade) -> servers -> ports -> router
//! interfaces -> subnets -> networks and routers; security groups after the ports and
//! load balancers using them; server groups and volumes after servers; the application
//! credential after everything else.
//!
//! [`execute`] runs [`Plan::waves`] with a [`Deleter`] (the OpenStack calls live with the
//! caller), `parallelism` deletions at a time, retrying retryable errors; a failed node
//! blocks only its dependants, so a re-run (new inventory, new plan) finishes the job.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt::{self, Write as _};
use std::future::Future;
use std::time::Duration;

use serde::Serialize;

use super::names::ClusterNames;

// ------------------------------------------------------------------------------------------
// Inventory

/// What the cloud holds, as the planner needs it (one project; the caller lists it).
#[derive(Debug, Clone, Default)]
pub struct Inventory {
    pub load_balancers: Vec<LoadBalancer>,
    pub floating_ips: Vec<FloatingIp>,
    pub servers: Vec<Server>,
    pub ports: Vec<Port>,
    pub router_interfaces: Vec<RouterInterface>,
    pub subnets: Vec<Subnet>,
    pub networks: Vec<Network>,
    pub routers: Vec<Router>,
    pub security_groups: Vec<SecurityGroup>,
    pub server_groups: Vec<ServerGroup>,
    pub app_credentials: Vec<AppCredential>,
    pub volumes: Vec<Volume>,
}

#[derive(Debug, Clone, Default)]
pub struct LoadBalancer {
    pub id: String,
    pub name: String,
    pub description: String,
    pub vip_port_id: Option<String>,
    /// Security groups its VIP port and listeners use.
    pub security_group_ids: Vec<String>,
}

#[derive(Debug, Clone, Default)]
pub struct FloatingIp {
    pub id: String,
    pub address: String,
    pub port_id: Option<String>,
    pub description: String,
}

#[derive(Debug, Clone, Default)]
pub struct Server {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Clone, Default)]
pub struct Port {
    pub id: String,
    pub name: String,
    pub device_owner: String,
    pub device_id: String,
    pub network_id: String,
    pub security_group_ids: Vec<String>,
}

/// A router's interface on a subnet (a `network:router_interface*` port).
#[derive(Debug, Clone, Default)]
pub struct RouterInterface {
    pub router_id: String,
    pub subnet_id: String,
    pub port_id: String,
}

#[derive(Debug, Clone, Default)]
pub struct Subnet {
    pub id: String,
    pub name: String,
    pub network_id: String,
}

#[derive(Debug, Clone, Default)]
pub struct Network {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Clone, Default)]
pub struct Router {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Clone, Default)]
pub struct SecurityGroup {
    pub id: String,
    pub name: String,
    pub description: String,
}

#[derive(Debug, Clone, Default)]
pub struct ServerGroup {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Clone, Default)]
pub struct AppCredential {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Clone, Default)]
pub struct Volume {
    pub id: String,
    pub name: String,
    pub metadata: BTreeMap<String, String>,
    pub status: String,
    /// Ids of the servers it is attached to.
    pub attachments: Vec<String>,
}

// ------------------------------------------------------------------------------------------
// Plan

/// What happens to Cinder CSI volumes of the cluster (`--volumes keep|delete`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum VolumePolicy {
    #[default]
    Keep,
    Delete,
}

/// Resource kinds, in the order a table lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    FloatingIp,
    LoadBalancer,
    Server,
    Port,
    RouterInterface,
    Subnet,
    Network,
    Router,
    SecurityGroup,
    ServerGroup,
    Volume,
    AppCredential,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::FloatingIp => "floating-ip",
            Kind::LoadBalancer => "load-balancer",
            Kind::Server => "server",
            Kind::Port => "port",
            Kind::RouterInterface => "router-interface",
            Kind::Subnet => "subnet",
            Kind::Network => "network",
            Kind::Router => "router",
            Kind::SecurityGroup => "security-group",
            Kind::ServerGroup => "server-group",
            Kind::Volume => "volume",
            Kind::AppCredential => "app-credential",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Delete,
    /// Listed, not deleted (CSI volumes under [`VolumePolicy::Keep`]).
    Keep,
}

/// One resource of the cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Node {
    pub kind: Kind,
    /// The resource id; for a router interface, the subnet id.
    pub id: String,
    /// For a router interface: the router it is removed from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub router_id: Option<String>,
    pub name: String,
    pub action: Action,
    /// Why it belongs to the cluster.
    pub reason: String,
}

impl Node {
    /// Unique within a plan: `<kind>/<id>` (`router-interface/<router>:<subnet>`).
    pub fn key(&self) -> String {
        match &self.router_id {
            Some(r) => format!("{}/{r}:{}", self.kind, self.id),
            None => format!("{}/{}", self.kind, self.id),
        }
    }
}

/// A resource that would belong to the cluster but is in use by something outside the
/// plan; it is left alone and reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Blocked {
    pub kind: Kind,
    pub id: String,
    pub name: String,
    /// Why it would belong to the cluster.
    pub reason: String,
    /// What holds it (`server/<id> (<name>)`, a port, or another blocked resource).
    pub holder: String,
}

/// The cleanup plan for one cluster: a dependency graph over [`Node`]s.
#[derive(Debug, Clone)]
pub struct Plan {
    pub cluster: ClusterNames,
    pub volume_policy: VolumePolicy,
    pub nodes: Vec<Node>,
    /// `after[i]`: indices of the nodes that must be gone before `nodes[i]` is deleted.
    pub after: Vec<BTreeSet<usize>>,
    pub blocked: Vec<Blocked>,
}

/// Plans the cleanup of `cluster` from what `inv` holds. Pure; see the module doc.
pub fn plan(inv: &Inventory, cluster: &ClusterNames, volumes: VolumePolicy) -> Plan {
    Planner::new(inv, cluster, volumes).run()
}

struct Planner<'a> {
    inv: &'a Inventory,
    n: &'a ClusterNames,
    volumes: VolumePolicy,
    nodes: Vec<Node>,
    index: HashMap<(Kind, String), usize>,
    /// (must be gone first, then) pairs of node indices.
    edges: Vec<(usize, usize)>,
    /// node index -> holder description, for direct blocks.
    blocked: BTreeMap<usize, String>,
}

impl<'a> Planner<'a> {
    fn new(inv: &'a Inventory, n: &'a ClusterNames, volumes: VolumePolicy) -> Self {
        Planner {
            inv,
            n,
            volumes,
            nodes: Vec::new(),
            index: HashMap::new(),
            edges: Vec::new(),
            blocked: BTreeMap::new(),
        }
    }

    fn add(&mut self, kind: Kind, id: &str, name: &str, action: Action, reason: String) -> usize {
        self.add_ri(kind, id, None, name, action, reason)
    }

    fn add_ri(
        &mut self,
        kind: Kind,
        id: &str,
        router_id: Option<&str>,
        name: &str,
        action: Action,
        reason: String,
    ) -> usize {
        let key = (kind, format!("{}:{id}", router_id.unwrap_or_default()));
        if let Some(i) = self.index.get(&key) {
            return *i;
        }
        self.nodes.push(Node {
            kind,
            id: id.to_string(),
            router_id: router_id.map(String::from),
            name: name.to_string(),
            action,
            reason,
        });
        let i = self.nodes.len() - 1;
        self.index.insert(key, i);
        i
    }

    fn get(&self, kind: Kind, id: &str) -> Option<usize> {
        self.index.get(&(kind, format!(":{id}"))).copied()
    }

    fn edge(&mut self, first: usize, then: usize) {
        if first != then {
            self.edges.push((first, then));
        }
    }

    fn block(&mut self, i: usize, holder: String) {
        self.blocked.entry(i).or_insert(holder);
    }

    fn run(mut self) -> Plan {
        let inv = self.inv;
        let n = self.n;
        let port_by_id: HashMap<&str, &Port> =
            inv.ports.iter().map(|p| (p.id.as_str(), p)).collect();
        let server_name: HashMap<&str, &str> = inv
            .servers
            .iter()
            .map(|s| (s.id.as_str(), s.name.as_str()))
            .collect();
        let lb_name: HashMap<&str, &str> = inv
            .load_balancers
            .iter()
            .map(|l| (l.id.as_str(), l.name.as_str()))
            .collect();

        // -- load balancers
        let mut lbs = Vec::new();
        for lb in &inv.load_balancers {
            let reason = if n.is_capo_kubeapi_lb(&lb.name) {
                "CAPO API-server load balancer".to_string()
            } else if let Some(s) = n.occm_lb_service(&lb.name) {
                format!("OCCM load balancer of Service {}/{}", s.namespace, s.name)
            } else {
                continue;
            };
            let i = self.add(Kind::LoadBalancer, &lb.id, &lb.name, Action::Delete, reason);
            lbs.push((i, lb));
        }
        let vip_ports: HashMap<&str, usize> = lbs
            .iter()
            .filter_map(|(i, lb)| lb.vip_port_id.as_deref().map(|p| (p, *i)))
            .collect();

        // -- servers
        let mut servers = Vec::new();
        for s in &inv.servers {
            if let Some(role) = n.machine_role(&s.name) {
                let reason = match role {
                    super::names::MachineRole::ControlPlane => "control-plane machine",
                    super::names::MachineRole::Worker => "worker machine",
                };
                servers.push(self.add(Kind::Server, &s.id, &s.name, Action::Delete, reason.into()));
            }
        }

        // -- networks, subnets, routers (CAPO names)
        let mut networks = Vec::new();
        for net in &inv.networks {
            if n.is_capo_network(&net.name) && !n.is_management(&net.name) {
                networks.push(self.add(
                    Kind::Network,
                    &net.id,
                    &net.name,
                    Action::Delete,
                    "CAPO cluster network".into(),
                ));
            }
        }
        let cluster_net: HashSet<&str> = inv
            .networks
            .iter()
            .filter(|x| self.get(Kind::Network, &x.id).is_some())
            .map(|x| x.id.as_str())
            .collect();
        let mut subnets = Vec::new();
        for sub in &inv.subnets {
            let reason = if cluster_net.contains(sub.network_id.as_str()) {
                "subnet of the CAPO cluster network"
            } else if n.is_capo_network(&sub.name) {
                "CAPO cluster subnet"
            } else {
                continue;
            };
            let i = self.add(
                Kind::Subnet,
                &sub.id,
                &sub.name,
                Action::Delete,
                reason.into(),
            );
            if let Some(net) = self.get(Kind::Network, &sub.network_id) {
                self.edge(i, net);
            }
            subnets.push((i, sub));
        }
        let cluster_subnet: HashSet<&str> = subnets.iter().map(|(_, s)| s.id.as_str()).collect();
        let mut routers = Vec::new();
        for r in &inv.routers {
            if n.is_capo_network(&r.name) && !n.is_management(&r.name) {
                routers.push(self.add(
                    Kind::Router,
                    &r.id,
                    &r.name,
                    Action::Delete,
                    "CAPO cluster router".into(),
                ));
            }
        }

        // -- router interfaces
        let mut interfaces = Vec::new();
        for ri in &inv.router_interfaces {
            let our_subnet = cluster_subnet.contains(ri.subnet_id.as_str());
            let our_router = self.get(Kind::Router, &ri.router_id);
            match (our_subnet, our_router) {
                (true, _) => {
                    let i = self.add_ri(
                        Kind::RouterInterface,
                        &ri.subnet_id,
                        Some(&ri.router_id),
                        &format!("{} <-> {}", ri.router_id, ri.subnet_id),
                        Action::Delete,
                        "interface on a cluster subnet".into(),
                    );
                    if let Some(s) = self.get(Kind::Subnet, &ri.subnet_id) {
                        self.edge(i, s);
                    }
                    if let Some(r) = our_router {
                        self.edge(i, r);
                    }
                    interfaces.push(i);
                }
                (false, Some(r)) => {
                    let sub = inv
                        .subnets
                        .iter()
                        .find(|s| s.id == ri.subnet_id)
                        .map(|s| s.name.as_str())
                        .unwrap_or("?");
                    self.block(r, format!("subnet/{} ({sub}) attached to it", ri.subnet_id));
                }
                (false, None) => {}
            }
        }

        // -- ports
        let mut ports = Vec::new();
        for p in &inv.ports {
            if vip_ports.contains_key(p.id.as_str()) {
                continue; // the load balancer's cascade removes it
            }
            let on_cluster_net = cluster_net.contains(p.network_id.as_str());
            if let Some(s) = self.get(Kind::Server, &p.device_id) {
                let i = self.add(
                    Kind::Port,
                    &p.id,
                    &p.name,
                    Action::Delete,
                    format!("port of server {}", self.nodes[s].name),
                );
                self.edge(s, i);
                ports.push((i, p));
                continue;
            }
            let unbound = p.device_id.is_empty() && p.device_owner.is_empty();
            let named_after_machine = p.name.rsplit_once('-').is_some_and(|(m, k)| {
                k.bytes().all(|b| b.is_ascii_digit()) && n.machine_role(m).is_some()
            });
            if unbound && (on_cluster_net || named_after_machine) {
                let reason = if on_cluster_net {
                    "unbound port on the cluster network"
                } else {
                    "unbound port named after a machine"
                };
                let i = self.add(Kind::Port, &p.id, &p.name, Action::Delete, reason.into());
                ports.push((i, p));
                continue;
            }
            if !on_cluster_net || p.device_owner.starts_with("network:") {
                continue; // not ours, or infrastructure that goes with its network/router
            }
            // something outside the plan lives on the cluster network
            let holder = holder_of(p, &server_name, &lb_name);
            if let Some(net) = self.get(Kind::Network, &p.network_id) {
                self.block(net, holder.clone());
                for (si, s) in subnets.clone() {
                    if s.network_id == p.network_id {
                        self.block(si, holder.clone());
                        for ri in &inv.router_interfaces {
                            if ri.subnet_id == s.id
                                && let Some(x) = self.index.get(&(
                                    Kind::RouterInterface,
                                    format!("{}:{}", ri.router_id, ri.subnet_id),
                                ))
                            {
                                let x = *x;
                                self.block(x, holder.clone());
                            }
                        }
                    }
                }
            }
        }
        for (i, p) in &ports {
            if let Some(net) = self.get(Kind::Network, &p.network_id) {
                self.edge(*i, net);
            }
            for (si, s) in &subnets {
                if s.network_id == p.network_id {
                    self.edge(*i, *si);
                }
            }
        }

        // -- floating IPs
        let mut fips = Vec::new();
        for f in &inv.floating_ips {
            let port = f.port_id.as_deref();
            let lb = port.and_then(|p| vip_ports.get(p)).copied();
            let server = port
                .and_then(|p| port_by_id.get(p))
                .and_then(|p| self.get(Kind::Server, &p.device_id));
            let occm = n.occm_floating_ip_service(&f.description);
            let (reason, before) = match (lb, server, &occm) {
                (Some(l), _, _) => (
                    format!("floating IP of load balancer {}", self.nodes[l].name),
                    Some(l),
                ),
                (None, Some(s), _) => (
                    format!("floating IP of server {}", self.nodes[s].name),
                    Some(s),
                ),
                (None, None, Some(svc)) => (
                    format!("OCCM floating IP of Service {}/{}", svc.namespace, svc.name),
                    None,
                ),
                (None, None, None) => continue,
            };
            let name = if f.address.is_empty() {
                &f.id
            } else {
                &f.address
            };
            let i = self.add(Kind::FloatingIp, &f.id, name, Action::Delete, reason);
            if let Some(b) = before {
                self.edge(i, b);
            } else if let Some(p) = port.and_then(|p| port_by_id.get(p)) {
                // an OCCM address still bound to something outside the plan
                self.block(i, holder_of(p, &server_name, &lb_name));
            }
            fips.push(i);
        }

        // -- security groups
        let mut sgs = Vec::new();
        for g in &inv.security_groups {
            let reason = if let Some(r) = n.capo_security_group_role(&g.name) {
                format!("CAPO security group ({})", r.as_str())
            } else if n.is_cilium_security_group(&g.name) {
                "cilium security group".to_string()
            } else if let Some(s) = n.occm_security_group_service(&g.name, &g.description) {
                format!("OCCM security group of Service {}/{}", s.namespace, s.name)
            } else {
                continue;
            };
            if n.is_management(&g.name) {
                continue;
            }
            sgs.push(self.add(Kind::SecurityGroup, &g.id, &g.name, Action::Delete, reason));
        }
        for p in &inv.ports {
            let user = if let Some(l) = vip_ports.get(p.id.as_str()) {
                Some(*l)
            } else {
                self.get(Kind::Port, &p.id)
            };
            for sg in &p.security_group_ids {
                let Some(g) = self.get(Kind::SecurityGroup, sg) else {
                    continue;
                };
                match user {
                    Some(u) => self.edge(u, g),
                    None => {
                        let h = holder_of(p, &server_name, &lb_name);
                        self.block(g, h);
                    }
                }
            }
        }
        for lb in &inv.load_balancers {
            let ours = self.get(Kind::LoadBalancer, &lb.id);
            for sg in &lb.security_group_ids {
                if let Some(g) = self.get(Kind::SecurityGroup, sg) {
                    match ours {
                        Some(l) => self.edge(l, g),
                        None => self.block(g, format!("load-balancer/{} ({})", lb.id, lb.name)),
                    }
                }
            }
        }

        // -- server groups
        let mut groups = Vec::new();
        for g in &inv.server_groups {
            if let Some(role) = n.server_group_role(&g.name) {
                let reason = format!("server group ({role:?})").to_lowercase();
                groups.push(self.add(Kind::ServerGroup, &g.id, &g.name, Action::Delete, reason));
            }
        }

        // -- volumes
        let mut volumes = Vec::new();
        for v in &inv.volumes {
            let (reason, action) = if n.is_csi_volume(&v.name, &v.metadata) {
                let a = match self.volumes {
                    VolumePolicy::Keep => Action::Keep,
                    VolumePolicy::Delete => Action::Delete,
                };
                ("Cinder CSI volume of the cluster".to_string(), a)
            } else if n.is_machine_root_volume(&v.name) {
                ("root volume of a machine".to_string(), Action::Delete)
            } else {
                continue;
            };
            let i = self.add(Kind::Volume, &v.id, &v.name, action, reason);
            if action == Action::Delete {
                for srv in &v.attachments {
                    if self.get(Kind::Server, srv).is_none() {
                        let name = server_name.get(srv.as_str()).copied().unwrap_or("?");
                        self.block(i, format!("server/{srv} ({name}) it is attached to"));
                    }
                }
                volumes.push(i);
            }
        }

        // -- order: LB before servers and the network; servers before groups and volumes;
        //    floating IPs before router interfaces
        for (l, _) in &lbs {
            for x in servers
                .iter()
                .chain(&interfaces)
                .chain(subnets.iter().map(|(i, _)| i))
                .chain(&networks)
            {
                self.edge(*l, *x);
            }
        }
        for s in &servers {
            for x in groups.iter().chain(&volumes) {
                self.edge(*s, *x);
            }
        }
        for f in &fips {
            for x in &interfaces {
                self.edge(*f, *x);
            }
        }

        // -- blocks propagate to whatever waits for a blocked node
        let mut after: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); self.nodes.len()];
        for (a, b) in &self.edges {
            after[*b].insert(*a);
        }
        loop {
            let mut changed = false;
            for (i, deps) in after.iter().enumerate() {
                if self.blocked.contains_key(&i) {
                    continue;
                }
                if let Some(d) = deps.iter().find(|d| self.blocked.contains_key(d)) {
                    let h = format!("blocked {}", self.nodes[*d].key());
                    self.blocked.insert(i, h);
                    changed = true;
                }
            }
            if !changed {
                break;
            }
        }

        // -- build the plan without blocked nodes; the app credential goes last
        let mut remap = vec![usize::MAX; self.nodes.len()];
        let mut nodes = Vec::new();
        let mut blocked = Vec::new();
        for (i, node) in self.nodes.iter().enumerate() {
            match self.blocked.get(&i) {
                Some(holder) => blocked.push(Blocked {
                    kind: node.kind,
                    id: node.id.clone(),
                    name: node.name.clone(),
                    reason: node.reason.clone(),
                    holder: holder.clone(),
                }),
                None => {
                    remap[i] = nodes.len();
                    nodes.push(node.clone());
                }
            }
        }
        let mut plan_after: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); nodes.len()];
        for (i, deps) in after.iter().enumerate() {
            if remap[i] == usize::MAX {
                continue;
            }
            plan_after[remap[i]] = deps.iter().map(|d| remap[*d]).collect();
        }
        let deletable: Vec<usize> = (0..nodes.len())
            .filter(|i| nodes[*i].action == Action::Delete)
            .collect();
        for c in &inv.app_credentials {
            if n.is_app_credential(&c.name) {
                let all = deletable.iter().copied().collect();
                nodes.push(Node {
                    kind: Kind::AppCredential,
                    id: c.id.clone(),
                    router_id: None,
                    name: c.name.clone(),
                    action: Action::Delete,
                    reason: "the cluster's application credential".into(),
                });
                plan_after.push(all);
            }
        }
        Plan {
            cluster: n.clone(),
            volume_policy: self.volumes,
            nodes,
            after: plan_after,
            blocked,
        }
    }
}

/// `server/<id> (<name>)`, `load-balancer/<id> (<name>)` or `port/<id> (<owner>)`.
fn holder_of(p: &Port, servers: &HashMap<&str, &str>, lbs: &HashMap<&str, &str>) -> String {
    if let Some(s) = servers.get(p.device_id.as_str()) {
        return format!("server/{} ({s}) via port/{}", p.device_id, p.id);
    }
    if let Some(lb) = p.device_id.strip_prefix("lb-")
        && let Some(name) = lbs.get(lb)
    {
        return format!("load-balancer/{lb} ({name}) via port/{}", p.id);
    }
    let owner = if p.device_owner.is_empty() {
        "unbound".to_string()
    } else {
        p.device_owner.clone()
    };
    format!("port/{} ({}, {owner})", p.id, p.name)
}

impl Plan {
    /// Topological layers of the nodes to delete: every node comes in a later wave than
    /// everything in its [`Plan::after`] set; within a wave nodes are independent. Kept
    /// nodes are in no wave.
    pub fn waves(&self) -> Vec<Vec<usize>> {
        let mut level: Vec<Option<usize>> = vec![None; self.nodes.len()];
        let mut waves: Vec<Vec<usize>> = Vec::new();
        let mut remaining: Vec<usize> = (0..self.nodes.len())
            .filter(|i| self.nodes[*i].action == Action::Delete)
            .collect();
        while !remaining.is_empty() {
            let w = waves.len();
            let ready: Vec<usize> = remaining
                .iter()
                .copied()
                .filter(|i| {
                    self.after[*i].iter().all(|d| {
                        self.nodes[*d].action == Action::Keep || level[*d].is_some_and(|l| l < w)
                    })
                })
                .collect();
            assert!(!ready.is_empty(), "cleanup plan has a dependency cycle");
            for i in &ready {
                level[*i] = Some(w);
            }
            remaining.retain(|i| level[*i].is_none());
            let mut ready = ready;
            ready.sort_by(|a, b| {
                (self.nodes[*a].kind, &self.nodes[*a].name)
                    .cmp(&(self.nodes[*b].kind, &self.nodes[*b].name))
            });
            waves.push(ready);
        }
        waves
    }

    /// Indices of nodes of `kind`.
    pub fn of_kind(&self, kind: Kind) -> impl Iterator<Item = &Node> {
        self.nodes.iter().filter(move |n| n.kind == kind)
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty() && self.blocked.is_empty()
    }

    /// A plain-text table: one row per node (wave, kind, name, id, action, reason), then the
    /// blocked resources with their holders.
    pub fn render_table(&self) -> String {
        let mut rows: Vec<[String; 6]> = Vec::new();
        for (w, wave) in self.waves().iter().enumerate() {
            for i in wave {
                let n = &self.nodes[*i];
                rows.push([
                    (w + 1).to_string(),
                    n.kind.to_string(),
                    n.name.clone(),
                    n.id.clone(),
                    "delete".into(),
                    n.reason.clone(),
                ]);
            }
        }
        for n in self.nodes.iter().filter(|n| n.action == Action::Keep) {
            rows.push([
                "-".into(),
                n.kind.to_string(),
                n.name.clone(),
                n.id.clone(),
                "keep".into(),
                format!("{} (use `--volumes delete` to delete)", n.reason),
            ]);
        }
        for b in &self.blocked {
            rows.push([
                "-".into(),
                b.kind.to_string(),
                b.name.clone(),
                b.id.clone(),
                "blocked".into(),
                format!("{}; held by {}", b.reason, b.holder),
            ]);
        }
        table(&["WAVE", "KIND", "NAME", "ID", "ACTION", "REASON"], &rows)
    }
}

impl Serialize for Plan {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct NodeView<'a> {
            key: String,
            #[serde(flatten)]
            node: &'a Node,
            #[serde(skip_serializing_if = "Option::is_none")]
            wave: Option<usize>,
            after: Vec<String>,
        }
        #[derive(Serialize)]
        struct View<'a> {
            cluster: &'a ClusterNames,
            volumes: VolumePolicy,
            waves: usize,
            nodes: Vec<NodeView<'a>>,
            blocked: &'a [Blocked],
        }
        let waves = self.waves();
        let mut wave_of = vec![None; self.nodes.len()];
        for (w, wave) in waves.iter().enumerate() {
            for i in wave {
                wave_of[*i] = Some(w + 1);
            }
        }
        View {
            cluster: &self.cluster,
            volumes: self.volume_policy,
            waves: waves.len(),
            nodes: self
                .nodes
                .iter()
                .enumerate()
                .map(|(i, node)| NodeView {
                    key: node.key(),
                    node,
                    wave: wave_of[i],
                    after: self.after[i].iter().map(|d| self.nodes[*d].key()).collect(),
                })
                .collect(),
            blocked: &self.blocked,
        }
        .serialize(s)
    }
}

fn table(header: &[&str], rows: &[[String; 6]]) -> String {
    let mut width: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in rows {
        for (w, c) in width.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    let line = |out: &mut String, cells: &mut dyn Iterator<Item = &str>| {
        let mut l = String::new();
        for (i, c) in cells.enumerate() {
            if i + 1 == header.len() {
                l.push_str(c);
            } else {
                let _ = write!(l, "{c:<w$}  ", w = width[i]);
            }
        }
        out.push_str(l.trim_end());
        out.push('\n');
    };
    line(&mut out, &mut header.iter().copied());
    for r in rows {
        line(&mut out, &mut r.iter().map(String::as_str));
    }
    out
}

// ------------------------------------------------------------------------------------------
// Executor

/// Deletes one node in OpenStack. Implementations map "404 Not Found" to
/// `Ok(Gone::AlreadyGone)` (or return an error with `status: Some(404)`), mark errors worth
/// retrying (5xx, 429, 409 on a load balancer in a `PENDING_*` state, connection errors) as
/// `retryable`, and wait for asynchronous deletions (load balancers, servers) to finish.
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
    /// Wait before retry `k` is `backoff * k`.
    pub backoff: Duration,
}

impl Default for ExecOptions {
    fn default() -> Self {
        ExecOptions {
            parallelism: 8,
            attempts: 3,
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
    fn label(&self) -> &'static str {
        match self {
            Outcome::Deleted => "deleted",
            Outcome::AlreadyGone => "already-gone",
            Outcome::Kept => "kept",
            Outcome::Failed { .. } => "failed",
            Outcome::Blocked { .. } => "blocked",
        }
    }

    fn is_done(&self) -> bool {
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

    pub fn count(&self, label: &str) -> usize {
        self.results
            .iter()
            .filter(|r| r.outcome.label() == label)
            .count()
    }

    /// A plain-text table: kind, name, id, outcome, detail (message or holder).
    pub fn render_table(&self) -> String {
        let rows: Vec<[String; 6]> = self
            .results
            .iter()
            .map(|r| {
                let detail = match &r.outcome {
                    Outcome::Failed { message } => message.clone(),
                    Outcome::Blocked { holder } => format!("held by {holder}"),
                    _ => String::new(),
                };
                [
                    r.kind.to_string(),
                    r.name.clone(),
                    r.id.clone(),
                    r.outcome.label().to_string(),
                    detail,
                    String::new(),
                ]
            })
            .collect();
        let mut t = table(&["KIND", "NAME", "ID", "RESULT", "DETAIL", ""], &rows);
        let _ = writeln!(
            t,
            "{} deleted, {} already gone, {} kept, {} failed, {} blocked",
            self.count("deleted"),
            self.count("already-gone"),
            self.count("kept"),
            self.count("failed"),
            self.count("blocked")
        );
        t
    }
}

/// Runs `plan` wave by wave, `opts.parallelism` deletions at a time. A node whose
/// prerequisites did not all go is not attempted (`Blocked` by the first one that failed);
/// everything else proceeds, so one failure costs only its dependants.
pub async fn execute<D: Deleter + Sync>(plan: &Plan, deleter: &D, opts: ExecOptions) -> Report {
    use futures_util::stream::{self, StreamExt};

    let mut outcome: Vec<Option<Outcome>> = vec![None; plan.nodes.len()];
    for (i, n) in plan.nodes.iter().enumerate() {
        if n.action == Action::Keep {
            outcome[i] = Some(Outcome::Kept);
        }
    }
    for wave in plan.waves() {
        let mut runnable = Vec::new();
        for i in wave {
            let failed_dep = plan.after[i]
                .iter()
                .find(|d| !outcome[**d].as_ref().is_some_and(Outcome::is_done));
            match failed_dep {
                Some(d) => {
                    outcome[i] = Some(Outcome::Blocked {
                        holder: format!("{} (not deleted)", plan.nodes[*d].key()),
                    })
                }
                None => runnable.push(i),
            }
        }
        let done: Vec<(usize, Outcome)> = stream::iter(runnable)
            .map(|i| async move { (i, delete_one(deleter, &plan.nodes[i], opts).await) })
            .buffer_unordered(opts.parallelism.max(1))
            .collect()
            .await;
        for (i, o) in done {
            outcome[i] = Some(o);
        }
    }
    let mut results: Vec<NodeResult> = plan
        .nodes
        .iter()
        .zip(outcome)
        .map(|(n, o)| NodeResult {
            kind: n.kind,
            id: n.id.clone(),
            name: n.name.clone(),
            outcome: o.unwrap_or(Outcome::Blocked {
                holder: "not scheduled".into(),
            }),
        })
        .collect();
    results.extend(plan.blocked.iter().map(|b| NodeResult {
        kind: b.kind,
        id: b.id.clone(),
        name: b.name.clone(),
        outcome: Outcome::Blocked {
            holder: b.holder.clone(),
        },
    }));
    Report { results }
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
    use super::*;
    use std::sync::Mutex;

    /// A small fake cloud to fill an [`Inventory`] the way the list calls would.
    #[derive(Default)]
    struct Cloud {
        inv: Inventory,
        seq: u32,
    }

    /// What one cluster owns: (kind, id) of every resource the plan must contain.
    #[derive(Default)]
    struct Owned {
        all: BTreeSet<(Kind, String)>,
        network: String,
        subnet: String,
        router: String,
        kubeapi_lb: String,
        occm_lb: String,
        occm_fip: String,
        cilium_sg: String,
        servers: Vec<String>,
        worker_ports: Vec<String>,
        volumes: Vec<String>,
        appcred: String,
    }

    impl Owned {
        fn add(&mut self, kind: Kind, id: &str) {
            self.all.insert((kind, id.to_string()));
        }
    }

    impl Cloud {
        fn id(&mut self, p: &str) -> String {
            self.seq += 1;
            format!("{p}-{:04}", self.seq)
        }

        fn network(&mut self, name: &str) -> (String, String) {
            let net = self.id("net");
            let sub = self.id("sub");
            self.inv.networks.push(Network {
                id: net.clone(),
                name: name.into(),
            });
            self.inv.subnets.push(Subnet {
                id: sub.clone(),
                name: name.into(),
                network_id: net.clone(),
            });
            let dhcp = self.id("port");
            self.inv.ports.push(Port {
                id: dhcp,
                device_owner: "network:dhcp".into(),
                device_id: format!("dhcp-{net}"),
                network_id: net.clone(),
                ..Default::default()
            });
            (net, sub)
        }

        fn router(&mut self, name: &str, net: &str, sub: &str) -> String {
            let r = self.id("rtr");
            self.inv.routers.push(Router {
                id: r.clone(),
                name: name.into(),
            });
            let p = self.id("port");
            self.inv.ports.push(Port {
                id: p.clone(),
                device_owner: "network:router_interface".into(),
                device_id: r.clone(),
                network_id: net.into(),
                ..Default::default()
            });
            self.inv.router_interfaces.push(RouterInterface {
                router_id: r.clone(),
                subnet_id: sub.into(),
                port_id: p,
            });
            r
        }

        fn server(&mut self, name: &str, net: &str, sgs: &[&str]) -> (String, String) {
            let s = self.id("srv");
            self.inv.servers.push(Server {
                id: s.clone(),
                name: name.into(),
            });
            let p = self.id("port");
            self.inv.ports.push(Port {
                id: p.clone(),
                name: format!("{name}-0"),
                device_owner: "compute:nova".into(),
                device_id: s.clone(),
                network_id: net.into(),
                security_group_ids: sgs.iter().map(|x| x.to_string()).collect(),
            });
            (s, p)
        }

        fn lb(&mut self, name: &str, net: &str) -> (String, String) {
            let l = self.id("lb");
            let p = self.id("port");
            self.inv.ports.push(Port {
                id: p.clone(),
                name: format!("octavia-lb-{l}"),
                device_owner: "Octavia".into(),
                device_id: format!("lb-{l}"),
                network_id: net.into(),
                ..Default::default()
            });
            self.inv.load_balancers.push(LoadBalancer {
                id: l.clone(),
                name: name.into(),
                description: String::new(),
                vip_port_id: Some(p.clone()),
                security_group_ids: vec![],
            });
            (l, p)
        }

        fn fip(&mut self, port: Option<&str>, description: &str) -> String {
            let f = self.id("fip");
            self.inv.floating_ips.push(FloatingIp {
                id: f.clone(),
                address: format!("172.24.4.{}", self.seq),
                port_id: port.map(String::from),
                description: description.into(),
            });
            f
        }

        fn sg(&mut self, name: &str, description: &str) -> String {
            let g = self.id("sg");
            self.inv.security_groups.push(SecurityGroup {
                id: g.clone(),
                name: name.into(),
                description: description.into(),
            });
            g
        }

        fn named(&mut self, kind: Kind, name: &str) -> String {
            let i = self.id(kind.as_str());
            match kind {
                Kind::ServerGroup => self.inv.server_groups.push(ServerGroup {
                    id: i.clone(),
                    name: name.into(),
                }),
                Kind::AppCredential => self.inv.app_credentials.push(AppCredential {
                    id: i.clone(),
                    name: name.into(),
                }),
                _ => unreachable!(),
            }
            i
        }

        fn volume(&mut self, name: &str, cluster: &str, attached: &[&str]) -> String {
            let v = self.id("vol");
            self.inv.volumes.push(Volume {
                id: v.clone(),
                name: name.into(),
                metadata: BTreeMap::from([(
                    super::super::names::CSI_CLUSTER_KEY.to_string(),
                    cluster.to_string(),
                )]),
                status: if attached.is_empty() {
                    "available"
                } else {
                    "in-use"
                }
                .into(),
                attachments: attached.iter().map(|s| s.to_string()).collect(),
            });
            v
        }

        /// The management server as R4's terraform leaves it.
        fn management(&mut self) -> BTreeSet<String> {
            let (net, sub) = self.network("capi-net");
            let rtr = self.router("capi-rtr", &net, &sub);
            let sg = self.sg("capi-mgmt", "");
            let (srv, port) = self.server("capi-mgmtcluster", &net, &[&sg]);
            let fip = self.fip(Some(&port), "capi-mgmtcluster");
            let cred = self.named(Kind::AppCredential, "capi-appcred");
            BTreeSet::from([net, sub, rtr, sg, srv, port, fip, cred])
        }

        /// Everything CAPO, OCCM, the CSI and prepare-cloud create for `cluster`.
        fn cluster(&mut self, cluster: &str) -> Owned {
            let mut o = Owned::default();
            let base = format!("k8s-clusterapi-cluster-default-{cluster}");
            let (net, sub) = self.network(&base);
            let rtr = self.router(&base, &net, &sub);
            o.add(Kind::Network, &net);
            o.add(Kind::Subnet, &sub);
            o.add(Kind::Router, &rtr);
            (o.network, o.subnet, o.router) = (net.clone(), sub.clone(), rtr.clone());
            let cp_sg = self.sg(
                &format!("k8s-cluster-default-{cluster}-secgroup-controlplane"),
                "",
            );
            let w_sg = self.sg(
                &format!("k8s-cluster-default-{cluster}-secgroup-worker"),
                "",
            );
            let cilium = self.sg(&format!("capi-{cluster}-cilium"), "");
            let lb_sg = self.sg(
                "lb-sg-7d1c2a3b-0000-4000-8000-00000000000a-ingress-nginx-ingress-nginx-controller",
                &format!(
                    "Security Group for ingress-nginx/ingress-nginx-controller Service LoadBalancer in cluster {cluster}"
                ),
            );
            for g in [&cp_sg, &w_sg, &cilium, &lb_sg] {
                o.add(Kind::SecurityGroup, g);
            }
            o.cilium_sg = cilium.clone();
            let (api, api_vip) = self.lb(&format!("{base}-kubeapi"), &net);
            let api_fip = self.fip(Some(&api_vip), "");
            let (occm, occm_vip) = self.lb(
                &format!("kube_service_{cluster}_ingress-nginx_ingress-nginx-controller"),
                &net,
            );
            self.inv
                .load_balancers
                .last_mut()
                .unwrap()
                .security_group_ids = vec![lb_sg.clone()];
            let occm_fip = self.fip(
                Some(&occm_vip),
                &format!(
                    "Floating IP for Kubernetes external service ingress-nginx/ingress-nginx-controller from cluster {cluster}"
                ),
            );
            // a stray OCCM address left unbound after its Service went
            let stray = self.fip(
                None,
                &format!(
                    "Floating IP for Kubernetes external service default/web from cluster {cluster}"
                ),
            );
            for (k, x) in [
                (Kind::LoadBalancer, &api),
                (Kind::LoadBalancer, &occm),
                (Kind::FloatingIp, &api_fip),
                (Kind::FloatingIp, &occm_fip),
                (Kind::FloatingIp, &stray),
            ] {
                o.add(k, x);
            }
            (o.kubeapi_lb, o.occm_lb, o.occm_fip) = (api, occm, occm_fip);
            let (cp, cp_port) = self.server(
                &format!("{cluster}-control-plane-x7k2p"),
                &net,
                &[&cp_sg, &cilium],
            );
            o.add(Kind::Server, &cp);
            o.add(Kind::Port, &cp_port);
            o.servers.push(cp);
            for k in ["a1b2c", "d3e4f"] {
                let (w, p) = self.server(
                    &format!("capi-{cluster}-md-0-no1-5d8f9c7b6a-{k}"),
                    &net,
                    &[&w_sg, &cilium, &lb_sg],
                );
                o.add(Kind::Server, &w);
                o.add(Kind::Port, &p);
                o.servers.push(w);
                o.worker_ports.push(p);
            }
            // a port CAPO pre-created for a machine that never booted
            let left = self.id("port");
            self.inv.ports.push(Port {
                id: left.clone(),
                name: format!("capi-{cluster}-md-0-no1-5d8f9c7b6a-zzzzz-0"),
                network_id: net.clone(),
                security_group_ids: vec![w_sg.clone()],
                ..Default::default()
            });
            o.add(Kind::Port, &left);
            for role in ["controller", "worker"] {
                let g = self.named(Kind::ServerGroup, &format!("capi-{cluster}-{role}"));
                o.add(Kind::ServerGroup, &g);
            }
            let w0 = o.servers[1].clone();
            for (name, att) in [
                (
                    "pvc-0f2b3c4d-1111-2222-3333-444455556666",
                    vec![w0.as_str()],
                ),
                ("pvc-9a8b7c6d-1111-2222-3333-444455556666", vec![]),
            ] {
                let v = self.volume(name, cluster, &att);
                o.add(Kind::Volume, &v);
                o.volumes.push(v);
            }
            o.appcred = self.named(Kind::AppCredential, &format!("capi-{cluster}-appcred"));
            o.add(Kind::AppCredential, &o.appcred.clone());
            // the router interface's key
            o.add(Kind::RouterInterface, &format!("{rtr}:{sub}"));
            o
        }
    }

    fn foo_names() -> ClusterNames {
        ClusterNames::new("capi", "foo", "default")
    }

    fn identity(n: &Node) -> (Kind, String) {
        match &n.router_id {
            Some(r) => (n.kind, format!("{r}:{}", n.id)),
            None => (n.kind, n.id.clone()),
        }
    }

    fn two_clusters() -> (Cloud, Owned, Owned, BTreeSet<String>) {
        let mut c = Cloud::default();
        let mgmt = c.management();
        let foo = c.cluster("foo");
        let foobar = c.cluster("foobar");
        (c, foo, foobar, mgmt)
    }

    fn wave_of(plan: &Plan) -> HashMap<(Kind, String), usize> {
        let mut m = HashMap::new();
        for (w, wave) in plan.waves().iter().enumerate() {
            for i in wave {
                m.insert(identity(&plan.nodes[*i]), w);
            }
        }
        m
    }

    fn assert_valid_order(plan: &Plan) {
        let waves = plan.waves();
        let mut level = vec![usize::MAX; plan.nodes.len()];
        for (w, wave) in waves.iter().enumerate() {
            for i in wave {
                level[*i] = w;
            }
        }
        for (i, deps) in plan.after.iter().enumerate() {
            for d in deps {
                if plan.nodes[*d].action == Action::Delete {
                    assert!(
                        level[*d] < level[i],
                        "{} must come before {}",
                        plan.nodes[*d].key(),
                        plan.nodes[i].key()
                    );
                }
            }
        }
    }

    #[test]
    fn plan_for_foo_holds_exactly_foos_resources_in_order() {
        let (c, foo, foobar, mgmt) = two_clusters();
        let plan = plan(&c.inv, &foo_names(), VolumePolicy::Keep);
        let got: BTreeSet<(Kind, String)> = plan.nodes.iter().map(identity).collect();
        assert_eq!(got, foo.all, "\n{}", plan.render_table());
        assert!(plan.blocked.is_empty(), "{:?}", plan.blocked);
        for (_, id) in &got {
            assert!(!foobar.all.iter().any(|(_, x)| x == id), "foobar's {id}");
            assert!(!mgmt.contains(id), "management resource {id}");
        }
        assert_valid_order(&plan);
        let w = wave_of(&plan);
        let at = |k: Kind, id: &str| w[&(k, id.to_string())];
        assert!(at(Kind::FloatingIp, &foo.occm_fip) < at(Kind::LoadBalancer, &foo.occm_lb));
        for s in &foo.servers {
            assert!(at(Kind::LoadBalancer, &foo.kubeapi_lb) < at(Kind::Server, s));
            assert!(at(Kind::LoadBalancer, &foo.occm_lb) < at(Kind::Server, s));
        }
        for p in &foo.worker_ports {
            assert!(
                at(Kind::Server, &foo.servers[1]).min(at(Kind::Server, &foo.servers[2]))
                    < at(Kind::Port, p)
            );
            assert!(at(Kind::Port, p) < at(Kind::SecurityGroup, &foo.cilium_sg));
            assert!(at(Kind::Port, p) < at(Kind::Subnet, &foo.subnet));
        }
        let ri = at(
            Kind::RouterInterface,
            &format!("{}:{}", foo.router, foo.subnet),
        );
        assert!(ri < at(Kind::Subnet, &foo.subnet));
        assert!(ri < at(Kind::Router, &foo.router));
        assert!(at(Kind::Subnet, &foo.subnet) < at(Kind::Network, &foo.network));
        let last = plan.waves().len() - 1;
        assert_eq!(at(Kind::AppCredential, &foo.appcred), last);
        assert_eq!(
            plan.waves()[last].len(),
            1,
            "the app credential goes alone, last"
        );
    }

    #[test]
    fn volumes_are_kept_by_default_and_deleted_after_servers_on_request() {
        let (c, foo, _, _) = two_clusters();
        let keep = plan(&c.inv, &foo_names(), VolumePolicy::Keep);
        let kept: Vec<&Node> = keep.of_kind(Kind::Volume).collect();
        assert_eq!(kept.len(), 2);
        assert!(kept.iter().all(|v| v.action == Action::Keep));
        let w = wave_of(&keep);
        assert!(
            foo.volumes
                .iter()
                .all(|v| !w.contains_key(&(Kind::Volume, v.clone())))
        );
        assert!(keep.render_table().contains("--volumes delete"));

        let del = plan(&c.inv, &foo_names(), VolumePolicy::Delete);
        assert_valid_order(&del);
        let w = wave_of(&del);
        for v in &foo.volumes {
            for s in &foo.servers {
                assert!(w[&(Kind::Server, s.clone())] < w[&(Kind::Volume, v.clone())]);
            }
        }
    }

    #[test]
    fn a_security_group_used_by_a_foreign_port_is_blocked_with_its_holder() {
        let (mut c, foo, _, _) = two_clusters();
        // someone attached foo's cilium group to the management server
        let mgmt = c
            .inv
            .servers
            .iter()
            .find(|s| s.name == "capi-mgmtcluster")
            .unwrap()
            .id
            .clone();
        let port = c
            .inv
            .ports
            .iter_mut()
            .find(|p| p.device_id == mgmt)
            .unwrap();
        port.security_group_ids.push(foo.cilium_sg.clone());
        let plan = plan(&c.inv, &foo_names(), VolumePolicy::Keep);
        let b = plan
            .blocked
            .iter()
            .find(|b| b.id == foo.cilium_sg)
            .expect("blocked");
        assert!(b.holder.contains("capi-mgmtcluster"), "{}", b.holder);
        assert!(!plan.nodes.iter().any(|n| n.id == foo.cilium_sg));
        assert_eq!(
            plan.blocked.len(),
            1,
            "nothing else is blocked: {:?}",
            plan.blocked
        );
        assert!(plan.render_table().contains("held by server/"));
    }

    #[test]
    fn a_foreign_server_on_the_cluster_network_blocks_the_network_not_the_machines() {
        let (mut c, foo, _, _) = two_clusters();
        c.server("someone-elses-vm", &foo.network, &[]);
        let plan = plan(&c.inv, &foo_names(), VolumePolicy::Keep);
        let blocked: BTreeSet<Kind> = plan.blocked.iter().map(|b| b.kind).collect();
        assert_eq!(
            blocked,
            BTreeSet::from([
                Kind::RouterInterface,
                Kind::Subnet,
                Kind::Network,
                Kind::Router
            ])
        );
        assert!(
            plan.blocked
                .iter()
                .any(|b| b.holder.contains("someone-elses-vm"))
        );
        assert_eq!(plan.of_kind(Kind::Server).count(), 3);
        assert_valid_order(&plan);
    }

    #[test]
    fn an_attached_volume_of_a_foreign_server_is_blocked_under_delete() {
        let (mut c, foo, foobar, _) = two_clusters();
        let v = c
            .inv
            .volumes
            .iter_mut()
            .find(|v| v.id == foo.volumes[1])
            .unwrap();
        v.attachments = vec![foobar.servers[0].clone()];
        let plan = plan(&c.inv, &foo_names(), VolumePolicy::Delete);
        let b = plan
            .blocked
            .iter()
            .find(|b| b.id == foo.volumes[1])
            .unwrap();
        assert!(b.holder.contains("foobar-control-plane"), "{}", b.holder);
    }

    #[test]
    fn renders_table_and_json() {
        let (c, _, _, _) = two_clusters();
        let plan = plan(&c.inv, &foo_names(), VolumePolicy::Keep);
        let t = plan.render_table();
        assert!(t.starts_with("WAVE  KIND"), "{t}");
        assert!(t.contains("kube_service_foo_ingress-nginx_ingress-nginx-controller"));
        assert!(!t.contains("foobar"), "{t}");
        let j = serde_json::to_value(&plan).unwrap();
        assert_eq!(j["cluster"]["cluster"], "foo");
        assert_eq!(j["volumes"], "keep");
        let nodes = j["nodes"].as_array().unwrap();
        assert_eq!(nodes.len(), plan.nodes.len());
        let cred = nodes
            .iter()
            .find(|n| n["kind"] == "app-credential")
            .unwrap();
        assert_eq!(cred["wave"], j["waves"]);
        assert!(cred["after"].as_array().unwrap().len() > 10);
        assert!(
            nodes
                .iter()
                .any(|n| n["action"] == "keep" && n.get("wave").is_none())
        );
    }

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
        let r1 = execute(&p1, &d, opts()).await;
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
        let r2 = execute(&p2, &d, opts()).await;
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
        let r = execute(&p, &d, opts()).await;
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
