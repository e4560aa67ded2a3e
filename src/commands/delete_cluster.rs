//! `scs-capi delete-cluster NAME`: confirmation (refused without a terminal unless
//! `--yes`), then [`crate::lifecycle::delete`]; the report goes to stdout.

use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;
use std::time::Duration;

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
    /// How long to wait for the cluster to be gone, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 1800)]
    pub timeout: u64,
    /// Format of the report on stdout.
    #[arg(long, value_enum, default_value_t = Output::Text)]
    pub output: Output,
}

pub fn run(args: &Args, out: &mut dyn std::io::Write, err: &mut dyn std::io::Write) -> Result<()> {
    let volumes = args.volumes.unwrap_or(Volumes::Keep);
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
    let report = runtime()?.block_on(async {
        let (client, server) = mgmt_client(&target).await?;
        delete::run(
            &client,
            &server,
            &args.name,
            volumes,
            args.dry_run,
            Duration::from_secs(args.timeout),
            progress.as_ref(),
        )
        .await
    })?;
    let io = |e: std::io::Error| Error::Other(e.into());
    if args.output == Output::Json {
        let v = serde_json::to_string_pretty(&report).map_err(|e| Error::Other(e.into()))?;
        return writeln!(out, "{v}").map_err(io);
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
    Ok(())
}
