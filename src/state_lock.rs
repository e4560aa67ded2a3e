//! One run per cluster on this machine: commands that change a cluster or its state
//! directory hold an exclusive lock on `<state dir>/lock` for their whole run, so two runs
//! cannot race on the application credential, the image upload or the state files. The
//! lock is the operating system's (`flock`), released when the process ends however it
//! ends; the file only says who holds it.
//!
//! Runs on other machines are not seen here; that needs a lock in the management cluster,
//! which this module does not own.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use crate::error::{Error, Result};

/// Held while alive.
#[derive(Debug)]
pub struct StateLock {
    _file: File,
}

/// Takes the lock of cluster `cluster` for `command` (for the message another run gets).
///
/// # Errors
/// [`Error::Usage`] (exit 2) naming the holder when another run has it; I/O errors.
pub fn acquire(cluster: &str, command: &str) -> Result<StateLock> {
    let dir = crate::cloud::prepare::state_dir(cluster)?;
    acquire_in(&dir, cluster, command)
}

/// [`acquire`] in an explicit state directory.
///
/// # Errors
/// As [`acquire`].
pub fn acquire_in(dir: &Path, cluster: &str, command: &str) -> Result<StateLock> {
    crate::lifecycle::kubeconfig::create_private_dir(dir)?;
    let path = dir.join("lock");
    let io = |source| Error::Write {
        path: path.clone(),
        source,
    };
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&path)
        .map_err(io)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let holder = holder.trim();
            let holder = if holder.is_empty() {
                "another run".to_string()
            } else {
                format!("another run ({holder})")
            };
            return Err(Error::usage(
                format!("{holder} is working on cluster `{cluster}`; nothing was changed"),
                Some(format!(
                    "wait until it has finished, then run again (the lock is `{}`)",
                    path.display()
                )),
            ));
        }
        Err(TryLockError::Error(e)) => return Err(io(e)),
    }
    file.set_len(0).map_err(io)?;
    file.rewind().map_err(io)?;
    let _ = writeln!(
        file,
        "`scs-capi {command}`, pid {}, since {}",
        std::process::id(),
        chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ")
    );
    Ok(StateLock { _file: file })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_run_is_refused_until_the_first_ends() {
        let dir = tempfile::tempdir().unwrap();
        let first = acquire_in(dir.path(), "foo", "create-cluster").unwrap();
        let e = acquire_in(dir.path(), "foo", "delete-cluster").unwrap_err();
        let text = e.to_string();
        assert!(text.contains("`scs-capi create-cluster`, pid"), "{text}");
        assert!(text.contains("cluster `foo`"), "{text}");
        drop(first);
        assert!(acquire_in(dir.path(), "foo", "delete-cluster").is_ok());
    }
}
