//! Which Cluster API generation the management cluster serves, read from its discovery
//! document, as the render profile whose objects it can hold: `cluster.x-k8s.io/v1beta2`
//! (CAPI >= 1.11) is the `default` profile, `v1beta1` alone (CAPI 1.3, as R4 shipped) the
//! `r4` profile.
//!
//! Commands that only know a cluster by name (`delete-cluster`) need it: a request for a
//! version the API server does not serve answers 404 exactly like a missing object, so
//! guessing the version would take an R4 cluster for one that is already gone.

use kube::Client;

use crate::mgmt::MgmtError;
use crate::mgmt::client::api_error;
use crate::render::Profile;

/// The API group of Cluster, Machine and MachineDeployment.
const CAPI_GROUP: &str = "cluster.x-k8s.io";

/// The profile for the versions `group` serves: v1beta2 wins over v1beta1 (a CAPI >= 1.11
/// serves both and converts); `None` without either.
pub fn profile_for<'a>(served: impl IntoIterator<Item = &'a str>) -> Option<Profile> {
    let mut found = None;
    for v in served {
        match v {
            "v1beta2" => return Some(Profile::Default),
            "v1beta1" => found = Some(Profile::R4),
            _ => {}
        }
    }
    found
}

/// The profile the management cluster at `server` serves.
///
/// # Errors
/// Discovery failures; a cluster that serves no Cluster API (v1beta1 or v1beta2 of
/// `cluster.x-k8s.io`), with what to check.
pub async fn served_profile(client: &Client, server: &str) -> Result<Profile, MgmtError> {
    let groups = client
        .list_api_groups()
        .await
        .map_err(|e| api_error("listing the served API groups", server, e))?;
    let served: Vec<String> = groups
        .groups
        .iter()
        .filter(|g| g.name == CAPI_GROUP)
        .flat_map(|g| g.versions.iter().map(|v| v.version.clone()))
        .collect();
    profile_for(served.iter().map(String::as_str)).ok_or_else(|| {
        MgmtError::new(format!(
            "the management cluster `{server}` serves no Cluster API (`{CAPI_GROUP}` v1beta1 or v1beta2){}",
            if served.is_empty() {
                String::new()
            } else {
                format!("; it serves {}", served.join(", "))
            }
        ))
        .hint(
            "check that `--kubeconfig`/`--context` select the management cluster (`scs-capi mgmt init` installs Cluster API); to remove a cluster's cloud resources without it use `scs-capi cleanup`",
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1beta2_is_the_default_profile_even_next_to_v1beta1() {
        assert_eq!(profile_for(["v1beta1", "v1beta2"]), Some(Profile::Default));
        assert_eq!(profile_for(["v1beta2"]), Some(Profile::Default));
    }

    #[test]
    fn v1beta1_alone_is_r4_and_older_versions_do_not_count() {
        assert_eq!(
            profile_for(["v1alpha3", "v1alpha4", "v1beta1"]),
            Some(Profile::R4)
        );
        assert_eq!(profile_for(["v1alpha4"]), None);
        assert_eq!(profile_for([]), None);
    }
}
