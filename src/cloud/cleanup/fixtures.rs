//! Test fixtures for the planner and executor: a small in-memory cloud that fills an
//! [`Inventory`] the way the list calls would, with the management server and whole
//! clusters as CAPO, OCCM, the CSI and `prepare-cloud` leave them.

use std::collections::{BTreeMap, BTreeSet};

use super::inventory::*;
use super::plan::{Kind, Node};
use crate::cloud::names::ClusterNames;

/// The inventory being built, and a counter for readable ids (`net-0001`).
#[derive(Default)]
pub struct Cloud {
    pub inv: Inventory,
    pub seq: u32,
}

/// What one cluster owns: (kind, id) of every resource the plan must contain.
#[derive(Default)]
pub struct Owned {
    pub all: BTreeSet<(Kind, String)>,
    pub network: String,
    pub subnet: String,
    pub router: String,
    pub kubeapi_lb: String,
    pub occm_lb: String,
    pub occm_fip: String,
    pub cilium_sg: String,
    pub servers: Vec<String>,
    pub worker_ports: Vec<String>,
    pub volumes: Vec<String>,
    pub appcred: String,
}

impl Owned {
    pub fn add(&mut self, kind: Kind, id: &str) {
        self.all.insert((kind, id.to_string()));
    }
}

impl Cloud {
    pub fn id(&mut self, p: &str) -> String {
        self.seq += 1;
        format!("{p}-{:04}", self.seq)
    }

    pub fn network(&mut self, name: &str) -> (String, String) {
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

    pub fn router(&mut self, name: &str, net: &str, sub: &str) -> String {
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

    pub fn server(&mut self, name: &str, net: &str, sgs: &[&str]) -> (String, String) {
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
            ..Default::default()
        });
        (s, p)
    }

    pub fn lb(&mut self, name: &str, net: &str) -> (String, String) {
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

    pub fn fip(&mut self, port: Option<&str>, description: &str) -> String {
        let f = self.id("fip");
        self.inv.floating_ips.push(FloatingIp {
            id: f.clone(),
            address: format!("172.24.4.{}", self.seq),
            port_id: port.map(String::from),
            description: description.into(),
        });
        f
    }

    pub fn sg(&mut self, name: &str, description: &str) -> String {
        let g = self.id("sg");
        self.inv.security_groups.push(SecurityGroup {
            id: g.clone(),
            name: name.into(),
            description: description.into(),
        });
        g
    }

    pub fn named(&mut self, kind: Kind, name: &str) -> String {
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

    pub fn volume(&mut self, name: &str, cluster: &str, attached: &[&str]) -> String {
        let v = self.id("vol");
        self.inv.volumes.push(Volume {
            id: v.clone(),
            name: name.into(),
            metadata: BTreeMap::from([(
                crate::cloud::names::CSI_CLUSTER_KEY.to_string(),
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
    pub fn management(&mut self) -> BTreeSet<String> {
        let (net, sub) = self.network("capi-net");
        let rtr = self.router("capi-rtr", &net, &sub);
        let sg = self.sg("capi-mgmt", "");
        let (srv, port) = self.server("capi-mgmtcluster", &net, &[&sg]);
        let fip = self.fip(Some(&port), "capi-mgmtcluster");
        let cred = self.named(Kind::AppCredential, "capi-appcred");
        BTreeSet::from([net, sub, rtr, sg, srv, port, fip, cred])
    }

    /// Everything CAPO, OCCM, the CSI and prepare-cloud create for `cluster`.
    pub fn cluster(&mut self, cluster: &str) -> Owned {
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

pub fn foo_names() -> ClusterNames {
    ClusterNames::new("capi", "foo", "default")
}

pub fn identity(n: &Node) -> (Kind, String) {
    match &n.router_id {
        Some(r) => (n.kind, format!("{r}:{}", n.id)),
        None => (n.kind, n.id.clone()),
    }
}

pub fn two_clusters() -> (Cloud, Owned, Owned, BTreeSet<String>) {
    let mut c = Cloud::default();
    let mgmt = c.management();
    let foo = c.cluster("foo");
    let foobar = c.cluster("foobar");
    (c, foo, foobar, mgmt)
}
