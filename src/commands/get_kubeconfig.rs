//! `scs-capi get-kubeconfig (-f CLUSTER.yaml | NAME) [--merge]`: the workload cluster's admin kubeconfig from
//! the management cluster (Secret `<cluster>-kubeconfig`), written 0600 into the cluster's
//! state directory (its path on stdout); `--merge` also merges it into `$KUBECONFIG` /
//! `~/.kube/config` (0600) without touching other entries: entries of the same names that
//! belong to another cluster are refused, a symlinked file stays a symlink, and dropped
//! comments are warned about.

use std::path::PathBuf;

use crate::cloud::prepare::state_dir;
use crate::error::{Error, Result};
use crate::lifecycle::{NAMESPACE, create, kubeconfig};
use crate::mgmt::MgmtError;
use crate::mgmt::client::Target;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub cluster: super::ClusterRef,
    /// Also merge it into `$KUBECONFIG` (its first file) or `~/.kube/config`.
    #[arg(long)]
    pub merge: bool,
    /// Kubeconfig of the management cluster (else `KUBECONFIG`, else `~/.kube/config`).
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// Context in that kubeconfig (else its current context).
    #[arg(long, value_name = "NAME")]
    pub context: Option<String>,
}

pub fn run(args: &Args, out: &mut dyn std::io::Write, err: &mut dyn std::io::Write) -> Result<()> {
    let target = Target {
        kubeconfig: args.kubeconfig.clone(),
        context: args.context.clone(),
    };
    let name = &crate::lifecycle::named::name_only(&args.cluster.by())?;
    let text = crate::commands::create_cluster::runtime()?.block_on(async {
        let (client, server) = create::mgmt_client(&target).await?;
        kubeconfig::fetch(&client, &server, NAMESPACE, name).await
    })?;
    let text = text.ok_or_else(|| {
        MgmtError::new(format!("cluster `{name}` has no kubeconfig: Secret `{NAMESPACE}/{name}-kubeconfig` does not exist"))
            .hint("check the name (`kubectl get clusters -A`); a new cluster gets it once its control plane is initialized")
    })?;
    kubeconfig::check(&text, name)?;
    let path = kubeconfig::save(&state_dir(name)?, &text)?;
    writeln!(out, "{}", path.display()).map_err(|e| Error::Other(e.into()))?;
    if args.merge {
        let target = kubeconfig::user_kubeconfig_path().ok_or_else(|| {
            Error::usage(
                "cannot find your kubeconfig: neither `KUBECONFIG` nor `HOME` is set",
                Some("set `KUBECONFIG`".into()),
            )
        })?;
        let merged = kubeconfig::merge_into(&target, &text)?;
        if merged.dropped_comments {
            let _ = writeln!(
                err,
                "warning: the comments of `{}` are not kept in the merged file",
                merged.written.display()
            );
        }
        let _ = writeln!(
            err,
            "merged into `{}`; use it with `kubectl --context {}`",
            target.display(),
            kubeconfig::context_name(name)
        );
    }
    Ok(())
}
