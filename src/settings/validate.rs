//! Checks on the merged settings that no single value can make on its own: known
//! Kubernetes minors, flavor naming, CIDR overlaps, allowlist rules, name lengths.
//!
//! Every finding is located through [`Loaded::locate`], i.e. at the layer that set the
//! key. Type errors were already reported by [`super::layers`].

use ipnet::IpNet;

use super::layers::Loaded;
use super::model::{NodeOs, Settings};
use super::values::{AllowEntry, OvnLbProvider, Toggle, is_release_version};
use super::versions::{self, Support};
use crate::error::Diagnostic;
use crate::render::Profile;

/// What the user chose on the command line.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    pub allow_preview_versions: bool,
    /// Whether the settings describe a cluster (false for a defaults file alone).
    pub is_cluster: bool,
    /// The profile the settings render for: it decides the built-in defaults and which
    /// Kubernetes versions its Cluster API supports.
    pub profile: Profile,
}

/// Longest host name a machine may get (a DNS label).
const MAX_HOSTNAME: usize = 63;
/// What CAPI appends to a MachineDeployment name for machine names
/// (`-<10 char hash>-<5 char suffix>`).
const MD_MACHINE_SUFFIX: usize = 17;

pub fn validate(loaded: &Loaded, opts: Options) -> Vec<Diagnostic> {
    let s = &loaded.settings;
    let mut out = Vec::new();
    let mut err = |key: &str, msg: String, hint: Option<String>| {
        let d = Diagnostic::error(loaded.locate(key), msg);
        out.push(match hint {
            Some(h) => d.hint(h),
            None => d,
        });
    };
    let mut warnings = Vec::new();
    let mut warn = |key: &str, msg: String, hint: Option<String>| {
        let d = Diagnostic::warning(loaded.locate(key), msg);
        warnings.push(match hint {
            Some(h) => d.hint(h),
            None => d,
        });
    };

    // Names.
    if opts.is_cluster {
        let name = s.name();
        if let Some(problem) = dns_label_problem(name) {
            err(
                "cluster_name",
                format!("cluster name `{name}` {problem}"),
                Some(
                    "use lower-case letters, digits and `-`, starting with a letter, e.g. `prod-1`"
                        .into(),
                ),
            );
        } else {
            let md_name = format!("{}-{}-md-0-no1", s.prefix, name);
            let longest = md_name.len() + MD_MACHINE_SUFFIX;
            if longest > MAX_HOSTNAME {
                err(
                    "cluster_name",
                    format!(
                        "worker machine names would be {longest} characters long (`{md_name}-…`), over the {MAX_HOSTNAME} a host name allows"
                    ),
                    Some(format!(
                        "shorten `prefix` and `cluster_name` to {} characters together",
                        MAX_HOSTNAME - MD_MACHINE_SUFFIX - "--md-0-no1".len()
                    )),
                );
            }
        }
    }
    if let Some(problem) = dns_label_problem(&s.prefix) {
        err(
            "prefix",
            format!("prefix `{}` {problem}", s.prefix),
            Some("OpenStack resource names start with the prefix; use e.g. `capi`".into()),
        );
    }

    // Free-text values that end up inside quoted YAML strings and clusterctl variables.
    for (key, value) in [
        ("cloud_provider", &s.cloud_provider),
        ("controller_flavor", &s.controller_flavor),
        ("worker_flavor", &s.worker_flavor),
        ("availability_zone", &s.availability_zone),
        ("external", &s.external),
        ("node_image", &s.node_image),
        ("ssh_keypair", &s.ssh_keypair),
    ] {
        if let Some(c) = value
            .chars()
            .find(|c| c.is_control() || "\"\\$`".contains(*c))
        {
            err(
                key,
                format!(
                    "`{key}` contains the character {c:?}, which OpenStack names here cannot hold"
                ),
                Some("use letters, digits, spaces and `-_.:/`".into()),
            );
        }
    }
    let sha = s.node_image_sha256.trim();
    if !sha.is_empty() && (sha.len() != 64 || !sha.bytes().all(|b| b.is_ascii_hexdigit())) {
        err(
            "node_image_sha256",
            format!("`{sha}` is not a SHA-256 (64 hexadecimal digits)"),
            Some("use the output of `sha256sum` for the image file, or leave it empty to use `<url>.CHECKSUM`".into()),
        );
    }
    if s.cloud_provider.trim().is_empty() {
        err(
            "cloud_provider",
            "the cloud name is empty".into(),
            Some("the name of the cloud in `clouds.yaml`, e.g. `openstack`".into()),
        );
    }

    // Kubernetes version.
    let v = s.kubernetes_version;
    match v.support() {
        Support::Known { newest_patch } => {
            if let Some(p) = v.patch
                && p > newest_patch
            {
                warn(
                    "kubernetes_version",
                    format!(
                        "`{v}` is newer than the newest {} patch scs-capi knows (v1.{}.{newest_patch}, table of {})",
                        v.minor_string(),
                        v.minor,
                        super::versions::TABLE_DATE
                    ),
                    Some("fine if the release exists; the node image must exist too".into()),
                );
            }
        }
        Support::Preview if opts.allow_preview_versions => {}
        Support::Preview => err(
            "kubernetes_version",
            format!("Kubernetes {} is a preview version", v.minor_string()),
            Some("pass `--allow-preview-versions` to use it anyway".into()),
        ),
        Support::Unknown => {
            let known: Vec<String> = super::versions::KNOWN_MINORS
                .iter()
                .map(|(m, _)| format!("v1.{m}"))
                .collect();
            err(
                "kubernetes_version",
                format!(
                    "Kubernetes {} is not a version scs-capi knows",
                    v.minor_string()
                ),
                Some(format!("known minors: {}", known.join(", "))),
            );
        }
    }

    let minors = opts.profile.workload_minors();
    // Preview minors have their own error (and `--allow-preview-versions` to pass it).
    if matches!(v.support(), Support::Known { .. }) && !minors.contains(&v.minor) {
        let other = match opts.profile {
            Profile::Default => Profile::R4,
            Profile::R4 => Profile::Default,
        };
        let hint = if other.workload_minors().contains(&v.minor) {
            format!(
                "use a version from v1.{} to v1.{} (default `{}`), or render with `--profile {}` for a management cluster with Cluster API v{}",
                minors.start(),
                minors.end(),
                Settings::builtin(opts.profile).kubernetes_version,
                other.name(),
                other.clusterapi_version()
            )
        } else {
            format!(
                "use a version from v1.{} to v1.{} (default `{}`)",
                minors.start(),
                minors.end(),
                Settings::builtin(opts.profile).kubernetes_version
            )
        };
        err(
            "kubernetes_version",
            format!(
                "Kubernetes {} is outside what Cluster API v{} (profile `{}`) supports for workload clusters (v1.{}-v1.{})",
                v.minor_string(),
                opts.profile.clusterapi_version(),
                opts.profile.name(),
                minors.start(),
                minors.end()
            ),
            Some(hint),
        );
    }
    let (newest_minor, newest_patch) = versions::DEFAULT_IMAGE_SOURCE_NEWEST;
    if opts.is_cluster
        && s.node_image_url.is_empty()
        && s.node_image_os == NodeOs::Ubuntu2204
        && v.resolved() > versions::DEFAULT_IMAGE_SOURCE_NEWEST
    {
        warn(
            "kubernetes_version",
            format!(
                "the default node image source has Ubuntu 22.04 images up to v1.{newest_minor}.{newest_patch}, not `{}`: `prepare-cloud` cannot upload `{}` unless it is in Glance already",
                v.resolve(),
                s.node_image_name()
            ),
            Some("set `node_image_url` (and `node_image_os`) to an image for this version, or upload it yourself".into()),
        );
    }
    if s.use_cilium == Toggle::Off
        && let Some((tested, date)) = versions::calico_tested_minors(&s.calico_version)
        && !tested.contains(&v.minor)
    {
        warn(
            "calico_version",
            format!(
                "calico `{}` is not tested with Kubernetes {} (Tigera lists v1.{}-v1.{}, as of {date})",
                s.calico_version,
                v.minor_string(),
                tested.start(),
                tested.end()
            ),
            Some(format!(
                "the built-in default for profile `{}` is `{}`",
                opts.profile.name(),
                Settings::builtin(opts.profile).calico_version
            )),
        );
    }

    // Flavors.
    for (key, flavor) in [
        ("controller_flavor", &s.controller_flavor),
        ("worker_flavor", &s.worker_flavor),
    ] {
        if flavor.trim().is_empty() {
            err(
                key,
                "the flavor is empty".into(),
                Some("e.g. `SCS-2V-4-20s`".into()),
            );
            continue;
        }
        if let Some(v2) = scs_v1_to_v2(flavor) {
            warn(
                key,
                format!("`{flavor}` is an SCS v1 flavor name"),
                Some(format!("the SCS v2 name is `{v2}`")),
            );
        }
    }
    for (flavor_key, flavor, disk_key, disk) in [
        (
            "controller_flavor",
            &s.controller_flavor,
            "controller_root_disk_gib",
            s.controller_root_disk_gib,
        ),
        (
            "worker_flavor",
            &s.worker_flavor,
            "worker_root_disk_gib",
            s.worker_root_disk_gib,
        ),
    ] {
        if disk == 0 && is_scs_diskless(flavor) {
            warn(
                flavor_key,
                format!("`{flavor}` has no disk; the nodes need a root volume"),
                Some(format!(
                    "`prepare-cloud --render-out` sizes one from the image; set `{disk_key}` (e.g. 30) to choose it, or when rendering without the cloud"
                )),
            );
        }
        if (1..10).contains(&disk) {
            err(
                disk_key,
                format!("a root volume of {disk} GiB is too small for a node image"),
                Some("use at least 10 (0 = the flavor's disk)".into()),
            );
        }
    }
    if let Some(disk) = scs_disk(&s.controller_flavor)
        && !disk.ends_with('s')
    {
        warn(
            "controller_flavor",
            format!(
                "`{}` has no local SSD; etcd on network storage can be too slow",
                s.controller_flavor
            ),
            Some("use a flavor with local SSD (name ending in `s`, e.g. `SCS-2V-4-20s`)".into()),
        );
    }

    // Node counts.
    if s.controller_count == 0 {
        err(
            "controller_count",
            "a cluster needs at least one control-plane node".into(),
            Some("use 1, 3 or 5".into()),
        );
    } else if s.controller_count.is_multiple_of(2) {
        warn(
            "controller_count",
            format!(
                "{} control-plane nodes: etcd tolerates no more failures than with {}",
                s.controller_count,
                s.controller_count - 1
            ),
            Some("use an odd number (1, 3, 5)".into()),
        );
    }

    // Networks.
    let nets = [
        ("node_cidr", s.node_cidr),
        ("pod_cidr", s.pod_cidr),
        ("service_cidr", s.service_cidr),
    ];
    for (key, cidr) in nets {
        if let Some(net) = cidr.with_host_bits() {
            err(
                key,
                format!("`{cidr}` has host bits set"),
                Some(format!("did you mean `{net}`?")),
            );
        }
    }
    for (i, (ka, a)) in nets.iter().enumerate() {
        for (kb, b) in &nets[i + 1..] {
            if overlaps(a.0, b.0) {
                err(
                    kb,
                    format!("`{kb}` {} overlaps `{ka}` {}", b, a),
                    Some("node, pod and service networks must be disjoint".into()),
                );
            }
        }
    }
    if s.mtu_value != 0 && !(576..=9000).contains(&s.mtu_value) {
        err(
            "mtu_value",
            format!("MTU {} is out of range", s.mtu_value),
            Some("use 0 (derive from the cloud) or a value between 576 and 9000".into()),
        );
    }

    // Kube-API allowlist.
    let list = &s.restrict_kubeapi.0;
    if list.contains(&AllowEntry::None) && list.len() > 1 {
        err(
            "restrict_kubeapi",
            "`none` must stand alone in `restrict_kubeapi`".into(),
            Some("use `[none]` (only the management cluster) or a list of CIDRs".into()),
        );
    }
    for e in list {
        if let AllowEntry::Net(net) = e
            && net.prefix_len() == 0
        {
            warn(
                "restrict_kubeapi",
                format!("`{net}` allows everyone; the allowlist restricts nothing"),
                Some("use `[]` to leave the API open, or narrower CIDRs".into()),
            );
        }
    }
    if !list.is_empty() {
        match s.use_ovn_lb_provider {
            OvnLbProvider::True => err(
                "restrict_kubeapi",
                "`restrict_kubeapi` cannot be enforced with the OVN load-balancer provider".into(),
                Some("Octavia's OVN provider does not support allowed CIDRs; set `use_ovn_lb_provider: false` or empty the allowlist".into()),
            ),
            OvnLbProvider::Auto => warn(
                "restrict_kubeapi",
                "`use_ovn_lb_provider: auto` affects only service load balancers; the kube-API load balancer must use amphora for the allowlist".into(),
                None,
            ),
            OvnLbProvider::False => {}
        }
        if s.mgmt_egress_cidr.is_none() && opts.is_cluster {
            warn(
                "restrict_kubeapi",
                "the management cluster's egress address is not set".into(),
                Some("set `mgmt_egress_cidr` (or pass `--mgmt-cidr` to render) so the management cluster is always allowed".into()),
            );
        }
    }

    // Versions.
    if !is_release_version(&s.calico_version) {
        err(
            "calico_version",
            format!("invalid calico version `{}`", s.calico_version),
            Some("use a release tag like `v3.25.0`".into()),
        );
    }
    for key in ["clusterapi_version", "capi_openstack_version"] {
        let value = if key == "clusterapi_version" {
            &s.clusterapi_version
        } else {
            &s.capi_openstack_version
        };
        let bare = value.strip_prefix('v').unwrap_or(value);
        if !value.is_empty() && !is_release_version(&format!("v{bare}")) {
            err(
                key,
                format!("invalid version `{value}`"),
                Some("use a release like `1.14.0`".into()),
            );
        }
    }
    if s.deploy_occm == Toggle::Off {
        err(
            "deploy_occm",
            "the OpenStack cloud controller manager cannot be switched off".into(),
            Some("nodes use the external cloud provider and stay uninitialised without it; use `true` or a version".into()),
        );
    }
    // Components pinned by release only (OCCM and CSI also take git refs).
    for (key, toggle) in [
        ("use_cilium", &s.use_cilium),
        ("deploy_nginx_ingress", &s.deploy_nginx_ingress),
        ("deploy_cert_manager", &s.deploy_cert_manager),
        ("deploy_flux", &s.deploy_flux),
    ] {
        if let Toggle::Version(v) = toggle
            && !is_release_version(v)
        {
            err(
                key,
                format!("`{v}` is not a release version"),
                Some("use `true`, `false` or a release tag like `v1.2.3`".into()),
            );
        }
    }
    if let Toggle::Version(v) = &s.use_cilium
        && is_release_version(v)
        && !v.starts_with("v1.")
    {
        warn(
            "use_cilium",
            format!("cilium `{v}` is not a 1.x release"),
            None,
        );
    }

    // etcd maintenance.
    let e = &s.etcd_defrag;
    for (key, pct) in [
        ("etcd_defrag.min_free_percent", e.min_free_percent),
        ("etcd_defrag.max_quota_percent", e.max_quota_percent),
    ] {
        if pct == 0 || pct > 100 {
            err(
                key,
                format!("{pct} is not a percentage between 1 and 100"),
                None,
            );
        }
    }
    // The script takes at most 15 digits of bytes; no etcd database is larger than its
    // quota, which is at most 8 GiB (`etcd_quota_backend_mib`).
    if e.min_db_size_mib > 8192 {
        err(
            "etcd_defrag.min_db_size_mib",
            format!(
                "{} MiB is larger than any etcd database can be",
                e.min_db_size_mib
            ),
            Some("use at most 8192 (the largest etcd quota); 100 is the default".into()),
        );
    }
    if e.enabled && !valid_on_calendar(&e.schedule) {
        err(
            "etcd_defrag.schedule",
            format!("`{}` is not a systemd calendar expression", e.schedule),
            Some("e.g. `*-*-* 02:30:00`, `daily` or `Sun 03:00` (see `man systemd.time`)".into()),
        );
    }
    if s.etcd_quota_backend_mib < 64 || s.etcd_quota_backend_mib > 8192 {
        err(
            "etcd_quota_backend_mib",
            format!(
                "etcd quota of {} MiB is out of range",
                s.etcd_quota_backend_mib
            ),
            Some("etcd suggests at most 8 GiB; use 64 to 8192".into()),
        );
    }
    if let Some(hours) = s.app_credential_expires_in.hours()
        && !(24..=24 * 3650).contains(&hours)
    {
        err(
            "app_credential_expires_in",
            format!(
                "a lifetime of `{}` is out of range",
                s.app_credential_expires_in
            ),
            Some("use 1 day (`1d`) to 10 years (`3650d`), or `never`".into()),
        );
    }
    if s.capo_instance_create_timeout == 0 {
        err(
            "capo_instance_create_timeout",
            "the timeout must be at least one minute".into(),
            None,
        );
    }
    for (key, suffix) in [
        ("control_plane_machine_gen", &s.control_plane_machine_gen),
        ("worker_machine_gen", &s.worker_machine_gen),
    ] {
        let name_safe = suffix
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !suffix.is_empty()
            && (!name_safe || suffix.starts_with('-') || suffix.ends_with('-') || suffix.len() > 20)
        {
            err(
                key,
                format!("`{suffix}` cannot end a Kubernetes object name"),
                Some("use up to 20 lower-case letters and digits, e.g. `genc02`".into()),
            );
        }
    }

    out.extend(warnings);
    out
}

fn overlaps(a: IpNet, b: IpNet) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

/// Why `s` is not a DNS label (RFC 1123, starting with a letter), if it is not.
/// Why `s` cannot be a DNS label (cluster names, prefixes), if it cannot.
pub(crate) fn dns_label_problem(s: &str) -> Option<&'static str> {
    if s.is_empty() {
        Some("is empty")
    } else if s.len() > MAX_HOSTNAME {
        Some("is longer than 63 characters")
    } else if !s
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        Some("may only contain lower-case letters, digits and `-`")
    } else if !s.starts_with(|c: char| c.is_ascii_lowercase()) {
        Some("must start with a letter")
    } else if s.ends_with('-') {
        Some("must not end with `-`")
    } else {
        None
    }
}

/// `SCS-2V:4:20` -> `SCS-2V-4-20` (SCS flavor naming v1 -> v2).
fn scs_v1_to_v2(flavor: &str) -> Option<String> {
    (flavor.starts_with("SCS-") && flavor.contains(':')).then(|| flavor.replace(':', "-"))
}

/// The disk part of an SCS v2 name (`SCS-2V-4-20s` -> `20s`); `None` for diskless or
/// non-SCS names.
fn scs_disk(flavor: &str) -> Option<&str> {
    let rest = flavor.strip_prefix("SCS-")?;
    let parts: Vec<&str> = rest.split('-').collect();
    let disk = *parts.get(2)?;
    disk.starts_with(|c: char| c.is_ascii_digit())
        .then_some(disk)
}

/// An SCS v2 name without a disk part (`SCS-2V-4`, `SCS-4V-16`).
fn is_scs_diskless(flavor: &str) -> bool {
    flavor
        .strip_prefix("SCS-")
        .is_some_and(|rest| rest.split('-').count() == 2 && !rest.contains(':'))
}

/// A loose check of systemd `OnCalendar=` syntax: shorthands or date/time fields made of
/// the characters systemd accepts. systemd itself is not available offline.
fn valid_on_calendar(s: &str) -> bool {
    const SHORTHANDS: &[&str] = &[
        "minutely",
        "hourly",
        "daily",
        "monthly",
        "weekly",
        "yearly",
        "quarterly",
        "semiannually",
    ];
    let s = s.trim();
    if SHORTHANDS.contains(&s) {
        return true;
    }
    !s.is_empty()
        && s.len() <= 128
        && s.contains(':')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || " *-:,./~".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flavor_names() {
        assert_eq!(scs_v1_to_v2("SCS-2V:4:20").as_deref(), Some("SCS-2V-4-20"));
        assert_eq!(scs_v1_to_v2("SCS-2V-4-20"), None);
        assert_eq!(scs_disk("SCS-2V-4-20s"), Some("20s"));
        assert_eq!(scs_disk("SCS-2V-4-20"), Some("20"));
        assert_eq!(scs_disk("SCS-2V-4"), None);
        assert_eq!(scs_disk("m1.large"), None);
        assert!(is_scs_diskless("SCS-2V-4"));
        assert!(!is_scs_diskless("SCS-2V-4-20s"));
        assert!(!is_scs_diskless("m1.large"));
    }

    #[test]
    fn labels() {
        assert_eq!(dns_label_problem("prod-1"), None);
        assert!(dns_label_problem("Prod").is_some());
        assert!(dns_label_problem("1prod").is_some());
        assert!(dns_label_problem("prod-").is_some());
    }

    #[test]
    fn calendar() {
        assert!(valid_on_calendar("*-*-* 02:30:00"));
        assert!(valid_on_calendar("daily"));
        assert!(valid_on_calendar("Sun 03:00"));
        assert!(!valid_on_calendar("every night"));
        assert!(!valid_on_calendar("*-*-* 02:30:00\nExecStart=/bin/evil"));
    }
}
