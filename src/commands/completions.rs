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

pub fn run(args: &Args, out: &mut dyn std::io::Write) -> Result<()> {
    let mut cmd = Cli::command();
    clap_complete::generate(args.shell, &mut cmd, "scs-capi", out);
    Ok(())
}

pub fn man(out: &mut dyn std::io::Write) -> Result<()> {
    clap_mangen::Man::new(Cli::command())
        .render(out)
        .map_err(anyhow::Error::from)?;
    Ok(())
}
