//! Typed homes for the stringly values of R4: `true|false|vX.Y.Z` switches, the
//! `"[ a, b, ]"` lists, `cilium_binaries`, the kube-API allowlist, CIDRs and versions.
//!
//! Each type parses both the R4 spelling and the natural YAML one, serializes to the
//! natural one, and describes itself to the JSON Schema. Checks that need more than one
//! value (overlaps, conflicts) live in [`super::validate`].

use std::borrow::Cow;
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use ipnet::IpNet;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// `vMAJOR.MINOR.PATCH` with an optional pre-release suffix (`v1.13.0`, `v1.30.0-rc.1`).
pub fn is_release_version(s: &str) -> bool {
    let Some(rest) = s.strip_prefix('v') else {
        return false;
    };
    let (core, pre) = match rest.split_once('-') {
        Some((core, pre)) => (core, Some(pre)),
        None => (rest, None),
    };
    let parts: Vec<&str> = core.split('.').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
        && pre.is_none_or(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
        })
}

const VERSION_PATTERN: &str = r"^v[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$";

/// Parses the R4 spelling of a boolean-or-string value: YAML `true`/`false` or the
/// strings `"true"`/`"false"` (R4's terraform wrote them quoted).
enum BoolOrString {
    Bool(bool),
    Str(String),
}

impl<'de> Deserialize<'de> for BoolOrString {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = BoolOrString;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("`true`, `false` or a version like `v1.2.3`")
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
                Ok(BoolOrString::Bool(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(match v {
                    "true" => BoolOrString::Bool(true),
                    "false" => BoolOrString::Bool(false),
                    other => BoolOrString::Str(other.to_string()),
                })
            }
        }
        d.deserialize_any(V)
    }
}

/// An optional component: off, on at the version this tool picks, or pinned. R4 spelled
/// it `false`, `true` or `vX.Y.Z` (`use_cilium`, `deploy_flux`, ...); for OCCM and Cinder
/// CSI `true` means "the version matching the Kubernetes minor" and a pin may be a git
/// ref. Which pins are acceptable for which key is checked in [`super::validate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Toggle {
    Off,
    Default,
    Version(String),
}

/// A version or git ref: `v1.2.3`, `master`, `release-1.28`. The ref lands in a download
/// URL (`.../cloud-provider-openstack/<ref>/manifests/...`), so it follows git's own rules
/// (`git check-ref-format`) where they matter for a path: no empty, `.`-leading or
/// `.lock`-ending component, no `..` (`v1/../../evil/repo/main` would leave the repository).
pub(crate) fn is_ref(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with('-')
        && !s.contains("..")
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-/".contains(&b))
        && s.split('/')
            .all(|c| !c.is_empty() && !c.starts_with('.') && !c.ends_with(".lock"))
}

impl<'de> Deserialize<'de> for Toggle {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match BoolOrString::deserialize(d)? {
            BoolOrString::Bool(false) => Ok(Toggle::Off),
            BoolOrString::Bool(true) => Ok(Toggle::Default),
            BoolOrString::Str(s) if is_ref(&s) => Ok(Toggle::Version(s)),
            BoolOrString::Str(s) => Err(de::Error::custom(format!(
                "invalid value `{s}`: expected `true`, `false` or a version like `v1.2.3`"
            ))),
        }
    }
}

impl Serialize for Toggle {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Toggle::Off => s.serialize_bool(false),
            Toggle::Default => s.serialize_bool(true),
            Toggle::Version(v) => s.serialize_str(v),
        }
    }
}

impl JsonSchema for Toggle {
    fn schema_name() -> Cow<'static, str> {
        "Toggle".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "`false` (off), `true` (on, at the version scs-capi picks) or a version `vX.Y.Z`",
            "anyOf": [{"type": "boolean"}, {"type": "string", "pattern": "^[0-9A-Za-z_][0-9A-Za-z._/-]*$"}]
        })
    }
}

/// Whether OCCM load balancers use Octavia's OVN provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OvnLbProvider {
    False,
    Auto,
    True,
}

impl<'de> Deserialize<'de> for OvnLbProvider {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match BoolOrString::deserialize(d)? {
            BoolOrString::Bool(false) => Ok(OvnLbProvider::False),
            BoolOrString::Bool(true) => Ok(OvnLbProvider::True),
            BoolOrString::Str(s) if s == "auto" => Ok(OvnLbProvider::Auto),
            BoolOrString::Str(s) => Err(de::Error::custom(format!(
                "invalid value `{s}`: expected `false`, `auto` or `true`"
            ))),
        }
    }
}

impl Serialize for OvnLbProvider {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            OvnLbProvider::False => s.serialize_bool(false),
            OvnLbProvider::True => s.serialize_bool(true),
            OvnLbProvider::Auto => s.serialize_str("auto"),
        }
    }
}

impl JsonSchema for OvnLbProvider {
    fn schema_name() -> Cow<'static, str> {
        "OvnLbProvider".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "`false`, `auto` (use OVN when Octavia offers it) or `true`",
            "anyOf": [{"type": "boolean"}, {"const": "auto"}]
        })
    }
}

/// Versions of the cilium CLI and the hubble CLI installed on the management server.
/// R4 wrote `"v0.13.1;v0.11.2"`; a map `{cilium: v0.13.1, hubble: v0.11.2}` works too.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CiliumBinaries {
    pub cilium: String,
    pub hubble: String,
}

impl CiliumBinaries {
    pub fn r4_value(&self) -> String {
        format!("{};{}", self.cilium, self.hubble)
    }
}

impl FromStr for CiliumBinaries {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (cilium, hubble) = s.split_once(';').ok_or_else(|| {
            format!("invalid value `{s}`: expected `CILIUM_CLI;HUBBLE_CLI` like `v0.13.1;v0.11.2`")
        })?;
        let b = CiliumBinaries {
            cilium: cilium.trim().to_string(),
            hubble: hubble.trim().to_string(),
        };
        b.check()?;
        Ok(b)
    }
}

impl CiliumBinaries {
    fn check(&self) -> Result<(), String> {
        for (what, v) in [("cilium CLI", &self.cilium), ("hubble CLI", &self.hubble)] {
            if !is_release_version(v) {
                return Err(format!(
                    "invalid {what} version `{v}`: expected a version like `v0.13.1`"
                ));
            }
        }
        Ok(())
    }
}

impl Serialize for CiliumBinaries {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.r4_value())
    }
}

impl<'de> Deserialize<'de> for CiliumBinaries {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Map {
            cilium: String,
            hubble: String,
        }
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Repr {
            Str(String),
            Map(Map),
        }
        let b = match Repr::deserialize(d).map_err(|_| {
            de::Error::custom(
                "expected `CILIUM_CLI;HUBBLE_CLI` like `v0.13.1;v0.11.2` or a map with `cilium` and `hubble`",
            )
        })? {
            Repr::Str(s) => return s.parse().map_err(de::Error::custom),
            Repr::Map(m) => CiliumBinaries {
                cilium: m.cilium,
                hubble: m.hubble,
            },
        };
        b.check().map_err(de::Error::custom)?;
        Ok(b)
    }
}

impl JsonSchema for CiliumBinaries {
    fn schema_name() -> Cow<'static, str> {
        "CiliumBinaries".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "cilium CLI and hubble CLI versions: `\"v0.13.1;v0.11.2\"` or `{cilium: v0.13.1, hubble: v0.11.2}`",
            "anyOf": [
                {"type": "string", "pattern": r"^v[0-9.]+[^;]*;v[0-9.]+.*$"},
                {"type": "object", "additionalProperties": false, "required": ["cilium", "hubble"],
                 "properties": {"cilium": {"type": "string", "pattern": VERSION_PATTERN},
                                "hubble": {"type": "string", "pattern": VERSION_PATTERN}}}
            ]
        })
    }
}

/// How long something lives: a whole number of hours, days or weeks (`8760h`, `365d`,
/// `52w`), or `never`. The unit is kept as written, so a value serializes back the way the
/// user spelled it. Bounds per key are checked in [`super::validate`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifetime {
    Never,
    After { amount: u64, unit: LifetimeUnit },
}

/// The unit of a [`Lifetime`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LifetimeUnit {
    Hours,
    Days,
    Weeks,
}

impl LifetimeUnit {
    fn suffix(self) -> char {
        match self {
            LifetimeUnit::Hours => 'h',
            LifetimeUnit::Days => 'd',
            LifetimeUnit::Weeks => 'w',
        }
    }
    fn hours(self) -> u64 {
        match self {
            LifetimeUnit::Hours => 1,
            LifetimeUnit::Days => 24,
            LifetimeUnit::Weeks => 24 * 7,
        }
    }
}

impl Lifetime {
    /// The lifetime in hours; `None` for `never` (or a value too large to count).
    pub fn hours(self) -> Option<u64> {
        match self {
            Lifetime::Never => None,
            Lifetime::After { amount, unit } => amount.checked_mul(unit.hours()),
        }
    }
}

impl fmt::Display for Lifetime {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            Lifetime::Never => f.write_str("never"),
            Lifetime::After { amount, unit } => write!(f, "{amount}{}", unit.suffix()),
        }
    }
}

impl FromStr for Lifetime {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || {
            format!(
                "invalid duration `{s}`: expected a whole number of hours, days or weeks like \
                 `8760h`, `365d` or `52w`, or `never`"
            )
        };
        let t = s.trim();
        if t == "never" {
            return Ok(Lifetime::Never);
        }
        let unit = match t.chars().last() {
            Some('h') => LifetimeUnit::Hours,
            Some('d') => LifetimeUnit::Days,
            Some('w') => LifetimeUnit::Weeks,
            _ => return Err(bad()),
        };
        let digits = &t[..t.len() - 1];
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let amount: u64 = digits.parse().map_err(|_| bad())?;
        let l = Lifetime::After { amount, unit };
        l.hours().ok_or_else(bad)?;
        Ok(l)
    }
}

impl<'de> Deserialize<'de> for Lifetime {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Lifetime;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a duration like `365d`, `8760h` or `52w`, or `never`")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Lifetime, E> {
                v.parse().map_err(E::custom)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Lifetime, E> {
                Err(E::custom(format!(
                    "invalid duration `{v}`: give a unit, e.g. `{v}d` for days"
                )))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Lifetime, E> {
                Err(E::custom(format!(
                    "invalid duration `{v}`: expected a duration like `365d`, or `never`"
                )))
            }
        }
        d.deserialize_any(V)
    }
}

impl Serialize for Lifetime {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl JsonSchema for Lifetime {
    fn schema_name() -> Cow<'static, str> {
        "Lifetime".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "description": "a whole number of hours, days or weeks (`8760h`, `365d`, `52w`) or `never`",
            "pattern": "^([0-9]+[hdw]|never)$"
        })
    }
}

/// An IP network in CIDR notation (`10.8.0.0/20`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cidr(pub IpNet);

impl Cidr {
    /// `Some(network)` when the address has host bits set (`10.8.0.1/20`).
    pub fn with_host_bits(&self) -> Option<IpNet> {
        (self.0.addr() != self.0.network()).then(|| self.0.trunc())
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for Cidr {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        s.trim().parse::<IpNet>().map(Cidr).map_err(|_| {
            format!(
                "invalid CIDR `{s}`: expected an address with a prefix length like `10.8.0.0/20`"
            )
        })
    }
}

impl<'de> Deserialize<'de> for Cidr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(de::Error::custom)
    }
}

impl Serialize for Cidr {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

impl JsonSchema for Cidr {
    fn schema_name() -> Cow<'static, str> {
        "Cidr".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"type": "string", "description": "an IP network in CIDR notation, e.g. `10.8.0.0/20`"})
    }
}

/// One entry of the kube-API allowlist: a network, or `none` (no outside access but the
/// management cluster's own address).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AllowEntry {
    Net(IpNet),
    None,
}

impl fmt::Display for AllowEntry {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            AllowEntry::Net(n) => n.fmt(f),
            AllowEntry::None => f.write_str("none"),
        }
    }
}

impl FromStr for AllowEntry {
    type Err = String;
    /// Bare addresses mean a single host (`/32`, `/128`), as in R4.
    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if s == "none" {
            return Ok(AllowEntry::None);
        }
        if let Ok(net) = s.parse::<IpNet>() {
            return Ok(AllowEntry::Net(net));
        }
        if let Ok(ip) = s.parse::<IpAddr>() {
            return Ok(AllowEntry::Net(IpNet::from(ip)));
        }
        Err(format!(
            "invalid allowlist entry `{s}`: expected a CIDR like `10.1.0.0/16`, an address, or `none`"
        ))
    }
}

impl Serialize for AllowEntry {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for AllowEntry {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?.parse().map_err(de::Error::custom)
    }
}

/// Parses R4's list-in-a-string spelling `"[ a, b, ]"` (trailing comma allowed).
pub fn parse_r4_list(s: &str) -> Option<Vec<String>> {
    let inner = s.trim().strip_prefix('[')?.strip_suffix(']')?;
    Some(
        inner
            .split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .map(|e| e.trim_matches(|c| c == '"' || c == '\'').to_string())
            .collect(),
    )
}

/// Writes a list the way R4's `clusterctl.yaml` did: `[ a, b ]`, usable as a YAML flow
/// sequence once substituted into a manifest.
pub fn r4_list<T: fmt::Display>(items: &[T]) -> String {
    if items.is_empty() {
        return "[ ]".into();
    }
    let inner: Vec<String> = items.iter().map(ToString::to_string).collect();
    format!("[ {} ]", inner.join(", "))
}

/// Deserializes a list given either as a YAML sequence or as R4's `"[ a, b, ]"` string.
fn list_or_r4_string<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: FromStr<Err = String>,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Repr {
        Seq(Vec<String>),
        Str(String),
    }
    let items = match Repr::deserialize(d)
        .map_err(|_| de::Error::custom("expected a list of strings"))?
    {
        Repr::Seq(v) => v,
        Repr::Str(s) => parse_r4_list(&s)
            .ok_or_else(|| de::Error::custom(format!("expected a list, got the string `{s}`")))?,
    };
    items
        .iter()
        .map(|s| s.parse::<T>().map_err(de::Error::custom))
        .collect()
}

/// The kube-API CIDR allowlist (`restrict_kubeapi`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
#[serde(transparent)]
pub struct Allowlist(pub Vec<AllowEntry>);

impl<'de> Deserialize<'de> for Allowlist {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        list_or_r4_string(d).map(Allowlist)
    }
}

impl JsonSchema for Allowlist {
    fn schema_name() -> Cow<'static, str> {
        "Allowlist".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "CIDRs or addresses allowed to reach the kube-API load balancer; `[none]` = only the management cluster; `[]` = open",
            "type": "array", "items": {"type": "string"}
        })
    }
}

/// DNS resolvers for the node subnet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Nameservers(pub Vec<IpAddr>);

struct Ip(IpAddr);
impl FromStr for Ip {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        s.trim()
            .parse()
            .map(Ip)
            .map_err(|_| format!("invalid IP address `{s}`"))
    }
}

impl<'de> Deserialize<'de> for Nameservers {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        list_or_r4_string::<D, Ip>(d).map(|v| Nameservers(v.into_iter().map(|i| i.0).collect()))
    }
}

impl JsonSchema for Nameservers {
    fn schema_name() -> Cow<'static, str> {
        "Nameservers".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"type": "array", "items": {"type": "string", "format": "ip"}})
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn git_refs_cannot_leave_the_repository() {
        for good in ["v1.2.3", "master", "release-1.28", "feature/x_y", "v1.33.1"] {
            assert!(is_ref(good), "{good}");
        }
        for bad in [
            "v1/../../evil/repo/main",
            "..",
            "a/./b",
            "a//b",
            "a/",
            "/a",
            ".hidden",
            "a/.b",
            "x.lock",
            "-x",
            "a b",
            "",
        ] {
            assert!(!is_ref(bad), "{bad}");
        }
    }

    #[test]
    fn release_versions() {
        for ok in ["v1.2.3", "v1.30.0-rc.1", "v10.0.0"] {
            assert!(is_release_version(ok), "{ok}");
        }
        for bad in ["1.2.3", "v1.2", "v1.2.x", "v1..3", "v1.2.3-", "true", ""] {
            assert!(!is_release_version(bad), "{bad}");
        }
    }

    #[test]
    fn r4_lists() {
        assert_eq!(
            parse_r4_list("[ 10.1.0.0/16, none, ]").unwrap(),
            vec!["10.1.0.0/16", "none"]
        );
        assert_eq!(parse_r4_list("[ ]").unwrap(), Vec::<String>::new());
        assert_eq!(parse_r4_list("10.0.0.0/8"), None);
        assert_eq!(r4_list(&["a", "b"]), "[ a, b ]");
    }

    #[test]
    fn allow_entries() {
        assert_eq!(
            "192.0.2.7".parse::<AllowEntry>().unwrap().to_string(),
            "192.0.2.7/32"
        );
        assert_eq!("none".parse::<AllowEntry>().unwrap(), AllowEntry::None);
        assert!("10.0.0.0/33".parse::<AllowEntry>().is_err());
    }

    #[test]
    fn cilium_binaries() {
        let b: CiliumBinaries = "v0.13.1;v0.11.2".parse().unwrap();
        assert_eq!(b.hubble, "v0.11.2");
        assert_eq!(b.r4_value(), "v0.13.1;v0.11.2");
        assert!("v0.13.1".parse::<CiliumBinaries>().is_err());
        assert!("v0.13.1;latest".parse::<CiliumBinaries>().is_err());
    }

    #[test]
    fn lifetimes() {
        for (text, hours) in [
            ("365d", Some(8760)),
            ("8760h", Some(8760)),
            ("52w", Some(8736)),
            ("never", None),
        ] {
            let l: Lifetime = text.parse().unwrap();
            assert_eq!(l.hours(), hours, "{text}");
            assert_eq!(l.to_string(), text);
        }
        for bad in [
            "",
            "d",
            "365",
            "1y",
            "-1d",
            "1.5d",
            "36 5d",
            "99999999999999999999d",
            "999999999999999999w",
        ] {
            let e = bad.parse::<Lifetime>().unwrap_err();
            assert!(e.contains("expected a whole number"), "{bad}: {e}");
        }
    }

    #[test]
    fn host_bits() {
        let c: Cidr = "10.8.0.1/20".parse().unwrap();
        assert_eq!(c.with_host_bits().unwrap().to_string(), "10.8.0.0/20");
        let c: Cidr = "10.8.0.0/20".parse().unwrap();
        assert_eq!(c.with_host_bits(), None);
    }
}
