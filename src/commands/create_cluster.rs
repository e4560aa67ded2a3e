//! `scs-capi create-cluster -f CLUSTER.yaml`: the arguments, the runtime, and the printing
//! of [`crate::lifecycle::create`]'s report (text table or `--output json`); progress goes
//! to stderr (bars on a terminal, timestamped lines otherwise, JSON lines with
//! `--output json`).

use std::path::PathBuf;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::lifecycle::addons_apply::AddonResult;
use crate::lifecycle::create::{self, CloudStep, Options, Report};
use crate::lifecycle::objects::Planned;
use crate::mgmt::client::Target;
use crate::mgmt::runner::ProcessRunner;
use crate::render::Profile;
use crate::ui::Progress;

pub use super::Output;

/// Flags shared by the lifecycle commands that work from a settings file.
#[derive(Debug, clap::Args)]
pub struct ClusterArgs {
    /// The cluster's settings file.
    #[arg(short = 'f', long = "file", value_name = "CLUSTER.yaml")]
    pub file: PathBuf,
    /// Management-wide defaults (else `$XDG_CONFIG_HOME/scs-capi/defaults.yaml` when present).
    #[arg(long, value_name = "FILE")]
    pub defaults: Option<PathBuf>,
    /// The cloud in `clouds.yaml` (else the settings' `cloud_provider`, else `OS_CLOUD`).
    #[arg(long, value_name = "NAME")]
    pub os_cloud: Option<String>,
    /// Kubeconfig of the management cluster (else `KUBECONFIG`, else `~/.kube/config`).
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// Context in that kubeconfig (else its current context).
    #[arg(long, value_name = "NAME")]
    pub context: Option<String>,
    /// API versions to render for (must match the management cluster's Cluster API).
    #[arg(long, value_enum, default_value_t = Profile::Default)]
    pub profile: Profile,
    /// How long to wait for the cluster to converge, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 1800)]
    pub timeout: u64,
    /// Fetch addon manifests from this mirror (same paths as upstream after `https://`).
    #[arg(long, value_name = "URL", env = "SCS_CAPI_ADDON_MIRROR")]
    pub addon_mirror: Option<String>,
    /// Refuse addon files whose checksum is not in addons.lock.yaml yet.
    #[arg(long)]
    pub locked: bool,
    /// Where the pinned tools (cilium) are looked up first (else PATH).
    #[arg(long, value_name = "DIR")]
    pub bin_dir: Option<PathBuf>,
    /// Treat settings warnings as errors.
    #[arg(long)]
    pub strict: bool,
    /// Format of the report on stdout (and of the progress events on stderr).
    #[arg(long, value_enum, default_value_t = Output::Text)]
    pub output: Output,
    #[command(flatten)]
    pub progress: super::ProgressArgs,
}

impl ClusterArgs {
    pub fn options(&self, templates: Option<&std::path::Path>, dry_run: bool) -> Options {
        Options {
            file: self.file.clone(),
            defaults: self.defaults.clone(),
            os_cloud: self.os_cloud.clone(),
            profile: self.profile,
            templates: templates.map(PathBuf::from),
            mgmt: Target {
                kubeconfig: self.kubeconfig.clone(),
                context: self.context.clone(),
            },
            dry_run,
            strict: self.strict,
            timeout: Duration::from_secs(self.timeout),
            addon_mirror: self.addon_mirror.clone(),
            locked: self.locked,
            bin_dir: self
                .bin_dir
                .clone()
                .or_else(crate::mgmt::install::default_bin_dir),
        }
    }

    pub fn progress(&self) -> Box<dyn Progress> {
        self.progress.progress(self.output)
    }
}

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// Show what would be created or changed, object by object, and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Do not ask before creating (there is nothing to confirm today: kept for scripts
    /// that pass it to every lifecycle command).
    #[arg(long)]
    pub yes: bool,
}

pub fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Error::Other(e.into()))
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
    let report = runtime()?.block_on(create::run(&opts, &runner, progress.as_ref()))?;
    print_report(&report, args.cluster.output, out)
}

pub fn print_report(report: &Report, output: Output, out: &mut dyn std::io::Write) -> Result<()> {
    if output == Output::Json {
        return print_json(report, out);
    }
    let verb = if report.dry_run { "would" } else { "did" };
    print_cloud_and_objects(&report.cluster, verb, &report.cloud, &report.objects, out)?;
    print_addons(&report.addons, out)?;
    print_tail(
        &report.notes,
        report.kubeconfig.as_deref(),
        report.dry_run,
        report.seconds,
        out,
    )
}

fn io(e: std::io::Error) -> Error {
    Error::Other(e.into())
}

/// A report as pretty JSON.
pub(crate) fn print_json<T: serde::Serialize>(
    report: &T,
    out: &mut dyn std::io::Write,
) -> Result<()> {
    let v = serde_json::to_string_pretty(report).map_err(|e| Error::Other(e.into()))?;
    writeln!(out, "{v}").map_err(io)
}

/// The cloud steps and the management-cluster objects of a create or upgrade report.
pub(crate) fn print_cloud_and_objects(
    cluster: &str,
    verb: &str,
    cloud: &[CloudStep],
    objects: &[Planned],
    out: &mut dyn std::io::Write,
) -> Result<()> {
    writeln!(out, "cluster `{cluster}`: cloud ({verb})").map_err(io)?;
    for s in cloud {
        writeln!(
            out,
            "  {:<8} {:<24} {:<40} {}",
            s.state, s.step, s.name, s.detail
        )
        .map_err(io)?;
    }
    writeln!(out, "management cluster objects ({verb})").map_err(io)?;
    for p in objects {
        let change = serde_json::to_value(&p.change)
            .ok()
            .and_then(|v| v.as_str().map(String::from))
            .unwrap_or_default();
        let fields = if p.fields.is_empty() {
            String::new()
        } else {
            format!(" ({})", p.fields.join(", "))
        };
        writeln!(out, "  {change:<9} {}{fields}", p.object).map_err(io)?;
    }
    Ok(())
}

pub(crate) fn print_addons(addons: &[AddonResult], out: &mut dyn std::io::Write) -> Result<()> {
    if !addons.is_empty() {
        writeln!(out, "addons").map_err(io)?;
        for a in addons {
            writeln!(out, "  {:<20} {:<10} {}", a.addon, a.version, a.action).map_err(io)?;
        }
    }
    Ok(())
}

/// Notes, the kubeconfig path and the closing line.
pub(crate) fn print_tail(
    notes: &[String],
    kubeconfig: Option<&std::path::Path>,
    dry_run: bool,
    seconds: f64,
    out: &mut dyn std::io::Write,
) -> Result<()> {
    for n in notes {
        writeln!(out, "note: {n}").map_err(io)?;
    }
    if let Some(k) = kubeconfig {
        writeln!(out, "kubeconfig: {}", k.display()).map_err(io)?;
    }
    if dry_run {
        writeln!(out, "dry run: nothing was changed").map_err(io)
    } else {
        writeln!(out, "done in {seconds:.1}s").map_err(io)
    }
}
