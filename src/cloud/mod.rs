//! OpenStack access: which cloud to talk to ([`config`]) and one authenticated session per
//! run ([`session`]).
//!
//! This module owns reading `clouds.yaml`/`secure.yaml`/`clouds-public.yaml` and `OS_*`
//! variables the way openstackclient users expect, authenticating against Keystone with
//! `openstack_sdk`, the service catalog, and the per-cluster application credential. It does
//! not create servers, networks or load balancers itself; later modules use
//! [`session::Session::client`] with `openstack_sdk::api` endpoints for that. Secrets are kept
//! in [`Secret`] so they never reach `Debug`/`Display` output or error messages.
//!
//! Per cluster, [`prepare`] plans and creates what a cluster needs (node image via
//! [`image_source`], [`image_convert`] and [`image`]; application credential, server
//! groups, security group via [`api`]) and [`facts`] hands what it learned to rendering.

pub mod api;
pub mod cleanup;
pub mod config;
pub mod discovery;
pub mod facts;
pub mod image;
pub mod image_convert;
pub mod image_source;
pub mod names;
pub mod prepare;
pub mod retry;
pub mod session;

use std::fmt;

pub use config::{AuthType, ResolvedCloud};
pub use session::Session;

/// A password, application-credential secret or token. `Debug` and `Display` print
/// `<redacted>`; [`Secret::expose`] is the only way to read it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret itself: only for sending it to the cloud or writing it to a 0600 file.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// What went wrong with the cloud configuration or the cloud itself: a message (what and
/// where), an optional hint (how to fix), and the underlying cause if any. Messages never
/// contain secrets.
#[derive(Debug)]
pub struct CloudError {
    pub kind: CloudErrorKind,
    pub message: String,
    pub hint: Option<String>,
    pub source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

/// The broad class of a [`CloudError`], for callers that branch on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloudErrorKind {
    /// `clouds.yaml` & co. or `OS_*` variables are unusable (unknown cloud, missing key...).
    Config,
    /// Keystone refused the credentials.
    Auth,
    /// The service is not in the catalog.
    Catalog,
    /// Keystone or a service answered with an error (status and message included).
    Api,
    /// Timeout, connection refused, TLS failure.
    Transport,
    /// Stopped by SIGINT/SIGTERM (see [`crate::interrupt`]); what was created is cleaned up.
    Interrupted,
}

impl CloudError {
    pub(crate) fn new(kind: CloudErrorKind, message: impl Into<String>) -> Self {
        CloudError {
            kind,
            message: message.into(),
            hint: None,
            source: None,
        }
    }

    pub(crate) fn config(message: impl Into<String>) -> Self {
        Self::new(CloudErrorKind::Config, message)
    }

    pub(crate) fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    pub(crate) fn source(
        mut self,
        source: impl Into<Box<dyn std::error::Error + Send + Sync + 'static>>,
    ) -> Self {
        self.source = Some(source.into());
        self
    }
}

impl fmt::Display for CloudError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CloudError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}
