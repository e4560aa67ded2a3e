//! `scs-capi settings init` and `scs-capi settings import`.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result, Severity};
use crate::settings::{self, Input};

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Write a commented settings file with every key and its default.
    #[command(after_help = "Examples:\n  scs-capi settings init --cluster demo -o demo.yaml")]
    Init(InitArgs),
    /// Convert an R4 clusterctl.yaml into a settings file, reporting keys it cannot map.
    #[command(
        after_help = "Examples:\n  scs-capi settings import ~/demo/clusterctl.yaml -o demo.yaml\n  scs-capi validate --profile r4 demo.yaml"
    )]
    Import(ImportArgs),
}

#[derive(Debug, clap::Args)]
pub struct InitArgs {
    /// Name of the cluster.
    #[arg(long, default_value = "mycluster")]
    pub cluster: String,
    /// Write to FILE (`NAME.yaml`) instead of stdout (refuses to overwrite).
    #[arg(short, long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// The R4 clusterctl.yaml.
    pub clusterctl_yaml: PathBuf,
    /// Write to FILE (`NAME.yaml`) instead of stdout (refuses to overwrite).
    #[arg(short, long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

pub fn run(
    cmd: &Command,
    out: &mut dyn std::io::Write,
    err: &mut dyn std::io::Write,
) -> Result<()> {
    match cmd {
        Command::Init(args) => emit(
            &settings::starter_file(&args.cluster),
            args.out.as_deref(),
            out,
        ),
        Command::Import(args) => {
            let source = settings::SourceFile::read(&args.clusterctl_yaml)?;
            let imported = settings::import_r4::import(&Input {
                name: &source.name,
                bytes: &source.bytes,
            });
            for d in &imported.diagnostics {
                let _ = writeln!(err, "{d}");
            }
            if imported
                .diagnostics
                .iter()
                .any(|d| d.severity == Severity::Error)
            {
                return Err(Error::Reported);
            }
            let text = format!(
                "# Imported by `scs-capi settings import` from `{}`.\n{}",
                source.name,
                settings::write::render_yaml(&imported.values)
            );
            emit(&text, args.out.as_deref(), out)
        }
    }
}

fn emit(text: &str, path: Option<&Path>, out: &mut dyn std::io::Write) -> Result<()> {
    // `-o json` (as `--output json` elsewhere) would otherwise create a file named `json`.
    if let Some(p) = path
        && !p.extension().is_some_and(|e| e == "yaml" || e == "yml")
    {
        return Err(Error::usage(
            format!(
                "`{}` is not a settings file name: settings files end in `.yaml` or `.yml`",
                p.display()
            ),
            Some(
                "`-o`/`--out` takes a file (e.g. `-o demo.yaml`; `validate DIR` and `create-cluster -f` look for that ending); without it the file is printed"
                    .to_string(),
            ),
        ));
    }
    match path {
        Some(p) if p.exists() => Err(Error::usage(
            format!("`{}` already exists", p.display()),
            Some("choose another file or remove it first".to_string()),
        )),
        Some(p) => crate::fsutil::write_file(p, text.as_bytes(), 0o644),
        None => out
            .write_all(text.as_bytes())
            .map_err(|e| Error::Other(e.into())),
    }
}
