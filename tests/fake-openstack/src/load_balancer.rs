//! Octavia (load-balancer API v2) under `/load-balancer`.
//!
//! Fakes: version discovery (`GET /load-balancer/`); both `/v2` and `/v2.0` prefixes;
//! providers (`/lbaas/providers`: amphora (+ alias octavia) and optionally ovn, see
//! [`crate::FakeCloud::set_lb_providers`]); load balancers: create (`vip_subnet_id` or
//! `vip_network_id`; a VIP port `octavia-lb-<id>` is created in Neutron;
//! `PENDING_CREATE` -> `ACTIVE` after [`crate::Timings::lb_create`]), list (filter by any
//! top-level field: `name`, `vip_port_id`, `vip_address`, `provisioning_status`...;
//! `limit` + `marker` + `loadbalancers_links`), show, delete (`cascade=true` removes
//! listeners; without it a load balancer with listeners is refused; `PENDING_DELETE` then
//! gone, with its VIP port, after [`crate::Timings::lb_delete`]; any `PENDING_*` load
//! balancer is immutable: 409); listeners: create (LB must be `ACTIVE`, LB goes
//! `PENDING_UPDATE` then `ACTIVE`), list (filters as above, plus `load_balancer_id` /
//! `loadbalancer_id`), show, delete; `allowed_cidrs`
//! stored and shown. Errors are Octavia's `{"faultcode", "faultstring", "debuginfo"}`.
//!
//! Does not fake: pools, members, health monitors, L7 policies, amphorae, flavors, quotas,
//! the status tree, updates.

use crate::state::{self, Action, PROJECT_ID, field_matches, paginate, q1};
use crate::{Inner, Req, json_resp};
use axum::http::Method;
use axum::response::Response;
use serde_json::{Map, Value, json};

/// `{"faultcode": "Client"|"Server", "faultstring": ..., "debuginfo": null}`
pub fn error(status: u16, message: &str) -> Response {
    let code = if status >= 500 { "Server" } else { "Client" };
    json_resp(
        status,
        &json!({"faultcode": code, "faultstring": message, "debuginfo": null}),
    )
}

fn lb_not_found(id: &str) -> Response {
    error(404, &format!("Load Balancer {id} not found."))
}

pub(crate) async fn handle(inner: &Inner, r: Req) -> Response {
    if r.segs.is_empty() && r.method == Method::GET {
        return json_resp(
            200,
            &json!({"versions": [
                {"id": "v2.0", "status": "SUPPORTED", "updated": "2016-12-11T00:00:00Z",
                 "links": [{"href": format!("{}/v2", r.base), "rel": "self"}]},
                {"id": "v2.27", "status": "CURRENT", "updated": "2023-05-05T00:00:00Z",
                 "links": [{"href": format!("{}/v2", r.base), "rel": "self"}]}]}),
        );
    }
    if r.seg(0) != "v2" && r.seg(0) != "v2.0" {
        return error(404, "The resource could not be found.");
    }
    let segs: Vec<String> = r.segs[1..].to_vec();
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    match (r.method.clone(), segs.as_slice()) {
        (Method::GET, []) => json_resp(
            200,
            &json!({"version": {"id": "v2.27", "status": "CURRENT", "updated": "2023-05-05T00:00:00Z",
                "links": [{"href": format!("{}/v2", r.base), "rel": "self"}]}}),
        ),
        (Method::GET, ["lbaas", "providers"]) => {
            let s = inner.state.lock().unwrap();
            let p: Vec<Value> = s
                .lb_providers
                .iter()
                .map(|(n, d)| json!({"name": n, "description": d}))
                .collect();
            json_resp(200, &json!({"providers": p}))
        }
        (Method::GET, ["lbaas", c @ ("loadbalancers" | "listeners")]) => list(inner, &r, c),
        (Method::POST, ["lbaas", "loadbalancers"]) => {
            let body = match r.json().await {
                Ok(b) => b,
                Err(e) => return error(400, &e),
            };
            let Some(o) = body.get("loadbalancer").and_then(Value::as_object) else {
                return error(
                    400,
                    "Invalid input for field/attribute loadbalancer. Value: 'None'. Mandatory field missing.",
                );
            };
            create_lb(inner, o)
        }
        (Method::POST, ["lbaas", "listeners"]) => {
            let body = match r.json().await {
                Ok(b) => b,
                Err(e) => return error(400, &e),
            };
            let Some(o) = body.get("listener").and_then(Value::as_object) else {
                return error(
                    400,
                    "Invalid input for field/attribute listener. Value: 'None'. Mandatory field missing.",
                );
            };
            create_listener(inner, o)
        }
        (Method::GET, ["lbaas", "loadbalancers", id]) => {
            let s = inner.state.lock().unwrap();
            match s.get("loadbalancers", id) {
                Some(v) => json_resp(200, &json!({"loadbalancer": v})),
                None => lb_not_found(id),
            }
        }
        (Method::GET, ["lbaas", "listeners", id]) => {
            let s = inner.state.lock().unwrap();
            match s.get("listeners", id) {
                Some(v) => json_resp(200, &json!({"listener": v})),
                None => error(404, &format!("Listener {id} not found.")),
            }
        }
        (Method::DELETE, ["lbaas", "loadbalancers", id]) => {
            let cascade = q1(&r.query, "cascade")
                .is_some_and(|c| matches!(c.to_lowercase().as_str(), "true" | "1" | "yes"));
            delete_lb(inner, id, cascade)
        }
        (Method::DELETE, ["lbaas", "listeners", id]) => {
            let mut s = inner.state.lock().unwrap();
            let Some(l) = s.get("listeners", id).cloned() else {
                return error(404, &format!("Listener {id} not found."));
            };
            let lb = l["loadbalancers"][0]["id"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            if let Some(st) = s
                .get("loadbalancers", &lb)
                .map(|v| v["provisioning_status"].clone())
                && st != "ACTIVE"
                && st != "ERROR"
            {
                return error(
                    409,
                    &format!(
                        "Invalid state {} of loadbalancer resource {lb}",
                        st.as_str().unwrap_or_default()
                    ),
                );
            }
            s.remove("listeners", id);
            let listeners: Vec<Value> = s
                .list("listeners")
                .iter()
                .filter(|x| x["loadbalancers"][0]["id"] == lb.as_str())
                .map(|x| json!({"id": x["id"]}))
                .collect();
            s.set("loadbalancers", &lb, &[("listeners", json!(listeners))]);
            pending_update(&mut s, &lb);
            crate::empty(204)
        }
        _ => error(404, "The resource could not be found."),
    }
}

fn pending_update(s: &mut state::State, lb: &str) {
    s.set(
        "loadbalancers",
        lb,
        &[("provisioning_status", json!("PENDING_UPDATE"))],
    );
    let d = s.timings.lb_update;
    s.schedule(
        "loadbalancers",
        lb,
        d,
        Action::Set(vec![("provisioning_status".into(), json!("ACTIVE"))]),
    );
}

fn list(inner: &Inner, r: &Req, c: &str) -> Response {
    let s = inner.state.lock().unwrap();
    const SPECIAL: &[&str] = &["limit", "marker", "page_reverse", "sort", "fields"];
    let items: Vec<Value> = s
        .list(c)
        .iter()
        .filter(|v| {
            r.query
                .iter()
                .filter(|(k, _)| !SPECIAL.contains(&k.as_str()))
                .all(|(k, want)| {
                    let f = if k == "loadbalancer_id" || k == "load_balancer_id" {
                        &v["loadbalancers"][0]["id"]
                    } else {
                        v.get(k).unwrap_or(&Value::Null)
                    };
                    field_matches(f, want)
                })
        })
        .cloned()
        .collect();
    let limit = q1(&r.query, "limit")
        .and_then(|l| l.parse::<usize>().ok())
        .filter(|l| *l > 0);
    let marker = q1(&r.query, "marker");
    let Some((page, more)) = paginate(items, limit, marker) else {
        return error(
            404,
            &format!("{c} {} could not be found.", marker.unwrap_or_default()),
        );
    };
    let mut links = Vec::new();
    if more && let Some(last) = page.last() {
        links.push(
            json!({"rel": "next", "href": format!("{}/v2/lbaas/{c}?{}", r.base,
            state::next_query(&r.query, last["id"].as_str().unwrap_or_default()))}),
        );
    }
    json_resp(200, &json!({ c: page, format!("{c}_links"): links }))
}

fn create_lb(inner: &Inner, o: &Map<String, Value>) -> Response {
    let mut s = inner.state.lock().unwrap();
    let provider = o
        .get("provider")
        .and_then(Value::as_str)
        .unwrap_or("amphora")
        .to_string();
    if !s.lb_providers.iter().any(|(n, _)| *n == provider) {
        return error(400, &format!("Provider '{provider}' is not enabled."));
    }
    let subnet = if let Some(sub) = o.get("vip_subnet_id").and_then(Value::as_str) {
        match s.get("subnets", sub) {
            Some(x) => x.clone(),
            None => return error(400, &format!("Validation failure: Subnet {sub} not found.")),
        }
    } else if let Some(net) = o.get("vip_network_id").and_then(Value::as_str) {
        match s
            .get("networks", net)
            .and_then(|n| n["subnets"][0].as_str())
            .and_then(|x| s.get("subnets", x))
        {
            Some(x) => x.clone(),
            None => {
                return error(
                    400,
                    &format!("Validation failure: Network {net} not found or has no subnet."),
                );
            }
        }
    } else {
        return error(
            400,
            "Validation failure: VIP must contain one of: vip_port_id, vip_network_id, vip_subnet_id.",
        );
    };
    let id = state::new_id();
    let mut port = Map::new();
    port.insert("name".into(), json!(format!("octavia-lb-{id}")));
    port.insert("network_id".into(), subnet["network_id"].clone());
    port.insert("fixed_ips".into(), json!([{"subnet_id": subnet["id"]}]));
    port.insert("device_id".into(), json!(format!("lb-{id}")));
    port.insert("device_owner".into(), json!("Octavia"));
    let port = match crate::network::create(&mut s, "ports", port) {
        Ok(p) => p,
        Err(e) => return e,
    };
    let now = state::now_iso();
    let lb = json!({
        "id": id, "name": o.get("name").cloned().unwrap_or(json!("")),
        "description": o.get("description").cloned().unwrap_or(json!("")),
        "provisioning_status": "PENDING_CREATE", "operating_status": "OFFLINE", "admin_state_up": true,
        "project_id": PROJECT_ID, "tenant_id": PROJECT_ID, "provider": provider,
        "vip_address": port["fixed_ips"][0]["ip_address"], "vip_port_id": port["id"],
        "vip_subnet_id": subnet["id"], "vip_network_id": subnet["network_id"], "vip_qos_policy_id": null,
        "vip_vnic_type": "normal", "additional_vips": [], "listeners": [], "pools": [], "flavor_id": null,
        "availability_zone": o.get("availability_zone").cloned().unwrap_or(Value::Null),
        "tags": o.get("tags").cloned().unwrap_or(json!([])), "created_at": now, "updated_at": null,
    });
    s.insert("loadbalancers", lb.clone());
    let d = s.timings.lb_create;
    s.schedule(
        "loadbalancers",
        &id,
        d,
        Action::Set(vec![
            ("provisioning_status".into(), json!("ACTIVE")),
            ("operating_status".into(), json!("ONLINE")),
        ]),
    );
    json_resp(201, &json!({"loadbalancer": lb}))
}

fn create_listener(inner: &Inner, o: &Map<String, Value>) -> Response {
    let mut s = inner.state.lock().unwrap();
    let Some(lb_id) = o
        .get("loadbalancer_id")
        .and_then(Value::as_str)
        .map(String::from)
    else {
        return error(400, "Validation failure: loadbalancer_id is required.");
    };
    let Some(lb) = s.get("loadbalancers", &lb_id).cloned() else {
        return error(404, &format!("Load Balancer {lb_id} not found."));
    };
    if lb["provisioning_status"] != "ACTIVE" {
        return error(
            409,
            &format!("Load Balancer {lb_id} is immutable and cannot be updated."),
        );
    }
    let protocol = o
        .get("protocol")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    if ![
        "HTTP",
        "HTTPS",
        "TCP",
        "UDP",
        "TERMINATED_HTTPS",
        "SCTP",
        "PROMETHEUS",
    ]
    .contains(&protocol.as_str())
    {
        return error(
            400,
            &format!("Invalid input for field/attribute protocol. Value: '{protocol}'."),
        );
    }
    let Some(port) = o
        .get("protocol_port")
        .and_then(Value::as_u64)
        .filter(|p| (1..=65535).contains(p))
    else {
        return error(400, "Invalid input for field/attribute protocol_port.");
    };
    if s.list("listeners").iter().any(|l| {
        l["loadbalancers"][0]["id"] == lb_id.as_str()
            && l["protocol_port"] == port
            && l["protocol"] == protocol.as_str()
    }) {
        return error(
            409,
            &format!(
                "Another Listener on this Load Balancer is already using protocol_port {port}"
            ),
        );
    }
    let id = state::new_id();
    let now = state::now_iso();
    let l = json!({
        "id": id, "name": o.get("name").cloned().unwrap_or(json!("")),
        "description": o.get("description").cloned().unwrap_or(json!("")),
        "provisioning_status": "ACTIVE", "operating_status": "ONLINE", "admin_state_up": true,
        "protocol": protocol, "protocol_port": port, "connection_limit": -1, "default_pool_id": null,
        "loadbalancers": [{"id": lb_id}], "l7policies": [], "project_id": PROJECT_ID, "tenant_id": PROJECT_ID,
        "allowed_cidrs": o.get("allowed_cidrs").cloned().unwrap_or(Value::Null),
        "default_tls_container_ref": null, "sni_container_refs": [], "insert_headers": {},
        "timeout_client_data": 50000, "timeout_member_connect": 5000, "timeout_member_data": 50000,
        "timeout_tcp_inspect": 0, "tags": o.get("tags").cloned().unwrap_or(json!([])),
        "tls_ciphers": null, "tls_versions": null, "alpn_protocols": null, "created_at": now, "updated_at": null,
    });
    s.insert("listeners", l.clone());
    let mut listeners = lb["listeners"].as_array().cloned().unwrap_or_default();
    listeners.push(json!({"id": id}));
    s.set("loadbalancers", &lb_id, &[("listeners", json!(listeners))]);
    pending_update(&mut s, &lb_id);
    json_resp(201, &json!({"listener": l}))
}

fn delete_lb(inner: &Inner, id: &str, cascade: bool) -> Response {
    let mut s = inner.state.lock().unwrap();
    let Some(lb) = s.get("loadbalancers", id).cloned() else {
        return lb_not_found(id);
    };
    let st = lb["provisioning_status"].as_str().unwrap_or_default();
    if st.starts_with("PENDING_") {
        return error(
            409,
            &format!("Invalid state {st} of loadbalancer resource {id}"),
        );
    }
    let has_children = lb["listeners"].as_array().is_some_and(|l| !l.is_empty())
        || lb["pools"].as_array().is_some_and(|p| !p.is_empty());
    if has_children && !cascade {
        return error(
            400,
            &format!("Cannot delete Load Balancer {id} - it has children"),
        );
    }
    s.set(
        "loadbalancers",
        id,
        &[("provisioning_status", json!("PENDING_DELETE"))],
    );
    for l in s.ids_where("listeners", |l| l["loadbalancers"][0]["id"] == id) {
        s.set(
            "listeners",
            &l,
            &[("provisioning_status", json!("PENDING_DELETE"))],
        );
    }
    let d = s.timings.lb_delete;
    s.schedule("loadbalancers", id, d, Action::Remove);
    crate::empty(204)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn lb_lifecycle() {
        let cloud = crate::FakeCloud::new();
        cloud.set_timings(crate::Timings {
            lb_create: Duration::from_millis(20),
            lb_update: Duration::from_millis(20),
            lb_delete: Duration::from_millis(20),
            ..Default::default()
        });
        let net = cloud.seed().network("n", "10.2.0.0/24");
        let sub = cloud.snapshot()["subnets"][0]["id"]
            .as_str()
            .unwrap()
            .to_string();
        let _ = net;
        let o = json!({"name": "lb", "vip_subnet_id": sub});
        let r = create_lb(&cloud.inner, o.as_object().unwrap());
        assert_eq!(r.status(), 201);
        let lb = cloud.snapshot()["loadbalancers"][0].clone();
        let id = lb["id"].as_str().unwrap().to_string();
        assert_eq!(lb["provisioning_status"], "PENDING_CREATE");
        let l = json!({"loadbalancer_id": id, "protocol": "TCP", "protocol_port": 6443, "allowed_cidrs": ["10.0.0.0/8"]});
        assert_eq!(
            create_listener(&cloud.inner, l.as_object().unwrap()).status(),
            409,
            "immutable while pending"
        );
        assert_eq!(delete_lb(&cloud.inner, &id, true).status(), 409);
        std::thread::sleep(Duration::from_millis(30));
        assert_eq!(
            cloud.snapshot()["loadbalancers"][0]["provisioning_status"],
            "ACTIVE"
        );
        assert_eq!(
            create_listener(&cloud.inner, l.as_object().unwrap()).status(),
            201
        );
        std::thread::sleep(Duration::from_millis(30));
        cloud.snapshot();
        assert_eq!(
            delete_lb(&cloud.inner, &id, false).status(),
            400,
            "children without cascade"
        );
        assert_eq!(delete_lb(&cloud.inner, &id, true).status(), 204);
        assert_eq!(
            cloud.snapshot()["loadbalancers"][0]["provisioning_status"],
            "PENDING_DELETE"
        );
        std::thread::sleep(Duration::from_millis(30));
        let snap = cloud.snapshot();
        assert!(snap["loadbalancers"].as_array().unwrap().is_empty());
        assert!(snap["listeners"].as_array().unwrap().is_empty());
        assert!(
            snap["ports"].as_array().unwrap().is_empty(),
            "VIP port deleted"
        );
    }
}
