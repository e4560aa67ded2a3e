//! From `prepare-cloud`'s result to [`CloudFacts`] for rendering: the outputs of the
//! [`Plan`], the per-cluster application credential (its secret read back from the 0600
//! file in the state directory) with the caller's Keystone URL, region, interface and CA
//! bundle. The caller's own password or token never goes in.
//!
//! It does not render (that is [`crate::render`]) and makes no API calls.

use super::config::ResolvedCloud;
use super::prepare::{Plan, read_app_credential};
use super::{CloudError, Session};
use crate::render::{AppCredential, CloudFacts};

/// The facts of an executed `plan` (after a dry run: what is known already, without a
/// credential that does not exist yet).
///
/// # Errors
/// Kind `Config` when the credential file or the cloud's `cacert` cannot be read, or the
/// cloud has no `auth_url` to give the cluster.
pub fn from_plan(
    plan: &Plan,
    cloud: &ResolvedCloud,
    session: &Session,
) -> Result<CloudFacts, CloudError> {
    let o = &plan.outputs;
    let credential = match &o.app_credential_file {
        None => None,
        Some(file) => {
            let (id, secret) = read_app_credential(file).ok_or_else(|| {
                CloudError::config(format!(
                    "cannot read the application credential from `{}`",
                    file.display()
                ))
                .hint("run `scs-capi prepare-cloud` again: it replaces a credential whose secret is lost")
            })?;
            let auth_url = cloud.auth.auth_url.clone().ok_or_else(|| {
                CloudError::config(format!(
                    "cloud `{}` has no `auth_url` to give the cluster's credential",
                    cloud.name
                ))
                .hint("set `auth.auth_url` of the cloud in clouds.yaml")
            })?;
            let cacert_pem = match &cloud.cacert {
                None => None,
                Some(p) => Some(std::fs::read_to_string(p).map_err(|e| {
                    CloudError::config(format!(
                        "cannot read `cacert` `{}` of cloud `{}`: {e}",
                        p.display(),
                        cloud.name
                    ))
                    .source(e)
                })?),
            };
            Some(AppCredential {
                id,
                secret,
                auth_url,
                region: cloud.region_name.clone(),
                interface: cloud.interface.clone(),
                project_id: session.project_id().map(String::from),
                cacert_pem,
            })
        }
    };
    Ok(CloudFacts {
        credential,
        controller_server_group_id: o.controller_server_group_id.clone(),
        worker_server_group_id: o.worker_server_group_id.clone(),
        controller_root_volume_gib: o.controller_root_volume_gib,
        worker_root_volume_gib: o.worker_root_volume_gib,
        mgmt_egress_cidr: o.mgmt_egress_cidr.as_deref().and_then(|c| c.parse().ok()),
        external_network_id: o.external_network_id.clone(),
        lb_provider: o.lb_provider.clone(),
    })
}
