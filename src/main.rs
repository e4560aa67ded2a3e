//! The `scs-capi` binary: parse the command line, run, map the result to an exit code.

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = scs_capi::cli::Cli::parse();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let stderr = std::io::stderr();
    let mut err = stderr.lock();
    let result = scs_capi::run(cli, &mut out, &mut err);
    let _ = out.flush();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            scs_capi::error::report(&e, &mut err);
            e.exit_code()
        }
    }
}
