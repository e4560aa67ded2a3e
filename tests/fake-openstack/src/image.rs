//! Glance (image API v2) under `/image`.
//!
//! Fakes: version discovery (`GET /image/` answers 300 with the version list, as Glance
//! does); images: create (201, `queued`; `disk_format`/`container_format`/`visibility`
//! validated; extra properties must be strings; read-only attributes -> 403), list (filters
//! `name`, `status`, `visibility`, `owner`, `disk_format`, `container_format`, `tag`,
//! `os_hidden` (hidden images left out by default) and any other property; `limit` (default
//! 25, max 1000) + `marker`, `next` link whenever a page is full, as Glance), show, JSON-patch
//! update (`application/openstack-images-v2.1-json-patch`, add/replace/remove), tags, delete
//! (protected -> 403); data upload `PUT /v2/images/{id}/file` (`application/octet-stream`
//! only, image must be `queued`; status `saving` while the body streams; the body is hashed
//! as it arrives and never stored: MD5 `checksum`, SHA-512 `os_hash_value`, `size`; then
//! `active`; a broken upload goes back to `queued`; data declared `qcow2` that does not
//! start with qcow2's magic is refused with 415 and the image stays `queued`, as Glance's
//! format inspector does, which also checks the header). Errors are Glance's HTML bodies.
//!
//! Does not fake: image data download, interoperable import, stores, members, schemas,
//! sorting (lists are in creation order), quotas (only via fault injection).

use crate::state::{self, PROJECT_ID, field_matches, q1, qall};
use crate::{Inner, Req, json_resp};
use axum::http::Method;
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use md5::Md5;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha512};

/// Glance's (webob's) HTML error page.
pub fn error(status: u16, message: &str) -> Response {
    let reason = axum::http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Error");
    let body = format!(
        "<html>\n <head>\n  <title>{status} {reason}</title>\n </head>\n <body>\n  <h1>{status} {reason}</h1>\n  {message}<br /><br />\n\n\n\n </body>\n</html>"
    );
    let mut r = (
        axum::http::StatusCode::from_u16(status)
            .unwrap_or(axum::http::StatusCode::INTERNAL_SERVER_ERROR),
        body,
    )
        .into_response();
    r.headers_mut().insert(
        "content-type",
        axum::http::HeaderValue::from_static("text/html; charset=UTF-8"),
    );
    r
}

const DISK_FORMATS: &[&str] = &[
    "ami", "ari", "aki", "vhd", "vhdx", "vmdk", "raw", "qcow2", "vdi", "iso", "ploop",
];
const CONTAINER_FORMATS: &[&str] = &[
    "ami",
    "ari",
    "aki",
    "bare",
    "ovf",
    "ova",
    "docker",
    "compressed",
];
const VISIBILITIES: &[&str] = &["public", "private", "shared", "community"];
const READ_ONLY: &[&str] = &[
    "status",
    "checksum",
    "size",
    "virtual_size",
    "created_at",
    "updated_at",
    "file",
    "self",
    "schema",
    "direct_url",
    "locations",
    "os_hash_algo",
    "os_hash_value",
    "owner",
];
const BASE_KEYS: &[&str] = &[
    "id",
    "name",
    "visibility",
    "protected",
    "os_hidden",
    "min_disk",
    "min_ram",
    "disk_format",
    "container_format",
    "tags",
];

fn not_found(id: &str) -> Response {
    error(404, &format!("No image found with ID {id}"))
}

pub(crate) async fn handle(inner: &Inner, r: Req) -> Response {
    if r.segs.is_empty() && r.method == Method::GET || r.segs == ["versions"] {
        let mut versions = Vec::new();
        for (i, v) in [
            "2.17", "2.16", "2.15", "2.9", "2.7", "2.6", "2.5", "2.4", "2.3", "2.2", "2.1", "2.0",
        ]
        .iter()
        .enumerate()
        {
            versions.push(json!({"id": format!("v{v}"), "status": if i == 0 { "CURRENT" } else { "SUPPORTED" },
                "links": [{"rel": "self", "href": format!("{}/v2/", r.base)}]}));
        }
        let status = if r.segs.is_empty() { 300 } else { 200 };
        return json_resp(status, &json!({"versions": versions}));
    }
    if r.seg(0) != "v2" {
        return error(404, "The resource could not be found.");
    }
    let segs: Vec<String> = r.segs[1..].to_vec();
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    match (r.method.clone(), segs.as_slice()) {
        (Method::GET, ["images"]) => list(inner, &r),
        (Method::POST, ["images"]) => {
            let body = match r.json().await {
                Ok(b) => b,
                Err(e) => return error(400, &e),
            };
            create(inner, body)
        }
        (Method::GET, ["images", id]) => {
            let s = inner.state.lock().unwrap();
            match s.get("images", id) {
                Some(v) => json_resp(200, v),
                None => not_found(id),
            }
        }
        (Method::PATCH, ["images", id]) => {
            let ct = r
                .headers
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            if !ct.starts_with("application/openstack-images-v2.1-json-patch") {
                return error(415, &format!("Unsupported Content-Type {ct}"));
            }
            let id = id.to_string();
            let body = match r.json().await {
                Ok(b) => b,
                Err(e) => return error(400, &e),
            };
            patch(inner, &id, &body)
        }
        (Method::DELETE, ["images", id]) => {
            let mut s = inner.state.lock().unwrap();
            match s.get("images", id) {
                None => not_found(id),
                Some(v) if v["protected"] == true => error(
                    403,
                    &format!("Image {id} is protected and cannot be deleted."),
                ),
                Some(_) => {
                    s.remove("images", id);
                    crate::empty(204)
                }
            }
        }
        (Method::PUT, ["images", id, "file"]) => {
            let id = id.to_string();
            upload(inner, &id, r).await
        }
        (m @ (Method::PUT | Method::DELETE), ["images", id, "tags", tag]) => {
            let mut s = inner.state.lock().unwrap();
            let Some(v) = s.get_mut("images", id) else {
                return not_found(id);
            };
            let tags = v["tags"].as_array_mut().unwrap();
            if m == Method::PUT {
                if !tags.iter().any(|t| t == tag) {
                    tags.push(json!(tag));
                }
            } else {
                let n = tags.len();
                tags.retain(|t| t != tag);
                if n == tags.len() {
                    return error(404, &format!("Tag {tag} not found."));
                }
            }
            v["updated_at"] = json!(state::now_iso());
            crate::empty(204)
        }
        _ => error(404, "The resource could not be found."),
    }
}

fn list(inner: &Inner, r: &Req) -> Response {
    let s = inner.state.lock().unwrap();
    let limit = match q1(&r.query, "limit").map(str::parse::<usize>) {
        None => 25,
        Some(Ok(l)) => l.min(1000),
        Some(Err(_)) => return error(400, "limit param must be an integer"),
    };
    const SPECIAL: &[&str] = &[
        "limit",
        "marker",
        "sort",
        "sort_key",
        "sort_dir",
        "tag",
        "os_hidden",
        "member_status",
    ];
    let hidden = q1(&r.query, "os_hidden").is_some_and(|h| h.eq_ignore_ascii_case("true"));
    let tags = qall(&r.query, "tag");
    let items: Vec<Value> = s
        .list("images")
        .iter()
        .filter(|v| (v["os_hidden"] == true) == hidden)
        .filter(|v| {
            tags.iter().all(|t| {
                v["tags"]
                    .as_array()
                    .is_some_and(|a| a.iter().any(|x| x == t))
            })
        })
        .filter(|v| {
            r.query
                .iter()
                .filter(|(k, _)| !SPECIAL.contains(&k.as_str()))
                .all(|(k, want)| {
                    let want = want.strip_prefix("in:").unwrap_or(want);
                    v.get(k)
                        .is_some_and(|f| want.split(',').any(|w| field_matches(f, w)))
                })
        })
        .cloned()
        .collect();
    let marker = q1(&r.query, "marker");
    let Some((page, _)) = state::paginate(items, Some(limit), marker) else {
        return error(
            400,
            &format!("marker {} not found", marker.unwrap_or_default()),
        );
    };
    let mut doc = json!({"images": page, "first": "/v2/images", "schema": "/v2/schemas/images"});
    if !page.is_empty() && page.len() == limit {
        let mut q = r.query.clone();
        q.retain(|(k, _)| k != "limit");
        q.push(("limit".into(), limit.to_string()));
        doc["next"] = json!(format!(
            "/v2/images?{}",
            state::next_query(&q, page.last().unwrap()["id"].as_str().unwrap_or_default())
        ));
    }
    json_resp(200, &doc)
}

fn check_props(o: &Map<String, Value>) -> Result<(), Response> {
    for (k, v) in o {
        if READ_ONLY.contains(&k.as_str()) {
            return Err(error(403, &format!("Attribute '{k}' is read-only.")));
        }
        let ok = match k.as_str() {
            "disk_format" => v.as_str().is_some_and(|f| DISK_FORMATS.contains(&f)) || v.is_null(),
            "container_format" => {
                v.as_str().is_some_and(|f| CONTAINER_FORMATS.contains(&f)) || v.is_null()
            }
            "visibility" => v.as_str().is_some_and(|f| VISIBILITIES.contains(&f)),
            "min_disk" | "min_ram" => v.as_u64().is_some(),
            "protected" | "os_hidden" => v.is_boolean(),
            "tags" => v.as_array().is_some_and(|a| a.iter().all(Value::is_string)),
            "name" => v.is_string() || v.is_null(),
            "id" => v.as_str().is_some_and(|i| uuid::Uuid::parse_str(i).is_ok()),
            _ => v.is_string(),
        };
        if !ok {
            return Err(error(
                400,
                &format!(
                    "Provided object does not match schema 'image': {v} is not valid under any of the given schemas (attribute '{k}')"
                ),
            ));
        }
    }
    Ok(())
}

fn create(inner: &Inner, body: Value) -> Response {
    let Some(o) = body.as_object() else {
        return error(400, "Body must be a JSON object.");
    };
    if let Err(e) = check_props(o) {
        return e;
    }
    let now = state::now_iso();
    let id = o
        .get("id")
        .and_then(Value::as_str)
        .map(String::from)
        .unwrap_or_else(state::new_id);
    let mut v = json!({
        "id": id, "name": null, "status": "queued", "visibility": "shared", "protected": false,
        "os_hidden": false, "checksum": null, "os_hash_algo": null, "os_hash_value": null, "size": null,
        "virtual_size": null, "min_disk": 0, "min_ram": 0, "disk_format": null, "container_format": null,
        "owner": PROJECT_ID, "tags": [], "created_at": now, "updated_at": now,
        "self": format!("/v2/images/{id}"), "file": format!("/v2/images/{id}/file"), "schema": "/v2/schemas/image",
    });
    for (k, x) in o {
        v[k.as_str()] = x.clone();
    }
    let mut s = inner.state.lock().unwrap();
    if s.get("images", &id).is_some() {
        return error(409, &format!("Image with identifier {id} already exists!"));
    }
    s.insert("images", v.clone());
    json_resp(201, &v)
}

fn patch(inner: &Inner, id: &str, ops: &Value) -> Response {
    let mut s = inner.state.lock().unwrap();
    let Some(mut v) = s.get("images", id).cloned() else {
        return not_found(id);
    };
    let Some(ops) = ops.as_array() else {
        return error(
            400,
            "Request body must be a JSON array of operation objects.",
        );
    };
    for op in ops {
        let path = op["path"].as_str().unwrap_or_default();
        let Some(key) = path
            .strip_prefix('/')
            .filter(|k| !k.is_empty() && !k.contains('/'))
        else {
            return error(
                400,
                &format!("Invalid JSON pointer for this resource: '{path}'"),
            );
        };
        match op["op"].as_str() {
            Some("add" | "replace") => {
                let mut one = Map::new();
                one.insert(key.to_string(), op["value"].clone());
                if let Err(e) = check_props(&one) {
                    return e;
                }
                if op["op"] == "replace" && v.get(key).is_none() {
                    return error(409, &format!("Property {key} does not exist."));
                }
                v[key] = op["value"].clone();
            }
            Some("remove") => {
                if BASE_KEYS.contains(&key) || READ_ONLY.contains(&key) {
                    return error(403, &format!("Attribute '{key}' is reserved."));
                }
                if v.as_object_mut().unwrap().remove(key).is_none() {
                    return error(409, &format!("Property {key} does not exist."));
                }
            }
            _ => {
                return error(
                    400,
                    "Operation objects must contain exactly one member named \"add\", \"remove\", or \"replace\".",
                );
            }
        }
    }
    v["updated_at"] = json!(state::now_iso());
    if let Some(slot) = s.get_mut("images", id) {
        *slot = v.clone();
    }
    json_resp(200, &v)
}

async fn upload(inner: &Inner, id: &str, r: Req) -> Response {
    let ct = r
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !ct.starts_with("application/octet-stream") {
        return error(
            415,
            &format!("The Content-Type {ct} is not supported for image upload."),
        );
    }
    let declared_qcow2;
    {
        let mut s = inner.state.lock().unwrap();
        let Some(v) = s.get("images", id) else {
            return not_found(id);
        };
        if v["status"] != "queued" {
            return error(
                409,
                &format!(
                    "Image status transition from {} to saving is not allowed",
                    v["status"].as_str().unwrap_or_default()
                ),
            );
        }
        if v["disk_format"].is_null() || v["container_format"].is_null() {
            return error(
                400,
                "Properties disk_format, container_format must be set prior to saving data.",
            );
        }
        declared_qcow2 = v["disk_format"] == "qcow2";
        s.set(
            "images",
            id,
            &[
                ("status", json!("saving")),
                ("updated_at", json!(state::now_iso())),
            ],
        );
    }
    let mut md5 = Md5::new();
    let mut sha = Sha512::new();
    let mut size: u64 = 0;
    let mut head: Vec<u8> = Vec::with_capacity(4);
    let mut stream = r.body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(b) => {
                let want = 4usize.saturating_sub(head.len()).min(b.len());
                head.extend_from_slice(&b[..want]);
                md5.update(&b);
                sha.update(&b);
                size += b.len() as u64;
            }
            Err(e) => {
                let mut s = inner.state.lock().unwrap();
                s.set("images", id, &[("status", json!("queued"))]);
                return error(
                    400,
                    &format!("Error in store configuration / upload interrupted: {e}"),
                );
            }
        }
    }
    let mut s = inner.state.lock().unwrap();
    // Glance's format inspector: data declared qcow2 must be qcow2 (checked here by its
    // magic only); raw accepts anything.
    if declared_qcow2 && head != QCOW2_MAGIC {
        s.set("images", id, &[("status", json!("queued"))]);
        return error(
            415,
            "Image disk_format qcow2 does not match stream data raw",
        );
    }
    if s.get("images", id).is_none() {
        return error(
            410,
            &format!(
                "Image {id} could not be found after upload. The image may have been deleted during the upload."
            ),
        );
    }
    s.set(
        "images",
        id,
        &[
            ("status", json!("active")),
            ("size", json!(size)),
            ("checksum", json!(hex(&md5.finalize()))),
            ("os_hash_algo", json!("sha512")),
            ("os_hash_value", json!(hex(&sha.finalize()))),
            ("updated_at", json!(state::now_iso())),
        ],
    );
    crate::empty(204)
}

const QCOW2_MAGIC: &[u8] = b"QFI\xfb";

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_validates_and_defaults() {
        let cloud = crate::FakeCloud::new();
        let r = create(
            &cloud.inner,
            json!({"name": "i", "disk_format": "qcow2", "container_format": "bare",
            "min_disk": 20, "os_distro": "ubuntu"}),
        );
        assert_eq!(r.status(), 201);
        assert_eq!(
            create(&cloud.inner, json!({"name": "i", "disk_format": "exe"})).status(),
            400
        );
        assert_eq!(
            create(&cloud.inner, json!({"name": "i", "status": "active"})).status(),
            403
        );
        assert_eq!(
            create(&cloud.inner, json!({"name": "i", "os_version": 22})).status(),
            400
        );
        let snap = cloud.snapshot();
        let img = &snap["images"][0];
        assert_eq!(img["status"], "queued");
        assert_eq!(img["os_distro"], "ubuntu");
        assert_eq!(img["min_disk"], 20);
    }

    #[test]
    fn patch_adds_replaces_removes() {
        let cloud = crate::FakeCloud::new();
        create(
            &cloud.inner,
            json!({"id": "0d4b7d1e-9c4c-4a3e-9f5c-2b0c3a1d2e3f", "name": "i", "a": "1"}),
        );
        let id = "0d4b7d1e-9c4c-4a3e-9f5c-2b0c3a1d2e3f";
        let ops = json!([{"op": "add", "path": "/b", "value": "2"}, {"op": "replace", "path": "/a", "value": "3"},
                          {"op": "remove", "path": "/b"}]);
        assert_eq!(patch(&cloud.inner, id, &ops).status(), 200);
        let img = cloud.snapshot()["images"][0].clone();
        assert_eq!(img["a"], "3");
        assert!(img.get("b").is_none());
        let bad = json!([{"op": "remove", "path": "/nope"}]);
        assert_eq!(patch(&cloud.inner, id, &bad).status(), 409);
    }

    #[test]
    fn hex_digest() {
        assert_eq!(hex(&Md5::digest(b"")), "d41d8cd98f00b204e9800998ecf8427e");
    }
}
