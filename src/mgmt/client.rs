//! The Kubernetes client of the management cluster: which kubeconfig (`--kubeconfig`, else
//! `KUBECONFIG` with its `:`-separated merge, else `~/.kube/config`), which context
//! (`--context`, else the kubeconfig's current context; R4's was `kind-kind`), and the
//! `kube::Client` built from them.
//!
//! The TLS trap this module exists to avoid: with reqwest 0.13 and `openstack_sdk` in the
//! same binary, rustls must end up with exactly one crypto provider, or
//! `kube::Client::try_from` panics at run time. Cargo.toml builds kube without its default
//! `ring` feature and with `aws-lc-rs` (the provider reqwest uses); the integration test
//! `tests/mgmt_kube_client.rs` builds real clients next to an `openstack_sdk` session and
//! fails if that comes back.
//!
//! It does not talk to the API server (callers do, with the client it returns).

use std::path::{Path, PathBuf};

use kube::config::{KubeConfigOptions, Kubeconfig};

use super::MgmtError;

/// Where the kubeconfig comes from and which context to use.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Target {
    /// `--kubeconfig`; `None` = `KUBECONFIG` or `~/.kube/config`.
    pub kubeconfig: Option<PathBuf>,
    /// `--context`; `None` = the current context.
    pub context: Option<String>,
}

/// A loaded kubeconfig with the context that will be used.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub kubeconfig: Kubeconfig,
    /// Where it was read from (for messages and for `clusterctl --kubeconfig`).
    pub origin: Origin,
    /// The context to use.
    pub context: String,
    /// The API server URL of that context.
    pub server: String,
}

/// Where a kubeconfig was read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    File(PathBuf),
    /// `KUBECONFIG` (one or more files, merged).
    Env(String),
    /// Built in memory (tests).
    Memory,
}

impl Origin {
    pub fn describe(&self) -> String {
        match self {
            Origin::File(p) => format!("`{}`", p.display()),
            Origin::Env(v) => format!("`KUBECONFIG={v}`"),
            Origin::Memory => "the given kubeconfig".into(),
        }
    }

    /// The file to hand to `clusterctl --kubeconfig`, when there is exactly one.
    pub fn single_file(&self) -> Option<PathBuf> {
        match self {
            Origin::File(p) => Some(p.clone()),
            Origin::Env(v) if !v.contains(':') && !v.is_empty() => Some(PathBuf::from(v)),
            _ => None,
        }
    }
}

/// Reads the kubeconfig for `target` and picks the context.
///
/// # Errors
/// When no kubeconfig can be read or parsed, it has no current context and none was given,
/// or the context does not exist.
pub fn load(target: &Target) -> Result<Loaded, MgmtError> {
    let (kubeconfig, origin) = match &target.kubeconfig {
        Some(path) => (read_file(path)?, Origin::File(path.clone())),
        None => match std::env::var("KUBECONFIG").ok().filter(|v| !v.is_empty()) {
            Some(v) => (read_env_list(&v)?, Origin::Env(v)),
            None => {
                let path = default_path().ok_or_else(|| {
                    MgmtError::new("no kubeconfig: `--kubeconfig` is not given, `KUBECONFIG` is not set and there is no home directory")
                        .hint("pass `--kubeconfig FILE`")
                })?;
                (read_file(&path)?, Origin::File(path))
            }
        },
    };
    select(kubeconfig, origin, target.context.as_deref())
}

/// Picks the context in an already parsed kubeconfig.
///
/// # Errors
/// As [`load`] for context problems.
pub fn select(
    kubeconfig: Kubeconfig,
    origin: Origin,
    context: Option<&str>,
) -> Result<Loaded, MgmtError> {
    let names: Vec<&str> = kubeconfig
        .contexts
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    let context = match context.or(kubeconfig.current_context.as_deref()) {
        Some(c) => c.to_string(),
        None => {
            return Err(MgmtError::new(format!(
                "the kubeconfig from {} has no current context",
                origin.describe()
            ))
            .hint(context_hint(&names)));
        }
    };
    let Some(ctx) = kubeconfig.contexts.iter().find(|c| c.name == context) else {
        return Err(MgmtError::new(format!(
            "the kubeconfig from {} has no context `{context}`",
            origin.describe()
        ))
        .hint(context_hint(&names)));
    };
    let cluster_name = ctx
        .context
        .as_ref()
        .map(|c| c.cluster.clone())
        .unwrap_or_default();
    let server = kubeconfig
        .clusters
        .iter()
        .find(|c| c.name == cluster_name)
        .and_then(|c| c.cluster.as_ref())
        .and_then(|c| c.server.clone())
        .ok_or_else(|| {
            MgmtError::new(format!(
                "context `{context}` in the kubeconfig from {} names cluster `{cluster_name}`, \
                 which has no server",
                origin.describe()
            ))
            .hint("fix the kubeconfig, or pick another context with `--context`")
        })?;
    Ok(Loaded {
        kubeconfig,
        origin,
        context,
        server,
    })
}

fn context_hint(names: &[&str]) -> String {
    if names.is_empty() {
        "the kubeconfig has no contexts at all; point `--kubeconfig` at the management cluster's"
            .into()
    } else {
        format!(
            "pick one with `--context`: {}",
            names
                .iter()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    }
}

fn default_path() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(|h| PathBuf::from(h).join(".kube").join("config"))
}

fn read_file(path: &Path) -> Result<Kubeconfig, MgmtError> {
    crate::secret_yaml::kubeconfig_file(path).map_err(|e| {
        let hint = if e.is_syntax() {
            crate::secret_yaml::Redacted::HINT
        } else {
            "pass the management cluster's kubeconfig with `--kubeconfig FILE`"
        };
        MgmtError::new(format!(
            "cannot read the kubeconfig `{}`: {e}",
            path.display()
        ))
        .hint(hint)
    })
}

/// The files of `KUBECONFIG` merged as kubectl does (the first to set a name wins), each
/// read with [`read_file`] so an error names its file.
fn read_env_list(value: &str) -> Result<Kubeconfig, MgmtError> {
    let mut merged = Kubeconfig::default();
    for path in std::env::split_paths(value).filter(|p| !p.as_os_str().is_empty()) {
        let next = read_file(&path)?;
        merged = merged.merge(next).map_err(|e| {
            MgmtError::new(format!(
                "cannot merge the kubeconfig `{}` from `KUBECONFIG={value}`: {e}",
                path.display()
            ))
            .hint("point `KUBECONFIG` at readable kubeconfig files, or pass `--kubeconfig FILE`")
        })?;
    }
    Ok(merged)
}

/// Builds the client for the selected context. Does not contact the server.
///
/// # Errors
/// When the context's credentials or certificates are unusable.
pub async fn client(loaded: &Loaded) -> Result<kube::Client, MgmtError> {
    let opts = KubeConfigOptions {
        context: Some(loaded.context.clone()),
        ..Default::default()
    };
    let config = kube::Config::from_custom_kubeconfig(loaded.kubeconfig.clone(), &opts)
        .await
        .map_err(|e| {
            MgmtError::new(format!(
                "cannot use context `{}` of the kubeconfig from {}: {e}",
                loaded.context,
                loaded.origin.describe()
            ))
            .hint("check the context's certificates, token or exec plugin")
            .source(e)
        })?;
    kube::Client::try_from(config).map_err(|e| {
        MgmtError::new(format!(
            "cannot build a Kubernetes client for context `{}`: {e}",
            loaded.context
        ))
        .source(e)
    })
}

/// The error for a request to the management cluster that failed, naming what was being
/// done and the server.
pub fn api_error(what: &str, server: &str, e: kube::Error) -> MgmtError {
    let hint = match &e {
        kube::Error::Api(s) if s.code == 401 || s.code == 403 => {
            "the kubeconfig's user may not do this; use an admin context of the management cluster"
        }
        kube::Error::Api(_) => "the management cluster refused the request; see its message above",
        _ => {
            "check that the management cluster is running and reachable (`--kubeconfig`, `--context`)"
        }
    };
    MgmtError::new(format!(
        "{what} on the management cluster `{server}` failed: {e}"
    ))
    .hint(hint)
    .source(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KC: &str = r#"
apiVersion: v1
kind: Config
current-context: kind-kind
clusters:
- name: kind-kind
  cluster:
    server: https://127.0.0.1:6443
- name: broken
  cluster: {}
contexts:
- name: kind-kind
  context: {cluster: kind-kind, user: admin}
- name: other
  context: {cluster: broken, user: admin}
users:
- name: admin
  user: {token: abc}
"#;

    fn kc() -> Kubeconfig {
        Kubeconfig::from_yaml(KC).unwrap()
    }

    #[test]
    fn current_context_is_the_default() {
        let l = select(kc(), Origin::Memory, None).unwrap();
        assert_eq!(l.context, "kind-kind");
        assert_eq!(l.server, "https://127.0.0.1:6443");
    }

    #[test]
    fn unknown_context_lists_the_known_ones() {
        let e = select(kc(), Origin::Memory, Some("prod")).unwrap_err();
        assert!(e.message.contains("no context `prod`"), "{e}");
        assert_eq!(
            e.hint.as_deref(),
            Some("pick one with `--context`: `kind-kind`, `other`")
        );
        let e = select(kc(), Origin::Memory, Some("other")).unwrap_err();
        assert!(e.message.contains("which has no server"), "{e}");
    }

    #[test]
    fn missing_file_names_it() {
        let e = load(&Target {
            kubeconfig: Some("/nonexistent/kubeconfig".into()),
            context: None,
        })
        .unwrap_err();
        assert!(e.message.contains("`/nonexistent/kubeconfig`"), "{e}");
    }

    #[test]
    fn single_file_for_clusterctl() {
        assert_eq!(
            Origin::Env("/a:/b".into()).single_file(),
            None,
            "a merged KUBECONFIG cannot be handed on as one file"
        );
        assert_eq!(Origin::Env("/a".into()).single_file(), Some("/a".into()));
    }
}
