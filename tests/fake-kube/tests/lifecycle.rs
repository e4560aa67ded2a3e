//! The simulated CAPI/CAPO controller, driven by kube-rs the way scs-capi's lifecycle
//! commands will drive a real management cluster: server-side apply of the manifests the
//! tool renders (both profiles), `await_condition` on the Cluster, the workload kubeconfig
//! from its Secret, Nodes in the workload cluster, rolling replacement on a version bump,
//! deletion order, fault knobs and cloud hooks.

mod common;

use common::*;
use fake_kube::{CloudHooks, ClusterCtx, ClusterInfra, Fake, MachineCtx, Profile, ServerInfo};
use k8s_openapi::api::core::v1::{Node, Secret};
use kube::api::{Api, DeleteParams, DynamicObject, ListParams};
use kube::runtime::wait::await_condition;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const CAPI: &str = "cluster.x-k8s.io/v1beta2";
const KCP_AV: &str = "controlplane.cluster.x-k8s.io/v1beta2";

fn fake(profile: Profile) -> Fake {
    Fake::builder()
        .profile(profile)
        .tick(Duration::from_millis(2))
        .build()
        .expect("CRDs load")
}

async fn get(api: &Api<DynamicObject>, name: &str) -> Value {
    serde_json::to_value(api.get(name).await.expect("get")).expect("json")
}

async fn workload_nodes(fake: &Fake) -> Vec<Node> {
    let kc = fake
        .workload_kubeconfig("default", "example")
        .expect("kubeconfig secret");
    let wl = client(&kc).await;
    Api::<Node>::all(wl)
        .list(&ListParams::default())
        .await
        .expect("nodes")
        .items
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_profile_create_upgrade_delete() {
    let fake = fake(Profile::Default);
    let _running = fake.serve(0).await.unwrap();
    let c = client(&fake.kubeconfig().unwrap()).await;
    let docs = rendered("example", "default");
    // The version the settings render for (the profile's default).
    let version = docs
        .iter()
        .find(|d| d["kind"] == "KubeadmControlPlane")
        .and_then(|d| d["spec"]["version"].as_str())
        .expect("KubeadmControlPlane version")
        .to_string();
    apply_all(&c, &docs, "scs-capi").await;

    let clusters = dynamic(&c, CAPI, "Cluster").await;
    let ready = await_condition(clusters.clone(), "example", |o: Option<&DynamicObject>| {
        o.and_then(|o| serde_json::to_value(o).ok())
            .is_some_and(|v| is_true(&v, "Available"))
    });
    tokio::time::timeout(Duration::from_secs(30), ready)
        .await
        .expect("cluster becomes Available")
        .expect("watch works");
    // Available needs one ready control plane machine (etcd quorum of the members so far)
    // and enough workers, as with CAPI; wait for the rest too.
    let cluster = eventually(30, "all machines ready", async || {
        let v = get(&clusters, "example").await;
        (v["status"]["controlPlane"]["readyReplicas"] == 3
            && v["status"]["workers"]["readyReplicas"] == 3)
            .then_some(v)
    })
    .await;
    assert_eq!(cluster["status"]["phase"], "Provisioned");
    assert_eq!(
        cluster["status"]["initialization"],
        json!({"infrastructureProvisioned": true, "controlPlaneInitialized": true})
    );
    assert_eq!(cluster["status"]["controlPlane"]["readyReplicas"], 3);
    assert_eq!(cluster["status"]["workers"]["upToDateReplicas"], 3);
    assert_eq!(cluster["spec"]["controlPlaneEndpoint"]["port"], 6443);
    assert!(
        cluster["metadata"]["finalizers"]
            .as_array()
            .unwrap()
            .contains(&json!("cluster.cluster.x-k8s.io"))
    );

    let osc = get(
        &dynamic(
            &c,
            "infrastructure.cluster.x-k8s.io/v1beta1",
            "OpenStackCluster",
        )
        .await,
        "example",
    )
    .await;
    assert_eq!(osc["status"]["ready"], true);
    assert_eq!(
        osc["status"]["network"]["name"],
        "k8s-clusterapi-cluster-default-example"
    );
    assert_eq!(
        osc["status"]["apiServerLoadBalancer"]["name"],
        "k8s-clusterapi-cluster-default-example-kubeapi"
    );
    assert_eq!(
        osc["status"]["apiServerLoadBalancer"]["allowedCIDRs"][1],
        "198.51.100.0/24"
    );
    assert_eq!(
        osc["status"]["network"]["subnets"][0]["cidr"],
        "10.8.0.0/20"
    );

    let kcp = get(
        &dynamic(&c, KCP_AV, "KubeadmControlPlane").await,
        "example-control-plane",
    )
    .await;
    assert_eq!(kcp["status"]["readyReplicas"], 3);
    assert_eq!(kcp["status"]["upToDateReplicas"], 3);
    assert_eq!(kcp["status"]["version"], version.as_str());
    assert_eq!(
        kcp["status"]["initialization"]["controlPlaneInitialized"],
        true
    );
    let md = get(
        &dynamic(&c, CAPI, "MachineDeployment").await,
        "capi-example-md-0-no1",
    )
    .await;
    assert_eq!(md["status"]["phase"], "Running");
    assert_eq!(md["status"]["readyReplicas"], 3);
    assert!(is_true(&md, "Available"));

    // Machines: names from KCP / MachineSet, providerID, addresses, nodeRef.
    let machines = dynamic(&c, CAPI, "Machine").await;
    let ms = machines.list(&ListParams::default()).await.unwrap().items;
    assert_eq!(ms.len(), 6);
    for m in &ms {
        let v = serde_json::to_value(m).unwrap();
        let name = v["metadata"]["name"].as_str().unwrap();
        assert!(
            name.starts_with("example-control-plane-")
                || name.starts_with("capi-example-md-0-no1-"),
            "{name}"
        );
        assert_eq!(v["status"]["phase"], "Running", "{name}");
        assert!(
            v["spec"]["providerID"]
                .as_str()
                .unwrap()
                .starts_with("openstack:///")
        );
        assert!(
            v["status"]["addresses"][0]["address"]
                .as_str()
                .unwrap()
                .starts_with("10.8.")
        );
        assert!(is_true(&v, "Ready") && is_true(&v, "UpToDate"));
    }
    let cp_only = machines
        .list(&ListParams::default().labels("cluster.x-k8s.io/control-plane"))
        .await
        .unwrap();
    assert_eq!(cp_only.items.len(), 3);

    // The kubeconfig Secret as CAPI writes it, and the workload cluster behind it.
    let secret = Api::<Secret>::namespaced(c.clone(), "default")
        .get("example-kubeconfig")
        .await
        .unwrap();
    assert_eq!(secret.type_.as_deref(), Some("cluster.x-k8s.io/secret"));
    assert_eq!(
        secret.metadata.labels.unwrap()["cluster.x-k8s.io/cluster-name"],
        "example"
    );
    let kc = fake.workload_kubeconfig("default", "example").unwrap();
    assert!(kc.contains("current-context: example-admin@example"));
    let nodes = workload_nodes(&fake).await;
    assert_eq!(nodes.len(), 6);
    for n in &nodes {
        assert_eq!(
            n.status
                .as_ref()
                .unwrap()
                .node_info
                .as_ref()
                .unwrap()
                .kubelet_version,
            version
        );
    }

    // Rolling upgrade of the control plane: a new template and version.
    let mut docs = rendered("example", "default");
    let mut tpl = docs
        .iter()
        .find(|d| d["kind"] == "OpenStackMachineTemplate")
        .unwrap()
        .clone();
    tpl["metadata"]["name"] = json!("capi-example-control-plane-new");
    let kcp_doc = docs
        .iter_mut()
        .find(|d| d["kind"] == "KubeadmControlPlane")
        .unwrap();
    kcp_doc["spec"]["version"] = json!("v1.34.2");
    kcp_doc["spec"]["machineTemplate"]["spec"]["infrastructureRef"]["name"] =
        json!("capi-example-control-plane-new");
    let kcp_doc = kcp_doc.clone();
    // Every state the KCP passes through (a watch misses none): some machines replaced,
    // not all, must be among them.
    let kcps = dynamic(&c, KCP_AV, "KubeadmControlPlane").await;
    let mut partial = false;
    let watch = observe(kcps.clone(), "example-control-plane", 30, move |k| {
        let utd = k["status"]["upToDateReplicas"].as_i64().unwrap_or(0);
        partial |= utd > 0 && utd < 3;
        partial
            && utd == 3
            && k["status"]["readyReplicas"] == 3
            && k["status"]["replicas"] == 3
            && k["status"]["version"] == "v1.34.2"
    });
    apply_all(&c, &[tpl, kcp_doc], "scs-capi").await;
    watch.await.expect("machines were replaced one at a time");
    let nodes = workload_nodes(&fake).await;
    let cp_versions: Vec<String> = nodes
        .iter()
        .filter(|n| {
            n.metadata
                .labels
                .as_ref()
                .unwrap()
                .contains_key("node-role.kubernetes.io/control-plane")
        })
        .map(|n| {
            n.status
                .as_ref()
                .unwrap()
                .node_info
                .as_ref()
                .unwrap()
                .kubelet_version
                .clone()
        })
        .collect();
    assert_eq!(cp_versions, ["v1.34.2"; 3]);

    // Deletion: everything goes, including the workload API server.
    let wl = fake.workload("default", "example").unwrap();
    let wl_url = wl.url().unwrap();
    clusters
        .delete("example", &DeleteParams::default())
        .await
        .unwrap();
    eventually(30, "cluster deleted", async || {
        clusters
            .get_opt("example")
            .await
            .unwrap()
            .is_none()
            .then_some(())
    })
    .await;
    assert!(
        machines
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
    let snap = fake.snapshot();
    assert!(
        snap.get("openstackclusters.infrastructure.cluster.x-k8s.io")
            .is_none(),
        "{snap}"
    );
    assert!(
        snap.get("openstackmachines.infrastructure.cluster.x-k8s.io")
            .is_none()
    );
    assert!(
        snap.get("kubeadmcontrolplanes.controlplane.cluster.x-k8s.io")
            .is_none()
    );
    assert!(
        fake.get("v1", "Secret", "default", "example-kubeconfig")
            .is_none()
    );
    assert!(fake.workload("default", "example").is_none());
    eventually(5, "workload server stopped", async || {
        reqwest_like_get(&wl_url).await.is_err().then_some(())
    })
    .await;
    // Templates and the cloud Secret are not the Cluster's: they stay.
    assert!(
        fake.get("v1", "Secret", "default", "example-cloud-config")
            .is_some()
    );
}

/// A raw HTTP GET (connection errors are what we look for).
async fn reqwest_like_get(url: &str) -> std::io::Result<()> {
    let addr = url.trim_start_matches("http://");
    let _s = tokio::net::TcpStream::connect(addr).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r4_profile_reaches_ready_with_v1beta1_status() {
    let fake = fake(Profile::R4);
    let _running = fake.serve(0).await.unwrap();
    let c = client(&fake.kubeconfig().unwrap()).await;
    let docs = rendered("example", "r4");
    // Infrastructure machines are named after their (hash-named) templates.
    let templates: Vec<String> = docs
        .iter()
        .filter(|d| d["kind"] == "OpenStackMachineTemplate")
        .map(|d| format!("{}-", d["metadata"]["name"].as_str().unwrap()))
        .collect();
    assert_eq!(templates.len(), 2, "{templates:?}");
    apply_all(&c, &docs, "scs-capi").await;
    let clusters = dynamic(&c, "cluster.x-k8s.io/v1beta1", "Cluster").await;
    let cluster = eventually(30, "R4 cluster Ready", async || {
        let v = get(&clusters, "example").await;
        is_true(&v, "Ready").then_some(v)
    })
    .await;
    // Ready needs one control plane machine; wait for all six before counting.
    eventually(30, "six nodes", async || {
        (workload_nodes(&fake).await.len() == 6).then_some(())
    })
    .await;
    assert_eq!(cluster["status"]["infrastructureReady"], true);
    assert_eq!(cluster["status"]["controlPlaneReady"], true);
    assert_eq!(cluster["status"]["conditions"][0]["type"], "Ready");
    let osc = get(
        &dynamic(
            &c,
            "infrastructure.cluster.x-k8s.io/v1alpha6",
            "OpenStackCluster",
        )
        .await,
        "example",
    )
    .await;
    assert_eq!(osc["status"]["network"]["subnet"]["cidr"], "10.8.0.0/20");
    assert!(osc["status"]["network"]["apiServerLoadBalancer"]["ip"].is_string());
    // Older CAPI names infrastructure machines after their template.
    let osms = dynamic(
        &c,
        "infrastructure.cluster.x-k8s.io/v1alpha6",
        "OpenStackMachine",
    )
    .await;
    let names: Vec<String> = osms
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .iter()
        .map(|o| o.metadata.name.clone().unwrap())
        .collect();
    assert_eq!(names.len(), 6);
    assert!(
        names
            .iter()
            .all(|n| templates.iter().any(|t| n.starts_with(t.as_str()))),
        "{names:?}"
    );
    let md = eventually(30, "MD ready", async || {
        let v = get(
            &dynamic(&c, "cluster.x-k8s.io/v1beta1", "MachineDeployment").await,
            "capi-example-md-0-no1",
        )
        .await;
        (v["status"]["readyReplicas"] == 3).then_some(v)
    })
    .await;
    assert_eq!(md["status"]["updatedReplicas"], 3);
    let kcp = get(
        &dynamic(
            &c,
            "controlplane.cluster.x-k8s.io/v1beta1",
            "KubeadmControlPlane",
        )
        .await,
        "example-control-plane",
    )
    .await;
    assert_eq!(kcp["status"]["initialized"], true);
    assert_eq!(kcp["status"]["ready"], true);
    eventually(30, "six nodes", async || {
        (workload_nodes(&fake).await.len() == 6).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quota_fault_fails_a_machine_like_capo() {
    let fake = fake(Profile::Default);
    // The first server (the first control plane machine) fits the quota, nothing else.
    fake.fail_machine_quota_after("example", 1);
    let _running = fake.serve(0).await.unwrap();
    let c = client(&fake.kubeconfig().unwrap()).await;
    apply_all(&c, &rendered("example", "default"), "scs-capi").await;
    let osms = dynamic(
        &c,
        "infrastructure.cluster.x-k8s.io/v1beta1",
        "OpenStackMachine",
    )
    .await;
    let failed = eventually(30, "a worker hits the quota", async || {
        let l = osms.list(&ListParams::default()).await.unwrap().items;
        l.into_iter()
            .map(|o| serde_json::to_value(o).unwrap())
            .find(|o| o["status"]["failureReason"] == "CreateError")
    })
    .await;
    let cond = condition(&failed, "InstanceReady").unwrap();
    assert_eq!(cond["status"], "False");
    assert_eq!(cond["reason"], "InstanceCreateFailed");
    assert_eq!(cond["severity"], "Error");
    assert!(
        cond["message"]
            .as_str()
            .unwrap()
            .contains(fake_kube::QUOTA_MESSAGE)
    );
    let machine = get(
        &dynamic(&c, CAPI, "Machine").await,
        failed["metadata"]["name"].as_str().unwrap(),
    )
    .await;
    assert_eq!(machine["status"]["phase"], "Failed");
    let infra = condition(&machine, "InfrastructureReady").unwrap();
    assert_eq!(
        (infra["status"].as_str(), infra["reason"].as_str()),
        (Some("False"), Some("InstanceCreateFailed"))
    );
    assert!(
        machine["status"]["deprecated"]["v1beta1"]["failureMessage"]
            .as_str()
            .unwrap()
            .contains("Quota exceeded")
    );
    // The control plane is up (one machine) but never complete; workers never available.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let md = get(
        &dynamic(&c, CAPI, "MachineDeployment").await,
        "capi-example-md-0-no1",
    )
    .await;
    assert!(!is_true(&md, "Available"));
    assert_eq!(md["status"]["readyReplicas"], 0);
    let kcp = get(
        &dynamic(&c, KCP_AV, "KubeadmControlPlane").await,
        "example-control-plane",
    )
    .await;
    assert_eq!(kcp["status"]["readyReplicas"], 1);
    let cluster = get(&dynamic(&c, CAPI, "Cluster").await, "example").await;
    assert!(!is_true(&cluster, "Available"));
    assert!(is_true(&cluster, "ControlPlaneAvailable"));
    assert!(fake.workload_kubeconfig("default", "example").is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stuck_provisioning_holds_machines_until_cleared() {
    let fake = fake(Profile::Default);
    fake.stick_provisioning("example");
    let _running = fake.serve(0).await.unwrap();
    let c = client(&fake.kubeconfig().unwrap()).await;
    apply_all(&c, &rendered("example", "default"), "scs-capi").await;
    let machines = dynamic(&c, CAPI, "Machine").await;
    eventually(30, "first machine provisioning", async || {
        let l = machines.list(&ListParams::default()).await.unwrap().items;
        l.iter()
            .any(|m| serde_json::to_value(m).unwrap()["status"]["phase"] == "Provisioning")
            .then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let l = machines.list(&ListParams::default()).await.unwrap().items;
    assert_eq!(
        l.len(),
        4,
        "first control plane machine + 3 workers waiting"
    );
    assert!(
        l.iter()
            .all(|m| serde_json::to_value(m).unwrap()["status"]["phase"] != "Running")
    );
    assert!(fake.workload("default", "example").is_none());
    fake.clear_cluster_faults("example");
    let clusters = dynamic(&c, CAPI, "Cluster").await;
    eventually(30, "cluster available after unsticking", async || {
        is_true(&get(&clusters, "example").await, "Available").then_some(())
    })
    .await;
}

#[derive(Default)]
struct Recorder(Mutex<Vec<String>>);

impl CloudHooks for Recorder {
    fn create_cluster_infra(&self, c: &ClusterCtx) -> Result<ClusterInfra, String> {
        self.0
            .lock()
            .unwrap()
            .push(format!("infra+ {} {}", c.network_name(), c.api_lb_name()));
        Ok(ClusterInfra::invented(c))
    }
    fn delete_cluster_infra(&self, c: &ClusterCtx, i: &ClusterInfra) -> Result<(), String> {
        self.0.lock().unwrap().push(format!(
            "infra- {} {}",
            c.network_name(),
            i.network_id.len()
        ));
        Ok(())
    }
    fn create_server(&self, _c: &ClusterCtx, m: &MachineCtx, n: u32) -> Result<ServerInfo, String> {
        self.0.lock().unwrap().push(format!(
            "server+ {} {} {}",
            m.server_name, m.flavor, m.control_plane
        ));
        Ok(ServerInfo {
            id: format!("srv-{n}"),
            ip: format!("10.8.0.{}", 20 + n),
        })
    }
    fn delete_server(&self, _c: &ClusterCtx, _m: &MachineCtx, id: &str) -> Result<(), String> {
        self.0.lock().unwrap().push(format!("server- {id}"));
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloud_hooks_see_capo_names_and_run_in_order() {
    let rec = Arc::new(Recorder::default());
    let fake = Fake::builder()
        .profile(Profile::Default)
        .tick(Duration::ZERO)
        .hooks(rec.clone())
        .build()
        .unwrap();
    let _running = fake.serve(0).await.unwrap();
    let c = client(&fake.kubeconfig().unwrap()).await;
    apply_all(&c, &rendered("example", "default"), "scs-capi").await;
    let clusters = dynamic(&c, CAPI, "Cluster").await;
    eventually(30, "available", async || {
        is_true(&get(&clusters, "example").await, "Available").then_some(())
    })
    .await;
    clusters
        .delete("example", &DeleteParams::default())
        .await
        .unwrap();
    eventually(30, "deleted", async || {
        clusters
            .get_opt("example")
            .await
            .unwrap()
            .is_none()
            .then_some(())
    })
    .await;
    let calls = rec.0.lock().unwrap().clone();
    assert_eq!(
        calls[0],
        "infra+ k8s-clusterapi-cluster-default-example k8s-clusterapi-cluster-default-example-kubeapi"
    );
    let servers: Vec<&String> = calls.iter().filter(|c| c.starts_with("server+")).collect();
    assert_eq!(servers.len(), 6);
    assert!(
        servers[0].starts_with("server+ example-control-plane-")
            && servers[0].ends_with("SCS-2V-4-20s true")
    );
    assert_eq!(
        calls
            .iter()
            .filter(|c| c.starts_with("server- srv-"))
            .count(),
        6
    );
    assert_eq!(
        calls.last().unwrap(),
        "infra- k8s-clusterapi-cluster-default-example 36",
        "{calls:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r4_worker_rollout_replaces_machines_one_at_a_time() {
    let fake = fake(Profile::R4);
    let _running = fake.serve(0).await.unwrap();
    let c = client(&fake.kubeconfig().unwrap()).await;
    let mut docs = rendered("example", "r4");
    apply_all(&c, &docs, "scs-capi").await;
    let mds = dynamic(&c, "cluster.x-k8s.io/v1beta1", "MachineDeployment").await;
    eventually(30, "workers ready", async || {
        (get(&mds, "capi-example-md-0-no1").await["status"]["readyReplicas"] == 3).then_some(())
    })
    .await;
    let old: Vec<String> = dynamic(&c, "cluster.x-k8s.io/v1beta1", "Machine")
        .await
        .list(
            &ListParams::default().labels("cluster.x-k8s.io/deployment-name=capi-example-md-0-no1"),
        )
        .await
        .unwrap()
        .items
        .iter()
        .map(|m| m.metadata.name.clone().unwrap())
        .collect();
    let md = docs
        .iter_mut()
        .find(|d| d["kind"] == "MachineDeployment")
        .unwrap();
    md["spec"]["template"]["spec"]["version"] = json!("v1.34.2");
    let md = md.clone();
    let mut partial = false;
    let watch = observe(mds.clone(), "capi-example-md-0-no1", 30, move |v| {
        let updated = v["status"]["updatedReplicas"].as_i64().unwrap_or(0);
        partial |= updated > 0 && updated < 3;
        partial && updated == 3 && v["status"]["readyReplicas"] == 3 && v["status"]["replicas"] == 3
    });
    apply_all(&c, &[md], "scs-capi").await;
    watch.await.expect("rollout observed one machine at a time");
    let done = get(&mds, "capi-example-md-0-no1").await;
    assert_eq!(done["status"]["phase"], "Running");
    let machines = dynamic(&c, "cluster.x-k8s.io/v1beta1", "Machine")
        .await
        .list(
            &ListParams::default().labels("cluster.x-k8s.io/deployment-name=capi-example-md-0-no1"),
        )
        .await
        .unwrap()
        .items;
    assert_eq!(machines.len(), 3);
    for m in &machines {
        assert!(
            !old.contains(m.metadata.name.as_ref().unwrap()),
            "old machine survived"
        );
        assert_eq!(m.data["spec"]["version"], "v1.34.2");
    }
    let workers: Vec<String> = workload_nodes(&fake)
        .await
        .iter()
        .filter(|n| {
            !n.metadata
                .labels
                .as_ref()
                .unwrap()
                .contains_key("node-role.kubernetes.io/control-plane")
        })
        .map(|n| {
            n.status
                .as_ref()
                .unwrap()
                .node_info
                .as_ref()
                .unwrap()
                .kubelet_version
                .clone()
        })
        .collect();
    assert_eq!(workers, ["v1.34.2"; 3]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_wait_for_a_cni_when_asked() {
    let fake = Fake::builder()
        .profile(Profile::Default)
        .tick(Duration::from_millis(2))
        .nodes_need_cni(true)
        .build()
        .unwrap();
    let _running = fake.serve(0).await.unwrap();
    let c = client(&fake.kubeconfig().unwrap()).await;
    apply_all(&c, &rendered("example", "default"), "scs-capi").await;
    let clusters = dynamic(&c, CAPI, "Cluster").await;
    eventually(30, "control plane initialized", async || {
        (get(&clusters, "example").await["status"]["initialization"]["controlPlaneInitialized"]
            == true)
            .then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let cluster = get(&clusters, "example").await;
    assert!(!is_true(&cluster, "Available"));
    // The control plane still scales to 3 (KCP does not wait for the CNI); workers join too.
    let nodes = eventually(30, "all nodes registered", async || {
        let n = workload_nodes(&fake).await;
        (n.len() == 6).then_some(n)
    })
    .await;
    let ready = |n: &Node| {
        n.status
            .as_ref()
            .unwrap()
            .conditions
            .as_ref()
            .unwrap()
            .iter()
            .find(|c| c.type_ == "Ready")
            .unwrap()
            .status
            .clone()
    };
    assert!(nodes.iter().all(|n| ready(n) == "False"));
    // Installing a CNI (any DaemonSet named like one) makes the nodes Ready.
    let wl = client(&fake.workload_kubeconfig("default", "example").unwrap()).await;
    let ds = Api::<DynamicObject>::namespaced_with(
        wl.clone(),
        "kube-system",
        &kube::api::ApiResource::erase::<k8s_openapi::api::apps::v1::DaemonSet>(&()),
    );
    ds.patch("cilium", &kube::api::PatchParams::apply("scs-capi"), &kube::api::Patch::Apply(json!({
        "apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "cilium", "namespace": "kube-system"},
        "spec": {"selector": {"matchLabels": {"k8s-app": "cilium"}}, "template": {"metadata": {"labels": {"k8s-app": "cilium"}},
            "spec": {"containers": [{"name": "cilium-agent", "image": "quay.io/cilium/cilium:v1.17.0"}]}}}}))).await.unwrap();
    eventually(30, "available after the CNI", async || {
        is_true(&get(&clusters, "example").await, "Available").then_some(())
    })
    .await;
}
