//! Which addons a workload cluster gets for its settings, at which version, and from
//! which upstream files: the pinned defaults, the version tables (OCCM/Cinder CSI follow
//! the Kubernetes minor, as R4's table did), and what a switched-off addon means (removal).
//!
//! Pure data: nothing here downloads or talks to a cluster.

use std::fmt;

use serde::Serialize;

use crate::settings::Settings;
use crate::settings::values::Toggle;

/// An addon this tool manages in the workload cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AddonName {
    Calico,
    Cilium,
    /// OpenStack cloud controller manager (+ the `kube-system/cloud-config` Secret).
    Occm,
    CinderCsi,
    /// Volume-snapshot CRDs and the snapshot controller (with the Cinder CSI).
    SnapshotController,
    MetricsServer,
    CertManager,
    Flux,
    IngressNginx,
}

impl AddonName {
    pub const ALL: [AddonName; 9] = [
        AddonName::Calico,
        AddonName::Cilium,
        AddonName::Occm,
        AddonName::CinderCsi,
        AddonName::SnapshotController,
        AddonName::MetricsServer,
        AddonName::CertManager,
        AddonName::Flux,
        AddonName::IngressNginx,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AddonName::Calico => "calico",
            AddonName::Cilium => "cilium",
            AddonName::Occm => "occm",
            AddonName::CinderCsi => "cinder-csi",
            AddonName::SnapshotController => "snapshot-controller",
            AddonName::MetricsServer => "metrics-server",
            AddonName::CertManager => "cert-manager",
            AddonName::Flux => "flux",
            AddonName::IngressNginx => "ingress-nginx",
        }
    }
}

impl fmt::Display for AddonName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Pinned default versions (used for `true`). Chosen to support the Kubernetes minors of
/// the default profile (1.31-1.36); `calico_version` has its own setting, the cilium agent
/// follows the Kubernetes minor ([`CILIUM_BY_MINOR`]).
pub mod defaults {
    pub const METRICS_SERVER: &str = "v0.7.2";
    pub const CERT_MANAGER: &str = "v1.16.2";
    pub const FLUX: &str = "v2.4.0";
    pub const INGRESS_NGINX: &str = "v1.12.0";
    /// kubernetes-csi/external-snapshotter (CRDs + snapshot controller).
    pub const EXTERNAL_SNAPSHOTTER: &str = "v8.2.0";
}

/// cloud-provider-openstack release per Kubernetes minor (OCCM and Cinder CSI are released
/// together). R4's table (1.22-1.26, later patch levels of its maintenance branch) extended
/// with the releases kubermatic's KubeOne pins per minor (pkg/templates/images, 2023-2026).
pub const CPO_BY_MINOR: &[(u32, &str)] = &[
    (22, "v1.22.2"),
    (23, "v1.23.4"),
    (24, "v1.24.6"),
    (25, "v1.25.6"),
    (26, "v1.26.4"),
    (27, "v1.27.3"),
    (28, "v1.28.3"),
    (29, "v1.29.1"),
    (30, "v1.30.3"),
    (31, "v1.31.3"),
    (32, "v1.32.1"),
    (33, "v1.33.1"),
    (34, "v1.34.1"),
    (35, "v1.35.0"),
    (36, "v1.36.0"),
];

/// Cilium agent for `use_cilium: true`, by the lowest Kubernetes minor it is used for.
/// Each release's "Kubernetes compatibility" page lists the minors it is e2e-tested with:
/// v1.13 (R4's pin) v1.16-v1.26, v1.16 v1.27-v1.30, v1.18.14 v1.30-v1.33. Newer minors
/// keep the last entry until the table grows.
pub const CILIUM_BY_MINOR: &[(u32, &str)] = &[(0, "v1.13.0"), (27, "v1.16.5"), (31, "v1.18.14")];

/// The cilium agent release for a Kubernetes minor (see [`CILIUM_BY_MINOR`]).
pub fn cilium_for_minor(minor: u32) -> &'static str {
    CILIUM_BY_MINOR
        .iter()
        .rev()
        .find(|(m, _)| *m <= minor)
        .map_or(CILIUM_BY_MINOR[0].1, |(_, v)| *v)
}

/// The cloud-provider-openstack release for a Kubernetes minor: the table's entry, or the
/// newest release below it (a newer minor keeps the last known release until the table
/// grows; CPO supports one minor of skew).
pub fn cpo_for_minor(minor: u32) -> &'static str {
    CPO_BY_MINOR
        .iter()
        .rev()
        .find(|(m, _)| *m <= minor)
        .map_or(CPO_BY_MINOR[0].1, |(_, v)| *v)
}

/// How an addon gets into the cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "via")]
pub enum Install {
    /// Upstream manifest files, applied with server-side apply after our patches.
    Manifests { urls: Vec<String> },
    /// The cilium CLI (`cilium install --version ... --set ...`), as R4 did.
    CiliumCli { args: Vec<String> },
}

/// One addon to install.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Addon {
    pub name: AddonName,
    pub version: String,
    #[serde(flatten)]
    pub install: Install,
}

/// What the workload cluster should have: addons to install (in this order: CNI first,
/// then the cloud integration, then the rest) and addons to remove because they are
/// switched off.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Desired {
    pub install: Vec<Addon>,
    pub remove: Vec<AddonName>,
}

impl Desired {
    pub fn get(&self, name: AddonName) -> Option<&Addon> {
        self.install.iter().find(|a| a.name == name)
    }
}

const CPO_RAW: &str = "https://raw.githubusercontent.com/kubernetes/cloud-provider-openstack";

/// The addons for `settings` (which are valid: `deploy_occm` is never off).
pub fn desired(settings: &Settings) -> Desired {
    let minor = settings.kubernetes_version.minor;
    let mut install = Vec::new();
    let mut off = Vec::new();
    let mut want =
        |name: AddonName, version: Option<String>, urls: fn(&str) -> Vec<String>| match version {
            Some(v) => install.push(Addon {
                name,
                install: Install::Manifests { urls: urls(&v) },
                version: v,
            }),
            None => off.push(name),
        };

    // CNI: exactly one of calico and cilium.
    let cilium = version_of(&settings.use_cilium, cilium_for_minor(minor));
    let calico = cilium.is_none().then(|| settings.calico_version.clone());
    want(AddonName::Calico, calico, |v| {
        vec![format!(
            "https://raw.githubusercontent.com/projectcalico/calico/{v}/manifests/calico.yaml"
        )]
    });
    let cpo = cpo_for_minor(minor);
    want(
        AddonName::Occm,
        version_of(&settings.deploy_occm, cpo),
        |v| {
            [
                "cloud-controller-manager-roles.yaml",
                "cloud-controller-manager-role-bindings.yaml",
                "openstack-cloud-controller-manager-ds.yaml",
            ]
            .iter()
            .map(|f| format!("{CPO_RAW}/{v}/manifests/controller-manager/{f}"))
            .collect()
        },
    );
    let csi = version_of(&settings.deploy_cindercsi, cpo);
    let snapshots = csi
        .as_ref()
        .map(|_| defaults::EXTERNAL_SNAPSHOTTER.to_string());
    want(AddonName::SnapshotController, snapshots, |v| {
        let base =
            format!("https://raw.githubusercontent.com/kubernetes-csi/external-snapshotter/{v}");
        let crds = [
            "volumesnapshotclasses",
            "volumesnapshotcontents",
            "volumesnapshots",
        ]
        .iter()
        .map(|k| format!("{base}/client/config/crd/snapshot.storage.k8s.io_{k}.yaml"));
        let controller = [
            "rbac-snapshot-controller.yaml",
            "setup-snapshot-controller.yaml",
        ]
        .iter()
        .map(|f| format!("{base}/deploy/kubernetes/snapshot-controller/{f}"));
        crds.chain(controller).collect()
    });
    want(AddonName::CinderCsi, csi, |v| {
        [
            "cinder-csi-controllerplugin-rbac.yaml",
            "cinder-csi-controllerplugin.yaml",
            "cinder-csi-nodeplugin-rbac.yaml",
            "cinder-csi-nodeplugin.yaml",
            "csi-cinder-driver.yaml",
        ]
        .iter()
        .map(|f| format!("{CPO_RAW}/{v}/manifests/cinder-csi-plugin/{f}"))
        .collect()
    });
    let metrics = settings
        .deploy_metrics
        .then(|| defaults::METRICS_SERVER.to_string());
    want(AddonName::MetricsServer, metrics, |v| {
        vec![format!(
            "https://github.com/kubernetes-sigs/metrics-server/releases/download/{v}/components.yaml"
        )]
    });
    want(
        AddonName::CertManager,
        version_of(&settings.deploy_cert_manager, defaults::CERT_MANAGER),
        |v| {
            vec![format!(
                "https://github.com/cert-manager/cert-manager/releases/download/{v}/cert-manager.yaml"
            )]
        },
    );
    want(
        AddonName::Flux,
        version_of(&settings.deploy_flux, defaults::FLUX),
        |v| {
            vec![format!(
                "https://github.com/fluxcd/flux2/releases/download/{v}/install.yaml"
            )]
        },
    );
    want(
        AddonName::IngressNginx,
        version_of(&settings.deploy_nginx_ingress, defaults::INGRESS_NGINX),
        |v| {
            vec![format!(
                "https://raw.githubusercontent.com/kubernetes/ingress-nginx/controller-{v}/deploy/static/provider/cloud/deploy.yaml"
            )]
        },
    );

    match cilium {
        Some(version) => {
            let args = cilium_args(&version, settings);
            // The CNI goes first.
            install.insert(
                0,
                Addon {
                    name: AddonName::Cilium,
                    version,
                    install: Install::CiliumCli { args },
                },
            );
        }
        None => off.push(AddonName::Cilium),
    }
    off.sort();
    Desired {
        install,
        remove: off,
    }
}

fn version_of(toggle: &Toggle, default: &str) -> Option<String> {
    match toggle {
        Toggle::Off => None,
        Toggle::Default => Some(default.to_string()),
        Toggle::Version(v) => Some(v.clone()),
    }
}

/// `cilium install` arguments: R4's conformance settings (v5.0.x #489) and the pod CIDR.
/// Cilium 1.14 renamed `kubeProxyReplacement=disabled` to `false`.
fn cilium_args(version: &str, settings: &Settings) -> Vec<String> {
    let plain = version.trim_start_matches('v');
    let minor = plain.split('.').nth(1).and_then(|m| m.parse::<u32>().ok());
    let no_kpr = if plain.starts_with("1.") && minor.is_some_and(|m| m < 14) {
        "kubeProxyReplacement=disabled"
    } else {
        "kubeProxyReplacement=false"
    };
    [
        "install".to_string(),
        "--version".into(),
        plain.to_string(),
        "--set".into(),
        no_kpr.into(),
        "--set".into(),
        "cni.chainingMode=portmap".into(),
        "--set".into(),
        "sessionAffinity=true".into(),
        "--set".into(),
        format!(
            "ipam.operator.clusterPoolIPv4PodCIDRList={}",
            settings.pod_cidr
        ),
    ]
    .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(f: impl FnOnce(&mut Settings)) -> Settings {
        let mut s = Settings::default();
        s.kubernetes_version.minor = 33;
        f(&mut s);
        s
    }

    #[test]
    fn defaults_give_calico_and_the_cloud_integration_matching_the_minor() {
        let d = desired(&settings(|_| {}));
        let names: Vec<_> = d.install.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "calico",
                "occm",
                "snapshot-controller",
                "cinder-csi",
                "metrics-server",
                "ingress-nginx"
            ]
        );
        assert_eq!(
            d.get(AddonName::Occm).map(|a| a.version.as_str()),
            Some("v1.33.1")
        );
        assert_eq!(
            d.get(AddonName::CinderCsi).map(|a| a.version.as_str()),
            Some("v1.33.1")
        );
        assert_eq!(
            d.remove,
            [AddonName::Cilium, AddonName::CertManager, AddonName::Flux]
        );
        let Some(Addon {
            install: Install::Manifests { urls },
            ..
        }) = d.get(AddonName::Occm)
        else {
            panic!("occm comes from manifests");
        };
        assert!(
            urls.iter()
                .all(|u| u.contains("/v1.33.1/manifests/controller-manager/"))
        );
    }

    #[test]
    fn cilium_replaces_calico_and_goes_first() {
        let d = desired(&settings(|s| {
            s.use_cilium = Toggle::Version("v1.15.1".into())
        }));
        assert_eq!(d.install[0].name, AddonName::Cilium);
        assert!(d.get(AddonName::Calico).is_none());
        assert!(d.remove.contains(&AddonName::Calico));
        let Install::CiliumCli { args } = &d.install[0].install else {
            panic!("cilium is installed by its CLI");
        };
        assert_eq!(args[..3], ["install", "--version", "1.15.1"]);
        assert!(
            args.contains(&"ipam.operator.clusterPoolIPv4PodCIDRList=192.168.0.0/16".to_string())
        );
        assert!(args.contains(&"kubeProxyReplacement=false".to_string()));
        let r4 = desired(&settings(|s| {
            s.use_cilium = Toggle::Version("v1.13.0".into())
        }));
        let Install::CiliumCli { args } = &r4.install[0].install else {
            panic!("cilium is installed by its CLI");
        };
        assert!(args.contains(&"kubeProxyReplacement=disabled".to_string()));
    }

    #[test]
    fn explicit_versions_win_and_off_means_removal() {
        let d = desired(&settings(|s| {
            s.deploy_occm = Toggle::Version("v1.30.0".into());
            s.deploy_cindercsi = Toggle::Off;
            s.deploy_metrics = false;
        }));
        assert_eq!(
            d.get(AddonName::Occm).map(|a| a.version.as_str()),
            Some("v1.30.0")
        );
        for gone in [
            AddonName::CinderCsi,
            AddonName::SnapshotController,
            AddonName::MetricsServer,
        ] {
            assert!(d.remove.contains(&gone), "{gone}");
            assert!(d.get(gone).is_none(), "{gone}");
        }
    }

    #[test]
    fn cpo_table_follows_the_minor_and_keeps_the_last_release_for_newer_ones() {
        assert_eq!(cpo_for_minor(25), "v1.25.6");
        assert_eq!(cpo_for_minor(36), "v1.36.0");
        assert_eq!(cpo_for_minor(37), "v1.36.0");
        assert_eq!(cpo_for_minor(10), "v1.22.2");
        // Strictly increasing minors, one entry each.
        assert!(CPO_BY_MINOR.windows(2).all(|w| w[1].0 == w[0].0 + 1));
    }

    #[test]
    fn every_addon_is_either_installed_or_removed() {
        for s in [
            settings(|_| {}),
            settings(|s| s.use_cilium = Toggle::Default),
        ] {
            let d = desired(&s);
            for name in AddonName::ALL {
                let installed = d.get(name).is_some();
                assert_ne!(installed, d.remove.contains(&name), "{name}");
            }
        }
    }
}
