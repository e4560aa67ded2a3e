//! The `scs-capi` binary: parse the command line, run, map the result to an exit code.

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = scs_capi::cli::Cli::parse();
    if cli.command.is_long_running()
        && let Err(e) = scs_capi::interrupt::install()
    {
        eprintln!("warning: cannot handle SIGINT/SIGTERM ({e}); Ctrl-C stops at once");
    }
    // Unlocked handles: each write takes the lock for itself. Holding stderr's lock for the
    // whole run blocked the progress bar's drawing thread, and with it every later progress
    // call: commands hung on a terminal.
    let mut out = std::io::stdout();
    let mut err = std::io::stderr();
    let result = scs_capi::run(cli, &mut out, &mut err);
    let _ = out.flush();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.is_broken_pipe() => ExitCode::SUCCESS,
        Err(e) => {
            scs_capi::error::report(&e, &mut err);
            // A run that fails after a signal fails because of it (a step cut short).
            match scs_capi::interrupt::signal() {
                Some(sig) => ExitCode::from(scs_capi::interrupt::exit_code(sig)),
                None => e.exit_code(),
            }
        }
    }
}
