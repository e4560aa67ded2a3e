//! The command line: global flags and the subcommand enum. Each subcommand's own
//! arguments live next to its implementation in [`crate::commands`].

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::commands;

/// Create, upgrade and delete Kubernetes clusters on OpenStack through Cluster API.
///
/// Settings are YAML files (one per cluster, plus management-wide defaults); start with
/// `scs-capi settings init`, check them with `scs-capi validate`, and see the manifests
/// with `scs-capi render`.
#[derive(Debug, Parser)]
#[command(
    name = "scs-capi",
    version = crate::version::short(),
    long_version = crate::version::long(),
    propagate_version = true,
    max_term_width = 100,
    after_help = "Examples (a first cluster, in workflow order):
  scs-capi settings init --cluster demo -o demo.yaml   # every key, commented
  scs-capi validate demo.yaml                          # every problem at once
  scs-capi render -f demo.yaml --out demo/             # the manifests, no cloud needed
  scs-capi mgmt init --dry-run                         # tools, Cluster API, CAPO
  scs-capi prepare-cloud -f demo.yaml --dry-run        # what the cloud has and lacks
  scs-capi create-cluster -f demo.yaml                 # prepare, apply, wait, addons
  scs-capi get-kubeconfig demo --merge
  scs-capi upgrade-cluster -f demo.yaml --to v1.34.x
  scs-capi delete-cluster demo"
)]
pub struct Cli {
    /// Use the templates in DIR instead of the built-in ones (same relative names as
    /// `templates/` in the source; missing files fall back to the built-in ones).
    #[arg(long, global = true, value_name = "DIR")]
    pub templates: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check settings files: every problem at once, with file:line:column and a hint.
    ///
    /// Exit status: 0 valid (warnings allowed), 1 invalid, 2 usage or I/O error.
    #[command(
        after_help = "Examples:\n  scs-capi validate demo.yaml\n  scs-capi validate clusters/ --defaults clusters/defaults.yaml --output json"
    )]
    Validate(commands::validate::Args),
    /// Render clusterctl.yaml, cluster-template.yaml and the final manifests.
    #[command(
        after_help = "Examples:\n  scs-capi render -f demo.yaml --explain\n  scs-capi render -f demo.yaml --out demo/"
    )]
    Render(commands::render::Args),
    /// Create a starter settings file, or import an R4 clusterctl.yaml.
    #[command(subcommand)]
    Settings(commands::settings::Command),
    /// Print the etcd defragmentation script, units and boot commands as installed.
    #[command(after_help = "Examples:\n  scs-capi etcd-defrag-script -f demo.yaml")]
    EtcdDefragScript(commands::etcd_defrag_script::Args),
    /// Check the cloud and create the per-cluster resources (node image, app credential, server groups, cilium security group); `--dry-run` only plans, `--render-out DIR` renders with the results.
    ///
    /// Exit status: 0 done (or planned), 2 usage, configuration or cloud error, 130 interrupted (SIGINT/Ctrl-C, stopped after the current step; 143 for SIGTERM).
    #[command(
        after_help = "Examples:\n  scs-capi prepare-cloud -f demo.yaml --dry-run\n  scs-capi prepare-cloud -f demo.yaml --render-out demo/"
    )]
    PrepareCloud(commands::prepare_cloud::Args),
    /// Delete every OpenStack resource of a cluster, in dependency order; `--dry-run` only plans.
    ///
    /// Load balancers (OCCM's and the kube-API one) with their floating IPs, servers, ports,
    /// router interfaces, subnets, networks, routers, security groups, server groups and the
    /// application credential; the cluster's Cinder CSI volumes only with `--volumes delete`.
    /// Nothing of another cluster or the management server is touched.
    ///
    /// Exit status: 0 all gone, 1 something failed or is blocked (re-run to continue),
    /// 2 usage, configuration or cloud error (nothing deleted), 130 interrupted (SIGINT/Ctrl-C, stopped after the current step; 143 for SIGTERM).
    #[command(
        after_help = "Examples:\n  scs-capi cleanup -f demo.yaml --dry-run\n  scs-capi cleanup demo --volumes delete --yes"
    )]
    Cleanup(commands::cleanup::Args),
    /// Create (or converge) a workload cluster: prepare the cloud, render, apply to the
    /// management cluster, wait, fetch the kubeconfig, install the addons. `--dry-run`
    /// shows what would be created or changed.
    ///
    /// Exit status: 0 ready, 1 the cluster did not converge (blocking conditions printed),
    /// 2 usage, input, cloud or management-cluster error, 130 interrupted (SIGINT/Ctrl-C, stopped after the current step; 143 for SIGTERM).
    #[command(
        after_help = "Examples:\n  scs-capi create-cluster -f demo.yaml --dry-run\n  scs-capi create-cluster -f demo.yaml"
    )]
    CreateCluster(commands::create_cluster::Args),
    /// Upgrade a workload cluster one Kubernetes minor (or patch) at a time: ensure the
    /// node image, apply the new machine templates, roll the control plane, then the
    /// workers, move OCCM/CSI to the new minor's release, delete unused templates.
    /// `--dry-run` shows the versions and what would change.
    ///
    /// Exit status: 0 upgraded or already up to date, 1 the rollout did not finish
    /// (blocking conditions printed; re-run to continue), 2 usage or input error
    /// (a skipped minor or a downgrade is refused before anything changes), cloud or
    /// management-cluster error, 130 interrupted (SIGINT/Ctrl-C, stopped after the current step; 143 for SIGTERM).
    #[command(
        after_help = "Examples:\n  scs-capi upgrade-cluster -f demo.yaml --to v1.34.x --dry-run\n  scs-capi upgrade-cluster -f demo.yaml --to v1.34.x"
    )]
    UpgradeCluster(commands::upgrade_cluster::Args),
    /// Delete a workload cluster: its LoadBalancer Services (and, with `--volumes delete`,
    /// its volume claims) first, then the Cluster on the management cluster. Asks for
    /// confirmation unless `--yes`.
    ///
    /// Exit status: 0 deleted, 2 usage, cloud or management-cluster error, 130 interrupted (SIGINT/Ctrl-C, stopped after the current step; 143 for SIGTERM).
    #[command(
        after_help = "Examples:\n  scs-capi delete-cluster demo --dry-run\n  scs-capi delete-cluster demo --yes"
    )]
    DeleteCluster(commands::delete_cluster::Args),
    /// Write a workload cluster's admin kubeconfig (0600) into its state directory;
    /// `--merge` also merges it into your kubeconfig.
    #[command(after_help = "Examples:\n  scs-capi get-kubeconfig demo --merge")]
    GetKubeconfig(commands::get_kubeconfig::Args),
    /// The management cluster: pinned tools, Cluster API and the OpenStack provider.
    #[command(subcommand)]
    Mgmt(commands::mgmt::Command),
    /// Print the JSON Schema of settings files (or the configuration reference).
    #[command(after_help = "Examples:\n  scs-capi schema > settings.schema.json")]
    Schema(commands::schema::Args),
    /// Print shell completions.
    #[command(
        after_help = "Examples:\n  scs-capi completions bash > ~/.local/share/bash-completion/completions/scs-capi"
    )]
    Completions(commands::completions::Args),
    /// Print the man page (roff).
    Man,
}

impl Command {
    /// Commands that run long enough to be interrupted: SIGINT/SIGTERM stop them at a safe
    /// point with exit status 130 (143 for SIGTERM) instead of killing them mid-step.
    pub fn is_long_running(&self) -> bool {
        matches!(
            self,
            Command::PrepareCloud(_)
                | Command::Cleanup(_)
                | Command::CreateCluster(_)
                | Command::UpgradeCluster(_)
                | Command::DeleteCluster(_)
                | Command::Mgmt(_)
        )
    }
}
