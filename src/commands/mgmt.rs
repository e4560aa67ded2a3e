//! `scs-capi mgmt init` / `mgmt upgrade`: load the management-wide settings, build the
//! tool table (built-in, or `--tools-manifest`), and print the plan of
//! [`crate::mgmt::lifecycle`] (`--dry-run`) or execute it. The report goes to stdout (text
//! table or `--output json`), progress to stderr.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::mgmt::client::Target;
use crate::mgmt::lifecycle::{self, Operation, Report, Request, State};
use crate::mgmt::runner::ProcessRunner;
use crate::mgmt::tools::{self, Manifest, Platform, Versions};
use crate::mgmt::{MgmtError, install};
use crate::render::Profile;
use crate::settings::{self, validate::Options};

pub use super::Output;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Install the pinned tools (clusterctl, kubectl, cilium, hubble, calicoctl, helm, flux, k9s),
    /// then Cluster API with the kubeadm and OpenStack providers (and ORC where CAPO needs
    /// it) on the management cluster, set CAPO's instance-create timeout, and wait until
    /// the providers are up. Safe to run again.
    ///
    /// Exit status: 0 done (or nothing to do), 1 a provider or CRD did not become ready in
    /// time (named), 2 usage or input error, a refused download, an older provider
    /// installation (use `mgmt upgrade`), a tool or management-cluster failure.
    #[command(
        after_help = "Examples:\n  scs-capi mgmt init --dry-run\n  scs-capi mgmt init --kubeconfig ~/.kube/config --context kind-kind"
    )]
    Init(Args),
    /// Install the pinned tools, then move the providers to the pinned versions with
    /// `clusterctl upgrade plan` / `upgrade apply`.
    ///
    /// Exit status: 0 done (or nothing to do), 1 a provider or CRD did not become ready in
    /// time (named), 2 usage or input error, a refused download, a tool or
    /// management-cluster failure.
    #[command(after_help = "Examples:\n  scs-capi mgmt upgrade --dry-run\n  scs-capi mgmt upgrade")]
    Upgrade(Args),
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print what would be installed and run, and change nothing (no cluster needed).
    #[arg(long)]
    pub dry_run: bool,
    /// Management-wide defaults (else `$XDG_CONFIG_HOME/scs-capi/defaults.yaml` when present).
    #[arg(long, value_name = "FILE")]
    pub defaults: Option<PathBuf>,
    /// Cluster API / CAPO versions used when the settings leave them empty.
    #[arg(long, value_enum, default_value_t = Profile::Default)]
    pub profile: Profile,
    /// Kubeconfig of the management cluster (else `KUBECONFIG`, else `~/.kube/config`).
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// Context in the kubeconfig (else its current context; R4's was `kind-kind`).
    #[arg(long, value_name = "NAME")]
    pub context: Option<String>,
    /// Where the tools are installed (else `$XDG_DATA_HOME/scs-capi/bin` or
    /// `~/.local/share/scs-capi/bin`).
    #[arg(long, value_name = "DIR")]
    pub bin_dir: Option<PathBuf>,
    /// Format of the report on stdout.
    #[arg(long, value_enum, default_value_t = Output::Text)]
    pub output: Output,
    #[command(flatten)]
    pub progress: super::ProgressArgs,
    /// Install tools that have no pinned SHA-256 (checked against the release's checksum
    /// file where it publishes one).
    #[arg(long)]
    pub allow_unpinned: bool,
    /// The SHA-256 to expect for a tool's download (repeatable); wins over the pin.
    #[arg(long = "sha256", value_name = "TOOL=SUM", value_parser = parse_sum)]
    pub sha256: Vec<(String, String)>,
    /// Seconds each wait (provider deployments, CRDs) may take.
    #[arg(long, value_name = "SECONDS", default_value_t = 600)]
    pub wait_timeout: u64,
    /// Replace the built-in tool table (mirrors, tests).
    #[arg(long, value_name = "FILE", hide = true)]
    pub tools_manifest: Option<PathBuf>,
    /// Treat settings warnings as errors.
    #[arg(long)]
    pub strict: bool,
}

fn parse_sum(s: &str) -> std::result::Result<(String, String), String> {
    let (tool, sum) = s
        .split_once('=')
        .ok_or_else(|| format!("expected `TOOL=SHA256`, got `{s}`"))?;
    if !tools::is_sha256(sum) {
        return Err(format!("`{sum}` is not a SHA-256 (64 hex digits)"));
    }
    Ok((tool.to_string(), sum.to_ascii_lowercase()))
}

pub fn run(
    cmd: &Command,
    out: &mut dyn std::io::Write,
    err: &mut dyn std::io::Write,
) -> Result<()> {
    let (operation, args) = match cmd {
        Command::Init(a) => (Operation::Init, a),
        Command::Upgrade(a) => (Operation::Upgrade, a),
    };
    let req = request(operation, args, err)?;
    // Progress stays lines or bars with `--output json` too (the plan is the data).
    let progress = args.progress.progress(Output::Text);
    if args.dry_run {
        let report = lifecycle::dry_run(&req)?;
        print_report(&report, args.output, out)?;
        let refused = report.steps.iter().any(|s| s.state == State::Refused);
        let _ = writeln!(
            err,
            "dry run: nothing was downloaded, installed or changed, and the management cluster \
             was not contacted"
        );
        if refused {
            let planned = install::plan(&req.tools, &req.install)?;
            install::ensure_none_refused(&planned)?;
        }
        return Ok(());
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Other(e.into()))?;
    let runner = ProcessRunner::new(Some(req.install.bin_dir.clone()));
    match rt.block_on(lifecycle::execute(&req, &runner, progress.as_ref())) {
        Ok(report) => print_report(&report, args.output, out),
        Err(failed) => {
            // What was done before the failure; a re-run finishes the job.
            print_report(&failed.report, args.output, out)?;
            Err(failed.error.into())
        }
    }
}

fn request(operation: Operation, args: &Args, err: &mut dyn std::io::Write) -> Result<Request> {
    let defaults = settings::defaults_file(args.defaults.as_deref())?;
    let loaded = settings::load(
        defaults.as_ref(),
        None,
        &settings::env_overrides(),
        Options {
            allow_preview_versions: false,
            is_cluster: false,
            profile: args.profile,
        },
    );
    settings::ensure_valid(&loaded.diagnostics, args.strict)?;
    for d in &loaded.diagnostics {
        let _ = writeln!(err, "{d}");
    }
    let settings = loaded.settings;
    let tools = match &args.tools_manifest {
        Some(path) => Manifest::read(path)?.tools,
        None => tools::builtin(
            &Versions::from_settings(&settings, args.profile),
            Platform::current()?,
        ),
    };
    let bin_dir = match &args.bin_dir {
        Some(d) => d.clone(),
        None => install::default_bin_dir().ok_or_else(|| {
            MgmtError::new("no bin directory: `XDG_DATA_HOME` and `HOME` are not set")
                .hint("pass `--bin-dir DIR`")
        })?,
    };
    let mut opts = install::Options::new(bin_dir);
    opts.allow_unpinned = args.allow_unpinned;
    opts.user_sums = args.sha256.iter().cloned().collect::<BTreeMap<_, _>>();
    Ok(Request {
        operation,
        settings,
        profile: args.profile,
        target: Target {
            kubeconfig: args.kubeconfig.clone(),
            context: args.context.clone(),
        },
        install: opts,
        tools,
        wait_timeout: Duration::from_secs(args.wait_timeout),
    })
}

fn print_report(report: &Report, output: Output, out: &mut dyn std::io::Write) -> Result<()> {
    super::write_steps(report, &report.steps, output, out)?;
    if let (Output::Text, Some(plan)) = (output, &report.upgrade_plan) {
        writeln!(out, "\nclusterctl upgrade plan:\n{plan}").map_err(|e| Error::Other(e.into()))?;
    }
    Ok(())
}
