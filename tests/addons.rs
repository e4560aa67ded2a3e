//! Addons end to end without a network: the upstream files are served by a local HTTP
//! server as a mirror with the upstream paths; checked: every file is fetched once and
//! pinned in the lock with its real SHA-256, a changed file is refused, `--locked` refuses
//! unknown files, transient 503s are retried, and every object we produce (patched
//! upstream objects and generated ones) validates against the real Kubernetes schemas.

mod support;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use axum::Router;
use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use scs_capi::addons::{self, AddonName, Context, Fetcher, Lock, fetch::sha256_hex, manifest};
use scs_capi::settings::Settings;
use scs_capi::settings::values::Toggle;
use serde_json::Value;
use support::crds::{CoreSchemas, venv_dir};

#[derive(Default)]
struct Mirror {
    hits: AtomicUsize,
    tamper: AtomicBool,
    fail_next: AtomicUsize,
}

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/addons")
}

/// The fixture for an upstream file name, or a ConfigMap standing in for it.
fn content_for(file: &str) -> String {
    std::fs::read_to_string(fixture_dir().join(file)).unwrap_or_else(|_| {
        let stem: String = file
            .trim_end_matches(".yaml")
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' })
            .collect();
        format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {stem}\n  namespace: default\ndata:\n  from: {file}\n")
    })
}

async fn serve(
    State(m): State<Arc<Mirror>>,
    UrlPath(path): UrlPath<String>,
) -> (StatusCode, String) {
    m.hits.fetch_add(1, Ordering::SeqCst);
    if m.fail_next
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
    {
        return (StatusCode::SERVICE_UNAVAILABLE, "try later".into());
    }
    let file = path.rsplit('/').next().unwrap_or_default();
    let mut body = content_for(file);
    if m.tamper.load(Ordering::SeqCst) {
        body.push_str("# changed\n");
    }
    (StatusCode::OK, body)
}

async fn start_mirror() -> (String, Arc<Mirror>) {
    let mirror = Arc::new(Mirror::default());
    let app = Router::new()
        .route("/{*path}", axum::routing::get(serve))
        .with_state(mirror.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), mirror)
}

fn settings() -> Settings {
    let mut s = Settings::default();
    s.kubernetes_version.minor = 33;
    s.deploy_cert_manager = Toggle::Default;
    s.deploy_flux = Toggle::Default;
    s
}

fn ctx() -> Context {
    Context {
        cluster_name: "foo".into(),
        pod_cidr: "192.168.0.0/16".into(),
        node_cidr: "10.8.0.0/20".into(),
        mtu: 1400,
        ovn_lb: false,
        nginx_proxy: true,
        cloud_conf: Some("[Global]\nauth-url=https://keystone.example:5000/v3\n".into()),
    }
}

#[tokio::test]
async fn builds_every_addon_pins_checksums_and_reuses_the_cache() {
    let (url, mirror) = start_mirror().await;
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let lock_path = tmp.path().join(addons::lock::FILE_NAME);
    let desired = addons::catalog::desired(&settings());
    let fetcher = Fetcher::new(cache.clone(), Some(&url), false).unwrap();

    let mut lock = Lock::load(&lock_path).unwrap();
    let built = addons::build(&desired, &fetcher, &mut lock, &ctx())
        .await
        .unwrap();
    lock.save().unwrap();

    let urls: Vec<String> = desired
        .install
        .iter()
        .flat_map(|a| match &a.install {
            addons::Install::Manifests { urls } => urls.clone(),
            addons::Install::CiliumCli { .. } => Vec::new(),
        })
        .collect();
    assert_eq!(mirror.hits.load(Ordering::SeqCst), urls.len());
    let reloaded = Lock::load(&lock_path).unwrap();
    for u in &urls {
        let file = u.rsplit('/').next().unwrap();
        assert_eq!(
            reloaded.get(u),
            Some(sha256_hex(content_for(file).as_bytes()).as_str()),
            "{u}"
        );
    }

    // The patches reached the objects, and every object names its addon.
    let occm = built.iter().find(|b| b.name == AddonName::Occm).unwrap();
    let ds = occm
        .objects
        .iter()
        .find(|o| o["kind"] == "DaemonSet")
        .unwrap();
    let args = &ds["spec"]["template"]["spec"]["containers"][0]["args"];
    assert!(
        args.as_array()
            .unwrap()
            .contains(&Value::from("--cluster-name=foo")),
        "{args}"
    );
    assert!(
        occm.objects
            .iter()
            .any(|o| o["kind"] == "Secret" && o["metadata"]["name"] == "cloud-config")
    );
    for b in &built {
        for o in &b.objects {
            assert_eq!(
                o["metadata"]["labels"][manifest::ADDON_LABEL],
                b.name.as_str(),
                "{}",
                manifest::identity(o)
            );
        }
    }

    // Second run: everything comes from the cache, nothing is recorded anew.
    let mut lock = Lock::load(&lock_path).unwrap();
    let again = addons::build(&desired, &fetcher, &mut lock, &ctx())
        .await
        .unwrap();
    assert_eq!(mirror.hits.load(Ordering::SeqCst), urls.len());
    assert!(lock.recorded().is_empty());
    assert_eq!(
        again.iter().map(|b| b.objects.len()).sum::<usize>(),
        built.iter().map(|b| b.objects.len()).sum::<usize>()
    );

    // Built-in kinds validate against the real Kubernetes schemas (kubernetes-validate).
    let schemas =
        CoreSchemas::load(&venv_dir()).expect("core schemas (scripts/test.sh installs them)");
    let mut checked = 0;
    for o in built.iter().flat_map(|b| &b.objects) {
        if o["kind"] == "CustomResourceDefinition" {
            continue;
        }
        schemas
            .validate(o)
            .unwrap_or_else(|e| panic!("{}: {e:?}", manifest::identity(o)));
        checked += 1;
    }
    assert!(checked > 15, "only {checked} objects checked");
}

#[tokio::test]
async fn a_changed_upstream_file_is_refused_and_nothing_is_cached() {
    let (url, mirror) = start_mirror().await;
    let tmp = tempfile::tempdir().unwrap();
    let lock_path = tmp.path().join(addons::lock::FILE_NAME);
    let desired = addons::catalog::desired(&settings());
    // Pin with one cache, then ask again with an empty cache while upstream changed.
    let first = Fetcher::new(tmp.path().join("c1"), Some(&url), false).unwrap();
    let mut lock = Lock::load(&lock_path).unwrap();
    addons::build(&desired, &first, &mut lock, &ctx())
        .await
        .unwrap();
    lock.save().unwrap();

    mirror.tamper.store(true, Ordering::SeqCst);
    let second = Fetcher::new(tmp.path().join("c2"), Some(&url), false).unwrap();
    let mut lock = Lock::load(&lock_path).unwrap();
    let err = addons::build(&desired, &second, &mut lock, &ctx())
        .await
        .unwrap_err();
    assert!(err.message.starts_with("checksum mismatch for `https://raw.githubusercontent.com/projectcalico/calico/v3.31.7/manifests/calico.yaml`"), "{}", err.message);
    assert!(
        err.hint
            .as_deref()
            .unwrap_or_default()
            .contains("nothing was applied")
    );
    assert!(
        !tmp.path().join("c2").exists()
            || std::fs::read_dir(tmp.path().join("c2"))
                .unwrap()
                .next()
                .is_none()
    );

    // The pinned cache still serves the pinned content even while upstream is changed.
    let mut lock = Lock::load(&lock_path).unwrap();
    addons::build(&desired, &first, &mut lock, &ctx())
        .await
        .unwrap();
}

#[tokio::test]
async fn locked_runs_refuse_unpinned_files_and_transient_errors_are_retried() {
    let (url, mirror) = start_mirror().await;
    let tmp = tempfile::tempdir().unwrap();
    let lock_path = tmp.path().join(addons::lock::FILE_NAME);
    let desired = addons::catalog::desired(&settings());

    let locked = Fetcher::new(tmp.path().join("c"), Some(&url), true).unwrap();
    let mut lock = Lock::load(&lock_path).unwrap();
    let err = addons::build(&desired, &locked, &mut lock, &ctx())
        .await
        .unwrap_err();
    assert!(
        err.message.contains("has no checksum") && err.message.contains("--locked"),
        "{}",
        err.message
    );
    assert_eq!(mirror.hits.load(Ordering::SeqCst), 0, "nothing downloaded");

    mirror.fail_next.store(2, Ordering::SeqCst);
    let fetcher = Fetcher::new(tmp.path().join("c"), Some(&url), false).unwrap();
    addons::build(&desired, &fetcher, &mut lock, &ctx())
        .await
        .unwrap();
    assert_eq!(mirror.fail_next.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn an_unreachable_mirror_names_the_upstream_url_and_the_mirror() {
    let tmp = tempfile::tempdir().unwrap();
    // A port nobody listens on: bind, take the address, drop the listener.
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let fetcher =
        Fetcher::new(tmp.path().join("c"), Some(&format!("http://{addr}")), false).unwrap();
    let mut lock = Lock::load(&tmp.path().join("l.yaml")).unwrap();
    let url = "https://github.com/fluxcd/flux2/releases/download/v2.4.0/install.yaml";
    let err = fetcher.fetch(url, &mut lock).await.unwrap_err();
    assert!(
        err.message.starts_with(&format!(
            "cannot download `{url}` (from `http://{addr}/github.com/"
        )),
        "{}",
        err.message
    );
    assert!(Fetcher::new(tmp.path().into(), Some("ftp://x"), false).is_err());
}
