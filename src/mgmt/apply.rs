//! Server-side apply to the management cluster, always under the field manager
//! [`FIELD_MANAGER`] (`scs-capi`) and with `force` (we own the fields we set, even if
//! `kubectl` or `clusterctl` set them before).
//!
//! - [`apply_manifest`]: a multi-document YAML manifest (ORC's `install.yaml`): each
//!   document's kind is resolved through API discovery and applied as a `DynamicObject`;
//!   CRDs and Namespaces go first (what later documents need), the rest in file order.
//! - [`set_capo_instance_create_timeout`]: the environment variable CAPO reads for how long
//!   it waits for a new server (R5's `CLUSTER_API_OPENSTACK_INSTANCE_CREATE_TIMEOUT`, set
//!   with `kubectl set env` upstream), applied as a partial Deployment that owns only that
//!   one entry.
//!
//! Parsing and ordering are pure and unit-tested; the API calls need a cluster.

use std::collections::HashMap;

use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{DynamicObject, Patch, PatchParams};
use kube::core::GroupVersionKind;
use kube::discovery::{ApiCapabilities, ApiResource, Scope, pinned_kind};
use kube::{Api, Client};
use serde_json::{Value, json};

use super::MgmtError;
use super::client::api_error;

/// The field manager of every write scs-capi makes.
pub const FIELD_MANAGER: &str = "scs-capi";

/// CAPO's controller and the variable it reads (minutes).
pub const CAPO_NAMESPACE: &str = "capo-system";
pub const CAPO_DEPLOYMENT: &str = "capo-controller-manager";
pub const CAPO_CONTAINER: &str = "manager";
pub const CAPO_TIMEOUT_ENV: &str = "CLUSTER_API_OPENSTACK_INSTANCE_CREATE_TIMEOUT";

fn params() -> PatchParams {
    PatchParams::apply(FIELD_MANAGER).force()
}

/// The documents of a manifest that are objects (empty documents and `List`-less nulls
/// dropped), ordered CRDs, Namespaces, then the rest in file order.
///
/// # Errors
/// When the YAML does not parse or a document lacks `apiVersion`, `kind` or
/// `metadata.name`.
pub fn parse_manifest(name: &str, text: &str) -> Result<Vec<DynamicObject>, MgmtError> {
    let docs: Vec<Value> = serde_saphyr::from_multiple(text)
        .map_err(|e| MgmtError::new(format!("the manifest `{name}` is not valid YAML: {e}")))?;
    let mut objs = Vec::new();
    for (i, doc) in docs.into_iter().enumerate() {
        if doc.is_null() {
            continue;
        }
        let obj: DynamicObject = serde_json::from_value(doc).map_err(|e| {
            MgmtError::new(format!(
                "document {} of the manifest `{name}` is not a Kubernetes object: {e}",
                i + 1
            ))
        })?;
        if obj.types.is_none() || obj.metadata.name.as_deref().unwrap_or("").is_empty() {
            return Err(MgmtError::new(format!(
                "document {} of the manifest `{name}` lacks `apiVersion`, `kind` or `metadata.name`",
                i + 1
            )));
        }
        objs.push(obj);
    }
    let rank = |o: &DynamicObject| match o.types.as_ref().map(|t| t.kind.as_str()) {
        Some("CustomResourceDefinition") => 0,
        Some("Namespace") => 1,
        _ => 2,
    };
    objs.sort_by_key(rank); // stable: file order within each rank
    Ok(objs)
}

/// `kind/name` or `kind namespace/name`, for messages.
pub fn describe(o: &DynamicObject) -> String {
    let kind = o.types.as_ref().map_or("?", |t| t.kind.as_str());
    let name = o.metadata.name.as_deref().unwrap_or("?");
    match &o.metadata.namespace {
        Some(ns) => format!("{kind} {ns}/{name}"),
        None => format!("{kind} {name}"),
    }
}

/// Resolves objects to their API (kind through discovery, cached per kind) on one
/// cluster, for applying, reading and deleting them; the workload clusters' addons use it
/// as well as the management cluster's manifests.
pub struct Kinds {
    client: Client,
    server: String,
    cache: HashMap<String, (ApiResource, ApiCapabilities)>,
}

impl Kinds {
    pub fn new(client: &Client, server: &str) -> Kinds {
        Kinds {
            client: client.clone(),
            server: server.to_string(),
            cache: HashMap::new(),
        }
    }

    pub fn server(&self) -> &str {
        &self.server
    }

    /// The resource and capabilities of `types` (discovery, cached).
    ///
    /// # Errors
    /// An unusable apiVersion or a kind the server does not serve (its CRD missing).
    pub async fn resolve(
        &mut self,
        types: &kube::core::TypeMeta,
        what: &str,
    ) -> Result<(ApiResource, ApiCapabilities), MgmtError> {
        let gvk = GroupVersionKind::try_from(types)
            .map_err(|e| MgmtError::new(format!("`{what}` has an unusable apiVersion: {e}")))?;
        let key = format!("{}/{}/{}", gvk.group, gvk.version, gvk.kind);
        if let Some(found) = self.cache.get(&key) {
            return Ok(found.clone());
        }
        let found = pinned_kind(&self.client, &gvk)
            .await
            .map_err(|e| api_error(&format!("looking up the kind of `{what}`"), &self.server, e))?;
        self.cache.insert(key, found.clone());
        Ok(found)
    }

    /// The API of `obj` (namespaced ones in their namespace, else in `default_ns`).
    ///
    /// # Errors
    /// As [`Kinds::resolve`], and a namespaced object without namespace and no default.
    pub async fn api_for(
        &mut self,
        obj: &DynamicObject,
        default_ns: Option<&str>,
    ) -> Result<Api<DynamicObject>, MgmtError> {
        let what = describe(obj);
        let Some(types) = obj.types.as_ref() else {
            return Err(MgmtError::new(format!("`{what}` has no apiVersion/kind")));
        };
        let (ar, caps) = self.resolve(types, &what).await?;
        Ok(match caps.scope {
            Scope::Cluster => Api::all_with(self.client.clone(), &ar),
            Scope::Namespaced => match obj.metadata.namespace.as_deref().or(default_ns) {
                Some(ns) => Api::namespaced_with(self.client.clone(), ns, &ar),
                None => {
                    return Err(MgmtError::new(format!(
                        "`{what}` is namespaced but the manifest gives no namespace"
                    )));
                }
            },
        })
    }

    /// Server-side applies `obj` under [`FIELD_MANAGER`] (forced) and returns the result.
    ///
    /// # Errors
    /// As [`Kinds::api_for`], or the apply is refused; the error names the object.
    pub async fn apply(
        &mut self,
        obj: &DynamicObject,
        default_ns: Option<&str>,
    ) -> Result<DynamicObject, MgmtError> {
        let api = self.api_for(obj, default_ns).await?;
        let name = obj.metadata.name.clone().unwrap_or_default();
        api.patch(&name, &params(), &Patch::Apply(obj))
            .await
            .map_err(|e| api_error(&format!("applying `{}`", describe(obj)), &self.server, e))
    }

    /// The live object named like `obj`, if any.
    ///
    /// # Errors
    /// As [`Kinds::api_for`], or the read fails.
    pub async fn get(
        &mut self,
        obj: &DynamicObject,
        default_ns: Option<&str>,
    ) -> Result<Option<DynamicObject>, MgmtError> {
        let api = self.api_for(obj, default_ns).await?;
        let name = obj.metadata.name.clone().unwrap_or_default();
        api.get_opt(&name)
            .await
            .map_err(|e| api_error(&format!("reading `{}`", describe(obj)), &self.server, e))
    }

    /// Deletes the object named like `obj`; `false` when it was already gone.
    ///
    /// # Errors
    /// As [`Kinds::api_for`], or the delete is refused.
    pub async fn delete(
        &mut self,
        obj: &DynamicObject,
        default_ns: Option<&str>,
    ) -> Result<bool, MgmtError> {
        let api = self.api_for(obj, default_ns).await?;
        let name = obj.metadata.name.clone().unwrap_or_default();
        match api.delete(&name, &Default::default()).await {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(false),
            Err(e) => Err(api_error(
                &format!("deleting `{}`", describe(obj)),
                &self.server,
                e,
            )),
        }
    }
}

/// Applies every object of a manifest; returns how many.
///
/// # Errors
/// An unknown kind (its CRD missing), a namespaced object without namespace, or a refused
/// apply; the error names the object. Objects before it stay applied (a re-run converges).
pub async fn apply_manifest(
    client: &Client,
    server: &str,
    objs: &[DynamicObject],
) -> Result<usize, MgmtError> {
    let mut kinds = Kinds::new(client, server);
    for obj in objs {
        kinds.apply(obj, None).await?;
    }
    Ok(objs.len())
}

/// The partial Deployment that sets CAPO's instance-create timeout.
pub fn capo_timeout_patch(minutes: u32) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": CAPO_DEPLOYMENT, "namespace": CAPO_NAMESPACE},
        "spec": {"template": {"spec": {"containers": [{
            "name": CAPO_CONTAINER,
            "env": [{"name": CAPO_TIMEOUT_ENV, "value": minutes.to_string()}]
        }]}}}
    })
}

/// Sets `CLUSTER_API_OPENSTACK_INSTANCE_CREATE_TIMEOUT` on CAPO's controller (a rollout
/// follows when the value changes; nothing when it is already set).
///
/// # Errors
/// When CAPO's Deployment is missing or the apply is refused.
pub async fn set_capo_instance_create_timeout(
    client: &Client,
    server: &str,
    minutes: u32,
) -> Result<(), MgmtError> {
    let api: Api<Deployment> = Api::namespaced(client.clone(), CAPO_NAMESPACE);
    api.patch(
        CAPO_DEPLOYMENT,
        &params(),
        &Patch::Apply(capo_timeout_patch(minutes)),
    )
    .await
    .map(|_| ())
    .map_err(|e| {
        api_error(
            &format!("setting `{CAPO_TIMEOUT_ENV}` on `{CAPO_NAMESPACE}/{CAPO_DEPLOYMENT}`"),
            server,
            e,
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_order_crds_then_namespaces_then_file_order() {
        let text = r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: orc-controller-manager, namespace: orc-system}
---
apiVersion: v1
kind: Namespace
metadata: {name: orc-system}
---
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: images.openstack.k-orc.cloud}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: orc, namespace: orc-system}
"#;
        let objs = parse_manifest("install.yaml", text).unwrap();
        let order: Vec<String> = objs.iter().map(describe).collect();
        assert_eq!(
            order,
            [
                "CustomResourceDefinition images.openstack.k-orc.cloud",
                "Namespace orc-system",
                "Deployment orc-system/orc-controller-manager",
                "ServiceAccount orc-system/orc",
            ]
        );
    }

    #[test]
    fn manifest_errors_name_the_document() {
        let e = parse_manifest("m.yaml", "kind: Foo\nmetadata: {name: x}\n").unwrap_err();
        assert!(
            e.message.contains("document 1 of the manifest `m.yaml`"),
            "{e}"
        );
        let e = parse_manifest("m.yaml", "a: [\n").unwrap_err();
        assert!(e.message.contains("not valid YAML"), "{e}");
    }

    #[test]
    fn capo_patch_owns_only_the_env_entry() {
        let p = capo_timeout_patch(12);
        assert_eq!(
            p.pointer("/spec/template/spec/containers/0/env/0"),
            Some(&json!({"name": CAPO_TIMEOUT_ENV, "value": "12"}))
        );
        assert_eq!(
            p.pointer("/spec/template/spec/containers/0/name"),
            Some(&json!("manager"))
        );
        assert!(p.pointer("/spec/replicas").is_none());
        assert!(
            p.pointer("/spec/template/spec/containers/0/image")
                .is_none()
        );
    }
}
