//! What a cluster runs, read from the management cluster: its Kubernetes version as the
//! lowest of the KubeadmControlPlane's and the MachineDeployments' `version`. Both
//! `create-cluster` (which refuses to change it) and `upgrade-cluster` (which counts its
//! step from it) read it here.

use kube::api::ListParams;

use super::wait::ClusterRefs;
use crate::mgmt::MgmtError;
use crate::mgmt::client::api_error;
use crate::settings::versions::KubernetesVersion;

/// The version the cluster runs: the lowest of its KubeadmControlPlane's `spec.version`
/// and its MachineDeployments' (after an interrupted upgrade the workers may still be a
/// minor behind, and the next step counts from them); `None` when the Cluster or its
/// control plane does not exist.
///
/// # Errors
/// API failures.
pub async fn live_version(
    mgmt: &kube::Client,
    server: &str,
    refs: &ClusterRefs,
) -> std::result::Result<Option<String>, MgmtError> {
    let name = &refs.cluster;
    let ns = &refs.namespace;
    let Some(cluster) = refs
        .cluster_api(mgmt)
        .get_opt(name)
        .await
        .map_err(|e| api_error(&format!("reading Cluster `{ns}/{name}`"), server, e))?
    else {
        return Ok(None);
    };
    let kcp_name = refs.control_plane.clone().or_else(|| {
        cluster.data["spec"]["controlPlaneRef"]["name"]
            .as_str()
            .map(String::from)
    });
    let Some(kcp_name) = kcp_name else {
        return Ok(None);
    };
    let kcp = refs.kcp_api(mgmt).get_opt(&kcp_name).await.map_err(|e| {
        api_error(
            &format!("reading KubeadmControlPlane `{ns}/{kcp_name}`"),
            server,
            e,
        )
    })?;
    let Some(cp) = kcp.and_then(|k| k.data["spec"]["version"].as_str().map(String::from)) else {
        return Ok(None);
    };
    let mds = refs
        .md_api(mgmt)
        .list(&ListParams::default())
        .await
        .map_err(|e| api_error(&format!("listing MachineDeployments in `{ns}`"), server, e))?;
    let workers = mds
        .items
        .iter()
        .filter(|md| md.data["spec"]["clusterName"].as_str() == Some(name.as_str()))
        .filter_map(|md| md.data["spec"]["template"]["spec"]["version"].as_str());
    Ok(Some(lowest(&cp, workers)))
}

/// The lowest of `first` and `others` by (minor, patch); a version that does not parse
/// wins, so that [`check_step`] reports it.
fn lowest<'a>(first: &str, others: impl Iterator<Item = &'a str>) -> String {
    let key = |v: &str| {
        v.parse::<KubernetesVersion>()
            .map(|k| (k.minor, k.patch.unwrap_or(0)))
            .unwrap_or((0, 0))
    };
    let mut low = first.to_string();
    for v in others {
        if key(v) < key(&low) {
            low = v.to_string();
        }
    }
    low
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lowest_version_counts() {
        let low = |cp: &str, w: &[&str]| lowest(cp, w.iter().copied());
        assert_eq!(low("v1.34.2", &["v1.33.13", "v1.34.2"]), "v1.33.13");
        assert_eq!(low("v1.34.2", &[]), "v1.34.2");
        assert_eq!(low("v1.34.10", &["v1.34.9"]), "v1.34.9");
        assert_eq!(low("v1.34.1", &["garbage"]), "garbage");
    }
}
