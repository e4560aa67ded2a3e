//! `scs-capi delete-cluster NAME`: confirmation (refused without a terminal unless
//! `--yes`), then [`crate::lifecycle::delete`] (workload Services and claims, the Cluster on
//! the management cluster), then [`crate::cloud::cleanup`] for whatever the cluster left in
//! OpenStack, the application credential included; the report goes to stdout.

use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;
use std::time::Duration;

use crate::cloud::cleanup::{self, VolumePolicy};
use crate::cloud::config;
use crate::cloud::names::ClusterNames;
use crate::cloud::prepare::R4_NAMESPACE;
use crate::commands::cleanup::check_name;
use crate::commands::create_cluster::{Output, runtime};
use crate::error::{Error, Result};
use crate::lifecycle::create::mgmt_client;
use crate::lifecycle::delete::{self, Volumes};
use crate::mgmt::client::Target;
use crate::ui::{JsonProgress, Progress, ProgressMode, progress_for};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The cluster's name.
    pub name: String,
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
    /// The cloud in `clouds.yaml` whose leftovers are cleaned up (else `OS_CLOUD`).
    #[arg(long, value_name = "NAME")]
    pub os_cloud: Option<String>,
    /// The prefix the cluster's OpenStack names carry (settings `prefix`; default `capi`).
    #[arg(long, value_name = "P")]
    pub prefix: Option<String>,
    /// How long to wait for the cluster to be gone, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 1800)]
    pub timeout: u64,
    /// Format of the report on stdout.
    #[arg(long, value_enum, default_value_t = Output::Text)]
    pub output: Output,
}

pub fn run(args: &Args, out: &mut dyn std::io::Write, err: &mut dyn std::io::Write) -> Result<()> {
    let volumes = args.volumes.unwrap_or(Volumes::Keep);
    let prefix = args
        .prefix
        .clone()
        .unwrap_or_else(|| crate::settings::Settings::default().prefix);
    check_name("NAME", &args.name)?;
    check_name("--prefix", &prefix)?;
    // A cloud that cannot be resolved stops us before anything is deleted.
    let cloud = config::resolve(args.os_cloud.as_deref())?;
    for w in &cloud.warnings {
        let _ = writeln!(err, "warning: {w}");
    }
    if !args.dry_run && !args.yes {
        if !std::io::stdin().is_terminal() {
            return Err(Error::usage(
                format!(
                    "refusing to delete cluster `{}` without confirmation: stdin is not a terminal",
                    args.name
                ),
                Some("pass `--yes` to delete without asking".into()),
            ));
        }
        let _ = write!(
            err,
            "delete cluster `{}` and its cloud resources (volumes: {volumes:?})? type the cluster name to confirm: ",
            args.name
        );
        let _ = err.flush();
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|e| Error::Other(e.into()))?;
        if line.trim() != args.name {
            return Err(Error::usage("not confirmed: nothing was deleted", None));
        }
    }
    let progress: Box<dyn Progress> = match args.output {
        Output::Json => Box::new(JsonProgress::new(Box::new(std::io::stderr()))),
        Output::Text => progress_for(ProgressMode::Auto),
    };
    let target = Target {
        kubeconfig: args.kubeconfig.clone(),
        context: args.context.clone(),
    };
    let names = ClusterNames::new(prefix, args.name.clone(), R4_NAMESPACE);
    let policy = match volumes {
        Volumes::Keep => VolumePolicy::Keep,
        Volumes::Delete => VolumePolicy::Delete,
    };
    let (report, (plan, _, cleaned)) = runtime()?.block_on(async {
        let (client, server) = mgmt_client(&target).await?;
        let report = delete::run(
            &client,
            &server,
            &args.name,
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
            cleanup::connect_and_run(&cloud, &names, policy, args.dry_run, &mut line).await?;
        Ok::<_, Error>((report, cleanup))
    })?;
    let io = |e: std::io::Error| Error::Other(e.into());
    let complete = cleaned.as_ref().is_none_or(cleanup::Report::is_complete);
    if complete && !args.dry_run {
        // Kubeconfig and credential are gone with the cluster; the directory goes too.
        if let Ok(dir) = crate::cloud::prepare::state_dir(&args.name) {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
    if args.output == Output::Json {
        let doc = serde_json::json!({
            "cluster": &report,
            "cloud": {"name": &cloud.name, "plan": &plan, "report": &cleaned, "complete": cleaned.as_ref().map(cleanup::Report::is_complete)},
        });
        let v = serde_json::to_string_pretty(&doc).map_err(|e| Error::Other(e.into()))?;
        writeln!(out, "{v}").map_err(io)?;
        return incomplete(&args.name, cleaned.as_ref());
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
            "would delete Cluster `{}`\ndry run: nothing was changed",
            args.name
        )
        .map_err(io)?;
    } else {
        writeln!(
            out,
            "cluster `{}` deleted in {:.1}s",
            args.name, report.seconds
        )
        .map_err(io)?;
    }
    match &cleaned {
        Some(r) => write!(out, "\n{}", r.render_table()).map_err(io)?,
        None => write!(out, "\n{}", plan.render_table()).map_err(io)?,
    }
    incomplete(&args.name, cleaned.as_ref())
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
                "fix what the table shows (or wait) and run `scs-capi cleanup --cluster {cluster}`: it continues where this run stopped"
            )),
        }),
        _ => Ok(()),
    }
}
