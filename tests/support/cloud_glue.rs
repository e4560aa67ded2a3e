//! fake-kube's simulated CAPO wired to the fake OpenStack: what CAPO would create (network,
//! subnet, router, security groups, the kube-API load balancer, one server per machine)
//! is created in the [`FakeCloud`] under CAPO's names, and a removed machine's server is
//! deleted, so a lifecycle test can check the cloud as well as the management cluster.

use fake_kube::{CloudHooks, ClusterCtx, ClusterInfra, LoadBalancerInfo, MachineCtx, ServerInfo};
use fake_openstack::FakeCloud;

pub struct Glue {
    pub cloud: FakeCloud,
}

impl CloudHooks for Glue {
    fn create_cluster_infra(&self, c: &ClusterCtx) -> Result<ClusterInfra, String> {
        let seed = self.cloud.seed();
        let snap = self.cloud.snapshot();
        let ext = snap["networks"]
            .as_array()
            .and_then(|l| l.iter().find(|n| n["router:external"] == true))
            .and_then(|n| n["id"].as_str())
            .unwrap_or_default()
            .to_string();
        let net = seed.network(&c.network_name(), &c.node_cidr());
        let subnet = seed.first_subnet(&net);
        let router = seed.router(&c.router_name(), Some(&ext), Some(&subnet));
        let cp_sg = seed.security_group(&c.security_group_name("controlplane"));
        let wk_sg = seed.security_group(&c.security_group_name("worker"));
        let api_lb = c.wants_api_lb().then(|| {
            let id = seed.load_balancer(&c.api_lb_name(), &subnet);
            LoadBalancerInfo {
                id,
                name: c.api_lb_name(),
                ip: "172.24.4.50".into(),
                internal_ip: "10.8.0.5".into(),
            }
        });
        Ok(ClusterInfra {
            network_id: net,
            network_name: c.network_name(),
            subnet_id: subnet,
            subnet_name: c.subnet_name(),
            subnet_cidr: c.node_cidr(),
            router_id: router,
            router_name: c.router_name(),
            external_network_id: ext,
            api_lb,
            control_plane_security_group: (cp_sg, c.security_group_name("controlplane")),
            worker_security_group: (wk_sg, c.security_group_name("worker")),
            api_host: "172.24.4.50".into(),
        })
    }

    fn create_server(&self, c: &ClusterCtx, m: &MachineCtx, n: u32) -> Result<ServerInfo, String> {
        let net = self.cloud.snapshot()["networks"]
            .as_array()
            .and_then(|l| l.iter().find(|x| x["name"] == c.network_name().as_str()))
            .and_then(|x| x["id"].as_str())
            .map(String::from)
            .ok_or_else(|| format!("network {} not found", c.network_name()))?;
        let id = self.cloud.seed().server(&m.server_name, &net);
        Ok(ServerInfo {
            id,
            ip: format!("10.8.0.{}", 10 + n),
        })
    }

    /// CAPO deletes the server of a Machine that goes (scale down, rollout, delete).
    fn delete_server(
        &self,
        _c: &ClusterCtx,
        _m: &MachineCtx,
        server_id: &str,
    ) -> Result<(), String> {
        self.cloud.seed().remove("servers", server_id);
        Ok(())
    }
}
