//! Installing the pinned tools into a bin directory: plan (what is up to date, what would be
//! downloaded, what is refused for lack of a checksum), then download, verify, extract and
//! install each one.
//!
//! Rules:
//! - every download is checked against a SHA-256 before anything is installed: the pin from
//!   [`super::tools::PINS`] or the manifest, else a sum the user gave (`--sha256
//!   TOOL=SUM`); a tool with neither is refused unless `--allow-unpinned`, and then it is
//!   checked against the checksum file its release publishes where there is one (what R4
//!   did for the cilium and hubble CLIs), else installed with a warning that names the
//!   computed SHA-256 so it can be pinned;
//! - a mismatch, a broken archive or a failed download leaves nothing behind: the bytes go
//!   to a temporary file in the bin directory, and only a verified, extracted executable is
//!   renamed into place (mode 0755);
//! - a tool whose recorded version and file hash match is skipped; the record is
//!   `.scs-capi-tools.json` in the bin directory, so a replaced or edited binary is
//!   reinstalled.
//!
//! Manifests (ORC's `install.yaml`) are downloaded and verified the same way and returned
//! as bytes; applying them is [`super::apply`]'s job.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::MgmtError;
use super::tools::{Packaging, ToolSpec, is_sha256};
use crate::ui::Progress;

/// File in the bin directory recording what was installed.
pub const STATE_FILE: &str = ".scs-capi-tools.json";
/// Largest executable taken out of an archive, and largest manifest.
const MAX_EXTRACTED: u64 = 1024 * 1024 * 1024;
const MAX_MANIFEST: usize = 16 * 1024 * 1024;
const MAX_CHECKSUM_FILE: usize = 1024 * 1024;

/// How to install.
#[derive(Debug, Clone)]
pub struct Options {
    pub bin_dir: PathBuf,
    /// Install tools without a pin (checked against the release's checksum file when it
    /// has one).
    pub allow_unpinned: bool,
    /// SHA-256 sums given by the user, by tool name; they win over pins.
    pub user_sums: BTreeMap<String, String>,
    pub connect_timeout: Duration,
    /// No byte for this long: the download fails.
    pub stall_timeout: Duration,
    pub attempts: usize,
}

impl Options {
    pub fn new(bin_dir: PathBuf) -> Self {
        Options {
            bin_dir,
            allow_unpinned: false,
            user_sums: BTreeMap::new(),
            connect_timeout: Duration::from_secs(10),
            stall_timeout: Duration::from_secs(60),
            attempts: 3,
        }
    }
}

/// The default bin directory: `$XDG_DATA_HOME/scs-capi/bin`, else
/// `~/.local/share/scs-capi/bin`.
pub fn default_bin_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_DATA_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|v| !v.is_empty())
                .map(|h| PathBuf::from(h).join(".local").join("share"))
        })?;
    Some(base.join("scs-capi").join("bin"))
}

/// How a download will be checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Check {
    /// Against a pinned sum; `source` says where it was published.
    Pinned { sha256: String, source: String },
    /// Against a sum given with `--sha256`.
    UserGiven { sha256: String },
    /// `--allow-unpinned`: against the release's checksum file.
    PublishedFile { url: String },
    /// `--allow-unpinned` and no checksum file: not checked.
    Unchecked,
}

/// What will happen to one tool.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Download, verify and install (or, for a manifest, apply).
    Install,
    /// Installed at this version and unchanged since.
    UpToDate,
    /// No checksum to verify against, and unpinned installs are not allowed.
    Refused,
}

/// One line of the install plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Planned {
    pub spec: ToolSpec,
    pub action: Action,
    /// `None` when refused or up to date.
    pub check: Option<Check>,
}

impl Planned {
    /// `clusterctl v1.14.0: refused (no published SHA-256 ...)` style detail for output.
    pub fn detail(&self) -> String {
        match (&self.action, &self.check) {
            (Action::UpToDate, _) => "installed and unchanged".into(),
            (Action::Refused, _) => format!(
                "no published SHA-256 is pinned; pass `--sha256 {}=SUM` or `--allow-unpinned`",
                self.spec.name
            ),
            (Action::Install, Some(Check::Pinned { source, .. })) => {
                format!("SHA-256 pinned ({source})")
            }
            (Action::Install, Some(Check::UserGiven { .. })) => "SHA-256 given by --sha256".into(),
            (Action::Install, Some(Check::PublishedFile { url })) => {
                format!("unpinned; checked against `{url}`")
            }
            (Action::Install, _) => "unpinned and unchecked (--allow-unpinned)".into(),
        }
    }
}

/// What was installed, per tool, in [`STATE_FILE`].
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct State {
    tools: BTreeMap<String, Installed>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Installed {
    version: String,
    /// SHA-256 of the download.
    download_sha256: String,
    /// SHA-256 of the installed file (to notice a replaced binary).
    file_sha256: String,
}

fn read_state(bin_dir: &Path) -> State {
    // A missing or unreadable record only means "reinstall"; never fatal.
    std::fs::read(bin_dir.join(STATE_FILE))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

fn write_state(bin_dir: &Path, state: &State) -> Result<(), MgmtError> {
    let text = serde_json::to_vec_pretty(state)
        .map_err(|e| MgmtError::new("cannot encode the tool record").source(e))?;
    crate::fsutil::write_file(&bin_dir.join(STATE_FILE), &text, 0o644)
        .map_err(|e| MgmtError::new(e.to_string()).source(e))
}

/// The plan for `specs`: nothing is downloaded or changed.
///
/// # Errors
/// When a `--sha256` sum names no tool of the table or is not a SHA-256.
pub fn plan(specs: &[ToolSpec], opts: &Options) -> Result<Vec<Planned>, MgmtError> {
    for (name, sum) in &opts.user_sums {
        if !specs.iter().any(|s| &s.name == name) {
            let known: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
            return Err(
                MgmtError::new(format!("`--sha256 {name}=...` names no tool"))
                    .hint(format!("the tools are: {}", known.join(", "))),
            );
        }
        if !is_sha256(sum) {
            return Err(MgmtError::new(format!(
                "`--sha256 {name}={sum}` is not a SHA-256 (64 hex digits)"
            )));
        }
    }
    let state = read_state(&opts.bin_dir);
    Ok(specs
        .iter()
        .map(|spec| {
            let check = if let Some(sum) = opts.user_sums.get(&spec.name) {
                Some(Check::UserGiven {
                    sha256: sum.to_ascii_lowercase(),
                })
            } else if let Some(sum) = &spec.sha256 {
                Some(Check::Pinned {
                    sha256: sum.to_ascii_lowercase(),
                    source: spec
                        .pin_source
                        .clone()
                        .unwrap_or_else(|| "tools manifest".into()),
                })
            } else if opts.allow_unpinned {
                Some(match &spec.checksums_url {
                    Some(url) => Check::PublishedFile { url: url.clone() },
                    None => Check::Unchecked,
                })
            } else {
                None
            };
            let up_to_date = spec.packaging != Packaging::Manifest
                && state.tools.get(&spec.name).is_some_and(|i| {
                    i.version == spec.version
                        && match &check {
                            Some(Check::Pinned { sha256, .. } | Check::UserGiven { sha256 }) => {
                                &i.download_sha256 == sha256
                            }
                            _ => true,
                        }
                        && file_sha256(&opts.bin_dir.join(&spec.name)).as_deref()
                            == Some(i.file_sha256.as_str())
                });
            let (action, check) = if up_to_date {
                (Action::UpToDate, None)
            } else if check.is_none() {
                (Action::Refused, None)
            } else {
                (Action::Install, check)
            };
            Planned {
                spec: spec.clone(),
                action,
                check,
            }
        })
        .collect())
}

/// The error for a plan with refused tools, before anything is downloaded.
///
/// # Errors
/// When any tool is refused.
pub fn ensure_none_refused(plan: &[Planned]) -> Result<(), MgmtError> {
    let refused: Vec<&Planned> = plan
        .iter()
        .filter(|p| p.action == Action::Refused)
        .collect();
    if refused.is_empty() {
        return Ok(());
    }
    let names: Vec<String> = refused
        .iter()
        .map(|p| format!("`{}` {}", p.spec.name, p.spec.version))
        .collect();
    let sums: Vec<String> = refused
        .iter()
        .map(|p| format!("--sha256 {}=SUM", p.spec.name))
        .collect();
    Err(MgmtError::new(format!(
        "no published SHA-256 is pinned for {}; nothing was installed",
        names.join(", ")
    ))
    .hint(format!(
        "pass the sums you trust ({}), or `--allow-unpinned` to use the release's own checksum \
         file where it has one",
        sums.join(" ")
    )))
}

/// The result of installing one tool.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Done {
    pub name: String,
    pub version: String,
    /// SHA-256 of what was downloaded.
    pub sha256: String,
    /// Where it was installed (`None` for a manifest).
    pub path: Option<PathBuf>,
    /// A warning to show (unchecked install).
    pub warning: Option<String>,
}

/// Downloads, verifies and installs one planned tool (`Action::Install`); for a manifest,
/// returns its verified bytes instead of installing.
///
/// # Errors
/// Download failures (after retries), a SHA-256 mismatch, a missing member or a broken
/// archive, and file system errors. Nothing is left in the bin directory on any error.
pub async fn install_one(
    client: &reqwest::Client,
    planned: &Planned,
    opts: &Options,
    progress: &dyn Progress,
) -> Result<(Done, Option<Vec<u8>>), MgmtError> {
    let spec = &planned.spec;
    let check = planned.check.clone().unwrap_or(Check::Unchecked);
    let expected = match &check {
        Check::Pinned { sha256, .. } | Check::UserGiven { sha256 } => Some(sha256.clone()),
        Check::PublishedFile { url } => Some(published_sum(client, url, &spec.url, opts).await?),
        Check::Unchecked => None,
    };
    let mismatch = |actual: &str, expected: &str| {
        let from = match &check {
            Check::Pinned { source, .. } => format!("pinned from {source}"),
            Check::UserGiven { .. } => "given with --sha256".into(),
            Check::PublishedFile { url } => format!("published in `{url}`"),
            Check::Unchecked => String::new(),
        };
        MgmtError::new(format!(
            "`{}` has SHA-256 `{actual}`, expected `{expected}` ({from}); `{}` was not installed",
            spec.url, spec.name
        ))
        .hint(
            "the download was changed or corrupted on its way; do not use it. Check the URL and \
             any proxy or mirror in between, then run again",
        )
    };

    if spec.packaging == Packaging::Manifest {
        let bytes = download_to_memory(client, spec, opts, progress).await?;
        let actual = hex(&Sha256::digest(&bytes));
        if let Some(exp) = &expected {
            if &actual != exp {
                return Err(mismatch(&actual, exp));
            }
        }
        let warning = expected.is_none().then(|| unchecked_warning(spec, &actual));
        let done = Done {
            name: spec.name.clone(),
            version: spec.version.clone(),
            sha256: actual,
            path: None,
            warning,
        };
        return Ok((done, Some(bytes)));
    }

    std::fs::create_dir_all(&opts.bin_dir).map_err(|e| {
        MgmtError::new(format!(
            "cannot create the bin directory `{}`: {e}",
            opts.bin_dir.display()
        ))
        .hint("pick another one with `--bin-dir`")
        .source(e)
    })?;
    let pid = std::process::id();
    let download = TempFile(opts.bin_dir.join(format!(".{}.download-{pid}", spec.name)));
    let actual = download_to_file(client, spec, &download.0, opts, progress).await?;
    if let Some(exp) = &expected {
        if &actual != exp {
            return Err(mismatch(&actual, exp));
        }
    }
    let staged = TempFile(opts.bin_dir.join(format!(".{}.new-{pid}", spec.name)));
    match &spec.packaging {
        Packaging::Binary => std::fs::rename(&download.0, &staged.0)
            .map_err(|e| fs_error("cannot move", &download.0, e))?,
        Packaging::TarGz { member } => extract_member(&download.0, member, &staged.0, spec)?,
        Packaging::Manifest => unreachable_manifest()?,
    }
    set_mode(&staged.0, 0o755)?;
    let file_sha = file_sha256(&staged.0)
        .ok_or_else(|| MgmtError::new(format!("cannot read back `{}`", staged.0.display())))?;
    let target = opts.bin_dir.join(&spec.name);
    std::fs::rename(&staged.0, &target).map_err(|e| fs_error("cannot install", &target, e))?;
    let mut state = read_state(&opts.bin_dir);
    state.tools.insert(
        spec.name.clone(),
        Installed {
            version: spec.version.clone(),
            download_sha256: actual.clone(),
            file_sha256: file_sha,
        },
    );
    write_state(&opts.bin_dir, &state)?;
    let warning = expected.is_none().then(|| unchecked_warning(spec, &actual));
    Ok((
        Done {
            name: spec.name.clone(),
            version: spec.version.clone(),
            sha256: actual,
            path: Some(target),
            warning,
        },
        None,
    ))
}

fn unreachable_manifest() -> Result<(), MgmtError> {
    Err(MgmtError::new(
        "internal error: a manifest reached the file installer",
    ))
}

fn unchecked_warning(spec: &ToolSpec, actual: &str) -> String {
    format!(
        "`{}` {} was installed without a checksum to verify it against; its SHA-256 is `{actual}` \
         (pin it with `--sha256 {}={actual}` once you have checked it)",
        spec.name, spec.version, spec.name
    )
}

/// Removes the file when dropped (unless it was renamed away).
struct TempFile(PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn fs_error(what: &str, path: &Path, e: std::io::Error) -> MgmtError {
    MgmtError::new(format!("{what} `{}`: {e}", path.display())).source(e)
}

fn set_mode(path: &Path, mode: u32) -> Result<(), MgmtError> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| fs_error("cannot set the mode of", path, e))
}

/// SHA-256 of a file, `None` when it cannot be read.
fn file_sha256(path: &Path) -> Option<String> {
    let mut f = std::fs::File::open(path).ok()?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = f.read(&mut buf).ok()?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Some(hex(&h.finalize()))
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The member of the gzipped tar at `archive` written to `dest`.
fn extract_member(
    archive: &Path,
    member: &str,
    dest: &Path,
    spec: &ToolSpec,
) -> Result<(), MgmtError> {
    let broken = |e: std::io::Error| {
        MgmtError::new(format!(
            "`{}` is not a readable .tar.gz archive: {e}",
            spec.url
        ))
        .source(e)
    };
    let f = std::fs::File::open(archive).map_err(|e| fs_error("cannot open", archive, e))?;
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(f));
    let want = member.trim_start_matches("./");
    let mut names = Vec::new();
    for entry in tar.entries().map_err(broken)? {
        let mut entry = entry.map_err(broken)?;
        let path = entry.path().map_err(broken)?.to_string_lossy().into_owned();
        let name = path.trim_start_matches("./").to_string();
        if name != want {
            if names.len() < 10 {
                names.push(name);
            }
            continue;
        }
        if !entry.header().entry_type().is_file() {
            return Err(MgmtError::new(format!(
                "`{member}` in `{}` is not a regular file",
                spec.url
            )));
        }
        let mut out = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(dest)
            .map_err(|e| fs_error("cannot create", dest, e))?;
        let copied =
            std::io::copy(&mut (&mut entry).take(MAX_EXTRACTED + 1), &mut out).map_err(broken)?;
        if copied > MAX_EXTRACTED {
            return Err(MgmtError::new(format!(
                "`{member}` in `{}` is larger than 1 GiB",
                spec.url
            )));
        }
        out.flush().map_err(|e| fs_error("cannot write", dest, e))?;
        return Ok(());
    }
    Err(MgmtError::new(format!(
        "`{}` has no `{member}` (it has: {})",
        spec.url,
        if names.is_empty() {
            "nothing".to_string()
        } else {
            names.join(", ")
        }
    ))
    .hint("the release's archive layout changed; fix the tool table or the tools manifest"))
}

fn http_client_error(e: reqwest::Error) -> MgmtError {
    MgmtError::new("cannot set up the HTTP client for downloads").source(e)
}

/// The client downloads use: connect and stall (read) timeouts, never a total one (a
/// binary may take long on a slow line); bytes as served (no transparent decompression).
///
/// # Errors
/// When the TLS backend cannot be set up.
pub fn http_client(opts: &Options) -> Result<reqwest::Client, MgmtError> {
    reqwest::Client::builder()
        .connect_timeout(opts.connect_timeout)
        .read_timeout(opts.stall_timeout)
        .no_gzip()
        .no_deflate()
        .no_brotli()
        .no_zstd()
        .build()
        .map_err(http_client_error)
}

/// A download failure, and whether trying again may help.
struct Failure {
    error: MgmtError,
    retry: bool,
}

async fn get(client: &reqwest::Client, url: &str) -> Result<reqwest::Response, Failure> {
    let resp = client.get(url).send().await.map_err(|e| Failure {
        error: MgmtError::new(format!(
            "cannot download `{url}`: {}",
            crate::cloud::retry::transport_message(&e)
        ))
        .hint("check that the URL is reachable from here (proxy, firewall)")
        .source(e),
        retry: true,
    })?;
    let status = resp.status();
    if !status.is_success() {
        return Err(Failure {
            error: MgmtError::new(format!(
                "cannot download `{url}`: the server answered {status}"
            ))
            .hint(if status == reqwest::StatusCode::NOT_FOUND {
                "no such release asset: check the version in the settings (or the tools manifest)"
            } else {
                "try again later"
            }),
            retry: status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS,
        });
    }
    Ok(resp)
}

fn backoff(opts: &Options) -> ExponentialBuilder {
    ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(300))
        .with_max_delay(Duration::from_secs(5))
        .with_max_times(opts.attempts.saturating_sub(1))
        .with_jitter()
}

/// Streams `spec.url` into `dest` (created fresh), returning the SHA-256.
async fn download_to_file(
    client: &reqwest::Client,
    spec: &ToolSpec,
    dest: &Path,
    opts: &Options,
    progress: &dyn Progress,
) -> Result<String, MgmtError> {
    let attempt = || async {
        let resp = get(client, &spec.url).await?;
        progress.start_bytes(
            &format!("downloading {} {}", spec.name, spec.version),
            resp.content_length(),
        );
        let mut file = std::fs::File::create(dest).map_err(|e| Failure {
            error: fs_error("cannot create", dest, e),
            retry: false,
        })?;
        let mut hasher = Sha256::new();
        let mut done = 0u64;
        let mut stream = resp.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| Failure {
                error: MgmtError::new(format!(
                    "downloading `{}` failed after {} bytes: {}",
                    spec.url,
                    done,
                    crate::cloud::retry::transport_message(&e)
                ))
                .source(e),
                retry: true,
            })?;
            hasher.update(&chunk);
            file.write_all(&chunk).map_err(|e| Failure {
                error: fs_error("cannot write", dest, e),
                retry: false,
            })?;
            done += chunk.len() as u64;
            progress.bytes(done);
        }
        file.flush().map_err(|e| Failure {
            error: fs_error("cannot write", dest, e),
            retry: false,
        })?;
        progress.finish(&format!(
            "downloaded {} {} ({})",
            spec.name,
            spec.version,
            crate::ui::human_bytes(done)
        ));
        Ok(hex(&hasher.finalize()))
    };
    attempt
        .retry(backoff(opts))
        .when(|f: &Failure| f.retry)
        .notify(|f: &Failure, d: Duration| {
            progress.message(&format!("{}; retrying in {:.1}s", f.error, d.as_secs_f64()));
        })
        .await
        .map_err(|f| f.error)
}

async fn download_small(
    client: &reqwest::Client,
    url: &str,
    limit: usize,
    opts: &Options,
) -> Result<Vec<u8>, MgmtError> {
    let attempt = || async {
        let resp = get(client, url).await?;
        let mut body = Vec::new();
        let mut stream = resp.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| Failure {
                error: MgmtError::new(format!(
                    "downloading `{url}` failed: {}",
                    crate::cloud::retry::transport_message(&e)
                ))
                .source(e),
                retry: true,
            })?;
            body.extend_from_slice(&chunk);
            if body.len() > limit {
                return Err(Failure {
                    error: MgmtError::new(format!(
                        "`{url}` is larger than {} and is not what was expected",
                        crate::ui::human_bytes(limit as u64)
                    )),
                    retry: false,
                });
            }
        }
        Ok(body)
    };
    attempt
        .retry(backoff(opts))
        .when(|f: &Failure| f.retry)
        .await
        .map_err(|f| f.error)
}

async fn download_to_memory(
    client: &reqwest::Client,
    spec: &ToolSpec,
    opts: &Options,
    progress: &dyn Progress,
) -> Result<Vec<u8>, MgmtError> {
    progress.phase(&format!("downloading {} {}", spec.name, spec.version));
    let body = download_small(client, &spec.url, MAX_MANIFEST, opts).await?;
    progress.finish(&format!(
        "downloaded {} {} ({})",
        spec.name,
        spec.version,
        crate::ui::human_bytes(body.len() as u64)
    ));
    Ok(body)
}

/// The SHA-256 a release's checksum file gives for `asset_url`'s file name.
async fn published_sum(
    client: &reqwest::Client,
    sums_url: &str,
    asset_url: &str,
    opts: &Options,
) -> Result<String, MgmtError> {
    let body = download_small(client, sums_url, MAX_CHECKSUM_FILE, opts).await?;
    let text = String::from_utf8_lossy(&body);
    let file = asset_url.rsplit('/').next().unwrap_or(asset_url);
    sum_for(&text, file).ok_or_else(|| {
        MgmtError::new(format!(
            "the checksum file `{sums_url}` has no SHA-256 for `{file}`"
        ))
        .hint("pass the sum you trust with `--sha256`")
    })
}

/// The sum for `file` in `sha256sum` output (`<sum>  <file>` lines, `*file` for binary
/// mode); a file of one bare sum counts for any name (cilium's `.sha256sum`).
pub fn sum_for(text: &str, file: &str) -> Option<String> {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    for l in &lines {
        let mut it = l.split_whitespace();
        if let (Some(sum), Some(name)) = (it.next(), it.next()) {
            let name = name.trim_start_matches('*').trim_start_matches("./");
            let base = name.rsplit('/').next().unwrap_or(name);
            if is_sha256(sum)
                && (name.eq_ignore_ascii_case(file) || base.eq_ignore_ascii_case(file))
            {
                return Some(sum.to_ascii_lowercase());
            }
        }
    }
    match lines.as_slice() {
        [one] if one.split_whitespace().count() == 1 && is_sha256(one.trim()) => {
            Some(one.trim().to_ascii_lowercase())
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mgmt::tools::Packaging;

    fn spec(name: &str, sha: Option<&str>, sums: Option<&str>) -> ToolSpec {
        ToolSpec {
            name: name.into(),
            version: "v1.0.0".into(),
            url: format!("http://127.0.0.1:1/{name}"),
            packaging: Packaging::Binary,
            sha256: sha.map(String::from),
            pin_source: sha.map(|_| "test".into()),
            checksums_url: sums.map(String::from),
        }
    }

    #[test]
    fn plan_refuses_unpinned_unless_allowed() {
        let dir = tempfile::tempdir().unwrap();
        let a = "a".repeat(64);
        let specs = [
            spec("pinned", Some(&a), None),
            spec("bare", None, None),
            spec("sidecar", None, Some("http://x/sums")),
        ];
        let mut opts = Options::new(dir.path().into());
        let p = plan(&specs, &opts).unwrap();
        assert_eq!(p[0].action, Action::Install);
        assert_eq!(p[1].action, Action::Refused);
        assert_eq!(p[2].action, Action::Refused);
        let e = ensure_none_refused(&p).unwrap_err();
        assert!(e.message.contains("`bare` v1.0.0, `sidecar` v1.0.0"), "{e}");
        assert!(e.hint.unwrap().contains("--sha256 bare=SUM"));

        opts.allow_unpinned = true;
        let p = plan(&specs, &opts).unwrap();
        assert_eq!(p[1].check, Some(Check::Unchecked));
        assert_eq!(
            p[2].check,
            Some(Check::PublishedFile {
                url: "http://x/sums".into()
            })
        );
        ensure_none_refused(&p).unwrap();

        opts.allow_unpinned = false;
        opts.user_sums.insert("bare".into(), "B".repeat(64));
        let p = plan(&specs, &opts).unwrap();
        assert_eq!(
            p[1].check,
            Some(Check::UserGiven {
                sha256: "b".repeat(64)
            })
        );
        opts.user_sums.insert("nosuch".into(), "b".repeat(64));
        assert!(
            plan(&specs, &opts)
                .unwrap_err()
                .message
                .contains("names no tool")
        );
    }

    #[test]
    fn up_to_date_needs_same_version_sum_and_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("tool"), b"binary").unwrap();
        let file_sha = file_sha256(&dir.path().join("tool")).unwrap();
        let a = "a".repeat(64);
        let mut state = State::default();
        state.tools.insert(
            "tool".into(),
            Installed {
                version: "v1.0.0".into(),
                download_sha256: a.clone(),
                file_sha256: file_sha,
            },
        );
        write_state(dir.path(), &state).unwrap();
        let opts = Options::new(dir.path().into());
        let s = spec("tool", Some(&a), None);
        assert_eq!(
            plan(&[s.clone()], &opts).unwrap()[0].action,
            Action::UpToDate
        );
        let mut newer = s.clone();
        newer.version = "v1.0.1".into();
        assert_eq!(plan(&[newer], &opts).unwrap()[0].action, Action::Install);
        std::fs::write(dir.path().join("tool"), b"replaced").unwrap();
        assert_eq!(plan(&[s], &opts).unwrap()[0].action, Action::Install);
    }

    #[test]
    fn checksum_files() {
        let a = "a".repeat(64);
        let b = "b".repeat(64);
        let text =
            format!("{a}  flux_2.9.4_linux_amd64.tar.gz\n{b} *flux_2.9.4_darwin_arm64.tar.gz\n");
        assert_eq!(
            sum_for(&text, "flux_2.9.4_linux_amd64.tar.gz"),
            Some(a.clone())
        );
        assert_eq!(sum_for(&text, "flux_2.9.4_darwin_arm64.tar.gz"), Some(b));
        assert_eq!(sum_for(&text, "other.tar.gz"), None);
        assert_eq!(
            sum_for(&format!("{a}\n"), "cilium-linux-amd64.tar.gz"),
            Some(a.clone())
        );
        assert_eq!(sum_for("", "x"), None);
        assert_eq!(sum_for("not a sum\n", "x"), None);
    }

    #[test]
    fn default_bin_dir_prefers_xdg_data_home() {
        // Read-only check of the rule on the current environment.
        let d = default_bin_dir();
        if let Some(x) = std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
            assert_eq!(d, Some(PathBuf::from(x).join("scs-capi/bin")));
        } else if let Some(h) = std::env::var_os("HOME").filter(|v| !v.is_empty()) {
            assert_eq!(d, Some(PathBuf::from(h).join(".local/share/scs-capi/bin")));
        }
    }
}
