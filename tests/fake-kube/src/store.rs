//! The objects of one fake API server and the rules every write follows, whoever makes it
//! (HTTP handler or simulated controller):
//!
//! - one global `resourceVersion` counter; a write that changes nothing keeps the old
//!   version and sends no watch event;
//! - `uid`, `creationTimestamp`, `deletionTimestamp` are server-owned; `generation` starts
//!   at 1 and grows when anything outside `metadata`/`status` changes;
//! - deletion: an object with finalizers gets `deletionTimestamp` and stays until the last
//!   finalizer is removed; then it is gone (DELETED event);
//! - garbage collection (background propagation): when an object is gone, dependents whose
//!   `ownerReferences` now point at no existing owner are deleted; `Orphan` instead strips
//!   the reference. `Foreground` is treated as background (documented simplification);
//! - namespaces: deleting one marks it `Terminating`, deletes its contents and removes it
//!   once empty; the four standard namespaces exist from the start;
//! - CRDs: storing one registers its kinds (and sets `Established`/`NamesAccepted`),
//!   removing one unregisters them and removes their objects.
//!
//! Watch events are kept in a bounded history (for `watch` from a `resourceVersion`) and
//! broadcast to open watches.

use crate::registry::{Registry, ResourceType};
use crate::util;
use serde_json::{Value, json};
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use tokio::sync::broadcast;

const HISTORY: usize = 50_000;
pub const CRD_KEY: &str = "customresourcedefinitions.apiextensions.k8s.io";

/// One watch event, for every watcher of its resource.
#[derive(Debug, Clone)]
pub struct Event {
    pub rv: u64,
    /// Resource key (`plural.group`).
    pub key: String,
    /// `ADDED`, `MODIFIED` or `DELETED`.
    pub kind: &'static str,
    pub object: Value,
}

/// Objects by resource key, then (namespace, name); cluster-scoped objects have namespace "".
type Objects = BTreeMap<String, BTreeMap<(String, String), Value>>;

/// A server's whole state: its resource registry and its objects.
pub struct State {
    pub registry: Registry,
    objects: Objects,
    rv: u64,
    history: VecDeque<Arc<Event>>,
    tx: broadcast::Sender<Arc<Event>>,
}

fn meta_str<'a>(o: &'a Value, k: &str) -> &'a str {
    o["metadata"][k].as_str().unwrap_or("")
}

pub fn name_of(o: &Value) -> &str {
    meta_str(o, "name")
}

pub fn namespace_of(o: &Value) -> &str {
    meta_str(o, "namespace")
}

fn has_finalizers(o: &Value) -> bool {
    o["metadata"]["finalizers"]
        .as_array()
        .is_some_and(|a| !a.is_empty())
}

/// Everything but metadata and status: what `generation` tracks.
fn spec_part(o: &Value) -> Value {
    let mut c = o.clone();
    if let Some(m) = c.as_object_mut() {
        for k in ["metadata", "status", "apiVersion", "kind"] {
            m.shift_remove(k);
        }
    }
    c
}

/// Options of a delete.
#[derive(Debug, Clone, Default)]
pub struct DeleteOpts {
    /// `Orphan` keeps dependents (their owner reference is removed).
    pub orphan: bool,
}

impl State {
    pub fn new(registry: Registry) -> State {
        let (tx, _) = broadcast::channel(8192);
        let mut s = State {
            registry,
            objects: Objects::new(),
            rv: 0,
            history: VecDeque::new(),
            tx,
        };
        for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
            let obj = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns,
                "labels": {"kubernetes.io/metadata.name": ns}},
                "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}});
            s.commit(&obj);
        }
        s
    }

    pub fn resource_version(&self) -> u64 {
        self.rv
    }

    /// The oldest resourceVersion a watch can still resume after.
    pub fn oldest_watchable(&self) -> u64 {
        self.history.front().map(|e| e.rv - 1).unwrap_or(self.rv)
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.tx.subscribe()
    }

    /// Events of `key` after `rv` from the history.
    pub fn events_since(&self, key: &str, rv: u64) -> Vec<Arc<Event>> {
        self.history
            .iter()
            .filter(|e| e.rv > rv && e.key == key)
            .cloned()
            .collect()
    }

    pub fn get(&self, key: &str, ns: &str, name: &str) -> Option<&Value> {
        self.objects
            .get(key)?
            .get(&(ns.to_string(), name.to_string()))
    }

    /// Objects of `key` (in `ns` when given), ordered by namespace then name.
    pub fn list(&self, key: &str, ns: Option<&str>) -> Vec<&Value> {
        let Some(m) = self.objects.get(key) else {
            return Vec::new();
        };
        m.iter()
            .filter(|((n, _), _)| ns.is_none_or(|want| want == n))
            .map(|(_, v)| v)
            .collect()
    }

    pub fn all(&self) -> &Objects {
        &self.objects
    }

    fn key_of(&self, o: &Value) -> Option<String> {
        let t = self
            .registry
            .by_kind(o["apiVersion"].as_str()?, o["kind"].as_str()?)?;
        Some(t.key())
    }

    fn emit(&mut self, key: &str, kind: &'static str, object: Value) {
        let ev = Arc::new(Event {
            rv: self.rv,
            key: key.to_string(),
            kind,
            object,
        });
        if self.history.len() >= HISTORY {
            self.history.pop_front();
        }
        self.history.push_back(ev.clone());
        let _ = self.tx.send(ev);
    }

    /// Stores `new` as the next state of its object (created when absent) and returns what
    /// is stored. Server-owned metadata is taken from the current object; `generation`,
    /// `resourceVersion`, finalizer-driven removal and CRD registration happen here.
    /// The caller has validated the object and resolved `managedFields`.
    pub fn commit(&mut self, new: &Value) -> Value {
        let Some(key) = self.key_of(new) else {
            return new.clone();
        };
        let ns = namespace_of(new).to_string();
        let name = name_of(new).to_string();
        let old = self.get(&key, &ns, &name).cloned();
        let mut obj = new.clone();
        let md = match obj.get_mut("metadata").and_then(Value::as_object_mut) {
            Some(m) => m,
            None => return new.clone(),
        };
        match &old {
            Some(o) => {
                for k in [
                    "uid",
                    "creationTimestamp",
                    "deletionTimestamp",
                    "deletionGracePeriodSeconds",
                ] {
                    match o["metadata"].get(k) {
                        Some(v) => {
                            md.insert(k.into(), v.clone());
                        }
                        None => {
                            md.shift_remove(k);
                        }
                    }
                }
                let g = o["metadata"]["generation"].as_i64().unwrap_or(1);
                let bump = spec_part(o) != spec_part(new);
                md.insert("generation".into(), json!(if bump { g + 1 } else { g }));
                md.insert(
                    "resourceVersion".into(),
                    o["metadata"]["resourceVersion"].clone(),
                );
            }
            None => {
                md.insert("uid".into(), json!(util::uid()));
                md.insert("creationTimestamp".into(), json!(util::now()));
                md.insert("generation".into(), json!(1));
                md.shift_remove("deletionTimestamp");
                md.shift_remove("resourceVersion");
            }
        }
        if key == CRD_KEY {
            crd_status(&mut obj);
        }
        if key == "secrets" {
            fold_string_data(&mut obj);
        }
        if old.as_ref() == Some(&obj) {
            return obj;
        }
        self.rv += 1;
        obj["metadata"]["resourceVersion"] = json!(self.rv.to_string());
        if obj["metadata"].get("deletionTimestamp").is_some() && !has_finalizers(&obj) {
            self.remove_now(&key, obj.clone(), false);
            return obj;
        }
        if key == CRD_KEY {
            let _ = self.registry.register_crd(&obj);
        }
        self.objects
            .entry(key.clone())
            .or_default()
            .insert((ns, name), obj.clone());
        let kind = if old.is_some() { "MODIFIED" } else { "ADDED" };
        self.emit(&key, kind, obj.clone());
        obj
    }

    /// Deletes an object: marks it when it has finalizers, removes it otherwise.
    pub fn delete(
        &mut self,
        t: &ResourceType,
        ns: &str,
        name: &str,
        opts: &DeleteOpts,
    ) -> Option<Value> {
        let key = t.key();
        let obj = self.get(&key, ns, name)?.clone();
        if obj["metadata"].get("deletionTimestamp").is_some() && has_finalizers(&obj) {
            return Some(obj);
        }
        if t.kind == "Namespace" && t.group.is_empty() {
            return Some(self.delete_namespace(obj));
        }
        if has_finalizers(&obj) {
            let mut marked = obj;
            marked["metadata"]["deletionTimestamp"] = json!(util::now());
            marked["metadata"]["deletionGracePeriodSeconds"] = json!(0);
            return Some(self.commit_marked(&key, marked));
        }
        self.rv += 1;
        let mut gone = obj;
        gone["metadata"]["resourceVersion"] = json!(self.rv.to_string());
        self.remove_now(&key, gone.clone(), opts.orphan);
        Some(gone)
    }

    /// Commits an object whose deletionTimestamp was just set (commit() keeps the old one).
    fn commit_marked(&mut self, key: &str, mut obj: Value) -> Value {
        self.rv += 1;
        obj["metadata"]["resourceVersion"] = json!(self.rv.to_string());
        let ns = namespace_of(&obj).to_string();
        let name = name_of(&obj).to_string();
        self.objects
            .entry(key.to_string())
            .or_default()
            .insert((ns, name), obj.clone());
        self.emit(key, "MODIFIED", obj.clone());
        obj
    }

    fn delete_namespace(&mut self, ns_obj: Value) -> Value {
        let ns = name_of(&ns_obj).to_string();
        let mut marked = ns_obj;
        if marked["metadata"].get("deletionTimestamp").is_none() {
            marked["metadata"]["deletionTimestamp"] = json!(util::now());
            marked["status"]["phase"] = json!("Terminating");
            marked = self.commit_marked("namespaces", marked);
        }
        let contents: Vec<(ResourceType, String)> = self
            .registry
            .types()
            .iter()
            .filter(|t| t.namespaced)
            .flat_map(|t| {
                self.list(&t.key(), Some(&ns))
                    .into_iter()
                    .map(|o| (t.clone(), name_of(o).to_string()))
                    .collect::<Vec<_>>()
            })
            .collect();
        for (t, name) in contents {
            self.delete(&t, &ns, &name, &DeleteOpts::default());
        }
        self.finish_namespace(&ns);
        self.get("namespaces", "", &ns).cloned().unwrap_or(marked)
    }

    /// Removes a terminating namespace once nothing is left in it.
    fn finish_namespace(&mut self, ns: &str) {
        let Some(n) = self.get("namespaces", "", ns) else {
            return;
        };
        if n["metadata"].get("deletionTimestamp").is_none() {
            return;
        }
        let empty = self
            .objects
            .iter()
            .all(|(_, m)| !m.keys().any(|(n, _)| n == ns));
        if empty {
            let mut gone = n.clone();
            self.rv += 1;
            gone["metadata"]["resourceVersion"] = json!(self.rv.to_string());
            self.remove_now("namespaces", gone, false);
        }
    }

    fn remove_now(&mut self, key: &str, obj: Value, orphan: bool) {
        let ns = namespace_of(&obj).to_string();
        let name = name_of(&obj).to_string();
        if let Some(m) = self.objects.get_mut(key) {
            m.remove(&(ns.clone(), name.clone()));
        }
        self.emit(key, "DELETED", obj.clone());
        if key == CRD_KEY {
            self.drop_custom_kind(&obj);
        }
        let uid = meta_str(&obj, "uid").to_string();
        self.collect_dependents(&uid, orphan);
        if !ns.is_empty() {
            self.finish_namespace(&ns);
        }
    }

    fn drop_custom_kind(&mut self, crd: &Value) {
        let Ok(t) = crate::registry::crd_type(crd) else {
            return;
        };
        let key = t.key();
        let objs: Vec<Value> = self.list(&key, None).into_iter().cloned().collect();
        for o in objs {
            self.rv += 1;
            let mut gone = o;
            gone["metadata"]["resourceVersion"] = json!(self.rv.to_string());
            self.remove_now(&key, gone, false);
        }
        self.objects.remove(&key);
        self.registry.unregister(&key);
    }

    fn uid_exists(&self, uid: &str) -> bool {
        self.objects
            .values()
            .any(|m| m.values().any(|o| meta_str(o, "uid") == uid))
    }

    /// Background garbage collection of the dependents of a removed object.
    fn collect_dependents(&mut self, uid: &str, orphan: bool) {
        if uid.is_empty() {
            return;
        }
        let mut dependents: Vec<(String, Value)> = Vec::new();
        for (key, m) in &self.objects {
            for o in m.values() {
                let refs = o["metadata"]["ownerReferences"].as_array();
                if refs.is_some_and(|r| r.iter().any(|x| x["uid"] == uid)) {
                    dependents.push((key.clone(), o.clone()));
                }
            }
        }
        for (key, dep) in dependents {
            let Some(t) = self.registry.by_key(&key).cloned() else {
                continue;
            };
            let others_alive = dep["metadata"]["ownerReferences"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|r| r["uid"] != uid)
                .any(|r| self.uid_exists(r["uid"].as_str().unwrap_or("")));
            if orphan || others_alive {
                let mut d = dep.clone();
                if let Some(refs) = d["metadata"]["ownerReferences"].as_array_mut() {
                    refs.retain(|r| r["uid"] != uid);
                }
                self.commit(&d);
            } else {
                self.delete(
                    &t,
                    namespace_of(&dep),
                    name_of(&dep),
                    &DeleteOpts::default(),
                );
            }
        }
    }
}

/// A Secret's `stringData` is merged into `data` (base64) and dropped, as the API server does.
fn fold_string_data(secret: &mut Value) {
    use base64::Engine;
    let Some(sd) = secret
        .as_object_mut()
        .and_then(|m| m.shift_remove("stringData"))
    else {
        return;
    };
    let Some(entries) = sd.as_object() else {
        return;
    };
    if !secret["data"].is_object() {
        secret["data"] = json!({});
    }
    for (k, v) in entries {
        let text = v
            .as_str()
            .map(String::from)
            .unwrap_or_else(|| v.to_string());
        secret["data"][k] = json!(base64::engine::general_purpose::STANDARD.encode(text));
    }
}

/// Status of a stored CRD: accepted names, `NamesAccepted` and `Established` true.
fn crd_status(crd: &mut Value) {
    let names = crd["spec"]["names"].clone();
    let stored: Vec<Value> = crd["spec"]["versions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|v| v["storage"].as_bool() == Some(true))
        .map(|v| v["name"].clone())
        .collect();
    let keep_time = |t: &str| {
        crd["status"]["conditions"]
            .as_array()
            .and_then(|a| a.iter().find(|c| c["type"] == t))
            .and_then(|c| c["lastTransitionTime"].as_str())
            .map(String::from)
            .unwrap_or_else(util::now)
    };
    let (t1, t2) = (keep_time("NamesAccepted"), keep_time("Established"));
    crd["status"] = json!({
        "acceptedNames": names,
        "conditions": [
            {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts",
             "message": "no conflicts found", "lastTransitionTime": t1},
            {"type": "Established", "status": "True", "reason": "InitialNamesAccepted",
             "message": "the initial names have been accepted", "lastTransitionTime": t2}
        ],
        "storedVersions": stored,
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> State {
        State::new(Registry::builtin())
    }

    fn secret(name: &str) -> Value {
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": "default"}})
    }

    #[test]
    fn versions_generation_and_noop_writes() {
        let mut s = state();
        let start = s.resource_version();
        let a = s.commit(&secret("a"));
        assert_eq!(a["metadata"]["generation"], 1);
        assert_eq!(a["metadata"]["resourceVersion"], (start + 1).to_string());
        let same = s.commit(&a);
        assert_eq!(
            same["metadata"]["resourceVersion"],
            a["metadata"]["resourceVersion"]
        );
        let mut b = a.clone();
        b["metadata"]["labels"] = json!({"x": "y"});
        let b = s.commit(&b);
        assert_eq!(
            b["metadata"]["generation"], 1,
            "metadata changes keep generation"
        );
        let mut c = b.clone();
        c["data"] = json!({"k": "dg=="});
        let c = s.commit(&c);
        assert_eq!(c["metadata"]["generation"], 2);
        assert_eq!(c["metadata"]["uid"], a["metadata"]["uid"]);
        assert_eq!(s.events_since("secrets", start).len(), 3);
    }

    #[test]
    fn finalizers_delay_deletion_until_removed() {
        let mut s = state();
        let t = s.registry.by_kind("v1", "Secret").unwrap().clone();
        let mut a = secret("a");
        a["metadata"]["finalizers"] = json!(["x/y"]);
        s.commit(&a);
        let marked = s
            .delete(&t, "default", "a", &DeleteOpts::default())
            .unwrap();
        assert!(marked["metadata"]["deletionTimestamp"].is_string());
        assert!(s.get("secrets", "default", "a").is_some());
        let mut cleared = marked.clone();
        cleared["metadata"]["finalizers"] = json!([]);
        s.commit(&cleared);
        assert!(s.get("secrets", "default", "a").is_none());
    }

    #[test]
    fn owner_deletion_collects_dependents_unless_orphaned() {
        let mut s = state();
        let t = s.registry.by_kind("v1", "ConfigMap").unwrap().clone();
        let owner = s.commit(&json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "owner", "namespace": "default"}}));
        let r = json!([{"apiVersion": "v1", "kind": "ConfigMap", "name": "owner",
            "uid": owner["metadata"]["uid"]}]);
        let mut d = secret("dep");
        d["metadata"]["ownerReferences"] = r.clone();
        s.commit(&d);
        s.delete(&t, "default", "owner", &DeleteOpts::default());
        assert!(s.get("secrets", "default", "dep").is_none());

        let owner = s.commit(&json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "owner", "namespace": "default"}}));
        let mut d = secret("dep");
        d["metadata"]["ownerReferences"] = json!([{"apiVersion": "v1", "kind": "ConfigMap",
            "name": "owner", "uid": owner["metadata"]["uid"]}]);
        s.commit(&d);
        s.delete(&t, "default", "owner", &DeleteOpts { orphan: true });
        let kept = s.get("secrets", "default", "dep").unwrap();
        assert_eq!(kept["metadata"]["ownerReferences"], json!([]));
    }

    #[test]
    fn namespace_deletion_removes_contents_then_itself() {
        let mut s = state();
        let t = s.registry.by_kind("v1", "Namespace").unwrap().clone();
        s.commit(&json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x"}}));
        let mut a = secret("a");
        a["metadata"]["namespace"] = json!("x");
        a["metadata"]["finalizers"] = json!(["f"]);
        let a = s.commit(&a);
        s.delete(&t, "", "x", &DeleteOpts::default());
        assert_eq!(
            s.get("namespaces", "", "x").unwrap()["status"]["phase"],
            "Terminating"
        );
        let mut a2 = s.get("secrets", "x", "a").unwrap().clone();
        assert!(a2["metadata"]["deletionTimestamp"].is_string());
        a2["metadata"]["finalizers"] = json!([]);
        assert_eq!(a2["metadata"]["uid"], a["metadata"]["uid"]);
        s.commit(&a2);
        assert!(s.get("namespaces", "", "x").is_none());
    }

    #[test]
    fn crd_registers_and_unregisters_its_kind() {
        let mut s = state();
        let crd = json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": "widgets.example.io"},
            "spec": {"group": "example.io", "scope": "Namespaced",
                "names": {"plural": "widgets", "kind": "Widget"},
                "versions": [{"name": "v1", "served": true, "storage": true}]}});
        let stored = s.commit(&crd);
        assert_eq!(stored["status"]["conditions"][1]["type"], "Established");
        s.commit(&json!({"apiVersion": "example.io/v1", "kind": "Widget",
            "metadata": {"name": "w", "namespace": "default"}}));
        assert!(s.get("widgets.example.io", "default", "w").is_some());
        let t = s
            .registry
            .by_kind("apiextensions.k8s.io/v1", "CustomResourceDefinition")
            .unwrap()
            .clone();
        s.delete(&t, "", "widgets.example.io", &DeleteOpts::default());
        assert!(s.registry.by_kind("example.io/v1", "Widget").is_none());
        assert!(s.get("widgets.example.io", "default", "w").is_none());
    }
}
