//! clusterctl's variable substitution (drone/envsubst rules) on `cluster-template.yaml`:
//! `${VAR}`, `$VAR`, `${VAR:=default}`, `${VAR=default}`, `${VAR:-default}`,
//! `${VAR-default}` (a default applies when the variable is unset or empty), and `$$`
//! for a literal `$`. A variable without value and without default is an error, as in
//! `clusterctl generate cluster`.
//!
//! Keeping this exact is what lets a clusterctl user take our `cluster-template.yaml` +
//! `clusterctl.yaml` and get the very manifests `scs-capi render` prints.

use std::collections::BTreeSet;

/// Variables that have neither a value nor a default.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("value for variables [{}] is not set", .0.iter().cloned().collect::<Vec<_>>().join(", "))]
pub struct Missing(pub BTreeSet<String>);

/// One `$` expression found in a template.
#[derive(Debug, PartialEq, Eq)]
enum Token<'a> {
    Text(&'a str),
    Dollar,
    Var {
        name: &'a str,
        default: Option<&'a str>,
    },
}

fn is_name_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_'
}

fn is_name(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

fn tokens(text: &str) -> Vec<Token<'_>> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'$' {
            i += 1;
            continue;
        }
        let next = bytes.get(i + 1).copied();
        let token_and_len = match next {
            Some(b'$') => Some((Token::Dollar, 2)),
            Some(b'{') => braced(&text[i + 2..]).map(|(t, len)| (t, len + 2)),
            Some(b) if is_name_start(b) => {
                let len = bytes[i + 1..].iter().take_while(|b| is_name(**b)).count();
                Some((
                    Token::Var {
                        name: &text[i + 1..i + 1 + len],
                        default: None,
                    },
                    len + 1,
                ))
            }
            _ => None,
        };
        match token_and_len {
            Some((token, len)) => {
                if start < i {
                    out.push(Token::Text(&text[start..i]));
                }
                out.push(token);
                i += len;
                start = i;
            }
            None => i += 1,
        }
    }
    if start < bytes.len() {
        out.push(Token::Text(&text[start..]));
    }
    out
}

/// Parses the inside of `${...}`; returns the token and the length up to and including
/// the closing brace. Unsupported forms stay literal text, as drone leaves them.
fn braced(rest: &str) -> Option<(Token<'_>, usize)> {
    let close = rest.find('}')?;
    let inner = &rest[..close];
    let trimmed = inner.trim();
    let name_len = trimmed.bytes().take_while(|b| is_name(*b)).count();
    if name_len == 0 || !is_name_start(trimmed.as_bytes()[0]) {
        return None;
    }
    let name = &trimmed[..name_len];
    let op = &trimmed[name_len..];
    let default = if op.is_empty() {
        None
    } else if let Some(d) = [":=", ":-", "=", "-"]
        .iter()
        .find_map(|p| op.strip_prefix(p))
    {
        Some(d)
    } else {
        return None;
    };
    Some((Token::Var { name, default }, close + 1))
}

/// Substitutes every variable using `lookup`.
///
/// # Errors
/// [`Missing`] names every variable without value and default.
pub fn expand(text: &str, lookup: impl Fn(&str) -> Option<String>) -> Result<String, Missing> {
    let mut out = String::with_capacity(text.len());
    let mut missing = BTreeSet::new();
    for token in tokens(text) {
        match token {
            Token::Text(t) => out.push_str(t),
            Token::Dollar => out.push('$'),
            Token::Var { name, default } => match (lookup(name), default) {
                (Some(v), Some(d)) if v.is_empty() => out.push_str(d),
                (Some(v), _) => out.push_str(&v),
                (None, Some(d)) => out.push_str(d),
                (None, None) => {
                    missing.insert(name.to_string());
                }
            },
        }
    }
    if missing.is_empty() {
        Ok(out)
    } else {
        Err(Missing(missing))
    }
}

/// Variables a template uses: `(required, optional)` like `--list-variables`.
pub fn variables(text: &str) -> (BTreeSet<String>, BTreeSet<String>) {
    let mut required = BTreeSet::new();
    let mut optional = BTreeSet::new();
    for token in tokens(text) {
        if let Token::Var { name, default } = token {
            if default.is_some() {
                optional.insert(name.to_string());
            } else {
                required.insert(name.to_string());
            }
        }
    }
    optional.retain(|v| !required.contains(v));
    (required, optional)
}

/// Escapes text so that [`expand`] gives it back unchanged (`$` -> `$$`).
pub fn escape(text: &str) -> String {
    text.replace('$', "$$")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn vars(name: &str) -> Option<String> {
        match name {
            "A" => Some("alpha".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn forms() {
        let cases = [
            ("${A}", "alpha"),
            ("$A-x", "alpha-x"),
            ("${ A }", "alpha"),
            ("${B:=dflt}", "dflt"),
            ("${B=d}", "d"),
            ("${B:-d}", "d"),
            ("${EMPTY:=d}", "d"),
            ("${EMPTY}", ""),
            ("$${A}", "${A}"),
            ("$$A", "$A"),
            ("cost: 5$", "cost: 5$"),
            ("$(pgrep etcd)", "$(pgrep etcd)"),
            ("${A:0:2}", "${A:0:2}"),
        ];
        for (input, want) in cases {
            assert_eq!(expand(input, vars).unwrap(), want, "{input}");
        }
    }

    #[test]
    fn missing_variables_are_all_named() {
        let err = expand("${X} $Y ${A} ${Z:=z}", vars).unwrap_err();
        assert_eq!(err.to_string(), "value for variables [X, Y] is not set");
    }

    #[test]
    fn lists_variables() {
        let (req, opt) = variables("${A} ${B:=1} $C $${D} ${B}");
        assert_eq!(req.into_iter().collect::<Vec<_>>(), ["A", "B", "C"]);
        assert!(opt.is_empty());
    }

    proptest! {
        #[test]
        fn escape_round_trips(s in ".*") {
            prop_assert_eq!(expand(&escape(&s), |_| None).unwrap(), s);
        }

        #[test]
        fn never_panics(s in ".*") {
            let _ = expand(&s, vars);
            let _ = variables(&s);
        }
    }
}
