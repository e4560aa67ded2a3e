//! The cluster lifecycle with `--profile r4` (CAPI v1beta1 + CAPO v1alpha6, what SCS R4
//! shipped) end to end on the fakes: fake-kube serves the CRDs of CAPI 1.3.5 and CAPO
//! 0.7.1 only (no v1beta2 anywhere), and its simulated controllers answer in the v1beta1
//! status shapes (`status.ready`, `controlPlaneReady`, CAPI conditions, `updatedReplicas`).
//! This is the path of a user migrating from R4: create at a Kubernetes version CAPI 1.3
//! supports (v1.25), scale, upgrade one minor (v1.26), delete.

mod support;

use fake_kube::Profile;
use serde_json::Value;

use support::lifecycle::{
    Env, assert_exit, changes, cloud_writes, json_report, kube_writes, names, text,
    versioned_settings,
};

fn r4_env() -> Env {
    Env::builder().profile(Profile::R4).build()
}

fn create(env: &Env, file: &std::path::Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["--profile", "r4"];
    args.extend_from_slice(extra);
    env.create(file, &args)
}

fn upgrade(env: &Env, file: &std::path::Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "upgrade-cluster",
        "-f",
        file.to_str().unwrap(),
        "--profile",
        "r4",
    ];
    args.extend_from_slice(extra);
    env.cmd(&args)
}

fn servers_of(env: &Env, cluster: &str) -> Vec<String> {
    env.cloud_resources_named(cluster)
        .into_iter()
        .filter(|r| r.starts_with("servers "))
        .collect()
}

/// The image of a container (`""`: the first) of a workload Deployment/DaemonSet.
fn image_of(wl: &fake_kube::ApiServer, kind: &str, name: &str, container: &str) -> String {
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
}

#[test]
fn r4_create_scale_upgrade_one_minor_then_delete() {
    let env = r4_env();
    let api = env.apis();
    let md_of = || {
        env.kube
            .list(api.capi, "MachineDeployment", Some("default"))
    };
    let kcp_of = || {
        env.kube
            .get(
                api.kcp,
                "KubeadmControlPlane",
                "default",
                "r4c-control-plane",
            )
            .expect("KubeadmControlPlane")
    };

    // Create at v1.25 (R4's CAPI 1.3 supports up to v1.26).
    let f = versioned_settings(&env, "r4c", "v1.25.x", 1);
    let o = create(&env, &f, &["--output", "json"]);
    assert_exit(&o, 0);
    let report = json_report(&o);
    support::lifecycle::assert_applied_objects_validate_for(&env.kube, Profile::R4);
    support::lifecycle::assert_statuses_validate(&env.kube, Profile::R4);
    assert_eq!(kcp_of()["status"]["version"], "v1.25.16");
    assert_eq!(
        servers_of(&env, "r4c").len(),
        2,
        "1 control plane + 1 worker"
    );
    let occm = report["addons"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["addon"] == "occm")
        .unwrap_or_else(|| panic!("occm in {report:#}"));
    assert_eq!(occm["version"], "v1.25.6", "R4's OCCM for v1.25");

    // Scale the workers 1 -> 2 through the settings and a create-cluster re-run: only the
    // MachineDeployment changes.
    let f = versioned_settings(&env, "r4c", "v1.25.x", 2);
    let o = create(&env, &f, &["--output", "json"]);
    assert_exit(&o, 0);
    let changed: Vec<_> = changes(&json_report(&o))
        .into_iter()
        .filter(|(_, c)| c != "unchanged")
        .collect();
    assert_eq!(changed.len(), 1, "{changed:?}");
    assert!(changed[0].0.starts_with("MachineDeployment"), "{changed:?}");
    let md = md_of();
    assert_eq!(md[0]["spec"]["replicas"], 2);
    assert_eq!(md[0]["status"]["readyReplicas"], 2);
    let old_machines = names(&env.kube.list(api.capi, "Machine", Some("default")));
    assert_eq!(old_machines.len(), 3, "{old_machines:?}");
    let old_templates = names(&env.kube.list(
        api.infra,
        "OpenStackMachineTemplate",
        Some("default"),
    ));
    assert_eq!(old_templates.len(), 2, "{old_templates:?}");

    // Upgrade one minor: the settings say v1.26.x now.
    let f = versioned_settings(&env, "r4c", "v1.26.x", 2);
    let o = upgrade(&env, &f, &["--timeout", "60", "--output", "json"]);
    assert_exit(&o, 0);
    let report = json_report(&o);
    assert_eq!(report["from"], "v1.25.16", "{report:#}");
    assert_eq!(report["to"], "v1.26.15");
    assert_eq!(report["up_to_date"], false);
    assert_eq!(report["machines_replaced"], 3, "{report:#}");
    assert_eq!(report["machines"], 3);

    // Everything at the new version; every machine and server replaced.
    support::lifecycle::assert_applied_objects_validate_for(&env.kube, Profile::R4);
    support::lifecycle::assert_statuses_validate(&env.kube, Profile::R4);
    let k = kcp_of();
    assert_eq!(k["spec"]["version"], "v1.26.15");
    assert_eq!(k["status"]["version"], "v1.26.15");
    assert_eq!(k["status"]["updatedReplicas"], 1, "{k:#}");
    let md = md_of();
    assert_eq!(md[0]["spec"]["template"]["spec"]["version"], "v1.26.15");
    assert_eq!(md[0]["status"]["updatedReplicas"], 2);
    let machines = env.kube.list(api.capi, "Machine", Some("default"));
    assert_eq!(machines.len(), 3, "{:?}", names(&machines));
    for m in &machines {
        assert_eq!(m["spec"]["version"], "v1.26.15", "{m:#}");
        assert!(!old_machines.contains(&m["metadata"]["name"].as_str().unwrap().to_string()));
    }
    assert_eq!(servers_of(&env, "r4c").len(), 3, "old servers deleted");

    // OCCM and Cinder CSI at the catalog's release for v1.26 (R4's table).
    let wl = env
        .kube
        .workload("default", "r4c")
        .expect("workload cluster");
    assert_eq!(
        image_of(&wl, "DaemonSet", "openstack-cloud-controller-manager", ""),
        "registry.k8s.io/provider-os/openstack-cloud-controller-manager:v1.26.4"
    );
    assert_eq!(
        image_of(
            &wl,
            "Deployment",
            "csi-cinder-controllerplugin",
            "cinder-csi-plugin"
        ),
        "registry.k8s.io/provider-os/cinder-csi-plugin:v1.26.4"
    );
    for addon in ["occm", "cinder-csi"] {
        let a = report["addons"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["addon"] == addon)
            .unwrap_or_else(|| panic!("{addon} in {report:#}"));
        assert_eq!(a["version"], "v1.26.4");
    }

    // No unreferenced v1alpha6 OpenStackMachineTemplates: exactly what the KCP and the
    // MachineDeployment name; the old ones were reported as pruned.
    let mut have = names(
        &env.kube
            .list(api.infra, "OpenStackMachineTemplate", Some("default")),
    );
    have.sort();
    let k = kcp_of();
    let md = &md_of()[0];
    let mut wanted = vec![
        // v1beta1 KCP: `spec.machineTemplate.infrastructureRef` (v1beta2 nests it in `spec`).
        k["spec"]["machineTemplate"]["infrastructureRef"]["name"]
            .as_str()
            .unwrap_or_else(|| panic!("{k:#}"))
            .to_string(),
        md["spec"]["template"]["spec"]["infrastructureRef"]["name"]
            .as_str()
            .unwrap()
            .to_string(),
    ];
    wanted.sort();
    assert_eq!(have, wanted);
    let kcts = names(
        &env.kube
            .list(api.bootstrap, "KubeadmConfigTemplate", Some("default")),
    );
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

    // A re-run is a no-op: nothing written to the management cluster or the cloud; so is
    // create-cluster with the upgraded settings.
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
    let o = create(&env, &f, &["--output", "json"]);
    assert_exit(&o, 0);
    assert!(
        changes(&json_report(&o))
            .iter()
            .all(|(_, c)| c == "unchanged"),
        "{}",
        text(&o)
    );
    assert_eq!(kube_writes(&env), Vec::<String>::new());
    assert_eq!(cloud_writes(&env), Vec::<String>::new());

    // Delete: the Cluster and its machines are gone, the fake cloud holds nothing of it.
    let o = env.cmd(&[
        "delete-cluster",
        "r4c",
        "--yes",
        "--timeout",
        "60",
        "--os-cloud",
        "fake",
    ]);
    assert_exit(&o, 0);
    assert!(
        env.kube
            .get(api.capi, "Cluster", "default", "r4c")
            .is_none(),
        "Cluster deleted on the management cluster: {}",
        text(&o)
    );
    assert!(
        env.kube
            .list(api.capi, "Machine", Some("default"))
            .is_empty()
    );
    let left = env.cloud_resources_named("r4c");
    assert!(left.is_empty(), "left in the cloud: {left:?}\n{}", text(&o));
}

#[test]
fn the_wrong_profile_for_the_management_cluster_is_refused_before_anything_changes() {
    let env = r4_env();
    let f = versioned_settings(&env, "r4w", "v1.25.x", 1);
    // An R4 version without `--profile r4`: the settings are refused for the default
    // profile (issue 11, item 3), with the flag that fits.
    let refused = |o: &std::process::Output| {
        assert_exit(o, 1);
        let err = String::from_utf8_lossy(&o.stderr);
        for part in ["is outside what Cluster API v1.14.0", "--profile r4"] {
            assert!(err.contains(part), "`{part}` missing: {}", text(o));
        }
    };

    // Without `--profile r4` against CAPI 1.3 (v1beta1 only): refused with the flag that
    // fits, before the cloud or the management cluster is touched.
    refused(&env.create(&f, &[]));
    refused(&env.create(&f, &["--dry-run"]));
    // A version the default profile supports reaches the management cluster's check.
    let g = versioned_settings(&env, "r4g", "v1.31.x", 1);
    let o = env.create(&g, &["--dry-run"]);
    assert_exit(&o, 2);
    for part in ["does not serve `cluster.x-k8s.io/v1beta2`", "--profile r4"] {
        assert!(
            String::from_utf8_lossy(&o.stderr).contains(part),
            "`{part}` missing: {}",
            text(&o)
        );
    }
    assert_eq!(kube_writes(&env), Vec::<String>::new());
    assert_eq!(cloud_writes(&env), Vec::<String>::new());

    // An existing R4 cluster: upgrade-cluster without the flag does not claim it is
    // missing (a v1beta2 read answers 404 here), it names the flag.
    assert_exit(&create(&env, &f, &[]), 0);
    env.kube.clear_request_log();
    env.cloud.clear_request_log();
    let o = env.cmd(&[
        "upgrade-cluster",
        "-f",
        f.to_str().unwrap(),
        "--to",
        "v1.26.x",
    ]);
    refused(&o);
    assert!(
        !String::from_utf8_lossy(&o.stderr).contains("create it first"),
        "{}",
        text(&o)
    );
    assert_eq!(kube_writes(&env), Vec::<String>::new());
    assert_eq!(cloud_writes(&env), Vec::<String>::new());
}

/// The Machines of namespace `default` whose infrastructure failed (v1beta1: top-level
/// `status.failureMessage`, as CAPI 1.3 writes it).
fn failed_machines(env: &Env) -> Vec<String> {
    env.kube
        .list(env.apis().capi, "Machine", Some("default"))
        .into_iter()
        .filter(|m| m["status"]["failureMessage"].is_string())
        .map(|m| m["metadata"]["name"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn r4_a_quota_fault_names_the_machine_with_the_clouds_message_and_a_rerun_converges() {
    let env = r4_env();
    let f = versioned_settings(&env, "r4q", "v1.25.x", 1);
    // The control plane's server is made; the worker's hits Nova's quota.
    env.kube.fail_machine_quota_after("r4q", 1);
    let o = create(&env, &f, &[]);
    assert_exit(&o, 1);
    // What the simulated CAPI 1.3 / CAPO 0.7 wrote for the failure is what their CRDs allow.
    support::lifecycle::assert_statuses_validate(&env.kube, Profile::R4);
    let failed = failed_machines(&env);
    assert_eq!(failed.len(), 1, "{failed:?}\n{}", text(&o));
    assert!(
        failed[0].starts_with("capi-r4q-md-0-"),
        "the worker failed: {failed:?}"
    );
    let err = String::from_utf8_lossy(&o.stderr);
    // The Machine named, with Nova's words (through CAPI 1.3's wrapping of CAPO 0.7's).
    let line = err
        .lines()
        .find(|l| l.contains(&format!("Machine {}:", failed[0])))
        .unwrap_or_else(|| panic!("names the machine: {}", text(&o)));
    assert!(line.contains("Quota exceeded for cores"), "{}", text(&o));
    // Once: not again for the OpenStackMachine and every condition that mirrors it.
    assert_eq!(
        err.matches("Quota exceeded for cores").count(),
        1,
        "{}",
        text(&o)
    );
    assert!(!err.contains("timed out"), "{}", text(&o));

    // Interrupted create: the fault gone and the failed machine removed (as the hint
    // says), a re-run converges.
    env.kube.clear_cluster_faults("r4q");
    env.delete_machine(&failed[0]);
    let o = create(&env, &f, &["--output", "json"]);
    assert_exit(&o, 0);
    support::lifecycle::assert_statuses_validate(&env.kube, Profile::R4);
    assert!(failed_machines(&env).is_empty());
    let md = env
        .kube
        .list(env.apis().capi, "MachineDeployment", Some("default"));
    assert_eq!(md[0]["status"]["readyReplicas"], 1, "{:#}", md[0]);
    assert_eq!(
        servers_of(&env, "r4q").len(),
        2,
        "1 control plane + 1 worker"
    );
}

#[test]
fn r4_a_stuck_rollout_reports_the_fault_leaves_the_workers_and_a_rerun_converges() {
    let env = r4_env();
    let api = env.apis();
    let f = versioned_settings(&env, "r4s", "v1.25.x", 1);
    assert_exit(&create(&env, &f, &[]), 0);

    env.kube.stick_provisioning("r4s");
    let f = versioned_settings(&env, "r4s", "v1.26.x", 1);
    // The deadline leaves the simulated controllers time to create the new server (the
    // fault shows once it exists) on a loaded machine.
    let o = upgrade(&env, &f, &["--timeout", "8"]);
    assert_exit(&o, 1);
    support::lifecycle::assert_statuses_validate(&env.kube, Profile::R4);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("Instance state is BUILD"), "{}", text(&o));
    assert!(err.contains("control-plane rollout"), "{}", text(&o));
    // The new machine is up to date but not ready: nothing counts as replaced.
    assert!(
        err.contains("control-plane machines replaced: 0/1"),
        "{}",
        text(&o)
    );
    // The control plane was asked for the new version; the workers were not touched.
    let kcp = env
        .kube
        .get(
            api.kcp,
            "KubeadmControlPlane",
            "default",
            "r4s-control-plane",
        )
        .expect("KubeadmControlPlane");
    assert_eq!(kcp["spec"]["version"], "v1.26.15");
    let md = env
        .kube
        .list(api.capi, "MachineDeployment", Some("default"));
    assert_eq!(md[0]["spec"]["template"]["spec"]["version"], "v1.25.16");
    let workers: Vec<Value> = env
        .kube
        .list(api.capi, "Machine", Some("default"))
        .into_iter()
        .filter(|m| m["metadata"]["labels"]["cluster.x-k8s.io/control-plane"].is_null())
        .collect();
    assert_eq!(workers.len(), 1, "{:?}", names(&workers));
    assert_eq!(workers[0]["spec"]["version"], "v1.25.16");

    env.kube.clear_cluster_faults("r4s");
    let o = upgrade(&env, &f, &["--timeout", "60", "--output", "json"]);
    assert_exit(&o, 0);
    let report = json_report(&o);
    assert_eq!(report["to"], "v1.26.15", "{report:#}");
    support::lifecycle::assert_statuses_validate(&env.kube, Profile::R4);
    let machines = env.kube.list(api.capi, "Machine", Some("default"));
    assert_eq!(machines.len(), 2, "{:?}", names(&machines));
    for m in &machines {
        assert_eq!(m["spec"]["version"], "v1.26.15", "{m:#}");
    }
}
