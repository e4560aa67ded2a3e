//! Cinder (block-storage API v3) under `/block-storage`.
//!
//! Fakes: version discovery (`GET /block-storage/` 300 and `GET /block-storage/v3/`, both
//! `{"versions": [...]}`, min 3.0, max 3.71); microversions from `OpenStack-API-Version:
//! volume X` (`latest` = max; out of range -> 406), echoed on every v3 response with
//! `Vary`; paths with a project id (`/v3/{project}/volumes`, as Cinder's catalog entry) and
//! without (`/v3/volumes`, >= 3.67); volumes: list (`/volumes`: id, name, links) and
//! `/volumes/detail` (full documents), filtered by `name`, `status` and `metadata`
//! (`{"key": "value"}`, JSON or Python-literal quoting), `limit` + `marker` with a
//! `volumes_links` next link whenever a page is full (as Cinder does, so the last page may
//! be empty); show; delete (202; refused with 400 `badRequest` "Invalid volume: ..." while
//! attached or in a busy status; `deleting` then gone after [`crate::Timings::volume_delete`]);
//! metadata (`GET`/`POST` merge/`PUT` replace `/volumes/{id}/metadata`). Errors are Cinder's
//! `{"<kind>": {"code": N, "message": "..."}}`.
//!
//! Does not fake: volume create/extend/attach actions (seed volumes with
//! [`crate::Seed::volume`]), snapshots, backups, types, quotas, `with_count`, sorting.

use crate::state::{self, Action, PROJECT_ID, USER_ID, q1};
use crate::{Inner, Req, json_resp};
use axum::http::{HeaderMap, HeaderValue, Method};
use axum::response::Response;
use serde_json::{Map, Value, json};

pub const MIN_VERSION: (u32, u32) = (3, 0);
pub const MAX_VERSION: (u32, u32) = (3, 71);

/// Cinder's error document: `{"<kind>": {"code": N, "message": "..."}}`.
pub fn error(status: u16, message: &str) -> Response {
    let name = match status {
        400 => "badRequest",
        403 => "forbidden",
        404 => "itemNotFound",
        405 => "badMethod",
        406 => "notAcceptable",
        409 => "conflictingRequest",
        413 => "overLimit",
        429 => "overLimit",
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

fn version_doc(base: &str) -> Value {
    json!({"id": "v3.0", "status": "CURRENT", "version": vstr(MAX_VERSION),
           "min_version": vstr(MIN_VERSION), "updated": "2023-09-14T00:00:00Z",
           "links": [{"rel": "describedby", "type": "text/html", "href": "https://docs.openstack.org/"},
                     {"rel": "self", "href": format!("{base}/v3/")}],
           "media-types": [{"base": "application/json",
                            "type": "application/vnd.openstack.volume+json;version=3"}]})
}

/// The requested microversion (3.0 when none is asked for).
fn negotiate(h: &HeaderMap) -> Result<(u32, u32), Response> {
    let asked = h
        .get("openstack-api-version")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.split(',').find_map(|part| {
                let mut it = part.split_whitespace();
                match (it.next(), it.next()) {
                    (Some(svc), Some(ver))
                        if svc.eq_ignore_ascii_case("volume")
                            || svc.eq_ignore_ascii_case("block-storage") =>
                    {
                        Some(ver.to_string())
                    }
                    _ => None,
                }
            })
        });
    let Some(asked) = asked else {
        return Ok(MIN_VERSION);
    };
    if asked.eq_ignore_ascii_case("latest") {
        return Ok(MAX_VERSION);
    }
    let v = asked
        .split_once('.')
        .and_then(|(a, b)| Some((a.parse::<u32>().ok()?, b.parse::<u32>().ok()?)))
        .ok_or_else(|| error(400, &format!("Invalid API version request string {asked}.")))?;
    if v < MIN_VERSION || v > MAX_VERSION {
        return Err(error(
            406,
            &format!(
                "Version {asked} is not supported by the API. Minimum is {} and maximum is {}.",
                vstr(MIN_VERSION),
                vstr(MAX_VERSION)
            ),
        ));
    }
    Ok(v)
}

fn with_version(mut r: Response, v: (u32, u32)) -> Response {
    let h = r.headers_mut();
    h.insert(
        "openstack-api-version",
        HeaderValue::from_str(&format!("volume {}", vstr(v))).unwrap(),
    );
    h.insert("vary", HeaderValue::from_static("OpenStack-API-Version"));
    r
}

fn not_found(id: &str) -> Response {
    error(404, &format!("Volume {id} could not be found."))
}

pub(crate) async fn handle(inner: &Inner, r: Req) -> Response {
    if r.segs.is_empty() && r.method == Method::GET {
        return json_resp(300, &json!({"versions": [version_doc(&r.base)]}));
    }
    if r.seg(0) != "v3" {
        return error(404, "The resource could not be found.");
    }
    if r.segs.len() == 1 && r.method == Method::GET {
        return json_resp(200, &json!({"versions": [version_doc(&r.base)]}));
    }
    let v = match negotiate(&r.headers) {
        Ok(v) => v,
        Err(e) => return e,
    };
    // `/v3/{project}/...` or (>= 3.67) `/v3/...`
    let (project, rest) = if r.seg(1) == "volumes" {
        (PROJECT_ID.to_string(), r.segs[1..].to_vec())
    } else {
        (r.seg(1).to_string(), r.segs[2..].to_vec())
    };
    let rest: Vec<&str> = rest.iter().map(String::as_str).collect();
    let resp = match (r.method.clone(), rest.as_slice()) {
        (Method::GET, ["volumes"]) => list(inner, &r, &project, false),
        (Method::GET, ["volumes", "detail"]) => list(inner, &r, &project, true),
        (Method::GET, ["volumes", id]) => {
            let s = inner.state.lock().unwrap();
            match s.get("volumes", id) {
                Some(x) => json_resp(200, &json!({"volume": x})),
                None => not_found(id),
            }
        }
        (Method::DELETE, ["volumes", id]) => delete(inner, id),
        (Method::GET, ["volumes", id, "metadata"]) => {
            let s = inner.state.lock().unwrap();
            match s.get("volumes", id) {
                Some(x) => json_resp(200, &json!({"metadata": x["metadata"]})),
                None => not_found(id),
            }
        }
        (m @ (Method::POST | Method::PUT), ["volumes", id, "metadata"]) => {
            let id = id.to_string();
            let body = match r.json().await {
                Ok(b) => b,
                Err(e) => return with_version(error(400, &e), v),
            };
            let Some(new) = body.get("metadata").and_then(Value::as_object).cloned() else {
                return with_version(error(400, "Malformed request body: metadata missing."), v);
            };
            if new.values().any(|x| !x.is_string()) {
                return with_version(error(400, "Invalid metadata: values must be strings."), v);
            }
            let mut s = inner.state.lock().unwrap();
            let Some(old) = s.get("volumes", &id).map(|x| x["metadata"].clone()) else {
                return with_version(not_found(&id), v);
            };
            let mut merged = if m == Method::POST {
                old.as_object().cloned().unwrap_or_default()
            } else {
                Map::new()
            };
            merged.extend(new);
            s.set(
                "volumes",
                &id,
                &[
                    ("metadata", Value::Object(merged.clone())),
                    ("updated_at", json!(state::now_iso())),
                ],
            );
            json_resp(200, &json!({"metadata": merged}))
        }
        _ => error(404, "The resource could not be found."),
    };
    with_version(resp, v)
}

/// The `metadata` filter: `{"k": "v"}` as JSON or with Python quoting.
fn metadata_filter(q: &str) -> Option<Map<String, Value>> {
    serde_json::from_str::<Value>(q)
        .or_else(|_| serde_json::from_str::<Value>(&q.replace('\'', "\"")))
        .ok()?
        .as_object()
        .cloned()
}

fn list(inner: &Inner, r: &Req, project: &str, detail: bool) -> Response {
    let s = inner.state.lock().unwrap();
    let meta = match q1(&r.query, "metadata").map(metadata_filter) {
        Some(None) => return error(400, "Invalid filter: metadata must be a dictionary."),
        Some(Some(m)) => Some(m),
        None => None,
    };
    let items: Vec<Value> = s
        .list("volumes")
        .iter()
        .filter(|x| q1(&r.query, "name").is_none_or(|n| x["name"] == n))
        .filter(|x| q1(&r.query, "status").is_none_or(|st| x["status"] == st))
        .filter(|x| {
            meta.as_ref()
                .is_none_or(|m| m.iter().all(|(k, want)| &x["metadata"][k] == want))
        })
        .cloned()
        .collect();
    let limit = match q1(&r.query, "limit").map(str::parse::<usize>) {
        Some(Ok(l)) => Some(l.min(1000)),
        Some(Err(_)) => return error(400, "limit param must be an integer"),
        None => None,
    };
    let marker = q1(&r.query, "marker");
    let Some((page, _)) = state::paginate(items, limit, marker) else {
        return error(
            400,
            &format!(
                "Invalid input received: marker [{}] not found",
                marker.unwrap_or_default()
            ),
        );
    };
    let mut links = Vec::new();
    if let (Some(l), Some(last)) = (limit, page.last())
        && page.len() == l
    {
        let path = if detail { "volumes/detail" } else { "volumes" };
        links.push(
            json!({"rel": "next", "href": format!("{}/v3/{project}/{path}?{}", r.base,
            state::next_query(&r.query, last["id"].as_str().unwrap_or_default()))}),
        );
    }
    let page: Vec<Value> = if detail {
        page
    } else {
        page.into_iter()
            .map(|x| json!({"id": x["id"], "name": x["name"], "links": x["links"]}))
            .collect()
    };
    let mut body = json!({ "volumes": page });
    if !links.is_empty() {
        body["volumes_links"] = json!(links);
    }
    json_resp(200, &body)
}

/// Statuses Cinder deletes from (without `--force`).
const DELETABLE: &[&str] = &[
    "available",
    "error",
    "error_restoring",
    "error_extending",
    "error_managing",
];

fn delete(inner: &Inner, id: &str) -> Response {
    let mut s = inner.state.lock().unwrap();
    let Some(vol) = s.get("volumes", id).cloned() else {
        return not_found(id);
    };
    let attached = vol["attachments"].as_array().is_some_and(|a| !a.is_empty());
    let status = vol["status"].as_str().unwrap_or_default();
    if attached || !DELETABLE.contains(&status) {
        return error(
            400,
            "Invalid volume: Volume status must be available or error or error_restoring or \
             error_extending or error_managing and must not be migrating, attached, belong to \
             a group, have snapshots, awaiting a transfer, or be disassociated from snapshots \
             after volume transfer.",
        );
    }
    s.set(
        "volumes",
        id,
        &[
            ("status", json!("deleting")),
            ("updated_at", json!(state::now_iso())),
        ],
    );
    let d = s.timings.volume_delete;
    s.schedule("volumes", id, d, Action::Remove);
    crate::empty(202)
}

/// A volume document as Cinder 3.71 shows it.
pub(crate) fn volume_doc(
    base: &str,
    id: &str,
    name: &str,
    size_gib: u32,
    metadata: Value,
    status: &str,
    attached_to: &[&str],
) -> Value {
    let now = state::now_iso();
    let attachments: Vec<Value> = attached_to
        .iter()
        .enumerate()
        .map(|(i, srv)| {
            json!({"id": id, "attachment_id": state::new_id(), "volume_id": id, "server_id": srv,
                   "host_name": null, "device": format!("/dev/vd{}", (b'b' + i as u8) as char),
                   "attached_at": now})
        })
        .collect();
    json!({
        "id": id, "name": name, "status": status, "size": size_gib, "availability_zone": "nova",
        "created_at": now, "updated_at": now, "description": "", "volume_type": "__DEFAULT__",
        "volume_type_id": "5f1e6a1c-0000-4000-8000-000000000001", "snapshot_id": null,
        "source_volid": null, "metadata": metadata, "user_id": USER_ID,
        "os-vol-tenant-attr:tenant_id": PROJECT_ID, "bootable": "false", "encrypted": false,
        "replication_status": null, "consistencygroup_id": null, "group_id": null,
        "multiattach": false, "attachments": attachments, "provider_id": null,
        "service_uuid": null, "shared_targets": true, "cluster_name": null,
        "consumes_quota": true, "backup_id": null,
        "links": [{"rel": "self", "href": format!("{base}/v3/{PROJECT_ID}/volumes/{id}")},
                  {"rel": "bookmark", "href": format!("{base}/volumes/{id}")}],
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    #[test]
    fn attached_volumes_refuse_deletion_and_free_ones_go() {
        let cloud = crate::FakeCloud::new();
        cloud.set_timings(crate::Timings {
            volume_delete: Duration::from_millis(20),
            ..Default::default()
        });
        let free = cloud.seed().volume("pvc-a", 1, &[("k", "v")], &[]);
        let used = cloud.seed().volume("pvc-b", 1, &[], &["srv-1"]);
        let inner = cloud.inner.clone();
        assert_eq!(super::delete(&inner, &used).status(), 400);
        assert_eq!(super::delete(&inner, &free).status(), 202);
        assert_eq!(
            cloud.snapshot()["volumes"][0]["status"],
            "deleting",
            "deleting first"
        );
        std::thread::sleep(Duration::from_millis(30));
        let snap = cloud.snapshot();
        let names: Vec<&str> = snap["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["pvc-b"]);
        assert_eq!(super::delete(&inner, &free).status(), 404);
    }

    #[test]
    fn metadata_filter_accepts_json_and_python_quoting() {
        assert!(super::metadata_filter(r#"{"a": "b"}"#).is_some());
        assert_eq!(
            super::metadata_filter("{'a': 'b'}").unwrap()["a"],
            serde_json::json!("b")
        );
        assert!(super::metadata_filter("a=b").is_none());
    }
}
