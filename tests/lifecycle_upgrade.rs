//! `scs-capi upgrade-cluster` end to end on the fakes (`support::lifecycle::Env`): the
//! simulated KubeadmControlPlane and MachineDeployment replace machines one at a time
//! when their version or template changes, so an upgrade here goes through the same
//! states as with CAPI. Clusters use the default node image name, which follows the
//! Kubernetes version (the fake cloud holds the images of v1.33 and v1.34), so an upgrade
//! renders new machine templates and the old ones must be pruned.

mod support;

use serde_json::Value;

use support::lifecycle::{
    Env, assert_exit, changes, cloud_writes, json_report, kube_writes, names, text,
    versioned_settings,
};

const CAPI: &str = "cluster.x-k8s.io/v1beta2";
const KCP: &str = "controlplane.cluster.x-k8s.io/v1beta2";
const INFRA: &str = "infrastructure.cluster.x-k8s.io/v1beta1";
const BOOTSTRAP: &str = "bootstrap.cluster.x-k8s.io/v1beta2";

fn upgrade(env: &Env, file: &std::path::Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["upgrade-cluster", "-f", file.to_str().unwrap()];
    args.extend_from_slice(extra);
    env.cmd(&args)
}

fn kcp(env: &Env, cluster: &str) -> Value {
    env.kube
        .get(
            KCP,
            "KubeadmControlPlane",
            "default",
            &format!("{cluster}-control-plane"),
        )
        .expect("KubeadmControlPlane")
}

#[test]
fn create_scale_upgrade_one_minor_then_delete() {
    let env = Env::new();
    let f = versioned_settings(&env, "upg", "v1.33.x", 1);
    assert_exit(&env.create(&f, &[]), 0);

    // Scale the workers 1 -> 2 through the settings and a create-cluster re-run.
    let f = versioned_settings(&env, "upg", "v1.33.x", 2);
    assert_exit(&env.create(&f, &[]), 0);
    let md = env.kube.list(CAPI, "MachineDeployment", Some("default"));
    assert_eq!(md[0]["spec"]["replicas"], 2);
    assert_eq!(md[0]["status"]["readyReplicas"], 2);
    let old_machines = names(&env.kube.list(CAPI, "Machine", Some("default")));
    assert_eq!(old_machines.len(), 3, "{old_machines:?}");
    let old_templates = names(
        &env.kube
            .list(INFRA, "OpenStackMachineTemplate", Some("default")),
    );
    assert_eq!(old_templates.len(), 2, "{old_templates:?}");

    // Upgrade one minor: the settings say v1.34.x now.
    let f = versioned_settings(&env, "upg", "v1.34.x", 2);
    let o = upgrade(&env, &f, &["--timeout", "60", "--output", "json"]);
    assert_exit(&o, 0);
    let report = json_report(&o);
    assert_eq!(report["from"], "v1.33.13", "{report:#}");
    assert_eq!(report["to"], "v1.34.11");
    assert_eq!(report["up_to_date"], false);
    assert_eq!(report["machines_replaced"], 3, "{report:#}");
    assert_eq!(report["machines"], 3);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("machines replaced"), "progress: {}", text(&o));

    // New templates applied before the control plane, the control plane before the
    // workers.
    let applies: Vec<String> = env
        .kube
        .request_log()
        .into_iter()
        .filter(|r| r.verb == "apply")
        .map(|r| r.kind.unwrap_or_default())
        .collect();
    let last = |k: &str| {
        applies
            .iter()
            .rposition(|x| x == k)
            .unwrap_or_else(|| panic!("{k} not applied: {applies:?}"))
    };
    assert!(
        last("OpenStackMachineTemplate") < last("KubeadmControlPlane"),
        "{applies:?}"
    );
    assert!(
        last("KubeadmControlPlane") < last("MachineDeployment"),
        "{applies:?}"
    );

    // Everything at the new version; every machine replaced.
    support::lifecycle::assert_applied_objects_validate(&env.kube);
    let k = kcp(&env, "upg");
    assert_eq!(k["spec"]["version"], "v1.34.11");
    assert_eq!(k["status"]["version"], "v1.34.11");
    let md = env.kube.list(CAPI, "MachineDeployment", Some("default"));
    assert_eq!(md[0]["spec"]["template"]["spec"]["version"], "v1.34.11");
    let machines = env.kube.list(CAPI, "Machine", Some("default"));
    assert_eq!(machines.len(), 3, "{:?}", names(&machines));
    for m in &machines {
        assert_eq!(m["spec"]["version"], "v1.34.11", "{m:#}");
        assert!(!old_machines.contains(&m["metadata"]["name"].as_str().unwrap().to_string()));
    }
    let servers: Vec<String> = env
        .cloud_resources_named("upg")
        .into_iter()
        .filter(|r| r.starts_with("servers "))
        .collect();
    assert_eq!(servers.len(), 3, "old servers deleted: {servers:?}");

    // OCCM and Cinder CSI at the release for v1.34 in the workload cluster.
    let wl = env
        .kube
        .workload("default", "upg")
        .expect("workload cluster");
    let image_of = |kind: &str, name: &str, container: &str| -> String {
        let o = wl
            .get("apps/v1", kind, "kube-system", name)
            .unwrap_or_else(|| panic!("{kind} {name}"));
        o["spec"]["template"]["spec"]["containers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == container || container.is_empty())
            .and_then(|c| c["image"].as_str())
            .unwrap_or_default()
            .to_string()
    };
    assert_eq!(
        image_of("DaemonSet", "openstack-cloud-controller-manager", ""),
        "registry.k8s.io/provider-os/openstack-cloud-controller-manager:v1.34.1"
    );
    assert_eq!(
        image_of(
            "Deployment",
            "csi-cinder-controllerplugin",
            "cinder-csi-plugin"
        ),
        "registry.k8s.io/provider-os/cinder-csi-plugin:v1.34.1"
    );
    for addon in ["occm", "cinder-csi"] {
        let a = report["addons"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["addon"] == addon)
            .unwrap_or_else(|| panic!("{addon} in {report:#}"));
        assert_eq!(a["version"], "v1.34.1");
    }

    // No unreferenced machine templates: exactly what the KCP and the MachineDeployment
    // name, and the old ones were reported as deleted.
    let osmts = names(
        &env.kube
            .list(INFRA, "OpenStackMachineTemplate", Some("default")),
    );
    let kcts = names(
        &env.kube
            .list(BOOTSTRAP, "KubeadmConfigTemplate", Some("default")),
    );
    let k = kcp(&env, "upg");
    let md = &env.kube.list(CAPI, "MachineDeployment", Some("default"))[0];
    let mut wanted = vec![
        k["spec"]["machineTemplate"]["spec"]["infrastructureRef"]["name"]
            .as_str()
            .unwrap()
            .to_string(),
        md["spec"]["template"]["spec"]["infrastructureRef"]["name"]
            .as_str()
            .unwrap()
            .to_string(),
    ];
    wanted.sort();
    let mut have = osmts.clone();
    have.sort();
    assert_eq!(have, wanted);
    assert_eq!(
        kcts,
        [
            md["spec"]["template"]["spec"]["bootstrap"]["configRef"]["name"]
                .as_str()
                .unwrap()
        ]
    );
    let pruned: Vec<&str> = report["pruned"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    for old in &old_templates {
        assert!(
            pruned.contains(&format!("OpenStackMachineTemplate default/{old}").as_str()),
            "{old} not in {pruned:?}"
        );
    }

    // A re-run is a no-op: nothing written to the management cluster or the cloud.
    env.kube.clear_request_log();
    env.cloud.clear_request_log();
    let o = upgrade(&env, &f, &["--timeout", "60", "--output", "json"]);
    assert_exit(&o, 0);
    let again = json_report(&o);
    assert_eq!(again["up_to_date"], true, "{again:#}");
    assert!(
        changes(&again).iter().all(|(_, c)| c == "unchanged"),
        "{again:#}"
    );
    assert_eq!(kube_writes(&env), Vec::<String>::new());
    assert_eq!(cloud_writes(&env), Vec::<String>::new());
    let o = upgrade(&env, &f, &["--timeout", "60"]);
    assert_exit(&o, 0);
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("already runs v1.34.11"),
        "{}",
        text(&o)
    );

    // create-cluster with the upgraded settings converges without changes.
    let o = env.create(&f, &["--output", "json"]);
    assert_exit(&o, 0);
    assert!(
        changes(&json_report(&o))
            .iter()
            .all(|(_, c)| c == "unchanged")
    );

    // Delete: the fake cloud holds nothing of the cluster afterwards.
    let o = env.cmd(&[
        "delete-cluster",
        "upg",
        "--yes",
        "--timeout",
        "60",
        "--os-cloud",
        "fake",
    ]);
    assert_exit(&o, 0);
    let left = env.cloud_resources_named("upg");
    assert!(left.is_empty(), "left in the cloud: {left:?}\n{}", text(&o));
}

#[test]
fn skipping_a_minor_is_refused_before_anything_changes() {
    let env = Env::new();
    let f = versioned_settings(&env, "skp", "v1.33.x", 1);
    assert_exit(&env.create(&f, &[]), 0);
    env.kube.clear_request_log();
    env.cloud.clear_request_log();

    let o = upgrade(&env, &f, &["--to", "v1.35"]);
    assert_exit(&o, 2);
    let err = String::from_utf8_lossy(&o.stderr);
    for part in ["v1.33.13", "v1.35.8", "skip v1.34", "--to v1.34.x"] {
        assert!(err.contains(part), "`{part}` missing: {}", text(&o));
    }
    assert_eq!(kube_writes(&env), Vec::<String>::new());
    assert!(
        env.cloud.request_log().is_empty(),
        "the cloud is not even contacted: {:?}",
        cloud_writes(&env)
    );
    assert_eq!(kcp(&env, "skp")["spec"]["version"], "v1.33.13");

    // A downgrade too; and create-cluster does not change versions behind the user's back.
    let o = upgrade(&env, &f, &["--to", "v1.32.x"]);
    assert_exit(&o, 2);
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("downgrade"),
        "{}",
        text(&o)
    );
    let f34 = versioned_settings(&env, "skp", "v1.34.x", 1);
    let o = env.create(&f34, &[]);
    assert_exit(&o, 2);
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("upgrade-cluster"),
        "{}",
        text(&o)
    );
    assert_eq!(kube_writes(&env), Vec::<String>::new());
}

#[test]
fn a_stuck_rollout_reports_the_fault_and_a_rerun_converges() {
    let env = Env::new();
    let f = versioned_settings(&env, "stk", "v1.33.x", 1);
    assert_exit(&env.create(&f, &[]), 0);

    env.kube.stick_provisioning("stk");
    // The deadline leaves the simulated controllers time to create the new server (the
    // fault shows once it exists) on a loaded machine.
    let o = upgrade(&env, &f, &["--to", "v1.34.x", "--timeout", "8"]);
    assert_exit(&o, 1);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("Instance state is BUILD"), "{}", text(&o));
    assert!(err.contains("control-plane rollout"), "{}", text(&o));
    // The control plane was asked for the new version; the workers were not touched yet.
    assert_eq!(kcp(&env, "stk")["spec"]["version"], "v1.34.11");
    let md = env.kube.list(CAPI, "MachineDeployment", Some("default"));
    assert_eq!(md[0]["spec"]["template"]["spec"]["version"], "v1.33.13");

    env.kube.clear_cluster_faults("stk");
    let o = upgrade(
        &env,
        &f,
        &["--to", "v1.34.x", "--timeout", "60", "--output", "json"],
    );
    assert_exit(&o, 0);
    for m in env.kube.list(CAPI, "Machine", Some("default")) {
        assert_eq!(m["spec"]["version"], "v1.34.11", "{m:#}");
    }
    // `--to` without changing the settings file: the report says to update it.
    let report = json_report(&o);
    assert!(
        report["notes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n.as_str().unwrap().contains("kubernetes_version")),
        "{report:#}"
    );
}

#[test]
fn dry_run_lists_the_changes_and_writes_nothing() {
    let env = Env::new();
    let f = versioned_settings(&env, "dry", "v1.33.x", 1);
    assert_exit(&env.create(&f, &[]), 0);
    env.kube.clear_request_log();
    env.cloud.clear_request_log();

    let o = upgrade(
        &env,
        &f,
        &["--to", "v1.34.x", "--dry-run", "--output", "json"],
    );
    assert_exit(&o, 0);
    let plan = json_report(&o);
    assert_eq!(plan["from"], "v1.33.13");
    assert_eq!(plan["to"], "v1.34.11");
    assert_eq!(plan["dry_run"], true);
    let ch = changes(&plan);
    let of = |prefix: &str| -> Vec<&(String, String)> {
        ch.iter().filter(|(o, _)| o.starts_with(prefix)).collect()
    };
    assert!(
        of("KubeadmControlPlane").iter().all(|(_, c)| c == "change"),
        "{ch:?}"
    );
    assert!(
        of("MachineDeployment").iter().all(|(_, c)| c == "change"),
        "{ch:?}"
    );
    assert_eq!(
        of("OpenStackMachineTemplate")
            .iter()
            .filter(|(_, c)| c == "create")
            .count(),
        2,
        "{ch:?}"
    );
    let kcp_fields = plan["objects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| {
            p["object"]
                .as_str()
                .unwrap()
                .starts_with("KubeadmControlPlane")
        })
        .unwrap()["fields"]
        .to_string();
    assert!(kcp_fields.contains("/spec/version"), "{kcp_fields}");
    assert_eq!(kube_writes(&env), Vec::<String>::new());
    assert_eq!(cloud_writes(&env), Vec::<String>::new());
    assert_eq!(kcp(&env, "dry")["spec"]["version"], "v1.33.13");

    let o = upgrade(&env, &f, &["--to", "v1.34.x", "--dry-run"]);
    assert_exit(&o, 0);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("v1.33.13 -> v1.34.11"), "{}", text(&o));
    assert!(out.contains("dry run: nothing was changed"), "{}", text(&o));
}
