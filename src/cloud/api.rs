//! Small typed functions over the `openstack_sdk::api` endpoints `prepare-cloud` needs:
//! flavors, images, external networks, availability zones, Octavia providers, server groups,
//! security groups and rules, and the management server with its floating IP.
//!
//! Every call goes through [`super::retry::send`] (timeouts, backoff, OpenStack's message in
//! errors). Responses are read into our own small structs; lists follow pagination. Naming
//! (style.md): `find_*` returns `Option`, `ensure_*` creates or adopts, `delete_*` treats 404
//! as done. Names of what we create come from [`super::names`] only.
//!
//! The whole-project lists and the deletions `cleanup` needs are in the submodules
//! `listing` and `deletion`.
//!
//! It does not decide *what* to create or delete (that is [`super::prepare`] and
//! [`super::cleanup`]), and knows nothing of application credentials (that is
//! [`super::session`]).

mod deletion;
mod listing;

pub use deletion::{DeleteWaits, NeutronKind};

use std::borrow::Cow;

use openstack_sdk::api::RestEndpoint;
use openstack_sdk::api::compute::v2::{
    availability_zone::list as az_list, flavor::list_detailed as flavor_list,
    keypair::list as keypair_list, server::list_detailed as server_list,
    server_group::create_215 as sg215, server_group::create_264 as sg264,
    server_group::list as server_group_list,
};
use openstack_sdk::api::image::v2::image::list as image_list;
use openstack_sdk::api::load_balancer::v2::provider::list as provider_list;
use openstack_sdk::api::network::v2::{
    network::list as network_list, security_group::create as secgroup_create,
    security_group::list as secgroup_list, security_group_rule::create as rule_create,
    security_group_rule::list as rule_list,
};
use serde::Serialize;
use serde_json::Value;

use super::retry::{self, ApiFailure, Reply, RetryPolicy};
use super::{CloudError, CloudErrorKind, Session};

/// A Nova flavor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Flavor {
    pub id: String,
    pub name: String,
    pub vcpus: u64,
    pub ram_mib: u64,
    /// Root disk in GiB; 0 = diskless (boot from volume).
    pub disk_gib: u64,
}

/// A Glance image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Image {
    pub id: String,
    pub name: String,
    pub status: String,
    pub min_disk_gib: u64,
    pub min_ram_mib: u64,
    pub size: Option<u64>,
}

/// A Neutron network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Network {
    pub id: String,
    pub name: String,
}

/// A Nova server group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServerGroup {
    pub id: String,
    pub name: String,
    pub policy: String,
}

/// A Neutron security group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SecurityGroup {
    pub id: String,
    pub name: String,
}

/// An ingress rule `protocol/port` from members of a remote group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IngressRule {
    pub protocol: &'static str,
    pub port: u16,
}

/// A Nova server and its addresses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Server {
    pub id: String,
    pub name: String,
    pub floating_ips: Vec<String>,
}

/// Server-group policies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    AntiAffinity,
    SoftAntiAffinity,
}

impl Policy {
    pub fn as_str(self) -> &'static str {
        match self {
            Policy::AntiAffinity => "anti-affinity",
            Policy::SoftAntiAffinity => "soft-anti-affinity",
        }
    }
}

/// Typed calls against one session, all with the same retry policy.
pub struct Api<'s> {
    session: &'s Session,
    policy: RetryPolicy,
}

impl<'s> Api<'s> {
    pub fn new(session: &'s Session, policy: RetryPolicy) -> Self {
        Api { session, policy }
    }

    async fn call<E>(&self, ep: E, what: &str, retry_post: bool) -> Result<Reply, CloudError>
    where
        E: RestEndpoint + Sync + Send,
    {
        retry::send(self.session.client(), &self.policy, ep, retry_post)
            .await
            .map_err(|f| self.fail(f, what))
    }

    /// Sends one request (retried per the policy; POSTs are not) and parses its JSON body.
    async fn call_json<E>(&self, ep: E, what: &str) -> Result<Value, CloudError>
    where
        E: RestEndpoint + Sync + Send,
    {
        self.call(ep, what, false)
            .await?
            .json()
            .map_err(|e| self.bad_body(what, e))
    }

    async fn call_raw<E>(&self, ep: E, retry_post: bool) -> Result<Reply, ApiFailure>
    where
        E: RestEndpoint + Sync + Send,
    {
        retry::send(self.session.client(), &self.policy, ep, retry_post).await
    }

    fn fail(&self, f: ApiFailure, what: &str) -> CloudError {
        f.into_cloud(self.session.cloud_name(), what)
    }

    fn bad_body(&self, what: &str, e: impl std::fmt::Display) -> CloudError {
        CloudError::new(
            CloudErrorKind::Api,
            format!(
                "{what} on cloud `{}`: unexpected answer: {e}",
                self.session.cloud_name()
            ),
        )
    }

    fn builder_error(&self, what: &str, e: impl std::fmt::Display) -> CloudError {
        CloudError::new(
            CloudErrorKind::Api,
            format!("{what}: cannot build the request: {e}"),
        )
    }

    /// Every item under `key`, following `*_links`/`next` pagination by marker.
    async fn list_all<E, F>(
        &self,
        what: &str,
        key: &str,
        build: F,
    ) -> Result<Vec<Value>, CloudError>
    where
        E: RestEndpoint + Sync + Send,
        F: Fn(Option<String>) -> Result<E, String>,
    {
        let mut out = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let ep = build(marker.clone()).map_err(|e| self.builder_error(what, e))?;
            let v = self.call_json(ep, what).await?;
            let items = match v.get(key) {
                Some(Value::Array(a)) => a.clone(),
                _ => return Err(self.bad_body(what, format!("no `{key}` list"))),
            };
            let more = has_next(&v, key);
            let last = items
                .last()
                .and_then(|i| i.get("id"))
                .and_then(Value::as_str)
                .map(String::from);
            out.extend(items);
            match last {
                Some(l) if more && marker.as_deref() != Some(l.as_str()) => marker = Some(l),
                _ => break,
            }
        }
        Ok(out)
    }

    /// The flavor named exactly `name`.
    ///
    /// # Errors
    /// API or transport failures.
    pub async fn find_flavor(&self, name: &str) -> Result<Option<Flavor>, CloudError> {
        let what = format!("cannot list flavors (looking for `{name}`)");
        let all = self
            .list_all(&what, "flavors", |marker| {
                let mut b = flavor_list::Request::builder();
                if let Some(m) = marker {
                    b.marker(m);
                }
                b.build().map_err(|e| e.to_string())
            })
            .await?;
        Ok(all
            .iter()
            .find(|f| str_of(f, "name") == name)
            .map(|f| Flavor {
                id: str_of(f, "id"),
                name: name.to_string(),
                vcpus: u64_of(f, "vcpus"),
                ram_mib: u64_of(f, "ram"),
                disk_gib: u64_of(f, "disk"),
            }))
    }

    /// The image named exactly `name`: the newest `active` one when several share it, else
    /// the newest of any status. An active image always wins over a newer one that is not
    /// (a `queued` leftover of an interrupted upload must not hide a usable image).
    ///
    /// # Errors
    /// API or transport failures.
    pub async fn find_image(&self, name: &str) -> Result<Option<Image>, CloudError> {
        let what = format!("cannot look up image `{name}`");
        let all = self
            .list_all(&what, "images", |marker| {
                let mut b = image_list::Request::builder();
                b.name(name.to_string());
                if let Some(m) = marker {
                    b.marker(m);
                }
                b.build().map_err(|e| e.to_string())
            })
            .await?;
        let found: Vec<&Value> = all.iter().filter(|i| str_of(i, "name") == name).collect();
        Ok(newest_preferring_active(found).map(|i| Image {
            id: str_of(i, "id"),
            name: name.to_string(),
            status: str_of(i, "status"),
            min_disk_gib: u64_of(i, "min_disk"),
            min_ram_mib: u64_of(i, "min_ram"),
            size: i.get("size").and_then(Value::as_u64),
        }))
    }

    /// Networks with `router:external=true`.
    ///
    /// # Errors
    /// API or transport failures.
    pub async fn external_networks(&self) -> Result<Vec<Network>, CloudError> {
        let what = "cannot list external networks";
        let all = self
            .list_all(what, "networks", |marker| {
                let mut b = network_list::Request::builder();
                b.router_external(true);
                if let Some(m) = marker {
                    b.marker(m);
                }
                b.build().map_err(|e| e.to_string())
            })
            .await?;
        Ok(all
            .iter()
            .filter(|n| n.get("router:external").and_then(Value::as_bool) != Some(false))
            .map(|n| Network {
                id: str_of(n, "id"),
                name: str_of(n, "name"),
            })
            .collect())
    }

    /// Names of the compute availability zones that are available.
    ///
    /// # Errors
    /// API or transport failures.
    pub async fn availability_zones(&self) -> Result<Vec<String>, CloudError> {
        let what = "cannot list availability zones";
        let ep = az_list::Request::builder()
            .build()
            .map_err(|e| self.builder_error(what, e))?;
        let v = self.call_json(ep, what).await?;
        Ok(v.get("availabilityZoneInfo")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(|z| z["zoneState"]["available"].as_bool().unwrap_or(true))
            .map(|z| str_of(z, "zoneName"))
            .filter(|z| !z.is_empty())
            .collect())
    }

    /// Whether the user has a Nova keypair named exactly `name` (keypairs belong to the
    /// user, not the project).
    ///
    /// # Errors
    /// API or transport failures.
    pub async fn keypair_exists(&self, name: &str) -> Result<bool, CloudError> {
        let what = format!("cannot list keypairs (looking for `{name}`)");
        let ep = keypair_list::Request::builder()
            .build()
            .map_err(|e| self.builder_error(&what, e))?;
        let v = self.call_json(ep, &what).await?;
        Ok(v.get("keypairs")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .any(|k| k["keypair"]["name"].as_str() == Some(name)))
    }

    /// Adds an IPv4 ingress rule (`protocol`, one `port` or all, from `cidr`) to `sg_id`;
    /// `false` when Neutron already has it (409 duplicate).
    ///
    /// # Errors
    /// API or transport failures, quota.
    pub async fn ensure_ingress_rule_from(
        &self,
        sg_id: &str,
        protocol: &str,
        port: Option<u16>,
        cidr: &str,
    ) -> Result<bool, CloudError> {
        let what = format!("cannot add rule {protocol} from {cidr} to security group `{sg_id}`");
        let mut body = rule_create::SecurityGroupRuleBuilder::default();
        body.security_group_id(sg_id.to_string())
            .direction(rule_create::Direction::Ingress)
            .ethertype(rule_create::Ethertype::Ipv4)
            .protocol(protocol.to_string())
            .remote_ip_prefix(cidr.to_string());
        if let Some(p) = port {
            body.port_range_min(Some(i32::from(p)))
                .port_range_max(Some(i32::from(p)));
        }
        self.post_rule(&body, &what).await
    }

    /// Creates the rule `body` describes; `false` when Neutron already has it.
    async fn post_rule(
        &self,
        body: &rule_create::SecurityGroupRuleBuilder<'_>,
        what: &str,
    ) -> Result<bool, CloudError> {
        let body = body.build().map_err(|e| self.builder_error(what, e))?;
        let ep = rule_create::Request::builder()
            .security_group_rule(body)
            .build()
            .map_err(|e| self.builder_error(what, e))?;
        // A repeated POST at worst answers 409 (duplicate), which we accept: safe to retry.
        match self.call_raw(ep, true).await {
            Ok(_) => Ok(true),
            Err(f) if f.is_status(409) && !f.message.to_lowercase().contains("quota") => Ok(false),
            Err(f) => Err(self.fail(f, what)),
        }
    }

    /// Names of the Octavia providers (`amphora`, `ovn`, ...).
    ///
    /// # Errors
    /// API or transport failures (also when the cloud has no Octavia).
    pub async fn lb_providers(&self) -> Result<Vec<String>, CloudError> {
        let what = "cannot list load-balancer providers";
        let ep = provider_list::Request::builder()
            .build()
            .map_err(|e| self.builder_error(what, e))?;
        let v = self.call_json(ep, what).await?;
        Ok(v.get("providers")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|p| str_of(p, "name"))
            .collect())
    }

    /// The server group named exactly `name` (the first when several share it).
    ///
    /// # Errors
    /// API or transport failures.
    pub async fn find_server_group(&self, name: &str) -> Result<Option<ServerGroup>, CloudError> {
        Ok(self
            .server_groups()
            .await?
            .into_iter()
            .find(|g| g.name == name))
    }

    /// Every server group of the project (Nova pages these by offset).
    ///
    /// # Errors
    /// API or transport failures.
    pub async fn server_groups(&self) -> Result<Vec<ServerGroup>, CloudError> {
        const PAGE: u32 = 500;
        let what = "cannot list server groups";
        let mut out = Vec::new();
        let mut offset = 0u32;
        loop {
            let ep = server_group_list::Request::builder()
                .limit(PAGE)
                .offset(offset)
                .build()
                .map_err(|e| self.builder_error(what, e))?;
            let v = self.call_json(ep, what).await?;
            let page = v
                .get("server_groups")
                .and_then(Value::as_array)
                .ok_or_else(|| self.bad_body(what, "no `server_groups` list"))?;
            out.extend(page.iter().map(server_group_of));
            if page.len() < PAGE as usize {
                break;
            }
            offset += PAGE;
        }
        Ok(out)
    }

    /// Creates server group `name` with `policy` (microversion 2.64 `policy`; 2.15
    /// `policies` when the cloud is older), or adopts the existing one.
    ///
    /// # Errors
    /// API or transport failures; a group of that name with another policy.
    pub async fn ensure_server_group(
        &self,
        name: &str,
        policy: Policy,
    ) -> Result<(ServerGroup, bool), CloudError> {
        if let Some(g) = self.find_server_group(name).await? {
            return check_policy(g, policy, self.session.cloud_name()).map(|g| (g, false));
        }
        let what = format!("cannot create server group `{name}`");
        let p264 = match policy {
            Policy::AntiAffinity => sg264::Policy::AntiAffinity,
            Policy::SoftAntiAffinity => sg264::Policy::SoftAntiAffinity,
        };
        let body = sg264::ServerGroupBuilder::default()
            .name(name.to_string())
            .policy(p264)
            .build()
            .map_err(|e| self.builder_error(&what, e))?;
        let ep = sg264::Request::builder()
            .server_group(body)
            .build()
            .map_err(|e| self.builder_error(&what, e))?;
        let reply = match self.call_raw(ep, false).await {
            Ok(r) => r,
            // An older Nova: 2.64 is above its maximum microversion.
            Err(f) if f.is_status(406) || (f.is_status(400) && f.message.contains("2.64")) => {
                let p215 = match policy {
                    Policy::AntiAffinity => sg215::Policies::AntiAffinity,
                    Policy::SoftAntiAffinity => sg215::Policies::SoftAntiAffinity,
                };
                let body = sg215::ServerGroupBuilder::default()
                    .name(name.to_string())
                    .policies(vec![p215])
                    .build()
                    .map_err(|e| self.builder_error(&what, e))?;
                let ep = sg215::Request::builder()
                    .server_group(body)
                    .build()
                    .map_err(|e| self.builder_error(&what, e))?;
                self.call(ep, &what, false).await?
            }
            Err(f) => return Err(self.fail(f, &what)),
        };
        let v = reply.json().map_err(|e| self.bad_body(&what, e))?;
        let g = v
            .get("server_group")
            .map(server_group_of)
            .ok_or_else(|| self.bad_body(&what, "no `server_group`"))?;
        Ok((g, true))
    }

    /// The security group named exactly `name`.
    ///
    /// # Errors
    /// API or transport failures.
    pub async fn find_security_group(
        &self,
        name: &str,
    ) -> Result<Option<SecurityGroup>, CloudError> {
        let what = format!("cannot look up security group `{name}`");
        let all = self
            .list_all(&what, "security_groups", |marker| {
                let mut b = secgroup_list::Request::builder();
                b.name(name.to_string());
                if let Some(m) = marker {
                    b.marker(m);
                }
                b.build().map_err(|e| e.to_string())
            })
            .await?;
        Ok(all
            .iter()
            .find(|g| str_of(g, "name") == name)
            .map(|g| SecurityGroup {
                id: str_of(g, "id"),
                name: name.to_string(),
            }))
    }

    /// Creates security group `name`, or adopts the existing one. Returns it and whether it
    /// was created.
    ///
    /// # Errors
    /// API or transport failures.
    pub async fn ensure_security_group(
        &self,
        name: &str,
        description: &str,
    ) -> Result<(SecurityGroup, bool), CloudError> {
        if let Some(g) = self.find_security_group(name).await? {
            return Ok((g, false));
        }
        let what = format!("cannot create security group `{name}`");
        let body = secgroup_create::SecurityGroupBuilder::default()
            .name(name.to_string())
            .description(description.to_string())
            .build()
            .map_err(|e| self.builder_error(&what, e))?;
        let ep = secgroup_create::Request::builder()
            .security_group(body)
            .build()
            .map_err(|e| self.builder_error(&what, e))?;
        let v = self.call_json(ep, &what).await?;
        let g = v
            .get("security_group")
            .ok_or_else(|| self.bad_body(&what, "no `security_group`"))?;
        Ok((
            SecurityGroup {
                id: str_of(g, "id"),
                name: name.to_string(),
            },
            true,
        ))
    }

    /// Ingress IPv4 rules of `sg_id` whose remote group is `sg_id` itself, as
    /// `(protocol, port_min)`.
    ///
    /// # Errors
    /// API or transport failures.
    pub async fn self_ingress_rules(&self, sg_id: &str) -> Result<Vec<(String, u16)>, CloudError> {
        let what = format!("cannot list the rules of security group `{sg_id}`");
        let all = self
            .list_all(&what, "security_group_rules", |marker| {
                let mut b = rule_list::Request::builder();
                b.security_group_id(sg_id.to_string());
                if let Some(m) = marker {
                    b.marker(m);
                }
                b.build().map_err(|e| e.to_string())
            })
            .await?;
        Ok(all
            .iter()
            .filter(|r| str_of(r, "direction") == "ingress")
            .filter(|r| str_of(r, "remote_group_id") == sg_id)
            .filter_map(|r| {
                let port = r.get("port_range_min").and_then(Value::as_u64)?;
                Some((str_of(r, "protocol"), u16::try_from(port).ok()?))
            })
            .collect())
    }

    /// Adds ingress `rule` from members of `sg_id` to `sg_id`; a rule that exists already
    /// (409) is not an error. Returns whether it was created.
    ///
    /// # Errors
    /// API or transport failures other than the duplicate.
    pub async fn ensure_self_ingress_rule(
        &self,
        sg_id: &str,
        rule: &IngressRule,
    ) -> Result<bool, CloudError> {
        let what = format!(
            "cannot add rule {}/{} to security group `{sg_id}`",
            rule.protocol, rule.port
        );
        let mut body = rule_create::SecurityGroupRuleBuilder::default();
        body.security_group_id(sg_id.to_string())
            .direction(rule_create::Direction::Ingress)
            .ethertype(rule_create::Ethertype::Ipv4)
            .protocol(rule.protocol.to_string())
            .port_range_min(Some(i32::from(rule.port)))
            .port_range_max(Some(i32::from(rule.port)))
            .remote_group_id(sg_id.to_string());
        self.post_rule(&body, &what).await
    }

    /// The server named exactly `name`, with its floating IPs.
    ///
    /// # Errors
    /// API or transport failures.
    pub async fn find_server(&self, name: &str) -> Result<Option<Server>, CloudError> {
        let what = format!("cannot look up server `{name}`");
        // Nova's `name` filter is a regular expression: anchor it, then compare exactly.
        let pattern = format!("^{}$", regex_escape(name));
        let all = self
            .list_all(&what, "servers", |marker| {
                let mut b = server_list::Request::builder();
                b.name(pattern.clone());
                if let Some(m) = marker {
                    b.marker(m);
                }
                b.build().map_err(|e| e.to_string())
            })
            .await?;
        Ok(all.iter().find(|s| str_of(s, "name") == name).map(|s| {
            let floating_ips = s
                .get("addresses")
                .and_then(Value::as_object)
                .into_iter()
                .flat_map(|m| m.values())
                .filter_map(Value::as_array)
                .flatten()
                .filter(|a| str_of(a, "OS-EXT-IPS:type") == "floating")
                .map(|a| str_of(a, "addr"))
                .filter(|a| !a.is_empty())
                .collect();
            Server {
                id: str_of(s, "id"),
                name: name.to_string(),
                floating_ips,
            }
        }))
    }
}

fn check_policy(g: ServerGroup, want: Policy, cloud: &str) -> Result<ServerGroup, CloudError> {
    if g.policy == want.as_str() {
        return Ok(g);
    }
    Err(CloudError::new(
        CloudErrorKind::Api,
        format!(
            "server group `{}` on cloud `{cloud}` has policy `{}`, expected `{}`",
            g.name,
            g.policy,
            want.as_str()
        ),
    )
    .hint(format!(
        "delete it (`openstack server group delete {}`) when no server uses it, then re-run",
        g.id
    )))
}

fn server_group_of(v: &Value) -> ServerGroup {
    let policy = v
        .get("policy")
        .and_then(Value::as_str)
        .map(String::from)
        .or_else(|| {
            v.get("policies")
                .and_then(Value::as_array)
                .and_then(|p| p.first())
                .and_then(Value::as_str)
                .map(String::from)
        })
        .unwrap_or_default();
    ServerGroup {
        id: str_of(v, "id"),
        name: str_of(v, "name"),
        policy,
    }
}

/// `*_links` with `rel: next` (Nova, Neutron) or a `next` URL (Glance).
fn has_next(v: &Value, key: &str) -> bool {
    let links = v
        .get(format!("{key}_links"))
        .and_then(Value::as_array)
        .is_some_and(|l| l.iter().any(|x| x["rel"] == "next"));
    links || v.get("next").and_then(Value::as_str).is_some()
}

fn str_of(v: &Value, key: &str) -> String {
    v.get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

fn u64_of(v: &Value, key: &str) -> u64 {
    v.get(key).and_then(Value::as_u64).unwrap_or(0)
}

fn regex_escape(s: &str) -> Cow<'_, str> {
    if s.chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() * 2);
    for c in s.chars() {
        if !c.is_ascii_alphanumeric() && c != '-' && c != '_' {
            out.push('\\');
        }
        out.push(c);
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pagination_links() {
        assert!(has_next(
            &json!({"flavors": [], "flavors_links": [{"rel": "next", "href": "x"}]}),
            "flavors"
        ));
        assert!(has_next(
            &json!({"images": [], "next": "/v2/images?marker=a"}),
            "images"
        ));
        assert!(!has_next(&json!({"networks": []}), "networks"));
    }

    #[test]
    fn server_group_policy_both_microversions() {
        assert_eq!(
            server_group_of(&json!({"id": "a", "name": "g", "policy": "anti-affinity"})).policy,
            "anti-affinity"
        );
        assert_eq!(
            server_group_of(&json!({"id": "a", "name": "g", "policies": ["soft-anti-affinity"]}))
                .policy,
            "soft-anti-affinity"
        );
    }

    #[test]
    fn regex_escaping() {
        assert_eq!(regex_escape("a.b"), "a\\.b");
        assert_eq!(regex_escape("capi-mgmtcluster"), "capi-mgmtcluster");
    }
}

/// The newest `active` image of `found`, else the newest of any status (by `created_at`).
pub(crate) fn newest_preferring_active(mut found: Vec<&Value>) -> Option<&Value> {
    found.sort_by_key(|i| (str_of(i, "status") == "active", str_of(i, "created_at")));
    found.last().copied()
}

#[cfg(test)]
mod image_choice_tests {
    use super::*;

    #[test]
    fn an_active_image_beats_a_newer_queued_one() {
        let old = serde_json::json!({"id": "a", "status": "active", "created_at": "2024-01-01T00:00:00Z"});
        let new = serde_json::json!({"id": "q", "status": "queued", "created_at": "2025-01-01T00:00:00Z"});
        let newest = serde_json::json!({"id": "a2", "status": "active", "created_at": "2024-06-01T00:00:00Z"});
        assert_eq!(
            newest_preferring_active(vec![&old, &new]).unwrap()["id"],
            "a"
        );
        assert_eq!(
            newest_preferring_active(vec![&new, &old, &newest]).unwrap()["id"],
            "a2"
        );
        assert_eq!(newest_preferring_active(vec![&new]).unwrap()["id"], "q");
        assert!(newest_preferring_active(vec![]).is_none());
    }
}
