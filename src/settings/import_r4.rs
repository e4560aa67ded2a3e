//! `settings import`: an R4 `clusterctl.yaml` (UPPER_SNAKE keys, values as R4 wrote
//! them) back into settings, through the table in [`super::clusterctl_keys`]. Keys
//! without a setting, secrets and derived values are reported, never copied.

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
}
