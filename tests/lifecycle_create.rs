//! `scs-capi create-cluster` and `get-kubeconfig` end to end on the fakes
//! (`support::lifecycle::Env`: the fake OpenStack, fake-kube as the management cluster
//! with its simulated CAPI/CAPO wired to the fake cloud, the workload cluster fake it
//! starts, and addon manifests from a local mirror).
//!
//! The per-cluster application credential (and so the `kube-system/cloud-config` Secret)
//! needs Keystone, which the standalone fake has not: create and delete through a real
//! Keystone are `tests/lifecycle_keystone.rs`; `tests/cloud_prepare_keystone.rs` covers the
//! credential's adoption and replacement, `tests/addons.rs` the Secret built from the
//! cloud.conf.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::time::Duration;

use assert_cmd::Command;
use serde_json::json;

use support::lifecycle::{Env, assert_exit, changes, json_report, text};

#[test]
fn create_converges_installs_addons_and_a_rerun_changes_nothing() {
    let env = Env::new();
    let f = env.settings("foo", "worker_count: 2\n");

    // Dry run: every object would be created, nothing is touched.
    let o = env.create(&f, &["--dry-run", "--output", "json"]);
    assert_exit(&o, 0);
    let plan = json_report(&o);
    assert!(
        changes(&plan).iter().all(|(_, c)| c == "create"),
        "{plan:#}"
    );
    assert!(
        env.kube
            .request_log()
            .iter()
            .all(|r| r.verb != "apply" && r.verb != "create")
    );

    let o = env.create(&f, &["--output", "json"]);
    assert_exit(&o, 0);
    let report = json_report(&o);

    // Server-side apply under `scs-capi`, templates before what references them.
    let applies: Vec<(String, String)> = env
        .kube
        .request_log()
        .into_iter()
        .filter(|r| r.verb == "apply")
        .map(|r| {
            assert_eq!(r.field_manager.as_deref(), Some("scs-capi"));
            (
                r.kind.clone().unwrap_or_default(),
                r.name.clone().unwrap_or_default(),
            )
        })
        .collect();
    let pos = |k: &str| applies.iter().position(|(kind, _)| kind == k);
    let tmpl = pos("OpenStackMachineTemplate").expect("templates applied");
    assert!(tmpl < pos("KubeadmControlPlane").unwrap(), "{applies:?}");
    assert!(
        pos("KubeadmConfigTemplate").unwrap() < pos("MachineDeployment").unwrap(),
        "{applies:?}"
    );
    assert!(
        pos("Cluster").unwrap() < pos("MachineDeployment").unwrap(),
        "{applies:?}"
    );

    // The applied objects validate against the CRDs.
    support::lifecycle::assert_applied_objects_validate(&env.kube);

    // The cloud holds what CAPO made for the cluster: 1 control plane + 2 workers.
    let snap = env.cloud.snapshot();
    let servers: Vec<&str> = snap["servers"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["name"].as_str())
        .filter(|n| n.contains("foo"))
        .collect();
    assert_eq!(servers.len(), 3, "{servers:?}");
    assert!(
        snap["loadbalancers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["name"] == "k8s-clusterapi-cluster-default-foo-kubeapi")
    );

    // Kubeconfig: 0600 in the state dir, CAPI's context.
    let kc = PathBuf::from(report["kubeconfig"].as_str().unwrap());
    assert!(
        kc.starts_with(env.home().join(".local/state/scs-capi/foo")),
        "{kc:?}"
    );
    assert_eq!(
        std::fs::metadata(&kc).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert!(
        std::fs::read_to_string(&kc)
            .unwrap()
            .contains("foo-admin@foo")
    );

    // Addons in the workload cluster, labelled, recorded; the lock next to the file.
    let wl = env
        .kube
        .workload("default", "foo")
        .expect("workload cluster");
    let ds = wl
        .get("apps/v1", "DaemonSet", "kube-system", "calico-node")
        .expect("calico applied");
    assert_eq!(
        ds["metadata"]["labels"]["addons.scs-capi.io/name"],
        "calico"
    );
    assert!(
        wl.get(
            "apps/v1",
            "DaemonSet",
            "kube-system",
            "openstack-cloud-controller-manager"
        )
        .is_some()
    );
    let addons: Vec<&str> = report["addons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["addon"].as_str().unwrap())
        .collect();
    assert_eq!(
        addons,
        [
            "calico",
            "occm",
            "snapshot-controller",
            "cinder-csi",
            "metrics-server",
            "ingress-nginx"
        ]
    );
    let occm = report["addons"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["addon"] == "occm")
        .unwrap();
    assert_eq!(
        occm["version"], "v1.33.1",
        "OCCM follows the Kubernetes minor"
    );
    assert!(env.path().join("addons.lock.yaml").exists());
    assert!(
        wl.get("v1", "ConfigMap", "kube-system", "scs-capi-addons")
            .is_some()
    );

    // Re-run: nothing to change on the management cluster.
    env.kube.clear_request_log();
    let o = env.create(&f, &["--output", "json", "--locked"]);
    assert_exit(&o, 0);
    let again = json_report(&o);
    assert!(
        changes(&again).iter().all(|(_, c)| c == "unchanged"),
        "{again:#}"
    );
    assert!(
        env.kube.request_log().iter().all(|r| r.verb != "apply"),
        "no apply on the management cluster"
    );

    // Scale: one MachineDeployment change, applied and converged.
    let f = env.settings("foo", "worker_count: 3\n");
    let o = env.create(&f, &["--output", "json"]);
    assert_exit(&o, 0);
    let scaled = json_report(&o);
    let changed: Vec<_> = changes(&scaled)
        .into_iter()
        .filter(|(_, c)| c != "unchanged")
        .collect();
    assert_eq!(changed.len(), 1, "{changed:?}");
    assert!(changed[0].0.starts_with("MachineDeployment"), "{changed:?}");
    let md = env.kube.list(
        "cluster.x-k8s.io/v1beta2",
        "MachineDeployment",
        Some("default"),
    );
    assert_eq!(md[0]["spec"]["replicas"], 3);
    assert_eq!(md[0]["status"]["readyReplicas"], 3);

    // get-kubeconfig --merge keeps the other entries of the user's kubeconfig.
    let user_kc = env.path().join("user.kubeconfig");
    std::fs::write(&user_kc, "apiVersion: v1\nkind: Config\nclusters:\n- name: other\n  cluster: {server: 'https://9.9.9.9'}\ncontexts: []\nusers: []\n").unwrap();
    let home = env.home();
    let o = Command::cargo_bin("scs-capi")
        .unwrap()
        .args(["get-kubeconfig", "foo", "--merge", "--kubeconfig"])
        .arg(env.path().join("mgmt.kubeconfig"))
        .env_clear()
        .env("HOME", &home)
        .env("XDG_STATE_HOME", home.join(".local/state"))
        .env("KUBECONFIG", &user_kc)
        .timeout(Duration::from_secs(60))
        .output()
        .unwrap();
    assert_exit(&o, 0);
    let merged = std::fs::read_to_string(&user_kc).unwrap();
    assert!(
        merged.contains("other") && merged.contains("foo-admin@foo"),
        "{merged}"
    );
    assert_eq!(
        std::fs::metadata(&user_kc).unwrap().permissions().mode() & 0o777,
        0o600
    );
}

#[test]
fn a_quota_fault_is_reported_with_the_clouds_message_and_a_rerun_converges() {
    let env = Env::new();
    let f = env.settings("bar", "worker_count: 1\n");
    env.kube.fail_machine_quota_after("bar", 1);
    let o = env.create(&f, &[]);
    assert_exit(&o, 1);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("Quota exceeded for cores"), "{}", text(&o));
    assert!(!err.contains("timed out"), "{}", text(&o));

    // Interrupted/failed create: after the fault is gone and the failed machine removed
    // (as the hint says), a re-run converges.
    env.kube.clear_cluster_faults("bar");
    for m in env
        .kube
        .list("cluster.x-k8s.io/v1beta2", "Machine", Some("default"))
    {
        let failed = !m["status"]["deprecated"]["v1beta1"]["failureMessage"].is_null();
        if failed {
            env.delete_machine(m["metadata"]["name"].as_str().unwrap());
        }
    }
    let o = env.create(&f, &[]);
    assert_exit(&o, 0);
}

#[test]
fn delete_refuses_without_confirmation_then_removes_lb_services_and_the_cluster() {
    let env = Env::new();
    let f = env.settings("baz", "worker_count: 1\n");
    assert_exit(&env.create(&f, &[]), 0);
    let wl = env
        .kube
        .workload("default", "baz")
        .expect("workload cluster");
    wl.put(json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "default"},
                  "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]}})).unwrap();

    let before = env.cloud_resources_named("baz");
    for kind in ["servers", "networks", "loadbalancers", "security_groups"] {
        assert!(
            before.iter().any(|r| r.starts_with(kind)),
            "no {kind} of baz: {before:?}"
        );
    }

    // No terminal and no --yes: refused before anything changes.
    let o = env.cmd(&["delete-cluster", "baz"]);
    assert_exit(&o, 2);
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("--yes"),
        "{}",
        text(&o)
    );
    assert!(
        env.kube
            .get("cluster.x-k8s.io/v1beta2", "Cluster", "default", "baz")
            .is_some()
    );

    let o = env.cmd(&["delete-cluster", "baz", "--dry-run", "--os-cloud", "fake"]);
    assert_exit(&o, 0);
    assert!(
        String::from_utf8_lossy(&o.stdout)
            .contains("would delete LoadBalancer Service default/web"),
        "{}",
        text(&o)
    );
    assert!(wl.get("v1", "Service", "default", "web").is_some());

    let o = env.cmd(&[
        "delete-cluster",
        "baz",
        "--yes",
        "--volumes",
        "delete",
        "--timeout",
        "60",
        "--os-cloud",
        "fake",
    ]);
    assert_exit(&o, 0);
    // The cloud holds nothing of the cluster any more (what the simulated CAPO made and
    // left behind went through the cleanup), and the state directory is gone.
    let left = env.cloud_resources_named("baz");
    assert!(left.is_empty(), "left in the cloud: {left:?}\n{}", text(&o));
    assert!(!env.home().join(".local/state/scs-capi/baz").exists());
    assert!(
        wl.get("v1", "Service", "default", "web").is_none(),
        "LB Service removed first"
    );
    assert!(
        env.kube
            .get("cluster.x-k8s.io/v1beta2", "Cluster", "default", "baz")
            .is_none()
    );
    assert!(
        env.kube
            .list("cluster.x-k8s.io/v1beta2", "Machine", Some("default"))
            .is_empty()
    );
}

/// A cluster is named by its settings file or, where this machine's state knows it, by its
/// name; either way the prefix and cloud are the ones it was created with. Before, a
/// cluster made with `prefix: acme` was "deleted" with exit 0 while its `acme-` server
/// groups stayed, and `cleanup` took a running cluster's resources away without asking.
#[test]
fn delete_and_cleanup_act_on_the_prefix_the_cluster_was_created_with() {
    let env = Env::new();
    let f = env.settings(
        "pfx",
        "prefix: acme\nssh_keypair: capi-keypair\nmgmt_egress_cidr: 203.0.113.10/32\n",
    );
    assert_exit(&env.create(&f, &[]), 0);
    let server_groups = |env: &Env| {
        env.cloud_resources_named("acme-pfx-")
            .into_iter()
            .filter(|r| r.starts_with("server_groups"))
            .collect::<Vec<_>>()
    };
    let made = server_groups(&env);
    assert_eq!(made.len(), 2, "{made:?}");
    let cluster_exists = |env: &Env| {
        env.kube
            .get("cluster.x-k8s.io/v1beta2", "Cluster", "default", "pfx")
            .is_some()
    };

    // cleanup under a running cluster: refused, nothing deleted.
    let o = env.cmd(&["cleanup", "pfx", "--yes"]);
    assert_exit(&o, 2);
    assert!(
        text(&o).contains("still exists in the management cluster"),
        "{}",
        text(&o)
    );
    assert_eq!(server_groups(&env), made);

    // The same cluster with another prefix: refused before anything is deleted.
    let other = env.path().join("pfx-other.yaml");
    std::fs::write(
        &other,
        std::fs::read_to_string(&f)
            .unwrap()
            .replace("prefix: acme", "prefix: other"),
    )
    .unwrap();
    let o = env.cmd(&[
        "delete-cluster",
        "-f",
        other.to_str().unwrap(),
        "--yes",
        "--timeout",
        "60",
    ]);
    assert_exit(&o, 2);
    assert!(
        text(&o).contains("was created with") && text(&o).contains("prefix `acme`"),
        "{}",
        text(&o)
    );
    assert!(cluster_exists(&env));
    assert_eq!(server_groups(&env), made);

    // By name: the recorded prefix is used, and the server groups go with the cluster.
    let o = env.cmd(&["delete-cluster", "pfx", "--yes", "--timeout", "60"]);
    assert_exit(&o, 0);
    assert!(!cluster_exists(&env));
    assert_eq!(server_groups(&env), Vec::<String>::new(), "{}", text(&o));
    assert!(
        !env.home().join(".local/state/scs-capi/pfx").exists(),
        "the state goes with the cluster"
    );
}
