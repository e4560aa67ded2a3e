//! qcow2 -> raw for `kube_image_raw: true` (R4's default: with raw images, Ceph-backed
//! Nova and Cinder clone copy-on-write instead of converting the image for every boot).
//!
//! Owns: downloading the verified qcow2 into the cache directory, `qemu-img info` and
//! `qemu-img convert`, and the SHA-256 of the raw result. The upload of that file is
//! [`super::image::ensure_image`]'s job; which source and checksum is
//! [`super::image_source`]'s.
//!
//! Steps, and why:
//! 1. The qcow2 is streamed to `<cache>/<image>.<pid>.qcow2` and hashed on the way (memory
//!    stays flat). Its SHA-256 is compared with the expected one before anything else: a
//!    mismatch creates nothing in the cloud.
//! 2. `qemu-img info --output=json` must say `qcow2` without a backing file or external data
//!    file (either would make qemu-img read some other file of this machine into the
//!    image); its `virtual-size` gives `min_disk`, as R4 did.
//! 3. `qemu-img convert -O raw -S 4k` (sparse output, as R4), then the qcow2 is deleted.
//! 4. The raw file is hashed; [`super::image::ensure_image`] verifies that hash on its way
//!    to Glance, so a file changed on disk in between is caught too.
//!
//! The files live in the cache directory (`$XDG_CACHE_HOME/scs-capi/images`, else
//! `~/.cache/scs-capi/images`), never in memory or `/tmp` (often a small tmpfs); the raw
//! file is as large as the virtual disk (sparse where the file system allows). Both are
//! removed when [`Converted`] is dropped and on every error.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::NaiveDate;
use futures_util::StreamExt;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use super::image::{self, ImageTimeouts, Source};
use super::image_source::NodeImageSource;
use super::{CloudError, CloudErrorKind};
use crate::ui::{Progress, human_bytes};

/// The program used; looked up on `PATH`.
const QEMU_IMG: &str = "qemu-img";

/// The directory for downloads and conversions.
///
/// # Errors
/// When neither `XDG_CACHE_HOME` nor `HOME` is set.
pub fn cache_dir() -> Result<PathBuf, CloudError> {
    let base = match std::env::var_os("XDG_CACHE_HOME").filter(|v| !v.is_empty()) {
        Some(d) => PathBuf::from(d),
        None => match std::env::var_os("HOME").filter(|v| !v.is_empty()) {
            Some(h) => PathBuf::from(h).join(".cache"),
            None => {
                return Err(CloudError::config(
                    "cannot find a cache directory for the node image: neither \
                     `XDG_CACHE_HOME` nor `HOME` is set",
                )
                .hint("set `XDG_CACHE_HOME`"));
            }
        },
    };
    Ok(base.join("scs-capi").join("images"))
}

/// `qemu-img --version`'s first line, or why it cannot run (with a hint).
///
/// # Errors
/// Kind `Config` when `qemu-img` is missing or broken.
pub fn qemu_img_version() -> Result<String, CloudError> {
    let missing = |why: String| {
        CloudError::config(format!(
            "`kube_image_raw` needs `{QEMU_IMG}` to convert the node image, but {why}"
        ))
        .hint("install it (`apt-get install qemu-utils` on Debian/Ubuntu), or set `kube_image_raw: false` to upload the qcow2 as it is")
    };
    let mut version = Command::new(QEMU_IMG);
    for k in crate::mgmt::runner::cloud_env_names() {
        version.env_remove(k);
    }
    match version.arg("--version").output() {
        Ok(o) if o.status.success() => Ok(String::from_utf8_lossy(&o.stdout)
            .lines()
            .next()
            .unwrap_or_default()
            .to_string()),
        Ok(o) => Err(missing(format!(
            "`{QEMU_IMG} --version` failed: {}",
            String::from_utf8_lossy(&o.stderr).trim()
        ))),
        Err(e) => Err(missing(format!("it cannot be run: {e}"))),
    }
}

/// A raw copy of the node image on disk; the file is deleted on drop.
#[derive(Debug)]
pub struct Converted {
    pub path: PathBuf,
    /// SHA-256 of the raw file.
    pub sha256: String,
    /// Bytes of the virtual disk (= size of the raw file).
    pub virtual_size: u64,
    /// Date of the downloaded source (for `image_build_date`).
    pub modified: Option<NaiveDate>,
    _files: TempFiles,
}

/// Files removed when dropped.
#[derive(Debug, Default)]
struct TempFiles(Vec<PathBuf>);

impl TempFiles {
    fn add(&mut self, p: &Path) {
        self.0.push(p.to_path_buf());
    }
}

impl Drop for TempFiles {
    fn drop(&mut self) {
        for p in &self.0 {
            // Already gone is fine; anything else leaves a file the next run overwrites.
            let _ = std::fs::remove_file(p);
        }
    }
}

/// Downloads `source` into `dir`, checks its SHA-256, converts it to raw and hashes the
/// result (see the module doc). `name` is the image name, used for the file names.
///
/// # Errors
/// Kind `Api` for a SHA-256 mismatch (nothing was created in the cloud), `Transport` when
/// the download fails, `Config` when the data is not a plain qcow2, `qemu-img` fails or
/// the cache directory is not writable.
pub async fn download_and_convert(
    source: &NodeImageSource,
    name: &str,
    dir: &Path,
    timeouts: &ImageTimeouts,
    progress: &dyn Progress,
) -> Result<Converted, CloudError> {
    let io_err = |what: &str, p: &Path, e: std::io::Error| {
        CloudError::config(format!("cannot {what} `{}`: {e}", p.display()))
            .hint("check free space and permissions there (`XDG_CACHE_HOME`)")
            .source(e)
    };
    std::fs::create_dir_all(dir).map_err(|e| io_err("create", dir, e))?;
    let stem: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    for stale in remove_stale(dir, &stem) {
        progress.message(&format!(
            "removed `{}`, left by an interrupted run",
            stale.display()
        ));
    }
    let qcow2 = dir.join(format!("{stem}.{}.qcow2", std::process::id()));
    let raw = dir.join(format!("{stem}.{}.raw", std::process::id()));
    let mut files = TempFiles::default();
    files.add(&qcow2);
    files.add(&raw);

    // 1. Download and verify.
    let src = Source::open(&source.url, timeouts).await?;
    let modified = src.modified;
    let display = src.display.clone();
    progress.start_bytes(&format!("downloading `{display}`"), src.total);
    let mut file = tokio::fs::File::create(&qcow2)
        .await
        .map_err(|e| io_err("create", &qcow2, e))?;
    let mut hasher = Sha256::new();
    let mut done = 0u64;
    let mut stream = src.into_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| {
            progress.finish("download failed");
            CloudError::new(
                CloudErrorKind::Transport,
                format!(
                    "downloading the node image from `{display}` failed after {}: {e}",
                    human_bytes(done)
                ),
            )
            .hint("run again; if it keeps failing, check the network path to the server")
        })?;
        hasher.update(&chunk);
        file.write_all(&chunk)
            .await
            .map_err(|e| io_err("write", &qcow2, e))?;
        done += chunk.len() as u64;
        progress.bytes(done);
    }
    file.flush().await.map_err(|e| io_err("write", &qcow2, e))?;
    drop(file);
    let actual = image::hex(&hasher.finalize());
    if actual != source.sha256 {
        progress.finish("SHA-256 mismatch");
        return Err(CloudError::new(
            CloudErrorKind::Api,
            format!(
                "the node image from `{display}` has SHA-256 `{actual}`, expected `{}`; nothing \
                 was uploaded",
                source.sha256
            ),
        )
        .hint(
            "check `node_image_sha256` (or the `.CHECKSUM` file) against the published \
             checksum; a changed file at the same URL needs a new checksum",
        ));
    }
    progress.finish(&format!(
        "downloaded {} from `{display}`, SHA-256 verified",
        human_bytes(done)
    ));

    // 2. Inspect.
    let info = {
        let qcow2 = qcow2.clone();
        with_ticks(move |_| qemu_img_info(&qcow2), progress).await?
    };
    if info.format != "qcow2" {
        return Err(CloudError::config(format!(
            "`{display}` is `{}` data according to `qemu-img info`, not qcow2",
            info.format
        ))
        .hint("upload it as it is with `kube_image_raw: false`"));
    }
    if let Some(backing) = info.backing {
        return Err(CloudError::config(format!(
            "`{display}` refers to a backing file (`{backing}`); a node image must stand alone"
        ))
        .hint("use a self-contained image (`qemu-img convert` flattens one)"));
    }
    if let Some(data_file) = info.data_file {
        return Err(CloudError::config(format!(
            "`{display}` keeps its data in an external file (`{data_file}`); a node image must stand alone"
        ))
        .hint("converting it would copy that file of this machine into the image; use a self-contained image"));
    }

    // 3. Convert.
    let total = info.virtual_size;
    progress.start_bytes(&format!("converting `{name}` to raw"), Some(total));
    let converted = {
        let (qcow2, raw) = (qcow2.clone(), raw.clone());
        with_ticks(
            move |done| qemu_img_convert(&qcow2, &raw, total, &done),
            progress,
        )
        .await
    };
    if let Err(e) = converted {
        progress.finish("conversion failed");
        return Err(e);
    }
    progress.finish(&format!(
        "converted to raw ({} virtual)",
        human_bytes(total)
    ));
    let _ = std::fs::remove_file(&qcow2);

    // 4. Hash the raw file.
    progress.start_bytes(&format!("checksumming the raw `{name}`"), Some(total));
    let sha = {
        let raw = raw.clone();
        with_ticks(move |done| sha256_file(&raw, &done), progress).await
    };
    let sha = match sha {
        Ok(s) => s,
        Err(e) => {
            progress.finish("checksum failed");
            return Err(e);
        }
    };
    progress.finish("raw image ready");
    Ok(Converted {
        path: raw,
        sha256: sha,
        virtual_size: total,
        modified,
        _files: files,
    })
}

/// Removes `<stem>.<pid>.qcow2|raw` files in `dir` whose process is gone (a run killed
/// before it could clean up; the files can be as large as the virtual disk). Returns them.
fn remove_stale(dir: &Path, stem: &str) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut removed = Vec::new();
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix(stem).and_then(|r| r.strip_prefix('.')) else {
            continue;
        };
        let Some((pid, ext)) = rest.split_once('.') else {
            continue;
        };
        let Ok(pid) = pid.parse::<u32>() else {
            continue;
        };
        let running = pid == std::process::id() || Path::new(&format!("/proc/{pid}")).exists();
        if matches!(ext, "qcow2" | "raw") && !running && std::fs::remove_file(e.path()).is_ok() {
            removed.push(e.path());
        }
    }
    removed
}

/// Runs `work` on the blocking pool; while it runs, the bytes it stores in the counter go
/// to `progress` four times a second.
async fn with_ticks<T, F>(work: F, progress: &dyn Progress) -> Result<T, CloudError>
where
    T: Send + 'static,
    F: FnOnce(Arc<AtomicU64>) -> Result<T, CloudError> + Send + 'static,
{
    let done = Arc::new(AtomicU64::new(0));
    let task = tokio::task::spawn_blocking({
        let done = done.clone();
        move || work(done)
    });
    tokio::pin!(task);
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    loop {
        tokio::select! {
            r = &mut task => {
                progress.bytes(done.load(Ordering::Relaxed));
                return r.map_err(|e| {
                    CloudError::new(CloudErrorKind::Transport, format!("a worker task failed: {e}"))
                })?;
            }
            _ = tick.tick() => progress.bytes(done.load(Ordering::Relaxed)),
        }
    }
}

/// What `qemu-img info` says about a file.
#[derive(Debug, PartialEq, Eq)]
struct QemuInfo {
    format: String,
    virtual_size: u64,
    backing: Option<String>,
    /// A qcow2 with an external data file (`data_file=`): its clusters are read from that
    /// path on this machine, so converting it would copy a local file into the image.
    data_file: Option<String>,
}

fn qemu_img(args: &[&std::ffi::OsStr]) -> Command {
    let mut c = Command::new(QEMU_IMG);
    c.args(args).stdin(Stdio::null());
    for k in crate::mgmt::runner::cloud_env_names() {
        c.env_remove(k);
    }
    c
}

fn qemu_failed(what: &str, detail: &str) -> CloudError {
    CloudError::config(format!("`{QEMU_IMG} {what}` failed: {}", detail.trim())).hint(
        "check free space in the cache directory (`XDG_CACHE_HOME`) and the qemu-img installation",
    )
}

fn qemu_img_info(path: &Path) -> Result<QemuInfo, CloudError> {
    let out = qemu_img(&["info".as_ref(), "--output=json".as_ref(), path.as_os_str()])
        .output()
        .map_err(|e| qemu_failed("info", &e.to_string()))?;
    if !out.status.success() {
        return Err(qemu_failed("info", &String::from_utf8_lossy(&out.stderr)));
    }
    parse_info(&out.stdout).ok_or_else(|| qemu_failed("info", "unexpected output"))
}

fn parse_info(json: &[u8]) -> Option<QemuInfo> {
    let v: serde_json::Value = serde_json::from_slice(json).ok()?;
    Some(QemuInfo {
        format: v.get("format")?.as_str()?.to_string(),
        virtual_size: v.get("virtual-size")?.as_u64()?,
        backing: v
            .get("backing-filename")
            .and_then(|b| b.as_str())
            .map(String::from),
        data_file: v
            .pointer("/format-specific/data/data-file")
            .and_then(|b| b.as_str())
            .map(String::from),
    })
}

/// `qemu-img convert -p -f qcow2 -O raw -S 4k`; its `(NN.NN/100%)` progress goes into
/// `done` as bytes of `total`.
fn qemu_img_convert(
    from: &Path,
    to: &Path,
    total: u64,
    done: &AtomicU64,
) -> Result<(), CloudError> {
    let mut child = qemu_img(&[
        "convert".as_ref(),
        "-p".as_ref(),
        "-f".as_ref(),
        "qcow2".as_ref(),
        "-O".as_ref(),
        "raw".as_ref(),
        "-S".as_ref(),
        "4k".as_ref(),
        from.as_os_str(),
        to.as_os_str(),
    ])
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .map_err(|e| qemu_failed("convert", &e.to_string()))?;
    // stderr is read on a thread of its own so neither pipe can fill up and block.
    let stderr = child.stderr.take().map(|mut e| {
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = e.read_to_string(&mut s);
            s
        })
    });
    if let Some(mut out) = child.stdout.take() {
        let mut buf = [0u8; 512];
        let mut line = Vec::new();
        while let Ok(n) = out.read(&mut buf) {
            if n == 0 {
                break;
            }
            for &b in &buf[..n] {
                if b == b'\r' || b == b'\n' {
                    if let Some(pct) = parse_percent(&line) {
                        done.store((total as f64 * pct / 100.0) as u64, Ordering::Relaxed);
                    }
                    line.clear();
                } else {
                    line.push(b);
                }
            }
        }
    }
    let status = child
        .wait()
        .map_err(|e| qemu_failed("convert", &e.to_string()))?;
    let err_text = stderr.and_then(|h| h.join().ok()).unwrap_or_default();
    if !status.success() {
        return Err(qemu_failed("convert", &err_text));
    }
    done.store(total, Ordering::Relaxed);
    Ok(())
}

/// `    (12.34/100%)` -> 12.34.
fn parse_percent(line: &[u8]) -> Option<f64> {
    let s = std::str::from_utf8(line).ok()?.trim();
    let inner = s.strip_prefix('(')?.strip_suffix("/100%)")?;
    inner.trim().parse().ok()
}

/// SHA-256 of a file, read in 1 MiB blocks; bytes read go into `done`.
fn sha256_file(path: &Path, done: &AtomicU64) -> Result<String, CloudError> {
    let fail = |e: std::io::Error| {
        CloudError::config(format!("cannot read `{}`: {e}", path.display())).source(e)
    };
    let mut f = std::fs::File::open(path).map_err(fail)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1024 * 1024];
    loop {
        let n = f.read(&mut buf).map_err(fail)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        done.fetch_add(n as u64, Ordering::Relaxed);
    }
    Ok(image::hex(&hasher.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_files_of_dead_runs_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let dead = 4_000_000_000u32; // above any pid_max
        let ours = std::process::id();
        for name in [
            format!("img.{dead}.qcow2"),
            format!("img.{dead}.raw"),
            format!("img.{ours}.raw"),
            format!("img2.{dead}.raw"),
            format!("img.{dead}.txt"),
        ] {
            std::fs::write(dir.path().join(name), b"x").unwrap();
        }
        let mut removed: Vec<String> = remove_stale(dir.path(), "img")
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        removed.sort();
        assert_eq!(
            removed,
            [format!("img.{dead}.qcow2"), format!("img.{dead}.raw")]
        );
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 3);
    }

    #[test]
    fn a_qcow2_with_an_external_data_file_is_recognised_by_the_real_qemu_img() {
        let dir = tempfile::tempdir().unwrap();
        let img = dir.path().join("img.qcow2");
        let data = dir.path().join("data.raw");
        let out = Command::new(QEMU_IMG)
            .args(["create", "-f", "qcow2", "-o"])
            .arg(format!("data_file={}", data.display()))
            .arg(&img)
            .arg("1M")
            .output()
            .expect("qemu-img (scripts/test.sh installs qemu-utils)");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let info = qemu_img_info(&img).unwrap();
        assert_eq!(info.data_file.as_deref(), data.to_str());
    }

    #[test]
    fn qemu_output_parsing() {
        assert_eq!(parse_percent(b"    (12.34/100%)"), Some(12.34));
        assert_eq!(parse_percent(b"(100.00/100%)"), Some(100.0));
        assert_eq!(parse_percent(b"garbage"), None);
        let info = br#"{"virtual-size": 67108864, "filename": "x", "format": "qcow2",
            "actual-size": 200704, "format-specific": {"type": "qcow2"}}"#;
        assert_eq!(
            parse_info(info),
            Some(QemuInfo {
                format: "qcow2".into(),
                virtual_size: 64 << 20,
                backing: None,
                data_file: None,
            })
        );
        // As qemu-img 7 reports `qemu-img create -f qcow2 -o data_file=/etc/shadow`.
        let external = br#"{"virtual-size": 1048576, "format": "qcow2",
            "format-specific": {"type": "qcow2", "data": {"compat": "1.1",
            "data-file": "/etc/shadow", "data-file-raw": false, "refcount-bits": 16}}}"#;
        assert_eq!(
            parse_info(external).unwrap().data_file.as_deref(),
            Some("/etc/shadow")
        );
        let backed = br#"{"virtual-size": 1, "format": "qcow2", "backing-filename": "/etc/x"}"#;
        assert_eq!(
            parse_info(backed).unwrap().backing.as_deref(),
            Some("/etc/x")
        );
        assert_eq!(parse_info(b"{}"), None);
    }
}
