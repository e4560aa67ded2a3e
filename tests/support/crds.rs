//! Validation of rendered manifests against the real upstream schemas.
//!
//! * Custom resources (CAPI core / kubeadm bootstrap / kubeadm control plane, CAPO) are
//!   validated against the unmodified upstream CRDs in `../shared/crds` (relative to the
//!   crate root; override with the env variable [`CRDS_DIR_ENV`]). The CRDs' structural
//!   `OpenAPI` v3 schemas are converted so that validation is as strict as an API server with
//!   `fieldValidation=Strict`:
//!   - an object schema with `properties`, without `additionalProperties` and without
//!     `x-kubernetes-preserve-unknown-fields: true` rejects unknown fields;
//!   - `x-kubernetes-int-or-string: true` means integer or string;
//!   - `nullable: true` admits `null`;
//!   - `x-kubernetes-list-type: set` items must be unique, `map` items must be unique by
//!     their `x-kubernetes-list-map-keys`;
//!   - `apiVersion`, `kind` and the top-level `metadata` are checked here, not by the CRD
//!     schema: `metadata.name` must be a DNS-1123 subdomain, `namespace` a DNS-1123 label,
//!     label/annotation keys qualified names, label values valid, no unknown metadata fields.
//!
//!   Not checked: CEL rules (`x-kubernetes-validations`) and the providers' admission
//!   webhooks. The `format`s `date-time`, `ipv4` and `uuid` are checked; `int32`, `int64`
//!   and `byte` are ignored. `pattern`s use the linear-time `regex` engine (RE2 like Go).
//! * Built-in kinds (`v1` `Secret`, `ConfigMap`, and any other kind of a `*.k8s.io` or
//!   dot-less group) are validated against the `-local-strict` JSON schemas shipped by the
//!   `PyPI` package `kubernetes-validate` ([`KUBERNETES_VALIDATE_PIN`]), found in the virtual
//!   environment named by [`VENV_ENV`] (default `<crate>/.venv-test`), newest Kubernetes
//!   version unless [`K8S_SCHEMA_VERSION_ENV`] picks one (e.g. `1.33`). When that package is
//!   missing, validating a built-in kind fails with an error telling how to install it.
//!   On top of the schema: `Secret.data` / `ConfigMap.binaryData` values must be base64,
//!   data keys must be valid config keys, and a `ConfigMap` key may not be in both maps.
//!
//! Errors are lines `"<kind>/<name>: <json pointer>: <message>"`; the pointer of the
//! object's root is written `/`.
#![allow(dead_code)] // every test binary uses another part of this module

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use jsonschema::error::ValidationErrorKind;
use jsonschema::{Draft, PatternOptions, ValidationError, Validator};
use serde_json::{Map, Value, json};

/// Env variable overriding the directory holding the CRD folders (default `<crate>/../shared/crds`).
pub const CRDS_DIR_ENV: &str = "SCS_TEST_CRDS_DIR";
/// Env variable naming the Python virtual environment with `kubernetes-validate`.
pub const VENV_ENV: &str = "SCS_TEST_VENV";
/// Env variable choosing the Kubernetes version of the core schemas (`1.33`, `v1.33.0`, ...).
pub const K8S_SCHEMA_VERSION_ENV: &str = "SCS_TEST_K8S_SCHEMA_VERSION";
/// The pip requirement that provides the core Kubernetes JSON schemas.
pub const KUBERNETES_VALIDATE_PIN: &str = "kubernetes-validate==1.37.0";

/// Longest message text kept per violation (schema errors can quote whole objects).
const MAX_MESSAGE: usize = 400;

/// CRD folders and the version taken from each, per profile.
fn profile_sources(profile: &str) -> &'static [(&'static str, &'static str)] {
    match profile {
        "default" => &[
            ("cluster-api-v1.14.0", "v1beta2"),
            ("cluster-api-provider-openstack-v0.14.7", "v1beta1"),
        ],
        "r4" => &[
            ("cluster-api-v1.3.5", "v1beta1"),
            ("cluster-api-provider-openstack-v0.7.1", "v1alpha6"),
        ],
        other => panic!("unknown CRD profile {other:?} (known: \"default\", \"r4\")"),
    }
}

/// The directory holding the CRD folders.
pub fn crds_dir() -> PathBuf {
    match std::env::var_os(CRDS_DIR_ENV) {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/crds"),
    }
}

/// The virtual environment that should hold `kubernetes-validate`.
pub fn venv_dir() -> PathBuf {
    match std::env::var_os(VENV_ENV) {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv-test"),
    }
}

struct CrdSchema {
    /// `<file>` and version, for messages.
    source: String,
    /// The converted (strict) JSON schema.
    schema: Value,
    validator: OnceLock<Result<Validator, String>>,
}

impl CrdSchema {
    fn validator(&self) -> Result<&Validator, &str> {
        self.validator
            .get_or_init(|| {
                jsonschema::options()
                    .with_draft(Draft::Draft4)
                    .should_validate_formats(true)
                    .with_pattern_options(PatternOptions::regex())
                    .build(&self.schema)
                    .map_err(|e| format!("schema of {} does not compile: {e}", self.source))
            })
            .as_ref()
            .map_err(String::as_str)
    }
}

/// The CRD schemas of one profile, plus (shared, loaded on first use) the core schemas.
pub struct CrdSet {
    profile: String,
    dir: PathBuf,
    /// (apiVersion, kind) -> schema of the version this profile uses.
    crds: BTreeMap<(String, String), CrdSchema>,
    /// (group, kind) -> every version the CRD files define (served ones), for messages.
    known_versions: BTreeMap<(String, String), BTreeSet<String>>,
}

impl CrdSet {
    /// Loads every CRD of the profile (`"default"` or `"r4"`).
    ///
    /// For each CRD the profile's version is taken (`v1beta2`/`v1beta1` for CAPI,
    /// `v1beta1`/`v1alpha6` for CAPO); a CRD that does not define that version at all
    /// (e.g. CAPO's `v1alpha1`-only `OpenStackServer`) contributes its served storage version.
    ///
    /// # Panics
    /// When the directory or a CRD file is missing or unreadable (this is test support).
    pub fn for_profile(profile: &str) -> CrdSet {
        let sources = profile_sources(profile);
        let dir = crds_dir();
        let mut crds = BTreeMap::new();
        let mut known_versions: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
        for (folder, version) in sources {
            let folder_path = dir.join(folder);
            let entries = fs::read_dir(&folder_path).unwrap_or_else(|e| {
                panic!(
                    "CRD folder {} is missing ({e}); the tests expect the upstream CRDs in \
                     <crate>/../shared/crds (see its README.md) or in ${CRDS_DIR_ENV}",
                    folder_path.display()
                )
            });
            let mut files: Vec<PathBuf> = entries
                .map(|e| e.expect("readable CRD folder entry").path())
                .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
                .collect();
            files.sort();
            assert!(
                !files.is_empty(),
                "no CRD files in {}",
                folder_path.display()
            );
            for file in files {
                load_crd_file(&file, version, &mut crds, &mut known_versions);
            }
        }
        CrdSet {
            profile: profile.to_owned(),
            dir,
            crds,
            known_versions,
        }
    }

    /// The same set for the whole test binary (loaded once per profile).
    pub fn shared(profile: &str) -> &'static CrdSet {
        static DEFAULT: OnceLock<CrdSet> = OnceLock::new();
        static R4: OnceLock<CrdSet> = OnceLock::new();
        match profile {
            "default" => DEFAULT.get_or_init(|| CrdSet::for_profile("default")),
            "r4" => R4.get_or_init(|| CrdSet::for_profile("r4")),
            other => panic!("unknown CRD profile {other:?} (known: \"default\", \"r4\")"),
        }
    }

    /// The profile name.
    pub fn profile(&self) -> &str {
        &self.profile
    }

    /// Every (apiVersion, kind) this set validates with a CRD.
    pub fn kinds(&self) -> Vec<(String, String)> {
        self.crds.keys().cloned().collect()
    }

    /// Compiles every CRD schema now; Err lists the ones that do not compile.
    pub fn compile_all(&self) -> Result<(), Vec<String>> {
        let errors: Vec<String> = self
            .crds
            .values()
            .filter_map(|c| c.validator().err().map(str::to_owned))
            .collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// Validates one object (apiVersion, kind, metadata, spec, ...).
    ///
    /// Err lists every violation as `"<kind>/<name>: <json pointer>: <message>"`. An object
    /// whose apiVersion/kind is served by no CRD of the set is an error; built-in kinds are
    /// validated against the core Kubernetes schemas (see the module docs).
    pub fn validate(&self, obj: &Value) -> Result<(), Vec<String>> {
        let mut errors = Vec::new();
        let kind = obj.get("kind").and_then(Value::as_str);
        let api_version = obj.get("apiVersion").and_then(Value::as_str);
        let name = obj.pointer("/metadata/name").and_then(Value::as_str);
        let label = format!(
            "{}/{}",
            kind.unwrap_or("<no kind>"),
            name.unwrap_or("<no name>")
        );
        if !obj.is_object() {
            return Err(vec![format!(
                "{label}: /: must be an object, got {}",
                type_name(obj)
            )]);
        }
        let (Some(api_version), Some(kind)) = (api_version, kind) else {
            for field in ["apiVersion", "kind"] {
                if obj
                    .get(field)
                    .and_then(Value::as_str)
                    .is_none_or(str::is_empty)
                {
                    errors.push(format!("{label}: /{field}: required string is missing"));
                }
            }
            return Err(errors);
        };
        let key = (api_version.to_owned(), kind.to_owned());
        if let Some(crd) = self.crds.get(&key) {
            check_metadata(obj.get("metadata"), true, &label, &mut errors);
            match crd.validator() {
                Ok(validator) => {
                    for e in validator.iter_errors(obj) {
                        push_schema_error(&label, &e, false, &mut errors);
                    }
                }
                Err(msg) => errors.push(format!("{label}: /: {msg}")),
            }
            check_list_types(&crd.schema, obj, "", &label, &mut errors);
        } else if is_builtin_api_version(api_version) {
            check_metadata(obj.get("metadata"), false, &label, &mut errors);
            match core_schemas() {
                Ok(core) => core.validate_into(api_version, kind, obj, &label, &mut errors),
                Err(msg) => errors.push(format!("{label}: /: {msg}")),
            }
        } else {
            errors.push(format!(
                "{label}: /apiVersion: {}",
                self.not_served(api_version, kind)
            ));
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// Validates every object, collecting all violations.
    pub fn validate_all<'a>(
        &self,
        objs: impl IntoIterator<Item = &'a Value>,
    ) -> Result<(), Vec<String>> {
        let errors: Vec<String> = objs
            .into_iter()
            .filter_map(|o| self.validate(o).err())
            .flatten()
            .collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    fn not_served(&self, api_version: &str, kind: &str) -> String {
        let group = api_version.rsplit_once('/').map_or("", |(g, _)| g);
        let in_profile: Vec<&str> = self
            .crds
            .keys()
            .filter(|(av, k)| k == kind && av.rsplit_once('/').map_or("", |(g, _)| g) == group)
            .map(|(av, _)| av.as_str())
            .collect();
        let mut msg = format!(
            "{api_version} {kind} is served by no CRD of profile {:?} ({})",
            self.profile,
            self.dir.display()
        );
        if !in_profile.is_empty() {
            let _ = write!(msg, "; this profile uses {}", in_profile.join(", "));
        } else if let Some(versions) = self
            .known_versions
            .get(&(group.to_owned(), kind.to_owned()))
        {
            let v: Vec<&str> = versions.iter().map(String::as_str).collect();
            let _ = write!(msg, "; the CRD files define versions {}", v.join(", "));
        } else {
            msg.push_str("; no CRD of that group and kind is loaded");
        }
        msg
    }
}

fn load_crd_file(
    file: &Path,
    version: &str,
    crds: &mut BTreeMap<(String, String), CrdSchema>,
    known_versions: &mut BTreeMap<(String, String), BTreeSet<String>>,
) {
    let text = fs::read_to_string(file)
        .unwrap_or_else(|e| panic!("cannot read CRD file {}: {e}", file.display()));
    let docs: Vec<Value> = serde_saphyr::from_str_multiple(&text)
        .unwrap_or_else(|e| panic!("cannot parse CRD file {}: {e}", file.display()));
    for doc in docs {
        if doc.get("kind").and_then(Value::as_str) != Some("CustomResourceDefinition") {
            continue;
        }
        let group = doc.pointer("/spec/group").and_then(Value::as_str);
        let kind = doc.pointer("/spec/names/kind").and_then(Value::as_str);
        let versions = doc.pointer("/spec/versions").and_then(Value::as_array);
        let (Some(group), Some(kind), Some(versions)) = (group, kind, versions) else {
            panic!(
                "CRD in {} lacks spec.group, spec.names.kind or spec.versions",
                file.display()
            );
        };
        let served = |v: &&Value| v.get("served").and_then(Value::as_bool) != Some(false);
        let name_of = |v: &Value| {
            v.get("name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned()
        };
        known_versions
            .entry((group.to_owned(), kind.to_owned()))
            .or_default()
            .extend(versions.iter().filter(served).map(name_of));
        let chosen = versions
            .iter()
            .filter(served)
            .find(|v| v.get("name").and_then(Value::as_str) == Some(version))
            .or_else(|| {
                // Only when the CRD has no such version at all: its served storage version.
                let defines = versions
                    .iter()
                    .any(|v| v.get("name").and_then(Value::as_str) == Some(version));
                (!defines).then(|| {
                    versions
                        .iter()
                        .filter(served)
                        .find(|v| v.get("storage").and_then(Value::as_bool) == Some(true))
                })?
            });
        let Some(chosen) = chosen else { continue };
        let chosen_name = name_of(chosen);
        let Some(schema) = chosen.pointer("/schema/openAPIV3Schema") else {
            panic!(
                "{kind} {chosen_name} in {} has no openAPIV3Schema",
                file.display()
            );
        };
        let file_name = file
            .file_name()
            .map_or_else(String::new, |f| f.to_string_lossy().into_owned());
        crds.insert(
            (format!("{group}/{chosen_name}"), kind.to_owned()),
            CrdSchema {
                source: format!("{file_name} ({chosen_name})"),
                schema: convert_root(schema),
                validator: OnceLock::new(),
            },
        );
    }
}

// ---------------------------------------------------------------------------------------
// Structural schema -> strict JSON schema

fn convert_root(schema: &Value) -> Value {
    let mut schema = schema.clone();
    convert_node(&mut schema, false);
    let obj = schema
        .as_object_mut()
        .expect("openAPIV3Schema is an object");
    let props = obj
        .entry("properties")
        .or_insert_with(|| json!({}))
        .as_object_mut()
        .expect("properties is an object");
    // apiVersion, kind and metadata are the API server's business, checked in `validate`.
    props.insert("apiVersion".into(), json!({"type": "string"}));
    props.insert("kind".into(), json!({"type": "string"}));
    props.insert("metadata".into(), json!({"type": "object"}));
    if !obj.contains_key("additionalProperties") {
        obj.insert("additionalProperties".into(), Value::Bool(false));
    }
    schema
}

fn is_true(obj: &Map<String, Value>, key: &str) -> bool {
    obj.get(key).and_then(Value::as_bool) == Some(true)
}

/// Converts one schema node in place. `in_value_validation` is set below
/// `allOf`/`anyOf`/`oneOf`/`not`, where a structural schema only restricts values and
/// must not close objects.
fn convert_node(node: &mut Value, in_value_validation: bool) {
    let Some(obj) = node.as_object_mut() else {
        return;
    };
    let nullable = is_true(obj, "nullable");
    if is_true(obj, "x-kubernetes-int-or-string") {
        obj.remove("type");
        let mut alternatives = vec![json!({"type": "integer"}), json!({"type": "string"})];
        if nullable {
            alternatives.push(json!({"type": "null"}));
        }
        // controller-gen already writes this anyOf; replace it by the canonical one.
        obj.insert("anyOf".into(), Value::Array(alternatives));
    } else if nullable {
        if let Some(Value::String(t)) = obj.get("type").cloned() {
            obj.insert("type".into(), json!([t, "null"]));
        }
        if let Some(Value::Array(values)) = obj.get_mut("enum")
            && !values.contains(&Value::Null)
        {
            values.push(Value::Null);
        }
    }
    if obj.get("x-kubernetes-list-type").and_then(Value::as_str) == Some("set") {
        obj.insert("uniqueItems".into(), Value::Bool(true));
    }
    let has_properties = obj.get("properties").is_some_and(Value::is_object);
    if has_properties
        && !in_value_validation
        && !is_true(obj, "x-kubernetes-preserve-unknown-fields")
        && !obj.contains_key("additionalProperties")
    {
        if is_true(obj, "x-kubernetes-embedded-resource") {
            let props = obj["properties"].as_object_mut().expect("checked above");
            for field in ["apiVersion", "kind"] {
                props
                    .entry(field)
                    .or_insert_with(|| json!({"type": "string"}));
            }
            props
                .entry("metadata")
                .or_insert_with(|| json!({"type": "object"}));
        }
        obj.insert("additionalProperties".into(), Value::Bool(false));
    }
    if let Some(Value::Object(props)) = obj.get_mut("properties") {
        for child in props.values_mut() {
            convert_node(child, in_value_validation);
        }
    }
    for key in ["additionalProperties", "items", "not"] {
        let value_validation = in_value_validation || key == "not";
        match obj.get_mut(key) {
            Some(child @ Value::Object(_)) => convert_node(child, value_validation),
            Some(Value::Array(children)) => {
                for child in children {
                    convert_node(child, value_validation);
                }
            }
            _ => {}
        }
    }
    for key in ["allOf", "anyOf", "oneOf"] {
        if let Some(Value::Array(children)) = obj.get_mut(key) {
            for child in children {
                convert_node(child, true);
            }
        }
    }
}

/// `x-kubernetes-list-type: map`: items must be unique by their list-map-keys.
fn check_list_types(
    schema: &Value,
    value: &Value,
    ptr: &str,
    label: &str,
    errors: &mut Vec<String>,
) {
    let Some(schema) = schema.as_object() else {
        return;
    };
    match value {
        Value::Object(fields) => {
            let props = schema.get("properties").and_then(Value::as_object);
            let additional = schema.get("additionalProperties").filter(|v| v.is_object());
            for (name, child) in fields {
                let child_schema = props.and_then(|p| p.get(name)).or(additional);
                if let Some(child_schema) = child_schema {
                    let child_ptr = format!("{ptr}/{}", escape_pointer(name));
                    check_list_types(child_schema, child, &child_ptr, label, errors);
                }
            }
        }
        Value::Array(items) => {
            let item_schema = schema.get("items");
            if schema.get("x-kubernetes-list-type").and_then(Value::as_str) == Some("map") {
                let keys: Vec<&str> = schema
                    .get("x-kubernetes-list-map-keys")
                    .and_then(Value::as_array)
                    .map(|k| k.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                let mut seen: HashMap<String, usize> = HashMap::new();
                for (i, item) in items.iter().enumerate() {
                    let tuple: Vec<String> = keys
                        .iter()
                        .map(|k| {
                            let v = item.get(*k).or_else(|| {
                                item_schema.and_then(|s| {
                                    s.pointer(&format!("/properties/{}/default", escape_pointer(k)))
                                })
                            });
                            format!(
                                "{k}={}",
                                v.map_or_else(|| "<missing>".to_owned(), Value::to_string)
                            )
                        })
                        .collect();
                    let tuple = tuple.join(",");
                    if let Some(first) = seen.insert(tuple.clone(), i) {
                        errors.push(format!(
                            "{label}: {ptr}/{i}: duplicate entry of list-type map [{tuple}] (same keys as item {first})"
                        ));
                    }
                }
            }
            if let Some(item_schema) = item_schema {
                for (i, item) in items.iter().enumerate() {
                    check_list_types(item_schema, item, &format!("{ptr}/{i}"), label, errors);
                }
            }
        }
        _ => {}
    }
}

// ---------------------------------------------------------------------------------------
// Errors

fn escape_pointer(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

fn display_pointer(ptr: &str) -> &str {
    if ptr.is_empty() { "/" } else { ptr }
}

fn truncate(mut s: String) -> String {
    if s.len() > MAX_MESSAGE {
        let mut cut = MAX_MESSAGE;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push_str("...");
    }
    s
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn push_schema_error(label: &str, e: &ValidationError<'_>, mask: bool, errors: &mut Vec<String>) {
    let ptr = e.instance_path().as_str();
    if let ValidationErrorKind::AdditionalProperties { unexpected } = e.kind() {
        for field in unexpected {
            errors.push(format!(
                "{label}: {ptr}/{}: unknown field {field:?}",
                escape_pointer(field)
            ));
        }
        return;
    }
    // Long values (file contents, whole objects) would bury the reason: leave them out.
    let long_value = e.instance().to_string().len() > 120;
    let message = if mask || long_value {
        e.masked().to_string()
    } else {
        e.to_string()
    };
    errors.push(format!(
        "{label}: {}: {}",
        display_pointer(ptr),
        truncate(message)
    ));
}

// ---------------------------------------------------------------------------------------
// metadata (what the API server checks itself)

const OBJECT_META_FIELDS: &[&str] = &[
    "name",
    "generateName",
    "namespace",
    "selfLink",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "labels",
    "annotations",
    "ownerReferences",
    "finalizers",
    "managedFields",
];

/// DNS-1123 label: at most 63 lower-case alphanumerics or '-', alphanumeric at both ends.
pub fn is_dns1123_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

/// DNS-1123 subdomain: at most 253 characters, '.'-separated parts like labels.
pub fn is_dns1123_subdomain(s: &str) -> bool {
    s.len() <= 253
        && s.split('.').all(|part| {
            let b = part.as_bytes();
            !b.is_empty()
                && b.iter()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
                && b[0] != b'-'
                && b[b.len() - 1] != b'-'
        })
}

/// The name part of a qualified name: `([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]`, <= 63.
fn is_qualified_name_part(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
}

/// A label or annotation key: `[prefix/]name`, prefix a DNS-1123 subdomain.
pub fn is_qualified_name(s: &str) -> bool {
    match s.split_once('/') {
        Some((prefix, name)) => is_dns1123_subdomain(prefix) && is_qualified_name_part(name),
        None => is_qualified_name_part(s),
    }
}

/// A label value: empty, or a qualified name part.
pub fn is_label_value(s: &str) -> bool {
    s.is_empty() || is_qualified_name_part(s)
}

fn check_metadata(meta: Option<&Value>, check_fields: bool, label: &str, errors: &mut Vec<String>) {
    let Some(meta) = meta else {
        errors.push(format!("{label}: /metadata: required object is missing"));
        return;
    };
    let Some(meta) = meta.as_object() else {
        errors.push(format!(
            "{label}: /metadata: must be an object, got {}",
            type_name(meta)
        ));
        return;
    };
    match meta.get("name") {
        None => errors.push(format!(
            "{label}: /metadata/name: required (rendered objects must be named)"
        )),
        Some(Value::String(name)) => {
            if !is_dns1123_subdomain(name) {
                errors.push(format!(
                    "{label}: /metadata/name: {name:?} is not a DNS-1123 subdomain (lower-case \
                     alphanumerics, '-' and '.', alphanumeric at both ends, at most 253 characters)"
                ));
            }
        }
        Some(other) => errors.push(format!(
            "{label}: /metadata/name: must be a string, got {}",
            type_name(other)
        )),
    }
    match meta.get("namespace") {
        None | Some(Value::Null) => {}
        Some(Value::String(ns)) if is_dns1123_label(ns) => {}
        Some(other) => errors.push(format!(
            "{label}: /metadata/namespace: {other} is not a DNS-1123 label"
        )),
    }
    for field in ["labels", "annotations"] {
        match meta.get(field) {
            None | Some(Value::Null) => {}
            Some(Value::Object(map)) => {
                let mut total = 0;
                for (key, value) in map {
                    let ptr = format!("/metadata/{field}/{}", escape_pointer(key));
                    if !is_qualified_name(key) {
                        errors.push(format!(
                            "{label}: {ptr}: key {key:?} is not a qualified name"
                        ));
                    }
                    match value {
                        Value::String(v) => {
                            total += key.len() + v.len();
                            if field == "labels" && !is_label_value(v) {
                                errors.push(format!(
                                    "{label}: {ptr}: {v:?} is not a valid label value"
                                ));
                            }
                        }
                        other => errors.push(format!(
                            "{label}: {ptr}: must be a string, got {}",
                            type_name(other)
                        )),
                    }
                }
                if field == "annotations" && total > 256 * 1024 {
                    errors.push(format!(
                        "{label}: /metadata/annotations: total size {total} exceeds 262144 bytes"
                    ));
                }
            }
            Some(other) => {
                errors.push(format!(
                    "{label}: /metadata/{field}: must be an object, got {}",
                    type_name(other)
                ));
            }
        }
    }
    if check_fields {
        for key in meta.keys() {
            if !OBJECT_META_FIELDS.contains(&key.as_str()) {
                errors.push(format!(
                    "{label}: /metadata/{}: unknown field {key:?}",
                    escape_pointer(key)
                ));
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Core (built-in) kinds, from the `kubernetes-validate` package

/// Whether the apiVersion belongs to Kubernetes itself (`v1`, `apps/v1`, `*.k8s.io/...`),
/// not to an extension such as `*.x-k8s.io`.
pub fn is_builtin_api_version(api_version: &str) -> bool {
    match api_version.rsplit_once('/') {
        None => true,
        Some((group, _)) => !group.contains('.') || group.ends_with(".k8s.io"),
    }
}

fn install_hint(venv: &Path) -> String {
    format!(
        "install it with `python3 -m venv {v} && {v}/bin/pip install {KUBERNETES_VALIDATE_PIN}` \
         (or point ${VENV_ENV} at a virtual environment that has it)",
        v = venv.display()
    )
}

fn core_schemas() -> Result<&'static CoreSchemas, &'static str> {
    static CORE: OnceLock<Result<CoreSchemas, String>> = OnceLock::new();
    CORE.get_or_init(|| CoreSchemas::load(&venv_dir()))
        .as_ref()
        .map_err(String::as_str)
}

/// (apiVersion, kind).
type GroupVersionKind = (String, String);

/// Core Kubernetes JSON schemas of one version (`<venv>/lib/python*/site-packages/
/// kubernetes_validate/kubernetes-json-schema/vX.Y.Z-local-strict`).
pub struct CoreSchemas {
    dir: PathBuf,
    definitions: Map<String, Value>,
    validators: Mutex<HashMap<GroupVersionKind, Option<Arc<Validator>>>>,
}

impl CoreSchemas {
    /// Finds the schemas in the virtual environment `venv`; Err tells how to install them.
    pub fn load(venv: &Path) -> Result<CoreSchemas, String> {
        let root = find_schema_root(venv).ok_or_else(|| {
            format!(
                "the core Kubernetes JSON schemas (PyPI {KUBERNETES_VALIDATE_PIN}) are not in {}: {}",
                venv.display(),
                install_hint(venv)
            )
        })?;
        let dir = pick_version_dir(&root)?;
        let defs_file = dir.join("_definitions.json");
        let text = fs::read_to_string(&defs_file).map_err(|e| {
            format!(
                "cannot read {}: {e}; {}",
                defs_file.display(),
                install_hint(venv)
            )
        })?;
        let mut doc: Value = serde_json::from_str(&text)
            .map_err(|e| format!("cannot parse {}: {e}", defs_file.display()))?;
        let Some(Value::Object(definitions)) = doc.get_mut("$defs").map(Value::take) else {
            return Err(format!("{} has no $defs", defs_file.display()));
        };
        Ok(CoreSchemas {
            dir,
            definitions,
            validators: Mutex::new(HashMap::new()),
        })
    }

    /// The folder the schemas are read from.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Validates a built-in object; Err as [`CrdSet::validate`] (metadata is checked by the schema).
    pub fn validate(&self, obj: &Value) -> Result<(), Vec<String>> {
        let kind = obj
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or("<no kind>");
        let api_version = obj
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or("<no apiVersion>");
        let name = obj
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("<no name>");
        let label = format!("{kind}/{name}");
        let mut errors = Vec::new();
        self.validate_into(api_version, kind, obj, &label, &mut errors);
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    fn validate_into(
        &self,
        api_version: &str,
        kind: &str,
        obj: &Value,
        label: &str,
        errors: &mut Vec<String>,
    ) {
        let validator = match self.validator(api_version, kind) {
            Ok(Some(v)) => v,
            Ok(None) => {
                errors.push(format!(
                    "{label}: /apiVersion: {api_version} {kind} is not a built-in kind of the schemas in {}",
                    self.dir.display()
                ));
                return;
            }
            Err(msg) => {
                errors.push(format!("{label}: /: {msg}"));
                return;
            }
        };
        // Secret values must not end up in test output.
        let mask = kind == "Secret";
        for e in validator.iter_errors(obj) {
            push_schema_error(label, &e, mask, errors);
        }
        if api_version == "v1" && (kind == "Secret" || kind == "ConfigMap") {
            check_data_maps(kind, obj, label, errors);
        }
    }

    fn validator(&self, api_version: &str, kind: &str) -> Result<Option<Arc<Validator>>, String> {
        let key = (api_version.to_owned(), kind.to_owned());
        let mut cache = self
            .validators
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(v) = cache.get(&key) {
            return Ok(v.clone());
        }
        let compiled = self.compile(api_version, kind)?.map(Arc::new);
        cache.insert(key, compiled.clone());
        Ok(compiled)
    }

    fn compile(&self, api_version: &str, kind: &str) -> Result<Option<Validator>, String> {
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        let short_group = group.split('.').next().unwrap_or("");
        let file_name = if group.is_empty() {
            format!("{}-{version}.json", kind.to_ascii_lowercase())
        } else {
            format!("{}-{short_group}-{version}.json", kind.to_ascii_lowercase())
        };
        let file = self.dir.join(&file_name);
        let Ok(text) = fs::read_to_string(&file) else {
            return Ok(None);
        };
        let mut schema: Value = serde_json::from_str(&text)
            .map_err(|e| format!("cannot parse {}: {e}", file.display()))?;
        // The file must really be this group/version/kind.
        let gvk_matches = schema
            .get("x-kubernetes-group-version-kind")
            .and_then(Value::as_array)
            .is_some_and(|list| {
                list.iter().any(|g| {
                    g.get("group").and_then(Value::as_str) == Some(group)
                        && g.get("version").and_then(Value::as_str) == Some(version)
                        && g.get("kind").and_then(Value::as_str) == Some(kind)
                })
            });
        if !gvk_matches {
            return Ok(None);
        }
        // Inline the referenced definitions: every `..._definitions.json#/$defs/X` becomes `#/$defs/X`.
        rewrite_refs(&mut schema).map_err(|e| format!("{}: {e}", file.display()))?;
        let mut defs = Map::new();
        let mut pending = Vec::new();
        collect_def_refs(&schema, &mut pending);
        while let Some(name) = pending.pop() {
            if defs.contains_key(&name) {
                continue;
            }
            let mut def =
                self.definitions.get(&name).cloned().ok_or_else(|| {
                    format!("{}: $ref to unknown definition {name}", file.display())
                })?;
            rewrite_refs(&mut def).map_err(|e| format!("_definitions.json {name}: {e}"))?;
            collect_def_refs(&def, &mut pending);
            defs.insert(name, def);
        }
        let obj = schema
            .as_object_mut()
            .ok_or_else(|| format!("{} is not an object", file.display()))?;
        obj.remove("$id");
        obj.insert("$defs".into(), Value::Object(defs));
        jsonschema::options()
            .with_draft(Draft::Draft202012)
            .should_validate_formats(true)
            .with_pattern_options(PatternOptions::regex())
            .build(&schema)
            .map(Some)
            .map_err(|e| format!("core schema {} does not compile: {e}", file.display()))
    }
}

fn find_schema_root(venv: &Path) -> Option<PathBuf> {
    let mut candidates = Vec::new();
    for lib in ["lib", "lib64", "Lib"] {
        let Ok(entries) = fs::read_dir(venv.join(lib)) else {
            continue;
        };
        for entry in entries.flatten() {
            let python = entry.path();
            candidates
                .push(python.join("site-packages/kubernetes_validate/kubernetes-json-schema"));
        }
        candidates.push(
            venv.join(lib)
                .join("site-packages/kubernetes_validate/kubernetes-json-schema"),
        );
    }
    candidates.sort();
    candidates.into_iter().find(|p| p.is_dir())
}

/// `vX.Y.Z-local-strict` -> (X, Y, Z).
fn parse_version_dir(name: &str) -> Option<(u32, u32, u32)> {
    let v = name.strip_prefix('v')?.strip_suffix("-local-strict")?;
    let mut parts = v.split('.').map(str::parse::<u32>);
    let version = (
        parts.next()?.ok()?,
        parts.next()?.ok()?,
        parts.next().unwrap_or(Ok(0)).ok()?,
    );
    Some(version)
}

fn pick_version_dir(root: &Path) -> Result<PathBuf, String> {
    let mut versions: Vec<((u32, u32, u32), PathBuf)> = fs::read_dir(root)
        .map_err(|e| format!("cannot list {}: {e}", root.display()))?
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            parse_version_dir(&name).map(|v| (v, e.path()))
        })
        .collect();
    versions.sort();
    let wanted = std::env::var(K8S_SCHEMA_VERSION_ENV)
        .ok()
        .filter(|s| !s.is_empty());
    let found = match &wanted {
        None => versions.last(),
        Some(w) => {
            let w = w.trim_start_matches('v');
            let mut nums = w.split('.').map(|n| n.parse::<u32>().ok());
            let (major, minor) = (nums.next().flatten(), nums.next().flatten());
            versions
                .iter()
                .rev()
                .find(|((a, b, _), _)| Some(*a) == major && Some(*b) == minor)
        }
    };
    found.map(|(_, p)| p.clone()).ok_or_else(|| {
        let have: Vec<String> = versions
            .iter()
            .map(|((a, b, c), _)| format!("{a}.{b}.{c}"))
            .collect();
        format!(
            "no -local-strict schema folder{} in {} (have: {})",
            wanted.map_or_else(String::new, |w| format!(
                " for ${K8S_SCHEMA_VERSION_ENV}={w}"
            )),
            root.display(),
            have.join(", ")
        )
    })
}

fn rewrite_refs(node: &mut Value) -> Result<(), String> {
    match node {
        Value::Object(obj) => {
            if let Some(Value::String(r)) = obj.get_mut("$ref") {
                let (file, fragment) = r.split_once('#').unwrap_or((r.as_str(), ""));
                if !(file.is_empty() || file.ends_with("_definitions.json")) {
                    return Err(format!("unsupported $ref {r:?}"));
                }
                *r = format!("#{fragment}");
            }
            obj.values_mut().try_for_each(rewrite_refs)
        }
        Value::Array(items) => items.iter_mut().try_for_each(rewrite_refs),
        _ => Ok(()),
    }
}

fn collect_def_refs(node: &Value, out: &mut Vec<String>) {
    match node {
        Value::Object(obj) => {
            if let Some(name) = obj
                .get("$ref")
                .and_then(Value::as_str)
                .and_then(|r| r.strip_prefix("#/$defs/"))
            {
                out.push(name.replace("~1", "/").replace("~0", "~"));
            }
            obj.values().for_each(|v| collect_def_refs(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| collect_def_refs(v, out)),
        _ => {}
    }
}

/// Go's `encoding/json` []byte: standard base64 with padding (CR/LF ignored).
fn is_std_base64(s: &str) -> bool {
    let b: Vec<u8> = s.bytes().filter(|c| *c != b'\r' && *c != b'\n').collect();
    if !b.len().is_multiple_of(4) {
        return false;
    }
    let pad = b.iter().rev().take_while(|c| **c == b'=').count();
    pad <= 2
        && b[..b.len() - pad]
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || *c == b'+' || *c == b'/')
}

/// Secret/ConfigMap keys: `[-._a-zA-Z0-9]+`, at most 253 characters, not `.` or `..`.
fn is_config_key(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s != "."
        && s != ".."
        && s.bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
}

fn check_data_maps(kind: &str, obj: &Value, label: &str, errors: &mut Vec<String>) {
    let (plain, binary) = if kind == "Secret" {
        ("stringData", "data")
    } else {
        ("data", "binaryData")
    };
    let mut seen: BTreeMap<&str, &str> = BTreeMap::new();
    let mut total = 0usize;
    for field in [binary, plain] {
        let Some(map) = obj.get(field).and_then(Value::as_object) else {
            continue;
        };
        for (key, value) in map {
            let ptr = format!("/{field}/{}", escape_pointer(key));
            if !is_config_key(key) {
                errors.push(format!(
                    "{label}: {ptr}: key {key:?} must consist of alphanumerics, '-', '_' or '.'"
                ));
            }
            if let Some(s) = value.as_str() {
                total += s.len();
                if field == binary && !is_std_base64(s) {
                    errors.push(format!(
                        "{label}: {ptr}: value is not valid (padded, standard) base64"
                    ));
                }
            }
            if kind == "ConfigMap"
                && let Some(other) = seen.insert(key, field)
            {
                errors.push(format!("{label}: {ptr}: key {key:?} is also in {other}"));
            }
        }
    }
    if total > 1024 * 1024 {
        errors.push(format!(
            "{label}: /: data of {total} bytes exceeds the 1 MiB limit"
        ));
    }
}
