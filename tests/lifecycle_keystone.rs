//! `create-cluster` and `delete-cluster` end to end through a real Keystone
//! (`support::lifecycle::Env` with [`Auth::Keystone`]: the `demo` user's password in the
//! clouds.yaml, Keystone's catalog pointing at the fake OpenStack, fake-kube with its
//! simulated CAPI/CAPO as the management cluster).
//!
//! What only Keystone can show: the cluster runs on its own restricted application
//! credential - in CAPO's `<cluster>-cloud-config` Secret on the management cluster and in
//! the workload cluster's `kube-system/cloud-config` - whose secret the state dir holds
//! (0600); the caller's password reaches no Kubernetes object, no output and no file the
//! tool writes; `delete-cluster` removes the credential along with the cluster.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use base64::Engine;
use serde_json::Value;

use support::keystone::{DEMO_PW, app_credential_login, yaml_field};
use support::lifecycle::{Auth, Env, assert_exit, text};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

#[test]
fn create_and_delete_through_keystone_use_the_clusters_own_credential() {
    let env = Env::with_auth(Auth::Keystone);
    let ks = env.keystone.as_ref().expect("keystone");
    let f = env.settings("demo", "worker_count: 1\n");

    let created = env.create(&f, &["--yes"]);
    assert_exit(&created, 0);

    // The credential: in the state dir (0600), working, restricted to the roles asked for.
    let state = env.home().join(".local/state/scs-capi/demo");
    let cred_file = state.join("appcred.yaml");
    assert_eq!(
        std::fs::metadata(&cred_file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let stored = std::fs::read_to_string(&cred_file).unwrap();
    let id = yaml_field(&stored, "application_credential_id:");
    let secret = yaml_field(&stored, "application_credential_secret:");
    let (status, body) = app_credential_login(ks.port, &id, &secret);
    assert_eq!(status, 201, "{body}");
    let token: Value = serde_json::from_str(&body).unwrap();
    let token = &token["token"];
    assert_eq!(token["application_credential"]["id"], id.as_str());
    assert_eq!(
        token["application_credential"]["restricted"], true,
        "{body}"
    );
    let mut roles: Vec<&str> = token["roles"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["name"].as_str())
        .collect();
    roles.sort_unstable();
    // `reader` is implied by `member` in Keystone's default roles.
    assert_eq!(
        roles,
        ["load-balancer_member", "member", "reader"],
        "{body}"
    );
    assert!(
        !text(&created).contains(&secret),
        "credential secret printed"
    );
    // Neither of the notes for a cloud without Keystone.
    assert!(
        !text(&created).contains("no application credential")
            && !text(&created).contains("no Keystone user"),
        "{}",
        text(&created)
    );

    // CAPO's identity on the management cluster: clouds.yaml with this credential.
    let capo = env
        .kube
        .get("v1", "Secret", "default", "demo-cloud-config")
        .expect("CAPO's cloud-config Secret");
    let clouds: Value = serde_saphyr::from_str(&secret_data(&capo, "clouds.yaml")).unwrap();
    let entry = &clouds["clouds"]["fake"];
    assert_eq!(entry["auth_type"], "v3applicationcredential", "{clouds}");
    assert_eq!(entry["auth"]["application_credential_id"], id.as_str());
    assert_eq!(
        entry["auth"]["application_credential_secret"],
        secret.as_str()
    );
    assert_eq!(entry["auth"]["auth_url"], ks.url().as_str());
    assert!(entry["auth"].get("username").is_none(), "{clouds}");

    // OCCM's and the CSI's cloud.conf in the workload cluster: the same credential.
    let wl = env
        .kube
        .workload("default", "demo")
        .expect("workload cluster");
    let wl_secret = wl
        .get("v1", "Secret", "kube-system", "cloud-config")
        .expect("kube-system/cloud-config");
    let conf = secret_data(&wl_secret, "cloud.conf");
    assert!(
        conf.contains(&format!("application-credential-id={id}\n"))
            && conf.contains(&format!("application-credential-secret={secret}\n"))
            && conf.contains(&format!("auth-url={}\n", ks.url())),
        "{conf}"
    );
    assert!(
        !conf.contains("username") && !conf.contains("password"),
        "{conf}"
    );

    // The caller's password is nowhere: not in any object of either API, not in the
    // output, not in any file but the caller's own clouds.yaml.
    for (api, snap) in [
        ("management", env.kube.snapshot()),
        ("workload", wl.snapshot()),
    ] {
        let hits = leaks_in_value(&snap, "");
        assert!(hits.is_empty(), "password in {api} objects at {hits:?}");
    }
    assert!(
        !leaks(&created.stdout) && !leaks(&created.stderr),
        "{}",
        text(&created)
    );
    let own = env.path().join("clouds.yaml");
    assert!(
        leaks(&std::fs::read(&own).unwrap()),
        "the scan finds the password"
    );
    let files = files_under(env.path(), &[own, env.path().join("keystone")]);
    assert!(
        files.iter().any(|p| p.starts_with(&state)),
        "the scan covers the state dir: {files:?}"
    );
    for p in &files {
        assert!(
            !leaks(&std::fs::read(p).unwrap()),
            "password in {}",
            p.display()
        );
    }

    // delete-cluster: the credential is gone from Keystone, nothing of the cluster is left
    // in the cloud, the state dir is removed.
    let before = env.cloud_resources_named("demo");
    assert!(
        before.iter().any(|r| r.starts_with("servers")),
        "{before:?}"
    );
    let deleted = env.cmd(&["delete-cluster", "demo", "--yes", "--timeout", "60"]);
    assert_exit(&deleted, 0);
    assert!(
        !leaks(&deleted.stdout) && !leaks(&deleted.stderr),
        "{}",
        text(&deleted)
    );
    let (status, body) = app_credential_login(ks.port, &id, &secret);
    assert!(matches!(status, 401 | 404), "{status}: {body}");
    let left = env.cloud_resources_named("demo");
    assert!(
        left.is_empty(),
        "left in the cloud: {left:?}\n{}",
        text(&deleted)
    );
    assert!(!state.exists(), "state dir left: {}", state.display());
    assert!(
        env.kube
            .get("cluster.x-k8s.io/v1beta2", "Cluster", "default", "demo")
            .is_none()
    );
}

/// The decoded `data.<key>` of a Secret.
fn secret_data(secret: &Value, key: &str) -> String {
    let b64 = secret["data"][key]
        .as_str()
        .unwrap_or_else(|| panic!("no data.{key} in {secret:#}"));
    String::from_utf8(B64.decode(b64).unwrap()).unwrap()
}

/// Whether `bytes` hold the password: as text, or base64-encoded at any offset (wherever
/// the password starts, one of its suffixes starts on a 3-byte group boundary, and the
/// encoding of that suffix's whole groups appears verbatim).
fn leaks(bytes: &[u8]) -> bool {
    let pw = DEMO_PW.as_bytes();
    let contains = |needle: &[u8]| bytes.windows(needle.len()).any(|w| w == needle);
    contains(pw)
        || (0..3).any(|skip| {
            let rest = &pw[skip..];
            contains(B64.encode(&rest[..rest.len() / 3 * 3]).as_bytes())
        })
}

/// JSON pointers of the strings in `v` that hold the password, also inside base64 and
/// gzip+base64 values (Secret data, kubeadm files).
fn leaks_in_value(v: &Value, at: &str) -> Vec<String> {
    match v {
        Value::String(s) => {
            let decoded = B64.decode(s.trim()).ok().map(|b| {
                let mut text = Vec::new();
                use std::io::Read;
                match flate2::read::GzDecoder::new(&b[..]).read_to_end(&mut text) {
                    Ok(_) => text,
                    Err(_) => b,
                }
            });
            if leaks(s.as_bytes()) || decoded.is_some_and(|d| leaks(&d)) {
                vec![at.to_string()]
            } else {
                Vec::new()
            }
        }
        Value::Array(items) => items
            .iter()
            .enumerate()
            .flat_map(|(i, x)| leaks_in_value(x, &format!("{at}/{i}")))
            .collect(),
        Value::Object(map) => map
            .iter()
            .flat_map(|(k, x)| leaks_in_value(x, &format!("{at}/{k}")))
            .collect(),
        _ => Vec::new(),
    }
}

/// Every regular file below `root`, except `skip` (files or whole directories).
fn files_under(root: &Path, skip: &[PathBuf]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![root.to_path_buf()];
    while let Some(dir) = todo.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if skip.iter().any(|s| p.starts_with(s)) {
                continue;
            }
            let meta = std::fs::symlink_metadata(&p).unwrap();
            if meta.is_dir() {
                todo.push(p);
            } else if meta.is_file() {
                out.push(p);
            }
        }
    }
    out
}

#[test]
fn the_leak_scan_finds_the_password_in_every_encoding() {
    assert!(leaks(format!("password: {DEMO_PW}\n").as_bytes()));
    for prefix in ["", "a", "ab", "abc"] {
        let enc = B64.encode(format!("{prefix}{DEMO_PW} tail"));
        assert!(leaks(enc.as_bytes()), "{prefix:?}");
    }
    assert!(!leaks(b"s3cret-dem0 and s3cret-other"));
    let gz = {
        use std::io::Write;
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(format!("x={DEMO_PW}").as_bytes()).unwrap();
        B64.encode(e.finish().unwrap())
    };
    let v = serde_json::json!({"a": [{"content": gz}], "b": "clean"});
    assert_eq!(leaks_in_value(&v, ""), ["/a/0/content"]);
}

/// Issue 13, M2: the state lost its `appcred.yaml` (another machine, a wiped home) while
/// the cluster runs: a re-run of create-cluster must not delete the credential the
/// running cluster uses; it refuses, names `rotate-credentials`, and changes nothing.
#[test]
fn a_lost_credential_secret_is_not_replaced_under_a_running_cluster() {
    let env = Env::with_auth(Auth::Keystone);
    let ks = env.keystone.as_ref().expect("keystone");
    let f = env.settings("lost", "worker_count: 1\n");
    assert_exit(&env.create(&f, &["--yes"]), 0);
    let cred_file = env.home().join(".local/state/scs-capi/lost/appcred.yaml");
    let stored = std::fs::read_to_string(&cred_file).unwrap();
    let id = yaml_field(&stored, "application_credential_id:");
    let secret = yaml_field(&stored, "application_credential_secret:");
    std::fs::remove_file(&cred_file).unwrap();

    let o = env.create(&f, &["--yes"]);
    assert_exit(&o, 2);
    assert!(text(&o).contains("rotate-credentials"), "{}", text(&o));
    assert!(text(&o).contains("nothing was changed"), "{}", text(&o));
    // The running cluster's credential still works.
    let (status, body) = app_credential_login(ks.port, &id, &secret);
    assert_eq!(status, 201, "the credential was deleted: {body}");
    assert!(!cred_file.exists());
}
