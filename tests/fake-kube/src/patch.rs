//! Non-apply patches: JSON merge patch (RFC 7386, `application/merge-patch+json`), JSON patch
//! (RFC 6902, `application/json-patch+json`) and strategic merge patch
//! (`application/strategic-merge-patch+json`), which the fake treats as a merge patch after
//! dropping `$`-directives: lists are replaced, not merged by key (documented simplification;
//! kubectl's `label`/`annotate`/`scale`/`edit` patches only need the map semantics).

use serde_json::Value;

/// RFC 7386: maps merge recursively, `null` deletes, everything else replaces.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    match patch {
        Value::Object(p) => {
            if !target.is_object() {
                *target = Value::Object(Default::default());
            }
            let Value::Object(t) = target else { return };
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else {
                    merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        other => *target = other.clone(),
    }
}

/// Drops strategic-merge directives (`$patch`, `$retainKeys`, `$setElementOrder/...`,
/// `$deleteFromPrimitiveList/...`) so the rest can be applied as a merge patch.
pub fn strip_directives(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|k, _| !k.starts_with('$'));
            m.values_mut().for_each(strip_directives);
        }
        Value::Array(a) => a.iter_mut().for_each(strip_directives),
        _ => {}
    }
}

fn unescape(tok: &str) -> String {
    tok.replace("~1", "/").replace("~0", "~")
}

fn tokens(pointer: &str) -> Result<Vec<String>, String> {
    if pointer.is_empty() {
        return Ok(Vec::new());
    }
    let rest = pointer
        .strip_prefix('/')
        .ok_or_else(|| format!("invalid JSON pointer `{pointer}`"))?;
    Ok(rest.split('/').map(unescape).collect())
}

fn parent_mut<'a>(doc: &'a mut Value, toks: &[String]) -> Result<&'a mut Value, String> {
    let mut cur = doc;
    for t in toks {
        cur = match cur {
            Value::Object(m) => m
                .get_mut(t)
                .ok_or_else(|| format!("path segment `{t}` not found"))?,
            Value::Array(a) => {
                let i: usize = t
                    .parse()
                    .map_err(|_| format!("`{t}` is not an array index"))?;
                a.get_mut(i)
                    .ok_or_else(|| format!("array index {i} out of range"))?
            }
            _ => return Err(format!("cannot descend into a scalar at `{t}`")),
        };
    }
    Ok(cur)
}

fn get_at(doc: &Value, pointer: &str) -> Result<Value, String> {
    doc.pointer(pointer)
        .cloned()
        .ok_or_else(|| format!("path `{pointer}` not found"))
}

fn add_at(doc: &mut Value, pointer: &str, value: Value) -> Result<(), String> {
    let toks = tokens(pointer)?;
    let Some((last, parents)) = toks.split_last() else {
        *doc = value;
        return Ok(());
    };
    match parent_mut(doc, parents)? {
        Value::Object(m) => {
            m.insert(last.clone(), value);
        }
        Value::Array(a) => {
            if last == "-" {
                a.push(value);
            } else {
                let i: usize = last
                    .parse()
                    .map_err(|_| format!("`{last}` is not an array index"))?;
                if i > a.len() {
                    return Err(format!("array index {i} out of range"));
                }
                a.insert(i, value);
            }
        }
        _ => return Err(format!("cannot add to a scalar at `{pointer}`")),
    }
    Ok(())
}

fn remove_at(doc: &mut Value, pointer: &str) -> Result<Value, String> {
    let toks = tokens(pointer)?;
    let (last, parents) = toks
        .split_last()
        .ok_or_else(|| "cannot remove the whole document".to_string())?;
    match parent_mut(doc, parents)? {
        Value::Object(m) => m
            .shift_remove(last)
            .ok_or_else(|| format!("path `{pointer}` not found")),
        Value::Array(a) => {
            let i: usize = last
                .parse()
                .map_err(|_| format!("`{last}` is not an array index"))?;
            if i >= a.len() {
                return Err(format!("array index {i} out of range"));
            }
            Ok(a.remove(i))
        }
        _ => Err(format!("cannot remove from a scalar at `{pointer}`")),
    }
}

/// RFC 6902 on `doc`; all or nothing (an error leaves `doc` unchanged).
pub fn json_patch(doc: &mut Value, ops: &Value) -> Result<(), String> {
    let ops = ops
        .as_array()
        .ok_or_else(|| "a JSON patch must be an array of operations".to_string())?;
    let mut work = doc.clone();
    for op in ops {
        let path = op["path"]
            .as_str()
            .ok_or_else(|| "operation without `path`".to_string())?;
        let value = || {
            op.get("value")
                .cloned()
                .ok_or_else(|| format!("operation on `{path}` without `value`"))
        };
        let from = || {
            op["from"]
                .as_str()
                .ok_or_else(|| format!("operation on `{path}` without `from`"))
        };
        match op["op"].as_str().unwrap_or("") {
            "add" => add_at(&mut work, path, value()?)?,
            "remove" => {
                remove_at(&mut work, path)?;
            }
            "replace" => {
                remove_at(&mut work, path)?;
                add_at(&mut work, path, value()?)?;
            }
            "test" => {
                if get_at(&work, path)? != value()? {
                    return Err(format!("test operation on `{path}` failed"));
                }
            }
            "move" => {
                let v = remove_at(&mut work, from()?)?;
                add_at(&mut work, path, v)?;
            }
            "copy" => {
                let v = get_at(&work, from()?)?;
                add_at(&mut work, path, v)?;
            }
            other => return Err(format!("unknown JSON patch operation `{other}`")),
        }
    }
    *doc = work;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_patch_rfc7386_examples() {
        let mut t = json!({"a": "b", "c": {"d": "e", "f": "g"}, "l": [1, 2]});
        merge_patch(&mut t, &json!({"a": "z", "c": {"f": null}, "l": [3]}));
        assert_eq!(t, json!({"a": "z", "c": {"d": "e"}, "l": [3]}));
        let mut s = json!("x");
        merge_patch(&mut s, &json!({"k": 1}));
        assert_eq!(s, json!({"k": 1}));
    }

    #[test]
    fn json_patch_ops_and_atomicity() {
        let mut d = json!({"metadata": {"labels": {"a/b": "1"}}, "spec": {"l": [1, 2]}});
        json_patch(
            &mut d,
            &json!([
                {"op": "add", "path": "/spec/l/-", "value": 3},
                {"op": "replace", "path": "/metadata/labels/a~1b", "value": "2"},
                {"op": "copy", "from": "/spec/l", "path": "/spec/m"},
                {"op": "remove", "path": "/spec/l/0"},
                {"op": "test", "path": "/spec/m/2", "value": 3}
            ]),
        )
        .unwrap();
        assert_eq!(
            d,
            json!({"metadata": {"labels": {"a/b": "2"}}, "spec": {"l": [2, 3], "m": [1, 2, 3]}})
        );
        let before = d.clone();
        let err = json_patch(
            &mut d,
            &json!([{"op": "remove", "path": "/spec/l/0"}, {"op": "test", "path": "/spec/l/0", "value": 9}]),
        );
        assert!(err.is_err());
        assert_eq!(d, before);
    }

    #[test]
    fn strategic_directives_are_dropped() {
        let mut p = json!({"$patch": "merge", "spec": {"$retainKeys": ["a"], "a": 1}});
        strip_directives(&mut p);
        assert_eq!(p, json!({"spec": {"a": 1}}));
    }
}
