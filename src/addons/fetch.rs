//! Downloading addon manifests: from upstream (or a mirror with the same paths), checked
//! against the [`Lock`], kept in a content-addressed cache (`$XDG_CACHE_HOME/scs-capi/addons`)
//! so each file is downloaded once.

use std::path::PathBuf;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use sha2::{Digest, Sha256};

use super::AddonError;
use super::lock::Lock;

/// Upper bound of one manifest (cert-manager's, the largest, is about 1 MiB).
const MAX_BYTES: usize = 32 * 1024 * 1024;

/// Where manifests come from and go.
#[derive(Debug, Clone)]
pub struct Fetcher {
    client: reqwest::Client,
    cache_dir: PathBuf,
    mirror: Option<String>,
    locked: bool,
}

impl Fetcher {
    /// `mirror` (`http(s)://host[:port][/base]`) replaces `https://` of every upstream URL:
    /// `https://github.com/a/b` is fetched from `<mirror>/github.com/a/b`; the lock keeps the
    /// upstream URL. `locked` refuses files the lock has no checksum for (like `cargo
    /// --locked`).
    ///
    /// A plain `http://` mirror is refused unless the run is `locked` (every file then has
    /// a checksum from the lock, so what travels in clear text cannot be swapped) or the
    /// mirror is on this machine (a loopback address): the manifests are applied as
    /// cluster-admin, and trusting them on first use over http lets anyone on the path
    /// choose them.
    ///
    /// # Errors
    /// A mirror that is not an http(s) URL, or a plain-http one without `locked`.
    pub fn new(cache_dir: PathBuf, mirror: Option<&str>, locked: bool) -> Result<Self, AddonError> {
        let mirror = match mirror.map(|m| m.trim_end_matches('/')) {
            None | Some("") => None,
            Some(m) if m.starts_with("https://") => Some(m.to_string()),
            Some(m) if m.starts_with("http://") && (locked || is_loopback(m)) => {
                Some(m.to_string())
            }
            Some(m) if m.starts_with("http://") => {
                return Err(AddonError::new(format!(
                    "addon mirror `{m}` is plain http and the run is not --locked"
                ))
                .hint("anyone on the network path could change the manifests, which are applied as cluster-admin: use an https mirror, or pin every file in the lock (one run against upstream) and pass --locked"));
            }
            Some(m) => {
                return Err(
                    AddonError::new(format!("addon mirror `{m}` is not an http(s) URL"))
                        .hint("give it like `https://mirror.example.com/addons`"),
                );
            }
        };
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(120))
            .build()
            .map_err(|e| AddonError::new(format!("cannot start the HTTP client: {e}")))?;
        Ok(Fetcher {
            client,
            cache_dir,
            mirror,
            locked,
        })
    }

    /// `$XDG_CACHE_HOME/scs-capi/addons`, else `~/.cache/scs-capi/addons`.
    pub fn default_cache_dir() -> Option<PathBuf> {
        let base = match std::env::var_os("XDG_CACHE_HOME").filter(|v| !v.is_empty()) {
            Some(dir) => PathBuf::from(dir),
            None => {
                PathBuf::from(std::env::var_os("HOME").filter(|v| !v.is_empty())?).join(".cache")
            }
        };
        Some(base.join("scs-capi").join("addons"))
    }

    /// Where `url` is downloaded from.
    pub fn source_url(&self, url: &str) -> String {
        match (&self.mirror, url.strip_prefix("https://")) {
            (Some(mirror), Some(rest)) => format!("{mirror}/{rest}"),
            _ => url.to_string(),
        }
    }

    /// The text of `url`: from the cache when the lock pins it and the cached copy matches,
    /// else downloaded and checked (or, on first use, pinned in `lock`).
    ///
    /// # Errors
    /// Download failures (after retries), a checksum that differs from the lock, a file
    /// the lock does not know under `locked`, or text that is not UTF-8.
    pub async fn fetch(&self, url: &str, lock: &mut Lock) -> Result<String, AddonError> {
        let pinned = lock.get(url).map(str::to_string);
        if let Some(sum) = &pinned {
            if let Some(text) = self.cached(sum) {
                return Ok(text);
            }
        } else if self.locked {
            return Err(AddonError::new(format!(
                "`{url}` has no checksum in `{}` and the run is --locked",
                lock.path().display()
            ))
            .hint("run once without --locked to record it, then review and commit the lock file"));
        }
        let bytes = self.download(url).await?;
        let sum = hex(&Sha256::digest(&bytes));
        match &pinned {
            Some(expected) if *expected != sum => {
                return Err(AddonError::new(format!(
                    "checksum mismatch for `{url}`: the lock `{}` pins {expected}, the download has {sum}",
                    lock.path().display()
                ))
                .hint("the file changed upstream or in transit; nothing was applied. If the change is expected, delete its line from the lock file to pin the new content"));
            }
            Some(_) => {}
            None => lock.record(url, &sum),
        }
        let text = String::from_utf8(bytes)
            .map_err(|_| AddonError::new(format!("`{url}` is not UTF-8 text")))?;
        self.store(&sum, &text);
        Ok(text)
    }

    fn cache_path(&self, sum: &str) -> PathBuf {
        self.cache_dir.join(format!("{sum}.yaml"))
    }

    /// The cached copy of `sum`, when present and intact.
    fn cached(&self, sum: &str) -> Option<String> {
        let bytes = std::fs::read(self.cache_path(sum)).ok()?;
        (hex(&Sha256::digest(&bytes)) == sum)
            .then(|| String::from_utf8(bytes).ok())
            .flatten()
    }

    /// Best effort: a cache that cannot be written only costs a download next time.
    fn store(&self, sum: &str, text: &str) {
        if std::fs::create_dir_all(&self.cache_dir).is_ok() {
            let _ = crate::fsutil::write_file(&self.cache_path(sum), text.as_bytes(), 0o644);
        }
    }

    async fn download(&self, url: &str) -> Result<Vec<u8>, AddonError> {
        let source = self.source_url(url);
        let attempt = || async {
            let resp = self
                .client
                .get(&source)
                .send()
                .await
                .map_err(Failure::transport)?;
            let status = resp.status();
            if !status.is_success() {
                return Err(Failure {
                    message: format!("HTTP {status}"),
                    retry: status.is_server_error() || status.as_u16() == 429,
                });
            }
            if resp.content_length().is_some_and(|n| n > MAX_BYTES as u64) {
                return Err(Failure::fatal(format!("larger than {MAX_BYTES} bytes")));
            }
            let body = resp.bytes().await.map_err(Failure::transport)?;
            if body.len() > MAX_BYTES {
                return Err(Failure::fatal(format!("larger than {MAX_BYTES} bytes")));
            }
            Ok(body.to_vec())
        };
        attempt
            .retry(
                ExponentialBuilder::default()
                    .with_min_delay(Duration::from_millis(200))
                    .with_max_times(3),
            )
            .when(|f: &Failure| f.retry)
            .await
            .map_err(|f| {
                let from = if source == url {
                    String::new()
                } else {
                    format!(" (from `{source}`)")
                };
                AddonError::new(format!("cannot download `{url}`{from}: {}", f.message))
                    .hint("check the network or the addon mirror; nothing was applied")
            })
    }
}

struct Failure {
    message: String,
    retry: bool,
}

impl Failure {
    fn transport(e: reqwest::Error) -> Failure {
        let mut message = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(cause) = source {
            message.push_str(": ");
            message.push_str(&cause.to_string());
            source = cause.source();
        }
        Failure {
            retry: e.is_connect() || e.is_timeout() || e.is_request() || e.is_body(),
            message,
        }
    }

    fn fatal(message: String) -> Failure {
        Failure {
            message,
            retry: false,
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The SHA-256 of `text` as the lock writes it.
pub fn sha256_hex(text: &[u8]) -> String {
    hex(&Sha256::digest(text))
}

/// Whether an `http://` URL names this machine (`localhost`, `127.0.0.0/8`, `[::1]`):
/// nothing travels over a network then.
fn is_loopback(url: &str) -> bool {
    let rest = url.strip_prefix("http://").unwrap_or(url);
    let authority = rest.split('/').next().unwrap_or("");
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => host.split(':').next().unwrap_or(""),
    };
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_mirrors_need_locked_unless_local() {
        let dir = std::env::temp_dir();
        let e =
            Fetcher::new(dir.clone(), Some("http://mirror.example.com/addons"), false).unwrap_err();
        assert!(e.to_string().contains("--locked"), "{e}");
        assert!(Fetcher::new(dir.clone(), Some("http://mirror.example.com"), true).is_ok());
        assert!(Fetcher::new(dir.clone(), Some("https://mirror.example.com"), false).is_ok());
        for local in [
            "http://127.0.0.1:8080",
            "http://localhost/x",
            "http://[::1]:9/",
        ] {
            assert!(
                Fetcher::new(dir.clone(), Some(local), false).is_ok(),
                "{local}"
            );
        }
        // Userinfo does not make a remote host local.
        assert!(Fetcher::new(dir, Some("http://127.0.0.1@evil.example.com/"), false).is_err());
    }
}
