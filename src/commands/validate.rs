//! `scs-capi validate [PATH...]`: checks settings files (directories are searched for
//! `*.yaml`/`*.yml`) and reports every finding at once.
//!
//! A `defaults.yaml` is the management-wide defaults layer for the other files in its
//! directory (else `--defaults`, else `$XDG_CONFIG_HOME/scs-capi/defaults.yaml`).

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::{Diagnostic, Error, Result, Severity};
use crate::settings::{self, SourceFile, validate::Options};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Settings files or directories (default: the current directory).
    #[arg(value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Management-wide defaults for files without a `defaults.yaml` beside them.
    #[arg(long, value_name = "FILE")]
    pub defaults: Option<PathBuf>,
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
    pub files: usize,
    pub errors: usize,
    pub warnings: usize,
    pub findings: Vec<Diagnostic>,
}

const DEFAULTS_FILE: &str = "defaults.yaml";

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
    let explicit_defaults = match &args.defaults {
        Some(p) => Some(SourceFile::read(p)?),
        None => settings::default_defaults_path()
            .map(|p| SourceFile::read(&p))
            .transpose()?,
    };
    let env = settings::env_overrides();
    let opts = Options {
        allow_preview_versions: args.allow_preview_versions,
        is_cluster: true,
    };
    let mut findings: Vec<Diagnostic> = Vec::new();
    let mut push = |d: Diagnostic| {
        if !findings.contains(&d) {
            findings.push(d);
        }
    };
    if let Some(d) = &explicit_defaults {
        let loaded = settings::load(
            Some(d),
            None,
            &env,
            Options {
                is_cluster: false,
                ..opts
            },
        );
        loaded.diagnostics.into_iter().for_each(&mut push);
    }
    for path in &files {
        let file = SourceFile::read(path)?;
        let is_defaults = path.file_name().is_some_and(|n| n == DEFAULTS_FILE);
        let loaded = if is_defaults {
            settings::load(
                Some(&file),
                None,
                &env,
                Options {
                    is_cluster: false,
                    ..opts
                },
            )
        } else {
            let sibling = path
                .parent()
                .map(|d| d.join(DEFAULTS_FILE))
                .filter(|p| p.is_file());
            let defaults = match sibling {
                Some(p) => Some(SourceFile::read(&p)?),
                None => None,
            };
            settings::load(
                defaults.as_ref().or(explicit_defaults.as_ref()),
                Some(&file),
                &env,
                opts,
            )
        };
        loaded.diagnostics.into_iter().for_each(&mut push);
    }
    if args.strict {
        for d in &mut findings {
            d.severity = Severity::Error;
        }
    }
    let errors = findings
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .count();
    Ok(Report {
        valid: errors == 0,
        files: files.len(),
        errors,
        warnings: findings.len() - errors,
        findings,
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
            let _ = writeln!(
                err,
                "checked {} file(s): {} error(s), {} warning(s)",
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
