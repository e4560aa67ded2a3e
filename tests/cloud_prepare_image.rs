//! `scs-capi prepare-cloud` with a missing node image and `--render-out`, against the fake
//! OpenStack (standalone) and a small HTTP file server in this test (honours `Range`, so
//! the plan's probe of the image head is exercised as against a real object store).
//!
//! Covered: the plan says "upload" and changes nothing on `--dry-run`; a real qcow2 (made
//! with `qemu-img`) is downloaded, checked against its `.CHECKSUM`, converted to raw and
//! uploaded with R4's SCS properties (`kube_image_raw: true`, the default), and the cache
//! is left empty; a qcow2 is streamed as it is with `kube_image_raw: false`; a wrong
//! SHA-256 activates nothing and creates nothing else, and a re-run with the right one
//! converges; no checksum at all is a problem before anything is created; a qcow2 whose
//! virtual size exceeds a flavor's disk is refused before anything is created; a diskless
//! flavor gets a computed root volume that lands in the rendered OpenStackMachineTemplate
//! (validated against the CAPO CRDs) and the management cluster's floating IP lands in
//! the kube-API allowlist. SIGINT during a (fault-injected, slow) upload exits 130 within
//! a deadline, deletes the in-flight image, and a re-run converges; two clusters' runs on
//! the same image at once upload it once (audit M3).

mod support;

use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::{Command as Process, Output};
use std::time::Duration;

use assert_cmd::Command;
use fake_openstack::{FakeCloud, Running};
use serde_json::{Value, json};
use sha2::{Digest, Sha256, Sha512};
use support::crds::CrdSet;

const MIB: u64 = 1024 * 1024;

struct Env {
    cloud: FakeCloud,
    _running: Running,
    dir: tempfile::TempDir,
    files_url: String,
}

impl Env {
    fn new() -> Env {
        let cloud = FakeCloud::new();
        cloud.seed().demo();
        let running = cloud.serve_in_background(0).expect("fake serves");
        let dir = tempfile::tempdir().unwrap();
        let yaml = cloud
            .endpoints(&running.url)
            .clouds_yaml("fake")
            .replace("/image\n", "/image/v2\n")
            .replace("/network\n", "/network/v2.0\n")
            .replace("/load-balancer\n", "/load-balancer/v2\n");
        std::fs::write(dir.path().join("clouds.yaml"), yaml).unwrap();
        std::fs::create_dir(dir.path().join("files")).unwrap();
        let files_url = serve_files(dir.path().join("files"));
        Env {
            cloud,
            _running: running,
            dir,
            files_url,
        }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn url(&self, name: &str) -> String {
        format!("{}/{name}", self.files_url)
    }

    /// `<name>.yaml`: a missing image from `file` of the file server, plus `extra`.
    fn settings(&self, name: &str, file: &str, extra: &str) -> PathBuf {
        let p = self.path(&format!("{name}.yaml"));
        let body = format!(
            "cluster_name: {name}\ncloud_provider: fake\nkubernetes_version: v1.31.4\n\
             node_image: node-{name}\nnode_image_url: {}\ncontroller_flavor: SCS-2V-4-20s\n\
             worker_flavor: SCS-2V-4\nuse_cilium: false\n{extra}",
            self.url(file)
        );
        std::fs::write(&p, body).unwrap();
        p
    }

    fn run(&self, file: &Path, args: &[&str]) -> Output {
        let home = self.path("home");
        std::fs::create_dir_all(&home).unwrap();
        Command::cargo_bin("scs-capi")
            .unwrap()
            .arg("prepare-cloud")
            .arg("-f")
            .arg(file)
            .args(args)
            .current_dir(self.dir.path())
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &home)
            .env("XDG_STATE_HOME", home.join("state"))
            .env("XDG_CACHE_HOME", home.join("cache"))
            .env("OS_CLIENT_CONFIG_FILE", self.path("clouds.yaml"))
            .env("NO_COLOR", "1")
            .timeout(Duration::from_secs(180))
            .output()
            .unwrap()
    }

    fn images(&self) -> Vec<Value> {
        self.cloud.snapshot()["images"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|i| i["name"] != "Ubuntu 22.04")
            .cloned()
            .collect()
    }

    fn mutations(&self) -> Vec<String> {
        self.cloud
            .request_log()
            .into_iter()
            .filter(|r| r.method != "GET" && r.method != "HEAD")
            .map(|r| format!("{} {}", r.method, r.path))
            .collect()
    }

    /// Files left in the image cache.
    fn cache_files(&self) -> Vec<String> {
        match std::fs::read_dir(self.path("home/cache/scs-capi/images")) {
            Ok(d) => d
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect(),
            Err(_) => Vec::new(),
        }
    }
}

fn text(o: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn assert_exit(o: &Output, code: i32) {
    assert_eq!(o.status.code(), Some(code), "{}", text(o));
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn step<'a>(plan: &'a Value, name: &str) -> &'a Value {
    plan["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["step"] == name)
        .unwrap_or_else(|| panic!("no step `{name}` in {plan:#}"))
}

fn qemu_img(args: &[&str]) {
    let out = Process::new("qemu-img")
        .args(args)
        .output()
        .expect("qemu-img (Debian qemu-utils, installed by scripts/test.sh)");
    assert!(
        out.status.success(),
        "qemu-img {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A real qcow2 of `virtual_mib` MiB made by qemu-img from a raw disk that holds
/// pseudo-random data in some places and zeros elsewhere. Returns the SHA-512 of that
/// raw disk (what Glance must store after our conversion) and writes
/// `<name>.CHECKSUM` (sha256sum format) next to the qcow2.
fn make_qcow2(files: &Path, name: &str, virtual_mib: u64) -> String {
    let raw = files.join(format!("{name}.src-raw"));
    let mut data = vec![0u8; (virtual_mib * MIB) as usize];
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    for block in data.chunks_mut(MIB as usize).step_by(3) {
        for w in block.chunks_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            w.copy_from_slice(&x.to_le_bytes()[..w.len()]);
        }
    }
    std::fs::write(&raw, &data).unwrap();
    let qcow2 = files.join(name);
    qemu_img(&[
        "convert",
        "-f",
        "raw",
        "-O",
        "qcow2",
        raw.to_str().unwrap(),
        qcow2.to_str().unwrap(),
    ]);
    std::fs::remove_file(&raw).unwrap();
    let sha256 = hex(&Sha256::digest(std::fs::read(&qcow2).unwrap()));
    std::fs::write(
        files.join(format!("{name}.CHECKSUM")),
        format!("{sha256}  {name}\n"),
    )
    .unwrap();
    hex(&Sha512::digest(&data))
}

/// Serves `dir` over HTTP/1.1 on 127.0.0.1: `GET /NAME` with `Content-Length` and a fixed
/// `Last-Modified`, `Range: bytes=A-B` answered with 206 + `Content-Range`, else 404.
fn serve_files(dir: PathBuf) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for sock in listener.incoming() {
            let Ok(sock) = sock else { return };
            let dir = dir.clone();
            std::thread::spawn(move || {
                let _ = answer(sock, &dir);
            });
        }
    });
    url
}

fn answer(sock: std::net::TcpStream, dir: &Path) -> std::io::Result<()> {
    let mut reader = BufReader::new(sock.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let path = line.split(' ').nth(1).unwrap_or("/").to_string();
    let mut range: Option<(u64, u64)> = None;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h == "\r\n" {
            break;
        }
        let lower = h.to_ascii_lowercase();
        if let Some(v) = lower.strip_prefix("range: bytes=") {
            let (a, b) = v.trim().split_once('-').unwrap_or(("0", ""));
            range = Some((a.parse().unwrap_or(0), b.parse().unwrap_or(u64::MAX)));
        }
    }
    let mut sock = sock;
    let file = dir.join(path.trim_start_matches('/'));
    let Ok(mut f) = std::fs::File::open(&file) else {
        return sock.write_all(
            b"HTTP/1.1 404 Not Found\r\ncontent-length: 9\r\nconnection: close\r\n\r\nnot found",
        );
    };
    let len = f.metadata()?.len();
    let (status, start, end) = match range {
        Some((a, b)) if a < len => ("206 Partial Content", a, b.min(len - 1)),
        _ => ("200 OK", 0, len.saturating_sub(1)),
    };
    let count = if len == 0 { 0 } else { end - start + 1 };
    let mut head = format!(
        "HTTP/1.1 {status}\r\ncontent-length: {count}\r\n\
         last-modified: Sat, 01 Jun 2024 10:00:00 GMT\r\nconnection: close\r\n"
    );
    if status.starts_with("206") {
        head.push_str(&format!("content-range: bytes {start}-{end}/{len}\r\n"));
    }
    head.push_str("\r\n");
    sock.write_all(head.as_bytes())?;
    f.seek(SeekFrom::Start(start))?;
    std::io::copy(&mut f.take(count), &mut sock)?;
    Ok(())
}

#[test]
fn missing_image_is_converted_uploaded_and_rendered() {
    let env = Env::new();
    let sha512 = make_qcow2(&env.path("files"), "node.qcow2", 12);
    let f = env.settings("imgc", "node.qcow2", "restrict_kubeapi: [10.1.0.0/16]\n");

    // The plan says what will happen and does nothing.
    let o = env.run(
        &f,
        &["--dry-run", "--output", "json", "--render-out", "out"],
    );
    assert_exit(&o, 0);
    assert_eq!(env.mutations(), Vec::<String>::new());
    let plan: Value = serde_json::from_slice(&o.stdout).unwrap();
    let image = step(&plan, "image");
    assert_eq!(image["state"], "create", "{image:#}");
    let detail = image["detail"].as_str().unwrap();
    assert!(
        detail.contains("qcow2, converted to raw") && detail.contains("node.qcow2.CHECKSUM"),
        "{detail}"
    );
    // The diskless worker flavor gets a root volume sized from the image (1 GiB -> 5).
    assert_eq!(plan["outputs"]["worker_root_volume_gib"], 5, "{plan:#}");
    assert!(!env.path("out").exists(), "--dry-run wrote files");
    assert!(env.cache_files().is_empty());

    let o = env.run(&f, &["--output", "json", "--render-out", "out"]);
    assert_exit(&o, 0);
    let images = env.images();
    assert_eq!(images.len(), 1, "{images:#?}");
    let img = &images[0];
    assert_eq!(img["name"], "node-imgc");
    assert_eq!(img["status"], "active");
    assert_eq!(img["disk_format"], "raw");
    assert_eq!(img["size"], json!(12 * MIB), "raw = the virtual disk");
    assert_eq!(img["os_hash_value"], json!(sha512), "bytes of the raw disk");
    assert_eq!(img["min_disk"], 1);
    assert_eq!(img["min_ram"], 1024);
    assert_eq!(img["tags"], json!(["managed_by_osism"]));
    for (k, v) in [
        ("image_source", env.url("node.qcow2")),
        ("os_distro", "ubuntu".into()),
        ("os_version", "22.04".into()),
        ("kubernetes_version", "v1.31.4".into()),
        ("image_build_date", "2024-06-01".into()),
        ("provided_until", "2025-06-01".into()),
        ("hw_scsi_model", "virtio-scsi".into()),
        ("hw_rng_model", "virtio".into()),
    ] {
        assert_eq!(img[k], json!(v), "property `{k}`");
    }
    assert!(env.cache_files().is_empty(), "{:?}", env.cache_files());
    let result: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(step(&result, "image")["state"], "created");
    assert_eq!(result["outputs"]["image_id"], img["id"]);

    // What the cloud told us is in the rendered files, and they are valid CAPO objects.
    let manifests = std::fs::read_to_string(env.path("out/imgc-config.yaml")).unwrap();
    let docs: Vec<Value> = serde_saphyr::from_multiple(&manifests).unwrap();
    let crds = CrdSet::shared("default");
    for d in docs.iter().filter(|d| d["kind"] != "Secret") {
        crds.validate(d)
            .unwrap_or_else(|e| panic!("{}: {e:?}", d["kind"]));
    }
    let worker = docs
        .iter()
        .find(|d| {
            d["kind"] == "OpenStackMachineTemplate"
                && d["metadata"]["name"].as_str().unwrap().contains("-md-0-")
        })
        .unwrap();
    assert_eq!(
        worker["spec"]["template"]["spec"]["rootVolume"]["sizeGiB"],
        5
    );
    let cp = docs
        .iter()
        .find(|d| {
            d["kind"] == "OpenStackMachineTemplate"
                && d["metadata"]["name"]
                    .as_str()
                    .unwrap()
                    .contains("-control-plane-")
        })
        .unwrap();
    assert!(cp["spec"]["template"]["spec"].get("rootVolume").is_none());
    let fip = result["outputs"]["mgmt_egress_cidr"].as_str().unwrap();
    let osc = docs
        .iter()
        .find(|d| d["kind"] == "OpenStackCluster")
        .unwrap();
    assert_eq!(
        osc["spec"]["apiServerLoadBalancer"]["allowedCIDRs"],
        json!([fip, "10.1.0.0/16"])
    );
    assert_eq!(
        osc["spec"]["externalNetwork"]["id"],
        result["outputs"]["external_network_id"]
    );
    let sg = result["outputs"]["worker_server_group_id"]
        .as_str()
        .unwrap();
    assert_eq!(worker["spec"]["template"]["spec"]["serverGroup"]["id"], sg);
    // No Keystone here: no credential, so no cloud.conf and an empty Secret.
    assert!(!env.path("out/cloud.conf").exists());

    // A re-run adopts the image: nothing is downloaded or uploaded again.
    env.cloud.clear_request_log();
    let o = env.run(&f, &[]);
    assert_exit(&o, 0);
    assert_eq!(env.mutations(), Vec::<String>::new());
    assert_eq!(env.images().len(), 1);
}

#[test]
fn qcow2_is_streamed_as_is_and_a_wrong_checksum_activates_nothing() {
    let env = Env::new();
    make_qcow2(&env.path("files"), "plain.qcow2", 16);
    let good = std::fs::read_to_string(env.path("files/plain.qcow2.CHECKSUM")).unwrap();
    std::fs::write(
        env.path("files/plain.qcow2.CHECKSUM"),
        format!("{}  plain.qcow2\n", "0".repeat(64)),
    )
    .unwrap();
    let f = env.settings("imgq", "plain.qcow2", "kube_image_raw: false\n");

    let o = env.run(&f, &[]);
    assert_exit(&o, 2);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("SHA-256") && err.contains("was not activated"),
        "{err}"
    );
    assert!(
        env.images().iter().all(|i| i["status"] != "active"),
        "{:#?}",
        env.images()
    );
    assert!(env.images().is_empty(), "the failed image is deleted");
    // The image goes first: nothing else was created.
    assert!(
        env.mutations().iter().all(|m| m.contains("/image/")),
        "{:?}",
        env.mutations()
    );

    // With the right checksum a re-run converges.
    std::fs::write(env.path("files/plain.qcow2.CHECKSUM"), good).unwrap();
    let o = env.run(&f, &["--output", "json"]);
    assert_exit(&o, 0);
    let images = env.images();
    assert_eq!(images.len(), 1);
    assert_eq!(images[0]["disk_format"], "qcow2");
    assert_eq!(images[0]["status"], "active");
    assert_eq!(
        images[0]["size"],
        json!(
            std::fs::metadata(env.path("files/plain.qcow2"))
                .unwrap()
                .len()
        )
    );
    assert_eq!(images[0]["min_disk"], 1, "from the qcow2 header");
}

#[test]
fn wrong_sha_in_raw_mode_creates_nothing_at_all() {
    let env = Env::new();
    make_qcow2(&env.path("files"), "node.qcow2", 8);
    let f = env.settings(
        "imgw",
        "node.qcow2",
        &format!("node_image_sha256: {}\n", "ab".repeat(32)),
    );
    let o = env.run(&f, &[]);
    assert_exit(&o, 2);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(&format!("expected `{}`", "ab".repeat(32)))
            && err.contains("nothing was uploaded"),
        "{err}"
    );
    assert!(err.contains("hint:"), "{err}");
    assert_eq!(env.mutations(), Vec::<String>::new());
    assert!(env.images().is_empty());
    assert!(env.cache_files().is_empty(), "{:?}", env.cache_files());
}

#[test]
fn no_checksum_or_a_too_large_image_is_refused_before_anything() {
    let env = Env::new();
    // No `.CHECKSUM` next to it and no `node_image_sha256`.
    std::fs::write(env.path("files/bare.qcow2"), b"QFI\xfb not really").unwrap();
    let f = env.settings("imgn", "bare.qcow2", "");
    let o = env.run(&f, &[]);
    assert_exit(&o, 2);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("no SHA-256") && err.contains("bare.qcow2.CHECKSUM"),
        "{err}"
    );
    assert!(err.contains("set `node_image_sha256`"), "{err}");
    assert!(err.contains("nothing was created"), "{err}");
    assert_eq!(env.mutations(), Vec::<String>::new());

    // A qcow2 whose virtual disk (30 GiB) does not fit the 20 GiB flavor disk: the plan
    // knows from the image head, before downloading or creating anything.
    let big = env.path("files/big.qcow2");
    qemu_img(&["create", "-f", "qcow2", big.to_str().unwrap(), "30G"]);
    let sha = hex(&Sha256::digest(std::fs::read(&big).unwrap()));
    let f = env.settings("imgb", "big.qcow2", &format!("node_image_sha256: {sha}\n"));
    let o = env.run(&f, &["--output", "json"]);
    assert_exit(&o, 2);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("root disk controller") && err.contains("min_disk 30 GiB"),
        "{err}"
    );
    assert_eq!(env.mutations(), Vec::<String>::new());
    assert!(env.cache_files().is_empty());
    // The diskless worker got a volume the image fits into (30 + 2 + 2 -> 30).
    let plan: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(plan["outputs"]["worker_root_volume_gib"], 30);
}

// ---------------------------------------------------------------------------------------
// SIGINT during an upload, two clusters on one image (security audit M3)
// ---------------------------------------------------------------------------------------

impl Env {
    /// `prepare-cloud -f FILE` started in the background (stdout/stderr piped).
    fn spawn(&self, file: &Path) -> std::process::Child {
        let home = self.path("home");
        std::fs::create_dir_all(&home).unwrap();
        Process::new(assert_cmd::cargo::cargo_bin("scs-capi"))
            .arg("prepare-cloud")
            .arg("-f")
            .arg(file)
            .current_dir(self.dir.path())
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &home)
            .env("XDG_STATE_HOME", home.join("state"))
            .env("XDG_CACHE_HOME", home.join("cache"))
            .env("OS_CLIENT_CONFIG_FILE", self.path("clouds.yaml"))
            .env("NO_COLOR", "1")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    }

    /// A settings file for cluster `name` whose node image is `image`.
    fn settings_on_image(&self, name: &str, image: &str, file: &str) -> PathBuf {
        let p = self.path(&format!("{name}.yaml"));
        let body = format!(
            "cluster_name: {name}\ncloud_provider: fake\nkubernetes_version: v1.31.4\n\
             node_image: {image}\nnode_image_url: {}\ncontroller_flavor: SCS-2V-4-20s\n\
             worker_flavor: SCS-2V-4\nuse_cilium: false\nkube_image_raw: false\n",
            self.url(file)
        );
        std::fs::write(&p, body).unwrap();
        p
    }
}

/// Waits for `child` at most `limit`; kills it and fails when it takes longer.
fn wait_within(mut child: std::process::Child, limit: Duration) -> Output {
    let deadline = std::time::Instant::now() + limit;
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let o = child.wait_with_output().unwrap();
            panic!("still running after {limit:?}: {}", text(&o));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn sigint_during_an_upload_exits_130_and_leaves_nothing_a_rerun_trips_on() {
    let env = Env::new();
    make_qcow2(&env.path("files"), "slow.qcow2", 16);
    let f = env.settings_on_image("sig", "node-sig", "slow.qcow2");
    // A slow Glance: the data upload hangs for a minute before it is read.
    env.cloud.faults().inject(
        "PUT",
        "/image/v2/images/",
        1,
        fake_openstack::FaultKind::Delay(Duration::from_secs(60)),
    );
    let child = env.spawn(&f);
    let pid = child.id();
    // Until the upload is under way: the in-flight image exists and the settle is over.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while env
        .images()
        .iter()
        .all(|i| i["name"] != "node-sig.uploading")
    {
        assert!(std::time::Instant::now() < deadline, "no upload started");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_secs(3));
    let started = std::time::Instant::now();
    let kill = Process::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let o = wait_within(child, Duration::from_secs(15));
    assert_exit(&o, 130);
    assert!(started.elapsed() < Duration::from_secs(15));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(
            "interrupted: stopping after the current step (press Ctrl-C again to stop now)"
        ),
        "{err}"
    );
    assert!(err.contains("interrupted by SIGINT"), "{err}");
    assert!(env.images().is_empty(), "{:#?}", env.images());
    // Nothing after the image was created.
    assert!(
        env.mutations().iter().all(|m| m.contains("/image/")),
        "{:?}",
        env.mutations()
    );

    // A re-run uploads and converges.
    let o = env.run(&f, &[]);
    assert_exit(&o, 0);
    let images = env.images();
    assert_eq!(images.len(), 1, "{images:#?}");
    assert_eq!(images[0]["name"], "node-sig");
    assert_eq!(images[0]["status"], "active");
}

#[test]
fn two_clusters_on_one_image_upload_it_once() {
    let env = Env::new();
    make_qcow2(&env.path("files"), "shared.qcow2", 16);
    let a = env.settings_on_image("one", "node-shared", "shared.qcow2");
    let b = env.settings_on_image("two", "node-shared", "shared.qcow2");
    let (ca, cb) = (env.spawn(&a), env.spawn(&b));
    let oa = wait_within(ca, Duration::from_secs(120));
    let ob = wait_within(cb, Duration::from_secs(120));
    assert_exit(&oa, 0);
    assert_exit(&ob, 0);
    let images = env.images();
    let shared: Vec<&Value> = images
        .iter()
        .filter(|i| i["name"] == "node-shared")
        .collect();
    assert_eq!(shared.len(), 1, "{images:#?}");
    assert_eq!(shared[0]["status"], "active");
    assert!(
        images.iter().all(|i| i["name"] != "node-shared.uploading"),
        "{images:#?}"
    );
    let puts = env
        .mutations()
        .iter()
        .filter(|m| m.starts_with("PUT") && m.ends_with("/file"))
        .count();
    assert_eq!(puts, 1, "{:?}", env.mutations());
}
