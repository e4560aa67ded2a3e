//! Workload clusters: when a control plane is initialized the controller starts an
//! [`ApiServer`] for it (its own objects, the built-in kinds, a `kubernetes` Service and the
//! `kube-system/kubeadm-config` ConfigMap) and writes `<cluster>-kubeconfig` in the
//! management cluster as CAPI does: type `cluster.x-k8s.io/secret`, label
//! `cluster.x-k8s.io/cluster-name`, owned by the KubeadmControlPlane, the kubeconfig in
//! `data.value` with context `<cluster>-admin@<cluster>`. The server stops when the Cluster
//! is gone (or the management fake stops).

use super::*;
use base64::Engine;
use serde_json::{Value, json};

/// Starts the workload server of Cluster `c` (if not yet running) and writes its kubeconfig
/// Secret (if missing).
pub async fn ensure(shared: &Arc<Shared>, c: &Value, kcp: &Value) -> Result<(), String> {
    let ns = meta(c, "namespace").to_string();
    let name = meta(c, "name").to_string();
    let api = match shared.workload(&ns, &name) {
        Some(a) => a,
        None => {
            let api = ApiServer::new(&format!("{ns}/{name}"));
            let running = api
                .serve(0)
                .await
                .map_err(|e| format!("cannot start the workload API server of {ns}/{name}: {e}"))?;
            seed(&api, kcp);
            lock(&shared.workloads).insert(
                (ns.clone(), name.clone()),
                Workload {
                    api: api.clone(),
                    _running: running,
                },
            );
            api
        }
    };
    let secret = format!("{name}-kubeconfig");
    if shared.get(SECRETS, &ns, &secret).is_none() {
        let kubeconfig = api
            .kubeconfig(&name)
            .ok_or_else(|| format!("workload API server of {ns}/{name} has no URL"))?;
        let value = base64::engine::general_purpose::STANDARD.encode(kubeconfig);
        shared.create(
            json!({"apiVersion": "v1", "kind": "Secret", "type": "cluster.x-k8s.io/secret",
                "metadata": {"name": secret, "namespace": ns, "labels": {LABEL_CLUSTER: name},
                    "ownerReferences": [owner_ref(kcp, true)]},
                "data": {"value": value}}),
            KCP,
        );
    }
    Ok(())
}

fn seed(api: &ApiServer, kcp: &Value) {
    let version = kcp["spec"]["version"].as_str().unwrap_or("");
    let _ = api.put(json!({"apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "kubernetes", "namespace": "default",
            "labels": {"component": "apiserver", "provider": "kubernetes"}},
        "spec": {"type": "ClusterIP", "clusterIP": "10.96.0.1",
            "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}]}}));
    let _ = api.put(json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "kubeadm-config", "namespace": "kube-system"},
        "data": {"ClusterConfiguration": format!(
            "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\nkubernetesVersion: {version}\n")}}));
}
