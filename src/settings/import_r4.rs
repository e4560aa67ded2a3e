//! `settings import`: an R4 `clusterctl.yaml` (UPPER_SNAKE keys, values as R4 wrote
//! them) back into settings, through the table in [`super::clusterctl_keys`]. Keys
//! without a setting, secrets and derived values are reported, never copied.
//!
//! R4 kept part of a cluster's identity outside `clusterctl.yaml`: the cluster name is
//! the directory (`~/<CLUSTER>/clusterctl.yaml`), `PREFIX` lives in `~/.capi-settings`
//! and the management server's address (always allowed to the kube-API) only in
//! `~/<CLUSTER>/restrict-kubeapi-cidr.yaml`. The command hands those in through
//! [`Options`]; everything written is typed as the JSON schema says (lists as lists,
//! YAML-1.1 booleans such as `yes` as `true`), so the output passes `validate`.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::clusterctl_keys::{KEYS, settings_key_for};
use super::layers::{self, Input, LayerKind};
use super::write::render_yaml;
use crate::error::{Diagnostic, Location};

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

/// Settings keys whose type is a list (the schema says `"type": "array"`); R4 wrote them
/// as strings `"[ a, b ]"`. A test checks this against the schema.
pub const LIST_KEYS: &[&str] = &["dns_nameservers", "restrict_kubeapi"];

/// The YAML-1.1 spellings of booleans R4's yq (and clusterctl's envsubst) accepted.
fn yaml11_bool(s: &str) -> Option<bool> {
    match s.to_ascii_lowercase().as_str() {
        "yes" | "y" | "on" | "true" => Some(true),
        "no" | "n" | "off" | "false" => Some(false),
        _ => None,
    }
}

/// Settings keys whose value is (or may be) a boolean: every `bool` field and every
/// `true|false|vX.Y.Z` toggle, read from the built-in defaults (they serialize to a bool).
fn toggle_keys() -> Vec<String> {
    let Ok(Value::Object(m)) = serde_json::to_value(super::Settings::default()) else {
        return Vec::new();
    };
    let mut keys = Vec::new();
    for (k, v) in &m {
        match v {
            Value::Bool(_) => keys.push(k.clone()),
            Value::Object(sub) => keys.extend(
                sub.iter()
                    .filter(|(_, v)| v.is_boolean())
                    .map(|(s, _)| format!("{k}.{s}")),
            ),
            _ => {}
        }
    }
    keys
}

/// The oldest Kubernetes minor the `r4` profile can describe: inside what CAPI v1.3
/// supports and in the version table (whose oldest minor is kept for R4 clusters).
pub fn oldest_r4_minor() -> u32 {
    let table = super::versions::KNOWN_MINORS.first().map_or(0, |(m, _)| *m);
    (*crate::render::Profile::R4.workload_minors().start()).max(table)
}

/// What the command found next to the `clusterctl.yaml`, or was told on the command line.
#[derive(Default)]
pub struct Options<'a> {
    /// `--cluster`, else the name of the directory holding `clusterctl.yaml`. A
    /// `CLUSTER_NAME` in the file (scs-capi writes one, R4 did not) wins over the directory.
    pub cluster_name: Option<String>,
    /// Whether [`Self::cluster_name`] is `--cluster` (which wins over `CLUSTER_NAME`).
    pub cluster_name_is_flag: bool,
    /// Where [`Self::cluster_name`] came from (`--cluster`, `the directory ~/demo`).
    pub cluster_name_source: String,
    /// `--prefix`: wins over a `PREFIX` in the file (scs-capi writes one), which wins over
    /// `.capi-settings`.
    pub prefix: Option<String>,
    /// R4's `~/.capi-settings` (shell `PREFIX=...` lines), when found or given.
    pub capi_settings: Option<Input<'a>>,
    /// R4's `~/<CLUSTER>/restrict-kubeapi-cidr.yaml`, when found: its first allowed CIDR
    /// is the management server's address.
    pub kubeapi_patch: Option<Input<'a>>,
    /// `--mgmt-egress-cidr`: wins over the patch file.
    pub mgmt_egress_cidr: Option<String>,
}

/// What `settings import` produced.
#[derive(Debug)]
pub struct Imported {
    /// Settings keys (in the order of [`KEYS`]) and their values.
    pub values: Vec<(String, Value)>,
    /// Keys that were not mapped, dropped as derived, or invalid.
    pub diagnostics: Vec<Diagnostic>,
    /// Facts the user must see (which prefix was written, and why it matters).
    pub notes: Vec<String>,
}

/// `KEY=value`, `export KEY="value"` lines of a shell settings file: `(value, line)`.
fn shell_var(text: &str, key: &str) -> Option<(String, usize)> {
    text.lines().enumerate().find_map(|(i, line)| {
        let line = line.trim();
        let line = line.strip_prefix("export ").unwrap_or(line).trim_start();
        let v = line.strip_prefix(key)?.strip_prefix('=')?;
        let v = v.split(" #").next().unwrap_or(v).trim();
        let v = v
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .or_else(|| v.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
            .unwrap_or(v);
        Some((v.to_string(), i + 1))
    })
}

/// The first `allowedCidrs` entry of R4's kube-API patch (R4 put the management
/// server's floating IP first).
fn mgmt_from_patch(input: &Input) -> Option<String> {
    let root = super::tree::parse(&String::from_utf8_lossy(input.bytes)).ok()?;
    fn find(v: &Value) -> Option<String> {
        match v {
            Value::Object(m) => m
                .get("allowedCidrs")
                .and_then(|c| c.get(0))
                .and_then(Value::as_str)
                .map(String::from)
                .or_else(|| m.values().find_map(find)),
            Value::Array(items) => items.iter().find_map(find),
            _ => None,
        }
    }
    find(&root.to_json())
}

/// Converts an R4 `clusterctl.yaml` into settings entries.
pub fn import(input: &Input, opts: &Options) -> Imported {
    let mut diagnostics = Vec::new();
    let mut notes = Vec::new();
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
                notes,
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
            notes,
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

    // The cluster name: R4 named the directory after the cluster.
    let in_file = text("CLUSTER_NAME").filter(|n| !n.is_empty());
    let (cluster_name, cluster_name_source) = match (&in_file, opts.cluster_name_is_flag) {
        (Some(n), false) => (
            Some(n.clone()),
            format!("`CLUSTER_NAME` in `{}`", input.name),
        ),
        _ => (opts.cluster_name.clone(), opts.cluster_name_source.clone()),
    };
    match cluster_name.as_deref() {
        Some(name) => match super::validate::dns_label_problem(name) {
            None => values.push(("cluster_name".into(), Value::String(name.to_string()))),
            Some(problem) => diagnostics.push(
                Diagnostic::error(
                    Location::file(input.name),
                    format!(
                        "cluster name `{name}` (from {}) {problem}: a cluster name is a DNS label (lowercase letters, digits, `-`)",
                        cluster_name_source
                    ),
                )
                .hint("R4 kept each cluster in `~/<CLUSTER>/clusterctl.yaml`; pass `--cluster NAME` with the R4 cluster's name"),
            ),
        },
        None => diagnostics.push(
            Diagnostic::error(Location::file(input.name), "cannot tell the cluster's name")
                .hint("R4 kept each cluster in `~/<CLUSTER>/clusterctl.yaml`; pass `--cluster NAME` with the R4 cluster's name"),
        ),
    }

    // The prefix: in `~/.capi-settings`, not in clusterctl.yaml.
    let from_file = opts.capi_settings.as_ref().and_then(|f| {
        shell_var(&String::from_utf8_lossy(f.bytes), "PREFIX").map(|(v, line)| (v, f.name, line))
    });
    let prefix_in_file = raw.get("PREFIX").map(|(v, loc)| {
        (
            v.as_str()
                .map(String::from)
                .unwrap_or_else(|| v.to_string()),
            loc.line.unwrap_or(0),
        )
    });
    let (prefix, why) = match (&opts.prefix, &from_file) {
        (Some(p), _) => (p.clone(), "from `--prefix`".to_string()),
        (None, _) if prefix_in_file.is_some() => {
            let (p, line) = prefix_in_file.clone().unwrap_or_default();
            (p, format!("from `PREFIX` in `{}` line {line}", input.name))
        }
        (None, Some((p, file, line))) => {
            (p.clone(), format!("from `PREFIX` in `{file}` line {line}"))
        }
        (None, None) => {
            let hint = match &opts.capi_settings {
                Some(f) => format!("`{}` has no `PREFIX=` line; pass `--prefix` with R4's `PREFIX`", f.name),
                None => "no `.capi-settings` found next to the cluster directory; pass `--capi-settings ~/.capi-settings` or `--prefix` with R4's `PREFIX`".to_string(),
            };
            diagnostics.push(
                Diagnostic::warning(
                    Location::file(input.name).with_key("PREFIX"),
                    "R4's `PREFIX` is unknown: wrote R4's default `capi`",
                )
                .hint(hint),
            );
            (
                "capi".to_string(),
                "R4's default, no `PREFIX` found".to_string(),
            )
        }
    };
    if prefix.is_empty() || super::validate::dns_label_problem(&prefix).is_some() {
        diagnostics.push(
            Diagnostic::error(
                Location::file(input.name).with_key("PREFIX"),
                format!("prefix `{prefix}` ({why}) is not a DNS label"),
            )
            .hint("pass `--prefix` with R4's `PREFIX`"),
        );
    } else {
        notes.push(format!(
            "prefix `{prefix}` written ({why}): it names every machine template and OpenStack resource of the cluster; a different prefix than R4's makes scs-capi create a second cluster next to the R4 one"
        ));
        values.push(("prefix".into(), Value::String(prefix.clone())));
    }

    let toggles = toggle_keys();
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
        if r4 == "CLUSTER_NAME" || r4 == "PREFIX" {
            continue; // handled above
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
            "ssh_keypair" => value.as_str() == Some(&format!("{prefix}-keypair")),
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
        // YAML-1.1 booleans (`yes`, `On`, `FALSE`): canonical `true`/`false`.
        if toggles.iter().any(|t| t == key)
            && let Some(text) = value.as_str()
            && let Some(b) = yaml11_bool(text)
        {
            if text != "true" && text != "false" {
                diagnostics.push(Diagnostic::warning(
                    loc.clone(),
                    format!("`{r4}: {text}` imported as `{key}: {b}`"),
                ));
            }
            values.push((key.into(), Value::Bool(b)));
            continue;
        }
        if key == "kubernetes_version"
            && let Some(v) = value
                .as_str()
                .and_then(|v| v.parse::<super::versions::KubernetesVersion>().ok())
            && v.minor < oldest_r4_minor()
        {
            let oldest = oldest_r4_minor();
            diagnostics.push(
                Diagnostic::error(
                    loc.clone(),
                    format!(
                        "Kubernetes {} is older than the oldest version scs-capi's `r4` profile supports (v1.{oldest})",
                        v.minor_string()
                    ),
                )
                .hint(format!(
                    "upgrade the cluster with R4 first, one minor at a time, to v1.{oldest} (`KUBERNETES_VERSION: v1.{oldest}.x`, bump `CONTROL_PLANE_MACHINE_GEN` and `WORKER_MACHINE_GEN`, `create_cluster.sh <CLUSTER>`), then import again"
                )),
            );
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
        // R4's list-in-a-string `"[ a, b ]"` becomes a YAML list.
        if LIST_KEYS.contains(&key)
            && let Some(list) = value.as_str().and_then(super::values::parse_r4_list)
        {
            values.push((
                key.into(),
                Value::Array(list.into_iter().map(Value::String).collect()),
            ));
            continue;
        }
        values.push((key.into(), value.clone()));
    }

    // The management server's address, which R4 always allowed to the kube-API.
    let restricted = values
        .iter()
        .any(|(k, v)| k == "restrict_kubeapi" && v.as_array().is_some_and(|a| !a.is_empty()));
    let in_file = values.iter().position(|(k, _)| k == "mgmt_egress_cidr");
    if in_file.is_some() && opts.mgmt_egress_cidr.is_some() {
        values.retain(|(k, _)| k != "mgmt_egress_cidr");
    }
    let mgmt = opts
        .mgmt_egress_cidr
        .clone()
        .map(|c| (c, "from `--mgmt-egress-cidr`".to_string()))
        .or_else(|| {
            // `MGMT_EGRESS_CIDR` (scs-capi writes it) is kept as imported.
            if in_file.is_some() {
                return None;
            }
            let patch = opts.kubeapi_patch.as_ref()?;
            mgmt_from_patch(patch)
                .map(|c| (c, format!("the first allowed CIDR in `{}`", patch.name)))
        });
    match mgmt {
        Some((cidr, why)) => {
            let cidr = match cidr.parse::<super::values::AllowEntry>() {
                Ok(super::values::AllowEntry::Net(n)) => n.to_string(),
                _ => cidr,
            };
            notes.push(format!("mgmt_egress_cidr `{cidr}` written ({why})"));
            values.push(("mgmt_egress_cidr".into(), Value::String(cidr)));
        }
        None if restricted && in_file.is_none() => diagnostics.push(
            Diagnostic::warning(
                Location::file(input.name).with_key("RESTRICT_KUBEAPI"),
                "`RESTRICT_KUBEAPI` is set but the management server's address is unknown: `render` and `create-cluster` need `mgmt_egress_cidr`",
            )
            .hint(format!(
                "set `mgmt_egress_cidr: ADDR/32` in the settings file (R4 allowed the floating IP of `{prefix}-mgmtcluster`: `openstack server list --name {prefix}-mgmtcluster`), or import with `--mgmt-egress-cidr ADDR/32`"
            )),
        ),
        None => {}
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
        notes,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn import_text(text: &str) -> Imported {
        import(
            &Input {
                name: "clusterctl.yaml",
                bytes: text.as_bytes(),
            },
            &Options {
                cluster_name: Some("demo".into()),
                prefix: Some("capi".into()),
                ..Options::default()
            },
        )
    }

    fn keys(i: &Imported) -> Vec<&str> {
        i.values.iter().map(|(k, _)| k.as_str()).collect()
    }

    #[test]
    fn r4_values_become_typed_settings() {
        let i = import_text(
            "KUBERNETES_VERSION: v1.25.6\nOPENSTACK_IMAGE_NAME: ubuntu-capi-image-v1.25.6\n\
             RESTRICT_KUBEAPI: \"[ 10.1.0.0/16, none ]\"\nDEPLOY_NGINX_INGRESS: true\n\
             USE_CILIUM: v1.13.0\nOPENSTACK_SRVGRP_WORKER: nonono\nFOO_BAR: 1\n",
        );
        assert_eq!(
            keys(&i),
            [
                "cluster_name",
                "kubernetes_version",
                "use_cilium",
                "deploy_nginx_ingress",
                "restrict_kubeapi",
                "prefix"
            ]
        );
        let unmapped: Vec<_> = i
            .diagnostics
            .iter()
            .filter_map(|d| d.key.as_deref())
            .collect();
        assert_eq!(
            unmapped,
            [
                "FOO_BAR",
                "OPENSTACK_SRVGRP_WORKER",
                "RESTRICT_KUBEAPI",
                "RESTRICT_KUBEAPI"
            ]
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

    fn import_with(text: &str, opts: &Options) -> Imported {
        import(
            &Input {
                name: "clusterctl.yaml",
                bytes: text.as_bytes(),
            },
            opts,
        )
    }

    fn value<'a>(i: &'a Imported, key: &str) -> Option<&'a Value> {
        i.values.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    #[test]
    fn r4_string_lists_become_yaml_lists() {
        let i = import_text(
            "OPENSTACK_DNS_NAMESERVERS: \"[ 5.1.66.255, 185.150.99.255, ]\"\nRESTRICT_KUBEAPI: \"[ 10.1.0.0/16 ]\"\n",
        );
        assert_eq!(
            value(&i, "dns_nameservers"),
            Some(&serde_json::json!(["5.1.66.255", "185.150.99.255"]))
        );
        assert_eq!(
            value(&i, "restrict_kubeapi"),
            Some(&serde_json::json!(["10.1.0.0/16"]))
        );
        let text = render_yaml(&i.values);
        assert!(
            text.contains("dns_nameservers:\n  - 5.1.66.255\n"),
            "{text}"
        );
    }

    #[test]
    fn list_keys_are_the_array_keys_of_the_schema() {
        let schema = super::super::schema();
        let mut arrays: Vec<String> = schema["properties"]
            .as_object()
            .unwrap()
            .iter()
            .filter(|(_, p)| {
                let r = p.get("$ref").and_then(Value::as_str).unwrap_or_default();
                let def = r
                    .rsplit('/')
                    .next()
                    .and_then(|n| schema["$defs"].get(n))
                    .unwrap_or(p);
                def.get("type").and_then(Value::as_str) == Some("array")
            })
            .map(|(k, _)| k.clone())
            .collect();
        arrays.sort();
        assert_eq!(arrays, LIST_KEYS);
    }

    #[test]
    fn yaml11_booleans_become_canonical_for_every_toggle() {
        let toggles = toggle_keys();
        for k in [
            "use_cilium",
            "deploy_metrics",
            "anti_affinity",
            "use_ovn_lb_provider",
            "etcd_defrag.enabled",
        ] {
            assert!(toggles.iter().any(|t| t == k), "{k} in {toggles:?}");
        }
        let i = import_text(
            "USE_CILIUM: yes\nDEPLOY_METRICS: \"Off\"\nETCD_DEFRAG_ENABLED: NO\nOPENSTACK_ANTI_AFFINITY: \"y\"\n",
        );
        assert_eq!(value(&i, "use_cilium"), Some(&Value::Bool(true)));
        assert_eq!(value(&i, "deploy_metrics"), Some(&Value::Bool(false)));
        assert_eq!(value(&i, "etcd_defrag.enabled"), Some(&Value::Bool(false)));
        assert_eq!(value(&i, "anti_affinity"), Some(&Value::Bool(true)));
        assert!(
            i.diagnostics
                .iter()
                .all(|d| d.severity == crate::error::Severity::Warning)
        );
        // Anything else is a located error at import, not later at validate.
        let i = import_text("DEPLOY_METRICS: enabled\n");
        let e = i
            .diagnostics
            .iter()
            .find(|d| d.severity == crate::error::Severity::Error)
            .unwrap();
        assert_eq!(
            (e.key.as_deref(), e.line),
            (Some("DEPLOY_METRICS"), Some(1))
        );
    }

    #[test]
    fn cluster_name_is_required_and_checked() {
        let no_name = import_with("WORKER_MACHINE_COUNT: 3\n", &Options::default());
        let e = &no_name.diagnostics[0];
        assert_eq!(e.severity, crate::error::Severity::Error);
        assert!(
            e.hint.as_deref().unwrap_or_default().contains("--cluster"),
            "{e}"
        );
        let bad = import_with(
            "WORKER_MACHINE_COUNT: 3\n",
            &Options {
                cluster_name: Some("My_Cluster".into()),
                cluster_name_source: "the directory `My_Cluster`".into(),
                ..Options::default()
            },
        );
        assert!(
            bad.diagnostics[0].message.contains("`My_Cluster`"),
            "{}",
            bad.diagnostics[0]
        );
        assert_eq!(bad.diagnostics[0].severity, crate::error::Severity::Error);
    }

    #[test]
    fn prefix_comes_from_capi_settings_and_is_announced() {
        let settings = Input {
            name: "/home/ubuntu/.capi-settings",
            bytes: b"CLUSTERAPI_VERSION=1.3.5\nexport PREFIX=\"r4demo\"\n",
        };
        let i = import_with(
            "OPENSTACK_SSH_KEY_NAME: r4demo-keypair\n",
            &Options {
                cluster_name: Some("demo".into()),
                capi_settings: Some(settings),
                ..Options::default()
            },
        );
        assert_eq!(value(&i, "prefix"), Some(&Value::String("r4demo".into())));
        // The keypair was R4's derived `${PREFIX}-keypair`: not written.
        assert_eq!(value(&i, "ssh_keypair"), None);
        assert!(
            i.notes[0].contains("`/home/ubuntu/.capi-settings` line 2"),
            "{:?}",
            i.notes
        );
        assert!(i.notes[0].contains("second cluster"), "{:?}", i.notes);
        // Without any source: R4's default, with a warning naming the way to fix it.
        let i = import_with(
            "WORKER_MACHINE_COUNT: 3\n",
            &Options {
                cluster_name: Some("demo".into()),
                ..Options::default()
            },
        );
        assert_eq!(value(&i, "prefix"), Some(&Value::String("capi".into())));
        assert!(i.diagnostics.iter().any(|d| {
            d.hint
                .as_deref()
                .unwrap_or_default()
                .contains("--capi-settings")
        }));
    }

    #[test]
    fn clusters_older_than_the_r4_profile_get_the_upgrade_hint() {
        assert_eq!(oldest_r4_minor(), 25);
        let i = import_text("KUBERNETES_VERSION: v1.24.10\n");
        let e = &i.diagnostics[0];
        assert_eq!(e.severity, crate::error::Severity::Error);
        assert_eq!(e.key.as_deref(), Some("KUBERNETES_VERSION"));
        assert!(
            e.hint
                .as_deref()
                .unwrap_or_default()
                .contains("upgrade the cluster with R4 first"),
            "{e}"
        );
        assert!(
            e.hint.as_deref().unwrap_or_default().contains("v1.25"),
            "{e}"
        );
        assert!(
            import_text("KUBERNETES_VERSION: v1.25.x\n")
                .diagnostics
                .is_empty()
        );
    }

    #[test]
    fn the_management_address_comes_from_r4s_kubeapi_patch() {
        let patch = Input {
            name: "restrict-kubeapi-cidr.yaml",
            bytes: b"spec:\n  apiServerLoadBalancer:\n    allowedCidrs:\n      - 203.0.113.17/32\n      - 10.1.0.0/16\n",
        };
        let i = import_with(
            "RESTRICT_KUBEAPI: \"[ 10.1.0.0/16 ]\"\n",
            &Options {
                cluster_name: Some("demo".into()),
                prefix: Some("capi".into()),
                kubeapi_patch: Some(patch),
                ..Options::default()
            },
        );
        assert_eq!(
            value(&i, "mgmt_egress_cidr"),
            Some(&Value::String("203.0.113.17/32".into()))
        );
        // Without it: a warning that names the key to set.
        let i = import_text("RESTRICT_KUBEAPI: \"[ 10.1.0.0/16 ]\"\n");
        let w = i
            .diagnostics
            .iter()
            .find(|d| d.key.as_deref() == Some("RESTRICT_KUBEAPI"))
            .unwrap();
        assert!(
            w.hint
                .as_deref()
                .unwrap_or_default()
                .contains("`mgmt_egress_cidr: ADDR/32`"),
            "{w}"
        );
    }

    #[test]
    fn properties_flags() {
        let p =
            parse_properties("--property hw_disk_bus=scsi --property=os_distro=ubuntu").unwrap();
        assert_eq!(p.len(), 2);
        assert!(parse_properties("--min-disk 20").is_err());
    }
}
