//! Which cluster a command acts on, and with which prefix and cloud: from its settings file
//! (`-f`, layered as for `create-cluster`) or from the identity this machine's state
//! recorded when the cluster was prepared ([`crate::state`]).
//!
//! Owns the one rule every command that acts on one existing cluster follows (delete,
//! cleanup, get-kubeconfig): the prefix and cloud come from the settings or the state,
//! never from a guess, and a settings file or `--os-cloud` that disagrees with what the
//! cluster was created with is refused before anything is read from or changed in the
//! cloud. Leaves what to do with the cluster to the caller.

use std::path::PathBuf;

use crate::cloud::config::{self, ResolvedCloud};
use crate::error::{Error, Result};
use crate::state::{self, Identity};

/// How the user named the cluster.
#[derive(Debug, Clone)]
pub enum By {
    File {
        file: PathBuf,
        defaults: Option<PathBuf>,
    },
    Name(String),
}

/// The cluster a command acts on.
#[derive(Debug)]
pub struct Named {
    pub cluster: String,
    pub prefix: String,
    pub cloud: ResolvedCloud,
    pub state_dir: PathBuf,
    /// Settings warnings (with `-f`), for the caller to print.
    pub warnings: Vec<String>,
}

/// Resolves the cluster, its prefix and its cloud (`--os-cloud` wins over the settings'
/// `cloud_provider`, which wins over the recorded cloud), and checks them against the state.
///
/// # Errors
/// Invalid settings; a name this machine's state does not know; a cloud that cannot be
/// resolved; a prefix or cloud that disagrees with the recorded one.
/// The settings as `create-cluster` loads them, for whichever profile accepts them: a
/// command that acts on an existing cluster has no `--profile`, and an R4 cluster's
/// Kubernetes version is valid only for profile `r4` (the default profile's error is
/// reported when neither accepts them).
fn load_any_profile(
    file: &std::path::Path,
    defaults: Option<&std::path::Path>,
    os_cloud: Option<&str>,
) -> Result<super::create::Loaded> {
    use crate::render::Profile;
    super::create::load_settings(file, defaults, os_cloud, Profile::Default, false).or_else(
        |first| {
            super::create::load_settings(file, defaults, os_cloud, Profile::R4, false)
                .map_err(|_| first)
        },
    )
}

pub fn resolve(by: &By, os_cloud: Option<&str>) -> Result<Named> {
    match by {
        By::File { file, defaults } => {
            let loaded = load_any_profile(file, defaults.as_deref(), os_cloud)?;
            let cluster = loaded.settings.name().to_string();
            let prefix = loaded.settings.prefix.clone();
            let cloud = config::resolve(loaded.explicit_cloud.as_deref())?;
            let state_dir = state::dir(&cluster)?;
            state::check(&state_dir, &Identity::new(&cluster, &prefix, &cloud))?;
            Ok(Named {
                cluster,
                prefix,
                cloud,
                state_dir,
                warnings: loaded.warnings,
            })
        }
        By::Name(name) => {
            check_name("NAME", name)?;
            let (state_dir, recorded) = state::known(name, &format!("-f {name}.yaml"))?;
            let cloud = config::resolve(Some(os_cloud.unwrap_or(&recorded.cloud)))?;
            state::check(&state_dir, &Identity::new(name, &recorded.prefix, &cloud))?;
            Ok(Named {
                cluster: name.clone(),
                prefix: recorded.prefix,
                cloud,
                state_dir,
                warnings: Vec::new(),
            })
        }
    }
}

/// Only the cluster's name (for commands that do not touch the cloud): from the settings,
/// or as given.
///
/// # Errors
/// Invalid settings or name.
pub fn name_only(by: &By) -> Result<String> {
    match by {
        By::File { file, defaults } => Ok(load_any_profile(file, defaults.as_deref(), None)?
            .settings
            .name()
            .to_string()),
        By::Name(name) => {
            check_name("NAME", name)?;
            Ok(name.clone())
        }
    }
}

/// A cluster name given on the command line must be one scs-capi could have created
/// resources with.
///
/// # Errors
/// The name's problem (exit 2).
pub fn check_name(flag: &str, value: &str) -> Result<()> {
    match crate::settings::validate::dns_label_problem(value) {
        None => Ok(()),
        Some(problem) => Err(Error::usage(
            format!("`{flag} {value}`: the name {problem}"),
            Some(
                "cluster names and prefixes are lower-case letters, digits and `-`, starting \
                 with a letter (as in the settings' `cluster_name` and `prefix`)"
                    .to_string(),
            ),
        )),
    }
}
