//! Layering: built-in defaults < management-wide defaults file < cluster file <
//! `SCS_CAPI_<KEY>` environment variables (env wins, as with clusterctl).
//!
//! Each layer is read into located entries and every entry is type-checked on its own,
//! so a file with five mistakes yields five diagnostics. The merge remembers which layer
//! set each key ([`Origin`]) for `render --explain` and for locating later findings.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::model::{SECTIONS, Settings};
use super::tree::{self, Located, Node, Pos};
use crate::error::{Diagnostic, Location};
use crate::render::Profile;

/// Prefix of the environment variables that override settings.
pub const ENV_PREFIX: &str = "SCS_CAPI_";

/// Variables with [`ENV_PREFIX`] that steer the tool itself rather than override a
/// setting; the settings layer skips them instead of calling them unknown keys.
pub const TOOL_ENV_VARS: &[&str] = &["SCS_CAPI_NO_PROGRESS", "SCS_CAPI_ADDON_MIRROR"];

/// Which layer a value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LayerKind {
    Builtin,
    Defaults,
    Cluster,
    Env,
}

impl LayerKind {
    pub fn describe(self) -> &'static str {
        match self {
            LayerKind::Builtin => "built-in default",
            LayerKind::Defaults => "defaults file",
            LayerKind::Cluster => "cluster file",
            LayerKind::Env => "environment",
        }
    }
}

/// One setting given by one layer.
#[derive(Debug, Clone)]
struct Entry {
    /// `key` or `section.key`.
    key: String,
    value: Value,
    loc: Location,
}

/// The entries of one source, each already type-checked.
#[derive(Debug, Clone)]
pub struct Layer {
    pub kind: LayerKind,
    /// Display name: the path as given, or `environment`.
    pub name: String,
    entries: Vec<Entry>,
}

/// A file's content as read from disk (or built in).
pub struct Input<'a> {
    pub name: &'a str,
    pub bytes: &'a [u8],
}

/// Where the merged value of a key came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub kind: LayerKind,
    pub loc: Location,
}

/// Settings after layering, with the origin of every key and the findings so far.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub settings: Settings,
    pub origins: BTreeMap<String, Origin>,
    pub diagnostics: Vec<Diagnostic>,
}

impl Loaded {
    /// The location to blame for a key (`etcd_defrag.schedule` falls back to
    /// `etcd_defrag` when the section was given as a whole).
    pub fn locate(&self, key: &str) -> Location {
        let mut k = key;
        loop {
            if let Some(o) = self.origins.get(k) {
                let mut loc = o.loc.clone();
                loc.key = Some(key.to_string());
                if o.kind == LayerKind::Env {
                    loc.key = o.loc.key.clone();
                }
                return loc;
            }
            match k.rsplit_once('.') {
                Some((parent, _)) => k = parent,
                None => return Location::file(LayerKind::Builtin.describe()).with_key(key),
            }
        }
    }
}

fn defaults_json(profile: Profile) -> Map<String, Value> {
    match serde_json::to_value(Settings::builtin(profile)) {
        Ok(Value::Object(m)) => m,
        _ => unreachable!("Settings serializes to a map"),
    }
}

/// Every top-level key, and the keys of each section.
pub fn known_keys() -> &'static [String] {
    static KEYS: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    KEYS.get_or_init(|| {
        let defaults = defaults_json(Profile::Default);
        let mut keys = Vec::new();
        for (k, v) in &defaults {
            keys.push(k.clone());
            if SECTIONS.contains(&k.as_str())
                && let Value::Object(sub) = v
            {
                keys.extend(sub.keys().map(|s| format!("{k}.{s}")));
            }
        }
        keys
    })
}

/// Reads one settings file into a layer.
pub fn read_file(kind: LayerKind, input: &Input) -> (Option<Layer>, Vec<Diagnostic>) {
    let file_loc = || Location::file(input.name);
    let text = match std::str::from_utf8(input.bytes) {
        Ok(t) => t,
        Err(e) => {
            let before = &input.bytes[..e.valid_up_to()];
            let line = before.iter().filter(|b| **b == b'\n').count() as u64 + 1;
            let column = (before.len()
                - before
                    .iter()
                    .rposition(|b| *b == b'\n')
                    .map_or(0, |i| i + 1)) as u64
                + 1;
            let loc = Location {
                line: Some(line),
                column: Some(column),
                ..file_loc()
            };
            return (
                None,
                vec![
                    Diagnostic::error(loc, "the file is not UTF-8 text")
                        .hint("settings files are YAML; check that the right file was given"),
                ],
            );
        }
    };
    if text
        .trim()
        .lines()
        .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))
    {
        return (
            None,
            vec![
                Diagnostic::error(file_loc(), "the settings file is empty").hint(
                    "write at least `cluster_name: NAME`, or create a complete file with `scs-capi settings init`",
                ),
            ],
        );
    }
    let root = match tree::parse(text) {
        Ok(root) => root,
        Err(e) => {
            let loc = Location {
                line: e.pos.map(|p| p.line),
                column: e.pos.map(|p| p.column),
                ..file_loc()
            };
            return (
                None,
                vec![Diagnostic::error(
                    loc,
                    format!("invalid YAML: {}", e.message),
                )],
            );
        }
    };
    let Node::Map(entries) = root.node else {
        let loc = located(input.name, root.pos, None);
        return (
            None,
            vec![
                Diagnostic::error(loc, "expected a mapping of settings (`key: value` lines)")
                    .hint("see `scs-capi settings init` for the layout"),
            ],
        );
    };
    let mut layer = Layer {
        kind,
        name: input.name.to_string(),
        entries: Vec::new(),
    };
    let mut diags = Vec::new();
    for (key, key_pos, value) in entries {
        check_entry(&mut layer, &mut diags, &key, key_pos, &value);
    }
    (Some(layer), diags)
}

fn located(file: &str, pos: Pos, key: Option<&str>) -> Location {
    Location {
        file: file.to_string(),
        line: Some(pos.line),
        column: Some(pos.column),
        key: key.map(str::to_string),
    }
}

fn check_entry(
    layer: &mut Layer,
    diags: &mut Vec<Diagnostic>,
    key: &str,
    key_pos: Pos,
    value: &Located,
) {
    let known = known_keys();
    if !known.iter().any(|k| k == key) {
        diags.push(unknown_key(
            located(&layer.name, key_pos, Some(key)),
            key,
            known,
        ));
        return;
    }
    if SECTIONS.contains(&key)
        && let Node::Map(sub) = &value.node
    {
        for (sub_key, sub_pos, sub_value) in sub {
            let full = format!("{key}.{sub_key}");
            let loc = located(&layer.name, *sub_pos, Some(&full));
            if !known.contains(&full) {
                diags.push(unknown_key(loc, &full, known));
                continue;
            }
            let json = sub_value.to_json();
            match type_check(&json!({ key: { sub_key: json.clone() } })) {
                Ok(()) => layer.entries.push(Entry {
                    key: full,
                    value: json,
                    loc: located(
                        &layer.name,
                        sub_value.pos,
                        Some(&format!("{key}.{sub_key}")),
                    ),
                }),
                Err(msg) => diags.push(type_error(
                    located(&layer.name, sub_value.pos, Some(&full)),
                    &msg,
                    &json,
                )),
            }
        }
        return;
    }
    let json = value.to_json();
    match type_check(&json!({ key: json.clone() })) {
        Ok(()) => layer.entries.push(Entry {
            key: key.to_string(),
            value: json,
            loc: located(&layer.name, value.pos, Some(key)),
        }),
        Err(msg) => diags.push(type_error(
            located(&layer.name, value.pos, Some(key)),
            &msg,
            &json,
        )),
    }
}

/// Deserializes a one-key settings object: the error, if any, concerns that key alone.
fn type_check(single: &Value) -> Result<(), String> {
    serde_json::from_value::<Settings>(single.clone())
        .map(|_| ())
        .map_err(|e| e.to_string())
}

fn type_error(loc: Location, msg: &str, value: &Value) -> Diagnostic {
    // serde names Rust types; users know numbers.
    let mut msg = msg.to_string();
    for ty in ["u8", "u32", "u64"] {
        msg = msg.replace(&format!("expected {ty}"), "expected a whole number");
    }
    let msg = msg.as_str();
    let d = Diagnostic::error(loc, msg.to_string());
    match value {
        Value::String(s)
            if msg.contains("expected a boolean")
                && ["yes", "no", "on", "off", "y", "n", "True", "False"].contains(&s.as_str()) =>
        {
            d.hint("booleans are `true` or `false` (YAML 1.2); `yes`/`no`/`on`/`off` are strings")
        }
        Value::Number(n) if msg.contains("expected a string") => d.hint(format!(
            "quote the value so YAML keeps it as text: `\"{n}\"`"
        )),
        Value::Null => d.hint("the value is empty; give one or remove the key to use the default"),
        _ => d,
    }
}

fn unknown_key(loc: Location, key: &str, known: &[String]) -> Diagnostic {
    let d = Diagnostic::error(loc, format!("unknown key `{key}`"));
    if let Some(mapped) = super::clusterctl_keys::settings_key_for(key) {
        return d.hint(format!(
            "`{key}` is a clusterctl.yaml key; here it is `{mapped}` (convert a whole file with `scs-capi settings import`)"
        ));
    }
    let best = known
        .iter()
        .map(|k| (strsim::jaro_winkler(key, k), k))
        .filter(|(score, _)| *score > 0.85)
        .max_by(|a, b| a.0.total_cmp(&b.0));
    match best {
        Some((_, k)) => d.hint(format!("did you mean `{k}`?")),
        None => d.hint("see `scs-capi settings init` or `scs-capi schema` for the known keys"),
    }
}

/// Reads the `SCS_CAPI_<KEY>` variables into a layer; values are YAML (`5`, `true`,
/// `[10.0.0.0/8]`), a section is given as a YAML mapping.
pub fn read_env<'a>(
    vars: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> (Layer, Vec<Diagnostic>) {
    let mut layer = Layer {
        kind: LayerKind::Env,
        name: LayerKind::Env.describe().to_string(),
        entries: Vec::new(),
    };
    let mut diags = Vec::new();
    let mut vars: Vec<_> = vars
        .into_iter()
        .filter(|(k, _)| k.starts_with(ENV_PREFIX) && !TOOL_ENV_VARS.contains(k))
        .collect();
    vars.sort();
    for (var, raw) in vars {
        let key = var[ENV_PREFIX.len()..].to_ascii_lowercase();
        let loc = Location::file(LayerKind::Env.describe()).with_key(var);
        let value = if raw.trim().is_empty() {
            Located {
                node: Node::Scalar(Value::String(String::new())),
                pos: Pos::default(),
            }
        } else {
            match tree::parse(raw) {
                Ok(v) => v,
                Err(e) => {
                    diags.push(Diagnostic::error(
                        loc,
                        format!("invalid YAML value: {}", e.message),
                    ));
                    continue;
                }
            }
        };
        let before = (layer.entries.len(), diags.len());
        check_entry(&mut layer, &mut diags, &key, Pos::default(), &value);
        // Environment findings point at the variable, not at a position in a file.
        for d in &mut diags[before.1..] {
            d.line = None;
            d.column = None;
            d.key = Some(var.to_string());
            d.file = LayerKind::Env.describe().to_string();
        }
        for e in &mut layer.entries[before.0..] {
            e.loc = loc.clone();
        }
    }
    (layer, diags)
}

/// Merges the layers in order over the built-in defaults of `profile`.
pub fn merge(layers: &[Layer], cluster_file_stem: Option<&str>, profile: Profile) -> Loaded {
    let mut merged = defaults_json(profile);
    let mut origins = BTreeMap::new();
    for layer in layers {
        for e in &layer.entries {
            match e.key.split_once('.') {
                Some((section, sub)) => {
                    if let Some(Value::Object(m)) = merged.get_mut(section) {
                        m.insert(sub.to_string(), e.value.clone());
                    }
                }
                None => {
                    merged.insert(e.key.clone(), e.value.clone());
                    // A whole section replaces the origins of its parts.
                    origins.retain(|k: &String, _| !k.starts_with(&format!("{}.", e.key)));
                }
            }
            origins.insert(
                e.key.clone(),
                Origin {
                    kind: layer.kind,
                    loc: e.loc.clone(),
                },
            );
        }
    }
    let mut diagnostics = Vec::new();
    let mut settings = match serde_json::from_value::<Settings>(Value::Object(merged)) {
        Ok(s) => s,
        Err(e) => {
            // Every entry passed on its own; this is a bug, not a user error.
            diagnostics.push(Diagnostic::error(
                Location::file("merged settings"),
                format!("internal error: merged settings do not deserialize: {e}"),
            ));
            Settings::builtin(profile)
        }
    };
    if settings.cluster_name.is_none()
        && let Some(stem) = cluster_file_stem
    {
        settings.cluster_name = Some(stem.to_string());
        if let Some(cluster) = layers.iter().find(|l| l.kind == LayerKind::Cluster) {
            origins.insert(
                "cluster_name".into(),
                Origin {
                    kind: LayerKind::Cluster,
                    loc: Location::file(&cluster.name).with_key("cluster_name"),
                },
            );
        }
    }
    Loaded {
        settings,
        origins,
        diagnostics,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(kind: LayerKind, name: &str, text: &str) -> (Option<Layer>, Vec<Diagnostic>) {
        read_file(
            kind,
            &Input {
                name,
                bytes: text.as_bytes(),
            },
        )
    }

    #[test]
    fn every_bad_key_is_reported_with_its_line() {
        let (_, diags) = layer(
            LayerKind::Cluster,
            "c.yaml",
            "worker_count: three\nworker_flavour: x\nanti_affinity: yes\netcd_defrag:\n  schedul: daily\n",
        );
        let found: Vec<_> = diags
            .iter()
            .map(|d| (d.line, d.key.clone().unwrap_or_default()))
            .collect();
        assert_eq!(
            found,
            vec![
                (Some(1), "worker_count".into()),
                (Some(2), "worker_flavour".into()),
                (Some(3), "anti_affinity".into()),
                (Some(5), "etcd_defrag.schedul".into()),
            ]
        );
        assert_eq!(
            diags[1].hint.as_deref(),
            Some("did you mean `worker_flavor`?")
        );
        assert!(diags[2].hint.as_deref().unwrap_or("").contains("YAML 1.2"));
    }

    #[test]
    fn layers_merge_and_remember_origins() {
        let (d, _) = layer(
            LayerKind::Defaults,
            "d.yaml",
            "prefix: scs\nworker_count: 5\netcd_defrag:\n  pause_seconds: 5\n",
        );
        let (c, _) = layer(
            LayerKind::Cluster,
            "c.yaml",
            "worker_count: 7\netcd_defrag:\n  backups_kept: 2\n",
        );
        let (e, diags) = read_env([("SCS_CAPI_PREFIX", "env"), ("HOME", "/root")]);
        assert!(diags.is_empty());
        let loaded = merge(&[d.unwrap(), c.unwrap(), e], Some("c"), Profile::Default);
        let s = &loaded.settings;
        assert_eq!((s.prefix.as_str(), s.worker_count), ("env", 7));
        assert_eq!(
            (s.etcd_defrag.pause_seconds, s.etcd_defrag.backups_kept),
            (5, 2)
        );
        assert_eq!(s.cluster_name.as_deref(), Some("c"));
        assert_eq!(loaded.origins["worker_count"].kind, LayerKind::Cluster);
        assert_eq!(loaded.origins["prefix"].kind, LayerKind::Env);
        assert_eq!(loaded.locate("etcd_defrag.pause_seconds").file, "d.yaml");
        assert_eq!(loaded.locate("calico_version").file, "built-in default");
    }

    #[test]
    fn env_values_are_typed_and_located_by_variable() {
        let (layer, diags) = read_env([
            ("SCS_CAPI_WORKER_COUNT", "many"),
            ("SCS_CAPI_NOPE", "1"),
            ("SCS_CAPI_NO_PROGRESS", "1"),
        ]);
        assert!(layer.entries.is_empty());
        assert_eq!(diags.len(), 2);
        assert!(
            diags
                .iter()
                .all(|d| d.file == "environment" && d.line.is_none())
        );
        assert_eq!(diags[1].key.as_deref(), Some("SCS_CAPI_WORKER_COUNT"));
    }

    #[test]
    fn r4_keys_get_a_pointer_to_import() {
        let (_, diags) = layer(LayerKind::Cluster, "c.yaml", "WORKER_MACHINE_COUNT: 3\n");
        assert!(
            diags[0]
                .hint
                .as_deref()
                .unwrap_or("")
                .contains("`worker_count`")
        );
    }
}
