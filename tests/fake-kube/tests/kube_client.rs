//! The fake API server against the real kube-rs client (typed k8s-openapi kinds and
//! dynamic CAPI kinds): server-side apply (create, update, field removal, conflict, force,
//! managedFields), error Status bodies, finalizers, selectors, watches, `await_condition`,
//! discovery, status subresource, request log.

mod common;

use common::*;
use fake_kube::{Fake, FaultKind, Profile};
use futures_util::TryStreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret};
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::discovery::{Discovery, Scope};
use kube::runtime::wait::await_condition;
use kube::runtime::watcher;
use serde_json::json;
use std::time::Duration;

async fn plain() -> (Fake, fake_kube::Running, kube::Client) {
    let fake = Fake::builder().without_controller().build().unwrap();
    let running = fake.serve(0).await.unwrap();
    let c = client(&fake.kubeconfig().unwrap()).await;
    (fake, running, c)
}

fn deploy(replicas: i32, labels: serde_json::Value) -> serde_json::Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "labels": labels},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]}}}})
}

fn api_error(e: kube::Error) -> kube::core::Status {
    match e {
        kube::Error::Api(s) => *s,
        other => panic!("expected an API error, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_side_apply_semantics() {
    let (fake, _r, c) = plain().await;
    let api: Api<Deployment> = Api::namespaced(c.clone(), "default");
    let ssa = |m: &str| PatchParams::apply(m);

    let d = api
        .patch(
            "web",
            &ssa("scs-capi"),
            &Patch::Apply(deploy(2, json!({"a": "1", "b": "2"}))),
        )
        .await
        .unwrap();
    assert_eq!(d.spec.replicas, Some(2));
    assert_eq!(d.metadata.generation, Some(1));
    let rv1 = d.metadata.resource_version.clone().unwrap();
    let mf = d.metadata.managed_fields.as_ref().unwrap();
    assert_eq!(mf.len(), 1);
    assert_eq!(mf[0].manager.as_deref(), Some("scs-capi"));
    assert_eq!(mf[0].operation.as_deref(), Some("Apply"));

    // Same config again: nothing changes, not even the resourceVersion.
    let again = api
        .patch(
            "web",
            &ssa("scs-capi"),
            &Patch::Apply(deploy(2, json!({"a": "1", "b": "2"}))),
        )
        .await
        .unwrap();
    assert_eq!(
        again.metadata.resource_version.as_deref(),
        Some(rv1.as_str())
    );

    // Dropping label `b` from the config removes it; a spec change bumps generation.
    let d = api
        .patch(
            "web",
            &ssa("scs-capi"),
            &Patch::Apply(deploy(3, json!({"a": "1"}))),
        )
        .await
        .unwrap();
    assert_eq!(d.metadata.labels.as_ref().unwrap().get("b"), None);
    assert_eq!(d.metadata.generation, Some(2));

    // Another manager changing an owned field: 409 Conflict naming manager and field.
    let e = api_error(
        api.patch("web", &ssa("other"), &Patch::Apply(deploy(5, json!({}))))
            .await
            .unwrap_err(),
    );
    assert_eq!((e.code, e.reason.as_str()), (409, "Conflict"));
    assert!(
        e.message.contains("conflict with \"scs-capi\""),
        "{}",
        e.message
    );
    assert!(e.message.contains(".spec.replicas"), "{}", e.message);
    // ...unless forced; ownership moves.
    let d = api
        .patch(
            "web",
            &ssa("other").force(),
            &Patch::Apply(deploy(5, json!({}))),
        )
        .await
        .unwrap();
    assert_eq!(d.spec.replicas, Some(5));
    let managers: Vec<String> = d
        .metadata
        .managed_fields
        .unwrap()
        .iter()
        .filter_map(|m| m.manager.clone())
        .collect();
    assert_eq!(managers, ["scs-capi", "other"]);

    // A merge patch by a third manager takes the field away from the appliers.
    api.patch(
        "web",
        &PatchParams {
            field_manager: Some("kubectl-scale".into()),
            ..Default::default()
        },
        &Patch::Merge(json!({"spec": {"replicas": 7}})),
    )
    .await
    .unwrap();
    let e = api_error(
        api.patch("web", &ssa("other"), &Patch::Apply(deploy(5, json!({}))))
            .await
            .unwrap_err(),
    );
    assert!(
        e.message.contains("conflict with \"kubectl-scale\""),
        "{}",
        e.message
    );

    let log = fake.request_log();
    let applies: Vec<_> = log.iter().filter(|r| r.verb == "apply").collect();
    assert!(
        applies
            .iter()
            .all(|r| r.content_type.as_deref() == Some("application/apply-patch+yaml"))
    );
    assert_eq!(applies[0].field_manager.as_deref(), Some("scs-capi"));
    assert_eq!(applies[0].kind.as_deref(), Some("Deployment"));
    assert_eq!(applies[0].status, 201);
    assert_eq!(applies[1].status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_are_kubernetes_status_bodies() {
    let (fake, _r, c) = plain().await;
    let secrets: Api<Secret> = Api::namespaced(c.clone(), "default");
    let e = api_error(secrets.get("missing").await.unwrap_err());
    assert_eq!((e.code, e.reason.as_str()), (404, "NotFound"));
    assert_eq!(e.message, "secrets \"missing\" not found");
    assert!(secrets.get_opt("missing").await.unwrap().is_none());

    let s: Secret =
        serde_json::from_value(json!({"metadata": {"name": "s1"}, "stringData": {"k": "v"}}))
            .unwrap();
    let created = secrets.create(&PostParams::default(), &s).await.unwrap();
    // stringData is folded into data, as the API server does.
    assert!(created.string_data.is_none());
    assert_eq!(created.data.unwrap()["k"].0, b"v");
    let e = api_error(
        secrets
            .create(&PostParams::default(), &s)
            .await
            .unwrap_err(),
    );
    assert_eq!((e.code, e.reason.as_str()), (409, "AlreadyExists"));

    let bad: Secret = serde_json::from_value(json!({"metadata": {"name": "Bad_Name"}})).unwrap();
    let e = api_error(
        secrets
            .create(&PostParams::default(), &bad)
            .await
            .unwrap_err(),
    );
    assert_eq!((e.code, e.reason.as_str()), (422, "Invalid"));
    assert!(
        e.message
            .contains("metadata.name: Invalid value: \"Bad_Name\""),
        "{}",
        e.message
    );

    let other_ns: Api<Secret> = Api::namespaced(c.clone(), "nowhere");
    let e = api_error(
        other_ns
            .create(&PostParams::default(), &s)
            .await
            .unwrap_err(),
    );
    assert_eq!(e.message, "namespaces \"nowhere\" not found");

    // Optimistic concurrency on update.
    let mut cur = secrets.get("s1").await.unwrap();
    cur.metadata.resource_version = Some("1".into());
    let e = api_error(
        secrets
            .replace("s1", &PostParams::default(), &cur)
            .await
            .unwrap_err(),
    );
    assert_eq!((e.code, e.reason.as_str()), (409, "Conflict"));

    // Injected faults come back as Status errors too (500: kube-rs retries 503s itself).
    fake.inject_fault(
        "GET",
        "/api/v1/namespaces/default/secrets/s1",
        1,
        FaultKind::Status(500),
    );
    let e = api_error(secrets.get("s1").await.unwrap_err());
    assert_eq!((e.code, e.reason.as_str()), (500, "InternalError"));
    assert!(secrets.get("s1").await.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finalizers_selectors_and_namespaces() {
    let (_fake, _r, c) = plain().await;
    let cms: Api<ConfigMap> = Api::namespaced(c.clone(), "default");
    for (n, tier) in [("a", "cp"), ("b", "worker"), ("c", "worker")] {
        let cm: ConfigMap =
            serde_json::from_value(json!({"metadata": {"name": n, "labels": {"tier": tier}}}))
                .unwrap();
        cms.create(&PostParams::default(), &cm).await.unwrap();
    }
    let workers = cms
        .list(&ListParams::default().labels("tier=worker"))
        .await
        .unwrap();
    assert_eq!(workers.items.len(), 2);
    let by_name = cms
        .list(&ListParams::default().fields("metadata.name=c"))
        .await
        .unwrap();
    assert_eq!(by_name.items[0].metadata.name.as_deref(), Some("c"));
    let page = cms.list(&ListParams::default().limit(2)).await.unwrap();
    assert_eq!(page.items.len(), 2);
    let rest = cms
        .list(
            &ListParams::default()
                .limit(2)
                .continue_token(page.metadata.continue_.as_deref().unwrap()),
        )
        .await
        .unwrap();
    assert_eq!(rest.items[0].metadata.name.as_deref(), Some("c"));

    cms.patch(
        "a",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": ["example.com/hold"]}})),
    )
    .await
    .unwrap();
    cms.delete("a", &DeleteParams::default()).await.unwrap();
    let held = cms.get("a").await.unwrap();
    assert!(held.metadata.deletion_timestamp.is_some());
    cms.patch(
        "a",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .unwrap();
    assert!(cms.get_opt("a").await.unwrap().is_none());

    let nss: Api<Namespace> = Api::all(c.clone());
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": "scratch"}})).unwrap();
    nss.create(&PostParams::default(), &ns).await.unwrap();
    let in_ns: Api<ConfigMap> = Api::namespaced(c.clone(), "scratch");
    let cm: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "x"}})).unwrap();
    in_ns.create(&PostParams::default(), &cm).await.unwrap();
    nss.delete("scratch", &DeleteParams::background())
        .await
        .unwrap();
    assert!(nss.get_opt("scratch").await.unwrap().is_none());
    assert!(
        in_ns
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watcher_sees_adds_updates_and_deletes() {
    let (_fake, _r, c) = plain().await;
    let cms: Api<ConfigMap> = Api::namespaced(c.clone(), "default");
    let pre: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "pre"}})).unwrap();
    cms.create(&PostParams::default(), &pre).await.unwrap();
    let stream = watcher(cms.clone(), watcher::Config::default());
    let events = tokio::spawn(async move {
        let mut seen = Vec::new();
        let mut s = std::pin::pin!(stream);
        while let Ok(Some(ev)) = tokio::time::timeout(Duration::from_secs(10), s.try_next())
            .await
            .unwrap_or(Ok(None))
        {
            let text = match ev {
                watcher::Event::Init => "init".to_string(),
                watcher::Event::InitApply(o) => format!("init:{}", o.metadata.name.unwrap()),
                watcher::Event::InitDone => "initdone".to_string(),
                watcher::Event::Apply(o) => format!(
                    "apply:{}:{}",
                    o.metadata.name.unwrap(),
                    o.data.and_then(|d| d.get("k").cloned()).unwrap_or_default()
                ),
                watcher::Event::Delete(o) => format!("delete:{}", o.metadata.name.unwrap()),
            };
            let done = text == "delete:w";
            seen.push(text);
            if done {
                break;
            }
        }
        seen
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let w: ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": "w"}, "data": {"k": "1"}})).unwrap();
    cms.create(&PostParams::default(), &w).await.unwrap();
    // The creator (an Update manager) owns data.k: taking it over needs force, as for real.
    cms.patch(
        "w",
        &PatchParams::apply("t").force(),
        &Patch::Apply(json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "w"}, "data": {"k": "2"}})),
    )
    .await
    .unwrap();
    cms.delete("w", &DeleteParams::default()).await.unwrap();
    let seen = events.await.unwrap();
    assert_eq!(
        seen,
        [
            "init",
            "init:pre",
            "initdone",
            "apply:w:1",
            "apply:w:2",
            "delete:w"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crds_discovery_status_subresource_and_await_condition() {
    let fake = Fake::builder()
        .profile(Profile::Default)
        .without_controller()
        .build()
        .unwrap();
    let _r = fake.serve(0).await.unwrap();
    let c = client(&fake.kubeconfig().unwrap()).await;
    let discovery = Discovery::new(c.clone()).run().await.unwrap();
    let capi = discovery
        .groups()
        .find(|g| g.name() == "cluster.x-k8s.io")
        .expect("CAPI group");
    assert_eq!(capi.preferred_version_or_latest(), "v1beta2");
    let (ar, caps) = discovery
        .resolve_gvk(&kube::api::GroupVersionKind::gvk(
            "cluster.x-k8s.io",
            "v1beta1",
            "Cluster",
        ))
        .unwrap();
    assert_eq!(
        (ar.plural.as_str(), caps.scope.clone()),
        ("clusters", Scope::Namespaced)
    );
    assert!(
        caps.subresources
            .iter()
            .any(|(r, _)| r.plural == "clusters/status" || r.plural == "status")
    );

    let clusters: Api<DynamicObject> = Api::namespaced_with(
        c.clone(),
        "default",
        &discovery
            .resolve_gvk(&kube::api::GroupVersionKind::gvk(
                "cluster.x-k8s.io",
                "v1beta2",
                "Cluster",
            ))
            .unwrap()
            .0,
    );
    let obj = json!({"apiVersion": "cluster.x-k8s.io/v1beta2", "kind": "Cluster", "metadata": {"name": "demo"},
        "spec": {"clusterNetwork": {"pods": {"cidrBlocks": ["192.168.0.0/16"]}}},
        "status": {"phase": "ignored on the main resource"}});
    let created = clusters
        .patch("demo", &PatchParams::apply("scs-capi"), &Patch::Apply(&obj))
        .await
        .unwrap();
    assert!(created.data.get("status").is_none());
    let waiting = tokio::spawn(await_condition(
        clusters.clone(),
        "demo",
        |o: Option<&DynamicObject>| {
            o.is_some_and(|o| {
                o.data["status"]["conditions"].as_array().is_some_and(|a| {
                    a.iter()
                        .any(|c| c["type"] == "Available" && c["status"] == "True")
                })
            })
        },
    ));
    tokio::time::sleep(Duration::from_millis(100)).await;
    clusters.patch_status("demo", &PatchParams::default(), &Patch::Merge(json!({"status": {"conditions": [
        {"type": "Available", "status": "True", "reason": "Available", "lastTransitionTime": "2026-01-01T00:00:00Z"}]}})))
        .await.unwrap();
    let got = tokio::time::timeout(Duration::from_secs(10), waiting)
        .await
        .expect("condition seen")
        .unwrap()
        .unwrap();
    assert_eq!(got.unwrap().metadata.name.as_deref(), Some("demo"));
    let stored = clusters.get("demo").await.unwrap();
    assert_eq!(
        stored.data["spec"]["clusterNetwork"]["pods"]["cidrBlocks"][0],
        "192.168.0.0/16"
    );
    // The status write did not bump the generation; the spec is unchanged.
    assert_eq!(stored.metadata.generation, Some(1));
    // A kind nobody registered is 404, as before its CRD is installed.
    let unknown = kube::api::ApiResource::from_gvk_with_plural(
        &kube::api::GroupVersionKind::gvk("example.io", "v1", "Widget"),
        "widgets",
    );
    let widgets: Api<DynamicObject> = Api::namespaced_with(c.clone(), "default", &unknown);
    assert_eq!(api_error(widgets.get("x").await.unwrap_err()).code, 404);
}

/// One raw HTTP/1.1 request; returns (status, body).
async fn raw(url: &str, method: &str, path: &str, content_type: &str, body: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(url.trim_start_matches("http://"))
        .await
        .unwrap();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    let status = out
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = out
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_requests_get_errors_and_the_controller_survives_odd_objects() {
    let fake = Fake::builder()
        .profile(Profile::Default)
        .tick(Duration::from_millis(2))
        .build()
        .unwrap();
    let r = fake.serve(0).await.unwrap();
    let u = r.url.clone();
    let cm = "/api/v1/namespaces/default/configmaps";
    assert_eq!(
        raw(&u, "POST", cm, "application/json", "{not json").await.0,
        400
    );
    assert_eq!(
        raw(&u, "POST", cm, "application/json", "[1,2]").await.0,
        400
    );
    let (code, body) = raw(
        &u,
        "POST",
        cm,
        "application/json",
        r#"{"kind":"Secret","metadata":{"name":"x"}}"#,
    )
    .await;
    assert_eq!(code, 400, "{body}");
    assert_eq!(
        raw(
            &u,
            "POST",
            cm,
            "application/json",
            r#"{"metadata":{"name":"x"}}"#
        )
        .await
        .0,
        201
    );
    let x = format!("{cm}/x");
    assert_eq!(
        raw(
            &u,
            "PATCH",
            &x,
            "application/merge-patch+json",
            r#"{"metadata":"gone"}"#
        )
        .await
        .0,
        422
    );
    assert_eq!(
        raw(
            &u,
            "PATCH",
            &x,
            "application/json-patch+json",
            r#"[{"op":"remove","path":"/nope"}]"#
        )
        .await
        .0,
        422
    );
    assert_eq!(raw(&u, "PATCH", &x, "text/plain", "x").await.0, 415);
    let (code, body) = raw(
        &u,
        "PATCH",
        &x,
        "application/apply-patch+yaml",
        "kind: ConfigMap\napiVersion: v1\nmetadata: {name: x}\n",
    )
    .await;
    assert_eq!(code, 422, "apply without fieldManager: {body}");
    assert!(body.contains("fieldManager: Required value"), "{body}");
    assert_eq!(
        raw(
            &u,
            "GET",
            "/api/v1/namespaces/default/configmaps?labelSelector=a%20in%20b",
            "",
            ""
        )
        .await
        .0,
        400
    );
    assert_eq!(
        raw(&u, "GET", "/apis/nope.io/v1/things", "", "").await.0,
        404
    );
    assert_eq!(
        raw(
            &u,
            "DELETE",
            "/api/v1/namespaces/default/configmaps/x?propagationPolicy=Sideways",
            "",
            ""
        )
        .await
        .0,
        400
    );
    // A Cluster whose spec is not an object (no schema validation here) must not stop the
    // controller: a well-formed cluster next to it still comes up.
    let odd = r#"{"apiVersion":"cluster.x-k8s.io/v1beta2","kind":"Cluster","metadata":{"name":"odd"},"spec":"weird"}"#;
    assert_eq!(
        raw(
            &u,
            "POST",
            "/apis/cluster.x-k8s.io/v1beta2/namespaces/default/clusters",
            "application/json",
            odd
        )
        .await
        .0,
        201
    );
    let c = client(&fake.kubeconfig().unwrap()).await;
    apply_all(&c, &rendered("example", "default"), "scs-capi").await;
    let clusters = dynamic(&c, "cluster.x-k8s.io/v1beta2", "Cluster").await;
    eventually(30, "well-formed cluster available", async || {
        let v = serde_json::to_value(clusters.get("example").await.unwrap()).unwrap();
        is_true(&v, "Available").then_some(())
    })
    .await;
}
