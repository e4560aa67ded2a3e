//! `scs-capi prepare-cloud`: load and validate settings like `render`, resolve the cloud,
//! connect once, print the plan of [`crate::cloud::prepare`], and execute it unless
//! `--dry-run`; with `--render-out DIR`, render the cluster with what the cloud told us
//! ([`crate::cloud::facts`]). The plan/result goes to stdout (text table or `--output
//! json`), progress to stderr.

use std::path::{Path, PathBuf};

use crate::cloud::api::Api;
use crate::cloud::image::{GlanceTls, ImageTimeouts};
use crate::cloud::prepare::{self, ImageOptions, Plan};
use crate::cloud::retry::RetryPolicy;
use crate::cloud::{Session, config, facts, image_convert};
use crate::error::{Error, Result};
use crate::render::{self, CloudFacts, Profile, Renderer};
use crate::settings;

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
    #[command(flatten)]
    pub progress: super::ProgressArgs,
    /// Treat settings warnings as errors.
    #[arg(long)]
    pub strict: bool,
    /// After preparing, write what `render --out DIR` writes, rendered with what the cloud
    /// told us: clusterctl.yaml, cluster-template.yaml and <cluster>-config.yaml with the
    /// cluster's own application credential in the cloud-config Secret
    /// (`OPENSTACK_CLOUD_YAML_B64`), server-group ids, root volumes of diskless flavors, the
    /// external network id and the management cluster's address in the kube-API allowlist,
    /// plus cloud.conf for OCCM and Cinder CSI. Files with the credential are 0600. Feed
    /// them to `kubectl apply -f DIR/<cluster>-config.yaml` or `clusterctl generate
    /// cluster --from DIR/cluster-template.yaml --config DIR/clusterctl.yaml`. Not written
    /// with `--dry-run`.
    #[arg(long, value_name = "DIR")]
    pub render_out: Option<PathBuf>,
    /// The profile the cluster renders for: its built-in defaults and supported
    /// Kubernetes versions apply, and `--render-out` renders its API versions.
    #[arg(long, value_enum, default_value_t = Profile::Default)]
    pub profile: Profile,
}

pub fn run(
    args: &Args,
    templates: Option<&Path>,
    out: &mut dyn std::io::Write,
    err: &mut dyn std::io::Write,
) -> Result<()> {
    let defaults = settings::defaults_file(args.defaults.as_deref())?;
    let render_args = crate::commands::render::Args {
        file: vec![args.file.clone()],
        example: false,
        defaults: args.defaults.clone(),
        profile: args.profile,
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
    let identity = crate::state::Identity::new(settings.name(), &settings.prefix, &cloud);
    crate::state::check(&state, &identity)?;
    let _lock = (!args.dry_run)
        .then(|| crate::state_lock::acquire_in(&state, settings.name(), "prepare-cloud"))
        .transpose()?;
    let images = ImageOptions {
        tls: GlanceTls::from_cloud(&cloud),
        cache_dir: image_convert::cache_dir()?,
        timeouts: ImageTimeouts::default(),
    };
    // Templates are checked before the cloud is touched.
    let renderer = match &args.render_out {
        Some(_) => Some(Renderer::new(templates)?),
        None => None,
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Other(e.into()))?;
    // Progress stays lines or bars with `--output json` too (the plan is the data).
    let progress = args.progress.progress(Output::Text);
    let progress = progress.as_ref();
    type Outcome = (Plan, Option<crate::cloud::CloudError>, Option<CloudFacts>);
    let (plan, failure, cloud_facts): Outcome = rt.block_on(async {
        let session = Session::connect(&cloud).await?;
        let api = Api::new(&session, RetryPolicy::for_cloud(&cloud));
        let mut plan = prepare::plan(
            &session,
            &api,
            &settings,
            &state,
            &images,
            args.dry_run,
            progress,
        )
        .await?;
        if args.dry_run || plan.problems().next().is_some() {
            return Ok::<_, Error>((plan, None, None));
        }
        crate::state::claim(&state, &identity)?;
        let failure = prepare::execute(
            &session, &api, &settings, &state, &images, &mut plan, progress,
        )
        .await
        .err();
        let cloud_facts = match (&failure, &renderer) {
            (None, Some(_)) => Some(facts::from_plan(&plan, &cloud, &session)?),
            _ => None,
        };
        Ok((plan, failure, cloud_facts))
    })?;
    // On a failure this shows what was done before it; a re-run finishes the job.
    print_plan(&plan, args.output, out)?;
    for w in &plan.warnings {
        let _ = writeln!(err, "warning: {w}");
    }
    if let Some(e) = failure {
        return Err(e.into());
    }
    plan.check()?;
    if args.dry_run {
        if let Some(dir) = &args.render_out {
            let _ = writeln!(err, "dry run: nothing was written to `{}`", dir.display());
        }
        let _ = writeln!(err, "dry run: nothing was changed");
        return Ok(());
    }
    if let (Some(dir), Some(renderer), Some(cloud_facts)) =
        (&args.render_out, renderer, cloud_facts)
    {
        let opts = render::Options {
            profile: args.profile,
            mgmt_cidr: None,
            facts: Some(cloud_facts),
        };
        let rendered = renderer.render(&settings, &opts)?;
        for note in &rendered.notes {
            let _ = writeln!(err, "note: {note}");
        }
        crate::commands::render::write_outputs(dir, &rendered)?;
        let _ = writeln!(
            err,
            "wrote {} to `{}`",
            crate::commands::render::output_names(&rendered).join(", "),
            dir.display()
        );
    }
    Ok(())
}

fn print_plan(plan: &Plan, output: Output, out: &mut dyn std::io::Write) -> Result<()> {
    super::write_steps(plan, &plan.steps, output, out)
}
