//! Conformance: the real `openstacksdk` and `openstack` CLI (python-openstackclient +
//! python-octaviaclient) drive the fake through a standalone clouds.yaml, running the
//! scripts `tests/conformance/fake_*.py`; each script asserts the outcomes of the calls
//! scs-capi makes, and these tests add checks on what reached the fake (request log,
//! final state).
//!
//! Needs the test venv (`SCS_TEST_VENV`, default `<workspace>/.venv-test`, made by
//! `scripts/test.sh`); without it the tests fail with the command that installs it.

use fake_openstack::{FakeCloud, Running};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Instant;

const PIP_SET: &str =
    "openstacksdk==4.22.0 python-openstackclient==10.5.0 python-octaviaclient==3.15.0";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("workspace root")
}

/// The venv's python, checked once: openstacksdk, openstackclient and octaviaclient import.
fn python() -> &'static Path {
    static PY: OnceLock<PathBuf> = OnceLock::new();
    PY.get_or_init(|| {
        let venv = std::env::var_os("SCS_TEST_VENV")
            .map(PathBuf::from)
            .unwrap_or_else(|| root().join(".venv-test"));
        let py = venv.join("bin/python");
        let install = format!(
            "python3 -m venv {v} && {v}/bin/pip install {PIP_SET}   (or run scripts/test.sh)",
            v = venv.display()
        );
        let probe = Command::new(&py)
            .args(["-c", "import openstack.version, openstackclient, octaviaclient; print(openstack.version.__version__)"])
            .output();
        match probe {
            Ok(o) if o.status.success() => py,
            Ok(o) => panic!(
                "the test venv {} lacks the OpenStack clients ({}).\nInstall them: {install}",
                venv.display(),
                String::from_utf8_lossy(&o.stderr).lines().last().unwrap_or_default()
            ),
            Err(e) => panic!(
                "no Python at {} ({e}).\nInstall the test venv: {install}",
                py.display()
            ),
        }
    })
}

struct Fake {
    cloud: FakeCloud,
    running: Running,
    dir: tempfile::TempDir,
}

fn start(seed: impl FnOnce(&FakeCloud)) -> Fake {
    let cloud = FakeCloud::new();
    seed(&cloud);
    let running = cloud.serve_in_background(0).expect("fake serves");
    let dir = tempfile::tempdir().unwrap();
    let yaml = cloud.endpoints(&running.url).clouds_yaml("fake");
    std::fs::write(dir.path().join("clouds.yaml"), yaml).unwrap();
    Fake {
        cloud,
        running,
        dir,
    }
}

impl Fake {
    /// Runs `tests/conformance/<script>`; panics with its output unless it exits 0.
    fn run(&self, script: &str, env: &[(&str, &str)]) -> String {
        let dir = root().join("tests/conformance");
        let t = Instant::now();
        let out = Command::new(python())
            .arg(dir.join(script))
            .current_dir(self.dir.path())
            .env("OS_CLIENT_CONFIG_FILE", self.dir.path().join("clouds.yaml"))
            .env("OS_CLOUD", "fake")
            .env("PYTHONPATH", &dir)
            .env("FAKE_URL", &self.running.url)
            .env_remove("OS_AUTH_URL")
            .envs(env.iter().copied())
            .output()
            .expect("run python");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "{script} failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}\n--- fake request log (last 30)\n{}",
            out.status,
            self.log_tail(30)
        );
        eprintln!(
            "{script}: {} checks passed in {:.2?}",
            stdout.matches("\nok: ").count() + 1,
            t.elapsed()
        );
        stdout
    }

    fn log_tail(&self, n: usize) -> String {
        let log = self.cloud.request_log();
        log[log.len().saturating_sub(n)..]
            .iter()
            .map(|r| {
                format!(
                    "{} {}?{} -> {} [{}]",
                    r.method,
                    r.path,
                    r.query.as_deref().unwrap_or(""),
                    r.status,
                    r.microversion.as_deref().unwrap_or("-")
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn names(&self, kind: &str) -> Vec<String> {
        self.cloud.snapshot()[kind]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["name"].as_str().unwrap_or_default().to_string())
            .collect()
    }
}

fn cluster_nodes(cloud: &FakeCloud) {
    cloud.seed().demo();
    let net = cloud
        .seed()
        .network("k8s-clusterapi-cluster-default-c1", "10.8.0.0/20");
    for i in 0..5 {
        cloud.seed().server(&format!("capi-c1-node-{i}"), &net);
    }
}

#[test]
fn sdk_compute() {
    let fake = start(cluster_nodes);
    fake.run("fake_compute.py", &[]);
    let log = fake.cloud.request_log();
    assert!(
        log.iter().any(|r| r.method == "POST"
            && r.path.ends_with("/os-server-groups")
            && r.microversion.as_deref() == Some("compute 2.64")),
        "the SDK negotiated 2.64 for server groups:\n{}",
        fake.log_tail(40)
    );
    assert!(
        log.iter().any(|r| r.path.ends_with("/servers/detail")
            && r.query.as_deref().is_some_and(|q| q.contains("marker="))),
        "server pagination followed a next link"
    );
    let groups = fake.names("server_groups");
    assert!(
        groups.contains(&"capi-c1-controller".to_string())
            && !groups.contains(&"capi-c1-worker".to_string()),
        "{groups:?}"
    );
}

#[test]
fn sdk_network() {
    let fake = start(|c| c.seed().demo());
    fake.run("fake_network.py", &[]);
    let snap = fake.cloud.snapshot();
    for kind in [
        "networks",
        "subnets",
        "routers",
        "ports",
        "floatingips",
        "security_groups",
    ] {
        let left: Vec<&Value> = snap[kind]
            .as_array()
            .unwrap()
            .iter()
            .filter(|v| {
                v["name"].as_str().unwrap_or_default().starts_with("conf-")
                    || v["description"]
                        .as_str()
                        .unwrap_or_default()
                        .starts_with("conf-")
            })
            .collect();
        assert!(
            left.is_empty(),
            "the script cleaned up its {kind}: {left:?}"
        );
    }
    assert!(
        fake.cloud
            .request_log()
            .iter()
            .any(|r| r.path.ends_with("/ports")
                && r.query.as_deref().is_some_and(|q| q.contains("marker="))),
        "port pagination followed a next link"
    );
}

#[test]
fn sdk_image() {
    let fake = start(|c| c.seed().demo());
    fake.run("fake_image.py", &[]);
    let snap = fake.cloud.snapshot();
    let up = snap["images"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == "conf-upload")
        .expect("uploaded image kept");
    assert_eq!(up["status"], "active");
    assert_eq!(up["os_hash_algo"], "sha512");
    assert!(
        fake.cloud
            .request_log()
            .iter()
            .any(|r| r.method == "PUT" && r.path.ends_with("/file") && r.status == 204),
        "data went through PUT /file"
    );
}

#[test]
fn sdk_load_balancer() {
    let fake = start(|c| {
        c.seed().demo();
        c.set_lb_providers(true);
        // long enough for the script to observe PENDING_UPDATE on a loaded machine
        c.set_timings(fake_openstack::Timings {
            lb_update: std::time::Duration::from_millis(800),
            ..Default::default()
        });
        let net = c
            .seed()
            .network("k8s-clusterapi-cluster-default-c1", "10.8.0.0/20");
        let sub = c.seed().first_subnet(&net);
        let lb = c.seed().load_balancer(
            "kube_service_c1_ingress-nginx_ingress-nginx-controller",
            &sub,
        );
        c.seed().listener(&lb, 80, None);
        let api = c
            .seed()
            .load_balancer("k8s-clusterapi-cluster-default-c1-kubeapi", &sub);
        c.seed()
            .listener(&api, 6443, Some(vec!["10.0.0.0/8", "172.24.4.10/32"]));
        let ext = c.snapshot()["networks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["router:external"] == true)
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string();
        let vip = c.seed().port_of(&format!("lb-{lb}")).unwrap();
        c.seed().floating_ip(&ext, Some(&vip), "conf-lb-fip");
    });
    fake.run("fake_load_balancer.py", &[]);
    let snap = fake.cloud.snapshot();
    assert!(
        snap["loadbalancers"].as_array().unwrap().is_empty(),
        "all load balancers deleted"
    );
    assert!(snap["listeners"].as_array().unwrap().is_empty());
    let fip = snap["floatingips"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["description"] == "conf-lb-fip");
    assert!(fip.is_none(), "the script deleted the LB's floating IP");
}

#[test]
fn openstack_cli() {
    let fake = start(|c| {
        cluster_nodes(c);
        let net = c
            .seed()
            .network("k8s-clusterapi-cluster-default-c2", "10.9.0.0/20");
        let sub = c.seed().first_subnet(&net);
        let lb = c
            .seed()
            .load_balancer("k8s-clusterapi-cluster-default-c2-kubeapi", &sub);
        c.seed().listener(&lb, 6443, None);
    });
    fake.run("fake_cli.py", &[]);
    assert!(
        fake.cloud.snapshot()["loadbalancers"]
            .as_array()
            .unwrap()
            .is_empty(),
        "loadbalancer delete --cascade"
    );
    let log = fake.cloud.request_log();
    assert!(
        log.iter().any(|r| r.method == "POST"
            && r.path.ends_with("/os-server-groups")
            && r.microversion
                .as_deref()
                .is_some_and(|m| m.ends_with("2.15"))),
        "--os-compute-api-version 2.15 reached the fake:\n{}",
        fake.log_tail(60)
    );
    assert!(log.iter().any(|r| r.method == "POST"
        && r.path.ends_with("/security-group-rules")
        && r.status == 409));
}

#[test]
fn sdk_block_storage() {
    let fake = start(|c| {
        c.seed().demo();
        // long enough for the script to observe `deleting` on a loaded machine
        c.set_timings(fake_openstack::Timings {
            volume_delete: std::time::Duration::from_millis(800),
            ..Default::default()
        });
        let csi = "cinder.csi.openstack.org/cluster";
        for i in 0..5 {
            let attached: &[&str] = if i == 0 { &["srv-c1-w0"] } else { &[] };
            c.seed().volume(
                &format!("pvc-0f2b3c4d-1111-2222-3333-44445555666{i}"),
                1,
                &[(csi, "c1")],
                attached,
            );
        }
        c.seed().volume(
            "pvc-9a8b7c6d-1111-2222-3333-444455556666",
            1,
            &[(csi, "c1bar")],
            &[],
        );
        c.seed()
            .volume("capi-c1-control-plane-aaaaa-root", 20, &[], &["srv-c1-cp0"]);
    });
    fake.run("fake_block_storage.py", &[]);
    let log = fake.cloud.request_log();
    assert!(
        log.iter().any(|r| r.path.ends_with("/volumes/detail")
            && r.query.as_deref().is_some_and(|q| q.contains("marker="))),
        "volume pagination followed a next link:\n{}",
        fake.log_tail(40)
    );
    assert!(
        log.iter()
            .any(|r| r.method == "DELETE" && r.path.contains("/volumes/") && r.status == 400),
        "the attached volume's delete reached the fake and was refused"
    );
    assert_eq!(fake.names("volumes").len(), 3);
}

#[test]
fn openstack_cli_cleanup() {
    let ids = std::sync::Mutex::new(None);
    let fake = start(|c| {
        c.seed().demo();
        let shape = fake_openstack::ClusterShape::default();
        *ids.lock().unwrap() = Some(c.seed().cluster("c1", "10.8.0.0/20", &shape));
        c.seed().cluster("c1bar", "10.9.0.0/20", &shape);
    });
    let c1 = ids.lock().unwrap().take().unwrap();
    let before = fake.cloud.snapshot();
    fake.run(
        "fake_cli_cleanup.py",
        &[("CLUSTER_IDS", &c1.to_json().to_string())],
    );
    let snap = fake.cloud.snapshot();
    assert_eq!(c1.present_in(&snap), vec![], "the CLI deleted all of c1");
    // everything else is as before (c1bar, the management server)
    for kind in ["servers", "networks", "ports", "security_groups", "volumes"] {
        let others = |s: &Value| -> Vec<Value> {
            s[kind]
                .as_array()
                .unwrap()
                .iter()
                .filter(|r| !c1.all().iter().any(|(_, id)| r["id"] == id.as_str()))
                // VIP and router-interface ports on c1's network went with their owners
                .filter(|r| r["network_id"] != c1.network.as_str())
                .map(|r| r["id"].clone())
                .collect()
        };
        assert_eq!(others(&snap), others(&before), "{kind} of others untouched");
    }
    let log = fake.cloud.request_log();
    assert!(
        log.iter().any(|r| r.method == "PUT"
            && r.path.ends_with("/remove_router_interface")
            && r.status == 200),
        "router remove subnet reached the fake:\n{}",
        fake.log_tail(40)
    );
    assert!(
        log.iter()
            .any(|r| r.method == "DELETE" && r.path.contains("/volumes/") && r.status == 202),
        "volume delete went through Cinder"
    );
}
