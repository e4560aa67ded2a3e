//! Guards the rustls crypto-provider trap (../shared/reference/deps-spike.md, sections 4-5):
//! with reqwest 0.13 / `openstack_sdk` in the same binary, kube built with its default
//! `ring` feature leaves rustls with two providers, and `kube::Client::try_from` panics at
//! run time. These tests build real clients (plain https and `insecure-skip-tls-verify`)
//! from an in-memory kubeconfig, before and after an `openstack_sdk` session has been set
//! up in the same process; they fail (panic) if the trap comes back.

use kube::config::Kubeconfig;
use scs_capi::mgmt::client::{self, Origin};

fn kubeconfig() -> Kubeconfig {
    // Port 1 on loopback: nothing listens, so requests fail fast and nothing leaves the host.
    Kubeconfig::from_yaml(
        r#"
apiVersion: v1
kind: Config
current-context: kind-kind
clusters:
- name: kind-kind
  cluster: {server: "https://127.0.0.1:1"}
- name: insecure
  cluster: {server: "https://127.0.0.1:1", insecure-skip-tls-verify: true}
contexts:
- name: kind-kind
  context: {cluster: kind-kind, user: admin}
- name: insecure
  context: {cluster: insecure, user: admin}
users:
- name: admin
  user: {token: not-a-real-token}
"#,
    )
    .expect("kubeconfig parses")
}

async fn build_and_call(context: &str) {
    let loaded = client::select(kubeconfig(), Origin::Memory, Some(context)).expect("context");
    let kube = client::client(&loaded).await.expect("client builds");
    // A real request through the TLS stack: it must fail with an error, not panic.
    let err = kube
        .apiserver_version()
        .await
        .expect_err("nothing listens on 127.0.0.1:1");
    let msg = client::api_error("reading the version", &loaded.server, err).to_string();
    assert!(msg.contains("https://127.0.0.1:1"), "{msg}");
}

async fn openstack_session() {
    // The same HTTP/TLS stack `cloud::session` uses, connecting to nothing.
    let cfg: openstack_sdk::config::CloudConfig = serde_json::from_value(serde_json::json!({
        "auth": {"auth_url": "https://127.0.0.1:1/v3", "username": "u", "password": "p",
                 "project_name": "p", "user_domain_name": "Default", "project_domain_name": "Default"},
        "auth_type": "password"
    }))
    .expect("cloud config");
    let r = openstack_sdk::AsyncOpenStack::new(&cfg).await;
    assert!(r.is_err(), "nothing listens on 127.0.0.1:1");
}

#[tokio::test]
async fn kube_client_builds_next_to_openstack_sdk() {
    build_and_call("kind-kind").await;
    build_and_call("insecure").await;
    openstack_session().await;
    build_and_call("kind-kind").await;
    build_and_call("insecure").await;
}

#[tokio::test]
async fn kube_client_builds_after_openstack_sdk() {
    openstack_session().await;
    build_and_call("insecure").await;
}
