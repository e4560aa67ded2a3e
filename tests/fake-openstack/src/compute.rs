//! Nova (compute API v2.1) under `/compute`.
//!
//! Fakes: version discovery (`GET /compute/`, `GET /compute/v2.1`, min 2.1, max 2.96);
//! microversion negotiation from `OpenStack-API-Version: compute X` or
//! `X-OpenStack-Nova-API-Version` (`latest` = max; out of range -> 406, malformed -> 400),
//! echoed on every response with `Vary`; flavors (`/flavors`, `/flavors/detail`,
//! `/flavors/{id}`, `/flavors/{id}/os-extra_specs`, `limit`/`marker` + `flavors_links`);
//! server groups (create/list/show/delete; >= 2.64 `policy` + `rules`, 2.15-2.63 a
//! one-element `policies` list that may be soft-*, < 2.15 soft-* rejected with 400, body
//! shape per microversion; list `limit`/`offset`); servers (`/servers`, `/servers/detail`
//! with `name` as a regular expression searched in the name, `status`, `limit`/`marker` +
//! `servers_links`; show; delete -> `task_state: deleting`, gone with its ports (preserved
//! ones are unbound instead) and volume attachments after
//! [`crate::Timings::server_delete`]; `addresses` built from the server's ports and their
//! floating IPs); availability zones (`/os-availability-zone[/detail]`); keypairs
//! (`/os-keypairs` list/show/create with a given public key/delete, names unique per user,
//! 404 worded as Nova's `Keypair NAME not found for user ID`; 200/202 below 2.2, 201/204
//! from 2.2 as Nova answers).
//!
//! Does not fake: server create/actions, keypair generation, quotas, volumes, flavor
//! create, hosts.

use crate::state::{self, PROJECT_ID, USER_ID, paginate, q1};
use crate::{Inner, Req, json_resp};
use axum::http::{HeaderMap, HeaderValue, Method};
use axum::response::Response;
use serde_json::{Value, json};

pub const MIN_VERSION: (u32, u32) = (2, 1);
pub const MAX_VERSION: (u32, u32) = (2, 96);

/// Nova's error document: `{"<kind>": {"code": N, "message": "..."}}`.
pub fn error(status: u16, message: &str) -> Response {
    let name = match status {
        400 => "badRequest",
        401 => "unauthorized",
        403 => "forbidden",
        404 => "itemNotFound",
        405 => "badMethod",
        409 => "conflictingRequest",
        413 | 429 => "overLimit",
        415 => "badMediaType",
        501 => "notImplemented",
        503 => "serviceUnavailable",
        _ => "computeFault",
    };
    json_resp(
        status,
        &json!({ name: {"code": status, "message": message} }),
    )
}

fn vstr(v: (u32, u32)) -> String {
    format!("{}.{}", v.0, v.1)
}

/// The requested microversion (2.1 when none is asked for).
pub fn negotiate(h: &HeaderMap) -> Result<(u32, u32), Response> {
    let get = |k: &str| h.get(k).and_then(|v| v.to_str().ok()).map(str::to_string);
    let asked = get("openstack-api-version")
        .and_then(|v| {
            v.split(',').find_map(|part| {
                let mut it = part.split_whitespace();
                match (it.next(), it.next()) {
                    (Some(svc), Some(ver)) if svc.eq_ignore_ascii_case("compute") => {
                        Some(ver.to_string())
                    }
                    _ => None,
                }
            })
        })
        .or_else(|| get("x-openstack-nova-api-version"));
    let Some(asked) = asked else {
        return Ok(MIN_VERSION);
    };
    if asked.eq_ignore_ascii_case("latest") {
        return Ok(MAX_VERSION);
    }
    let parsed = asked
        .split_once('.')
        .and_then(|(a, b)| Some((a.parse::<u32>().ok()?, b.parse::<u32>().ok()?)));
    let Some(v) = parsed else {
        return Err(error(
            400,
            &format!(
                "API Version String {asked} is of invalid format. Must be of format MajorNum.MinorNum."
            ),
        ));
    };
    if v < MIN_VERSION || v > MAX_VERSION {
        return Err(error(
            406,
            &format!(
                "Version {} is not supported by the API. Minimum is {} and maximum is {}.",
                vstr(v),
                vstr(MIN_VERSION),
                vstr(MAX_VERSION)
            ),
        ));
    }
    Ok(v)
}

fn version_doc(base: &str) -> Value {
    json!({
        "id": "v2.1", "status": "CURRENT", "version": vstr(MAX_VERSION),
        "min_version": vstr(MIN_VERSION), "updated": "2013-07-23T11:33:21Z",
        "links": [{"rel": "self", "href": format!("{base}/v2.1/")},
                  {"rel": "describedby", "type": "text/html", "href": "http://docs.openstack.org/"}],
        "media-types": [{"base": "application/json",
                         "type": "application/vnd.openstack.compute+json;version=2.1"}]
    })
}

pub(crate) async fn handle(inner: &Inner, r: Req) -> Response {
    if r.segs.is_empty() && r.method == Method::GET {
        let mut v2 = version_doc(&r.base);
        v2["id"] = json!("v2.0");
        // As Nova 34 answers `GET /`: 200, the legacy v2.0 DEPRECATED.
        v2["status"] = json!("DEPRECATED");
        v2["version"] = json!("");
        v2["min_version"] = json!("");
        v2["links"] = json!([{"rel": "self", "href": format!("{}/v2/", r.base)}]);
        return json_resp(200, &json!({"versions": [v2, version_doc(&r.base)]}));
    }
    if r.seg(0) != "v2.1" {
        return error(404, "The resource could not be found.");
    }
    if r.segs.len() == 1 && r.method == Method::GET {
        return json_resp(200, &json!({"version": version_doc(&r.base)}));
    }
    let mv = match negotiate(&r.headers) {
        Ok(v) => v,
        Err(e) => return e,
    };
    let mut resp = route(inner, r, mv).await;
    let h = resp.headers_mut();
    h.insert(
        "openstack-api-version",
        HeaderValue::from_str(&format!("compute {}", vstr(mv))).unwrap(),
    );
    h.insert(
        "x-openstack-nova-api-version",
        HeaderValue::from_str(&vstr(mv)).unwrap(),
    );
    h.insert(
        "vary",
        HeaderValue::from_static("OpenStack-API-Version, X-OpenStack-Nova-API-Version"),
    );
    resp
}

async fn route(inner: &Inner, r: Req, mv: (u32, u32)) -> Response {
    // Nova accepts the legacy `/v2.1/{project_id}/...` form too (its links use it).
    let skip = if r.seg(1) == PROJECT_ID { 2 } else { 1 };
    let segs: Vec<&str> = r.segs.iter().skip(skip).map(String::as_str).collect();
    let m = r.method.clone();
    match (m, segs.as_slice()) {
        (Method::GET, ["flavors"]) => list_flavors(inner, &r, mv, false),
        (Method::GET, ["flavors", "detail"]) => list_flavors(inner, &r, mv, true),
        (Method::GET, ["flavors", id]) => {
            let s = inner.state.lock().unwrap();
            match s.get("flavors", id) {
                Some(f) => json_resp(200, &json!({"flavor": render_flavor(f, mv, &r.base)})),
                None => error(404, &format!("Flavor {id} could not be found.")),
            }
        }
        (Method::GET, ["flavors", id, "os-extra_specs"]) => {
            let s = inner.state.lock().unwrap();
            match s.get("flavors", id) {
                Some(f) => json_resp(200, &json!({"extra_specs": f["extra_specs"]})),
                None => error(404, &format!("Flavor {id} could not be found.")),
            }
        }
        (Method::GET, ["os-server-groups"]) => {
            let s = inner.state.lock().unwrap();
            let offset = q1(&r.query, "offset")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            let limit = q1(&r.query, "limit")
                .and_then(|v| v.parse().ok())
                .unwrap_or(1000);
            let groups: Vec<Value> = s
                .list("server_groups")
                .iter()
                .skip(offset)
                .take(limit)
                .map(|g| render_group(g, mv))
                .collect();
            json_resp(200, &json!({"server_groups": groups}))
        }
        (Method::POST, ["os-server-groups"]) => {
            let body = match r.json().await {
                Ok(b) => b,
                Err(e) => return error(400, &e),
            };
            create_group(inner, &body, mv)
        }
        (Method::GET, ["os-server-groups", id]) => {
            let s = inner.state.lock().unwrap();
            match s.get("server_groups", id) {
                Some(g) => json_resp(200, &json!({"server_group": render_group(g, mv)})),
                None => error(404, &format!("Instance group {id} could not be found.")),
            }
        }
        (Method::DELETE, ["os-server-groups", id]) => {
            let mut s = inner.state.lock().unwrap();
            match s.remove("server_groups", id) {
                Some(_) => crate::empty(204),
                None => error(404, &format!("Instance group {id} could not be found.")),
            }
        }
        (Method::GET, ["servers"]) => list_servers(inner, &r, mv, false),
        (Method::GET, ["servers", "detail"]) => list_servers(inner, &r, mv, true),
        (Method::GET, ["servers", id]) => {
            let s = inner.state.lock().unwrap();
            match s.get("servers", id) {
                Some(v) => json_resp(200, &json!({"server": render_server(&s, v, mv, &r.base)})),
                None => error(404, &format!("Instance {id} could not be found.")),
            }
        }
        (Method::DELETE, ["servers", id]) => {
            let mut s = inner.state.lock().unwrap();
            if s.get("servers", id).is_none() {
                return error(404, &format!("Instance {id} could not be found."));
            }
            let already = s.pending.iter().any(|p| p.kind == "servers" && p.id == *id);
            if !already {
                s.set(
                    "servers",
                    id,
                    &[("OS-EXT-STS:task_state", json!("deleting"))],
                );
                let d = s.timings.server_delete;
                s.schedule("servers", id, d, state::Action::Remove);
            }
            crate::empty(204)
        }
        (Method::GET, ["os-keypairs"]) => {
            let s = inner.state.lock().unwrap();
            let pairs: Vec<Value> = s
                .list("keypairs")
                .iter()
                .map(|k| json!({"keypair": render_keypair(k, false)}))
                .collect();
            json_resp(200, &json!({"keypairs": pairs}))
        }
        (Method::GET, ["os-keypairs", name]) => {
            let s = inner.state.lock().unwrap();
            match s.list("keypairs").iter().find(|k| k["name"] == *name) {
                Some(k) => json_resp(200, &json!({"keypair": render_keypair(k, true)})),
                None => keypair_missing(name),
            }
        }
        (Method::POST, ["os-keypairs"]) => {
            let body = match r.json().await {
                Ok(b) => b,
                Err(e) => return error(400, &e),
            };
            let name = body["keypair"]["name"].as_str().unwrap_or_default();
            let Some(key) = body["keypair"]["public_key"].as_str() else {
                return error(400, "generating a keypair is not faked: pass `public_key`");
            };
            if name.is_empty() {
                return error(
                    400,
                    "Keypair data is invalid: Keypair name must be a string",
                );
            }
            let mut s = inner.state.lock().unwrap();
            if s.list("keypairs").iter().any(|k| k["name"] == name) {
                return error(409, &format!("Key pair '{name}' already exists."));
            }
            let k = s.insert("keypairs", keypair(name, key));
            let status = if mv >= (2, 2) { 201 } else { 200 };
            json_resp(status, &json!({"keypair": render_keypair(&k, true)}))
        }
        (Method::DELETE, ["os-keypairs", name]) => {
            let mut s = inner.state.lock().unwrap();
            let id = s
                .list("keypairs")
                .iter()
                .find(|k| k["name"] == *name)
                .and_then(|k| k["id"].as_str())
                .map(str::to_string);
            match id {
                Some(id) => {
                    s.remove("keypairs", &id);
                    crate::empty(if mv >= (2, 2) { 204 } else { 202 })
                }
                None => keypair_missing(name),
            }
        }
        (Method::GET, ["os-availability-zone"])
        | (Method::GET, ["os-availability-zone", "detail"]) => {
            let s = inner.state.lock().unwrap();
            let zones: Vec<Value> = s
                .availability_zones
                .iter()
                .map(|z| json!({"zoneName": z, "zoneState": {"available": true}, "hosts": null}))
                .collect();
            json_resp(200, &json!({"availabilityZoneInfo": zones}))
        }
        _ => error(404, "The resource could not be found."),
    }
}

/// A keypair record as the state keeps it (`id` for the state's bookkeeping; Nova's API
/// names keypairs by `name`).
pub(crate) fn keypair(name: &str, public_key: &str) -> Value {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(public_key.as_bytes());
    let fingerprint: Vec<String> = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    json!({"id": state::new_id(), "name": name, "public_key": public_key,
           "fingerprint": fingerprint.join(":"), "type": "ssh", "user_id": USER_ID,
           "created_at": state::now_iso()})
}

fn render_keypair(k: &Value, detail: bool) -> Value {
    let mut v = json!({"name": k["name"], "public_key": k["public_key"],
                       "fingerprint": k["fingerprint"], "type": k["type"]});
    if detail {
        v["user_id"] = k["user_id"].clone();
        v["created_at"] = k["created_at"].clone();
        v["deleted"] = json!(false);
    }
    v
}

fn keypair_missing(name: &str) -> Response {
    error(404, &format!("Keypair {name} not found for user {USER_ID}"))
}

fn link(base: &str, what: &str, id: &str) -> Value {
    json!([{"rel": "self", "href": format!("{base}/v2.1/{PROJECT_ID}/{what}/{id}")},
           {"rel": "bookmark", "href": format!("{base}/{PROJECT_ID}/{what}/{id}")}])
}

fn render_flavor(f: &Value, mv: (u32, u32), base: &str) -> Value {
    let mut v = f.clone();
    let o = v.as_object_mut().unwrap();
    if mv < (2, 55) {
        o.remove("description");
    }
    if mv < (2, 61) {
        o.remove("extra_specs");
    }
    o.insert(
        "links".into(),
        link(base, "flavors", f["id"].as_str().unwrap_or_default()),
    );
    v
}

fn list_flavors(inner: &Inner, r: &Req, mv: (u32, u32), detail: bool) -> Response {
    let s = inner.state.lock().unwrap();
    let min_ram: u64 = q1(&r.query, "minRam")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let min_disk: u64 = q1(&r.query, "minDisk")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let items: Vec<Value> = s
        .list("flavors")
        .iter()
        .filter(|f| f["ram"].as_u64().unwrap_or(0) >= min_ram)
        .filter(|f| f["disk"].as_u64().unwrap_or(0) >= min_disk)
        .cloned()
        .collect();
    let limit = q1(&r.query, "limit").and_then(|v| v.parse().ok());
    let Some((page, more)) = paginate(items, limit, q1(&r.query, "marker")) else {
        return error(
            400,
            &format!(
                "marker [{}] not found",
                q1(&r.query, "marker").unwrap_or_default()
            ),
        );
    };
    let out: Vec<Value> = page
        .iter()
        .map(|f| {
            if detail {
                render_flavor(f, mv, &r.base)
            } else {
                let id = f["id"].as_str().unwrap_or_default();
                let mut b =
                    json!({"id": id, "name": f["name"], "links": link(&r.base, "flavors", id)});
                if mv >= (2, 55) {
                    b["description"] = f["description"].clone();
                }
                b
            }
        })
        .collect();
    let mut doc = json!({ "flavors": out });
    if more && let Some(last) = page.last() {
        let path = if detail { "flavors/detail" } else { "flavors" };
        doc["flavors_links"] = json!([{"rel": "next", "href": format!("{}/v2.1/{PROJECT_ID}/{path}?{}", r.base,
            state::next_query(&r.query, last["id"].as_str().unwrap_or_default()))}]);
    }
    json_resp(200, &doc)
}

fn render_group(g: &Value, mv: (u32, u32)) -> Value {
    let mut v = json!({"id": g["id"], "name": g["name"], "members": g["members"]});
    if mv >= (2, 64) {
        v["policy"] = g["policy"].clone();
        v["rules"] = g["rules"].clone();
    } else {
        v["policies"] = json!([g["policy"]]);
        v["metadata"] = json!({});
    }
    if mv >= (2, 13) {
        v["project_id"] = json!(PROJECT_ID);
        v["user_id"] = json!(USER_ID);
    }
    v
}

fn create_group(inner: &Inner, body: &Value, mv: (u32, u32)) -> Response {
    let Some(g) = body.get("server_group").and_then(Value::as_object) else {
        return error(
            400,
            "Invalid input for field/attribute server_group. Value: None. 'server_group' is a required property",
        );
    };
    let name = match g.get("name").and_then(Value::as_str) {
        Some(n) if !n.trim().is_empty() && n.len() <= 255 => n.to_string(),
        _ => {
            return error(
                400,
                "Invalid input for field/attribute name. Value: None. 'name' is a required property",
            );
        }
    };
    let mut allowed = vec!["anti-affinity", "affinity"];
    if mv >= (2, 15) {
        allowed.extend(["soft-anti-affinity", "soft-affinity"]);
    }
    let (policy, rules) = if mv >= (2, 64) {
        if g.contains_key("policies") {
            return error(
                400,
                "Invalid input for field/attribute server_group. Value: ... Additional properties are not allowed ('policies' was unexpected)",
            );
        }
        let Some(p) = g.get("policy").and_then(Value::as_str) else {
            return error(
                400,
                "Invalid input for field/attribute server_group. Value: ... 'policy' is a required property",
            );
        };
        let rules = g.get("rules").cloned().unwrap_or_else(|| json!({}));
        if rules.as_object().is_some_and(|r| !r.is_empty()) && p != "anti-affinity" {
            return error(
                400,
                &format!("Only anti-affinity policy supports rules, {p} was given."),
            );
        }
        (p.to_string(), rules)
    } else {
        if g.contains_key("policy") || g.contains_key("rules") {
            return error(
                400,
                "Invalid input for field/attribute server_group. Value: ... Additional properties are not allowed ('policy' was unexpected)",
            );
        }
        match g.get("policies").and_then(Value::as_array) {
            Some(ps) if ps.len() == 1 && ps[0].is_string() => {
                (ps[0].as_str().unwrap_or_default().to_string(), json!({}))
            }
            Some(ps) => {
                return error(
                    400,
                    &format!(
                        "Invalid input for field/attribute policies. Value: {}. must contain exactly one policy",
                        Value::Array(ps.clone())
                    ),
                );
            }
            None => {
                return error(
                    400,
                    "Invalid input for field/attribute server_group. Value: ... 'policies' is a required property",
                );
            }
        }
    };
    if !allowed.contains(&policy.as_str()) {
        let field = if mv >= (2, 64) { "policy" } else { "0" };
        return error(
            400,
            &format!(
                "Invalid input for field/attribute {field}. Value: {policy}. '{policy}' is not one of {allowed:?}"
            ),
        );
    }
    let group = json!({"id": state::new_id(), "name": name, "policy": policy, "rules": rules,
                       "members": [], "created_at": state::now_iso()});
    let mut s = inner.state.lock().unwrap();
    s.insert("server_groups", group.clone());
    json_resp(200, &json!({"server_group": render_group(&group, mv)}))
}

fn list_servers(inner: &Inner, r: &Req, mv: (u32, u32), detail: bool) -> Response {
    let s = inner.state.lock().unwrap();
    let name_re = match q1(&r.query, "name") {
        Some(n) => match regex_lite::Regex::new(n) {
            Ok(re) => Some(re),
            Err(_) => return error(400, &format!("Invalid regular expression {n}")),
        },
        None => None,
    };
    let status = q1(&r.query, "status").map(str::to_uppercase);
    let mut items: Vec<Value> = s
        .list("servers")
        .iter()
        .filter(|v| {
            name_re
                .as_ref()
                .is_none_or(|re| re.is_match(v["name"].as_str().unwrap_or_default()))
        })
        .filter(|v| status.as_ref().is_none_or(|st| v["status"] == st.as_str()))
        .cloned()
        .collect();
    items.reverse(); // newest first, as Nova sorts by created_at desc
    let limit = q1(&r.query, "limit").and_then(|v| v.parse().ok());
    let Some((page, more)) = paginate(items, limit, q1(&r.query, "marker")) else {
        return error(
            400,
            &format!(
                "marker [{}] not found",
                q1(&r.query, "marker").unwrap_or_default()
            ),
        );
    };
    let out: Vec<Value> = page
        .iter()
        .map(|v| {
            if detail {
                render_server(&s, v, mv, &r.base)
            } else {
                let id = v["id"].as_str().unwrap_or_default();
                json!({"id": id, "name": v["name"], "links": link(&r.base, "servers", id)})
            }
        })
        .collect();
    let mut doc = json!({ "servers": out });
    if more && let Some(last) = page.last() {
        let path = if detail { "servers/detail" } else { "servers" };
        doc["servers_links"] = json!([{"rel": "next", "href": format!("{}/v2.1/{PROJECT_ID}/{path}?{}", r.base,
            state::next_query(&r.query, last["id"].as_str().unwrap_or_default()))}]);
    }
    json_resp(200, &doc)
}

/// A server as Nova shows it; `addresses` from its ports (and their floating IPs).
fn render_server(s: &state::State, v: &Value, mv: (u32, u32), base: &str) -> Value {
    let mut out = v.clone();
    let id = v["id"].as_str().unwrap_or_default();
    let mut addresses = serde_json::Map::new();
    for p in s.list("ports").iter().filter(|p| p["device_id"] == id) {
        let net = s
            .get("networks", p["network_id"].as_str().unwrap_or_default())
            .and_then(|n| n["name"].as_str())
            .unwrap_or("unknown")
            .to_string();
        let entry = addresses.entry(net).or_insert_with(|| json!([]));
        for ip in p["fixed_ips"].as_array().into_iter().flatten() {
            entry.as_array_mut().unwrap().push(json!({
                "version": 4, "addr": ip["ip_address"], "OS-EXT-IPS:type": "fixed",
                "OS-EXT-IPS-MAC:mac_addr": p["mac_address"]}));
        }
        for f in s
            .list("floatingips")
            .iter()
            .filter(|f| f["port_id"] == p["id"])
        {
            entry.as_array_mut().unwrap().push(json!({
                "version": 4, "addr": f["floating_ip_address"], "OS-EXT-IPS:type": "floating",
                "OS-EXT-IPS-MAC:mac_addr": p["mac_address"]}));
        }
    }
    let o = out.as_object_mut().unwrap();
    o.insert("addresses".into(), Value::Object(addresses));
    o.insert("links".into(), link(base, "servers", id));
    if mv < (2, 47) {
        let fid = v["flavor"]["id"].clone();
        o.insert(
            "flavor".into(),
            json!({"id": fid, "links": link(base, "flavors", fid.as_str().unwrap_or_default())}),
        );
    } else if let Some(f) = o.get_mut("flavor").and_then(Value::as_object_mut) {
        f.remove("id");
    }
    if mv < (2, 26) {
        o.remove("tags");
    }
    if mv < (2, 19) {
        o.remove("description");
    }
    if mv < (2, 9) {
        o.remove("locked");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hdr(k: &'static str, v: &'static str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(k, HeaderValue::from_static(v));
        h
    }

    #[test]
    fn microversion_negotiation() {
        assert_eq!(negotiate(&HeaderMap::new()).ok(), Some((2, 1)));
        assert_eq!(
            negotiate(&hdr("openstack-api-version", "compute 2.64")).ok(),
            Some((2, 64))
        );
        assert_eq!(
            negotiate(&hdr("x-openstack-nova-api-version", "2.15")).ok(),
            Some((2, 15))
        );
        assert_eq!(
            negotiate(&hdr("openstack-api-version", "compute latest")).ok(),
            Some(MAX_VERSION)
        );
        assert_eq!(
            negotiate(&hdr("openstack-api-version", "volume 3.5")).ok(),
            Some((2, 1))
        );
        assert_eq!(
            negotiate(&hdr("openstack-api-version", "compute 3.0"))
                .unwrap_err()
                .status(),
            406
        );
        assert_eq!(
            negotiate(&hdr("openstack-api-version", "compute x"))
                .unwrap_err()
                .status(),
            400
        );
    }

    #[test]
    fn group_shape_follows_the_microversion() {
        let g = json!({"id": "g", "name": "n", "policy": "soft-anti-affinity", "rules": {}, "members": []});
        assert_eq!(render_group(&g, (2, 64))["policy"], "soft-anti-affinity");
        assert!(render_group(&g, (2, 64)).get("policies").is_none());
        assert_eq!(
            render_group(&g, (2, 15))["policies"],
            json!(["soft-anti-affinity"])
        );
        assert!(render_group(&g, (2, 1)).get("project_id").is_none());
    }

    #[test]
    fn soft_policies_need_2_15() {
        let cloud = crate::FakeCloud::new();
        let body = json!({"server_group": {"name": "w", "policies": ["soft-anti-affinity"]}});
        assert_eq!(create_group(&cloud.inner, &body, (2, 14)).status(), 400);
        assert_eq!(create_group(&cloud.inner, &body, (2, 15)).status(), 200);
        let body = json!({"server_group": {"name": "w", "policy": "soft-anti-affinity"}});
        assert_eq!(create_group(&cloud.inner, &body, (2, 63)).status(), 400);
        assert_eq!(create_group(&cloud.inner, &body, (2, 64)).status(), 200);
        assert_eq!(
            cloud.snapshot()["server_groups"].as_array().unwrap().len(),
            2
        );
    }
}
