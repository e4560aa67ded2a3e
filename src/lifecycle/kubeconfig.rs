//! The workload cluster's admin kubeconfig: read from the Secret `<cluster>-kubeconfig`
//! (`data.value`) that CAPI writes on the management cluster, saved 0600 in the cluster's
//! state directory, and merged into the user's kubeconfig on request without touching its
//! other clusters, users and contexts.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use k8s_openapi::api::core::v1::Secret;
use kube::{Api, Client};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::mgmt::MgmtError;
use crate::mgmt::client::api_error;

/// The context CAPI names in the kubeconfig.
pub fn context_name(cluster: &str) -> String {
    format!("{cluster}-admin@{cluster}")
}

/// The file in the state directory.
pub fn path_in(state_dir: &Path) -> PathBuf {
    state_dir.join("kubeconfig")
}

/// The kubeconfig text from `<cluster>-kubeconfig`, `None` while CAPI has not written it.
///
/// # Errors
/// API failures, or a Secret without a readable `data.value`.
pub async fn fetch(
    client: &Client,
    server: &str,
    ns: &str,
    cluster: &str,
) -> Result<Option<String>, MgmtError> {
    let name = format!("{cluster}-kubeconfig");
    let api: Api<Secret> = Api::namespaced(client.clone(), ns);
    let Some(secret) = api
        .get_opt(&name)
        .await
        .map_err(|e| api_error(&format!("reading Secret `{ns}/{name}`"), server, e))?
    else {
        return Ok(None);
    };
    let value = secret
        .data
        .as_ref()
        .and_then(|d| d.get("value"))
        .map(|b| b.0.clone())
        .ok_or_else(|| MgmtError::new(format!("Secret `{ns}/{name}` has no `data.value`"))
            .hint("the Secret is CAPI's; wait for the control plane to initialize, or check the KubeadmControlPlane"))?;
    String::from_utf8(value)
        .map(Some)
        .map_err(|_| MgmtError::new(format!("`data.value` of Secret `{ns}/{name}` is not text")))
}

/// Checks that `text` is a kubeconfig with the context CAPI gives `cluster`.
///
/// # Errors
/// When it does not parse or lacks the context.
pub fn check(text: &str, cluster: &str) -> Result<(), MgmtError> {
    let v: Value = serde_saphyr::from_str(text).map_err(|e| {
        MgmtError::new(format!(
            "the kubeconfig of cluster `{cluster}` is not valid YAML: {e}"
        ))
    })?;
    let ctx = context_name(cluster);
    let has = v["contexts"]
        .as_array()
        .is_some_and(|l| l.iter().any(|c| c["name"] == ctx.as_str()));
    if has {
        Ok(())
    } else {
        Err(MgmtError::new(format!(
            "the kubeconfig of cluster `{cluster}` has no context `{ctx}`"
        )))
    }
}

/// Writes the kubeconfig to `<state_dir>/kubeconfig` (0600; directory 0700) and returns
/// the path.
///
/// # Errors
/// When the directory or file cannot be written.
pub fn save(state_dir: &Path, text: &str) -> Result<PathBuf> {
    create_private_dir(state_dir)?;
    let path = path_in(state_dir);
    crate::fsutil::write_file(&path, text.as_bytes(), 0o600)?;
    Ok(path)
}

pub(crate) fn create_private_dir(dir: &Path) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|source| Error::Write {
            path: dir.to_path_buf(),
            source,
        })
}

/// `existing` with the clusters, users and contexts of `new` added or replaced by name;
/// everything else of `existing` stays. The current context is set only when `existing`
/// has none.
///
/// # Errors
/// When either text is not a kubeconfig.
pub fn merge(existing: Option<&str>, new: &str) -> Result<String, MgmtError> {
    let parse = |t: &str, what: &str| -> Result<Value, MgmtError> {
        let v: Value = serde_saphyr::from_str(t)
            .map_err(|e| MgmtError::new(format!("{what} is not valid YAML: {e}")))?;
        match v {
            Value::Null => Ok(serde_json::json!({"apiVersion": "v1", "kind": "Config"})),
            Value::Object(_) => Ok(v),
            _ => Err(MgmtError::new(format!(
                "{what} is not a kubeconfig (not a map)"
            ))),
        }
    };
    let mut base = parse(existing.unwrap_or(""), "the existing kubeconfig")?;
    let add = parse(new, "the cluster's kubeconfig")?;
    for section in ["clusters", "users", "contexts"] {
        let incoming = add[section].as_array().cloned().unwrap_or_default();
        let list = base
            .as_object_mut()
            .map(|m| m.entry(section).or_insert_with(|| Value::Array(Vec::new())));
        let Some(Value::Array(list)) = list else {
            return Err(MgmtError::new(format!(
                "`{section}` of the existing kubeconfig is not a list"
            )));
        };
        for entry in incoming {
            match list.iter_mut().find(|e| e["name"] == entry["name"]) {
                Some(slot) => *slot = entry,
                None => list.push(entry),
            }
        }
    }
    if base["current-context"].as_str().is_none_or(str::is_empty)
        && let Some(c) = add["current-context"].as_str()
        && let Some(m) = base.as_object_mut()
    {
        m.insert("current-context".into(), Value::String(c.into()));
    }
    serde_saphyr::to_string(&base)
        .map_err(|e| MgmtError::new(format!("cannot write the merged kubeconfig: {e}")))
}

/// The user's kubeconfig file: the first entry of `KUBECONFIG`, else `~/.kube/config`.
pub fn user_kubeconfig_path() -> Option<PathBuf> {
    match std::env::var("KUBECONFIG").ok().filter(|v| !v.is_empty()) {
        Some(v) => v.split(':').find(|p| !p.is_empty()).map(PathBuf::from),
        None => std::env::var_os("HOME")
            .filter(|h| !h.is_empty())
            .map(|h| PathBuf::from(h).join(".kube").join("config")),
    }
}

/// Merges `text` into the file at `path` (created when missing), written 0600.
///
/// # Errors
/// When the file cannot be read, parsed or written.
pub fn merge_into(path: &Path, text: &str) -> Result<()> {
    let existing = match std::fs::read_to_string(path) {
        Ok(t) => Some(t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(source) => {
            return Err(Error::Read {
                path: path.to_path_buf(),
                source,
            });
        }
    };
    let merged = merge(existing.as_deref(), text)
        .map_err(|e| MgmtError::new(format!("{} (`{}`)", e.message, path.display())))?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        create_private_dir(dir)?;
    }
    crate::fsutil::write_file(path, merged.as_bytes(), 0o600)
}

/// Decodes base64 text (for tests and callers holding raw Secret data).
pub fn decode_b64(s: &str) -> Option<String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(s.trim())
        .ok()?;
    String::from_utf8(bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const NEW: &str = "apiVersion: v1\nkind: Config\nclusters:\n- name: foo\n  cluster: {server: 'https://1.2.3.4:6443'}\n\
        contexts:\n- name: foo-admin@foo\n  context: {cluster: foo, user: foo-admin}\ncurrent-context: foo-admin@foo\n\
        users:\n- name: foo-admin\n  user: {token: t2}\n";

    #[test]
    fn merge_keeps_other_entries_and_replaces_same_names() {
        let old = "apiVersion: v1\nkind: Config\nclusters:\n- name: other\n  cluster: {server: 'https://9.9.9.9'}\n- name: foo\n  cluster: {server: 'https://old'}\n\
            contexts:\n- name: other\n  context: {cluster: other, user: u}\ncurrent-context: other\nusers:\n- name: u\n  user: {token: t1}\n";
        let merged = merge(Some(old), NEW).unwrap();
        let v: Value = serde_saphyr::from_str(&merged).unwrap();
        let names = |s: &str| {
            v[s].as_array()
                .unwrap()
                .iter()
                .map(|e| e["name"].as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(names("clusters"), ["other", "foo"]);
        assert_eq!(
            v["clusters"][1]["cluster"]["server"],
            "https://1.2.3.4:6443"
        );
        assert_eq!(names("users"), ["u", "foo-admin"]);
        assert_eq!(names("contexts"), ["other", "foo-admin@foo"]);
        assert_eq!(
            v["current-context"], "other",
            "the user's current context stays"
        );
        let fresh: Value = serde_saphyr::from_str(&merge(None, NEW).unwrap()).unwrap();
        assert_eq!(fresh["current-context"], "foo-admin@foo");
    }

    #[test]
    fn check_wants_capis_context() {
        assert!(check(NEW, "foo").is_ok());
        assert!(
            check(NEW, "bar")
                .unwrap_err()
                .message
                .contains("`bar-admin@bar`")
        );
    }
}
