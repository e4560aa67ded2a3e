//! A Machine's life, simulated across the controllers that drive it: CAPI's Machine
//! controller, the kubeadm bootstrap provider (KubeadmConfig + bootstrap data Secret) and
//! CAPO's OpenStackMachine controller, plus the kubelet (a Node in the workload cluster).
//!
//! Phases as CAPI reports them: `Pending` (bootstrap data not ready: joining machines wait
//! for the control plane to be initialized) -> `Provisioning` (server being created: CAPO
//! calls [`CloudHooks::create_server`](super::hooks::CloudHooks::create_server), server in
//! BUILD) -> `Provisioned` (server ACTIVE, `providerID` and addresses copied) -> `Running`
//! (Node registered, `nodeRef`). A server that cannot be created (quota knob or hook error)
//! gives the OpenStackMachine CAPO's `InstanceCreateFailed` condition and failure
//! reason/message, and the Machine phase `Failed`; `stuck_provisioning` keeps servers in
//! BUILD. Deletion: Node removed (drain), OpenStackMachine deleted (CAPO deletes the server),
//! KubeadmConfig and bootstrap Secret deleted, then the Machine's finalizer goes.

use super::cluster::{cluster_cp_initialized, cluster_infra_provisioned, ctx_of};
use super::conditions::{Gen, is_true, set_v1b1, set_v1b2};
use super::hooks::MachineCtx;
use super::*;
use base64::Engine;
use serde_json::{Value, json};

pub const MACHINE_FINALIZER: &str = "machine.cluster.x-k8s.io";
pub const OSM_FINALIZER: &str = "openstackmachine.infrastructure.cluster.x-k8s.io";
const KUBELET: &str = "kubelet";

/// What a KCP or MachineDeployment asks for.
pub struct NewMachine {
    pub api_gen: Gen,
    pub namespace: String,
    pub cluster: String,
    /// Machine names are `<base_name>-<5 random>`.
    pub base_name: String,
    pub control_plane: bool,
    pub owner: Value,
    pub version: String,
    pub infra_template: String,
    pub bootstrap_spec: Value,
    pub failure_domain: Option<String>,
    /// Labels besides `cluster-name`.
    pub labels: Value,
}

pub fn infra_provisioned(m: &Value) -> bool {
    m["status"]["initialization"]["infrastructureProvisioned"].as_bool() == Some(true)
        || m["status"]["infrastructureReady"].as_bool() == Some(true)
}

fn bootstrap_ready(m: &Value) -> bool {
    m["status"]["initialization"]["bootstrapDataSecretCreated"].as_bool() == Some(true)
        || m["status"]["bootstrapReady"].as_bool() == Some(true)
}

/// Running (a Node registered), whether or not the Node is Ready.
pub fn has_node(m: &Value) -> bool {
    !deleting(m) && m["status"]["nodeRef"]["name"].is_string()
}

/// Running with a Ready node (the machine's `Ready` condition).
pub fn is_ready(m: &Value) -> bool {
    !deleting(m)
        && m["status"]["nodeRef"]["name"].is_string()
        && is_true(&m["status"]["conditions"], "Ready")
}

/// Creates Machine, OpenStackMachine and KubeadmConfig; Err when the template is missing.
pub fn create(shared: &Shared, nm: &NewMachine) -> Result<bool, String> {
    let ns = &nm.namespace;
    let tpl = shared
        .get(OPENSTACK_MACHINE_TEMPLATES, ns, &nm.infra_template)
        .ok_or_else(|| {
            format!(
                "OpenStackMachineTemplate {ns}/{} not found",
                nm.infra_template
            )
        })?;
    let v = nm.api_gen.capi_version();
    let name = format!("{}-{}", nm.base_name, util::suffix(5));
    let osm_name = match nm.api_gen {
        Gen::V1Beta2 => name.clone(),
        Gen::V1Beta1 => format!("{}-{}", nm.infra_template, util::suffix(5)),
    };
    let mut labels = nm.labels.clone();
    labels[LABEL_CLUSTER] = json!(nm.cluster);
    let owner = owner_ref(&nm.owner, true);
    if shared.has_kind(KUBEADM_CONFIGS) {
        shared.create(
            json!({"apiVersion": format!("bootstrap.cluster.x-k8s.io/{v}"), "kind": "KubeadmConfig",
                "metadata": {"name": name, "namespace": ns, "labels": labels, "ownerReferences": [owner]},
                "spec": nm.bootstrap_spec}),
            BOOTSTRAP,
        );
    }
    let tpl_av = tpl["apiVersion"]
        .as_str()
        .unwrap_or("infrastructure.cluster.x-k8s.io/v1beta1");
    shared.create(
        json!({"apiVersion": tpl_av, "kind": "OpenStackMachine",
            "metadata": {"name": osm_name, "namespace": ns, "labels": labels, "ownerReferences": [owner],
                "annotations": {"cluster.x-k8s.io/cloned-from-name": nm.infra_template,
                    "cluster.x-k8s.io/cloned-from-groupkind": "OpenStackMachineTemplate.infrastructure.cluster.x-k8s.io"}},
            "spec": tpl["spec"]["template"]["spec"]}),
        CAPI,
    );
    let (bootstrap_ref, infra_ref) = match nm.api_gen {
        Gen::V1Beta2 => (
            json!({"apiGroup": "bootstrap.cluster.x-k8s.io", "kind": "KubeadmConfig", "name": name}),
            json!({"apiGroup": "infrastructure.cluster.x-k8s.io", "kind": "OpenStackMachine", "name": osm_name}),
        ),
        Gen::V1Beta1 => (
            json!({"apiVersion": format!("bootstrap.cluster.x-k8s.io/{v}"), "kind": "KubeadmConfig", "name": name, "namespace": ns}),
            json!({"apiVersion": tpl_av, "kind": "OpenStackMachine", "name": osm_name, "namespace": ns}),
        ),
    };
    let mut spec = json!({"clusterName": nm.cluster, "version": nm.version,
        "bootstrap": {"configRef": bootstrap_ref}, "infrastructureRef": infra_ref});
    if let Some(fd) = &nm.failure_domain {
        spec["failureDomain"] = json!(fd);
    }
    let created = shared.create(
        json!({"apiVersion": format!("cluster.x-k8s.io/{v}"), "kind": "Machine",
            "metadata": {"name": name, "namespace": ns, "labels": labels, "ownerReferences": [owner],
                "finalizers": [MACHINE_FINALIZER]},
            "spec": spec}),
        if nm.control_plane { KCP } else { CAPI },
    );
    Ok(created)
}

fn osm_failed(osm: &Value) -> Option<String> {
    osm["status"]["failureMessage"].as_str().map(String::from)
}

/// A failed OpenStackMachine as its Machine reports it.
struct InfraFailure {
    /// The Machine's `failureReason`.
    reason: String,
    /// The Machine's `failureMessage`.
    message: String,
    /// The message of the Machine's `InfrastructureReady`/`Ready` conditions.
    condition: String,
}

impl InfraFailure {
    fn of(osm: &Value, api_gen: Gen) -> Option<InfraFailure> {
        let msg = osm_failed(osm)?;
        Some(match api_gen {
            Gen::V1Beta2 => InfraFailure {
                reason: "CreateError".into(),
                message: msg.clone(),
                condition: msg,
            },
            // CAPI 1.3 copies the reason and wraps the message with the object it came from
            // (`reconcileExternal`); its conditions mirror the OpenStackMachine's `Ready`.
            Gen::V1Beta1 => InfraFailure {
                reason: osm["status"]["failureReason"]
                    .as_str()
                    .unwrap_or("UpdateError")
                    .to_string(),
                message: format!(
                    "Failure detected from referenced resource {}, Kind={} with name {:?}: {msg}",
                    osm["apiVersion"].as_str().unwrap_or(""),
                    osm["kind"].as_str().unwrap_or(""),
                    meta(osm, "name")
                ),
                condition: osm["status"]["conditions"]
                    .as_array()
                    .and_then(|l| l.iter().find(|c| c["type"] == "Ready"))
                    .and_then(|c| c["message"].as_str())
                    .unwrap_or(&msg)
                    .to_string(),
            },
        })
    }
}

fn is_new_capo(o: &Value) -> bool {
    o["apiVersion"]
        .as_str()
        .is_some_and(|a| a.ends_with("/v1beta1"))
}

fn server_id(osm: &Value) -> Option<String> {
    osm["status"]["instanceID"]
        .as_str()
        .map(String::from)
        .or_else(|| {
            osm["spec"]["providerID"]
                .as_str()
                .and_then(|p| p.rsplit('/').next())
                .filter(|s| !s.is_empty())
                .map(String::from)
        })
}

fn machine_ctx(m: &Value, osm: &Value) -> MachineCtx {
    let spec = &osm["spec"];
    let image = spec["image"]["filter"]["name"]
        .as_str()
        .or_else(|| spec["image"]["id"].as_str())
        .or_else(|| spec["image"].as_str())
        .unwrap_or("")
        .to_string();
    MachineCtx {
        machine: meta(m, "name").to_string(),
        server_name: meta(osm, "name").to_string(),
        control_plane: label(m, LABEL_CONTROL_PLANE).is_some(),
        flavor: spec["flavor"].as_str().unwrap_or("").to_string(),
        image,
        failure_domain: m["spec"]["failureDomain"].as_str().map(String::from),
        version: m["spec"]["version"].as_str().unwrap_or("").to_string(),
        openstack_machine: osm.clone(),
    }
}

/// Gophercloud's wording of Nova's 403 for an exhausted quota, as CAPO surfaces it.
pub fn quota_failure() -> String {
    format!(
        "Expected HTTP response code [202] when accessing [POST /servers], but got 403 instead: \
         {{\"forbidden\": {{\"code\": 403, \"message\": \"{QUOTA_MESSAGE}\"}}}}"
    )
}

/// The failure CAPO writes when Nova refuses a server. CAPO 0.7 (v1alpha6) marks
/// `InstanceReady` with the bare error and sets `UpdateError` with the message wrapped twice
/// (`getOrCreate` wraps it, `handleUpdateMachineError` prefixes it); the newer API keeps the
/// single wrap it had here.
fn fail_osm(o: &mut Value, msg: &str) {
    let wrapped = format!("create OpenStack instance: {msg}");
    let (reason, failure, condition) = if is_new_capo(o) {
        ("CreateError", wrapped.clone(), wrapped)
    } else {
        (
            "UpdateError",
            format!("OpenStack instance cannot be created: {wrapped}"),
            msg.to_string(),
        )
    };
    let s = &mut o["status"];
    s["ready"] = json!(false);
    s["failureReason"] = json!(reason);
    s["failureMessage"] = json!(failure);
    s["instanceState"] = json!("ERROR");
    set_v1b1(
        &mut s["conditions"],
        "InstanceReady",
        false,
        "InstanceCreateFailed",
        "Error",
        &condition,
    );
    set_v1b1(
        &mut s["conditions"],
        "Ready",
        false,
        "InstanceCreateFailed",
        "Error",
        &condition,
    );
}

/// CAPO: moves an OpenStackMachine from nothing to an ACTIVE server.
async fn capo_machine(shared: &Arc<Shared>, c: &Value, m: &Value, osm: &Value) -> bool {
    let ns = meta(osm, "namespace").to_string();
    let oname = meta(osm, "name").to_string();
    let cname = meta(c, "name").to_string();
    if deleting(osm) || osm_failed(osm).is_some() || osm["status"]["ready"].as_bool() == Some(true)
    {
        return false;
    }
    if !cluster_infra_provisioned(c) || m["spec"]["bootstrap"]["dataSecretName"].as_str().is_none()
    {
        return false;
    }
    if !has_finalizer(osm, OSM_FINALIZER) {
        return shared.modify(OPENSTACK_MACHINES, &ns, &oname, CAPO, false, |o| {
            add_finalizer(o, OSM_FINALIZER)
        });
    }
    let faults = shared.faults_of(&cname);
    if server_id(osm).is_none() {
        let n = lock(&shared.servers).get(&cname).copied().unwrap_or(0);
        let result = if faults.quota_after.is_some_and(|q| n >= q) {
            Err(quota_failure())
        } else {
            let (Some(osc), _) = super::cluster::parts(shared, c) else {
                return false;
            };
            let cctx = ctx_of(&ns, &cname, &osc);
            let mctx = machine_ctx(m, osm);
            let hooks = shared.settings.hooks.clone();
            tokio::task::spawn_blocking(move || hooks.create_server(&cctx, &mctx, n as u32))
                .await
                .unwrap_or_else(|e| Err(format!("cloud hook panicked: {e}")))
        };
        return match result {
            Ok(server) => {
                *lock(&shared.servers).entry(cname).or_insert(0) += 1;
                shared.modify(OPENSTACK_MACHINES, &ns, &oname, CAPO, false, |o| {
                    o["spec"]["providerID"] = json!(format!("openstack:///{}", server.id));
                });
                shared.modify(OPENSTACK_MACHINES, &ns, &oname, CAPO, true, |o| {
                    let new_api = is_new_capo(o);
                    let s = &mut o["status"];
                    if new_api {
                        s["instanceID"] = json!(server.id);
                    }
                    s["instanceState"] = json!("BUILD");
                    s["ready"] = json!(false);
                    s["addresses"] = json!([{"type": "InternalIP", "address": server.ip}]);
                    set_v1b1(
                        &mut s["conditions"],
                        "InstanceReady",
                        false,
                        "InstanceNotReady",
                        "Warning",
                        "Instance state is BUILD",
                    );
                    set_v1b1(
                        &mut s["conditions"],
                        "Ready",
                        false,
                        "InstanceNotReady",
                        "Warning",
                        "Instance state is BUILD",
                    );
                });
                true
            }
            Err(msg) => shared.modify(OPENSTACK_MACHINES, &ns, &oname, CAPO, true, |o| {
                fail_osm(o, &msg)
            }),
        };
    }
    if faults.stuck_provisioning {
        return false;
    }
    shared.modify(OPENSTACK_MACHINES, &ns, &oname, CAPO, true, |o| {
        let new_api = is_new_capo(o);
        let s = &mut o["status"];
        s["instanceState"] = json!("ACTIVE");
        s["ready"] = json!(true);
        if new_api {
            s["initialization"] = json!({"provisioned": true});
        }
        set_v1b1(&mut s["conditions"], "InstanceReady", true, "", "", "");
        set_v1b1(&mut s["conditions"], "Ready", true, "", "", "");
    })
}

/// CAPO deletes the server of every OpenStackMachine being deleted, then its finalizer.
pub async fn reconcile_openstack_machines(shared: &Arc<Shared>) -> bool {
    let mut progressed = false;
    for osm in shared.list(OPENSTACK_MACHINES, None) {
        if !deleting(&osm) || !has_finalizer(&osm, OSM_FINALIZER) {
            continue;
        }
        let ns = meta(&osm, "namespace").to_string();
        let oname = meta(&osm, "name").to_string();
        let cname = label(&osm, LABEL_CLUSTER).unwrap_or("").to_string();
        let res = match server_id(&osm) {
            None => Ok(()),
            Some(id) => {
                let osc = shared
                    .get(CLUSTERS, &ns, &cname)
                    .and_then(|c| super::cluster::parts(shared, &c).0)
                    .unwrap_or(Value::Null);
                let cctx = ctx_of(&ns, &cname, &osc);
                let owner = json!({"metadata": {"name": osm["metadata"]["ownerReferences"][0]["name"]},
                    "spec": {}});
                let mctx = machine_ctx(&owner, &osm);
                let hooks = shared.settings.hooks.clone();
                tokio::task::spawn_blocking(move || hooks.delete_server(&cctx, &mctx, &id))
                    .await
                    .unwrap_or_else(|e| Err(format!("cloud hook panicked: {e}")))
            }
        };
        progressed |= match res {
            Ok(()) => shared.modify(OPENSTACK_MACHINES, &ns, &oname, CAPO, false, |o| {
                remove_finalizer(o, OSM_FINALIZER)
            }),
            Err(msg) => shared.modify(OPENSTACK_MACHINES, &ns, &oname, CAPO, true, |o| {
                set_v1b1(
                    &mut o["status"]["conditions"],
                    "InstanceReady",
                    false,
                    "InstanceDeleteFailed",
                    "Error",
                    &msg,
                );
            }),
        };
    }
    progressed
}

fn cni_present(w: &ApiServer) -> bool {
    w.list("apps/v1", "DaemonSet", Some("kube-system"))
        .iter()
        .any(|d| {
            let n = meta(d, "name");
            ["calico", "cilium", "flannel", "weave", "kube-router"]
                .iter()
                .any(|c| n.contains(c))
        })
}

fn node_object(m: &Value, osm: &Value, node: &str) -> Value {
    let version = m["spec"]["version"].as_str().unwrap_or("");
    let cp = label(m, LABEL_CONTROL_PLANE).is_some();
    let ip = osm["status"]["addresses"][0]["address"]
        .as_str()
        .unwrap_or("10.6.0.10");
    let mut labels = json!({"kubernetes.io/hostname": node, "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64", "beta.kubernetes.io/os": "linux", "beta.kubernetes.io/arch": "amd64",
        "node.kubernetes.io/instance-type": osm["spec"]["flavor"].as_str().unwrap_or("")});
    let mut taints = json!([]);
    if cp {
        labels["node-role.kubernetes.io/control-plane"] = json!("");
        taints = json!([{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}]);
    }
    if let Some(fd) = m["spec"]["failureDomain"].as_str() {
        labels["topology.kubernetes.io/zone"] = json!(fd);
    }
    let owner_kind = if cp {
        "KubeadmControlPlane"
    } else {
        "MachineSet"
    };
    let owner_name = label(m, LABEL_CONTROL_PLANE_NAME)
        .or(label(m, LABEL_SET))
        .unwrap_or("");
    json!({"apiVersion": "v1", "kind": "Node",
        "metadata": {"name": node, "labels": labels, "annotations": {
            "cluster.x-k8s.io/cluster-name": m["spec"]["clusterName"],
            "cluster.x-k8s.io/cluster-namespace": meta(m, "namespace"),
            "cluster.x-k8s.io/machine": meta(m, "name"),
            "cluster.x-k8s.io/owner-kind": owner_kind, "cluster.x-k8s.io/owner-name": owner_name}},
        "spec": {"providerID": osm["spec"]["providerID"], "taints": taints},
        "status": {"capacity": {"cpu": "2", "memory": "4026532Ki", "pods": "110", "ephemeral-storage": "20134592Ki"},
            "allocatable": {"cpu": "2", "memory": "3924132Ki", "pods": "110", "ephemeral-storage": "18556039957"},
            "addresses": [{"type": "InternalIP", "address": ip}, {"type": "Hostname", "address": node}],
            "nodeInfo": {"kubeletVersion": version, "kubeProxyVersion": version, "osImage": "Ubuntu 24.04.2 LTS",
                "containerRuntimeVersion": "containerd://1.7.27", "kernelVersion": "6.8.0-60-generic",
                "operatingSystem": "linux", "architecture": "amd64", "machineID": util::uid().replace('-', ""),
                "systemUUID": util::uid(), "bootID": util::uid()}}})
}

/// Ensures the machine's Node exists in the workload cluster and its Ready condition is
/// current; returns the Node.
fn sync_node(shared: &Shared, w: &ApiServer, m: &Value, osm: &Value) -> Option<Value> {
    let node = meta(osm, "name").to_string();
    if w.get("v1", "Node", "", &node).is_none() {
        create_in(w, node_object(m, osm, &node), KUBELET);
    }
    let ready = !shared.settings.nodes_need_cni || cni_present(w);
    modify_in(w, "nodes", "", &node, KUBELET, true, |n| {
        let now = util::now();
        let prev = n["status"]["conditions"]
            .as_array()
            .and_then(|a| a.iter().find(|c| c["type"] == "Ready"))
            .cloned();
        let status = if ready { "True" } else { "False" };
        let since = prev
            .filter(|p| p["status"] == status)
            .and_then(|p| p["lastTransitionTime"].as_str().map(String::from))
            .unwrap_or(now.clone());
        let (reason, msg) = if ready {
            ("KubeletReady", "kubelet is posting ready status")
        } else {
            (
                "KubeletNotReady",
                "container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady message:Network plugin returns error: cni plugin not initialized",
            )
        };
        let pressure = [
            (
                "MemoryPressure",
                "KubeletHasSufficientMemory",
                "kubelet has sufficient memory available",
            ),
            (
                "DiskPressure",
                "KubeletHasNoDiskPressure",
                "kubelet has no disk pressure",
            ),
            (
                "PIDPressure",
                "KubeletHasSufficientPID",
                "kubelet has sufficient PID available",
            ),
        ];
        let mut conds: Vec<Value> = pressure
            .iter()
            .map(|(t, reason, message)| {
                json!({"type": t, "status": "False", "reason": reason, "message": message,
                    "lastHeartbeatTime": since, "lastTransitionTime": since})
            })
            .collect();
        conds.push(
            json!({"type": "Ready", "status": status, "reason": reason, "message": msg,
            "lastHeartbeatTime": since, "lastTransitionTime": since}),
        );
        n["status"]["conditions"] = json!(conds);
    });
    w.get("v1", "Node", "", &node)
}

/// What the machine's status is derived from.
struct Facts {
    bootstrap: bool,
    bootstrap_waiting: &'static str,
    infra: bool,
    infra_failure: Option<InfraFailure>,
    osm_exists: bool,
    node: Option<Value>,
}

fn write_status(o: &mut Value, f: &Facts) {
    let api_gen = Gen::of(o);
    let g = generation(o);
    let node_ready = f
        .node
        .as_ref()
        .is_some_and(|n| is_true(&n["status"]["conditions"], "Ready"));
    let phase = if f.infra_failure.is_some() {
        "Failed"
    } else if f.node.is_some() {
        "Running"
    } else if f.infra {
        "Provisioned"
    } else if f.bootstrap {
        "Provisioning"
    } else {
        "Pending"
    };
    let s = &mut o["status"];
    s["phase"] = json!(phase);
    s["observedGeneration"] = json!(g);
    if let Some(n) = &f.node {
        s["nodeInfo"] = n["status"]["nodeInfo"].clone();
        s["nodeRef"] = match api_gen {
            Gen::V1Beta2 => json!({"name": n["metadata"]["name"]}),
            Gen::V1Beta1 => {
                json!({"apiVersion": "v1", "kind": "Node", "name": n["metadata"]["name"], "uid": n["metadata"]["uid"]})
            }
        };
    }
    let infra_reason = if f.infra_failure.is_some() {
        "InstanceCreateFailed"
    } else if !f.osm_exists {
        "ObjectDoesNotExist"
    } else if f.infra {
        "Ready"
    } else {
        "NotReady"
    };
    let infra_msg = f
        .infra_failure
        .as_ref()
        .map(|x| x.condition.clone())
        .unwrap_or_default();
    let ready = f.bootstrap && f.infra && node_ready;
    match api_gen {
        Gen::V1Beta2 => {
            s["initialization"] = json!({"bootstrapDataSecretCreated": f.bootstrap, "infrastructureProvisioned": f.infra});
            if let Some(x) = &f.infra_failure {
                s["deprecated"]["v1beta1"]["failureReason"] = json!(x.reason);
                s["deprecated"]["v1beta1"]["failureMessage"] = json!(x.message);
            }
            let l = &mut s["conditions"];
            set_v1b2(
                l,
                "BootstrapConfigReady",
                f.bootstrap,
                if f.bootstrap { "Ready" } else { "NotReady" },
                if f.bootstrap { "" } else { f.bootstrap_waiting },
                g,
            );
            set_v1b2(
                l,
                "InfrastructureReady",
                f.infra,
                infra_reason,
                &infra_msg,
                g,
            );
            let (nr, nh, nmsg) = match (&f.node, node_ready) {
                (None, _) => (
                    "NodeDoesNotExist",
                    "NodeDoesNotExist",
                    "Waiting for a Node with spec.providerID to exist",
                ),
                (Some(_), true) => ("NodeReady", "NodeHealthy", ""),
                (Some(_), false) => (
                    "NodeNotReady",
                    "NodeNotHealthy",
                    "* Node.Ready: container runtime network not ready",
                ),
            };
            set_v1b2(l, "NodeReady", node_ready, nr, nmsg, g);
            set_v1b2(l, "NodeHealthy", node_ready, nh, nmsg, g);
            let mut why = Vec::new();
            if !f.bootstrap {
                why.push("* BootstrapConfigReady: not ready".to_string());
            }
            if !f.infra {
                why.push(format!(
                    "* InfrastructureReady: {}",
                    if infra_msg.is_empty() {
                        "not ready"
                    } else {
                        &infra_msg
                    }
                ));
            }
            if !node_ready {
                why.push("* NodeHealthy: not healthy".to_string());
            }
            set_v1b2(
                l,
                "Ready",
                ready,
                if ready { "Ready" } else { "NotReady" },
                &why.join("\n"),
                g,
            );
            set_v1b2(
                l,
                "Available",
                ready,
                if ready { "Available" } else { "NotReady" },
                "",
                g,
            );
            set_v1b2(l, "Deleting", false, "NotDeleting", "", g);
            set_v1b2(l, "Paused", false, "NotPaused", "", g);
            let d = &mut s["deprecated"]["v1beta1"]["conditions"];
            set_v1b1(
                d,
                "BootstrapReady",
                f.bootstrap,
                "WaitingForDataSecret",
                "Info",
                "",
            );
            set_v1b1(
                d,
                "InfrastructureReady",
                f.infra,
                infra_reason,
                if f.infra_failure.is_some() {
                    "Error"
                } else {
                    "Info"
                },
                &infra_msg,
            );
            set_v1b1(
                d,
                "NodeHealthy",
                node_ready,
                "WaitingForNodeRef",
                "Info",
                "",
            );
            set_v1b1(d, "Ready", ready, "WaitingForNodeRef", "Info", "");
        }
        Gen::V1Beta1 => {
            s["bootstrapReady"] = json!(f.bootstrap);
            s["infrastructureReady"] = json!(f.infra);
            if let Some(x) = &f.infra_failure {
                s["failureReason"] = json!(x.reason);
                s["failureMessage"] = json!(x.message);
            }
            let l = &mut s["conditions"];
            set_v1b1(
                l,
                "BootstrapReady",
                f.bootstrap,
                "WaitingForDataSecret",
                "Info",
                "",
            );
            set_v1b1(
                l,
                "InfrastructureReady",
                f.infra,
                infra_reason,
                if f.infra_failure.is_some() {
                    "Error"
                } else {
                    "Info"
                },
                &infra_msg,
            );
            set_v1b1(
                l,
                "NodeHealthy",
                node_ready,
                if f.node.is_some() {
                    "NodeConditionsFailed"
                } else {
                    "WaitingForNodeRef"
                },
                "Info",
                "",
            );
            set_v1b1(
                l,
                "Ready",
                ready,
                if f.infra_failure.is_some() {
                    "InstanceCreateFailed"
                } else {
                    "WaitingForNodeRef"
                },
                if f.infra_failure.is_some() {
                    "Error"
                } else {
                    "Info"
                },
                &infra_msg,
            );
        }
    }
}

/// Creates the bootstrap data Secret and marks the KubeadmConfig ready.
fn bootstrap(shared: &Shared, m: &Value, api_gen: Gen) -> bool {
    let ns = meta(m, "namespace").to_string();
    let name = meta(m, "name").to_string();
    let cname = m["spec"]["clusterName"].as_str().unwrap_or("").to_string();
    let kc_name = m["spec"]["bootstrap"]["configRef"]["name"]
        .as_str()
        .unwrap_or(&name)
        .to_string();
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let kc = shared.get(KUBEADM_CONFIGS, &ns, &kc_name);
    let mut secret = json!({"apiVersion": "v1", "kind": "Secret", "type": "cluster.x-k8s.io/secret",
        "metadata": {"name": name, "namespace": ns, "labels": {LABEL_CLUSTER: cname}},
        "data": {"format": b64("cloud-config"), "value": b64(&format!("## template: jinja\n#cloud-config\n# fake-kube bootstrap data for {name}\n"))}});
    if let Some(k) = &kc {
        secret["metadata"]["ownerReferences"] = json!([owner_ref(k, true)]);
        shared.modify(KUBEADM_CONFIGS, &ns, &kc_name, BOOTSTRAP, true, |o| {
            let g = generation(o);
            let s = &mut o["status"];
            s["dataSecretName"] = json!(name);
            s["observedGeneration"] = json!(g);
            match api_gen {
                Gen::V1Beta2 => {
                    s["initialization"] = json!({"dataSecretCreated": true});
                    set_v1b2(&mut s["conditions"], "Ready", true, "Ready", "", g);
                    set_v1b2(
                        &mut s["conditions"],
                        "DataSecretAvailable",
                        true,
                        "Available",
                        "",
                        g,
                    );
                    set_v1b2(
                        &mut s["conditions"],
                        "CertificatesAvailable",
                        true,
                        "Available",
                        "",
                        g,
                    );
                }
                Gen::V1Beta1 => {
                    s["ready"] = json!(true);
                    set_v1b1(&mut s["conditions"], "Ready", true, "", "", "");
                    set_v1b1(
                        &mut s["conditions"],
                        "DataSecretAvailable",
                        true,
                        "",
                        "",
                        "",
                    );
                    set_v1b1(
                        &mut s["conditions"],
                        "CertificatesAvailable",
                        true,
                        "",
                        "",
                        "",
                    );
                }
            }
        });
    }
    shared.create(secret, BOOTSTRAP);
    shared.modify(MACHINES, &ns, &name, CAPI, false, |o| {
        o["spec"]["bootstrap"]["dataSecretName"] = json!(name);
    })
}

async fn delete_machine(shared: &Arc<Shared>, m: &Value, osm: Option<Value>) -> bool {
    let ns = meta(m, "namespace").to_string();
    let name = meta(m, "name").to_string();
    let cname = m["spec"]["clusterName"].as_str().unwrap_or("").to_string();
    let api_gen = Gen::of(m);
    let mut p = shared.modify(MACHINES, &ns, &name, CAPI, true, |o| {
        let g = generation(o);
        o["status"]["phase"] = json!("Deleting");
        if api_gen == Gen::V1Beta2 {
            set_v1b2(
                &mut o["status"]["conditions"],
                "Deleting",
                true,
                "WaitingForInfrastructureDeletion",
                "",
                g,
            );
        }
    });
    if let (Some(w), Some(node)) = (
        shared.workload(&ns, &cname),
        m["status"]["nodeRef"]["name"].as_str(),
    ) && w.get("v1", "Node", "", node).is_some()
    {
        return delete_in(&w, "nodes", "", node) || p;
    }
    if let Some(o) = &osm {
        if !deleting(o) {
            p |= shared.delete(OPENSTACK_MACHINES, &ns, meta(o, "name"));
        }
        return p;
    }
    let kc = m["spec"]["bootstrap"]["configRef"]["name"]
        .as_str()
        .unwrap_or("")
        .to_string();
    if shared.get(KUBEADM_CONFIGS, &ns, &kc).is_some() {
        return shared.delete(KUBEADM_CONFIGS, &ns, &kc) | p;
    }
    if shared
        .get(SECRETS, &ns, &name)
        .is_some_and(|s| s["type"] == "cluster.x-k8s.io/secret")
    {
        p |= shared.delete(SECRETS, &ns, &name);
    }
    shared.modify(MACHINES, &ns, &name, CAPI, false, |o| {
        remove_finalizer(o, MACHINE_FINALIZER)
    }) | p
}

pub async fn reconcile(shared: &Arc<Shared>, m: &Value) -> bool {
    let ns = meta(m, "namespace").to_string();
    let name = meta(m, "name").to_string();
    let api_gen = Gen::of(m);
    let cname = m["spec"]["clusterName"].as_str().unwrap_or("").to_string();
    let osm_name = m["spec"]["infrastructureRef"]["name"]
        .as_str()
        .unwrap_or("")
        .to_string();
    let osm = shared.get(OPENSTACK_MACHINES, &ns, &osm_name);
    if deleting(m) {
        return delete_machine(shared, m, osm).await;
    }
    let Some(c) = shared.get(CLUSTERS, &ns, &cname) else {
        return false;
    };
    let mut p = false;
    // The Machine becomes the controlling owner of its infrastructure and bootstrap objects.
    let kc_name = m["spec"]["bootstrap"]["configRef"]["name"]
        .as_str()
        .unwrap_or("")
        .to_string();
    for (key, n) in [(OPENSTACK_MACHINES, &osm_name), (KUBEADM_CONFIGS, &kc_name)] {
        p |= shared.modify(key, &ns, n, CAPI, false, |o| {
            let owned_by_machine = o["metadata"]["ownerReferences"]
                .as_array()
                .is_some_and(|a| a.len() == 1 && a[0]["uid"] == m["metadata"]["uid"]);
            if !owned_by_machine {
                o["metadata"]["ownerReferences"] = json!([owner_ref(m, true)]);
            }
        });
    }
    let cp = label(m, LABEL_CONTROL_PLANE).is_some();
    let mut boot = bootstrap_ready(m) || m["spec"]["bootstrap"]["dataSecretName"].is_string();
    let mut waiting = "";
    if !boot {
        // kubeadm init runs on the first control plane machine; every join waits for it.
        let first_cp = cp
            && !cluster_cp_initialized(&c)
            && super::cluster::machines_of(shared, &ns, &cname, Some(true))
                .iter()
                .filter(|x| !deleting(x))
                .min_by_key(|x| {
                    (
                        meta(x, "creationTimestamp").to_string(),
                        meta(x, "name").to_string(),
                    )
                })
                .is_some_and(|x| meta(x, "name") == name);
        if first_cp || cluster_cp_initialized(&c) {
            p |= bootstrap(shared, m, api_gen);
            boot = true;
        } else {
            waiting = "KubeadmConfig is waiting for the control plane to be initialized";
        }
    }
    let mut osm_now = osm.clone();
    if let Some(o) = &osm {
        let m_now = shared.get(MACHINES, &ns, &name).unwrap_or(m.clone());
        p |= capo_machine(shared, &c, &m_now, o).await;
        osm_now = shared.get(OPENSTACK_MACHINES, &ns, &osm_name);
    }
    let failure = osm_now.as_ref().and_then(|o| InfraFailure::of(o, api_gen));
    let infra = osm_now
        .as_ref()
        .is_some_and(|o| o["status"]["ready"].as_bool() == Some(true));
    if infra && let Some(o) = &osm_now {
        let pid = o["spec"]["providerID"].clone();
        p |= shared.modify(MACHINES, &ns, &name, CAPI, false, |x| {
            x["spec"]["providerID"] = pid
        });
    }
    let node = match (infra, shared.workload(&ns, &cname), &osm_now) {
        (true, Some(w), Some(o)) => sync_node(shared, &w, m, o),
        _ => None,
    };
    let facts = Facts {
        bootstrap: boot,
        bootstrap_waiting: waiting,
        infra,
        infra_failure: failure,
        osm_exists: osm_now.is_some(),
        node,
    };
    let addresses = osm_now
        .as_ref()
        .map(|o| o["status"]["addresses"].clone())
        .filter(Value::is_array);
    p |= shared.modify(MACHINES, &ns, &name, CAPI, true, |o| {
        if infra && let Some(a) = &addresses {
            o["status"]["addresses"] = a.clone();
        }
        write_status(o, &facts);
    });
    p
}
