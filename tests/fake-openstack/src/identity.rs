//! Keystone version discovery only, under `/identity` (standalone mode).
//!
//! Fakes: `GET /identity/` (300, `{"versions": {"values": [...]}}`) and `GET /identity/v3`
//! (`{"version": ...}`), so that clients which build an identity proxy without using it
//! (`openstack image list` does) work with `auth_type: none` and
//! `identity_endpoint_override`.
//!
//! Does not fake: tokens, the catalog, projects, users, application credentials: every other
//! identity path answers 404. For those, run a real Keystone and register the fake's
//! endpoints in its catalog (see README.md).

use crate::{Req, json_resp};
use axum::http::Method;
use axum::response::Response;
use serde_json::{Value, json};

fn v3(base: &str) -> Value {
    json!({"id": "v3.14", "status": "stable", "updated": "2020-04-07T00:00:00Z",
           "links": [{"rel": "self", "href": format!("{base}/v3/")}],
           "media-types": [{"base": "application/json", "type": "application/vnd.openstack.identity-v3+json"}]})
}

pub(crate) async fn handle(r: Req) -> Response {
    match (r.method.clone(), r.segs.as_slice()) {
        (Method::GET, []) => json_resp(300, &json!({"versions": {"values": [v3(&r.base)]}})),
        (Method::GET, [v]) if v == "v3" => json_resp(200, &json!({"version": v3(&r.base)})),
        _ => json_resp(
            404,
            &json!({"error": {"code": 404, "title": "Not Found",
                "message": "This fake serves identity version discovery only; use a real Keystone."}}),
        ),
    }
}
