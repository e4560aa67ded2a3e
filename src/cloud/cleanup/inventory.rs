//! What the cloud holds, as the cleanup planner needs it: one plain struct per resource
//! kind ([`Inventory`]), and [`collect`], which fills it from one project with the list
//! calls of [`crate::cloud::api`] (concurrently, every list followed through its pages).
//!
//! Owns the derived facts the lists do not state directly: router interfaces come from
//! `network:router_interface*` ports, a load balancer's security groups from its VIP port.
//! A service missing from the catalog (no Octavia, no Cinder) holds nothing of its kind and
//! is reported in [`Inventory::skipped`]. It does not decide what belongs to a cluster
//! (that is [`super::plan`]).

use std::collections::{BTreeMap, HashMap};

use crate::cloud::api::Api;
use crate::cloud::names::ClusterNames;
use crate::cloud::{CloudError, Session};

/// What the cloud holds (one project; [`collect`] lists it).
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
    /// Services that were not listed, with why (`load-balancer: not in the catalog`).
    pub skipped: Vec<String>,
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
    pub description: String,
    pub device_owner: String,
    pub device_id: String,
    pub network_id: String,
    pub security_group_ids: Vec<String>,
    /// Subnets of its fixed IPs.
    pub subnet_ids: Vec<String>,
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

/// Device owners of the ports that make a router interface (plain, DVR and HA routers).
const ROUTER_INTERFACE_OWNERS: &[&str] = &[
    "network:router_interface",
    "network:router_interface_distributed",
    "network:ha_router_replicated_interface",
];

impl Inventory {
    /// Fills [`Inventory::router_interfaces`] from the ports and each load balancer's
    /// security groups from its VIP port.
    pub fn derive(&mut self) {
        self.router_interfaces = self
            .ports
            .iter()
            .filter(|p| ROUTER_INTERFACE_OWNERS.contains(&p.device_owner.as_str()))
            .flat_map(|p| {
                p.subnet_ids.iter().map(|s| RouterInterface {
                    router_id: p.device_id.clone(),
                    subnet_id: s.clone(),
                    port_id: p.id.clone(),
                })
            })
            .collect();
        let port_sgs: HashMap<&str, &Vec<String>> = self
            .ports
            .iter()
            .map(|p| (p.id.as_str(), &p.security_group_ids))
            .collect();
        for lb in &mut self.load_balancers {
            if let Some(sgs) = lb.vip_port_id.as_deref().and_then(|p| port_sgs.get(p)) {
                for g in sgs.iter() {
                    if !lb.security_group_ids.contains(g) {
                        lb.security_group_ids.push(g.clone());
                    }
                }
            }
        }
    }
}

/// Lists everything [`super::plan`] looks at in the session's project, concurrently. The
/// application credential is looked up by the cluster's name only (Keystone lists per
/// user, and clouds without a Keystone user have none).
///
/// # Errors
/// The first list that fails (API or transport), with OpenStack's message.
pub async fn collect(
    session: &Session,
    api: &Api<'_>,
    names: &ClusterNames,
) -> Result<Inventory, CloudError> {
    let has_lb = session.endpoint("load-balancer").await.is_ok();
    let has_volumes = session.endpoint("block-storage").await.is_ok();
    let appcred = names.app_credential();
    let (lbs, fips, servers, ports, subnets, networks, routers, sgs, groups, volumes, creds) = tokio::join!(
        async {
            if has_lb {
                api.list_load_balancers().await
            } else {
                Ok(Vec::new())
            }
        },
        api.list_floating_ips(),
        api.list_servers(),
        api.list_ports(),
        api.list_subnets(),
        api.list_networks(),
        api.list_routers(),
        api.list_security_groups(),
        api.server_groups(),
        async {
            if has_volumes {
                api.list_volumes().await
            } else {
                Ok(Vec::new())
            }
        },
        async {
            if session.user_id().is_some() {
                session.find_app_credential(&appcred).await
            } else {
                Ok(None)
            }
        },
    );
    let mut inv = Inventory {
        load_balancers: lbs?,
        floating_ips: fips?,
        servers: servers?,
        ports: ports?,
        router_interfaces: Vec::new(),
        subnets: subnets?,
        networks: networks?,
        routers: routers?,
        security_groups: sgs?,
        server_groups: groups?
            .into_iter()
            .map(|g| ServerGroup {
                id: g.id,
                name: g.name,
            })
            .collect(),
        app_credentials: creds?
            .into_iter()
            .map(|c| AppCredential {
                id: c.id,
                name: c.name,
            })
            .collect(),
        volumes: volumes?,
        skipped: Vec::new(),
    };
    if !has_lb {
        inv.skipped
            .push("load balancers: no `load-balancer` service in the catalog".into());
    }
    if !has_volumes {
        inv.skipped
            .push("volumes: no `block-storage` service in the catalog".into());
    }
    if session.user_id().is_none() {
        inv.skipped
            .push("application credential: the cloud has no Keystone user".into());
    }
    inv.derive();
    Ok(inv)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn router_interfaces_and_lb_groups_are_derived_from_ports() {
        let mut inv = Inventory {
            ports: vec![
                Port {
                    id: "p1".into(),
                    device_owner: "network:router_interface_distributed".into(),
                    device_id: "r1".into(),
                    subnet_ids: vec!["s1".into(), "s2".into()],
                    ..Default::default()
                },
                Port {
                    id: "vip".into(),
                    device_owner: "Octavia".into(),
                    security_group_ids: vec!["g1".into()],
                    ..Default::default()
                },
                Port {
                    id: "p2".into(),
                    device_owner: "compute:nova".into(),
                    device_id: "r1".into(),
                    subnet_ids: vec!["s3".into()],
                    ..Default::default()
                },
            ],
            load_balancers: vec![LoadBalancer {
                id: "l1".into(),
                vip_port_id: Some("vip".into()),
                ..Default::default()
            }],
            ..Default::default()
        };
        inv.derive();
        let ri: Vec<(&str, &str)> = inv
            .router_interfaces
            .iter()
            .map(|r| (r.router_id.as_str(), r.subnet_id.as_str()))
            .collect();
        assert_eq!(ri, [("r1", "s1"), ("r1", "s2")]);
        assert_eq!(inv.load_balancers[0].security_group_ids, ["g1"]);
    }
}
