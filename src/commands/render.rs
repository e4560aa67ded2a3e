//! `scs-capi render`: settings -> `clusterctl.yaml`, `cluster-template.yaml` and
//! `<cluster>-config.yaml` (written to `--out DIR`), or the final manifests on stdout.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::render::{self, Profile, Renderer};
use crate::settings::{self, LayerKind, Loaded, SourceFile, validate::Options};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The cluster's settings file; repeat it to render several clusters (one YAML
    /// stream on stdout, or `DIR/<cluster>/` with `--out`).
    #[arg(
        short = 'f',
        long = "file",
        value_name = "CLUSTER.yaml",
        required_unless_present = "example",
        conflicts_with = "example"
    )]
    pub file: Vec<PathBuf>,
    /// Render the built-in example cluster (no files needed).
    #[arg(long)]
    pub example: bool,
    /// Management-wide defaults (else `$XDG_CONFIG_HOME/scs-capi/defaults.yaml` when present).
    #[arg(long, value_name = "FILE")]
    pub defaults: Option<PathBuf>,
    /// API versions to render for.
    #[arg(long, value_enum, default_value_t = Profile::Default)]
    pub profile: Profile,
    /// Write clusterctl.yaml, cluster-template.yaml and <cluster>-config.yaml into DIR.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Egress address of the management cluster, always allowed to the kube-API
    /// (wins over `mgmt_egress_cidr`).
    #[arg(long, value_name = "CIDR")]
    pub mgmt_cidr: Option<crate::settings::values::Cidr>,
    /// Print where each setting came from instead of the manifests.
    #[arg(long)]
    pub explain: bool,
    /// Treat warnings as errors.
    #[arg(long)]
    pub strict: bool,
    /// Accept Kubernetes versions marked as preview.
    #[arg(long)]
    pub allow_preview_versions: bool,
}

/// Loads and validates the settings of one cluster file (the example when `None`).
///
/// # Errors
/// I/O errors, and [`Error::Invalid`] with every finding.
pub fn load(args: &Args, defaults: Option<&SourceFile>, file: Option<&Path>) -> Result<Loaded> {
    let cluster = match file {
        Some(path) => SourceFile::read(path)?,
        None => SourceFile::example(),
    };
    let loaded = settings::load(
        defaults,
        Some(&cluster),
        &settings::env_overrides(),
        Options {
            allow_preview_versions: args.allow_preview_versions,
            is_cluster: true,
            profile: args.profile,
        },
    );
    settings::ensure_valid(&loaded.diagnostics, args.strict)?;
    Ok(loaded)
}

pub fn run(
    args: &Args,
    templates: Option<&Path>,
    out: &mut dyn std::io::Write,
    err: &mut dyn std::io::Write,
) -> Result<()> {
    if args.file.len() > 1 && args.explain {
        return Err(Error::usage(
            "`--explain` takes one cluster",
            Some("run it once per settings file".to_string()),
        ));
    }
    let defaults = settings::defaults_file(args.defaults.as_deref())?;
    let files: Vec<Option<&Path>> = if args.file.is_empty() {
        vec![None]
    } else {
        args.file.iter().map(|p| Some(p.as_path())).collect()
    };
    let renderer = Renderer::new(templates)?;
    let opts = render::Options {
        profile: args.profile,
        mgmt_cidr: args.mgmt_cidr,
        facts: None,
    };
    let io = |e: std::io::Error| Error::Other(e.into());
    for (index, file) in files.iter().enumerate() {
        let loaded = load(args, defaults.as_ref(), *file)?;
        for d in &loaded.diagnostics {
            let _ = writeln!(err, "{d}");
        }
        let rendered = renderer.render(&loaded.settings, &opts)?;
        for note in &rendered.notes {
            let _ = writeln!(err, "note: {note}");
        }
        if let Some(dir) = &args.out {
            let dir = if files.len() > 1 {
                dir.join(&rendered.cluster_name)
            } else {
                dir.clone()
            };
            write_outputs(&dir, &rendered)?;
            let _ = writeln!(
                err,
                "wrote clusterctl.yaml, cluster-template.yaml and {}-config.yaml to `{}`",
                rendered.cluster_name,
                dir.display()
            );
        }
        if args.explain {
            for (key, value, origin) in explain(&loaded) {
                writeln!(out, "{key:<32} {value:<28} {origin}").map_err(io)?;
            }
        } else if args.out.is_none() {
            if index > 0 {
                out.write_all(b"---\n").map_err(io)?;
            }
            out.write_all(rendered.manifests.as_bytes()).map_err(io)?;
        }
    }
    Ok(())
}

/// `(key, value, origin)` for every setting, in schema order; sections are listed key
/// by key.
pub fn explain(loaded: &Loaded) -> Vec<(String, String, String)> {
    let json = serde_json::to_value(&loaded.settings).unwrap_or_default();
    let mut rows = Vec::new();
    for (key, value) in json.as_object().into_iter().flatten() {
        let entries: Vec<(String, &serde_json::Value)> = match value {
            serde_json::Value::Object(m) if settings::SECTIONS.contains(&key.as_str()) => {
                m.iter().map(|(k, v)| (format!("{key}.{k}"), v)).collect()
            }
            _ => vec![(key.clone(), value)],
        };
        for (k, v) in entries {
            let origin = match loaded.origins.get(&k) {
                None => LayerKind::Builtin.describe().to_string(),
                Some(o) if o.kind == LayerKind::Env => {
                    format!("environment: {}", o.loc.key.as_deref().unwrap_or_default())
                }
                Some(o) => match o.loc.line {
                    Some(line) => format!("{}: {}:{line}", o.kind.describe(), o.loc.file),
                    None => format!("{}: {}", o.kind.describe(), o.loc.file),
                },
            };
            let value = match v {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            rows.push((k, value, origin));
        }
    }
    rows
}

/// The files [`write_outputs`] writes, with their modes: the manifests are always private
/// (0600), `clusterctl.yaml` when it holds a credential, and `cloud.conf` (only rendered
/// with a credential) always.
fn outputs(rendered: &render::Rendered) -> Vec<(String, &str, u32)> {
    let private_vars = if rendered.has_secrets { 0o600 } else { 0o644 };
    let mut files = vec![
        (
            "clusterctl.yaml".to_string(),
            rendered.clusterctl_yaml.as_str(),
            private_vars,
        ),
        (
            "cluster-template.yaml".to_string(),
            rendered.cluster_template.as_str(),
            0o644,
        ),
        (
            format!("{}-config.yaml", rendered.cluster_name),
            rendered.manifests.as_str(),
            0o600,
        ),
    ];
    if let Some(conf) = &rendered.cloud_conf {
        files.push(("cloud.conf".to_string(), conf.as_str(), 0o600));
    }
    files
}

/// The names of the files [`write_outputs`] writes.
pub fn output_names(rendered: &render::Rendered) -> Vec<String> {
    outputs(rendered).into_iter().map(|(n, _, _)| n).collect()
}

/// Writes clusterctl.yaml, cluster-template.yaml, `<cluster>-config.yaml` and (with a
/// credential) cloud.conf. The final manifests are always private (0600); files holding
/// the credential too.
///
/// # Errors
/// [`Error::Write`] when a file cannot be written.
pub fn write_outputs(dir: &Path, rendered: &render::Rendered) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|source| Error::Write {
        path: dir.to_path_buf(),
        source,
    })?;
    for (name, content, mode) in outputs(rendered) {
        crate::fsutil::write_file(&dir.join(name), content.as_bytes(), mode)?;
    }
    Ok(())
}
