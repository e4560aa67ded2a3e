//! Field ownership (`metadata.managedFields`) in a coarse model: a field is a path of map
//! keys; maps are walked into, while lists and scalars (and empty maps) are owned whole.
//! So `metadata.labels.app` and `spec.replicas` are separate fields as in real server-side
//! apply, but `spec.template.spec.containers` is one atomic field (real SSA tracks list
//! items by their merge key). Ownership is kept per (manager, operation, subresource) and
//! written as `fieldsV1` (`{"f:spec": {"f:replicas": {}}}`).
//!
//! Which fields count: everything but `apiVersion`, `kind`, `status` (unless the entry is for
//! the `status` subresource, which owns only `status`) and the server-set metadata (`name`,
//! `namespace`, `uid`, `resourceVersion`, `generation`, `creationTimestamp`,
//! `deletionTimestamp`, `deletionGracePeriodSeconds`, `managedFields`, `selfLink`).

use serde_json::{Map, Value, json};
use std::collections::BTreeSet;

pub type Path = Vec<String>;
pub type FieldSet = BTreeSet<Path>;

const SERVER_METADATA: &[&str] = &[
    "name",
    "namespace",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "managedFields",
    "selfLink",
    "generateName",
];

/// One `managedFields` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub manager: String,
    /// `Apply` or `Update`.
    pub operation: String,
    pub api_version: String,
    pub time: String,
    /// `Some("status")` for the status subresource.
    pub subresource: Option<String>,
    pub fields: FieldSet,
}

fn walk(v: &Value, prefix: &mut Path, out: &mut FieldSet) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, child) in m {
                if child.is_null() {
                    continue;
                }
                prefix.push(k.clone());
                walk(child, prefix, out);
                prefix.pop();
            }
        }
        _ => {
            out.insert(prefix.clone());
        }
    }
}

/// The fields an object (or an applied configuration) sets, for the main resource
/// (`status == false`) or the status subresource.
pub fn fields_of(obj: &Value, status: bool) -> FieldSet {
    let mut out = FieldSet::new();
    let Some(m) = obj.as_object() else {
        return out;
    };
    for (k, v) in m {
        if v.is_null() || k == "apiVersion" || k == "kind" {
            continue;
        }
        if (k == "status") != status {
            continue;
        }
        let mut p = vec![k.clone()];
        if k == "metadata" {
            let Some(md) = v.as_object() else { continue };
            for (mk, mv) in md {
                if SERVER_METADATA.contains(&mk.as_str()) || mv.is_null() {
                    continue;
                }
                p.push(mk.clone());
                walk(mv, &mut p, &mut out);
                p.pop();
            }
        } else {
            walk(v, &mut p, &mut out);
        }
    }
    out
}

/// The value at `path` (None when absent).
pub fn get<'a>(obj: &'a Value, path: &[String]) -> Option<&'a Value> {
    let mut cur = obj;
    for k in path {
        cur = cur.as_object()?.get(k)?;
    }
    Some(cur)
}

/// Sets `path` to `value`, creating maps on the way.
pub fn set(obj: &mut Value, path: &[String], value: Value) {
    let Some((last, parents)) = path.split_last() else {
        *obj = value;
        return;
    };
    let mut cur = obj;
    for k in parents {
        if !cur.is_object() {
            *cur = Value::Object(Map::new());
        }
        let Value::Object(m) = cur else { return };
        cur = m.entry(k.clone()).or_insert(Value::Object(Map::new()));
    }
    if !cur.is_object() {
        *cur = Value::Object(Map::new());
    }
    if let Value::Object(m) = cur {
        m.insert(last.clone(), value);
    }
}

/// Removes `path`, then every map on the way up that became empty by it.
pub fn remove(obj: &mut Value, path: &[String]) {
    fn rec(cur: &mut Value, path: &[String]) -> bool {
        let Some((first, rest)) = path.split_first() else {
            return false;
        };
        let Value::Object(m) = cur else { return false };
        if rest.is_empty() {
            m.shift_remove(first);
        } else if let Some(child) = m.get_mut(first)
            && rec(child, rest)
        {
            m.shift_remove(first);
        }
        m.is_empty()
    }
    // The top level (and `metadata`) is never removed, even when it becomes empty.
    if path.len() > 1 {
        let Some(first) = path.first() else { return };
        if let Some(child) = obj.get_mut(first.as_str()) {
            rec(child, &path[1..]);
        }
    } else {
        rec(obj, path);
    }
}

/// Do two fields overlap (equal, or one inside the other)?
pub fn overlaps(a: &[String], b: &[String]) -> bool {
    let n = a.len().min(b.len());
    a[..n] == b[..n]
}

/// `.spec.replicas` (as in apply conflict messages).
pub fn dotted(p: &[String]) -> String {
    p.iter().map(|k| format!(".{k}")).collect()
}

fn to_fields_v1(set: &FieldSet) -> Value {
    let mut root = json!({});
    for p in set {
        let mut cur = &mut root;
        for k in p {
            let Value::Object(m) = cur else { break };
            cur = m.entry(format!("f:{k}")).or_insert(json!({}));
        }
    }
    root
}

fn from_fields_v1(v: &Value, prefix: &mut Path, out: &mut FieldSet) {
    let Some(m) = v.as_object() else { return };
    let children: Vec<(&String, &Value)> = m.iter().filter(|(k, _)| k.starts_with("f:")).collect();
    // `k:`/`v:`/`i:` keys (list items, from other writers) mean the list is owned: stop here.
    let list_items = m
        .keys()
        .any(|k| k.starts_with("k:") || k.starts_with("v:") || k.starts_with("i:"));
    if (children.is_empty() || list_items) && !prefix.is_empty() {
        out.insert(prefix.clone());
        return;
    }
    for (k, child) in children {
        prefix.push(k[2..].to_string());
        from_fields_v1(child, prefix, out);
        prefix.pop();
    }
}

/// The entries of an object's `metadata.managedFields`.
pub fn read(obj: &Value) -> Vec<Entry> {
    let Some(list) = obj["metadata"]["managedFields"].as_array() else {
        return Vec::new();
    };
    list.iter()
        .filter_map(|e| {
            let mut fields = FieldSet::new();
            from_fields_v1(&e["fieldsV1"], &mut Vec::new(), &mut fields);
            Some(Entry {
                manager: e["manager"].as_str()?.to_string(),
                operation: e["operation"].as_str().unwrap_or("Update").to_string(),
                api_version: e["apiVersion"].as_str().unwrap_or("").to_string(),
                time: e["time"].as_str().unwrap_or("").to_string(),
                subresource: e["subresource"].as_str().map(String::from),
                fields,
            })
        })
        .collect()
}

/// Writes `entries` (dropping those that own nothing) into `metadata.managedFields`.
pub fn write(obj: &mut Value, entries: &[Entry]) {
    let list: Vec<Value> = entries
        .iter()
        .filter(|e| !e.fields.is_empty())
        .map(|e| {
            let mut v = json!({
                "manager": e.manager, "operation": e.operation, "apiVersion": e.api_version,
                "time": e.time, "fieldsType": "FieldsV1", "fieldsV1": to_fields_v1(&e.fields),
            });
            if let Some(s) = &e.subresource {
                v["subresource"] = json!(s);
            }
            v
        })
        .collect();
    if let Some(md) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        if list.is_empty() {
            md.shift_remove("managedFields");
        } else {
            md.insert("managedFields".into(), Value::Array(list));
        }
    }
}

/// The fields whose value differs between `old` and `new` (added, changed or removed).
pub fn changed(old: &Value, new: &Value, status: bool) -> (FieldSet, FieldSet) {
    let fo = fields_of(old, status);
    let fnew = fields_of(new, status);
    let set_or_changed: FieldSet = fnew
        .iter()
        .filter(|p| get(old, p) != get(new, p))
        .cloned()
        .collect();
    let removed: FieldSet = fo.difference(&fnew).cloned().collect();
    (set_or_changed, removed)
}

/// Records a non-apply write (update, merge/JSON patch, status update) by `manager`: the
/// fields it set or changed become its own (taken from any other manager), removed fields
/// leave every manager.
pub fn record_update(
    entries: &mut Vec<Entry>,
    old: &Value,
    new: &Value,
    manager: &str,
    api_version: &str,
    subresource: Option<&str>,
    now: &str,
) {
    let status = subresource == Some("status");
    let (set_fields, removed) = changed(old, new, status);
    if set_fields.is_empty() && removed.is_empty() {
        return;
    }
    for e in entries.iter_mut() {
        e.fields
            .retain(|p| !removed.iter().any(|r| overlaps(p, r) && p.len() >= r.len()));
        e.fields
            .retain(|p| !set_fields.iter().any(|s| overlaps(p, s)));
    }
    let idx = entries.iter().position(|e| {
        e.manager == manager && e.operation == "Update" && e.subresource.as_deref() == subresource
    });
    let i = match idx {
        Some(i) => i,
        None => {
            entries.push(Entry {
                manager: manager.to_string(),
                operation: "Update".into(),
                api_version: api_version.to_string(),
                time: now.to_string(),
                subresource: subresource.map(String::from),
                fields: FieldSet::new(),
            });
            entries.len() - 1
        }
    };
    let e = &mut entries[i];
    e.fields.extend(set_fields);
    e.time = now.to_string();
    e.api_version = api_version.to_string();
    entries.retain(|e| !e.fields.is_empty());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Path {
        s.split('.').map(String::from).collect()
    }

    #[test]
    fn fields_walk_maps_and_stop_at_lists_and_skip_server_metadata() {
        let obj = json!({"apiVersion": "v1", "kind": "X",
            "metadata": {"name": "a", "uid": "u", "labels": {"app": "x"}, "finalizers": ["f"]},
            "spec": {"replicas": 2, "sel": {}, "list": [{"a": 1}]}, "status": {"ready": true}});
        let f = fields_of(&obj, false);
        let want: FieldSet = [
            "metadata.labels.app",
            "metadata.finalizers",
            "spec.replicas",
            "spec.sel",
            "spec.list",
        ]
        .iter()
        .map(|s| p(s))
        .collect();
        assert_eq!(f, want);
        assert_eq!(fields_of(&obj, true), [p("status.ready")].into());
    }

    #[test]
    fn fields_v1_round_trips() {
        let set: FieldSet = [p("spec.replicas"), p("metadata.labels.app"), p("spec.sel")].into();
        let mut obj = json!({"metadata": {}});
        write(
            &mut obj,
            &[Entry {
                manager: "m".into(),
                operation: "Apply".into(),
                api_version: "v1".into(),
                time: "t".into(),
                subresource: None,
                fields: set.clone(),
            }],
        );
        assert_eq!(
            obj["metadata"]["managedFields"][0]["fieldsV1"]["f:spec"]["f:replicas"],
            json!({})
        );
        assert_eq!(read(&obj)[0].fields, set);
    }

    #[test]
    fn remove_prunes_maps_emptied_by_the_removal() {
        let mut o = json!({"metadata": {"labels": {"a": "1"}}, "spec": {"x": {"y": 1}, "z": 2}});
        remove(&mut o, &p("spec.x.y"));
        assert_eq!(
            o,
            json!({"metadata": {"labels": {"a": "1"}}, "spec": {"z": 2}})
        );
        remove(&mut o, &p("metadata.labels.a"));
        assert_eq!(o, json!({"metadata": {}, "spec": {"z": 2}}));
    }

    #[test]
    fn update_takes_changed_fields_from_other_managers() {
        let old = json!({"metadata": {}, "spec": {"replicas": 1, "paused": false}});
        let new = json!({"metadata": {}, "spec": {"replicas": 3}});
        let mut entries = vec![Entry {
            manager: "applier".into(),
            operation: "Apply".into(),
            api_version: "v1".into(),
            time: "t0".into(),
            subresource: None,
            fields: [p("spec.replicas"), p("spec.paused")].into(),
        }];
        record_update(&mut entries, &old, &new, "kubectl-scale", "v1", None, "t1");
        assert_eq!(entries.len(), 1, "applier lost every field: {entries:?}");
        assert_eq!(entries[0].manager, "kubectl-scale");
        assert_eq!(entries[0].fields, [p("spec.replicas")].into());
    }
}
