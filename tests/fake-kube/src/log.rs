//! The request log of a fake API server: one entry per request, with what tests assert on
//! (verb, resource, name, content type, field manager, status).

use serde::Serialize;

/// One request as the fake saw it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LoggedRequest {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    /// The request's `Content-Type` (`application/apply-patch+yaml` for server-side apply).
    pub content_type: Option<String>,
    /// `fieldManager` query parameter.
    pub field_manager: Option<String>,
    pub user_agent: Option<String>,
    /// `get`, `list`, `watch`, `create`, `update`, `patch`, `apply`, `delete`,
    /// `deletecollection`, or `discovery` for everything else.
    pub verb: String,
    /// API group ("" for core) and resource plural, when the path names a resource.
    pub group: Option<String>,
    pub resource: Option<String>,
    /// The kind of that resource (`Cluster`, `Secret`, ...).
    pub kind: Option<String>,
    pub namespace: Option<String>,
    pub name: Option<String>,
    /// `status` or `scale`.
    pub subresource: Option<String>,
    /// `dryRun=All` was set.
    pub dry_run: bool,
    pub status: u16,
}
