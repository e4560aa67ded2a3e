//! Parsing files that may hold secrets (`clouds.yaml`, `secure.yaml`, kubeconfigs): a
//! failure says where (line and column) and never what. Parser errors quote the source —
//! serde-saphyr's snippet shows the broken lines, and many of its messages embed the
//! offending scalar (`invalid type: string "..."`) — and the usual syntax mistakes (an
//! unclosed quote, `: ` or `#` inside a password) sit exactly on the secret's line.
//!
//! This module owns the parse calls and the position-only error; what the document means
//! is left to the callers.

use std::fmt;
use std::path::Path;

use kube::config::{Kubeconfig, KubeconfigError};
use serde::de::DeserializeOwned;

/// A parse failure reduced to its position: no source text, no parser message, no cause.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Redacted {
    pub line: Option<u64>,
    pub column: Option<u64>,
}

impl Redacted {
    /// The position of a serde-saphyr error, without its message or snippet.
    pub fn of_yaml(e: &serde_saphyr::Error) -> Redacted {
        match e.location().filter(|l| l.line() > 0) {
            Some(l) => Redacted {
                line: Some(l.line()),
                column: Some(l.column()),
            },
            None => Redacted {
                line: None,
                column: None,
            },
        }
    }

    /// The position of a serde_json error, without its message.
    pub fn of_json(e: &serde_json::Error) -> Redacted {
        Redacted {
            line: Some(e.line() as u64).filter(|l| *l > 0),
            column: Some(e.column() as u64).filter(|_| e.line() > 0),
        }
    }

    /// What to tell the user: the position and the usual causes, never the text.
    pub const HINT: &'static str = "the text is not shown because the file may hold secrets; \
        look for an unclosed quote, or `: ` or ` #` inside an unquoted value (quote it)";
}

impl fmt::Display for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.column) {
            (Some(l), Some(c)) => write!(f, "invalid YAML at line {l}, column {c}"),
            (Some(l), None) => write!(f, "invalid YAML at line {l}"),
            _ => write!(f, "invalid YAML (no position known)"),
        }
    }
}

impl std::error::Error for Redacted {}

/// One YAML document as `T`; errors carry the position only.
///
/// # Errors
/// A [`Redacted`] for malformed YAML or a document that does not fit `T`.
pub fn from_str<T: DeserializeOwned>(text: &str) -> Result<T, Redacted> {
    serde_saphyr::from_str(text).map_err(|e| Redacted::of_yaml(&e))
}

/// [`from_str`] with serde-saphyr options.
///
/// # Errors
/// As [`from_str`].
pub fn from_str_with_options<T: DeserializeOwned>(
    text: &str,
    options: serde_saphyr::Options,
) -> Result<T, Redacted> {
    serde_saphyr::from_str_with_options(text, options).map_err(|e| Redacted::of_yaml(&e))
}

/// A kubeconfig error whose parse failure is reduced to its position; kube's other errors
/// (I/O, mismatching kinds) quote nothing from the file and are kept.
#[derive(Debug)]
pub enum KubeconfigProblem {
    Syntax(Redacted),
    Other(KubeconfigError),
}

impl fmt::Display for KubeconfigProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KubeconfigProblem::Syntax(r) => r.fmt(f),
            KubeconfigProblem::Other(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for KubeconfigProblem {}

impl KubeconfigProblem {
    /// Whether this is a syntax (or shape) problem, for which [`Redacted::HINT`] applies.
    pub fn is_syntax(&self) -> bool {
        matches!(self, KubeconfigProblem::Syntax(_))
    }
}

impl From<KubeconfigError> for KubeconfigProblem {
    fn from(e: KubeconfigError) -> Self {
        match e {
            KubeconfigError::Parse(inner) => KubeconfigProblem::Syntax(Redacted::of_yaml(&inner)),
            other => KubeconfigProblem::Other(other),
        }
    }
}

/// A kubeconfig from text (all its documents merged, as kube does).
///
/// # Errors
/// See [`KubeconfigProblem`].
pub fn kubeconfig(text: &str) -> Result<Kubeconfig, KubeconfigProblem> {
    Kubeconfig::from_yaml(text).map_err(Into::into)
}

/// A kubeconfig file, its relative certificate paths made absolute (as kube does).
///
/// # Errors
/// See [`KubeconfigProblem`].
pub fn kubeconfig_file(path: &Path) -> Result<Kubeconfig, KubeconfigProblem> {
    Kubeconfig::read_from(path).map_err(Into::into)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MARKER: &str = "s3cr3t-MARKER";

    fn broken_texts() -> Vec<String> {
        vec![
            format!("clouds:\n  a:\n    auth:\n      password: \"{MARKER}\n"),
            format!("clouds:\n  a:\n    auth:\n      password: {MARKER}: x\n"),
            format!("users:\n- name: u\n  user:\n    token: [{MARKER}\n"),
            format!("a: {MARKER}\n  b: c\n"),
        ]
    }

    #[test]
    fn errors_name_the_position_and_never_the_text() {
        for text in broken_texts() {
            let e = from_str::<serde_json::Value>(&text).unwrap_err();
            assert!(e.line.is_some(), "{text:?}: {e:?}");
            assert!(!e.to_string().contains(MARKER), "{e}");
            let k = kubeconfig(&text).unwrap_err();
            assert!(k.is_syntax(), "{text:?}: {k}");
            assert!(!k.to_string().contains(MARKER), "{k}");
        }
    }

    #[test]
    fn a_shape_error_does_not_quote_the_value() {
        // serde reports `invalid type: string "<value>"` for a scalar where a list belongs.
        let text = format!("clusters: {MARKER}\n");
        let k = kubeconfig(&text).unwrap_err();
        assert!(k.is_syntax(), "{k}");
        assert!(!k.to_string().contains(MARKER), "{k}");
    }
}
