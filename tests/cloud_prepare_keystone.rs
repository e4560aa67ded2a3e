//! `scs-capi prepare-cloud` through a real Keystone (password auth from clouds.yaml) whose
//! catalog points at the fake OpenStack: the restricted per-cluster application credential
//! is created, its secret lands only in the state dir (file 0600, directory 0700) and, with
//! `--render-out`, in the rendered cloud-config Secret and cloud.conf (0600, never the
//! caller's password), a re-run adopts it, and a credential whose secret was lost is
//! replaced.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command as Process, Output};
use std::time::{Duration, Instant};

use assert_cmd::Command;
use fake_openstack::FakeCloud;
use serde_json::json;

const DEMO_PW: &str = "s3cret-demo";
const IMAGE: &str = "ubuntu-capi-image-test";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn venv() -> PathBuf {
    std::env::var_os("SCS_TEST_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join(".venv-test"))
}

struct Keystone {
    dir: PathBuf,
    port: u16,
}

impl Keystone {
    fn script(&self, args: &[&str]) -> Output {
        Process::new(repo().join("scripts/keystone-local.sh"))
            .args(args)
            .arg(&self.dir)
            .env("KS_PORT", self.port.to_string())
            .env("SCS_TEST_VENV", venv())
            .output()
            .expect("run keystone-local.sh")
    }

    fn start(dir: &Path) -> Keystone {
        assert!(
            venv().join("bin/keystone-manage").exists(),
            "the test venv `{}` lacks keystone; run scripts/test.sh",
            venv().display()
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("free port");
        let ks = Keystone {
            dir: dir.to_path_buf(),
            port,
        };
        let out = ks.script(&["start"]);
        assert!(
            out.status.success(),
            "keystone-local.sh start: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        ks
    }
}

impl Drop for Keystone {
    fn drop(&mut self) {
        let _ = self.script(&["stop"]);
    }
}

fn run(work: &Path, home: &Path, settings: &Path) -> Output {
    Command::cargo_bin("scs-capi")
        .unwrap()
        .args(["prepare-cloud", "--output", "json", "-f"])
        .arg(settings)
        .current_dir(work)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("XDG_STATE_HOME", home.join("state"))
        .env("OS_CLIENT_CONFIG_FILE", work.join("clouds.yaml"))
        .env("NO_COLOR", "1")
        .timeout(Duration::from_secs(180))
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn restricted_app_credential_is_created_kept_private_and_adopted() {
    let work = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let ks = Keystone::start(&work.path().join("keystone"));
    eprintln!("keystone up after {:?}", started.elapsed());

    let cloud = FakeCloud::new();
    cloud.seed().demo();
    cloud.seed().flavor("SCS-2V-4-20", 2, 4096, 20);
    cloud
        .seed()
        .image(IMAGE, json!({"min_disk": 20, "min_ram": 1024}));
    let running = cloud.serve_in_background(0).expect("fake serves");
    // Versioned URLs: openstack_sdk does not discover versions below a catalog URL.
    let base = &running.url;
    for (service, path) in [
        ("compute", "compute/v2.1"),
        ("network", "network/v2.0"),
        ("image", "image/v2"),
        ("load-balancer", "load-balancer/v2"),
    ] {
        let out = ks.script(&["register", service, &format!("{base}/{path}")]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    std::fs::write(
        work.path().join("clouds.yaml"),
        format!(
            "clouds:\n  ks:\n    auth:\n      auth_url: http://127.0.0.1:{}/v3\n      username: demo\n      password: {DEMO_PW}\n      project_name: demo\n      user_domain_name: Default\n      project_domain_name: Default\n    region_name: RegionOne\n",
            ks.port
        ),
    )
    .unwrap();
    let settings = work.path().join("kc.yaml");
    std::fs::write(
        &settings,
        format!(
            "cluster_name: kc\ncloud_provider: ks\nnode_image: {IMAGE}\ncontroller_flavor: SCS-2V-4-20s\nworker_flavor: SCS-2V-4-20\n"
        ),
    )
    .unwrap();
    let home = work.path().join("home");
    std::fs::create_dir_all(&home).unwrap();

    let first = run(work.path(), &home, &settings);
    assert_eq!(first.status.code(), Some(0), "{}", text(&first));
    let state = home.join("state/scs-capi/kc");
    let cred = state.join("appcred.yaml");
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&cred), 0o600, "credential file mode");
    assert_eq!(mode(&state), 0o700, "state dir mode");
    let stored = std::fs::read_to_string(&cred).unwrap();
    // The secret is in the file and nowhere in the output.
    let secret = field(&stored, "application_credential_secret:");
    assert!(secret.len() >= 16, "secret looks wrong");
    assert!(
        !text(&first).contains(&secret),
        "secret printed: {}",
        text(&first)
    );

    // The credential works and is restricted.
    let id = field(&stored, "application_credential_id:");
    assert_eq!(
        field(&stored, "application_credential_name:"),
        "capi-kc-appcred"
    );
    let (status, body) = app_credential_login(ks.port, &id, &secret);
    assert_eq!(status, 201, "{body}");
    assert!(body.contains("\"restricted\": true"), "{body}");

    // `--render-out`: the cloud-config Secret and cloud.conf carry this credential (never
    // the caller's password), in private files.
    let out_dir = work.path().join("out");
    let rendered = Command::cargo_bin("scs-capi")
        .unwrap()
        .args(["prepare-cloud", "-f"])
        .arg(&settings)
        .arg("--render-out")
        .arg(&out_dir)
        .current_dir(work.path())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", &home)
        .env("XDG_STATE_HOME", home.join("state"))
        .env("OS_CLIENT_CONFIG_FILE", work.path().join("clouds.yaml"))
        .env("NO_COLOR", "1")
        .timeout(Duration::from_secs(180))
        .output()
        .unwrap();
    assert_eq!(rendered.status.code(), Some(0), "{}", text(&rendered));
    assert!(!text(&rendered).contains(&secret), "secret printed");
    for (name, m) in [
        ("clusterctl.yaml", 0o600),
        ("kc-config.yaml", 0o600),
        ("cloud.conf", 0o600),
        ("cluster-template.yaml", 0o644),
    ] {
        let p = out_dir.join(name);
        assert_eq!(mode(&p), m, "{name}");
        let body = std::fs::read_to_string(&p).unwrap();
        assert!(
            !body.contains(DEMO_PW),
            "the caller's password is in {name}"
        );
        assert!(!body.contains("username"), "{name}: {body}");
    }
    let conf = std::fs::read_to_string(out_dir.join("cloud.conf")).unwrap();
    assert!(
        conf.contains(&format!("application-credential-id={id}\n"))
            && conf.contains(&format!("application-credential-secret={secret}\n"))
            && conf.contains(&format!("auth-url=http://127.0.0.1:{}/v3\n", ks.port))
            && conf.contains("region=RegionOne\n")
            && conf.contains("[LoadBalancer]\nmanage-security-groups=true\n"),
        "{conf}"
    );
    let manifests = std::fs::read_to_string(out_dir.join("kc-config.yaml")).unwrap();
    let docs: Vec<serde_json::Value> = serde_saphyr::from_multiple(&manifests).unwrap();
    let secret_obj = docs.iter().find(|d| d["kind"] == "Secret").unwrap();
    let clouds = {
        use base64::Engine;
        let b = base64::engine::general_purpose::STANDARD
            .decode(secret_obj["data"]["clouds.yaml"].as_str().unwrap())
            .unwrap();
        String::from_utf8(b).unwrap()
    };
    let clouds: serde_json::Value = serde_saphyr::from_str(&clouds).unwrap();
    // The Secret's cloud is the one the manifests name (`cloud_provider`).
    let entry = &clouds["clouds"]["ks"];
    assert_eq!(entry["auth_type"], "v3applicationcredential", "{clouds}");
    assert_eq!(entry["auth"]["application_credential_id"], id.as_str());
    assert_eq!(
        entry["auth"]["application_credential_secret"],
        secret.as_str()
    );
    assert!(entry["auth"].get("password").is_none(), "{clouds}");
    // Keystone accepts exactly what the Secret holds.
    let (status, body) = app_credential_login(
        ks.port,
        entry["auth"]["application_credential_id"].as_str().unwrap(),
        entry["auth"]["application_credential_secret"]
            .as_str()
            .unwrap(),
    );
    assert_eq!(status, 201, "{body}");

    // A re-run adopts it: same file content, no new credential.
    let second = run(work.path(), &home, &settings);
    assert_eq!(second.status.code(), Some(0), "{}", text(&second));
    assert_eq!(
        std::fs::read_to_string(&cred).unwrap(),
        stored,
        "credential replaced on re-run"
    );

    // Secret lost: the credential is replaced by a new one and the file rewritten.
    std::fs::remove_file(&cred).unwrap();
    let third = run(work.path(), &home, &settings);
    assert_eq!(third.status.code(), Some(0), "{}", text(&third));
    let replaced = std::fs::read_to_string(&cred).unwrap();
    assert_ne!(field(&replaced, "application_credential_id:"), id);
    assert_eq!(mode(&cred), 0o600);
    // The old credential is gone from Keystone (it answers 404 for a deleted one).
    let (status, body) = app_credential_login(ks.port, &id, &secret);
    assert!(matches!(status, 401 | 404), "{status}: {body}");
    drop(running);
}

fn field(text: &str, key: &str) -> String {
    text.lines()
        .find_map(|l| l.trim().strip_prefix(key))
        .map(|s| s.trim().trim_matches('"').to_string())
        .unwrap_or_else(|| panic!("no `{key}` in:\n{text}"))
}

/// Logs in to Keystone with an application credential; `(status, body)`. The secret goes
/// to the child through its stdin, never through argv.
fn app_credential_login(port: u16, id: &str, secret: &str) -> (u16, String) {
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
    let mut child = Process::new(venv().join("bin/python"))
        .args(["-c", &script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
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
