//! `scs-capi completions SHELL` and `scs-capi man`.

use clap::CommandFactory;
use clap_complete::Shell;

use crate::cli::Cli;
use crate::error::Result;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The shell to complete for.
    pub shell: Shell,
}

/// The name the completions are registered for.
const BIN: &str = "scs-capi";

/// The completion script for `shell`.
pub fn script(shell: Shell) -> String {
    let mut cmd = Cli::command();
    let mut buf = Vec::new();
    clap_complete::generate(shell, &mut cmd, BIN, &mut buf);
    let text = String::from_utf8_lossy(&buf).into_owned();
    match shell {
        // clap_complete spells the state of a subcommand of a hyphenated binary two ways:
        // the word loop sets `scs__capi__subcmd__render`, the case arms expect
        // `scs__subcmd__capi__subcmd__render`, so nothing completes after the subcommand
        // (clap-rs/clap#6421). Use the loop's spelling everywhere.
        Shell::Bash => text.replace("scs__subcmd__capi", "scs__capi"),
        _ => text,
    }
}

/// # Errors
/// When stdout cannot be written (a closed pipe ends the command quietly, see `main`).
pub fn run(args: &Args, out: &mut dyn std::io::Write) -> Result<()> {
    // Generated into memory first: clap_complete panics when its writer fails.
    out.write_all(script(args.shell).as_bytes())
        .map_err(|e| anyhow::Error::from(e).into())
}

/// # Errors
/// When stdout cannot be written.
pub fn man(out: &mut dyn std::io::Write) -> Result<()> {
    let mut buf = Vec::new();
    clap_mangen::Man::new(Cli::command())
        .render(&mut buf)
        .map_err(anyhow::Error::from)?;
    out.write_all(&buf)
        .map_err(|e| anyhow::Error::from(e).into())
}
