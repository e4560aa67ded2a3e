//! CAPI's Cluster controller and CAPO's OpenStackCluster controller, simulated.
//!
//! Create: Cluster gets its finalizer and becomes owner (and `cluster-name` label) of its
//! infrastructure and control plane objects -> CAPO adds its finalizer, creates network,
//! router, security groups and API LB through [`CloudHooks`](super::hooks::CloudHooks),
//! writes them to `OpenStackCluster.status` (`ready`, `initialization.provisioned`) and sets
//! `spec.controlPlaneEndpoint` -> the Cluster copies the endpoint, reports infrastructure
//! provisioned (`Provisioned` phase) and then mirrors control plane and workers.
//!
//! Delete (deletionTimestamp on the Cluster): MachineDeployments and worker Machines first,
//! then the control plane, then the OpenStackCluster (CAPO deletes the cloud resources),
//! then the workload API server goes away and the Cluster's finalizer is removed.

use super::conditions::{Gen, is_true, set_v1b1, set_v1b2};
use super::hooks::{ClusterCtx, ClusterInfra};
use super::*;
use serde_json::{Value, json};

pub const CLUSTER_FINALIZER: &str = "cluster.cluster.x-k8s.io";
pub const OSC_FINALIZER: &str = "openstackcluster.infrastructure.cluster.x-k8s.io";

fn ref_name(obj: &Value, field: &str) -> Option<String> {
    obj["spec"][field]["name"].as_str().map(String::from)
}

/// The OpenStackCluster and KubeadmControlPlane a Cluster refers to (when they exist).
pub fn parts(shared: &Shared, c: &Value) -> (Option<Value>, Option<Value>) {
    let ns = meta(c, "namespace");
    let osc = ref_name(c, "infrastructureRef").and_then(|n| shared.get(OPENSTACK_CLUSTERS, ns, &n));
    let kcp = ref_name(c, "controlPlaneRef").and_then(|n| shared.get(KCPS, ns, &n));
    (osc, kcp)
}

/// `status.ready` of an OpenStackCluster.
pub fn infra_ready(osc: &Value) -> bool {
    osc["status"]["ready"].as_bool() == Some(true)
}

pub fn cluster_infra_provisioned(c: &Value) -> bool {
    c["status"]["initialization"]["infrastructureProvisioned"].as_bool() == Some(true)
        || c["status"]["infrastructureReady"].as_bool() == Some(true)
}

pub fn cluster_cp_initialized(c: &Value) -> bool {
    c["status"]["initialization"]["controlPlaneInitialized"].as_bool() == Some(true)
        || is_true(&c["status"]["conditions"], "ControlPlaneInitialized")
}

pub fn ctx_of(c_ns: &str, c_name: &str, osc: &Value) -> ClusterCtx {
    ClusterCtx {
        namespace: c_ns.to_string(),
        name: c_name.to_string(),
        openstack_cluster: osc.clone(),
    }
}

pub async fn reconcile(shared: &Arc<Shared>, c: &Value) -> bool {
    let ns = meta(c, "namespace").to_string();
    let name = meta(c, "name").to_string();
    if deleting(c) {
        return delete_flow(shared, c);
    }
    if !has_finalizer(c, CLUSTER_FINALIZER) {
        return shared.modify(CLUSTERS, &ns, &name, CAPI, false, |o| {
            add_finalizer(o, CLUSTER_FINALIZER)
        });
    }
    let (osc, kcp) = parts(shared, c);
    let mut progressed = false;
    for (key, obj) in [(OPENSTACK_CLUSTERS, &osc), (KCPS, &kcp)] {
        if let Some(o) = obj {
            progressed |= shared.modify(key, &ns, meta(o, "name"), CAPI, false, |x| {
                ensure_owner(x, c, true);
                set_label(x, LABEL_CLUSTER, &name);
            });
        }
    }
    if let Some(o) = &osc
        && !deleting(o)
    {
        progressed |= capo_cluster(shared, c, o).await;
    }
    progressed |= status(shared, c);
    progressed
}

/// CAPO: provisions the cluster infrastructure once the OpenStackCluster has an owner.
async fn capo_cluster(shared: &Arc<Shared>, c: &Value, osc: &Value) -> bool {
    let ns = meta(c, "namespace").to_string();
    let oname = meta(osc, "name").to_string();
    let owned = osc["metadata"]["ownerReferences"]
        .as_array()
        .is_some_and(|a| a.iter().any(|r| r["kind"] == "Cluster"));
    if !owned || infra_ready(osc) {
        return false;
    }
    if shared.faults_of(meta(c, "name")).stuck_infrastructure {
        return shared.modify(OPENSTACK_CLUSTERS, &ns, &oname, CAPO, true, |o| {
            if o["apiVersion"]
                .as_str()
                .is_some_and(|a| a.ends_with("/v1beta1"))
            {
                set_v1b1(
                    &mut o["status"]["conditions"],
                    "Ready",
                    false,
                    "LoadBalancerNotReady",
                    "Warning",
                    "load balancer is not yet ACTIVE: provisioning_status is PENDING_CREATE",
                );
            }
            o["status"]["ready"] = json!(false);
        });
    }
    if !has_finalizer(osc, OSC_FINALIZER) {
        return shared.modify(OPENSTACK_CLUSTERS, &ns, &oname, CAPO, false, |o| {
            add_finalizer(o, OSC_FINALIZER)
        });
    }
    let ctx = ctx_of(&ns, meta(c, "name"), osc);
    let hooks = shared.settings.hooks.clone();
    let res = tokio::task::spawn_blocking(move || hooks.create_cluster_infra(&ctx))
        .await
        .unwrap_or_else(|e| Err(format!("cloud hook panicked: {e}")));
    match res {
        Ok(infra) => {
            lock(&shared.infra).insert((ns.clone(), meta(c, "name").to_string()), infra.clone());
            shared.modify(OPENSTACK_CLUSTERS, &ns, &oname, CAPO, false, |o| {
                o["spec"]["controlPlaneEndpoint"] = json!({"host": infra.api_host, "port": 6443});
            });
            shared.modify(OPENSTACK_CLUSTERS, &ns, &oname, CAPO, true, |o| {
                write_osc_status(o, &infra)
            });
            true
        }
        Err(msg) => shared.modify(OPENSTACK_CLUSTERS, &ns, &oname, CAPO, true, |o| {
            if o["apiVersion"]
                .as_str()
                .is_some_and(|a| a.ends_with("/v1beta1"))
            {
                set_v1b1(
                    &mut o["status"]["conditions"],
                    "Ready",
                    false,
                    "OpenStackError",
                    "Error",
                    &msg,
                );
            }
            o["status"]["ready"] = json!(false);
        }),
    }
}

fn write_osc_status(o: &mut Value, i: &ClusterInfra) {
    let new_api = o["apiVersion"]
        .as_str()
        .is_some_and(|a| a.ends_with("/v1beta1"));
    let allowed = o["spec"]["apiServerLoadBalancer"]["allowedCIDRs"]
        .clone()
        .as_array()
        .cloned()
        .or_else(|| {
            o["spec"]["apiServerLoadBalancer"]["allowedCidrs"]
                .as_array()
                .cloned()
        })
        .unwrap_or_default();
    let lb = i.api_lb.as_ref().map(|l| {
        json!({"id": l.id, "name": l.name, "ip": l.ip, "internalIP": l.internal_ip, "allowedCIDRs": allowed})
    });
    // CAPO v1alpha6 requires the rules in a security group's status (CAPO 0.7 lists the
    // ones it made); v1beta1 has only id and name. The fake's groups carry no rules.
    let sg = |(id, name): &(String, String)| {
        if new_api {
            json!({"id": id, "name": name})
        } else {
            json!({"id": id, "name": name, "rules": []})
        }
    };
    let s = &mut o["status"];
    s["ready"] = json!(true);
    s["failureDomains"] = json!({"nova": {"controlPlane": true}});
    s["controlPlaneSecurityGroup"] = sg(&i.control_plane_security_group);
    s["workerSecurityGroup"] = sg(&i.worker_security_group);
    s["externalNetwork"] = json!({"id": i.external_network_id, "name": "public"});
    if new_api {
        s["initialization"] = json!({"provisioned": true});
        s["network"] = json!({"id": i.network_id, "name": i.network_name,
            "subnets": [{"id": i.subnet_id, "name": i.subnet_name, "cidr": i.subnet_cidr}]});
        s["router"] = json!({"id": i.router_id, "name": i.router_name});
        if let Some(lb) = lb {
            s["apiServerLoadBalancer"] = lb;
        }
        set_v1b1(&mut s["conditions"], "Ready", true, "", "", "");
    } else {
        let mut net = json!({"id": i.network_id, "name": i.network_name,
            "subnet": {"id": i.subnet_id, "name": i.subnet_name, "cidr": i.subnet_cidr},
            "router": {"id": i.router_id, "name": i.router_name}});
        // v1alpha6 spells it `allowedCidrs` in the spec but `allowedCIDRs` in the status,
        // as v1beta1 does.
        if let Some(lb) = lb {
            net["apiServerLoadBalancer"] = lb;
        }
        s["network"] = net;
    }
}

/// CAPO deletes what it made once an OpenStackCluster is being deleted.
pub async fn reconcile_openstack_clusters(shared: &Arc<Shared>) -> bool {
    let mut progressed = false;
    for osc in shared.list(OPENSTACK_CLUSTERS, None) {
        if !deleting(&osc) || !has_finalizer(&osc, OSC_FINALIZER) {
            continue;
        }
        let ns = meta(&osc, "namespace").to_string();
        let cname = label(&osc, LABEL_CLUSTER)
            .unwrap_or(meta(&osc, "name"))
            .to_string();
        let ctx = ctx_of(&ns, &cname, &osc);
        let infra = lock(&shared.infra)
            .remove(&(ns.clone(), cname.clone()))
            .unwrap_or_else(|| ClusterInfra::invented(&ctx));
        let hooks = shared.settings.hooks.clone();
        let res = tokio::task::spawn_blocking(move || hooks.delete_cluster_infra(&ctx, &infra))
            .await
            .unwrap_or_else(|e| Err(format!("cloud hook panicked: {e}")));
        let oname = meta(&osc, "name").to_string();
        progressed |= match res {
            Ok(()) => shared.modify(OPENSTACK_CLUSTERS, &ns, &oname, CAPO, false, |o| {
                remove_finalizer(o, OSC_FINALIZER)
            }),
            Err(msg) => shared.modify(OPENSTACK_CLUSTERS, &ns, &oname, CAPO, true, |o| {
                if o["apiVersion"]
                    .as_str()
                    .is_some_and(|a| a.ends_with("/v1beta1"))
                {
                    set_v1b1(
                        &mut o["status"]["conditions"],
                        "Ready",
                        false,
                        "OpenStackError",
                        "Error",
                        &msg,
                    );
                }
            }),
        };
    }
    progressed
}

/// Machines of cluster `name` in `ns` (control plane or workers).
pub fn machines_of(
    shared: &Shared,
    ns: &str,
    name: &str,
    control_plane: Option<bool>,
) -> Vec<Value> {
    shared
        .list(MACHINES, Some(ns))
        .into_iter()
        .filter(|m| m["spec"]["clusterName"] == name)
        .filter(|m| control_plane.is_none_or(|cp| label(m, LABEL_CONTROL_PLANE).is_some() == cp))
        .collect()
}

pub fn deployments_of(shared: &Shared, ns: &str, name: &str) -> Vec<Value> {
    shared
        .list(MACHINE_DEPLOYMENTS, Some(ns))
        .into_iter()
        .filter(|m| m["spec"]["clusterName"] == name)
        .collect()
}

fn delete_flow(shared: &Arc<Shared>, c: &Value) -> bool {
    let ns = meta(c, "namespace").to_string();
    let name = meta(c, "name").to_string();
    let api_gen = Gen::of(c);
    let (osc, kcp) = parts(shared, c);
    let mds = deployments_of(shared, &ns, &name);
    let workers = machines_of(shared, &ns, &name, Some(false));
    let cps = machines_of(shared, &ns, &name, Some(true));
    let (reason, msg) = if !mds.is_empty() || !workers.is_empty() {
        (
            "WaitingForWorkersDeletion",
            format!(
                "* MachineDeployments: {}\n* Worker Machines: {}",
                mds.len(),
                workers.len()
            ),
        )
    } else if kcp.is_some() || !cps.is_empty() {
        (
            "WaitingForControlPlaneDeletion",
            format!("* Control plane Machines: {}", cps.len()),
        )
    } else if osc.is_some() {
        (
            "WaitingForInfrastructureDeletion",
            "* OpenStackCluster is being deleted".to_string(),
        )
    } else {
        ("DeletionCompleted", String::new())
    };
    let mut progressed = shared.modify(CLUSTERS, &ns, &name, CAPI, true, |o| {
        o["status"]["phase"] = json!("Deleting");
        if api_gen == Gen::V1Beta2 {
            let g = generation(o);
            set_v1b2(
                &mut o["status"]["conditions"],
                "Deleting",
                true,
                reason,
                &msg,
                g,
            );
        } else {
            set_v1b1(
                &mut o["status"]["conditions"],
                "Ready",
                false,
                "Deleting",
                "Info",
                "",
            );
        }
    });
    progressed |= cluster_deletion_step(
        shared,
        &ns,
        &name,
        &mds,
        &workers,
        kcp.as_ref(),
        &cps,
        osc.as_ref(),
    );
    progressed
}

#[allow(clippy::too_many_arguments)]
fn cluster_deletion_step(
    shared: &Shared,
    ns: &str,
    name: &str,
    mds: &[Value],
    workers: &[Value],
    kcp: Option<&Value>,
    cps: &[Value],
    osc: Option<&Value>,
) -> bool {
    if !mds.is_empty() || !workers.is_empty() {
        let mut p = false;
        for md in mds.iter().filter(|m| !deleting(m)) {
            p |= shared.delete(MACHINE_DEPLOYMENTS, ns, meta(md, "name"));
        }
        for m in workers.iter().filter(|m| !deleting(m)) {
            p |= shared.delete(MACHINES, ns, meta(m, "name"));
        }
        return p;
    }
    if let Some(k) = kcp {
        return !deleting(k) && shared.delete(KCPS, ns, meta(k, "name"));
    }
    if !cps.is_empty() {
        let mut p = false;
        for m in cps.iter().filter(|m| !deleting(m)) {
            p |= shared.delete(MACHINES, ns, meta(m, "name"));
        }
        return p;
    }
    if let Some(o) = osc {
        return !deleting(o) && shared.delete(OPENSTACK_CLUSTERS, ns, meta(o, "name"));
    }
    lock(&shared.workloads).remove(&(ns.to_string(), name.to_string()));
    shared.delete(SECRETS, ns, &format!("{name}-kubeconfig"));
    shared.modify(CLUSTERS, ns, name, CAPI, false, |o| {
        remove_finalizer(o, CLUSTER_FINALIZER)
    })
}

/// Summary over machines' conditions: (all true, any false, count).
fn machines_summary(ms: &[Value], cond: &str) -> (bool, usize) {
    let ok = ms
        .iter()
        .filter(|m| is_true(&m["status"]["conditions"], cond))
        .count();
    (ok == ms.len(), ms.len())
}

fn sum_replicas(objs: &[&Value], field: &str) -> i64 {
    objs.iter()
        .map(|o| o["status"][field].as_i64().unwrap_or(0))
        .sum()
}

/// Recomputes the Cluster's status from its parts; true when it changed.
fn status(shared: &Shared, c: &Value) -> bool {
    let ns = meta(c, "namespace").to_string();
    let name = meta(c, "name").to_string();
    let api_gen = Gen::of(c);
    let (osc, kcp) = parts(shared, c);
    let ready = osc.as_ref().is_some_and(infra_ready);
    let endpoint = osc
        .as_ref()
        .map(|o| o["spec"]["controlPlaneEndpoint"].clone())
        .filter(|e| e["host"].is_string());
    let mut progressed = false;
    if let Some(ep) = &endpoint
        && ready
        && c["spec"]["controlPlaneEndpoint"]["host"].is_null()
    {
        progressed |= shared.modify(CLUSTERS, &ns, &name, CAPI, false, |o| {
            o["spec"]["controlPlaneEndpoint"] = ep.clone();
        });
    }
    let provisioned = ready && endpoint.is_some();
    let kcp_status = kcp
        .as_ref()
        .map(|k| k["status"].clone())
        .unwrap_or(Value::Null);
    let initialized = kcp_status["initialization"]["controlPlaneInitialized"].as_bool()
        == Some(true)
        || kcp_status["initialized"].as_bool() == Some(true);
    let cp_available = match api_gen {
        Gen::V1Beta2 => is_true(&kcp_status["conditions"], "Available"),
        Gen::V1Beta1 => kcp_status["ready"].as_bool() == Some(true),
    };
    let mds = deployments_of(shared, &ns, &name);
    let md_refs: Vec<&Value> = mds.iter().collect();
    let workers_ok = mds.iter().all(|md| match api_gen {
        Gen::V1Beta2 => is_true(&md["status"]["conditions"], "Available"),
        Gen::V1Beta1 => is_true(&md["status"]["conditions"], "Ready"),
    });
    let phase = if provisioned {
        "Provisioned"
    } else if osc.is_some() {
        "Provisioning"
    } else {
        "Pending"
    };
    let cps = machines_of(shared, &ns, &name, Some(true));
    let workers = machines_of(shared, &ns, &name, Some(false));
    let remote = shared.workload(&ns, &name).is_some();
    progressed |= shared.modify(CLUSTERS, &ns, &name, CAPI, true, |o| {
        let g = generation(o);
        let s = &mut o["status"];
        s["phase"] = json!(phase);
        s["observedGeneration"] = json!(g);
        if osc.is_some() {
            s["failureDomains"] = match api_gen {
                Gen::V1Beta2 => json!([{"name": "nova", "controlPlane": true}]),
                Gen::V1Beta1 => json!({"nova": {"controlPlane": true}}),
            };
        }
        match api_gen {
            Gen::V1Beta1 => {
                s["infrastructureReady"] = json!(provisioned);
                s["controlPlaneReady"] = json!(cp_available);
                let l = &mut s["conditions"];
                set_v1b1(l, "InfrastructureReady", provisioned, "WaitingForInfrastructure", "Info", "");
                set_v1b1(l, "ControlPlaneInitialized", initialized, "WaitingForControlPlaneProviderInitialized", "Info",
                    "Waiting for control plane provider to indicate the control plane has been initialized");
                set_v1b1(l, "ControlPlaneReady", cp_available, "WaitingForControlPlane", "Info", "");
                let (r, m) = if !provisioned { ("WaitingForInfrastructure", "") } else { ("WaitingForControlPlane", "") };
                set_v1b1(l, "Ready", provisioned && cp_available, r, "Info", m);
            }
            Gen::V1Beta2 => {
                s["initialization"] = json!({"infrastructureProvisioned": provisioned, "controlPlaneInitialized": initialized});
                if let Some(k) = &kcp {
                    let ks = &k["status"];
                    s["controlPlane"] = json!({"desiredReplicas": k["spec"]["replicas"].as_i64().unwrap_or(1),
                        "replicas": ks["replicas"].as_i64().unwrap_or(0), "readyReplicas": ks["readyReplicas"].as_i64().unwrap_or(0),
                        "availableReplicas": ks["availableReplicas"].as_i64().unwrap_or(0),
                        "upToDateReplicas": ks["upToDateReplicas"].as_i64().unwrap_or(0)});
                }
                let desired: i64 = mds.iter().map(|m| m["spec"]["replicas"].as_i64().unwrap_or(1)).sum();
                s["workers"] = json!({"desiredReplicas": desired, "replicas": sum_replicas(&md_refs, "replicas"),
                    "readyReplicas": sum_replicas(&md_refs, "readyReplicas"), "availableReplicas": sum_replicas(&md_refs, "availableReplicas"),
                    "upToDateReplicas": sum_replicas(&md_refs, "upToDateReplicas")});
                let l = &mut s["conditions"];
                let (cp_ready, ncp) = machines_summary(&cps, "Ready");
                let (w_ready, nw) = machines_summary(&workers, "Ready");
                let (cp_utd, _) = machines_summary(&cps, "UpToDate");
                let (w_utd, _) = machines_summary(&workers, "UpToDate");
                let infra_reason = if osc.is_none() { "ObjectDoesNotExist" } else if provisioned { "Ready" } else { "NotReady" };
                let mut missing = Vec::new();
                for (ok, what) in [(provisioned, "InfrastructureReady"), (cp_available, "ControlPlaneAvailable"),
                    (workers_ok, "WorkersAvailable"), (remote, "RemoteConnectionProbe")] {
                    if !ok {
                        missing.push(format!("* {what}: not yet true"));
                    }
                }
                let available = missing.is_empty();
                set_v1b2(l, "Available", available, if available { "Available" } else { "NotAvailable" }, &missing.join("\n"), g);
                set_v1b2(l, "InfrastructureReady", provisioned, infra_reason, "", g);
                set_v1b2(l, "ControlPlaneInitialized", initialized, if initialized { "Initialized" } else { "NotInitialized" },
                    if initialized { "" } else { "Control plane not yet initialized" }, g);
                set_v1b2(l, "ControlPlaneAvailable", cp_available, if kcp.is_none() { "ObjectDoesNotExist" } else if cp_available { "Available" } else { "NotAvailable" }, "", g);
                let wr = if mds.is_empty() { "NoWorkers" } else if workers_ok { "Available" } else { "NotAvailable" };
                set_v1b2(l, "WorkersAvailable", workers_ok, wr, "", g);
                set_v1b2(l, "RemoteConnectionProbe", remote, if remote { "ProbeSucceeded" } else { "ProbeFailed" }, "", g);
                let agg = |ok: bool, n: usize, yes: &str, no: &str| if n == 0 { "NoReplicas".to_string() } else if ok { yes.to_string() } else { no.to_string() };
                set_v1b2(l, "ControlPlaneMachinesReady", cp_ready, &agg(cp_ready, ncp, "Ready", "NotReady"), "", g);
                set_v1b2(l, "WorkerMachinesReady", w_ready, &agg(w_ready, nw, "Ready", "NotReady"), "", g);
                set_v1b2(l, "ControlPlaneMachinesUpToDate", cp_utd, &agg(cp_utd, ncp, "UpToDate", "NotUpToDate"), "", g);
                set_v1b2(l, "WorkerMachinesUpToDate", w_utd, &agg(w_utd, nw, "UpToDate", "NotUpToDate"), "", g);
                let any = |ty: &str| kcp.iter().chain(mds.iter()).any(|x| is_true(&x["status"]["conditions"], ty));
                for (ty, yes, no) in [("RollingOut", "RollingOut", "NotRollingOut"), ("ScalingUp", "ScalingUp", "NotScalingUp"), ("ScalingDown", "ScalingDown", "NotScalingDown")] {
                    let v = any(ty);
                    set_v1b2(l, ty, v, if v { yes } else { no }, "", g);
                }
                set_v1b2(l, "Remediating", false, "NotRemediating", "", g);
                set_v1b2(l, "Deleting", false, "NotDeleting", "", g);
                set_v1b2(l, "Paused", false, "NotPaused", "", g);
                let d = &mut s["deprecated"]["v1beta1"]["conditions"];
                set_v1b1(d, "InfrastructureReady", provisioned, "WaitingForInfrastructure", "Info", "");
                set_v1b1(d, "ControlPlaneInitialized", initialized, "WaitingForControlPlaneProviderInitialized", "Info", "");
                set_v1b1(d, "ControlPlaneReady", cp_available, "WaitingForControlPlane", "Info", "");
                set_v1b1(d, "Ready", provisioned && cp_available, "WaitingForControlPlane", "Info", "");
            }
        }
    });
    progressed
}
