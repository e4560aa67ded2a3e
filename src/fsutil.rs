//! Writing files with explicit permissions, atomically (temp file + rename), so a
//! private file is never world-readable, not even for a moment.
//!
//! The temporary file gets an unpredictable name and is created exclusively
//! (`O_EXCL`, through `tempfile`) in the target's directory: a symlink planted under a
//! guessable name (`.config.tmp-<pid>`) would otherwise be followed and the content written
//! wherever it points. The rename replaces `path` itself; callers that mean to write
//! through a symlink resolve it first (`get-kubeconfig --merge`).

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::error::{Error, Result};

/// # Errors
/// [`Error::Write`] when the file cannot be created, written or renamed.
pub fn write_file(path: &Path, content: &[u8], mode: u32) -> Result<()> {
    let wrap = |source| Error::Write {
        path: path.to_path_buf(),
        source,
    };
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    // Created 0600 by tempfile; the final mode is set before any content is written.
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(wrap)?;
    tmp.as_file()
        .set_permissions(std::fs::Permissions::from_mode(mode))
        .map_err(wrap)?;
    tmp.write_all(content).map_err(wrap)?;
    tmp.persist(path).map(|_| ()).map_err(|e| wrap(e.error))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_symlink_under_the_old_temporary_name_is_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "keep").unwrap();
        let target = dir.path().join("config");
        // The name the writer used to take: `.<name>.tmp-<pid>`.
        let planted = dir
            .path()
            .join(format!(".config.tmp-{}", std::process::id()));
        std::os::unix::fs::symlink(&victim, &planted).unwrap();
        write_file(&target, b"secret", 0o600).unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep");
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "secret");
        let meta = std::fs::symlink_metadata(&target).unwrap();
        assert!(meta.file_type().is_file());
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .filter(|n| n.to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }

    #[test]
    fn modes_are_exact_whatever_the_umask() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("public");
        write_file(&p, b"x", 0o644).unwrap();
        assert_eq!(
            std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o644
        );
    }
}
