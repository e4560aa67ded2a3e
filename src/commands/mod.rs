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
