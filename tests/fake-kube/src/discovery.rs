//! Discovery documents: `/version`, `/api` (APIVersions), `/api/v1` and `/apis/{g}/{v}`
//! (APIResourceList with namespaced flag, verbs, kind, singularName, shortNames, categories
//! and the `status`/`scale` subresources), `/apis` (APIGroupList) and `/apis/{g}`
//! (APIGroup). Only the legacy (non-aggregated) format is served: clients that ask for
//! aggregated discovery (`as=APIGroupDiscoveryList`) get plain JSON and fall back, as they
//! do against older servers. `/openapi/v2` is an empty document (kubectl's client-side
//! validation then checks nothing) and `/openapi/v3` is not served (404), so kubectl does
//! not ask for server-side field validation.

use crate::registry::{Registry, ResourceType, version_priority};
use serde_json::{Value, json};

/// The Kubernetes version the fake claims to be.
pub const GIT_VERSION: &str = "v1.37.0";

pub fn version() -> Value {
    json!({"major": "1", "minor": "37", "emulationMajor": "1", "emulationMinor": "37",
        "minCompatibilityMajor": "1", "minCompatibilityMinor": "36",
        "gitVersion": GIT_VERSION, "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.25.0",
        "compiler": "gc", "platform": "linux/amd64"})
}

pub fn api_versions(host: &str) -> Value {
    json!({"kind": "APIVersions", "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": host}]})
}

fn resource_entries(t: &ResourceType) -> Vec<Value> {
    let mut main = json!({
        "name": t.plural, "singularName": t.singular, "namespaced": t.namespaced,
        "kind": t.kind,
        "verbs": ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"],
    });
    if !t.short_names.is_empty() {
        main["shortNames"] = json!(t.short_names);
    }
    if !t.categories.is_empty() {
        main["categories"] = json!(t.categories);
    }
    let mut out = vec![main];
    if t.status_subresource {
        out.push(
            json!({"name": format!("{}/status", t.plural), "singularName": "",
            "namespaced": t.namespaced, "kind": t.kind, "verbs": ["get", "patch", "update"]}),
        );
    }
    if t.scale.is_some() {
        out.push(
            json!({"name": format!("{}/scale", t.plural), "singularName": "",
            "namespaced": t.namespaced, "group": "autoscaling", "version": "v1", "kind": "Scale",
            "verbs": ["get", "patch", "update"]}),
        );
    }
    out
}

/// `APIResourceList` of `group/version` (None when nothing is served there).
pub fn resource_list(reg: &Registry, group: &str, version: &str) -> Option<Value> {
    let types: Vec<&ResourceType> = reg
        .types()
        .iter()
        .filter(|t| t.group == group && t.serves(version))
        .collect();
    if types.is_empty() {
        return None;
    }
    let gv = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    let resources: Vec<Value> = types.iter().flat_map(|t| resource_entries(t)).collect();
    Some(
        json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv,
        "resources": resources}),
    )
}

fn group_doc(name: &str, versions: &[String]) -> Value {
    let vs: Vec<Value> = versions
        .iter()
        .map(|v| json!({"groupVersion": format!("{name}/{v}"), "version": v}))
        .collect();
    let preferred = versions
        .iter()
        .max_by_key(|v| version_priority(v))
        .cloned()
        .unwrap_or_default();
    json!({"name": name, "versions": vs,
        "preferredVersion": {"groupVersion": format!("{name}/{preferred}"), "version": preferred}})
}

pub fn group_list(reg: &Registry) -> Value {
    let groups: Vec<Value> = reg
        .groups()
        .iter()
        .map(|(g, vs)| group_doc(g, vs))
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

pub fn group(reg: &Registry, name: &str) -> Option<Value> {
    let (g, vs) = reg.groups().into_iter().find(|(g, _)| g == name)?;
    let mut d = group_doc(&g, &vs);
    d["kind"] = json!("APIGroup");
    d["apiVersion"] = json!("v1");
    Some(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_list_has_namespaced_flags_verbs_and_subresources() {
        let r = Registry::builtin();
        let l = resource_list(&r, "", "v1").unwrap();
        assert_eq!(l["groupVersion"], "v1");
        let res = l["resources"].as_array().unwrap();
        let ns = res.iter().find(|x| x["name"] == "namespaces").unwrap();
        assert_eq!(ns["namespaced"], false);
        assert_eq!(ns["kind"], "Namespace");
        assert_eq!(ns["singularName"], "namespace");
        let secret = res.iter().find(|x| x["name"] == "secrets").unwrap();
        assert_eq!(secret["namespaced"], true);
        assert!(
            secret["verbs"]
                .as_array()
                .unwrap()
                .contains(&json!("watch"))
        );
        assert!(res.iter().any(|x| x["name"] == "nodes/status"));
        let apps = resource_list(&r, "apps", "v1").unwrap();
        let scale = apps["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["name"] == "deployments/scale")
            .unwrap()
            .clone();
        assert_eq!(scale["kind"], "Scale");
        assert!(resource_list(&r, "apps", "v2").is_none());
    }

    #[test]
    fn group_list_prefers_the_highest_version() {
        let mut r = Registry::builtin();
        r.register_crd(&json!({"spec": {"group": "cluster.x-k8s.io", "names": {"plural": "clusters", "kind": "Cluster"},
            "versions": [{"name": "v1beta1", "served": true}, {"name": "v1beta2", "served": true, "storage": true}]}}))
            .unwrap();
        let g = group(&r, "cluster.x-k8s.io").unwrap();
        assert_eq!(g["preferredVersion"]["version"], "v1beta2");
        assert_eq!(g["versions"][0]["version"], "v1beta2");
        let l = group_list(&r);
        assert!(
            l["groups"]
                .as_array()
                .unwrap()
                .iter()
                .any(|x| x["name"] == "apps")
        );
    }
}
