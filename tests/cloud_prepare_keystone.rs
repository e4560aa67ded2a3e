//! `scs-capi prepare-cloud` through a real Keystone (password auth from clouds.yaml) whose
//! catalog points at the fake OpenStack: the restricted per-cluster application credential
//! is created, its secret lands only in the state dir (file 0600, directory 0700) and, with
//! `--render-out`, in the rendered cloud-config Secret and cloud.conf (0600, never the
//! caller's password), a re-run adopts it, and a credential whose secret was lost is
//! replaced.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Output;
use std::time::Instant;

use fake_openstack::FakeCloud;
use serde_json::json;
use support::cloud::{scs_capi, text};
use support::keystone::{DEMO_PW, Keystone, app_credential_login, yaml_field};

const IMAGE: &str = "ubuntu-capi-image-test";

fn run(work: &Path, home: &Path, settings: &Path) -> Output {
    scs_capi(work, home, &work.join("clouds.yaml"))
        .args(["prepare-cloud", "--output", "json", "-f"])
        .arg(settings)
        .output()
        .unwrap()
}

#[test]
fn restricted_app_credential_is_created_kept_private_and_adopted() {
    let work = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let ks = Keystone::start(&work.path().join("keystone"));
    eprintln!("keystone up after {:?}", started.elapsed());

    let cloud = FakeCloud::new();
    cloud.seed().demo();
    cloud
        .seed()
        .image(IMAGE, json!({"min_disk": 20, "min_ram": 1024}));
    let running = cloud.serve_in_background(0).expect("fake serves");
    // Versioned URLs (unversioned catalog entries: tests/cloud_discovery.rs).
    let base = &running.url;
    for (service, path) in [
        ("compute", "compute/v2.1"),
        ("network", "network/v2.0"),
        ("image", "image/v2"),
        ("load-balancer", "load-balancer/v2"),
    ] {
        ks.register(service, &format!("{base}/{path}"));
    }
    std::fs::write(
        work.path().join("clouds.yaml"),
        ks.clouds_yaml("ks", DEMO_PW),
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
    let state = home.join(".local/state/scs-capi/kc");
    let cred = state.join("appcred.yaml");
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&cred), 0o600, "credential file mode");
    assert_eq!(mode(&state), 0o700, "state dir mode");
    let stored = std::fs::read_to_string(&cred).unwrap();
    // The secret is in the file and nowhere in the output.
    let secret = yaml_field(&stored, "application_credential_secret:");
    assert!(secret.len() >= 16, "secret looks wrong");
    assert!(
        !text(&first).contains(&secret),
        "secret printed: {}",
        text(&first)
    );

    // The credential works and is restricted.
    let id = yaml_field(&stored, "application_credential_id:");
    assert_eq!(
        yaml_field(&stored, "application_credential_name:"),
        "capi-kc-appcred"
    );
    let (status, body) = app_credential_login(ks.port, &id, &secret);
    assert_eq!(status, 201, "{body}");
    assert!(body.contains("\"restricted\": true"), "{body}");

    // `--render-out`: the cloud-config Secret and cloud.conf carry this credential (never
    // the caller's password), in private files.
    let out_dir = work.path().join("out");
    let rendered = scs_capi(work.path(), &home, &work.path().join("clouds.yaml"))
        .args(["prepare-cloud", "-f"])
        .arg(&settings)
        .arg("--render-out")
        .arg(&out_dir)
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
    assert_ne!(yaml_field(&replaced, "application_credential_id:"), id);
    assert_eq!(mode(&cred), 0o600);
    // The old credential is gone from Keystone (it answers 404 for a deleted one).
    let (status, body) = app_credential_login(ks.port, &id, &secret);
    assert!(matches!(status, 401 | 404), "{status}: {body}");
    drop(running);
}
