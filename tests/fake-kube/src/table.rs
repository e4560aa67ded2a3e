//! Server-side printing (`Accept: application/json;as=Table;g=meta.k8s.io;v=v1`), which
//! `kubectl get` asks for: a `meta.k8s.io/v1` `Table` with a Name column, a CRD's
//! `additionalPrinterColumns` (JSONPath subset: `.a.b`, `['a\.b']`, `[0]`,
//! `[?(@.type=="Ready")]`), and Age. Nodes get the real server's columns (Status, Roles,
//! Age, Version, so `kubectl get nodes` reads as on a real cluster); other built-in kinds
//! get Name and Age only (the real server has kind-specific columns). Rows carry
//! `PartialObjectMetadata`.

use crate::registry::ResourceType;
use serde_json::{Value, json};

/// Whether the client asked for a Table.
pub fn wanted(accept: Option<&str>) -> Option<()> {
    accept
        .filter(|a| {
            a.split(',')
                .next()
                .is_some_and(|first| first.contains("as=Table"))
        })
        .map(|_| ())
}

#[derive(Debug, PartialEq)]
enum Step {
    Key(String),
    Index(usize),
    Filter(String, String),
}

fn parse(path: &str) -> Option<Vec<Step>> {
    let mut steps = Vec::new();
    let b = path.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'.' => {
                let start = i + 1;
                let mut j = start;
                while j < b.len() && b[j] != b'.' && b[j] != b'[' {
                    j += 1;
                }
                if j > start {
                    steps.push(Step::Key(path[start..j].to_string()));
                }
                i = j;
            }
            b'[' => {
                let end = path[i..].find(']')? + i;
                let inner = &path[i + 1..end];
                if let Some(f) = inner.strip_prefix("?(@.").and_then(|f| f.strip_suffix(')')) {
                    let (k, v) = f.split_once("==")?;
                    steps.push(Step::Filter(
                        k.trim().to_string(),
                        v.trim().trim_matches('"').trim_matches('\'').to_string(),
                    ));
                } else if let Some(q) = inner.strip_prefix('\'').and_then(|q| q.strip_suffix('\''))
                {
                    steps.push(Step::Key(q.replace("\\.", ".")));
                } else {
                    steps.push(Step::Index(inner.parse().ok()?));
                }
                i = end + 1;
            }
            _ => return None,
        }
    }
    Some(steps)
}

/// Evaluates the JSONPath subset on `obj` (None when nothing matches).
pub fn eval(obj: &Value, path: &str) -> Option<Value> {
    let mut cur = obj.clone();
    for s in parse(path)? {
        cur = match s {
            Step::Key(k) => cur.get(&k)?.clone(),
            Step::Index(n) => cur.get(n)?.clone(),
            Step::Filter(k, v) => cur
                .as_array()?
                .iter()
                .find(|x| x.get(&k).and_then(Value::as_str) == Some(v.as_str()))?
                .clone(),
        };
    }
    Some(cur)
}

/// `5s`, `3m`, `2h`, `4d` since an RFC 3339 timestamp.
pub fn age(ts: &str) -> String {
    let Ok(t) = chrono::DateTime::parse_from_rfc3339(ts) else {
        return "<unknown>".into();
    };
    let secs = (chrono::Utc::now() - t.with_timezone(&chrono::Utc))
        .num_seconds()
        .max(0);
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 7200 => format!("{}m", s / 60),
        s if s < 172_800 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

pub fn table(
    t: &ResourceType,
    version: &str,
    items: &[Value],
    _wanted: (),
    meta: Option<Value>,
) -> Value {
    if !t.custom && t.group.is_empty() && t.kind == "Node" {
        return node_table(items, meta);
    }
    let cols: Vec<crate::registry::PrinterColumn> = t
        .printer_columns
        .iter()
        .find(|(v, _)| v == version)
        .map(|(_, c)| c.clone())
        .unwrap_or_default();
    let has_age = cols
        .iter()
        .any(|(_, p, _)| p == ".metadata.creationTimestamp");
    let mut defs = vec![json!({"name": "Name", "type": "string", "format": "name",
        "description": "Name must be unique within a namespace.", "priority": 0})];
    for (name, _, ty) in &cols {
        let ty = if ty == "date" { "string" } else { ty.as_str() };
        defs.push(
            json!({"name": name, "type": ty, "format": "", "description": "", "priority": 0}),
        );
    }
    if !has_age {
        defs.push(json!({"name": "Age", "type": "string", "format": "", "description": "", "priority": 0}));
    }
    let rows: Vec<Value> = items
        .iter()
        .map(|o| {
            let mut cells = vec![o["metadata"]["name"].clone()];
            for (_, path, ty) in &cols {
                let v = eval(o, path).unwrap_or(Value::Null);
                cells.push(match (ty.as_str(), &v) {
                    ("date", Value::String(s)) => json!(age(s)),
                    _ => v,
                });
            }
            if !has_age {
                cells.push(json!(age(o["metadata"]["creationTimestamp"]
                    .as_str()
                    .unwrap_or(""))));
            }
            json!({"cells": cells, "object": {"kind": "PartialObjectMetadata",
                "apiVersion": "meta.k8s.io/v1", "metadata": o["metadata"]}})
        })
        .collect();
    json!({"kind": "Table", "apiVersion": "meta.k8s.io/v1",
        "metadata": meta.unwrap_or_else(|| json!({})), "columnDefinitions": defs, "rows": rows})
}

/// `kubectl get nodes` as the real API server prints it: NAME STATUS ROLES AGE VERSION.
fn node_table(items: &[Value], meta: Option<Value>) -> Value {
    let col = |name: &str, format: &str| json!({"name": name, "type": "string", "format": format, "description": "", "priority": 0});
    let defs = vec![
        col("Name", "name"),
        col("Status", ""),
        col("Roles", ""),
        col("Age", ""),
        col("Version", ""),
    ];
    let rows: Vec<Value> = items
        .iter()
        .map(|n| {
            let ready = n["status"]["conditions"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|c| c["type"] == "Ready")
                .map(|c| c["status"] == "True");
            let mut status = match ready {
                Some(true) => "Ready".to_string(),
                Some(false) => "NotReady".to_string(),
                None => "Unknown".to_string(),
            };
            if n["spec"]["unschedulable"] == true {
                status.push_str(",SchedulingDisabled");
            }
            let mut roles: Vec<&str> = n["metadata"]["labels"]
                .as_object()
                .into_iter()
                .flatten()
                .filter_map(|(k, _)| k.strip_prefix("node-role.kubernetes.io/"))
                .filter(|r| !r.is_empty())
                .collect();
            roles.sort_unstable();
            let roles = if roles.is_empty() {
                "<none>".to_string()
            } else {
                roles.join(",")
            };
            let cells = json!([
                n["metadata"]["name"],
                status,
                roles,
                age(n["metadata"]["creationTimestamp"].as_str().unwrap_or("")),
                n["status"]["nodeInfo"]["kubeletVersion"]
            ]);
            json!({"cells": cells, "object": {"kind": "PartialObjectMetadata",
                "apiVersion": "meta.k8s.io/v1", "metadata": n["metadata"]}})
        })
        .collect();
    json!({"kind": "Table", "apiVersion": "meta.k8s.io/v1",
        "metadata": meta.unwrap_or_else(|| json!({})), "columnDefinitions": defs, "rows": rows})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jsonpath_subset_used_by_capi_printer_columns() {
        let o = json!({"metadata": {"labels": {"cluster.x-k8s.io/cluster-name": "demo"}},
            "status": {"phase": "Provisioned", "conditions": [
                {"type": "Available", "status": "False"}, {"type": "Ready", "status": "True"}]},
            "spec": {"l": [1, 2]}});
        assert_eq!(eval(&o, ".status.phase"), Some(json!("Provisioned")));
        assert_eq!(
            eval(&o, ".metadata.labels['cluster\\.x-k8s\\.io/cluster-name']"),
            Some(json!("demo"))
        );
        assert_eq!(
            eval(&o, ".status.conditions[?(@.type==\"Ready\")].status"),
            Some(json!("True"))
        );
        assert_eq!(eval(&o, ".spec.l[1]"), Some(json!(2)));
        assert_eq!(eval(&o, ".status.missing"), None);
    }

    #[test]
    fn accept_header_detection() {
        assert!(
            wanted(Some(
                "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
            ))
            .is_some()
        );
        assert!(wanted(Some("application/json")).is_none());
        assert!(wanted(None).is_none());
    }
}
