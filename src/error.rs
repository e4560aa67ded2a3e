//! Errors and findings, and the one place that maps them to exit codes.
//!
//! A [`Diagnostic`] is a finding about the user's settings (file, line, column, key,
//! message, hint); [`Error`] is everything that stops a command. Exit codes: 0 success,
//! 1 invalid settings, work left undone (`cleanup`), a cluster that did not converge or a
//! management-cluster wait that ran out (providers not available), 2 usage, I/O, cloud,
//! tool or cluster failure.

use std::fmt;
use std::path::PathBuf;
use std::process::ExitCode;

use serde::Serialize;

/// How bad a finding is; `--strict` turns warnings into errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Warning,
    Error,
}

/// A finding about settings, located as precisely as the input allows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    /// The file, or `environment` for `SCS_CAPI_*` variables, or `defaults` for built-in
    /// values.
    pub file: String,
    pub line: Option<u64>,
    pub column: Option<u64>,
    /// The settings key (`etcd_defrag.schedule`) or environment variable concerned.
    pub key: Option<String>,
    pub severity: Severity,
    pub message: String,
    pub hint: Option<String>,
}

impl Diagnostic {
    pub fn error(loc: Location, message: impl Into<String>) -> Self {
        Self::new(Severity::Error, loc, message)
    }

    pub fn warning(loc: Location, message: impl Into<String>) -> Self {
        Self::new(Severity::Warning, loc, message)
    }

    fn new(severity: Severity, loc: Location, message: impl Into<String>) -> Self {
        Diagnostic {
            file: loc.file,
            line: loc.line,
            column: loc.column,
            key: loc.key,
            severity,
            message: message.into(),
            hint: None,
        }
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

/// Where a value came from: file and position, plus the key.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Location {
    pub file: String,
    pub line: Option<u64>,
    pub column: Option<u64>,
    pub key: Option<String>,
}

impl Location {
    pub fn file(file: impl Into<String>) -> Self {
        Location {
            file: file.into(),
            ..Default::default()
        }
    }

    pub fn with_key(mut self, key: impl Into<String>) -> Self {
        self.key = Some(key.into());
        self
    }
}

impl fmt::Display for Diagnostic {
    /// The uv/rustc shape: `error: what`, `  --> file:line:col`, `hint: fix`.
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        let level = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        writeln!(f, "{level}: {}", self.message)?;
        write!(f, "  --> {}", self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(col) = self.column {
                write!(f, ":{col}")?;
            }
        }
        if let Some(key) = &self.key {
            write!(f, " (`{key}`)")?;
        }
        writeln!(f)?;
        if let Some(hint) = &self.hint {
            writeln!(f, "  hint: {hint}")?;
        }
        Ok(())
    }
}

/// Everything that stops a command.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The settings are invalid; the diagnostics say where and why.
    #[error("invalid settings ({} error(s))", .0.iter().filter(|d| d.severity == Severity::Error).count())]
    Invalid(Vec<Diagnostic>),
    /// Invalid settings whose findings were already printed (exit 1).
    #[error("invalid settings")]
    Reported,
    #[error("cannot read `{}`", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write `{}`", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Wrong use of the command line that clap cannot see (conflicting inputs, ...).
    #[error("{message}")]
    Usage {
        message: String,
        hint: Option<String>,
    },
    /// A template (built-in or from `--templates`) failed to render.
    #[error("cannot render template `{name}`")]
    Template {
        name: String,
        #[source]
        source: minijinja::Error,
    },
    /// The command did what it could but something is left undone; the table it printed
    /// says what (exit 1; `cleanup` with failed or blocked resources).
    #[error("{message}")]
    Incomplete {
        message: String,
        hint: Option<String>,
    },
    /// Stopped at a safe point by SIGINT/SIGTERM (exit 128 + signal: 130, 143).
    #[error(transparent)]
    Interrupted(#[from] crate::interrupt::Interrupted),
    /// OpenStack configuration, authentication or API failure (exit 2).
    #[error(transparent)]
    Cloud(#[from] crate::cloud::CloudError),
    /// An addon manifest could not be fetched, verified or understood (exit 2).
    #[error(transparent)]
    Addon(#[from] crate::addons::AddonError),
    /// Management cluster, tool installation or external program failure (exit 2; exit 1
    /// when it is a wait that ran out, see [`crate::mgmt::MgmtError::unconverged`]).
    #[error(transparent)]
    Mgmt(#[from] crate::mgmt::MgmtError),
    /// The cluster did not converge: what blocks it was found and is in the message
    /// (exit 1).
    #[error(transparent)]
    NotConverged(#[from] crate::lifecycle::NotConverged),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

impl Error {
    pub fn usage(message: impl Into<String>, hint: impl Into<Option<String>>) -> Self {
        Error::Usage {
            message: message.into(),
            hint: hint.into(),
        }
    }

    /// Whether this is a write to a closed pipe (`scs-capi render | head`): the reader has
    /// what it wanted, so the command ends quietly and successfully, as ripgrep does.
    pub fn is_broken_pipe(&self) -> bool {
        let broken = |e: &(dyn std::error::Error + 'static)| {
            e.downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
        };
        // `Other` is transparent: its source chain starts below the anyhow error's own root.
        if let Error::Other(e) = self
            && e.chain().any(broken)
        {
            return true;
        }
        let mut current: Option<&(dyn std::error::Error + 'static)> = Some(self);
        while let Some(e) = current {
            if broken(e) {
                return true;
            }
            current = e.source();
        }
        false
    }

    pub fn exit_code(&self) -> ExitCode {
        match self {
            Error::Invalid(_)
            | Error::Reported
            | Error::Incomplete { .. }
            | Error::NotConverged(_) => ExitCode::from(1),
            Error::Mgmt(e) if e.unconverged => ExitCode::from(1),
            Error::Interrupted(i) => ExitCode::from(crate::interrupt::exit_code(i.signal)),
            Error::Cloud(e) if e.kind == crate::cloud::CloudErrorKind::Interrupted => {
                ExitCode::from(crate::interrupt::exit_code(
                    crate::interrupt::signal().unwrap_or(crate::interrupt::SIGINT),
                ))
            }
            _ => ExitCode::from(2),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Writes an error the uv way: `error: what`, one `Caused by:` line per cause, hints.
pub fn report(err: &Error, out: &mut dyn std::io::Write) {
    if let Error::Reported = err {
        return;
    }
    if let Error::Invalid(diags) = err {
        for d in diags {
            let _ = writeln!(out, "{d}");
        }
    }
    let _ = writeln!(out, "error: {err}");
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        let _ = writeln!(out, "  Caused by: {cause}");
        source = cause.source();
    }
    let hint = match err {
        Error::Usage { hint, .. } | Error::Incomplete { hint, .. } => hint.as_deref(),
        Error::Cloud(e) => e.hint.as_deref(),
        Error::Addon(e) => e.hint.as_deref(),
        Error::Mgmt(e) => e.hint.as_deref(),
        Error::NotConverged(e) => e.hint.as_deref(),
        _ => None,
    };
    if let Some(hint) = hint {
        let _ = writeln!(out, "\nhint: {hint}");
    }
}
