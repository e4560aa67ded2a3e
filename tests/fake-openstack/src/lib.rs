//! An in-process fake OpenStack for scs-capi's tests, demos and benchmarks.
//!
//! One HTTP server on 127.0.0.1 serves Nova under `/compute`, Neutron under `/network`,
//! Glance under `/image`, Octavia under `/load-balancer` and Cinder under
//! `/block-storage`, with the request and response
//! shapes of the real APIs for the calls scs-capi (and the `openstack` CLI doing the same
//! work) makes. There is no Keystone here: either clients use `auth_type: none` with
//! per-service endpoint overrides (standalone), or a real Keystone's catalog points at
//! these URLs; tokens are accepted, never validated. See `README.md`.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! let cloud = fake_openstack::FakeCloud::new();
//! cloud.seed().demo();
//! let running = cloud.serve(0).await?;
//! println!("{}", cloud.endpoints(&running.url).clouds_yaml("fake"));
//! # Ok(()) }
//! ```

// Handlers return ready-made error responses as `Err`; they are rare and cheap to move here.
#![allow(clippy::result_large_err)]

pub mod block_storage;
pub mod compute;
pub mod faults;
pub mod identity;
pub mod image;
pub mod load_balancer;
pub mod network;
pub mod seed;
pub mod state;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State as AxState};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Notify, watch};

pub use faults::{FaultKind, Faults};
pub use seed::{ClusterShape, DEMO_NODE_IMAGE_VERSIONS, Seed, SeededCluster};
pub use state::Timings;

pub(crate) struct Inner {
    pub(crate) state: Mutex<state::State>,
    pub(crate) faults: Mutex<faults::FaultTable>,
    pub(crate) log: Mutex<Vec<LoggedRequest>>,
}

/// The fake cloud: shared state; cheap to clone (all clones see the same cloud).
#[derive(Clone)]
pub struct FakeCloud {
    pub(crate) inner: Arc<Inner>,
}

impl Default for FakeCloud {
    fn default() -> Self {
        Self::new()
    }
}

/// One request as the fake saw it.
#[derive(Debug, Clone, Serialize)]
pub struct LoggedRequest {
    pub method: String,
    /// Full path, service prefix included (`/compute/v2.1/os-server-groups`).
    pub path: String,
    pub query: Option<String>,
    /// Response status; 0 when the connection was dropped by an injected fault.
    pub status: u16,
    /// The request's `OpenStack-API-Version` (or `X-OpenStack-Nova-API-Version`) header.
    pub microversion: Option<String>,
    pub had_token: bool,
}

/// Per-service endpoint URLs of a running fake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    /// `.../compute/v2.1` (what Nova's catalog entry looks like).
    pub compute: String,
    /// `.../network` (unversioned, as Neutron's catalog entry).
    pub network: String,
    /// `.../image` (unversioned, as Glance's catalog entry).
    pub image: String,
    /// `.../load-balancer` (unversioned, as Octavia's catalog entry).
    pub load_balancer: String,
    /// `.../block-storage/v3/<project id>` (as Cinder's catalog entry).
    pub block_storage: String,
    /// `.../identity`: version discovery only, for standalone mode (see [`identity`]).
    /// Not registered in a real Keystone's catalog.
    pub identity: String,
}

impl Endpoints {
    /// (service type, URL) pairs to register in a Keystone catalog (identity excluded).
    pub fn catalog(&self) -> Vec<(&'static str, &str)> {
        vec![
            ("compute", self.compute.as_str()),
            ("network", self.network.as_str()),
            ("image", self.image.as_str()),
            ("load-balancer", self.load_balancer.as_str()),
            ("block-storage", self.block_storage.as_str()),
        ]
    }

    /// A `clouds.yaml` with one standalone cloud (`auth_type: none` + endpoint overrides).
    pub fn clouds_yaml(&self, cloud: &str) -> String {
        format!(
            "clouds:\n  {cloud}:\n    auth_type: none\n    region_name: RegionOne\n    \
             identity_endpoint_override: {}\n    compute_endpoint_override: {}\n    \
             network_endpoint_override: {}\n    image_endpoint_override: {}\n    \
             load_balancer_endpoint_override: {}\n    block_storage_endpoint_override: {}\n",
            self.identity,
            self.compute,
            self.network,
            self.image,
            self.load_balancer,
            self.block_storage
        )
    }
}

/// A serving fake; stops when dropped (or on [`Running::shutdown`]).
pub struct Running {
    /// `http://127.0.0.1:PORT`
    pub url: String,
    pub addr: SocketAddr,
    stop: Option<watch::Sender<bool>>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Running {
    pub fn shutdown(mut self) {
        self.stop_now();
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

#[derive(Clone)]
struct ConnKill(Arc<Notify>);

impl FakeCloud {
    pub fn new() -> FakeCloud {
        FakeCloud {
            inner: Arc::new(Inner {
                state: Mutex::new(state::State::default()),
                faults: Mutex::new(faults::FaultTable::default()),
                log: Mutex::new(Vec::new()),
            }),
        }
    }

    /// Binds `127.0.0.1:port` (0 = any free port) and serves every service on the current
    /// tokio runtime.
    pub async fn serve(&self, port: u16) -> std::io::Result<Running> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
        let addr = listener.local_addr()?;
        let (tx, rx) = watch::channel(false);
        tokio::spawn(accept_loop(listener, self.router(), rx));
        Ok(Running {
            url: format!("http://{addr}"),
            addr,
            stop: Some(tx),
            runtime: None,
        })
    }

    /// Like [`FakeCloud::serve`], on a runtime of its own (2 worker threads), for tests and
    /// programs that are not async.
    pub fn serve_in_background(&self, port: u16) -> std::io::Result<Running> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .thread_name("fake-openstack")
            .build()?;
        let mut running = rt.block_on(self.serve(port))?;
        running.runtime = Some(rt);
        Ok(running)
    }

    /// Per-service URLs under `base` (the `url` of [`Running`]).
    pub fn endpoints(&self, base: &str) -> Endpoints {
        let b = base.trim_end_matches('/');
        Endpoints {
            compute: format!("{b}/compute/v2.1"),
            network: format!("{b}/network"),
            image: format!("{b}/image"),
            load_balancer: format!("{b}/load-balancer"),
            block_storage: format!("{b}/block-storage/v3/{}", state::PROJECT_ID),
            identity: format!("{b}/identity"),
        }
    }

    pub fn seed(&self) -> Seed<'_> {
        Seed { cloud: self }
    }

    pub fn faults(&self) -> Faults<'_> {
        Faults { cloud: self }
    }

    /// Every resource, by kind (`servers`, `ports`, `images`, `loadbalancers`...).
    pub fn snapshot(&self) -> Value {
        let mut s = self.inner.state.lock().unwrap();
        s.tick();
        s.snapshot()
    }

    pub fn request_log(&self) -> Vec<LoggedRequest> {
        self.inner.log.lock().unwrap().clone()
    }

    pub fn clear_request_log(&self) {
        self.inner.log.lock().unwrap().clear();
    }

    pub fn set_timings(&self, t: Timings) {
        self.inner.state.lock().unwrap().timings = t;
    }

    /// Octavia providers: `amphora` (+ its alias `octavia`), plus `ovn` when `with_ovn`.
    pub fn set_lb_providers(&self, with_ovn: bool) {
        let mut s = self.inner.state.lock().unwrap();
        s.lb_providers.retain(|(n, _)| n != "ovn");
        if with_ovn {
            s.lb_providers
                .push(("ovn".into(), "Octavia OVN driver.".into()));
        }
    }

    /// When true, requests without `X-Auth-Token` get 401 (version documents excepted).
    pub fn set_require_token(&self, on: bool) {
        self.inner.state.lock().unwrap().require_token = on;
    }

    fn router(&self) -> Router {
        Router::new()
            .fallback(dispatch)
            .layer(axum::middleware::from_fn_with_state(
                self.inner.clone(),
                front,
            ))
            .with_state(self.inner.clone())
    }
}

async fn accept_loop(
    listener: tokio::net::TcpListener,
    router: Router,
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
            let kill = Arc::new(Notify::new());
            let k2 = kill.clone();
            let svc = hyper::service::service_fn(move |mut req: hyper::Request<_>| {
                let router = router.clone();
                req.extensions_mut().insert(ConnKill(kill.clone()));
                tower::ServiceExt::oneshot(router, req.map(Body::new))
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(sock), svc);
            tokio::select! {
                _ = conn => {}
                _ = k2.notified() => {}
                _ = stop.changed() => {}
            }
        });
    }
}

/// Which service a full path belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Service {
    Compute,
    Network,
    Image,
    LoadBalancer,
    BlockStorage,
    Identity,
    Other,
}

impl Service {
    fn of(path: &str) -> (Service, &str) {
        let p = path.trim_start_matches('/');
        let (first, rest) = p.split_once('/').unwrap_or((p, ""));
        let svc = match first {
            "compute" => Service::Compute,
            "network" => Service::Network,
            "image" => Service::Image,
            "load-balancer" => Service::LoadBalancer,
            "block-storage" => Service::BlockStorage,
            "identity" => Service::Identity,
            _ => Service::Other,
        };
        (svc, rest)
    }

    fn prefix(self) -> &'static str {
        match self {
            Service::Compute => "compute",
            Service::Network => "network",
            Service::Image => "image",
            Service::LoadBalancer => "load-balancer",
            Service::BlockStorage => "block-storage",
            Service::Identity => "identity",
            Service::Other => "",
        }
    }
}

/// A request as the service modules see it.
pub(crate) struct Req {
    pub method: Method,
    /// Path segments after the service prefix (empty segments dropped).
    pub segs: Vec<String>,
    pub query: Vec<(String, String)>,
    pub headers: HeaderMap,
    /// `http://HOST/<service>`: base for links.
    pub base: String,
    pub body: Body,
}

impl Req {
    pub fn seg(&self, i: usize) -> &str {
        self.segs.get(i).map(String::as_str).unwrap_or("")
    }

    /// The body as JSON (`Err` with a message when it is not a JSON document).
    pub async fn json(self) -> Result<Value, String> {
        let bytes = axum::body::to_bytes(self.body, 16 << 20)
            .await
            .map_err(|e| format!("could not read the body: {e}"))?;
        if bytes.is_empty() {
            return Err("The request body is empty.".into());
        }
        serde_json::from_slice(&bytes).map_err(|e| format!("Malformed JSON in request body: {e}"))
    }
}

pub(crate) fn json_resp(status: u16, v: &Value) -> Response {
    let mut r = (
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        serde_json::to_string(v).unwrap_or_default(),
    )
        .into_response();
    r.headers_mut()
        .insert("content-type", HeaderValue::from_static("application/json"));
    r
}

pub(crate) fn empty(status: u16) -> Response {
    let mut r = StatusCode::from_u16(status)
        .unwrap_or(StatusCode::NO_CONTENT)
        .into_response();
    if status != 204 {
        r.headers_mut()
            .insert("content-length", HeaderValue::from_static("0"));
    }
    r
}

fn reason(status: u16) -> &'static str {
    StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Error")
}

/// The error document a service returns for `status` with `message`.
pub(crate) fn error_for(svc: Service, status: u16, message: &str) -> Response {
    if status == 401 {
        // keystonemiddleware, the same for every service
        return json_resp(
            401,
            &json!({"error": {"code": 401, "title": "Unauthorized",
                "message": "The request you have made requires authentication."}}),
        );
    }
    match svc {
        Service::Compute => compute::error(status, message),
        Service::Network => network::error(status, &network::error_type(status), message),
        Service::Image => image::error(status, message),
        Service::BlockStorage => block_storage::error(status, message),
        Service::LoadBalancer | Service::Identity | Service::Other => {
            load_balancer::error(status, message)
        }
    }
}

fn fault_response(svc: Service, kind: &FaultKind) -> Response {
    match kind {
        FaultKind::Status(s) => {
            let msg = match s {
                500 => "An unexpected error occurred (injected fault).".to_string(),
                503 => "The server is currently unavailable (injected fault).".to_string(),
                409 => "Conflict (injected fault).".to_string(),
                _ => format!("{} (injected fault)", reason(*s)),
            };
            error_for(svc, *s, &msg)
        }
        FaultKind::RateLimited { retry_after_secs } => {
            let mut r = match svc {
                Service::Compute => compute::error(429, "Rate limit exceeded (injected fault)."),
                _ => error_for(svc, 429, "Rate limit exceeded (injected fault)."),
            };
            r.headers_mut().insert(
                "retry-after",
                HeaderValue::from_str(&retry_after_secs.to_string()).unwrap(),
            );
            r
        }
        FaultKind::Quota => match svc {
            Service::Compute => compute::error(403, "Quota exceeded, too many server groups."),
            Service::Network => network::error(
                409,
                "OverQuota",
                "Quota exceeded for resources: ['security_group_rule'].",
            ),
            Service::Image => image::error(
                413,
                "Denying attempt to upload image because it exceeds the quota: \
                 The image_size_total quota has been reached.",
            ),
            Service::BlockStorage => block_storage::error(
                413,
                "VolumeLimitExceeded: Maximum number of volumes allowed (10) exceeded for quota 'volumes'.",
            ),
            _ => load_balancer::error(403, "Quota has been met for resources: Load Balancer"),
        },
        FaultKind::Delay(_) | FaultKind::DropConnection => empty(500),
    }
}

fn header_str(h: &HeaderMap, k: &str) -> Option<String> {
    h.get(k).and_then(|v| v.to_str().ok()).map(String::from)
}

/// Front middleware: faults, token check, request ids, request log.
async fn front(AxState(inner): AxState<Arc<Inner>>, req: Request, next: Next) -> Response {
    let method = req.method().to_string();
    let path = req.uri().path().to_string();
    let query = req.uri().query().map(String::from);
    let microversion = header_str(req.headers(), "openstack-api-version")
        .or_else(|| header_str(req.headers(), "x-openstack-nova-api-version"));
    let had_token = req.headers().contains_key("x-auth-token");
    let (svc, rest) = Service::of(&path);
    let log = |status: u16| {
        inner.log.lock().unwrap().push(LoggedRequest {
            method: method.clone(),
            path: path.clone(),
            query: query.clone(),
            status,
            microversion: microversion.clone(),
            had_token,
        })
    };
    let fault = inner.faults.lock().unwrap().take(&method, &path);
    let mut resp = match fault {
        Some(FaultKind::DropConnection) => {
            log(0);
            if let Some(k) = req.extensions().get::<ConnKill>() {
                k.0.notify_one();
            }
            std::future::pending::<()>().await;
            unreachable!()
        }
        Some(FaultKind::Delay(d)) => {
            tokio::time::sleep(d).await;
            None
        }
        Some(k) => Some(fault_response(svc, &k)),
        None => None,
    };
    if resp.is_none() {
        let version_doc = rest.trim_matches('/').split('/').count() <= 1;
        let need_token = inner.state.lock().unwrap().require_token;
        if need_token && !had_token && !version_doc {
            resp = Some(error_for(svc, 401, ""));
        }
    }
    let mut resp = match resp {
        Some(r) => r,
        None => next.run(req).await,
    };
    let rid = state::request_id();
    let h = resp.headers_mut();
    if !h.contains_key("x-openstack-request-id") {
        h.insert(
            "x-openstack-request-id",
            HeaderValue::from_str(&rid).unwrap(),
        );
    }
    if svc == Service::Compute && !h.contains_key("x-compute-request-id") {
        h.insert("x-compute-request-id", HeaderValue::from_str(&rid).unwrap());
    }
    log(resp.status().as_u16());
    resp
}

/// Routes a request to its service module.
async fn dispatch(AxState(inner): AxState<Arc<Inner>>, req: Request) -> Response {
    let path = req.uri().path().to_string();
    let (svc, rest) = Service::of(&path);
    let host = header_str(req.headers(), "host").unwrap_or_else(|| "127.0.0.1".into());
    let query = state::parse_query(req.uri().query());
    let method = req.method().clone();
    let headers = req.headers().clone();
    let r = Req {
        method,
        segs: rest
            .split('/')
            .filter(|s| !s.is_empty())
            .map(state::percent_decode)
            .collect(),
        query,
        headers,
        base: format!("http://{host}/{}", svc.prefix()),
        body: req.into_body(),
    };
    inner.state.lock().unwrap().tick();
    match svc {
        Service::Compute => compute::handle(&inner, r).await,
        Service::Network => network::handle(&inner, r).await,
        Service::Image => image::handle(&inner, r).await,
        Service::LoadBalancer => load_balancer::handle(&inner, r).await,
        Service::BlockStorage => block_storage::handle(&inner, r).await,
        Service::Identity => identity::handle(r).await,
        Service::Other if r.segs.is_empty() => json_resp(
            200,
            &json!({"services": [
                {"type": "compute", "path": "/compute/v2.1"},
                {"type": "network", "path": "/network"},
                {"type": "image", "path": "/image"},
                {"type": "load-balancer", "path": "/load-balancer"},
                {"type": "block-storage", "path": "/block-storage"}]}),
        ),
        Service::Other => load_balancer::error(404, "Not a service of this fake."),
    }
}
