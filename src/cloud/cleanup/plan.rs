//! The cleanup planner: which OpenStack resources belong to one cluster, and in which
//! order they must go.
//!
//! [`plan`] is pure: it takes an [`Inventory`] (see [`super::inventory`]), the cluster's
//! [`ClusterNames`] and a [`VolumePolicy`], and returns a [`Plan`]: a dependency graph of
//! [`Node`]s (what must be gone before what), each with the reason it matched, plus the
//! [`Blocked`] resources that would belong to the cluster but are held by something outside
//! the plan (never deleted; reported with the holder). Matching is by the exact names and
//! descriptions of [`crate::cloud::names`], so `foo` never takes `foobar`'s resources, and
//! the management server's resources are never planned.
//!
//! Order (an edge means "the first must be gone before the second"): floating IPs of load
//! balancers and servers -> load balancers (cascade) -> servers -> ports -> router
//! interfaces -> subnets -> networks and routers; security groups after the ports and
//! load balancers using them; server groups and volumes after servers; the application
//! credential after everything else. Running the plan is [`super::execute`]'s job.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt;

use serde::Serialize;

use super::inventory::{Inventory, Port};
use crate::cloud::names::{ClusterNames, MachineRole};

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
                    MachineRole::ControlPlane => "control-plane machine",
                    MachineRole::Worker => "worker machine",
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
                    let router = inv
                        .routers
                        .iter()
                        .find(|r| r.id == ri.router_id && !r.name.is_empty())
                        .map_or(ri.router_id.as_str(), |r| r.name.as_str());
                    let subnet = inv
                        .subnets
                        .iter()
                        .find(|s| s.id == ri.subnet_id && !s.name.is_empty())
                        .map_or(ri.subnet_id.as_str(), |s| s.name.as_str());
                    let i = self.add_ri(
                        Kind::RouterInterface,
                        &ri.subnet_id,
                        Some(&ri.router_id),
                        &format!("router {router} / subnet {subnet}"),
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
            let capo_described = n.is_capo_description(&p.description);
            if unbound && (on_cluster_net || named_after_machine || capo_described) {
                let reason = if on_cluster_net {
                    "unbound port on the cluster network"
                } else if named_after_machine {
                    "unbound port named after a machine"
                } else {
                    "unbound CAPO port of the cluster"
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
            let capo = n.is_capo_description(&f.description);
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
                (None, None, None) if capo => ("CAPO floating IP of the cluster".to_string(), None),
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
                // an OCCM or CAPO address still bound to something outside the plan
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
        let mut rows: Vec<Vec<String>> = Vec::new();
        for (w, wave) in self.waves().iter().enumerate() {
            for i in wave {
                let n = &self.nodes[*i];
                rows.push(vec![
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
            rows.push(vec![
                "-".into(),
                n.kind.to_string(),
                n.name.clone(),
                n.id.clone(),
                "keep".into(),
                format!("{} (use `--volumes delete` to delete)", n.reason),
            ]);
        }
        for b in &self.blocked {
            rows.push(vec![
                "-".into(),
                b.kind.to_string(),
                b.name.clone(),
                b.id.clone(),
                "blocked".into(),
                format!("{}; held by {}", b.reason, b.holder),
            ]);
        }
        super::table::render(&["WAVE", "KIND", "NAME", "ID", "ACTION", "REASON"], &rows)
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

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;
    use super::*;

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
    fn capo_described_leftovers_are_planned_only_for_their_cluster() {
        let (mut c, _, _, _) = two_clusters();
        let desc =
            |cl: &str| format!("Created by cluster-api-provider-openstack cluster default-{cl}");
        let foo_fip = c.fip(None, &desc("foo"));
        let bar_fip = c.fip(None, &desc("foobar"));
        let mut port = |cl: &str| {
            let id = c.id("port");
            // on a network of its own (CAPO may use a pre-existing one)
            c.inv.ports.push(Port {
                id: id.clone(),
                description: desc(cl),
                network_id: "net-shared".into(),
                ..Default::default()
            });
            id
        };
        let foo_port = port("foo");
        let bar_port = port("foobar");
        let p = plan(&c.inv, &foo_names(), VolumePolicy::Keep);
        let reason = |id: &str| {
            p.nodes
                .iter()
                .find(|n| n.id == id)
                .map(|n| n.reason.clone())
        };
        assert_eq!(
            reason(&foo_fip).as_deref(),
            Some("CAPO floating IP of the cluster")
        );
        assert_eq!(
            reason(&foo_port).as_deref(),
            Some("unbound CAPO port of the cluster")
        );
        assert_eq!(reason(&bar_fip), None);
        assert_eq!(reason(&bar_port), None);
        assert_valid_order(&p);
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
}
