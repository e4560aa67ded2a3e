//! Version discovery against the fake OpenStack: every way an endpoint can be given
//! (`*_endpoint_override` in `clouds.yaml`, `OS_*_ENDPOINT_OVERRIDE`, a Keystone catalog),
//! with or without a version, with or without a trailing slash, reaches the versioned API.
//!
//! Each case runs `prepare-cloud --dry-run` (compute, network, image, load-balancer) and
//! `cleanup --dry-run` (adds block-storage) as a process and checks that every request
//! landed on a versioned path (`/image/v2/...`), never on an unversioned one.

mod support;

use std::path::Path;
use std::process::Output;

use fake_openstack::{FakeCloud, Running};
use serde_json::json;
use support::cloud::{assert_exit, scs_capi, text};
use support::keystone::{DEMO_PW, Keystone};

const IMAGE: &str = "ubuntu-capi-image-test";

fn seeded() -> (FakeCloud, Running) {
    let cloud = FakeCloud::new();
    cloud.seed().demo();
    cloud.seed().flavor("SCS-2V-4-20", 2, 4096, 20);
    cloud
        .seed()
        .image(IMAGE, json!({"min_disk": 20, "min_ram": 1024}));
    let running = cloud.serve_in_background(0).expect("fake serves");
    (cloud, running)
}

fn write_settings(dir: &Path, cloud: &str) -> String {
    let p = dir.join("foo.yaml");
    std::fs::write(
        &p,
        format!(
            "cluster_name: foo\ncloud_provider: {cloud}\nnode_image: {IMAGE}\n\
             controller_flavor: SCS-2V-4-20s\nworker_flavor: SCS-2V-4-20\nanti_affinity: true\n"
        ),
    )
    .unwrap();
    p.display().to_string()
}

/// `prepare-cloud --dry-run` and `cleanup --dry-run` on `cloud` (empty: the `envvars`
/// cloud) with `extra_env`; both must succeed.
fn run_both(dir: &Path, clouds: &Path, extra_env: &[(&str, String)], cloud: &str) -> Vec<Output> {
    let settings = write_settings(dir, if cloud.is_empty() { "envvars" } else { cloud });
    let home = dir.join("home");
    let runs: [Vec<&str>; 2] = [
        vec![
            "prepare-cloud",
            "-f",
            &settings,
            "--dry-run",
            "--os-cloud",
            cloud,
        ],
        vec!["cleanup", "-f", &settings, "--dry-run", "--os-cloud", cloud],
    ];
    runs.iter()
        .map(|args| {
            let mut args = args.clone();
            if cloud.is_empty() {
                args.truncate(args.len() - 2);
            }
            let mut cmd = scs_capi(dir, &home, clouds);
            for (k, v) in extra_env {
                cmd.env(k, v);
            }
            let o = cmd.args(&args).output().expect("run scs-capi");
            assert_exit(&o, 0);
            o
        })
        .collect()
}

/// Every request path the fake saw that is an API call without the API version in it
/// (version documents excepted).
fn unversioned_calls(cloud: &FakeCloud) -> Vec<String> {
    let versioned = [
        "/compute/v2.1/",
        "/network/v2.0/",
        "/image/v2/",
        "/load-balancer/v2/",
        "/load-balancer/v2.0/",
        "/block-storage/v3/",
    ];
    cloud
        .request_log()
        .into_iter()
        .map(|r| r.path)
        .filter(|p| {
            // `/<service>/` or `/<service>/<version>/`: a version document.
            let doc = p.trim_matches('/').split('/').count() <= 2
                && p.trim_matches('/')
                    .split('/')
                    .nth(1)
                    .is_none_or(|v| v.starts_with('v'));
            !doc && !versioned.iter().any(|v| p.starts_with(v))
        })
        .collect()
}

/// Paths of the API (non-discovery) calls per service prefix, to show each service was
/// really used.
fn services_used(cloud: &FakeCloud) -> Vec<&'static str> {
    let log = cloud.request_log();
    [
        "/compute/v2.1/",
        "/network/v2.0/",
        "/image/v2/",
        "/load-balancer/v2",
        "/block-storage/v3/",
    ]
    .into_iter()
    .filter(|p| log.iter().any(|r| r.path.starts_with(p)))
    .collect()
}

const ALL_USED: [&str; 5] = [
    "/compute/v2.1/",
    "/network/v2.0/",
    "/image/v2/",
    "/load-balancer/v2",
    "/block-storage/v3/",
];

/// The clouds.yaml the fake prints (unversioned network/image/load-balancer, as real
/// deployments register them), unchanged: the bug users hit was a 404 here.
#[test]
fn printed_clouds_yaml_works_as_is() {
    let (cloud, running) = seeded();
    let dir = tempfile::tempdir().unwrap();
    let clouds = dir.path().join("clouds.yaml");
    std::fs::write(&clouds, cloud.endpoints(&running.url).clouds_yaml("fake")).unwrap();
    let outs = run_both(dir.path(), &clouds, &[], "fake");
    assert_eq!(unversioned_calls(&cloud), Vec::<String>::new());
    assert_eq!(services_used(&cloud), ALL_USED, "{}", text(&outs[0]));
}

/// How a test writes a service's endpoint: (fake base URL, service prefix) -> URL.
type UrlForm = fn(&str, &str) -> String;

/// Every service given in one of four forms: unversioned or versioned, with or without a
/// trailing slash (block storage: `/block-storage` or `/block-storage/v3/<project>`).
#[test]
fn every_override_form_reaches_the_versioned_api() {
    let forms: [(&str, UrlForm); 4] = [
        ("unversioned", |base, svc| format!("{base}/{svc}")),
        ("unversioned/", |base, svc| format!("{base}/{svc}/")),
        ("versioned", |base, svc| {
            format!("{base}/{svc}/{}", ver(svc))
        }),
        ("versioned/", |base, svc| {
            format!("{base}/{svc}/{}/", ver(svc))
        }),
    ];
    fn ver(svc: &str) -> &'static str {
        match svc {
            "compute" => "v2.1",
            "network" => "v2.0",
            "block-storage" => "v3/a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5",
            _ => "v2",
        }
    }
    for (form, url) in forms {
        let (cloud, running) = seeded();
        let dir = tempfile::tempdir().unwrap();
        let clouds = dir.path().join("clouds.yaml");
        let mut yaml =
            "clouds:\n  fake:\n    auth_type: none\n    region_name: RegionOne\n".to_string();
        for svc in [
            "compute",
            "network",
            "image",
            "load-balancer",
            "block-storage",
        ] {
            yaml.push_str(&format!(
                "    {}_endpoint_override: {}\n",
                svc.replace('-', "_"),
                url(&running.url, svc)
            ));
        }
        std::fs::write(&clouds, &yaml).unwrap();
        run_both(dir.path(), &clouds, &[], "fake");
        assert_eq!(
            unversioned_calls(&cloud),
            Vec::<String>::new(),
            "form {form}:\n{yaml}"
        );
        assert_eq!(services_used(&cloud), ALL_USED, "form {form}");
    }
}

/// `OS_*_ENDPOINT_OVERRIDE` (the `envvars` cloud), unversioned.
#[test]
fn os_endpoint_override_variables_are_discovered() {
    let (cloud, running) = seeded();
    let dir = tempfile::tempdir().unwrap();
    let clouds = dir.path().join("no-clouds.yaml");
    let base = &running.url;
    let env = [
        ("OS_AUTH_TYPE", "none".to_string()),
        ("OS_REGION_NAME", "RegionOne".to_string()),
        ("OS_COMPUTE_ENDPOINT_OVERRIDE", format!("{base}/compute")),
        ("OS_NETWORK_ENDPOINT_OVERRIDE", format!("{base}/network/")),
        ("OS_IMAGE_ENDPOINT_OVERRIDE", format!("{base}/image")),
        (
            "OS_LOAD_BALANCER_ENDPOINT_OVERRIDE",
            format!("{base}/load-balancer"),
        ),
        (
            "OS_BLOCK_STORAGE_ENDPOINT_OVERRIDE",
            format!("{base}/block-storage"),
        ),
    ];
    run_both(dir.path(), &clouds, &env, "");
    assert_eq!(unversioned_calls(&cloud), Vec::<String>::new());
    assert_eq!(services_used(&cloud), ALL_USED);
}

/// A Keystone catalog as real deployments register it: network, image and load-balancer
/// unversioned, compute `/v2.1`, block storage `/v3/<project>`; plus a second run where
/// compute is unversioned too.
#[test]
fn unversioned_catalog_entries_are_discovered() {
    let (cloud, running) = seeded();
    let dir = tempfile::tempdir().unwrap();
    let ks = Keystone::start(&dir.path().join("keystone"));
    let eps = cloud.endpoints(&running.url);
    for (service, url) in [
        ("compute", format!("{}/compute", running.url)),
        ("network", eps.network.clone()),
        ("image", format!("{}/", eps.image)),
        ("load-balancer", eps.load_balancer.clone()),
        (
            "block-storage",
            format!("{}/block-storage/v3/%(project_id)s", running.url),
        ),
    ] {
        ks.register(service, &url);
    }
    let clouds = dir.path().join("clouds.yaml");
    std::fs::write(&clouds, ks.clouds_yaml("ks", DEMO_PW)).unwrap();
    run_both(dir.path(), &clouds, &[], "ks");
    assert_eq!(unversioned_calls(&cloud), Vec::<String>::new());
    assert_eq!(services_used(&cloud), ALL_USED);
}
