//! `scs-capi prepare-cloud` against the fake OpenStack (standalone mode: `auth_type: none`,
//! endpoint overrides from `Endpoints::clouds_yaml`), run as a process through `assert_cmd`
//! with `HOME`/`XDG_*` inside a temp dir: dry run, creation, idempotent re-run, names,
//! errors before any creation, and retries under injected faults.
//!
//! The application credential needs Keystone; it is covered by `keystone_app_credential`
//! (real Keystone from `scripts/keystone-local.sh`, catalog pointing at the fake).

mod support;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use fake_openstack::FaultKind;
use serde_json::{Value, json};
use support::cloud::{FakeEnv, assert_exit, text};

const IMAGE: &str = "ubuntu-capi-image-test";

/// A cloud as SCS looks before prepare-cloud (the demo seed), plus the node image.
fn new_env() -> FakeEnv {
    FakeEnv::new(|cloud| {
        cloud.seed().demo();
        cloud
            .seed()
            .image(IMAGE, json!({"min_disk": 20, "min_ram": 1024}));
    })
}

/// Writes `<name>.yaml` with the base settings plus `extra`.
fn settings(env: &FakeEnv, name: &str, extra: &str) -> PathBuf {
    let p = env.path().join(format!("{name}.yaml"));
    let body = format!(
        "cluster_name: {name}\ncloud_provider: fake\nnode_image: {IMAGE}\n\
         controller_flavor: SCS-2V-4-20s\nworker_flavor: SCS-2V-4-20\n{extra}"
    );
    std::fs::write(&p, body).unwrap();
    p
}

fn prepare(env: &FakeEnv, file: &Path, args: &[&str]) -> Output {
    let file = file.to_str().unwrap();
    let mut all = vec!["prepare-cloud", "-f", file];
    all.extend_from_slice(args);
    env.run(&all)
}

#[test]
fn dry_run_creates_nothing() {
    let env = new_env();
    let f = settings(&env, "foo", "use_cilium: true\nanti_affinity: true\n");
    let before = env.cloud.snapshot();
    let o = prepare(&env, &f, &["--dry-run", "--output", "json"]);
    assert_exit(&o, 0);
    assert_eq!(env.cloud.snapshot(), before);
    assert_eq!(env.mutations(), Vec::<String>::new());
    let plan: Value = serde_json::from_slice(&o.stdout).expect("json plan on stdout");
    let states: Vec<(String, String)> = plan["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["step"].as_str().unwrap().to_string(),
                s["state"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    for step in [
        "server-group controller",
        "server-group worker",
        "security-group cilium",
    ] {
        assert!(
            states.contains(&(step.to_string(), "create".to_string())),
            "{step}: {states:?}"
        );
    }
    assert_eq!(plan["outputs"]["external_network_name"], "public");
}

#[test]
fn run_creates_exactly_the_resources_then_is_a_no_op() {
    let env = new_env();
    let f = settings(
        &env,
        "foo",
        "use_cilium: true\nanti_affinity: true\nrestrict_kubeapi: [10.1.0.0/16]\n",
    );
    let o = prepare(&env, &f, &["--output", "json"]);
    assert_exit(&o, 0);
    let cp = env.named("server_groups", "capi-foo-controller");
    let wk = env.named("server_groups", "capi-foo-worker");
    assert_eq!(cp.len(), 1);
    assert_eq!(wk.len(), 1);
    assert_eq!(cp[0]["policy"], "anti-affinity");
    assert_eq!(wk[0]["policy"], "soft-anti-affinity");
    let sg = env.named("security_groups", "capi-foo-cilium");
    assert_eq!(sg.len(), 1);
    let sg_id = sg[0]["id"].as_str().unwrap();
    let mut rules: Vec<String> = env.cloud.snapshot()["security_group_rules"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["security_group_id"] == sg_id && r["direction"] == "ingress")
        .map(|r| {
            assert_eq!(r["remote_group_id"], sg_id);
            assert_eq!(r["ethertype"], "IPv4");
            format!(
                "{}/{}-{}",
                r["protocol"].as_str().unwrap(),
                r["port_range_min"],
                r["port_range_max"]
            )
        })
        .collect();
    rules.sort();
    assert_eq!(rules, ["tcp/4240-4240", "tcp/4244-4244", "udp/8472-8472"]);
    // Server groups are created with microversion 2.64 (`policy`).
    let posts: Vec<_> = env
        .cloud
        .request_log()
        .into_iter()
        .filter(|r| r.method == "POST")
        .collect();
    assert_eq!(posts.len(), 6, "{posts:?}");
    for p in posts
        .iter()
        .filter(|p| p.path.ends_with("/os-server-groups"))
    {
        assert_eq!(p.microversion.as_deref(), Some("compute 2.64"), "{p:?}");
    }
    let result: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(result["outputs"]["controller_server_group_id"], cp[0]["id"]);
    assert_eq!(result["outputs"]["worker_server_group_id"], wk[0]["id"]);
    // The management server's floating IP feeds the kube-API allowlist.
    let fip = result["outputs"]["mgmt_egress_cidr"].as_str().unwrap();
    assert!(
        fip.starts_with("172.24.4.") && fip.ends_with("/32"),
        "{fip}"
    );

    // Second run: nothing to do.
    env.cloud.clear_request_log();
    let before = env.cloud.snapshot();
    let o = prepare(&env, &f, &[]);
    assert_exit(&o, 0);
    assert_eq!(env.mutations(), Vec::<String>::new());
    assert_eq!(env.cloud.snapshot(), before);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("STATE") && !out.contains("created"), "{out}");
}

#[test]
fn cilium_off_and_foo_never_touches_foobar() {
    let env = new_env();
    let foobar_sg = env.cloud.seed().security_group("capi-foobar-cilium");
    let foobar_grp = env
        .cloud
        .seed()
        .server_group("capi-foobar-controller", "soft-anti-affinity");
    let f = settings(&env, "foo", "use_cilium: false\nanti_affinity: true\n");
    let o = prepare(&env, &f, &[]);
    assert_exit(&o, 0);
    assert!(env.named("security_groups", "capi-foo-cilium").is_empty());
    assert_eq!(env.named("server_groups", "capi-foo-controller").len(), 1);
    assert_eq!(
        env.named("server_groups", "capi-foo-controller")[0]["policy"],
        "anti-affinity"
    );
    let snap = env.cloud.snapshot();
    assert!(
        snap["security_groups"]
            .as_array()
            .unwrap()
            .iter()
            .any(|g| g["id"] == foobar_sg.as_str())
    );
    let g = snap["server_groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["id"] == foobar_grp.as_str())
        .cloned()
        .unwrap();
    assert_eq!(g["policy"], "soft-anti-affinity");
    assert!(
        !env.mutations().iter().any(|m| m.contains("security-group")),
        "{:?}",
        env.mutations()
    );

    // foobar gets its own, and adopts its existing controller group only if the policy fits.
    let fb = settings(
        &env,
        "foobar",
        "use_cilium: true\nanti_affinity: true\nsoft_anti_affinity_controller: true\n",
    );
    let o = prepare(&env, &fb, &[]);
    assert_exit(&o, 0);
    assert_eq!(
        env.named("server_groups", "capi-foobar-controller").len(),
        1
    );
    assert_eq!(env.named("security_groups", "capi-foobar-cilium").len(), 1);
}

#[test]
fn problems_are_reported_before_anything_is_created() {
    // Missing flavor.
    let env = new_env();
    let f = settings(&env, "foo", "use_cilium: true\n");
    std::fs::write(
        &f,
        std::fs::read_to_string(&f)
            .unwrap()
            .replace("worker_flavor: SCS-2V-4-20", "worker_flavor: SCS-9V-99"),
    )
    .unwrap();
    let o = prepare(&env, &f, &[]);
    assert_exit(&o, 2);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("SCS-9V-99") && err.contains("flavor does not exist"),
        "{err}"
    );
    assert!(err.contains("nothing was created"), "{err}");
    assert_eq!(env.mutations(), Vec::<String>::new());

    // Two external networks.
    let env = new_env();
    env.cloud
        .seed()
        .external_network("public2", "172.25.4.0/24");
    let f = settings(&env, "foo", "use_cilium: true\n");
    let o = prepare(&env, &f, &[]);
    assert_exit(&o, 2);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("`public`") && err.contains("`public2`"),
        "{err}"
    );
    assert_eq!(env.mutations(), Vec::<String>::new());

    // Image min_disk larger than the flavor's disk (a diskless flavor gets a root volume
    // the image fits into: no problem there).
    let env = new_env();
    env.cloud.seed().image("big-image", json!({"min_disk": 40}));
    let f = settings(&env, "foo", "use_cilium: true\n");
    std::fs::write(
        &f,
        std::fs::read_to_string(&f)
            .unwrap()
            .replace(IMAGE, "big-image")
            .replace("worker_flavor: SCS-2V-4-20", "worker_flavor: SCS-2V-4"),
    )
    .unwrap();
    let o = prepare(&env, &f, &[]);
    assert_exit(&o, 2);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("root disk controller") && err.contains("min_disk 40"),
        "{err}"
    );
    assert!(!err.contains("root disk worker"), "{err}");
    assert_eq!(env.mutations(), Vec::<String>::new());

    // Missing image whose source cannot be verified (no checksum for a local file that does
    // not exist): reported, never faked, nothing uploaded.
    let env = new_env();
    let f = settings(&env, "foo", "node_image_url: /nonexistent/node.qcow2\n");
    std::fs::write(
        &f,
        std::fs::read_to_string(&f)
            .unwrap()
            .replace(IMAGE, "no-such-image"),
    )
    .unwrap();
    let o = prepare(&env, &f, &[]);
    assert_exit(&o, 2);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("no-such-image") && err.contains("node_image_sha256"),
        "{}",
        text(&o)
    );
    assert_eq!(env.mutations(), Vec::<String>::new());
}

#[test]
fn invalid_settings_exit_1_without_touching_the_cloud() {
    let env = new_env();
    // OVN provider with a kube-API allowlist.
    let f = settings(
        &env,
        "foo",
        "use_ovn_lb_provider: true\nrestrict_kubeapi: [10.0.0.0/8]\nmgmt_egress_cidr: 192.0.2.1/32\n",
    );
    let o = prepare(&env, &f, &[]);
    assert_exit(&o, 1);
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("OVN"),
        "{}",
        text(&o)
    );
    // A typo.
    let f = settings(&env, "bar", "worker_flavour: x\n");
    let o = prepare(&env, &f, &[]);
    assert_exit(&o, 1);
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("worker_flavour"),
        "{}",
        text(&o)
    );
    assert!(
        env.cloud.request_log().is_empty(),
        "{:?}",
        env.cloud.request_log()
    );
}

#[test]
fn transient_faults_are_retried() {
    let env = new_env();
    let f = settings(&env, "foo", "use_cilium: true\nanti_affinity: true\n");
    let faults = env.cloud.faults();
    faults.status("GET", "/compute/v2.1/os-server-groups", 2, 503);
    faults.inject(
        "GET",
        "/network/v2.0/security-groups",
        1,
        FaultKind::RateLimited {
            retry_after_secs: 2,
        },
    );
    faults.inject("GET", "/image", 1, FaultKind::Delay(Duration::from_secs(4)));
    faults.inject("GET", "/compute/v2.1/flavors", 1, FaultKind::DropConnection);
    faults.status("POST", "/network/v2.0/security-group-rules", 1, 503);
    let t0 = Instant::now();
    let o = prepare(&env, &f, &[]);
    assert_exit(&o, 0);
    assert_eq!(env.cloud.faults().pending(), 0);
    // Retry-After 2 s and a 2 s timeout were waited for.
    assert!(t0.elapsed() >= Duration::from_secs(2), "{:?}", t0.elapsed());
    assert_eq!(env.named("server_groups", "capi-foo-controller").len(), 1);
    let sg = env.named("security_groups", "capi-foo-cilium");
    assert_eq!(sg.len(), 1);
    let rules = env.cloud.snapshot()["security_group_rules"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["security_group_id"] == sg[0]["id"] && r["direction"] == "ingress")
        .count();
    assert_eq!(rules, 3);
}

#[test]
fn quota_error_is_reported_and_a_rerun_converges() {
    let env = new_env();
    let f = settings(&env, "foo", "use_cilium: true\nanti_affinity: true\n");
    env.cloud
        .faults()
        .inject("POST", "/network/v2.0/security-groups", 1, FaultKind::Quota);
    let o = prepare(&env, &f, &[]);
    assert_exit(&o, 2);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.to_lowercase().contains("quota"), "{err}");
    assert!(err.contains("POST network security-groups"), "{err}");
    assert!(err.contains("request id"), "{err}");
    // A POST is not retried: exactly one attempt.
    let sg_posts = env
        .cloud
        .request_log()
        .iter()
        .filter(|r| r.method == "POST" && r.path.ends_with("/security-groups"))
        .count();
    assert_eq!(sg_posts, 1);
    assert!(env.named("security_groups", "capi-foo-cilium").is_empty());

    let o = prepare(&env, &f, &[]);
    assert_exit(&o, 0);
    assert_eq!(env.named("server_groups", "capi-foo-controller").len(), 1);
    assert_eq!(env.named("server_groups", "capi-foo-worker").len(), 1);
    assert_eq!(env.named("security_groups", "capi-foo-cilium").len(), 1);
}

/// What every machine template names besides CAPO's own groups: the SSH keypair (checked:
/// CAPO would fail each machine without it) and the `<prefix>-allow-ssh`/`-allow-icmp`
/// security groups (created with R4's rules when missing, as R4's terraform made them).
#[test]
fn keypair_is_checked_and_node_access_groups_are_created() {
    let env = new_env();
    // prefix `acme`: the demo seed has only `capi-keypair` and `capi-allow-*`.
    let f = settings(&env, "foo", "prefix: acme\n");
    let before = env.cloud.snapshot();
    let o = prepare(&env, &f, &[]);
    assert_exit(&o, 2);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("keypair `acme-keypair`: does not exist") && err.contains("ssh_keypair"),
        "{}",
        text(&o)
    );
    assert_eq!(env.mutations(), Vec::<String>::new());
    assert_eq!(env.cloud.snapshot(), before);

    env.cloud
        .seed()
        .keypair("acme-keypair", "ssh-ed25519 AAAAtest test");
    let o = prepare(&env, &f, &["--dry-run", "--output", "json"]);
    assert_exit(&o, 0);
    let plan: Value = serde_json::from_slice(&o.stdout).unwrap();
    let planned: Vec<String> = plan["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["step"] == "security-group" || s["step"] == "keypair")
        .map(|s| format!("{} {} {}", s["state"], s["step"], s["name"]).replace('"', ""))
        .collect();
    assert_eq!(
        planned,
        [
            "ok keypair acme-keypair",
            "create security-group acme-allow-ssh",
            "create security-group acme-allow-icmp"
        ]
    );

    assert_exit(&prepare(&env, &f, &[]), 0);
    let snap = env.cloud.snapshot();
    let group = |name: &str| {
        snap["security_groups"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["name"] == name)
            .unwrap_or_else(|| panic!("no {name}"))["id"]
            .clone()
    };
    let rules_of = |id: &Value| -> Vec<String> {
        snap["security_group_rules"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| &r["security_group_id"] == id && r["direction"] == "ingress")
            .map(|r| {
                format!(
                    "{} {} {}",
                    r["protocol"].as_str().unwrap_or("any"),
                    r["port_range_min"],
                    r["remote_ip_prefix"].as_str().unwrap_or("-")
                )
            })
            .collect()
    };
    assert_eq!(rules_of(&group("acme-allow-ssh")), ["tcp 22 0.0.0.0/0"]);
    assert_eq!(rules_of(&group("acme-allow-icmp")), ["icmp null 0.0.0.0/0"]);

    // A re-run finds them.
    let o = prepare(&env, &f, &["--dry-run", "--output", "json"]);
    assert_exit(&o, 0);
    assert!(
        !String::from_utf8_lossy(&o.stdout).contains("\"create\""),
        "{}",
        text(&o)
    );
}
