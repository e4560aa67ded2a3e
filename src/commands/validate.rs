//! `scs-capi validate [PATH...]`: checks settings files (directories are searched for
//! `*.yaml`/`*.yml`) and reports every finding at once.
//!
//! Only settings files are checked: what else lives in a settings repository (the
//! `addons.lock.yaml` create-cluster writes, `render --out` output and other Kubernetes
//! manifests, `clusterctl.yaml` files, `clouds.yaml`) is recognised by its shape, skipped,
//! and listed as skipped. The defaults layer is resolved by the rule every command shares
//! ([`settings::defaults_file`]): `--defaults FILE`, else
//! `$XDG_CONFIG_HOME/scs-capi/defaults.yaml`. A file named `defaults.yaml` is checked as a
//! defaults layer; when it is not the one in use, a note says how to use it.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::{Diagnostic, Error, Location, Result, Severity};
use crate::render::Profile;
use crate::settings::{self, SourceFile, validate::Options};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Settings files or directories (default: the current directory).
    #[arg(value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Management-wide defaults (else `$XDG_CONFIG_HOME/scs-capi/defaults.yaml` when
    /// present), as for `render` and `create-cluster`.
    #[arg(long, value_name = "FILE")]
    pub defaults: Option<PathBuf>,
    /// The profile the clusters render for: its built-in defaults and the Kubernetes
    /// versions its Cluster API supports apply.
    #[arg(long, value_enum, default_value_t = Profile::Default)]
    pub profile: Profile,
    /// Output format of the findings.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
    /// Treat warnings as errors.
    #[arg(long)]
    pub strict: bool,
    /// Accept Kubernetes versions marked as preview.
    #[arg(long)]
    pub allow_preview_versions: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    Text,
    Json,
}

/// The machine-readable report (`--output json`).
#[derive(Debug, Serialize)]
pub struct Report {
    pub valid: bool,
    /// Settings files checked (defaults files included).
    pub files: usize,
    pub errors: usize,
    pub warnings: usize,
    pub findings: Vec<Diagnostic>,
    /// Files that are not settings files, and what they were taken for.
    pub skipped: Vec<Skipped>,
    /// The defaults layer the cluster files were checked with, if any.
    pub defaults: Option<String>,
}

/// A file `validate` did not check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Skipped {
    pub file: String,
    pub reason: String,
}

const DEFAULTS_FILE: &str = "defaults.yaml";

/// What a YAML file in a settings repository is, judged by its name and the keys at its
/// top level (without parsing it as settings).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FileKind {
    Settings,
    AddonsLock,
    Manifests,
    ClusterctlYaml,
    CloudsYaml,
}

impl FileKind {
    fn skip_reason(self) -> Option<&'static str> {
        match self {
            FileKind::Settings => None,
            FileKind::AddonsLock => Some("the addons lock file (written by create-cluster)"),
            FileKind::Manifests => Some("Kubernetes manifests (e.g. `render --out` output)"),
            FileKind::ClusterctlYaml => Some(
                "a clusterctl.yaml (variables); an R4 one converts with `scs-capi settings import`",
            ),
            FileKind::CloudsYaml => Some("an OpenStack clouds.yaml"),
        }
    }
}

/// Classifies a file by name and top-level keys. Anything not recognised as something
/// else is a settings file, so a settings file full of typos is still checked.
fn classify(path: &Path, bytes: &[u8]) -> FileKind {
    if path
        .file_name()
        .is_some_and(|n| n == crate::addons::lock::FILE_NAME)
    {
        return FileKind::AddonsLock;
    }
    let text = String::from_utf8_lossy(bytes);
    let keys: Vec<&str> = text
        .lines()
        .filter(|l| !l.starts_with([' ', '\t', '#', '-']) && !l.trim().is_empty())
        .filter_map(|l| {
            l.split_once(':')
                .map(|(k, _)| k.trim().trim_matches(['"', '\'']))
        })
        .collect();
    let has = |k: &str| keys.contains(&k);
    if has("apiVersion") && has("kind") {
        return FileKind::Manifests;
    }
    if has("clouds") {
        return FileKind::CloudsYaml;
    }
    let is_variable = |k: &&str| {
        !k.is_empty()
            && k.bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
    };
    if !keys.is_empty()
        && keys.iter().all(is_variable)
        && keys
            .iter()
            .any(|k| settings::clusterctl_keys::settings_key_for(k).is_some())
    {
        return FileKind::ClusterctlYaml;
    }
    let mut sorted = keys.clone();
    sorted.sort_unstable();
    if sorted == ["files", "version"] {
        return FileKind::AddonsLock;
    }
    FileKind::Settings
}

/// Validates the files and returns the report; the caller decides the exit code.
///
/// # Errors
/// [`Error::Read`] when a path does not exist or cannot be read.
pub fn check(args: &Args) -> Result<Report> {
    let paths = if args.paths.is_empty() {
        vec![PathBuf::from(".")]
    } else {
        args.paths.clone()
    };
    let mut files = Vec::new();
    for p in &paths {
        collect(p, &mut files)?;
    }
    let defaults = settings::defaults_file(args.defaults.as_deref())?;
    let defaults_path = match &args.defaults {
        Some(p) => Some(p.clone()),
        None => settings::default_defaults_path(),
    };
    let same_file = |a: &Path, b: &Path| match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    };
    let env = settings::env_overrides();
    let opts = Options {
        allow_preview_versions: args.allow_preview_versions,
        is_cluster: true,
        profile: args.profile,
    };
    let defaults_opts = Options {
        is_cluster: false,
        ..opts
    };
    let mut findings: Vec<Diagnostic> = Vec::new();
    let mut push = |d: Diagnostic| {
        if !findings.contains(&d) {
            findings.push(d);
        }
    };
    if let Some(d) = &defaults {
        let loaded = settings::load(Some(d), None, &env, defaults_opts);
        loaded.diagnostics.into_iter().for_each(&mut push);
    }
    let mut checked = 0;
    let mut skipped = Vec::new();
    for path in &files {
        if defaults_path.as_deref().is_some_and(|d| same_file(d, path)) {
            checked += 1;
            continue;
        }
        let file = SourceFile::read(path)?;
        if let Some(reason) = classify(path, &file.bytes).skip_reason() {
            skipped.push(Skipped {
                file: path.display().to_string(),
                reason: reason.to_string(),
            });
            continue;
        }
        checked += 1;
        let is_defaults = path.file_name().is_some_and(|n| n == DEFAULTS_FILE);
        let loaded = if is_defaults {
            let in_use = match &defaults_path {
                Some(d) => format!("`{}`", d.display()),
                None => "none".to_string(),
            };
            push(
                Diagnostic::warning(
                    Location::file(path.display().to_string()),
                    format!(
                        "checked as a defaults file, but not used for the cluster files: they were checked with the defaults in use ({in_use}), as `render` and `create-cluster` use them"
                    ),
                )
                .hint(format!(
                    "to use this file, pass `--defaults {}` to validate, render and create-cluster alike",
                    path.display()
                )),
            );
            settings::load(Some(&file), None, &env, defaults_opts)
        } else {
            settings::load(defaults.as_ref(), Some(&file), &env, opts)
        };
        loaded.diagnostics.into_iter().for_each(&mut push);
    }
    if args.strict {
        for d in &mut findings {
            if d.severity == Severity::Warning {
                d.severity = Severity::Error;
            }
        }
    }
    let errors = findings
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .count();
    let warnings = findings
        .iter()
        .filter(|d| d.severity == Severity::Warning)
        .count();
    Ok(Report {
        valid: errors == 0,
        files: checked,
        errors,
        warnings,
        findings,
        skipped,
        defaults: defaults.map(|d| d.name),
    })
}

fn collect(path: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let meta = std::fs::metadata(path).map_err(|source| Error::Read {
        path: path.to_path_buf(),
        source,
    })?;
    if !meta.is_dir() {
        out.push(path.to_path_buf());
        return Ok(());
    }
    let read = |p: &Path| {
        std::fs::read_dir(p).map_err(|source| Error::Read {
            path: p.to_path_buf(),
            source,
        })
    };
    let mut entries: Vec<PathBuf> = read(path)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for p in entries {
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if name.starts_with('.') {
            continue;
        }
        if p.is_dir() {
            collect(&p, out)?;
        } else if name.ends_with(".yaml") || name.ends_with(".yml") {
            out.push(p);
        }
    }
    Ok(())
}

/// Runs `validate`, printing findings (text on stderr, json on stdout).
///
/// # Errors
/// [`Error::Invalid`] when any error was found (exit 1); I/O errors (exit 2).
pub fn run(args: &Args, out: &mut dyn std::io::Write, err: &mut dyn std::io::Write) -> Result<()> {
    let report = check(args)?;
    match args.output {
        OutputFormat::Json => {
            let text = serde_json::to_string_pretty(&report).map_err(anyhow::Error::from)?;
            writeln!(out, "{text}").map_err(anyhow::Error::from)?;
        }
        OutputFormat::Text => {
            for d in &report.findings {
                let _ = writeln!(err, "{d}");
            }
            for s in &report.skipped {
                let _ = writeln!(err, "skipped `{}`: {}", s.file, s.reason);
            }
            let skipped = match report.skipped.len() {
                0 => String::new(),
                n => format!(", skipped {n} other file(s)"),
            };
            let _ = writeln!(
                err,
                "checked {} file(s){skipped}: {} error(s), {} warning(s)",
                report.files, report.errors, report.warnings
            );
        }
    }
    if report.valid {
        Ok(())
    } else {
        Err(Error::Reported)
    }
}
