//! One fake API server: its state, HTTP serving on 127.0.0.1, routing of every request
//! (discovery, resources, health), bearer-token check, fault injection and the request log.
//! [`ApiServer`] is cheap to clone; all clones share one server. The management cluster and
//! every workload cluster are each one `ApiServer`.

use crate::faults::{FaultKind, FaultTable};
use crate::log::LoggedRequest;
use crate::registry::Registry;
use crate::status::{ApiError, json_response};
use crate::store::State;
use crate::{discovery, handlers, kubeconfig, util};
use axum::body::Body;
use axum::extract::{Request, State as AxState};
use axum::http::{HeaderMap, HeaderValue, Method};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::{Notify, watch};

pub(crate) struct Inner {
    pub label: String,
    pub state: Mutex<State>,
    pub log: Mutex<Vec<LoggedRequest>>,
    pub faults: Mutex<FaultTable>,
    /// Woken after every write (the simulated controller waits on it).
    pub changed: Notify,
    pub token: String,
    pub require_token: AtomicBool,
    pub url: Mutex<Option<String>>,
    /// Deployments (`namespace`, `name`) whose pods never become ready.
    pub stalled: Mutex<std::collections::BTreeSet<(String, String)>>,
}

/// A fake Kubernetes API server (state + HTTP); clones share the server.
#[derive(Clone)]
pub struct ApiServer {
    pub(crate) inner: Arc<Inner>,
}

/// A serving fake; stops when dropped (or on [`Running::shutdown`]).
pub struct Running {
    /// `http://127.0.0.1:PORT`
    pub url: String,
    pub addr: SocketAddr,
    pub(crate) stop: Option<watch::Sender<bool>>,
    pub(crate) runtime: Option<tokio::runtime::Runtime>,
}

impl Running {
    pub fn shutdown(mut self) {
        self.stop_now();
    }

    /// A receiver that changes when this server stops (for tasks tied to it).
    pub(crate) fn stop_signal(&self) -> Option<watch::Receiver<bool>> {
        self.stop.as_ref().map(|s| s.subscribe())
    }

    fn stop_now(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(true);
        }
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_timeout(Duration::from_secs(1));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop_now();
    }
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock leaves consistent data here (every write is one
    // commit), so a poisoned lock is still usable.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl ApiServer {
    /// A server with the built-in kinds and the standard namespaces; `label` names it in
    /// messages (`management`, `default/demo`).
    pub fn new(label: &str) -> ApiServer {
        ApiServer {
            inner: Arc::new(Inner {
                label: label.to_string(),
                state: Mutex::new(State::new(Registry::builtin())),
                log: Mutex::new(Vec::new()),
                faults: Mutex::new(FaultTable::default()),
                changed: Notify::new(),
                token: util::uid(),
                require_token: AtomicBool::new(false),
                url: Mutex::new(None),
                stalled: Mutex::new(Default::default()),
            }),
        }
    }

    pub fn label(&self) -> &str {
        &self.inner.label
    }

    /// Binds `127.0.0.1:port` (0 = any free port) and serves on the current tokio runtime.
    pub async fn serve(&self, port: u16) -> std::io::Result<Running> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
        let addr = listener.local_addr()?;
        let (tx, rx) = watch::channel(false);
        let url = format!("http://{addr}");
        *lock(&self.inner.url) = Some(url.clone());
        let router = axum::Router::new()
            .fallback(dispatch)
            .with_state(self.inner.clone());
        tokio::spawn(accept_loop(listener, router, rx));
        Ok(Running {
            url,
            addr,
            stop: Some(tx),
            runtime: None,
        })
    }

    /// Like [`ApiServer::serve`], on a runtime of its own (2 worker threads).
    pub fn serve_in_background(&self, port: u16) -> std::io::Result<Running> {
        let rt = background_runtime("fake-kube")?;
        let mut running = rt.block_on(self.serve(port))?;
        running.runtime = Some(rt);
        Ok(running)
    }

    /// `http://127.0.0.1:PORT` once serving.
    pub fn url(&self) -> Option<String> {
        lock(&self.inner.url).clone()
    }

    /// The bearer token its kubeconfigs carry.
    pub fn token(&self) -> &str {
        &self.inner.token
    }

    /// When true, requests without `Authorization: Bearer <token>` get 401.
    pub fn set_require_token(&self, on: bool) {
        self.inner.require_token.store(on, Ordering::SeqCst);
    }

    /// The Deployment `namespace/name` (now or once created) never becomes available, as
    /// when its image cannot be pulled: the controller reports 0 of its replicas ready and
    /// `Available` False (`MinimumReplicasUnavailable`).
    pub fn stall_deployment(&self, namespace: &str, name: &str) {
        lock(&self.inner.stalled).insert((namespace.to_string(), name.to_string()));
        self.inner.changed.notify_one();
    }

    pub(crate) fn is_stalled(&self, namespace: &str, name: &str) -> bool {
        lock(&self.inner.stalled).contains(&(namespace.to_string(), name.to_string()))
    }

    /// A kubeconfig for this server (cluster `cluster`, user `<cluster>-admin`, context
    /// `<cluster>-admin@<cluster>`, bearer token); None before it serves.
    pub fn kubeconfig(&self, cluster: &str) -> Option<String> {
        Some(kubeconfig::render(cluster, &self.url()?, self.token()))
    }

    /// Writes [`ApiServer::kubeconfig`] to `path` with mode 0600.
    pub fn write_kubeconfig(&self, cluster: &str, path: &Path) -> std::io::Result<()> {
        let text = self.kubeconfig(cluster).ok_or_else(|| {
            std::io::Error::other(format!(
                "fake API server `{}` is not serving yet",
                self.label()
            ))
        })?;
        kubeconfig::write_private(path, &text)
    }

    /// Creates every CRD in the YAML files of `dir` (sorted by name); returns how many.
    /// Parsed files are cached for the life of the process (tests start many fakes).
    pub fn load_crds(&self, dir: &Path) -> Result<usize, String> {
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .map_err(|e| format!("cannot read CRD folder `{}`: {e}", dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
            .collect();
        files.sort();
        let mut n = 0;
        for f in files {
            for d in crd_documents(&f)?.iter() {
                self.put(d.clone())
                    .map_err(|e| format!("`{}`: {e}", f.display()))?;
                n += 1;
            }
        }
        Ok(n)
    }

    /// Creates or replaces an object directly (no HTTP, no admission, `status` kept): for
    /// seeding tests. Returns the stored object.
    pub fn put(&self, obj: Value) -> Result<Value, String> {
        let out = {
            let mut st = lock(&self.inner.state);
            let av = obj["apiVersion"].as_str().unwrap_or("");
            let kind = obj["kind"].as_str().unwrap_or("");
            let t = st
                .registry
                .by_kind(av, kind)
                .cloned()
                .ok_or_else(|| format!("no resource for apiVersion `{av}` kind `{kind}`"))?;
            if !obj["metadata"].is_object() || name_of_value(&obj).is_empty() {
                return Err(format!("{kind} needs a metadata object with a name"));
            }
            let mut o = obj;
            if t.namespaced
                && o["metadata"]["namespace"]
                    .as_str()
                    .is_none_or(str::is_empty)
            {
                o["metadata"]["namespace"] = json!("default");
            }
            if t.kind == "CustomResourceDefinition" {
                crate::registry::crd_type(&o)?;
            }
            st.commit(&o)
        };
        self.inner.changed.notify_one();
        Ok(out)
    }

    /// The object `kind` (of `api_version`, any served version of its group) `ns/name`
    /// (`ns` "" for cluster-scoped), with `apiVersion` as requested.
    pub fn get(&self, api_version: &str, kind: &str, ns: &str, name: &str) -> Option<Value> {
        let st = lock(&self.inner.state);
        let t = st.registry.by_kind(api_version, kind)?;
        let mut o = st.get(&t.key(), ns, name)?.clone();
        o["apiVersion"] = json!(api_version);
        Some(o)
    }

    /// Objects of `kind` (in `ns` when given).
    pub fn list(&self, api_version: &str, kind: &str, ns: Option<&str>) -> Vec<Value> {
        let st = lock(&self.inner.state);
        let Some(t) = st.registry.by_kind(api_version, kind) else {
            return Vec::new();
        };
        st.list(&t.key(), ns)
            .into_iter()
            .map(|o| {
                let mut o = o.clone();
                o["apiVersion"] = json!(api_version);
                o
            })
            .collect()
    }

    /// Every stored object, by resource key (`secrets`, `clusters.cluster.x-k8s.io`, ...).
    pub fn snapshot(&self) -> Value {
        let st = lock(&self.inner.state);
        let mut out = serde_json::Map::new();
        for (key, objs) in st.all() {
            if !objs.is_empty() {
                out.insert(key.clone(), Value::Array(objs.values().cloned().collect()));
            }
        }
        Value::Object(out)
    }

    pub fn request_log(&self) -> Vec<LoggedRequest> {
        lock(&self.inner.log).clone()
    }

    pub fn clear_request_log(&self) {
        lock(&self.inner.log).clear();
    }

    /// The next `times` requests `method` (`"*"` = any) under `path_prefix` get `kind`.
    pub fn inject_fault(&self, method: &str, path_prefix: &str, times: usize, kind: FaultKind) {
        lock(&self.inner.faults).add(method, path_prefix, times, kind);
    }

    /// How many injected faults have not fired yet.
    pub fn pending_faults(&self) -> usize {
        lock(&self.inner.faults).pending()
    }

    pub fn clear_faults(&self) {
        lock(&self.inner.faults).clear();
    }

    /// The current global resourceVersion.
    pub fn resource_version(&self) -> u64 {
        lock(&self.inner.state).resource_version()
    }
}

type CrdCache = Mutex<std::collections::HashMap<std::path::PathBuf, Arc<Vec<Value>>>>;

/// The CRD documents of a YAML file (parsed once per process).
fn crd_documents(f: &Path) -> Result<Arc<Vec<Value>>, String> {
    static CACHE: std::sync::OnceLock<CrdCache> = std::sync::OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(d) = lock(cache).get(f) {
        return Ok(d.clone());
    }
    let text =
        std::fs::read_to_string(f).map_err(|e| format!("cannot read `{}`: {e}", f.display()))?;
    let docs: Vec<Value> = serde_saphyr::from_multiple(&text)
        .map_err(|e| format!("`{}` is not valid YAML: {e}", f.display()))?;
    let docs = Arc::new(
        docs.into_iter()
            .filter(|d| d["kind"] == "CustomResourceDefinition")
            .collect::<Vec<_>>(),
    );
    lock(cache).insert(f.to_path_buf(), docs.clone());
    Ok(docs)
}

fn name_of_value(o: &Value) -> &str {
    o["metadata"]["name"].as_str().unwrap_or("")
}

pub(crate) fn background_runtime(name: &str) -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .thread_name(name)
        .build()
}

async fn accept_loop(
    listener: tokio::net::TcpListener,
    router: axum::Router,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let sock = tokio::select! {
            r = listener.accept() => match r {
                Ok((s, _)) => s,
                Err(_) => { tokio::time::sleep(Duration::from_millis(10)).await; continue; }
            },
            _ = stop.changed() => return,
        };
        let _ = sock.set_nodelay(true);
        let router = router.clone();
        let mut stop = stop.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req: hyper::Request<_>| {
                tower::ServiceExt::oneshot(router.clone(), req.map(Body::new))
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(sock), svc);
            tokio::select! {
                _ = conn => {}
                _ = stop.changed() => {}
            }
        });
    }
}

/// A parsed request path.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Route {
    Version,
    Health,
    OpenApiV2,
    Api,
    Apis,
    Group(String),
    GroupVersion(String, String),
    Resource(ResPath),
    Unknown,
}

/// `/api/v1/namespaces/ns/secrets/name/status` and friends.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ResPath {
    pub group: String,
    pub version: String,
    pub namespace: Option<String>,
    pub plural: String,
    pub name: Option<String>,
    pub sub: Option<String>,
}

pub(crate) fn route(path: &str) -> Route {
    let segs: Vec<String> = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(util::percent_decode)
        .collect();
    let s: Vec<&str> = segs.iter().map(String::as_str).collect();
    let (group, version, rest) = match s.as_slice() {
        ["version"] => return Route::Version,
        ["openapi", "v2"] => return Route::OpenApiV2,
        ["healthz" | "readyz" | "livez", ..] => return Route::Health,
        ["api"] => return Route::Api,
        ["apis"] => return Route::Apis,
        ["apis", g] => return Route::Group(g.to_string()),
        ["api", v] => return Route::GroupVersion(String::new(), v.to_string()),
        ["apis", g, v] => return Route::GroupVersion(g.to_string(), v.to_string()),
        ["api", v, rest @ ..] => ("", *v, rest),
        ["apis", g, v, rest @ ..] => (*g, *v, rest),
        _ => return Route::Unknown,
    };
    let (namespace, rest) = match rest {
        ["namespaces", ns, plural, more @ ..] if *plural != "status" && *plural != "finalize" => {
            (Some(ns.to_string()), [&[*plural][..], more].concat())
        }
        _ => (None, rest.to_vec()),
    };
    let (plural, name, sub) = match rest.as_slice() {
        [p] => (p, None, None),
        [p, n] => (p, Some(n.to_string()), None),
        [p, n, sub] => (p, Some(n.to_string()), Some(sub.to_string())),
        _ => return Route::Unknown,
    };
    Route::Resource(ResPath {
        group: group.to_string(),
        version: version.to_string(),
        namespace,
        plural: plural.to_string(),
        name,
        sub,
    })
}

fn header(h: &HeaderMap, k: &str) -> Option<String> {
    h.get(k).and_then(|v| v.to_str().ok()).map(String::from)
}

/// The verb of a resource request, for the log.
fn verb_of(
    method: &Method,
    rp: &ResPath,
    query: &[(String, String)],
    ct: Option<&str>,
) -> &'static str {
    let watch = query
        .iter()
        .any(|(k, v)| k == "watch" && (v == "true" || v == "1"));
    match (method.as_str(), rp.name.is_some()) {
        ("GET", false) if watch => "watch",
        ("GET", false) => "list",
        ("GET", true) => "get",
        ("POST", _) => "create",
        ("PUT", _) => "update",
        ("PATCH", _) if ct.is_some_and(|c| c.starts_with("application/apply-patch")) => "apply",
        ("PATCH", _) => "patch",
        ("DELETE", true) => "delete",
        ("DELETE", false) => "deletecollection",
        _ => "other",
    }
}

async fn dispatch(AxState(inner): AxState<Arc<Inner>>, req: Request) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let raw_query = req.uri().query().map(String::from);
    let query = util::parse_query(raw_query.as_deref());
    let headers = req.headers().clone();
    let ct = header(&headers, "content-type");
    let r = route(&path);
    let mut entry = LoggedRequest {
        method: method.to_string(),
        path: path.clone(),
        query: raw_query,
        content_type: ct.clone(),
        field_manager: query
            .iter()
            .find(|(k, _)| k == "fieldManager")
            .map(|(_, v)| v.clone()),
        user_agent: header(&headers, "user-agent"),
        verb: "discovery".into(),
        group: None,
        resource: None,
        kind: None,
        namespace: None,
        name: None,
        subresource: None,
        dry_run: query.iter().any(|(k, v)| k == "dryRun" && v == "All"),
        status: 0,
    };
    if let Route::Resource(rp) = &r {
        entry.verb = verb_of(&method, rp, &query, ct.as_deref()).into();
        entry.group = Some(rp.group.clone());
        entry.resource = Some(rp.plural.clone());
        entry.kind = lock(&inner.state)
            .registry
            .by_plural(&rp.group, &rp.version, &rp.plural)
            .map(|t| t.kind.clone());
        entry.namespace = rp.namespace.clone();
        entry.name = rp.name.clone();
        entry.subresource = rp.sub.clone();
    }

    let fault = lock(&inner.faults).take(method.as_str(), &path);
    let resp = match fault {
        Some(FaultKind::Status(code)) => Some(injected(code)),
        Some(FaultKind::Delay(d)) => {
            tokio::time::sleep(d).await;
            None
        }
        None => None,
    };
    let resp = match resp {
        Some(r) => r,
        None if !authorized(&inner, &headers) => {
            ApiError::new(401, "Unauthorized", "Unauthorized").into_response()
        }
        None => {
            let body = match axum::body::to_bytes(req.into_body(), 64 << 20).await {
                Ok(b) => b,
                Err(e) => {
                    return ApiError::bad_request(format!("cannot read the request body: {e}"))
                        .into_response();
                }
            };
            let host = header(&headers, "host").unwrap_or_else(|| "127.0.0.1".into());
            match r {
                Route::Version => json_response(200, &discovery::version()),
                Route::Health => {
                    let mut r = "ok".into_response();
                    r.headers_mut()
                        .insert("content-type", HeaderValue::from_static("text/plain"));
                    r
                }
                Route::OpenApiV2 => {
                    // An empty OpenAPI v2 document (protobuf, the only encoding kubectl reads):
                    // kubectl's client-side validation then knows no schema and accepts.
                    let mut r = axum::body::Body::empty().into_response();
                    r.headers_mut().insert(
                        "content-type",
                        HeaderValue::from_static(
                            "application/com.github.proto-openapi.spec.v2.v1.0+protobuf",
                        ),
                    );
                    r
                }
                Route::Api => json_response(200, &discovery::api_versions(&host)),
                Route::Apis => {
                    json_response(200, &discovery::group_list(&lock(&inner.state).registry))
                }
                Route::Group(g) => match discovery::group(&lock(&inner.state).registry, &g) {
                    Some(d) => json_response(200, &d),
                    None => ApiError::no_route().into_response(),
                },
                Route::GroupVersion(g, v) => {
                    match discovery::resource_list(&lock(&inner.state).registry, &g, &v) {
                        Some(d) => json_response(200, &d),
                        None => ApiError::no_route().into_response(),
                    }
                }
                Route::Resource(rp) => {
                    let ctx = handlers::Ctx {
                        method,
                        rp,
                        query,
                        headers,
                        body,
                    };
                    match handlers::handle(&inner, ctx).await {
                        Ok(r) => r,
                        Err(e) => e.into_response(),
                    }
                }
                Route::Unknown => ApiError::no_route().into_response(),
            }
        }
    };
    entry.status = resp.status().as_u16();
    lock(&inner.log).push(entry);
    resp
}

fn injected(code: u16) -> Response {
    let reason = match code {
        429 => "TooManyRequests",
        500 => "InternalError",
        503 => "ServiceUnavailable",
        504 => "Timeout",
        409 => "Conflict",
        404 => "NotFound",
        403 => "Forbidden",
        _ => "Unknown",
    };
    let mut r = ApiError::new(code, reason, format!("injected fault ({code})")).into_response();
    if code == 429 {
        r.headers_mut()
            .insert("retry-after", HeaderValue::from_static("1"));
    }
    r
}

fn authorized(inner: &Inner, headers: &HeaderMap) -> bool {
    if !inner.require_token.load(Ordering::SeqCst) {
        return true;
    }
    header(headers, "authorization").is_some_and(|h| h == format!("Bearer {}", inner.token))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(
        group: &str,
        version: &str,
        ns: Option<&str>,
        plural: &str,
        name: Option<&str>,
        sub: Option<&str>,
    ) -> Route {
        Route::Resource(ResPath {
            group: group.into(),
            version: version.into(),
            namespace: ns.map(String::from),
            plural: plural.into(),
            name: name.map(String::from),
            sub: sub.map(String::from),
        })
    }

    #[test]
    fn paths_route_like_apiserver() {
        assert_eq!(route("/version"), Route::Version);
        assert_eq!(route("/api"), Route::Api);
        assert_eq!(route("/apis/apps"), Route::Group("apps".into()));
        assert_eq!(
            route("/api/v1"),
            Route::GroupVersion("".into(), "v1".into())
        );
        assert_eq!(
            route("/api/v1/namespaces"),
            res("", "v1", None, "namespaces", None, None)
        );
        assert_eq!(
            route("/api/v1/namespaces/x"),
            res("", "v1", None, "namespaces", Some("x"), None)
        );
        assert_eq!(
            route("/api/v1/namespaces/x/status"),
            res("", "v1", None, "namespaces", Some("x"), Some("status"))
        );
        assert_eq!(
            route("/api/v1/namespaces/d/secrets/s"),
            res("", "v1", Some("d"), "secrets", Some("s"), None)
        );
        assert_eq!(
            route("/apis/cluster.x-k8s.io/v1beta2/namespaces/d/clusters/c/status"),
            res(
                "cluster.x-k8s.io",
                "v1beta2",
                Some("d"),
                "clusters",
                Some("c"),
                Some("status")
            )
        );
        assert_eq!(
            route("/apis/cluster.x-k8s.io/v1beta2/clusters"),
            res("cluster.x-k8s.io", "v1beta2", None, "clusters", None, None)
        );
        assert_eq!(route("/apis/g/v/namespaces/d/x/n/s/extra"), Route::Unknown);
        assert_eq!(route("/metrics"), Route::Unknown);
    }
}
