//! `scs-capi delete-cluster (-f CLUSTER.yaml | NAME)`: the cluster's prefix and cloud from
//! its settings or this machine's state ([`crate::lifecycle::named`]), confirmation (refused without a terminal unless
//! `--yes`), then [`crate::lifecycle::delete`] (workload Services and claims, the Cluster on
//! the management cluster), then [`crate::cloud::cleanup`] for whatever the cluster left in
//! OpenStack, the application credential included; the report goes to stdout.

use std::path::PathBuf;
use std::time::Duration;

use crate::cloud::cleanup::{self, VolumePolicy};
use crate::cloud::names::ClusterNames;
use crate::cloud::prepare::R4_NAMESPACE;
use crate::commands::create_cluster::{Output, runtime};
use crate::error::{Error, Result};
use crate::lifecycle::create::mgmt_client;
use crate::lifecycle::delete::{self, Volumes};
use crate::lifecycle::named;
use crate::mgmt::client::Target;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub cluster: super::ClusterRef,
    /// What happens to the cluster's volumes (PersistentVolumeClaims).
    #[arg(long, value_enum)]
    pub volumes: Option<Volumes>,
    /// Do not ask for confirmation.
    #[arg(long)]
    pub yes: bool,
    /// Show what would be deleted and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Kubeconfig of the management cluster (else `KUBECONFIG`, else `~/.kube/config`).
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// Context in that kubeconfig (else its current context).
    #[arg(long, value_name = "NAME")]
    pub context: Option<String>,
    /// The cloud in `clouds.yaml` (else the settings' `cloud_provider`, else the cloud the
    /// cluster was prepared on, else `OS_CLOUD`).
    #[arg(long, value_name = "NAME")]
    pub os_cloud: Option<String>,
    /// How long to wait for the cluster to be gone, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 1800)]
    pub timeout: u64,
    /// Format of the report on stdout.
    #[arg(long, value_enum, default_value_t = Output::Text)]
    pub output: Output,
    #[command(flatten)]
    pub progress: super::ProgressArgs,
}

pub fn run(args: &Args, out: &mut dyn std::io::Write, err: &mut dyn std::io::Write) -> Result<()> {
    let volumes = args.volumes.unwrap_or(Volumes::Keep);
    // The prefix and cloud come from the settings or this machine's state; a mismatch with
    // what the cluster was created with stops us before anything is deleted.
    let named = named::resolve(&args.cluster.by(), args.os_cloud.as_deref())?;
    for w in &named.warnings {
        let _ = writeln!(err, "{w}");
    }
    let (cloud, name) = (&named.cloud, &named.cluster);
    // Held until the state directory is gone too.
    let _lock = (!args.dry_run)
        .then(|| crate::state_lock::acquire(name, "delete-cluster"))
        .transpose()?;
    for w in &cloud.warnings {
        let _ = writeln!(err, "warning: {w}");
    }
    if !args.dry_run && !args.yes {
        super::confirm(
            &format!(
                "delete cluster `{name}` and its cloud resources on cloud `{}` (volumes: {})",
                cloud.name,
                if volumes == Volumes::Delete {
                    "delete"
                } else {
                    "keep"
                }
            ),
            name,
            err,
        )?;
    }
    let progress = args.progress.progress(args.output);
    let target = Target {
        kubeconfig: args.kubeconfig.clone(),
        context: args.context.clone(),
    };
    let names = ClusterNames::new(named.prefix.clone(), name.clone(), R4_NAMESPACE);
    let policy = match volumes {
        Volumes::Keep => VolumePolicy::Keep,
        Volumes::Delete => VolumePolicy::Delete,
    };
    let (report, (plan, _, cleaned)) = runtime()?.block_on(async {
        let (client, server) = mgmt_client(&target).await?;
        let report = delete::run(
            &client,
            &server,
            name,
            volumes,
            args.dry_run,
            Duration::from_secs(args.timeout),
            progress.as_ref(),
        )
        .await?;
        // What CAPI/CAPO and OCCM left (or never owned: server groups, the cilium group,
        // the application credential) goes now, in dependency order.
        progress.phase("cleaning up the cloud");
        let mut line = |l: &str| progress.message(l);
        let cleanup =
            cleanup::connect_and_run(cloud, &names, policy, args.dry_run, &mut line).await?;
        progress.finish("cloud cleaned up");
        Ok::<_, Error>((report, cleanup))
    })?;
    let io = |e: std::io::Error| Error::Other(e.into());
    let complete = cleaned.as_ref().is_none_or(cleanup::Report::is_complete);
    if complete && !args.dry_run {
        // Kubeconfig and credential are gone with the cluster; the directory goes too.
        let _ = std::fs::remove_dir_all(&named.state_dir);
    }
    if args.output == Output::Json {
        let doc = serde_json::json!({
            "cluster": &report,
            "cloud": {"name": &cloud.name, "plan": &plan, "report": &cleaned, "complete": cleaned.as_ref().map(cleanup::Report::is_complete)},
        });
        let v = serde_json::to_string_pretty(&doc).map_err(|e| Error::Other(e.into()))?;
        writeln!(out, "{v}").map_err(io)?;
        return incomplete(name, cleaned.as_ref());
    }
    let verb = if args.dry_run {
        "would delete"
    } else {
        "deleted"
    };
    for s in &report.load_balancer_services {
        writeln!(out, "{verb} LoadBalancer Service {s}").map_err(io)?;
    }
    for p in &report.volume_claims {
        writeln!(out, "{verb} PersistentVolumeClaim {p}").map_err(io)?;
    }
    if args.dry_run {
        writeln!(
            out,
            "would delete Cluster `{name}`\ndry run: nothing was changed"
        )
        .map_err(io)?;
    } else {
        writeln!(out, "cluster `{name}` deleted in {:.1}s", report.seconds).map_err(io)?;
    }
    match &cleaned {
        Some(r) => write!(out, "\n{}", r.render_table()).map_err(io)?,
        None => write!(out, "\n{}", plan.render_table()).map_err(io)?,
    }
    incomplete(name, cleaned.as_ref())
}

/// Exit 1 when the cloud cleanup left something (the table says what).
fn incomplete(cluster: &str, cleaned: Option<&cleanup::Report>) -> Result<()> {
    match cleaned {
        Some(r) if !r.is_complete() => Err(Error::Incomplete {
            message: format!(
                "cluster `{cluster}` is deleted, but its cloud cleanup is incomplete: {}",
                r.summary()
            ),
            hint: Some(format!(
                "fix what the table shows (or wait) and run `scs-capi cleanup {cluster}`: it continues where this run stopped"
            )),
        }),
        _ => Ok(()),
    }
}
