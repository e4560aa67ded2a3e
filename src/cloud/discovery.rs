//! Version discovery: an endpoint as a cloud gives it (catalog entry, `*_endpoint_override` in
//! `clouds.yaml`, `OS_*_ENDPOINT_OVERRIDE`) -> the versioned API root our calls are built on.
//!
//! Owns: which API version each service must offer ([`Wanted`]), whether a URL already names
//! one, and picking the version from a service's version document the way openstacksdk
//! (keystoneauth) does: `GET <url>/` (answered 200 or `300 Multiple Choices`), the entry
//! with the wanted major version (CURRENT first, then the highest), its `self` link. It
//! leaves sending the request and handing the result to the SDK to [`super::session`].
//!
//! Why: real deployments register Neutron, Glance and Octavia unversioned
//! (`http://host:9696`) and users write overrides either way; openstack_sdk uses an
//! override verbatim, so `images` became `http://host:9292/images` (Glance: `300 Multiple
//! Choices`).

use serde_json::Value;
use url::Url;

/// The API a service must offer for the calls made here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wanted {
    /// Service type as in the catalog and in `<type>_endpoint_override`.
    pub service_type: &'static str,
    pub major: u64,
    /// Lowest acceptable minor version of `major` (Nova: 2.1, not the legacy 2.0).
    pub minor: u64,
}

/// The services whose endpoints are discovered, with the version their calls are built for.
pub const SERVICES: [Wanted; 5] = [
    Wanted {
        service_type: "compute",
        major: 2,
        minor: 1,
    },
    Wanted {
        service_type: "network",
        major: 2,
        minor: 0,
    },
    Wanted {
        service_type: "image",
        major: 2,
        minor: 0,
    },
    Wanted {
        service_type: "load-balancer",
        major: 2,
        minor: 0,
    },
    Wanted {
        service_type: "block-storage",
        major: 3,
        minor: 0,
    },
];

/// The entry of [`SERVICES`] for `service_type` (aliases as openstacksdk accepts them).
pub fn wanted(service_type: &str) -> Option<Wanted> {
    let canonical = match service_type {
        "volume" | "volumev3" => "block-storage",
        "load_balancer" => "load-balancer",
        other => other,
    };
    SERVICES
        .iter()
        .copied()
        .find(|w| w.service_type == canonical)
}

/// `v2`, `v2.0`, `v2.1`, `v3` -> (major, minor).
fn parse_version_segment(seg: &str) -> Option<(u64, u64)> {
    let rest = seg.strip_prefix('v').or_else(|| seg.strip_prefix('V'))?;
    let (major, minor) = match rest.split_once('.') {
        Some((a, b)) => (a, b),
        None => (rest, "0"),
    };
    Some((major.parse().ok()?, minor.parse().ok()?))
}

/// The API version a URL's path already names: its last segment, or (block storage, whose
/// catalog entries end in the project id) the one before it.
pub fn version_in_url(url: &Url) -> Option<(u64, u64)> {
    let segs: Vec<&str> = url
        .path_segments()
        .map(|s| s.filter(|s| !s.is_empty()).collect())
        .unwrap_or_default();
    match segs.as_slice() {
        [.., last] if parse_version_segment(last).is_some() => parse_version_segment(last),
        [.., ver, _project] => parse_version_segment(ver),
        _ => None,
    }
}

/// `url` without a trailing slash (the SDK appends paths to it).
pub fn trimmed(url: &Url) -> Url {
    let mut u = url.clone();
    let path = u.path().trim_end_matches('/').to_string();
    u.set_path(if path.is_empty() { "/" } else { &path });
    u
}

/// Where to fetch the version document of `url` (its path with a trailing slash, as
/// keystoneauth asks: some services answer the bare path with a redirect).
pub fn document_url(url: &Url) -> Url {
    let mut u = url.clone();
    if !u.path().ends_with('/') {
        let p = format!("{}/", u.path());
        u.set_path(&p);
    }
    u.set_query(None);
    u
}

/// The API root for `wanted` from the version document `doc` fetched for `base`.
///
/// Accepts the three shapes services answer with: `{"versions": [...]}` (Nova, Neutron,
/// Glance, Cinder, Octavia), `{"versions": {"values": [...]}}` (Keystone) and a single
/// `{"version": {...}}` (a versioned URL). Among the entries whose id is `v<major>.<minor>`
/// with the wanted major and at least the wanted minor, and which are not `DEPRECATED`
/// or `DELETED`, the `CURRENT` one wins, else the highest. Its `self` link is used with the
/// scheme, host and port of `base` (services behind a proxy often report their internal
/// address); a link whose path is not below `base`'s path keeps `base`'s path and appends
/// the link's last segment (a proxy mounting the service under a prefix).
pub fn pick(doc: &Value, base: &Url, wanted: Wanted) -> Option<Url> {
    let entries: Vec<&Value> = if let Some(list) = doc.get("versions") {
        match list {
            Value::Array(a) => a.iter().collect(),
            Value::Object(o) => o
                .get("values")
                .and_then(Value::as_array)
                .map(|a| a.iter().collect())
                .unwrap_or_default(),
            _ => Vec::new(),
        }
    } else if let Some(one) = doc.get("version") {
        vec![one]
    } else {
        Vec::new()
    };
    let mut best: Option<(bool, (u64, u64), &Value)> = None;
    for e in entries {
        let Some((major, minor)) = e
            .get("id")
            .and_then(Value::as_str)
            .and_then(parse_version_segment)
        else {
            continue;
        };
        if major != wanted.major || minor < wanted.minor {
            continue;
        }
        let status = e
            .get("status")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_ascii_uppercase();
        if status == "DEPRECATED" || status == "DELETED" {
            continue;
        }
        let rank = (status == "CURRENT", (major, minor));
        if best.as_ref().is_none_or(|(c, v, _)| rank > (*c, *v)) {
            best = Some((rank.0, rank.1, e));
        }
    }
    let (_, (major, minor), entry) = best?;
    let href = entry
        .get("links")
        .and_then(Value::as_array)
        .and_then(|links| {
            links
                .iter()
                .find(|l| l.get("rel").and_then(Value::as_str) == Some("self"))
        })
        .and_then(|l| l.get("href"))
        .and_then(Value::as_str);
    let base_path = base.path().trim_end_matches('/').to_string();
    let link_path = href
        .and_then(|h| Url::parse(h).ok().or_else(|| base.join(h).ok()))
        .map(|u| u.path().trim_end_matches('/').to_string());
    let path = match link_path {
        Some(p) if p.starts_with(&format!("{base_path}/")) => p,
        Some(p) => match p.rsplit('/').next().filter(|s| !s.is_empty()) {
            Some(last) => format!("{base_path}/{last}"),
            None => format!("{base_path}/v{major}.{minor}"),
        },
        // No self link: the version id is the path segment (as Neutron's `v2.0`).
        None => format!(
            "{base_path}/{}",
            entry.get("id").and_then(Value::as_str).unwrap_or_default()
        ),
    };
    let mut out = base.clone();
    out.set_path(&path);
    out.set_query(None);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn w(t: &str) -> Wanted {
        wanted(t).unwrap()
    }

    fn u(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn versions_in_urls() {
        assert_eq!(version_in_url(&u("http://h:9292")), None);
        assert_eq!(version_in_url(&u("http://h:9292/")), None);
        assert_eq!(version_in_url(&u("http://h/image")), None);
        assert_eq!(version_in_url(&u("http://h/image/v2")), Some((2, 0)));
        assert_eq!(version_in_url(&u("http://h/image/v2/")), Some((2, 0)));
        assert_eq!(version_in_url(&u("http://h:8774/v2.1")), Some((2, 1)));
        assert_eq!(
            version_in_url(&u("http://h:8776/v3/0123456789abcdef")),
            Some((3, 0))
        );
        assert_eq!(version_in_url(&u("http://h/volume/project")), None);
    }

    #[test]
    fn glance_document_picks_v2_current() {
        // As Glance 33 answers `GET /` (300), shortened.
        let doc = json!({"versions": [
            {"id": "v2.17", "status": "CURRENT", "links": [{"rel": "self", "href": "http://127.0.0.1:9292/v2/"}]},
            {"id": "v2.16", "status": "SUPPORTED", "links": [{"rel": "self", "href": "http://127.0.0.1:9292/v2/"}]},
            {"id": "v2.0", "status": "SUPPORTED", "links": [{"rel": "self", "href": "http://127.0.0.1:9292/v2/"}]}
        ]});
        let got = pick(&doc, &u("http://127.0.0.1:9292"), w("image")).unwrap();
        assert_eq!(got.as_str(), "http://127.0.0.1:9292/v2");
    }

    #[test]
    fn nova_document_skips_the_legacy_v2_0() {
        let doc = json!({"versions": [
            {"id": "v2.0", "status": "SUPPORTED", "links": [{"rel": "self", "href": "http://h:8774/v2/"}]},
            {"id": "v2.1", "status": "CURRENT", "version": "2.96", "links": [{"rel": "self", "href": "http://h:8774/v2.1/"}]}
        ]});
        let got = pick(&doc, &u("http://h:8774/"), w("compute")).unwrap();
        assert_eq!(got.as_str(), "http://h:8774/v2.1");
    }

    #[test]
    fn link_host_is_replaced_by_the_endpoint_host() {
        // A service behind a proxy reporting its internal address.
        let doc = json!({"versions": [
            {"id": "v2.0", "status": "CURRENT", "links": [{"rel": "self", "href": "http://10.0.0.5:9696/v2.0/"}]}
        ]});
        let got = pick(&doc, &u("https://cloud.example:443/"), w("network")).unwrap();
        assert_eq!(got.as_str(), "https://cloud.example/v2.0");
        // Mounted under a prefix the service does not know about.
        let got = pick(&doc, &u("https://cloud.example/network"), w("network")).unwrap();
        assert_eq!(got.as_str(), "https://cloud.example/network/v2.0");
    }

    #[test]
    fn single_version_document_and_keystone_shape() {
        let one = json!({"version": {"id": "v3.0", "status": "CURRENT",
            "links": [{"rel": "self", "href": "http://h:8776/v3/"}]}});
        assert_eq!(
            pick(&one, &u("http://h:8776"), w("volume"))
                .unwrap()
                .as_str(),
            "http://h:8776/v3"
        );
        let ks = json!({"versions": {"values": [{"id": "v2.27", "status": "stable",
            "links": [{"rel": "self", "href": "http://h/lb/v2"}]}]}});
        assert_eq!(
            pick(&ks, &u("http://h/lb"), w("load-balancer"))
                .unwrap()
                .as_str(),
            "http://h/lb/v2"
        );
    }

    #[test]
    fn wrong_major_deprecated_or_garbage_picks_nothing() {
        let doc = json!({"versions": [
            {"id": "v1.0", "status": "CURRENT", "links": [{"rel": "self", "href": "http://h/v1/"}]},
            {"id": "v2.0", "status": "DEPRECATED", "links": [{"rel": "self", "href": "http://h/v2/"}]}
        ]});
        assert_eq!(pick(&doc, &u("http://h"), w("image")), None);
        assert_eq!(
            pick(&json!({"images": []}), &u("http://h"), w("image")),
            None
        );
        assert_eq!(pick(&json!("x"), &u("http://h"), w("image")), None);
        assert_eq!(
            pick(
                &json!({"versions": [{"id": 3}]}),
                &u("http://h"),
                w("image")
            ),
            None
        );
    }

    #[test]
    fn document_url_ends_in_a_slash() {
        assert_eq!(document_url(&u("http://h:9292")).as_str(), "http://h:9292/");
        assert_eq!(
            document_url(&u("http://h/image")).as_str(),
            "http://h/image/"
        );
        assert_eq!(
            document_url(&u("http://h/image/")).as_str(),
            "http://h/image/"
        );
        assert_eq!(
            trimmed(&u("http://h/image/v2/")).as_str(),
            "http://h/image/v2"
        );
    }
}
