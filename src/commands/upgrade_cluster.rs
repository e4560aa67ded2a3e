//! `scs-capi upgrade-cluster -f CLUSTER.yaml [--to vX.Y[.Z|.x]] [--dry-run]`: the
//! arguments (the lifecycle flags of `create-cluster`, shared through
//! [`ClusterArgs`]), the runtime, and the printing of [`crate::lifecycle::upgrade`]'s
//! report (text or `--output json`); progress goes to stderr as for `create-cluster`.

use crate::commands::create_cluster::{
    ClusterArgs, Output, print_addons, print_cloud_and_objects, print_json, print_tail, runtime,
};
use crate::error::{Error, Result};
use crate::lifecycle::upgrade::{self, Report};
use crate::mgmt::runner::ProcessRunner;
use crate::settings::versions::KubernetesVersion;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// The version to upgrade to: `v1.34` or `v1.34.x` (newest known patch), `v1.34.2`;
    /// at most one minor above the running one. Default: `kubernetes_version` of the
    /// settings.
    #[arg(long, value_name = "vX.Y[.Z|.x]", value_parser = parse_to)]
    pub to: Option<KubernetesVersion>,
    /// Show the running and target version and what would change, object by object;
    /// change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Do not ask before upgrading (there is nothing to confirm today: kept for scripts
    /// that pass it to every lifecycle command).
    #[arg(long)]
    pub yes: bool,
}

/// `v1.34` means `v1.34.x`; otherwise the settings' spelling.
fn parse_to(s: &str) -> std::result::Result<KubernetesVersion, String> {
    if s.matches('.').count() == 1 {
        format!("{s}.x").parse()
    } else {
        s.parse()
    }
    .map_err(|_| {
        format!("expected `v1.MINOR`, `v1.MINOR.x` or `v1.MINOR.PATCH`, e.g. `v1.34.x`; got `{s}`")
    })
}

pub fn run(
    args: &Args,
    templates: Option<&std::path::Path>,
    out: &mut dyn std::io::Write,
) -> Result<()> {
    let opts = args.cluster.options(templates, args.dry_run);
    let progress = args.cluster.progress();
    let runner = ProcessRunner {
        bin_dir: opts.bin_dir.clone(),
    };
    let report = runtime()?.block_on(upgrade::run(&opts, args.to, &runner, progress.as_ref()))?;
    print_report(&report, args.cluster.output, out)
}

pub fn print_report(report: &Report, output: Output, out: &mut dyn std::io::Write) -> Result<()> {
    if output == Output::Json {
        return print_json(report, out);
    }
    let io = |e: std::io::Error| Error::Other(e.into());
    writeln!(
        out,
        "cluster `{}`: Kubernetes {} -> {}",
        report.cluster, report.from, report.to
    )
    .map_err(io)?;
    let verb = if report.dry_run { "would" } else { "did" };
    print_cloud_and_objects(&report.cluster, verb, &report.cloud, &report.objects, out)?;
    if report.up_to_date {
        writeln!(
            out,
            "cluster `{}` already runs {} as rendered: nothing to roll out",
            report.cluster, report.to
        )
        .map_err(io)?;
    } else if !report.dry_run {
        writeln!(
            out,
            "machines replaced: {} (the cluster has {})",
            report.machines_replaced, report.machines
        )
        .map_err(io)?;
    }
    print_addons(&report.addons, out)?;
    for p in &report.pruned {
        writeln!(out, "deleted (no longer referenced): {p}").map_err(io)?;
    }
    print_tail(
        &report.notes,
        report.kubeconfig.as_deref(),
        report.dry_run,
        report.seconds,
        out,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn to_accepts_minor_x_and_patch() {
        assert_eq!(parse_to("v1.34").unwrap().to_string(), "v1.34.x");
        assert_eq!(parse_to("v1.34.x").unwrap().to_string(), "v1.34.x");
        assert_eq!(parse_to("v1.34.2").unwrap().to_string(), "v1.34.2");
        for bad in ["1.34", "v1", "v1.34.2.1", "latest"] {
            assert!(parse_to(bad).is_err(), "{bad}");
        }
    }
}
