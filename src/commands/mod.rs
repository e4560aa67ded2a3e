//! One module per subcommand: its arguments and a `run` that wires the library
//! together. No YAML building or validation logic lives here.

pub mod cleanup;
pub mod completions;
pub mod create_cluster;
pub mod delete_cluster;
pub mod etcd_defrag_script;
pub mod get_kubeconfig;
pub mod mgmt;
pub mod prepare_cloud;
pub mod render;
pub mod schema;
pub mod settings;
pub mod upgrade_cluster;
pub mod validate;

/// Format of a plan or report on stdout (`--output`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    Text,
    Json,
}

/// A step of a plan or report as a row of the `STATE STEP NAME DETAIL` table.
pub(crate) trait StepRow {
    fn row(&self) -> [&str; 4];
}

impl StepRow for crate::cloud::prepare::Step {
    fn row(&self) -> [&str; 4] {
        [self.state.as_str(), &self.step, &self.name, &self.detail]
    }
}

impl StepRow for crate::mgmt::lifecycle::Step {
    fn row(&self) -> [&str; 4] {
        [self.state.as_str(), &self.step, &self.name, &self.detail]
    }
}

/// Writes `serde` data as pretty JSON, or its steps as the `STATE STEP NAME DETAIL` table
/// that plans and reports share (columns padded to the widest entry).
///
/// # Errors
/// When stdout cannot be written or the data cannot be encoded.
pub(crate) fn write_steps<T: serde::Serialize, S: StepRow>(
    data: &T,
    steps: &[S],
    output: Output,
    out: &mut dyn std::io::Write,
) -> crate::error::Result<()> {
    use crate::error::Error;
    let rows: Vec<[&str; 4]> = steps.iter().map(StepRow::row).collect();
    let io = |e: std::io::Error| Error::Other(e.into());
    match output {
        Output::Json => {
            let v = serde_json::to_string_pretty(data).map_err(|e| Error::Other(e.into()))?;
            writeln!(out, "{v}").map_err(io)
        }
        Output::Text => {
            let width = |i: usize| rows.iter().map(|r| r[i].len()).max().unwrap_or(4).max(4);
            let (w_step, w_name) = (width(1), width(2));
            writeln!(
                out,
                "{:<8} {:<w_step$} {:<w_name$} DETAIL",
                "STATE", "STEP", "NAME"
            )
            .map_err(io)?;
            for [state, step, name, detail] in rows {
                writeln!(out, "{state:<8} {step:<w_step$} {name:<w_name$} {detail}").map_err(io)?;
            }
            Ok(())
        }
    }
}

/// How a command names the one cluster it acts on: by its settings file (layered with the
/// defaults and `SCS_CAPI_*` as for `create-cluster`), or by name where this machine's
/// state knows the cluster (it was prepared or created here).
#[derive(Debug, clap::Args)]
#[group(id = "cluster", required = true, multiple = false)]
pub struct ClusterRef {
    /// The cluster's name (known to this machine's state: prepared or created here).
    #[arg(value_name = "NAME", group = "cluster")]
    pub name: Option<String>,
    /// The cluster's settings file.
    #[arg(
        short = 'f',
        long = "file",
        value_name = "CLUSTER.yaml",
        group = "cluster"
    )]
    pub file: Option<std::path::PathBuf>,
    /// Management-wide defaults, with `-f` (else `$XDG_CONFIG_HOME/scs-capi/defaults.yaml`).
    #[arg(long, value_name = "FILE", requires = "file")]
    pub defaults: Option<std::path::PathBuf>,
}

impl ClusterRef {
    pub fn by(&self) -> crate::lifecycle::named::By {
        use crate::lifecycle::named::By;
        match (&self.file, &self.name) {
            (Some(f), _) => By::File {
                file: f.clone(),
                defaults: self.defaults.clone(),
            },
            (None, Some(n)) => By::Name(n.clone()),
            // clap's group makes one of them required.
            (None, None) => By::Name(String::new()),
        }
    }
}

/// Asks on the terminal before a destructive command acts on `cluster`: the user types the
/// cluster's name. Without a terminal on stdin the command is refused (pass `--yes`).
///
/// # Errors
/// Not confirmed, or no terminal to ask on (exit 2; nothing was changed).
pub(crate) fn confirm(
    question: &str,
    cluster: &str,
    err: &mut dyn std::io::Write,
) -> crate::error::Result<()> {
    use crate::error::Error;
    use std::io::{BufRead, IsTerminal};
    if !std::io::stdin().is_terminal() {
        return Err(Error::usage(
            format!("refusing to {question} without confirmation: stdin is not a terminal"),
            Some("pass `--yes` to go ahead without asking".into()),
        ));
    }
    let _ = write!(err, "{question}? type the cluster name to confirm: ");
    let _ = err.flush();
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| Error::Other(e.into()))?;
    if line.trim() != cluster {
        return Err(Error::usage("not confirmed: nothing was deleted", None));
    }
    Ok(())
}

/// `--no-progress`, shared by the long-running commands.
#[derive(Debug, Clone, Copy, clap::Args)]
pub struct ProgressArgs {
    /// Show no progress on stderr (also when `SCS_CAPI_NO_PROGRESS` is set); the report on
    /// stdout and errors are unchanged.
    #[arg(long)]
    pub no_progress: bool,
}

impl ProgressArgs {
    /// Progress on stderr for a command whose report has format `output`: JSON lines with
    /// `--output json`, else bars on a terminal and timestamped lines otherwise.
    pub fn progress(&self, output: Output) -> Box<dyn crate::ui::Progress> {
        use crate::ui::{JsonProgress, ProgressMode, progress_for};
        let env_off = std::env::var_os("SCS_CAPI_NO_PROGRESS").is_some_and(|v| !v.is_empty());
        match output {
            Output::Json if !self.no_progress && !env_off => {
                Box::new(JsonProgress::new(Box::new(std::io::stderr())))
            }
            _ if self.no_progress => progress_for(ProgressMode::Off),
            _ => progress_for(ProgressMode::Auto),
        }
    }
}
