//! What `scs-capi --version` says: the crate version and the git commit it was built from
//! (`-V`), and with `--version` also what this build pins: per render profile the Cluster
//! API and CAPO versions and the Kubernetes range and default, the addon versions, the
//! management-server tools. Everything is read from the tables the code uses, so it
//! cannot drift from them.

use std::sync::OnceLock;

use crate::addons::catalog::{CILIUM_BY_MINOR, CPO_BY_MINOR, defaults};
use crate::mgmt::tools;
use crate::render::Profile;
use crate::settings::{Settings, versions};

/// The commit, from `build.rs` (`unknown` outside a git checkout).
pub const COMMIT: &str = env!("BUILD_GIT_COMMIT");

/// `0.1.0 (commit 0123456789ab)`.
pub fn short() -> &'static str {
    static SHORT: OnceLock<String> = OnceLock::new();
    SHORT.get_or_init(|| format!("{} (commit {COMMIT})", env!("CARGO_PKG_VERSION")))
}

/// [`short`] and the pinned versions, one topic per line.
pub fn long() -> &'static str {
    static LONG: OnceLock<String> = OnceLock::new();
    LONG.get_or_init(|| {
        let mut out = format!("{}\n", short());
        for profile in [Profile::Default, Profile::R4] {
            let minors = profile.workload_minors();
            let builtin = Settings::builtin(profile);
            out.push_str(&format!(
                "profile {:<8} Cluster API v{}, CAPO v{}; workload Kubernetes v1.{}-v1.{} (default {}), calico {}, cilium CLI {}, hubble CLI {}\n",
                format!("{}:", profile.name()),
                profile.clusterapi_version(),
                profile.capo_version(),
                minors.start(),
                minors.end(),
                builtin.kubernetes_version,
                builtin.calico_version,
                builtin.cilium_binaries.cilium,
                builtin.cilium_binaries.hubble,
            ));
        }
        // `(lowest minor, version)` entries: the first one covers everything below the next.
        let cilium = CILIUM_BY_MINOR
            .iter()
            .enumerate()
            .map(|(i, (m, v))| match i {
                0 => format!("{v} up to v1.{}", CILIUM_BY_MINOR.get(1).map_or(*m, |n| n.0 - 1)),
                _ => format!("{v} from v1.{m}"),
            })
            .collect::<Vec<_>>()
            .join(", ");
        let cpo = |i: usize| CPO_BY_MINOR.get(i).map_or("", |(_, v)| *v);
        out.push_str(&format!(
            "addons: cilium {}; OCCM and Cinder CSI by minor ({}..{}); metrics-server {}, cert-manager {}, flux {}, ingress-nginx {}, external-snapshotter {}\n",
            cilium,
            cpo(0),
            cpo(CPO_BY_MINOR.len() - 1),
            defaults::METRICS_SERVER,
            defaults::CERT_MANAGER,
            defaults::FLUX,
            defaults::INGRESS_NGINX,
            defaults::EXTERNAL_SNAPSHOTTER,
        ));
        out.push_str(&format!(
            "tools: kubectl {}, helm {}, flux CLI {}, k9s {}, ORC {}; clusterctl follows the profile\n",
            tools::KUBECTL_VERSION,
            tools::HELM_VERSION,
            tools::FLUX_VERSION,
            tools::K9S_VERSION,
            tools::ORC_VERSION,
        ));
        let known = versions::KNOWN_MINORS;
        out.push_str(&format!(
            "Kubernetes versions known: v1.{}-v1.{} (table of {}), preview {}",
            known.first().map_or(0, |k| k.0),
            known.last().map_or(0, |k| k.0),
            versions::TABLE_DATE,
            versions::PREVIEW_MINORS
                .iter()
                .map(|m| format!("v1.{m}"))
                .collect::<Vec<_>>()
                .join(", "),
        ));
        out
    })
}
