//! The management cluster: the pinned command-line tools it needs, the `clusterctl` calls
//! that install and upgrade Cluster API on it, and the Kubernetes client that applies and
//! waits.
//!
//! - [`runner`]: every external program (`clusterctl`, `cilium`, ...) runs through one
//!   [`runner::Runner`]: argv logged with secrets redacted, secrets only in the environment,
//!   a timeout, the exit code and the tail of the output in errors.
//! - [`tools`]: the pinned tool table (versions from the settings, asset names per OS and
//!   architecture, SHA-256 pins with their source); [`install`] downloads, verifies and
//!   installs them into a bin directory.
//! - [`client`]: kubeconfig, context and the `kube::Client`; [`apply`]: server-side apply
//!   under the field manager `scs-capi`; [`wait`]: provider Deployments and CRDs, each wait
//!   with a deadline.
//! - [`clusterctl`]: the `clusterctl init` / `upgrade plan` / `upgrade apply` invocations
//!   built from settings; [`lifecycle`]: the `mgmt init` / `mgmt upgrade` plans and their
//!   execution.
//!
//! It never prints: progress goes to a [`crate::ui::Progress`], results are returned.

pub mod apply;
pub mod client;
pub mod clusterctl;
pub mod install;
pub mod lifecycle;
pub mod runner;
pub mod tools;
pub mod wait;

use std::fmt;

/// What went wrong on the management side: a message (what and where), an optional hint
/// (how to fix) and the cause. Messages never contain secrets.
#[derive(Debug)]
pub struct MgmtError {
    pub message: String,
    pub hint: Option<String>,
    pub source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
    /// Nothing failed, but what was waited for did not become ready in time (a provider
    /// Deployment, a CRD): the message names it. Exit 1 like a cluster that does not
    /// converge, not 2 like a failure.
    pub unconverged: bool,
}

impl MgmtError {
    pub fn new(message: impl Into<String>) -> Self {
        MgmtError {
            message: message.into(),
            hint: None,
            source: None,
            unconverged: false,
        }
    }

    /// Marks the error as a wait that ran out (see [`MgmtError::unconverged`]).
    #[must_use]
    pub fn not_ready(mut self) -> Self {
        self.unconverged = true;
        self
    }

    #[must_use]
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    #[must_use]
    pub fn source(
        mut self,
        source: impl Into<Box<dyn std::error::Error + Send + Sync + 'static>>,
    ) -> Self {
        self.source = Some(source.into());
        self
    }
}

impl fmt::Display for MgmtError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for MgmtError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}
