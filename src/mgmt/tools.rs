//! The pinned tool table: which command-line tools (and the ORC manifest) the management
//! server gets, at which versions, from which URL per OS and architecture, and the SHA-256
//! each download must have.
//!
//! Versions come from the settings where R4 had a setting (`clusterapi_version` for
//! clusterctl, `cilium_binaries` for the cilium and hubble CLIs, `calico_version` for
//! calicoctl) and from [`HELM_VERSION`], [`FLUX_VERSION`], [`K9S_VERSION`] and
//! [`ORC_VERSION`] otherwise. A SHA-256 is known only from [`PINS`], each with the
//! published source it was taken from; a download without a pin is refused unless the user
//! gives a sum (`--sha256 TOOL=SUM`) or `--allow-unpinned` (see [`super::install`]).
//!
//! For tests and air-gapped mirrors the whole table can be replaced by a manifest file
//! (hidden flag `--tools-manifest FILE`), see [`Manifest`]. (No environment variable: every
//! `SCS_CAPI_*` variable is a settings key.)
//!
//! It downloads nothing; [`super::install`] does.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::MgmtError;
use crate::render::Profile;
use crate::settings::Settings;

/// kubectl version installed: the docs and hints use kubectl, and kind ships none. 1.33
/// talks to API servers 1.32 to 1.34 (the version-skew policy), which covers the default
/// profile's Kubernetes versions and current kind node images.
pub const KUBECTL_VERSION: &str = "v1.33.3";
/// helm version installed (R4 had 3.11.1; 3.18.4 is the newest with two independent
/// published sums, see [`PINS`]).
pub const HELM_VERSION: &str = "v3.18.4";
/// flux CLI version (R4 defaulted to 0.40.2, a Flux v1-era CLI that no longer matches
/// current Flux).
pub const FLUX_VERSION: &str = "v2.9.4";
/// k9s version (R4 installed "latest", unpinned; its v5.0.x branch pinned v0.27.4).
pub const K9S_VERSION: &str = "v0.50.18";
/// openstack-resource-controller, which CAPO needs since v0.12 and which `clusterctl init`
/// does not install (CAPI quick start, OpenStack tab: "Install ORC (needed for CAPO
/// >=v0.12)"). v2.4.0 is the version CAPO's e2e tests install for v0.14.
pub const ORC_VERSION: &str = "v2.4.0";

/// Operating system of a download.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Os {
    Linux,
    Darwin,
}

/// CPU architecture of a download.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Arch {
    Amd64,
    Arm64,
}

/// Where the tools will run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Platform {
    pub os: Os,
    pub arch: Arch,
}

impl Platform {
    /// The platform this binary was built for.
    ///
    /// # Errors
    /// On an OS or architecture none of the tools is published for.
    pub fn current() -> Result<Platform, MgmtError> {
        Self::from_rust(std::env::consts::OS, std::env::consts::ARCH)
    }

    fn from_rust(os: &str, arch: &str) -> Result<Platform, MgmtError> {
        let os = match os {
            "linux" => Os::Linux,
            "macos" => Os::Darwin,
            other => {
                return Err(MgmtError::new(format!(
                    "the management tools are not published for the operating system `{other}`"
                )));
            }
        };
        let arch = match arch {
            "x86_64" => Arch::Amd64,
            "aarch64" => Arch::Arm64,
            other => {
                return Err(MgmtError::new(format!(
                    "the management tools are not published for the architecture `{other}`"
                )));
            }
        };
        Ok(Platform { os, arch })
    }

    fn os(self) -> &'static str {
        match self.os {
            Os::Linux => "linux",
            Os::Darwin => "darwin",
        }
    }

    fn arch(self) -> &'static str {
        match self.arch {
            Arch::Amd64 => "amd64",
            Arch::Arm64 => "arm64",
        }
    }
}

/// How a download becomes the installed file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Packaging {
    /// The download is the executable.
    Binary,
    /// A gzipped tar; `member` is the path of the executable inside it.
    TarGz { member: String },
    /// A Kubernetes manifest to apply (not installed into the bin directory).
    Manifest,
}

/// One tool to install.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolSpec {
    /// Name of the installed executable (`clusterctl`), or of the manifest (`orc`).
    pub name: String,
    /// `v1.14.0`.
    pub version: String,
    pub url: String,
    pub packaging: Packaging,
    /// Lower-case hex SHA-256 of the download; `None` = no published sum is pinned.
    pub sha256: Option<String>,
    /// Where the pin comes from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pin_source: Option<String>,
    /// A checksum file the release publishes next to the asset (`.sha256sum`,
    /// `checksums.txt`); used only for unpinned tools under `--allow-unpinned`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checksums_url: Option<String>,
}

/// A published SHA-256 of one release asset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pin {
    pub tool: &'static str,
    pub version: &'static str,
    pub os: Os,
    pub arch: Arch,
    pub sha256: &'static str,
    pub source: &'static str,
}

const KUBESPRAY_HEAD: &str =
    "kubespray roles/kubespray_defaults/vars/main/checksums.yml @ 46dbdd3 (2026-08-21)";
const KUBESPRAY_2023_07: &str =
    "kubespray roles/download/defaults/main/checksums.yml @ 78c1775^ (2023-07)";
const KUBESPRAY_2024_03: &str =
    "kubespray roles/kubespray-defaults/defaults/main/checksums.yml @ fd83ec9^ (2024-03)";
const KUBESPRAY_2026: &str =
    "kubespray roles/kubespray_defaults/vars/main/checksums.yml @ 005bdce (kubectl_checksums)";
const HERMIT: &str =
    "cashapp/hermit-packages {helm,flux,k9s}.hcl sha256sums @ f0517fd (2026-08-22)";

/// Every SHA-256 this tool trusts without being told, with its source. Only sums copied from
/// a published list are here; nothing was computed by us. Not pinned (no published sum
/// found): clusterctl (Cluster API releases publish none), the hubble CLI v0.11.2, the ORC
/// install manifest, and kubectl, the cilium CLI and calicoctl on macOS.
pub const PINS: &[Pin] = &[
    // kubectl (dl.k8s.io/release/<v>/bin/<os>/<arch>/kubectl).
    pin(
        "kubectl",
        "v1.33.3",
        Os::Linux,
        Arch::Amd64,
        "2fcf65c64f352742dc253a25a7c95617c2aba79843d1b74e585c69fe4884afb0",
        KUBESPRAY_2026,
    ),
    pin(
        "kubectl",
        "v1.33.3",
        Os::Linux,
        Arch::Arm64,
        "3d514dbae5dc8c09f773df0ef0f5d449dfad05b3aca5c96b13565f886df345fd",
        KUBESPRAY_2026,
    ),
    // helm: the same values in kubespray and hermit.
    pin(
        "helm",
        "v3.18.4",
        Os::Linux,
        Arch::Amd64,
        "f8180838c23d7c7d797b208861fecb591d9ce1690d8704ed1e4cb8e2add966c1",
        KUBESPRAY_HEAD,
    ),
    pin(
        "helm",
        "v3.18.4",
        Os::Linux,
        Arch::Arm64,
        "c0a45e67eef0c7416a8a8c9e9d5d2d30d70e4f4d3f7bea5de28241fffa8f3b89",
        KUBESPRAY_HEAD,
    ),
    pin(
        "helm",
        "v3.18.4",
        Os::Darwin,
        Arch::Amd64,
        "860a7238285b44b5dc7b3c4dad6194316885d7015d77c34e23177e0e9554af8f",
        HERMIT,
    ),
    pin(
        "helm",
        "v3.18.4",
        Os::Darwin,
        Arch::Arm64,
        "041849741550b20710d7ad0956e805ebd960b483fe978864f8e7fdd03ca84ec8",
        HERMIT,
    ),
    // cilium CLI (cilium-<os>-<arch>.tar.gz): R4's default v0.13.1 and the newest in kubespray.
    pin(
        "cilium",
        "v0.13.1",
        Os::Linux,
        Arch::Amd64,
        "dfabb7a080cd2ae40c71e51980183949bd5ce76184ac439ef32f988825cb275d",
        KUBESPRAY_2023_07,
    ),
    pin(
        "cilium",
        "v0.13.1",
        Os::Linux,
        Arch::Arm64,
        "d35ac7bc180eb38bd6eb059eded5a616663fe507fac2b7982fbc9bb5176ea7d1",
        KUBESPRAY_2023_07,
    ),
    pin(
        "cilium",
        "v0.19.7",
        Os::Linux,
        Arch::Amd64,
        "cd15e0983bf0acc7946cd05d453d1e58376ea92dec2642e745212df2b07d8852",
        KUBESPRAY_HEAD,
    ),
    pin(
        "cilium",
        "v0.19.7",
        Os::Linux,
        Arch::Arm64,
        "9482937f14061fb239f2dbb2f97f4103de1b101f5d5defbff319f294f9bd540f",
        KUBESPRAY_HEAD,
    ),
    // calicoctl (calicoctl-<os>-<arch>): R4's default v3.25.0 and the newest in kubespray.
    pin(
        "calicoctl",
        "v3.25.0",
        Os::Linux,
        Arch::Amd64,
        "5a464075ccbaa8715882de6b32fe82b41488e904fa66b19c48ee6388cf48b1b8",
        KUBESPRAY_2024_03,
    ),
    pin(
        "calicoctl",
        "v3.25.0",
        Os::Linux,
        Arch::Arm64,
        "6eda153187ab76821903cf6bb69fe11b016529c3344e2dd1a0f7f3cb3069ded0",
        KUBESPRAY_2024_03,
    ),
    pin(
        "calicoctl",
        "v3.31.7",
        Os::Linux,
        Arch::Amd64,
        "1b91928adc39861ba5e04d8d15c4ce489731269b07a8e7444c0fdf677f041113",
        KUBESPRAY_HEAD,
    ),
    pin(
        "calicoctl",
        "v3.31.7",
        Os::Linux,
        Arch::Arm64,
        "d7adff41398cb77b97451bf238022376382725ff231228f78b3ebc35d9fb9fda",
        KUBESPRAY_HEAD,
    ),
    // flux CLI.
    pin(
        "flux",
        "v2.9.4",
        Os::Linux,
        Arch::Amd64,
        "c2c397a52930f52d2005c01d276116b059d062de379386d58e98115380a766a2",
        HERMIT,
    ),
    pin(
        "flux",
        "v2.9.4",
        Os::Linux,
        Arch::Arm64,
        "dcab945f8d8658662fa1db93e150a602ba1f91da367a82e099bd65595fc7c62c",
        HERMIT,
    ),
    pin(
        "flux",
        "v2.9.4",
        Os::Darwin,
        Arch::Amd64,
        "162e11dd0fd44d1d87f3b8308b74e8ef8fedd0a550b8501f0365f329efc476f8",
        HERMIT,
    ),
    pin(
        "flux",
        "v2.9.4",
        Os::Darwin,
        Arch::Arm64,
        "5350675411f1c8c20fb7fd827450933e939f7ab82a2cd92f8fa2abe497761911",
        HERMIT,
    ),
    // k9s (names changed at v0.27.0, see `k9s_asset`).
    pin(
        "k9s",
        "v0.50.18",
        Os::Linux,
        Arch::Amd64,
        "0b697ed4aa80997f7de4deeed6f1fba73df191b28bf691b1f28d2f45fa2a9e9b",
        HERMIT,
    ),
    pin(
        "k9s",
        "v0.50.18",
        Os::Linux,
        Arch::Arm64,
        "d3dcc051d6be26ee911c00f583412802ebe203a189e51bc079332cb410c83b38",
        HERMIT,
    ),
    pin(
        "k9s",
        "v0.50.18",
        Os::Darwin,
        Arch::Amd64,
        "80f3e30767ad3603bec9664db019e85f94493aa741d7755553ee6e47876df30e",
        HERMIT,
    ),
    pin(
        "k9s",
        "v0.50.18",
        Os::Darwin,
        Arch::Arm64,
        "68ff1541c60620466989019e86101805c1b6c70a746b1561261a403801f7fd48",
        HERMIT,
    ),
];

const fn pin(
    tool: &'static str,
    version: &'static str,
    os: Os,
    arch: Arch,
    sha256: &'static str,
    source: &'static str,
) -> Pin {
    Pin {
        tool,
        version,
        os,
        arch,
        sha256,
        source,
    }
}

/// The pin of `tool` at `version` for `platform`, if any.
pub fn find_pin(tool: &str, version: &str, platform: Platform) -> Option<&'static Pin> {
    PINS.iter().find(|p| {
        p.tool == tool && p.version == version && p.os == platform.os && p.arch == platform.arch
    })
}

/// The versions to install, from settings (empty CAPI/CAPO versions = the profile's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Versions {
    pub clusterctl: String,
    pub kubectl: String,
    pub cilium: String,
    pub hubble: String,
    pub calicoctl: String,
    pub helm: String,
    pub flux: String,
    pub k9s: String,
    /// `None` when the CAPO version does not need ORC.
    pub orc: Option<String>,
}

impl Versions {
    pub fn from_settings(s: &Settings, profile: Profile) -> Self {
        let capo = capo_version(s, profile);
        Versions {
            clusterctl: with_v(&clusterapi_version(s, profile)),
            kubectl: KUBECTL_VERSION.into(),
            cilium: with_v(&s.cilium_binaries.cilium),
            hubble: with_v(&s.cilium_binaries.hubble),
            calicoctl: with_v(&s.calico_version),
            helm: HELM_VERSION.into(),
            // As R4's bootstrap: a pinned `deploy_flux` also pins the CLI.
            flux: match &s.deploy_flux {
                crate::settings::values::Toggle::Version(v) => with_v(v),
                _ => FLUX_VERSION.into(),
            },
            k9s: K9S_VERSION.into(),
            orc: needs_orc(&capo).then(|| ORC_VERSION.to_string()),
        }
    }
}

/// `v`-prefixed Cluster API version: the setting, else the profile's.
pub fn clusterapi_version(s: &Settings, profile: Profile) -> String {
    if s.clusterapi_version.is_empty() {
        with_v(profile.clusterapi_version())
    } else {
        with_v(&s.clusterapi_version)
    }
}

/// `v`-prefixed CAPO version: the setting, else the profile's.
pub fn capo_version(s: &Settings, profile: Profile) -> String {
    if s.capi_openstack_version.is_empty() {
        with_v(profile.capo_version())
    } else {
        with_v(&s.capi_openstack_version)
    }
}

/// `1.2.3` -> `v1.2.3`; `v1.2.3` stays.
pub fn with_v(v: &str) -> String {
    let v = v.trim();
    if v.starts_with('v') {
        v.to_string()
    } else {
        format!("v{v}")
    }
}

/// `(major, minor, patch)` of `v1.2.3` (pre-release suffix ignored).
pub fn parse_version(v: &str) -> Option<(u64, u64, u64)> {
    let v = v.trim().trim_start_matches('v');
    let core = v.split(['-', '+']).next()?;
    let mut it = core.split('.').map(|p| p.parse::<u64>().ok());
    let (a, b, c) = (it.next()??, it.next()??, it.next().unwrap_or(Some(0))?);
    Some((a, b, c))
}

/// CAPO v0.12 and newer need ORC (CAPI quick start).
pub fn needs_orc(capo: &str) -> bool {
    parse_version(capo).is_some_and(|v| v >= (0, 12, 0))
}

/// k9s renamed its assets at v0.27.0 (`x86_64` -> `amd64`), which broke R4's installer
/// (upstream #399): `k9s_Linux_x86_64.tar.gz` before, `k9s_Linux_amd64.tar.gz` since.
pub fn k9s_asset(version: &str, platform: Platform) -> String {
    let os = match platform.os {
        Os::Linux => "Linux",
        Os::Darwin => "Darwin",
    };
    let old = parse_version(version).is_some_and(|v| v < (0, 27, 0));
    let arch = match (platform.arch, old) {
        (Arch::Amd64, true) => "x86_64",
        (Arch::Amd64, false) => "amd64",
        (Arch::Arm64, _) => "arm64",
    };
    format!("k9s_{os}_{arch}.tar.gz")
}

/// The built-in table for `versions` on `platform`, in install order.
pub fn builtin(versions: &Versions, platform: Platform) -> Vec<ToolSpec> {
    let (os, arch) = (platform.os(), platform.arch());
    let gh = "https://github.com";
    let mut t = vec![
        spec(
            "clusterctl",
            &versions.clusterctl,
            format!(
                "{gh}/kubernetes-sigs/cluster-api/releases/download/{}/clusterctl-{os}-{arch}",
                versions.clusterctl
            ),
            Packaging::Binary,
            None,
        ),
        {
            let url = format!(
                "https://dl.k8s.io/release/{}/bin/{os}/{arch}/kubectl",
                versions.kubectl
            );
            let sums = format!("{url}.sha256");
            spec(
                "kubectl",
                &versions.kubectl,
                url,
                Packaging::Binary,
                Some(sums),
            )
        },
        {
            let url = format!(
                "{gh}/cilium/cilium-cli/releases/download/{}/cilium-{os}-{arch}.tar.gz",
                versions.cilium
            );
            let sums = format!("{url}.sha256sum");
            spec("cilium", &versions.cilium, url, tar("cilium"), Some(sums))
        },
        {
            let url = format!(
                "{gh}/cilium/hubble/releases/download/{}/hubble-{os}-{arch}.tar.gz",
                versions.hubble
            );
            let sums = format!("{url}.sha256sum");
            spec("hubble", &versions.hubble, url, tar("hubble"), Some(sums))
        },
        spec(
            "calicoctl",
            &versions.calicoctl,
            format!(
                "{gh}/projectcalico/calico/releases/download/{}/calicoctl-{os}-{arch}",
                versions.calicoctl
            ),
            Packaging::Binary,
            None,
        ),
        {
            let url = format!(
                "https://get.helm.sh/helm-{}-{os}-{arch}.tar.gz",
                versions.helm
            );
            let sums = format!("{url}.sha256sum");
            spec(
                "helm",
                &versions.helm,
                url,
                tar(&format!("{os}-{arch}/helm")),
                Some(sums),
            )
        },
        {
            let bare = versions.flux.trim_start_matches('v');
            let base = format!("{gh}/fluxcd/flux2/releases/download/{}", versions.flux);
            spec(
                "flux",
                &versions.flux,
                format!("{base}/flux_{bare}_{os}_{arch}.tar.gz"),
                tar("flux"),
                Some(format!("{base}/flux_{bare}_checksums.txt")),
            )
        },
        {
            let base = format!("{gh}/derailed/k9s/releases/download/{}", versions.k9s);
            spec(
                "k9s",
                &versions.k9s,
                format!("{base}/{}", k9s_asset(&versions.k9s, platform)),
                tar("k9s"),
                Some(format!("{base}/checksums.sha256")),
            )
        },
    ];
    if let Some(orc) = &versions.orc {
        t.push(spec(
            "orc",
            orc,
            format!(
                "{gh}/k-orc/openstack-resource-controller/releases/download/{orc}/install.yaml"
            ),
            Packaging::Manifest,
            None,
        ));
    }
    for s in &mut t {
        if let Some(p) = find_pin(&s.name, &s.version, platform) {
            s.sha256 = Some(p.sha256.to_string());
            s.pin_source = Some(p.source.to_string());
        }
    }
    t
}

fn tar(member: &str) -> Packaging {
    Packaging::TarGz {
        member: member.to_string(),
    }
}

fn spec(
    name: &str,
    version: &str,
    url: String,
    packaging: Packaging,
    checksums_url: Option<String>,
) -> ToolSpec {
    ToolSpec {
        name: name.to_string(),
        version: version.to_string(),
        url,
        packaging,
        sha256: None,
        pin_source: None,
        checksums_url,
    }
}

/// A tools manifest: a YAML (or JSON) file that replaces the built-in table, for
/// air-gapped mirrors and tests:
///
/// ```yaml
/// tools:
///   - name: clusterctl
///     version: v1.14.0
///     url: https://mirror.example/clusterctl-linux-amd64
///     packaging: binary                 # or {tar_gz: {member: PATH}}, or manifest
///     sha256: 0123...                   # optional; without it the tool is unpinned
///     pin_source: "our mirror's sums"   # optional
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub tools: Vec<ToolSpec>,
}

impl Manifest {
    /// Reads and checks a manifest.
    ///
    /// # Errors
    /// When the file cannot be read or parsed, or an entry is malformed (duplicate name,
    /// bad SHA-256, a tar member that escapes the archive).
    pub fn read(path: &Path) -> Result<Manifest, MgmtError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            MgmtError::new(format!(
                "cannot read the tools manifest `{}`: {e}",
                path.display()
            ))
            .source(e)
        })?;
        let m: Manifest = serde_saphyr::from_str(&text).map_err(|e| {
            MgmtError::new(format!(
                "the tools manifest `{}` is invalid: {e}",
                path.display()
            ))
        })?;
        let mut seen = std::collections::BTreeSet::new();
        for t in &m.tools {
            let bad = |why: String| {
                MgmtError::new(format!(
                    "the tools manifest `{}`: tool `{}`: {why}",
                    path.display(),
                    t.name
                ))
            };
            if !seen.insert(t.name.as_str()) {
                return Err(bad("listed twice".into()));
            }
            if t.name.is_empty() || t.name.contains('/') || t.name.starts_with('.') {
                return Err(bad("the name must be a plain file name".into()));
            }
            if let Some(s) = &t.sha256
                && !is_sha256(s)
            {
                return Err(bad(format!("`{s}` is not a SHA-256 (64 hex digits)")));
            }
            if let Packaging::TarGz { member } = &t.packaging
                && (member.is_empty()
                    || member.starts_with('/')
                    || member.split('/').any(|c| c == ".."))
            {
                return Err(bad(format!(
                    "tar member `{member}` must be a relative path"
                )));
            }
        }
        Ok(m)
    }
}

/// 64 hex digits.
pub fn is_sha256(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINUX: Platform = Platform {
        os: Os::Linux,
        arch: Arch::Amd64,
    };

    #[test]
    fn pins_are_well_formed_and_unique() {
        let mut seen = std::collections::BTreeSet::new();
        for p in PINS {
            assert!(is_sha256(p.sha256), "{p:?}");
            assert_eq!(p.sha256, p.sha256.to_ascii_lowercase(), "{p:?}");
            assert!(p.version.starts_with('v'), "{p:?}");
            assert!(!p.source.is_empty(), "{p:?}");
            assert!(
                seen.insert((p.tool, p.version, p.os as u8, p.arch as u8)),
                "{p:?}"
            );
        }
    }

    #[test]
    fn r4_defaults_resolve_to_the_published_assets() {
        // The default profile's pins for its own defaults.
        let v = Versions::from_settings(&Settings::default(), Profile::Default);
        for tool in ["cilium", "calicoctl"] {
            let spec = builtin(&v, LINUX).into_iter().find(|s| s.name == tool);
            assert!(spec.and_then(|s| s.sha256).is_some(), "{tool} is pinned");
        }
        // R4's versions, installed for a CAPI 1.14 management cluster.
        let v = Versions::from_settings(&Settings::builtin(Profile::R4), Profile::Default);
        assert_eq!(v.clusterctl, "v1.14.0");
        assert_eq!(v.orc.as_deref(), Some(ORC_VERSION));
        let t = builtin(&v, LINUX);
        let by = |n: &str| t.iter().find(|s| s.name == n).unwrap().clone();
        assert_eq!(
            by("clusterctl").url,
            "https://github.com/kubernetes-sigs/cluster-api/releases/download/v1.14.0/clusterctl-linux-amd64"
        );
        assert_eq!(by("clusterctl").sha256, None);
        let kubectl = by("kubectl");
        assert_eq!(
            kubectl.url,
            "https://dl.k8s.io/release/v1.33.3/bin/linux/amd64/kubectl"
        );
        assert!(kubectl.sha256.is_some(), "kubectl is pinned");
        let cilium = by("cilium");
        assert_eq!(
            cilium.url,
            "https://github.com/cilium/cilium-cli/releases/download/v0.13.1/cilium-linux-amd64.tar.gz"
        );
        assert_eq!(
            cilium.sha256.as_deref(),
            Some("dfabb7a080cd2ae40c71e51980183949bd5ce76184ac439ef32f988825cb275d")
        );
        assert_eq!(by("hubble").sha256, None);
        assert!(
            by("hubble")
                .checksums_url
                .unwrap()
                .ends_with("hubble-linux-amd64.tar.gz.sha256sum")
        );
        assert_eq!(
            by("calicoctl").url,
            "https://github.com/projectcalico/calico/releases/download/v3.25.0/calicoctl-linux-amd64"
        );
        assert!(by("calicoctl").sha256.is_some());
        assert_eq!(
            by("helm").packaging,
            Packaging::TarGz {
                member: "linux-amd64/helm".into()
            }
        );
        assert_eq!(
            by("flux").url,
            "https://github.com/fluxcd/flux2/releases/download/v2.9.4/flux_2.9.4_linux_amd64.tar.gz"
        );
        assert_eq!(by("orc").packaging, Packaging::Manifest);
    }

    #[test]
    fn r4_profile_needs_no_orc() {
        let v = Versions::from_settings(&Settings::default(), Profile::R4);
        assert_eq!(v.clusterctl, "v1.3.5");
        assert_eq!(v.orc, None);
        assert!(builtin(&v, LINUX).iter().all(|t| t.name != "orc"));
        assert!(!needs_orc("v0.11.3") && needs_orc("v0.12.0") && needs_orc("0.14.7"));
        assert!(!needs_orc("garbage"));
    }

    #[test]
    fn k9s_asset_names_follow_the_rename() {
        let arm = Platform {
            os: Os::Linux,
            arch: Arch::Arm64,
        };
        let mac = Platform {
            os: Os::Darwin,
            arch: Arch::Amd64,
        };
        assert_eq!(k9s_asset("v0.26.7", LINUX), "k9s_Linux_x86_64.tar.gz");
        assert_eq!(k9s_asset("v0.27.0", LINUX), "k9s_Linux_amd64.tar.gz");
        assert_eq!(k9s_asset("v0.27.4", arm), "k9s_Linux_arm64.tar.gz");
        assert_eq!(k9s_asset("v0.26.7", mac), "k9s_Darwin_x86_64.tar.gz");
        assert_eq!(k9s_asset("v0.50.18", mac), "k9s_Darwin_amd64.tar.gz");
    }

    #[test]
    fn platform_mapping() {
        assert_eq!(
            Platform::from_rust("linux", "aarch64").unwrap(),
            Platform {
                os: Os::Linux,
                arch: Arch::Arm64
            }
        );
        assert!(Platform::from_rust("windows", "x86_64").is_err());
        assert!(Platform::from_rust("linux", "riscv64").is_err());
    }

    #[test]
    fn versions_parse() {
        assert_eq!(parse_version("v0.14.7"), Some((0, 14, 7)));
        assert_eq!(parse_version("1.14"), Some((1, 14, 0)));
        assert_eq!(parse_version("v0.15.0-beta.0"), Some((0, 15, 0)));
        assert_eq!(parse_version("vX"), None);
        assert_eq!(with_v("1.3.5"), "v1.3.5");
    }

    #[test]
    fn manifest_rejects_escaping_members_and_bad_sums() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.yaml");
        std::fs::write(
            &p,
            "tools:\n  - name: k9s\n    version: v1\n    url: http://x/k9s.tgz\n    packaging: {tar_gz: {member: ../../etc/passwd}}\n",
        )
        .unwrap();
        let e = Manifest::read(&p).unwrap_err();
        assert!(e.message.contains("relative path"), "{e}");
        std::fs::write(
            &p,
            "tools:\n  - name: k9s\n    version: v1\n    url: http://x/k9s\n    packaging: binary\n    sha256: abc\n",
        )
        .unwrap();
        assert!(
            Manifest::read(&p)
                .unwrap_err()
                .message
                .contains("not a SHA-256")
        );
        std::fs::write(
            &p,
            "tools:\n  - name: k9s\n    version: v1\n    url: http://x/k9s\n    packaging: binary\n",
        )
        .unwrap();
        let m = Manifest::read(&p).unwrap();
        assert_eq!(m.tools[0].sha256, None);
    }
}
