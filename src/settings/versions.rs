//! Kubernetes versions this tool knows, and the `kubernetes_version` setting
//! (`v1.25.x` resolves to the newest known patch of the minor).
//!
//! The table is data, dated below; a newer patch than the table knows is accepted with a
//! warning, an unknown minor is an error, and a preview minor needs
//! `--allow-preview-versions` (as R4's `fixup_k8s_version.sh` did).

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer, de};

/// Date of the release facts behind [`KNOWN_MINORS`]: the endoflife.date release data
/// (`releases/kubernetes.json`) of 2026-08-22, cross-checked with the `finalPatchRelease`
/// entries of kubernetes/website for 1.25-1.31 (they disagree on 1.29: 1.29.14 there,
/// 1.29.15 in the release data and the Kubernetes changelog; 1.29.15 is used).
pub const TABLE_DATE: &str = "2026-08-22";

/// Newest patch release of each known minor `(minor, patch)`, oldest first. 1.25 to
/// 1.31 are end of life upstream (final patches) and kept so that R4 clusters can be
/// described and upgraded one minor at a time; for 1.32 and newer the patch is the
/// newest one the facts confirm (newer patches are accepted with a warning).
pub const KNOWN_MINORS: &[(u32, u32)] = &[
    (25, 16),
    (26, 15),
    (27, 16),
    (28, 15),
    (29, 15),
    (30, 14),
    (31, 14),
    (32, 13),
    (33, 13),
    (34, 11),
    (35, 8),
    (36, 4),
];

/// Minors that exist but are newer than what the pinned Cluster API (v1.14.0:
/// workload clusters v1.31-v1.36) supports.
pub const PREVIEW_MINORS: &[u32] = &[37];

/// The newest Kubernetes release `(minor, patch)` of the default node image source
/// (OSISM's k8s-capi-images, Ubuntu 22.04; newer builds are Ubuntu 24.04 only, see
/// `cloud::image_source`). `prepare-cloud` cannot upload a newer version from there.
pub const DEFAULT_IMAGE_SOURCE_NEWEST: (u32, u32) = (33, 3);

/// Kubernetes minors Tigera tests each calico minor with (the "Kubernetes requirements"
/// of Calico's versioned docs; 3.29 as quoted in projectcalico discussion #11717, 3.31 with
/// v1.35 added there). Only calico minors with a known list are here.
const CALICO_TESTED: &[(u32, u32, u32)] = &[(29, 29, 32), (31, 32, 35), (32, 34, 36), (33, 35, 37)];
/// When [`CALICO_TESTED`] was read.
pub const CALICO_TESTED_DATE: &str = "2026-12-02";

/// The Kubernetes minors Tigera tests a calico release (`v3.31.7`) with, when known, and
/// the date of that knowledge.
pub fn calico_tested_minors(calico: &str) -> Option<(std::ops::RangeInclusive<u32>, &'static str)> {
    let minor: u32 = calico
        .strip_prefix("v3.")?
        .split('.')
        .next()?
        .parse()
        .ok()?;
    CALICO_TESTED
        .iter()
        .find(|(c, _, _)| *c == minor)
        .map(|(_, lo, hi)| (*lo..=*hi, CALICO_TESTED_DATE))
}

/// A Kubernetes version as the settings spell it: `v1.MINOR.PATCH` or `v1.MINOR.x`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KubernetesVersion {
    pub minor: u32,
    /// `None` for `.x` (newest known patch).
    pub patch: Option<u32>,
}

/// How a version relates to the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Support {
    Known { newest_patch: u32 },
    Preview,
    Unknown,
}

impl KubernetesVersion {
    pub fn support(&self) -> Support {
        if let Some(&(_, newest_patch)) = KNOWN_MINORS.iter().find(|(m, _)| *m == self.minor) {
            Support::Known { newest_patch }
        } else if PREVIEW_MINORS.contains(&self.minor) {
            Support::Preview
        } else {
            Support::Unknown
        }
    }

    /// The concrete `vX.Y.Z`: `.x` becomes the newest known patch (`.0` for a preview
    /// minor, which has no release in the table).
    pub fn resolve(&self) -> String {
        let (minor, patch) = self.resolved();
        format!("v1.{minor}.{patch}")
    }

    /// The concrete `(minor, patch)` of [`Self::resolve`].
    pub fn resolved(&self) -> (u32, u32) {
        let patch = self.patch.unwrap_or(match self.support() {
            Support::Known { newest_patch } => newest_patch,
            Support::Preview | Support::Unknown => 0,
        });
        (self.minor, patch)
    }

    pub fn minor_string(&self) -> String {
        format!("v1.{}", self.minor)
    }
}

impl fmt::Display for KubernetesVersion {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self.patch {
            Some(p) => write!(f, "v1.{}.{p}", self.minor),
            None => write!(f, "v1.{}.x", self.minor),
        }
    }
}

impl FromStr for KubernetesVersion {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || {
            format!(
                "invalid Kubernetes version `{s}`: expected `v1.MINOR.PATCH` or `v1.MINOR.x`, e.g. `v1.25.x`"
            )
        };
        let rest = s.strip_prefix("v1.").ok_or_else(bad)?;
        let (minor, patch) = rest.split_once('.').ok_or_else(bad)?;
        let number = |p: &str| {
            (!p.is_empty() && p.len() <= 4 && p.bytes().all(|b| b.is_ascii_digit()))
                .then(|| p.parse::<u32>().ok())
                .flatten()
        };
        let minor = number(minor).ok_or_else(bad)?;
        let patch = match patch {
            "x" => None,
            p => Some(number(p).ok_or_else(bad)?),
        };
        Ok(KubernetesVersion { minor, patch })
    }
}

impl<'de> Deserialize<'de> for KubernetesVersion {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?.parse().map_err(de::Error::custom)
    }
}

impl Serialize for KubernetesVersion {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl JsonSchema for KubernetesVersion {
    fn schema_name() -> Cow<'static, str> {
        "KubernetesVersion".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "pattern": r"^v1\.[0-9]+\.([0-9]+|x)$",
            "description": "`v1.MINOR.PATCH`, or `v1.MINOR.x` for the newest patch scs-capi knows"
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn r4_default_resolves() {
        let v: KubernetesVersion = "v1.25.x".parse().unwrap();
        assert_eq!(v.resolve(), "v1.25.16");
        assert_eq!(v.to_string(), "v1.25.x");
    }

    #[test]
    fn table_is_sorted_and_disjoint_from_previews() {
        assert!(KNOWN_MINORS.windows(2).all(|w| w[0].0 < w[1].0));
        for p in PREVIEW_MINORS {
            assert!(KNOWN_MINORS.iter().all(|(m, _)| m != p));
        }
    }

    #[test]
    fn bad_spellings() {
        for bad in [
            "1.25.6",
            "v1.25",
            "v2.0.0",
            "v1.25.y",
            "v1..1",
            "v1.99999.1",
            "",
        ] {
            assert!(bad.parse::<KubernetesVersion>().is_err(), "{bad}");
        }
    }
}
