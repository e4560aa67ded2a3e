//! KubeadmControlPlane and MachineDeployment, simulated: they create Machines (with their
//! OpenStackMachine and KubeadmConfig) from their templates, scale, roll, and report status.
//!
//! - KCP: one machine until the control plane is initialized (its first machine has its
//!   server: the workload API server starts and `<cluster>-kubeconfig` is written), then one
//!   machine at a time, each once all others run a Node (Ready or not, as KCP checks the
//!   control plane components, not the CNI). A machine is outdated when its
//!   version or its infrastructure template (OpenStackMachine's `cloned-from-name`) differs
//!   from the spec; rollout is surge-first (`maxSurge` 1, the default) or delete-first
//!   (`maxSurge` 0).
//! - MachineDeployment: machines are named `<md>-<template hash>-<5>` (the MachineSet that
//!   CAPI would create is not modelled: machines are owned by the MachineDeployment); a
//!   template change makes the old ones outdated; rollout honours `maxSurge` (default 1) and
//!   `maxUnavailable` (default 0): a new machine first, an old one deleted once enough are
//!   Ready.
//! - Status: `replicas`, `readyReplicas`, `availableReplicas`, `upToDateReplicas` (v1beta2;
//!   `updatedReplicas`/`unavailableReplicas` in v1beta1 and under `deprecated.v1beta1`),
//!   `selector`, `version`, phase, the conditions the real controllers set, and each
//!   machine's `UpToDate` condition.

use super::cluster::cluster_infra_provisioned;
use super::conditions::{Gen, set_v1b1, set_v1b2};
use super::machines::{self, NewMachine};
use super::*;
use serde_json::{Value, json};
use sha2::Digest;

pub const KCP_FINALIZER: &str = "kubeadm.controlplane.cluster.x-k8s.io";
pub const MD_FINALIZER: &str = "cluster.x-k8s.io/machinedeployment";

fn by_age(ms: &mut [Value]) {
    ms.sort_by(|a, b| {
        (
            meta(a, "creationTimestamp"),
            a["metadata"]["annotations"]["fake-kube/seq"].as_u64(),
        )
            .cmp(&(
                meta(b, "creationTimestamp"),
                b["metadata"]["annotations"]["fake-kube/seq"].as_u64(),
            ))
    });
}

fn int_or(v: &Value, default: i64) -> i64 {
    v.as_i64()
        .or_else(|| {
            v.as_str()
                .and_then(|s| s.trim_end_matches('%').parse().ok())
        })
        .unwrap_or(default)
}

/// `ns`'s Cluster whose `controlPlaneRef` names this KCP.
fn kcp_cluster(shared: &Shared, ns: &str, kcp: &str) -> Option<Value> {
    shared
        .list(CLUSTERS, Some(ns))
        .into_iter()
        .find(|c| c["spec"]["controlPlaneRef"]["name"] == kcp)
}

fn template_name(shared: &Shared, ns: &str, m: &Value) -> Option<String> {
    let osm = shared.get(
        OPENSTACK_MACHINES,
        ns,
        m["spec"]["infrastructureRef"]["name"].as_str()?,
    )?;
    osm["metadata"]["annotations"]["cluster.x-k8s.io/cloned-from-name"]
        .as_str()
        .map(String::from)
}

/// Deletes an owner's machines; removes `finalizer` from it once they are gone.
fn delete_children(
    shared: &Shared,
    key: &str,
    owner: &Value,
    children: &[Value],
    finalizer: &str,
) -> bool {
    let ns = meta(owner, "namespace");
    if children.is_empty() {
        return shared.modify(key, ns, meta(owner, "name"), CAPI, false, |o| {
            remove_finalizer(o, finalizer)
        });
    }
    let mut p = false;
    for m in children.iter().filter(|m| !deleting(m)) {
        p |= shared.delete(MACHINES, ns, meta(m, "name"));
    }
    p
}

/// Marks each machine's `UpToDate` condition (v1beta2).
fn mark_up_to_date(shared: &Shared, ns: &str, ms: &[(Value, bool)], manager: &str) -> bool {
    let mut p = false;
    for (m, utd) in ms {
        if Gen::of(m) != Gen::V1Beta2 {
            continue;
        }
        p |= shared.modify(MACHINES, ns, meta(m, "name"), manager, true, |o| {
            let g = generation(o);
            set_v1b2(
                &mut o["status"]["conditions"],
                "UpToDate",
                *utd,
                if *utd { "UpToDate" } else { "NotUpToDate" },
                "",
                g,
            );
        });
    }
    p
}

fn min_version<'a>(ms: impl Iterator<Item = &'a Value>) -> Option<String> {
    let parse = |v: &str| -> Vec<u64> {
        v.trim_start_matches('v')
            .split('.')
            .map(|x| x.parse().unwrap_or(0))
            .collect()
    };
    ms.filter_map(|m| m["spec"]["version"].as_str())
        .min_by_key(|v| parse(v))
        .map(String::from)
}

pub async fn reconcile_kcp(shared: &Arc<Shared>, k: &Value) -> bool {
    let ns = meta(k, "namespace").to_string();
    let name = meta(k, "name").to_string();
    let api_gen = Gen::of(k);
    let mut machines: Vec<Value> = shared
        .list(MACHINES, Some(&ns))
        .into_iter()
        .filter(|m| label(m, LABEL_CONTROL_PLANE_NAME) == Some(name.as_str()))
        .collect();
    by_age(&mut machines);
    if deleting(k) {
        return delete_children(shared, KCPS, k, &machines, KCP_FINALIZER);
    }
    let Some(c) = kcp_cluster(shared, &ns, &name) else {
        return false;
    };
    let cname = meta(&c, "name").to_string();
    if !has_finalizer(k, KCP_FINALIZER) {
        return shared.modify(KCPS, &ns, &name, KCP, false, |o| {
            add_finalizer(o, KCP_FINALIZER)
        });
    }
    let spec = &k["spec"];
    let desired = spec["replicas"].as_i64().unwrap_or(1).max(0) as usize;
    let version = spec["version"].as_str().unwrap_or("").to_string();
    let tref = match api_gen {
        Gen::V1Beta2 => &spec["machineTemplate"]["spec"]["infrastructureRef"],
        Gen::V1Beta1 => &spec["machineTemplate"]["infrastructureRef"],
    };
    let tname = tref["name"].as_str().unwrap_or("").to_string();
    let outdated = |m: &Value| {
        m["spec"]["version"].as_str() != Some(version.as_str())
            || template_name(shared, &ns, m).is_some_and(|t| t != tname)
    };
    let active: Vec<&Value> = machines.iter().filter(|m| !deleting(m)).collect();
    let initialized = k["status"]["initialization"]["controlPlaneInitialized"].as_bool()
        == Some(true)
        || k["status"]["initialized"].as_bool() == Some(true);
    let mut progressed = false;
    let mut note = String::new();
    if cluster_infra_provisioned(&c) {
        let create = |shared: &Shared| -> Result<bool, String> {
            machines::create(
                shared,
                &NewMachine {
                    api_gen,
                    namespace: ns.clone(),
                    cluster: cname.clone(),
                    base_name: name.clone(),
                    control_plane: true,
                    owner: k.clone(),
                    version: version.clone(),
                    infra_template: tname.clone(),
                    bootstrap_spec: spec["kubeadmConfigSpec"].clone(),
                    failure_domain: None,
                    labels: json!({LABEL_CONTROL_PLANE: "", LABEL_CONTROL_PLANE_NAME: name}),
                },
            )
        };
        let result = if !initialized {
            if active.is_empty() {
                create(shared)
            } else if active.iter().any(|m| machines::infra_provisioned(m)) {
                workload::ensure(shared, &c, k).await.map(|()| {
                    shared.modify(KCPS, &ns, &name, KCP, true, |o| match api_gen {
                        Gen::V1Beta2 => {
                            o["status"]["initialization"] = json!({"controlPlaneInitialized": true})
                        }
                        Gen::V1Beta1 => o["status"]["initialized"] = json!(true),
                    })
                })
            } else {
                Ok(false)
            }
        } else if machines.iter().any(deleting) || !active.iter().all(|m| machines::has_node(m)) {
            // KCP waits for healthy control plane components (static pods), not for Node
            // readiness: a missing CNI does not stop it from scaling.
            Ok(false)
        } else if active.len() < desired {
            create(shared)
        } else if active.len() > desired {
            let victim = active
                .iter()
                .find(|m| outdated(m))
                .or(active.last())
                .map(|m| meta(m, "name").to_string());
            Ok(victim.is_some_and(|v| shared.delete(MACHINES, &ns, &v)))
        } else if let Some(old) = active.iter().find(|m| outdated(m)) {
            let surge = int_or(&rollout_strategy(k, api_gen)["maxSurge"], 1);
            if surge >= 1 {
                create(shared)
            } else {
                Ok(shared.delete(MACHINES, &ns, meta(old, "name")))
            }
        } else {
            Ok(false)
        };
        match result {
            Ok(p) => progressed |= p,
            Err(e) => note = e,
        }
    }
    let flags: Vec<(Value, bool)> = machines.iter().map(|m| (m.clone(), !outdated(m))).collect();
    progressed |= mark_up_to_date(shared, &ns, &flags, KCP);
    let cp_initialized = initialized
        || shared.get(KCPS, &ns, &name).is_some_and(|o| {
            o["status"]["initialization"]["controlPlaneInitialized"].as_bool() == Some(true)
                || o["status"]["initialized"].as_bool() == Some(true)
        });
    let total = machines.len() as i64;
    let ready = machines.iter().filter(|m| machines::is_ready(m)).count() as i64;
    let up_to_date = flags.iter().filter(|(_, u)| *u).count() as i64;
    let selector = format!("{LABEL_CLUSTER}={cname},{LABEL_CONTROL_PLANE}");
    let version_now = min_version(machines.iter());
    let desired = desired as i64;
    // The generation this pass reconciled, not the live one: a spec applied while the
    // pass ran is not reflected in the counts yet, and a real controller would not claim
    // to have observed it (waits rely on `observedGeneration` to skip stale status).
    let g = generation(k);
    progressed |= shared.modify(KCPS, &ns, &name, KCP, true, |o| {
        let s = &mut o["status"];
        s["selector"] = json!(selector);
        s["replicas"] = json!(total);
        s["readyReplicas"] = json!(ready);
        s["observedGeneration"] = json!(g);
        if let Some(v) = &version_now {
            s["version"] = json!(v);
        }
        let available = cp_initialized && ready >= 1;
        let machines_ready = ready == total && total > 0;
        match api_gen {
            Gen::V1Beta2 => {
                s["availableReplicas"] = json!(ready);
                s["upToDateReplicas"] = json!(up_to_date);
                s["initialization"] = json!({"controlPlaneInitialized": cp_initialized});
                let dep = &mut s["deprecated"]["v1beta1"];
                dep["readyReplicas"] = json!(ready);
                dep["updatedReplicas"] = json!(up_to_date);
                dep["unavailableReplicas"] = json!((total - ready).max(0));
                let d = &mut dep["conditions"];
                set_v1b1(
                    d,
                    "Available",
                    available,
                    "WaitingForKubeadmInit",
                    "Info",
                    "",
                );
                set_v1b1(d, "MachinesReady", machines_ready, "NotReady", "Info", "");
                set_v1b1(
                    d,
                    "Ready",
                    available && machines_ready,
                    "NotReady",
                    "Info",
                    "",
                );
                let l = &mut s["conditions"];
                set_v1b2(
                    l,
                    "Available",
                    available,
                    if available {
                        "Available"
                    } else {
                        "NotAvailable"
                    },
                    if available {
                        ""
                    } else {
                        "Control plane not yet initialized"
                    },
                    g,
                );
                set_v1b2(
                    l,
                    "Initialized",
                    cp_initialized,
                    if cp_initialized {
                        "Initialized"
                    } else {
                        "NotInitialized"
                    },
                    "",
                    g,
                );
                set_v1b2(l, "CertificatesAvailable", true, "Available", "", g);
                set_v1b2(
                    l,
                    "EtcdClusterHealthy",
                    machines_ready,
                    if machines_ready {
                        "Healthy"
                    } else {
                        "NotHealthy"
                    },
                    "",
                    g,
                );
                set_v1b2(
                    l,
                    "ControlPlaneComponentsHealthy",
                    machines_ready,
                    if machines_ready {
                        "Healthy"
                    } else {
                        "NotHealthy"
                    },
                    "",
                    g,
                );
                set_v1b2(
                    l,
                    "MachinesReady",
                    machines_ready,
                    if total == 0 {
                        "NoReplicas"
                    } else if machines_ready {
                        "Ready"
                    } else {
                        "NotReady"
                    },
                    "",
                    g,
                );
                let utd = up_to_date == total;
                set_v1b2(
                    l,
                    "MachinesUpToDate",
                    utd,
                    if total == 0 {
                        "NoReplicas"
                    } else if utd {
                        "UpToDate"
                    } else {
                        "NotUpToDate"
                    },
                    "",
                    g,
                );
                let rolling = up_to_date < total;
                set_v1b2(
                    l,
                    "RollingOut",
                    rolling,
                    if rolling {
                        "RollingOut"
                    } else {
                        "NotRollingOut"
                    },
                    &if rolling {
                        format!("Rolling out {} not up-to-date replicas", total - up_to_date)
                    } else {
                        String::new()
                    },
                    g,
                );
                let up = total < desired;
                set_v1b2(
                    l,
                    "ScalingUp",
                    up,
                    if up { "ScalingUp" } else { "NotScalingUp" },
                    &if up {
                        format!(
                            "Scaling up from {total} to {desired} replicas{}",
                            if note.is_empty() {
                                String::new()
                            } else {
                                format!("; {note}")
                            }
                        )
                    } else {
                        String::new()
                    },
                    g,
                );
                let down = total > desired;
                set_v1b2(
                    l,
                    "ScalingDown",
                    down,
                    if down {
                        "ScalingDown"
                    } else {
                        "NotScalingDown"
                    },
                    "",
                    g,
                );
                set_v1b2(l, "Remediating", false, "NotRemediating", "", g);
                set_v1b2(l, "Deleting", false, "NotDeleting", "", g);
                set_v1b2(l, "Paused", false, "NotPaused", "", g);
            }
            Gen::V1Beta1 => {
                s["updatedReplicas"] = json!(up_to_date);
                s["unavailableReplicas"] = json!((total - ready).max(0));
                s["initialized"] = json!(cp_initialized);
                s["ready"] = json!(available);
                let l = &mut s["conditions"];
                set_v1b1(
                    l,
                    "Available",
                    cp_initialized,
                    "WaitingForKubeadmInit",
                    "Info",
                    "",
                );
                set_v1b1(l, "CertificatesAvailable", true, "", "", "");
                set_v1b1(
                    l,
                    "MachinesCreated",
                    note.is_empty(),
                    "InfrastructureTemplateCloningFailed",
                    "Error",
                    &note,
                );
                set_v1b1(l, "MachinesReady", machines_ready, "NotReady", "Info", "");
                set_v1b1(
                    l,
                    "MachinesSpecUpToDate",
                    up_to_date == total,
                    "RollingUpdateInProgress",
                    "Warning",
                    &format!(
                        "Rolling {} replicas with outdated spec ({} replicas up to date)",
                        total, up_to_date
                    ),
                );
                let resized = total == desired;
                set_v1b1(
                    l,
                    "Resized",
                    resized,
                    if total < desired {
                        "ScalingUp"
                    } else {
                        "ScalingDown"
                    },
                    "Warning",
                    &format!(
                        "Scaling {} KubeadmControlPlane to {desired} replicas (actual {total})",
                        if total < desired { "up" } else { "down" }
                    ),
                );
                set_v1b1(
                    l,
                    "Ready",
                    available && machines_ready && resized,
                    "NotReady",
                    "Info",
                    "",
                );
            }
        }
    });
    progressed
}

fn rollout_strategy(o: &Value, api_gen: Gen) -> Value {
    match api_gen {
        Gen::V1Beta2 => o["spec"]["rollout"]["strategy"]["rollingUpdate"].clone(),
        Gen::V1Beta1 if o["kind"] == "KubeadmControlPlane" => {
            o["spec"]["rolloutStrategy"]["rollingUpdate"].clone()
        }
        Gen::V1Beta1 => o["spec"]["strategy"]["rollingUpdate"].clone(),
    }
}

/// The name of the MachineSet CAPI would create for this template (stable per template).
pub fn set_name(md: &Value, api_gen: Gen) -> String {
    let h = sha2::Sha256::digest(md["spec"]["template"].to_string().as_bytes());
    const ALPHA: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let n = if api_gen == Gen::V1Beta2 { 5 } else { 10 };
    let sfx: String = h
        .iter()
        .take(n)
        .map(|b| ALPHA[*b as usize % ALPHA.len()] as char)
        .collect();
    format!("{}-{sfx}", meta(md, "name"))
}

pub fn reconcile_md(shared: &Arc<Shared>, md: &Value) -> bool {
    let ns = meta(md, "namespace").to_string();
    let name = meta(md, "name").to_string();
    let api_gen = Gen::of(md);
    let mut machines: Vec<Value> = shared
        .list(MACHINES, Some(&ns))
        .into_iter()
        .filter(|m| label(m, LABEL_DEPLOYMENT) == Some(name.as_str()))
        .collect();
    by_age(&mut machines);
    if deleting(md) {
        return delete_children(shared, MACHINE_DEPLOYMENTS, md, &machines, MD_FINALIZER);
    }
    let cname = md["spec"]["clusterName"].as_str().unwrap_or("").to_string();
    let Some(c) = shared.get(CLUSTERS, &ns, &cname) else {
        return false;
    };
    if !has_finalizer(md, MD_FINALIZER) || label(md, LABEL_CLUSTER).is_none() {
        return shared.modify(MACHINE_DEPLOYMENTS, &ns, &name, CAPI, false, |o| {
            add_finalizer(o, MD_FINALIZER);
            set_label(o, LABEL_CLUSTER, &cname);
            ensure_owner(o, &c, false);
        });
    }
    let tpl = &md["spec"]["template"];
    let desired = md["spec"]["replicas"].as_i64().unwrap_or(1).max(0);
    let strategy = rollout_strategy(md, api_gen);
    let surge = int_or(&strategy["maxSurge"], 1).max(0);
    let max_unavailable = int_or(&strategy["maxUnavailable"], 0).max(0);
    let ms_name = set_name(md, api_gen);
    let utd = |m: &Value| label(m, LABEL_SET) == Some(ms_name.as_str());
    let active: Vec<&Value> = machines.iter().filter(|m| !deleting(m)).collect();
    let n_active = active.len() as i64;
    let n_new = active.iter().filter(|m| utd(m)).count() as i64;
    let ready_total = active.iter().filter(|m| machines::is_ready(m)).count() as i64;
    let mut progressed = false;
    let mut note = String::new();
    // maxSurge 0 with maxUnavailable 0 cannot make progress (CAPI rejects it): surge 1.
    let surge = if surge == 0 && max_unavailable == 0 {
        1
    } else {
        surge
    };
    if n_new < desired && n_active < desired + surge {
        let mut labels = tpl["metadata"]["labels"].clone();
        if !labels.is_object() {
            labels = json!({});
        }
        labels[LABEL_DEPLOYMENT] = json!(name);
        labels[LABEL_SET] = json!(ms_name);
        let bootstrap_spec = tpl["spec"]["bootstrap"]["configRef"]["name"]
            .as_str()
            .and_then(|t| shared.get("kubeadmconfigtemplates.bootstrap.cluster.x-k8s.io", &ns, t))
            .map(|t| t["spec"]["template"]["spec"].clone())
            .unwrap_or(json!({}));
        match machines::create(
            shared,
            &NewMachine {
                api_gen,
                namespace: ns.clone(),
                cluster: cname.clone(),
                base_name: ms_name.clone(),
                control_plane: false,
                owner: md.clone(),
                version: tpl["spec"]["version"].as_str().unwrap_or("").to_string(),
                infra_template: tpl["spec"]["infrastructureRef"]["name"]
                    .as_str()
                    .unwrap_or("")
                    .to_string(),
                bootstrap_spec,
                failure_domain: tpl["spec"]["failureDomain"].as_str().map(String::from),
                labels,
            },
        ) {
            Ok(p) => progressed |= p,
            Err(e) => note = e,
        }
    } else if !machines.iter().any(deleting) {
        let old: Vec<&&Value> = active.iter().filter(|m| !utd(m)).collect();
        let old_unready = old.iter().find(|m| !machines::is_ready(m));
        let old_ready = old
            .iter()
            .find(|m| machines::is_ready(m))
            .filter(|_| ready_total > desired - max_unavailable);
        let victim = if n_active > desired || surge == 0 {
            old_unready
                .or(old_ready)
                .map(|m| meta(m, "name").to_string())
        } else {
            None
        };
        let victim = victim.or_else(|| {
            (n_active > desired && old.is_empty())
                .then(|| active.last().map(|m| meta(m, "name").to_string()))
                .flatten()
        });
        if let Some(v) = victim {
            progressed |= shared.delete(MACHINES, &ns, &v);
        }
    }
    let flags: Vec<(Value, bool)> = machines.iter().map(|m| (m.clone(), utd(m))).collect();
    progressed |= mark_up_to_date(shared, &ns, &flags, CAPI);
    let total = machines.len() as i64;
    let ready = machines.iter().filter(|m| machines::is_ready(m)).count() as i64;
    let up_to_date = flags.iter().filter(|(_, u)| *u).count() as i64;
    let failed = machines.iter().any(|m| m["status"]["phase"] == "Failed");
    let selector = format!("{LABEL_CLUSTER}={cname},{LABEL_DEPLOYMENT}={name}");
    // The generation this pass reconciled (see reconcile_kcp).
    let g = generation(md);
    progressed |= shared.modify(MACHINE_DEPLOYMENTS, &ns, &name, CAPI, true, |o| {
        let s = &mut o["status"];
        let phase = if failed {
            "Failed"
        } else if total < desired || ready < desired {
            "ScalingUp"
        } else if total > desired {
            "ScalingDown"
        } else {
            "Running"
        };
        s["phase"] = json!(phase);
        s["selector"] = json!(selector);
        s["replicas"] = json!(total);
        s["readyReplicas"] = json!(ready);
        s["availableReplicas"] = json!(ready);
        s["observedGeneration"] = json!(g);
        let available = ready >= desired - max_unavailable;
        let msg = format!("{ready} available replicas, at least {} required (spec.strategy.rollout.maxUnavailable is {max_unavailable}, spec.replicas is {desired})", desired - max_unavailable);
        match api_gen {
            Gen::V1Beta2 => {
                s["upToDateReplicas"] = json!(up_to_date);
                let dep = &mut s["deprecated"]["v1beta1"];
                dep["readyReplicas"] = json!(ready);
                dep["availableReplicas"] = json!(ready);
                dep["updatedReplicas"] = json!(up_to_date);
                dep["unavailableReplicas"] = json!((desired - ready).max(0));
                let d = &mut dep["conditions"];
                set_v1b1(d, "Available", available, "WaitingForAvailableMachines", "Warning", "Minimum availability requires more machines");
                set_v1b1(d, "MachineSetReady", ready == total, "NotReady", "Info", "");
                set_v1b1(d, "Ready", available && ready == total, "WaitingForAvailableMachines", "Warning", "");
                let l = &mut s["conditions"];
                set_v1b2(l, "Available", available, if available { "Available" } else { "NotAvailable" }, if available { "" } else { &msg }, g);
                let mr = ready == total;
                set_v1b2(l, "MachinesReady", mr, if total == 0 { "NoReplicas" } else if mr { "Ready" } else { "NotReady" }, "", g);
                let u = up_to_date == total;
                set_v1b2(l, "MachinesUpToDate", u, if total == 0 { "NoReplicas" } else if u { "UpToDate" } else { "NotUpToDate" }, "", g);
                let rolling = up_to_date < total;
                set_v1b2(l, "RollingOut", rolling, if rolling { "RollingOut" } else { "NotRollingOut" },
                    &if rolling { format!("Rolling out {} not up-to-date replicas", total - up_to_date) } else { String::new() }, g);
                let up = total < desired;
                set_v1b2(l, "ScalingUp", up, if up { "ScalingUp" } else { "NotScalingUp" },
                    &if up { format!("Scaling up from {total} to {desired} replicas{}", if note.is_empty() { String::new() } else { format!("; {note}") }) } else { String::new() }, g);
                let down = total > desired;
                set_v1b2(l, "ScalingDown", down, if down { "ScalingDown" } else { "NotScalingDown" }, "", g);
                set_v1b2(l, "Remediating", false, "NotRemediating", "", g);
                set_v1b2(l, "Deleting", false, "NotDeleting", "", g);
                set_v1b2(l, "Paused", false, "NotPaused", "", g);
            }
            Gen::V1Beta1 => {
                s["updatedReplicas"] = json!(up_to_date);
                s["unavailableReplicas"] = json!((desired - ready).max(0));
                let l = &mut s["conditions"];
                set_v1b1(l, "Available", available, "WaitingForAvailableMachines", "Warning", "Minimum availability requires more machines");
                set_v1b1(l, "MachineSetReady", ready == total, "NotReady", "Info", &note);
                set_v1b1(l, "Ready", available && ready == total, "WaitingForAvailableMachines", "Warning", "");
            }
        }
    });
    progressed
}
