//! Typed cluster settings: the model, layering (defaults file < cluster file <
//! environment), validation with located findings, the JSON Schema, the commented
//! starter file, and import from R4's `clusterctl.yaml`.
//!
//! This module never renders or talks to a cloud; it hands a validated [`Settings`] to
//! [`crate::render`].

pub mod clusterctl_keys;
mod etcd_defrag;
pub mod import_r4;
pub mod layers;
mod model;
mod tree;
pub mod validate;
pub mod values;
pub mod versions;
pub mod write;

use std::path::{Path, PathBuf};

pub use etcd_defrag::{EtcdDefrag, SingleMemberPolicy};
pub use layers::{Input, LayerKind, Loaded, Origin};
pub use model::{NodeOs, SECTIONS, Settings};

use crate::error::{Diagnostic, Error, Result, Severity};

/// The example cluster `render --example` uses.
pub const EXAMPLE: &str = include_str!("example.yaml");
/// Display name of the built-in example.
pub const EXAMPLE_NAME: &str = "<example>/example.yaml";

/// The management-wide defaults layer, by the one rule every command follows
/// (`validate`, `render`, `prepare-cloud`, `create-cluster`, `upgrade-cluster`, `mgmt`,
/// ...): `--defaults FILE` when given, else `$XDG_CONFIG_HOME/scs-capi/defaults.yaml`
/// (`~/.config/...` without `XDG_CONFIG_HOME`) when it exists, else none. A
/// `defaults.yaml` next to a cluster file is not picked up by itself: pass it with
/// `--defaults` (docs/getting-started.md, "Layers").
///
/// # Errors
/// [`Error::Read`] when the file cannot be read.
pub fn defaults_file(explicit: Option<&Path>) -> Result<Option<SourceFile>> {
    match explicit {
        Some(path) => SourceFile::read(path).map(Some),
        None => default_defaults_path()
            .map(|p| SourceFile::read(&p))
            .transpose(),
    }
}

/// Where the management-wide defaults come from when `--defaults` is not given.
pub fn default_defaults_path() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    let path = base.join("scs-capi").join("defaults.yaml");
    path.is_file().then_some(path)
}

/// A settings file read into memory.
pub struct SourceFile {
    pub name: String,
    pub bytes: Vec<u8>,
}

impl SourceFile {
    /// # Errors
    /// [`Error::Read`] when the file cannot be read.
    pub fn read(path: &Path) -> Result<SourceFile> {
        let bytes = std::fs::read(path).map_err(|source| Error::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(SourceFile {
            name: path.display().to_string(),
            bytes,
        })
    }

    pub fn example() -> SourceFile {
        SourceFile {
            name: EXAMPLE_NAME.into(),
            bytes: EXAMPLE.as_bytes().to_vec(),
        }
    }

    fn input(&self) -> Input<'_> {
        Input {
            name: &self.name,
            bytes: &self.bytes,
        }
    }

    /// The file name without directory and extension (the default cluster name).
    pub fn stem(&self) -> Option<&str> {
        Path::new(&self.name).file_stem().and_then(|s| s.to_str())
    }
}

/// Loads and validates settings from the layers given; all findings are in
/// `diagnostics`, and `settings` is usable whenever there is no error.
pub fn load(
    defaults: Option<&SourceFile>,
    cluster: Option<&SourceFile>,
    env: &[(String, String)],
    opts: validate::Options,
) -> Loaded {
    let mut diagnostics = Vec::new();
    let mut stack = Vec::new();
    for (kind, file) in [
        (LayerKind::Defaults, defaults),
        (LayerKind::Cluster, cluster),
    ] {
        if let Some(file) = file {
            let (layer, diags) = layers::read_file(kind, &file.input());
            diagnostics.extend(diags);
            stack.extend(layer);
        }
    }
    let (env_layer, diags) = layers::read_env(env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    diagnostics.extend(diags);
    stack.push(env_layer);
    let mut loaded = layers::merge(&stack, cluster.and_then(SourceFile::stem), opts.profile);
    loaded.diagnostics.splice(0..0, diagnostics);
    let is_cluster = opts.is_cluster && cluster.is_some();
    let findings = validate::validate(&loaded, validate::Options { is_cluster, ..opts });
    loaded.diagnostics.extend(findings);
    loaded
}

/// The `SCS_CAPI_*` variables of this process.
pub fn env_overrides() -> Vec<(String, String)> {
    std::env::vars()
        .filter(|(k, _)| k.starts_with(layers::ENV_PREFIX))
        .collect()
}

/// Turns findings into an error when any is an error (or a warning under `strict`).
///
/// # Errors
/// [`Error::Invalid`] carrying every finding.
pub fn ensure_valid(diagnostics: &[Diagnostic], strict: bool) -> Result<()> {
    let failing = diagnostics
        .iter()
        .any(|d| d.severity == Severity::Error || (strict && d.severity == Severity::Warning));
    if failing {
        Err(Error::Invalid(diagnostics.to_vec()))
    } else {
        Ok(())
    }
}

/// The JSON Schema of a settings file.
pub fn schema() -> serde_json::Value {
    let schema = schemars::schema_for!(Settings);
    schema.to_value()
}

/// A settings file with every key commented out at its default, each with its
/// documentation, and `cluster_name` set.
pub fn starter_file(cluster: &str) -> String {
    let schema = schema();
    let defaults = serde_json::to_value(Settings::default()).unwrap_or_default();
    let props = schema["properties"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let mut out = String::from(
        "# scs-capi cluster settings (from `scs-capi settings init`).\n\
         # Remove the `#` before a key to set it. Keys left commented out take their value\n\
         # from the management-wide defaults file or the built-in default shown;\n\
         # `SCS_CAPI_<KEY>` environment variables override both.\n\
         # Reference: docs/configuration.md, or `scs-capi schema`.\n",
    );
    for (key, prop) in props {
        out.push('\n');
        for line in describe(&prop).lines() {
            out.push_str(&format!("# {line}\n").replace("# \n", "#\n"));
        }
        if key == "cluster_name" {
            out.push_str(&format!("cluster_name: {}\n", write::yaml_string(cluster)));
            continue;
        }
        let value = &defaults[&key];
        let entry = write::render_yaml(&[(key.clone(), value.clone())]);
        let entry = match value {
            serde_json::Value::Null => format!("{key}:\n"),
            _ => entry,
        };
        for line in entry.lines() {
            out.push_str(&format!("#{line}\n"));
        }
    }
    out
}

/// The configuration reference (`docs/configuration.md`), generated from the schema so
/// that documentation and code cannot drift.
pub fn reference_markdown() -> String {
    let schema = schema();
    let defaults = serde_json::to_value(Settings::default()).unwrap_or_default();
    let mut out = String::from(
        "# Configuration reference\n\n\
         <!-- Generated by `scs-capi schema --format markdown`; a test keeps it in sync. -->\n\n\
         Settings are YAML. Layers, lowest first: built-in defaults, the management-wide\n\
         defaults file (`--defaults FILE`, else `$XDG_CONFIG_HOME/scs-capi/defaults.yaml`), the\n\
         cluster file, and `SCS_CAPI_<KEY>` environment variables (values are YAML, e.g.\n\
         `SCS_CAPI_WORKER_COUNT=5`, `SCS_CAPI_RESTRICT_KUBEAPI='[10.0.0.0/8]'`). Sections such as\n\
         `etcd_defrag` merge key by key. Unknown keys are errors. `render --explain` shows\n\
         which layer set each value.\n\n\
         | key | default | description |\n|---|---|---|\n",
    );
    let cell = |v: &serde_json::Value| match v {
        serde_json::Value::Null => "(none)".to_string(),
        serde_json::Value::String(s) if s.is_empty() => "`\"\"`".to_string(),
        other => format!("`{}`", other.to_string().trim_matches('"')),
    };
    let props = schema["properties"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let mut sections = Vec::new();
    for (key, prop) in &props {
        let text = describe(prop).replace('\n', " ");
        if SECTIONS.contains(&key.as_str()) {
            out.push_str(&format!("| `{key}` | see below | {text} |\n"));
            sections.push(key.clone());
            continue;
        }
        out.push_str(&format!(
            "| `{key}` | {} | {text} |\n",
            cell(&defaults[key])
        ));
    }
    for section in sections {
        out.push_str(&format!(
            "\n## `{section}`\n\n| key | default | description |\n|---|---|---|\n"
        ));
        let reference = schema["properties"][&section]["$ref"]
            .as_str()
            .unwrap_or_default();
        let name = reference.rsplit('/').next().unwrap_or_default();
        let sub = schema["$defs"][name]["properties"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        for (key, prop) in sub {
            let text = describe(&prop).replace('\n', " ");
            out.push_str(&format!(
                "| `{section}.{key}` | {} | {text} |\n",
                cell(&defaults[&section][&key])
            ));
        }
    }
    out
}

/// The description of a schema property (following `$ref`s is not needed: every
/// field carries its own doc comment).
pub fn describe(prop: &serde_json::Value) -> String {
    prop.get("description")
        .and_then(|d| d.as_str())
        .unwrap_or("")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_is_valid() {
        let loaded = load(
            None,
            Some(&SourceFile::example()),
            &[],
            validate::Options {
                is_cluster: true,
                ..Default::default()
            },
        );
        assert_eq!(loaded.diagnostics, vec![]);
    }

    /// Every profile's built-in defaults pass its own validation without a finding, and each
    /// pinned version fits the Kubernetes default: the Cluster API range, a release of
    /// cloud-provider-openstack made for that minor, a calico release tested with it, pinned
    /// CLI downloads, and (default profile) an image the default source has.
    #[test]
    fn builtin_defaults_fit_their_profile() {
        use crate::render::Profile;
        for profile in [Profile::Default, Profile::R4] {
            let file = SourceFile {
                name: "demo.yaml".into(),
                bytes: b"cluster_name: demo\n".to_vec(),
            };
            let opts = validate::Options {
                is_cluster: true,
                profile,
                ..Default::default()
            };
            let loaded = load(None, Some(&file), &[], opts);
            assert_eq!(loaded.diagnostics, vec![], "{profile:?}");
            let s = &loaded.settings;
            assert_eq!(s.calico_version, Settings::builtin(profile).calico_version);
            let minor = s.kubernetes_version.minor;
            assert!(profile.workload_minors().contains(&minor), "{profile:?}");
            assert!(
                crate::addons::catalog::CPO_BY_MINOR
                    .iter()
                    .any(|(m, _)| *m == minor),
                "{profile:?}"
            );
            for (tool, version) in [
                ("cilium", &s.cilium_binaries.cilium),
                ("calicoctl", &s.calico_version),
            ] {
                assert!(
                    crate::mgmt::tools::PINS
                        .iter()
                        .any(|p| p.tool == tool && p.version == version),
                    "{profile:?}: {tool} {version} has no pin"
                );
            }
        }
        let s = Settings::default();
        assert!(s.kubernetes_version.resolved() <= versions::DEFAULT_IMAGE_SOURCE_NEWEST);
        let (tested, _) = versions::calico_tested_minors(&s.calico_version).unwrap();
        assert!(tested.contains(&s.kubernetes_version.minor));
    }

    #[test]
    fn pins_are_checked_per_component() {
        let file = SourceFile {
            name: "c.yaml".into(),
            bytes:
                b"cluster_name: c\nuse_cilium: latest\ndeploy_occm: master\ndeploy_flux: v2.2.3\n"
                    .to_vec(),
        };
        let opts = validate::Options {
            is_cluster: true,
            ..Default::default()
        };
        let loaded = load(None, Some(&file), &[], opts);
        let errors: Vec<_> = loaded
            .diagnostics
            .iter()
            .map(|d| (d.key.as_deref().unwrap_or(""), d.line))
            .collect();
        // OCCM takes a git ref, cilium only a release.
        assert_eq!(errors, [("use_cilium", Some(2))]);
    }

    /// A credential lifetime names its file, line and key both when it does not parse and
    /// when it is out of range; `never` and the default pass.
    #[test]
    fn app_credential_lifetime_is_checked_with_its_location() {
        let check = |value: &str| {
            let file = SourceFile {
                name: "c.yaml".into(),
                bytes: format!("cluster_name: c\napp_credential_expires_in: {value}\n")
                    .into_bytes(),
            };
            let opts = validate::Options {
                is_cluster: true,
                ..Default::default()
            };
            let loaded = load(None, Some(&file), &[], opts);
            let found: Vec<_> = loaded
                .diagnostics
                .iter()
                .map(|d| (d.key.clone().unwrap_or_default(), d.line, d.to_string()))
                .collect();
            (found, loaded.settings.app_credential_expires_in)
        };
        for bad in ["1y", "365", "12h", "3651d"] {
            let (found, _) = check(bad);
            assert_eq!(found.len(), 1, "{bad}: {found:?}");
            let (key, line, text) = &found[0];
            assert_eq!(
                (key.as_str(), *line),
                ("app_credential_expires_in", Some(2)),
                "{bad}"
            );
            assert!(text.contains("c.yaml"), "{bad}: {text}");
        }
        for good in ["never", "1d", "52w", "8760h"] {
            let (found, l) = check(good);
            assert_eq!(found, vec![], "{good}");
            assert_eq!(l.to_string(), good);
        }
        assert_eq!(
            Settings::default().app_credential_expires_in.hours(),
            Some(8760)
        );
    }

    #[test]
    fn starter_file_uncommented_gives_the_defaults() {
        let text = starter_file("demo");
        let uncommented: String = text
            .lines()
            .filter_map(|l| match l.strip_prefix('#') {
                Some(rest)
                    if rest.starts_with("  ")
                        || !rest.starts_with([' ', '#']) && !rest.is_empty() =>
                {
                    Some(rest)
                }
                Some(_) => None,
                None => Some(l),
            })
            .map(|l| format!("{l}\n"))
            .collect();
        let file = SourceFile {
            name: "demo.yaml".into(),
            bytes: uncommented.clone().into_bytes(),
        };
        let loaded = load(
            None,
            Some(&file),
            &[],
            validate::Options {
                is_cluster: true,
                ..Default::default()
            },
        );
        let errors: Vec<_> = loaded
            .diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .collect();
        assert!(errors.is_empty(), "{errors:#?}\n{uncommented}");
        let expected = Settings {
            cluster_name: Some("demo".into()),
            ..Settings::default()
        };
        assert_eq!(loaded.settings, expected);
        // Every key is present in the starter file.
        for key in layers::known_keys().iter().filter(|k| !k.contains('.')) {
            assert!(text.contains(&format!("{key}:")), "{key} missing");
        }
    }
}
