//! Kubernetes `Status` error bodies (`{"kind":"Status","status":"Failure","reason":...}`) with
//! the codes, reasons and message wording kube-apiserver uses, so clients (kube-rs `ErrorResponse`,
//! kubectl's messages) see what they would see from a real server.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// An API error: becomes a `Status` response.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub code: u16,
    pub reason: &'static str,
    pub message: String,
    /// `details` (name, group, kind = resource plural, causes), if any.
    pub details: Option<Value>,
}

impl ApiError {
    pub fn new(code: u16, reason: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            code,
            reason,
            message: message.into(),
            details: None,
        }
    }

    fn with_details(mut self, d: Value) -> ApiError {
        self.details = Some(d);
        self
    }

    /// `<resource>.<group> "<name>" not found` (404 NotFound).
    pub fn not_found(group: &str, resource: &str, name: &str) -> ApiError {
        ApiError::new(
            404,
            "NotFound",
            format!("{} \"{name}\" not found", qualified(group, resource)),
        )
        .with_details(details(group, resource, name))
    }

    /// 404 for a path the server does not serve.
    pub fn no_route() -> ApiError {
        ApiError::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        )
        .with_details(json!({}))
    }

    /// `<resource>.<group> "<name>" already exists` (409 AlreadyExists).
    pub fn already_exists(group: &str, resource: &str, name: &str) -> ApiError {
        ApiError::new(
            409,
            "AlreadyExists",
            format!("{} \"{name}\" already exists", qualified(group, resource)),
        )
        .with_details(details(group, resource, name))
    }

    /// Optimistic-concurrency failure of an update (409 Conflict).
    pub fn stale(group: &str, resource: &str, name: &str) -> ApiError {
        ApiError::new(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {} \"{name}\": the object has been modified; \
                 please apply your changes to the latest version and try again",
                qualified(group, resource)
            ),
        )
        .with_details(details(group, resource, name))
    }

    /// Server-side apply field conflicts (409 Conflict with `FieldManagerConflict` causes).
    /// `conflicts` are (manager, api version, field path like `.spec.replicas`).
    pub fn apply_conflict(
        group: &str,
        resource: &str,
        name: &str,
        conflicts: &[(String, String, String)],
    ) -> ApiError {
        let n = conflicts.len();
        let what = if n == 1 {
            "1 conflict".to_string()
        } else {
            format!("{n} conflicts")
        };
        let list: Vec<String> = conflicts
            .iter()
            .map(|(m, v, f)| format!("conflict with \"{m}\" using {v}: {f}"))
            .collect();
        let causes: Vec<Value> = conflicts
            .iter()
            .map(|(m, v, f)| {
                json!({"type": "FieldManagerConflict",
                       "message": format!("conflict with \"{m}\" using {v}"), "field": f})
            })
            .collect();
        let mut d = details(group, resource, name);
        d["causes"] = Value::Array(causes);
        ApiError::new(
            409,
            "Conflict",
            format!("Apply failed with {what}: {}", list.join("\n")),
        )
        .with_details(d)
    }

    /// `<Kind> "<name>" is invalid: <field>: Invalid value: ...` (422 Invalid).
    pub fn invalid(
        group: &str,
        kind: &str,
        name: &str,
        field: &str,
        value: &str,
        why: &str,
    ) -> ApiError {
        let kind_q = if group.is_empty() {
            kind.to_string()
        } else {
            format!("{kind}.{group}")
        };
        let cause = format!("Invalid value: \"{value}\": {why}");
        ApiError::new(
            422,
            "Invalid",
            format!("{kind_q} \"{name}\" is invalid: {field}: {cause}"),
        )
        .with_details(json!({"name": name, "group": group, "kind": kind,
            "causes": [{"reason": "FieldValueInvalid", "message": cause, "field": field}]}))
    }

    /// 400 BadRequest with a message.
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(400, "BadRequest", message)
    }

    /// 405 MethodNotAllowed.
    pub fn method_not_allowed(method: &str) -> ApiError {
        ApiError::new(
            405,
            "MethodNotAllowed",
            format!("the server does not allow this method on the requested resource ({method})"),
        )
        .with_details(json!({}))
    }

    /// The body kube-apiserver sends.
    pub fn body(&self) -> Value {
        let mut v = json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {},
            "status": "Failure", "message": self.message, "reason": self.reason,
        });
        if let Some(d) = &self.details {
            v["details"] = d.clone();
        }
        v["code"] = json!(self.code);
        v
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        json_response(self.code, &self.body())
    }
}

/// `resource.group` (just `resource` for the core group), as in apiserver messages.
pub fn qualified(group: &str, resource: &str) -> String {
    if group.is_empty() {
        resource.to_string()
    } else {
        format!("{resource}.{group}")
    }
}

fn details(group: &str, resource: &str, name: &str) -> Value {
    let mut d = json!({"name": name});
    if !group.is_empty() {
        d["group"] = json!(group);
    }
    d["kind"] = json!(resource);
    d
}

/// A JSON response with `content-type: application/json`.
pub fn json_response(status: u16, v: &Value) -> Response {
    let mut r = (
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        serde_json::to_string(v).unwrap_or_default(),
    )
        .into_response();
    r.headers_mut()
        .insert("content-type", HeaderValue::from_static("application/json"));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_found_body_is_the_apiserver_shape() {
        let b = ApiError::not_found("cluster.x-k8s.io", "clusters", "demo").body();
        assert_eq!(b["kind"], "Status");
        assert_eq!(b["status"], "Failure");
        assert_eq!(b["reason"], "NotFound");
        assert_eq!(b["code"], 404);
        assert_eq!(b["message"], "clusters.cluster.x-k8s.io \"demo\" not found");
        assert_eq!(b["details"]["kind"], "clusters");
        assert_eq!(b["details"]["group"], "cluster.x-k8s.io");
        let core = ApiError::not_found("", "secrets", "s").body();
        assert_eq!(core["message"], "secrets \"s\" not found");
        assert!(core["details"].get("group").is_none());
    }

    #[test]
    fn apply_conflict_lists_every_field() {
        let e = ApiError::apply_conflict(
            "apps",
            "deployments",
            "web",
            &[
                ("kubectl".into(), "apps/v1".into(), ".spec.replicas".into()),
                (
                    "helm".into(),
                    "apps/v1".into(),
                    ".metadata.labels.app".into(),
                ),
            ],
        );
        assert_eq!(e.code, 409);
        assert_eq!(
            e.message,
            "Apply failed with 2 conflicts: conflict with \"kubectl\" using apps/v1: .spec.replicas\n\
             conflict with \"helm\" using apps/v1: .metadata.labels.app"
        );
        assert_eq!(
            e.body()["details"]["causes"][1]["field"],
            ".metadata.labels.app"
        );
    }
}
