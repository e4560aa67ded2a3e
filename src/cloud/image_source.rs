//! Where a missing node image comes from and which SHA-256 its bytes must have, decided
//! before anything is created, so that `prepare-cloud`'s plan either says "upload" or
//! names the problem.
//!
//! Owns: the default source URL, the checksum decision, a probe of the source's first bytes
//! (format, qcow2 virtual size -> `min_disk`, size), and the [`ImageSpec`] for a cluster's
//! settings. Uploading is [`super::image`]'s job, the conversion to raw
//! [`super::image_convert`]'s.
//!
//! Default source: OSISM's k8s-capi-images, Ubuntu 22.04 (`node_image_os`), one image per
//! Kubernetes patch release:
//! `https://nbg1.your-objectstorage.com/osism/openstack-k8s-capi-images/ubuntu-2204-kube-v1.MINOR/ubuntu-2204-kube-vX.Y.Z.qcow2`.
//! R4 used the same layout on `minio.services.osism.tech` (upstream-r4.md §5.2); the
//! object storage above is where osism/k8s-capi-images' README and
//! `scripts/generate-k8s-image-urls.sh` point today. OSISM builds Ubuntu 22.04 images for
//! Kubernetes up to v1.33.3 (newer ones are Ubuntu 24.04): for those, set
//! `node_image_url` (and `node_image_os` to what the image really is).
//!
//! The checksum, and why (R4 uploaded without any check):
//! - `node_image_sha256`, when set, is a pin the operator chose: the strongest check.
//! - Otherwise the SHA-256 comes from `<url>.CHECKSUM` next to the image: OSISM publishes
//!   one for every image (`sha256sum` output, `<hex>  <file name>`; their
//!   `generate-k8s-image-urls.sh --verify` checks downloads against it), and any other
//!   server may follow the same convention. It travels the same way as the image, so it
//!   catches truncated and corrupted transfers and a file replaced between the two, but
//!   not a compromised server: pin `node_image_sha256` for that.
//! - Neither: a problem in the plan naming `node_image_sha256` and how to get it; nothing
//!   is ever uploaded unverified.

use std::path::Path;

use chrono::NaiveDate;
use futures_util::StreamExt;

use super::image::{self, DiskFormat, ImageSpec, ImageTimeouts, Source};
use super::{CloudError, CloudErrorKind};
use crate::settings::{NodeOs, Settings};

/// Base URL of OSISM's node images (see the module doc).
pub const OSISM_IMAGES: &str =
    "https://nbg1.your-objectstorage.com/osism/openstack-k8s-capi-images";

/// Largest checksum file read (they hold one line).
const CHECKSUM_MAX: usize = 64 * 1024;

const GIB: u64 = 1024 * 1024 * 1024;

/// The default image URL for an OS and a concrete Kubernetes version (`v1.30.4`).
pub fn default_url(os: NodeOs, version: &str) -> String {
    let minor = version.rsplit_once('.').map_or(version, |(m, _)| m);
    let os = os.short();
    format!("{OSISM_IMAGES}/ubuntu-{os}-kube-{minor}/ubuntu-{os}-kube-{version}.qcow2")
}

/// `node_image_url`, else the default for the settings' OS and Kubernetes version.
pub fn source_url(settings: &Settings) -> String {
    if settings.node_image_url.is_empty() {
        default_url(
            settings.node_image_os,
            &settings.kubernetes_version.resolve(),
        )
    } else {
        settings.node_image_url.clone()
    }
}

/// `url` without what may be a credential: the user info (`user:pass@`) and the query
/// (signed URLs carry their signature there). For messages, the plan and the image's
/// `image_source` property in Glance; the request itself uses the full URL.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (authority, path) = match rest.find(['/', '?', '#']) {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let path = match path.split_once('?') {
        Some((p, _)) => format!("{p}?<redacted>"),
        None => path.to_string(),
    };
    format!("{scheme}://{host}{path}")
}

/// Where the expected SHA-256 came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChecksumFrom {
    /// `node_image_sha256`.
    Setting,
    /// The checksum file at this URL or path.
    File(String),
}

/// A source that was found and probed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeImageSource {
    /// URL or local path.
    pub url: String,
    /// Expected SHA-256 of the source's bytes (lower-case hex).
    pub sha256: String,
    pub checksum_from: ChecksumFrom,
    /// Format of the bytes (qcow2 magic, else raw).
    pub format: DiskFormat,
    /// qcow2 virtual size in bytes (from the header).
    pub virtual_size: Option<u64>,
    /// Size of the source in bytes, when the server says.
    pub size: Option<u64>,
    /// `Last-Modified` or file date (R4's `image_build_date`).
    pub modified: Option<NaiveDate>,
}

impl NodeImageSource {
    /// GiB the image needs as a disk: the qcow2 virtual size, or the size of raw data,
    /// rounded up (R4 took it from `qemu-img info`); 0 when unknown.
    pub fn min_disk_gib(&self) -> u64 {
        match self.format {
            DiskFormat::Qcow2 => self.virtual_size,
            DiskFormat::Raw => self.size,
        }
        .unwrap_or(0)
        .div_ceil(GIB)
    }

    /// Whether `kube_image_raw` asks for a conversion this source needs (raw data is
    /// uploaded as it is).
    pub fn needs_conversion(&self, settings: &Settings) -> bool {
        settings.kube_image_raw && self.format == DiskFormat::Qcow2
    }

    /// One line for the plan: what is uploaded from where, and how it is checked.
    pub fn describe(&self, settings: &Settings) -> String {
        let what = match (self.format, self.needs_conversion(settings)) {
            (DiskFormat::Qcow2, true) => "qcow2, converted to raw".to_string(),
            (f, _) => f.as_str().to_string(),
        };
        let size = self
            .size
            .map(|s| format!(", {}", crate::ui::human_bytes(s)))
            .unwrap_or_default();
        let from = match &self.checksum_from {
            ChecksumFrom::Setting => "`node_image_sha256`".to_string(),
            ChecksumFrom::File(f) => format!("`{}`", redact_url(f)),
        };
        let clear_text = if self.url.starts_with("http://") {
            match &self.checksum_from {
                ChecksumFrom::File(f) if f.starts_with("http://") => {
                    "; WARNING: image and checksum over plain http, anyone on the path can \
                     replace both: set `node_image_sha256`, or use https"
                }
                _ => "; plain http (the SHA-256 still protects the content)",
            }
        } else {
            ""
        };
        format!(
            "upload from `{}` ({what}{size}, min_disk {} GiB); SHA-256 {}... from {from}{clear_text}",
            redact_url(&self.url),
            self.min_disk_gib(),
            self.sha256.get(..12).unwrap_or(&self.sha256),
        )
    }
}

/// Finds the SHA-256 and probes the source of the node image (read-only: a checksum file
/// and the first bytes of the image).
///
/// # Errors
/// Kind `Config` when no SHA-256 is known (the hint says how to get one) or a checksum file
/// holds none for the image; `Transport` when the source or its checksum file cannot be
/// read (a 404 names the URL).
pub async fn resolve(
    settings: &Settings,
    timeouts: &ImageTimeouts,
) -> Result<NodeImageSource, CloudError> {
    let url = source_url(settings);
    let (sha256, checksum_from) = if settings.node_image_sha256.is_empty() {
        let file = format!("{url}.CHECKSUM");
        match read_checksum_file(&file, timeouts).await? {
            None => {
                return Err(CloudError::config(format!(
                    "no SHA-256 for the node image `{}`: `node_image_sha256` is not set and \
                     there is no `{}`",
                    redact_url(&url),
                    redact_url(&file)
                ))
                .hint(
                    "set `node_image_sha256` to the image's SHA-256 as its publisher lists it, \
                     or to `sha256sum` of a copy you trust",
                ));
            }
            Some(text) => {
                let name = file_name(&url);
                let Some(sha) = parse_checksum(&text, name) else {
                    return Err(CloudError::config(format!(
                        "`{file}` holds no SHA-256 for `{name}`"
                    ))
                    .hint("set `node_image_sha256` to the image's SHA-256"));
                };
                (sha, ChecksumFrom::File(file))
            }
        }
    } else {
        (
            settings.node_image_sha256.trim().to_ascii_lowercase(),
            ChecksumFrom::Setting,
        )
    };
    let mut source = Source::open_head(&url, 512, timeouts).await?;
    let head = source.peek(512).await?;
    let (format, virtual_size) = image::inspect_head(&head);
    Ok(NodeImageSource {
        url,
        sha256,
        checksum_from,
        format,
        virtual_size,
        size: source.total,
        modified: source.modified,
    })
}

/// The upload spec for a cluster: name, R4's metadata with the settings' OS, Kubernetes
/// version and extra properties. The caller sets `tls`, `timeouts`, and for a converted
/// copy its path, SHA-256 and format.
pub fn spec_for(settings: &Settings, source: &NodeImageSource) -> ImageSpec {
    let mut spec = ImageSpec::new(
        &settings.node_image_name(),
        &source.url,
        &source.sha256,
        &settings.kubernetes_version.resolve(),
    );
    spec.metadata.os_version = match settings.node_image_os {
        NodeOs::Ubuntu2204 => "22.04".into(),
        NodeOs::Ubuntu2004 => "20.04".into(),
    };
    spec.extra_properties = settings.node_image_properties.clone();
    spec.disk_format = Some(source.format);
    spec.min_disk_gib = source.min_disk_gib();
    spec.build_date = source.modified;
    spec
}

/// The last path segment of a URL or path.
fn file_name(url: &str) -> &str {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    path.rsplit('/').next().unwrap_or(path)
}

/// The checksum file's text; `None` when it does not exist (404 or no such file).
async fn read_checksum_file(file: &str, t: &ImageTimeouts) -> Result<Option<String>, CloudError> {
    if !image::is_url(file) {
        let path = Path::new(file.strip_prefix("file://").unwrap_or(file));
        return match std::fs::read(path) {
            Ok(b) => Ok(Some(
                String::from_utf8_lossy(&b[..b.len().min(CHECKSUM_MAX)]).into(),
            )),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(CloudError::config(format!("cannot read `{file}`: {e}")).source(e)),
        };
    }
    let fail = |msg: String| CloudError::new(CloudErrorKind::Transport, msg);
    let client = reqwest::Client::builder()
        .connect_timeout(t.connect)
        .timeout(t.connect + t.stall)
        .build()
        .map_err(|e| fail(format!("cannot set up an HTTP client for `{file}`")).source(e))?;
    let resp = client.get(file).send().await.map_err(|e| {
        fail(format!(
            "cannot download `{file}`: {}",
            super::retry::transport_message(&e)
        ))
        .hint("check that the image server is reachable from here (proxy, firewall)")
        .source(e)
    })?;
    let status = resp.status();
    if status == reqwest::StatusCode::NOT_FOUND || status == reqwest::StatusCode::GONE {
        return Ok(None);
    }
    if !status.is_success() {
        return Err(fail(format!(
            "cannot download `{file}`: the server answered {status}"
        )));
    }
    let mut body = Vec::new();
    let mut stream = resp.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| {
            fail(format!(
                "cannot download `{file}`: {}",
                super::retry::transport_message(&e)
            ))
        })?;
        body.extend_from_slice(&chunk);
        if body.len() >= CHECKSUM_MAX {
            body.truncate(CHECKSUM_MAX);
            break;
        }
    }
    Ok(Some(String::from_utf8_lossy(&body).into_owned()))
}

/// The SHA-256 for `name` in a checksum file: GNU lines (`<hex>  <name>`, `<hex> *<name>`),
/// BSD lines (`SHA256 (<name>) = <hex>`), or a lone hash when the file names no file.
fn parse_checksum(text: &str, name: &str) -> Option<String> {
    let is_sha = |s: &str| s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit());
    let mut lone = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if let Some(rest) = line.strip_prefix("SHA256 (")
            && let Some((file, hash)) = rest.split_once(") = ")
        {
            if file_name(file) == name && is_sha(hash.trim()) {
                return Some(hash.trim().to_ascii_lowercase());
            }
            continue;
        }
        let mut parts = line.splitn(2, char::is_whitespace);
        let hash = parts.next().unwrap_or_default();
        if !is_sha(hash) {
            continue;
        }
        match parts.next().map(|f| f.trim().trim_start_matches('*')) {
            Some(file) if !file.is_empty() => {
                if file_name(file) == name {
                    return Some(hash.to_ascii_lowercase());
                }
            }
            _ => lone.push(hash.to_ascii_lowercase()),
        }
    }
    match lone.as_slice() {
        [one] => Some(one.clone()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_shown_without_credentials() {
        assert_eq!(
            redact_url("https://user:hunter2@images.example.com/a/b.qcow2"),
            "https://images.example.com/a/b.qcow2"
        );
        assert_eq!(
            redact_url("https://s3.example.com/b.qcow2?X-Amz-Signature=abc&X-Amz-Credential=k"),
            "https://s3.example.com/b.qcow2?<redacted>"
        );
        assert_eq!(redact_url("http://h:8080/x"), "http://h:8080/x");
        assert_eq!(redact_url("/local/file.qcow2"), "/local/file.qcow2");
    }

    #[test]
    fn default_url_is_osism_layout() {
        assert_eq!(
            default_url(NodeOs::Ubuntu2204, "v1.30.4"),
            "https://nbg1.your-objectstorage.com/osism/openstack-k8s-capi-images/\
             ubuntu-2204-kube-v1.30/ubuntu-2204-kube-v1.30.4.qcow2"
        );
        assert!(
            default_url(NodeOs::Ubuntu2004, "v1.25.16")
                .ends_with("/ubuntu-2004-kube-v1.25/ubuntu-2004-kube-v1.25.16.qcow2")
        );
    }

    #[test]
    fn checksum_formats() {
        let h = "a".repeat(64);
        let other = "b".repeat(64);
        let name = "ubuntu-2204-kube-v1.30.4.qcow2";
        assert_eq!(
            parse_checksum(&format!("{h}  {name}\n"), name),
            Some(h.clone())
        );
        assert_eq!(
            parse_checksum(&format!("{other}  x.qcow2\n{h} *./{name}\n"), name),
            Some(h.clone())
        );
        assert_eq!(
            parse_checksum(&format!("SHA256 ({name}) = {}\n", h.to_uppercase()), name),
            Some(h.clone())
        );
        assert_eq!(parse_checksum(&format!("{h}\n"), name), Some(h.clone()));
        // Another file's hash is never taken for ours.
        assert_eq!(parse_checksum(&format!("{other}  x.qcow2\n"), name), None);
        assert_eq!(parse_checksum("<html>not found</html>", name), None);
        assert_eq!(parse_checksum(&format!("{h}\n{other}\n"), name), None);
    }

    #[test]
    fn file_names() {
        assert_eq!(file_name("https://h/a/b.qcow2?x=1"), "b.qcow2");
        assert_eq!(file_name("/tmp/c.img"), "c.img");
    }
}
