//! The minijinja templates: embedded at build time from `templates/`, each replaceable
//! by a file of the same relative name under `--templates DIR`, and the filters they use.

use std::path::Path;

use minijinja::Environment;

use crate::error::{Error, Result};

/// Every embedded template, by its path under `templates/`.
const EMBEDDED: &[(&str, &str)] = &[
    (
        "common/kubeadm.j2",
        include_str!("../../templates/common/kubeadm.j2"),
    ),
    (
        "common/clouds.yaml.j2",
        include_str!("../../templates/common/clouds.yaml.j2"),
    ),
    (
        "common/cloud.conf.j2",
        include_str!("../../templates/common/cloud.conf.j2"),
    ),
    (
        "default/cluster-template.yaml.j2",
        include_str!("../../templates/default/cluster-template.yaml.j2"),
    ),
    (
        "r4/cluster-template.yaml.j2",
        include_str!("../../templates/r4/cluster-template.yaml.j2"),
    ),
];

/// Files larger than this go into kubeadm's `files` compressed: CAPI v1beta2 limits
/// `content` to 10240 characters.
pub const COMPRESS_ABOVE: usize = 8 * 1024;

/// `gzip+base64` encoding for a kubeadm file (no timestamp: output is reproducible).
fn gzip_base64(s: &str) -> Result<String, minijinja::Error> {
    use base64::Engine;
    use std::io::Write;
    let mut gz = flate2::GzBuilder::new()
        .mtime(0)
        .write(Vec::new(), flate2::Compression::best());
    let bytes = gz
        .write_all(s.as_bytes())
        .and_then(|()| gz.finish())
        .map_err(|e| {
            minijinja::Error::new(minijinja::ErrorKind::InvalidOperation, e.to_string())
        })?;
    Ok(base64::engine::general_purpose::STANDARD.encode(bytes))
}

/// `s` as a gcfg value (the INI dialect cloud-provider-openstack reads).
fn gcfg_value(s: &str) -> String {
    let plain = !s.is_empty()
        && s.trim() == s
        && !s.contains(|c: char| matches!(c, ';' | '#' | '"' | '\\') || c.is_control());
    if plain {
        return s.to_string();
    }
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Builds the template environment; files under `override_dir` win over the embedded
/// ones.
///
/// # Errors
/// [`Error::Read`] for an unreadable override, [`Error::Template`] for a syntax error.
pub fn environment(override_dir: Option<&Path>) -> Result<Environment<'static>> {
    let mut env = Environment::new();
    let syntax = minijinja::syntax::SyntaxConfig::builder()
        .trim_blocks(true)
        .lstrip_blocks(true)
        .keep_trailing_newline(true)
        .build()
        .map_err(|source| Error::Template {
            name: "<syntax>".into(),
            source,
        })?;
    env.set_syntax(syntax);
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    // minijinja would JSON-escape `*.yaml.j2` output; the templates quote what they need.
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
    env.add_filter("envsubst_escape", |s: String| super::envsubst::escape(&s));
    // A YAML double-quoted scalar (JSON string syntax, without HTML-safe escapes).
    env.add_filter("yaml_str", |s: String| {
        serde_json::to_string(&s).unwrap_or_default()
    });
    // A value in a gcfg (`cloud.conf`) file: quoted and escaped when it would not survive
    // as it is (comment characters, quotes, backslashes, outer spaces, line breaks).
    env.add_filter("gcfg", |s: String| gcfg_value(&s));
    // The same files (the etcd script) recur in every cluster: compress each once.
    let cache = std::sync::Mutex::new(std::collections::HashMap::<String, String>::new());
    env.add_filter(
        "gzip_base64",
        move |s: String| -> Result<String, minijinja::Error> {
            let mut cache = cache
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if let Some(hit) = cache.get(&s) {
                return Ok(hit.clone());
            }
            let encoded = gzip_base64(&s)?;
            cache.insert(s, encoded.clone());
            Ok(encoded)
        },
    );
    env.add_global("compress_above", COMPRESS_ABOVE);
    for (name, source) in EMBEDDED {
        let source = match override_dir.map(|d| d.join(name)) {
            Some(path) if path.is_file() => {
                std::fs::read_to_string(&path).map_err(|source| Error::Read { path, source })?
            }
            _ => (*source).to_string(),
        };
        env.add_template_owned(*name, source)
            .map_err(|source| Error::Template {
                name: (*name).to_string(),
                source,
            })?;
    }
    Ok(env)
}

#[cfg(test)]
mod tests {
    use super::gcfg_value;

    #[test]
    fn gcfg_values_are_quoted_only_when_needed() {
        assert_eq!(
            gcfg_value("https://keystone:5000/v3"),
            "https://keystone:5000/v3"
        );
        assert_eq!(gcfg_value("a;b"), "\"a;b\"");
        assert_eq!(gcfg_value("q\"x\\y"), "\"q\\\"x\\\\y\"");
        assert_eq!(gcfg_value(" lead"), "\" lead\"");
        assert_eq!(gcfg_value("a\nb"), "\"a\\nb\"");
        assert_eq!(gcfg_value(""), "\"\"");
    }
}
