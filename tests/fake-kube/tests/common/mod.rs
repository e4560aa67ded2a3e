//! Helpers shared by the fake-kube integration tests: the manifests scs-capi renders (read
//! from the main crate's render snapshots, so they stay what the tool really applies), a
//! kube-rs client from a kubeconfig, and server-side apply of multi-document YAML.
#![allow(dead_code)]

use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::discovery::{Discovery, Scope};
use kube::{Client, Config};
use serde_json::Value;
use std::path::Path;
use std::time::Duration;

/// The documents of `tests/snapshots/render__<case>_<profile>_manifests.snap`.
pub fn rendered(case: &str, profile: &str) -> Vec<Value> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../snapshots")
        .join(format!("render__{case}_{profile}_manifests.snap"));
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    // insta header: `---\n<meta>\n---\n`, then the manifests.
    let body = text
        .strip_prefix("---\n")
        .and_then(|t| t.split_once("\n---\n"))
        .map(|(_, body)| body)
        .expect("insta header");
    serde_saphyr::from_multiple::<Value>(body)
        .expect("rendered manifests are YAML")
        .into_iter()
        .filter(|d| d.is_object())
        .collect()
}

pub async fn client(kubeconfig: &str) -> Client {
    let kc = Kubeconfig::from_yaml(kubeconfig).expect("kubeconfig parses");
    let cfg = Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .expect("kubeconfig is usable");
    Client::try_from(cfg).expect("client")
}

/// An `Api<DynamicObject>` for `apiVersion`/`kind` (namespace `default` when namespaced).
pub async fn dynamic(client: &Client, api_version: &str, kind: &str) -> Api<DynamicObject> {
    let discovery = Discovery::new(client.clone())
        .run()
        .await
        .expect("discovery");
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    let gvk = kube::api::GroupVersionKind::gvk(group, version, kind);
    let (ar, caps) = discovery
        .resolve_gvk(&gvk)
        .unwrap_or_else(|| panic!("{api_version} {kind} not discovered"));
    if caps.scope == Scope::Namespaced {
        Api::namespaced_with(client.clone(), "default", &ar)
    } else {
        Api::all_with(client.clone(), &ar)
    }
}

/// Server-side applies every document (in order) as `manager`.
pub async fn apply_all(client: &Client, docs: &[Value], manager: &str) {
    let discovery = Discovery::new(client.clone())
        .run()
        .await
        .expect("discovery");
    for d in docs {
        let av = d["apiVersion"].as_str().expect("apiVersion");
        let kind = d["kind"].as_str().expect("kind");
        let (group, version) = av.split_once('/').unwrap_or(("", av));
        let gvk = kube::api::GroupVersionKind::gvk(group, version, kind);
        let (ar, caps) = discovery
            .resolve_gvk(&gvk)
            .unwrap_or_else(|| panic!("{av} {kind} not discovered"));
        let api: Api<DynamicObject> = if caps.scope == Scope::Namespaced {
            Api::namespaced_with(client.clone(), "default", &ar)
        } else {
            Api::all_with(client.clone(), &ar)
        };
        let name = d["metadata"]["name"].as_str().expect("name");
        api.patch(name, &PatchParams::apply(manager).force(), &Patch::Apply(d))
            .await
            .unwrap_or_else(|e| panic!("apply {kind}/{name}: {e}"));
    }
}

/// Polls `f` every 20 ms until it returns Some, failing after `secs` seconds with `what`.
pub async fn eventually<T>(secs: u64, what: &str, mut f: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub fn condition<'a>(obj: &'a Value, ty: &str) -> Option<&'a Value> {
    obj["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == ty)
}

pub fn is_true(obj: &Value, ty: &str) -> bool {
    condition(obj, ty).is_some_and(|c| c["status"] == "True")
}
