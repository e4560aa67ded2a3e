//! The mapping between typed settings and R4's `clusterctl.yaml` (UPPER_SNAKE keys,
//! values as R4 wrote them), both ways: `render` writes a `clusterctl.yaml` from it and
//! `settings import` reads one back (the migration path for R4 users).

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::layers::{self, Input, LayerKind};
use super::model::Settings;
use super::values::r4_list;
use crate::error::{Diagnostic, Location};

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

/// R4 keys that carry no setting, and why they are not imported.
const NOT_IMPORTED: &[(&str, &str)] = &[
    (
        "OPENSTACK_CONTROL_PLANE_IP",
        "a legacy CAPO variable nothing used",
    ),
    (
        "OPENSTACK_SRVGRP_CONTROLLER",
        "server groups are found by name at create time",
    ),
    (
        "OPENSTACK_SRVGRP_WORKER",
        "server groups are found by name at create time",
    ),
    (
        "OPENSTACK_CLOUD_YAML_B64",
        "a secret: create-cluster mints a new restricted application credential",
    ),
    (
        "OPENSTACK_CLOUD_PROVIDER_CONF_B64",
        "a secret: create-cluster mints a new restricted application credential",
    ),
    (
        "OPENSTACK_CLOUD_CACERT_B64",
        "the CA comes from clouds.yaml (`cacert`)",
    ),
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

/// What `settings import` produced.
#[derive(Debug)]
pub struct Imported {
    /// Settings keys (in the order of [`KEYS`]) and their values.
    pub values: Vec<(String, Value)>,
    /// Keys that were not mapped, dropped as derived, or invalid.
    pub diagnostics: Vec<Diagnostic>,
}

/// Converts an R4 `clusterctl.yaml` into settings entries.
pub fn import(input: &Input) -> Imported {
    let mut diagnostics = Vec::new();
    let root = match super::tree::parse(&String::from_utf8_lossy(input.bytes)) {
        Ok(r) => r,
        Err(e) => {
            let loc = Location {
                line: e.pos.map(|p| p.line),
                column: e.pos.map(|p| p.column),
                ..Location::file(input.name)
            };
            diagnostics.push(Diagnostic::error(
                loc,
                format!("invalid YAML: {}", e.message),
            ));
            return Imported {
                values: Vec::new(),
                diagnostics,
            };
        }
    };
    let super::tree::Node::Map(entries) = root.node else {
        diagnostics.push(Diagnostic::error(
            Location::file(input.name),
            "expected a mapping of `KEY: value` lines",
        ));
        return Imported {
            values: Vec::new(),
            diagnostics,
        };
    };
    let raw: BTreeMap<String, (Value, Location)> = entries
        .into_iter()
        .map(|(k, pos, v)| {
            let loc = Location {
                file: input.name.to_string(),
                line: Some(pos.line),
                column: Some(pos.column),
                key: Some(k.clone()),
            };
            (k, (v.to_json(), loc))
        })
        .collect();
    let text = |k: &str| match raw.get(k) {
        Some((Value::String(s), _)) => Some(s.clone()),
        Some((v, _)) => Some(v.to_string()),
        None => None,
    };

    let mut values: Vec<(String, Value)> = Vec::new();
    for (r4, (value, loc)) in &raw {
        if let Some((_, why)) = NOT_IMPORTED.iter().find(|(k, _)| k == r4) {
            diagnostics.push(Diagnostic::warning(
                loc.clone(),
                format!("`{r4}` not imported: {why}"),
            ));
            continue;
        }
        if r4 == "OLD_OPENSTACK_CLOUD" {
            continue; // handled with OPENSTACK_CLOUD below
        }
        let Some(key) = settings_key_for(r4) else {
            diagnostics.push(
                Diagnostic::warning(
                    loc.clone(),
                    format!("`{r4}` has no setting and was not imported"),
                )
                .hint("check whether it belongs to a newer or customised R4 setup"),
            );
            continue;
        };
        let empty = matches!(value, Value::Null) || value.as_str() == Some("");
        let derived = match key {
            // R4 rewrote OPENSTACK_CLOUD to the per-cluster credential's cloud and kept
            // the user's cloud in OLD_OPENSTACK_CLOUD.
            "cloud_provider" => {
                if let Some(old) = text("OLD_OPENSTACK_CLOUD") {
                    values.push((key.into(), Value::String(old)));
                    continue;
                }
                false
            }
            "node_image" => {
                let version = text("KUBERNETES_VERSION").unwrap_or_default();
                value.as_str() == Some(&format!("ubuntu-capi-image-{version}"))
            }
            "ssh_keypair" => {
                let prefix = text("PREFIX").unwrap_or_else(|| "capi".into());
                value.as_str() == Some(&format!("{prefix}-keypair"))
            }
            // Suffixes scs-capi computed from the spec; recomputed on render.
            "control_plane_machine_gen" | "worker_machine_gen" => value.as_str().is_some_and(|s| {
                s.len() == 8
                    && s.bytes()
                        .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
            }),
            "node_image_properties" => {
                match parse_properties(value.as_str().unwrap_or_default()) {
                    Ok(props) => {
                        if !props.is_empty() {
                            values.push((key.into(), Value::Object(props)));
                        }
                    }
                    Err(msg) => diagnostics.push(
                        Diagnostic::warning(loc.clone(), msg)
                            .hint("set the image properties in `node_image_properties`"),
                    ),
                }
                continue;
            }
            _ => false,
        };
        if derived || empty {
            continue;
        }
        if key == "restrict_kubeapi"
            && let Some(list) = value.as_str().and_then(super::values::parse_r4_list)
            && list.len() > 1
            && list.iter().any(|e| e == "none")
        {
            // R4 skipped `none` next to CIDRs; here `none` must stand alone.
            diagnostics.push(Diagnostic::warning(
                loc.clone(),
                "dropped `none` from `RESTRICT_KUBEAPI`: next to CIDRs it had no effect in R4",
            ));
            let kept: Vec<Value> = list
                .into_iter()
                .filter(|e| e != "none")
                .map(Value::String)
                .collect();
            values.push((key.into(), Value::Array(kept)));
            continue;
        }
        values.push((key.into(), value.clone()));
    }
    // Type-check through the same path as a settings file, so errors read the same.
    let order = |k: &str| KEYS.iter().position(|(_, s)| *s == k).unwrap_or(usize::MAX);
    values.sort_by_key(|(k, _)| order(k));
    let as_yaml = render_yaml(&values);
    let (_, mut diags) = layers::read_file(
        LayerKind::Cluster,
        &Input {
            name: input.name,
            bytes: as_yaml.as_bytes(),
        },
    );
    // Point type errors at the R4 key in the original file.
    for d in &mut diags {
        if let Some(key) = d.key.clone()
            && let Some((r4, _)) = KEYS.iter().find(|(_, s)| *s == key)
            && let Some((_, loc)) = raw.get(*r4)
        {
            d.line = loc.line;
            d.column = loc.column;
            d.key = Some((*r4).to_string());
        }
    }
    diagnostics.extend(diags);
    Imported {
        values,
        diagnostics,
    }
}

/// `--property k=v --property k2=v2` (R4's extra flags for `openstack image create`).
fn parse_properties(flags: &str) -> Result<Map<String, Value>, String> {
    let mut props = Map::new();
    let mut words = flags.split_whitespace();
    while let Some(w) = words.next() {
        let pair = match w {
            "--property" => words.next().unwrap_or_default(),
            other => other.strip_prefix("--property=").ok_or_else(|| {
                format!("image registration flag `{other}` is not a `--property k=v` and was not imported")
            })?,
        };
        let (k, v) = pair
            .split_once('=')
            .ok_or_else(|| format!("image property `{pair}` is not `key=value`"))?;
        props.insert(k.to_string(), Value::String(v.to_string()));
    }
    Ok(props)
}

/// Writes settings entries as a YAML settings file, one key per line, in the order given.
pub fn render_yaml(values: &[(String, Value)]) -> String {
    let mut nested: Vec<(String, Value)> = Vec::new();
    for (k, v) in values {
        match k.split_once('.') {
            Some((section, sub)) => {
                if let Some((_, Value::Object(m))) = nested.iter_mut().find(|(s, _)| s == section) {
                    m.insert(sub.to_string(), v.clone());
                } else {
                    let mut m = Map::new();
                    m.insert(sub.to_string(), v.clone());
                    nested.push((section.to_string(), Value::Object(m)));
                }
            }
            None => nested.push((k.clone(), v.clone())),
        }
    }
    let mut out = String::new();
    for (k, v) in nested {
        out.push_str(&yaml_entry(&k, &v, 0));
    }
    out
}

fn yaml_entry(key: &str, v: &Value, indent: usize) -> String {
    let pad = " ".repeat(indent);
    match v {
        Value::Object(m) if m.is_empty() => format!("{pad}{key}: {{}}\n"),
        Value::Object(m) => {
            let mut s = format!("{pad}{key}:\n");
            for (k, v) in m {
                s.push_str(&yaml_entry(k, v, indent + 2));
            }
            s
        }
        Value::Array(items) if items.is_empty() => format!("{pad}{key}: []\n"),
        Value::Array(items) => {
            let mut s = format!("{pad}{key}:\n");
            for i in items {
                s.push_str(&format!("{pad}  - {}\n", yaml_scalar(i)));
            }
            s
        }
        scalar => format!("{pad}{key}: {}\n", yaml_scalar(scalar)),
    }
}

/// A scalar in YAML, quoted when YAML would read it as something else.
pub fn yaml_scalar(v: &Value) -> String {
    match v {
        Value::String(s) => yaml_string(s),
        Value::Null => "null".into(),
        other => other.to_string(),
    }
}

/// A string in YAML: plain when unambiguous, else double-quoted (JSON escaping is valid
/// YAML).
pub fn yaml_string(s: &str) -> String {
    let plain = !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._/-+*".contains(&b))
        && !s.starts_with(['-', '.', '*'])
        && s.parse::<f64>().is_err()
        && ![
            "true", "false", "null", "yes", "no", "on", "off", "y", "n", "~",
        ]
        .contains(&s.to_ascii_lowercase().as_str())
        && !s.starts_with("0x")
        && !s.starts_with("0o");
    if plain {
        s.to_string()
    } else {
        serde_json::to_string(s).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn import_text(text: &str) -> Imported {
        import(&Input {
            name: "clusterctl.yaml",
            bytes: text.as_bytes(),
        })
    }

    #[test]
    fn r4_values_become_typed_settings() {
        let i = import_text(
            "KUBERNETES_VERSION: v1.25.6\nOPENSTACK_IMAGE_NAME: ubuntu-capi-image-v1.25.6\n\
             RESTRICT_KUBEAPI: \"[ 10.1.0.0/16, none ]\"\nDEPLOY_NGINX_INGRESS: true\n\
             USE_CILIUM: v1.13.0\nOPENSTACK_SRVGRP_WORKER: nonono\nFOO_BAR: 1\n",
        );
        let keys: Vec<_> = i.values.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            [
                "kubernetes_version",
                "use_cilium",
                "deploy_nginx_ingress",
                "restrict_kubeapi"
            ]
        );
        let unmapped: Vec<_> = i
            .diagnostics
            .iter()
            .filter_map(|d| d.key.as_deref())
            .collect();
        assert_eq!(
            unmapped,
            ["FOO_BAR", "OPENSTACK_SRVGRP_WORKER", "RESTRICT_KUBEAPI"]
        );
    }

    #[test]
    fn invalid_values_point_at_the_r4_key() {
        let i = import_text("WORKER_MACHINE_COUNT: three\n");
        assert_eq!(i.diagnostics.len(), 1);
        assert_eq!(
            i.diagnostics[0].key.as_deref(),
            Some("WORKER_MACHINE_COUNT")
        );
        assert_eq!(i.diagnostics[0].line, Some(1));
    }

    #[test]
    fn properties_flags() {
        let p =
            parse_properties("--property hw_disk_bus=scsi --property=os_distro=ubuntu").unwrap();
        assert_eq!(p.len(), 2);
        assert!(parse_properties("--min-disk 20").is_err());
    }

    #[test]
    fn yaml_strings_are_quoted_when_ambiguous() {
        assert_eq!(yaml_string("v1.25.6"), "v1.25.6");
        assert_eq!(yaml_string("yes"), "\"yes\"");
        assert_eq!(yaml_string("1.10"), "\"1.10\"");
        assert_eq!(yaml_string("[ a, b ]"), "\"[ a, b ]\"");
        assert_eq!(yaml_string(""), "\"\"");
        assert_eq!(yaml_string("*-*-* 02:30:00"), "\"*-*-* 02:30:00\"");
    }
}
