//! Seeding helpers for tests and demos: put resources into the fake directly, without
//! HTTP. Each returns the new resource's id. Resources look exactly as if created through
//! the API (Neutron ones are created by the same code), but are already in their final
//! state (servers `ACTIVE`, images `active`, load balancers `ACTIVE`).
//!
//! Does not fake: anything a test could not also get from the API; no server create API.
//! A whole cluster's resources at once: [`Seed::cluster`] (submodule `cluster`).

mod cluster;

pub use cluster::{ClusterShape, SeededCluster};

use crate::FakeCloud;
use crate::state::{self, PROJECT_ID, State, USER_ID};
use serde_json::{Map, Value, json};

pub struct Seed<'a> {
    pub(crate) cloud: &'a FakeCloud,
}

fn obj(v: Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap_or_default()
}

fn id_of(v: &Value) -> String {
    v["id"].as_str().unwrap_or_default().to_string()
}

impl Seed<'_> {
    fn with<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        let mut s = self.cloud.inner.state.lock().unwrap();
        f(&mut s)
    }

    fn neutron(&self, kind: &str, body: Value) -> String {
        self.with(
            |s| match crate::network::create(s, kind, obj(body.clone())) {
                Ok(v) => id_of(&v),
                Err(e) => panic!("seeding {kind} {body} failed with {}", e.status()),
            },
        )
    }

    /// A flavor; `disk_gib` 0 means diskless (boot from volume).
    pub fn flavor(&self, name: &str, vcpus: u32, ram_mib: u32, disk_gib: u32) -> String {
        let id = state::new_id();
        self.with(|s| {
            s.insert(
                "flavors",
                json!({"id": id, "name": name, "vcpus": vcpus, "ram": ram_mib, "disk": disk_gib,
                   "OS-FLV-EXT-DATA:ephemeral": 0, "swap": 0, "rxtx_factor": 1.0,
                   "OS-FLV-DISABLED:disabled": false, "os-flavor-access:is_public": true,
                   "description": null, "extra_specs": {}}),
            );
        });
        id
    }

    /// An `active` image (size 0, checksums of empty data) with extra properties `props`
    /// (an object; `min_disk`, `min_ram`, `disk_format`... may be given there too).
    pub fn image(&self, name: &str, props: Value) -> String {
        let id = state::new_id();
        let now = state::now_iso();
        let mut v = json!({
            "id": id, "name": name, "status": "active", "visibility": "public", "protected": false,
            "os_hidden": false, "checksum": "d41d8cd98f00b204e9800998ecf8427e", "os_hash_algo": "sha512",
            "os_hash_value": "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e",
            "size": 0, "virtual_size": null, "min_disk": 0, "min_ram": 0, "disk_format": "qcow2",
            "container_format": "bare", "owner": PROJECT_ID, "tags": [], "created_at": now, "updated_at": now,
            "self": format!("/v2/images/{id}"), "file": format!("/v2/images/{id}/file"), "schema": "/v2/schemas/image",
        });
        if let Some(p) = props.as_object() {
            for (k, x) in p {
                v[k.as_str()] = x.clone();
            }
        }
        self.with(|s| s.insert("images", v));
        id
    }

    /// An external network (`router:external`) with one subnet; returns the network id.
    pub fn external_network(&self, name: &str, cidr: &str) -> String {
        let net = self.neutron("networks", json!({"name": name, "router:external": true}));
        self.neutron(
            "subnets",
            json!({"name": format!("{name}-subnet"), "network_id": net, "cidr": cidr}),
        );
        net
    }

    /// A tenant network with one subnet of the same name; returns the network id.
    pub fn network(&self, name: &str, cidr: &str) -> String {
        let net = self.neutron("networks", json!({"name": name}));
        self.neutron(
            "subnets",
            json!({"name": name, "network_id": net, "cidr": cidr}),
        );
        net
    }

    /// The first subnet of a network.
    pub fn first_subnet(&self, network_id: &str) -> String {
        self.with(|s| {
            s.get("networks", network_id)
                .and_then(|n| n["subnets"][0].as_str())
                .unwrap_or_default()
                .to_string()
        })
    }

    /// A router, with a gateway on `external_network` and an interface on `subnet` if given.
    pub fn router(
        &self,
        name: &str,
        external_network: Option<&str>,
        subnet: Option<&str>,
    ) -> String {
        let mut body = json!({"name": name});
        if let Some(ext) = external_network {
            body["external_gateway_info"] = json!({"network_id": ext});
        }
        let id = self.neutron("routers", body);
        if let Some(sub) = subnet {
            let net = self.with(|s| {
                s.get("subnets", sub)
                    .map(|x| x["network_id"].clone())
                    .unwrap_or_default()
            });
            let gw = self.with(|s| {
                s.get("subnets", sub)
                    .map(|x| x["gateway_ip"].clone())
                    .unwrap_or_default()
            });
            self.neutron(
                "ports",
                json!({"network_id": net, "fixed_ips": [{"subnet_id": sub, "ip_address": gw}],
                "device_id": id, "device_owner": "network:router_interface"}),
            );
        }
        id
    }

    /// A port (unbound unless `device_id`/`device_owner` are given in `extra`).
    pub fn port(&self, name: &str, network_id: &str, extra: Value) -> String {
        let mut body = json!({"name": name, "network_id": network_id});
        if let Some(e) = extra.as_object() {
            for (k, x) in e {
                body[k.as_str()] = x.clone();
            }
        }
        self.neutron("ports", body)
    }

    /// An `ACTIVE` server with one port on `network_id` (`compute:nova`).
    pub fn server(&self, name: &str, network_id: &str) -> String {
        let id = state::new_id();
        let now = state::now_iso();
        let flavor = self
            .with(|s| s.list("flavors").first().cloned())
            .unwrap_or(json!({
            "id": "0", "name": "m1.small", "vcpus": 1, "ram": 2048, "disk": 20}));
        let v = json!({
            "id": id, "name": name, "status": "ACTIVE", "tenant_id": PROJECT_ID, "user_id": USER_ID,
            "metadata": {}, "hostId": "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4",
            "image": "", "flavor": {"id": flavor["id"], "original_name": flavor["name"], "vcpus": flavor["vcpus"],
                "ram": flavor["ram"], "disk": flavor["disk"], "ephemeral": 0, "swap": 0, "extra_specs": {}},
            "created": now, "updated": now, "accessIPv4": "", "accessIPv6": "", "OS-DCF:diskConfig": "MANUAL",
            "OS-EXT-AZ:availability_zone": "nova", "config_drive": "", "key_name": null,
            "OS-SRV-USG:launched_at": now, "OS-SRV-USG:terminated_at": null, "OS-EXT-STS:task_state": null,
            "OS-EXT-STS:vm_state": "active", "OS-EXT-STS:power_state": 1,
            "os-extended-volumes:volumes_attached": [], "security_groups": [{"name": "default"}],
            "progress": 0, "tags": [], "locked": false, "description": null,
        });
        self.with(|s| s.insert("servers", v));
        self.port(
            &format!("{name}-port"),
            network_id,
            json!({"device_id": id, "device_owner": "compute:nova"}),
        );
        id
    }

    /// Removes a resource as the cloud would on DELETE (a server with its ports, ...);
    /// false when it does not exist. For simulated controllers that delete what they
    /// created (CAPO deleting a replaced machine's server).
    pub fn remove(&self, kind: &str, id: &str) -> bool {
        self.with(|s| s.remove(kind, id).is_some())
    }

    /// The first port of a device (server, router, `lb-<id>`).
    pub fn port_of(&self, device_id: &str) -> Option<String> {
        self.with(|s| {
            s.ids_where("ports", |p| p["device_id"] == device_id)
                .into_iter()
                .next()
        })
    }

    /// A floating IP on `external_network`, associated with `port` if given.
    pub fn floating_ip(
        &self,
        external_network: &str,
        port: Option<&str>,
        description: &str,
    ) -> String {
        let mut body = json!({"floating_network_id": external_network, "description": description});
        if let Some(p) = port {
            body["port_id"] = json!(p);
        }
        self.neutron("floatingips", body)
    }

    /// A security group (with Neutron's two default egress rules).
    pub fn security_group(&self, name: &str) -> String {
        self.neutron("security_groups", json!({"name": name, "description": ""}))
    }

    /// A server group with `policy` (`anti-affinity`, `soft-anti-affinity`...).
    pub fn server_group(&self, name: &str, policy: &str) -> String {
        let id = state::new_id();
        self.with(|s| {
            s.insert(
                "server_groups",
                json!({"id": id, "name": name, "policy": policy, "rules": {}, "members": [],
                       "created_at": state::now_iso()}),
            )
        });
        id
    }

    /// An `ACTIVE` load balancer with its VIP port on `subnet_id`.
    pub fn load_balancer(&self, name: &str, subnet_id: &str) -> String {
        let id = state::new_id();
        let net = self.with(|s| {
            s.get("subnets", subnet_id)
                .map(|x| x["network_id"].clone())
                .unwrap_or_default()
        });
        let port = self.neutron("ports", json!({"name": format!("octavia-lb-{id}"), "network_id": net,
            "fixed_ips": [{"subnet_id": subnet_id}], "device_id": format!("lb-{id}"), "device_owner": "Octavia"}));
        let now = state::now_iso();
        self.with(|s| {
            let vip = s.get("ports", &port).map(|p| p["fixed_ips"][0]["ip_address"].clone()).unwrap_or_default();
            s.insert("loadbalancers", json!({
                "id": id, "name": name, "description": "", "provisioning_status": "ACTIVE",
                "operating_status": "ONLINE", "admin_state_up": true, "project_id": PROJECT_ID,
                "tenant_id": PROJECT_ID, "provider": "amphora", "vip_address": vip, "vip_port_id": port,
                "vip_subnet_id": subnet_id, "vip_network_id": net, "vip_qos_policy_id": null,
                "vip_vnic_type": "normal", "additional_vips": [], "listeners": [], "pools": [],
                "flavor_id": null, "availability_zone": null, "tags": [], "created_at": now, "updated_at": now,
            }))
        });
        id
    }

    /// An `ACTIVE` TCP listener on `lb`.
    pub fn listener(&self, lb: &str, port: u16, allowed_cidrs: Option<Vec<&str>>) -> String {
        let id = state::new_id();
        let now = state::now_iso();
        self.with(|s| {
            s.insert("listeners", json!({
                "id": id, "name": format!("listener-{port}"), "description": "", "provisioning_status": "ACTIVE",
                "operating_status": "ONLINE", "admin_state_up": true, "protocol": "TCP", "protocol_port": port,
                "connection_limit": -1, "default_pool_id": null, "loadbalancers": [{"id": lb}], "l7policies": [],
                "project_id": PROJECT_ID, "tenant_id": PROJECT_ID, "allowed_cidrs": allowed_cidrs,
                "default_tls_container_ref": null, "sni_container_refs": [], "insert_headers": {},
                "timeout_client_data": 50000, "timeout_member_connect": 5000, "timeout_member_data": 50000,
                "timeout_tcp_inspect": 0, "tags": [], "tls_ciphers": null, "tls_versions": null,
                "alpn_protocols": null, "created_at": now, "updated_at": now,
            }));
            let mut ls = s.get("loadbalancers", lb).map(|l| l["listeners"].clone()).unwrap_or(json!([]));
            if let Some(a) = ls.as_array_mut() {
                a.push(json!({"id": id}));
            }
            s.set("loadbalancers", lb, &[("listeners", ls)]);
        });
        id
    }

    /// A Cinder volume (`available`, or `in-use` when attached to the servers
    /// `attached_to`) of `size_gib` with `metadata` pairs; returns its id.
    pub fn volume(
        &self,
        name: &str,
        size_gib: u32,
        metadata: &[(&str, &str)],
        attached_to: &[&str],
    ) -> String {
        let id = state::new_id();
        let meta: Map<String, Value> = metadata
            .iter()
            .map(|(k, v)| ((*k).to_string(), json!(v)))
            .collect();
        let status = if attached_to.is_empty() {
            "available"
        } else {
            "in-use"
        };
        let v = crate::block_storage::volume_doc(
            "http://127.0.0.1/block-storage",
            &id,
            name,
            size_gib,
            Value::Object(meta),
            status,
            attached_to,
        );
        self.with(|s| s.insert("volumes", v));
        id
    }

    /// Adds a Nova availability zone (`nova` exists from the start).
    pub fn availability_zone(&self, name: &str) {
        self.with(|s| {
            if !s.availability_zones.iter().any(|z| z == name) {
                s.availability_zones.push(name.to_string());
            }
        });
    }

    /// A small cloud as an SCS deployment looks after R4's terraform and before
    /// `prepare-cloud`: SCS flavors (those scs-capi's defaults name among them), an external
    /// network `public`, the management server `capi-mgmtcluster` on `capi-net` (router
    /// `capi-rtr`) with a floating IP, the keypair `capi-keypair` and security groups
    /// `capi-allow-ssh`/`capi-allow-icmp` that machine templates reference, an Ubuntu image.
    pub fn demo(&self) {
        self.flavor("SCS-2V-4", 2, 4096, 0);
        self.flavor("SCS-2V-4-20", 2, 4096, 20);
        self.flavor("SCS-2V-4-20s", 2, 4096, 20);
        self.flavor("SCS-4V-8-50", 4, 8192, 50);
        self.flavor("SCS-8V-16-50", 8, 16384, 50);
        let ext = self.external_network("public", "172.24.4.0/24");
        let net = self.network("capi-net", "10.0.0.0/24");
        let sub = self.first_subnet(&net);
        self.router("capi-rtr", Some(&ext), Some(&sub));
        self.security_group("capi-mgmt");
        self.security_group("capi-allow-ssh");
        self.security_group("capi-allow-icmp");
        self.keypair(
            "capi-keypair",
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDemoDemoDemoDemoDemoDemoDemoDemoDemoDemoDemo demo",
        );
        let server = self.server("capi-mgmtcluster", &net);
        let port = self.port_of(&server);
        self.floating_ip(&ext, port.as_deref(), "capi-mgmtcluster");
        self.image(
            "Ubuntu 22.04",
            json!({"os_distro": "ubuntu", "os_version": "22.04", "min_disk": 5, "min_ram": 512}),
        );
    }

    /// The node images of [`DEMO_NODE_IMAGE_VERSIONS`] (`fake-openstack --seed demo` adds
    /// them to [`Seed::demo`], so the quick start finds its image without a download).
    pub fn demo_node_images(&self) {
        for v in DEMO_NODE_IMAGE_VERSIONS {
            self.image(
                &format!("ubuntu-capi-image-{v}"),
                json!({"min_disk": 20, "min_ram": 1024}),
            );
        }
    }

    /// A Nova keypair for the seeded user with `public_key`.
    pub fn keypair(&self, name: &str, public_key: &str) {
        self.with(|s| s.insert("keypairs", crate::compute::keypair(name, public_key)));
    }
}

/// Kubernetes versions whose default node image (`ubuntu-capi-image-<version>`) the demo
/// cloud holds: the default profile's pinned default (v1.33.3) and the newest patches
/// scs-capi resolves `.x` versions to (v1.25/v1.26 for the `r4` profile). A test of the
/// quick start checks that `prepare-cloud` with the built-in defaults finds its image here.
pub const DEMO_NODE_IMAGE_VERSIONS: &[&str] = &[
    "v1.25.16", "v1.26.15", "v1.33.3", "v1.33.13", "v1.34.11", "v1.35.8",
];
