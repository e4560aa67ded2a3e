//! `clusterctl` as the management cluster needs it: the providers a settings file asks for
//! (core `cluster-api`, `kubeadm` bootstrap and control plane, `openstack`), what to do
//! given the providers already installed, and the `clusterctl init` / `upgrade plan` /
//! `upgrade apply` invocations with the environment they need.
//!
//! Installed providers are read by the caller from clusterctl's own inventory (the
//! `providers.clusterctl.cluster.x-k8s.io` objects, see [`PROVIDER_GROUP`]); the decisions
//! here are pure functions of desired and installed, so a re-run converges: nothing
//! installed -> `init` everything; some installed at the wanted version -> `init` only the
//! missing ones; any at another version -> `init` refuses and `upgrade` applies.
//!
//! Hops: clusterctl moves providers in one `upgrade apply`, but not across any distance.
//! Cluster API supports skipping at most three minors (CAPI book, "Cluster API and
//! Kubernetes version support", section "Skip upgrades": "at maximum n-3 minor version skip
//! upgrades"), and CAPO v0.11 stopped serving `v1alpha6` (v0.10.0 release notes: "We will
//! stop serving and testing v1alpha6 in the next release"), the version R4's CAPO v0.7
//! stored its objects in. So an R4-era management cluster (CAPI v1.3, CAPO v0.7) reaches
//! the pins through [`WAYPOINTS`], pairs of CAPI and CAPO released to work together, and
//! passes CAPO v0.10 (which serves `v1alpha6` next to `v1beta1` and stores `v1beta1`, so
//! clusterctl rewrites the stored objects) before anything newer. [`plan_hops`] picks them.
//!
//! Environment: the default profile sets `CLUSTER_TOPOLOGY=true` (ClusterClass),
//! `EXP_CLUSTER_RESOURCE_SET=true` and `EXP_RUNTIME_SDK=true`, as SCS's Cluster Stacks do;
//! the `r4` profile sets nothing, as R4's `deploy_cluster_api.sh` did. `GITHUB_TOKEN`, when
//! set, is passed through as a secret (clusterctl uses it against GitHub's rate limit).

use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

use super::runner::Invocation;
use super::tools::{capo_version, clusterapi_version, parse_version};
use crate::cloud::Secret;
use crate::render::Profile;
use crate::settings::Settings;

/// API group, version and plural of clusterctl's provider inventory.
pub const PROVIDER_GROUP: &str = "clusterctl.cluster.x-k8s.io";
pub const PROVIDER_VERSION: &str = "v1alpha3";
pub const PROVIDER_PLURAL: &str = "providers";

/// How long `clusterctl init`/`upgrade apply` may take (it downloads provider components
/// and, for init, cert-manager).
pub const APPLY_TIMEOUT: Duration = Duration::from_secs(15 * 60);
/// How long `clusterctl upgrade plan` may take.
pub const PLAN_TIMEOUT: Duration = Duration::from_secs(3 * 60);

/// A provider's role, as clusterctl's inventory spells its `type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum Kind {
    CoreProvider,
    BootstrapProvider,
    ControlPlaneProvider,
    InfrastructureProvider,
}

impl Kind {
    /// The `clusterctl init`/`upgrade apply` flag for this kind.
    pub fn flag(self) -> &'static str {
        match self {
            Kind::CoreProvider => "--core",
            Kind::BootstrapProvider => "--bootstrap",
            Kind::ControlPlaneProvider => "--control-plane",
            Kind::InfrastructureProvider => "--infrastructure",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        Some(match s {
            "CoreProvider" => Kind::CoreProvider,
            "BootstrapProvider" => Kind::BootstrapProvider,
            "ControlPlaneProvider" => Kind::ControlPlaneProvider,
            "InfrastructureProvider" => Kind::InfrastructureProvider,
            _ => return None,
        })
    }
}

/// One provider at one version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Provider {
    pub kind: Kind,
    /// `cluster-api`, `kubeadm`, `openstack`.
    pub name: String,
    /// `v1.14.0`.
    pub version: String,
    /// Namespace it lives in (installed providers only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

impl Provider {
    /// `cluster-api:v1.14.0`.
    pub fn arg(&self) -> String {
        format!("{}:{}", self.name, self.version)
    }
}

/// The providers `settings` ask for, core first.
pub fn desired(s: &Settings, profile: Profile) -> Vec<Provider> {
    let capi = clusterapi_version(s, profile);
    let capo = capo_version(s, profile);
    let p = |kind, name: &str, version: &str| Provider {
        kind,
        name: name.to_string(),
        version: version.to_string(),
        namespace: None,
    };
    vec![
        p(Kind::CoreProvider, "cluster-api", &capi),
        p(Kind::BootstrapProvider, "kubeadm", &capi),
        p(Kind::ControlPlaneProvider, "kubeadm", &capi),
        p(Kind::InfrastructureProvider, "openstack", &capo),
    ]
}

/// Reads one item of clusterctl's inventory (`providerName`, `type`, `version`).
pub fn provider_from_inventory(obj: &serde_json::Value) -> Option<Provider> {
    let s = |k: &str| obj.get(k).and_then(serde_json::Value::as_str);
    Some(Provider {
        kind: Kind::parse(s("type")?)?,
        name: s("providerName")?.to_string(),
        version: s("version")?.to_string(),
        namespace: obj
            .pointer("/metadata/namespace")
            .and_then(serde_json::Value::as_str)
            .map(String::from),
    })
}

/// What `mgmt init` does about the providers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum InitDecision {
    /// Everything is installed at the wanted versions.
    UpToDate,
    /// `clusterctl init` with these (the ones missing).
    Init { providers: Vec<Provider> },
    /// Some are installed at other versions: `mgmt upgrade` is the way.
    NeedsUpgrade { differ: Vec<(Provider, String)> },
}

/// Intermediate `(CAPI, CAPO, why)` stops on the way from an R4-era management cluster to
/// the pins, oldest first. Each pair was released to work together (CAPO's release built on
/// that CAPI minor), and each is at most three CAPI minors from the one before. Read
/// 2026-12 from the CAPO release notes and PRs (v0.9 on CAPI v1.6; "Bump CAPI to v1.7" for
/// v0.10; "Bump CAPI to v1.10" for v0.12; v0.14 on CAPI v1.12 with the v1beta2 contract).
pub const WAYPOINTS: &[(&str, &str, &str)] = &[
    (
        "v1.6.1",
        "v0.9.0",
        "CAPI v1.3 -> v1.6 is the largest skip CAPI supports; CAPO v0.9 still serves v1alpha6",
    ),
    (
        "v1.7.7",
        "v0.10.5",
        "CAPO v0.10 is the last release serving v1alpha6 next to v1beta1; it stores v1beta1, so clusterctl rewrites the stored objects",
    ),
    (
        "v1.10.10",
        "v0.12.7",
        "CAPO v0.11 stopped serving v1alpha6 (objects are v1beta1 by now); CAPO v0.12 needs ORC",
    ),
    (
        "v1.12.2",
        "v0.14.7",
        "CAPI v1.11 moved to the v1beta2 contract; CAPI and CAPO switch to it together",
    ),
];

/// The CAPO release that serves both `v1alpha6` and `v1beta1` (the last with `v1alpha6`).
const CAPO_LAST_V1ALPHA6: (u64, u64) = (0, 10);
/// The CAPO minor that no longer serves `v1alpha6`.
const CAPO_NO_V1ALPHA6: (u64, u64) = (0, 11);
/// The most CAPI minors one `clusterctl upgrade apply` may skip.
const CAPI_MAX_SKIP: u64 = 3;

/// One `clusterctl upgrade apply` of an upgrade.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Hop {
    /// The providers this hop moves (only those that change).
    pub providers: Vec<Provider>,
    /// Why this stop (empty for the final one).
    pub why: String,
}

fn minor(v: &str) -> Option<(u64, u64)> {
    parse_version(v).map(|(a, b, _)| (a, b))
}

/// Whether one `clusterctl upgrade apply` may go from `(capi, capo)` to `(capi2, capo2)`.
fn one_hop(from: (&str, &str), to: (&str, &str)) -> bool {
    let (Some(c1), Some(o1), Some(c2), Some(o2)) =
        (minor(from.0), minor(from.1), minor(to.0), minor(to.1))
    else {
        return true; // unparsable versions: leave it to clusterctl
    };
    let capi_ok = c1.0 != c2.0 || c2.1.saturating_sub(c1.1) <= CAPI_MAX_SKIP;
    let capo_ok = !(o1 < CAPO_LAST_V1ALPHA6 && o2 >= CAPO_NO_V1ALPHA6);
    capi_ok && capo_ok
}

/// The `clusterctl upgrade apply` calls from `installed` to `desired`, in order: one when
/// a direct jump is supported, else through [`WAYPOINTS`] (always the furthest reachable).
///
/// # Errors
/// A message with the path to take by hand when no sequence of supported steps exists.
pub fn plan_hops(desired: &[Provider], installed: &[Provider]) -> Result<Vec<Hop>, String> {
    let version_of = |ps: &[Provider], kind: Kind| {
        ps.iter()
            .find(|p| p.kind == kind)
            .map(|p| p.version.clone())
            .unwrap_or_default()
    };
    let target = (
        version_of(desired, Kind::CoreProvider),
        version_of(desired, Kind::InfrastructureProvider),
    );
    let mut current = (
        version_of(installed, Kind::CoreProvider),
        version_of(installed, Kind::InfrastructureProvider),
    );
    let le = |a: &str, b: &str| match (parse_version(a), parse_version(b)) {
        (Some(a), Some(b)) => a <= b,
        _ => false,
    };
    let mut hops = Vec::new();
    let mut versions: Vec<(String, String)> = Vec::new();
    loop {
        if one_hop((&current.0, &current.1), (&target.0, &target.1)) {
            versions.push(target.clone());
            break;
        }
        // The furthest waypoint ahead of `current`, behind the target, reachable in one.
        let next = WAYPOINTS.iter().rev().find(|(capi, capo, _)| {
            le(&current.0, capi)
                && le(&current.1, capo)
                && (current.0 != *capi || current.1 != *capo)
                && le(capi, &target.0)
                && le(capo, &target.1)
                && one_hop((&current.0, &current.1), (capi, capo))
        });
        let Some((capi, capo, why)) = next else {
            return Err(format!(
                "no supported upgrade path from CAPI {} / CAPO {} to CAPI {} / CAPO {}: clusterctl may skip at most {CAPI_MAX_SKIP} CAPI minors per upgrade, and CAPO v0.10 must be passed before v0.11 (which stopped serving v1alpha6)",
                current.0, current.1, target.0, target.1
            ));
        };
        versions.push((capi.to_string(), capo.to_string()));
        hops.push(why.to_string());
        current = (capi.to_string(), capo.to_string());
    }
    // Providers per hop: the three CAPI ones follow CAPI, openstack follows CAPO.
    let mut last = (
        version_of(installed, Kind::CoreProvider),
        version_of(installed, Kind::InfrastructureProvider),
    );
    let mut out = Vec::new();
    for (i, (capi, capo)) in versions.iter().enumerate() {
        let providers: Vec<Provider> = desired
            .iter()
            .filter_map(|w| {
                let (version, before) = if w.kind == Kind::InfrastructureProvider {
                    (capo, &last.1)
                } else {
                    (capi, &last.0)
                };
                let is_final = i + 1 == versions.len();
                let version = if is_final { &w.version } else { version };
                let have = installed_match(w, installed).map(|p| p.version.as_str());
                let previous = if i == 0 {
                    have.unwrap_or(before)
                } else {
                    before
                };
                (previous != version).then(|| Provider {
                    version: version.clone(),
                    namespace: installed_match(w, installed).and_then(|p| p.namespace.clone()),
                    ..w.clone()
                })
            })
            .collect();
        last = (capi.clone(), capo.clone());
        if !providers.is_empty() {
            out.push(Hop {
                providers,
                why: hops.get(i).cloned().unwrap_or_default(),
            });
        }
    }
    Ok(out)
}

/// What `mgmt upgrade` does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum UpgradeDecision {
    UpToDate,
    /// Nothing is installed: `mgmt init` first.
    NotInitialized,
    /// Some wanted providers are missing: `mgmt init` adds them first.
    Missing {
        providers: Vec<Provider>,
    },
    /// `clusterctl upgrade apply` to these versions; `downgrade` lists any going back.
    /// `hops`: the calls in order (one unless the distance needs stops, see [`plan_hops`]).
    Apply {
        providers: Vec<Provider>,
        downgrade: Vec<String>,
        hops: Vec<Hop>,
    },
    /// No supported path: the message says which.
    NoPath {
        message: String,
    },
}

fn installed_match<'a>(want: &Provider, installed: &'a [Provider]) -> Option<&'a Provider> {
    installed
        .iter()
        .find(|i| i.kind == want.kind && i.name == want.name)
}

pub fn decide_init(desired: &[Provider], installed: &[Provider]) -> InitDecision {
    let differ: Vec<(Provider, String)> = desired
        .iter()
        .filter_map(|w| {
            installed_match(w, installed)
                .filter(|i| i.version != w.version)
                .map(|i| (w.clone(), i.version.clone()))
        })
        .collect();
    if !differ.is_empty() {
        return InitDecision::NeedsUpgrade { differ };
    }
    let missing: Vec<Provider> = desired
        .iter()
        .filter(|w| installed_match(w, installed).is_none())
        .cloned()
        .collect();
    if missing.is_empty() {
        InitDecision::UpToDate
    } else {
        InitDecision::Init { providers: missing }
    }
}

pub fn decide_upgrade(desired: &[Provider], installed: &[Provider]) -> UpgradeDecision {
    if installed.is_empty() {
        return UpgradeDecision::NotInitialized;
    }
    let missing: Vec<Provider> = desired
        .iter()
        .filter(|w| installed_match(w, installed).is_none())
        .cloned()
        .collect();
    if !missing.is_empty() {
        return UpgradeDecision::Missing { providers: missing };
    }
    let mut providers = Vec::new();
    let mut downgrade = Vec::new();
    for w in desired {
        if let Some(i) = installed_match(w, installed).filter(|i| i.version != w.version) {
            if let (Some(a), Some(b)) = (parse_version(&i.version), parse_version(&w.version))
                && b < a
            {
                downgrade.push(format!("{} {} -> {}", w.name, i.version, w.version));
            }
            providers.push(Provider {
                namespace: i.namespace.clone(),
                ..w.clone()
            });
        }
    }
    if providers.is_empty() {
        return UpgradeDecision::UpToDate;
    }
    let hops = if downgrade.is_empty() {
        match plan_hops(desired, installed) {
            Ok(h) => h,
            Err(message) => return UpgradeDecision::NoPath { message },
        }
    } else {
        Vec::new()
    };
    UpgradeDecision::Apply {
        providers,
        downgrade,
        hops,
    }
}

/// Where clusterctl should talk to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Target {
    /// Handed on as `--kubeconfig` (only when it is one file).
    pub kubeconfig: Option<PathBuf>,
    /// Handed on as `--kubeconfig-context`.
    pub context: Option<String>,
}

fn base(profile: Profile) -> Invocation {
    let mut inv = Invocation::new("clusterctl");
    if profile == Profile::Default {
        inv = inv
            .env("CLUSTER_TOPOLOGY", "true")
            .env("EXP_CLUSTER_RESOURCE_SET", "true")
            .env("EXP_RUNTIME_SDK", "true");
    }
    if let Some(t) = std::env::var("GITHUB_TOKEN").ok().filter(|t| !t.is_empty()) {
        inv = inv.secret_env("GITHUB_TOKEN", Secret::new(t));
    }
    inv
}

fn with_target(mut inv: Invocation, target: &Target) -> Invocation {
    if let Some(k) = &target.kubeconfig {
        inv = inv.arg("--kubeconfig").arg(k.display().to_string());
    }
    if let Some(c) = &target.context {
        inv = inv.arg("--kubeconfig-context").arg(c.clone());
    }
    inv
}

fn provider_args(inv: Invocation, providers: &[Provider]) -> Invocation {
    let mut inv = inv;
    for p in providers {
        let value = match &p.namespace {
            Some(ns) => format!("{ns}/{}", p.arg()),
            None => p.arg(),
        };
        inv = inv.arg(p.kind.flag()).arg(value);
    }
    inv
}

/// `clusterctl init --core cluster-api:vX --bootstrap kubeadm:vX --control-plane kubeadm:vX
/// --infrastructure openstack:vY` (only the providers given).
pub fn init(profile: Profile, target: &Target, providers: &[Provider]) -> Invocation {
    let inv = base(profile).arg("init");
    with_target(provider_args(inv, providers), target).timeout(APPLY_TIMEOUT)
}

/// `clusterctl upgrade plan`.
pub fn upgrade_plan(profile: Profile, target: &Target) -> Invocation {
    with_target(base(profile).args(["upgrade", "plan"]), target).timeout(PLAN_TIMEOUT)
}

/// `clusterctl upgrade apply --core capi-system/cluster-api:vX ...` to the versions given.
pub fn upgrade_apply(profile: Profile, target: &Target, providers: &[Provider]) -> Invocation {
    let inv = base(profile).args(["upgrade", "apply"]);
    with_target(provider_args(inv, providers), target).timeout(APPLY_TIMEOUT)
}

/// `clusterctl version -o short`, to check the installed binary.
pub fn version() -> Invocation {
    Invocation::new("clusterctl")
        .args(["version", "-o", "short"])
        .timeout(Duration::from_secs(30))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn installed(kind: Kind, name: &str, v: &str, ns: &str) -> Provider {
        Provider {
            kind,
            name: name.into(),
            version: v.into(),
            namespace: Some(ns.into()),
        }
    }

    fn all_at(capi: &str, capo: &str) -> Vec<Provider> {
        vec![
            installed(Kind::CoreProvider, "cluster-api", capi, "capi-system"),
            installed(
                Kind::BootstrapProvider,
                "kubeadm",
                capi,
                "capi-kubeadm-bootstrap-system",
            ),
            installed(
                Kind::ControlPlaneProvider,
                "kubeadm",
                capi,
                "capi-kubeadm-control-plane-system",
            ),
            installed(
                Kind::InfrastructureProvider,
                "openstack",
                capo,
                "capo-system",
            ),
        ]
    }

    #[test]
    fn init_invocation_for_the_default_profile() {
        let want = desired(&Settings::default(), Profile::Default);
        let inv = init(
            Profile::Default,
            &Target {
                kubeconfig: Some("/k/config".into()),
                context: Some("kind-kind".into()),
            },
            &want,
        );
        assert_eq!(
            inv.command_line(),
            "clusterctl init --core cluster-api:v1.14.0 --bootstrap kubeadm:v1.14.0 \
             --control-plane kubeadm:v1.14.0 --infrastructure openstack:v0.14.7 \
             --kubeconfig /k/config --kubeconfig-context kind-kind"
        );
        let env: Vec<&str> = inv.env.iter().map(|(k, _)| k.as_str()).collect();
        assert!(env.starts_with(&[
            "CLUSTER_TOPOLOGY",
            "EXP_CLUSTER_RESOURCE_SET",
            "EXP_RUNTIME_SDK"
        ]));
        assert_eq!(inv.timeout, APPLY_TIMEOUT);
    }

    #[test]
    fn r4_profile_is_exactly_r4() {
        let want = desired(&Settings::default(), Profile::R4);
        let inv = init(Profile::R4, &Target::default(), &want);
        assert_eq!(
            inv.command_line(),
            "clusterctl init --core cluster-api:v1.3.5 --bootstrap kubeadm:v1.3.5 \
             --control-plane kubeadm:v1.3.5 --infrastructure openstack:v0.7.1"
        );
        assert!(inv.env.iter().all(|(k, _)| k == "GITHUB_TOKEN"));
    }

    #[test]
    fn init_decisions_converge() {
        let want = desired(&Settings::default(), Profile::Default);
        assert_eq!(
            decide_init(&want, &[]),
            InitDecision::Init {
                providers: want.clone()
            }
        );
        assert_eq!(
            decide_init(&want, &all_at("v1.14.0", "v0.14.7")),
            InitDecision::UpToDate
        );
        // Core only (a crash after the first provider): the rest is added.
        let core = all_at("v1.14.0", "v0.14.7")[..1].to_vec();
        match decide_init(&want, &core) {
            InitDecision::Init { providers } => assert_eq!(providers, want[1..].to_vec()),
            other => panic!("{other:?}"),
        }
        match decide_init(&want, &all_at("v1.13.5", "v0.14.7")) {
            InitDecision::NeedsUpgrade { differ } => {
                assert_eq!(differ.len(), 3);
                assert_eq!(differ[0].1, "v1.13.5");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn upgrade_decisions() {
        let want = desired(&Settings::default(), Profile::Default);
        assert_eq!(decide_upgrade(&want, &[]), UpgradeDecision::NotInitialized);
        assert_eq!(
            decide_upgrade(&want, &all_at("v1.14.0", "v0.14.7")),
            UpgradeDecision::UpToDate
        );
        let UpgradeDecision::Apply {
            providers,
            downgrade,
            hops,
        } = decide_upgrade(&want, &all_at("v1.13.5", "v0.13.9"))
        else {
            panic!()
        };
        assert_eq!(providers.len(), 4);
        assert!(downgrade.is_empty());
        assert_eq!(hops.len(), 1);
        assert_eq!(hops[0].providers, providers);
        let inv = upgrade_apply(Profile::Default, &Target::default(), &providers);
        assert_eq!(
            inv.command_line(),
            "clusterctl upgrade apply --core capi-system/cluster-api:v1.14.0 \
             --bootstrap capi-kubeadm-bootstrap-system/kubeadm:v1.14.0 \
             --control-plane capi-kubeadm-control-plane-system/kubeadm:v1.14.0 \
             --infrastructure capo-system/openstack:v0.14.7"
        );
        let UpgradeDecision::Apply { downgrade, .. } =
            decide_upgrade(&want, &all_at("v1.15.0", "v0.14.7"))
        else {
            panic!()
        };
        assert_eq!(downgrade.len(), 3);
    }

    fn hop_line(h: &Hop) -> String {
        h.providers
            .iter()
            .map(|p| format!("{} {}", p.kind.flag(), p.arg()))
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn r4_era_management_clusters_upgrade_in_hops() {
        let want = desired(&Settings::default(), Profile::Default);
        let UpgradeDecision::Apply { hops, .. } =
            decide_upgrade(&want, &all_at("v1.3.5", "v0.7.1"))
        else {
            panic!()
        };
        let lines: Vec<String> = hops.iter().map(hop_line).collect();
        let capi = |v: &str| {
            format!("--core cluster-api:{v} --bootstrap kubeadm:{v} --control-plane kubeadm:{v}")
        };
        assert_eq!(
            lines,
            [
                format!("{} --infrastructure openstack:v0.9.0", capi("v1.6.1")),
                format!("{} --infrastructure openstack:v0.10.5", capi("v1.7.7")),
                format!("{} --infrastructure openstack:v0.12.7", capi("v1.10.10")),
                format!("{} --infrastructure openstack:v0.14.7", capi("v1.12.2")),
                // CAPO is at the pin already: only CAPI moves.
                capi("v1.14.0"),
            ]
        );
        assert!(hops[1].why.contains("v1alpha6"));
        // Every hop is supported: at most three CAPI minors, CAPO v0.10 before v0.11.
        let mut cur = ("v1.3.5".to_string(), "v0.7.1".to_string());
        for h in &hops {
            let core = h
                .providers
                .iter()
                .find(|p| p.kind == Kind::CoreProvider)
                .map(|p| p.version.clone())
                .unwrap_or(cur.0.clone());
            let capo = h
                .providers
                .iter()
                .find(|p| p.kind == Kind::InfrastructureProvider)
                .map(|p| p.version.clone())
                .unwrap_or(cur.1.clone());
            assert!(
                one_hop((&cur.0, &cur.1), (&core, &capo)),
                "{cur:?} -> {core} {capo}"
            );
            cur = (core, capo);
        }
        // Namespaces of the installed providers are kept.
        assert_eq!(
            hops[0].providers[3].namespace.as_deref(),
            Some("capo-system")
        );
        // A v0.10 cluster goes on without the v1alpha6 stop.
        let UpgradeDecision::Apply { hops, .. } =
            decide_upgrade(&want, &all_at("v1.7.7", "v0.10.5"))
        else {
            panic!()
        };
        assert_eq!(hops.len(), 3);
        // Without any waypoint that fits, the decision says why.
        let mut odd = want.clone();
        odd[3].version = "v0.8.0".into();
        assert!(matches!(
            decide_upgrade(&odd, &all_at("v1.3.5", "v0.7.1")),
            UpgradeDecision::NoPath { .. }
        ));
    }

    #[test]
    fn inventory_items_parse() {
        let v = serde_json::json!({
            "metadata": {"name": "infrastructure-openstack", "namespace": "capo-system"},
            "providerName": "openstack", "type": "InfrastructureProvider", "version": "v0.14.7"
        });
        assert_eq!(
            provider_from_inventory(&v),
            Some(installed(
                Kind::InfrastructureProvider,
                "openstack",
                "v0.14.7",
                "capo-system"
            ))
        );
        assert_eq!(
            provider_from_inventory(&serde_json::json!({"type": "Other"})),
            None
        );
    }
}
