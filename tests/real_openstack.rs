//! `scs-capi` against real OpenStack services (Keystone, Nova with its fake driver, Neutron,
//! Glance, Cinder with its fake driver, Octavia with noop drivers; `scripts/openstack-local.sh`,
//! see `support::real_openstack`), always as the tenant user, never as admin.
//!
//! Covered: version discovery for the catalog as real deployments register it and for
//! `*_endpoint_override` with and without version and trailing slash; `prepare-cloud` dry
//! run (nothing created), real run (a qemu-img qcow2 converted and uploaded through real
//! Glance, which checks the data against `disk_format`; a restricted application
//! credential from real Keystone; server groups; the cilium security group) and a re-run
//! with nothing to do; `cleanup` of what CAPO, OCCM and the Cinder CSI leave (network,
//! subnet, router with gateway and interface, cross-referencing security groups, ports,
//! servers including one in ERROR with Nova's "No valid host" fault and two with the same
//! name, kube-API and OCCM load balancers, floating IPs, an attached volume) next to a
//! neighbour `<name>bar` that stays; a real Neutron quota error reported with its text.
//!
//! `delete-cluster` of a prepared cluster whose Cluster is gone from the management
//! cluster (fake-kube): its cloud side, credential and state go, the neighbour stays.
//!
//! Not covered here: faults the real services cannot be made to produce on demand
//! (5xx, 429, slow answers, dropped connections: tests/cloud_cleanup.rs on the fake).

mod support;

use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;
use sha2::{Digest, Sha256};
use support::cloud::{assert_exit, scs_capi, text};
use support::real_openstack::{RealCloud, write_tenant_clouds};

/// `scs-capi ARGS` in `dir` with a private HOME and `clouds` as the only clouds.yaml.
fn run(dir: &Path, clouds: &Path, args: &[&str]) -> Output {
    scs_capi(dir, &dir.join("home"), clouds)
        .args(args)
        .output()
        .expect("run scs-capi")
}

fn settings(dir: &Path, name: &str, cloud: &str, extra: &str) -> String {
    let p = dir.join(format!("{name}.yaml"));
    std::fs::write(
        &p,
        format!(
            "cluster_name: {name}\ncloud_provider: {cloud}\ncontroller_flavor: SCS-2V-4-20s\n\
             worker_flavor: SCS-2V-4-20\n{extra}"
        ),
    )
    .unwrap();
    p.display().to_string()
}

/// Discovery: the catalog (network, image, load-balancer unversioned) and overrides in
/// every form reach the APIs; `prepare-cloud --dry-run` and `cleanup --dry-run` succeed.
#[test]
fn every_endpoint_form_reaches_the_real_apis() {
    let cloud = RealCloud::get();
    let _serial = RealCloud::lock();
    let dir = tempfile::tempdir().unwrap();
    let tenant = cloud.tenant_clouds_yaml();
    // Keystone = +0; placement +1, nova +2, neutron +3, glance +4, cinder +5, octavia +6.
    let url = |off: u16| cloud.port_url(off);
    let forms: Vec<(&str, Vec<(&str, String)>)> = vec![
        ("catalog", vec![]),
        (
            "unversioned",
            vec![
                ("compute", url(2)),
                ("network", url(3)),
                ("image", url(4)),
                ("block_storage", url(5)),
                ("load_balancer", url(6)),
            ],
        ),
        (
            "unversioned/",
            vec![
                ("compute", url(2) + "/"),
                ("network", url(3) + "/"),
                ("image", url(4) + "/"),
                ("block_storage", url(5) + "/"),
                ("load_balancer", url(6) + "/"),
            ],
        ),
        (
            "versioned",
            vec![
                ("compute", url(2) + "/v2.1/"),
                ("network", url(3) + "/v2.0"),
                ("image", url(4) + "/v2/"),
                ("block_storage", url(5) + "/v3"),
                ("load_balancer", url(6) + "/v2"),
            ],
        ),
    ];
    for (form, overrides) in forms {
        let extra: String = overrides
            .iter()
            .map(|(svc, u)| format!("    {svc}_endpoint_override: {u}\n"))
            .collect();
        let yaml = tenant.replacen("  tenant:\n", &format!("  tenant:\n{extra}"), 1);
        let clouds = dir
            .path()
            .join(format!("clouds-{}.yaml", form.replace('/', "s")));
        std::fs::write(&clouds, &yaml).unwrap();
        let f = settings(dir.path(), "rd1", "tenant", "node_image: cirros-fake\n");
        let o = run(
            dir.path(),
            &clouds,
            &["prepare-cloud", "-f", &f, "--dry-run"],
        );
        assert_eq!(
            o.status.code(),
            Some(0),
            "form {form}:\n{yaml}\n{}",
            text(&o)
        );
        let o = run(dir.path(), &clouds, &["cleanup", "-f", &f, "--dry-run"]);
        assert_eq!(
            o.status.code(),
            Some(0),
            "form {form}:\n{yaml}\n{}",
            text(&o)
        );
    }
}

const LIST_CLUSTER: &str = r#"
import json, sys, openstack
c = openstack.connect(cloud="tenant")
n = sys.argv[1]
me = c.current_user_id
out = {
  "images": [[i.name, i.status, i.disk_format] for i in c.image.images() if i.name == "node-" + n],
  "server_groups": sorted([g.name, g.policy or (g.policies or [""])[0]] for g in c.compute.server_groups() if g.name.startswith("capi-" + n + "-")),
  "security_groups": [[g.name, len([r for r in g.security_group_rules if r["direction"] == "ingress"])] for g in c.network.security_groups() if g.name == "capi-" + n + "-cilium"],
  "appcreds": [[a.name, a.unrestricted, sorted(r["name"] for r in a.roles)] for a in c.identity.application_credentials(me) if a.name == "capi-" + n + "-appcred"],
}
print(json.dumps(out))
"#;

#[test]
fn prepare_cloud_dry_run_run_and_rerun_as_the_tenant() {
    let cloud = RealCloud::get();
    let _serial = RealCloud::lock();
    let dir = tempfile::tempdir().unwrap();
    let clouds = write_tenant_clouds(&cloud, dir.path());
    let files = dir.path().join("files");
    std::fs::create_dir(&files).unwrap();
    let qcow = files.join("node.qcow2");
    let st = std::process::Command::new("qemu-img")
        .args(["create", "-q", "-f", "qcow2"])
        .arg(&qcow)
        .arg("16M")
        .status()
        .expect("qemu-img (Debian qemu-utils, installed by scripts/test.sh)");
    assert!(st.success());
    let sha = format!("{:x}", Sha256::digest(std::fs::read(&qcow).unwrap()));
    let url = serve_files(files);
    let f = settings(
        dir.path(),
        "rp1",
        "tenant",
        &format!(
            "node_image: node-rp1\nnode_image_url: {url}/node.qcow2\nnode_image_sha256: {sha}\n\
             anti_affinity: true\nuse_cilium: true\n"
        ),
    );
    let listing = || -> Value {
        serde_json::from_str(&cloud.python(LIST_CLUSTER, &["rp1"])).expect("listing json")
    };
    // What an earlier, failed run of this test on the same services left.
    let o = run(
        dir.path(),
        &clouds,
        &["cleanup", "-f", &f, "--yes", "--force"],
    );
    assert_exit(&o, 0);
    cloud.python(DELETE_RP1_IMAGE, &[]);
    let empty = listing();
    assert_eq!(
        empty,
        serde_json::json!({"images": [], "server_groups": [], "security_groups": [], "appcreds": []}),
    );

    let o = run(
        dir.path(),
        &clouds,
        &["prepare-cloud", "-f", &f, "--dry-run"],
    );
    assert_exit(&o, 0);
    assert_eq!(listing(), empty, "the dry run changed the cloud");

    let o = run(dir.path(), &clouds, &["prepare-cloud", "-f", &f]);
    assert_exit(&o, 0);
    let after = listing();
    assert_eq!(
        after,
        serde_json::json!({
            "images": [["node-rp1", "active", "raw"]],
            "server_groups": [["capi-rp1-controller", "anti-affinity"], ["capi-rp1-worker", "soft-anti-affinity"]],
            "security_groups": [["capi-rp1-cilium", 3]],
            // Keystone lists the implied `reader` too.
            "appcreds": [["capi-rp1-appcred", false, ["load-balancer_member", "member", "reader"]]],
        }),
        "{}",
        text(&o)
    );

    let o = run(
        dir.path(),
        &clouds,
        &["prepare-cloud", "-f", &f, "--output", "json"],
    );
    assert_exit(&o, 0);
    let plan: Value = serde_json::from_slice(&o.stdout).expect("json");
    let changing: Vec<&Value> = plan["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["state"] != "ok" && s["state"] != "skipped")
        .collect();
    assert!(changing.is_empty(), "re-run wants changes: {changing:#?}");
    assert_eq!(listing(), after);

    // cleanup removes what prepare-cloud made (the image is shared and stays).
    let o = run(
        dir.path(),
        &clouds,
        &["cleanup", "-f", &f, "--yes", "--force"],
    );
    assert_exit(&o, 0);
    let gone = listing();
    assert_eq!(gone["server_groups"], serde_json::json!([]), "{}", text(&o));
    assert_eq!(gone["security_groups"], serde_json::json!([]));
    assert_eq!(gone["appcreds"], serde_json::json!([]));
    cloud.python(DELETE_RP1_IMAGE, &[]);
}

const DELETE_RP1_IMAGE: &str = "import openstack; c = openstack.connect(cloud='tenant')\n\
     [c.image.delete_image(i) for i in c.image.images() if i.name == 'node-rp1']";

/// What CAPO, OCCM and the Cinder CSI leave of cluster `argv[1]` (`full`) or a lighter one
/// (`light`), created as the tenant; prints the ids per kind as JSON and the fault of the
/// server in ERROR.
const FOOTPRINT: &str = r#"
import json, sys, uuid, openstack
name, cidr, mode, qcow = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
c = openstack.connect(cloud="tenant")
base = "default-" + name
capo = "k8s-clusterapi-cluster-" + base
desc = "Created by cluster-api-provider-openstack cluster " + base
pub = c.network.find_network("public")
out = {k: [] for k in ("networks", "subnets", "routers", "security_groups", "ports", "servers",
                       "load_balancers", "floating_ips", "volumes")}
net = c.network.create_network(name=capo); out["networks"].append(net.id)
sub = c.network.create_subnet(name=capo, network_id=net.id, cidr=cidr, ip_version=4)
out["subnets"].append(sub.id)
rtr = c.network.create_router(name=capo, external_gateway_info={"network_id": pub.id})
out["routers"].append(rtr.id)
c.network.add_interface_to_router(rtr, subnet_id=sub.id)
cp = c.network.create_security_group(name="k8s-cluster-%s-secgroup-controlplane" % base)
wk = c.network.create_security_group(name="k8s-cluster-%s-secgroup-worker" % base)
for a, b in ((cp, wk), (wk, cp)):
    c.network.create_security_group_rule(security_group_id=a.id, direction="ingress",
        protocol="tcp", port_range_min=10250, port_range_max=10250, remote_group_id=b.id,
        ethertype="IPv4")
out["security_groups"] += [cp.id, wk.id]
img = c.image.find_image("cirros-fake")
fl = c.compute.find_flavor("SCS-2V-4-20")
servers = []
def machine(server, sg, image=img):
    port = c.network.create_port(network_id=net.id, name=server + "-0", description=desc,
                                 security_group_ids=[sg.id])
    s = c.compute.create_server(name=server, image_id=image.id, flavor_id=fl.id,
                                networks=[{"port": port.id}])
    out["ports"].append(port.id); out["servers"].append(s.id); servers.append(s)
    return s
machine(name + "-control-plane-abcde", cp)
w1 = machine("capi-%s-md-0-no1-5d8f9c7b6a-x7k2p" % name, wk)
fault = ""
if mode == "full":
    machine("capi-%s-md-0-no1-5d8f9c7b6a-x7k2p" % name, wk)  # same name twice
    # SCS node images carry hypervisor_type=kvm; the fake hypervisor is `fake`: ERROR.
    kvm = c.image.find_image("kvm-only-" + name) or c.image.create_image(
        name="kvm-only-" + name, disk_format="qcow2", container_format="bare",
        filename=qcow, properties={"hypervisor_type": "kvm"})
    machine("capi-%s-md-0-no1-5d8f9c7b6a-errxx" % name, wk, kvm)
for s in servers:
    s = c.compute.wait_for_server(s, status="ACTIVE", failures=["ERROR"], wait=180) \
        if not s.name.endswith("errxx") else c.compute.wait_for_server(s, status="ERROR", failures=[], wait=180)
    if s.status == "ERROR":
        fault = (s.fault or {}).get("message", "")
if mode == "full":
    lb = c.load_balancer.create_load_balancer(name=capo + "-kubeapi", vip_subnet_id=sub.id)
    out["load_balancers"].append(lb.id)
    occm = c.load_balancer.create_load_balancer(name="kube_service_%s_default_web-0" % name,
                                                vip_subnet_id=sub.id)
    out["load_balancers"].append(occm.id)
    for l in (lb, occm):
        c.load_balancer.wait_for_load_balancer(l.id, wait=180)
    c.load_balancer.create_listener(loadbalancer_id=lb.id, protocol="TCP", protocol_port=6443)
    c.load_balancer.wait_for_load_balancer(lb.id, wait=180)
    # Octavia's noop network driver invents the VIP port: the floating IPs stay unbound.
    out["floating_ips"].append(c.network.create_ip(floating_network_id=pub.id, description=desc).id)
    out["floating_ips"].append(c.network.create_ip(floating_network_id=pub.id,
        description="Floating IP for Kubernetes external service default/web-0 from cluster " + name).id)
    lbsg = c.network.create_security_group(name="lb-sg-1b4e28ba-2fa1-11d2-883f-0016d3cca427-default-web-0",
        description="Security Group for default/web-0 Service LoadBalancer in cluster " + name)
    out["security_groups"].append(lbsg.id)
    v = c.block_storage.create_volume(size=1, name="pvc-" + str(uuid.uuid4()),
                                      metadata={"cinder.csi.openstack.org/cluster": name})
    c.block_storage.wait_for_status(v, "available", wait=120)
    c.compute.create_volume_attachment(w1, volume_id=v.id)
    c.block_storage.wait_for_status(v, "in-use", wait=120)
    out["volumes"].append(v.id)
print(json.dumps({"ids": out, "fault": fault}))
"#;

/// Which of `ids` (kind -> ids) still exist, as `kind id`.
const STILL_THERE: &str = r#"
import json, sys, time, openstack
c = openstack.connect(cloud="tenant")
ids = json.loads(sys.argv[1])
have = {
  "networks": {x.id for x in c.network.networks()},
  "subnets": {x.id for x in c.network.subnets()},
  "routers": {x.id for x in c.network.routers()},
  "security_groups": {x.id for x in c.network.security_groups()},
  "ports": {x.id for x in c.network.ports()},
  "servers": {x.id for x in c.compute.servers()},
  "load_balancers": {x.id for x in c.load_balancer.load_balancers() if x.provisioning_status != "DELETED"},
  "floating_ips": {x.id for x in c.network.ips()},
  "volumes": set(),
}
# Cinder deletes asynchronously (`deleting`): wait until the deleting ones are gone.
for _ in range(60):
    vols = list(c.block_storage.volumes())
    if not any(v.status == "deleting" for v in vols):
        break
    time.sleep(1)
have["volumes"] = {v.id for v in vols}
print(json.dumps(sorted("%s %s" % (k, i) for k, v in ids.items() for i in v if i in have[k])))
"#;

fn all_ids(ids: &Value) -> Vec<String> {
    let mut v: Vec<String> = ids
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(k, list)| {
            list.as_array()
                .unwrap()
                .iter()
                .map(move |i| format!("{k} {}", i.as_str().unwrap()))
        })
        .collect();
    v.sort();
    v
}

#[test]
fn cleanup_removes_a_capo_occm_csi_footprint_and_spares_the_neighbour() {
    let cloud = RealCloud::get();
    let _serial = RealCloud::lock();
    let dir = tempfile::tempdir().unwrap();
    let clouds = write_tenant_clouds(&cloud, dir.path());
    let qcow = dir.path().join("kvm.qcow2");
    let st = std::process::Command::new("qemu-img")
        .args(["create", "-q", "-f", "qcow2"])
        .arg(&qcow)
        .arg("8M")
        .status()
        .expect("qemu-img");
    assert!(st.success());
    let qcow = qcow.display().to_string();
    let mine = settings(dir.path(), "rc1", "tenant", "");
    let neighbours = settings(dir.path(), "rc1bar", "tenant", "");
    // What an earlier, failed run of this test on the same services left (its servers
    // would count against the real instance quota).
    for f in [&mine, &neighbours] {
        let o = run(
            dir.path(),
            &clouds,
            &[
                "cleanup",
                "-f",
                f,
                "--volumes",
                "delete",
                "--yes",
                "--force",
            ],
        );
        assert_exit(&o, 0);
    }
    let made: Value =
        serde_json::from_str(&cloud.python(FOOTPRINT, &["rc1", "10.61.0.0/24", "full", &qcow]))
            .unwrap();
    let neighbour: Value =
        serde_json::from_str(&cloud.python(FOOTPRINT, &["rc1bar", "10.62.0.0/24", "light", &qcow]))
            .unwrap();
    // The real fault the scheduler records (how CAPO machines fail on a cloud without a
    // matching host).
    assert!(
        made["fault"].as_str().unwrap().contains("No valid host"),
        "{made:#}"
    );
    let ids = &made["ids"];
    let theirs = all_ids(&neighbour["ids"]);
    let still = |v: &Value| -> Vec<String> {
        serde_json::from_str(&cloud.python(STILL_THERE, &[&v.to_string()])).unwrap()
    };
    assert_eq!(still(ids), all_ids(ids));

    let o = run(
        dir.path(),
        &clouds,
        &[
            "cleanup",
            "-f",
            &mine,
            "--volumes",
            "delete",
            "--yes",
            "--force",
        ],
    );
    assert_exit(&o, 0);
    assert_eq!(still(ids), Vec::<String>::new(), "{}", text(&o));
    assert_eq!(
        still(&neighbour["ids"]),
        theirs,
        "the neighbour was touched"
    );

    // A re-run has nothing to do; then the neighbour goes too.
    let o = run(
        dir.path(),
        &clouds,
        &["cleanup", "-f", &mine, "--yes", "--force"],
    );
    assert_exit(&o, 0);
    let o = run(
        dir.path(),
        &clouds,
        &["cleanup", "-f", &neighbours, "--yes", "--force"],
    );
    assert_exit(&o, 0);
    assert_eq!(
        still(&neighbour["ids"]),
        Vec::<String>::new(),
        "{}",
        text(&o)
    );
    cloud.python(
        "import openstack; c = openstack.connect(cloud='tenant')\n\
         [c.image.delete_image(i) for i in c.image.images() if i.name.startswith('kvm-only-rc1')]",
        &[],
    );
}

/// `delete-cluster`'s cloud side on the real services: a cluster prepared by
/// `prepare-cloud` (restricted credential, server groups, cilium group, local state) with
/// what CAPO leaves behind, whose Cluster the management cluster (fake-kube, no simulated
/// CAPO) no longer holds. Afterwards nothing of it is left in Neutron, Nova or Keystone,
/// its state directory is gone, and the neighbour `rx1bar` is untouched.
#[test]
fn delete_cluster_removes_the_cloud_side_and_the_credential() {
    let cloud = RealCloud::get();
    let _serial = RealCloud::lock();
    let dir = tempfile::tempdir().unwrap();
    let clouds = write_tenant_clouds(&cloud, dir.path());
    let extra = "node_image: cirros-fake\nanti_affinity: true\nuse_cilium: true\n";
    let mine = settings(dir.path(), "rx1", "tenant", extra);
    let neighbours = settings(dir.path(), "rx1bar", "tenant", extra);
    for f in [&mine, &neighbours] {
        let o = run(
            dir.path(),
            &clouds,
            &["cleanup", "-f", f, "--yes", "--force"],
        );
        assert_exit(&o, 0);
    }
    for f in [&mine, &neighbours] {
        let o = run(dir.path(), &clouds, &["prepare-cloud", "-f", f]);
        assert_exit(&o, 0);
    }
    let listing = |n: &str| -> Value {
        serde_json::from_str(&cloud.python(LIST_CLUSTER, &[n])).expect("listing json")
    };
    let prepared = listing("rx1");
    assert_eq!(prepared["server_groups"].as_array().map(Vec::len), Some(2));
    assert_eq!(prepared["appcreds"].as_array().map(Vec::len), Some(1));
    let theirs = listing("rx1bar");
    let made: Value =
        serde_json::from_str(&cloud.python(FOOTPRINT, &["rx1", "10.63.0.0/24", "light", "-"]))
            .unwrap();
    let ids = &made["ids"];
    let still = |v: &Value| -> Vec<String> {
        serde_json::from_str(&cloud.python(STILL_THERE, &[&v.to_string()])).unwrap()
    };
    assert_eq!(still(ids), all_ids(ids));
    let state = dir.path().join("home/.local/state/scs-capi/rx1");
    assert!(
        state.join("appcred.yaml").exists(),
        "prepare-cloud keeps the secret"
    );

    let kube = fake_kube::Fake::for_profile(fake_kube::Profile::Default).expect("fake kube");
    let _running = kube.serve_in_background(0).expect("fake kube serves");
    let kubeconfig = dir.path().join("mgmt.kubeconfig");
    kube.write_kubeconfig(&kubeconfig).unwrap();
    let kubeconfig = kubeconfig.display().to_string();

    let o = run(
        dir.path(),
        &clouds,
        &[
            "delete-cluster",
            "-f",
            &mine,
            "--yes",
            "--kubeconfig",
            &kubeconfig,
        ],
    );
    assert_exit(&o, 0);
    assert_eq!(still(ids), Vec::<String>::new(), "{}", text(&o));
    let gone = listing("rx1");
    assert_eq!(gone["server_groups"], serde_json::json!([]), "{}", text(&o));
    assert_eq!(gone["security_groups"], serde_json::json!([]));
    assert_eq!(
        gone["appcreds"],
        serde_json::json!([]),
        "the credential stays in Keystone"
    );
    assert!(!state.exists(), "the local state stays: {}", text(&o));
    assert_eq!(listing("rx1bar"), theirs, "the neighbour was touched");

    let o = run(
        dir.path(),
        &clouds,
        &["cleanup", "-f", &neighbours, "--yes", "--force"],
    );
    assert_exit(&o, 0);
    assert_eq!(listing("rx1bar")["appcreds"], serde_json::json!([]));
}

/// Neutron's default quota (10 security groups per project) stops `prepare-cloud`; the
/// error carries Neutron's own text.
#[test]
fn a_real_quota_error_is_reported_with_its_text() {
    let cloud = RealCloud::get();
    let _serial = RealCloud::lock();
    let dir = tempfile::tempdir().unwrap();
    let clouds = write_tenant_clouds(&cloud, dir.path());
    let fill = r#"
import openstack
c = openstack.connect(cloud="tenant")
n = 0
while True:
    try:
        c.network.create_security_group(name="quota-filler-%d" % n)
    except openstack.exceptions.ConflictException as e:
        print(e); break
    n += 1
"#;
    let said = cloud.python(fill, &[]);
    let f = settings(
        dir.path(),
        "rq1",
        "tenant",
        "node_image: cirros-fake\nuse_cilium: true\n",
    );
    let o = run(dir.path(), &clouds, &["prepare-cloud", "-f", &f]);
    cloud.python(
        "import openstack; c = openstack.connect(cloud='tenant')\n\
         [c.network.delete_security_group(g) for g in c.network.security_groups() if g.name.startswith('quota-filler-')]",
        &[],
    );
    let cleanup = run(
        dir.path(),
        &clouds,
        &["cleanup", "-f", &f, "--yes", "--force"],
    );
    assert_exit(&cleanup, 0);
    assert!(said.contains("Quota exceeded"), "filler: {said}");
    assert_ne!(o.status.code(), Some(0), "{}", text(&o));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains("Quota exceeded for resources: ['security_group']")
            && stderr.contains("capi-rq1-cilium"),
        "{}",
        text(&o)
    );
}

/// A file server for the node image (honours `Range`, as object stores do).
fn serve_files(dir: PathBuf) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for sock in listener.incoming() {
            let Ok(sock) = sock else { return };
            let dir = dir.clone();
            std::thread::spawn(move || {
                let _ = answer(sock, &dir);
            });
        }
    });
    url
}

fn answer(sock: std::net::TcpStream, dir: &Path) -> std::io::Result<()> {
    let mut reader = BufReader::new(sock.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let path = line.split(' ').nth(1).unwrap_or("/").to_string();
    let mut range: Option<(u64, u64)> = None;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h == "\r\n" {
            break;
        }
        let lower = h.to_ascii_lowercase();
        if let Some(v) = lower.strip_prefix("range: bytes=") {
            let (a, b) = v.trim().split_once('-').unwrap_or(("0", ""));
            range = Some((a.parse().unwrap_or(0), b.parse().unwrap_or(u64::MAX)));
        }
    }
    let mut sock = sock;
    let Ok(mut f) = std::fs::File::open(dir.join(path.trim_start_matches('/'))) else {
        return sock.write_all(
            b"HTTP/1.1 404 Not Found\r\ncontent-length: 9\r\nconnection: close\r\n\r\nnot found",
        );
    };
    let len = f.metadata()?.len();
    let (status, start, end) = match range {
        Some((a, b)) if a < len => ("206 Partial Content", a, b.min(len - 1)),
        _ => ("200 OK", 0, len.saturating_sub(1)),
    };
    let count = if len == 0 { 0 } else { end - start + 1 };
    let mut head = format!(
        "HTTP/1.1 {status}\r\ncontent-length: {count}\r\n\
         last-modified: Sat, 01 Jun 2024 10:00:00 GMT\r\nconnection: close\r\n"
    );
    if status.starts_with("206") {
        head.push_str(&format!("content-range: bytes {start}-{end}/{len}\r\n"));
    }
    head.push_str("\r\n");
    sock.write_all(head.as_bytes())?;
    f.seek(SeekFrom::Start(start))?;
    std::io::copy(&mut f.take(count), &mut sock)?;
    Ok(())
}

/// Logs in with the application credential in `appcred.yaml` (argv[1]) and calls each
/// service CAPO, OCCM and the Cinder CSI use; prints what each answered and the
/// credential's `expires_at` as Keystone lists it to the tenant.
const USE_APPCRED: &str = r#"
import json, sys, yaml, openstack
doc = yaml.safe_load(open(sys.argv[1]))
t = openstack.connect(cloud="tenant")
a = openstack.connect(auth_type="v3applicationcredential", auth={"auth_url": t.auth["auth_url"],
    "application_credential_id": doc["application_credential_id"],
    "application_credential_secret": doc["application_credential_secret"]},
    region_name=t.config.config.get("region_name"), identity_api_version="3")
def call(f):
    try:
        f(); return "ok"
    except Exception as e:
        return type(e).__name__ + ": " + str(e)[:200]
out = {
  "compute": call(lambda: list(a.compute.servers())),
  "network": call(lambda: list(a.network.networks())),
  "image": call(lambda: a.image.get("/images").raise_for_status()),
  "load-balancer": call(lambda: list(a.load_balancer.load_balancers())),
  "block-storage": call(lambda: list(a.block_storage.volumes())),
  "expires_at": [x.expires_at for x in t.identity.application_credentials(t.current_user_id)
                 if x.id == doc["application_credential_id"]],
}
print(json.dumps(out))
"#;

/// `app_credential_expires_in` reaches Keystone: the credential prepare-cloud creates
/// expires when the plan said, a re-run warns when it expires within 30 days, and the
/// credential reaches every service CAPO, OCCM and the Cinder CSI call.
#[test]
fn the_clusters_credential_expires_as_set_and_reaches_the_services() {
    let cloud = RealCloud::get();
    let _serial = RealCloud::lock();
    let dir = tempfile::tempdir().unwrap();
    let clouds = write_tenant_clouds(&cloud, dir.path());
    let f = settings(
        dir.path(),
        "m7x1",
        "tenant",
        "node_image: cirros-fake\nanti_affinity: false\napp_credential_expires_in: 2d\n",
    );
    let o = run(
        dir.path(),
        &clouds,
        &["cleanup", "-f", &f, "--yes", "--force"],
    );
    assert_exit(&o, 0);
    let o = run(
        dir.path(),
        &clouds,
        &["prepare-cloud", "-f", &f, "--output", "json"],
    );
    assert_exit(&o, 0);
    let plan: Value = serde_json::from_slice(&o.stdout).expect("json");
    let expires = plan["outputs"]["app_credential_expires_at"]
        .as_str()
        .expect("the plan shows the expiry")
        .to_string();
    let at = chrono::NaiveDateTime::parse_from_str(&expires, "%Y-%m-%dT%H:%M:%S")
        .expect("Keystone's form")
        .and_utc();
    let left = at - chrono::Utc::now();
    assert!(
        left > chrono::TimeDelta::hours(47) && left <= chrono::TimeDelta::hours(48),
        "{expires}"
    );
    assert_eq!(
        plan["warnings"],
        Value::Null,
        "a new credential draws no warning"
    );

    let state = dir
        .path()
        .join("home/.local/state/scs-capi/m7x1/appcred.yaml");
    let used: Value =
        serde_json::from_str(&cloud.python(USE_APPCRED, &[&state.display().to_string()])).unwrap();
    assert_eq!(
        used,
        serde_json::json!({"compute": "ok", "network": "ok", "image": "ok",
            "load-balancer": "ok", "block-storage": "ok",
            "expires_at": [format!("{expires}.000000")]}),
    );

    // The re-run finds it expiring in 2 days and says so, in text and in JSON.
    let o = run(dir.path(), &clouds, &["prepare-cloud", "-f", &f]);
    assert_exit(&o, 0);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains(
            "warning: application credential `capi-m7x1-appcred` of cluster `m7x1` expires on"
        ) && stderr.contains("(in 1 day)")
            && stderr.contains("docs/maintenance.md"),
        "{}",
        text(&o)
    );
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("expires "),
        "{}",
        text(&o)
    );
    let o = run(
        dir.path(),
        &clouds,
        &["prepare-cloud", "-f", &f, "--output", "json"],
    );
    let plan: Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(
        plan["outputs"]["app_credential_expires_at"],
        format!("{expires}.000000")
    );
    assert!(
        plan["warnings"][0]
            .as_str()
            .unwrap_or("")
            .contains("capi-m7x1-appcred")
    );

    let o = run(
        dir.path(),
        &clouds,
        &["cleanup", "-f", &f, "--yes", "--force"],
    );
    assert_exit(&o, 0);
}
