//! Reads a YAML settings document into a tree that remembers where every key and value
//! stands, so that later checks can point at `file:line:column`.
//!
//! Only YAML syntax errors stop here; types and meanings are checked key by key in
//! [`super::layers`] so that one run reports every problem.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

/// A 1-based position in a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pos {
    pub line: u64,
    pub column: u64,
}

impl Pos {
    fn of(loc: &serde_saphyr::Location) -> Pos {
        Pos {
            line: loc.line(),
            column: loc.column(),
        }
    }
}

/// A YAML node with its position.
#[derive(Debug, Clone, PartialEq)]
pub struct Located {
    pub node: Node,
    pub pos: Pos,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    Scalar(serde_json::Value),
    Seq(Vec<Located>),
    /// Entries in file order: key, position of the key, value.
    Map(Vec<(String, Pos, Located)>),
}

impl Located {
    /// The plain value, for typed deserialization.
    pub fn to_json(&self) -> serde_json::Value {
        match &self.node {
            Node::Scalar(v) => v.clone(),
            Node::Seq(items) => items.iter().map(Located::to_json).collect(),
            Node::Map(entries) => entries
                .iter()
                .map(|(k, _, v)| (k.clone(), v.to_json()))
                .collect::<serde_json::Map<_, _>>()
                .into(),
        }
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a YAML value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Node, E> {
        Ok(Node::Scalar(v.into()))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Node, E> {
        Ok(Node::Scalar(v.into()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Node, E> {
        Ok(Node::Scalar(v.into()))
    }
    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Node, E> {
        Ok(Node::Scalar(v.to_string().into()))
    }
    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Node, E> {
        Ok(Node::Scalar(v.to_string().into()))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Node, E> {
        // JSON has no NaN/inf: keep them as the text a user would recognise.
        Ok(Node::Scalar(
            serde_json::Number::from_f64(v)
                .map(serde_json::Value::Number)
                .unwrap_or_else(|| v.to_string().into()),
        ))
    }
    fn visit_str<E>(self, v: &str) -> Result<Node, E> {
        Ok(Node::Scalar(v.into()))
    }
    fn visit_string<E>(self, v: String) -> Result<Node, E> {
        Ok(Node::Scalar(v.into()))
    }
    fn visit_bytes<E: de::Error>(self, _: &[u8]) -> Result<Node, E> {
        Err(E::custom("binary values are not supported in settings"))
    }
    fn visit_unit<E>(self) -> Result<Node, E> {
        Ok(Node::Scalar(serde_json::Value::Null))
    }
    fn visit_none<E>(self) -> Result<Node, E> {
        Ok(Node::Scalar(serde_json::Value::Null))
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
        Node::deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Spanned<Node>>()? {
            items.push(Located {
                pos: Pos::of(&item.referenced),
                node: item.value,
            });
        }
        Ok(Node::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<Spanned<Node>>()? {
            let key_text = match key.value {
                Node::Scalar(serde_json::Value::String(s)) => s,
                Node::Scalar(other) => other.to_string(),
                _ => return Err(de::Error::custom("mapping keys must be plain words")),
            };
            let value = map.next_value::<Spanned<Node>>()?;
            entries.push((
                key_text,
                Pos::of(&key.referenced),
                Located {
                    pos: Pos::of(&value.referenced),
                    node: value.value,
                },
            ));
        }
        Ok(Node::Map(entries))
    }
}

/// A YAML syntax error with its position (when the parser knows it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    pub message: String,
    pub pos: Option<Pos>,
}

/// Parses one YAML document. `yes`/`no`/`on`/`off` stay strings (YAML 1.2 booleans
/// only), duplicate keys are errors, nesting depth and alias expansion are bounded.
///
/// # Errors
/// A [`SyntaxError`] for anything that is not one well-formed YAML document.
pub fn parse(text: &str) -> Result<Located, SyntaxError> {
    let options = serde_saphyr::options! { strict_booleans: true };
    serde_saphyr::from_str_with_options::<Spanned<Node>>(text, options)
        .map(|s| Located {
            pos: Pos::of(&s.referenced),
            node: s.value,
        })
        .map_err(|e| {
            let pos = e.location().map(|l| Pos::of(&l)).filter(|p| p.line > 0);
            SyntaxError {
                message: plain_message(&e),
                pos,
            }
        })
}

/// The error text without the location and snippet serde-saphyr adds (we print our own).
fn plain_message(e: &serde_saphyr::Error) -> String {
    let text = e.without_snippet().to_string();
    let text = text.trim();
    let text = text.strip_prefix("error: ").unwrap_or(text);
    // "line 3 column 5: msg" or "msg at line 3, column 5"
    let text = match text.split_once(": ") {
        Some((head, rest)) if head.starts_with("line ") && head.contains(" column ") => rest,
        _ => text,
    };
    match text.rfind(" at line ") {
        Some(i) => text[..i].to_string(),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_positions_of_keys_and_values() {
        let t = parse("a: 1\nb:\n  c: [x, y]\n").unwrap();
        let Node::Map(entries) = &t.node else {
            panic!("not a map")
        };
        assert_eq!(entries[0].0, "a");
        assert_eq!(entries[0].1, Pos { line: 1, column: 1 });
        assert_eq!(entries[1].1, Pos { line: 2, column: 1 });
        let Node::Map(inner) = &entries[1].2.node else {
            panic!("not a map")
        };
        assert_eq!(inner[0].1, Pos { line: 3, column: 3 });
        assert_eq!(
            t.to_json(),
            serde_json::json!({"a": 1, "b": {"c": ["x", "y"]}})
        );
    }

    #[test]
    fn yes_stays_a_string() {
        let t = parse("a: yes\nb: true\n").unwrap();
        assert_eq!(t.to_json(), serde_json::json!({"a": "yes", "b": true}));
    }

    #[test]
    fn syntax_errors_are_located() {
        let e = parse("a: 1\nb: [1, 2\n").unwrap_err();
        assert!(e.pos.is_some(), "{e:?}");
        let e = parse("a: 1\na: 2\n").unwrap_err();
        assert!(e.message.contains("duplicate"), "{e:?}");
        assert_eq!(e.pos.map(|p| p.line), Some(2));
    }
}
