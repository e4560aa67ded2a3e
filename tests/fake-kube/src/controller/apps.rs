//! The kube-controller-manager part that addon installs wait for: in the management and in
//! every workload cluster, Deployments, StatefulSets and DaemonSets report their pods as
//! rolled out and ready one step after each change (status `observedGeneration`,
//! `replicas`/`readyReplicas`/`availableReplicas`/`updatedReplicas`, Deployment conditions
//! `Available` and `Progressing`; a DaemonSet is scheduled on every Node of its cluster).
//! A Deployment marked with [`ApiServer::stall_deployment`] reports its replicas updated
//! but none ready and `Available` False, as when its image cannot be pulled.
//! No Pods are created: `kubectl rollout status` and waits on these fields succeed, nothing
//! more is simulated.

use super::*;
use serde_json::{Value, json};

const MANAGER: &str = "kube-controller-manager";

fn replicas(o: &Value) -> i64 {
    o["spec"]["replicas"].as_i64().unwrap_or(1)
}

/// Marks every workload object of `api` rolled out; true when something changed.
pub fn reconcile(api: &ApiServer) -> bool {
    let nodes = api.list("v1", "Node", None).len() as i64;
    let mut p = false;
    for (av, kind, key) in [
        ("apps/v1", "Deployment", "deployments.apps"),
        ("apps/v1", "StatefulSet", "statefulsets.apps"),
        ("apps/v1", "DaemonSet", "daemonsets.apps"),
    ] {
        for o in api.list(av, kind, None) {
            let ns = meta(&o, "namespace").to_string();
            let name = meta(&o, "name").to_string();
            let stalled = kind == "Deployment" && api.is_stalled(&ns, &name);
            p |= modify_in(api, key, &ns, &name, MANAGER, true, |x| {
                let g = generation(x);
                let want = replicas(x);
                // A stalled Deployment's pods never become ready (ImagePullBackOff).
                let n = if stalled { 0 } else { want };
                let s = &mut x["status"];
                s["observedGeneration"] = json!(g);
                match kind {
                    "DaemonSet" => {
                        for f in [
                            "desiredNumberScheduled",
                            "currentNumberScheduled",
                            "numberReady",
                            "numberAvailable",
                            "updatedNumberScheduled",
                        ] {
                            s[f] = json!(nodes);
                        }
                        s["numberMisscheduled"] = json!(0);
                    }
                    _ => {
                        s["replicas"] = json!(want);
                        s["updatedReplicas"] = json!(want);
                        for f in ["readyReplicas", "availableReplicas"] {
                            s[f] = json!(n);
                        }
                        if kind == "StatefulSet" {
                            s["currentReplicas"] = json!(n);
                        } else {
                            let prev = s["conditions"].clone();
                            let since = |t: &str| {
                                prev.as_array()
                                    .and_then(|a| a.iter().find(|c| c["type"] == t))
                                    .and_then(|c| c["lastTransitionTime"].as_str())
                                    .map(String::from)
                                    .unwrap_or_else(util::now)
                            };
                            let (available, reason, message) = if stalled {
                                (
                                    "False",
                                    "MinimumReplicasUnavailable",
                                    "Deployment does not have minimum availability.",
                                )
                            } else {
                                (
                                    "True",
                                    "MinimumReplicasAvailable",
                                    "Deployment has minimum availability.",
                                )
                            };
                            s["conditions"] = json!([
                                {"type": "Available", "status": available, "reason": reason,
                                 "message": message,
                                 "lastUpdateTime": since("Available"), "lastTransitionTime": since("Available")},
                                {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable",
                                 "message": format!("ReplicaSet \"{name}\" has successfully progressed."),
                                 "lastUpdateTime": since("Progressing"), "lastTransitionTime": since("Progressing")}
                            ]);
                        }
                    }
                }
            });
        }
    }
    p
}
