//! A local HTTP server standing in for upstream addon URLs (the fetcher's `--addon-mirror`
//! maps `https://host/path` to `<mirror>/host/path`): fixture files from
//! `tests/fixtures/addons` by file name, else a small ConfigMap named after the file, so
//! every manifest has real content and a real SHA-256.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;

#[derive(Default)]
pub struct Hits(pub AtomicUsize);

pub fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/addons")
}

pub fn content_for(file: &str) -> String {
    std::fs::read_to_string(fixture_dir().join(file)).unwrap_or_else(|_| {
        let stem: String = file
            .trim_end_matches(".yaml")
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' })
            .collect();
        format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {stem}\n  namespace: default\ndata:\n  from: {file}\n")
    })
}

async fn serve(State(h): State<Arc<Hits>>, UrlPath(path): UrlPath<String>) -> (StatusCode, String) {
    h.0.fetch_add(1, Ordering::SeqCst);
    let file = path.rsplit('/').next().unwrap_or_default();
    (StatusCode::OK, content_for(file))
}

/// Serves on its own runtime; returns the URL, the hit counter and the runtime (keep it).
pub fn start() -> (String, Arc<Hits>, tokio::runtime::Runtime) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let hits = Arc::new(Hits::default());
    let app = Router::new()
        .route("/{*path}", axum::routing::get(serve))
        .with_state(hits.clone());
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    rt.spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), hits, rt)
}
