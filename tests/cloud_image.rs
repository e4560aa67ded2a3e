//! The node image (`cloud::image::ensure_image`) against the fake Glance (standalone,
//! `auth_type: none`) and a small HTTP file server in this test (raw tokio, so it can also
//! answer 404 and drop a connection mid-body).
//!
//! Covered: a streamed 64 MiB upload reaches `active` with the right size, SHA-512 and SCS
//! properties, and reports progress; an active image is adopted without upload; a wrong
//! SHA-256 never activates the image and leaves none behind; a 404 source creates nothing;
//! a dropped source connection fails and cleans up; a `queued` image is reported with a
//! hint; a local file path works. The in-flight guard (audit M3): a leftover
//! `<name>.uploading` of a dead run and a stale `queued` image of the final name are
//! removed and the upload redone; a fresh `queued` one is left alone; an active image wins
//! over a newer `queued` one (which is removed once stale); two concurrent runs upload
//! once and both get the same image.
//!
//! `bench_upload_from_env` (ignored) is the driver of `scripts/bench/image.sh`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use fake_openstack::FakeCloud;
use scs_capi::cloud::config::{Env, resolve_with};
use scs_capi::cloud::image::{DiskFormat, ImageOutcome, ImageSpec, ensure_image};
use scs_capi::cloud::{CloudErrorKind, Session};
use scs_capi::ui::Progress;
use serde_json::{Value, json};
use sha2::{Digest, Sha256, Sha512};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const MIB: u64 = 1024 * 1024;

// ---------------------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------------------

struct Env1 {
    cloud: FakeCloud,
    _running: fake_openstack::Running,
    session: Session,
    source: String,
    dir: tempfile::TempDir,
}

async fn setup() -> Env1 {
    let cloud = FakeCloud::new();
    let running = cloud.serve(0).await.expect("fake serves");
    let dir = tempfile::tempdir().unwrap();
    let clouds = dir.path().join("clouds.yaml");
    // A versioned image override (the unversioned forms are covered by
    // tests/cloud_discovery.rs).
    let ep = cloud.endpoints(&running.url);
    let mut yaml = ep.clouds_yaml("fake");
    if !ep.image.trim_end_matches('/').ends_with("/v2") {
        yaml = yaml.replace(
            &format!("image_endpoint_override: {}\n", ep.image),
            &format!("image_endpoint_override: {}/v2\n", ep.image),
        );
    }
    assert!(yaml.contains("/image/v2\n"), "{yaml}");
    std::fs::write(&clouds, yaml).unwrap();
    let env = Env {
        vars: BTreeMap::from([
            ("HOME".to_string(), dir.path().display().to_string()),
            (
                "OS_CLIENT_CONFIG_FILE".to_string(),
                clouds.display().to_string(),
            ),
        ]),
        cwd: dir.path().to_path_buf(),
    };
    let resolved = resolve_with(Some("fake"), &env).expect("clouds.yaml resolves");
    let session = Session::connect(&resolved).await.expect("session");
    let files = dir.path().join("files");
    std::fs::create_dir(&files).unwrap();
    let source = serve_files(files).await;
    Env1 {
        cloud,
        _running: running,
        session,
        source,
        dir,
    }
}

impl Env1 {
    fn files(&self) -> PathBuf {
        self.dir.path().join("files")
    }

    fn images(&self) -> Vec<Value> {
        self.cloud.snapshot()["images"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    fn log(&self, method: &str, suffix: &str) -> Vec<u16> {
        self.cloud
            .request_log()
            .iter()
            .filter(|r| r.method == method && r.path.ends_with(suffix))
            .map(|r| r.status)
            .collect()
    }

    fn spec(&self, name: &str, url: &str, sha: &str) -> ImageSpec {
        let mut s = ImageSpec::new(name, url, sha, "v1.30.4");
        s.timeouts.stall = Duration::from_secs(5);
        s.timeouts.active = Duration::from_secs(10);
        s
    }
}

/// Writes `len` pseudo-random bytes starting with a qcow2 header that declares
/// `virtual_gib` GiB; returns (SHA-256, SHA-512) hex.
fn make_image(path: &Path, len: u64, virtual_gib: u64) -> (String, String) {
    use std::io::Write;
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut s256 = Sha256::new();
    let mut s512 = Sha512::new();
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut chunk = vec![0u8; MIB as usize];
    let mut written = 0;
    while written < len {
        for w in chunk.chunks_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            w.copy_from_slice(&x.to_le_bytes()[..w.len()]);
        }
        if written == 0 {
            chunk[..4].copy_from_slice(b"QFI\xfb");
            chunk[4..8].copy_from_slice(&3u32.to_be_bytes());
            chunk[24..32].copy_from_slice(&(virtual_gib << 30).to_be_bytes());
        }
        let n = (len - written).min(MIB) as usize;
        f.write_all(&chunk[..n]).unwrap();
        s256.update(&chunk[..n]);
        s512.update(&chunk[..n]);
        written += n as u64;
    }
    f.flush().unwrap();
    (hex(&s256.finalize()), hex(&s512.finalize()))
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// `GET /file/NAME` serves `dir/NAME` (Content-Length, Last-Modified); `GET /drop/NAME`
/// announces the full length, sends half and closes; anything else is 404.
async fn serve_files(dir: PathBuf) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let dir = dir.clone();
            tokio::spawn(async move {
                let mut req = Vec::new();
                let mut buf = [0u8; 1024];
                while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                    match sock.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => req.extend_from_slice(&buf[..n]),
                    }
                }
                let line = String::from_utf8_lossy(&req)
                    .lines()
                    .next()
                    .unwrap_or("")
                    .to_string();
                let path = line.split(' ').nth(1).unwrap_or("/").to_string();
                let (mode, name) = path[1..].split_once('/').unwrap_or(("", ""));
                let file = dir.join(name);
                let Ok(mut f) = tokio::fs::File::open(&file).await else {
                    let _ = sock
                        .write_all(b"HTTP/1.1 404 Not Found\r\ncontent-length: 9\r\nconnection: close\r\n\r\nnot found")
                        .await;
                    return;
                };
                let len = f.metadata().await.unwrap().len();
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\n\
                     content-length: {len}\r\nlast-modified: Sat, 01 Jun 2024 10:00:00 GMT\r\n\
                     connection: close\r\n\r\n"
                );
                if sock.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                let limit = if mode == "drop" { len / 2 } else { len };
                let mut sent = 0u64;
                let mut chunk = vec![0u8; 256 * 1024];
                while sent < limit {
                    let want = ((limit - sent) as usize).min(chunk.len());
                    let n = f.read(&mut chunk[..want]).await.unwrap();
                    if n == 0 || sock.write_all(&chunk[..n]).await.is_err() {
                        return;
                    }
                    sent += n as u64;
                }
                let _ = sock.shutdown().await;
            });
        }
    });
    url
}

/// Records every call.
#[derive(Default)]
struct Recorder(Mutex<Vec<String>>);

impl Recorder {
    fn events(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
    fn push(&self, e: String) {
        self.0.lock().unwrap().push(e);
    }
}

impl Progress for Recorder {
    fn phase(&self, title: &str) {
        self.push(format!("phase {title}"));
    }
    fn start_bytes(&self, title: &str, total: Option<u64>) {
        self.push(format!("start {title} total={total:?}"));
    }
    fn bytes(&self, done: u64) {
        self.push(format!("bytes {done}"));
    }
    fn message(&self, line: &str) {
        self.push(format!("message {line}"));
    }
    fn finish(&self, summary: &str) {
        self.push(format!("finish {summary}"));
    }
}

// ---------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_streams_to_active_then_adopts() {
    let e = setup().await;
    let len = 64 * MIB;
    let (sha256, sha512) = make_image(&e.files().join("node.qcow2"), len, 5);
    let url = format!("{}/file/node.qcow2", e.source);
    let mut spec = e.spec("ubuntu-capi-image-v1.30.4", &url, &sha256);
    spec.extra_properties
        .insert("scs_extra".into(), "yes".into());
    let rec = Recorder::default();

    let info = ensure_image(&e.session, &spec, &rec)
        .await
        .expect("upload works");
    assert_eq!(info.status, "active");
    assert_eq!(info.size, Some(len));
    assert_eq!(info.os_hash_value.as_deref(), Some(sha512.as_str()));
    assert!(matches!(info.outcome, ImageOutcome::Uploaded { bytes, .. } if bytes == len));

    let images = e.images();
    assert_eq!(images.len(), 1, "{images:#?}");
    let img = &images[0];
    assert_eq!(img["status"], "active");
    assert_eq!(img["size"], json!(len));
    assert_eq!(img["os_hash_value"], json!(sha512));
    assert_eq!(img["disk_format"], "qcow2");
    assert_eq!(img["container_format"], "bare");
    assert_eq!(img["min_disk"], 5, "from the qcow2 header's virtual size");
    assert_eq!(img["min_ram"], 1024);
    assert_eq!(img["tags"], json!(["managed_by_osism"]));
    for (k, v) in [
        ("os_distro", "ubuntu"),
        ("os_version", "22.04"),
        ("image_original_user", "ubuntu"),
        ("architecture", "x86_64"),
        ("hypervisor_type", "kvm"),
        ("hw_disk_bus", "scsi"),
        ("hw_scsi_model", "virtio-scsi"),
        ("hw_rng_model", "virtio"),
        ("image_source", url.as_str()),
        (
            "image_description",
            "https://github.com/osism/k8s-capi-images",
        ),
        ("kubernetes_version", "v1.30.4"),
        ("replace_frequency", "never"),
        ("image_build_date", "2024-06-01"),
        ("provided_until", "2025-06-01"),
        ("uuid_validity", "2025-06-01"),
        ("scs_extra", "yes"),
    ] {
        assert_eq!(img[k], v, "property `{k}`");
    }

    let ev = rec.events();
    assert!(
        ev.iter().any(
            |l| l.starts_with("start uploading `ubuntu-capi-image-v1.30.4`")
                && l.ends_with(&format!("total=Some({len})"))
        ),
        "{ev:#?}"
    );
    let bytes: Vec<u64> = ev
        .iter()
        .filter_map(|l| l.strip_prefix("bytes ")?.parse().ok())
        .collect();
    assert!(
        bytes.windows(2).all(|w| w[0] <= w[1]),
        "monotonic: {bytes:?}"
    );
    assert_eq!(bytes.last(), Some(&len));
    assert!(ev.iter().any(|l| l.contains("SHA-256 verified")), "{ev:#?}");
    assert!(ev.iter().any(|l| l.contains("is active")), "{ev:#?}");

    // Second run: adopted, no second upload.
    let rec2 = Recorder::default();
    let again = ensure_image(&e.session, &spec, &rec2).await.expect("adopt");
    assert_eq!(again.outcome, ImageOutcome::Adopted);
    assert_eq!(again.id, info.id);
    assert_eq!(e.log("PUT", "/file"), vec![204]);
    assert_eq!(e.log("POST", "/image/v2/images").len(), 1);
    assert!(
        rec2.events()
            .iter()
            .any(|l| l.contains("exists and is active"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_sha256_never_activates_and_leaves_nothing() {
    let e = setup().await;
    let (sha256, _) = make_image(&e.files().join("node.qcow2"), 8 * MIB, 1);
    let mut wrong = sha256.clone().into_bytes();
    wrong[0] = if wrong[0] == b'0' { b'1' } else { b'0' };
    let wrong = String::from_utf8(wrong).unwrap();
    let url = format!("{}/file/node.qcow2", e.source);
    // Watch the fake's state during the upload: the image must never be `active`.
    let seen_active = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watcher = {
        let (cloud, seen, stop) = (e.cloud.clone(), seen_active.clone(), stop.clone());
        tokio::spawn(async move {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let snap = cloud.snapshot();
                if snap["images"]
                    .as_array()
                    .is_some_and(|a| a.iter().any(|i| i["status"] == "active"))
                {
                    seen.store(true, std::sync::atomic::Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        })
    };
    let err = ensure_image(
        &e.session,
        &e.spec("img", &url, &wrong),
        &Recorder::default(),
    )
    .await
    .unwrap_err();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    watcher.await.unwrap();
    assert_eq!(err.kind, CloudErrorKind::Api);
    assert!(
        err.message.contains(&format!("SHA-256 `{sha256}`")),
        "{err}"
    );
    assert!(
        err.message.contains(&format!("expected `{wrong}`")),
        "{err}"
    );
    assert!(
        err.hint
            .as_deref()
            .unwrap_or("")
            .contains("node_image_sha256"),
        "{err:?}"
    );
    assert!(e.images().is_empty(), "{:#?}", e.images());
    // The body never ended, so Glance never completed the upload nor made the image active.
    assert!(
        !seen_active.load(std::sync::atomic::Ordering::Relaxed),
        "image was active"
    );
    assert!(!e.log("PUT", "/file").contains(&204));
    assert_eq!(e.log("DELETE", "").len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_source_creates_nothing() {
    let e = setup().await;
    let url = format!("{}/file/nope.qcow2", e.source);
    let err = ensure_image(
        &e.session,
        &e.spec("img", &url, &"0".repeat(64)),
        &Recorder::default(),
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind, CloudErrorKind::Transport);
    assert!(err.message.contains("404"), "{err}");
    assert!(err.message.contains(&format!("`{url}`")), "{err}");
    assert!(
        err.hint.as_deref().unwrap_or("").contains("node_image_url"),
        "{err:?}"
    );
    assert!(e.images().is_empty());
    assert!(
        e.log("POST", "/image/v2/images").is_empty(),
        "nothing created"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_source_connection_fails_and_cleans_up() {
    let e = setup().await;
    let (sha256, _) = make_image(&e.files().join("node.qcow2"), 16 * MIB, 1);
    let url = format!("{}/drop/node.qcow2", e.source);
    let err = ensure_image(
        &e.session,
        &e.spec("img", &url, &sha256),
        &Recorder::default(),
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind, CloudErrorKind::Transport, "{err}");
    assert!(err.message.contains("downloading the node image"), "{err}");
    assert!(err.message.contains("failed after"), "{err}");
    assert!(e.images().is_empty(), "{:#?}", e.images());
    assert_ne!(e.log("PUT", "/file"), vec![204]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_image_is_reported_with_a_hint() {
    let e = setup().await;
    let base = e.session.endpoint("image").await.unwrap();
    let r = reqwest::Client::new()
        .post(format!("{}/images", base.trim_end_matches('/')))
        .json(&json!({"name": "img", "disk_format": "qcow2", "container_format": "bare"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let url = format!("{}/file/x.qcow2", e.source);
    let err = ensure_image(
        &e.session,
        &e.spec("img", &url, &"0".repeat(64)),
        &Recorder::default(),
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind, CloudErrorKind::Config);
    assert!(err.message.contains("is `queued`"), "{err}");
    assert!(
        err.hint.as_deref().unwrap_or("").contains("image delete"),
        "{err:?}"
    );
    assert_eq!(e.images().len(), 1, "not ours to delete");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_file_and_declared_format_mismatch() {
    let e = setup().await;
    let path = e.files().join("node.qcow2");
    let (sha256, _) = make_image(&path, 3 * MIB + 17, 2);
    let mut spec = e.spec("img", path.to_str().unwrap(), &sha256);
    spec.disk_format = Some(DiskFormat::Raw);
    let err = ensure_image(&e.session, &spec, &Recorder::default())
        .await
        .unwrap_err();
    assert_eq!(err.kind, CloudErrorKind::Config);
    assert!(err.message.contains("qcow2"), "{err}");
    assert!(e.images().is_empty());

    spec.disk_format = Some(DiskFormat::Qcow2);
    let info = ensure_image(&e.session, &spec, &Recorder::default())
        .await
        .expect("local file uploads");
    assert_eq!(info.size, Some(3 * MIB + 17));
    assert_eq!(info.min_disk, 2);
}

/// Driver for `scripts/bench/image.sh`: uploads `SCS_BENCH_URL` (SHA-256
/// `SCS_BENCH_SHA256`) as `SCS_BENCH_IMAGE` to cloud `fake` of `SCS_BENCH_CLOUDS_YAML` and
/// prints `BENCH bytes=<n> seconds=<s> mib_s=<x>`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark driver, run by scripts/bench/image.sh"]
async fn bench_upload_from_env() {
    let var = |k: &str| std::env::var(k).unwrap_or_else(|_| panic!("{k} is not set"));
    let clouds = var("SCS_BENCH_CLOUDS_YAML");
    let dir = Path::new(&clouds).parent().unwrap().to_path_buf();
    let env = Env {
        vars: BTreeMap::from([
            ("HOME".to_string(), dir.display().to_string()),
            ("OS_CLIENT_CONFIG_FILE".to_string(), clouds.clone()),
        ]),
        cwd: dir,
    };
    let resolved = resolve_with(Some("fake"), &env).expect("clouds.yaml");
    let session = Session::connect(&resolved).await.expect("session");
    let spec = ImageSpec::new(
        &var("SCS_BENCH_IMAGE"),
        &var("SCS_BENCH_URL"),
        &var("SCS_BENCH_SHA256"),
        "v1.30.4",
    );
    let progress = scs_capi::ui::PlainProgress::stderr();
    let info = ensure_image(&session, &spec, &progress)
        .await
        .expect("upload");
    let ImageOutcome::Uploaded { bytes, seconds } = info.outcome else {
        panic!("image existed already");
    };
    println!(
        "BENCH bytes={bytes} seconds={seconds:.3} mib_s={:.1}",
        bytes as f64 / MIB as f64 / seconds
    );
}

// ---------------------------------------------------------------------------------------
// In-flight guard, leftovers, concurrent runs (security audit M3)
// ---------------------------------------------------------------------------------------

/// Creates an image through the fake's Glance API (`queued`); uploads `data` if given.
async fn raw_image(e: &Env1, body: Value, data: Option<Vec<u8>>) -> String {
    let base = e.session.endpoint("image").await.unwrap();
    let base = base.trim_end_matches('/');
    let c = reqwest::Client::new();
    let r = c
        .post(format!("{base}/images"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let v: Value = r.json().await.unwrap();
    let id = v["id"].as_str().unwrap().to_string();
    if let Some(data) = data {
        let r = c
            .put(format!("{base}/images/{id}/file"))
            .header("content-type", "application/octet-stream")
            .body(data)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 204);
    }
    id
}

/// The pid of a process that has exited (for an in-flight image "left by a dead run").
fn dead_pid() -> u32 {
    let mut c = std::process::Command::new("true").spawn().unwrap();
    let pid = c.id();
    c.wait().unwrap();
    pid
}

fn this_host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap()
        .trim()
        .to_string()
}

fn named<'a>(images: &'a [Value], name: &str) -> Vec<&'a Value> {
    images.iter().filter(|i| i["name"] == name).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leftover_in_flight_and_stale_queued_images_are_removed_then_uploaded() {
    let e = setup().await;
    let (sha256, _) = make_image(&e.files().join("n.qcow2"), 2 * MIB, 1);
    let url = format!("{}/file/n.qcow2", e.source);
    // Left by a run of this host that was killed mid-upload.
    let left = raw_image(
        &e,
        json!({"name": "img.uploading", "disk_format": "qcow2", "container_format": "bare",
               "scs_capi_upload": "in-progress",
               "scs_capi_upload_owner": format!("{} pid {}", this_host(), dead_pid())}),
        None,
    )
    .await;
    // What an older version left under the final name: `queued` for longer than the limit.
    let old = raw_image(
        &e,
        json!({"name": "img", "disk_format": "qcow2", "container_format": "bare"}),
        None,
    )
    .await;
    let mut spec = e.spec("img", &url, &sha256);
    spec.timeouts.queued_stale = Duration::ZERO;
    let rec = Recorder::default();
    let info = ensure_image(&e.session, &spec, &rec)
        .await
        .expect("uploads");
    assert!(matches!(info.outcome, ImageOutcome::Uploaded { .. }));
    let images = e.images();
    assert_eq!(images.len(), 1, "{images:#?}");
    assert_eq!(images[0]["name"], "img");
    assert_eq!(images[0]["status"], "active");
    assert!(
        images[0].get("scs_capi_upload").is_none(),
        "marker dropped: {images:#?}"
    );
    assert!(images[0].get("scs_capi_upload_owner").is_none());
    let ev = rec.events();
    for id in [&left, &old] {
        assert!(
            ev.iter()
                .any(|l| l.starts_with("message removed image") && l.contains(id.as_str())),
            "{id}: {ev:#?}"
        );
    }
    assert!(
        ev.iter().any(|l| l.contains("left by an interrupted run")),
        "{ev:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_queued_image_of_the_final_name_is_not_deleted() {
    let e = setup().await;
    raw_image(
        &e,
        json!({"name": "img", "disk_format": "qcow2", "container_format": "bare"}),
        None,
    )
    .await;
    let url = format!("{}/file/x.qcow2", e.source);
    let err = ensure_image(
        &e.session,
        &e.spec("img", &url, &"0".repeat(64)),
        &Recorder::default(),
    )
    .await
    .unwrap_err();
    assert!(err.message.contains("is `queued`"), "{err}");
    assert_eq!(e.images().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_active_image_is_chosen_over_a_newer_queued_one() {
    let e = setup().await;
    let active = raw_image(
        &e,
        json!({"name": "img", "disk_format": "raw", "container_format": "bare"}),
        Some(vec![7u8; 4096]),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let queued = raw_image(
        &e,
        json!({"name": "img", "disk_format": "raw", "container_format": "bare"}),
        None,
    )
    .await;
    let url = format!("{}/file/x.qcow2", e.source);
    let mut spec = e.spec("img", &url, &"0".repeat(64));
    // Fresh: chosen around, left alone.
    let info = ensure_image(&e.session, &spec, &Recorder::default())
        .await
        .expect("adopts the active one");
    assert_eq!(info.id, active);
    assert_eq!(info.outcome, ImageOutcome::Adopted);
    assert_eq!(e.images().len(), 2);
    // Stale: removed, so the name is unambiguous for CAPO again.
    spec.timeouts.queued_stale = Duration::ZERO;
    let info = ensure_image(&e.session, &spec, &Recorder::default())
        .await
        .expect("adopts the active one");
    assert_eq!(info.id, active);
    let images = e.images();
    assert_eq!(images.len(), 1, "{images:#?}");
    assert_ne!(images[0]["id"], json!(queued));
    assert!(e.log("PUT", "/file").len() == 1, "no upload of ours");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_concurrent_runs_upload_one_image() {
    let e = setup().await;
    let (sha256, _) = make_image(&e.files().join("n.qcow2"), 8 * MIB, 1);
    let url = format!("{}/file/n.qcow2", e.source);
    let mut spec = e.spec("shared", &url, &sha256);
    spec.timeouts.poll = Duration::from_millis(200);
    // A second session, as a second process would have.
    let clouds = e.dir.path().join("clouds.yaml");
    let env = Env {
        vars: BTreeMap::from([
            ("HOME".to_string(), e.dir.path().display().to_string()),
            (
                "OS_CLIENT_CONFIG_FILE".to_string(),
                clouds.display().to_string(),
            ),
        ]),
        cwd: e.dir.path().to_path_buf(),
    };
    let session2 = Session::connect(&resolve_with(Some("fake"), &env).unwrap())
        .await
        .unwrap();
    let (r1, r2) = (Recorder::default(), Recorder::default());
    let (a, b) = tokio::join!(
        ensure_image(&e.session, &spec, &r1),
        ensure_image(&session2, &spec, &r2)
    );
    let (a, b) = (a.expect("run 1"), b.expect("run 2"));
    assert_eq!(a.id, b.id, "both use the same image");
    let uploaded = [&a, &b]
        .iter()
        .filter(|i| matches!(i.outcome, ImageOutcome::Uploaded { .. }))
        .count();
    assert_eq!(uploaded, 1, "{a:?} {b:?}");
    let images = e.images();
    assert_eq!(named(&images, "shared").len(), 1, "{images:#?}");
    assert!(named(&images, "shared.uploading").is_empty(), "{images:#?}");
    assert_eq!(e.log("PUT", "/file"), vec![204], "one upload");
}
