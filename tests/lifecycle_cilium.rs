//! `create-cluster` with `use_cilium: true` on the fakes (fake OpenStack, fake-kube as the
//! management cluster with its simulated CAPO glued to the cloud, the workload cluster it
//! starts, addon manifests from the local mirror): the CNI goes through the cilium CLI,
//! here a recording stub first on `PATH`.
//!
//! What is simulated: the cilium CLI. The stub records its argv, the names (never the
//! values) of its environment and the mode of the file `KUBECONFIG` names, then does the
//! part of `cilium install` the tool looks at afterwards: it server-side applies the
//! DaemonSet `kube-system/cilium` into the cluster of that kubeconfig (with `curl`, field
//! manager `cilium`). Everything else (cloud, management cluster, workload API, addon
//! inventory) is the tool's real work against the fakes.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use assert_cmd::Command;
use fake_kube::{Fake, Profile};
use fake_openstack::FakeCloud;
use serde_json::json;

const IMAGE: &str = "ubuntu-capi-image-test";

const STUB: &str = r#"#!/bin/sh
# cilium CLI stand-in (see tests/lifecycle_cilium.rs).
set -u
{
  printf 'argv:'; printf ' %s' "$@"; printf '\n'
  printf 'env:'; awk 'BEGIN { for (k in ENVIRON) printf " %s", k }'; printf '\n'
  printf 'kubeconfig-mode: %s\n' "$(stat -c %a "${KUBECONFIG:-/nonexistent}" 2>/dev/null)"
} >> "$SCS_TEST_RECORD"
[ "${1:-}" = install ] || exit 0
server=$(sed -n 's/^ *server: *//p' "$KUBECONFIG" | head -n 1)
token=$(sed -n 's/^ *token: *//p' "$KUBECONFIG" | head -n 1)
curl -sSf -X PATCH -H 'Content-Type: application/apply-patch+yaml' \
  -H "Authorization: Bearer $token" \
  --data-binary '{"apiVersion":"apps/v1","kind":"DaemonSet","metadata":{"name":"cilium","namespace":"kube-system"},"spec":{"selector":{"matchLabels":{"k8s-app":"cilium"}},"template":{"metadata":{"labels":{"k8s-app":"cilium"}},"spec":{"containers":[{"name":"cilium-agent","image":"quay.io/cilium/cilium"}]}}}}' \
  "$server/apis/apps/v1/namespaces/kube-system/daemonsets/cilium?fieldManager=cilium&force=true" >/dev/null
echo "cilium was installed successfully"
"#;

struct Env {
    _cloud: FakeCloud,
    _os: fake_openstack::Running,
    kube: Fake,
    _kube: fake_kube::Running,
    mirror: String,
    _mirror_rt: tokio::runtime::Runtime,
    dir: tempfile::TempDir,
}

impl Env {
    fn new() -> Env {
        let cloud = FakeCloud::new();
        cloud.seed().demo();
        cloud
            .seed()
            .image(IMAGE, json!({"min_disk": 20, "min_ram": 1024}));
        let os = cloud.serve_in_background(0).expect("fake cloud serves");
        let dir = tempfile::tempdir().unwrap();
        // Versioned overrides (unversioned ones: tests/cloud_discovery.rs).
        let yaml = cloud
            .endpoints(&os.url)
            .clouds_yaml("fake")
            .replace("/image\n", "/image/v2\n")
            .replace("/network\n", "/network/v2.0\n")
            .replace("/load-balancer\n", "/load-balancer/v2\n");
        std::fs::write(dir.path().join("clouds.yaml"), yaml).unwrap();
        let kube = Fake::builder()
            .profile(Profile::Default)
            .tick(Duration::from_millis(2))
            .hooks(support::cloud_glue::Glue {
                cloud: cloud.clone(),
            })
            .build()
            .expect("fake kube");
        let running = kube.serve_in_background(0).expect("fake kube serves");
        kube.write_kubeconfig(&dir.path().join("mgmt.kubeconfig"))
            .unwrap();
        let stubs = dir.path().join("stubs");
        std::fs::create_dir_all(&stubs).unwrap();
        std::fs::write(stubs.join("cilium"), STUB).unwrap();
        std::fs::set_permissions(stubs.join("cilium"), std::fs::Permissions::from_mode(0o755))
            .unwrap();
        let (mirror, _, rt) = support::mirror::start();
        Env {
            _cloud: cloud,
            _os: os,
            kube,
            _kube: running,
            mirror,
            _mirror_rt: rt,
            dir,
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn home(&self) -> PathBuf {
        self.path().join("home")
    }

    fn create(&self, file: &Path) -> Output {
        let home = self.home();
        let path = format!(
            "{}:{}",
            self.path().join("stubs").display(),
            std::env::var("PATH").unwrap_or_default()
        );
        Command::cargo_bin("scs-capi")
            .unwrap()
            .args(["create-cluster", "-f"])
            .arg(file)
            .args(["--timeout", "60", "--output", "json"])
            .current_dir(self.path())
            .env_clear()
            .env("PATH", path)
            .env("HOME", &home)
            .env("XDG_CONFIG_HOME", home.join(".config"))
            .env("XDG_STATE_HOME", home.join(".local/state"))
            .env("XDG_CACHE_HOME", home.join(".cache"))
            .env("OS_CLIENT_CONFIG_FILE", self.path().join("clouds.yaml"))
            .env("KUBECONFIG", self.path().join("mgmt.kubeconfig"))
            .env("SCS_CAPI_ADDON_MIRROR", &self.mirror)
            .env("SCS_TEST_RECORD", self.path().join("record"))
            .env("NO_COLOR", "1")
            .timeout(Duration::from_secs(120))
            .output()
            .unwrap()
    }

    fn record(&self) -> String {
        std::fs::read_to_string(self.path().join("record")).unwrap_or_default()
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

#[test]
fn cilium_is_installed_by_its_cli_with_r4s_settings_and_no_secret_in_argv() {
    let env = Env::new();
    let f = env.path().join("cil.yaml");
    std::fs::write(
        &f,
        format!(
            "cluster_name: cil\ncloud_provider: fake\nnode_image: {IMAGE}\nkubernetes_version: v1.33.x\n\
             controller_flavor: SCS-2V-4-20s\nworker_flavor: SCS-2V-4-20\nrestrict_kubeapi: [none]\n\
             worker_count: 1\nuse_cilium: true\n"
        ),
    )
    .unwrap();

    let o = env.create(&f);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();

    // One `cilium install`: the pinned version, R4's conformance settings, the pod CIDR.
    let record = env.record();
    let lines: Vec<&str> = record.lines().collect();
    assert_eq!(lines.len(), 3, "one call: {record}");
    assert_eq!(
        lines[0],
        "argv: install --version 1.18.14 --set kubeProxyReplacement=false --set \
         cni.chainingMode=portmap --set sessionAffinity=true --set \
         ipam.operator.clusterPoolIPv4PodCIDRList=192.168.0.0/16"
    );
    // The workload cluster's credentials reach it only as a 0600 file named in KUBECONFIG.
    assert!(
        lines[1].split_whitespace().any(|n| n == "KUBECONFIG"),
        "{}",
        lines[1]
    );
    assert_eq!(lines[2], "kubeconfig-mode: 600");
    let wl = env
        .kube
        .workload("default", "cil")
        .expect("workload cluster");
    assert!(
        !record.contains(wl.token()),
        "the workload token was recorded: {record}"
    );
    assert!(!text(&o).contains(wl.token()), "{}", text(&o));

    // cilium replaced calico; the DaemonSet the CLI made is what the tool found.
    let addons: Vec<(&str, &str, &str)> = report["addons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["addon"].as_str().unwrap(),
                a["version"].as_str().unwrap(),
                a["action"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        addons[0],
        ("cilium", "v1.18.14", "installed with the cilium CLI"),
        "{addons:?}"
    );
    assert!(!addons.iter().any(|a| a.0 == "calico"), "{addons:?}");
    assert!(
        wl.get("apps/v1", "DaemonSet", "kube-system", "calico-node")
            .is_none()
    );
    let inventory = wl
        .get("v1", "ConfigMap", "kube-system", "scs-capi-addons")
        .expect("addon inventory");
    assert_eq!(inventory["data"]["cilium"], "cli");

    // Again: cilium is there, the CLI is not called a second time.
    let o = env.create(&f);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(report["addons"][0]["action"], "already installed");
    assert_eq!(env.record().lines().count(), 3, "{}", env.record());
}
