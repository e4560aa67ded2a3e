//! `scs-capi schema`: the JSON Schema of settings files (for editors and CI), or the
//! configuration reference generated from it.

use crate::error::{Error, Result};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// `json`: the JSON Schema; `markdown`: the configuration reference.
    #[arg(long, value_enum, default_value_t = Format::Json)]
    pub format: Format,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Json,
    Markdown,
}

pub fn run(args: &Args, out: &mut dyn std::io::Write) -> Result<()> {
    let text = match args.format {
        Format::Json => {
            serde_json::to_string_pretty(&crate::settings::schema()).map_err(anyhow::Error::from)?
                + "\n"
        }
        Format::Markdown => crate::settings::reference_markdown(),
    };
    out.write_all(text.as_bytes())
        .map_err(|e| Error::Other(e.into()))
}
