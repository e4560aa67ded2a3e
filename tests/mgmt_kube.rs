//! `scs-capi mgmt init` / `mgmt upgrade` against a Kubernetes API: fake-kube as the
//! management cluster (no CRDs at start: an empty cluster), the binary run as a process, and
//! a recording `clusterctl` stub first on `PATH`.
//!
//! What is real: scs-capi's reading of clusterctl's provider inventory, its decisions
//! (init / skip / refuse / upgrade), the argv and environment it gives clusterctl, the ORC
//! manifest it downloads (from a loopback server, SHA-256 pinned in a `--tools-manifest`)
//! and server-side applies, CAPO's instance-create timeout applied to the Deployment, and
//! the waits for provider Deployments and CRDs (fed by fake-kube's Deployment controller).
//!
//! What is simulated: clusterctl itself. The stub records its argv and the *names* of its
//! environment variables (never values), then does to the cluster what clusterctl would:
//! for `init` and `upgrade apply` it server-side applies (with `curl`, field manager
//! `clusterctl`) the objects the test prepared - the provider CRDs (minimal schemas), the
//! cert-manager and provider Deployments, and the inventory (`Provider` objects with their
//! versions); `upgrade plan` prints a plan. It does not look at which providers it was
//! given: the argv is asserted instead. Which CAPO versions need ORC is decided by the
//! built-in tool table (unit-tested in `src/mgmt/tools.rs`); here the tools manifest
//! lists ORC, as the table does for the pinned CAPO v0.14.
//!
//! fake-kube simplification that matters here: lists are atomic in its server-side apply,
//! so the partial Deployment that sets the timeout replaces the container list instead of
//! merging into it (the real API server merges by container name). The tests check the
//! env entry and its field manager, not the rest of the container.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::Output;
use std::time::Duration;

use assert_cmd::Command;
use fake_kube::Fake;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const CAPI: &str = "v1.14.0";
const CAPO: &str = "v0.14.7";
/// `GITHUB_TOKEN` in the tool's environment: must reach clusterctl only as a variable.
const TOKEN: &str = "ghp_secretvalue0123456789";
const TIMEOUT_ENV: &str = "CLUSTER_API_OPENSTACK_INSTANCE_CREATE_TIMEOUT";

const STUB: &str = r#"#!/bin/sh
# clusterctl stand-in (see tests/mgmt_kube.rs): records argv and environment names, then
# applies the objects of $SCS_TEST_BUNDLES/<init|upgrade>.list ("PATH FILE" lines).
set -u
{
  printf 'argv:'; printf ' %s' "$@"; printf '\n'
  printf 'env:'; awk 'BEGIN { for (k in ENVIRON) printf " %s", k }'; printf '\n'
} >> "$SCS_TEST_RECORD"
kubeconfig=${KUBECONFIG:-}
prev=
for a in "$@"; do
  [ "$prev" = --kubeconfig ] && kubeconfig=$a
  prev=$a
done
server=$(sed -n 's/^ *server: *//p' "$kubeconfig" | head -n 1)
case "$*" in
  "upgrade plan"*)
    echo "NAME          NAMESPACE     TYPE          CURRENT VERSION   NEXT VERSION"
    echo "cluster-api   capi-system   CoreProvider  v1.13.0           v1.14.0"
    exit 0 ;;
  "upgrade apply"*) bundle=upgrade ;;
  init*) bundle=init ;;
  *) echo "clusterctl stub: unexpected arguments: $*" >&2; exit 2 ;;
esac
while read -r path file; do
  curl -sSf -X PATCH -H 'Content-Type: application/apply-patch+yaml' \
    --data-binary "@$SCS_TEST_BUNDLES/$file" \
    "$server$path?fieldManager=clusterctl&force=true" >/dev/null || exit 1
done < "$SCS_TEST_BUNDLES/$bundle.list"
echo "Your management cluster has been initialized successfully!"
"#;

const ORC_MANIFEST: &str = "\
apiVersion: v1
kind: Namespace
metadata: {name: orc-system}
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: images.openstack.k-orc.cloud}
spec:
  group: openstack.k-orc.cloud
  names: {kind: Image, listKind: ImageList, plural: images, singular: image}
  scope: Namespaced
  versions:
  - name: v1alpha1
    served: true
    storage: true
    schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: orc-controller-manager, namespace: orc-system}
spec:
  replicas: 1
  selector: {matchLabels: {app: orc}}
  template:
    metadata: {labels: {app: orc}}
    spec:
      containers: [{name: manager, image: 'quay.io/orc/openstack-resource-controller:v2.4.0'}]
";

fn crd(group: &str, version: &str, kind: &str, plural: &str) -> Value {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": format!("{plural}.{group}")},
        "spec": {
            "group": group,
            "names": {"kind": kind, "listKind": format!("{kind}List"), "plural": plural,
                      "singular": kind.to_ascii_lowercase()},
            "scope": "Namespaced",
            "versions": [{"name": version, "served": true, "storage": true,
                          "schema": {"openAPIV3Schema": {"type": "object",
                              "x-kubernetes-preserve-unknown-fields": true}}}]
        }
    })
}

fn deployment(ns: &str, name: &str, image: &str) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}},
                         "spec": {"containers": [{"name": "manager", "image": image}]}}
        }
    })
}

/// One of clusterctl's inventory objects.
fn provider(ns: &str, name: &str, provider_name: &str, kind: &str, version: &str) -> Value {
    json!({
        "apiVersion": "clusterctl.cluster.x-k8s.io/v1alpha3",
        "kind": "Provider",
        "metadata": {"name": name, "namespace": ns,
                     "labels": {"clusterctl.cluster.x-k8s.io": ""}},
        "providerName": provider_name,
        "type": kind,
        "version": version
    })
}

const PROVIDER_NAMESPACES: [&str; 5] = [
    "cert-manager",
    "capi-system",
    "capi-kubeadm-bootstrap-system",
    "capi-kubeadm-control-plane-system",
    "capo-system",
];

/// What `clusterctl init` (or `upgrade apply`) leaves on the cluster for CAPI `capi` and
/// CAPO `capo`: CRDs first, then namespaces, Deployments and the inventory.
fn providers_at(capi: &str, capo: &str) -> Vec<Value> {
    let mut v = vec![
        crd(
            "clusterctl.cluster.x-k8s.io",
            "v1alpha3",
            "Provider",
            "providers",
        ),
        crd("cluster.x-k8s.io", "v1beta2", "Cluster", "clusters"),
        crd(
            "cluster.x-k8s.io",
            "v1beta2",
            "MachineDeployment",
            "machinedeployments",
        ),
        crd(
            "controlplane.cluster.x-k8s.io",
            "v1beta2",
            "KubeadmControlPlane",
            "kubeadmcontrolplanes",
        ),
        crd(
            "bootstrap.cluster.x-k8s.io",
            "v1beta2",
            "KubeadmConfigTemplate",
            "kubeadmconfigtemplates",
        ),
    ];
    for (kind, plural) in [
        ("OpenStackCluster", "openstackclusters"),
        ("OpenStackMachine", "openstackmachines"),
        ("OpenStackMachineTemplate", "openstackmachinetemplates"),
        ("OpenStackClusterTemplate", "openstackclustertemplates"),
    ] {
        v.push(crd(
            "infrastructure.cluster.x-k8s.io",
            "v1beta1",
            kind,
            plural,
        ));
    }
    for ns in PROVIDER_NAMESPACES {
        v.push(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}));
    }
    for name in [
        "cert-manager",
        "cert-manager-cainjector",
        "cert-manager-webhook",
    ] {
        v.push(deployment(
            "cert-manager",
            name,
            &format!("quay.io/jetstack/{name}:v1.18.2"),
        ));
    }
    let capi_image = |c: &str| format!("registry.k8s.io/cluster-api/{c}:{capi}");
    v.push(deployment(
        "capi-system",
        "capi-controller-manager",
        &capi_image("cluster-api-controller"),
    ));
    v.push(deployment(
        "capi-kubeadm-bootstrap-system",
        "capi-kubeadm-bootstrap-controller-manager",
        &capi_image("kubeadm-bootstrap-controller"),
    ));
    v.push(deployment(
        "capi-kubeadm-control-plane-system",
        "capi-kubeadm-control-plane-controller-manager",
        &capi_image("kubeadm-control-plane-controller"),
    ));
    v.push(deployment(
        "capo-system",
        "capo-controller-manager",
        &format!("registry.k8s.io/capi-openstack/capi-openstack-controller:{capo}"),
    ));
    v.push(provider(
        "capi-system",
        "cluster-api",
        "cluster-api",
        "CoreProvider",
        capi,
    ));
    v.push(provider(
        "capi-kubeadm-bootstrap-system",
        "bootstrap-kubeadm",
        "kubeadm",
        "BootstrapProvider",
        capi,
    ));
    v.push(provider(
        "capi-kubeadm-control-plane-system",
        "control-plane-kubeadm",
        "kubeadm",
        "ControlPlaneProvider",
        capi,
    ));
    v.push(provider(
        "capo-system",
        "infrastructure-openstack",
        "openstack",
        "InfrastructureProvider",
        capo,
    ));
    v
}

/// The URL path of an object (the kinds of [`providers_at`]).
fn path_of(o: &Value) -> String {
    let name = o["metadata"]["name"].as_str().unwrap();
    let ns = o["metadata"]["namespace"].as_str().unwrap_or_default();
    match o["kind"].as_str().unwrap() {
        "CustomResourceDefinition" => {
            format!("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}")
        }
        "Namespace" => format!("/api/v1/namespaces/{name}"),
        "Deployment" => format!("/apis/apps/v1/namespaces/{ns}/deployments/{name}"),
        "Provider" => {
            format!("/apis/clusterctl.cluster.x-k8s.io/v1alpha3/namespaces/{ns}/providers/{name}")
        }
        other => panic!("no path for {other}"),
    }
}

/// Serves the ORC manifest on loopback.
fn serve_orc() -> (String, tokio::runtime::Runtime) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let app = axum::Router::new().route(
        "/install.yaml",
        axum::routing::get(|| async { ORC_MANIFEST }),
    );
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    rt.spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), rt)
}

struct Env {
    kube: Fake,
    _kube: fake_kube::Running,
    _orc: tokio::runtime::Runtime,
    dir: tempfile::TempDir,
}

impl Env {
    /// An empty management cluster, the stub, the ORC server and the tools manifest.
    fn new() -> Env {
        let kube = Fake::builder()
            .tick(Duration::from_millis(5))
            .build()
            .expect("fake kube");
        let running = kube.serve_in_background(0).expect("fake kube serves");
        let dir = tempfile::tempdir().unwrap();
        kube.write_kubeconfig(&dir.path().join("mgmt.kubeconfig"))
            .unwrap();
        let stubs = dir.path().join("stubs");
        std::fs::create_dir_all(&stubs).unwrap();
        std::fs::write(stubs.join("clusterctl"), STUB).unwrap();
        std::fs::set_permissions(
            stubs.join("clusterctl"),
            std::fs::Permissions::from_mode(0o755),
        )
        .unwrap();
        let (orc_url, rt) = serve_orc();
        let sum: String = Sha256::digest(ORC_MANIFEST.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        std::fs::write(
            dir.path().join("tools.yaml"),
            format!(
                "tools:\n  - name: orc\n    version: v2.4.0\n    url: {orc_url}/install.yaml\n    \
                 packaging: manifest\n    sha256: {sum}\n    pin_source: test fixture\n"
            ),
        )
        .unwrap();
        let env = Env {
            kube,
            _kube: running,
            _orc: rt,
            dir,
        };
        env.bundle("init", &providers_at(CAPI, CAPO));
        env.bundle("upgrade", &providers_at(CAPI, CAPO));
        env
    }

    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    /// Writes what the stub applies for `name` (`init`, `upgrade`).
    fn bundle(&self, name: &str, objs: &[Value]) {
        let dir = self.path("bundles");
        std::fs::create_dir_all(&dir).unwrap();
        let mut list = String::new();
        for (i, o) in objs.iter().enumerate() {
            let file = format!("{name}-{i}.json");
            std::fs::write(dir.join(&file), o.to_string()).unwrap();
            list.push_str(&format!("{} {file}\n", path_of(o)));
        }
        std::fs::write(dir.join(format!("{name}.list")), list).unwrap();
    }

    /// `scs-capi mgmt OP --output json --wait-timeout WAIT` against the fake, the stub
    /// first on PATH.
    fn mgmt(&self, op: &str, wait: u64) -> Output {
        let path = format!(
            "{}:{}",
            self.path("stubs").display(),
            std::env::var("PATH").unwrap_or_default()
        );
        Command::cargo_bin("scs-capi")
            .unwrap()
            .args(["mgmt", op, "--output", "json", "--wait-timeout"])
            .arg(wait.to_string())
            .arg("--kubeconfig")
            .arg(self.path("mgmt.kubeconfig"))
            .arg("--bin-dir")
            .arg(self.path("bin"))
            .arg("--tools-manifest")
            .arg(self.path("tools.yaml"))
            .current_dir(self.dir.path())
            .env_clear()
            .env("PATH", path)
            .env("HOME", self.dir.path())
            .env("XDG_CONFIG_HOME", self.path("config"))
            .env("XDG_DATA_HOME", self.path("data"))
            .env("NO_COLOR", "1")
            .env("GITHUB_TOKEN", TOKEN)
            .env("SCS_TEST_RECORD", self.path("record"))
            .env("SCS_TEST_BUNDLES", self.path("bundles"))
            .timeout(Duration::from_secs(120))
            .output()
            .unwrap()
    }

    /// [`Env::mgmt`] under a pseudo-terminal (`script`), as a user's shell runs it, with
    /// progress bars and colour; killed after `deadline`. stdout and stderr arrive merged.
    fn mgmt_in_terminal(&self, op: &str, deadline: Duration) -> Output {
        let path = format!(
            "{}:{}",
            self.path("stubs").display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let bin = assert_cmd::cargo::cargo_bin("scs-capi");
        let (kubeconfig, bin_dir, tools) = (
            self.path("mgmt.kubeconfig"),
            self.path("bin"),
            self.path("tools.yaml"),
        );
        let line = [
            bin.to_str().unwrap(),
            "mgmt",
            op,
            "--wait-timeout",
            "30",
            "--kubeconfig",
            kubeconfig.to_str().unwrap(),
            "--bin-dir",
            bin_dir.to_str().unwrap(),
            "--tools-manifest",
            tools.to_str().unwrap(),
        ]
        .map(|w| format!("'{w}'"))
        .join(" ");
        Command::new("script")
            .args(["-qefc", &line, "/dev/null"])
            .current_dir(self.dir.path())
            .env_clear()
            .env("PATH", path)
            .env("TERM", "xterm-256color")
            .env("HOME", self.dir.path())
            .env("XDG_CONFIG_HOME", self.path("config"))
            .env("XDG_DATA_HOME", self.path("data"))
            .env("GITHUB_TOKEN", TOKEN)
            .env("SCS_TEST_RECORD", self.path("record"))
            .env("SCS_TEST_BUNDLES", self.path("bundles"))
            .timeout(deadline)
            .output()
            .unwrap()
    }

    /// The stub's calls: (argv, environment names).
    fn calls(&self) -> Vec<(String, Vec<String>)> {
        let text = std::fs::read_to_string(self.path("record")).unwrap_or_default();
        assert!(!text.contains(TOKEN), "a secret value was recorded");
        let lines: Vec<&str> = text.lines().collect();
        lines
            .chunks(2)
            .map(|c| {
                let argv = c[0].strip_prefix("argv: ").unwrap().to_string();
                let env = c[1]
                    .strip_prefix("env:")
                    .unwrap()
                    .split_whitespace()
                    .map(String::from)
                    .collect();
                (argv, env)
            })
            .collect()
    }

    fn kubeconfig_arg(&self) -> String {
        format!("--kubeconfig {}", self.path("mgmt.kubeconfig").display())
    }

    fn capo(&self) -> Value {
        self.kube
            .get(
                "apps/v1",
                "Deployment",
                "capo-system",
                "capo-controller-manager",
            )
            .expect("CAPO's Deployment")
    }

    fn inventory_versions(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .kube
            .list("clusterctl.cluster.x-k8s.io/v1alpha3", "Provider", None)
            .iter()
            .map(|p| {
                format!(
                    "{} {}",
                    p["metadata"]["name"].as_str().unwrap(),
                    p["version"].as_str().unwrap()
                )
            })
            .collect();
        v.sort();
        v
    }
}

fn text(o: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn report(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("json report: {e}\n{}", text(o)))
}

/// `(step, name, state)` of every step of a report.
fn steps(r: &Value) -> Vec<(String, String, String)> {
    r["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["step"].as_str().unwrap().to_string(),
                s["name"].as_str().unwrap().to_string(),
                s["state"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn state_of(r: &Value, name: &str) -> String {
    steps(r)
        .into_iter()
        .find(|(_, n, _)| n == name)
        .unwrap_or_else(|| panic!("no step `{name}` in {r:#}"))
        .2
}

/// The value of CAPO's timeout variable on its `manager` container.
fn capo_timeout(d: &Value) -> Option<String> {
    d["spec"]["template"]["spec"]["containers"]
        .as_array()?
        .iter()
        .find(|c| c["name"] == "manager")?["env"]
        .as_array()?
        .iter()
        .find(|e| e["name"] == TIMEOUT_ENV)
        .and_then(|e| e["value"].as_str())
        .map(String::from)
}

fn assert_no_secret(o: &Output) {
    let all = text(o);
    assert!(!all.contains(TOKEN), "the token leaked:\n{all}");
}

#[test]
fn init_on_an_empty_cluster_installs_everything_and_a_rerun_changes_nothing() {
    let env = Env::new();
    let o = env.mgmt("init", 30);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_no_secret(&o);
    let r = report(&o);
    let order: Vec<String> = steps(&r)
        .into_iter()
        .map(|(s, n, st)| format!("{st} {s} {n}"))
        .collect();
    assert_eq!(
        order,
        [
            "done apply ORC v2.4.0",
            "done run clusterctl init",
            "done configure CAPO instance-create timeout",
            "done wait provider deployments",
            "done wait CRDs",
        ],
        "{r:#}"
    );

    // clusterctl: one init with the pinned providers, the feature gates, the token only as
    // a variable.
    let calls = env.calls();
    assert_eq!(calls.len(), 1, "{calls:?}");
    let (argv, names) = &calls[0];
    assert_eq!(
        argv,
        &format!(
            "init --core cluster-api:{CAPI} --bootstrap kubeadm:{CAPI} --control-plane \
             kubeadm:{CAPI} --infrastructure openstack:{CAPO} {}",
            env.kubeconfig_arg()
        )
    );
    for n in [
        "CLUSTER_TOPOLOGY",
        "EXP_CLUSTER_RESOURCE_SET",
        "EXP_RUNTIME_SDK",
        "GITHUB_TOKEN",
    ] {
        assert!(names.iter().any(|x| x == n), "{n} not in {names:?}");
    }

    // ORC: applied by scs-capi, before clusterctl touched the cluster.
    let log = env.kube.request_log();
    let first = |manager: &str| {
        log.iter()
            .position(|q| q.verb == "apply" && q.field_manager.as_deref() == Some(manager))
            .unwrap_or_else(|| panic!("no apply by {manager}"))
    };
    assert!(first("scs-capi") < first("clusterctl"));
    let orc = env
        .kube
        .get(
            "apps/v1",
            "Deployment",
            "orc-system",
            "orc-controller-manager",
        )
        .expect("ORC's Deployment");
    assert_eq!(orc["metadata"]["managedFields"][0]["manager"], "scs-capi");
    assert!(
        env.kube
            .get(
                "apiextensions.k8s.io/v1",
                "CustomResourceDefinition",
                "",
                "images.openstack.k-orc.cloud"
            )
            .is_some()
    );

    // CAPO's timeout: the settings' default (5 minutes), set by server-side apply under
    // `scs-capi` after clusterctl created the Deployment.
    let capo = env.capo();
    assert_eq!(capo_timeout(&capo).as_deref(), Some("5"), "{capo:#}");
    let capo_applies: Vec<&str> = log
        .iter()
        .filter(|q| q.verb == "apply" && q.name.as_deref() == Some("capo-controller-manager"))
        .filter_map(|q| q.field_manager.as_deref())
        .collect();
    assert_eq!(capo_applies, ["clusterctl", "scs-capi"]);
    // The waits ended with every provider available.
    for ns in PROVIDER_NAMESPACES {
        for d in env.kube.list("apps/v1", "Deployment", Some(ns)) {
            assert_eq!(d["status"]["availableReplicas"], 1, "{d:#}");
        }
    }
    assert_eq!(
        env.inventory_versions(),
        [
            format!("bootstrap-kubeadm {CAPI}"),
            format!("cluster-api {CAPI}"),
            format!("control-plane-kubeadm {CAPI}"),
            format!("infrastructure-openstack {CAPO}"),
        ]
    );

    // (b) Again: clusterctl is not called, CAPO's Deployment does not roll.
    let generation = env.capo()["metadata"]["generation"].clone();
    env.kube.clear_request_log();
    let o = env.mgmt("init", 30);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let r = report(&o);
    assert_eq!(state_of(&r, "clusterctl init"), "skipped");
    assert_eq!(env.calls().len(), 1, "clusterctl ran again");
    assert_eq!(env.capo()["metadata"]["generation"], generation);
    assert!(
        env.kube
            .request_log()
            .iter()
            .all(|q| q.field_manager.as_deref() != Some("clusterctl"))
    );
}

/// In a terminal (progress drawn as bars on stderr) init finishes as it does in a pipe:
/// the bars' drawing thread once blocked on a stderr lock the command held.
#[test]
fn init_finishes_in_a_terminal() {
    let env = Env::new();
    let o = env.mgmt_in_terminal("init", Duration::from_secs(90));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_no_secret(&o);
    let screen = String::from_utf8_lossy(&o.stdout);
    assert!(screen.contains("done     wait      CRDs"), "{screen}");
    assert_eq!(env.calls().len(), 1, "one clusterctl init");
    assert!(!env.inventory_versions().is_empty());
}

#[test]
fn init_refuses_older_providers_and_upgrade_moves_them_to_the_pins() {
    let env = Env::new();
    // A cluster initialized earlier with CAPI v1.13.0 / CAPO v0.13.1.
    for o in providers_at("v1.13.0", "v0.13.1") {
        env.kube.put(o).unwrap();
    }

    let o = env.mgmt("init", 30);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(&format!(
            "cluster-api {CAPI} (installed: v1.13.0), kubeadm {CAPI} (installed: v1.13.0)"
        )) && err.contains(&format!("openstack {CAPO} (installed: v0.13.1)")),
        "{}",
        text(&o)
    );
    assert!(
        err.contains("hint: run `scs-capi mgmt upgrade`"),
        "{}",
        text(&o)
    );
    assert!(env.calls().is_empty(), "clusterctl must not run");

    let o = env.mgmt("upgrade", 30);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_no_secret(&o);
    let r = report(&o);
    let calls: Vec<String> = env.calls().into_iter().map(|(a, _)| a).collect();
    assert_eq!(
        calls,
        [
            format!("upgrade plan {}", env.kubeconfig_arg()),
            format!(
                "upgrade apply --core capi-system/cluster-api:{CAPI} --bootstrap \
                 capi-kubeadm-bootstrap-system/kubeadm:{CAPI} --control-plane \
                 capi-kubeadm-control-plane-system/kubeadm:{CAPI} --infrastructure \
                 capo-system/openstack:{CAPO} {}",
                env.kubeconfig_arg()
            ),
        ]
    );
    assert!(
        r["upgrade_plan"]
            .as_str()
            .is_some_and(|p| p.contains("CoreProvider  v1.13.0           v1.14.0")),
        "{r:#}"
    );
    assert_eq!(state_of(&r, "clusterctl upgrade apply"), "done");
    assert_eq!(
        env.inventory_versions(),
        [
            format!("bootstrap-kubeadm {CAPI}"),
            format!("cluster-api {CAPI}"),
            format!("control-plane-kubeadm {CAPI}"),
            format!("infrastructure-openstack {CAPO}"),
        ]
    );
    // clusterctl replaced CAPO's Deployment; the timeout was set again afterwards.
    assert_eq!(capo_timeout(&env.capo()).as_deref(), Some("5"));

    // Now up to date: nothing more for clusterctl.
    let o = env.mgmt("upgrade", 30);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(state_of(&report(&o), "clusterctl upgrade apply"), "skipped");
    assert_eq!(env.calls().len(), 2);
}

#[test]
fn a_provider_that_never_becomes_available_is_named() {
    let env = Env::new();
    env.kube
        .stall_deployment("capo-system", "capo-controller-manager");
    let o = env.mgmt("init", 3);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("after 3s these deployments on the management cluster"),
        "{}",
        text(&o)
    );
    assert!(
        err.contains("capo-system/capo-controller-manager: 0 of 1 replicas available"),
        "{}",
        text(&o)
    );
    // Only the stuck one is named; what was done before is in the report.
    assert!(
        !err.contains("capi-system/capi-controller-manager"),
        "{err}"
    );
    let r = report(&o);
    assert_eq!(state_of(&r, "clusterctl init"), "done");
    assert!(!steps(&r).iter().any(|(s, _, _)| s == "wait"), "{r:#}");
}

/// The `clusterctl upgrade apply` argv of each hop from an R4-era cluster, `CAPI` `CAPO`.
fn hop_argv(env: &Env, capi: &str, capo: Option<&str>) -> String {
    let mut s = format!(
        "upgrade apply --core capi-system/cluster-api:{capi} --bootstrap \
         capi-kubeadm-bootstrap-system/kubeadm:{capi} --control-plane \
         capi-kubeadm-control-plane-system/kubeadm:{capi}"
    );
    if let Some(o) = capo {
        s.push_str(&format!(" --infrastructure capo-system/openstack:{o}"));
    }
    format!("{s} {}", env.kubeconfig_arg())
}

#[test]
fn an_r4_era_management_cluster_upgrades_in_hops_through_capo_0_10() {
    let env = Env::new();
    // What R4's deploy_cluster_api.sh left: CAPI v1.3.5, CAPO v0.7.1 (objects in v1alpha6).
    for o in providers_at("v1.3.5", "v0.7.1") {
        env.kube.put(o).unwrap();
    }
    let o = env.mgmt("upgrade", 30);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_no_secret(&o);
    let calls: Vec<String> = env.calls().into_iter().map(|(a, _)| a).collect();
    assert_eq!(
        calls,
        [
            format!("upgrade plan {}", env.kubeconfig_arg()),
            // At most three CAPI minors per call; CAPO v0.9, then v0.10 (the last serving
            // v1alpha6, storing v1beta1) before v0.11 stopped serving v1alpha6.
            hop_argv(&env, "v1.6.1", Some("v0.9.0")),
            hop_argv(&env, "v1.7.7", Some("v0.10.5")),
            hop_argv(&env, "v1.10.10", Some("v0.12.7")),
            hop_argv(&env, "v1.12.2", Some(CAPO)),
            hop_argv(&env, CAPI, None),
        ]
    );
    let r = report(&o);
    let names: Vec<String> = steps(&r).into_iter().map(|(_, n, _)| n).collect();
    let hop1 = names
        .iter()
        .position(|n| n == "clusterctl upgrade apply 1/5 (cluster-api:v1.6.1, openstack:v0.9.0)")
        .unwrap_or_else(|| panic!("{names:#?}"));
    // Each hop waits for the providers before the next; ORC came before the first.
    assert_eq!(names[hop1 + 1], "providers after hop 1/5");
    assert!(
        names[..hop1].iter().any(|n| n.starts_with("ORC")),
        "{names:#?}"
    );
    assert_eq!(
        names[hop1 + 8],
        format!("clusterctl upgrade apply 5/5 (cluster-api:{CAPI})")
    );
    assert_eq!(capo_timeout(&env.capo()).as_deref(), Some("5"));
}

#[test]
fn dry_run_upgrade_shows_the_hops_of_an_r4_era_cluster() {
    let env = Env::new();
    let o = Command::cargo_bin("scs-capi")
        .unwrap()
        .args([
            "mgmt",
            "upgrade",
            "--dry-run",
            "--allow-unpinned",
            "--output",
            "json",
        ])
        .arg("--bin-dir")
        .arg(env.path("bin"))
        .arg("--tools-manifest")
        .arg(env.path("tools.yaml"))
        .arg("--kubeconfig")
        .arg(env.path("mgmt.kubeconfig"))
        .current_dir(env.path(""))
        .env_clear()
        .env("HOME", env.path(""))
        .env("NO_COLOR", "1")
        .env("SCS_TEST_RECORD", env.path("record"))
        .timeout(Duration::from_secs(60))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let r = report(&o);
    let hops: Vec<(String, String, String)> = steps(&r)
        .into_iter()
        .filter(|(_, n, _)| n.starts_with("clusterctl upgrade apply "))
        .collect();
    assert_eq!(hops.len(), 5, "{r:#}");
    assert!(hops.iter().all(|(_, _, s)| s == "planned"));
    assert_eq!(
        hops[1].1,
        "clusterctl upgrade apply 2/5 (cluster-api:v1.7.7, openstack:v0.10.5)"
    );
    assert!(env.calls().is_empty(), "a dry run calls no clusterctl");
}
