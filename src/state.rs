//! The per-cluster local state directory (`$XDG_STATE_HOME/scs-capi/<cluster>`, 0700) and
//! the identity it records: which cloud, project and prefix the cluster was made with.
//!
//! Owns: where the directory is, `identity.yaml` (written once by the first command that
//! changes the cloud for the cluster, read by every later one), and the refusal when a run
//! would act on the same cluster name in another cloud, project or prefix - two clusters
//! `prod` on two clouds would otherwise share (and rotate, and delete) one credential.
//! Leaves: the files other modules keep there (the application credential, the workload
//! kubeconfig) to those modules.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::cloud::config::ResolvedCloud;
use crate::error::{Error, Result};

const IDENTITY_FILE: &str = "identity.yaml";

/// The state directory of `cluster`.
///
/// # Errors
/// Neither `XDG_STATE_HOME` nor `HOME` is set.
pub fn dir(cluster: &str) -> Result<PathBuf> {
    let base = match std::env::var_os("XDG_STATE_HOME").filter(|v| !v.is_empty()) {
        Some(d) => PathBuf::from(d),
        None => match std::env::var_os("HOME").filter(|v| !v.is_empty()) {
            Some(h) => PathBuf::from(h).join(".local/state"),
            None => {
                return Err(Error::usage(
                    "cannot find the state directory: neither `XDG_STATE_HOME` nor `HOME` is set",
                    Some("set `XDG_STATE_HOME`".into()),
                ));
            }
        },
    };
    Ok(base.join("scs-capi").join(cluster))
}

/// What a cluster's OpenStack resources are tied to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    pub cluster: String,
    pub prefix: String,
    /// The cloud's name in `clouds.yaml` when it was recorded (a default for commands given
    /// only the cluster's name; renaming the entry is allowed).
    pub cloud: String,
    /// Keystone (or, without Keystone, the endpoint) and the project: what decides whether
    /// two runs act on the same resources.
    pub auth_url: String,
    pub project: String,
}

impl Identity {
    /// The identity of `cluster` with `prefix` on `cloud`.
    pub fn new(cluster: &str, prefix: &str, cloud: &ResolvedCloud) -> Self {
        let auth = &cloud.auth;
        let auth_url = auth
            .auth_url
            .clone()
            .or_else(|| auth.endpoint.clone())
            .or_else(|| cloud.endpoint_overrides.get("compute").cloned())
            .unwrap_or_default();
        let project = auth
            .project_id
            .clone()
            .or_else(|| {
                auth.project_name.as_ref().map(|n| {
                    let domain = auth
                        .project_domain_name
                        .as_deref()
                        .or(auth.project_domain_id.as_deref())
                        .unwrap_or("Default");
                    format!("{domain}/{n}")
                })
            })
            .or_else(|| {
                auth.application_credential_id
                    .as_ref()
                    .map(|id| format!("application credential {id}"))
            })
            .unwrap_or_default();
        Identity {
            cluster: cluster.to_string(),
            prefix: prefix.to_string(),
            cloud: cloud.name.clone(),
            auth_url: auth_url.trim_end_matches('/').to_string(),
            project,
        }
    }

    fn same_resources(&self, other: &Identity) -> bool {
        self.cluster == other.cluster
            && self.prefix == other.prefix
            && self.auth_url == other.auth_url
            && (self.project == other.project
                || self.project.is_empty()
                || other.project.is_empty())
    }

    fn describe(&self) -> String {
        format!(
            "cloud `{}` ({}, project {}), prefix `{}`",
            self.cloud,
            self.auth_url,
            if self.project.is_empty() {
                "unknown"
            } else {
                &self.project
            },
            self.prefix
        )
    }
}

/// The identity recorded in `dir`, if any.
///
/// # Errors
/// An identity file that cannot be read or parsed.
pub fn recorded(dir: &Path) -> Result<Option<Identity>> {
    let path = dir.join(IDENTITY_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(Error::usage(
                format!("cannot read `{}`: {e}", path.display()),
                None,
            ));
        }
    };
    serde_saphyr::from_str(&text).map(Some).map_err(|_| {
        Error::usage(
            format!("`{}` is not an identity scs-capi wrote", path.display()),
            Some(
                "restore it from a backup, or remove the file if the cluster it names is gone"
                    .into(),
            ),
        )
    })
}

/// Refuses when `dir` records another cloud, project or prefix than `now`.
///
/// # Errors
/// The mismatch (exit 2), naming both sides; nothing has been changed then.
pub fn check(dir: &Path, now: &Identity) -> Result<()> {
    match recorded(dir)? {
        Some(was) if !was.same_resources(now) => Err(Error::usage(
            format!(
                "cluster `{}` was created with {}; this run would act on {}",
                now.cluster,
                was.describe(),
                now.describe()
            ),
            Some(format!(
                "use the settings (`prefix`, `cloud_provider`) and clouds.yaml entry the cluster \
                 was created with; a second cluster of the same name needs another \
                 `cluster_name` (or its own `XDG_STATE_HOME`); if that cluster is gone, remove \
                 `{}`",
                dir.display()
            )),
        )),
        _ => Ok(()),
    }
}

/// [`check`], then records `now` when nothing is recorded yet (0600 in a 0700 directory).
///
/// # Errors
/// A mismatch, or the file cannot be written.
pub fn claim(dir: &Path, now: &Identity) -> Result<()> {
    check(dir, now)?;
    if recorded(dir)?.is_some() {
        return Ok(());
    }
    let io = |e: &dyn std::fmt::Display| {
        Error::usage(
            format!(
                "cannot write the state of cluster `{}` in `{}`: {e}",
                now.cluster,
                dir.display()
            ),
            Some("check the permissions of the state directory (`XDG_STATE_HOME`)".into()),
        )
    };
    create_private_dir(dir).map_err(|e| io(&e))?;
    let body = serde_saphyr::to_string(now).map_err(|e| io(&e))?;
    let text = format!(
        "# Written by scs-capi when it first changed the cloud for cluster `{}`: later runs\n\
         # refuse another cloud, project or prefix for this name.\n{body}",
        now.cluster
    );
    crate::fsutil::write_file(&dir.join(IDENTITY_FILE), text.as_bytes(), 0o600).map_err(|e| io(&e))
}

/// The identity of a cluster named on the command line without its settings file.
///
/// # Errors
/// No state records the cluster (created elsewhere, or already deleted).
pub fn known(cluster: &str, flag_hint: &str) -> Result<(PathBuf, Identity)> {
    let dir = dir(cluster)?;
    match recorded(&dir)? {
        Some(id) => Ok((dir, id)),
        None if dir.exists() => Err(Error::usage(
            format!(
                "the state of cluster `{cluster}` (`{}`) does not say which cloud, project \
                 and prefix it was created with (it predates that record)",
                dir.display()
            ),
            Some(format!(
                "name the cluster by its settings file: `{flag_hint}` (the next \
                 `prepare-cloud` or `create-cluster` records them)"
            )),
        )),
        None => Err(Error::usage(
            format!(
                "scs-capi has no state for cluster `{cluster}` on this machine (`{}`)",
                dir.display()
            ),
            Some(format!(
                "name the cluster by its settings file instead: `{flag_hint}`"
            )),
        )),
    }
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir)?;
    for d in [Some(dir), dir.parent()].into_iter().flatten() {
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(prefix: &str, url: &str, project: &str) -> Identity {
        Identity {
            cluster: "prod".into(),
            prefix: prefix.into(),
            cloud: "a".into(),
            auth_url: url.into(),
            project: project.into(),
        }
    }

    #[test]
    fn claim_records_once_and_refuses_another_cloud_or_prefix() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("prod");
        let first = id("capi", "https://keystone.a/v3", "p1");
        claim(&dir, &first).unwrap();
        assert_eq!(recorded(&dir).unwrap(), Some(first.clone()));
        // Same resources under another clouds.yaml name: fine.
        let mut renamed = first.clone();
        renamed.cloud = "b".into();
        claim(&dir, &renamed).unwrap();
        assert_eq!(recorded(&dir).unwrap(), Some(first.clone()));
        for other in [
            id("acme", "https://keystone.a/v3", "p1"),
            id("capi", "https://keystone.b/v3", "p1"),
            id("capi", "https://keystone.a/v3", "p2"),
        ] {
            let e = check(&dir, &other).unwrap_err().to_string();
            assert!(e.contains("was created with cloud `a`"), "{e}");
        }
    }

    #[test]
    fn missing_state_is_no_identity_not_an_error() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("nothing");
        assert_eq!(recorded(&dir).unwrap(), None);
    }
}
