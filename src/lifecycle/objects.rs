//! The rendered cluster manifests as objects for the management cluster: parsed, put in
//! the namespace [`super::NAMESPACE`], ordered so that what an object references is
//! applied before it (Secrets and machine/config templates, then the infrastructure and
//! control plane, then the Cluster, then the MachineDeployments), and compared with the
//! live objects for `--dry-run`.
//!
//! Pure except [`compare_live`], which only reads.

use kube::api::DynamicObject;
use serde::Serialize;
use serde_json::Value;

use crate::mgmt::MgmtError;
use crate::mgmt::apply::{Kinds, describe, parse_manifest};

/// Apply rank: lower first.
fn rank(kind: &str) -> u8 {
    match kind {
        "Namespace" => 0,
        "Secret" | "ConfigMap" => 1,
        k if k.ends_with("Template") => 2,
        "OpenStackCluster" | "KubeadmControlPlane" => 3,
        "Cluster" => 4,
        "MachineDeployment" => 5,
        _ => 6,
    }
}

/// Parses the rendered manifests; every object gets [`super::NAMESPACE`] unless it names
/// one, and the list is in apply order (file order within a rank).
///
/// # Errors
/// When the text is not a list of Kubernetes objects.
pub fn cluster_objects(manifests: &str) -> Result<Vec<DynamicObject>, MgmtError> {
    let mut objs = parse_manifest("the rendered manifests", manifests)?;
    for o in &mut objs {
        if o.metadata.namespace.is_none() {
            o.metadata.namespace = Some(super::NAMESPACE.to_string());
        }
    }
    objs.sort_by_key(|o| rank(o.types.as_ref().map_or("", |t| t.kind.as_str())));
    Ok(objs)
}

pub fn kind_of(o: &DynamicObject) -> &str {
    o.types.as_ref().map_or("", |t| t.kind.as_str())
}

/// What applying an object would do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Change {
    Create,
    Change,
    Unchanged,
}

/// One line of a dry run.
#[derive(Debug, Clone, Serialize)]
pub struct Planned {
    pub object: String,
    pub change: Change,
    /// The fields that differ (JSON pointers), for `change`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<String>,
}

/// The JSON pointers under which `want` has values that `live` lacks or holds differently
/// (maps compared key by key, everything else by equality). Server-set fields of `live`
/// do not count: SSA leaves them alone.
pub fn differences(want: &Value, live: &Value) -> Vec<String> {
    let mut out = Vec::new();
    diff_into(want, live, String::new(), &mut out);
    out
}

fn diff_into(want: &Value, live: &Value, at: String, out: &mut Vec<String>) {
    match (want, live) {
        (Value::Object(w), Value::Object(l)) => {
            for (k, wv) in w {
                let path = format!("{at}/{}", k.replace('~', "~0").replace('/', "~1"));
                match l.get(k) {
                    Some(lv) => diff_into(wv, lv, path, out),
                    None if wv.is_null() => {}
                    None => out.push(path),
                }
            }
        }
        (Value::Array(w), Value::Array(l)) if w.len() == l.len() => {
            for (i, (wv, lv)) in w.iter().zip(l).enumerate() {
                diff_into(wv, lv, format!("{at}/{i}"), out);
            }
        }
        _ if want == live => {}
        _ => out.push(if at.is_empty() { "/".into() } else { at }),
    }
}

/// The applied part of an object: everything but `status` and the server's metadata.
fn applied_part(o: &DynamicObject) -> Value {
    let mut v = serde_json::to_value(o).unwrap_or(Value::Null);
    if let Some(m) = v.as_object_mut() {
        m.remove("status");
    }
    v
}

/// Compares every object with its live version (read-only).
///
/// # Errors
/// When a kind is unknown to the cluster or a read fails.
pub async fn compare_live(
    kinds: &mut Kinds,
    objs: &[DynamicObject],
) -> Result<Vec<Planned>, MgmtError> {
    let mut out = Vec::new();
    for o in objs {
        let live = kinds.get(o, Some(super::NAMESPACE)).await?;
        let (change, fields) = match live {
            None => (Change::Create, Vec::new()),
            Some(live) => {
                let fields = differences(
                    &applied_part(o),
                    &serde_json::to_value(&live).unwrap_or(Value::Null),
                );
                if fields.is_empty() {
                    (Change::Unchanged, fields)
                } else {
                    (Change::Change, fields)
                }
            }
        };
        out.push(Planned {
            object: describe(o),
            change,
            fields,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn templates_before_what_references_them() {
        let text = "apiVersion: cluster.x-k8s.io/v1beta2\nkind: MachineDeployment\nmetadata: {name: md}\n---\n\
                    apiVersion: cluster.x-k8s.io/v1beta2\nkind: Cluster\nmetadata: {name: c}\n---\n\
                    apiVersion: infrastructure.cluster.x-k8s.io/v1beta1\nkind: OpenStackMachineTemplate\nmetadata: {name: t}\n---\n\
                    apiVersion: v1\nkind: Secret\nmetadata: {name: s}\n---\n\
                    apiVersion: controlplane.cluster.x-k8s.io/v1beta2\nkind: KubeadmControlPlane\nmetadata: {name: cp}\n";
        let objs = cluster_objects(text).unwrap();
        let order: Vec<String> = objs.iter().map(describe).collect();
        assert_eq!(
            order,
            [
                "Secret default/s",
                "OpenStackMachineTemplate default/t",
                "KubeadmControlPlane default/cp",
                "Cluster default/c",
                "MachineDeployment default/md"
            ]
        );
    }

    #[test]
    fn differences_ignore_server_fields_and_name_changed_paths() {
        let want = json!({"spec": {"replicas": 3, "template": {"name": "a/b"}}, "metadata": {"name": "x"}});
        let live = json!({"spec": {"replicas": 1, "template": {"name": "a/b"}, "extra": 1},
                          "metadata": {"name": "x", "uid": "u"}, "status": {}});
        assert_eq!(differences(&want, &live), ["/spec/replicas"]);
        let same = json!({"spec": {"replicas": 3, "template": {"name": "a/b"}}, "metadata": {"name": "x", "uid": "u"}});
        assert!(differences(&want, &same).is_empty());
        assert_eq!(
            differences(&json!({"a": [1, 2]}), &json!({"a": [1]})),
            ["/a"]
        );
        assert_eq!(differences(&json!({"a~/b": 1}), &json!({})), ["/a~0~1b"]);
    }
}
