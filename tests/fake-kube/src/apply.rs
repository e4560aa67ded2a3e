//! Server-side apply (`PATCH` with `application/apply-patch+yaml`): merges an applied
//! configuration into the live object under a field manager, on the field model of
//! [`crate::managed`].
//!
//! - Absent object: created from the configuration.
//! - Conflict: a field the configuration sets is owned by another manager and the live value
//!   differs -> 409 listing every such field, unless `force`, which moves those fields to
//!   the applier. Equal values are shared, as in real SSA.
//! - Removal: a field this manager applied last time, no longer in the configuration and
//!   owned by nobody else, is removed from the object.
//! - `status` of a kind with a status subresource is ignored on the main resource; applying
//!   to `/status` touches only `status`.

use crate::managed::{self, Entry, FieldSet, Path};
use crate::status::ApiError;
use serde_json::{Value, json};

/// What is being applied, and by whom.
pub struct ApplyRequest<'a> {
    pub group: &'a str,
    pub resource: &'a str,
    pub name: &'a str,
    pub manager: &'a str,
    pub api_version: &'a str,
    pub force: bool,
    /// `Some("status")` when applying to the status subresource.
    pub subresource: Option<&'a str>,
    pub now: &'a str,
}

fn conflicts(
    live: &Value,
    applied: &Value,
    entries: &[Entry],
    new_fields: &FieldSet,
    req: &ApplyRequest,
) -> Vec<(usize, Path, Path)> {
    let mut out = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        if e.manager == req.manager {
            continue;
        }
        for owned in &e.fields {
            for p in new_fields {
                if !managed::overlaps(owned, p) {
                    continue;
                }
                let at: &[String] = if owned.len() < p.len() { owned } else { p };
                // Applying an empty map over a live map sets no keys: nothing to conflict.
                let empty_map = managed::get(applied, p)
                    .is_some_and(|v| v.as_object().is_some_and(|m| m.is_empty()))
                    && managed::get(live, p).is_some_and(Value::is_object);
                if !empty_map && managed::get(live, at) != managed::get(applied, at) {
                    out.push((i, owned.clone(), p.clone()));
                }
            }
        }
    }
    out
}

/// Applies `applied` over `live` (None = create). Returns the new object, with
/// `metadata.managedFields` updated; server-set metadata is left to the caller.
pub fn apply(live: Option<&Value>, applied: &Value, req: &ApplyRequest) -> Result<Value, ApiError> {
    let status = req.subresource == Some("status");
    let mut entries = live.map(managed::read).unwrap_or_default();
    let new_fields = managed::fields_of(applied, status);
    let base = live.cloned().unwrap_or_else(|| {
        json!({"apiVersion": applied["apiVersion"], "kind": applied["kind"],
               "metadata": {"name": req.name}})
    });

    let found = conflicts(&base, applied, &entries, &new_fields, req);
    if !found.is_empty() && !req.force {
        let mut list: Vec<(String, String, String)> = found
            .iter()
            .map(|(i, _, p)| {
                (
                    entries[*i].manager.clone(),
                    entries[*i].api_version.clone(),
                    managed::dotted(p),
                )
            })
            .collect();
        list.dedup();
        return Err(ApiError::apply_conflict(
            req.group,
            req.resource,
            req.name,
            &list,
        ));
    }
    for (i, owned, _) in &found {
        entries[*i].fields.remove(owned);
    }

    let me = entries.iter().position(|e| {
        e.manager == req.manager
            && e.operation == "Apply"
            && e.subresource.as_deref() == req.subresource
    });
    let old_fields = me.map(|i| entries[i].fields.clone()).unwrap_or_default();

    let mut obj = base.clone();
    // Fields this manager stopped applying go away unless someone else still owns them.
    for p in old_fields.difference(&new_fields) {
        let kept_by_other = entries
            .iter()
            .enumerate()
            .any(|(i, e)| Some(i) != me && e.fields.iter().any(|q| managed::overlaps(p, q)));
        let reapplied = new_fields.iter().any(|q| managed::overlaps(p, q));
        if !kept_by_other && !reapplied {
            managed::remove(&mut obj, p);
        }
    }
    for p in &new_fields {
        let Some(v) = managed::get(applied, p) else {
            continue;
        };
        let keep_live_map = v.as_object().is_some_and(|m| m.is_empty())
            && managed::get(&obj, p).is_some_and(Value::is_object);
        if !keep_live_map {
            managed::set(&mut obj, p, v.clone());
        }
    }
    if !status {
        // The object is now in the applier's version.
        obj["apiVersion"] = applied["apiVersion"].clone();
        obj["kind"] = applied["kind"].clone();
    }

    let content_changed = strip_managed(&obj) != strip_managed(&base);
    let i = match me {
        Some(i) => i,
        None => {
            entries.push(Entry {
                manager: req.manager.to_string(),
                operation: "Apply".into(),
                api_version: req.api_version.to_string(),
                time: req.now.to_string(),
                subresource: req.subresource.map(String::from),
                fields: FieldSet::new(),
            });
            entries.len() - 1
        }
    };
    if content_changed
        || entries[i].fields != new_fields
        || entries[i].api_version != req.api_version
    {
        entries[i].time = req.now.to_string();
    }
    entries[i].fields = new_fields;
    entries[i].api_version = req.api_version.to_string();
    managed::write(&mut obj, &entries);
    Ok(obj)
}

fn strip_managed(v: &Value) -> Value {
    let mut c = v.clone();
    if let Some(md) = c.get_mut("metadata").and_then(Value::as_object_mut) {
        md.shift_remove("managedFields");
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req<'a>(manager: &'a str, force: bool) -> ApplyRequest<'a> {
        ApplyRequest {
            group: "apps",
            resource: "deployments",
            name: "web",
            manager,
            api_version: "apps/v1",
            force,
            subresource: None,
            now: "2026-01-01T00:00:00Z",
        }
    }

    fn cfg(spec: Value) -> Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}, "spec": spec})
    }

    #[test]
    fn create_then_remove_a_field_no_longer_applied() {
        let a = apply(
            None,
            &cfg(json!({"replicas": 2, "paused": true})),
            &req("m", false),
        )
        .unwrap();
        assert_eq!(a["spec"], json!({"replicas": 2, "paused": true}));
        assert_eq!(a["metadata"]["managedFields"][0]["manager"], "m");
        let b = apply(Some(&a), &cfg(json!({"replicas": 2})), &req("m", false)).unwrap();
        assert_eq!(b["spec"], json!({"replicas": 2}));
    }

    #[test]
    fn conflict_unless_equal_or_forced_and_shared_fields_survive() {
        let a = apply(
            None,
            &cfg(json!({"replicas": 2, "paused": true})),
            &req("one", false),
        )
        .unwrap();
        // Same value: shared, no conflict.
        let b = apply(Some(&a), &cfg(json!({"replicas": 2})), &req("two", false)).unwrap();
        // Different value: conflict naming the owner and the field.
        let e = apply(Some(&b), &cfg(json!({"replicas": 5})), &req("two", false)).unwrap_err();
        assert_eq!(e.code, 409);
        assert!(
            e.message
                .contains("conflict with \"one\" using apps/v1: .spec.replicas"),
            "{}",
            e.message
        );
        // Force: taken over; "one" keeps `paused` only.
        let c = apply(Some(&b), &cfg(json!({"replicas": 5})), &req("two", true)).unwrap();
        assert_eq!(c["spec"]["replicas"], 5);
        let one = &managed::read(&c)[0];
        assert_eq!(one.manager, "one");
        assert_eq!(
            one.fields,
            [vec!["spec".to_string(), "paused".to_string()]].into()
        );
        // "one" drops `replicas` from its config: still there, owned by "two".
        let d = apply(Some(&c), &cfg(json!({"paused": true})), &req("one", false)).unwrap();
        assert_eq!(d["spec"]["replicas"], 5);
    }

    #[test]
    fn an_applied_empty_map_does_not_conflict_with_keys_others_own() {
        let a = apply(
            None,
            &cfg(json!({"selector": {"matchLabels": {}}})),
            &req("tool", false),
        )
        .unwrap();
        let mut b = a.clone();
        b["spec"]["selector"]["matchLabels"] = json!({"x": "y"});
        let mut entries = managed::read(&a);
        managed::record_update(&mut entries, &a, &b, "ctl", "apps/v1", None, "t");
        managed::write(&mut b, &entries);
        let c = apply(
            Some(&b),
            &cfg(json!({"selector": {"matchLabels": {}}})),
            &req("tool", false),
        )
        .unwrap();
        assert_eq!(c["spec"]["selector"]["matchLabels"], json!({"x": "y"}));
    }

    #[test]
    fn reapplying_the_same_config_changes_nothing() {
        let a = apply(None, &cfg(json!({"replicas": 2})), &req("m", false)).unwrap();
        let mut r = req("m", false);
        r.now = "2026-02-02T00:00:00Z";
        let b = apply(Some(&a), &cfg(json!({"replicas": 2})), &r).unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn status_is_ignored_on_the_main_resource_and_alone_on_status() {
        let mut c = cfg(json!({"replicas": 1}));
        c["status"] = json!({"readyReplicas": 1});
        let a = apply(None, &c, &req("m", false)).unwrap();
        assert!(a.get("status").is_none());
        let mut r = req("ctl", false);
        r.subresource = Some("status");
        let s = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
            "spec": {"replicas": 9}, "status": {"readyReplicas": 1}});
        let b = apply(Some(&a), &s, &r).unwrap();
        assert_eq!(b["spec"]["replicas"], 1);
        assert_eq!(b["status"]["readyReplicas"], 1);
    }
}
