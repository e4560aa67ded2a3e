//! `scs-capi prepare-cloud`: load and validate settings like `render`, resolve the cloud,
//! connect once, print the plan of [`crate::cloud::prepare`], and execute it unless
//! `--dry-run`. The plan/result goes to stdout (text table or `--output json`), progress
//! to stderr.

use std::path::PathBuf;

use crate::cloud::api::Api;
use crate::cloud::prepare::{self, Plan};
use crate::cloud::retry::RetryPolicy;
use crate::cloud::{Session, config};
use crate::error::{Error, Result};
use crate::settings::{self, SourceFile};

pub use super::Output;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The cluster's settings file.
    #[arg(short = 'f', long = "file", value_name = "CLUSTER.yaml")]
    pub file: PathBuf,
    /// Management-wide defaults (else `$XDG_CONFIG_HOME/scs-capi/defaults.yaml` when present).
    #[arg(long, value_name = "FILE")]
    pub defaults: Option<PathBuf>,
    /// The cloud in `clouds.yaml` (else the settings' `cloud_provider`, else `OS_CLOUD`).
    #[arg(long, value_name = "NAME")]
    pub os_cloud: Option<String>,
    /// Print the plan and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Format of the plan/result on stdout.
    #[arg(long, value_enum, default_value_t = Output::Text)]
    pub output: Output,
    /// Treat settings warnings as errors.
    #[arg(long)]
    pub strict: bool,
}

pub fn run(args: &Args, out: &mut dyn std::io::Write, err: &mut dyn std::io::Write) -> Result<()> {
    let defaults = match &args.defaults {
        Some(p) => Some(SourceFile::read(p)?),
        None => settings::default_defaults_path()
            .map(|p| SourceFile::read(&p))
            .transpose()?,
    };
    let render_args = crate::commands::render::Args {
        file: vec![args.file.clone()],
        example: false,
        defaults: args.defaults.clone(),
        profile: Default::default(),
        out: None,
        mgmt_cidr: None,
        explain: false,
        strict: args.strict,
        allow_preview_versions: false,
    };
    let loaded = crate::commands::render::load(&render_args, defaults.as_ref(), Some(&args.file))?;
    for d in &loaded.diagnostics {
        let _ = writeln!(err, "{d}");
    }
    let settings = loaded.settings;
    let explicit_cloud = args.os_cloud.clone().or_else(|| {
        loaded
            .origins
            .contains_key("cloud_provider")
            .then(|| settings.cloud_provider.clone())
    });
    let cloud = config::resolve(explicit_cloud.as_deref())?;
    for w in &cloud.warnings {
        let _ = writeln!(err, "warning: {w}");
    }
    let state = prepare::state_dir(settings.name())?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Other(e.into()))?;
    let mut progress = |line: &str| {
        let _ = writeln!(err, "{line}");
    };
    let (plan, failure): (Plan, Option<crate::cloud::CloudError>) = rt.block_on(async {
        let session = Session::connect(&cloud).await?;
        let api = Api::new(&session, RetryPolicy::for_cloud(&cloud));
        let mut plan = prepare::plan(
            &session,
            &api,
            &settings,
            &state,
            args.dry_run,
            &mut progress,
        )
        .await?;
        if args.dry_run || plan.problems().next().is_some() {
            return Ok::<_, crate::cloud::CloudError>((plan, None));
        }
        let failure = prepare::execute(&session, &api, &settings, &state, &mut plan, &mut progress)
            .await
            .err();
        Ok((plan, failure))
    })?;
    // On a failure this shows what was done before it; a re-run finishes the job.
    print_plan(&plan, args.output, out)?;
    if let Some(e) = failure {
        return Err(e.into());
    }
    plan.check()?;
    if args.dry_run {
        let _ = writeln!(err, "dry run: nothing was changed");
    }
    Ok(())
}

fn print_plan(plan: &Plan, output: Output, out: &mut dyn std::io::Write) -> Result<()> {
    let rows: Vec<[&str; 4]> = plan
        .steps
        .iter()
        .map(|s| {
            [
                s.state.as_str(),
                s.step.as_str(),
                s.name.as_str(),
                s.detail.as_str(),
            ]
        })
        .collect();
    super::write_steps(plan, &rows, output, out)
}
