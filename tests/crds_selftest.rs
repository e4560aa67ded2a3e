//! Self-test of `tests/support/crds.rs`: the validator accepts realistic objects and
//! rejects what a strict API server would reject.

mod support;

use serde_json::{Value, json};
use support::crds::{CoreSchemas, CrdSet};

fn default_set() -> &'static CrdSet {
    CrdSet::shared("default")
}

fn r4_set() -> &'static CrdSet {
    CrdSet::shared("r4")
}

#[track_caller]
fn assert_valid(set: &CrdSet, obj: &Value) {
    if let Err(errors) = set.validate(obj) {
        panic!(
            "expected valid under profile {}, got:\n  {}",
            set.profile(),
            errors.join("\n  ")
        );
    }
}

#[track_caller]
fn assert_invalid(set: &CrdSet, obj: &Value, needles: &[&str]) -> Vec<String> {
    let errors = set.validate(obj).expect_err("expected a violation");
    for needle in needles {
        assert!(
            errors.iter().any(|e| e.contains(needle)),
            "no error contains {needle:?}; errors:\n  {}",
            errors.join("\n  ")
        );
    }
    errors
}

fn cluster_v1beta2() -> Value {
    json!({
        "apiVersion": "cluster.x-k8s.io/v1beta2",
        "kind": "Cluster",
        "metadata": {"name": "demo", "namespace": "project-a", "labels": {"app.kubernetes.io/managed-by": "scs-capi"}},
        "spec": {
            "clusterNetwork": {
                "pods": {"cidrBlocks": ["192.168.0.0/16"]},
                "services": {"cidrBlocks": ["10.96.0.0/12"]},
                "serviceDomain": "cluster.local"
            },
            "controlPlaneRef": {
                "apiGroup": "controlplane.cluster.x-k8s.io",
                "kind": "KubeadmControlPlane",
                "name": "demo-control-plane"
            },
            "infrastructureRef": {
                "apiGroup": "infrastructure.cluster.x-k8s.io",
                "kind": "OpenStackCluster",
                "name": "demo"
            }
        }
    })
}

fn machine_deployment_v1beta2() -> Value {
    json!({
        "apiVersion": "cluster.x-k8s.io/v1beta2",
        "kind": "MachineDeployment",
        "metadata": {"name": "demo-md-0", "namespace": "project-a"},
        "spec": {
            "clusterName": "demo",
            "replicas": 3,
            "selector": {"matchLabels": {"cluster.x-k8s.io/cluster-name": "demo"}},
            "rollout": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}},
            "template": {
                "metadata": {"labels": {"cluster.x-k8s.io/cluster-name": "demo"}},
                "spec": {
                    "clusterName": "demo",
                    "version": "v1.33.5",
                    "failureDomain": "nova",
                    "bootstrap": {"configRef": {
                        "apiGroup": "bootstrap.cluster.x-k8s.io",
                        "kind": "KubeadmConfigTemplate",
                        "name": "demo-md-0"
                    }},
                    "infrastructureRef": {
                        "apiGroup": "infrastructure.cluster.x-k8s.io",
                        "kind": "OpenStackMachineTemplate",
                        "name": "demo-md-0-abc12"
                    }
                }
            }
        }
    })
}

fn openstack_cluster_v1alpha6() -> Value {
    json!({
        "apiVersion": "infrastructure.cluster.x-k8s.io/v1alpha6",
        "kind": "OpenStackCluster",
        "metadata": {"name": "demo", "namespace": "project-a"},
        "spec": {
            "cloudName": "openstack",
            "identityRef": {"kind": "Secret", "name": "demo-cloud-config"},
            "managedSecurityGroups": true,
            "allowAllInClusterTraffic": false,
            "nodeCidr": "10.8.0.0/20",
            "dnsNameservers": ["9.9.9.9"],
            "externalNetworkId": "ebfe5546-f09f-4f42-ab54-094e457d42ec",
            "apiServerLoadBalancer": {"enabled": true}
        }
    })
}

#[test]
fn every_crd_schema_of_both_profiles_compiles() {
    for set in [default_set(), r4_set()] {
        if let Err(errors) = set.compile_all() {
            panic!("profile {}: {}", set.profile(), errors.join("\n"));
        }
    }
    let kinds = default_set().kinds();
    for expected in [
        ("cluster.x-k8s.io/v1beta2", "Cluster"),
        ("cluster.x-k8s.io/v1beta2", "MachineDeployment"),
        (
            "controlplane.cluster.x-k8s.io/v1beta2",
            "KubeadmControlPlane",
        ),
        (
            "bootstrap.cluster.x-k8s.io/v1beta2",
            "KubeadmConfigTemplate",
        ),
        (
            "infrastructure.cluster.x-k8s.io/v1beta1",
            "OpenStackCluster",
        ),
        (
            "infrastructure.cluster.x-k8s.io/v1beta1",
            "OpenStackMachineTemplate",
        ),
    ] {
        assert!(
            kinds
                .iter()
                .any(|(a, k)| a == expected.0 && k == expected.1),
            "default profile lacks {expected:?}: {kinds:?}"
        );
    }
    let r4_kinds = r4_set().kinds();
    assert!(
        r4_kinds.iter().any(
            |(a, k)| a == "infrastructure.cluster.x-k8s.io/v1alpha6" && k == "OpenStackCluster"
        )
    );
    assert!(
        r4_kinds
            .iter()
            .any(|(a, k)| a == "cluster.x-k8s.io/v1beta1" && k == "Cluster")
    );
}

#[test]
fn minimal_v1beta2_cluster_passes() {
    assert_valid(default_set(), &cluster_v1beta2());
}

#[test]
fn unknown_spec_field_is_rejected_with_its_pointer() {
    let mut cluster = cluster_v1beta2();
    cluster["spec"]["controlPlaneEndpointt"] = json!({"host": "1.2.3.4", "port": 6443});
    cluster["spec"]["clusterNetwork"]["podz"] = json!({});
    let errors = assert_invalid(
        default_set(),
        &cluster,
        &[
            "Cluster/demo: /spec/controlPlaneEndpointt: unknown field",
            "Cluster/demo: /spec/clusterNetwork/podz: unknown field",
        ],
    );
    assert_eq!(errors.len(), 2, "{errors:?}");
}

#[test]
fn unknown_top_level_and_metadata_fields_are_rejected() {
    let mut cluster = cluster_v1beta2();
    cluster["specs"] = json!({});
    cluster["metadata"]["label"] = json!({"a": "b"});
    assert_invalid(
        default_set(),
        &cluster,
        &[
            "Cluster/demo: /specs: unknown field",
            "/metadata/label: unknown field",
        ],
    );
}

#[test]
fn v1beta1_style_refs_are_rejected_by_v1beta2() {
    let mut cluster = cluster_v1beta2();
    cluster["spec"]["controlPlaneRef"] = json!({
        "apiVersion": "controlplane.cluster.x-k8s.io/v1beta1",
        "kind": "KubeadmControlPlane",
        "name": "demo-control-plane"
    });
    assert_invalid(
        default_set(),
        &cluster,
        &[
            "/spec/controlPlaneRef/apiVersion: unknown field",
            "/spec/controlPlaneRef: \"apiGroup\" is a required property",
        ],
    );
}

#[test]
fn wrong_type_is_rejected() {
    let mut md = machine_deployment_v1beta2();
    assert_valid(default_set(), &md);
    md["spec"]["replicas"] = json!("three");
    assert_invalid(
        default_set(),
        &md,
        &["MachineDeployment/demo-md-0: /spec/replicas: \"three\" is not of type \"integer\""],
    );
}

#[test]
fn missing_required_and_bad_enum_are_rejected() {
    let mut md = machine_deployment_v1beta2();
    md["spec"]["template"]["spec"]
        .as_object_mut()
        .unwrap()
        .remove("clusterName");
    md["spec"]["rollout"]["strategy"]["type"] = json!("Recreate");
    assert_invalid(
        default_set(),
        &md,
        &[
            "/spec/template/spec: \"clusterName\" is a required property",
            "/spec/rollout/strategy/type:",
        ],
    );
}

#[test]
fn int_or_string_accepts_both_and_nothing_else() {
    let set = default_set();
    let mut md = machine_deployment_v1beta2();
    for value in [json!(1), json!("25%"), json!(0)] {
        md["spec"]["rollout"]["strategy"]["rollingUpdate"]["maxSurge"] = value.clone();
        md["spec"]["rollout"]["strategy"]["rollingUpdate"]["maxUnavailable"] = value;
        assert_valid(set, &md);
    }
    md["spec"]["rollout"]["strategy"]["rollingUpdate"]["maxSurge"] = json!(true);
    assert_invalid(
        set,
        &md,
        &["/spec/rollout/strategy/rollingUpdate/maxSurge:"],
    );
    md["spec"]["rollout"]["strategy"]["rollingUpdate"]["maxSurge"] = json!(1.5);
    assert_invalid(
        set,
        &md,
        &["/spec/rollout/strategy/rollingUpdate/maxSurge:"],
    );
}

#[test]
fn duplicate_list_map_keys_are_rejected() {
    let mut md = machine_deployment_v1beta2();
    md["spec"]["template"]["spec"]["taints"] = json!([
        {"key": "dedicated", "effect": "NoSchedule", "value": "gpu", "propagation": "Always"},
        {"key": "dedicated", "effect": "NoExecute", "propagation": "Always"}
    ]);
    assert_valid(default_set(), &md);
    md["spec"]["template"]["spec"]["taints"][1]["effect"] = json!("NoSchedule");
    assert_invalid(
        default_set(),
        &md,
        &["/spec/template/spec/taints/1: duplicate entry of list-type map"],
    );
}

#[test]
fn metadata_name_must_be_a_dns_subdomain() {
    let set = default_set();
    for bad in ["Demo", "demo_1", "-demo", &"a".repeat(254)] {
        let mut cluster = cluster_v1beta2();
        cluster["metadata"]["name"] = json!(bad);
        assert_invalid(set, &cluster, &["/metadata/name: "]);
    }
    let mut cluster = cluster_v1beta2();
    cluster["metadata"]["name"] = json!("demo.example-1");
    assert_valid(set, &cluster);
    cluster["metadata"].as_object_mut().unwrap().remove("name");
    assert_invalid(
        set,
        &cluster,
        &["Cluster/<no name>: /metadata/name: required"],
    );
    let mut cluster = cluster_v1beta2();
    cluster["metadata"]["labels"] = json!({"bad key!": "x", "ok": "not ok value"});
    assert_invalid(
        set,
        &cluster,
        &[
            "/metadata/labels/bad key!: key",
            "/metadata/labels/ok: \"not ok value\"",
        ],
    );
}

#[test]
fn v1alpha6_openstack_cluster_passes_r4_and_is_rejected_by_default() {
    let osc = openstack_cluster_v1alpha6();
    assert_valid(r4_set(), &osc);
    assert_invalid(
        default_set(),
        &osc,
        &[
            "OpenStackCluster/demo: /apiVersion: infrastructure.cluster.x-k8s.io/v1alpha6 OpenStackCluster is served by no CRD",
        ],
    );
    let mut bad = osc.clone();
    bad["spec"]["externalNetworkID"] = json!("x");
    assert_invalid(r4_set(), &bad, &["/spec/externalNetworkID: unknown field"]);
}

#[test]
fn v1beta1_cluster_passes_r4_and_is_rejected_by_default() {
    let cluster = json!({
        "apiVersion": "cluster.x-k8s.io/v1beta1",
        "kind": "Cluster",
        "metadata": {"name": "demo"},
        "spec": {
            "clusterNetwork": {"pods": {"cidrBlocks": ["192.168.0.0/16"]}, "serviceDomain": "cluster.local"},
            "controlPlaneRef": {"apiVersion": "controlplane.cluster.x-k8s.io/v1beta1", "kind": "KubeadmControlPlane", "name": "demo-control-plane"},
            "infrastructureRef": {"apiVersion": "infrastructure.cluster.x-k8s.io/v1alpha6", "kind": "OpenStackCluster", "name": "demo"}
        }
    });
    assert_valid(r4_set(), &cluster);
    assert_invalid(
        default_set(),
        &cluster,
        &["this profile uses cluster.x-k8s.io/v1beta2"],
    );
}

#[test]
fn unknown_extension_kind_is_rejected() {
    let crs = json!({
        "apiVersion": "example.x-k8s.io/v1",
        "kind": "Gadget",
        "metadata": {"name": "g"},
        "spec": {}
    });
    assert_invalid(
        default_set(),
        &crs,
        &["Gadget/g: /apiVersion: example.x-k8s.io/v1 Gadget is served by no CRD"],
    );
}

#[test]
fn default_profile_v1beta1_openstack_objects_pass() {
    let set = default_set();
    assert_valid(
        set,
        &json!({
            "apiVersion": "infrastructure.cluster.x-k8s.io/v1beta1",
            "kind": "OpenStackCluster",
            "metadata": {"name": "demo"},
            "spec": {
                "identityRef": {"type": "Secret", "cloudName": "openstack", "name": "demo-cloud-config"},
                "managedSecurityGroups": {"allowAllInClusterTraffic": false},
                "managedSubnets": [{"cidr": "10.8.0.0/20", "dnsNameservers": ["9.9.9.9"]}],
                "externalNetwork": {"id": "ebfe5546-f09f-4f42-ab54-094e457d42ec"},
                "apiServerLoadBalancer": {"enabled": true}
            }
        }),
    );
    assert_valid(
        set,
        &json!({
            "apiVersion": "infrastructure.cluster.x-k8s.io/v1beta1",
            "kind": "OpenStackMachineTemplate",
            "metadata": {"name": "demo-md-0-abc12"},
            "spec": {"template": {"spec": {
                "flavor": "SCS-2V-4",
                "image": {"filter": {"name": "ubuntu-capi-image-v1.33.5"}},
                "sshKeyName": "demo",
                "rootVolume": {"sizeGiB": 50, "type": "ssd"}
            }}}
        }),
    );
}

#[test]
fn kubeadm_control_plane_v1beta2_passes() {
    assert_valid(
        default_set(),
        &json!({
            "apiVersion": "controlplane.cluster.x-k8s.io/v1beta2",
            "kind": "KubeadmControlPlane",
            "metadata": {"name": "demo-control-plane"},
            "spec": {
                "replicas": 3,
                "version": "v1.33.5",
                "machineTemplate": {"spec": {"infrastructureRef": {
                    "apiGroup": "infrastructure.cluster.x-k8s.io",
                    "kind": "OpenStackMachineTemplate",
                    "name": "demo-control-plane-abc12"
                }}},
                "kubeadmConfigSpec": {
                    "clusterConfiguration": {"apiServer": {"extraArgs": [{"name": "cloud-provider", "value": "external"}]}},
                    "initConfiguration": {"nodeRegistration": {"name": "{{ local_hostname }}", "kubeletExtraArgs": [{"name": "cloud-provider", "value": "external"}]}},
                    "joinConfiguration": {"nodeRegistration": {"name": "{{ local_hostname }}", "kubeletExtraArgs": [{"name": "cloud-provider", "value": "external"}]}},
                    "files": [{"path": "/etc/kubernetes/cloud.conf", "owner": "root:root", "permissions": "0600",
                               "contentFrom": {"secret": {"name": "demo-cloud-config", "key": "cloud.conf"}}}]
                }
            }
        }),
    );
}

// ---- core kinds (needs the kubernetes-validate venv; fails, never skips, without it) ----

fn secret() -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {"name": "demo-cloud-config", "namespace": "project-a", "labels": {"clusterctl.cluster.x-k8s.io/move": "true"}},
        "data": {"clouds.yaml": "Y2xvdWRzOiB7fQo=", "cacert": ""},
        "stringData": {"cloud.conf": "[Global]\n"}
    })
}

#[test]
fn core_secret_and_configmap_pass() {
    let set = default_set();
    assert_valid(set, &secret());
    assert_valid(r4_set(), &secret());
    assert_valid(
        set,
        &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cni"}, "data": {"calico.yaml": "---\n"}}),
    );
}

#[test]
fn core_secret_violations_are_reported() {
    let set = default_set();
    let mut bad = secret();
    bad["strinData"] = json!({});
    bad["data"]["clouds.yaml"] = json!("not base64!");
    bad["data"]["bad/key"] = json!("");
    bad["immutable"] = json!("yes");
    bad["metadata"]["nmae"] = json!("x");
    assert_invalid(
        set,
        &bad,
        &[
            "Secret/demo-cloud-config: /strinData: unknown field",
            "/data/clouds.yaml: value is not valid",
            "/data/bad~1key: key",
            "/immutable:",
            "/metadata/nmae: unknown field",
        ],
    );
    let errors = set.validate(&bad).unwrap_err();
    assert!(
        !errors.iter().any(|e| e.contains("yes")),
        "Secret values must be masked: {errors:?}"
    );
    let mut cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cni"}, "data": {"n": 1}});
    assert_invalid(set, &cm, &["ConfigMap/cni: /data/n:"]);
    cm["data"]["n"] = json!("1");
    cm["binaryData"] = json!({"n": "MQ=="});
    assert_invalid(
        set,
        &cm,
        &["ConfigMap/cni: /data/n: key \"n\" is also in binaryData"],
    );
}

#[test]
fn core_schemas_missing_is_an_error_with_install_hint() {
    let empty = std::env::temp_dir().join(format!("scs-capi-no-venv-{}", std::process::id()));
    let Err(err) = CoreSchemas::load(&empty) else {
        panic!("found core schemas in {}", empty.display());
    };
    assert!(
        err.contains("pip install kubernetes-validate==1.37.0"),
        "{err}"
    );
}

#[test]
fn other_builtin_kinds_use_core_schemas() {
    let set = default_set();
    assert_valid(
        set,
        &json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "x"}, "rules": []}),
    );
    assert_invalid(
        set,
        &json!({"apiVersion": "v1", "kind": "Gizmo", "metadata": {"name": "x"}}),
        &["Gizmo/x: /apiVersion: v1 Gizmo is not a built-in kind"],
    );
}
