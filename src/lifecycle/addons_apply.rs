//! The addons in the workload cluster: the objects [`crate::addons::build`] produced,
//! server-side applied under the field manager `scs-capi` (CRDs and Namespaces of every
//! addon first, then - once the CRDs are `Established` - everything else, CNI first), the
//! cilium CLI through the [`Runner`] (the workload kubeconfig as a 0600 file named in
//! `KUBECONFIG`, never its content on a command line), and removal of what is no longer
//! wanted.
//!
//! Removal works from an inventory the tool keeps in the workload cluster (ConfigMap
//! `kube-system/scs-capi-addons`: per addon, the objects applied last time): an addon
//! switched off loses all its objects, an addon whose new version dropped an object (OCCM
//! moved to the next minor's release) loses that object. Objects are found by that record,
//! but the record is only a ConfigMap: an object is deleted only when the live one carries
//! the label `addons.scs-capi.io/name` of that addon, and Namespaces and CRDs are never
//! deleted on the record's word (they are reported as kept).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{DynamicObject, Patch, PatchParams};
use kube::core::{ObjectMeta, TypeMeta};
use kube::{Api, Client};
use serde::Serialize;

use crate::addons::{AddonName, Built, Desired, Install};
use crate::mgmt::MgmtError;
use crate::mgmt::apply::{FIELD_MANAGER, Kinds, describe};
use crate::mgmt::client::api_error;
use crate::mgmt::runner::{Invocation, Runner};
use crate::ui::Progress;

/// The inventory ConfigMap.
pub const INVENTORY_NAMESPACE: &str = "kube-system";
pub const INVENTORY_NAME: &str = "scs-capi-addons";
/// The inventory value of an addon installed by a CLI (cilium).
const VIA_CLI: &str = "cli";

/// What happened to one addon.
#[derive(Debug, Clone, Serialize)]
pub struct AddonResult {
    pub addon: String,
    pub version: String,
    /// `applied N objects`, `installed with the cilium CLI`, `already installed`,
    /// `removed N objects`.
    pub action: String,
}

/// `apiVersion|kind|namespace|name`: one applied object in the inventory.
fn key(o: &DynamicObject) -> String {
    let t = o.types.clone().unwrap_or_default();
    format!(
        "{}|{}|{}|{}",
        t.api_version,
        t.kind,
        o.metadata.namespace.as_deref().unwrap_or(""),
        o.metadata.name.as_deref().unwrap_or("")
    )
}

fn from_key(k: &str) -> Option<DynamicObject> {
    let mut it = k.splitn(4, '|');
    let (api_version, kind, ns, name) = (it.next()?, it.next()?, it.next()?, it.next()?);
    Some(DynamicObject {
        types: Some(TypeMeta {
            api_version: api_version.into(),
            kind: kind.into(),
        }),
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: (!ns.is_empty()).then(|| ns.to_string()),
            ..Default::default()
        },
        data: serde_json::Value::Null,
    })
}

fn is_first(o: &DynamicObject) -> bool {
    matches!(
        o.types.as_ref().map(|t| t.kind.as_str()),
        Some("CustomResourceDefinition" | "Namespace")
    )
}

/// Everything the addon step needs besides the cluster connection.
pub struct Request<'a> {
    pub desired: &'a Desired,
    pub built: &'a [Built],
    /// The workload kubeconfig file (0600) for the cilium CLI.
    pub kubeconfig_file: &'a Path,
    pub runner: &'a dyn Runner,
    pub crd_timeout: Duration,
}

/// Applies the addons and removes what is no longer wanted; returns what happened per
/// addon.
///
/// # Errors
/// The first refused apply, a CRD that does not become established, a failed cilium CLI
/// run, or API failures. What was applied before stays (a re-run converges).
pub async fn apply(
    client: &Client,
    server: &str,
    req: &Request<'_>,
    progress: &dyn Progress,
) -> Result<Vec<AddonResult>, MgmtError> {
    let mut results = Vec::new();
    let old = read_inventory(client, server).await?;
    let mut inventory: BTreeMap<String, String> = BTreeMap::new();

    // CNI by CLI first: the nodes need it before anything schedules.
    for addon in &req.desired.install {
        if let Install::CiliumCli { args } = &addon.install {
            progress.phase(&format!("installing cilium {}", addon.version));
            let ds: Api<DaemonSet> = Api::namespaced(client.clone(), "kube-system");
            let present = ds
                .get_opt("cilium")
                .await
                .map_err(|e| api_error("reading DaemonSet `kube-system/cilium`", server, e))?
                .is_some();
            let action = if present {
                "already installed".to_string()
            } else {
                let inv = Invocation::new("cilium")
                    .args(args.iter().cloned())
                    .env("KUBECONFIG", req.kubeconfig_file.display().to_string())
                    .timeout(Duration::from_secs(600));
                req.runner.run(&inv, progress).await?.check()?;
                "installed with the cilium CLI".to_string()
            };
            progress.finish(&format!("cilium: {action}"));
            inventory.insert(AddonName::Cilium.as_str().into(), VIA_CLI.into());
            results.push(AddonResult {
                addon: addon.name.as_str().into(),
                version: addon.version.clone(),
                action,
            });
        }
    }

    let mut kinds = Kinds::new(client, server);
    let mut per_addon: Vec<(&Built, Vec<DynamicObject>)> = Vec::new();
    for b in req.built {
        let mut objs = Vec::new();
        for v in &b.objects {
            let o: DynamicObject = serde_json::from_value(v.clone()).map_err(|e| {
                MgmtError::new(format!(
                    "addon {} {}: an object is not a Kubernetes object: {e}",
                    b.name, b.version
                ))
            })?;
            objs.push(o);
        }
        per_addon.push((b, objs));
    }
    let total: usize = per_addon.iter().map(|(_, o)| o.len()).sum();
    progress.phase(&format!("applying {total} addon objects"));
    let mut crds = Vec::new();
    for (_, objs) in &per_addon {
        for o in objs.iter().filter(|o| is_first(o)) {
            kinds.apply(o, Some("default")).await?;
            if o.types
                .as_ref()
                .is_some_and(|t| t.kind == "CustomResourceDefinition")
                && let Some(n) = &o.metadata.name
            {
                crds.push(n.clone());
            }
        }
    }
    if !crds.is_empty() {
        crate::mgmt::wait::crds_established(client, server, &crds, req.crd_timeout, progress)
            .await?;
        progress.phase("applying addon objects");
    }
    let mut done = 0u64;
    for (b, objs) in &per_addon {
        for o in objs.iter().filter(|o| !is_first(o)) {
            kinds.apply(o, Some("default")).await?;
            done += 1;
        }
        progress.count("addon objects applied", done, total as u64);
        let keys: Vec<String> = objs.iter().map(key).collect();
        inventory.insert(b.name.as_str().into(), keys.join("\n"));
        results.push(AddonResult {
            addon: b.name.as_str().into(),
            version: b.version.clone(),
            action: format!("applied {} objects", objs.len()),
        });
    }
    progress.finish(&format!("{total} addon objects applied"));

    // Removal: what the last run applied and this one did not, as far as it is ours.
    let mut gone_by_addon: BTreeMap<String, usize> = BTreeMap::new();
    let mut kept: BTreeMap<String, usize> = BTreeMap::new();
    for (addon, recorded) in &old {
        if recorded == VIA_CLI {
            if !inventory.contains_key(addon) && addon == AddonName::Cilium.as_str() {
                progress.phase("removing cilium");
                let inv = Invocation::new("cilium")
                    .arg("uninstall")
                    .env("KUBECONFIG", req.kubeconfig_file.display().to_string())
                    .timeout(Duration::from_secs(600));
                req.runner.run(&inv, progress).await?.check()?;
                progress.finish("cilium removed");
                gone_by_addon.insert(addon.clone(), 0);
            }
            continue;
        }
        let keep: BTreeSet<&str> = inventory
            .get(addon)
            .map(|s| s.lines().collect())
            .unwrap_or_default();
        let stale: Vec<DynamicObject> = recorded
            .lines()
            .filter(|k| !k.is_empty() && !keep.contains(k))
            .filter_map(from_key)
            .collect();
        if stale.is_empty() {
            continue;
        }
        progress.phase(&format!(
            "removing {} objects of addon {addon}",
            stale.len()
        ));
        let mut removed = 0usize;
        for o in &stale {
            match remove_if_ours(&mut kinds, o, addon).await? {
                Removal::Deleted => removed += 1,
                Removal::Gone => {}
                Removal::Kept(why) => {
                    progress.message(&format!(
                        "kept {} of addon {addon}: {why}; delete it by hand when no longer used",
                        describe(o)
                    ));
                    *kept.entry(addon.clone()).or_default() += 1;
                }
            }
        }
        progress.finish(&format!("removed {removed} objects of addon {addon}"));
        *gone_by_addon.entry(addon.clone()).or_default() += removed;
    }
    for (addon, n) in gone_by_addon {
        if !inventory.contains_key(&addon) {
            results.push(AddonResult {
                addon: addon.clone(),
                version: String::new(),
                action: match (n, kept.get(&addon)) {
                    (_, Some(k)) => format!("removed {n} objects, kept {k}"),
                    (0, None) => "removed".into(),
                    (n, None) => format!("removed {n} objects"),
                },
            });
        }
    }
    write_inventory(client, server, &inventory).await?;
    Ok(results)
}

/// What became of one object the inventory lists for removal.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Removal {
    Deleted,
    /// Not there (any more), or its kind is gone with its CRD.
    Gone,
    /// Left in place, and why.
    Kept(&'static str),
}

/// Whether the inventory's word is enough to delete an object of `kind` labelled
/// `labels`: never for Namespaces and CRDs (their deletion takes everything in them or of
/// them, and the inventory is a ConfigMap anyone with write access to `kube-system` can
/// edit), otherwise only with the addon's label.
fn removal_verdict(
    kind: &str,
    labels: Option<&BTreeMap<String, String>>,
    addon: &str,
) -> Option<&'static str> {
    if matches!(kind, "Namespace" | "CustomResourceDefinition") {
        return Some("Namespaces and CRDs are never removed automatically");
    }
    let label = labels.and_then(|l| l.get(crate::addons::manifest::ADDON_LABEL));
    if label.map(String::as_str) != Some(addon) {
        return Some("it does not carry the addon's label");
    }
    None
}

/// Deletes `o` when the live object is the addon's ([`removal_verdict`]), with its uid as
/// precondition so an object re-created meanwhile is not hit.
async fn remove_if_ours(
    kinds: &mut Kinds,
    o: &DynamicObject,
    addon: &str,
) -> Result<Removal, MgmtError> {
    let live = match kinds.get(o, None).await {
        Ok(Some(live)) => live,
        Ok(None) => return Ok(Removal::Gone),
        // A kind whose CRD went already: nothing of it is left.
        Err(e) if e.message.contains("looking up the kind") => return Ok(Removal::Gone),
        Err(e) => return Err(e),
    };
    let kind = o.types.as_ref().map_or("", |t| t.kind.as_str());
    if let Some(why) = removal_verdict(kind, live.metadata.labels.as_ref(), addon) {
        return Ok(Removal::Kept(why));
    }
    let api = kinds.api_for(o, None).await?;
    let name = o.metadata.name.clone().unwrap_or_default();
    let params = kube::api::DeleteParams {
        preconditions: live
            .metadata
            .uid
            .clone()
            .map(|uid| kube::api::Preconditions {
                uid: Some(uid),
                resource_version: None,
            }),
        ..Default::default()
    };
    match api.delete(&name, &params).await {
        Ok(_) => Ok(Removal::Deleted),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(Removal::Gone),
        Err(kube::Error::Api(s)) if s.code == 409 => {
            Ok(Removal::Kept("it was re-created meanwhile"))
        }
        Err(e) => Err(api_error(
            &format!("deleting `{}`", describe(o)),
            kinds.server(),
            e,
        )),
    }
}

async fn read_inventory(
    client: &Client,
    server: &str,
) -> Result<BTreeMap<String, String>, MgmtError> {
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), INVENTORY_NAMESPACE);
    let cm = api.get_opt(INVENTORY_NAME).await.map_err(|e| {
        api_error(
            &format!("reading ConfigMap `{INVENTORY_NAMESPACE}/{INVENTORY_NAME}`"),
            server,
            e,
        )
    })?;
    Ok(cm.and_then(|c| c.data).unwrap_or_default())
}

async fn write_inventory(
    client: &Client,
    server: &str,
    inventory: &BTreeMap<String, String>,
) -> Result<(), MgmtError> {
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), INVENTORY_NAMESPACE);
    let cm = serde_json::json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": INVENTORY_NAME, "namespace": INVENTORY_NAMESPACE,
                     "labels": {crate::addons::manifest::MANAGED_BY_LABEL: crate::addons::manifest::MANAGED_BY}},
        "data": inventory,
    });
    api.patch(
        INVENTORY_NAME,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(cm),
    )
    .await
    .map(|_| ())
    .map_err(|e| {
        api_error(
            &format!("writing ConfigMap `{INVENTORY_NAMESPACE}/{INVENTORY_NAME}`"),
            server,
            e,
        )
    })
}

/// `kind ns/name` of an inventory key, for messages.
pub fn describe_key(k: &str) -> String {
    from_key(k)
        .map(|o| describe(&o))
        .unwrap_or_else(|| k.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removal_needs_the_addons_label_and_spares_namespaces_and_crds() {
        let labels = |v: &str| {
            BTreeMap::from([(
                crate::addons::manifest::ADDON_LABEL.to_string(),
                v.to_string(),
            )])
        };
        assert_eq!(
            removal_verdict("Deployment", Some(&labels("occm")), "occm"),
            None
        );
        assert!(removal_verdict("Deployment", Some(&labels("calico")), "occm").is_some());
        assert!(removal_verdict("Deployment", None, "occm").is_some());
        assert!(removal_verdict("Namespace", Some(&labels("occm")), "occm").is_some());
        assert!(
            removal_verdict("CustomResourceDefinition", Some(&labels("occm")), "occm").is_some()
        );
    }

    #[test]
    fn inventory_keys_round_trip() {
        let o = from_key("apps/v1|Deployment|kube-system|occm").unwrap();
        assert_eq!(key(&o), "apps/v1|Deployment|kube-system|occm");
        assert_eq!(
            describe_key("v1|Namespace||flux-system"),
            "Namespace flux-system"
        );
        assert!(from_key("broken").is_none());
    }
}
