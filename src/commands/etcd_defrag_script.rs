//! `scs-capi etcd-defrag-script [-f CLUSTER.yaml]`: prints the etcd defragmentation
//! script, its systemd units and boot commands exactly as they land on control-plane
//! nodes, for review.

use std::path::PathBuf;

use crate::error::{Error, Result};
use crate::etcd;
use crate::settings::{self, SourceFile, validate::Options};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The cluster whose `etcd_defrag` settings to use (default: the defaults).
    #[arg(short = 'f', long = "file", value_name = "CLUSTER.yaml")]
    pub file: Option<PathBuf>,
    /// Management-wide defaults (else `$XDG_CONFIG_HOME/scs-capi/defaults.yaml` when present).
    #[arg(long, value_name = "FILE")]
    pub defaults: Option<PathBuf>,
    /// The profile the cluster renders for (its built-in defaults and supported
    /// Kubernetes versions apply when the settings are checked).
    #[arg(long, value_enum, default_value_t = crate::render::Profile::Default)]
    pub profile: crate::render::Profile,
}

pub fn run(args: &Args, out: &mut dyn std::io::Write, err: &mut dyn std::io::Write) -> Result<()> {
    let defaults = settings::defaults_file(args.defaults.as_deref())?;
    let cluster = args.file.as_deref().map(SourceFile::read).transpose()?;
    let loaded = settings::load(
        defaults.as_ref(),
        cluster.as_ref(),
        &settings::env_overrides(),
        Options {
            is_cluster: cluster.is_some(),
            profile: args.profile,
            ..Default::default()
        },
    );
    settings::ensure_valid(&loaded.diagnostics, false)?;
    for d in &loaded.diagnostics {
        let _ = writeln!(err, "{d}");
    }
    let s = &loaded.settings;
    let mut text = String::new();
    if !s.etcd_defrag.enabled {
        text.push_str("# etcd_defrag.enabled is false: nothing is installed\n");
    }
    for f in etcd::node_files(&s.etcd_defrag, s.etcd_quota_backend_mib * 1024 * 1024) {
        text.push_str(&format!(
            "# ==> {} (owner {}, mode {})\n{}",
            f.path, f.owner, f.permissions, f.content
        ));
        if !f.content.ends_with('\n') {
            text.push('\n');
        }
    }
    if s.etcd_defrag.enabled {
        text.push_str("# ==> preKubeadmCommands\n");
        for c in etcd::pre_kubeadm_commands() {
            text.push_str(&format!("{c}\n"));
        }
    }
    text.push_str("# ==> postKubeadmCommands\n");
    for c in etcd::post_kubeadm_commands(&s.etcd_defrag) {
        text.push_str(&format!("{c}\n"));
    }
    out.write_all(text.as_bytes())
        .map_err(|e| Error::Other(e.into()))
}
