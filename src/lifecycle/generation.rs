//! Which Cluster API generation the management cluster serves, read from its discovery
//! document, as the render profile whose objects it can hold: `cluster.x-k8s.io/v1beta2`
//! (CAPI >= 1.11) is the `default` profile, `v1beta1` alone (CAPI 1.3, as R4 shipped) the
//! `r4` profile.
//!
//! A request for a version the API server does not serve answers 404 exactly like a
//! missing object, so a guessed version takes an R4 cluster for one that does not exist:
//! `delete-cluster` (which knows a cluster only by name) reads the generation with
//! [`served_profile`], `create-cluster` and `upgrade-cluster` refuse a `--profile` the
//! management cluster cannot hold with [`check_profile`] before anything changes.

use kube::Client;

use crate::error::{Error, Result};
use crate::mgmt::MgmtError;
use crate::mgmt::client::api_error;
use crate::render::Profile;

/// The API group of Cluster, Machine and MachineDeployment.
const CAPI_GROUP: &str = "cluster.x-k8s.io";
/// The API group of CAPO's objects.
const CAPO_GROUP: &str = "infrastructure.cluster.x-k8s.io";

/// `(group, served versions)` of a management cluster.
pub type Served = Vec<(String, Vec<String>)>;

fn versions_of<'a>(served: &'a Served, group: &str) -> Vec<&'a str> {
    served
        .iter()
        .filter(|(g, _)| g == group)
        .flat_map(|(_, v)| v.iter().map(String::as_str))
        .collect()
}

/// The profile for the Cluster API versions served: v1beta2 wins over v1beta1 (a CAPI >=
/// 1.11 serves both and converts); `None` without either.
pub fn profile_for(served: &Served) -> Option<Profile> {
    let capi = versions_of(served, CAPI_GROUP);
    if capi.contains(&"v1beta2") {
        Some(Profile::Default)
    } else if capi.contains(&"v1beta1") {
        Some(Profile::R4)
    } else {
        None
    }
}

/// Why `profile`'s manifests cannot go to a management cluster serving `served`: the
/// first `group/version` they need that is not served; `None` when all are.
pub fn missing_for(served: &Served, profile: Profile) -> Option<String> {
    let (capi, capo) = profile.api_versions();
    [(CAPI_GROUP, capi), (CAPO_GROUP, capo)]
        .into_iter()
        .find(|(g, v)| !versions_of(served, g).contains(v))
        .map(|(g, v)| format!("{g}/{v}"))
}

/// The API groups and versions the management cluster at `server` serves.
///
/// # Errors
/// Discovery failures.
pub async fn served(client: &Client, server: &str) -> Result<Served, MgmtError> {
    let groups = client
        .list_api_groups()
        .await
        .map_err(|e| api_error("listing the served API groups", server, e))?;
    Ok(groups
        .groups
        .into_iter()
        .map(|g| (g.name, g.versions.into_iter().map(|v| v.version).collect()))
        .collect())
}

fn no_capi(server: &str, served: &Served) -> MgmtError {
    let have = versions_of(served, CAPI_GROUP);
    MgmtError::new(format!(
        "the management cluster `{server}` serves no Cluster API (`{CAPI_GROUP}` v1beta1 or v1beta2){}",
        if have.is_empty() {
            String::new()
        } else {
            format!("; it serves {}", have.join(", "))
        }
    ))
    .hint(
        "check that `--kubeconfig`/`--context` select the management cluster (`scs-capi mgmt init` installs Cluster API); to remove a cluster's cloud resources without it use `scs-capi cleanup`",
    )
}

/// The profile the management cluster at `server` serves.
///
/// # Errors
/// Discovery failures; a cluster that serves no Cluster API (v1beta1 or v1beta2 of
/// `cluster.x-k8s.io`), with what to check.
pub async fn served_profile(client: &Client, server: &str) -> Result<Profile, MgmtError> {
    let served = served(client, server).await?;
    profile_for(&served).ok_or_else(|| no_capi(server, &served))
}

/// Refuses `profile` when the management cluster does not serve the API versions of its
/// manifests, naming the profile that fits.
///
/// # Errors
/// [`Error::Usage`] (exit 2) for a profile the cluster cannot hold; discovery failures.
pub async fn check_profile(client: &Client, server: &str, profile: Profile) -> Result<()> {
    let served = served(client, server).await?;
    let Some(missing) = missing_for(&served, profile) else {
        return Ok(());
    };
    let fits = profile_for(&served).ok_or_else(|| no_capi(server, &served))?;
    let name = |p: Profile| p.dir();
    Err(Error::usage(
        format!(
            "the management cluster `{server}` does not serve `{missing}`, which the manifests of profile `{}` use (Cluster API {}, CAPO {})",
            name(profile),
            profile.api_versions().0,
            profile.api_versions().1,
        ),
        Some(if fits == profile {
            format!(
                "install the Cluster API and CAPO versions of profile `{}` (`scs-capi mgmt init --profile {}`)",
                name(profile),
                name(profile)
            )
        } else {
            format!(
                "its Cluster API serves `{CAPI_GROUP}/{}`: pass `--profile {}`",
                fits.api_versions().0,
                name(fits)
            )
        }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn served(groups: &[(&str, &[&str])]) -> Served {
        groups
            .iter()
            .map(|(g, v)| (g.to_string(), v.iter().map(|s| s.to_string()).collect()))
            .collect()
    }

    /// What CAPI 1.14 + CAPO 0.14 serve.
    fn current() -> Served {
        served(&[
            (CAPI_GROUP, &["v1beta2", "v1beta1"]),
            (CAPO_GROUP, &["v1beta1", "v1alpha1"]),
        ])
    }

    /// What CAPI 1.3.5 + CAPO 0.7.1 (R4) serve.
    fn r4() -> Served {
        served(&[
            (CAPI_GROUP, &["v1beta1", "v1alpha4", "v1alpha3"]),
            (
                CAPO_GROUP,
                &["v1alpha6", "v1alpha5", "v1alpha4", "v1alpha3"],
            ),
        ])
    }

    #[test]
    fn v1beta2_is_the_default_profile_even_next_to_v1beta1() {
        assert_eq!(profile_for(&current()), Some(Profile::Default));
    }

    #[test]
    fn v1beta1_alone_is_r4_and_older_versions_do_not_count() {
        assert_eq!(profile_for(&r4()), Some(Profile::R4));
        assert_eq!(profile_for(&served(&[(CAPI_GROUP, &["v1alpha4"])])), None);
        assert_eq!(profile_for(&served(&[])), None);
    }

    #[test]
    fn a_profile_fits_when_both_its_capi_and_capo_versions_are_served() {
        assert_eq!(missing_for(&current(), Profile::Default), None);
        assert_eq!(missing_for(&r4(), Profile::R4), None);
        assert_eq!(
            missing_for(&r4(), Profile::Default).as_deref(),
            Some("cluster.x-k8s.io/v1beta2")
        );
        // CAPI 1.14 still serves v1beta1, but CAPO 0.14 no longer serves v1alpha6.
        assert_eq!(
            missing_for(&current(), Profile::R4).as_deref(),
            Some("infrastructure.cluster.x-k8s.io/v1alpha6")
        );
    }
}
