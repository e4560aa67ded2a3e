//! Kubernetes manifests as data: multi-document YAML parsed into JSON objects (what
//! server-side apply sends), `List` kinds flattened, and the labels that mark an object as
//! belonging to one addon of this tool.

use serde_json::{Map, Value};

/// Label naming the addon an object belongs to; removing an addon deletes what carries it.
pub const ADDON_LABEL: &str = "addons.scs-capi.io/name";
/// Standard label naming the tool that manages the object.
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
/// Value of [`MANAGED_BY_LABEL`].
pub const MANAGED_BY: &str = "scs-capi";

/// A manifest that is not what Kubernetes accepts.
#[derive(Debug, thiserror::Error)]
#[error("{source_name}: {message}")]
pub struct ManifestError {
    /// Where it came from (URL or file name).
    pub source_name: String,
    pub message: String,
}

/// Parses the YAML documents of `text` into objects: empty documents are skipped, `List`
/// kinds (`v1/List`, `*List`) are flattened, and every object must have `apiVersion`,
/// `kind` and `metadata.name`.
///
/// # Errors
/// YAML that does not parse, or a document that is not a Kubernetes object.
pub fn parse(source_name: &str, text: &str) -> Result<Vec<Value>, ManifestError> {
    let err = |message: String| ManifestError {
        source_name: source_name.to_string(),
        message,
    };
    let docs: Vec<Value> =
        serde_saphyr::from_multiple(text).map_err(|e| err(format!("invalid YAML: {e}")))?;
    let mut objects = Vec::new();
    for (index, doc) in docs.into_iter().enumerate() {
        flatten(doc, &mut objects).map_err(|m| err(format!("document {}: {m}", index + 1)))?;
    }
    Ok(objects)
}

fn flatten(doc: Value, out: &mut Vec<Value>) -> Result<(), String> {
    match doc {
        Value::Null => Ok(()),
        Value::Object(map) => {
            let kind = map.get("kind").and_then(Value::as_str).unwrap_or_default();
            if kind.ends_with("List") && map.get("items").is_some_and(Value::is_array) {
                let Some(Value::Array(items)) = map.get("items").cloned() else {
                    return Ok(());
                };
                for item in items {
                    flatten(item, out)?;
                }
                return Ok(());
            }
            check_object(&map)?;
            out.push(Value::Object(map));
            Ok(())
        }
        other => Err(format!(
            "expected a Kubernetes object, found {}",
            type_name(&other)
        )),
    }
}

fn check_object(map: &Map<String, Value>) -> Result<(), String> {
    for key in ["apiVersion", "kind"] {
        if map
            .get(key)
            .is_none_or(|v| v.as_str().is_none_or(str::is_empty))
        {
            return Err(format!("missing `{key}`"));
        }
    }
    let name = map
        .get("metadata")
        .and_then(|m| m.get("name"))
        .and_then(Value::as_str);
    if name.is_none_or(str::is_empty) {
        return Err(format!(
            "{} without `metadata.name`",
            map.get("kind").and_then(Value::as_str).unwrap_or_default()
        ));
    }
    Ok(())
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

/// `apiVersion`, `kind`, namespace and name of an object, for messages and identity.
pub fn identity(obj: &Value) -> String {
    let s = |p: &str| obj.pointer(p).and_then(Value::as_str).unwrap_or_default();
    let ns = s("/metadata/namespace");
    let name = s("/metadata/name");
    let path = if ns.is_empty() {
        name.to_string()
    } else {
        format!("{ns}/{name}")
    };
    format!("{} {} {path}", s("/apiVersion"), s("/kind"))
}

/// Sets `metadata.labels[key] = value`, creating the maps as needed.
pub fn set_label(obj: &mut Value, key: &str, value: &str) {
    if let Some(labels) = ensure_map(obj, &["metadata", "labels"]) {
        labels.insert(key.to_string(), Value::String(value.to_string()));
    }
}

/// The mapping at `path` below `obj`, created when absent; `None` when something on the
/// way is not a mapping (the object is left unchanged then).
pub fn ensure_map<'a>(obj: &'a mut Value, path: &[&str]) -> Option<&'a mut Map<String, Value>> {
    let mut cur = obj;
    for key in path {
        let map = cur.as_object_mut()?;
        cur = map
            .entry(key.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
    }
    cur.as_object_mut()
}

/// Marks every object as belonging to `addon` (and managed by this tool).
pub fn label_all(objects: &mut [Value], addon: &str) {
    for obj in objects {
        set_label(obj, ADDON_LABEL, addon);
        set_label(obj, MANAGED_BY_LABEL, MANAGED_BY);
    }
}

/// Objects of `kind` (any group) named `name`.
pub fn find_mut<'a>(
    objects: &'a mut [Value],
    kind: &'a str,
    name: &'a str,
) -> impl Iterator<Item = &'a mut Value> + 'a {
    objects.iter_mut().filter(move |o| {
        o.get("kind").and_then(Value::as_str) == Some(kind)
            && o.pointer("/metadata/name").and_then(Value::as_str) == Some(name)
    })
}

/// The containers (and init containers) of a workload object's pod template.
pub fn containers_mut(obj: &mut Value) -> impl Iterator<Item = &mut Map<String, Value>> {
    let spec = obj
        .pointer_mut("/spec/template/spec")
        .and_then(Value::as_object_mut);
    let mut all: Vec<&mut Map<String, Value>> = Vec::new();
    if let Some(spec) = spec {
        for (key, list) in spec.iter_mut() {
            if (key == "containers" || key == "initContainers")
                && let Some(items) = list.as_array_mut()
            {
                all.extend(items.iter_mut().filter_map(Value::as_object_mut));
            }
        }
    }
    all.into_iter()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_documents_flattens_lists_and_skips_empty_ones() {
        let text = "---\napiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\n---\n\
                    apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: ConfigMap, metadata: {name: b, namespace: a}}\n";
        let objs = parse("t.yaml", text).unwrap();
        let ids: Vec<_> = objs.iter().map(identity).collect();
        assert_eq!(ids, ["v1 Namespace a", "v1 ConfigMap a/b"]);
    }

    #[test]
    fn rejects_what_is_not_an_object_naming_the_document() {
        let e = parse(
            "u",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\n- x\n",
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "u: document 2: expected a Kubernetes object, found a list"
        );
        let e = parse("u", "kind: ConfigMap\nmetadata: {name: a}\n").unwrap_err();
        assert!(e.to_string().contains("missing `apiVersion`"), "{e}");
        let e = parse("u", "apiVersion: v1\nkind: ConfigMap\nmetadata: {}\n").unwrap_err();
        assert!(
            e.to_string().contains("ConfigMap without `metadata.name`"),
            "{e}"
        );
        assert!(
            parse("u", "a: [\n")
                .unwrap_err()
                .to_string()
                .starts_with("u: invalid YAML")
        );
    }

    #[test]
    fn labels_are_added_without_touching_existing_ones() {
        let mut objs = vec![json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "s", "labels": {"keep": "me"}}})];
        label_all(&mut objs, "occm");
        assert_eq!(
            objs[0]["metadata"]["labels"],
            json!({"keep": "me", ADDON_LABEL: "occm", MANAGED_BY_LABEL: MANAGED_BY})
        );
    }

    #[test]
    fn containers_include_init_containers() {
        let mut d = json!({"spec": {"template": {"spec": {
            "initContainers": [{"name": "i"}], "containers": [{"name": "c"}, {"name": "d"}]}}}});
        let names: Vec<String> = containers_mut(&mut d)
            .map(|c| c["name"].as_str().unwrap_or_default().to_string())
            .collect();
        assert_eq!(names.len(), 3);
        assert!(names.contains(&"i".to_string()));
    }
}
