//! `scs-capi prepare-cloud` through a real Keystone (password auth from clouds.yaml) whose
//! catalog points at the fake OpenStack: the restricted per-cluster application credential
//! is created, its secret lands only in the state dir (file 0600, directory 0700), a
//! re-run adopts it, and a credential whose secret was lost is replaced.

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
