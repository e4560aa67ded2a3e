//! A real Keystone for tests: `scripts/keystone-local.sh` on a free port in a temp dir,
//! stopped when the handle drops, plus the test venv it runs from (`SCS_TEST_VENV`, default
//! `<repo>/.venv-test`, made by `scripts/test.sh`; a missing venv fails, never skips).
//!
//! What `start` creates (users `demo`/`demo-other`, project `demo`, roles) is documented in
//! the script; [`DEMO_PW`] is the `demo` user's password.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

/// The `demo` user's password (the script's default).
pub const DEMO_PW: &str = "s3cret-demo";

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn venv() -> PathBuf {
    std::env::var_os("SCS_TEST_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join(".venv-test"))
}

/// The venv's python; panics with the install command when Keystone or the clients are
/// missing.
pub fn venv_python() -> PathBuf {
    let py = venv().join("bin/python");
    assert!(
        py.exists() && venv().join("bin/keystone-manage").exists(),
        "the test venv `{}` is missing or lacks keystone/openstacksdk; run scripts/test.sh \
         (or `python3 -m venv .venv-test && .venv-test/bin/pip install keystone==30.0.0 \
         gunicorn==27.0.1 openstacksdk==4.22.0 python-openstackclient==10.5.0`)",
        venv().display()
    );
    py
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// A Keystone started by `keystone-local.sh`; stopped on drop.
pub struct Keystone {
    pub dir: PathBuf,
    pub port: u16,
}

impl Keystone {
    /// Starts Keystone in `dir` on a free port and waits until it issues tokens.
    pub fn start(dir: &Path) -> Keystone {
        let (ks, child) = Keystone::spawn(dir);
        let out = child.wait_with_output().expect("keystone-local.sh start");
        assert!(
            out.status.success(),
            "keystone-local.sh start failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        ks
    }

    /// Starts Keystone in the background (other setup can run meanwhile); wait for the
    /// returned child before using it.
    pub fn spawn(dir: &Path) -> (Keystone, Child) {
        venv_python();
        let ks = Keystone {
            dir: dir.to_path_buf(),
            port: free_port(),
        };
        let child = Command::new(repo().join("scripts/keystone-local.sh"))
            .arg("start")
            .arg(dir)
            .env("KS_PORT", ks.port.to_string())
            .env("SCS_TEST_VENV", venv())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start keystone-local.sh");
        (ks, child)
    }

    /// `http://127.0.0.1:PORT/v3`
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/v3", self.port)
    }

    /// Runs `keystone-local.sh ARGS DIR`.
    pub fn script(&self, args: &[&str]) -> Output {
        Command::new(repo().join("scripts/keystone-local.sh"))
            .args(args)
            .arg(&self.dir)
            .env("KS_PORT", self.port.to_string())
            .env("SCS_TEST_VENV", venv())
            .output()
            .expect("run keystone-local.sh")
    }

    /// Adds catalog service `service_type` with endpoints at `url`.
    pub fn register(&self, service_type: &str, url: &str) {
        let out = self.script(&["register", service_type, url]);
        assert!(
            out.status.success(),
            "register {service_type}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// A clouds.yaml with cloud `name` logging in as `demo` with `password` (project `demo`).
    pub fn clouds_yaml(&self, name: &str, password: &str) -> String {
        format!(
            "clouds:\n  {name}:\n    auth:\n      auth_url: {}\n      username: demo\n      \
             password: {password}\n      project_name: demo\n      user_domain_name: Default\n      \
             project_domain_name: Default\n    region_name: RegionOne\n",
            self.url()
        )
    }
}

impl Drop for Keystone {
    fn drop(&mut self) {
        let _ = self.script(&["stop"]);
    }
}

/// Logs in to Keystone on `port` with an application credential; `(status, body)`. The
/// secret goes to the child through its stdin, never through argv.
pub fn app_credential_login(port: u16, id: &str, secret: &str) -> (u16, String) {
    use std::io::Write;
    let script = format!(
        "import json, sys, urllib.request, urllib.error\n\
         secret = sys.stdin.read()\n\
         body = json.dumps({{'auth': {{'identity': {{'methods': ['application_credential'],\n\
           'application_credential': {{'id': '{id}', 'secret': secret}}}}}}}}).encode()\n\
         req = urllib.request.Request('http://127.0.0.1:{port}/v3/auth/tokens', data=body,\n\
           headers={{'Content-Type': 'application/json'}})\n\
         try:\n    r = urllib.request.urlopen(req); print(r.status); print(json.dumps(json.load(r), indent=1))\n\
         except urllib.error.HTTPError as e:\n    print(e.code); print(e.read().decode())\n"
    );
    let mut child = Command::new(venv().join("bin/python"))
        .args(["-c", &script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("venv python");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(secret.as_bytes())
        .expect("write secret");
    let out = child.wait_with_output().expect("python");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (status, body) = text.split_once('\n').unwrap_or((&text, ""));
    (status.trim().parse().unwrap_or(0), body.to_string())
}

/// The value of `key:` in a flat YAML text such as the stored credential file.
pub fn yaml_field(text: &str, key: &str) -> String {
    text.lines()
        .find_map(|l| l.trim().strip_prefix(key))
        .map(|s| s.trim().trim_matches('"').to_string())
        .unwrap_or_else(|| panic!("no `{key}` in:\n{text}"))
}
