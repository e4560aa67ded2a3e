//! Writing files with explicit permissions, atomically (temp file + rename), so a
//! private file is never world-readable, not even for a moment.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
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
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&tmp)
        .map_err(wrap)?;
    // The mode passed to open() is filtered by the umask; set it exactly.
    f.set_permissions(std::fs::Permissions::from_mode(mode))
        .map_err(wrap)?;
    f.write_all(content).map_err(wrap)?;
    std::fs::rename(&tmp, path).map_err(wrap)
}
