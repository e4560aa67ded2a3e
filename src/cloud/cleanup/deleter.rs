//! The [`Deleter`] for a real cloud: maps each plan [`Node`] to its OpenStack deletion in
//! [`crate::cloud::api`] (and the application credential to Keystone through the
//! [`Session`]), and after deleting the credential removes its now useless secret from the
//! cluster's state directory.

use super::execute::{DeleteError, Deleter, Gone};
use super::plan::{Kind, Node};
use crate::cloud::api::{Api, DeleteWaits, NeutronKind};
use crate::cloud::{CloudErrorKind, Session, prepare};

/// Deletes plan nodes through one session.
pub struct CloudDeleter<'a> {
    session: &'a Session,
    api: &'a Api<'a>,
    waits: DeleteWaits,
    /// The cluster's state directory (where `prepare-cloud` keeps the credential's secret).
    state_dir: Option<std::path::PathBuf>,
}

impl<'a> CloudDeleter<'a> {
    pub fn new(session: &'a Session, api: &'a Api<'a>, cluster: &str) -> Self {
        CloudDeleter {
            session,
            api,
            waits: DeleteWaits::default(),
            state_dir: prepare::state_dir(cluster).ok(),
        }
    }

    async fn delete_app_credential(&self, id: &str) -> Result<Gone, DeleteError> {
        self.session
            .delete_app_credential(id)
            .await
            .map_err(|e| DeleteError {
                status: None,
                retryable: e.kind == CloudErrorKind::Transport,
                message: e.to_string(),
            })?;
        // The secret of a deleted credential is useless; drop it so that prepare-cloud
        // starts afresh. Only the file that names this credential is removed.
        if let Some(dir) = &self.state_dir {
            let file = prepare::app_credential_file(dir);
            if prepare::stored_app_credential_id(&file).as_deref() == Some(id) {
                let _ = std::fs::remove_file(&file);
            }
        }
        Ok(Gone::Deleted)
    }
}

impl Deleter for CloudDeleter<'_> {
    async fn delete(&self, node: &Node) -> Result<Gone, DeleteError> {
        let api = self.api;
        let id = node.id.as_str();
        match node.kind {
            Kind::FloatingIp => api.delete_neutron(NeutronKind::FloatingIp, id).await,
            Kind::LoadBalancer => api.delete_load_balancer(id, self.waits).await,
            Kind::Server => api.delete_server(id, self.waits).await,
            Kind::Port => api.delete_neutron(NeutronKind::Port, id).await,
            Kind::RouterInterface => {
                let router = node.router_id.as_deref().unwrap_or_default();
                api.remove_router_interface(router, id).await
            }
            Kind::Subnet => api.delete_neutron(NeutronKind::Subnet, id).await,
            Kind::Network => api.delete_neutron(NeutronKind::Network, id).await,
            Kind::Router => api.delete_neutron(NeutronKind::Router, id).await,
            Kind::SecurityGroup => api.delete_neutron(NeutronKind::SecurityGroup, id).await,
            Kind::ServerGroup => api.delete_server_group(id).await,
            Kind::Volume => api.delete_volume(id, self.waits).await,
            Kind::AppCredential => self.delete_app_credential(id).await,
        }
    }
}
