//! Neutron (networking API v2.0) under `/network`.
//!
//! Fakes: version discovery (`GET /network/`, `GET /network/v2.0/`), a short extension list;
//! networks, subnets, routers, ports, floating IPs, security groups and rules: create, list,
//! show, update (top-level fields merged), delete, with `NeutronError` bodies; list filters
//! by any top-level field (repeat a key for OR; `router:external`, `device_owner`,
//! `device_id`, `network_id`, `name`, `port_id`, `description`, `floating_ip_address`...),
//! `fixed_ips=subnet_id=X` / `ip_address=Y`, `tags`/`tags-any`/`not-tags`, `fields`;
//! `limit` + `marker` pagination with `<collection>_links` (`rel: next`/`previous`); tags
//! (`/tags`, `/tags/{tag}`); router interfaces (`add_router_interface`,
//! `remove_router_interface`, creating/removing the `network:router_interface` port);
//! the deletion order Neutron enforces (409 `NetworkInUse`, `SubnetInUse`, `RouterInUse`,
//! `SecurityGroupInUse`, `L3PortInUse`); new security groups get Neutron's two default
//! egress rules; rule validation and 409 `SecurityGroupRuleExists` for duplicates; a
//! floating IP needs an external network and follows its port (`ACTIVE`/`DOWN`).
//!
//! Does not fake: IPv6 allocation, DHCP/gateway ports, QoS, trunks, address scopes, RBAC,
//! quotas, sorting (lists are in creation order), admin-only attributes.

use crate::state::{self, PROJECT_ID, State, field_matches, paginate, q1, qall};
use crate::{Inner, Req, json_resp};
use axum::http::Method;
use axum::response::Response;
use serde_json::{Map, Value, json};

/// `{"NeutronError": {"type": ..., "message": ..., "detail": ""}}`
pub fn error(status: u16, kind: &str, message: &str) -> Response {
    json_resp(
        status,
        &json!({"NeutronError": {"type": kind, "message": message, "detail": ""}}),
    )
}

/// The generic `NeutronError.type` for a status (`HTTPNotFound`...).
pub fn error_type(status: u16) -> String {
    match status {
        400 => "HTTPBadRequest",
        401 => "HTTPUnauthorized",
        403 => "HTTPForbidden",
        404 => "HTTPNotFound",
        409 => "HTTPConflict",
        429 => "HTTPTooManyRequests",
        503 => "HTTPServiceUnavailable",
        _ => "HTTPInternalServerError",
    }
    .to_string()
}

fn bad(message: &str) -> Response {
    error(400, "HTTPBadRequest", message)
}

/// (URL collection, state kind, singular key, NotFound type, human name)
const COLLECTIONS: &[(&str, &str, &str, &str, &str)] = &[
    (
        "networks",
        "networks",
        "network",
        "NetworkNotFound",
        "Network",
    ),
    ("subnets", "subnets", "subnet", "SubnetNotFound", "Subnet"),
    ("routers", "routers", "router", "RouterNotFound", "Router"),
    ("ports", "ports", "port", "PortNotFound", "Port"),
    (
        "floatingips",
        "floatingips",
        "floatingip",
        "FloatingIPNotFound",
        "Floating IP",
    ),
    (
        "security-groups",
        "security_groups",
        "security_group",
        "SecurityGroupNotFound",
        "Security group",
    ),
    (
        "security-group-rules",
        "security_group_rules",
        "security_group_rule",
        "SecurityGroupRuleNotFound",
        "Security group rule",
    ),
];

fn coll(
    name: &str,
) -> Option<(
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
)> {
    COLLECTIONS.iter().copied().find(|c| c.0 == name)
}

fn not_found(c: (&str, &str, &str, &str, &str), id: &str) -> Response {
    let msg = match c.1 {
        "security_groups" | "security_group_rules" => format!("{} {id} does not exist", c.4),
        _ => format!("{} {id} could not be found.", c.4),
    };
    error(404, c.3, &msg)
}

const EXTENSIONS: &[(&str, &str)] = &[
    ("external-net", "Neutron external network"),
    ("router", "Neutron L3 Router"),
    ("security-group", "security-group"),
    (
        "standard-attr-tag",
        "Tag support for resources with standard attribute: ...",
    ),
    ("standard-attr-description", "standard-attr-description"),
    ("port-security", "Port Security"),
    ("binding", "Port Binding"),
    ("quotas", "Quota management support"),
    ("availability_zone", "Availability Zone"),
    ("pagination", "Pagination support"),
    ("sorting", "Sorting support"),
];

pub(crate) async fn handle(inner: &Inner, r: Req) -> Response {
    if r.segs.is_empty() && r.method == Method::GET {
        return json_resp(
            200,
            &json!({"versions": [{"status": "CURRENT", "id": "v2.0",
                "links": [{"href": format!("{}/v2.0/", r.base), "rel": "self"}]}]}),
        );
    }
    if r.seg(0) != "v2.0" {
        return error(404, "HTTPNotFound", "The resource could not be found.");
    }
    let segs: Vec<String> = r.segs[1..]
        .iter()
        .map(|s| s.trim_end_matches(".json").to_string())
        .collect();
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    match (r.method.clone(), segs.as_slice()) {
        (Method::GET, []) => {
            let res: Vec<Value> = COLLECTIONS
                .iter()
                .map(|c| {
                    json!({"name": c.2, "collection": c.0,
                    "links": [{"href": format!("{}/v2.0/{}", r.base, c.0), "rel": "self"}]})
                })
                .collect();
            json_resp(200, &json!({"resources": res}))
        }
        (Method::GET, ["extensions"]) => {
            let ext: Vec<Value> = EXTENSIONS.iter().map(|(a, n)| ext_doc(a, n)).collect();
            json_resp(200, &json!({"extensions": ext}))
        }
        (Method::GET, ["extensions", alias]) => match EXTENSIONS.iter().find(|e| e.0 == *alias) {
            Some((a, n)) => json_resp(200, &json!({"extension": ext_doc(a, n)})),
            None => error(
                404,
                "HTTPNotFound",
                &format!("Extension with alias {alias} does not exist"),
            ),
        },
        (Method::GET, [c]) => match coll(c) {
            Some(c) => list(inner, &r, c),
            None => error(404, "HTTPNotFound", "The resource could not be found."),
        },
        (Method::POST, [c]) => match coll(c) {
            Some(c) => {
                let body = match r.json().await {
                    Ok(b) => b,
                    Err(_) => return bad("Malformed request body"),
                };
                let Some(obj) = body.get(c.2).and_then(Value::as_object).cloned() else {
                    return bad(&format!("Unable to find '{}' in request body", c.2));
                };
                let mut s = inner.state.lock().unwrap();
                match create(&mut s, c.1, obj) {
                    Ok(v) => json_resp(201, &json!({ c.2: v })),
                    Err(e) => e,
                }
            }
            None => error(404, "HTTPNotFound", "The resource could not be found."),
        },
        (Method::GET, [c, id]) => match coll(c) {
            Some(c) => {
                let s = inner.state.lock().unwrap();
                match s.get(c.1, id) {
                    Some(v) => json_resp(200, &json!({ c.2: project(v, &r.query) })),
                    None => not_found(c, id),
                }
            }
            None => error(404, "HTTPNotFound", "The resource could not be found."),
        },
        (Method::PUT, [c, id]) => match coll(c) {
            Some(c) => {
                let body = match r.json().await {
                    Ok(b) => b,
                    Err(_) => return bad("Malformed request body"),
                };
                let Some(obj) = body.get(c.2).and_then(Value::as_object).cloned() else {
                    return bad(&format!("Unable to find '{}' in request body", c.2));
                };
                let mut s = inner.state.lock().unwrap();
                if s.get(c.1, id).is_none() {
                    return not_found(c, id);
                }
                match update(&mut s, c.1, id, obj) {
                    Ok(v) => json_resp(200, &json!({ c.2: v })),
                    Err(e) => e,
                }
            }
            None => error(404, "HTTPNotFound", "The resource could not be found."),
        },
        (Method::DELETE, [c, id]) => match coll(c) {
            Some(c) => {
                let mut s = inner.state.lock().unwrap();
                if s.get(c.1, id).is_none() {
                    return not_found(c, id);
                }
                if let Err(e) = check_delete(&s, c.1, id) {
                    return e;
                }
                s.remove(c.1, id);
                crate::empty(204)
            }
            None => error(404, "HTTPNotFound", "The resource could not be found."),
        },
        (
            Method::PUT,
            [
                "routers",
                id,
                action @ ("add_router_interface" | "remove_router_interface"),
            ],
        ) => {
            let body = match r.json().await {
                Ok(b) => b,
                Err(_) => return bad("Malformed request body"),
            };
            let mut s = inner.state.lock().unwrap();
            if s.get("routers", id).is_none() {
                return error(
                    404,
                    "RouterNotFound",
                    &format!("Router {id} could not be found."),
                );
            }
            if *action == "add_router_interface" {
                add_interface(&mut s, id, &body)
            } else {
                remove_interface(&mut s, id, &body)
            }
        }
        (m, [c, id, "tags", rest @ ..]) if rest.len() <= 1 => match coll(c) {
            Some(c) => {
                let body = if m == Method::PUT && rest.is_empty() {
                    r.json().await.ok()
                } else {
                    None
                };
                let mut s = inner.state.lock().unwrap();
                let Some(v) = s.get_mut(c.1, id) else {
                    return not_found(c, id);
                };
                tags(v, m, rest.first().copied(), body)
            }
            None => error(404, "HTTPNotFound", "The resource could not be found."),
        },
        _ => error(404, "HTTPNotFound", "The resource could not be found."),
    }
}

fn ext_doc(alias: &str, name: &str) -> Value {
    json!({"alias": alias, "name": name, "description": name, "updated": "2013-01-01T10:00:00-00:00", "links": []})
}

fn tags(v: &mut Value, m: Method, tag: Option<&str>, body: Option<Value>) -> Response {
    let mut tags: Vec<String> = v["tags"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|t| t.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    let resp = match (m, tag) {
        (Method::GET, None) => return json_resp(200, &json!({"tags": tags})),
        (Method::GET, Some(t)) => {
            return if tags.iter().any(|x| x == t) {
                crate::empty(204)
            } else {
                error(404, "TagNotFound", &format!("Tag {t} could not be found."))
            };
        }
        (Method::PUT, Some(t)) => {
            if !tags.iter().any(|x| x == t) {
                tags.push(t.to_string());
            }
            crate::empty(201)
        }
        (Method::PUT, None) => {
            let Some(new) = body.as_ref().and_then(|b| b["tags"].as_array()) else {
                return bad("Invalid input for tags.");
            };
            tags = new
                .iter()
                .filter_map(|t| t.as_str().map(String::from))
                .collect();
            json_resp(200, &json!({"tags": tags}))
        }
        (Method::DELETE, Some(t)) => {
            let before = tags.len();
            tags.retain(|x| x != t);
            if tags.len() == before {
                return error(404, "TagNotFound", &format!("Tag {t} could not be found."));
            }
            crate::empty(204)
        }
        (Method::DELETE, None) => {
            tags.clear();
            crate::empty(204)
        }
        _ => return error(405, "HTTPMethodNotAllowed", "Method not allowed."),
    };
    v["tags"] = json!(tags);
    bump(v);
    resp
}

fn bump(v: &mut Value) {
    let rev = v["revision_number"].as_u64().unwrap_or(0) + 1;
    v["revision_number"] = json!(rev);
    v["updated_at"] = json!(state::now_iso());
}

const NON_FILTERS: &[&str] = &[
    "limit",
    "marker",
    "sort_key",
    "sort_dir",
    "fields",
    "page_reverse",
    "tags",
    "tags-any",
    "not-tags",
    "not-tags-any",
    "fixed_ips",
];

fn tag_set(v: &Value) -> Vec<&str> {
    v["tags"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

fn csv<'a>(q: &'a [(String, String)], k: &str) -> Vec<&'a str> {
    qall(q, k)
        .into_iter()
        .flat_map(|v| v.split(','))
        .filter(|s| !s.is_empty())
        .collect()
}

fn matches(v: &Value, q: &[(String, String)]) -> bool {
    let mut keys: Vec<&str> = q
        .iter()
        .map(|(k, _)| k.as_str())
        .filter(|k| !NON_FILTERS.contains(k))
        .collect();
    keys.dedup();
    for k in keys {
        let wanted = qall(q, k);
        let f = v.get(k).unwrap_or(&Value::Null);
        if v.get(k).is_none() || !wanted.iter().any(|w| field_matches(f, w)) {
            return false;
        }
    }
    let t = tag_set(v);
    let all = csv(q, "tags");
    if !all.iter().all(|x| t.contains(x)) {
        return false;
    }
    let any = csv(q, "tags-any");
    if !any.is_empty() && !any.iter().any(|x| t.contains(x)) {
        return false;
    }
    let not_all = csv(q, "not-tags");
    if !not_all.is_empty() && not_all.iter().all(|x| t.contains(x)) {
        return false;
    }
    let not_any = csv(q, "not-tags-any");
    if not_any.iter().any(|x| t.contains(x)) {
        return false;
    }
    for fi in qall(q, "fixed_ips") {
        let Some((k, want)) = fi.split_once('=') else {
            continue;
        };
        let ok = v["fixed_ips"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|ip| ip[k] == want);
        if !ok {
            return false;
        }
    }
    true
}

fn project(v: &Value, q: &[(String, String)]) -> Value {
    let fields = csv(q, "fields");
    if fields.is_empty() {
        return v.clone();
    }
    let mut o = Map::new();
    for f in fields {
        if let Some(x) = v.get(f) {
            o.insert(f.to_string(), x.clone());
        }
    }
    Value::Object(o)
}

fn list(inner: &Inner, r: &Req, c: (&str, &str, &str, &str, &str)) -> Response {
    let s = inner.state.lock().unwrap();
    let items: Vec<Value> = s
        .list(c.1)
        .iter()
        .filter(|v| matches(v, &r.query))
        .cloned()
        .collect();
    let limit = q1(&r.query, "limit")
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|l| *l > 0);
    let marker = q1(&r.query, "marker");
    let Some((page, more)) = paginate(items, limit, marker) else {
        return not_found(c, marker.unwrap_or_default());
    };
    let out: Vec<Value> = page.iter().map(|v| project(v, &r.query)).collect();
    let mut doc = json!({ c.1: out });
    if limit.is_some() {
        let mut links = Vec::new();
        if more && let Some(last) = page.last() {
            links.push(
                json!({"rel": "next", "href": format!("{}/v2.0/{}?{}", r.base, c.0,
                state::next_query(&r.query, last["id"].as_str().unwrap_or_default()))}),
            );
        }
        if marker.is_some()
            && let Some(first) = page.first()
        {
            let mut q: Vec<(String, String)> = r.query.clone();
            q.push(("page_reverse".into(), "True".into()));
            links.push(
                json!({"rel": "previous", "href": format!("{}/v2.0/{}?{}", r.base, c.0,
                state::next_query(&q, first["id"].as_str().unwrap_or_default()))}),
            );
        }
        doc[format!("{}_links", c.1)] = json!(links);
    }
    json_resp(200, &doc)
}

fn str_field(o: &Map<String, Value>, k: &str) -> Option<String> {
    o.get(k).and_then(Value::as_str).map(String::from)
}

fn base_fields(o: &Map<String, Value>) -> Value {
    let now = state::now_iso();
    json!({
        "id": state::new_id(),
        "name": str_field(o, "name").unwrap_or_default(),
        "description": str_field(o, "description").unwrap_or_default(),
        "tenant_id": PROJECT_ID, "project_id": PROJECT_ID,
        "tags": [], "created_at": now, "updated_at": now, "revision_number": 0,
    })
}

fn merge(v: &mut Value, o: &Map<String, Value>, keys: &[&str]) {
    for k in keys {
        if let Some(x) = o.get(*k) {
            v[*k] = x.clone();
        }
    }
}

/// Creates a Neutron resource of `kind` from the request object (also used by the seeds).
pub(crate) fn create(s: &mut State, kind: &str, o: Map<String, Value>) -> Result<Value, Response> {
    let mut v = base_fields(&o);
    match kind {
        "networks" => {
            v["status"] = json!("ACTIVE");
            v["admin_state_up"] = json!(true);
            v["subnets"] = json!([]);
            v["shared"] = json!(false);
            v["router:external"] = json!(false);
            v["mtu"] = json!(1500);
            v["port_security_enabled"] = json!(true);
            v["availability_zone_hints"] = json!([]);
            v["availability_zones"] = json!(["nova"]);
            v["ipv4_address_scope"] = Value::Null;
            v["ipv6_address_scope"] = Value::Null;
            v["is_default"] = json!(false);
            merge(
                &mut v,
                &o,
                &[
                    "admin_state_up",
                    "shared",
                    "router:external",
                    "mtu",
                    "port_security_enabled",
                    "is_default",
                ],
            );
        }
        "subnets" => {
            let net = str_field(&o, "network_id").ok_or_else(|| {
                bad("Failed to parse request. Required attribute 'network_id' not specified")
            })?;
            if s.get("networks", &net).is_none() {
                return Err(error(
                    404,
                    "NetworkNotFound",
                    &format!("Network {net} could not be found."),
                ));
            }
            let cidr = str_field(&o, "cidr").ok_or_else(|| {
                bad("Bad subnet request: a subnetpool must be specified in the absence of a cidr.")
            })?;
            if !cidr.contains('/') || cidr.contains(':') {
                return Err(bad(&format!(
                    "Invalid input for cidr. Reason: '{cidr}' is not a valid IPv4 subnet."
                )));
            }
            let ipv = o.get("ip_version").and_then(Value::as_u64).unwrap_or(4);
            if ipv != 4 {
                return Err(bad("This fake supports ip_version 4 only."));
            }
            v["network_id"] = json!(net);
            v["cidr"] = json!(cidr);
            v["ip_version"] = json!(4);
            v["gateway_ip"] = json!(state::nth_host(&cidr, 1));
            v["allocation_pools"] =
                json!([{"start": state::nth_host(&cidr, 2), "end": state::nth_host(&cidr, 254)}]);
            v["enable_dhcp"] = json!(true);
            v["dns_nameservers"] = json!([]);
            v["host_routes"] = json!([]);
            v["service_types"] = json!([]);
            v["subnetpool_id"] = Value::Null;
            v["ipv6_ra_mode"] = Value::Null;
            v["ipv6_address_mode"] = Value::Null;
            merge(
                &mut v,
                &o,
                &[
                    "gateway_ip",
                    "allocation_pools",
                    "enable_dhcp",
                    "dns_nameservers",
                    "host_routes",
                ],
            );
            let id = v["id"].as_str().unwrap_or_default().to_string();
            if let Some(n) = s.get_mut("networks", &net) {
                n["subnets"].as_array_mut().unwrap().push(json!(id));
            }
        }
        "routers" => {
            v["status"] = json!("ACTIVE");
            v["admin_state_up"] = json!(true);
            v["routes"] = json!([]);
            v["availability_zone_hints"] = json!([]);
            v["availability_zones"] = json!(["nova"]);
            v["external_gateway_info"] = Value::Null;
            v["flavor_id"] = Value::Null;
            if let Some(gw) = o.get("external_gateway_info").filter(|g| !g.is_null()) {
                v["external_gateway_info"] = gateway(s, gw)?;
            }
        }
        "ports" => {
            let net = str_field(&o, "network_id").ok_or_else(|| {
                bad("Failed to parse request. Required attribute 'network_id' not specified")
            })?;
            let Some(network) = s.get("networks", &net).cloned() else {
                return Err(error(
                    404,
                    "NetworkNotFound",
                    &format!("Network {net} could not be found."),
                ));
            };
            let fixed = match o.get("fixed_ips").and_then(Value::as_array) {
                Some(ips) => {
                    let mut out = Vec::new();
                    for ip in ips {
                        let sub = ip["subnet_id"]
                            .as_str()
                            .map(String::from)
                            .or_else(|| network["subnets"][0].as_str().map(String::from));
                        let Some(subnet) = sub.and_then(|x| s.get("subnets", &x).cloned()) else {
                            return Err(bad("Invalid input for fixed_ips: no such subnet."));
                        };
                        let addr = match ip["ip_address"].as_str() {
                            Some(a) => a.to_string(),
                            None => s.alloc_ip(&subnet),
                        };
                        out.push(json!({"subnet_id": subnet["id"], "ip_address": addr}));
                    }
                    out
                }
                None => match network["subnets"][0]
                    .as_str()
                    .and_then(|x| s.get("subnets", x).cloned())
                {
                    Some(subnet) => {
                        vec![json!({"subnet_id": subnet["id"], "ip_address": s.alloc_ip(&subnet)})]
                    }
                    None => vec![],
                },
            };
            v["network_id"] = json!(net);
            v["fixed_ips"] = json!(fixed);
            v["mac_address"] = json!(s.mac());
            v["admin_state_up"] = json!(true);
            v["status"] = json!("DOWN");
            v["device_id"] = json!("");
            v["device_owner"] = json!("");
            v["security_groups"] = json!([]);
            v["allowed_address_pairs"] = json!([]);
            v["extra_dhcp_opts"] = json!([]);
            v["port_security_enabled"] = json!(true);
            v["binding:vnic_type"] = json!("normal");
            v["dns_name"] = json!("");
            merge(
                &mut v,
                &o,
                &[
                    "admin_state_up",
                    "device_id",
                    "device_owner",
                    "security_groups",
                    "allowed_address_pairs",
                    "port_security_enabled",
                    "binding:vnic_type",
                ],
            );
            if v["device_id"].as_str().is_some_and(|d| !d.is_empty()) {
                v["status"] = json!("ACTIVE");
            }
        }
        "floatingips" => {
            let net = str_field(&o, "floating_network_id").ok_or_else(|| bad("Failed to parse request. Required attribute 'floating_network_id' not specified"))?;
            let Some(network) = s.get("networks", &net).cloned() else {
                return Err(error(
                    404,
                    "NetworkNotFound",
                    &format!("Network {net} could not be found."),
                ));
            };
            if network["router:external"] != true {
                return Err(bad(&format!(
                    "Bad floatingip request: Network {net} is not a valid external network."
                )));
            }
            let Some(subnet) = network["subnets"][0]
                .as_str()
                .and_then(|x| s.get("subnets", x).cloned())
            else {
                return Err(error(
                    409,
                    "IpAddressGenerationFailure",
                    &format!("No more IP addresses available on network {net}."),
                ));
            };
            v.as_object_mut().unwrap().remove("name");
            v["floating_network_id"] = json!(net);
            v["floating_ip_address"] = match str_field(&o, "floating_ip_address") {
                Some(a) => json!(a),
                None => json!(s.alloc_ip(&subnet)),
            };
            v["port_id"] = Value::Null;
            v["fixed_ip_address"] = Value::Null;
            v["router_id"] = Value::Null;
            v["status"] = json!("DOWN");
            v["port_details"] = Value::Null;
            v["dns_domain"] = json!("");
            v["dns_name"] = json!("");
            if let Some(port) = str_field(&o, "port_id") {
                associate(s, &mut v, &port)?;
            }
        }
        "security_groups" => {
            v["stateful"] = json!(true);
            v["shared"] = json!(false);
            let id = v["id"].as_str().unwrap_or_default().to_string();
            let mut rules = Vec::new();
            for eth in ["IPv4", "IPv6"] {
                let mut r = Map::new();
                r.insert("security_group_id".into(), json!(id));
                r.insert("direction".into(), json!("egress"));
                r.insert("ethertype".into(), json!(eth));
                let rule = rule_doc(&r);
                rules.push(rule);
            }
            v["security_group_rules"] = json!(rules);
            for r in rules {
                s.insert("security_group_rules", r);
            }
        }
        "security_group_rules" => {
            let rule = validate_rule(s, &o)?;
            let sg = rule["security_group_id"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            if let Some(g) = s.get_mut("security_groups", &sg) {
                g["security_group_rules"]
                    .as_array_mut()
                    .unwrap()
                    .push(rule.clone());
                bump(g);
            }
            return Ok(s.insert("security_group_rules", rule));
        }
        _ => return Err(bad("unsupported collection")),
    }
    Ok(s.insert(kind, v))
}

fn gateway(s: &mut State, gw: &Value) -> Result<Value, Response> {
    let Some(net) = gw["network_id"].as_str() else {
        return Err(bad(
            "Invalid input for external_gateway_info: network_id is required.",
        ));
    };
    let Some(network) = s.get("networks", net).cloned() else {
        return Err(error(
            404,
            "NetworkNotFound",
            &format!("Network {net} could not be found."),
        ));
    };
    if network["router:external"] != true {
        return Err(bad(&format!(
            "Bad router request: Network {net} is not an external network."
        )));
    }
    let ips: Vec<Value> = match network["subnets"][0]
        .as_str()
        .and_then(|x| s.get("subnets", x).cloned())
    {
        Some(sub) => vec![json!({"subnet_id": sub["id"], "ip_address": s.alloc_ip(&sub)})],
        None => vec![],
    };
    Ok(
        json!({"network_id": net, "enable_snat": gw.get("enable_snat").cloned().unwrap_or(json!(true)),
              "external_fixed_ips": ips}),
    )
}

fn associate(s: &State, fip: &mut Value, port: &str) -> Result<(), Response> {
    let Some(p) = s.get("ports", port) else {
        return Err(error(
            404,
            "PortNotFound",
            &format!("Port {port} could not be found."),
        ));
    };
    let Some(ip) = p["fixed_ips"][0]["ip_address"].as_str() else {
        return Err(bad(&format!(
            "Bad floatingip request: Port {port} does not have any IPv4 address."
        )));
    };
    let subnet = p["fixed_ips"][0]["subnet_id"].clone();
    let router = s
        .list("ports")
        .iter()
        .find(|x| {
            x["device_owner"] == "network:router_interface"
                && x["fixed_ips"][0]["subnet_id"] == subnet
        })
        .map(|x| x["device_id"].clone())
        .unwrap_or(Value::Null);
    fip["port_id"] = json!(port);
    fip["fixed_ip_address"] = json!(ip);
    fip["router_id"] = router;
    fip["status"] = json!("ACTIVE");
    Ok(())
}

fn rule_doc(o: &Map<String, Value>) -> Value {
    let mut r = base_fields(o);
    r.as_object_mut().unwrap().remove("name");
    for k in [
        "security_group_id",
        "direction",
        "ethertype",
        "protocol",
        "port_range_min",
        "port_range_max",
        "remote_ip_prefix",
        "remote_group_id",
    ] {
        r[k] = o.get(k).cloned().unwrap_or(Value::Null);
    }
    if r["ethertype"].is_null() {
        r["ethertype"] = json!("IPv4");
    }
    r["remote_address_group_id"] = Value::Null;
    r["normalized_cidr"] = r["remote_ip_prefix"].clone();
    r["belongs_to_default_sg"] = json!(false);
    r
}

const PROTOCOLS: &[&str] = &[
    "ah",
    "dccp",
    "egp",
    "esp",
    "gre",
    "icmp",
    "icmpv6",
    "igmp",
    "ipip",
    "ipv6-encap",
    "ipv6-frag",
    "ipv6-icmp",
    "ipv6-nonxt",
    "ipv6-opts",
    "ipv6-route",
    "ospf",
    "pgm",
    "rsvp",
    "sctp",
    "tcp",
    "udp",
    "udplite",
    "vrrp",
    "any",
];

fn validate_rule(s: &State, o: &Map<String, Value>) -> Result<Value, Response> {
    let sg = str_field(o, "security_group_id").ok_or_else(|| {
        bad("Failed to parse request. Required attribute 'security_group_id' not specified")
    })?;
    if s.get("security_groups", &sg).is_none() {
        return Err(error(
            404,
            "SecurityGroupNotFound",
            &format!("Security group {sg} does not exist"),
        ));
    }
    match o.get("direction").and_then(Value::as_str) {
        Some("ingress" | "egress") => {}
        other => {
            return Err(bad(&format!(
                "Invalid input for direction. Reason: {} is not in valid_values.",
                other
                    .map(|x| format!("'{x}'"))
                    .unwrap_or_else(|| "None".into())
            )));
        }
    }
    match o.get("ethertype") {
        None | Some(Value::Null) => {}
        Some(Value::String(e)) if e == "IPv4" || e == "IPv6" => {}
        Some(e) => {
            return Err(bad(&format!(
                "Invalid input for ethertype. Reason: {e} is not in valid_values."
            )));
        }
    }
    let proto = match o.get("protocol") {
        None | Some(Value::Null) => None,
        Some(Value::String(p)) => {
            let p = p.to_lowercase();
            let ok = PROTOCOLS.contains(&p.as_str()) || p.parse::<u8>().is_ok();
            if !ok {
                return Err(bad(&format!(
                    "Security group rule protocol {p} not supported. Only protocol values {PROTOCOLS:?} and integer representations [0 to 255] are supported."
                )));
            }
            Some(p)
        }
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(_) => return Err(bad("Invalid input for protocol.")),
    };
    let port = |k: &str| -> Result<Option<u64>, Response> {
        match o.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) if n.as_u64().is_some_and(|x| x <= 65535) => Ok(n.as_u64()),
            Some(Value::String(x)) if x.parse::<u16>().is_ok() => Ok(x.parse().ok()),
            Some(x) => Err(bad(&format!("Invalid value for port {x}."))),
        }
    };
    let (pmin, pmax) = (port("port_range_min")?, port("port_range_max")?);
    if (pmin.is_some() || pmax.is_some()) && proto.is_none() {
        return Err(bad("Must also specify protocol if port range is given."));
    }
    if matches!(
        proto.as_deref(),
        Some("tcp" | "udp" | "6" | "17" | "sctp" | "dccp" | "udplite")
    ) && let (Some(a), Some(b)) = (pmin, pmax)
        && a > b
    {
        return Err(bad(
            "For TCP/UDP protocols, port_range_min must be <= port_range_max",
        ));
    }
    let rip = str_field(o, "remote_ip_prefix");
    let rg = str_field(o, "remote_group_id");
    if rip.is_some() && rg.is_some() {
        return Err(bad(
            "Only remote_ip_prefix or remote_group_id may be provided.",
        ));
    }
    if let Some(g) = &rg
        && s.get("security_groups", g).is_none()
    {
        return Err(error(
            404,
            "SecurityGroupNotFound",
            &format!("Security group {g} does not exist"),
        ));
    }
    let mut norm = o.clone();
    norm.insert(
        "protocol".into(),
        proto.map(Value::String).unwrap_or(Value::Null),
    );
    norm.insert(
        "port_range_min".into(),
        pmin.map(|x| json!(x)).unwrap_or(Value::Null),
    );
    norm.insert(
        "port_range_max".into(),
        pmax.map(|x| json!(x)).unwrap_or(Value::Null),
    );
    let rule = rule_doc(&norm);
    let key = |r: &Value| {
        [
            "security_group_id",
            "direction",
            "ethertype",
            "protocol",
            "port_range_min",
            "port_range_max",
            "remote_ip_prefix",
            "remote_group_id",
        ]
        .map(|k| r[k].clone())
    };
    if let Some(dup) = s
        .list("security_group_rules")
        .iter()
        .find(|x| key(x) == key(&rule))
    {
        return Err(error(
            409,
            "SecurityGroupRuleExists",
            &format!(
                "Security group rule already exists. Rule id is {}.",
                dup["id"].as_str().unwrap_or_default()
            ),
        ));
    }
    Ok(rule)
}

fn update(s: &mut State, kind: &str, id: &str, o: Map<String, Value>) -> Result<Value, Response> {
    const RO: &[&str] = &[
        "id",
        "tenant_id",
        "project_id",
        "created_at",
        "updated_at",
        "revision_number",
        "status",
        "network_id",
        "security_group_id",
        "subnets",
        "security_group_rules",
        "floating_ip_address",
        "floating_network_id",
        "fixed_ip_address",
        "router_id",
        "mac_address",
    ];
    if let Some(k) = o.keys().find(|k| RO.contains(&k.as_str())) {
        return Err(bad(&format!("Cannot update read-only attribute {k}")));
    }
    let mut v = s.get(kind, id).cloned().unwrap_or_default();
    if kind == "floatingips" && o.contains_key("port_id") {
        match o.get("port_id").and_then(Value::as_str) {
            Some(p) => associate(s, &mut v, p)?,
            None => {
                for k in ["port_id", "fixed_ip_address", "router_id"] {
                    v[k] = Value::Null;
                }
                v["status"] = json!("DOWN");
            }
        }
    }
    if kind == "routers"
        && let Some(gw) = o.get("external_gateway_info")
    {
        v["external_gateway_info"] = if gw.is_null() || gw.as_object().is_some_and(|g| g.is_empty())
        {
            Value::Null
        } else {
            gateway(s, gw)?
        };
    }
    for (k, x) in o {
        if k != "port_id" && k != "external_gateway_info" {
            v[k] = x;
        }
    }
    bump(&mut v);
    if let Some(slot) = s.get_mut(kind, id) {
        *slot = v.clone();
    }
    Ok(v)
}

const AUTO_DELETE_OWNERS: &[&str] = &[
    "network:dhcp",
    "network:distributed",
    "network:floatingip_agent_gateway",
];

fn check_delete(s: &State, kind: &str, id: &str) -> Result<(), Response> {
    let blocking_port =
        |p: &Value| !AUTO_DELETE_OWNERS.contains(&p["device_owner"].as_str().unwrap_or_default());
    let ports = s.list("ports");
    let conflict: Option<(&str, String)> = match kind {
        "networks" => ports.iter().any(|p| p["network_id"] == id && blocking_port(p)).then(|| (
            "NetworkInUse",
            format!("Unable to complete operation on network {id}. There are one or more ports still in use on the network."),
        )),
        "subnets" => ports
            .iter()
            .any(|p| blocking_port(p) && p["fixed_ips"].as_array().into_iter().flatten().any(|ip| ip["subnet_id"] == id))
            .then(|| (
                "SubnetInUse",
                format!("Unable to complete operation on subnet {id}: One or more ports have an IP allocation from this subnet."),
            )),
        "routers" => ports
            .iter()
            .any(|p| p["device_id"] == id && p["device_owner"] == "network:router_interface")
            .then(|| ("RouterInUse", format!("Router {id} still has ports"))),
        "ports" => {
            let owner = s.get("ports", id).and_then(|p| p["device_owner"].as_str()).unwrap_or_default();
            owner.starts_with("network:router_").then(|| (
                "L3PortInUse",
                format!("Port {id} cannot be deleted directly via the port API: has device owner {owner}."),
            ))
        }
        "security_groups" => ports
            .iter()
            .any(|p| p["security_groups"].as_array().into_iter().flatten().any(|g| g == id))
            .then(|| ("SecurityGroupInUse", format!("Security Group {id} in use."))),
        _ => None,
    };
    match conflict {
        Some((kind, msg)) => Err(error(409, kind, &msg)),
        None => Ok(()),
    }
}

fn add_interface(s: &mut State, router: &str, body: &Value) -> Response {
    let port = if let Some(sub) = body["subnet_id"].as_str() {
        let Some(subnet) = s.get("subnets", sub).cloned() else {
            return error(
                404,
                "SubnetNotFound",
                &format!("Subnet {sub} could not be found."),
            );
        };
        let dup = s.list("ports").iter().any(|p| {
            p["device_id"] == router
                && p["fixed_ips"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|ip| ip["subnet_id"] == sub)
        });
        if dup {
            return bad(&format!(
                "Bad router request: Router already has a port on subnet {sub}."
            ));
        }
        let mut o = Map::new();
        o.insert("network_id".into(), subnet["network_id"].clone());
        o.insert(
            "fixed_ips".into(),
            json!([{"subnet_id": sub, "ip_address": subnet["gateway_ip"]}]),
        );
        o.insert("device_id".into(), json!(router));
        o.insert("device_owner".into(), json!("network:router_interface"));
        match create(s, "ports", o) {
            Ok(p) => p,
            Err(e) => return e,
        }
    } else if let Some(pid) = body["port_id"].as_str() {
        let Some(p) = s.get("ports", pid).cloned() else {
            return error(
                404,
                "PortNotFound",
                &format!("Port {pid} could not be found."),
            );
        };
        if p["device_id"].as_str().is_some_and(|d| !d.is_empty()) {
            return error(
                409,
                "PortInUse",
                &format!(
                    "Unable to complete operation on port {pid} for network {}. Port already has an attached device {}.",
                    p["network_id"].as_str().unwrap_or_default(),
                    p["device_id"].as_str().unwrap_or_default()
                ),
            );
        }
        s.set(
            "ports",
            pid,
            &[
                ("device_id", json!(router)),
                ("device_owner", json!("network:router_interface")),
                ("status", json!("ACTIVE")),
            ],
        );
        s.get("ports", pid).cloned().unwrap()
    } else {
        return bad("Bad router request: Either subnet_id or port_id must be specified.");
    };
    if let Some(rt) = s.get_mut("routers", router) {
        bump(rt);
    }
    interface_doc(router, &port)
}

fn interface_doc(router: &str, port: &Value) -> Response {
    let sub = port["fixed_ips"][0]["subnet_id"].clone();
    json_resp(
        200,
        &json!({"id": router, "tenant_id": PROJECT_ID, "project_id": PROJECT_ID,
        "port_id": port["id"], "network_id": port["network_id"], "subnet_id": sub, "subnet_ids": [sub], "tags": []}),
    )
}

fn remove_interface(s: &mut State, router: &str, body: &Value) -> Response {
    let port = if let Some(sub) = body["subnet_id"].as_str() {
        if s.get("subnets", sub).is_none() {
            return error(
                404,
                "SubnetNotFound",
                &format!("Subnet {sub} could not be found."),
            );
        }
        let found = s.list("ports").iter().find(|p| {
            p["device_id"] == router
                && p["device_owner"] == "network:router_interface"
                && p["fixed_ips"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|ip| ip["subnet_id"] == sub)
        });
        match found {
            Some(p) => p.clone(),
            None => {
                return error(
                    404,
                    "RouterInterfaceNotFoundForSubnet",
                    &format!("Router {router} has no interface on subnet {sub}"),
                );
            }
        }
    } else if let Some(pid) = body["port_id"].as_str() {
        match s.get("ports", pid) {
            Some(p) if p["device_id"] == router => p.clone(),
            _ => {
                return error(
                    404,
                    "RouterInterfaceNotFound",
                    &format!("Router {router} does not have an interface with id {pid}"),
                );
            }
        }
    } else {
        return bad("Bad router request: Either subnet_id or port_id must be specified.");
    };
    s.remove("ports", port["id"].as_str().unwrap_or_default());
    if let Some(rt) = s.get_mut("routers", router) {
        bump(rt);
    }
    interface_doc(router, &port)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn duplicate_rule_is_a_conflict_and_default_egress_rules_exist() {
        let mut s = State::default();
        let sg = create(&mut s, "security_groups", obj(json!({"name": "g"}))).unwrap();
        assert_eq!(sg["security_group_rules"].as_array().unwrap().len(), 2);
        let rule = json!({"security_group_id": sg["id"], "direction": "ingress", "protocol": "udp",
                          "port_range_min": 8472, "port_range_max": 8472, "remote_group_id": sg["id"]});
        create(&mut s, "security_group_rules", obj(rule.clone())).unwrap();
        let err = create(&mut s, "security_group_rules", obj(rule)).unwrap_err();
        assert_eq!(err.status(), 409);
        let bad_range = json!({"security_group_id": sg["id"], "direction": "ingress", "protocol": "tcp",
                               "port_range_min": 10, "port_range_max": 5});
        assert_eq!(
            create(&mut s, "security_group_rules", obj(bad_range))
                .unwrap_err()
                .status(),
            400
        );
        let no_proto =
            json!({"security_group_id": sg["id"], "direction": "ingress", "port_range_min": 10});
        assert_eq!(
            create(&mut s, "security_group_rules", obj(no_proto))
                .unwrap_err()
                .status(),
            400
        );
    }

    #[test]
    fn deletion_order_is_enforced() {
        let mut s = State::default();
        let net = create(&mut s, "networks", obj(json!({"name": "n"}))).unwrap();
        let sub = create(
            &mut s,
            "subnets",
            obj(json!({"network_id": net["id"], "cidr": "10.1.0.0/24"})),
        )
        .unwrap();
        let rt = create(&mut s, "routers", obj(json!({"name": "r"}))).unwrap();
        let rid = rt["id"].as_str().unwrap();
        assert_eq!(
            add_interface(&mut s, rid, &json!({"subnet_id": sub["id"]})).status(),
            200
        );
        assert_eq!(check_delete(&s, "routers", rid).unwrap_err().status(), 409);
        assert_eq!(
            check_delete(&s, "networks", net["id"].as_str().unwrap())
                .unwrap_err()
                .status(),
            409
        );
        let iface = s.list("ports")[0].clone();
        assert_eq!(iface["fixed_ips"][0]["ip_address"], "10.1.0.1");
        assert_eq!(
            check_delete(&s, "ports", iface["id"].as_str().unwrap())
                .unwrap_err()
                .status(),
            409
        );
        assert_eq!(
            remove_interface(&mut s, rid, &json!({"subnet_id": sub["id"]})).status(),
            200
        );
        assert!(check_delete(&s, "routers", rid).is_ok());
        assert!(check_delete(&s, "networks", net["id"].as_str().unwrap()).is_ok());
        s.remove("networks", net["id"].as_str().unwrap());
        assert!(s.list("subnets").is_empty());
    }

    #[test]
    fn filters_and_floating_ips() {
        let mut s = State::default();
        let ext = create(
            &mut s,
            "networks",
            obj(json!({"name": "public", "router:external": true})),
        )
        .unwrap();
        create(
            &mut s,
            "subnets",
            obj(json!({"network_id": ext["id"], "cidr": "172.24.4.0/24"})),
        )
        .unwrap();
        let q = vec![("router:external".to_string(), "True".to_string())];
        assert!(matches(&ext, &q));
        let inner = create(&mut s, "networks", obj(json!({"name": "inner"}))).unwrap();
        assert!(!matches(&inner, &q));
        let err = create(
            &mut s,
            "floatingips",
            obj(json!({"floating_network_id": inner["id"]})),
        )
        .unwrap_err();
        assert_eq!(err.status(), 400);
        let fip = create(
            &mut s,
            "floatingips",
            obj(json!({"floating_network_id": ext["id"], "description": "d"})),
        )
        .unwrap();
        assert_eq!(fip["status"], "DOWN");
        assert_eq!(fip["floating_ip_address"], "172.24.4.10");
    }
}
