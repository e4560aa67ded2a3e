//! `mgmt init` and `mgmt upgrade` as plans of steps and their execution.
//!
//! init: install the pinned tools -> (CAPO >= 0.12) apply ORC -> `clusterctl init` with the
//! providers not installed yet -> set CAPO's instance-create timeout -> wait for the
//! provider Deployments and CRDs.
//! upgrade: install the pinned tools -> `clusterctl upgrade plan` -> apply ORC ->
//! `clusterctl upgrade apply` to the pinned versions -> timeout -> waits. When the installed
//! providers are too far behind for one call (an R4-era CAPI v1.3 / CAPO v0.7 cluster),
//! `upgrade apply` runs once per hop of [`clusterctl::plan_hops`], waiting for the provider
//! Deployments after each hop.
//!
//! Every step is idempotent, so a re-run after a failure or Ctrl-C converges: tools whose
//! record matches are skipped, ORC and the timeout are server-side applies, and `clusterctl`
//! is only called for providers that are missing (init) or at another version (upgrade),
//! as read from clusterctl's own inventory on the cluster.
//!
//! [`dry_run`] describes the same steps without downloading, installing or contacting the
//! cluster. The command module prints the returned [`Report`]; nothing here prints.

use std::time::Duration;

use kube::api::{Api, DynamicObject, ListParams};
use kube::discovery::ApiResource;
use serde::Serialize;

use super::MgmtError;
use super::apply;
use super::client::{self, Target};
use super::clusterctl::{self, InitDecision, Provider, UpgradeDecision};
use super::install::{self, Action, Planned};
use super::runner::{Invocation, Runner};
use super::tools::{Packaging, ToolSpec};
use super::wait;
use crate::render::Profile;
use crate::settings::Settings;
use crate::ui::Progress;

/// `mgmt init` or `mgmt upgrade`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Operation {
    Init,
    Upgrade,
}

/// Everything a run needs.
pub struct Request {
    pub operation: Operation,
    pub settings: Settings,
    pub profile: Profile,
    pub target: Target,
    pub install: install::Options,
    pub tools: Vec<ToolSpec>,
    /// Deadline of each wait (deployments, CRDs).
    pub wait_timeout: Duration,
}

impl Request {
    fn clusterctl_target(&self) -> clusterctl::Target {
        clusterctl::Target {
            kubeconfig: self.target.kubeconfig.clone(),
            context: self.target.context.clone(),
        }
    }

    fn orc(&self) -> Option<&ToolSpec> {
        self.tools
            .iter()
            .find(|t| t.packaging == Packaging::Manifest)
    }

    fn desired(&self) -> Vec<Provider> {
        clusterctl::desired(&self.settings, self.profile)
    }
}

/// State of one step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// Would run (dry run).
    Planned,
    Done,
    /// Nothing to do.
    Skipped,
    /// Cannot run as asked (a tool without checksum).
    Refused,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Planned => "planned",
            State::Done => "done",
            State::Skipped => "skipped",
            State::Refused => "refused",
        }
    }
}

/// One step of the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Step {
    /// `install`, `apply`, `run`, `configure`, `wait`.
    pub step: String,
    /// What it is about (`clusterctl v1.14.0`, `ORC v2.4.0`, `capo-system/...`).
    pub name: String,
    pub state: State,
    /// The command line, URL, check or reason.
    pub detail: String,
}

/// What a run did (or, for a dry run, would do).
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub operation: Operation,
    pub dry_run: bool,
    pub bin_dir: String,
    /// The providers the settings ask for.
    pub providers: Vec<Provider>,
    pub steps: Vec<Step>,
    /// Warnings (unchecked installs, downgrades).
    pub warnings: Vec<String>,
    /// Output of `clusterctl upgrade plan`, when it ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upgrade_plan: Option<String>,
}

impl Report {
    fn new(req: &Request, dry_run: bool) -> Self {
        Report {
            operation: req.operation,
            dry_run,
            bin_dir: req.install.bin_dir.display().to_string(),
            providers: req.desired(),
            steps: Vec::new(),
            warnings: Vec::new(),
            upgrade_plan: None,
        }
    }

    fn push(
        &mut self,
        step: &str,
        name: impl Into<String>,
        state: State,
        detail: impl Into<String>,
    ) {
        self.steps.push(Step {
            step: step.into(),
            name: name.into(),
            state,
            detail: detail.into(),
        });
    }
}

fn tool_step(report: &mut Report, p: &Planned, state: State) {
    if p.spec.packaging == Packaging::Manifest {
        return; // reported as its apply step
    }
    report.push(
        "install",
        format!("{} {}", p.spec.name, p.spec.version),
        state,
        format!("{} ({})", p.spec.url, p.detail()),
    );
}

fn planned_state(p: &Planned) -> State {
    match p.action {
        Action::Install => State::Planned,
        Action::UpToDate => State::Skipped,
        Action::Refused => State::Refused,
    }
}

fn timeout_detail(minutes: u32) -> String {
    format!(
        "{}={minutes} on {}/{} (server-side apply, field manager `{}`)",
        apply::CAPO_TIMEOUT_ENV,
        apply::CAPO_NAMESPACE,
        apply::CAPO_DEPLOYMENT,
        apply::FIELD_MANAGER
    )
}

fn wait_steps(report: &mut Report, req: &Request, state: State) {
    let deployments = wait::provider_deployments(req.orc().is_some());
    report.push(
        "wait",
        "provider deployments",
        state,
        format!(
            "Available within {}s: {}",
            req.wait_timeout.as_secs(),
            deployments
                .iter()
                .map(|d| format!("{}/{}", d.namespace, d.name))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    );
    report.push(
        "wait",
        "CRDs",
        state,
        format!(
            "Established within {}s: {}",
            req.wait_timeout.as_secs(),
            wait::provider_crds().join(", ")
        ),
    );
}

fn orc_detail(spec: &ToolSpec, p: Option<&Planned>) -> String {
    let check = p.map(Planned::detail).unwrap_or_default();
    format!("{} ({check}), server-side apply", spec.url)
}

/// The steps `req` would take, from the settings alone: nothing is downloaded, installed or
/// changed and the management cluster is not contacted (so `clusterctl init` is shown with
/// every provider, as for an empty cluster).
///
/// # Errors
/// When a `--sha256` argument names no tool or is malformed.
pub fn dry_run(req: &Request) -> Result<Report, MgmtError> {
    let mut report = Report::new(req, true);
    let planned = install::plan(&req.tools, &req.install)?;
    for p in &planned {
        tool_step(&mut report, p, planned_state(p));
    }
    let target = req.clusterctl_target();
    let desired = req.desired();
    let orc_step = |report: &mut Report| {
        if let Some(orc) = req.orc() {
            let p = planned.iter().find(|p| p.spec.name == orc.name);
            let state = p.map_or(State::Planned, planned_state);
            report.push(
                "apply",
                format!("ORC {}", orc.version),
                state,
                orc_detail(orc, p),
            );
        }
    };
    match req.operation {
        Operation::Init => {
            orc_step(&mut report);
            let inv = clusterctl::init(req.profile, &target, &desired);
            report.push(
                "run",
                "clusterctl init",
                State::Planned,
                format!("{} (only the providers not installed yet)", inv.display()),
            );
        }
        Operation::Upgrade => {
            let plan = clusterctl::upgrade_plan(req.profile, &target);
            report.push(
                "run",
                "clusterctl upgrade plan",
                State::Planned,
                plan.display(),
            );
            orc_step(&mut report);
            let inv = clusterctl::upgrade_apply(req.profile, &target, &desired);
            report.push(
                "run",
                "clusterctl upgrade apply",
                State::Planned,
                format!("{} (only the providers at other versions)", inv.display()),
            );
            // What an R4-era cluster needs instead: the cluster is not read here.
            let r4 = clusterctl::desired(&req.settings, Profile::R4);
            if let Ok(hops) = clusterctl::plan_hops(&desired, &r4)
                && hops.len() > 1
            {
                let n = hops.len();
                for (i, h) in hops.iter().enumerate() {
                    let inv = clusterctl::upgrade_apply(req.profile, &target, &h.providers);
                    report.push(
                        "run",
                        hop_name(i, n, h),
                        State::Planned,
                        format!(
                            "{} (instead of the one call, when the cluster is R4-era: CAPI {} / CAPO {}; {})",
                            inv.display(),
                            r4[0].version,
                            r4[3].version,
                            if h.why.is_empty() { "the pins" } else { &h.why }
                        ),
                    );
                }
            }
        }
    }
    report.push(
        "configure",
        "CAPO instance-create timeout",
        State::Planned,
        timeout_detail(req.settings.capo_instance_create_timeout),
    );
    wait_steps(&mut report, req, State::Planned);
    Ok(report)
}

/// A failure with the report of what was done before it.
#[derive(Debug)]
pub struct Failed {
    pub report: Report,
    pub error: MgmtError,
}

/// Runs `req`. The report lists every step taken; on failure it is returned with the error.
///
/// # Errors
/// [`Failed`] with the first error; steps before it stay done.
pub async fn execute(
    req: &Request,
    runner: &dyn Runner,
    progress: &dyn Progress,
) -> Result<Report, Box<Failed>> {
    let mut report = Report::new(req, false);
    match execute_inner(req, runner, progress, &mut report).await {
        Ok(()) => Ok(report),
        Err(error) => Err(Box::new(Failed { report, error })),
    }
}

/// A safe point between steps: an error once SIGINT/SIGTERM came in.
fn safe_point(at: &str) -> Result<(), MgmtError> {
    crate::interrupt::check(at).map_err(|i| {
        MgmtError::new(i.to_string()).hint("what was done so far stays; run the command again")
    })
}

async fn execute_inner(
    req: &Request,
    runner: &dyn Runner,
    progress: &dyn Progress,
    report: &mut Report,
) -> Result<(), MgmtError> {
    // 1. Tools: all-or-nothing check before the first download.
    let planned = install::plan(&req.tools, &req.install)?;
    install::ensure_none_refused(&planned)?;
    let http = install::http_client(&req.install)?;
    let mut orc_manifest: Option<(ToolSpec, Vec<u8>)> = None;
    for p in &planned {
        safe_point(&format!("before installing {}", p.spec.name))?;
        match p.action {
            Action::UpToDate => tool_step(report, p, State::Skipped),
            Action::Refused => {} // excluded above
            Action::Install => {
                let (done, bytes) = install::install_one(&http, p, &req.install, progress).await?;
                if let Some(w) = &done.warning {
                    progress.message(&format!("warning: {w}"));
                    report.warnings.push(w.clone());
                }
                match bytes {
                    Some(b) => orc_manifest = Some((p.spec.clone(), b)),
                    None => tool_step(report, p, State::Done),
                }
            }
        }
    }

    // 2. The cluster.
    safe_point("before changing the management cluster")?;
    let loaded = client::load(&req.target)?;
    let server = loaded.server.clone();
    progress.message(&format!(
        "management cluster: context `{}` ({server}) from {}",
        loaded.context,
        loaded.origin.describe()
    ));
    let kube = client::client(&loaded).await?;
    let installed = installed_providers(&kube, &server).await?;
    let desired = req.desired();
    let target = req.clusterctl_target();

    match req.operation {
        Operation::Init => match clusterctl::decide_init(&desired, &installed) {
            InitDecision::NeedsUpgrade { differ } => {
                let list: Vec<String> = differ
                    .iter()
                    .map(|(w, have)| format!("{} {} (installed: {have})", w.name, w.version))
                    .collect();
                return Err(MgmtError::new(format!(
                    "the management cluster `{server}` has providers at other versions than the \
                     settings ask for: {}",
                    list.join(", ")
                ))
                .hint("run `scs-capi mgmt upgrade` to move them to the pinned versions"));
            }
            InitDecision::UpToDate => {
                apply_orc(req, &kube, &server, orc_manifest, report, progress).await?;
                report.push(
                    "run",
                    "clusterctl init",
                    State::Skipped,
                    "every provider is installed at the wanted version",
                );
            }
            InitDecision::Init { providers } => {
                apply_orc(req, &kube, &server, orc_manifest, report, progress).await?;
                let inv = clusterctl::init(req.profile, &target, &providers);
                run_checked(runner, &inv, progress).await?;
                report.push("run", "clusterctl init", State::Done, inv.display());
            }
        },
        Operation::Upgrade => match clusterctl::decide_upgrade(&desired, &installed) {
            UpgradeDecision::NotInitialized => {
                return Err(MgmtError::new(format!(
                    "the management cluster `{server}` has no Cluster API providers installed"
                ))
                .hint("run `scs-capi mgmt init` first"));
            }
            UpgradeDecision::Missing { providers } => {
                let names: Vec<String> = providers.iter().map(Provider::arg).collect();
                return Err(MgmtError::new(format!(
                    "the management cluster `{server}` lacks providers the settings ask for: {}",
                    names.join(", ")
                ))
                .hint("run `scs-capi mgmt init` to add them, then `mgmt upgrade`"));
            }
            UpgradeDecision::UpToDate => {
                apply_orc(req, &kube, &server, orc_manifest, report, progress).await?;
                report.push(
                    "run",
                    "clusterctl upgrade apply",
                    State::Skipped,
                    "every provider is at the wanted version",
                );
            }
            UpgradeDecision::NoPath { message } => {
                return Err(MgmtError::new(format!(
                    "the management cluster `{server}`: {message}"
                ))
                .hint("see `Management cluster from R4` in docs/upgrade-guide.md for the path, or set `clusterapi_version`/`capi_openstack_version` to a version one supported step away"));
            }
            UpgradeDecision::Apply {
                providers: _,
                downgrade,
                hops,
            } => {
                if !downgrade.is_empty() {
                    return Err(MgmtError::new(format!(
                        "the settings ask for older providers than installed: {}",
                        downgrade.join(", ")
                    ))
                    .hint("clusterctl cannot downgrade; set `clusterapi_version`/`capi_openstack_version` to the installed versions or newer"));
                }
                let plan_inv = clusterctl::upgrade_plan(req.profile, &target);
                let out = run_checked(runner, &plan_inv, progress).await?;
                report.upgrade_plan = Some(out.stdout.clone());
                report.push(
                    "run",
                    "clusterctl upgrade plan",
                    State::Done,
                    plan_inv.display(),
                );
                apply_orc(req, &kube, &server, orc_manifest, report, progress).await?;
                let n = hops.len();
                for (i, h) in hops.iter().enumerate() {
                    let inv = clusterctl::upgrade_apply(req.profile, &target, &h.providers);
                    if n > 1 {
                        progress.message(&format!("upgrade hop {}/{n}: {}", i + 1, inv.display()));
                    }
                    run_checked(runner, &inv, progress).await?;
                    report.push("run", hop_name(i, n, h), State::Done, inv.display());
                    if i + 1 < n {
                        // The next hop needs this one's controllers (and webhooks) serving.
                        let deployments = wait::provider_deployments(req.orc().is_some());
                        wait::deployments_ready(
                            &kube,
                            &server,
                            &deployments,
                            req.wait_timeout,
                            progress,
                        )
                        .await?;
                        report.push(
                            "wait",
                            format!("providers after hop {}/{n}", i + 1),
                            State::Done,
                            format!("Available within {}s", req.wait_timeout.as_secs()),
                        );
                    }
                }
            }
        },
    }

    // 3. CAPO's instance-create timeout, then the waits.
    let minutes = req.settings.capo_instance_create_timeout;
    progress.phase("setting CAPO's instance-create timeout");
    apply::set_capo_instance_create_timeout(&kube, &server, minutes).await?;
    progress.finish(&format!("{}={minutes}", apply::CAPO_TIMEOUT_ENV));
    report.push(
        "configure",
        "CAPO instance-create timeout",
        State::Done,
        timeout_detail(minutes),
    );
    let deployments = wait::provider_deployments(req.orc().is_some());
    wait::deployments_ready(&kube, &server, &deployments, req.wait_timeout, progress).await?;
    wait::crds_established(
        &kube,
        &server,
        &wait::provider_crds(),
        req.wait_timeout,
        progress,
    )
    .await?;
    wait_steps(report, req, State::Done);
    Ok(())
}

/// `clusterctl upgrade apply`, or with several hops `clusterctl upgrade apply 1/5 (CAPI
/// v1.6.1, CAPO v0.9.0)`.
fn hop_name(i: usize, n: usize, h: &clusterctl::Hop) -> String {
    if n == 1 {
        return "clusterctl upgrade apply".into();
    }
    let versions: Vec<String> = h
        .providers
        .iter()
        .filter(|p| {
            p.kind != clusterctl::Kind::BootstrapProvider
                && p.kind != clusterctl::Kind::ControlPlaneProvider
        })
        .map(|p| p.arg())
        .collect();
    format!(
        "clusterctl upgrade apply {}/{n} ({})",
        i + 1,
        versions.join(", ")
    )
}

async fn run_checked(
    runner: &dyn Runner,
    inv: &Invocation,
    progress: &dyn Progress,
) -> Result<super::runner::Output, MgmtError> {
    runner.run(inv, progress).await?.check()
}

async fn apply_orc(
    req: &Request,
    kube: &kube::Client,
    server: &str,
    manifest: Option<(ToolSpec, Vec<u8>)>,
    report: &mut Report,
    progress: &dyn Progress,
) -> Result<(), MgmtError> {
    let Some(spec) = req.orc() else {
        return Ok(());
    };
    let Some((_, bytes)) = manifest else {
        // Planned as a manifest but not downloaded: cannot happen (manifests are never "up
        // to date"), so say so rather than skip silently.
        return Err(MgmtError::new(format!(
            "internal error: the ORC manifest `{}` was not downloaded",
            spec.url
        )));
    };
    let text = String::from_utf8(bytes).map_err(|_| {
        MgmtError::new(format!("the ORC manifest `{}` is not UTF-8 text", spec.url))
    })?;
    let objs = apply::parse_manifest(&spec.url, &text)?;
    progress.phase(&format!(
        "applying ORC {} ({} objects)",
        spec.version,
        objs.len()
    ));
    let n = apply::apply_manifest(kube, server, &objs).await?;
    progress.finish(&format!("applied ORC {} ({n} objects)", spec.version));
    report.push(
        "apply",
        format!("ORC {}", spec.version),
        State::Done,
        format!("{} ({n} objects, server-side apply)", spec.url),
    );
    Ok(())
}

/// clusterctl's inventory on the cluster; an absent CRD means nothing is installed.
async fn installed_providers(
    kube: &kube::Client,
    server: &str,
) -> Result<Vec<Provider>, MgmtError> {
    let ar = ApiResource {
        group: clusterctl::PROVIDER_GROUP.into(),
        version: clusterctl::PROVIDER_VERSION.into(),
        api_version: format!(
            "{}/{}",
            clusterctl::PROVIDER_GROUP,
            clusterctl::PROVIDER_VERSION
        ),
        kind: "Provider".into(),
        plural: clusterctl::PROVIDER_PLURAL.into(),
    };
    let api: Api<DynamicObject> = Api::all_with(kube.clone(), &ar);
    match api.list(&ListParams::default()).await {
        Ok(list) => Ok(list
            .items
            .iter()
            .filter_map(|o| serde_json::to_value(o).ok())
            .filter_map(|v| clusterctl::provider_from_inventory(&v))
            .collect()),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(Vec::new()),
        Err(e) => Err(client::api_error(
            "reading clusterctl's provider inventory",
            server,
            e,
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mgmt::tools::{self, Arch, Os, Platform};

    fn request(op: Operation, profile: Profile) -> Request {
        let settings = Settings::default();
        let versions = tools::Versions::from_settings(&settings, profile);
        let tools = tools::builtin(
            &versions,
            Platform {
                os: Os::Linux,
                arch: Arch::Amd64,
            },
        );
        Request {
            operation: op,
            settings,
            profile,
            target: Target::default(),
            install: install::Options::new("/nonexistent/bin".into()),
            tools,
            wait_timeout: Duration::from_secs(600),
        }
    }

    #[test]
    fn dry_run_init_lists_every_step_in_order() {
        let r = dry_run(&request(Operation::Init, Profile::Default)).unwrap();
        let steps: Vec<(&str, &str, State)> = r
            .steps
            .iter()
            .map(|s| (s.step.as_str(), s.name.as_str(), s.state))
            .collect();
        assert_eq!(steps[0], ("install", "clusterctl v1.14.0", State::Refused));
        assert_eq!(steps[1], ("install", "kubectl v1.33.3", State::Planned));
        assert_eq!(steps[2], ("install", "cilium v0.19.7", State::Planned));
        assert_eq!(steps[3], ("install", "hubble v1.18.3", State::Refused));
        assert_eq!(steps[8], ("apply", "ORC v2.4.0", State::Refused));
        assert_eq!(steps[9], ("run", "clusterctl init", State::Planned));
        assert_eq!(steps[10].0, "configure");
        assert_eq!(steps[11].1, "provider deployments");
        assert!(r.steps[9].detail.contains(
            "clusterctl init --core cluster-api:v1.14.0 --bootstrap kubeadm:v1.14.0 \
             --control-plane kubeadm:v1.14.0 --infrastructure openstack:v0.14.7"
        ));
        assert!(r.steps[10].detail.starts_with(
            "CLUSTER_API_OPENSTACK_INSTANCE_CREATE_TIMEOUT=5 on capo-system/capo-controller-manager"
        ));
        assert!(
            r.steps[11]
                .detail
                .contains("orc-system/orc-controller-manager")
        );
    }

    #[test]
    fn dry_run_upgrade_for_r4_has_no_orc() {
        let r = dry_run(&request(Operation::Upgrade, Profile::R4)).unwrap();
        let names: Vec<&str> = r.steps.iter().map(|s| s.name.as_str()).collect();
        assert!(!names.iter().any(|n| n.starts_with("ORC")));
        let i = names
            .iter()
            .position(|n| *n == "clusterctl upgrade plan")
            .unwrap();
        assert_eq!(names[i + 1], "clusterctl upgrade apply");
        assert!(
            r.steps[i + 1]
                .detail
                .contains("--infrastructure openstack:v0.7.1")
        );
    }

    #[test]
    fn dry_run_upgrade_shows_the_hops_an_r4_cluster_needs() {
        let r = dry_run(&request(Operation::Upgrade, Profile::Default)).unwrap();
        let hops: Vec<&Step> = r
            .steps
            .iter()
            .filter(|s| s.name.starts_with("clusterctl upgrade apply "))
            .collect();
        assert_eq!(hops.len(), 5, "{:#?}", r.steps);
        assert_eq!(
            hops[0].name,
            "clusterctl upgrade apply 1/5 (cluster-api:v1.6.1, openstack:v0.9.0)"
        );
        assert!(
            hops[1]
                .detail
                .contains("--infrastructure openstack:v0.10.5")
        );
        assert!(hops[4].detail.contains("--core cluster-api:v1.14.0"));
        assert!(hops[0].detail.contains("R4-era: CAPI v1.3.5 / CAPO v0.7.1"));
    }
}
