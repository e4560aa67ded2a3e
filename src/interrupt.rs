//! SIGINT/SIGTERM: stop at a safe point.
//!
//! Owns the process-wide "interrupted" flag and the signal handler thread. [`install`]
//! (called once by `main` for the long-running commands) replaces the default "die now"
//! of SIGINT and SIGTERM: the first signal sets the flag, prints
//! [`MESSAGE`] and lets the running step finish; the code checks [`check`] between steps
//! and races long waits (an image upload, polling) against [`interrupted`], cleaning up
//! what it created (an in-flight image is deleted). A second signal exits at once with
//! the same code. The exit code is 128 + the signal's number: 130 for SIGINT, 143 for
//! SIGTERM ([`exit_code`]).
//!
//! It does not decide what a safe point is: the commands do, by where they call
//! [`check`].

use std::sync::atomic::{AtomicI32, Ordering};
use std::time::Duration;

/// Printed (to stderr) on the first signal.
pub const MESSAGE: &str =
    "interrupted: stopping after the current step (press Ctrl-C again to stop now)";

pub const SIGINT: i32 = 2;
pub const SIGTERM: i32 = 15;

/// 0 = not interrupted, else the number of the first signal.
static SIGNAL: AtomicI32 = AtomicI32::new(0);

/// The signal that interrupted this process, if any.
pub fn signal() -> Option<i32> {
    match SIGNAL.load(Ordering::SeqCst) {
        0 => None,
        s => Some(s),
    }
}

/// Marks the process as interrupted by `sig` (what the handler does; tests call it too).
/// Returns whether this was the first signal.
pub fn raise(sig: i32) -> bool {
    SIGNAL
        .compare_exchange(0, sig, Ordering::SeqCst, Ordering::SeqCst)
        .is_ok()
}

/// The exit code for an interrupted run: 128 + signal (130 for SIGINT).
pub fn exit_code(sig: i32) -> u8 {
    u8::try_from(128 + sig).unwrap_or(130)
}

/// The error of a run stopped by a signal.
#[derive(Debug, Clone, thiserror::Error)]
#[error("interrupted by {}: stopped {at}", signal_name(*.signal))]
pub struct Interrupted {
    pub signal: i32,
    /// Where it stopped ("before creating the application credential").
    pub at: String,
}

pub fn signal_name(sig: i32) -> &'static str {
    match sig {
        SIGINT => "SIGINT (Ctrl-C)",
        SIGTERM => "SIGTERM",
        _ => "a signal",
    }
}

/// A safe point: `Err` once a signal came in. `at` says where the run stops
/// ("before creating server groups").
pub fn check(at: &str) -> Result<(), Interrupted> {
    match signal() {
        None => Ok(()),
        Some(signal) => Err(Interrupted {
            signal,
            at: at.to_string(),
        }),
    }
}

/// Resolves once the process is interrupted (polls the flag every 50 ms; works in any
/// runtime). Race it against a long wait with `tokio::select!`.
pub async fn interrupted() -> i32 {
    loop {
        if let Some(s) = signal() {
            return s;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Starts the handler thread. The first SIGINT/SIGTERM sets the flag and prints
/// [`MESSAGE`]; the second exits the process at once with [`exit_code`]. Idempotent.
///
/// # Errors
/// The signal handlers cannot be installed (no runtime, no signalfd); the caller can go
/// on without them (the default: the signal kills the process).
pub fn install() -> std::io::Result<()> {
    use std::sync::OnceLock;
    static INSTALLED: OnceLock<()> = OnceLock::new();
    if INSTALLED.get().is_some() {
        return Ok(());
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()?;
    // Register in this thread, so no signal between `install` and the thread's start is
    // lost to the default action.
    #[cfg(unix)]
    let (mut int, mut term) = {
        use tokio::signal::unix::{SignalKind, signal};
        let _g = rt.enter();
        (
            signal(SignalKind::interrupt())?,
            signal(SignalKind::terminate())?,
        )
    };
    let _ = INSTALLED.set(());
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            rt.block_on(async move {
                loop {
                    #[cfg(unix)]
                    let sig = tokio::select! {
                        _ = int.recv() => SIGINT,
                        _ = term.recv() => SIGTERM,
                    };
                    #[cfg(not(unix))]
                    let sig = {
                        let _ = tokio::signal::ctrl_c().await;
                        SIGINT
                    };
                    if raise(sig) {
                        eprintln!("\n{MESSAGE}");
                    } else {
                        eprintln!("\ninterrupted again: stopping now");
                        std::process::exit(i32::from(exit_code(signal().unwrap_or(sig))));
                    }
                }
            });
        })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_the_shell_convention() {
        assert_eq!(exit_code(SIGINT), 130);
        assert_eq!(exit_code(SIGTERM), 143);
    }

    #[test]
    fn interrupted_message_names_signal_and_place() {
        let e = Interrupted {
            signal: SIGINT,
            at: "before creating server groups".into(),
        };
        assert_eq!(
            e.to_string(),
            "interrupted by SIGINT (Ctrl-C): stopped before creating server groups"
        );
    }
}
