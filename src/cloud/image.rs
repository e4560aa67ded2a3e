//! The node image in Glance: adopt an existing active image, or upload one by streaming it
//! from a URL (or a local file) with SHA-256 verification, then wait until it is `active`.
//!
//! Owns: [`ensure_image`] and what it needs: finding images by name, creating the image with
//! the SCS image metadata R4 set (`upload_capi_image.sh`: `image_build_date`,
//! `image_original_user`, `architecture`, `hypervisor_type`, `os_distro`, `os_version`,
//! `hw_disk_bus`, `hw_scsi_model`, `hw_rng_model`, `image_source`, `image_description`,
//! `kubernetes_version`, `replace_frequency`, `provided_until`, `uuid_validity`, tag
//! `managed_by_osism`) plus the settings' extra properties, the streamed upload, the
//! checksum check, the wait, and deleting the image again when anything after its creation
//! fails. It does not decide *which* image a cluster uses or where to download it from (the
//! settings and `prepare-cloud` do), and it never prints: progress goes to a
//! [`Progress`](crate::ui::Progress).
//!
//! How the upload works, and why:
//! - The source is opened first (HTTP `GET` or a file) and its first bytes are read before
//!   anything is created: a 404 or an unreachable host leaves nothing behind, a qcow2 file
//!   declared `raw` (or the reverse) is refused, and a qcow2 header gives the virtual size
//!   for `min_disk` (what R4 got from `qemu-img info`).
//! - The bytes flow source -> SHA-256 -> `PUT /v2/images/{id}/file` with chunked transfer
//!   encoding; nothing is buffered beyond the HTTP stacks' own buffers, so memory stays flat
//!   whatever the image size.
//! - Glance makes an image `active` as soon as the request body ends. So the end of the
//!   body is held back until the digest is known: on a mismatch the body stream fails
//!   instead of ending, the HTTP client aborts the request without the final chunk, Glance
//!   sees an interrupted upload, and the image is deleted. An image with a wrong checksum
//!   is never `active`; should Glance report it active anyway, it is deleted all the same.
//! - The `PUT` goes through a `reqwest` client of its own with the session's token, not
//!   through `openstack_sdk`: the SDK's HTTP client has a *total* request timeout
//!   (`api_timeout`, 30 s by default), which a multi-GiB upload exceeds. Timeouts here are
//!   for connecting and for stalls (no byte moved for [`ImageTimeouts::stall`]), never for
//!   the whole transfer. The client honours the cloud's `cacert`/`verify` via [`GlanceTls`].
//! - While uploading, the image is named `<name>.uploading` and carries
//!   `scs_capi_upload=in-progress` and its owner; it gets its final name once active. That
//!   marker is the cross-process guard against two uploads of one image (see
//!   [`ensure_image`]); a signal aborts the upload and deletes the image; a leftover of a
//!   killed run is removed by the next run.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use chrono::{Datelike, NaiveDate};
use futures_util::{Stream, StreamExt, TryStreamExt};
use openstack_sdk::RestError;
use openstack_sdk::api::image::v2::image::{create, delete, get, list};
use openstack_sdk::api::{ApiError, Pagination, QueryAsync, ignore, paged};
use secrecy::ExposeSecret;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::config::ResolvedCloud;
use super::{CloudError, CloudErrorKind, Session};
use crate::ui::{Progress, human_bytes};

const GIB: u64 = 1024 * 1024 * 1024;

/// The image format as Glance records it (`disk_format`); the container is always `bare`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiskFormat {
    Qcow2,
    Raw,
}

impl DiskFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            DiskFormat::Qcow2 => "qcow2",
            DiskFormat::Raw => "raw",
        }
    }
}

/// Timeouts of one [`ensure_image`].
#[derive(Debug, Clone, Copy)]
pub struct ImageTimeouts {
    /// TCP/TLS connect to the source and to Glance. Default 10 s.
    pub connect: Duration,
    /// No byte moved from the source to Glance for this long: give up. Default 60 s.
    pub stall: Duration,
    /// How long to wait for `active` after the data is in (and for an upload someone else
    /// is running to finish). Default 10 min.
    pub active: Duration,
    /// After creating the in-flight image, wait this long before checking for rival
    /// uploads of the same image (more than Glance's one-second `created_at` resolution
    /// plus clock skew between API nodes). Default 2 s.
    pub settle: Duration,
    /// An in-flight image still `queued` (no data moving) this long after its last update
    /// is a leftover: removed, and the upload starts again. Default 10 min.
    pub queued_stale: Duration,
    /// An in-flight image `saving` this long after its last update is a leftover too
    /// (longer than any upload takes). Default 6 h.
    pub upload_stale: Duration,
    /// Poll interval while waiting for another run's upload. Default 2 s.
    pub poll: Duration,
}

impl Default for ImageTimeouts {
    fn default() -> Self {
        ImageTimeouts {
            connect: Duration::from_secs(10),
            stall: Duration::from_secs(60),
            active: Duration::from_secs(600),
            settle: Duration::from_secs(2),
            queued_stale: Duration::from_secs(600),
            upload_stale: Duration::from_secs(6 * 3600),
            poll: Duration::from_secs(2),
        }
    }
}

/// TLS settings for the upload client: the cloud's `verify` and `cacert`.
#[derive(Debug, Clone)]
pub struct GlanceTls {
    pub verify: bool,
    pub cacert: Option<PathBuf>,
}

impl Default for GlanceTls {
    fn default() -> Self {
        GlanceTls {
            verify: true,
            cacert: None,
        }
    }
}

impl GlanceTls {
    /// The TLS settings of `cloud` (what the session itself uses).
    pub fn from_cloud(cloud: &ResolvedCloud) -> Self {
        GlanceTls {
            verify: cloud.verify,
            cacert: cloud.cacert.clone(),
        }
    }
}

/// What R4 recorded about the operating system and Kubernetes inside the image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageMetadata {
    /// `os_distro` (`ubuntu`).
    pub os_distro: String,
    /// `os_version` (`22.04`).
    pub os_version: String,
    /// `image_original_user` (`ubuntu`).
    pub original_user: String,
    /// `kubernetes_version` (`v1.30.4`).
    pub kubernetes_version: String,
    /// `image_description` (R4: the image build repository).
    pub description: String,
}

/// The image to ensure.
#[derive(Debug, Clone)]
pub struct ImageSpec {
    /// Glance name.
    pub name: String,
    /// `http://`/`https://` URL, `file://` URL or local path.
    pub source: String,
    /// SHA-256 of the source's bytes, 64 hex digits.
    pub sha256: String,
    /// Format of the source's bytes; `None` = detect (qcow2 magic, else raw). No conversion
    /// happens: a qcow2 source declared `raw` is refused.
    pub disk_format: Option<DiskFormat>,
    /// GiB; the larger of this and what the data needs (qcow2 virtual size, raw size).
    pub min_disk_gib: u64,
    /// MiB (R4: 1024).
    pub min_ram_mib: u64,
    pub metadata: ImageMetadata,
    /// Further properties (settings `node_image_properties`); they win over the ones above.
    pub extra_properties: BTreeMap<String, String>,
    /// Glance tags (R4: `managed_by_osism`).
    pub tags: Vec<String>,
    /// Where the bytes originally came from, recorded as `image_source`; `None` = `source`.
    /// Set when `source` is a local copy (the raw conversion of a downloaded qcow2).
    pub origin: Option<String>,
    /// `image_build_date` (and, a year later, `provided_until`); `None` = the source's
    /// `Last-Modified` or file date, as R4 took it from the downloaded file.
    pub build_date: Option<NaiveDate>,
    pub timeouts: ImageTimeouts,
    pub tls: GlanceTls,
}

impl ImageSpec {
    /// A spec with R4's defaults for an Ubuntu 22.04 node image.
    pub fn new(name: &str, source: &str, sha256: &str, kubernetes_version: &str) -> Self {
        ImageSpec {
            name: name.to_string(),
            source: source.to_string(),
            sha256: sha256.trim().to_ascii_lowercase(),
            disk_format: None,
            min_disk_gib: 0,
            min_ram_mib: 1024,
            metadata: ImageMetadata {
                os_distro: "ubuntu".into(),
                os_version: "22.04".into(),
                original_user: "ubuntu".into(),
                kubernetes_version: kubernetes_version.to_string(),
                description: "https://github.com/osism/k8s-capi-images".into(),
            },
            extra_properties: BTreeMap::new(),
            tags: vec!["managed_by_osism".into()],
            origin: None,
            build_date: None,
            timeouts: ImageTimeouts::default(),
            tls: GlanceTls::default(),
        }
    }

    fn validate(&self) -> Result<(), CloudError> {
        if self.name.trim().is_empty() {
            return Err(CloudError::config("the node image has an empty name"));
        }
        if self.sha256.len() != 64 || !self.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(CloudError::config(format!(
                "`{}` is not a SHA-256 (64 hex digits) for image `{}`",
                self.sha256, self.name
            ))
            .hint("set `node_image_sha256` to the image's `sha256sum`"));
        }
        Ok(())
    }
}

/// The format of image data from its first bytes (the qcow2 magic, else raw) and, for
/// qcow2, the virtual disk size in bytes from the header.
pub(crate) fn inspect_head(head: &[u8]) -> (DiskFormat, Option<u64>) {
    if head.len() >= 4 && head[..4] == *b"QFI\xfb" {
        let size = head.get(24..32).map(|b| {
            let mut size = [0u8; 8];
            size.copy_from_slice(b);
            u64::from_be_bytes(size)
        });
        (DiskFormat::Qcow2, size)
    } else {
        (DiskFormat::Raw, None)
    }
}

/// How [`ensure_image`] got the image.
#[derive(Debug, Clone, PartialEq)]
pub enum ImageOutcome {
    /// It was there and active; nothing was uploaded.
    Adopted,
    /// Uploaded now: bytes and seconds of the transfer.
    Uploaded { bytes: u64, seconds: f64 },
}

/// An active image.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageInfo {
    pub id: String,
    pub name: String,
    pub status: String,
    pub size: Option<u64>,
    pub min_disk: u64,
    pub disk_format: Option<String>,
    /// Glance's MD5 `checksum`.
    pub checksum: Option<String>,
    pub os_hash_algo: Option<String>,
    pub os_hash_value: Option<String>,
    pub outcome: ImageOutcome,
}

impl ImageInfo {
    fn from_value(v: &Value, outcome: ImageOutcome) -> Self {
        let s = |k: &str| v.get(k).and_then(Value::as_str).map(String::from);
        ImageInfo {
            id: s("id").unwrap_or_default(),
            name: s("name").unwrap_or_default(),
            status: s("status").unwrap_or_default(),
            size: v.get("size").and_then(Value::as_u64),
            min_disk: v.get("min_disk").and_then(Value::as_u64).unwrap_or(0),
            disk_format: s("disk_format"),
            checksum: s("checksum"),
            os_hash_algo: s("os_hash_algo"),
            os_hash_value: s("os_hash_value"),
            outcome,
        }
    }
}

/// Suffix of the name an image carries while its data is uploaded: CAPO (which looks
/// images up by their exact name) never sees a half image, and other runs see the upload.
pub const UPLOADING_SUFFIX: &str = ".uploading";
/// Property of an in-flight image (`in-progress`); removed when it gets its final name.
pub const UPLOAD_PROPERTY: &str = "scs_capi_upload";
/// Property of an in-flight image: who uploads it (`HOST pid PID`), so a re-run on the
/// same host knows a leftover of an interrupted run at once.
pub const OWNER_PROPERTY: &str = "scs_capi_upload_owner";

/// The name of image `name` while it is uploaded.
pub fn in_flight_name(name: &str) -> String {
    format!("{name}{UPLOADING_SUFFIX}")
}

/// Makes sure an active image named `spec.name` exists and returns it.
///
/// - An active image with that name is adopted (nothing is downloaded); when several
///   images share the name, an active one is chosen, never a non-active one, and
///   leftovers (see below) of that name are removed.
/// - The upload is guarded in Glance itself, so two runs (of different clusters, on
///   different machines) never upload the same image twice: the image is created as
///   `<name>.uploading` (property `scs_capi_upload=in-progress`, [`OWNER_PROPERTY`] naming
///   this process), uploaded, and renamed to `<name>` once active. A run that finds a live
///   in-flight image waits for it and adopts the result. Two runs that create their
///   in-flight images at the same moment both wait [`ImageTimeouts::settle`], list them,
///   and all but the oldest (by `created_at`, then id) delete theirs and wait.
/// - A leftover is removed, saying so, and the upload starts again: an in-flight image
///   left by a dead process of this host, `killed`, `queued` longer than
///   [`ImageTimeouts::queued_stale`] or `saving` longer than [`ImageTimeouts::upload_stale`];
///   the same for non-active images of the final name (what older versions left).
/// - A fresh `queued`, a `deactivated` or otherwise unusable image of the final name is an
///   error with a hint: it is not ours to delete (yet).
/// - SIGINT/SIGTERM ([`crate::interrupt`]) aborts the upload or the wait; the in-flight
///   image of this run is deleted; the error has kind `Interrupted`.
///
/// # Errors
/// Kind `Config` for a bad spec, an unusable existing image or a format mismatch;
/// `Transport` when the source cannot be read or the transfer stalls; `Api` for Glance's
/// refusals and a SHA-256 mismatch; `Interrupted` on a signal. Whenever an image was
/// created by this call and the call fails, the image has been deleted (the error says so
/// if that failed too).
pub async fn ensure_image(
    session: &Session,
    spec: &ImageSpec,
    progress: &dyn Progress,
) -> Result<ImageInfo, CloudError> {
    spec.validate()?;
    let cloud = session.cloud_name().to_string();
    let glance = Glance {
        session,
        cloud: &cloud,
    };
    progress.phase(&format!("looking for image `{}`", spec.name));
    let started = Instant::now();
    let mut waited = false;
    // Each round: adopt, wait for another run, or upload; yielding to a rival that created
    // its in-flight image at the same moment starts a new round (bounded, in case Glance
    // behaves oddly).
    for _ in 0..10 {
        match ensure_round(&glance, spec, progress, started, &mut waited).await? {
            Some(info) => return Ok(info),
            None => continue,
        }
    }
    Err(CloudError::new(
        CloudErrorKind::Api,
        format!(
            "image `{}` on cloud `{cloud}`: gave up after 10 rounds of competing uploads",
            spec.name
        ),
    )
    .hint(format!(
        "look at `openstack --os-cloud {cloud} image list --name {}` and run again",
        in_flight_name(&spec.name)
    )))
}

/// Why an image is a leftover nobody will finish, or `None` if it may still be in use.
fn stale_reason(v: &Value, t: &ImageTimeouts) -> Option<String> {
    let status = str_field(v, "status");
    if let Some(owner) = v.get(OWNER_PROPERTY).and_then(Value::as_str)
        && matches!(
            status.as_str(),
            "queued" | "saving" | "importing" | "uploading"
        )
        && owner_is_dead(owner)
    {
        return Some(format!("`{status}`, left by an interrupted run ({owner})"));
    }
    let age = age_of(v);
    let old = |limit: Duration| age.is_some_and(|a| a >= limit);
    match status.as_str() {
        "killed" => Some("`killed` (its upload failed)".into()),
        "queued" if old(t.queued_stale) => Some(format!(
            "`queued` without data for {}",
            age.map(human_age).unwrap_or_default()
        )),
        "saving" | "importing" | "uploading" if old(t.upload_stale) => Some(format!(
            "`{status}` for {}, longer than an upload takes",
            age.map(human_age).unwrap_or_default()
        )),
        _ => None,
    }
}

/// Time since the image's `updated_at` (else `created_at`), by this machine's clock.
fn age_of(v: &Value) -> Option<Duration> {
    let at = v
        .get("updated_at")
        .or_else(|| v.get("created_at"))
        .and_then(Value::as_str)?;
    let at = chrono::DateTime::parse_from_rfc3339(at).ok()?;
    (chrono::Utc::now() - at.with_timezone(&chrono::Utc))
        .to_std()
        .ok()
}

fn human_age(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 3600 {
        format!("{}h{}m", s / 3600, s % 3600 / 60)
    } else if s >= 60 {
        format!("{}m{}s", s / 60, s % 60)
    } else {
        format!("{s}s")
    }
}

/// `HOST pid PID` of this process.
fn owner_tag() -> String {
    format!("{} pid {}", host_name(), std::process::id())
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown-host".into())
}

/// Whether `owner` (`HOST pid PID`) names a process of this host that no longer runs.
/// Only where `/proc` tells (Linux); elsewhere, and for other hosts, the age decides.
fn owner_is_dead(owner: &str) -> bool {
    let Some((host, pid)) = owner.rsplit_once(" pid ") else {
        return false;
    };
    let Ok(pid) = pid.trim().parse::<u32>() else {
        return false;
    };
    if host != host_name() || pid == std::process::id() {
        return false;
    }
    let proc = std::path::Path::new("/proc");
    proc.join("self").exists() && !proc.join(pid.to_string()).exists()
}

fn interrupted_error(spec: &ImageSpec, what: &str) -> CloudError {
    let sig = crate::interrupt::signal().unwrap_or(crate::interrupt::SIGINT);
    CloudError::new(
        CloudErrorKind::Interrupted,
        format!(
            "interrupted by {} {what} image `{}`",
            crate::interrupt::signal_name(sig),
            spec.name
        ),
    )
}

/// Deletes this run's in-flight image `id` after a failure `e`; the error says so if
/// that failed too.
async fn delete_ours(
    glance: &Glance<'_>,
    spec: &ImageSpec,
    id: &str,
    e: CloudError,
    progress: &dyn Progress,
) -> CloudError {
    match glance.delete(id).await {
        Ok(()) => {
            progress.message(&format!(
                "deleted the incomplete image `{}` ({id})",
                in_flight_name(&spec.name)
            ));
            e
        }
        Err(d) => {
            let hint = format!(
                "the image was not deleted ({}); delete it with `openstack --os-cloud {} image \
                 delete {id}`",
                d.message, glance.cloud
            );
            CloudError {
                hint: Some(hint),
                ..e
            }
        }
    }
}

/// Sleeps `d`, or returns `false` at once on a signal.
async fn sleep_unless_interrupted(d: Duration) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(d) => true,
        _ = crate::interrupt::interrupted() => false,
    }
}

/// One round of [`ensure_image`]: `Some` = done, `None` = yielded to a rival; try again.
async fn ensure_round(
    glance: &Glance<'_>,
    spec: &ImageSpec,
    progress: &dyn Progress,
    started: Instant,
    waited: &mut bool,
) -> Result<Option<ImageInfo>, CloudError> {
    let cloud = glance.cloud;
    let inflight = in_flight_name(&spec.name);
    loop {
        if crate::interrupt::signal().is_some() {
            return Err(interrupted_error(spec, "before uploading"));
        }
        // In-flight images first, then the final name: the rename moves an image from the
        // first list to the second, so it is never missed by both.
        let uploads = glance.find_by_name(&inflight).await?;
        let existing = glance.find_by_name(&spec.name).await?;
        let mut live: Vec<&Value> = Vec::new();
        let mut blocking: Option<&Value> = None;
        let mut stale: Vec<(&Value, String)> = Vec::new();
        for u in &uploads {
            match stale_reason(u, &spec.timeouts) {
                Some(why) => stale.push((u, why)),
                None => live.push(u),
            }
        }
        let active: Vec<&Value> = existing
            .iter()
            .filter(|v| str_field(v, "status") == "active")
            .collect();
        for v in existing
            .iter()
            .filter(|v| str_field(v, "status") != "active")
        {
            match stale_reason(v, &spec.timeouts) {
                Some(why) => stale.push((v, why)),
                None if matches!(
                    str_field(v, "status").as_str(),
                    "saving" | "importing" | "uploading"
                ) =>
                {
                    live.push(v)
                }
                None => {
                    blocking.get_or_insert(v);
                }
            }
        }
        // Leftovers go whatever else is there: they block CAPO's lookup by name.
        for (v, why) in &stale {
            let id = str_field(v, "id");
            let name = str_field(v, "name");
            glance.delete(&id).await?;
            progress.message(&format!(
                "removed image `{name}` ({id}): {why}; a new upload replaces it"
            ));
        }
        if let Some(img) = crate::cloud::api::newest_preferring_active(active.clone()) {
            let info = ImageInfo::from_value(img, ImageOutcome::Adopted);
            if active.len() > 1 || blocking.is_some() || !live.is_empty() {
                progress.message(&format!(
                    "{} images are named `{}`; using the active one `{}`",
                    existing.len(),
                    spec.name,
                    info.id
                ));
            }
            progress.finish(&format!(
                "image `{}` exists and is active ({})",
                spec.name, info.id
            ));
            return Ok(Some(info));
        }
        if let Some(other) = live.first() {
            let id = str_field(other, "id");
            if !*waited {
                progress.message(&format!(
                    "image `{}` is being uploaded by another run (`{}` {id}, `{}`); waiting \
                     for it",
                    spec.name,
                    str_field(other, "name"),
                    str_field(other, "status")
                ));
                *waited = true;
            }
            let limit = spec.timeouts.upload_stale + spec.timeouts.active;
            if started.elapsed() > limit {
                return Err(CloudError::new(
                    CloudErrorKind::Transport,
                    format!(
                        "image `{}` on cloud `{cloud}`: the upload of another run ({id}) did \
                         not finish within {}",
                        spec.name,
                        human_age(limit)
                    ),
                )
                .hint(format!(
                    "watch it with `openstack --os-cloud {cloud} image show {id}`; delete it \
                     if no upload is running, and run again"
                )));
            }
            if !sleep_unless_interrupted(spec.timeouts.poll).await {
                return Err(interrupted_error(spec, "while waiting for the upload of"));
            }
            continue;
        }
        if let Some(img) = blocking {
            let id = str_field(img, "id");
            let status = str_field(img, "status");
            let why = match status.as_str() {
                "queued" => "it has no data (an upload was interrupted, or is about to start)",
                "deactivated" => "an admin deactivated it",
                _ => "it is not usable",
            };
            progress.finish(&format!("image `{}` is `{status}`", spec.name));
            return Err(CloudError::config(format!(
                "image `{}` ({id}) on cloud `{cloud}` is `{status}`: {why}",
                spec.name
            ))
            .hint(format!(
                "if no upload is running, delete it (`openstack --os-cloud {cloud} image delete \
                 {id}`) and run again (a `queued` one is removed by itself after {}); or set \
                 `node_image` to another, active image",
                human_age(spec.timeouts.queued_stale)
            )));
        }
        break;
    }
    progress.finish(&format!("image `{}` is missing; uploading it", spec.name));

    let mut source = Source::open(&spec.source, &spec.timeouts).await?;
    let head = source.peek(512).await?;
    let (detected, virtual_size) = inspect_head(&head);
    let format = match spec.disk_format {
        Some(f) if f != detected => {
            return Err(CloudError::config(format!(
                "`{}` holds {} data, but image `{}` is to be `{}`",
                spec.source,
                if detected == DiskFormat::Qcow2 {
                    "qcow2"
                } else {
                    "non-qcow2 (raw)"
                },
                spec.name,
                f.as_str()
            ))
            .hint("convert it first (`qemu-img convert -O raw`), or upload it as it is"));
        }
        _ => detected,
    };
    let needed = match format {
        DiskFormat::Qcow2 => virtual_size.unwrap_or(0).div_ceil(GIB),
        DiskFormat::Raw => source.total.unwrap_or(0).div_ceil(GIB),
    };
    let min_disk = spec.min_disk_gib.max(needed);
    let build_date = spec
        .build_date
        .or(source.modified)
        .unwrap_or_else(|| chrono::Utc::now().date_naive());
    let properties = properties(spec, build_date);

    progress.phase(&format!("creating image `{inflight}`"));
    let mut properties = properties;
    properties.insert(UPLOAD_PROPERTY.into(), "in-progress".into());
    properties.insert(OWNER_PROPERTY.into(), owner_tag());
    let created = glance
        .create(spec, &inflight, format, min_disk, &properties)
        .await?;
    let id = str_field(&created, "id");
    progress.finish(&format!("created image `{inflight}` ({id})"));

    // The guard: of the in-flight images created about now, the oldest uploads.
    if !sleep_unless_interrupted(spec.timeouts.settle).await {
        let e = interrupted_error(spec, "before uploading");
        return Err(delete_ours(glance, spec, &id, e, progress).await);
    }
    let rivals = match glance.find_by_name(&inflight).await {
        Ok(r) => r,
        Err(e) => return Err(delete_ours(glance, spec, &id, e, progress).await),
    };
    let winner = rivals
        .iter()
        .filter(|v| str_field(v, "id") == id || stale_reason(v, &spec.timeouts).is_none())
        .min_by_key(|v| (str_field(v, "created_at"), str_field(v, "id")))
        .map(|v| str_field(v, "id"));
    if winner.as_deref().is_some_and(|w| w != id) {
        progress.message(&format!(
            "another run started uploading image `{}` at the same time; leaving it to that run",
            spec.name
        ));
        glance.delete(&id).await?;
        return Ok(None);
    }

    let result = upload_and_wait(glance, spec, &id, source, progress).await;
    let result = match result {
        Ok(info) => glance.finish_upload(spec, &id).await.map(|()| ImageInfo {
            name: spec.name.clone(),
            ..info
        }),
        Err(e) => Err(e),
    };
    match result {
        Ok(info) => {
            progress.message(&format!("image `{}` ({id}) is active", spec.name));
            Ok(Some(info))
        }
        Err(e) => Err(delete_ours(glance, spec, &id, e, progress).await),
    }
}

async fn upload_and_wait(
    glance: &Glance<'_>,
    spec: &ImageSpec,
    id: &str,
    source: Source,
    progress: &dyn Progress,
) -> Result<ImageInfo, CloudError> {
    let started = Instant::now();
    let sent = glance.upload(spec, id, source, progress).await?;
    let seconds = started.elapsed().as_secs_f64();
    let v = glance
        .wait_active(id, &spec.name, spec.timeouts.active, progress)
        .await?;
    let info = ImageInfo::from_value(
        &v,
        ImageOutcome::Uploaded {
            bytes: sent,
            seconds,
        },
    );
    if let Some(size) = info.size
        && size != sent
    {
        return Err(CloudError::new(
            CloudErrorKind::Api,
            format!(
                "Glance stored {size} bytes for image `{}` ({id}) on cloud `{}`, but {sent} were sent",
                spec.name, glance.cloud
            ),
        ));
    }
    Ok(info)
}

/// SCS/R4 properties plus the spec's extra ones (which win).
fn properties(spec: &ImageSpec, build_date: NaiveDate) -> BTreeMap<String, String> {
    let until = one_year_after(build_date).format("%Y-%m-%d").to_string();
    let m = &spec.metadata;
    let mut p: BTreeMap<String, String> = [
        (
            "image_build_date",
            build_date.format("%Y-%m-%d").to_string(),
        ),
        ("image_original_user", m.original_user.clone()),
        ("architecture", "x86_64".into()),
        ("hypervisor_type", "kvm".into()),
        ("os_distro", m.os_distro.clone()),
        ("os_version", m.os_version.clone()),
        ("hw_disk_bus", "scsi".into()),
        ("hw_scsi_model", "virtio-scsi".into()),
        ("hw_rng_model", "virtio".into()),
        (
            "image_source",
            super::image_source::redact_url(spec.origin.as_deref().unwrap_or(&spec.source)),
        ),
        ("image_description", m.description.clone()),
        ("kubernetes_version", m.kubernetes_version.clone()),
        ("replace_frequency", "never".into()),
        ("provided_until", until.clone()),
        ("uuid_validity", until),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    p.extend(spec.extra_properties.clone());
    p
}

/// Same day next year; 29 February becomes 1 March (as R4 did).
fn one_year_after(d: NaiveDate) -> NaiveDate {
    d.with_year(d.year() + 1)
        .or_else(|| NaiveDate::from_ymd_opt(d.year() + 1, 3, 1))
        .unwrap_or(d)
}

fn str_field(v: &Value, k: &str) -> String {
    v.get(k)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

// ---------------------------------------------------------------------------------------
// Source
// ---------------------------------------------------------------------------------------

pub(crate) type ByteStream = Pin<Box<dyn Stream<Item = std::io::Result<Bytes>> + Send>>;

/// An opened source: the byte stream (after any peeked chunks), its size if known, and its
/// modification date (HTTP `Last-Modified` or file mtime). Also used by
/// [`super::image_source`] (probing) and [`super::image_convert`] (download to a file).
pub(crate) struct Source {
    pub(crate) display: String,
    peeked: Vec<Bytes>,
    stream: ByteStream,
    /// Size of the whole source (also when only its head was requested).
    pub(crate) total: Option<u64>,
    pub(crate) modified: Option<NaiveDate>,
}

/// Whether `source` is fetched over HTTP(S) (else it is a local path or `file://` URL).
pub(crate) fn is_url(source: &str) -> bool {
    source.starts_with("http://") || source.starts_with("https://")
}

impl Source {
    pub(crate) async fn open(source: &str, t: &ImageTimeouts) -> Result<Source, CloudError> {
        if is_url(source) {
            Self::open_url(source, t, None).await
        } else {
            Self::open_file(source.strip_prefix("file://").unwrap_or(source)).await
        }
    }

    /// Like [`Source::open`], but asks an HTTP server for the first `len` bytes only
    /// (`Range`); a server that ignores the range sends everything, and the caller reads
    /// what it needs and drops the rest.
    pub(crate) async fn open_head(
        source: &str,
        len: u64,
        t: &ImageTimeouts,
    ) -> Result<Source, CloudError> {
        if is_url(source) {
            Self::open_url(source, t, Some(len)).await
        } else {
            Self::open_file(source.strip_prefix("file://").unwrap_or(source)).await
        }
    }

    async fn open_url(
        url: &str,
        t: &ImageTimeouts,
        head: Option<u64>,
    ) -> Result<Source, CloudError> {
        let fail = |what: String| CloudError::new(CloudErrorKind::Transport, what);
        // Messages name the URL without credentials in it (`user:pass@`, a signed query).
        let shown = super::image_source::redact_url(url);
        // No total timeout: only connect and per-read (stall) timeouts. Bytes must arrive
        // as served, so no transparent decompression.
        let client = reqwest::Client::builder()
            .connect_timeout(t.connect)
            .read_timeout(t.stall)
            .no_gzip()
            .no_deflate()
            .no_brotli()
            .no_zstd()
            .build()
            .map_err(|e| {
                fail(format!("cannot set up an HTTP client for `{shown}`")).source(e.without_url())
            })?;
        let mut req = client.get(url);
        if let Some(len) = head {
            req = req.header(
                reqwest::header::RANGE,
                format!("bytes=0-{}", len.max(1) - 1),
            );
        }
        let resp = tokio::time::timeout(t.connect + t.stall, req.send())
            .await
            .map_err(|_| {
                fail(format!(
                    "downloading the node image from `{shown}` timed out waiting for an answer"
                ))
                .hint("check that the URL is reachable from here (proxy, firewall)")
            })?
            .map_err(|e| {
                fail(format!(
                    "cannot download the node image from `{shown}`: {}",
                    crate::cloud::retry::transport_message(&e)
                ))
                .hint("check the URL in `node_image_url` and that it is reachable from here")
                .source(e.without_url())
            })?;
        let status = resp.status();
        if !status.is_success() {
            let hint = if status == reqwest::StatusCode::NOT_FOUND {
                "check `node_image_url`: the server has no such file (a typo, or an image \
                 that was never published for this Kubernetes version)"
            } else {
                "check `node_image_url` and whether the server needs credentials"
            };
            return Err(CloudError::new(
                CloudErrorKind::Transport,
                format!(
                    "cannot download the node image from `{shown}`: the server answered {status}"
                ),
            )
            .hint(hint));
        }
        // A partial answer names the whole size in `Content-Range: bytes 0-N/TOTAL`.
        let total = if status == reqwest::StatusCode::PARTIAL_CONTENT {
            resp.headers()
                .get(reqwest::header::CONTENT_RANGE)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.rsplit_once('/'))
                .and_then(|(_, total)| total.trim().parse().ok())
        } else {
            resp.content_length()
        };
        let modified = resp
            .headers()
            .get(reqwest::header::LAST_MODIFIED)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| chrono::DateTime::parse_from_rfc2822(v).ok())
            .map(|d| d.date_naive());
        let stream = resp.bytes_stream().map_err(|e| {
            let kind = if e.is_timeout() {
                std::io::ErrorKind::TimedOut
            } else {
                std::io::ErrorKind::Other
            };
            std::io::Error::new(kind, crate::cloud::retry::transport_message(&e))
        });
        Ok(Source {
            display: shown,
            peeked: Vec::new(),
            stream: Box::pin(stream),
            total,
            modified,
        })
    }

    async fn open_file(path: &str) -> Result<Source, CloudError> {
        let fail = |e: std::io::Error| {
            CloudError::new(
                CloudErrorKind::Config,
                format!("cannot read the node image `{path}`: {e}"),
            )
            .hint("check `node_image_url`: a local path must name a readable file")
            .source(e)
        };
        let file = tokio::fs::File::open(path).await.map_err(fail)?;
        let meta = file.metadata().await.map_err(fail)?;
        let modified = meta
            .modified()
            .ok()
            .map(|m| chrono::DateTime::<chrono::Utc>::from(m).date_naive());
        let stream = futures_util::stream::try_unfold(file, |mut f| async move {
            use tokio::io::AsyncReadExt;
            let mut buf = bytes::BytesMut::with_capacity(256 * 1024);
            let n = f.read_buf(&mut buf).await?;
            Ok(if n == 0 {
                None
            } else {
                Some((buf.freeze(), f))
            })
        });
        Ok(Source {
            display: path.to_string(),
            peeked: Vec::new(),
            stream: Box::pin(stream),
            total: Some(meta.len()),
            modified,
        })
    }

    /// The first `n` bytes (fewer at the end of the data); they stay in the stream.
    pub(crate) async fn peek(&mut self, n: usize) -> Result<Vec<u8>, CloudError> {
        let mut have: usize = self.peeked.iter().map(Bytes::len).sum();
        while have < n {
            match self.stream.next().await {
                Some(Ok(b)) => {
                    have += b.len();
                    self.peeked.push(b);
                }
                Some(Err(e)) => {
                    return Err(CloudError::new(
                        CloudErrorKind::Transport,
                        format!("cannot read the node image from `{}`: {e}", self.display),
                    )
                    .source(e));
                }
                None => break,
            }
        }
        Ok(self
            .peeked
            .iter()
            .flat_map(|b| b.iter().copied())
            .take(n)
            .collect())
    }

    pub(crate) fn into_stream(self) -> ByteStream {
        let head = futures_util::stream::iter(self.peeked.into_iter().map(Ok));
        Box::pin(head.chain(self.stream))
    }
}

/// Shared between the body stream (in the HTTP client's task) and the upload loop.
#[derive(Default)]
struct Transfer {
    bytes: AtomicU64,
    body_done: AtomicBool,
    end: Mutex<Option<StreamEnd>>,
}

#[derive(Debug, Clone)]
enum StreamEnd {
    Verified,
    Mismatch { actual: String },
    SourceFailed { error: String },
}

impl Transfer {
    fn set_end(&self, end: StreamEnd) {
        *self.end.lock().unwrap_or_else(|e| e.into_inner()) = Some(end);
    }
    fn end(&self) -> Option<StreamEnd> {
        self.end.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// The source stream, hashed and counted; it ends only if the SHA-256 matches and fails
/// otherwise (see the module doc).
fn verified_stream(inner: ByteStream, expected: String, t: Arc<Transfer>) -> ByteStream {
    struct St {
        inner: ByteStream,
        hasher: Sha256,
        expected: String,
        t: Arc<Transfer>,
        done: bool,
    }
    let st = St {
        inner,
        hasher: Sha256::new(),
        expected,
        t,
        done: false,
    };
    Box::pin(futures_util::stream::unfold(st, |mut st| async move {
        if st.done {
            return None;
        }
        match st.inner.next().await {
            Some(Ok(b)) => {
                st.hasher.update(&b);
                st.t.bytes.fetch_add(b.len() as u64, Ordering::Relaxed);
                Some((Ok(b), st))
            }
            Some(Err(e)) => {
                st.t.set_end(StreamEnd::SourceFailed {
                    error: e.to_string(),
                });
                st.done = true;
                Some((Err(e), st))
            }
            None => {
                st.done = true;
                st.t.body_done.store(true, Ordering::Relaxed);
                let actual = hex(&std::mem::take(&mut st.hasher).finalize());
                if actual == st.expected {
                    st.t.set_end(StreamEnd::Verified);
                    None
                } else {
                    st.t.set_end(StreamEnd::Mismatch { actual });
                    Some((Err(std::io::Error::other("SHA-256 mismatch")), st))
                }
            }
        }
    }))
}

pub(crate) fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

// ---------------------------------------------------------------------------------------
// Glance
// ---------------------------------------------------------------------------------------

struct Glance<'a> {
    session: &'a Session,
    cloud: &'a str,
}

impl Glance<'_> {
    async fn find_by_name(&self, name: &str) -> Result<Vec<Value>, CloudError> {
        let ep = list::Request::builder()
            .name(name.to_string())
            .build()
            .map_err(builder_error)?;
        let all: Vec<Value> = paged(ep, Pagination::All)
            .query_async(self.session.client())
            .await
            .map_err(|e| self.api_error(format!("cannot list images named `{name}`"), e))?;
        Ok(all
            .into_iter()
            .filter(|v| v.get("name").and_then(Value::as_str) == Some(name))
            .collect())
    }

    async fn create(
        &self,
        spec: &ImageSpec,
        name: &str,
        format: DiskFormat,
        min_disk: u64,
        properties: &BTreeMap<String, String>,
    ) -> Result<Value, CloudError> {
        let too_big = |what: &str, v: u64| {
            CloudError::config(format!(
                "`{what}` {v} of image `{}` is too large",
                spec.name
            ))
        };
        let mut b = create::Request::builder();
        b.name(std::borrow::Cow::from(name.to_string()))
            .disk_format(match format {
                DiskFormat::Qcow2 => create::DiskFormat::Qcow2,
                DiskFormat::Raw => create::DiskFormat::Raw,
            })
            .container_format(create::ContainerFormat::Bare)
            .min_disk(i32::try_from(min_disk).map_err(|_| too_big("min_disk", min_disk))?)
            .min_ram(
                i32::try_from(spec.min_ram_mib)
                    .map_err(|_| too_big("min_ram", spec.min_ram_mib))?,
            )
            .tags(
                spec.tags
                    .iter()
                    .map(|t| std::borrow::Cow::from(t.clone()))
                    .collect::<Vec<_>>(),
            )
            .properties(properties.iter().map(|(k, v)| (k.clone(), v.clone())));
        let ep = b.build().map_err(builder_error)?;
        let v: Value = ep
            .query_async(self.session.client())
            .await
            .map_err(|e| self.api_error(format!("cannot create image `{name}`"), e))?;
        if v.get("id").and_then(Value::as_str).is_none() {
            return Err(CloudError::new(
                CloudErrorKind::Api,
                format!(
                    "Glance created image `{}` on cloud `{}` but returned no id",
                    spec.name, self.cloud
                ),
            ));
        }
        Ok(v)
    }

    async fn get(&self, id: &str) -> Result<Value, CloudError> {
        let ep = get::Request::builder()
            .id(id.to_string())
            .build()
            .map_err(builder_error)?;
        ep.query_async(self.session.client())
            .await
            .map_err(|e| self.api_error(format!("cannot show image `{id}`"), e))
    }

    /// Gives the uploaded, active in-flight image `id` its final name and drops the
    /// in-flight properties, in one JSON-patch request (so it is never seen under both
    /// names or neither).
    async fn finish_upload(&self, spec: &ImageSpec, id: &str) -> Result<(), CloudError> {
        let base = self.session.endpoint("image").await?;
        let url = format!("{}/images/{id}", glance_v2(&base));
        let ops = serde_json::json!([
            {"op": "replace", "path": "/name", "value": spec.name},
            {"op": "remove", "path": format!("/{UPLOAD_PROPERTY}")},
            {"op": "remove", "path": format!("/{OWNER_PROPERTY}")},
        ]);
        let client = self.http_client(spec)?;
        let mut req = client
            .patch(&url)
            .timeout(Duration::from_secs(60))
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/openstack-images-v2.1-json-patch",
            )
            .body(ops.to_string());
        if let Some(token) = self.session.client().get_auth_token() {
            req = req.header("X-Auth-Token", token.expose_secret());
        }
        let what = format!(
            "cannot rename the uploaded image `{}` ({id}) to `{}` on cloud `{}`",
            in_flight_name(&spec.name),
            spec.name,
            self.cloud
        );
        let resp = req.send().await.map_err(|e| {
            CloudError::new(
                CloudErrorKind::Transport,
                format!("{what}: {}", crate::cloud::retry::transport_message(&e)),
            )
            .source(e)
        })?;
        let status = resp.status();
        if !status.is_success() {
            let body = resp.text().await.unwrap_or_default();
            return Err(CloudError::new(
                CloudErrorKind::Api,
                format!("{what}: {status}: {}", glance_message(&body)),
            ));
        }
        Ok(())
    }

    /// Deletes image `id`; 404 counts as deleted.
    async fn delete(&self, id: &str) -> Result<(), CloudError> {
        let ep = delete::Request::builder()
            .id(id.to_string())
            .build()
            .map_err(builder_error)?;
        match ignore(ep).query_async(self.session.client()).await {
            Ok(()) | Err(ApiError::ResourceNotFound) => Ok(()),
            Err(e) if status_of(&e) == Some(http::StatusCode::NOT_FOUND) => Ok(()),
            Err(e) => Err(self.api_error(format!("cannot delete image `{id}`"), e)),
        }
    }

    /// `PUT /v2/images/{id}/file` with the verified stream; returns the bytes sent.
    async fn upload(
        &self,
        spec: &ImageSpec,
        id: &str,
        source: Source,
        progress: &dyn Progress,
    ) -> Result<u64, CloudError> {
        let t = &spec.timeouts;
        let base = self.session.endpoint("image").await?;
        let url = format!("{}/images/{id}/file", glance_v2(&base));
        let client = self.http_client(spec)?;
        let display = source.display.clone();
        let total = source.total;
        let transfer = Arc::new(Transfer::default());
        let body = verified_stream(source.into_stream(), spec.sha256.clone(), transfer.clone());
        let mut req = client
            .put(&url)
            .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
            .body(reqwest::Body::wrap_stream(body));
        if let Some(token) = self.session.client().get_auth_token() {
            req = req.header("X-Auth-Token", token.expose_secret());
        }

        progress.start_bytes(
            &format!("uploading `{}` from `{display}`", spec.name),
            total,
        );
        let send = req.send();
        tokio::pin!(send);
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        let mut last_bytes = 0u64;
        let mut last_move = Instant::now();
        let mut done_at: Option<Instant> = None;
        let mut interrupted = false;
        let result = loop {
            tokio::select! {
                r = &mut send => break Some(r),
                _ = crate::interrupt::interrupted(), if !interrupted => {
                    // Abort: dropping the request ends the body without its final chunk,
                    // so Glance never makes the image active; the caller deletes it.
                    interrupted = true;
                    break None;
                }
                _ = tick.tick() => {
                    let now = transfer.bytes.load(Ordering::Relaxed);
                    progress.bytes(now);
                    if now != last_bytes {
                        last_bytes = now;
                        last_move = Instant::now();
                    }
                    if transfer.body_done.load(Ordering::Relaxed) {
                        let since = *done_at.get_or_insert_with(Instant::now);
                        if since.elapsed() > t.active {
                            break None;
                        }
                    } else if last_move.elapsed() > t.stall {
                        break None;
                    }
                }
            }
        };
        let sent = transfer.bytes.load(Ordering::Relaxed);
        progress.bytes(sent);
        // The stream's own verdict explains a failed request better than the HTTP error.
        match transfer.end() {
            Some(StreamEnd::Mismatch { actual }) => {
                progress.finish("SHA-256 mismatch");
                return Err(CloudError::new(
                    CloudErrorKind::Api,
                    format!(
                        "the node image from `{display}` has SHA-256 `{actual}`, expected `{}`; \
                         image `{}` was not activated",
                        spec.sha256, spec.name
                    ),
                )
                .hint(
                    "check `node_image_sha256` against the published checksum; a changed file \
                       at the same URL needs a new checksum",
                ));
            }
            Some(StreamEnd::SourceFailed { error }) => {
                progress.finish("download failed");
                return Err(CloudError::new(
                    CloudErrorKind::Transport,
                    format!(
                        "downloading the node image from `{display}` failed after {}: {error}",
                        human_bytes(sent)
                    ),
                )
                .hint("run again; if it keeps failing, check the network path to the server"));
            }
            _ => {}
        }
        if interrupted {
            progress.finish("upload aborted");
            return Err(interrupted_error(spec, "while uploading"));
        }
        let resp = match result {
            None => {
                progress.finish("upload stalled");
                let what = if transfer.body_done.load(Ordering::Relaxed) {
                    format!(
                        "Glance did not confirm the upload within {}s",
                        t.active.as_secs()
                    )
                } else {
                    format!("no data moved for {}s", t.stall.as_secs())
                };
                return Err(CloudError::new(
                    CloudErrorKind::Transport,
                    format!(
                        "uploading image `{}` to cloud `{}` stalled after {}: {what}",
                        spec.name,
                        self.cloud,
                        human_bytes(sent)
                    ),
                )
                .hint("check the connection to the image source and to Glance, then run again"));
            }
            Some(Err(e)) => {
                progress.finish("upload failed");
                return Err(CloudError::new(
                    CloudErrorKind::Transport,
                    format!(
                        "uploading image `{}` to `{url}` failed after {}: {}",
                        spec.name,
                        human_bytes(sent),
                        crate::cloud::retry::transport_message(&e)
                    ),
                )
                .source(e));
            }
            Some(Ok(resp)) => resp,
        };
        let status = resp.status();
        if !status.is_success() {
            let request_id = resp
                .headers()
                .get("x-openstack-request-id")
                .and_then(|v| v.to_str().ok())
                .map(|r| format!(" (request {r})"))
                .unwrap_or_default();
            let body = resp.text().await.unwrap_or_default();
            progress.finish("upload refused");
            let mut err = CloudError::new(
                CloudErrorKind::Api,
                format!(
                    "Glance refused the data of image `{}` on cloud `{}`: {status}{request_id}: {}",
                    spec.name,
                    self.cloud,
                    glance_message(&body)
                ),
            );
            if status == reqwest::StatusCode::PAYLOAD_TOO_LARGE
                || status == reqwest::StatusCode::FORBIDDEN
            {
                err = err.hint("the project's image quota may be exhausted; ask the cloud's admin");
            }
            return Err(err);
        }
        match transfer.end() {
            Some(StreamEnd::Verified) => {}
            _ => {
                // Glance answered before the body ended: it did not get all of it.
                progress.finish("upload incomplete");
                return Err(CloudError::new(
                    CloudErrorKind::Api,
                    format!(
                        "Glance answered {status} for image `{}` before the upload was complete \
                         ({} sent)",
                        spec.name,
                        human_bytes(sent)
                    ),
                ));
            }
        }
        progress.finish(&format!(
            "uploaded {} to image `{}`, SHA-256 verified",
            human_bytes(sent),
            spec.name
        ));
        Ok(sent)
    }

    fn http_client(&self, spec: &ImageSpec) -> Result<reqwest::Client, CloudError> {
        let mut b = reqwest::Client::builder()
            .connect_timeout(spec.timeouts.connect)
            .no_gzip()
            .no_deflate()
            .no_brotli()
            .no_zstd();
        if !spec.tls.verify {
            b = b.tls_danger_accept_invalid_certs(true);
        }
        if let Some(path) = &spec.tls.cacert {
            let pem = std::fs::read(path).map_err(|e| {
                CloudError::config(format!(
                    "cannot read `cacert` `{}` of cloud `{}`: {e}",
                    path.display(),
                    self.cloud
                ))
                .source(e)
            })?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
                CloudError::config(format!(
                    "`cacert` `{}` of cloud `{}` is not a PEM bundle",
                    path.display(),
                    self.cloud
                ))
                .source(e)
            })?;
            for c in certs {
                b = b.add_root_certificate(c);
            }
        }
        b.build().map_err(|e| {
            CloudError::new(
                CloudErrorKind::Transport,
                "cannot set up the HTTP client for Glance",
            )
            .source(e)
        })
    }

    /// Polls until `active` (backoff 250 ms doubling to 5 s) within `limit`.
    async fn wait_active(
        &self,
        id: &str,
        name: &str,
        limit: Duration,
        progress: &dyn Progress,
    ) -> Result<Value, CloudError> {
        progress.phase(&format!("waiting for image `{name}` to become active"));
        let deadline = Instant::now() + limit;
        let mut delay = Duration::from_millis(250);
        loop {
            let v = self.get(id).await?;
            let status = str_field(&v, "status");
            match status.as_str() {
                "active" => {
                    progress.finish(&format!("image `{name}` ({id}) is active"));
                    return Ok(v);
                }
                "killed" | "deleted" | "pending_delete" | "deactivated" => {
                    progress.finish(&format!("image `{name}` is `{status}`"));
                    return Err(CloudError::new(
                        CloudErrorKind::Api,
                        format!(
                            "image `{name}` ({id}) on cloud `{}` became `{status}` instead of `active`",
                            self.cloud
                        ),
                    )
                    .hint("Glance's logs say why (`x-openstack-request-id` of the upload); run again"));
                }
                _ => {}
            }
            if Instant::now() + delay > deadline {
                progress.finish(&format!("image `{name}` is still `{status}`"));
                return Err(CloudError::new(
                    CloudErrorKind::Transport,
                    format!(
                        "image `{name}` ({id}) on cloud `{}` is still `{status}` after {}s",
                        self.cloud,
                        limit.as_secs()
                    ),
                )
                .hint(format!(
                    "watch it with `openstack --os-cloud {} image show {id}` and run again once it \
                     is active",
                    self.cloud
                )));
            }
            if !sleep_unless_interrupted(delay).await {
                progress.finish(&format!("image `{name}` is still `{status}`"));
                return Err(CloudError::new(
                    CloudErrorKind::Interrupted,
                    format!("interrupted while waiting for image `{name}` ({id}) to become active"),
                ));
            }
            delay = (delay * 2).min(Duration::from_secs(5));
        }
    }

    fn api_error(&self, what: String, e: ApiError<RestError>) -> CloudError {
        let status = status_of(&e);
        let detail = match &e {
            ApiError::OpenStack { status, msg, .. } => format!("{status}: {msg}"),
            ApiError::OpenStackService { status, data, .. } => {
                format!("{status}: {}", glance_message(data))
            }
            ApiError::OpenStackUnrecognized { status, obj, .. } => {
                format!("{status}: {}", glance_message(&obj.to_string()))
            }
            other => crate::cloud::retry::transport_message(other),
        };
        let kind = match (&e, status) {
            (ApiError::Catalog { .. }, _) => CloudErrorKind::Catalog,
            (_, Some(_)) => CloudErrorKind::Api,
            _ => CloudErrorKind::Transport,
        };
        let mut err = CloudError::new(kind, format!("{what} on cloud `{}`: {detail}", self.cloud));
        if status == Some(http::StatusCode::FORBIDDEN) {
            err = err.hint("the user lacks the permission, or the image quota is exhausted");
        }
        err.source(e)
    }
}

fn status_of(e: &ApiError<RestError>) -> Option<http::StatusCode> {
    match e {
        ApiError::OpenStack { status, .. }
        | ApiError::OpenStackService { status, .. }
        | ApiError::OpenStackUnrecognized { status, .. } => Some(*status),
        _ => None,
    }
}

/// `{base}/v2` unless the catalog URL is versioned already.
fn glance_v2(base: &str) -> String {
    let b = base.trim_end_matches('/');
    match b.rsplit_once('/') {
        Some((_, last)) if last == "v2" || last.starts_with("v2.") => b.to_string(),
        _ => format!("{b}/v2"),
    }
}

/// The message in a Glance (webob HTML) error body, whitespace-collapsed and cut to 300
/// characters.
fn glance_message(body: &str) -> String {
    // webob repeats the status in <title> and <h1>; the message follows them.
    let body = body.split_once("</h1>").map_or(body, |(_, m)| m);
    let text = crate::cloud::retry::strip_tags(body);
    let msg = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if msg.chars().count() > 300 {
        format!("{}...", msg.chars().take(300).collect::<String>())
    } else {
        msg
    }
}

fn builder_error(e: impl std::error::Error + Send + Sync + 'static) -> CloudError {
    CloudError::new(CloudErrorKind::Api, "cannot build the Glance request").source(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provided_until_is_a_year_later() {
        let d = |y, m, day| NaiveDate::from_ymd_opt(y, m, day).unwrap();
        assert_eq!(one_year_after(d(2024, 5, 17)), d(2025, 5, 17));
        assert_eq!(one_year_after(d(2024, 2, 29)), d(2025, 3, 1));
    }

    #[test]
    fn properties_match_r4_and_extras_win() {
        let mut spec = ImageSpec::new("img", "https://x/y.qcow2", &"a".repeat(64), "v1.30.4");
        spec.extra_properties
            .insert("hw_disk_bus".into(), "virtio".into());
        spec.extra_properties.insert("foo".into(), "bar".into());
        let p = properties(&spec, NaiveDate::from_ymd_opt(2024, 6, 1).unwrap());
        assert_eq!(p["image_build_date"], "2024-06-01");
        assert_eq!(p["provided_until"], "2025-06-01");
        assert_eq!(p["uuid_validity"], "2025-06-01");
        assert_eq!(p["os_version"], "22.04");
        assert_eq!(p["image_source"], "https://x/y.qcow2");
        assert_eq!(p["replace_frequency"], "never");
        assert_eq!(p["hw_scsi_model"], "virtio-scsi");
        assert_eq!(p["hw_disk_bus"], "virtio");
        assert_eq!(p["foo"], "bar");
        assert_eq!(p.len(), 16);
    }

    #[test]
    fn glance_url_and_message() {
        assert_eq!(glance_v2("http://h/image"), "http://h/image/v2");
        assert_eq!(glance_v2("http://h:9292/v2/"), "http://h:9292/v2");
        let body = "<html>\n <head>\n  <title>409 Conflict</title>\n </head>\n <body>\n  <h1>409 Conflict</h1>\n  Image status transition from active to saving is not allowed<br /><br />\n </body>\n</html>";
        assert!(
            glance_message(body).contains("Image status transition"),
            "{}",
            glance_message(body)
        );
    }

    #[test]
    fn spec_validation() {
        let spec = ImageSpec::new("img", "/tmp/x", "abc", "v1.30.4");
        let e = spec.validate().unwrap_err();
        assert!(e.message.contains("not a SHA-256"), "{e}");
    }
}
