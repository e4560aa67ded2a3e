//! `scs-capi cleanup (-f CLUSTER.yaml | NAME)`: resolve the cluster's prefix and cloud
//! ([`crate::lifecycle::named`]), refuse while the management cluster still has the
//! Cluster (unless `--force`), ask (unless `--yes`), connect once, list the project, plan
//! the deletion of everything that belongs to the cluster ([`crate::cloud::cleanup`]) and,
//! unless `--dry-run`, execute it. The plan or the report goes to stdout (text table
//! or `--output json`), progress to stderr.
//!
//! Exit status: 0 when everything of the cluster is gone (kept volumes allowed), 1 when
//! something failed or is blocked (the table says what; a re-run continues), 2 for usage,
//! configuration, authentication or listing errors (nothing is deleted then).

use serde::Serialize;

use crate::cloud::cleanup::{self, Plan, Report, VolumePolicy};
use crate::cloud::names::ClusterNames;
use crate::cloud::prepare::R4_NAMESPACE;
use crate::commands::prepare_cloud::Output;
use crate::error::{Error, Result};
use crate::lifecycle::create::mgmt_client;
use crate::lifecycle::named;
use crate::mgmt::client::Target;

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
    #[command(flatten)]
    pub cluster: super::ClusterRef,
    /// Cinder CSI volumes of the cluster: kept and listed, or deleted.
    #[arg(long, value_enum, default_value_t = Volumes::Keep)]
    pub volumes: Volumes,
    /// The cloud in `clouds.yaml` (else the settings' `cloud_provider`, else the cloud the
    /// cluster was prepared on, else `OS_CLOUD`).
    #[arg(long, value_name = "NAME")]
    pub os_cloud: Option<String>,
    /// Print the plan and delete nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Do not ask for confirmation.
    #[arg(long)]
    pub yes: bool,
    /// Delete even while the management cluster still has the Cluster, or when no
    /// management cluster can be asked (it is gone).
    #[arg(long)]
    pub force: bool,
    /// Kubeconfig of the management cluster (else `KUBECONFIG`, else `~/.kube/config`).
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<std::path::PathBuf>,
    /// Context in that kubeconfig (else its current context).
    #[arg(long, value_name = "NAME")]
    pub context: Option<String>,
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
    let named = named::resolve(&args.cluster.by(), args.os_cloud.as_deref())?;
    for w in &named.warnings {
        let _ = writeln!(err, "{w}");
    }
    let cloud = &named.cloud;
    let (cluster, prefix) = (&named.cluster, &named.prefix);
    let names = ClusterNames::new(prefix.clone(), cluster.clone(), R4_NAMESPACE);
    let _lock = (!args.dry_run)
        .then(|| crate::state_lock::acquire(cluster, "cleanup"))
        .transpose()?;
    let volumes = match args.volumes {
        Volumes::Keep => VolumePolicy::Keep,
        Volumes::Delete => VolumePolicy::Delete,
    };
    for w in &cloud.warnings {
        let _ = writeln!(err, "warning: {w}");
    }
    if !args.dry_run && !args.force {
        refuse_running_cluster(args, cluster)?;
    }
    if !args.dry_run && !args.yes {
        super::confirm(
            &format!(
                "delete every OpenStack resource of cluster `{cluster}` on cloud `{}` (volumes: {})",
                cloud.name,
                if volumes == VolumePolicy::Delete {
                    "delete"
                } else {
                    "keep"
                }
            ),
            cluster,
            err,
        )?;
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Other(e.into()))?;
    let mut progress = |line: &str| {
        let _ = writeln!(err, "{line}");
    };
    let (plan, skipped, report) = rt.block_on(cleanup::connect_and_run(
        cloud,
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
                cluster,
                prefix,
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
                "nothing of cluster `{cluster}` found on cloud `{}`",
                cloud.name
            );
        }
        return Ok(());
    }
    Err(Error::Incomplete {
        message: format!(
            "cleanup of cluster `{cluster}` on cloud `{}` is incomplete: {}",
            cloud.name,
            report.summary()
        ),
        hint: Some(format!(
            "the table shows what is left and why; fix that (or wait) and re-run `scs-capi \
             cleanup {cluster}`: it continues where this run stopped"
        )),
    })
}

/// Cleanup under a running cluster would pull its servers and network away: refused while
/// the management cluster has the Cluster (`delete-cluster` is the way then), and when the
/// management cluster cannot be asked (`--force` when it is gone).
fn refuse_running_cluster(args: &Args, cluster: &str) -> Result<()> {
    let target = Target {
        kubeconfig: args.kubeconfig.clone(),
        context: args.context.clone(),
    };
    let exists = crate::commands::create_cluster::runtime()?.block_on(async {
        let (client, server) = mgmt_client(&target).await?;
        crate::lifecycle::delete::cluster_exists(&client, &server, cluster).await
    });
    match exists {
        Ok(false) => Ok(()),
        Ok(true) => Err(Error::usage(
            format!(
                "cluster `{cluster}` still exists in the management cluster: cleaning up its \
                 cloud resources would break it"
            ),
            Some(format!(
                "delete it with `scs-capi delete-cluster {cluster}` (that cleans up the cloud \
                 too); `--force` cleans up anyway"
            )),
        )),
        Err(e) => Err(Error::usage(
            format!(
                "cannot ask the management cluster whether cluster `{cluster}` still exists: {e}"
            ),
            Some(
                "pass `--kubeconfig`/`--context` of the management cluster, or `--force` when \
                 it is gone"
                    .into(),
            ),
        )),
    }
}
