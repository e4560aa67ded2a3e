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
    Apply {
        providers: Vec<Provider>,
        downgrade: Vec<String>,
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
            if let (Some(a), Some(b)) = (parse_version(&i.version), parse_version(&w.version)) {
                if b < a {
                    downgrade.push(format!("{} {} -> {}", w.name, i.version, w.version));
                }
            }
            providers.push(Provider {
                namespace: i.namespace.clone(),
                ..w.clone()
            });
        }
    }
    if providers.is_empty() {
        UpgradeDecision::UpToDate
    } else {
        UpgradeDecision::Apply {
            providers,
            downgrade,
        }
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
        } = decide_upgrade(&want, &all_at("v1.13.5", "v0.13.9"))
        else {
            panic!()
        };
        assert_eq!(providers.len(), 4);
        assert!(downgrade.is_empty());
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
