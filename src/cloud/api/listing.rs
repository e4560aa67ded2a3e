//! Whole-project lists for `cleanup`: load balancers, floating IPs, servers, ports, subnets,
//! networks, routers, security groups and volumes, each read into the plain structs of
//! [`crate::cloud::cleanup::inventory`] and followed through every page.
//!
//! Volumes use `openstack_sdk`'s block-storage endpoints; Cinder's `metadata` filter is
//! not offered there (and openstacksdk sends it wrongly), so volumes are listed in full
//! and matched by the planner.

use std::collections::BTreeMap;

use openstack_sdk::api::block_storage::v3::volume::list_detailed as volume_list;
use openstack_sdk::api::compute::v2::server::list as server_list_brief;
use openstack_sdk::api::load_balancer::v2::loadbalancer::list as lb_list;
use openstack_sdk::api::network::v2::{
    floatingip::list as fip_list, network::list as network_list, port::list as port_list,
    router::list as router_list, security_group::list as secgroup_list,
    subnet::list as subnet_list,
};
use serde_json::Value;

use super::{Api, str_of};
use crate::cloud::CloudError;
use crate::cloud::cleanup::inventory::{
    FloatingIp, LoadBalancer, Network, Port, Router, SecurityGroup, Server, Subnet, Volume,
};

/// Strings of a JSON list (`["a", "b"]`), or the `key` field of each object in it.
fn strings(v: &Value, key: Option<&str>) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|x| match key {
            Some(k) => x.get(k).and_then(Value::as_str),
            None => x.as_str(),
        })
        .map(String::from)
        .collect()
}

fn opt_str(v: &Value, key: &str) -> Option<String> {
    v.get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(String::from)
}

/// Builds a list request with an optional `marker` (the builders differ only in type).
macro_rules! paged {
    ($module:ident) => {
        |marker: Option<String>| {
            let mut b = $module::Request::builder();
            if let Some(m) = marker {
                b.marker(m);
            }
            b.build().map_err(|e| e.to_string())
        }
    };
}

impl Api<'_> {
    /// Every Octavia load balancer of the project.
    ///
    /// # Errors
    /// API or transport failures.
    pub async fn list_load_balancers(&self) -> Result<Vec<LoadBalancer>, CloudError> {
        let all = self
            .list_all(
                "cannot list load balancers",
                "loadbalancers",
                paged!(lb_list),
            )
            .await?;
        Ok(all
            .iter()
            .map(|l| LoadBalancer {
                id: str_of(l, "id"),
                name: str_of(l, "name"),
                description: str_of(l, "description"),
                vip_port_id: opt_str(l, "vip_port_id"),
                security_group_ids: Vec::new(),
            })
            .collect())
    }

    /// Every floating IP of the project.
    ///
    /// # Errors
    /// API or transport failures.
    pub async fn list_floating_ips(&self) -> Result<Vec<FloatingIp>, CloudError> {
        let all = self
            .list_all("cannot list floating IPs", "floatingips", paged!(fip_list))
            .await?;
        Ok(all
            .iter()
            .map(|f| FloatingIp {
                id: str_of(f, "id"),
                address: str_of(f, "floating_ip_address"),
                port_id: opt_str(f, "port_id"),
                description: str_of(f, "description"),
            })
            .collect())
    }

    /// Every server of the project (id and name).
    ///
    /// # Errors
    /// API or transport failures.
    pub async fn list_servers(&self) -> Result<Vec<Server>, CloudError> {
        let all = self
            .list_all("cannot list servers", "servers", paged!(server_list_brief))
            .await?;
        Ok(all
            .iter()
            .map(|s| Server {
                id: str_of(s, "id"),
                name: str_of(s, "name"),
            })
            .collect())
    }

    /// Every port of the project, with its owner, security groups and subnets.
    ///
    /// # Errors
    /// API or transport failures.
    pub async fn list_ports(&self) -> Result<Vec<Port>, CloudError> {
        let all = self
            .list_all("cannot list ports", "ports", paged!(port_list))
            .await?;
        Ok(all
            .iter()
            .map(|p| Port {
                id: str_of(p, "id"),
                name: str_of(p, "name"),
                description: str_of(p, "description"),
                device_owner: str_of(p, "device_owner"),
                device_id: str_of(p, "device_id"),
                network_id: str_of(p, "network_id"),
                security_group_ids: strings(&p["security_groups"], None),
                subnet_ids: strings(&p["fixed_ips"], Some("subnet_id")),
            })
            .collect())
    }

    /// Every subnet of the project.
    ///
    /// # Errors
    /// API or transport failures.
    pub async fn list_subnets(&self) -> Result<Vec<Subnet>, CloudError> {
        let all = self
            .list_all("cannot list subnets", "subnets", paged!(subnet_list))
            .await?;
        Ok(all
            .iter()
            .map(|s| Subnet {
                id: str_of(s, "id"),
                name: str_of(s, "name"),
                network_id: str_of(s, "network_id"),
            })
            .collect())
    }

    /// Every network the project sees (shared and external ones included; the planner
    /// matches names).
    ///
    /// # Errors
    /// API or transport failures.
    pub async fn list_networks(&self) -> Result<Vec<Network>, CloudError> {
        let all = self
            .list_all("cannot list networks", "networks", paged!(network_list))
            .await?;
        Ok(all
            .iter()
            .map(|n| Network {
                id: str_of(n, "id"),
                name: str_of(n, "name"),
            })
            .collect())
    }

    /// Every router of the project.
    ///
    /// # Errors
    /// API or transport failures.
    pub async fn list_routers(&self) -> Result<Vec<Router>, CloudError> {
        let all = self
            .list_all("cannot list routers", "routers", paged!(router_list))
            .await?;
        Ok(all
            .iter()
            .map(|r| Router {
                id: str_of(r, "id"),
                name: str_of(r, "name"),
            })
            .collect())
    }

    /// Every security group of the project.
    ///
    /// # Errors
    /// API or transport failures.
    pub async fn list_security_groups(&self) -> Result<Vec<SecurityGroup>, CloudError> {
        let all = self
            .list_all(
                "cannot list security groups",
                "security_groups",
                paged!(secgroup_list),
            )
            .await?;
        Ok(all
            .iter()
            .map(|g| SecurityGroup {
                id: str_of(g, "id"),
                name: str_of(g, "name"),
                description: str_of(g, "description"),
            })
            .collect())
    }

    /// Every Cinder volume of the project, with metadata, status and the servers it is
    /// attached to.
    ///
    /// # Errors
    /// API or transport failures.
    pub async fn list_volumes(&self) -> Result<Vec<Volume>, CloudError> {
        let all = self
            .list_all("cannot list volumes", "volumes", paged!(volume_list))
            .await?;
        Ok(all
            .iter()
            .map(|v| Volume {
                id: str_of(v, "id"),
                name: str_of(v, "name"),
                metadata: v
                    .get("metadata")
                    .and_then(Value::as_object)
                    .into_iter()
                    .flatten()
                    .filter_map(|(k, x)| x.as_str().map(|x| (k.clone(), x.to_string())))
                    .collect::<BTreeMap<_, _>>(),
                status: str_of(v, "status"),
                attachments: strings(&v["attachments"], Some("server_id")),
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lists_of_strings_and_of_objects() {
        assert_eq!(strings(&json!(["a", "b"]), None), ["a", "b"]);
        assert_eq!(
            strings(
                &json!([{"subnet_id": "s1", "ip_address": "10.0.0.3"}, {"ip_address": "x"}]),
                Some("subnet_id")
            ),
            ["s1"]
        );
        assert!(strings(&Value::Null, None).is_empty());
        assert_eq!(opt_str(&json!({"port_id": ""}), "port_id"), None);
        assert_eq!(opt_str(&json!({"port_id": null}), "port_id"), None);
    }
}
