//! Writing settings as YAML text: one key per line in a given order, strings quoted only
//! where YAML would read them as something else (`yes`, `1.10`, `[ a ]`).

use serde_json::{Map, Value};

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
