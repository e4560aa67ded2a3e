//! The harness of `scripts/bench.sh create` (cargo example `bench-create`): serves the fakes
//! in this process - the fake OpenStack (standalone, zero transition timings), fake-kube as
//! the management cluster with tick 0 and its simulated CAPO wired to the fake cloud
//! (`tests/support/cloud_glue.rs`, the glue the lifecycle tests use), and the addon mirror
//! (`tests/support/mirror.rs`) - then runs the given `scs-capi` binary as a child process:
//!
//! 1. `create-cluster` on an empty management cluster and a fresh cloud (timed, requests
//!    counted), 2. the same command again, which changes nothing (the re-run baseline),
//!    3. `scs-capi --version` (process start, median of 5) as the floor of any invocation.
//!
//! `api_calls` is every HTTP request the fakes received during the run: the fake cloud's
//! log plus the management and the workload API server's logs (discovery, gets, lists,
//! watches, applies). The fakes create their own objects in process, so the logs hold only
//! the tool's requests. Addon downloads from the mirror are reported apart (`mirror_gets`).
//!
//! Usage: `bench-create PATH/TO/scs-capi`. Prints details to stderr and, last on stdout,
//! `RESULT create seconds=<s> api_calls=<n> rerun_seconds=<s> rerun_api_calls=<n>
//! baseline_process_ms=<ms> mirror_gets=<n>`.

#[path = "../../tests/support/cloud_glue.rs"]
mod cloud_glue;
#[path = "../../tests/support/mirror.rs"]
mod mirror;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use fake_kube::{Fake, Profile};
use fake_openstack::FakeCloud;
use fake_openstack::state::Timings;
use serde_json::json;

const CLUSTER: &str = "bench";
const IMAGE: &str = "ubuntu-capi-image-bench";

struct Fakes {
    cloud: FakeCloud,
    kube: Fake,
}

impl Fakes {
    /// Requests received so far by the cloud, the management and the workload API server.
    fn calls(&self) -> (usize, usize, usize) {
        let wl = self
            .kube
            .workload("default", CLUSTER)
            .map_or(0, |w| w.request_log().len());
        (
            self.cloud.request_log().len(),
            self.kube.request_log().len(),
            wl,
        )
    }

    fn clear(&self) {
        self.cloud.clear_request_log();
        self.kube.clear_request_log();
        if let Some(w) = self.kube.workload("default", CLUSTER) {
            w.clear_request_log();
        }
    }
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    let bin = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .ok_or("usage: bench-create PATH/TO/scs-capi")?;
    let dir = tempfile::tempdir().map_err(|e| format!("temp dir: {e}"))?;
    let dir = dir.path();

    let cloud = FakeCloud::new();
    cloud.set_timings(Timings {
        server_delete: Duration::ZERO,
        lb_create: Duration::ZERO,
        lb_update: Duration::ZERO,
        lb_delete: Duration::ZERO,
        volume_delete: Duration::ZERO,
    });
    cloud.seed().demo();
    cloud
        .seed()
        .image(IMAGE, json!({"min_disk": 20, "min_ram": 1024}));
    let os = cloud
        .serve_in_background(0)
        .map_err(|e| format!("fake cloud: {e}"))?;
    // openstack_sdk does not discover versions below an endpoint override: versioned URLs.
    let clouds = cloud
        .endpoints(&os.url)
        .clouds_yaml("fake")
        .replace("/image\n", "/image/v2\n")
        .replace("/network\n", "/network/v2.0\n")
        .replace("/load-balancer\n", "/load-balancer/v2\n");
    write(&dir.join("clouds.yaml"), &clouds)?;

    let kube = Fake::builder()
        .profile(Profile::Default)
        .tick(Duration::ZERO)
        .hooks(cloud_glue::Glue {
            cloud: cloud.clone(),
        })
        .build()?;
    let _kube_running = kube
        .serve_in_background(0)
        .map_err(|e| format!("fake kube: {e}"))?;
    kube.write_kubeconfig(&dir.join("mgmt.kubeconfig"))
        .map_err(|e| format!("kubeconfig: {e}"))?;
    let (mirror_url, mirror_hits, _mirror_rt) = mirror::start();

    let settings = dir.join(format!("{CLUSTER}.yaml"));
    write(
        &settings,
        &format!(
            "cluster_name: {CLUSTER}\ncloud_provider: fake\nnode_image: {IMAGE}\n\
             kubernetes_version: v1.33.x\ncontroller_flavor: SCS-2V-4-20s\n\
             worker_flavor: SCS-2V-4-20\nworker_count: 3\nrestrict_kubeapi: [none]\n"
        ),
    )?;
    let fakes = Fakes { cloud, kube };
    let scs = |args: &[&str]| -> Command {
        let home = dir.join("home");
        let mut c = Command::new(&bin);
        c.args(args)
            .current_dir(dir)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &home)
            .env("XDG_CONFIG_HOME", home.join(".config"))
            .env("XDG_STATE_HOME", home.join(".local/state"))
            .env("XDG_CACHE_HOME", home.join(".cache"))
            .env("OS_CLIENT_CONFIG_FILE", dir.join("clouds.yaml"))
            .env("KUBECONFIG", dir.join("mgmt.kubeconfig"))
            .env("SCS_CAPI_ADDON_MIRROR", &mirror_url)
            .env("NO_COLOR", "1");
        c
    };
    let file = settings.display().to_string();
    let create = [
        "create-cluster",
        "-f",
        &file,
        "--timeout",
        "60",
        "--output",
        "json",
    ];

    // 1. The create.
    let (seconds, report) = timed(scs(&create))?;
    let (c, m, w) = fakes.calls();
    let api_calls = c + m + w;
    let mirror_gets = mirror_hits.0.load(Ordering::SeqCst);
    let changed = count_changes(&report, |c| c == "create")?;
    eprintln!(
        "create: {seconds:.3} s (the tool's own figure: {:.3} s), {api_calls} requests \
         (cloud {c}, management {m}, workload {w}), {mirror_gets} manifest downloads, \
         {changed} objects created",
        report["seconds"].as_f64().unwrap_or_default()
    );
    if changed == 0 {
        return Err("the create created no objects".into());
    }
    if fakes.kube.workload("default", CLUSTER).is_none() {
        return Err("no workload cluster after the create".into());
    }

    // 2. The re-run: the same command on the converged cluster.
    fakes.clear();
    let (rerun_seconds, report) = timed(scs(&create))?;
    let (c, m, w) = fakes.calls();
    let rerun_calls = c + m + w;
    let changed = count_changes(&report, |c| c != "unchanged")?;
    eprintln!(
        "re-run: {rerun_seconds:.3} s, {rerun_calls} requests (cloud {c}, management {m}, \
         workload {w}), {changed} objects changed"
    );
    if changed != 0 {
        return Err(format!("the re-run changed {changed} objects: {report:#}"));
    }

    // 3. Process start: `scs-capi --version`.
    let mut starts = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let out = scs(&["--version"])
            .output()
            .map_err(|e| format!("running {}: {e}", bin.display()))?;
        if !out.status.success() {
            return Err("`scs-capi --version` failed".into());
        }
        starts.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    starts.sort_by(f64::total_cmp);
    let baseline_ms = starts[starts.len() / 2];

    println!(
        "RESULT create seconds={seconds:.3} api_calls={api_calls} rerun_seconds={rerun_seconds:.3} \
         rerun_api_calls={rerun_calls} baseline_process_ms={baseline_ms:.1} mirror_gets={mirror_gets}"
    );
    Ok(())
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("writing {}: {e}", path.display()))
}

/// Runs the command; its wall-clock time and its JSON report, or its output as the error.
fn timed(mut cmd: Command) -> Result<(f64, serde_json::Value), String> {
    let t = Instant::now();
    let out = cmd.output().map_err(|e| format!("running scs-capi: {e}"))?;
    let seconds = t.elapsed().as_secs_f64();
    if !out.status.success() {
        return Err(format!(
            "create-cluster exited with {:?}\n--- stdout\n{}\n--- stderr\n{}",
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let report =
        serde_json::from_slice(&out.stdout).map_err(|e| format!("the report is not JSON: {e}"))?;
    Ok((seconds, report))
}

/// How many objects of the report's `objects` have a `change` matching `pick`.
fn count_changes(report: &serde_json::Value, pick: impl Fn(&str) -> bool) -> Result<usize, String> {
    let objs = report["objects"]
        .as_array()
        .ok_or_else(|| format!("the report has no `objects`: {report:#}"))?;
    Ok(objs
        .iter()
        .filter(|o| o["change"].as_str().is_some_and(&pick))
        .count())
}
