//! An in-process fake Kubernetes API server for scs-capi's tests, demos and benchmarks.
#![allow(clippy::result_large_err)]

pub mod apply;
pub mod discovery;
pub mod faults;
mod handlers;
pub mod kubeconfig;
pub mod log;
pub mod managed;
pub mod patch;
pub mod registry;
pub mod select;
mod server;
pub mod status;
pub mod store;
pub mod table;
mod util;
mod watch;

pub use faults::FaultKind;
pub use log::LoggedRequest;
pub use server::{ApiServer, Running};
