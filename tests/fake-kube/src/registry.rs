//! Which resources a fake API server serves: the built-in kinds scs-capi touches (core, apps,
//! rbac, storage, apiextensions, coordination, policy, ...) and every kind registered by a
//! `CustomResourceDefinition` (group, served versions, plural/singular/kind, scope, short
//! names, `status`/`scale` subresources, printer columns).
//!
//! A CRD's names are taken from its `spec`; creating one makes its kinds servable at once
//! (the fake does not wait for `NamesAccepted`), deleting it unregisters them. There is no
//! version conversion: an object written in one version is returned as written, only with
//! the requested `apiVersion` (documented in the README).

use serde_json::Value;

/// A CRD printer column: (name, jsonPath, type).
pub type PrinterColumn = (String, String, String);

/// One served resource (all versions of a group/resource).
#[derive(Debug, Clone, PartialEq)]
pub struct ResourceType {
    pub group: String,
    /// Served versions, most preferred first (the storage version for CRDs).
    pub versions: Vec<String>,
    pub plural: String,
    pub singular: String,
    pub kind: String,
    pub namespaced: bool,
    pub short_names: Vec<String>,
    pub categories: Vec<String>,
    pub status_subresource: bool,
    /// `(specReplicasPath, statusReplicasPath, labelSelectorPath)` when it has `/scale`.
    pub scale: Option<(String, String, Option<String>)>,
    /// `additionalPrinterColumns` per version.
    pub printer_columns: Vec<(String, Vec<PrinterColumn>)>,
    /// True for kinds registered by a CRD.
    pub custom: bool,
}

impl ResourceType {
    /// `plural.group` (`plural` for the core group): the key objects are stored under.
    pub fn key(&self) -> String {
        if self.group.is_empty() {
            self.plural.clone()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    pub fn api_version(&self, version: &str) -> String {
        if self.group.is_empty() {
            version.to_string()
        } else {
            format!("{}/{version}", self.group)
        }
    }

    pub fn preferred_version(&self) -> &str {
        self.versions.first().map(String::as_str).unwrap_or("v1")
    }

    pub fn serves(&self, version: &str) -> bool {
        self.versions.iter().any(|v| v == version)
    }
}

/// Every resource a server knows.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    types: Vec<ResourceType>,
}

impl Registry {
    /// The built-in kinds.
    pub fn builtin() -> Registry {
        let mut r = Registry::default();
        for b in BUILTINS {
            r.types.push(ResourceType {
                group: b.group.to_string(),
                versions: b.versions.iter().map(|s| s.to_string()).collect(),
                plural: b.plural.to_string(),
                singular: b.kind.to_ascii_lowercase(),
                kind: b.kind.to_string(),
                namespaced: b.namespaced,
                short_names: b.short.iter().map(|s| s.to_string()).collect(),
                categories: Vec::new(),
                status_subresource: b.status,
                scale: b.scale.then(|| {
                    (
                        ".spec.replicas".to_string(),
                        ".status.replicas".to_string(),
                        Some(".status.selector".to_string()),
                    )
                }),
                printer_columns: Vec::new(),
                custom: false,
            });
        }
        r
    }

    pub fn types(&self) -> &[ResourceType] {
        &self.types
    }

    /// The resource served at `/<group>/<version>/<plural>`.
    pub fn by_plural(&self, group: &str, version: &str, plural: &str) -> Option<&ResourceType> {
        self.types
            .iter()
            .find(|t| t.group == group && t.plural == plural && t.serves(version))
    }

    /// The resource of `apiVersion` + `kind`.
    pub fn by_kind(&self, api_version: &str, kind: &str) -> Option<&ResourceType> {
        let (group, version) = split_api_version(api_version);
        self.types
            .iter()
            .find(|t| t.group == group && t.kind == kind && t.serves(version))
    }

    /// The resource of `group` + `kind`, any version.
    pub fn by_group_kind(&self, group: &str, kind: &str) -> Option<&ResourceType> {
        self.types
            .iter()
            .find(|t| t.group == group && t.kind == kind)
    }

    pub fn by_key(&self, key: &str) -> Option<&ResourceType> {
        self.types.iter().find(|t| t.key() == key)
    }

    /// Groups with their versions, in registration order (core group excluded).
    pub fn groups(&self) -> Vec<(String, Vec<String>)> {
        let mut out: Vec<(String, Vec<String>)> = Vec::new();
        for t in self.types.iter().filter(|t| !t.group.is_empty()) {
            let entry = match out.iter_mut().position(|(g, _)| *g == t.group) {
                Some(i) => &mut out[i].1,
                None => {
                    out.push((t.group.clone(), Vec::new()));
                    &mut out.last_mut().expect("just pushed").1
                }
            };
            for v in &t.versions {
                if !entry.contains(v) {
                    entry.push(v.clone());
                }
            }
        }
        for (_, vs) in &mut out {
            vs.sort_by_key(|v| std::cmp::Reverse(version_priority(v)));
        }
        out
    }

    /// Registers (or re-registers) the kinds of a CRD object; returns the key.
    pub fn register_crd(&mut self, crd: &Value) -> Result<String, String> {
        let t = crd_type(crd)?;
        let key = t.key();
        self.types.retain(|x| x.key() != key);
        self.types.push(t);
        Ok(key)
    }

    /// Removes the kinds of a CRD (by its `<plural>.<group>` name).
    pub fn unregister(&mut self, key: &str) {
        self.types.retain(|x| !(x.custom && x.key() == key));
    }
}

/// `("apps", "v1")` for `apps/v1`, `("", "v1")` for `v1`.
pub fn split_api_version(av: &str) -> (&str, &str) {
    match av.split_once('/') {
        Some((g, v)) => (g, v),
        None => ("", av),
    }
}

/// Kubernetes version priority: GA > beta > alpha, then by number (`v1beta2` > `v1beta1`).
pub fn version_priority(v: &str) -> (u8, u32, u32) {
    let Some(rest) = v.strip_prefix('v') else {
        return (0, 0, 0);
    };
    let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
    let major = digits.parse().unwrap_or(0);
    let tail = &rest[digits.len()..];
    let (stage, num) = if tail.is_empty() {
        (3, 0)
    } else if let Some(n) = tail.strip_prefix("beta") {
        (2, n.parse().unwrap_or(0))
    } else if let Some(n) = tail.strip_prefix("alpha") {
        (1, n.parse().unwrap_or(0))
    } else {
        (0, 0)
    };
    (stage, major, num)
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// The resource type a CRD defines (errors name the missing field).
pub fn crd_type(crd: &Value) -> Result<ResourceType, String> {
    let spec = &crd["spec"];
    let names = &spec["names"];
    let field = |v: &Value, f: &str| -> Result<String, String> {
        v.as_str()
            .filter(|s| !s.is_empty())
            .map(String::from)
            .ok_or_else(|| format!("spec.{f}: Required value"))
    };
    let group = field(&spec["group"], "group")?;
    let plural = field(&names["plural"], "names.plural")?;
    let kind = field(&names["kind"], "names.kind")?;
    let singular = names["singular"]
        .as_str()
        .map(String::from)
        .unwrap_or_else(|| kind.to_ascii_lowercase());
    let namespaced = spec["scope"].as_str() != Some("Cluster");
    let mut served: Vec<&Value> = spec["versions"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|v| v["served"].as_bool().unwrap_or(false))
                .collect()
        })
        .unwrap_or_default();
    if served.is_empty() {
        return Err("spec.versions: Invalid value: must have at least one served version".into());
    }
    // Preferred first: the storage version, then by Kubernetes version priority.
    served.sort_by(|a, b| {
        let sa = a["storage"].as_bool().unwrap_or(false);
        let sb = b["storage"].as_bool().unwrap_or(false);
        sb.cmp(&sa).then_with(|| {
            version_priority(b["name"].as_str().unwrap_or(""))
                .cmp(&version_priority(a["name"].as_str().unwrap_or("")))
        })
    });
    let versions: Vec<String> = served
        .iter()
        .filter_map(|v| v["name"].as_str().map(String::from))
        .collect();
    let sub = |v: &Value, s: &str| v["subresources"].get(s).is_some();
    let status_subresource = served.iter().any(|v| sub(v, "status"));
    let scale = served.iter().find_map(|v| {
        let s = v["subresources"].get("scale")?;
        Some((
            s["specReplicasPath"].as_str()?.to_string(),
            s["statusReplicasPath"].as_str()?.to_string(),
            s["labelSelectorPath"].as_str().map(String::from),
        ))
    });
    let printer_columns = served
        .iter()
        .map(|v| {
            let cols = v["additionalPrinterColumns"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|c| {
                            Some((
                                c["name"].as_str()?.to_string(),
                                c["jsonPath"].as_str()?.to_string(),
                                c["type"].as_str().unwrap_or("string").to_string(),
                            ))
                        })
                        .collect()
                })
                .unwrap_or_default();
            (v["name"].as_str().unwrap_or("").to_string(), cols)
        })
        .collect();
    Ok(ResourceType {
        group,
        versions,
        plural,
        singular,
        kind,
        namespaced,
        short_names: strings(&names["shortNames"]),
        categories: strings(&names["categories"]),
        status_subresource,
        scale,
        printer_columns,
        custom: true,
    })
}

struct Builtin {
    group: &'static str,
    versions: &'static [&'static str],
    plural: &'static str,
    kind: &'static str,
    namespaced: bool,
    status: bool,
    scale: bool,
    short: &'static [&'static str],
}

const fn b(
    group: &'static str,
    versions: &'static [&'static str],
    plural: &'static str,
    kind: &'static str,
    namespaced: bool,
    status: bool,
    short: &'static [&'static str],
) -> Builtin {
    Builtin {
        group,
        versions,
        plural,
        kind,
        namespaced,
        status,
        scale: false,
        short,
    }
}

const fn scaled(mut x: Builtin) -> Builtin {
    x.scale = true;
    x
}

const V1: &[&str] = &["v1"];

/// The built-in kinds (the ones scs-capi, its addons and kubectl's common verbs touch).
const BUILTINS: &[Builtin] = &[
    b("", V1, "namespaces", "Namespace", false, true, &["ns"]),
    b("", V1, "secrets", "Secret", true, false, &[]),
    b("", V1, "configmaps", "ConfigMap", true, false, &["cm"]),
    b(
        "",
        V1,
        "serviceaccounts",
        "ServiceAccount",
        true,
        false,
        &["sa"],
    ),
    b("", V1, "services", "Service", true, true, &["svc"]),
    b("", V1, "endpoints", "Endpoints", true, false, &["ep"]),
    b("", V1, "pods", "Pod", true, true, &["po"]),
    b("", V1, "nodes", "Node", false, true, &["no"]),
    b(
        "",
        V1,
        "persistentvolumeclaims",
        "PersistentVolumeClaim",
        true,
        true,
        &["pvc"],
    ),
    b(
        "",
        V1,
        "persistentvolumes",
        "PersistentVolume",
        false,
        true,
        &["pv"],
    ),
    b("", V1, "events", "Event", true, false, &["ev"]),
    b(
        "",
        V1,
        "limitranges",
        "LimitRange",
        true,
        false,
        &["limits"],
    ),
    b(
        "",
        V1,
        "resourcequotas",
        "ResourceQuota",
        true,
        true,
        &["quota"],
    ),
    scaled(b(
        "apps",
        V1,
        "deployments",
        "Deployment",
        true,
        true,
        &["deploy"],
    )),
    b("apps", V1, "daemonsets", "DaemonSet", true, true, &["ds"]),
    scaled(b(
        "apps",
        V1,
        "statefulsets",
        "StatefulSet",
        true,
        true,
        &["sts"],
    )),
    scaled(b(
        "apps",
        V1,
        "replicasets",
        "ReplicaSet",
        true,
        true,
        &["rs"],
    )),
    b(
        "apps",
        V1,
        "controllerrevisions",
        "ControllerRevision",
        true,
        false,
        &[],
    ),
    b("batch", V1, "jobs", "Job", true, true, &[]),
    b("batch", V1, "cronjobs", "CronJob", true, true, &["cj"]),
    b(
        "rbac.authorization.k8s.io",
        V1,
        "clusterroles",
        "ClusterRole",
        false,
        false,
        &[],
    ),
    b(
        "rbac.authorization.k8s.io",
        V1,
        "clusterrolebindings",
        "ClusterRoleBinding",
        false,
        false,
        &[],
    ),
    b(
        "rbac.authorization.k8s.io",
        V1,
        "roles",
        "Role",
        true,
        false,
        &[],
    ),
    b(
        "rbac.authorization.k8s.io",
        V1,
        "rolebindings",
        "RoleBinding",
        true,
        false,
        &[],
    ),
    b(
        "storage.k8s.io",
        V1,
        "storageclasses",
        "StorageClass",
        false,
        false,
        &["sc"],
    ),
    b(
        "storage.k8s.io",
        V1,
        "csidrivers",
        "CSIDriver",
        false,
        false,
        &[],
    ),
    b(
        "storage.k8s.io",
        V1,
        "volumeattachments",
        "VolumeAttachment",
        false,
        true,
        &[],
    ),
    b(
        "apiextensions.k8s.io",
        V1,
        "customresourcedefinitions",
        "CustomResourceDefinition",
        false,
        true,
        &["crd", "crds"],
    ),
    b(
        "admissionregistration.k8s.io",
        V1,
        "validatingwebhookconfigurations",
        "ValidatingWebhookConfiguration",
        false,
        false,
        &[],
    ),
    b(
        "admissionregistration.k8s.io",
        V1,
        "mutatingwebhookconfigurations",
        "MutatingWebhookConfiguration",
        false,
        false,
        &[],
    ),
    b(
        "coordination.k8s.io",
        V1,
        "leases",
        "Lease",
        true,
        false,
        &[],
    ),
    b(
        "policy",
        V1,
        "poddisruptionbudgets",
        "PodDisruptionBudget",
        true,
        true,
        &["pdb"],
    ),
    b(
        "networking.k8s.io",
        V1,
        "ingresses",
        "Ingress",
        true,
        true,
        &["ing"],
    ),
    b(
        "networking.k8s.io",
        V1,
        "ingressclasses",
        "IngressClass",
        false,
        false,
        &[],
    ),
    b(
        "networking.k8s.io",
        V1,
        "networkpolicies",
        "NetworkPolicy",
        true,
        false,
        &["netpol"],
    ),
    b(
        "scheduling.k8s.io",
        V1,
        "priorityclasses",
        "PriorityClass",
        false,
        false,
        &["pc"],
    ),
    b(
        "apiregistration.k8s.io",
        V1,
        "apiservices",
        "APIService",
        false,
        true,
        &[],
    ),
    b(
        "discovery.k8s.io",
        V1,
        "endpointslices",
        "EndpointSlice",
        true,
        false,
        &[],
    ),
];

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn version_priority_orders_like_kubernetes() {
        let mut v = vec!["v1alpha6", "v1beta1", "v1", "v1beta2", "v2alpha1"];
        v.sort_by_key(|x| std::cmp::Reverse(version_priority(x)));
        assert_eq!(v, ["v1", "v1beta2", "v1beta1", "v2alpha1", "v1alpha6"]);
    }

    #[test]
    fn crd_type_takes_names_scope_versions_and_subresources() {
        let crd = json!({"spec": {"group": "cluster.x-k8s.io", "scope": "Namespaced",
        "names": {"plural": "machinedeployments", "singular": "machinedeployment",
                  "kind": "MachineDeployment", "shortNames": ["md"], "categories": ["cluster-api"]},
        "versions": [
            {"name": "v1beta1", "served": true, "storage": false, "subresources": {"status": {}}},
            {"name": "v1alpha4", "served": false, "storage": false},
            {"name": "v1beta2", "served": true, "storage": true, "subresources": {"status": {},
                "scale": {"specReplicasPath": ".spec.replicas", "statusReplicasPath": ".status.replicas",
                          "labelSelectorPath": ".status.selector"}},
             "additionalPrinterColumns": [{"name": "Phase", "jsonPath": ".status.phase", "type": "string"}]}
        ]}});
        let t = crd_type(&crd).unwrap();
        assert_eq!(t.versions, ["v1beta2", "v1beta1"]);
        assert!(t.namespaced && t.status_subresource && t.custom);
        assert_eq!(t.scale.as_ref().unwrap().0, ".spec.replicas");
        assert_eq!(t.short_names, ["md"]);
        assert_eq!(t.key(), "machinedeployments.cluster.x-k8s.io");
        assert_eq!(t.printer_columns[0].1[0].0, "Phase");
        let mut r = Registry::builtin();
        r.register_crd(&crd).unwrap();
        assert!(
            r.by_kind("cluster.x-k8s.io/v1beta1", "MachineDeployment")
                .is_some()
        );
        assert!(
            r.by_kind("cluster.x-k8s.io/v1alpha4", "MachineDeployment")
                .is_none()
        );
        r.unregister("machinedeployments.cluster.x-k8s.io");
        assert!(
            r.by_group_kind("cluster.x-k8s.io", "MachineDeployment")
                .is_none()
        );
    }

    #[test]
    fn crd_without_served_versions_is_rejected() {
        let crd = json!({"spec": {"group": "g.io", "names": {"plural": "xs", "kind": "X"},
            "versions": [{"name": "v1", "served": false}]}});
        assert!(crd_type(&crd).unwrap_err().contains("served"));
    }
}
