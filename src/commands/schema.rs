//! `scs-capi schema`: the JSON Schema of settings files, for editors and CI.

use crate::error::Result;

pub fn run(out: &mut dyn std::io::Write) -> Result<()> {
    let text =
        serde_json::to_string_pretty(&crate::settings::schema()).map_err(anyhow::Error::from)?;
    writeln!(out, "{text}").map_err(anyhow::Error::from)?;
    Ok(())
}
