//! Seeding a whole workload cluster the way CAPO, OCCM, the Cinder CSI and `prepare-cloud`
//! leave it in OpenStack, for cleanup tests and benchmarks: CAPO's network, subnet and
//! router (gateway on the external network, interface on the subnet), its security groups,
//! the kube-API load balancer with a listener and a floating IP, machines (servers whose
//! CAPO ports survive them, with the cluster's security groups), OCCM load balancers with
//! their floating IPs and `lb-sg-*` groups, server groups, the cilium group, Cinder CSI
//! volumes (the first attached to a worker), and leftovers of a half-finished deletion
//! (unbound OCCM floating IPs, unbound CAPO ports).
//!
//! Names follow `scs_capi::cloud::names` (which documents where each comes from); the
//! returned [`SeededCluster`] lists every id, so tests can check that all of it (and
//! nothing of a look-alike cluster) went. Server groups and security groups that exist
//! already under the names `prepare-cloud` gives them are adopted.

use serde_json::{Value, json};

use super::Seed;

/// How much of a cluster to seed.
#[derive(Debug, Clone)]
pub struct ClusterShape {
    /// Settings `prefix` (R4: `capi`).
    pub prefix: String,
    /// Namespace of the CAPI objects (R4: `default`), part of CAPO's names.
    pub namespace: String,
    pub control_planes: usize,
    pub workers: usize,
    /// OCCM `type: LoadBalancer` Services: a load balancer, a floating IP and an `lb-sg-*`
    /// security group each.
    pub occm_services: usize,
    /// Cinder CSI volumes (`pvc-<uuid>`, metadata `cinder.csi.openstack.org/cluster`).
    pub csi_volumes: usize,
    /// OCCM floating IPs whose Service is gone (unbound).
    pub stray_floating_ips: usize,
    /// CAPO ports of machines that never booted (unbound, on the cluster network).
    pub stray_ports: usize,
}

impl Default for ClusterShape {
    /// One control plane, two workers, one OCCM Service, two CSI volumes, one stray
    /// floating IP and one stray port.
    fn default() -> Self {
        ClusterShape {
            prefix: "capi".into(),
            namespace: "default".into(),
            control_planes: 1,
            workers: 2,
            occm_services: 1,
            csi_volumes: 2,
            stray_floating_ips: 1,
            stray_ports: 1,
        }
    }
}

impl ClusterShape {
    /// Exactly 100 resources for `cleanup --volumes delete` to delete, of every kind but the
    /// application credential (which lives in Keystone): the network, subnet, router and its
    /// interface, 3 + 5 security groups, the kube-API LB and its floating IP, 5 OCCM LBs
    /// with floating IPs, 3 control planes and 17 workers with a port each, 2 server
    /// groups, 12 volumes, 12 stray floating IPs and 10 stray ports.
    pub fn orphans_100() -> Self {
        ClusterShape {
            control_planes: 3,
            workers: 17,
            occm_services: 5,
            csi_volumes: 12,
            stray_floating_ips: 12,
            stray_ports: 10,
            ..Default::default()
        }
    }

    /// How many resources a cleanup of this shape deletes (volumes included): network,
    /// subnet, router, router interface, 3 groups, kube-API LB + floating IP, 2 server
    /// groups, then per item.
    pub fn resource_count(&self) -> usize {
        11 + 3 * self.occm_services
            + 2 * (self.control_planes + self.workers)
            + self.csi_volumes
            + self.stray_floating_ips
            + self.stray_ports
    }
}

/// The ids of everything seeded for one cluster, by kind (the fake's state kinds).
#[derive(Debug, Clone, Default)]
pub struct SeededCluster {
    pub name: String,
    pub network: String,
    pub subnet: String,
    pub router: String,
    pub kubeapi_lb: String,
    pub load_balancers: Vec<String>,
    pub floating_ips: Vec<String>,
    pub servers: Vec<String>,
    /// The machines' CAPO ports and the stray ones.
    pub ports: Vec<String>,
    pub security_groups: Vec<String>,
    pub server_groups: Vec<String>,
    pub volumes: Vec<String>,
}

impl SeededCluster {
    /// `(kind, id)` of every seeded resource (kinds as in [`crate::FakeCloud::snapshot`]).
    pub fn all(&self) -> Vec<(&'static str, String)> {
        let mut v = vec![
            ("networks", self.network.clone()),
            ("subnets", self.subnet.clone()),
            ("routers", self.router.clone()),
        ];
        let lists: [(&'static str, &Vec<String>); 7] = [
            ("loadbalancers", &self.load_balancers),
            ("floatingips", &self.floating_ips),
            ("servers", &self.servers),
            ("ports", &self.ports),
            ("security_groups", &self.security_groups),
            ("server_groups", &self.server_groups),
            ("volumes", &self.volumes),
        ];
        for (kind, ids) in lists {
            v.extend(ids.iter().map(|i| (kind, i.clone())));
        }
        v
    }

    /// The ids as JSON: `network`, `subnet`, `router`, `kubeapi_lb` and one list per
    /// snapshot kind (`loadbalancers`, `floatingips`, `servers`, `ports`...).
    pub fn to_json(&self) -> Value {
        json!({
            "network": self.network, "subnet": self.subnet, "router": self.router,
            "kubeapi_lb": self.kubeapi_lb, "loadbalancers": self.load_balancers,
            "floatingips": self.floating_ips, "servers": self.servers, "ports": self.ports,
            "security_groups": self.security_groups, "server_groups": self.server_groups,
            "volumes": self.volumes,
        })
    }

    /// Those of [`SeededCluster::all`] still present in `snapshot`.
    pub fn present_in(&self, snapshot: &Value) -> Vec<(&'static str, String)> {
        self.all()
            .into_iter()
            .filter(|(kind, id)| {
                snapshot[*kind]
                    .as_array()
                    .is_some_and(|a| a.iter().any(|r| r["id"] == id.as_str()))
            })
            .collect()
    }
}

/// A lower-case 5-character machine suffix, distinct per `i`.
fn suffix(i: usize) -> String {
    format!("m{i:04x}")
}

/// A UUID-shaped string, distinct per `(cluster, tag, i)` (Kubernetes UIDs are unique).
fn uuid_like(cluster: &str, tag: u16, i: usize) -> String {
    // FNV-1a of the cluster name
    let h = cluster.bytes().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    });
    format!("{h:08x}-{tag:04x}-4222-8333-{i:012x}")
}

impl Seed<'_> {
    /// The external network (the first one; `public` 172.24.4.0/24 is created if there is
    /// none).
    fn external(&self) -> String {
        let found = self.with(|s| {
            s.list("networks")
                .iter()
                .find(|n| n["router:external"] == true)
                .and_then(|n| n["id"].as_str().map(String::from))
        });
        found.unwrap_or_else(|| self.external_network("public", "172.24.4.0/24"))
    }

    /// Seeds cluster `name` with `shape` (see the module doc); `cidr` is its node network.
    pub fn cluster(&self, name: &str, cidr: &str, shape: &ClusterShape) -> SeededCluster {
        let ext = self.external();
        let p = &shape.prefix;
        let base = format!("{}-{name}", shape.namespace);
        let capo_net = format!("k8s-clusterapi-cluster-{base}");
        let capo_desc = format!("Created by cluster-api-provider-openstack cluster {base}");
        let mut c = SeededCluster {
            name: name.to_string(),
            ..Default::default()
        };
        c.network = self.network(&capo_net, cidr);
        c.subnet = self.first_subnet(&c.network);
        c.router = self.router(&capo_net, Some(&ext), Some(&c.subnet));

        // What prepare-cloud may have created already is adopted, not duplicated.
        let existing = |kind: &str, n: &str| {
            self.with(|s| {
                s.list(kind)
                    .iter()
                    .find(|x| x["name"] == n)
                    .and_then(|x| x["id"].as_str().map(String::from))
            })
        };
        let sg = |n: &str, description: &str| {
            self.neutron(
                "security_groups",
                json!({"name": n, "description": description}),
            )
        };
        let cp_sg = sg(&format!("k8s-cluster-{base}-secgroup-controlplane"), "");
        let wk_sg = sg(&format!("k8s-cluster-{base}-secgroup-worker"), "");
        let cilium_name = format!("{p}-{name}-cilium");
        let cilium =
            existing("security_groups", &cilium_name).unwrap_or_else(|| sg(&cilium_name, ""));
        c.security_groups
            .extend([cp_sg.clone(), wk_sg.clone(), cilium.clone()]);

        // kube-API load balancer: listener 6443 and a floating IP on its VIP
        let api = self.load_balancer(&format!("{capo_net}-kubeapi"), &c.subnet);
        self.listener(&api, 6443, None);
        let vip = self.port_of(&format!("lb-{api}")).unwrap_or_default();
        c.floating_ips
            .push(self.floating_ip(&ext, Some(&vip), &capo_desc));
        c.kubeapi_lb = api.clone();
        c.load_balancers.push(api);

        // OCCM Services
        let mut lb_sgs = Vec::new();
        for i in 0..shape.occm_services {
            let svc = format!("web-{i}");
            let lb = self.load_balancer(&format!("kube_service_{name}_default_{svc}"), &c.subnet);
            self.listener(&lb, 80, None);
            let vip = self.port_of(&format!("lb-{lb}")).unwrap_or_default();
            c.floating_ips.push(self.floating_ip(
                &ext,
                Some(&vip),
                &format!(
                    "Floating IP for Kubernetes external service default/{svc} from cluster {name}"
                ),
            ));
            c.load_balancers.push(lb);
            let g = sg(
                &format!("lb-sg-{}-default-{svc}", uuid_like(name, 0x5eca, i)),
                &format!("Security Group for default/{svc} Service LoadBalancer in cluster {name}"),
            );
            lb_sgs.push(g);
        }
        c.security_groups.extend(lb_sgs.iter().cloned());

        // machines: a server with its CAPO port, which outlives it
        let machine = |server: String, groups: Vec<String>| {
            let id = self.server(&server, &c.network);
            let port = self.port_of(&id).unwrap_or_default();
            self.with(|s| {
                s.set(
                    "ports",
                    &port,
                    &[
                        ("name", json!(format!("{server}-0"))),
                        ("description", json!(capo_desc)),
                        ("security_groups", json!(groups)),
                    ],
                );
                s.preserved_ports.insert(port.clone());
            });
            (id, port)
        };
        for i in 0..shape.control_planes {
            let (s, port) = machine(
                format!("{name}-control-plane-{}", suffix(i)),
                vec![cp_sg.clone(), cilium.clone()],
            );
            c.servers.push(s);
            c.ports.push(port);
        }
        for i in 0..shape.workers {
            let mut groups = vec![wk_sg.clone(), cilium.clone()];
            groups.extend(lb_sgs.iter().cloned());
            let (s, port) = machine(
                format!("{p}-{name}-md-0-no1-5d8f9c7b6a-{}", suffix(i)),
                groups,
            );
            c.servers.push(s);
            c.ports.push(port);
        }
        for role in ["controller", "worker"] {
            let n = format!("{p}-{name}-{role}");
            let g = existing("server_groups", &n)
                .unwrap_or_else(|| self.server_group(&n, "anti-affinity"));
            c.server_groups.push(g);
        }

        // Cinder CSI volumes; the first is attached to the first worker
        let first_worker = c.servers.get(shape.control_planes).cloned();
        for i in 0..shape.csi_volumes {
            let attached: Vec<&str> = match (i, &first_worker) {
                (0, Some(w)) => vec![w.as_str()],
                _ => vec![],
            };
            c.volumes.push(self.volume(
                &format!("pvc-{}", uuid_like(name, 0xc5, i)),
                1,
                &[("cinder.csi.openstack.org/cluster", name)],
                &attached,
            ));
        }
        if let (Some(w), Some(v)) = (&first_worker, c.volumes.first()) {
            self.with(|s| {
                s.set(
                    "servers",
                    w,
                    &[(
                        "os-extended-volumes:volumes_attached",
                        json!([{"id": v, "delete_on_termination": false}]),
                    )],
                )
            });
        }

        // leftovers of a half-finished deletion
        for i in 0..shape.stray_floating_ips {
            c.floating_ips.push(self.floating_ip(
                &ext,
                None,
                &format!(
                    "Floating IP for Kubernetes external service default/gone-{i} from cluster {name}"
                ),
            ));
        }
        for i in 0..shape.stray_ports {
            let id = self.port(
                &format!("{p}-{name}-md-0-no1-5d8f9c7b6a-{}-0", suffix(1000 + i)),
                &c.network,
                json!({"description": capo_desc, "security_groups": [wk_sg]}),
            );
            c.ports.push(id);
        }
        c
    }
}
