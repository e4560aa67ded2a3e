//! Render profiles: which Cluster API and CAPO API versions the manifests use, and the
//! management-cluster versions they are meant for.

use clap::ValueEnum;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum Profile {
    /// CAPI v1beta2 + CAPO v1beta1, for CAPI >= 1.11 (tested against 1.14) and CAPO
    /// 0.13/0.14.
    #[default]
    Default,
    /// CAPI v1beta1 + CAPO v1alpha6, exactly what R4 shipped (CAPI 1.3.x, CAPO 0.7.x).
    R4,
}

impl Profile {
    /// The name on the command line (`--profile NAME`).
    pub fn name(self) -> &'static str {
        match self {
            Profile::Default => "default",
            Profile::R4 => "r4",
        }
    }

    /// Directory of the profile's templates under `templates/`.
    pub fn dir(self) -> &'static str {
        match self {
            Profile::Default => "default",
            Profile::R4 => "r4",
        }
    }

    /// The API versions of the profile's manifests: `(Cluster API, CAPO)`, e.g.
    /// `("v1beta2", "v1beta1")` for `cluster.x-k8s.io/v1beta2` and
    /// `infrastructure.cluster.x-k8s.io/v1beta1`.
    pub fn api_versions(self) -> (&'static str, &'static str) {
        match self {
            Profile::Default => ("v1beta2", "v1beta1"),
            Profile::R4 => ("v1beta1", "v1alpha6"),
        }
    }

    /// CAPI version the profile targets when the settings leave it empty.
    pub fn clusterapi_version(self) -> &'static str {
        match self {
            Profile::Default => "1.14.0",
            Profile::R4 => "1.3.5",
        }
    }

    /// Kubernetes minors the profile's Cluster API supports for workload clusters
    /// (CAPI v1.14.0 release notes: v1.31-v1.36; CAPI v1.3.5: v1.18-v1.26).
    pub fn workload_minors(self) -> std::ops::RangeInclusive<u32> {
        match self {
            Profile::Default => 31..=36,
            Profile::R4 => 18..=26,
        }
    }

    /// CAPO version the profile targets when the settings leave it empty.
    pub fn capo_version(self) -> &'static str {
        match self {
            Profile::Default => "0.14.7",
            Profile::R4 => "0.7.1",
        }
    }
}
