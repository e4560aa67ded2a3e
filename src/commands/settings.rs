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
        after_help = "Examples:\n  scs-capi settings import ~/demo/clusterctl.yaml -o demo.yaml\n  scs-capi settings import ~/demo/clusterctl.yaml --cluster demo --capi-settings ~/.capi-settings -o demo.yaml\n  scs-capi validate --profile r4 demo.yaml"
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
    /// The R4 clusterctl.yaml (R4 kept it in `~/<CLUSTER>/clusterctl.yaml`).
    pub clusterctl_yaml: PathBuf,
    /// Write to FILE (`NAME.yaml`) instead of stdout (refuses to overwrite).
    #[arg(short, long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// The cluster's name (else the name of the directory holding clusterctl.yaml).
    #[arg(long, value_name = "NAME")]
    pub cluster: Option<String>,
    /// R4's `~/.capi-settings`, for `PREFIX` (else `<dir of clusterctl.yaml>/../.capi-settings`
    /// when it exists).
    #[arg(long, value_name = "FILE")]
    pub capi_settings: Option<PathBuf>,
    /// R4's `PREFIX` (wins over `.capi-settings`).
    #[arg(long, value_name = "PREFIX")]
    pub prefix: Option<String>,
    /// The management server's address allowed to the kube-API (else the first entry of
    /// R4's `restrict-kubeapi-cidr.yaml` next to clusterctl.yaml).
    #[arg(long, value_name = "ADDR/32")]
    pub mgmt_egress_cidr: Option<String>,
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
            let dir = args
                .clusterctl_yaml
                .parent()
                .map(|d| {
                    if d.as_os_str().is_empty() {
                        Path::new(".")
                    } else {
                        d
                    }
                })
                .unwrap_or(Path::new("."));
            let dir_name = std::fs::canonicalize(dir)
                .ok()
                .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()));
            let (cluster_name, cluster_name_source) = match (&args.cluster, dir_name) {
                (Some(c), _) => (Some(c.clone()), "`--cluster`".to_string()),
                (None, Some(n)) => (Some(n), format!("the directory `{}`", dir.display())),
                (None, None) => (None, String::new()),
            };
            let capi_settings = match &args.capi_settings {
                Some(p) => Some(settings::SourceFile::read(p)?),
                None => {
                    let p = dir.join("..").join(".capi-settings");
                    p.is_file()
                        .then(|| settings::SourceFile::read(&p))
                        .transpose()?
                }
            };
            let patch_path = dir.join("restrict-kubeapi-cidr.yaml");
            let patch = patch_path
                .is_file()
                .then(|| settings::SourceFile::read(&patch_path))
                .transpose()?;
            fn input(f: &settings::SourceFile) -> Input<'_> {
                Input {
                    name: &f.name,
                    bytes: &f.bytes,
                }
            }
            let opts = settings::import_r4::Options {
                cluster_name,
                cluster_name_is_flag: args.cluster.is_some(),
                cluster_name_source,
                prefix: args.prefix.clone(),
                capi_settings: capi_settings.as_ref().map(input),
                kubeapi_patch: patch.as_ref().map(input),
                mgmt_egress_cidr: args.mgmt_egress_cidr.clone(),
            };
            let imported = settings::import_r4::import(&input(&source), &opts);
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
            // Only when something is written: the notes say what.
            for n in &imported.notes {
                let _ = writeln!(err, "note: {n}");
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
