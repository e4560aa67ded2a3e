//! scs-capi: typed settings, rendering of Cluster API manifests, and (in later modules)
//! the OpenStack and management-cluster work, for Kubernetes clusters on OpenStack.
//!
//! Data flows one way: [`settings`] -> [`render`] -> commands. `main.rs` only parses the
//! command line and calls [`run`].

pub mod addons;
pub mod cli;
pub mod cloud;
pub mod commands;
pub mod error;
pub mod etcd;
mod fsutil;
pub mod interrupt;
pub mod lifecycle;
pub mod mgmt;
pub mod render;
pub mod secret_yaml;
pub mod settings;
pub mod state;
pub mod state_lock;
pub mod ui;
pub mod version;

use std::io::Write;

use cli::{Cli, Command};
use error::Result;

/// Runs a parsed command line, writing data to `out` and messages to `err`.
///
/// # Errors
/// Whatever the command fails with; [`error::Error::exit_code`] maps it.
pub fn run(cli: Cli, out: &mut dyn Write, err: &mut dyn Write) -> Result<()> {
    let templates = cli.templates.as_deref();
    match &cli.command {
        Command::Validate(args) => commands::validate::run(args, out, err),
        Command::Render(args) => commands::render::run(args, templates, out, err),
        Command::Settings(cmd) => commands::settings::run(cmd, out, err),
        Command::EtcdDefragScript(args) => commands::etcd_defrag_script::run(args, out, err),
        Command::PrepareCloud(args) => commands::prepare_cloud::run(args, templates, out, err),
        Command::Cleanup(args) => commands::cleanup::run(args, out, err),
        Command::CreateCluster(args) => commands::create_cluster::run(args, templates, out),
        Command::UpgradeCluster(args) => commands::upgrade_cluster::run(args, templates, out),
        Command::DeleteCluster(args) => commands::delete_cluster::run(args, out, err),
        Command::GetKubeconfig(args) => commands::get_kubeconfig::run(args, out, err),
        Command::Mgmt(cmd) => commands::mgmt::run(cmd, out, err),
        Command::Schema(args) => commands::schema::run(args, out),
        Command::Completions(args) => commands::completions::run(args, out),
        Command::Man => commands::completions::man(out),
    }
}
