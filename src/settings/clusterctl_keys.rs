//! The mapping between settings keys and the UPPER_SNAKE variables of `clusterctl.yaml`
//! (R4's keys first), and the values `render` writes for them. [`super::import_r4`] reads
//! the same table backwards.

use serde_json::{Map, Value};

use super::model::Settings;
use super::values::r4_list;

/// `clusterctl.yaml` key and the settings key it holds. R4's own keys come first; the
/// rest are management-wide values R4 kept in `~/.capi-settings` or terraform, written
/// so that `clusterctl.yaml` is a complete record of the settings.
pub const KEYS: &[(&str, &str)] = &[
    ("CLUSTER_NAME", "cluster_name"),
    ("KUBERNETES_VERSION", "kubernetes_version"),
    ("OPENSTACK_IMAGE_NAME", "node_image"),
    ("DEPLOY_OCCM", "deploy_occm"),
    ("DEPLOY_CINDERCSI", "deploy_cindercsi"),
    ("USE_CILIUM", "use_cilium"),
    ("CALICO_VERSION", "calico_version"),
    ("DEPLOY_NGINX_INGRESS", "deploy_nginx_ingress"),
    ("NGINX_INGRESS_PROXY", "nginx_ingress_proxy"),
    ("USE_OVN_LB_PROVIDER", "use_ovn_lb_provider"),
    ("DEPLOY_CERT_MANAGER", "deploy_cert_manager"),
    ("DEPLOY_FLUX", "deploy_flux"),
    ("DEPLOY_METRICS", "deploy_metrics"),
    (
        "OPENSTACK_CONTROL_PLANE_MACHINE_FLAVOR",
        "controller_flavor",
    ),
    ("CONTROL_PLANE_MACHINE_COUNT", "controller_count"),
    ("CONTROL_PLANE_MACHINE_GEN", "control_plane_machine_gen"),
    ("OPENSTACK_NODE_MACHINE_FLAVOR", "worker_flavor"),
    ("WORKER_MACHINE_COUNT", "worker_count"),
    ("WORKER_MACHINE_GEN", "worker_machine_gen"),
    ("CONTROL_PLANE_ROOT_DISKSIZE", "controller_root_disk_gib"),
    ("WORKER_ROOT_DISKSIZE", "worker_root_disk_gib"),
    ("OPENSTACK_FAILURE_DOMAIN", "availability_zone"),
    ("ETCD_UNSAFE_FS", "etcd_unsafe_fs"),
    ("NODE_CIDR", "node_cidr"),
    ("POD_CIDR", "pod_cidr"),
    ("SERVICE_CIDR", "service_cidr"),
    ("MTU_VALUE", "mtu_value"),
    ("RESTRICT_KUBEAPI", "restrict_kubeapi"),
    ("OPENSTACK_EXTERNAL_NETWORK_ID", "external"),
    ("OPENSTACK_DNS_NAMESERVERS", "dns_nameservers"),
    ("OPENSTACK_SSH_KEY_NAME", "ssh_keypair"),
    ("OPENSTACK_ANTI_AFFINITY", "anti_affinity"),
    (
        "OPENSTACK_SOFT_ANTI_AFFINITY_CONTROLLER",
        "soft_anti_affinity_controller",
    ),
    ("OPENSTACK_IMAGE_RAW", "kube_image_raw"),
    (
        "OPENSTACK_IMAGE_REGISTRATION_EXTRA_FLAGS",
        "node_image_properties",
    ),
    ("OPENSTACK_CLOUD", "cloud_provider"),
    ("PREFIX", "prefix"),
    ("CLUSTERAPI_VERSION", "clusterapi_version"),
    (
        "CLUSTERAPI_OPENSTACK_PROVIDER_VERSION",
        "capi_openstack_version",
    ),
    ("CILIUM_BINARIES", "cilium_binaries"),
    (
        "CLUSTER_API_OPENSTACK_INSTANCE_CREATE_TIMEOUT",
        "capo_instance_create_timeout",
    ),
    ("MGMT_EGRESS_CIDR", "mgmt_egress_cidr"),
    ("OPENSTACK_IMAGE_OS", "node_image_os"),
    ("OPENSTACK_IMAGE_URL", "node_image_url"),
    ("OPENSTACK_IMAGE_SHA256", "node_image_sha256"),
    ("ETCD_QUOTA_BACKEND_MIB", "etcd_quota_backend_mib"),
    ("ETCD_DEFRAG_ENABLED", "etcd_defrag.enabled"),
    ("ETCD_DEFRAG_SCHEDULE", "etcd_defrag.schedule"),
    ("ETCD_DEFRAG_MIN_DB_SIZE_MIB", "etcd_defrag.min_db_size_mib"),
    (
        "ETCD_DEFRAG_MIN_FREE_PERCENT",
        "etcd_defrag.min_free_percent",
    ),
    (
        "ETCD_DEFRAG_MAX_QUOTA_PERCENT",
        "etcd_defrag.max_quota_percent",
    ),
    ("ETCD_DEFRAG_PAUSE_SECONDS", "etcd_defrag.pause_seconds"),
    ("ETCD_DEFRAG_BACKUPS_KEPT", "etcd_defrag.backups_kept"),
    ("ETCD_DEFRAG_SINGLE_MEMBER", "etcd_defrag.single_member"),
];

/// The settings key an R4 `clusterctl.yaml` key maps to.
pub fn settings_key_for(r4_key: &str) -> Option<&'static str> {
    KEYS.iter().find(|(k, _)| *k == r4_key).map(|(_, s)| *s)
}

/// The value of every `clusterctl.yaml` key for these settings, as strings the way R4
/// wrote them. Derived values (image name, keypair, resolved Kubernetes version) are
/// written out concretely because clusterctl needs them; `gens` are the machine-template
/// suffixes the renderer computed.
pub fn to_vars(settings: &Settings, gens: (&str, &str)) -> Vec<(&'static str, String)> {
    let json = match serde_json::to_value(settings) {
        Ok(Value::Object(m)) => m,
        _ => unreachable!("Settings serializes to a map"),
    };
    KEYS.iter()
        .map(|&(r4, key)| {
            let value = match key {
                "cluster_name" => settings.name().to_string(),
                "kubernetes_version" => settings.kubernetes_version.resolve(),
                "node_image" => settings.node_image_name(),
                "ssh_keypair" => settings.ssh_keypair_name(),
                "cilium_binaries" => settings.cilium_binaries.r4_value(),
                "control_plane_machine_gen" => gens.0.to_string(),
                "worker_machine_gen" => gens.1.to_string(),
                "node_image_properties" => settings
                    .node_image_properties
                    .iter()
                    .map(|(k, v)| format!("--property {k}={v}"))
                    .collect::<Vec<_>>()
                    .join(" "),
                _ => r4_string(lookup(&json, key)),
            };
            (r4, value)
        })
        .collect()
}

fn lookup<'a>(json: &'a Map<String, Value>, key: &str) -> &'a Value {
    let found = match key.split_once('.') {
        Some((section, sub)) => json.get(section).and_then(|s| s.get(sub)),
        None => json.get(key),
    };
    found.unwrap_or(&Value::Null)
}

fn r4_string(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Array(items) => r4_list(&items.iter().map(r4_string).collect::<Vec<_>>()),
        other => other.to_string(),
    }
}
