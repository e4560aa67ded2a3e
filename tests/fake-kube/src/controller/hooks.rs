//! The seam between the simulated CAPO and a (fake) OpenStack: [`CloudHooks`]. The
//! controller calls it when CAPO would create or delete the cluster's network, router,
//! security groups and kube-API load balancer, and each machine's server; an implementation
//! in the test glue can create those in the fake OpenStack (names as real CAPO gives them:
//! [`ClusterCtx::network_name`] etc.) and, like real life, leave OCCM load balancers behind.
//! [`NoCloud`] (the default) invents ids and addresses and touches nothing.
//!
//! Hooks are synchronous and run on a blocking thread, so they may block (e.g. call an HTTP
//! API with a blocking client). An `Err(message)` is what OpenStack answered: for cluster
//! infrastructure it is retried on the next step; for a server it fails the machine the way
//! a CAPO `InstanceCreateFailed` does.

use serde_json::Value;

/// The cluster CAPO works on.
#[derive(Debug, Clone)]
pub struct ClusterCtx {
    pub namespace: String,
    /// The CAPI Cluster's name.
    pub name: String,
    /// The `OpenStackCluster` object as stored (spec: subnets, allowed CIDRs, ...).
    pub openstack_cluster: Value,
}

impl ClusterCtx {
    /// `k8s-clusterapi-cluster-<ns>-<cluster>`: CAPO's network, subnet and router name.
    pub fn network_name(&self) -> String {
        format!("k8s-clusterapi-cluster-{}-{}", self.namespace, self.name)
    }

    pub fn subnet_name(&self) -> String {
        self.network_name()
    }

    pub fn router_name(&self) -> String {
        self.network_name()
    }

    /// `k8s-clusterapi-cluster-<ns>-<cluster>-kubeapi`: the API server load balancer.
    pub fn api_lb_name(&self) -> String {
        format!("{}-kubeapi", self.network_name())
    }

    /// `k8s-cluster-<ns>-<cluster>-secgroup-<role>` (`controlplane`, `worker`, `bastion`).
    pub fn security_group_name(&self, role: &str) -> String {
        format!(
            "k8s-cluster-{}-{}-secgroup-{role}",
            self.namespace, self.name
        )
    }

    /// The node subnet CIDR from the spec (`managedSubnets[0].cidr`, v1alpha6 `nodeCidr`).
    pub fn node_cidr(&self) -> String {
        let spec = &self.openstack_cluster["spec"];
        spec["managedSubnets"][0]["cidr"]
            .as_str()
            .or_else(|| spec["nodeCidr"].as_str())
            .unwrap_or("10.6.0.0/24")
            .to_string()
    }

    /// Whether the spec asks for an API server load balancer.
    pub fn wants_api_lb(&self) -> bool {
        self.openstack_cluster["spec"]["apiServerLoadBalancer"]["enabled"]
            .as_bool()
            .unwrap_or(false)
    }
}

/// The machine (server) CAPO works on.
#[derive(Debug, Clone)]
pub struct MachineCtx {
    /// The CAPI Machine's name.
    pub machine: String,
    /// The server name (= the OpenStackMachine's name, as CAPO names servers).
    pub server_name: String,
    pub control_plane: bool,
    pub flavor: String,
    /// Image name (filter name, v1alpha6 string) or id.
    pub image: String,
    pub failure_domain: Option<String>,
    /// The Kubernetes version the machine runs.
    pub version: String,
    /// The `OpenStackMachine` object as stored.
    pub openstack_machine: Value,
}

/// A load balancer CAPO made for the kube API.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadBalancerInfo {
    pub id: String,
    pub name: String,
    /// The floating (public) address: the cluster's `controlPlaneEndpoint.host`.
    pub ip: String,
    pub internal_ip: String,
}

/// What CAPO reports in `OpenStackCluster.status` once the infrastructure exists.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterInfra {
    pub network_id: String,
    pub network_name: String,
    pub subnet_id: String,
    pub subnet_name: String,
    pub subnet_cidr: String,
    pub router_id: String,
    pub router_name: String,
    pub external_network_id: String,
    pub api_lb: Option<LoadBalancerInfo>,
    pub control_plane_security_group: (String, String),
    pub worker_security_group: (String, String),
    /// `controlPlaneEndpoint.host` (the LB's floating IP, or a control-plane address).
    pub api_host: String,
}

impl ClusterInfra {
    /// Invented ids and addresses with CAPO's names (what [`NoCloud`] returns).
    pub fn invented(c: &ClusterCtx) -> ClusterInfra {
        let id = |_: &str| uuid::Uuid::new_v4().to_string();
        let lb_ip = format!("172.24.4.{}", 10 + (stable_byte(&c.name) % 200));
        let api_lb = c.wants_api_lb().then(|| LoadBalancerInfo {
            id: id("lb"),
            name: c.api_lb_name(),
            ip: lb_ip.clone(),
            internal_ip: nth_host(&c.node_cidr(), 5),
        });
        ClusterInfra {
            network_id: id("net"),
            network_name: c.network_name(),
            subnet_id: id("subnet"),
            subnet_name: c.subnet_name(),
            subnet_cidr: c.node_cidr(),
            router_id: id("router"),
            router_name: c.router_name(),
            external_network_id: id("ext"),
            api_lb,
            control_plane_security_group: (id("sg"), c.security_group_name("controlplane")),
            worker_security_group: (id("sg"), c.security_group_name("worker")),
            api_host: lb_ip,
        }
    }
}

/// A server CAPO created.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerInfo {
    pub id: String,
    /// The server's address on the cluster network.
    pub ip: String,
}

fn stable_byte(s: &str) -> u32 {
    s.bytes()
        .fold(7u32, |a, b| a.wrapping_mul(31).wrapping_add(b as u32))
}

/// The `n`-th host address of an IPv4 CIDR (`10.8.0.0/20`, 5 -> `10.8.0.5`).
pub fn nth_host(cidr: &str, n: u32) -> String {
    let base = cidr.split('/').next().unwrap_or("");
    let octets: Vec<u32> = base.split('.').filter_map(|o| o.parse().ok()).collect();
    if octets.len() != 4 {
        return format!("10.6.{}.{}", n / 250, n % 250 + 2);
    }
    let v = (octets[0] << 24 | octets[1] << 16 | octets[2] << 8 | octets[3]).wrapping_add(n);
    format!(
        "{}.{}.{}.{}",
        v >> 24,
        (v >> 16) & 255,
        (v >> 8) & 255,
        v & 255
    )
}

/// What the simulated CAPO does in the cloud. Every method has a default that touches
/// nothing ([`NoCloud`]); implement the ones the test needs.
pub trait CloudHooks: Send + Sync + 'static {
    /// Network, subnet, router, security groups and (if wanted) the kube-API LB.
    fn create_cluster_infra(&self, cluster: &ClusterCtx) -> Result<ClusterInfra, String> {
        Ok(ClusterInfra::invented(cluster))
    }

    /// Removes what [`CloudHooks::create_cluster_infra`] made (called after every machine
    /// is gone). OCCM's load balancers are not CAPO's business: a hook may leave them.
    fn delete_cluster_infra(
        &self,
        _cluster: &ClusterCtx,
        _infra: &ClusterInfra,
    ) -> Result<(), String> {
        Ok(())
    }

    /// Creates a machine's server (and its port); `n` is the server's index in the cluster
    /// (for invented addresses).
    fn create_server(
        &self,
        cluster: &ClusterCtx,
        _machine: &MachineCtx,
        n: u32,
    ) -> Result<ServerInfo, String> {
        Ok(ServerInfo {
            id: uuid::Uuid::new_v4().to_string(),
            ip: nth_host(&cluster.node_cidr(), 10 + n),
        })
    }

    /// Deletes a machine's server.
    fn delete_server(
        &self,
        _cluster: &ClusterCtx,
        _machine: &MachineCtx,
        _server_id: &str,
    ) -> Result<(), String> {
        Ok(())
    }
}

/// Shared hooks (the test keeps a handle to inspect what was called).
impl<T: CloudHooks> CloudHooks for std::sync::Arc<T> {
    fn create_cluster_infra(&self, cluster: &ClusterCtx) -> Result<ClusterInfra, String> {
        (**self).create_cluster_infra(cluster)
    }
    fn delete_cluster_infra(
        &self,
        cluster: &ClusterCtx,
        infra: &ClusterInfra,
    ) -> Result<(), String> {
        (**self).delete_cluster_infra(cluster, infra)
    }
    fn create_server(
        &self,
        cluster: &ClusterCtx,
        machine: &MachineCtx,
        n: u32,
    ) -> Result<ServerInfo, String> {
        (**self).create_server(cluster, machine, n)
    }
    fn delete_server(
        &self,
        cluster: &ClusterCtx,
        machine: &MachineCtx,
        server_id: &str,
    ) -> Result<(), String> {
        (**self).delete_server(cluster, machine, server_id)
    }
}

/// Hooks that touch no cloud (ids and addresses are invented).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoCloud;

impl CloudHooks for NoCloud {}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn capo_names_and_invented_infra() {
        let c = ClusterCtx {
            namespace: "default".into(),
            name: "demo".into(),
            openstack_cluster: json!({"spec": {"managedSubnets": [{"cidr": "10.8.0.0/20"}],
                "apiServerLoadBalancer": {"enabled": true}}}),
        };
        assert_eq!(c.network_name(), "k8s-clusterapi-cluster-default-demo");
        assert_eq!(
            c.api_lb_name(),
            "k8s-clusterapi-cluster-default-demo-kubeapi"
        );
        assert_eq!(
            c.security_group_name("worker"),
            "k8s-cluster-default-demo-secgroup-worker"
        );
        let i = ClusterInfra::invented(&c);
        assert_eq!(i.subnet_cidr, "10.8.0.0/20");
        assert_eq!(i.api_lb.as_ref().unwrap().ip, i.api_host);
        assert_eq!(nth_host("10.8.0.0/20", 300), "10.8.1.44");
        let v1a6 = ClusterCtx {
            openstack_cluster: json!({"spec": {"nodeCidr": "10.9.0.0/24"}}),
            ..c
        };
        assert_eq!(v1a6.node_cidr(), "10.9.0.0/24");
        assert!(!v1a6.wants_api_lb());
    }
}
