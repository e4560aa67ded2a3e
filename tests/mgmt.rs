//! `scs-capi mgmt`: the dry run (no cluster, no network), the installer against a local
//! HTTP server serving small fixture archives with their real SHA-256 (one of them
//! tampered), and `clusterctl` invocations run through the real process runner against a
//! recording stub.
//!
//! Against a Kubernetes API (ORC apply, the provider inventory, CAPO's timeout, the waits):
//! `tests/mgmt_kube.rs`.

use std::collections::HashMap;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use assert_cmd::Command;
use sha2::{Digest, Sha256};

use scs_capi::cloud::Secret;
use scs_capi::mgmt::clusterctl;
use scs_capi::mgmt::runner::{ProcessRunner, Runner};
use scs_capi::render::Profile;
use scs_capi::settings::Settings;
use scs_capi::ui::SilentProgress;

/// Writes every argument and the clusterctl-relevant environment to `$SCS_TEST_RECORD`,
/// prints a line that contains the token (to check redaction), exits `$SCS_TEST_EXIT`.
const STUB: &str = r#"#!/bin/sh
{
  echo "argv: $*"
  env | grep -E '^(CLUSTER_TOPOLOGY|EXP_[A-Z_]*|GITHUB_TOKEN)=' | sort
} >> "${SCS_TEST_RECORD:-/dev/null}"
echo "stub $(basename "$0") saw token ${GITHUB_TOKEN:-none}" >&2
exit "${SCS_TEST_EXIT:-0}"
"#;

fn sha256(b: &[u8]) -> String {
    Sha256::digest(b)
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}

fn tar_gz(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut tar = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::fast(),
    ));
    for (path, data) in entries {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        tar.append_data(&mut h, path, *data).unwrap();
    }
    tar.into_inner().unwrap().finish().unwrap()
}

/// A loopback HTTP server serving fixed files, counting requests per path.
struct Server {
    base: String,
    hits: Arc<Mutex<HashMap<String, usize>>>,
}

impl Server {
    fn start(files: HashMap<String, Vec<u8>>) -> Server {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let hits = Arc::new(Mutex::new(HashMap::new()));
        let files = Arc::new(files);
        let h = hits.clone();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let app = axum::Router::new().fallback(move |uri: axum::http::Uri| {
                    let files = files.clone();
                    let h = h.clone();
                    async move {
                        let path = uri.path().to_string();
                        *h.lock().unwrap().entry(path.clone()).or_insert(0) += 1;
                        match files.get(&path) {
                            Some(b) => (axum::http::StatusCode::OK, b.clone()),
                            None => (axum::http::StatusCode::NOT_FOUND, b"no".to_vec()),
                        }
                    }
                });
                let l = tokio::net::TcpListener::from_std(listener).unwrap();
                axum::serve(l, app).await.unwrap();
            });
        });
        Server { base, hits }
    }

    fn hits(&self) -> usize {
        self.hits.lock().unwrap().values().sum()
    }
}

struct Env {
    dir: tempfile::TempDir,
}

impl Env {
    fn new() -> Env {
        Env {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    fn cmd(&self) -> Command {
        let mut cmd = Command::cargo_bin("scs-capi").unwrap();
        cmd.current_dir(self.dir.path())
            .env("NO_COLOR", "1")
            .env("HOME", self.dir.path())
            .env("XDG_CONFIG_HOME", self.path("config"))
            .env("XDG_DATA_HOME", self.path("data"));
        for (k, _) in std::env::vars().filter(|(k, _)| {
            k.starts_with("SCS_CAPI_")
                || k.to_ascii_lowercase().ends_with("_proxy")
                || k == "KUBECONFIG"
                || k == "GITHUB_TOKEN"
        }) {
            cmd.env_remove(k);
        }
        cmd
    }

    /// A kubeconfig whose API server is a closed loopback port.
    fn unreachable_kubeconfig(&self) -> PathBuf {
        let p = self.path("kubeconfig");
        std::fs::write(
            &p,
            "apiVersion: v1\nkind: Config\ncurrent-context: kind-kind\nclusters:\n- name: kind-kind\n  cluster: {server: \"https://127.0.0.1:1\", insecure-skip-tls-verify: true}\ncontexts:\n- name: kind-kind\n  context: {cluster: kind-kind, user: admin}\nusers:\n- name: admin\n  user: {token: t}\n",
        )
        .unwrap();
        p
    }
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn run(cmd: &mut Command) -> Run {
    let out = cmd.output().unwrap();
    Run {
        code: out.status.code().expect("exit code"),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn dry_run_needs_no_cluster_and_changes_nothing() {
    let env = Env::new();
    let r = run(env.cmd().args([
        "mgmt",
        "init",
        "--dry-run",
        "--allow-unpinned",
        "--bin-dir",
        "bin",
        "--kubeconfig",
        "/nonexistent/kubeconfig",
        "--context",
        "kind-kind",
    ]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains("dry run: nothing was downloaded"),
        "{}",
        r.stderr
    );
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert!(lines[0].starts_with("STATE"), "{}", r.stdout);
    let find = |needle: &str| {
        lines
            .iter()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no `{needle}` in\n{}", r.stdout))
            .to_string()
    };
    let clusterctl = find("clusterctl v1.14.0");
    assert!(clusterctl.starts_with("planned  install"), "{clusterctl}");
    assert!(
        clusterctl.contains("unpinned and unchecked (--allow-unpinned)"),
        "{clusterctl}"
    );
    let hubble = find("hubble v1.18.3");
    assert!(hubble.contains(".tar.gz.sha256sum`"), "{hubble}");
    let cilium = find("cilium v0.19.7");
    assert!(cilium.contains("SHA-256 pinned from kubespray"), "{cilium}");
    assert!(find("ORC v2.4.0").contains("install.yaml"));
    let init = find("clusterctl init");
    assert!(
        init.contains(
            "CLUSTER_TOPOLOGY=true EXP_CLUSTER_RESOURCE_SET=true EXP_RUNTIME_SDK=true clusterctl \
             init --core cluster-api:v1.14.0 --bootstrap kubeadm:v1.14.0 --control-plane \
             kubeadm:v1.14.0 --infrastructure openstack:v0.14.7 --kubeconfig \
             /nonexistent/kubeconfig --kubeconfig-context kind-kind"
        ),
        "{init}"
    );
    assert!(find("CAPO instance-create timeout").contains("TIMEOUT=5 on capo-system"));
    assert!(!env.path("bin").exists(), "a dry run creates nothing");

    // The same as JSON, and for upgrade.
    let r = run(env.cmd().args([
        "mgmt",
        "upgrade",
        "--dry-run",
        "--allow-unpinned",
        "--bin-dir",
        "bin",
        "--output",
        "json",
        "--profile",
        "r4",
    ]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["operation"], "upgrade");
    assert_eq!(v["dry_run"], true);
    assert_eq!(v["providers"][3]["version"], "v0.7.1");
    let names: Vec<&str> = v["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"clusterctl upgrade plan"), "{names:?}");
    assert!(
        !names.iter().any(|n| n.starts_with("ORC")),
        "CAPO 0.7 needs no ORC"
    );
}

#[test]
fn dry_run_without_pins_shows_the_plan_then_refuses() {
    let env = Env::new();
    let r = run(env
        .cmd()
        .args(["mgmt", "init", "--dry-run", "--bin-dir", "bin"]));
    assert_eq!(r.code, 2, "{}", r.stderr);
    let line = r
        .stdout
        .lines()
        .find(|l| l.contains("clusterctl v1.14.0"))
        .unwrap();
    assert!(line.starts_with("refused  install"), "{line}");
    assert!(
        r.stderr.contains("error: no published SHA-256 is pinned for `clusterctl` v1.14.0, `hubble` v1.18.3, `orc` v2.4.0; nothing was installed"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr
            .contains("hint: pass the sums you trust (--sha256 clusterctl=SUM"),
        "{}",
        r.stderr
    );
}

#[test]
fn bad_sha256_argument_is_a_usage_error() {
    let env = Env::new();
    let r = run(env
        .cmd()
        .args(["mgmt", "init", "--dry-run", "--sha256", "clusterctl=abc"]));
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("is not a SHA-256"), "{}", r.stderr);
}

/// Fixture archives for a tools manifest: clusterctl (the stub itself, a plain binary),
/// cilium (tar.gz), helm (tar.gz with a directory), and k9s, whose manifest sum does not
/// match what the server sends.
fn fixtures(server_files: &mut HashMap<String, Vec<u8>>, tamper_k9s: bool) -> Vec<String> {
    let clusterctl = STUB.as_bytes().to_vec();
    let cilium = tar_gz(&[("cilium", STUB.as_bytes()), ("LICENSE", b"license")]);
    let helm = tar_gz(&[
        ("linux-amd64/README.md", b"readme"),
        ("linux-amd64/helm", STUB.as_bytes()),
    ]);
    let k9s = tar_gz(&[("k9s", STUB.as_bytes())]);
    let k9s_sum = if tamper_k9s {
        sha256(b"what the release really contains")
    } else {
        sha256(&k9s)
    };
    let entries = vec![
        (
            "clusterctl",
            "binary".to_string(),
            sha256(&clusterctl),
            clusterctl,
        ),
        (
            "cilium",
            "{tar_gz: {member: cilium}}".to_string(),
            sha256(&cilium),
            cilium,
        ),
        (
            "helm",
            "{tar_gz: {member: linux-amd64/helm}}".to_string(),
            sha256(&helm),
            helm,
        ),
        ("k9s", "{tar_gz: {member: k9s}}".to_string(), k9s_sum, k9s),
    ];
    entries
        .into_iter()
        .map(|(name, packaging, sum, bytes)| {
            server_files.insert(format!("/{name}"), bytes);
            format!(
                "  - name: {name}\n    version: v1.0.0\n    url: BASE/{name}\n    packaging: {packaging}\n    sha256: {sum}\n    pin_source: test fixture\n"
            )
        })
        .collect()
}

#[test]
fn installer_verifies_installs_skips_and_rejects_tampered_downloads() {
    let env = Env::new();
    let mut files = HashMap::new();
    let tampered = fixtures(&mut files, true);
    let mut good_files = HashMap::new();
    let good = fixtures(&mut good_files, false);
    // One server for both manifests: same bytes, only the k9s sum differs.
    let server = Server::start(files);
    let manifest = |entries: &[String], name: &str| {
        let p = env.path(name);
        let text = format!("tools:\n{}", entries.concat()).replace("BASE", &server.base);
        std::fs::write(&p, text).unwrap();
        p
    };
    let bad_manifest = manifest(&tampered, "tampered.yaml");
    let good_manifest = manifest(&good, "good.yaml");
    let kubeconfig = env.unreachable_kubeconfig();
    let bin = env.path("bin");
    let record = env.path("record");
    let init = |m: &Path| {
        let mut cmd = env.cmd();
        cmd.args(["mgmt", "init", "--profile", "r4", "--bin-dir"])
            .arg(&bin)
            .arg("--tools-manifest")
            .arg(m)
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .env("SCS_TEST_RECORD", &record);
        run(&mut cmd)
    };

    // 1. The tampered k9s is rejected; what came before it is installed; no k9s, no temp files.
    let r = init(&bad_manifest);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr
            .contains(&format!("`{}/k9s` has SHA-256 `", server.base)),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr
            .contains("(pinned from test fixture); `k9s` was not installed"),
        "{}",
        r.stderr
    );
    assert_eq!(
        files_in(&bin),
        [".scs-capi-tools.json", "cilium", "clusterctl", "helm"],
        "no k9s and no leftovers"
    );
    for t in ["cilium", "clusterctl", "helm"] {
        let meta = std::fs::metadata(bin.join(t)).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o755, "{t}");
        assert_eq!(
            std::fs::read(bin.join(t)).unwrap(),
            STUB.as_bytes(),
            "{t} extracted intact"
        );
    }
    assert!(
        r.stdout.contains("done     install cilium v1.0.0"),
        "{}",
        r.stdout
    );

    // 2. With the right sum: k9s installed, the others skipped (no download), then the
    //    unreachable cluster stops the run with a clear error; clusterctl was not run.
    let before = server.hits();
    let r = init(&good_manifest);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert_eq!(server.hits() - before, 1, "only k9s was downloaded");
    assert!(
        r.stdout.contains("skipped  install clusterctl v1.0.0"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("done     install k9s v1.0.0"),
        "{}",
        r.stdout
    );
    assert!(
        r.stderr
            .contains("on the management cluster `https://127.0.0.1:1` failed"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr
            .contains("hint: check that the management cluster is running"),
        "{}",
        r.stderr
    );
    assert!(
        !record.exists(),
        "clusterctl must not run before the cluster was read"
    );
    assert!(bin.join("k9s").exists());

    // 3. Everything up to date: nothing is downloaded.
    let before = server.hits();
    let r = init(&good_manifest);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert_eq!(server.hits(), before);
    assert_eq!(
        r.stdout.matches("skipped  install").count(),
        4,
        "{}",
        r.stdout
    );
}

fn stub_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("clusterctl");
    let mut f = std::fs::File::create(&p).unwrap();
    f.write_all(STUB.as_bytes()).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

#[test]
fn clusterctl_init_reaches_the_program_as_built_with_the_secret_only_in_env() {
    let stubs = stub_dir();
    let record = stubs.path().join("record");
    let want = clusterctl::desired(&Settings::default(), Profile::Default);
    let target = clusterctl::Target {
        kubeconfig: Some("/k/config".into()),
        context: Some("kind-kind".into()),
    };
    let inv = clusterctl::init(Profile::Default, &target, &want)
        .secret_env("GITHUB_TOKEN", Secret::new("ghp_test_secret_value"))
        .env("SCS_TEST_RECORD", record.display().to_string());
    let runner = ProcessRunner::new(Some(stubs.path().to_path_buf()));
    let out = block_on(runner.run(&inv, &SilentProgress))
        .unwrap()
        .check()
        .unwrap();
    let recorded = std::fs::read_to_string(&record).unwrap();
    assert_eq!(
        recorded,
        "argv: init --core cluster-api:v1.14.0 --bootstrap kubeadm:v1.14.0 --control-plane \
         kubeadm:v1.14.0 --infrastructure openstack:v0.14.7 --kubeconfig /k/config \
         --kubeconfig-context kind-kind\n\
         CLUSTER_TOPOLOGY=true\nEXP_CLUSTER_RESOURCE_SET=true\nEXP_RUNTIME_SDK=true\n\
         GITHUB_TOKEN=ghp_test_secret_value\n"
    );
    // The program got the token; what we keep and log does not show it.
    assert_eq!(out.stderr.trim(), "stub clusterctl saw token <redacted>");
    assert!(!inv.display().contains("ghp_test_secret_value"));
    assert!(inv.display().contains("GITHUB_TOKEN=<redacted>"));
}

#[test]
fn clusterctl_failure_surfaces_exit_code_and_redacted_output() {
    let stubs = stub_dir();
    let want = clusterctl::desired(&Settings::default(), Profile::R4);
    let inv = clusterctl::upgrade_apply(Profile::R4, &clusterctl::Target::default(), &want)
        .secret_env("GITHUB_TOKEN", Secret::new("ghp_test_secret_value"))
        .env("SCS_TEST_EXIT", "3");
    let runner = ProcessRunner::new(Some(stubs.path().to_path_buf()));
    let out = block_on(runner.run(&inv, &SilentProgress)).unwrap();
    assert_eq!(out.code, Some(3));
    let e = out.check().unwrap_err();
    assert!(
        e.message.starts_with(
            "`clusterctl upgrade apply --core cluster-api:v1.3.5 --bootstrap kubeadm:v1.3.5 \
             --control-plane kubeadm:v1.3.5 --infrastructure openstack:v0.7.1` exited with code 3:"
        ),
        "{e}"
    );
    assert!(e.message.contains("saw token <redacted>"), "{e}");
    assert!(!e.message.contains("ghp_test_secret_value"), "{e}");
}

#[test]
fn allow_unpinned_checks_the_release_checksum_file_or_warns() {
    let env = Env::new();
    let hubble = tar_gz(&[("hubble", STUB.as_bytes())]);
    let calicoctl = STUB.as_bytes().to_vec();
    let mut files = HashMap::new();
    files.insert("/hubble-linux-amd64.tar.gz".to_string(), hubble.clone());
    files.insert(
        "/good.sha256sum".to_string(),
        format!("{}  hubble-linux-amd64.tar.gz\n", sha256(&hubble)).into_bytes(),
    );
    files.insert(
        "/bad.sha256sum".to_string(),
        format!("{}  hubble-linux-amd64.tar.gz\n", sha256(b"other")).into_bytes(),
    );
    files.insert("/calicoctl".to_string(), calicoctl.clone());
    let server = Server::start(files);
    let manifest = |sums: &str| {
        let p = env.path(&format!("{sums}.yaml"));
        std::fs::write(
            &p,
            format!(
                "tools:\n  - name: hubble\n    version: v0.11.2\n    url: {b}/hubble-linux-amd64.tar.gz\n    packaging: {{tar_gz: {{member: hubble}}}}\n    checksums_url: {b}/{sums}.sha256sum\n  - name: calicoctl\n    version: v3.25.0\n    url: {b}/calicoctl\n    packaging: binary\n",
                b = server.base
            ),
        )
        .unwrap();
        p
    };
    let bin = env.path("bin");
    let init = |m: PathBuf| {
        let mut cmd = env.cmd();
        cmd.args([
            "mgmt",
            "init",
            "--profile",
            "r4",
            "--allow-unpinned",
            "--bin-dir",
        ])
        .arg(&bin)
        .arg("--tools-manifest")
        .arg(m)
        .arg("--kubeconfig")
        .arg(env.unreachable_kubeconfig());
        run(&mut cmd)
    };

    let r = init(manifest("bad"));
    assert_eq!(r.code, 2);
    assert!(
        r.stderr
            .contains("bad.sha256sum`); `hubble` was not installed"),
        "{}",
        r.stderr
    );
    assert!(!bin.join("hubble").exists());

    let r = init(manifest("good"));
    assert_eq!(r.code, 2, "stops at the unreachable cluster: {}", r.stderr);
    assert!(bin.join("hubble").exists() && bin.join("calicoctl").exists());
    // calicoctl has no checksum file: installed, with the sum to pin printed.
    let warning = format!(
        "`calicoctl` v3.25.0 was installed without a checksum to verify it against; its SHA-256 is `{}`",
        sha256(&calicoctl)
    );
    assert!(r.stderr.contains(&warning), "{}", r.stderr);
}
