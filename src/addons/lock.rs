//! The addons lock file: the SHA-256 of every upstream manifest a cluster's addons were
//! built from, so a changed or tampered file is refused. Like terraform's
//! `.terraform.lock.hcl`, a checksum is recorded the first time a file is used (unless
//! the run is `--locked`); commit the file next to the settings and review its changes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::AddonError;
use crate::fsutil;

/// File name of the lock, next to the cluster settings.
pub const FILE_NAME: &str = "addons.lock.yaml";

const HEADER: &str = "# SHA-256 of every upstream addon manifest scs-capi used, by URL.\n\
# Written by scs-capi; commit it and review changes like code.\n";

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct LockFile {
    version: u32,
    #[serde(default)]
    files: BTreeMap<String, String>,
}

/// The lock as loaded, plus what this run recorded.
#[derive(Debug, Clone)]
pub struct Lock {
    path: PathBuf,
    files: BTreeMap<String, String>,
    recorded: Vec<String>,
}

impl Lock {
    /// Reads `path`; a missing file is an empty lock.
    ///
    /// # Errors
    /// A file that cannot be read or is not a lock file (named with line and column).
    pub fn load(path: &Path) -> Result<Lock, AddonError> {
        let restore = "restore it from version control, or delete it to record the checksums anew";
        let files = match std::fs::read_to_string(path) {
            Ok(text) => {
                let file: LockFile = serde_saphyr::from_str(&text).map_err(|e| {
                    AddonError::new(format!("{}: not an addons lock file: {e}", path.display()))
                        .hint(restore)
                })?;
                for (url, sum) in &file.files {
                    if !is_sha256(sum) {
                        return Err(AddonError::new(format!(
                            "{}: `{url}` has `{sum}`, not a SHA-256 (64 hex digits)",
                            path.display()
                        ))
                        .hint(restore));
                    }
                }
                file.files
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => {
                return Err(AddonError::new(format!(
                    "cannot read `{}`: {e}",
                    path.display()
                )));
            }
        };
        Ok(Lock {
            path: path.to_path_buf(),
            files,
            recorded: Vec::new(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The pinned checksum of `url`.
    pub fn get(&self, url: &str) -> Option<&str> {
        self.files.get(url).map(String::as_str)
    }

    /// Pins `url` to `sha256` (first use).
    pub fn record(&mut self, url: &str, sha256: &str) {
        self.files.insert(url.to_string(), sha256.to_string());
        self.recorded.push(url.to_string());
    }

    /// URLs recorded during this run.
    pub fn recorded(&self) -> &[String] {
        &self.recorded
    }

    /// Writes the lock when this run recorded something.
    ///
    /// # Errors
    /// The file cannot be written.
    pub fn save(&self) -> Result<(), AddonError> {
        if self.recorded.is_empty() {
            return Ok(());
        }
        let file = LockFile {
            version: 1,
            files: self.files.clone(),
        };
        let body = serde_saphyr::to_string(&file)
            .map_err(|e| AddonError::new(format!("cannot serialize the addons lock: {e}")))?;
        fsutil::write_file(&self.path, format!("{HEADER}{body}").as_bytes(), 0o644)
            .map_err(|e| AddonError::new(format!("cannot write `{}`: {e}", self.path.display())))
    }
}

/// 64 lowercase hex digits.
pub fn is_sha256(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SUM: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn records_and_reloads() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        let mut lock = Lock::load(&path).unwrap();
        assert_eq!(lock.get("https://x/a.yaml"), None);
        lock.save().unwrap();
        assert!(!path.exists(), "nothing recorded, nothing written");
        lock.record("https://x/a.yaml", SUM);
        lock.save().unwrap();
        let again = Lock::load(&path).unwrap();
        assert_eq!(again.get("https://x/a.yaml"), Some(SUM));
        assert!(again.recorded().is_empty());
        assert!(
            std::fs::read_to_string(&path)
                .unwrap()
                .starts_with("# SHA-256")
        );
    }

    #[test]
    fn a_broken_lock_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        std::fs::write(&path, "version: 1\nfiles:\n  https://x/a.yaml: nope\n").unwrap();
        let e = Lock::load(&path).unwrap_err().to_string();
        assert!(e.contains(FILE_NAME) && e.contains("not a SHA-256"), "{e}");
        std::fs::write(&path, "version: 1\nfilez: {}\n").unwrap();
        let e = Lock::load(&path).unwrap_err().to_string();
        assert!(e.contains("not an addons lock file"), "{e}");
    }
}
