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
    let v: Value = crate::secret_yaml::from_str(text).map_err(|e| {
        MgmtError::new(format!(
            "the kubeconfig of cluster `{cluster}` (Secret `{cluster}-kubeconfig`) is not valid: {e}"
        ))
        .hint(crate::secret_yaml::Redacted::HINT)
    })?;
    refuse_local_credentials(&v, cluster)?;
    let ctx = context_name(cluster);
    let has = v["contexts"]
        .as_array()
        .is_some_and(|l| l.iter().any(|c| c["name"] == ctx.as_str()));
    if has {
        Ok(())
    } else {
        Err(MgmtError::new(format!(
            "the kubeconfig of cluster `{cluster}` (Secret `{cluster}-kubeconfig`) has no context `{ctx}`"
        )))
    }
}

/// What a user entry of a workload kubeconfig may hold. CAPI writes a client certificate
/// and key; anyone who can write the Secret in the management cluster could otherwise make
/// kubectl run a program (`exec`, `auth-provider`) or send a local file as a token
/// (`tokenFile`) on the operator's machine.
const ALLOWED_USER_KEYS: &[&str] = &["client-certificate-data", "client-key-data", "token"];

/// Refuses user entries with anything but inline credentials ([`ALLOWED_USER_KEYS`]).
fn refuse_local_credentials(v: &Value, cluster: &str) -> Result<(), MgmtError> {
    let users = v["users"].as_array().map(Vec::as_slice).unwrap_or_default();
    for u in users {
        let name = u["name"].as_str().unwrap_or("");
        let Some(fields) = u["user"].as_object() else {
            continue;
        };
        let mut refused: Vec<&str> = fields
            .keys()
            .map(String::as_str)
            .filter(|k| !ALLOWED_USER_KEYS.contains(k))
            .collect();
        refused.sort_unstable();
        if !refused.is_empty() {
            return Err(MgmtError::new(format!(
                "the kubeconfig of cluster `{cluster}` (Secret `{cluster}-kubeconfig`) is refused: \
                 user `{name}` has {}",
                refused
                    .iter()
                    .map(|k| format!("`{k}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
            .hint(
                "CAPI writes only a client certificate and key; an `exec` or `auth-provider` \
                 entry would run a program on this machine. Check who can write Secrets in the \
                 management cluster's namespace, then delete the Secret so CAPI writes it anew",
            ));
        }
    }
    Ok(())
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
/// An entry of `existing` with the same name is replaced only when it is this cluster's:
/// a cluster entry with the same server, a context whose cluster has that server, a user
/// used by no context of another server. Anything else (a second `foo` from another
/// management cluster) is refused, so no other cluster's entry is ever repointed.
///
/// # Errors
/// When either text is not a kubeconfig, or a name is taken by another cluster.
pub fn merge(existing: Option<&str>, new: &str) -> Result<String, MgmtError> {
    let parse = |t: &str, what: &str| -> Result<Value, MgmtError> {
        let v: Value = crate::secret_yaml::from_str(t).map_err(|e| {
            MgmtError::new(format!("{what} is not valid: {e}"))
                .hint(crate::secret_yaml::Redacted::HINT)
        })?;
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
    let conflicts = foreign_entries(&base, &add);
    if !conflicts.is_empty() {
        return Err(MgmtError::new(format!(
            "the existing kubeconfig has entries of the same names for another cluster: {}; nothing was merged",
            conflicts.join(", ")
        ))
        .hint("rename or remove those entries (`kubectl config rename-context`, `kubectl config delete-cluster`), or use the cluster's kubeconfig file printed above with `--kubeconfig`"));
    }
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

/// The entries of `base` that `add` would replace although they belong to another server,
/// described for the error (names and servers only, never credentials).
fn foreign_entries(base: &Value, add: &Value) -> Vec<String> {
    let entries = |v: &Value, section: &str| -> Vec<Value> {
        v[section].as_array().cloned().unwrap_or_default()
    };
    let server_of = |v: &Value, cluster: &str| -> Option<String> {
        entries(v, "clusters")
            .iter()
            .find(|c| c["name"] == cluster)
            .and_then(|c| c["cluster"]["server"].as_str().map(String::from))
    };
    // Every server the new kubeconfig talks to (one, for CAPI's).
    let new_servers: Vec<String> = entries(add, "clusters")
        .iter()
        .filter_map(|c| c["cluster"]["server"].as_str().map(String::from))
        .collect();
    let ours = |server: Option<String>| server.is_none_or(|s| new_servers.contains(&s));
    let mut out = Vec::new();
    for c in entries(add, "clusters") {
        let name = c["name"].as_str().unwrap_or("");
        if let Some(old) = server_of(base, name)
            && Some(old.as_str()) != c["cluster"]["server"].as_str()
        {
            out.push(format!("cluster `{name}` (server {old})"));
        }
    }
    for c in entries(add, "contexts") {
        let name = c["name"].as_str().unwrap_or("");
        if let Some(old) = entries(base, "contexts").iter().find(|e| e["name"] == name) {
            let cluster = old["context"]["cluster"].as_str().unwrap_or("");
            if !ours(server_of(base, cluster)) {
                out.push(format!("context `{name}` (cluster `{cluster}`)"));
            }
        }
    }
    for u in entries(add, "users") {
        let name = u["name"].as_str().unwrap_or("");
        for ctx in entries(base, "contexts") {
            if ctx["context"]["user"] == name {
                let cluster = ctx["context"]["cluster"].as_str().unwrap_or("");
                if !ours(server_of(base, cluster)) {
                    out.push(format!(
                        "user `{name}` (used by context `{}`)",
                        ctx["name"].as_str().unwrap_or("")
                    ));
                }
            }
        }
    }
    out
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

/// What [`merge_into`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Merged {
    /// The file written: the symlink's target when `path` is a symlink (which stays one).
    pub written: PathBuf,
    /// The previous file had comments, which the merged file does not keep.
    pub dropped_comments: bool,
}

/// Merges `text` into the file at `path` (created when missing), written 0600. A symlink
/// stays a symlink: its target is rewritten.
///
/// # Errors
/// When the file cannot be read, parsed or written, or a name is taken by another cluster.
pub fn merge_into(path: &Path, text: &str) -> Result<Merged> {
    let written = resolve_symlink(path)?;
    let existing = match std::fs::read_to_string(&written) {
        Ok(t) => Some(t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(source) => {
            return Err(Error::Read {
                path: path.to_path_buf(),
                source,
            });
        }
    };
    let merged = merge(existing.as_deref(), text).map_err(|mut e| {
        e.message = format!("{} (`{}`)", e.message, path.display());
        e
    })?;
    if let Some(dir) = written.parent().filter(|d| !d.as_os_str().is_empty()) {
        create_private_dir(dir)?;
    }
    crate::fsutil::write_file(&written, merged.as_bytes(), 0o600)?;
    Ok(Merged {
        written,
        dropped_comments: existing.as_deref().is_some_and(has_comments),
    })
}

/// `path` with every symlink resolved, so the atomic rename replaces the target and not the
/// link; `path` itself when it does not exist yet.
fn resolve_symlink(path: &Path) -> Result<PathBuf> {
    match std::fs::canonicalize(path) {
        Ok(p) => Ok(p),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if std::fs::symlink_metadata(path).is_ok() {
                // A dangling link: its target is what the user means; create that.
                let target = std::fs::read_link(path).map_err(|source| Error::Read {
                    path: path.to_path_buf(),
                    source,
                })?;
                Ok(path.parent().unwrap_or(Path::new(".")).join(target))
            } else {
                Ok(path.to_path_buf())
            }
        }
        Err(source) => Err(Error::Read {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Whether a YAML text has comments (a `#` starting a line or after a blank). A `#` after
/// a blank inside a quoted value counts too: then the warning is needless, never missing.
fn has_comments(text: &str) -> bool {
    text.lines().any(|l| {
        let t = l.trim_start();
        t.starts_with('#') || l.contains(" #") || l.contains("\t#")
    })
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
        let old = "apiVersion: v1\nkind: Config\nclusters:\n- name: other\n  cluster: {server: 'https://9.9.9.9'}\n- name: foo\n  cluster: {server: 'https://1.2.3.4:6443', insecure-skip-tls-verify: true}\n\
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
            v["clusters"][1]["cluster"],
            serde_json::json!({"server": "https://1.2.3.4:6443"}),
            "the same cluster's entry is replaced"
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
    fn merge_refuses_entries_of_another_server() {
        let other = "clusters:\n- name: foo\n  cluster: {server: 'https://elsewhere'}\n";
        let e = merge(Some(other), NEW).unwrap_err();
        assert!(
            e.message
                .contains("cluster `foo` (server https://elsewhere)"),
            "{e:?}"
        );
        // A user of the same name used by another cluster's context.
        let shared_user = "clusters:\n- name: x\n  cluster: {server: 'https://x'}\n\
            contexts:\n- name: x\n  context: {cluster: x, user: foo-admin}\n\
            users:\n- name: foo-admin\n  user: {token: theirs}\n";
        let e = merge(Some(shared_user), NEW).unwrap_err();
        assert!(
            e.message.contains("user `foo-admin` (used by context `x`)"),
            "{e:?}"
        );
        assert!(!e.message.contains("theirs"));
    }

    #[test]
    fn comments_are_noticed() {
        assert!(has_comments("# mine\napiVersion: v1\n"));
        assert!(has_comments("apiVersion: v1 # trailing\n"));
        assert!(!has_comments("apiVersion: v1\nkind: Config\n"));
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
