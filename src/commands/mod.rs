//! One module per subcommand: its arguments and a `run` that wires the library
//! together. No YAML building or validation logic lives here.

pub mod completions;
pub mod create_cluster;
pub mod delete_cluster;
pub mod etcd_defrag_script;
pub mod get_kubeconfig;
pub mod mgmt;
pub mod prepare_cloud;
pub mod render;
pub mod schema;
pub mod settings;
pub mod validate;
