//! `create-cluster` as one function: validate -> prepare the cloud (the same
//! [`crate::cloud::prepare`] plan/execute as `prepare-cloud`) -> render with what the cloud
//! told us -> server-side apply to the management cluster (templates before what references
//! them) -> wait -> kubeconfig -> addons in the workload cluster -> [`Report`].
//!
//! Every step converges on a re-run: the cloud plan adopts what exists, applies are
//! server-side under one field manager (a re-run with changed settings, such as replicas or
//! flavor, applies the change; machine templates carry a hash of their spec so a changed
//! spec is a new template and CAPI rolls the machines), the wait reads state, the addons
//! are applied again. `--dry-run` stops after the comparison with the live objects and changes nothing.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use kube::api::DynamicObject;
use serde::Serialize;

use super::addons_apply::{self, AddonResult};
use super::objects::{self, Change, Planned};
use super::wait::{self, ClusterRefs};
use super::{NAMESPACE, kubeconfig};
use crate::addons::{self, Fetcher, Lock};
use crate::cloud::api::Api as CloudApi;
use crate::cloud::image::{GlanceTls, ImageTimeouts};
use crate::cloud::prepare::{self, ImageOptions};
use crate::cloud::retry::RetryPolicy;
use crate::cloud::{Session, config, facts, image_convert};
use crate::error::{Error, Result};
use crate::mgmt::MgmtError;
use crate::mgmt::apply::Kinds;
use crate::mgmt::client::{self, Origin, Target};
use crate::mgmt::runner::Runner;
use crate::render::{self, CloudFacts, Profile, Renderer};
use crate::settings::values::OvnLbProvider;
use crate::settings::{self, Settings};
use crate::ui::Progress;

/// Inputs of `create-cluster` (and the shared part of `upgrade-cluster`).
#[derive(Debug, Clone)]
pub struct Options {
    pub file: PathBuf,
    pub defaults: Option<PathBuf>,
    pub os_cloud: Option<String>,
    pub profile: Profile,
    pub templates: Option<PathBuf>,
    pub mgmt: Target,
    pub dry_run: bool,
    pub strict: bool,
    /// Deadline of the wait for the cluster.
    pub timeout: Duration,
    pub addon_mirror: Option<String>,
    pub locked: bool,
    /// Where `cilium` is looked up first.
    pub bin_dir: Option<PathBuf>,
}

/// What a run did (or, with `--dry-run`, would do).
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub cluster: String,
    pub dry_run: bool,
    /// The cloud steps of `prepare-cloud` (`step`, `name`, `state`).
    pub cloud: Vec<CloudStep>,
    /// The management-cluster objects: create / change / unchanged.
    pub objects: Vec<Planned>,
    pub addons: Vec<AddonResult>,
    pub kubeconfig: Option<PathBuf>,
    pub seconds: f64,
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CloudStep {
    pub step: String,
    pub name: String,
    pub state: String,
    pub detail: String,
}

/// Settings loaded and validated the way `render` and `prepare-cloud` do.
pub struct Loaded {
    pub settings: Settings,
    pub explicit_cloud: Option<String>,
    pub warnings: Vec<String>,
}

/// Loads and validates the cluster's settings.
///
/// # Errors
/// Unreadable files or invalid settings.
pub fn load_settings(
    file: &Path,
    defaults: Option<&Path>,
    os_cloud: Option<&str>,
    profile: Profile,
    strict: bool,
) -> Result<Loaded> {
    let defaults_src = settings::defaults_file(defaults)?;
    let render_args = crate::commands::render::Args {
        file: vec![file.to_path_buf()],
        example: false,
        defaults: defaults.map(Path::to_path_buf),
        profile,
        out: None,
        mgmt_cidr: None,
        explain: false,
        strict,
        allow_preview_versions: false,
    };
    let loaded = crate::commands::render::load(&render_args, defaults_src.as_ref(), Some(file))?;
    let explicit_cloud = os_cloud.map(String::from).or_else(|| {
        loaded
            .origins
            .contains_key("cloud_provider")
            .then(|| loaded.settings.cloud_provider.clone())
    });
    Ok(Loaded {
        warnings: loaded.diagnostics.iter().map(ToString::to_string).collect(),
        settings: loaded.settings,
        explicit_cloud,
    })
}

/// The cloud step shared by create and upgrade: plan, and unless `dry_run` execute, the
/// preparation of `prepare-cloud`; returns its steps and the facts for rendering.
/// `cluster_exists`: the management cluster has the Cluster, so its machines and addons
/// use the application credential; replacing it then is refused.
///
/// # Errors
/// Cloud configuration, API failures, or problems the plan found (nothing changed then).
pub async fn prepare_cloud(
    settings: &Settings,
    explicit_cloud: Option<&str>,
    dry_run: bool,
    cluster_exists: bool,
    progress: &dyn Progress,
) -> Result<(Vec<CloudStep>, CloudFacts)> {
    let cloud = config::resolve(explicit_cloud)?;
    for w in &cloud.warnings {
        progress.message(&format!("warning: {w}"));
    }
    let state = prepare::state_dir(settings.name())?;
    let identity = crate::state::Identity::new(settings.name(), &settings.prefix, &cloud);
    crate::state::check(&state, &identity)?;
    let images = ImageOptions {
        tls: GlanceTls::from_cloud(&cloud),
        cache_dir: image_convert::cache_dir()?,
        timeouts: ImageTimeouts::default(),
    };
    let session = Session::connect(&cloud).await?;
    let api = CloudApi::new(&session, RetryPolicy::for_cloud(&cloud));
    progress.phase("preparing the cloud");
    let mut plan =
        prepare::plan(&session, &api, settings, &state, &images, dry_run, progress).await?;
    plan.check()?;
    for w in &plan.warnings {
        progress.message(&format!("warning: {w}"));
    }
    if cluster_exists && let Some(id) = plan.replaced_app_credential() {
        return Err(refuse_credential_replacement(settings.name(), id, &state).into());
    }
    if !dry_run {
        crate::state::claim(&state, &identity)?;
        prepare::execute(
            &session, &api, settings, &state, &images, &mut plan, progress,
        )
        .await?;
    }
    progress.finish("cloud prepared");
    let facts = facts::from_plan(&plan, &cloud, &session)?;
    let steps = plan
        .steps
        .iter()
        .map(|s| CloudStep {
            step: s.step.clone(),
            name: s.name.clone(),
            state: s.state.as_str().to_string(),
            detail: s.detail.clone(),
        })
        .collect();
    Ok((steps, facts))
}

/// Replacing the credential of a running cluster deletes the one its CAPO, OCCM and CSI
/// authenticate with (this machine lacks its secret: the state was lost, or the cluster
/// was created elsewhere). That is a rotation, done on purpose, never on the side.
fn refuse_credential_replacement(
    cluster: &str,
    id: &str,
    state: &Path,
) -> crate::cloud::CloudError {
    crate::cloud::CloudError::config(format!(
        "the application credential of cluster `{cluster}` ({id}) exists in Keystone but its \
         secret is not in `{}`, and the cluster exists in the management cluster: replacing \
         the credential would cut the running cluster off from the cloud; nothing was changed",
        prepare::app_credential_file(state).display()
    ))
    .hint(
        "copy `appcred.yaml` from the machine that created the cluster, or replace the \
         credential on purpose with `scs-capi rotate-credentials`",
    )
}

/// The management cluster's client.
///
/// # Errors
/// When the kubeconfig cannot be read or used.
pub async fn mgmt_client(target: &Target) -> Result<(kube::Client, String), MgmtError> {
    let loaded = client::load(target)?;
    let server = loaded.server.clone();
    Ok((client::client(&loaded).await?, server))
}

/// A client for the workload cluster from its kubeconfig text.
///
/// # Errors
/// When the kubeconfig is unusable.
pub async fn workload_client(
    text: &str,
    cluster: &str,
    path: &Path,
) -> Result<(kube::Client, String), MgmtError> {
    let kc = crate::secret_yaml::kubeconfig(text).map_err(|e| {
        MgmtError::new(format!(
            "the kubeconfig of cluster `{cluster}` cannot be used: {e}"
        ))
        .hint(crate::secret_yaml::Redacted::HINT)
    })?;
    let loaded = client::select(
        kc,
        Origin::File(path.to_path_buf()),
        Some(&kubeconfig::context_name(cluster)),
    )?;
    let server = loaded.server.clone();
    Ok((client::client(&loaded).await?, server))
}

/// The addons lock next to the cluster file.
pub fn lock_path(cluster_file: &Path) -> PathBuf {
    cluster_file
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .join(addons::lock::FILE_NAME)
}

/// The addon patch context for the settings and the rendered cloud.conf.
pub fn addon_context(
    s: &Settings,
    facts: &CloudFacts,
    cloud_conf: Option<String>,
) -> addons::Context {
    addons::Context {
        cluster_name: s.name().to_string(),
        pod_cidr: s.pod_cidr.to_string(),
        node_cidr: s.node_cidr.to_string(),
        mtu: s.mtu_value,
        ovn_lb: match s.use_ovn_lb_provider {
            OvnLbProvider::False => false,
            OvnLbProvider::True => true,
            OvnLbProvider::Auto => facts.lb_provider.as_deref() == Some("ovn"),
        },
        nginx_proxy: s.nginx_ingress_proxy,
        cloud_conf,
    }
}

/// Addons: fetch + build, apply into the workload cluster, save the lock.
///
/// # Errors
/// Fetch/verify failures, apply failures.
#[allow(clippy::too_many_arguments)]
pub async fn install_addons(
    opts: &Options,
    settings: &Settings,
    facts: &CloudFacts,
    cloud_conf: Option<String>,
    wl_text: &str,
    wl_path: &Path,
    runner: &dyn Runner,
    progress: &dyn Progress,
) -> Result<Vec<AddonResult>> {
    let cluster = settings.name();
    let desired = addons::catalog::desired(settings);
    let cache = Fetcher::default_cache_dir().ok_or_else(|| {
        Error::usage("cannot find a cache directory for addon manifests: neither `XDG_CACHE_HOME` nor `HOME` is set", Some("set `XDG_CACHE_HOME`".into()))
    })?;
    let fetcher = Fetcher::new(cache, opts.addon_mirror.as_deref(), opts.locked)?;
    let mut lock = Lock::load(&lock_path(&opts.file))?;
    progress.phase("fetching addon manifests");
    let built = addons::build(
        &desired,
        &fetcher,
        &mut lock,
        &addon_context(settings, facts, cloud_conf),
    )
    .await?;
    progress.finish("addon manifests verified");
    lock.save()?;
    let (wl, wl_server) = workload_client(wl_text, cluster, wl_path).await?;
    let req = addons_apply::Request {
        desired: &desired,
        built: &built,
        kubeconfig_file: wl_path,
        runner,
        crd_timeout: Duration::from_secs(120),
    };
    Ok(addons_apply::apply(&wl, &wl_server, &req, progress).await?)
}

/// What the workload-cluster step did: where its kubeconfig went, the addons, notes.
pub struct WorkloadStep {
    pub kubeconfig: PathBuf,
    pub addons: Vec<AddonResult>,
    pub notes: Vec<String>,
}

/// The workload-cluster step of create and upgrade, once the cluster converged: its
/// kubeconfig from the management cluster (checked, saved 0600 in the state directory),
/// then the addons for `settings` (so an upgrade's settings carry the new minor and the
/// catalog picks OCCM/CSI for it).
///
/// # Errors
/// A missing or unusable kubeconfig Secret; the addon errors of [`install_addons`].
pub async fn workload_and_addons(
    opts: &Options,
    settings: &Settings,
    facts: &CloudFacts,
    cloud_conf: Option<String>,
    (mgmt, server): (&kube::Client, &str),
    runner: &dyn Runner,
    progress: &dyn Progress,
) -> Result<WorkloadStep> {
    let cluster = settings.name();
    let text = kubeconfig::fetch(mgmt, server, NAMESPACE, cluster)
        .await?
        .ok_or_else(|| MgmtError::new(format!("cluster `{cluster}` is ready but Secret `{NAMESPACE}/{cluster}-kubeconfig` does not exist")))?;
    kubeconfig::check(&text, cluster)?;
    let state = prepare::state_dir(cluster)?;
    let kc_path = kubeconfig::save(&state, &text)?;
    let mut notes = Vec::new();
    if cloud_conf.is_none() {
        notes.push("the cloud has no Keystone user, so the cluster has no application credential of its own: `kube-system/cloud-config` was left as it is".into());
    }
    let addons = install_addons(
        opts, settings, facts, cloud_conf, &text, &kc_path, runner, progress,
    )
    .await?;
    Ok(WorkloadStep {
        kubeconfig: kc_path,
        addons,
        notes,
    })
}

/// What the first half of create and upgrade found: the cloud step, the manifests
/// rendered with what the cloud told, and those objects compared with the live ones.
pub struct Compared {
    pub cloud: Vec<CloudStep>,
    pub facts: CloudFacts,
    pub rendered: render::Rendered,
    pub objs: Vec<DynamicObject>,
    pub planned: Vec<Planned>,
    /// The client the comparison resolved kinds with, for the applies that follow.
    pub kinds: Kinds,
}

/// The cloud step ([`prepare_cloud`], a dry run plans only), rendering with its facts,
/// and the comparison of the rendered objects with the management cluster's.
///
/// # Errors
/// Cloud, render and management-cluster errors.
pub async fn compare(
    opts: &Options,
    renderer: &Renderer,
    settings: &Settings,
    explicit_cloud: Option<&str>,
    (mgmt, server): (&kube::Client, &str),
    progress: &dyn Progress,
) -> Result<Compared> {
    let refs = ClusterRefs::for_profile(settings.name(), NAMESPACE, opts.profile);
    let cluster_exists = refs
        .cluster_api(mgmt)
        .get_opt(&refs.cluster)
        .await
        .map_err(|e| {
            crate::mgmt::client::api_error(
                &format!("reading Cluster `{NAMESPACE}/{}`", refs.cluster),
                server,
                e,
            )
        })?
        .is_some();
    let (cloud, facts) = prepare_cloud(
        settings,
        explicit_cloud,
        opts.dry_run,
        cluster_exists,
        progress,
    )
    .await?;
    let rendered = renderer.render(
        settings,
        &render::Options {
            profile: opts.profile,
            mgmt_cidr: None,
            facts: Some(facts.clone()),
        },
    )?;
    let objs = objects::cluster_objects(&rendered.manifests)?;
    let mut kinds = Kinds::new(mgmt, server);
    progress.phase(&format!(
        "comparing {} objects with the management cluster",
        objs.len()
    ));
    let planned = objects::compare_live(&mut kinds, &objs).await?;
    progress.finish("compared");
    Ok(Compared {
        cloud,
        facts,
        rendered,
        objs,
        planned,
        kinds,
    })
}

/// The Cluster and its control plane named by the rendered objects.
///
/// # Errors
/// [`Error::Usage`] when the manifests (custom `--templates`) have no Cluster.
pub fn cluster_refs(objs: &[DynamicObject]) -> Result<ClusterRefs> {
    ClusterRefs::from_objects(objs, NAMESPACE).ok_or_else(|| {
        Error::usage(
            "the rendered manifests have no Cluster object",
            Some("check `--templates`".into()),
        )
    })
}

/// Create converges everything but the Kubernetes version: a running cluster whose
/// control plane runs another version than the settings ask for is refused before
/// anything changes (an upgrade takes one minor at a time, in order, which
/// `upgrade-cluster` does).
///
/// # Errors
/// [`Error::Usage`] naming both versions; API failures.
async fn refuse_version_change(
    mgmt: &kube::Client,
    server: &str,
    opts: &Options,
    settings: &Settings,
) -> Result<()> {
    let refs = ClusterRefs::for_profile(settings.name(), NAMESPACE, opts.profile);
    let Some(running) = super::live::live_version(mgmt, server, &refs).await? else {
        return Ok(());
    };
    let wanted = settings.kubernetes_version.resolve();
    if running == wanted {
        return Ok(());
    }
    Err(Error::usage(
        format!(
            "cluster `{}` runs Kubernetes {running}, but `kubernetes_version` in {} asks for {wanted} ({}): create-cluster does not change the version of a running cluster",
            settings.name(),
            opts.file.display(),
            settings.kubernetes_version
        ),
        Some(format!(
            "to upgrade, run `scs-capi upgrade-cluster -f {}` (one minor at a time); otherwise set `kubernetes_version` to {running}",
            opts.file.display()
        )),
    ))
}

/// Runs `create-cluster`.
///
/// # Errors
/// [`Error::NotConverged`] (exit 1) when the cluster does not converge, with what blocks;
/// input, cloud and cluster errors (exit 2) otherwise.
pub async fn run(opts: &Options, runner: &dyn Runner, progress: &dyn Progress) -> Result<Report> {
    let started = Instant::now();
    let loaded = load_settings(
        &opts.file,
        opts.defaults.as_deref(),
        opts.os_cloud.as_deref(),
        opts.profile,
        opts.strict,
    )?;
    for w in &loaded.warnings {
        progress.message(w.trim_end());
    }
    let settings = loaded.settings;
    let cluster = settings.name().to_string();
    let _lock = (!opts.dry_run)
        .then(|| crate::state_lock::acquire(&cluster, "create-cluster"))
        .transpose()?;
    // Templates and the management cluster's kubeconfig are checked before the cloud is
    // touched.
    let renderer = Renderer::new(opts.templates.as_deref())?;
    let (mgmt, server) = mgmt_client(&opts.mgmt).await?;
    super::generation::check_profile(&mgmt, &server, opts.profile).await?;
    refuse_version_change(&mgmt, &server, opts, &settings).await?;

    let Compared {
        cloud,
        facts,
        rendered,
        objs,
        planned,
        mut kinds,
    } = compare(
        opts,
        &renderer,
        &settings,
        loaded.explicit_cloud.as_deref(),
        (&mgmt, &server),
        progress,
    )
    .await?;
    let mut report = Report {
        cluster: cluster.clone(),
        dry_run: opts.dry_run,
        cloud,
        objects: planned,
        addons: Vec::new(),
        kubeconfig: None,
        seconds: 0.0,
        notes: rendered.notes.clone(),
    };
    if opts.dry_run {
        report.seconds = started.elapsed().as_secs_f64();
        return Ok(report);
    }

    crate::interrupt::check("before applying the cluster's objects (the cloud is prepared)")?;
    progress.phase(&format!(
        "applying {} objects to the management cluster",
        objs.len()
    ));
    for (o, p) in objs.iter().zip(&report.objects) {
        if p.change != Change::Unchanged {
            kinds.apply(o, Some(NAMESPACE)).await?;
        }
    }
    progress.finish("applied");
    let refs = cluster_refs(&objs)?;
    tokio::select! {
        r = wait::until_converged(&mgmt, &server, &refs, opts.timeout, "create", progress) => {
            r?;
        }
        signal = crate::interrupt::interrupted() => {
            progress.finish("stopped waiting");
            return Err(crate::interrupt::Interrupted {
                signal,
                at: "waiting for the cluster (it keeps converging; run create-cluster again \
                     to wait and install the addons)"
                    .into(),
            }
            .into());
        }
    }
    crate::interrupt::check("before installing the addons (run create-cluster again)")?;

    let wl = workload_and_addons(
        opts,
        &settings,
        &facts,
        rendered.cloud_conf.clone(),
        (&mgmt, &server),
        runner,
        progress,
    )
    .await?;
    report.kubeconfig = Some(wl.kubeconfig);
    report.addons = wl.addons;
    report.notes.extend(wl.notes);
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}
