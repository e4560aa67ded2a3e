//! `scs-capi cleanup` run as a process against the fake OpenStack (standalone clouds.yaml,
//! private `HOME`): whole clusters seeded as CAPO, OCCM, the CSI and `prepare-cloud` leave
//! them, next to a look-alike cluster (`foobar` for `foo`) and the management server.
//!
//! Covered: the dry run changes nothing; a run deletes exactly the cluster's resources
//! (volumes kept unless `--volumes delete`) and a re-run is a no-op; under injected faults
//! (500/503, 429 with `Retry-After`, answers slower than the timeout, dropped connections,
//! 409) `prepare-cloud` + `cleanup` leave nothing of the cluster; a non-retryable error is
//! reported with OpenStack's message, exit 1, and a re-run finishes the job; bad input
//! fails with exit 2 before anything is deleted. The application credential (Keystone)
//! is covered in `cleanup_through_keystone` with a real Keystone.

mod support;

use std::process::Output;
use std::time::{Duration, Instant};

use fake_openstack::{ClusterShape, FakeCloud, FaultKind, SeededCluster};
use serde_json::{Value, json};
use support::cloud::{FakeEnv, assert_exit, scs_capi, text};
use support::keystone::{DEMO_PW, Keystone, app_credential_login, yaml_field};

/// The demo cloud (management server, external network) with clusters `foo` and `foobar`.
fn two_clusters() -> (FakeEnv, SeededCluster, SeededCluster) {
    let env = FakeEnv::new(|c| c.seed().demo());
    let shape = ClusterShape::default();
    let cluster = env.cloud.seed().cluster("foo", "10.8.0.0/20", &shape);
    let look_alike = env.cloud.seed().cluster("foobar", "10.9.0.0/20", &shape);
    (env, cluster, look_alike)
}

/// Ids of the management server's resources (the demo seed): nothing may touch them.
fn management(cloud: &FakeCloud) -> Vec<(String, String)> {
    let snap = cloud.snapshot();
    let mut out = Vec::new();
    for (kind, names) in [
        ("servers", &["capi-mgmtcluster"][..]),
        ("networks", &["capi-net", "public"][..]),
        ("routers", &["capi-rtr"][..]),
        ("security_groups", &["capi-mgmt"][..]),
    ] {
        for r in snap[kind].as_array().unwrap() {
            if names.contains(&r["name"].as_str().unwrap_or_default()) {
                out.push((kind.to_string(), r["id"].as_str().unwrap().to_string()));
            }
        }
    }
    for f in snap["floatingips"].as_array().unwrap() {
        if f["description"] == "capi-mgmtcluster" {
            out.push(("floatingips".into(), f["id"].as_str().unwrap().to_string()));
        }
    }
    assert_eq!(out.len(), 6, "demo seed changed: {out:?}");
    out
}

fn still_there(cloud: &FakeCloud, ids: &[(String, String)]) -> Vec<(String, String)> {
    let snap = cloud.snapshot();
    ids.iter()
        .filter(|(k, id)| {
            snap[k.as_str()]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r["id"] == id.as_str())
        })
        .cloned()
        .collect()
}

/// The settings file of a seeded cluster (`cluster_name` and the cloud).
fn settings_of(env: &FakeEnv, cluster: &str) -> String {
    let file = env.path().join(format!("{cluster}.yaml"));
    std::fs::write(
        &file,
        format!("cluster_name: {cluster}\ncloud_provider: fake\n"),
    )
    .unwrap();
    file.to_str().unwrap().to_string()
}

/// `cleanup -f <cluster>.yaml`, without asking and without a management cluster to ask
/// (`--force`: these clusters were seeded into the cloud, no management cluster has them).
fn cleanup(env: &FakeEnv, cluster: &str, extra: &[&str]) -> Output {
    let file = settings_of(env, cluster);
    let mut args = vec![
        "cleanup",
        "-f",
        &file,
        "--os-cloud",
        "fake",
        "--yes",
        "--force",
    ];
    args.extend_from_slice(extra);
    env.run(&args)
}

fn json_out(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(o)))
}

#[test]
fn dry_run_plans_exactly_foo_and_changes_nothing() {
    let (env, foo, foobar) = two_clusters();
    let before = env.cloud.snapshot();
    let o = cleanup(&env, "foo", &["--dry-run", "--output", "json"]);
    assert_exit(&o, 0);
    assert_eq!(env.mutations(), Vec::<String>::new());
    assert_eq!(env.cloud.snapshot(), before);
    let doc = json_out(&o);
    assert_eq!(doc["dry_run"], true);
    assert!(doc.get("report").is_none());
    let nodes = doc["plan"]["nodes"].as_array().unwrap();
    let ids: Vec<&str> = nodes.iter().map(|n| n["id"].as_str().unwrap()).collect();
    // every seeded resource is planned, and the router interface; volumes are kept
    let shape = ClusterShape::default();
    assert_eq!(nodes.len(), shape.resource_count(), "{ids:?}");
    for (kind, id) in foo.all() {
        assert!(
            ids.contains(&id.as_str()),
            "foo's {kind} {id} is not planned"
        );
    }
    for (kind, id) in foobar.all() {
        assert!(
            !ids.contains(&id.as_str()),
            "foobar's {kind} {id} is planned"
        );
    }
    let kept: Vec<&Value> = nodes.iter().filter(|n| n["action"] == "keep").collect();
    assert_eq!(kept.len(), foo.volumes.len());
    assert!(kept.iter().all(|n| n["kind"] == "volume"));
    assert_eq!(doc["plan"]["blocked"], json!([]));

    // the text plan names the waves, the volumes kept, and nothing of foobar's
    let o = cleanup(&env, "foo", &["--dry-run"]);
    assert_exit(&o, 0);
    let table = String::from_utf8_lossy(&o.stdout);
    assert!(table.starts_with("WAVE  KIND"), "{table}");
    assert!(table.contains("--volumes delete"), "{table}");
    assert!(!table.contains("foobar"), "{table}");
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("dry run: nothing was deleted"),
        "{}",
        text(&o)
    );
    assert_eq!(env.mutations(), Vec::<String>::new());
}

#[test]
fn deletes_foo_only_keeps_volumes_until_asked_and_a_rerun_is_a_no_op() {
    let (env, foo, foobar) = two_clusters();
    let mgmt = management(&env.cloud);
    let o = cleanup(&env, "foo", &["--output", "json"]);
    assert_exit(&o, 0);
    let doc = json_out(&o);
    assert_eq!(doc["complete"], true);
    let snap = env.cloud.snapshot();
    let left = foo.present_in(&snap);
    let volumes: Vec<(&str, String)> = foo.volumes.iter().map(|v| ("volumes", v.clone())).collect();
    assert_eq!(left, volumes, "only foo's volumes stay (kept by default)");
    let results = doc["report"]["results"].as_array().unwrap();
    assert_eq!(
        results.iter().filter(|r| r["outcome"] == "kept").count(),
        foo.volumes.len()
    );
    assert_eq!(foobar.present_in(&snap).len(), foobar.all().len());
    assert_eq!(still_there(&env.cloud, &mgmt), mgmt);

    // with --volumes delete the volumes go too
    let o = cleanup(&env, "foo", &["--volumes", "delete"]);
    assert_exit(&o, 0);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains(&format!("{} deleted", foo.volumes.len())),
        "{out}"
    );
    assert_eq!(foo.present_in(&env.cloud.snapshot()), vec![]);

    // nothing left: a re-run deletes nothing and says so
    env.cloud.clear_request_log();
    let o = cleanup(&env, "foo", &["--volumes", "delete"]);
    assert_exit(&o, 0);
    assert_eq!(env.mutations(), Vec::<String>::new());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("nothing of cluster `foo` found"),
        "{}",
        text(&o)
    );
    let snap = env.cloud.snapshot();
    assert_eq!(foobar.present_in(&snap).len(), foobar.all().len());
    assert_eq!(still_there(&env.cloud, &mgmt), mgmt);
}

#[test]
fn prepare_cloud_then_cleanup_under_faults_leaves_nothing_of_the_cluster() {
    let env = FakeEnv::new(|c| {
        c.seed().demo();
        c.seed()
            .image("ubuntu-capi-image-test", json!({"min_disk": 20}));
    });
    let settings = env.path().join("foo.yaml");
    std::fs::write(
        &settings,
        "cluster_name: foo\ncloud_provider: fake\nnode_image: ubuntu-capi-image-test\n\
         controller_flavor: SCS-2V-4-20s\nworker_flavor: SCS-2V-4-20\nuse_cilium: true\n\
         anti_affinity: true\n",
    )
    .unwrap();
    let o = env.run(&["prepare-cloud", "-f", settings.to_str().unwrap()]);
    assert_exit(&o, 0);
    assert_eq!(env.named("security_groups", "capi-foo-cilium").len(), 1);
    // what CAPO, OCCM and the CSI then create; prepare-cloud's groups are adopted
    let foo = env
        .cloud
        .seed()
        .cluster("foo", "10.8.0.0/20", &ClusterShape::default());
    let foobar = env
        .cloud
        .seed()
        .cluster("foobar", "10.9.0.0/20", &ClusterShape::default());
    assert_eq!(env.named("security_groups", "capi-foo-cilium").len(), 1);
    assert_eq!(env.named("server_groups", "capi-foo-worker").len(), 1);

    let f = env.cloud.faults();
    f.status("GET", "/network/v2.0/ports", 1, 503);
    f.inject(
        "GET",
        "/load-balancer/v2/lbaas/loadbalancers",
        1,
        FaultKind::RateLimited {
            retry_after_secs: 1,
        },
    );
    f.status("DELETE", "/compute/v2.1/servers/", 1, 500);
    f.inject(
        "DELETE",
        "/network/v2.0/floatingips/",
        1,
        FaultKind::Delay(Duration::from_secs(3)),
    );
    f.inject(
        "DELETE",
        "/network/v2.0/ports/",
        1,
        FaultKind::DropConnection,
    );
    f.status("DELETE", "/network/v2.0/security-groups/", 1, 409);
    f.status("DELETE", "/load-balancer/v2/lbaas/loadbalancers/", 1, 409);
    f.status("DELETE", "/block-storage/", 1, 503);
    f.inject(
        "PUT",
        "/network/v2.0/routers/",
        1,
        FaultKind::RateLimited {
            retry_after_secs: 1,
        },
    );
    let t0 = Instant::now();
    let o = cleanup(&env, "foo", &["--volumes", "delete"]);
    assert_exit(&o, 0);
    assert_eq!(env.cloud.faults().pending(), 0, "every fault fired");
    assert!(
        t0.elapsed() >= Duration::from_secs(2),
        "the timeout was waited for"
    );
    let snap = env.cloud.snapshot();
    assert_eq!(foo.present_in(&snap), vec![], "{}", text(&o));
    assert_eq!(foobar.present_in(&snap).len(), foobar.all().len());
    for kind in ["server_groups", "security_groups"] {
        assert!(
            !snap[kind].as_array().unwrap().iter().any(|x| x["name"]
                .as_str()
                .unwrap_or_default()
                .starts_with("capi-foo-")),
            "prepare-cloud's {kind} of foo are gone"
        );
    }
    // and the re-run converges at once
    env.cloud.clear_request_log();
    let o = cleanup(&env, "foo", &["--volumes", "delete"]);
    assert_exit(&o, 0);
    assert_eq!(env.mutations(), Vec::<String>::new());
}

#[test]
fn a_final_error_is_reported_with_openstacks_message_and_a_rerun_finishes() {
    let (env, foo, foobar) = two_clusters();
    // a policy refusal on the first subnet deletion: not retryable
    env.cloud
        .faults()
        .status("DELETE", "/network/v2.0/subnets/", 1, 403);
    let o = cleanup(&env, "foo", &["--volumes", "delete"]);
    assert_exit(&o, 1);
    let out = String::from_utf8_lossy(&o.stdout);
    let err = String::from_utf8_lossy(&o.stderr);
    let row = out
        .lines()
        .find(|l| l.starts_with("subnet "))
        .unwrap_or_else(|| panic!("no subnet row: {out}"));
    assert!(row.contains("failed"), "{row}");
    assert!(
        row.contains("403: Forbidden (injected fault)") && row.contains("DELETE network"),
        "OpenStack's message and the request: {row}"
    );
    assert!(row.contains("request id `req-"), "{row}");
    // what waits for the subnet stays, and says why
    let net = out
        .lines()
        .find(|l| l.starts_with("network "))
        .unwrap_or_else(|| panic!("no network row: {out}"));
    assert!(
        net.contains("blocked") && net.contains("held by subnet/"),
        "{net}"
    );
    assert!(
        err.contains("error: cleanup of cluster `foo` on cloud `fake` is incomplete"),
        "{err}"
    );
    assert!(err.contains("re-run"), "{err}");
    let left = foo.present_in(&env.cloud.snapshot());
    let kinds: Vec<&str> = left.iter().map(|(k, _)| *k).collect();
    assert_eq!(kinds, ["networks", "subnets"], "everything else went");
    // a single policy refusal: one DELETE of the subnet, not retried
    let subnet_deletes = env
        .mutations()
        .iter()
        .filter(|m| m.starts_with("DELETE /network/v2.0/subnets/"))
        .count();
    assert_eq!(subnet_deletes, 1);

    let o = cleanup(&env, "foo", &["--volumes", "delete", "--output", "json"]);
    assert_exit(&o, 0);
    assert_eq!(json_out(&o)["complete"], true);
    let snap = env.cloud.snapshot();
    assert_eq!(foo.present_in(&snap), vec![]);
    assert_eq!(foobar.present_in(&snap).len(), foobar.all().len());
}

#[test]
fn bad_input_is_exit_2_and_deletes_nothing() {
    let (env, _, _) = two_clusters();
    let before = env.cloud.snapshot();
    let expect_2 = |o: &Output, needle: &str| {
        assert_exit(o, 2);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(needle), "`{needle}` not in: {err}");
        assert!(o.stdout.is_empty(), "{}", text(o));
    };
    let foo = settings_of(&env, "foo");
    // unknown cloud
    expect_2(
        &env.run(&[
            "cleanup",
            "-f",
            &foo,
            "--os-cloud",
            "nope",
            "--yes",
            "--force",
        ]),
        "`nope`",
    );
    // names that scs-capi never creates
    expect_2(
        &env.run(&["cleanup", "Foo_1", "--os-cloud", "fake", "--yes", "--force"]),
        "`NAME Foo_1`",
    );
    // a name this machine has no state for: its prefix and cloud would be guesses
    expect_2(
        &env.run(&["cleanup", "foo", "--yes", "--force"]),
        "has no state for cluster `foo`",
    );
    // usage errors clap sees
    expect_2(&env.run(&["cleanup", "--os-cloud", "fake"]), "--file");
    expect_2(
        &env.run(&["cleanup", "foo", "-f", &foo]),
        "cannot be used with",
    );
    expect_2(
        &env.run(&["cleanup", "-f", &foo, "--volumes", "maybe"]),
        "maybe",
    );
    // without a terminal and without `--yes`: refused
    expect_2(&env.run(&["cleanup", "-f", &foo, "--force"]), "--yes");
    // a broken clouds.yaml
    let broken = env.path().join("broken.yaml");
    std::fs::write(
        &broken,
        "clouds:\n  fake:\n    auth_type: none\n   bad: [\n",
    )
    .unwrap();
    let o = scs_capi(env.path(), &env.home(), &broken)
        .args([
            "cleanup",
            "-f",
            &foo,
            "--os-cloud",
            "fake",
            "--yes",
            "--force",
        ])
        .output()
        .unwrap();
    expect_2(&o, "broken.yaml");
    assert!(
        env.cloud.request_log().is_empty(),
        "{:?}",
        env.cloud.request_log()
    );
    assert_eq!(env.cloud.snapshot(), before);
}

/// A real Keystone whose catalog points at the fake: `prepare-cloud` creates the cluster's
/// restricted application credential, `cleanup` deletes it (and its stored secret) with the
/// rest; a wrong password fails before anything is deleted.
#[test]
fn cleanup_through_keystone() {
    let work = tempfile::tempdir().unwrap();
    let (ks, starting) = Keystone::spawn(&work.path().join("keystone"));
    let cloud = FakeCloud::new();
    cloud.seed().demo();
    cloud
        .seed()
        .image("ubuntu-capi-image-test", json!({"min_disk": 20}));
    let running = cloud.serve_in_background(0).expect("fake serves");
    let started = starting.wait_with_output().expect("keystone start");
    assert!(
        started.status.success(),
        "{}",
        String::from_utf8_lossy(&started.stderr)
    );
    let base = &running.url;
    for (service, path) in [
        ("compute", "compute/v2.1".to_string()),
        ("network", "network/v2.0".to_string()),
        ("image", "image/v2".to_string()),
        ("load-balancer", "load-balancer/v2".to_string()),
        (
            "block-storage",
            "block-storage/v3/%(project_id)s".to_string(),
        ),
    ] {
        ks.register(service, &format!("{base}/{path}"));
    }
    let clouds = work.path().join("clouds.yaml");
    std::fs::write(&clouds, ks.clouds_yaml("ks", DEMO_PW)).unwrap();
    let home = work.path().join("home");
    let settings = work.path().join("kc.yaml");
    std::fs::write(
        &settings,
        "cluster_name: kc\ncloud_provider: ks\nnode_image: ubuntu-capi-image-test\n\
         controller_flavor: SCS-2V-4-20s\nworker_flavor: SCS-2V-4-20\nuse_cilium: true\n",
    )
    .unwrap();
    let o = scs_capi(work.path(), &home, &clouds)
        .args(["prepare-cloud", "-f"])
        .arg(&settings)
        .output()
        .unwrap();
    assert_exit(&o, 0);
    let cred_file = home.join(".local/state/scs-capi/kc/appcred.yaml");
    let stored = std::fs::read_to_string(&cred_file).unwrap();
    let id = yaml_field(&stored, "application_credential_id:");
    let secret = yaml_field(&stored, "application_credential_secret:");
    assert_eq!(app_credential_login(ks.port, &id, &secret).0, 201);
    let kc = cloud
        .seed()
        .cluster("kc", "10.8.0.0/20", &ClusterShape::default());

    // a wrong password: exit 2, nothing deleted
    let wrong = work.path().join("wrong.yaml");
    std::fs::write(&wrong, ks.clouds_yaml("ks", "not-the-password")).unwrap();
    cloud.clear_request_log();
    let o = scs_capi(work.path(), &home, &wrong)
        .args(["cleanup", "kc", "--os-cloud", "ks", "--yes", "--force"])
        .output()
        .unwrap();
    assert_exit(&o, 2);
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("cannot authenticate to cloud `ks`"),
        "{}",
        text(&o)
    );
    assert!(cloud.request_log().is_empty());
    assert_eq!(app_credential_login(ks.port, &id, &secret).0, 201);

    // the real thing: everything goes, the credential last
    let o = scs_capi(work.path(), &home, &clouds)
        .args([
            "cleanup",
            "kc",
            "--os-cloud",
            "ks",
            "--yes",
            "--force",
            "--volumes",
            "delete",
            "--output",
            "json",
        ])
        .output()
        .unwrap();
    assert_exit(&o, 0);
    let doc: Value = serde_json::from_slice(&o.stdout).unwrap();
    let results = doc["report"]["results"].as_array().unwrap();
    let last = results
        .iter()
        .rev()
        .find(|r| r["outcome"] == "deleted")
        .unwrap();
    assert_eq!(last["kind"], "app-credential", "{last}");
    assert_eq!(last["name"], "capi-kc-appcred");
    assert_eq!(last["id"], id.as_str());
    let (status, body) = app_credential_login(ks.port, &id, &secret);
    assert!(matches!(status, 401 | 404), "{status}: {body}");
    assert!(
        !cred_file.exists(),
        "the stored secret of the deleted credential is removed"
    );
    assert_eq!(kc.present_in(&cloud.snapshot()), vec![]);
    assert!(!text(&o).contains(&secret), "secret printed");
    drop(running);
}
