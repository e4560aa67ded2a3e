//! `upgrade-cluster`: moves a running cluster to the next Kubernetes version, one minor at
//! a time (R4's rule, and Kubernetes' version-skew policy).
//!
//! Order: load the settings -> read the running version from the live
//! KubeadmControlPlane and check the step ([`check_step`]: a skipped minor or a downgrade
//! is refused before anything is written) -> the cloud step of create (it ensures the
//! node image of the target version) -> render with the target version -> apply the new
//! machine templates (hash-named, so the old ones stay for the running machines) -> the
//! control plane, and wait until every control-plane machine was replaced -> the
//! MachineDeployments, and wait for the workers -> kubeconfig and addons (the catalog
//! picks OCCM/CSI for the new minor) -> delete this cluster's machine templates that
//! nothing references any more ([`prune_templates`]).
//!
//! Every step converges on a re-run, as create's do: a cluster already at the target is
//! reported up to date with no write on the management cluster or the cloud. `--dry-run`
//! stops after the comparison with the live objects.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Instant;

use kube::api::{DynamicObject, ListParams};
use kube::core::{ObjectMeta, TypeMeta};
use serde::Serialize;
use serde_json::Value;

use super::NAMESPACE;
use super::addons_apply::AddonResult;
use super::create::{self, CloudStep, Options};
use super::objects::{Change, Planned, kind_of};
use super::wait::{self, ClusterRefs, Goal, Scope};
use crate::error::{Error, Result};
use crate::mgmt::MgmtError;
use crate::mgmt::apply::Kinds;
use crate::mgmt::client::api_error;
use crate::mgmt::runner::Runner;
use crate::render::Renderer;
use crate::settings::versions::{KubernetesVersion, Support};
use crate::ui::Progress;

/// What a run did (or, with `--dry-run`, would do).
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub cluster: String,
    pub dry_run: bool,
    /// The version the cluster ran before (`v1.33.13`; the lowest of control plane and
    /// workers).
    pub from: String,
    /// The target version (`v1.34.11`).
    pub to: String,
    /// Nothing needed to change: every object already as rendered for the target, the
    /// control plane at the target version.
    pub up_to_date: bool,
    pub cloud: Vec<CloudStep>,
    pub objects: Vec<Planned>,
    /// Machines replaced during this run's rollout, and how many the cluster has.
    pub machines_replaced: u64,
    pub machines: u64,
    pub addons: Vec<AddonResult>,
    /// Machine templates deleted because nothing references them any more.
    pub pruned: Vec<String>,
    pub kubeconfig: Option<PathBuf>,
    pub seconds: f64,
    pub notes: Vec<String>,
}

/// How the target relates to the running version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Already there.
    Same,
    /// A newer patch of the same minor, or the next minor.
    Upgrade,
}

/// Checks that `target` is a step the cluster may take from `current` (`v1.33.13`): the
/// same version, a newer patch, or the next minor. `how` says how to ask for another
/// target in the hint (`--to` or the settings key).
///
/// # Errors
/// [`Error::Usage`] for a downgrade, a skipped minor (with the intermediate step to
/// take), a version this tool does not know, or an unreadable running version.
pub fn check_step(cluster: &str, current: &str, target: KubernetesVersion) -> Result<Step> {
    let cur: KubernetesVersion = current.parse().map_err(|e| {
        Error::usage(
            format!(
                "the KubeadmControlPlane of cluster `{cluster}` has a version this tool cannot read: {e}"
            ),
            Some("check `spec.version` of the cluster's KubeadmControlPlane".to_string()),
        )
    })?;
    let resolved = target.resolve();
    if let Support::Unknown | Support::Preview = target.support() {
        let known: Vec<String> = crate::settings::versions::KNOWN_MINORS
            .iter()
            .map(|(m, _)| format!("v1.{m}"))
            .collect();
        return Err(Error::usage(
            format!(
                "cannot upgrade cluster `{cluster}` to Kubernetes {}: not a version scs-capi supports",
                target.minor_string()
            ),
            Some(format!("known minors: {}", known.join(", "))),
        ));
    }
    let tgt: KubernetesVersion = resolved
        .parse()
        .map_err(|e: String| Error::usage(e, None::<String>))?;
    let key = |v: &KubernetesVersion| (v.minor, v.patch.unwrap_or(0));
    if key(&tgt) == key(&cur) {
        return Ok(Step::Same);
    }
    if key(&tgt) < key(&cur) {
        return Err(Error::usage(
            format!(
                "cluster `{cluster}` runs Kubernetes {current}; {resolved} would be a downgrade, which Kubernetes does not support"
            ),
            Some(format!(
                "ask for {current} or newer: `--to v1.{}.x` (or set `kubernetes_version` in the settings file)",
                cur.minor
            )),
        ));
    }
    if tgt.minor > cur.minor + 1 {
        let next = cur.minor + 1;
        return Err(Error::usage(
            format!(
                "cluster `{cluster}` runs Kubernetes {current}; {resolved} would skip v1.{next}{}: Kubernetes upgrades one minor version at a time (kubeadm and the version-skew policy allow no more)",
                if tgt.minor > next + 1 {
                    format!("-v1.{}", tgt.minor - 1)
                } else {
                    String::new()
                }
            ),
            Some(format!(
                "upgrade in steps: `scs-capi upgrade-cluster -f CLUSTER.yaml --to v1.{next}.x` first, then the next minor, up to v1.{}",
                tgt.minor
            )),
        ));
    }
    Ok(Step::Upgrade)
}

/// Runs `upgrade-cluster` to `to` (else the settings' `kubernetes_version`).
///
/// # Errors
/// [`Error::Usage`] (exit 2) for a refused step, before anything changed;
/// [`Error::NotConverged`] (exit 1) when the rollout does not finish, with what blocks it;
/// input, cloud and cluster errors (exit 2) otherwise.
pub async fn run(
    opts: &Options,
    to: Option<KubernetesVersion>,
    runner: &dyn Runner,
    progress: &dyn Progress,
) -> Result<Report> {
    let started = Instant::now();
    let loaded = create::load_settings(
        &opts.file,
        opts.defaults.as_deref(),
        opts.os_cloud.as_deref(),
        opts.profile,
        opts.strict,
    )?;
    for w in &loaded.warnings {
        progress.message(w.trim_end());
    }
    let mut settings = loaded.settings;
    let cluster = settings.name().to_string();
    let _lock = (!opts.dry_run)
        .then(|| crate::state_lock::acquire(&cluster, "upgrade-cluster"))
        .transpose()?;
    let mut notes = Vec::new();
    if let Some(t) = to
        && t.resolve() != settings.kubernetes_version.resolve()
    {
        notes.push(format!(
            "`kubernetes_version` in {} says {}: set it to {t}, or the next `scs-capi create-cluster` refuses to run (it does not change versions)",
            opts.file.display(),
            settings.kubernetes_version
        ));
    }
    let target = to.unwrap_or(settings.kubernetes_version);
    settings.kubernetes_version = target;

    // Everything that can refuse comes before the cloud is touched.
    let renderer = Renderer::new(opts.templates.as_deref())?;
    let (mgmt, server) = create::mgmt_client(&opts.mgmt).await?;
    super::generation::check_profile(&mgmt, &server, opts.profile).await?;
    let by_name = ClusterRefs::for_profile(&cluster, NAMESPACE, opts.profile);
    let current = super::live::live_version(&mgmt, &server, &by_name).await?.ok_or_else(|| {
        Error::usage(
            format!(
                "cluster `{cluster}` has no Cluster or KubeadmControlPlane in namespace `{NAMESPACE}` of the management cluster ({server})"
            ),
            Some(format!(
                "create it first: `scs-capi create-cluster -f {}`; or check `--kubeconfig`/`--context`",
                opts.file.display()
            )),
        )
    })?;
    let step = check_step(&cluster, &current, target)?;
    progress.message(&format!(
        "cluster `{cluster}`: Kubernetes {current} -> {}",
        target.resolve()
    ));

    let create::Compared {
        cloud,
        facts,
        rendered,
        objs,
        planned,
        mut kinds,
    } = create::compare(
        opts,
        &renderer,
        &settings,
        loaded.explicit_cloud.as_deref(),
        (&mgmt, &server),
        progress,
    )
    .await?;
    notes.extend(rendered.notes.iter().cloned());
    let unchanged = planned.iter().all(|p| p.change == Change::Unchanged);
    let refs = create::cluster_refs(&objs)?;
    let before = refs.observe(&mgmt, &server).await?;
    let mut report = Report {
        cluster: cluster.clone(),
        dry_run: opts.dry_run,
        from: current.clone(),
        to: target.resolve(),
        up_to_date: step == Step::Same && unchanged && wait::assess(&before).converged,
        cloud,
        objects: planned,
        machines_replaced: 0,
        machines: 0,
        addons: Vec::new(),
        pruned: Vec::new(),
        kubeconfig: None,
        seconds: 0.0,
        notes,
    };
    if opts.dry_run {
        report.seconds = started.elapsed().as_secs_f64();
        return Ok(report);
    }

    // Templates and the rest first, then the control plane, then the workers; each wait
    // returns at once when its part is already done.
    let old_machines: BTreeSet<String> = before
        .machines
        .iter()
        .filter_map(|m| m["metadata"]["name"].as_str().map(String::from))
        .collect();
    for stage in [Stage::Templates, Stage::ControlPlane, Stage::Workers] {
        let of_stage: Vec<(&DynamicObject, &Planned)> = objs
            .iter()
            .zip(&report.objects)
            .filter(|(o, p)| Stage::of(kind_of(o)) == stage && p.change != Change::Unchanged)
            .collect();
        crate::interrupt::check(&format!(
            "before applying the {} (run upgrade-cluster again to continue)",
            stage.title()
        ))?;
        if !of_stage.is_empty() {
            progress.phase(&format!("applying {} {}", of_stage.len(), stage.title()));
            for (o, _) in &of_stage {
                kinds.apply(o, Some(NAMESPACE)).await?;
            }
            progress.finish("applied");
        }
        let goal = match stage {
            Stage::Templates => continue,
            Stage::ControlPlane => Goal {
                what: "control-plane rollout",
                scope: Scope::ControlPlane,
                counter: "control-plane machines replaced",
            },
            Stage::Workers => Goal {
                what: "worker rollout",
                scope: Scope::Cluster,
                counter: "machines replaced",
            },
        };
        wait::until(&mgmt, &server, &refs, opts.timeout, &goal, progress).await?;
    }
    let after = refs.observe(&mgmt, &server).await?;
    report.machines = after.machines.len() as u64;
    report.machines_replaced = after
        .machines
        .iter()
        .filter_map(|m| m["metadata"]["name"].as_str())
        .filter(|n| !old_machines.contains(*n))
        .count() as u64;

    let wl = create::workload_and_addons(
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

    report.pruned = prune_templates(&mut kinds, &objs, progress).await?;
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// The apply stages of an upgrade.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Machine and config templates, Secrets, the OpenStackCluster: what the control
    /// plane and the workers reference.
    Templates,
    /// The KubeadmControlPlane (and the Cluster).
    ControlPlane,
    /// The MachineDeployments and anything else.
    Workers,
}

impl Stage {
    fn of(kind: &str) -> Stage {
        match kind {
            "KubeadmControlPlane" | "Cluster" => Stage::ControlPlane,
            "MachineDeployment" => Stage::Workers,
            k if k.ends_with("Template")
                || matches!(k, "Secret" | "ConfigMap" | "Namespace" | "OpenStackCluster") =>
            {
                Stage::Templates
            }
            _ => Stage::Workers,
        }
    }

    fn title(self) -> &'static str {
        match self {
            Stage::Templates => "templates and objects they need",
            Stage::ControlPlane => "control-plane objects",
            Stage::Workers => "worker objects",
        }
    }
}

fn typed(api_version: &str, kind: &str, name: Option<&str>) -> DynamicObject {
    DynamicObject {
        types: Some(TypeMeta {
            api_version: api_version.into(),
            kind: kind.into(),
        }),
        metadata: ObjectMeta {
            name: name.map(String::from),
            namespace: Some(NAMESPACE.into()),
            ..Default::default()
        },
        data: Value::Null,
    }
}

/// Every object of a kind in [`NAMESPACE`]; empty when the management cluster does not
/// serve the kind (a Cluster API without MachineSets in the served version, say).
async fn list_kind(
    kinds: &mut Kinds,
    api_version: &str,
    kind: &str,
) -> std::result::Result<Vec<Value>, MgmtError> {
    let probe = typed(api_version, kind, None);
    let api = match kinds.api_for(&probe, Some(NAMESPACE)).await {
        Ok(a) => a,
        Err(e) if e.message.contains("looking up the kind") => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let server = kinds.server().to_string();
    let list = api
        .list(&ListParams::default())
        .await
        .map_err(|e| api_error(&format!("listing {kind} in `{NAMESPACE}`"), &server, e))?;
    Ok(list
        .items
        .into_iter()
        .map(|o| serde_json::to_value(o).unwrap_or(Value::Null))
        .collect())
}

/// The names of templates something still uses: the control planes' and
/// MachineDeployments' specs, every MachineSet (an old one may still own running
/// machines), and what running machines were cloned from.
async fn referenced(
    kinds: &mut Kinds,
    objs: &[DynamicObject],
) -> std::result::Result<BTreeSet<String>, MgmtError> {
    let api_of = |kind: &str| {
        objs.iter()
            .find(|o| kind_of(o) == kind)
            .and_then(|o| o.types.as_ref().map(|t| t.api_version.clone()))
    };
    let mut names = BTreeSet::new();
    let mut add = |v: &Value| {
        if let Some(n) = v.as_str() {
            names.insert(n.to_string());
        }
    };
    if let Some(av) = api_of("KubeadmControlPlane") {
        for k in list_kind(kinds, &av, "KubeadmControlPlane").await? {
            add(&k["spec"]["machineTemplate"]["spec"]["infrastructureRef"]["name"]);
            add(&k["spec"]["machineTemplate"]["infrastructureRef"]["name"]);
        }
    }
    if let Some(av) = api_of("MachineDeployment") {
        for kind in ["MachineDeployment", "MachineSet"] {
            for o in list_kind(kinds, &av, kind).await? {
                let spec = &o["spec"]["template"]["spec"];
                add(&spec["infrastructureRef"]["name"]);
                add(&spec["bootstrap"]["configRef"]["name"]);
            }
        }
    }
    for (template, instance) in [
        ("OpenStackMachineTemplate", "OpenStackMachine"),
        ("KubeadmConfigTemplate", "KubeadmConfig"),
    ] {
        if let Some(av) = api_of(template) {
            for o in list_kind(kinds, &av, instance).await? {
                add(&o["metadata"]["annotations"]["cluster.x-k8s.io/cloned-from-name"]);
            }
        }
    }
    Ok(names)
}

/// The machine templates of this cluster that are no longer referenced, deleted; returns
/// them as `Kind namespace/name`.
///
/// A live template is this cluster's when it is of a rendered template's kind and named
/// like it up to the hash: the rendered `<prefix>-<cluster>-md-0-<hash>` makes
/// `<prefix>-<cluster>-md-0-<other hash>` a candidate (a suffix without `-`, so the
/// templates of a cluster named `<cluster>-md-0` are not). The templates just rendered
/// and every one in [`referenced`] stay.
///
/// # Errors
/// API failures; templates deleted before the failure stay deleted (a re-run goes on).
pub async fn prune_templates(
    kinds: &mut Kinds,
    objs: &[DynamicObject],
    progress: &dyn Progress,
) -> std::result::Result<Vec<String>, MgmtError> {
    let keep = referenced(kinds, objs).await?;
    let mut candidates: Vec<DynamicObject> = Vec::new();
    let mut seen_kinds: BTreeSet<(String, String)> = BTreeSet::new();
    let rendered: Vec<(&str, &str, &str)> = objs
        .iter()
        .filter(|o| {
            let k = kind_of(o);
            k.ends_with("Template") && k != "ClusterTemplate"
        })
        .filter_map(|o| {
            let t = o.types.as_ref()?;
            Some((
                t.api_version.as_str(),
                t.kind.as_str(),
                o.metadata.name.as_deref()?,
            ))
        })
        .collect();
    for &(av, kind, _) in &rendered {
        if !seen_kinds.insert((av.to_string(), kind.to_string())) {
            continue;
        }
        let stems: Vec<&str> = rendered
            .iter()
            .filter(|(a, k, _)| *a == av && *k == kind)
            .filter_map(|(_, _, n)| n.rfind('-').map(|i| &n[..=i]))
            .collect();
        for live in list_kind(kinds, av, kind).await? {
            let Some(name) = live["metadata"]["name"].as_str() else {
                continue;
            };
            let ours = stems.iter().any(|s| {
                name.strip_prefix(s)
                    .is_some_and(|rest| !rest.is_empty() && !rest.contains('-'))
            });
            let current = rendered
                .iter()
                .any(|(a, k, n)| *a == av && *k == kind && *n == name);
            if ours && !current && !keep.contains(name) {
                candidates.push(typed(av, kind, Some(name)));
            }
        }
    }
    let mut pruned = Vec::new();
    if candidates.is_empty() {
        return Ok(pruned);
    }
    progress.phase(&format!(
        "deleting {} machine templates no longer referenced",
        candidates.len()
    ));
    for o in &candidates {
        kinds.delete(o, Some(NAMESPACE)).await?;
        pruned.push(crate::mgmt::apply::describe(o));
    }
    progress.finish(&format!("deleted {} machine templates", pruned.len()));
    Ok(pruned)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> KubernetesVersion {
        s.parse().unwrap()
    }

    #[test]
    fn one_minor_or_a_patch_at_a_time() {
        assert_eq!(
            check_step("c", "v1.33.13", v("v1.33.13")).unwrap(),
            Step::Same
        );
        assert_eq!(
            check_step("c", "v1.33.13", v("v1.33.x")).unwrap(),
            Step::Same
        );
        assert_eq!(
            check_step("c", "v1.33.2", v("v1.33.x")).unwrap(),
            Step::Upgrade
        );
        assert_eq!(
            check_step("c", "v1.33.13", v("v1.34.x")).unwrap(),
            Step::Upgrade
        );
        assert_eq!(
            check_step("c", "v1.33.13", v("v1.34.0")).unwrap(),
            Step::Upgrade
        );
    }

    #[test]
    fn a_skipped_minor_names_the_step_to_take() {
        let e = check_step("foo", "v1.33.13", v("v1.35.x")).unwrap_err();
        let Error::Usage { message, hint } = &e else {
            panic!("not a usage error: {e:?}");
        };
        let text = format!("{message} {}", hint.as_deref().unwrap_or_default());
        assert!(text.contains("v1.33.13"), "{text}");
        assert!(text.contains("v1.35.8"), "{text}");
        assert!(text.contains("skip v1.34"), "{text}");
        assert!(text.contains("--to v1.34.x"), "{text}");
        let e = check_step("foo", "v1.32.1", v("v1.35.x")).unwrap_err();
        assert!(e.to_string().contains("skip v1.33-v1.34"), "{e}");
    }

    #[test]
    fn downgrades_unknown_versions_and_garbage_are_refused() {
        let e = check_step("foo", "v1.34.2", v("v1.33.x")).unwrap_err();
        assert!(e.to_string().contains("downgrade"), "{e}");
        assert!(check_step("foo", "v1.34.2", v("v1.34.1")).is_err());
        assert!(check_step("foo", "v1.34.2", v("v1.99.x")).is_err());
        assert!(check_step("foo", "1.34", v("v1.34.x")).is_err());
    }

    #[test]
    fn stages_put_templates_first_and_workers_last() {
        assert_eq!(Stage::of("OpenStackMachineTemplate"), Stage::Templates);
        assert_eq!(Stage::of("KubeadmConfigTemplate"), Stage::Templates);
        assert_eq!(Stage::of("Secret"), Stage::Templates);
        assert_eq!(Stage::of("KubeadmControlPlane"), Stage::ControlPlane);
        assert_eq!(Stage::of("MachineDeployment"), Stage::Workers);
    }
}
