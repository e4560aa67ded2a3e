//! What this tool changes in upstream addon manifests, addon by addon (R4 did the same
//! with sed and kustomize): calico's MTU and pod CIDR, OCCM's and the Cinder CSI's cluster
//! name and image tag, metrics-server's kubelet TLS flag, ingress-nginx's PROXY-protocol
//! variant; plus the objects we generate (the `cloud-config` Secret, the default
//! StorageClass).

use base64::Engine as _;
use serde_json::{Value, json};

use super::catalog::AddonName;
use super::manifest::{containers_mut, ensure_map, find_mut};

/// Cluster facts the patches need.
#[derive(Debug, Clone)]
pub struct Context {
    pub cluster_name: String,
    pub pod_cidr: String,
    pub node_cidr: String,
    /// calico `veth_mtu`; 0 keeps calico's auto-detection.
    pub mtu: u32,
    /// OCCM load balancers use the OVN provider (ingress-nginx stays unmodified then).
    pub ovn_lb: bool,
    /// ingress-nginx behind Octavia with the PROXY protocol.
    pub nginx_proxy: bool,
    /// `cloud.conf` for OCCM and the CSI (per-cluster application credential); `None`
    /// leaves an existing `kube-system/cloud-config` Secret alone.
    pub cloud_conf: Option<String>,
}

/// Image repository of cloud-provider-openstack's images (the tags in the manifests of a
/// release have not always matched the release: CPO issue 2094).
const CPO_IMAGES: &str = "registry.k8s.io/provider-os";

/// Applies the changes for `addon` at `version` to its upstream objects and appends the
/// objects we generate.
pub fn apply(addon: AddonName, version: &str, objects: &mut Vec<Value>, ctx: &Context) {
    match addon {
        AddonName::Calico => calico(objects, ctx),
        AddonName::Occm => occm(version, objects, ctx),
        AddonName::CinderCsi => cinder_csi(version, objects, ctx),
        AddonName::MetricsServer => metrics_server(objects),
        AddonName::IngressNginx => ingress_nginx(objects, ctx),
        AddonName::Cilium
        | AddonName::SnapshotController
        | AddonName::CertManager
        | AddonName::Flux => {}
    }
}

fn calico(objects: &mut [Value], ctx: &Context) {
    if ctx.mtu != 0 {
        for cm in find_mut(objects, "ConfigMap", "calico-config") {
            if let Some(data) = ensure_map(cm, &["data"]) {
                data.insert("veth_mtu".into(), Value::String(ctx.mtu.to_string()));
            }
        }
    }
    for ds in find_mut(objects, "DaemonSet", "calico-node") {
        for c in containers_mut(ds).filter(|c| c.get("name") == Some(&json!("calico-node"))) {
            set_env(c, "CALICO_IPV4POOL_CIDR", &ctx.pod_cidr);
        }
    }
}

fn occm(version: &str, objects: &mut Vec<Value>, ctx: &Context) {
    let image = format!("{CPO_IMAGES}/openstack-cloud-controller-manager:{version}");
    for obj in objects.iter_mut().filter(|o| is_workload(o)) {
        for c in containers_mut(obj) {
            if c.get("name") == Some(&json!("openstack-cloud-controller-manager")) {
                c.insert("image".into(), Value::String(image.clone()));
                set_env(c, "CLUSTER_NAME", &ctx.cluster_name);
                // The cleanup matchers rely on OCCM naming its load balancers after the
                // cluster: the flag must be there whatever the upstream args say.
                set_arg(c, "--cluster-name", &ctx.cluster_name);
            }
        }
    }
    if let Some(conf) = &ctx.cloud_conf {
        objects.push(cloud_config_secret(conf));
    }
}

/// `kube-system/cloud-config` with `cloud.conf`, read by OCCM and the Cinder CSI. Applied
/// on every run, so a changed credential or setting arrives (R4 only created it once).
pub fn cloud_config_secret(cloud_conf: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {"name": "cloud-config", "namespace": "kube-system"},
        "data": {"cloud.conf": base64::engine::general_purpose::STANDARD.encode(cloud_conf)},
    })
}

fn cinder_csi(version: &str, objects: &mut Vec<Value>, ctx: &Context) {
    let image = format!("{CPO_IMAGES}/cinder-csi-plugin:{version}");
    for obj in objects.iter_mut().filter(|o| is_workload(o)) {
        for c in containers_mut(obj) {
            if c.get("name") == Some(&json!("cinder-csi-plugin")) {
                c.insert("image".into(), Value::String(image.clone()));
                // Volumes are tagged `cinder.csi.openstack.org/cluster: <name>`, which is
                // how cleanup finds this cluster's volumes.
                if has_env(c, "CLUSTER_NAME") {
                    set_env(c, "CLUSTER_NAME", &ctx.cluster_name);
                }
            }
        }
    }
    objects.push(json!({
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": {
            "name": "cinder-default",
            "annotations": {"storageclass.kubernetes.io/is-default-class": "true"},
        },
        "provisioner": "cinder.csi.openstack.org",
        "allowVolumeExpansion": true,
        "reclaimPolicy": "Delete",
        "volumeBindingMode": "Immediate",
    }));
}

fn metrics_server(objects: &mut [Value]) {
    // Kubelet serving certificates are self-signed with kubeadm's defaults (R4 #148).
    for d in find_mut(objects, "Deployment", "metrics-server") {
        for c in containers_mut(d).filter(|c| c.get("name") == Some(&json!("metrics-server"))) {
            add_arg(c, "--kubelet-insecure-tls");
        }
    }
}

fn ingress_nginx(objects: &mut [Value], ctx: &Context) {
    if ctx.ovn_lb {
        // The OVN provider has neither health monitors nor the PROXY protocol.
        return;
    }
    for svc in find_mut(objects, "Service", "ingress-nginx-controller") {
        if let Some(ann) = ensure_map(svc, &["metadata", "annotations"]) {
            ann.insert(
                "loadbalancer.openstack.org/enable-health-monitor".into(),
                json!("true"),
            );
            if ctx.nginx_proxy {
                ann.insert(
                    "loadbalancer.openstack.org/proxy-protocol".into(),
                    json!("true"),
                );
            }
        }
        if let Some(spec) = ensure_map(svc, &["spec"]) {
            spec.insert("externalTrafficPolicy".into(), json!("Local"));
        }
    }
    if ctx.nginx_proxy {
        for cm in find_mut(objects, "ConfigMap", "ingress-nginx-controller") {
            if let Some(data) = ensure_map(cm, &["data"]) {
                data.insert("use-proxy-protocol".into(), json!("true"));
                data.insert(
                    "proxy-real-ip-cidr".into(),
                    Value::String(ctx.node_cidr.clone()),
                );
            }
        }
    }
}

fn is_workload(obj: &Value) -> bool {
    matches!(
        obj.get("kind").and_then(Value::as_str),
        Some("Deployment" | "DaemonSet" | "StatefulSet" | "Pod")
    )
}

fn has_env(c: &serde_json::Map<String, Value>, name: &str) -> bool {
    c.get("env")
        .and_then(Value::as_array)
        .is_some_and(|env| env.iter().any(|e| e.get("name") == Some(&json!(name))))
}

/// Sets env `name` to a plain value (replacing a `valueFrom`).
fn set_env(c: &mut serde_json::Map<String, Value>, name: &str, value: &str) {
    let env = c.entry("env").or_insert_with(|| json!([]));
    let Some(env) = env.as_array_mut() else {
        return;
    };
    let entry = json!({"name": name, "value": value});
    match env.iter_mut().find(|e| e.get("name") == Some(&json!(name))) {
        Some(existing) => *existing = entry,
        None => env.push(entry),
    }
}

/// Sets `--flag=value` in `args` (or `command` when there are no args), replacing any
/// earlier value of the flag.
fn set_arg(c: &mut serde_json::Map<String, Value>, flag: &str, value: &str) {
    let key = if c.contains_key("args") || !c.contains_key("command") {
        "args"
    } else {
        "command"
    };
    let list = c.entry(key).or_insert_with(|| json!([]));
    let Some(list) = list.as_array_mut() else {
        return;
    };
    let prefix = format!("{flag}=");
    list.retain(|a| {
        a.as_str()
            .is_none_or(|s| s != flag && !s.starts_with(&prefix))
    });
    list.push(Value::String(format!("{flag}={value}")));
}

fn add_arg(c: &mut serde_json::Map<String, Value>, arg: &str) {
    let list = c.entry("args").or_insert_with(|| json!([]));
    if let Some(list) = list.as_array_mut()
        && !list.iter().any(|a| a.as_str() == Some(arg))
    {
        list.push(Value::String(arg.to_string()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> Context {
        Context {
            cluster_name: "foo".into(),
            pod_cidr: "10.244.0.0/16".into(),
            node_cidr: "10.8.0.0/20".into(),
            mtu: 1400,
            ovn_lb: false,
            nginx_proxy: true,
            cloud_conf: Some("[Global]\napplication-credential-id=abc\n".into()),
        }
    }

    fn occm_ds() -> Value {
        json!({"apiVersion": "apps/v1", "kind": "DaemonSet",
            "metadata": {"name": "openstack-cloud-controller-manager", "namespace": "kube-system"},
            "spec": {"template": {"spec": {"containers": [{
                "name": "openstack-cloud-controller-manager",
                "image": "docker.io/k8scloudprovider/openstack-cloud-controller-manager:latest",
                "args": ["/bin/openstack-cloud-controller-manager", "--v=1",
                         "--cluster-name=$(CLUSTER_NAME)", "--cloud-config=$(CLOUD_CONFIG)"],
                "env": [{"name": "CLOUD_CONFIG", "value": "/etc/config/cloud.conf"},
                        {"name": "CLUSTER_NAME", "value": "kubernetes"}]}]}}}})
    }

    #[test]
    fn occm_gets_the_cluster_name_the_release_image_and_the_cloud_config() {
        let mut objs = vec![occm_ds()];
        apply(AddonName::Occm, "v1.33.1", &mut objs, &ctx());
        let c = &objs[0]["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(
            c["image"],
            "registry.k8s.io/provider-os/openstack-cloud-controller-manager:v1.33.1"
        );
        let args: Vec<&str> = c["args"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert_eq!(
            args.iter()
                .filter(|a| a.starts_with("--cluster-name"))
                .count(),
            1
        );
        assert!(args.contains(&"--cluster-name=foo"));
        assert!(args.contains(&"--cloud-config=$(CLOUD_CONFIG)"));
        assert!(
            c["env"]
                .as_array()
                .unwrap()
                .contains(&json!({"name": "CLUSTER_NAME", "value": "foo"}))
        );
        let secret = &objs[1];
        assert_eq!(secret["metadata"]["name"], "cloud-config");
        let conf = base64::engine::general_purpose::STANDARD
            .decode(secret["data"]["cloud.conf"].as_str().unwrap())
            .unwrap();
        assert_eq!(conf, b"[Global]\napplication-credential-id=abc\n");
    }

    #[test]
    fn occm_without_cloud_conf_leaves_the_secret_alone() {
        let mut objs = vec![occm_ds()];
        apply(
            AddonName::Occm,
            "v1.33.1",
            &mut objs,
            &Context {
                cloud_conf: None,
                ..ctx()
            },
        );
        assert_eq!(objs.len(), 1);
    }

    #[test]
    fn calico_gets_mtu_and_pod_cidr_and_zero_mtu_keeps_autodetection() {
        let base = vec![
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "calico-config"},
                   "data": {"veth_mtu": "0"}}),
            json!({"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "calico-node"},
                   "spec": {"template": {"spec": {"containers": [{"name": "calico-node", "env": [
                       {"name": "CALICO_IPV4POOL_CIDR", "value": "192.168.0.0/16"}]}]}}}}),
        ];
        let mut objs = base.clone();
        apply(AddonName::Calico, "v3.25.0", &mut objs, &ctx());
        assert_eq!(objs[0]["data"]["veth_mtu"], "1400");
        assert_eq!(
            objs[1]["spec"]["template"]["spec"]["containers"][0]["env"],
            json!([{"name": "CALICO_IPV4POOL_CIDR", "value": "10.244.0.0/16"}])
        );
        let mut objs = base;
        apply(
            AddonName::Calico,
            "v3.25.0",
            &mut objs,
            &Context { mtu: 0, ..ctx() },
        );
        assert_eq!(objs[0]["data"]["veth_mtu"], "0");
    }

    #[test]
    fn csi_tags_volumes_with_the_cluster_and_adds_the_default_class() {
        let mut objs = vec![json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "csi-cinder-controllerplugin"},
            "spec": {"template": {"spec": {"containers": [
                {"name": "csi-provisioner", "image": "registry.k8s.io/sig-storage/csi-provisioner:v3"},
                {"name": "cinder-csi-plugin", "image": "x:latest",
                 "env": [{"name": "CLUSTER_NAME", "value": "kubernetes"}]}]}}}})];
        apply(AddonName::CinderCsi, "v1.33.1", &mut objs, &ctx());
        let cs = &objs[0]["spec"]["template"]["spec"]["containers"];
        assert_eq!(
            cs[0]["image"],
            "registry.k8s.io/sig-storage/csi-provisioner:v3"
        );
        assert_eq!(
            cs[1]["image"],
            "registry.k8s.io/provider-os/cinder-csi-plugin:v1.33.1"
        );
        assert_eq!(cs[1]["env"][0]["value"], "foo");
        assert_eq!(objs[1]["kind"], "StorageClass");
        assert_eq!(
            objs[1]["metadata"]["annotations"]["storageclass.kubernetes.io/is-default-class"],
            "true"
        );
    }

    #[test]
    fn ingress_nginx_variants() {
        let base = vec![
            json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "ingress-nginx-controller"},
                   "spec": {"type": "LoadBalancer"}}),
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ingress-nginx-controller"}}),
        ];
        let mut proxy = base.clone();
        apply(AddonName::IngressNginx, "v1.12.0", &mut proxy, &ctx());
        assert_eq!(
            proxy[0]["metadata"]["annotations"]["loadbalancer.openstack.org/proxy-protocol"],
            "true"
        );
        assert_eq!(proxy[0]["spec"]["externalTrafficPolicy"], "Local");
        assert_eq!(
            proxy[1]["data"],
            json!({"use-proxy-protocol": "true", "proxy-real-ip-cidr": "10.8.0.0/20"})
        );

        let mut monitor = base.clone();
        apply(
            AddonName::IngressNginx,
            "v1.12.0",
            &mut monitor,
            &Context {
                nginx_proxy: false,
                ..ctx()
            },
        );
        assert!(
            monitor[0]["metadata"]["annotations"]
                .get("loadbalancer.openstack.org/proxy-protocol")
                .is_none()
        );
        assert_eq!(
            monitor[0]["metadata"]["annotations"]["loadbalancer.openstack.org/enable-health-monitor"],
            "true"
        );
        assert!(monitor[1].get("data").is_none());

        let mut ovn = base.clone();
        apply(
            AddonName::IngressNginx,
            "v1.12.0",
            &mut ovn,
            &Context {
                ovn_lb: true,
                ..ctx()
            },
        );
        assert_eq!(ovn, base);
    }

    #[test]
    fn metrics_server_flag_is_added_once() {
        let mut objs = vec![json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "metrics-server"},
            "spec": {"template": {"spec": {"containers": [{"name": "metrics-server",
                "args": ["--secure-port=10250"]}]}}}})];
        apply(AddonName::MetricsServer, "v0.7.2", &mut objs, &ctx());
        apply(AddonName::MetricsServer, "v0.7.2", &mut objs, &ctx());
        assert_eq!(
            objs[0]["spec"]["template"]["spec"]["containers"][0]["args"],
            json!(["--secure-port=10250", "--kubelet-insecure-tls"])
        );
    }
}
