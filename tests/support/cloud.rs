//! The fake OpenStack for tests that run the `scs-capi` binary: [`FakeEnv`] serves a
//! [`FakeCloud`] in the background, writes a standalone `clouds.yaml` (cloud `fake`,
//! `auth_type: none`) into a temp dir and runs the binary there with a private
//! `HOME`/`XDG_*` (so nothing of the user's leaks in or out).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use assert_cmd::Command;
use fake_openstack::{FakeCloud, Running};
use serde_json::Value;

/// A standalone `clouds.yaml` for the fake at `url`: cloud `fake`, one endpoint override
/// per service, and `api_timeout` seconds per call. The overrides are versioned URLs, so
/// request paths in these tests do not depend on discovery (the printed, unversioned form
/// is covered by tests/cloud_discovery.rs).
pub fn standalone_clouds_yaml(cloud: &FakeCloud, url: &str, api_timeout: u64) -> String {
    cloud
        .endpoints(url)
        .clouds_yaml("fake")
        .replace(
            "    auth_type: none\n",
            &format!("    auth_type: none\n    api_timeout: {api_timeout}\n"),
        )
        .replace("/image\n", "/image/v2\n")
        .replace("/network\n", "/network/v2.0\n")
        .replace("/load-balancer\n", "/load-balancer/v2\n")
}

/// `scs-capi` run in `work` with `HOME` = `home` (XDG dirs below it), `clouds` as the only
/// clouds.yaml, no colour, and a generous timeout.
pub fn scs_capi(work: &Path, home: &Path, clouds: &Path) -> Command {
    std::fs::create_dir_all(home).expect("home dir");
    let mut cmd = Command::cargo_bin("scs-capi").expect("scs-capi binary");
    cmd.current_dir(work)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env("XDG_STATE_HOME", home.join(".local/state"))
        .env("OS_CLIENT_CONFIG_FILE", clouds)
        .env("NO_COLOR", "1")
        .timeout(Duration::from_secs(180));
    cmd
}

/// Exit code, stdout and stderr, for assertion messages.
pub fn text(o: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

pub fn assert_exit(o: &Output, code: i32) {
    assert_eq!(o.status.code(), Some(code), "{}", text(o));
}

/// A serving fake cloud and a temp dir holding its standalone `clouds.yaml`.
pub struct FakeEnv {
    pub cloud: FakeCloud,
    pub running: Running,
    pub dir: tempfile::TempDir,
}

impl FakeEnv {
    /// Seeds a new fake with `seed`, serves it, writes `clouds.yaml` (2 s per call).
    pub fn new(seed: impl FnOnce(&FakeCloud)) -> FakeEnv {
        let cloud = FakeCloud::new();
        seed(&cloud);
        let running = cloud.serve_in_background(0).expect("fake serves");
        let dir = tempfile::tempdir().expect("temp dir");
        let yaml = standalone_clouds_yaml(&cloud, &running.url, 2);
        std::fs::write(dir.path().join("clouds.yaml"), yaml).expect("write clouds.yaml");
        FakeEnv {
            cloud,
            running,
            dir,
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn home(&self) -> PathBuf {
        self.path().join("home")
    }

    /// `scs-capi ARGS` against this cloud.
    pub fn run(&self, args: &[&str]) -> Output {
        scs_capi(self.path(), &self.home(), &self.path().join("clouds.yaml"))
            .args(args)
            .output()
            .expect("run scs-capi")
    }

    /// `METHOD path` of every request that is not a GET/HEAD.
    pub fn mutations(&self) -> Vec<String> {
        self.cloud
            .request_log()
            .into_iter()
            .filter(|r| r.method != "GET" && r.method != "HEAD")
            .map(|r| format!("{} {}", r.method, r.path))
            .collect()
    }

    /// Resources of `kind` (snapshot kinds) named `name`.
    pub fn named(&self, kind: &str, name: &str) -> Vec<Value> {
        self.cloud.snapshot()[kind]
            .as_array()
            .map(|a| a.iter().filter(|v| v["name"] == name).cloned().collect())
            .unwrap_or_default()
    }
}
