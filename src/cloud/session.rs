//! One authenticated OpenStack session per run, on `openstack_sdk`'s `AsyncOpenStack`.
//!
//! Owns: connecting from a [`ResolvedCloud`] (one token, catalog kept in memory, never a token
//! on disk), endpoint lookup per service type, the ids of the current project and user,
//! timeouts, and the per-cluster application credential (create restricted, find, delete).
//! Service calls (servers, networks, load balancers, images) are made by other modules with
//! `openstack_sdk::api` endpoints against [`Session::client`]; they inherit the timeouts and
//! the SDK's re-authentication.
//!
//! SDK facts this relies on (openstack_sdk 0.22.8):
//! - the application-credential auth plugin registers itself through `inventory`, which the
//!   linker drops unless something references the crate; the SDK's `build.rs` meant to do
//!   that scans `[dependencies]` lines that the published manifest no longer has, so we
//!   reference `openstack_sdk_auth_applicationcredential::ANCHOR` ourselves;
//! - `disable_auth_cache(true)` on the builder plus `auth_cache: false` in the config keeps
//!   tokens out of `~/.osc` (the SDK still creates the empty directory);
//! - a 401 on any request re-authenticates once (token exchange, then the configured
//!   credentials) and repeats the request (`max_auth_retries`, default 1); we also renew the
//!   token in the background 5 minutes before it expires (`enable_auto_renew`);
//! - its application-credential plugin cannot authenticate by credential *name* (the name is
//!   missing from the plugin's requirements, so it never receives it): such clouds get a
//!   clear error asking for `application_credential_id`;
//! - the SDK applies a per-request timeout (`http_timeout`) and a connect timeout to every
//!   call it makes, including authentication.

use std::time::Duration;

use openstack_sdk::api::identity::v3::user::application_credential::{
    create as app_cred_create, delete as app_cred_delete, list as app_cred_list,
};
use openstack_sdk::api::{ApiError, AsyncClient, QueryAsync, ignore};
use openstack_sdk::types::ServiceType;
use openstack_sdk::{AsyncOpenStack, OpenStackError, RestError};
use serde_json::Value;

use super::config::{AuthType, ResolvedCloud};
use super::discovery;
use super::{CloudError, CloudErrorKind, Secret};

/// Timeouts for every call.
#[derive(Debug, Clone, Copy)]
pub struct SessionOptions {
    /// Whole request, including reading the body. Default: `api_timeout` of the cloud, else
    /// 30 s.
    pub request_timeout: Duration,
    /// TCP/TLS connect. Default 5 s.
    pub connect_timeout: Duration,
}

impl SessionOptions {
    /// The defaults for `cloud` (its `api_timeout`, else 30 s).
    pub fn for_cloud(cloud: &ResolvedCloud) -> Self {
        SessionOptions {
            request_timeout: Duration::from_secs(cloud.api_timeout.unwrap_or(30)),
            connect_timeout: Duration::from_secs(5),
        }
    }
}

/// An application credential as Keystone lists it (never with its secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppCredential {
    pub id: String,
    pub name: String,
    pub roles: Vec<String>,
    pub expires_at: Option<String>,
    pub unrestricted: bool,
}

/// An authenticated connection to one cloud.
pub struct Session {
    client: AsyncOpenStack,
    cloud: String,
    auth_type: AuthType,
    project_id: Option<String>,
    user_id: Option<String>,
    roles: Vec<String>,
    // Dropping it stops the background token renewal.
    _renew: Option<openstack_sdk::RenewHandle>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("cloud", &self.cloud)
            .field("project_id", &self.project_id)
            .field("user_id", &self.user_id)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// Authenticates to `cloud` with the default timeouts.
    ///
    /// # Errors
    /// Wrong credentials (kind `Auth`), an unreachable Keystone (`Transport`), or a
    /// configuration the SDK rejects (`Config`); the message names the cloud, never a secret.
    pub async fn connect(cloud: &ResolvedCloud) -> Result<Session, CloudError> {
        Self::connect_with(cloud, SessionOptions::for_cloud(cloud)).await
    }

    /// [`Session::connect`] with explicit timeouts.
    ///
    /// # Errors
    /// As [`Session::connect`].
    pub async fn connect_with(
        cloud: &ResolvedCloud,
        opts: SessionOptions,
    ) -> Result<Session, CloudError> {
        // Keep the app-credential plugin in the binary (see the module doc).
        std::hint::black_box(&openstack_sdk_auth_applicationcredential::ANCHOR);
        // Overrides are used verbatim by the SDK: resolve unversioned ones to their API root
        // first (version documents need no token).
        let probe =
            AsyncOpenStack::new_impl(&cloud.to_sdk_config()?, openstack_sdk::auth::Auth::None)
                .map_err(|e| connect_error(cloud, e))?;
        let mut resolved = cloud.clone();
        resolved.endpoint_overrides =
            discover_overrides(&probe, &cloud.endpoint_overrides, opts).await;
        drop(probe);
        let sdk_config = resolved.to_sdk_config()?;
        if cloud.auth_type == AuthType::None {
            // No Keystone: endpoints come from `*_endpoint_override`; no token is sent.
            let client = AsyncOpenStack::new_impl(&sdk_config, openstack_sdk::auth::Auth::None)
                .map_err(|e| connect_error(cloud, e))?;
            return Ok(Session {
                client,
                cloud: cloud.name.clone(),
                auth_type: cloud.auth_type,
                project_id: None,
                user_id: None,
                roles: Vec::new(),
                _renew: None,
            });
        }
        if cloud.auth_type == AuthType::ApplicationCredential
            && cloud.auth.application_credential_id.is_none()
        {
            // The SDK's plugin never receives `application_credential_name` (missing from its
            // requirements schema) and would send the user domain in the wrong shape.
            return Err(CloudError::config(format!(
                "cloud `{}` names its application credential by `application_credential_name`, \
                 which the OpenStack SDK used here cannot authenticate with",
                cloud.name
            ))
            .hint(format!(
                "set `auth.application_credential_id` for cloud `{}` (`openstack application \
                 credential show NAME -c id`)",
                cloud.name
            )));
        }
        let connect = AsyncOpenStack::builder(&sdk_config)
            .disable_auth_cache(true)
            .renew_auth(true)
            .http_timeout(opts.request_timeout)
            .http_connect_timeout(opts.connect_timeout)
            .connect();
        // Discovery + authentication are a few requests, each bounded by the SDK; this bounds
        // the whole.
        let overall = opts.request_timeout * 3 + opts.connect_timeout;
        let client = tokio::time::timeout(overall, connect)
            .await
            .map_err(|_| {
                CloudError::new(
                    CloudErrorKind::Transport,
                    format!(
                        "authenticating to cloud `{}` timed out after {}s",
                        cloud.name,
                        overall.as_secs()
                    ),
                )
                .hint(format!(
                    "check that `{}` is reachable from here",
                    cloud.auth.auth_url.as_deref().unwrap_or("auth_url")
                ))
            })?
            .map_err(|e| connect_error(cloud, e))?;
        let info = client.get_auth_info();
        let token = info.as_ref().map(|i| &i.token);
        let project_id = token
            .and_then(|t| t.project.as_ref())
            .and_then(|p| p.id.clone());
        let user_id = token.map(|t| t.user.id.clone());
        let roles = token
            .and_then(|t| t.roles.as_ref())
            .map(|r| r.iter().map(|r| r.name.clone()).collect())
            .unwrap_or_default();
        discover_catalog(&client, &cloud.endpoint_overrides, opts).await;
        let renew = Some(client.enable_auto_renew(chrono::TimeDelta::minutes(5)));
        Ok(Session {
            client,
            cloud: cloud.name.clone(),
            auth_type: cloud.auth_type,
            project_id,
            user_id,
            roles,
            _renew: renew,
        })
    }

    /// The SDK client, for `openstack_sdk::api` endpoints (`.query_async(session.client())`).
    pub fn client(&self) -> &AsyncOpenStack {
        &self.client
    }

    /// The cloud's name (`clouds.yaml` key or `envvars`).
    pub fn cloud_name(&self) -> &str {
        &self.cloud
    }

    /// The project the token is scoped to (`None` with auth type `none`).
    pub fn project_id(&self) -> Option<&str> {
        self.project_id.as_deref()
    }

    /// The authenticated user (`None` with auth type `none`).
    pub fn user_id(&self) -> Option<&str> {
        self.user_id.as_deref()
    }

    /// Role names in the token, implied roles included.
    pub fn roles(&self) -> &[String] {
        &self.roles
    }

    /// The token's details as Keystone returned them (catalog, roles, application
    /// credential with its `restricted` flag).
    pub fn auth_info(&self) -> Option<openstack_sdk::types::identity::v3::AuthResponse> {
        self.client.get_auth_info()
    }

    /// The URL for `service_type` (`compute`, `network`, `image`, `load-balancer`,
    /// `identity`) from the catalog (region and interface of the cloud) or an
    /// `*_endpoint_override`.
    ///
    /// # Errors
    /// Kind `Catalog` when the cloud has no such service.
    pub async fn endpoint(&self, service_type: &str) -> Result<String, CloudError> {
        let st = ServiceType::from(service_type);
        match self.client.get_service_endpoint(&st, None).await {
            Ok(ep) => Ok(ep.url().as_str().to_string()),
            Err(e) => Err(CloudError::new(
                CloudErrorKind::Catalog,
                format!(
                    "cloud `{}` has no `{service_type}` endpoint in its service catalog",
                    self.cloud
                ),
            )
            .hint(format!(
                "check `openstack --os-cloud {} catalog list` and the cloud's `region_name` and \
                 `interface`; or set `{}_endpoint_override`",
                self.cloud,
                service_type.replace('-', "_")
            ))
            .source(e)),
        }
    }

    /// Creates an application credential named `name` for the current user and project with
    /// only those of `roles` the user holds, `unrestricted: false`, expiring at `expires_at`
    /// (ISO 8601) if given. Returns its id and secret (Keystone shows the secret only once).
    ///
    /// # Errors
    /// Kind `Config` when the user holds none of `roles`; kind `Api` with Keystone's status
    /// and message otherwise (403 when this session itself uses an application credential,
    /// 409 when the name exists).
    pub async fn create_restricted_app_credential(
        &self,
        name: &str,
        roles: &[&str],
        expires_at: Option<&str>,
    ) -> Result<(String, Secret), CloudError> {
        let user_id = self.require_user()?;
        let held: Vec<&str> = roles
            .iter()
            .copied()
            .filter(|r| self.roles.iter().any(|h| h == r))
            .collect();
        if held.is_empty() {
            return Err(CloudError::config(format!(
                "cannot create application credential `{name}` on cloud `{}`: the user holds \
                 none of the roles {} (it has {})",
                self.cloud,
                quoted(roles),
                quoted(&self.roles.iter().map(String::as_str).collect::<Vec<_>>())
            ))
            .hint("ask the cloud's admin to grant `member` on the project"));
        }
        let role_list: Vec<app_cred_create::Roles> = held
            .iter()
            .map(|r| {
                app_cred_create::RolesBuilder::default()
                    .name(r.to_string())
                    .build()
                    .expect("name is the only field")
            })
            .collect();
        let mut body = app_cred_create::ApplicationCredentialBuilder::default();
        body.name(name.to_string())
            .description(Some(
                "created by scs-capi for one cluster (restricted)".into(),
            ))
            .roles(role_list)
            .unrestricted(Some(false));
        if let Some(exp) = expires_at {
            body.expires_at(Some(exp.to_string().into()));
        }
        let ep = app_cred_create::Request::builder()
            .user_id(user_id.to_string())
            .application_credential(body.build().map_err(builder_error)?)
            .build()
            .map_err(builder_error)?;
        let v: Value = ep.query_async(&self.client).await.map_err(|e| {
            self.api_error(format!("cannot create application credential `{name}`"), e)
        })?;
        let id = v.get("id").and_then(Value::as_str);
        let secret = v.get("secret").and_then(Value::as_str);
        match (id, secret) {
            (Some(id), Some(secret)) => Ok((id.to_string(), Secret::new(secret))),
            _ => Err(CloudError::new(
                CloudErrorKind::Api,
                format!(
                    "Keystone created application credential `{name}` on cloud `{}` but returned \
                     no id or secret",
                    self.cloud
                ),
            )),
        }
    }

    /// The current user's application credential named `name`, if any.
    ///
    /// # Errors
    /// Kind `Api` with Keystone's status and message.
    pub async fn find_app_credential(
        &self,
        name: &str,
    ) -> Result<Option<AppCredential>, CloudError> {
        let user_id = self.require_user()?;
        let ep = app_cred_list::Request::builder()
            .user_id(user_id.to_string())
            .name(name.to_string())
            .build()
            .map_err(builder_error)?;
        let list: Vec<Value> = ep.query_async(&self.client).await.map_err(|e| {
            self.api_error(
                format!("cannot list application credentials named `{name}`"),
                e,
            )
        })?;
        Ok(list
            .into_iter()
            .find(|v| v.get("name").and_then(Value::as_str) == Some(name))
            .map(|v| AppCredential {
                id: v["id"].as_str().unwrap_or_default().to_string(),
                name: name.to_string(),
                roles: v["roles"]
                    .as_array()
                    .map(|r| {
                        r.iter()
                            .filter_map(|r| r["name"].as_str().map(String::from))
                            .collect()
                    })
                    .unwrap_or_default(),
                expires_at: v["expires_at"].as_str().map(String::from),
                unrestricted: v["unrestricted"].as_bool().unwrap_or(false),
            }))
    }

    /// Deletes the current user's application credential `id`; one that is already gone
    /// (404) counts as deleted.
    ///
    /// # Errors
    /// Kind `Api` with Keystone's status and message.
    pub async fn delete_app_credential(&self, id: &str) -> Result<(), CloudError> {
        let user_id = self.require_user()?;
        let ep = app_cred_delete::Request::builder()
            .user_id(user_id.to_string())
            .id(id.to_string())
            .build()
            .map_err(builder_error)?;
        match ignore(ep).query_async(&self.client).await {
            Ok(()) => Ok(()),
            Err(ApiError::OpenStack { status, .. })
            | Err(ApiError::OpenStackService { status, .. })
            | Err(ApiError::OpenStackUnrecognized { status, .. })
                if status == http::StatusCode::NOT_FOUND =>
            {
                Ok(())
            }
            Err(ApiError::ResourceNotFound) => Ok(()),
            Err(e) => {
                Err(self.api_error(format!("cannot delete application credential `{id}`"), e))
            }
        }
    }

    fn require_user(&self) -> Result<&str, CloudError> {
        match (&self.user_id, self.auth_type) {
            (Some(u), _) => Ok(u),
            (None, _) => Err(CloudError::config(format!(
                "cloud `{}` has no Keystone user (auth type `none`)",
                self.cloud
            ))
            .hint("application credentials need a cloud with `password` or `v3applicationcredential` auth")),
        }
    }

    /// An API failure as "what, on which cloud: status and OpenStack's message".
    fn api_error(&self, what: String, e: ApiError<RestError>) -> CloudError {
        let (kind, detail, status) = match &e {
            ApiError::OpenStack { status, msg, .. } => (
                CloudErrorKind::Api,
                format!("{status}: {msg}"),
                Some(*status),
            ),
            ApiError::OpenStackService { status, data, .. } => (
                CloudErrorKind::Api,
                format!("{status}: {}", truncate(data, 300)),
                Some(*status),
            ),
            ApiError::OpenStackUnrecognized { status, obj, .. } => {
                let detail = match openstack_message(obj) {
                    Some(m) => format!("{status}: {m}"),
                    None => format!("{status}: {}", truncate(&obj.to_string(), 300)),
                };
                (CloudErrorKind::Api, detail, Some(*status))
            }
            ApiError::Catalog { .. } => (CloudErrorKind::Catalog, e.to_string(), None),
            _ => (CloudErrorKind::Transport, e.to_string(), None),
        };
        let mut err = CloudError::new(kind, format!("{what} on cloud `{}`: {detail}", self.cloud));
        if status == Some(http::StatusCode::FORBIDDEN)
            && self.auth_type == AuthType::ApplicationCredential
        {
            err = err.hint(
                "this cloud authenticates with an application credential, which Keystone does \
                 not allow to manage application credentials; use a cloud entry with \
                 `auth_type: password`",
            );
        } else if status == Some(http::StatusCode::FORBIDDEN) {
            err = err.hint("the user lacks the permission; ask the cloud's admin");
        }
        err.source(e)
    }
}

/// Each `*_endpoint_override` of a service in [`discovery::SERVICES`] as the API root to use:
/// versioned ones as given (without a trailing slash), unversioned ones from the service's
/// version document. One that cannot be discovered (unreachable, no matching version) is
/// kept as given, so the first call on it fails with the service's own answer.
async fn discover_overrides(
    probe: &AsyncOpenStack,
    overrides: &std::collections::BTreeMap<String, String>,
    opts: SessionOptions,
) -> std::collections::BTreeMap<String, String> {
    let lookups = overrides.iter().map(|(service, url)| async move {
        let found = match (discovery::wanted(service), url::Url::parse(url)) {
            (Some(w), Ok(u)) => api_root(probe, &u, w, opts).await,
            _ => None,
        };
        (service.clone(), found.unwrap_or_else(|| url.clone()))
    });
    futures_util::future::join_all(lookups)
        .await
        .into_iter()
        .collect()
}

/// `url` as the API root for `wanted`: itself when it names a version, else what its version
/// document points at (`None` when it cannot be read or offers no such version).
async fn api_root(
    client: &AsyncOpenStack,
    url: &url::Url,
    wanted: discovery::Wanted,
    opts: SessionOptions,
) -> Option<String> {
    if discovery::version_in_url(url).is_some() {
        return Some(discovery::trimmed(url).to_string());
    }
    let doc_url = discovery::document_url(url);
    let req = http::Request::builder()
        .method(http::Method::GET)
        .uri(doc_url.as_str())
        .header(http::header::ACCEPT, "application/json");
    let rsp = tokio::time::timeout(opts.request_timeout, client.rest_async(req, Vec::new()))
        .await
        .ok()?
        .ok()?;
    // Services answer their root with 200 or `300 Multiple Choices`.
    if !(rsp.status().is_success() || rsp.status() == http::StatusCode::MULTIPLE_CHOICES) {
        return None;
    }
    let doc: Value = serde_json::from_slice(rsp.body()).ok()?;
    discovery::pick(&doc, url, wanted).map(|u| u.to_string())
}

/// Version discovery of the catalog entries of [`discovery::SERVICES`] that no override
/// replaces, concurrently (the SDK keeps the result and builds its URLs on it; its renewal
/// repeats it after each new token). A service missing from the catalog fails later, on its
/// first call, with a clear error.
async fn discover_catalog(
    client: &AsyncOpenStack,
    overrides: &std::collections::BTreeMap<String, String>,
    opts: SessionOptions,
) {
    let lookups = discovery::SERVICES
        .iter()
        .filter(|w| !overrides.contains_key(w.service_type))
        .map(|w| async move {
            let st = ServiceType::from(w.service_type);
            let _ =
                tokio::time::timeout(opts.request_timeout, client.discover_service_endpoint(&st))
                    .await;
        });
    futures_util::future::join_all(lookups).await;
}

/// The human message in an OpenStack error body: Keystone `{"error": {"message"}}`, Nova
/// `{"badRequest": {"message"}}`, Neutron `{"NeutronError": {"message"}}`.
fn openstack_message(obj: &Value) -> Option<String> {
    if let Some(m) = obj.get("message").and_then(Value::as_str) {
        return Some(m.to_string());
    }
    obj.as_object()?
        .values()
        .find_map(|v| v.get("message").and_then(Value::as_str))
        .map(String::from)
}

fn builder_error(e: impl std::error::Error + Send + Sync + 'static) -> CloudError {
    CloudError::new(CloudErrorKind::Api, "cannot build the Keystone request").source(e)
}

fn connect_error(cloud: &ResolvedCloud, e: OpenStackError) -> CloudError {
    let text = e.to_string();
    let who = cloud
        .auth
        .username
        .as_deref()
        .or(cloud.auth.user_id.as_deref())
        .or(cloud.auth.application_credential_id.as_deref())
        .or(cloud.auth.application_credential_name.as_deref())
        .map(|u| format!(" as `{u}`"))
        .unwrap_or_default();
    let url = cloud.auth.auth_url.as_deref().unwrap_or("?");
    let unauthorized = text.contains("401")
        || text.to_lowercase().contains("unauthorized")
        || text.contains("requires authentication");
    let (kind, hint) = if unauthorized {
        (
            CloudErrorKind::Auth,
            format!(
                "check the credentials of cloud `{}` ({}); `openstack --os-cloud {} token issue` \
                 shows whether they work",
                cloud.name,
                cloud.sources.describe(),
                cloud.name
            ),
        )
    } else if matches!(e, OpenStackError::Communication { .. })
        || text.contains("error sending request")
        || text.contains("Connect")
    {
        (
            CloudErrorKind::Transport,
            format!("check that `{url}` is reachable and the `cacert`/`verify` settings"),
        )
    } else {
        (
            CloudErrorKind::Auth,
            format!(
                "check `auth_url` and the auth settings of cloud `{}` ({})",
                cloud.name,
                cloud.sources.describe()
            ),
        )
    };
    // The SDK's error text never contains the request body, so no secret reaches it.
    CloudError::new(
        kind,
        format!(
            "cannot authenticate to cloud `{}` at `{url}`{who} (auth type `{}`)",
            cloud.name,
            cloud.auth_type.as_str()
        ),
    )
    .hint(hint)
    .source(e)
}

fn quoted(items: &[&str]) -> String {
    if items.is_empty() {
        return "none".into();
    }
    items
        .iter()
        .map(|r| format!("`{r}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        format!("{}...", s.chars().take(n).collect::<String>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloud::config::{Env, resolve_with};

    /// Builds a session (and so a reqwest client with rustls) the way the binary does. With
    /// both `ring` and `aws-lc-rs` enabled on rustls, a client that relies on the process
    /// default provider panics here; reqwest 0.13 (through openstack_sdk) selects aws-lc-rs
    /// explicitly, so this works whatever else is linked. kube-rs (later) needs the
    /// provider installed or a single rustls feature: see `deps-spike.md`.
    #[tokio::test]
    async fn tls_client_builds_with_the_linked_crypto_provider() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("clouds.yaml"),
            "clouds:\n  fake:\n    auth_type: none\n    compute_endpoint_override: https://127.0.0.1:9/v2.1\n",
        )
        .unwrap();
        let env = Env {
            vars: [("HOME".to_string(), dir.path().display().to_string())].into(),
            cwd: dir.path().to_path_buf(),
        };
        let cloud = resolve_with(None, &env).unwrap();
        let s = Session::connect(&cloud).await.unwrap();
        assert_eq!(
            s.endpoint("compute").await.unwrap(),
            "https://127.0.0.1:9/v2.1"
        );
        let e = s.endpoint("load-balancer").await.unwrap_err();
        assert_eq!(e.kind, CloudErrorKind::Catalog);
        assert!(e.to_string().contains("`load-balancer`"), "{e}");
    }
}
