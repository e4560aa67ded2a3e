//! `scs-capi cleanup --cluster NAME`: resolve the cloud, connect once, list the project,
//! plan the deletion of everything that belongs to the cluster ([`crate::cloud::cleanup`])
//! and, unless `--dry-run`, execute it. The plan or the report goes to stdout (text table
//! or `--output json`), progress to stderr.
//!
//! Exit status: 0 when everything of the cluster is gone (kept volumes allowed), 1 when
//! something failed or is blocked (the table says what; a re-run continues), 2 for usage,
//! configuration, authentication or listing errors (nothing is deleted then).

use serde::Serialize;

use crate::cloud::cleanup::{self, Plan, Report, VolumePolicy};
use crate::cloud::config;
use crate::cloud::names::ClusterNames;
use crate::cloud::prepare::R4_NAMESPACE;
use crate::commands::prepare_cloud::Output;
use crate::error::{Error, Result};
use crate::settings::Settings;

/// What happens to the cluster's Cinder CSI volumes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Volumes {
    /// List them, delete nothing.
    Keep,
    /// Delete them (their data is lost).
    Delete,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The cluster whose OpenStack resources are deleted (its `cluster_name`).
    #[arg(long, value_name = "NAME")]
    pub cluster: String,
    /// The prefix the cluster's names carry (settings `prefix`; default `capi`).
    #[arg(long, value_name = "P")]
    pub prefix: Option<String>,
    /// Cinder CSI volumes of the cluster: kept and listed, or deleted.
    #[arg(long, value_enum, default_value_t = Volumes::Keep)]
    pub volumes: Volumes,
    /// The cloud in `clouds.yaml` (else `OS_CLOUD`).
    #[arg(long, value_name = "NAME")]
    pub os_cloud: Option<String>,
    /// Print the plan and delete nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Format of the plan/result on stdout.
    #[arg(long, value_enum, default_value_t = Output::Text)]
    pub output: Output,
}

/// The JSON document on stdout.
#[derive(Serialize)]
struct Doc<'a> {
    cloud: &'a str,
    cluster: &'a str,
    prefix: &'a str,
    dry_run: bool,
    /// Services not looked at (not in the catalog), with why.
    skipped: &'a [String],
    plan: &'a Plan,
    #[serde(skip_serializing_if = "Option::is_none")]
    report: Option<&'a Report>,
    /// Everything of the cluster is gone (kept volumes aside); `null` on a dry run.
    complete: Option<bool>,
}

pub fn run(args: &Args, out: &mut dyn std::io::Write, err: &mut dyn std::io::Write) -> Result<()> {
    let prefix = args
        .prefix
        .clone()
        .unwrap_or_else(|| Settings::default().prefix);
    check_name("--cluster", &args.cluster)?;
    check_name("--prefix", &prefix)?;
    let names = ClusterNames::new(prefix.clone(), args.cluster.clone(), R4_NAMESPACE);
    let volumes = match args.volumes {
        Volumes::Keep => VolumePolicy::Keep,
        Volumes::Delete => VolumePolicy::Delete,
    };
    let cloud = config::resolve(args.os_cloud.as_deref())?;
    for w in &cloud.warnings {
        let _ = writeln!(err, "warning: {w}");
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Other(e.into()))?;
    let mut progress = |line: &str| {
        let _ = writeln!(err, "{line}");
    };
    let (plan, skipped, report) = rt.block_on(cleanup::connect_and_run(
        &cloud,
        &names,
        volumes,
        args.dry_run,
        &mut progress,
    ))?;
    let io = |e: std::io::Error| Error::Other(e.into());
    match args.output {
        Output::Json => {
            let doc = Doc {
                cloud: &cloud.name,
                cluster: &args.cluster,
                prefix: &prefix,
                dry_run: args.dry_run,
                skipped: &skipped,
                plan: &plan,
                report: report.as_ref(),
                complete: report.as_ref().map(Report::is_complete),
            };
            let v = serde_json::to_string_pretty(&doc).map_err(|e| Error::Other(e.into()))?;
            writeln!(out, "{v}").map_err(io)?;
        }
        Output::Text => match &report {
            Some(r) => write!(out, "{}", r.render_table()).map_err(io)?,
            None => write!(out, "{}", plan.render_table()).map_err(io)?,
        },
    }
    let Some(report) = report else {
        let _ = writeln!(err, "dry run: nothing was deleted");
        return Ok(());
    };
    if report.is_complete() {
        if plan.nodes.is_empty() {
            let _ = writeln!(
                err,
                "nothing of cluster `{}` found on cloud `{}`",
                args.cluster, cloud.name
            );
        }
        return Ok(());
    }
    Err(Error::Incomplete {
        message: format!(
            "cleanup of cluster `{}` on cloud `{}` is incomplete: {}",
            args.cluster,
            cloud.name,
            report.summary()
        ),
        hint: Some(format!(
            "the table shows what is left and why; fix that (or wait) and re-run `scs-capi \
             cleanup --cluster {}`: it continues where this run stopped",
            args.cluster
        )),
    })
}

/// `--cluster`/`--prefix` must be names scs-capi could have created resources with.
pub(crate) fn check_name(flag: &str, value: &str) -> Result<()> {
    match crate::settings::validate::dns_label_problem(value) {
        None => Ok(()),
        Some(problem) => Err(Error::usage(
            format!("`{flag} {value}`: the name {problem}"),
            Some(
                "cluster names and prefixes are lower-case letters, digits and `-`, starting \
                 with a letter (as in the settings' `cluster_name` and `prefix`)"
                    .to_string(),
            ),
        )),
    }
}
