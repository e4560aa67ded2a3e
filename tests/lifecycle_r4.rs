//! The cluster lifecycle with `--profile r4` (CAPI v1beta1 + CAPO v1alpha6, what SCS R4
//! shipped) end to end on the fakes: fake-kube serves the CRDs of CAPI 1.3.5 and CAPO
//! 0.7.1 only (no v1beta2 anywhere), and its simulated controllers answer in the v1beta1
//! status shapes (`status.ready`, `controlPlaneReady`, CAPI conditions, `updatedReplicas`).
//! This is the path of a user migrating from R4: create at a Kubernetes version CAPI 1.3
//! supports (v1.25), scale, upgrade one minor (v1.26), delete.

mod support;

use fake_kube::Profile;
use serde_json::Value;

use support::lifecycle::{Env, assert_exit, changes, json_report, text};

/// Settings at `version` with the default (version-named) node image.
fn settings(env: &Env, name: &str, version: &str, workers: u32) -> std::path::PathBuf {
    env.write_settings(
        name,
        &format!("kubernetes_version: {version}\nworker_count: {workers}\n"),
    )
}

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

/// Requests on the management cluster that change something.
fn kube_writes(env: &Env) -> Vec<String> {
    env.kube
        .request_log()
        .into_iter()
        .filter(|r| !matches!(r.verb.as_str(), "get" | "list" | "watch" | "discovery"))
        .map(|r| format!("{} {} {:?}", r.verb, r.path, r.name))
        .collect()
}

/// Requests on the fake cloud that change something.
fn cloud_writes(env: &Env) -> Vec<String> {
    env.cloud
        .request_log()
        .into_iter()
        .filter(|r| !matches!(r.method.as_str(), "GET" | "HEAD"))
        .map(|r| format!("{} {}", r.method, r.path))
        .collect()
}

fn names(list: &[Value]) -> Vec<String> {
    list.iter()
        .map(|o| o["metadata"]["name"].as_str().unwrap().to_string())
        .collect()
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
    let f = settings(&env, "r4c", "v1.25.x", 1);
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
    let f = settings(&env, "r4c", "v1.25.x", 2);
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
    let f = settings(&env, "r4c", "v1.26.x", 2);
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
    let f = settings(&env, "r4w", "v1.25.x", 1);
    let refused = |o: &std::process::Output| {
        assert_exit(o, 2);
        let err = String::from_utf8_lossy(&o.stderr);
        for part in ["does not serve `cluster.x-k8s.io/v1beta2`", "--profile r4"] {
            assert!(err.contains(part), "`{part}` missing: {}", text(o));
        }
    };

    // Without `--profile r4` against CAPI 1.3 (v1beta1 only): refused with the flag that
    // fits, before the cloud or the management cluster is touched.
    refused(&env.create(&f, &[]));
    refused(&env.create(&f, &["--dry-run"]));
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
