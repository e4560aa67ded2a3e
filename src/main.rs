//! The `scs-capi` binary: parse the command line, run, map the result to an exit code.

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = scs_capi::cli::Cli::parse();
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
            e.exit_code()
        }
    }
}
