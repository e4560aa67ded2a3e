//! Waiting for the management cluster: provider Deployments `Available` and rolled out,
//! CRDs `Established`. Every wait has a deadline (kube-runtime's `await_condition` has none
//! of its own) and, when it expires, an error that says what is still not ready and why
//! (marked [`MgmtError::not_ready`]: exit 1, as for a cluster that does not converge).
//!
//! The conditions are small pure functions ([`deployment_state`], [`crd_established`]),
//! unit-tested here; the waiting itself watches the objects through kube-runtime.

use std::time::Duration;

use futures_util::future::join_all;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Api;
use kube::runtime::wait::await_condition;
use serde::Serialize;

use super::MgmtError;
use crate::ui::Progress;

/// A Deployment to wait for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeploymentRef {
    pub namespace: String,
    pub name: String,
}

impl DeploymentRef {
    pub fn new(namespace: &str, name: &str) -> Self {
        DeploymentRef {
            namespace: namespace.into(),
            name: name.into(),
        }
    }
}

/// The controllers of the providers (and of cert-manager, which `clusterctl init`
/// installs, and ORC when `orc` is set), as `deploy_cluster_api.sh` waited for them.
pub fn provider_deployments(orc: bool) -> Vec<DeploymentRef> {
    let mut d = vec![
        DeploymentRef::new("cert-manager", "cert-manager"),
        DeploymentRef::new("cert-manager", "cert-manager-cainjector"),
        DeploymentRef::new("cert-manager", "cert-manager-webhook"),
        DeploymentRef::new("capi-system", "capi-controller-manager"),
        DeploymentRef::new(
            "capi-kubeadm-bootstrap-system",
            "capi-kubeadm-bootstrap-controller-manager",
        ),
        DeploymentRef::new(
            "capi-kubeadm-control-plane-system",
            "capi-kubeadm-control-plane-controller-manager",
        ),
        DeploymentRef::new("capo-system", "capo-controller-manager"),
    ];
    if orc {
        d.push(DeploymentRef::new("orc-system", "orc-controller-manager"));
    }
    d
}

/// The CRDs `create-cluster` relies on (R4 waited for the first three; R6 added
/// `openstackclustertemplates`).
pub fn provider_crds() -> Vec<String> {
    [
        "clusters.cluster.x-k8s.io",
        "machinedeployments.cluster.x-k8s.io",
        "kubeadmcontrolplanes.controlplane.cluster.x-k8s.io",
        "kubeadmconfigtemplates.bootstrap.cluster.x-k8s.io",
        "openstackclusters.infrastructure.cluster.x-k8s.io",
        "openstackmachines.infrastructure.cluster.x-k8s.io",
        "openstackmachinetemplates.infrastructure.cluster.x-k8s.io",
        "openstackclustertemplates.infrastructure.cluster.x-k8s.io",
    ]
    .into_iter()
    .map(String::from)
    .collect()
}

/// Whether a Deployment is ready, and if not, why (for the timeout message).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeploymentState {
    Ready,
    NotReady(String),
}

/// Ready = the controller saw the newest spec, every replica is updated and available, and
/// the `Available` condition is `True` (what `kubectl rollout status` plus `kubectl wait
/// --for=condition=Available` check together).
pub fn deployment_state(d: &Deployment) -> DeploymentState {
    let want = d.spec.replicas.unwrap_or(1);
    let Some(st) = d.status.as_ref() else {
        return DeploymentState::NotReady("no status yet".into());
    };
    let generation = d.metadata.generation.unwrap_or(0);
    if st.observed_generation.unwrap_or(0) < generation {
        return DeploymentState::NotReady("the controller has not seen the newest spec".into());
    }
    let updated = st.updated_replicas.unwrap_or(0);
    let available = st.available_replicas.unwrap_or(0);
    let total = st.replicas.unwrap_or(0);
    if updated < want {
        return DeploymentState::NotReady(format!("{updated} of {want} replicas updated"));
    }
    if total > updated {
        return DeploymentState::NotReady(format!(
            "{} old replicas still running",
            total - updated
        ));
    }
    if available < want {
        return DeploymentState::NotReady(format!("{available} of {want} replicas available"));
    }
    let cond = st
        .conditions
        .as_ref()
        .and_then(|c| c.iter().find(|c| c.type_.as_deref() == Some("Available")));
    match cond {
        Some(c) if c.status.as_deref() == Some("True") => DeploymentState::Ready,
        Some(c) => DeploymentState::NotReady(format!(
            "Available is {}{}",
            c.status.as_deref().unwrap_or("Unknown"),
            c.message
                .as_deref()
                .map(|m| format!(": {m}"))
                .unwrap_or_default()
        )),
        None => DeploymentState::NotReady("no Available condition yet".into()),
    }
}

/// `Established=True`.
pub fn crd_established(c: &CustomResourceDefinition) -> bool {
    c.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| {
            cs.iter()
                .any(|c| c.type_ == "Established" && c.status == "True")
        })
}

/// Waits until every Deployment in `refs` is ready, all in parallel, for at most `limit`.
///
/// # Errors
/// On timeout: every Deployment still not ready, with its state (`missing` when it does not
/// exist). On an API error while watching.
pub async fn deployments_ready(
    client: &kube::Client,
    server: &str,
    refs: &[DeploymentRef],
    limit: Duration,
    progress: &dyn Progress,
) -> Result<(), MgmtError> {
    progress.phase(&format!("waiting for {} provider deployments", refs.len()));
    let waits = refs.iter().map(|r| {
        let api: Api<Deployment> = Api::namespaced(client.clone(), &r.namespace);
        async move {
            let cond = |d: Option<&Deployment>| {
                d.is_some_and(|d| deployment_state(d) == DeploymentState::Ready)
            };
            tokio::time::timeout(limit, await_condition(api, &r.name, cond)).await
        }
    });
    let results = join_all(waits).await;
    let mut pending = Vec::new();
    for (r, res) in refs.iter().zip(results) {
        match res {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                progress.finish("wait failed");
                return Err(MgmtError::new(format!(
                    "watching deployment `{}/{}` on the management cluster `{server}` failed: {e}",
                    r.namespace, r.name
                ))
                .hint("check that the management cluster is reachable, then run again")
                .source(e));
            }
            Err(_) => pending.push(r),
        }
    }
    if pending.is_empty() {
        progress.finish("provider deployments are available");
        return Ok(());
    }
    let mut lines = Vec::new();
    for r in pending {
        let api: Api<Deployment> = Api::namespaced(client.clone(), &r.namespace);
        let why = match api.get_opt(&r.name).await {
            Ok(Some(d)) => match deployment_state(&d) {
                DeploymentState::NotReady(why) => why,
                DeploymentState::Ready => "ready just now".into(),
            },
            Ok(None) => "missing".into(),
            Err(e) => format!("cannot read it: {e}"),
        };
        lines.push(format!("    {}/{}: {why}", r.namespace, r.name));
    }
    progress.finish("provider deployments are not ready");
    Err(MgmtError::new(format!(
        "after {}s these deployments on the management cluster `{server}` are not ready:\n{}",
        limit.as_secs(),
        lines.join("\n")
    ))
    .hint(
        "look at their pods (`kubectl -n NAMESPACE describe deployment NAME`, image pulls and \
         webhooks are the usual causes), then run again: finished steps are skipped",
    )
    .not_ready())
}

/// Waits until every CRD in `names` is established, for at most `limit`.
///
/// # Errors
/// On timeout, naming the CRDs that are missing or not established; on API errors.
pub async fn crds_established(
    client: &kube::Client,
    server: &str,
    names: &[String],
    limit: Duration,
    progress: &dyn Progress,
) -> Result<(), MgmtError> {
    progress.phase(&format!(
        "waiting for {} CRDs to be established",
        names.len()
    ));
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let waits = names.iter().map(|n| {
        let api = api.clone();
        async move {
            let cond = |c: Option<&CustomResourceDefinition>| c.is_some_and(crd_established);
            tokio::time::timeout(limit, await_condition(api, n, cond)).await
        }
    });
    let results = join_all(waits).await;
    let mut pending = Vec::new();
    for (n, res) in names.iter().zip(results) {
        match res {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                progress.finish("wait failed");
                return Err(MgmtError::new(format!(
                    "watching CRD `{n}` on the management cluster `{server}` failed: {e}"
                ))
                .source(e));
            }
            Err(_) => pending.push(n.as_str()),
        }
    }
    if pending.is_empty() {
        progress.finish("CRDs are established");
        return Ok(());
    }
    progress.finish("CRDs are not established");
    Err(MgmtError::new(format!(
        "after {}s these CRDs on the management cluster `{server}` are missing or not \
         established: {}",
        limit.as_secs(),
        pending
            .iter()
            .map(|n| format!("`{n}`"))
            .collect::<Vec<_>>()
            .join(", ")
    ))
    .hint("check that `clusterctl init` installed every provider (`clusterctl upgrade plan` lists them)")
    .not_ready())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deployment(v: serde_json::Value) -> Deployment {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn deployment_states() {
        let ready = deployment(serde_json::json!({
            "metadata": {"name": "capo-controller-manager", "generation": 2},
            "spec": {"replicas": 1, "selector": {}, "template": {}},
            "status": {"observedGeneration": 2, "replicas": 1, "updatedReplicas": 1,
                       "availableReplicas": 1,
                       "conditions": [{"type": "Available", "status": "True"}]}
        }));
        assert_eq!(deployment_state(&ready), DeploymentState::Ready);

        let mut stale = ready.clone();
        stale.metadata.generation = Some(3);
        assert!(
            matches!(deployment_state(&stale), DeploymentState::NotReady(w) if w.contains("newest spec"))
        );

        let rolling = deployment(serde_json::json!({
            "metadata": {"generation": 2},
            "spec": {"replicas": 1, "selector": {}, "template": {}},
            "status": {"observedGeneration": 2, "replicas": 2, "updatedReplicas": 1,
                       "availableReplicas": 1,
                       "conditions": [{"type": "Available", "status": "True"}]}
        }));
        assert_eq!(
            deployment_state(&rolling),
            DeploymentState::NotReady("1 old replicas still running".into())
        );

        let unavailable = deployment(serde_json::json!({
            "metadata": {"generation": 1},
            "spec": {"replicas": 1, "selector": {}, "template": {}},
            "status": {"observedGeneration": 1, "replicas": 1, "updatedReplicas": 1,
                       "availableReplicas": 1,
                       "conditions": [{"type": "Available", "status": "False",
                                       "message": "Deployment does not have minimum availability."}]}
        }));
        assert_eq!(
            deployment_state(&unavailable),
            DeploymentState::NotReady(
                "Available is False: Deployment does not have minimum availability.".into()
            )
        );
        let fresh = deployment(
            serde_json::json!({"metadata": {}, "spec": {"selector": {}, "template": {}}}),
        );
        assert_eq!(
            deployment_state(&fresh),
            DeploymentState::NotReady("no status yet".into())
        );
    }

    #[test]
    fn crd_conditions() {
        let crd = |status: &str| -> CustomResourceDefinition {
            serde_json::from_value(serde_json::json!({
                "metadata": {"name": "openstackclusters.infrastructure.cluster.x-k8s.io"},
                "spec": {"group": "g", "names": {"kind": "K", "plural": "ks"}, "scope": "Namespaced", "versions": []},
                "status": {"conditions": [{"type": "Established", "status": status}]}
            }))
            .unwrap()
        };
        assert!(crd_established(&crd("True")));
        assert!(!crd_established(&crd("False")));
    }

    #[test]
    fn orc_adds_its_controller() {
        assert!(
            !provider_deployments(false)
                .iter()
                .any(|d| d.namespace == "orc-system")
        );
        assert!(
            provider_deployments(true)
                .iter()
                .any(|d| d.name == "orc-controller-manager")
        );
    }
}
