//! `delete-cluster`: in the workload cluster, LoadBalancer Services go first (so OCCM
//! deletes its load balancers and floating IPs while it still runs) and, with `--volumes
//! delete`, the PersistentVolumeClaims (the Cinder CSI deletes their volumes); then the
//! Cluster is deleted on the management cluster and the wait lasts until CAPI/CAPO have
//! removed it (machines, servers, network, kube-API LB); finally the local state goes.
//!
//! The cloud side (leftovers, server groups, the application credential) follows in the
//! command with [`crate::cloud::cleanup::connect_and_run`].

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Service};
use kube::api::{DeleteParams, ListParams};
use kube::{Api, Client};
use serde::Serialize;

use super::wait::ClusterRefs;
use super::{NAMESPACE, NotConverged, kubeconfig};
use crate::error::Result;
use crate::mgmt::MgmtError;
use crate::mgmt::client::api_error;
use crate::ui::Progress;

/// What happens to the cluster's volumes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Volumes {
    Keep,
    Delete,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub cluster: String,
    pub dry_run: bool,
    pub load_balancer_services: Vec<String>,
    pub volume_claims: Vec<String>,
    pub cluster_deleted: bool,
    pub seconds: f64,
}

/// Whether the management cluster has Cluster `name` (in the API generation it serves).
///
/// # Errors
/// The management cluster cannot be asked.
pub async fn cluster_exists(mgmt: &Client, server: &str, name: &str) -> Result<bool> {
    let profile = super::generation::served_profile(mgmt, server).await?;
    let refs = ClusterRefs::for_profile(name, NAMESPACE, profile);
    Ok(refs
        .cluster_api(mgmt)
        .get_opt(name)
        .await
        .map_err(|e| api_error(&format!("reading Cluster `{NAMESPACE}/{name}`"), server, e))?
        .is_some())
}

/// Deletes cluster `name`.
///
/// # Errors
/// [`crate::error::Error::NotConverged`] when the Cluster is not gone by the deadline (with
/// what still holds it); API errors.
pub async fn run(
    mgmt: &Client,
    server: &str,
    name: &str,
    volumes: Volumes,
    dry_run: bool,
    timeout: Duration,
    progress: &dyn Progress,
) -> Result<Report> {
    let started = Instant::now();
    // The API versions the management cluster serves: asking for the wrong generation
    // answers 404 as if the Cluster were gone.
    let profile = super::generation::served_profile(mgmt, server).await?;
    let refs = ClusterRefs::for_profile(name, NAMESPACE, profile);
    let mut report = Report {
        cluster: name.into(),
        dry_run,
        load_balancer_services: Vec::new(),
        volume_claims: Vec::new(),
        cluster_deleted: false,
        seconds: 0.0,
    };
    let exists = refs
        .cluster_api(mgmt)
        .get_opt(name)
        .await
        .map_err(|e| api_error(&format!("reading Cluster `{NAMESPACE}/{name}`"), server, e))?
        .is_some();
    if let Some(text) = kubeconfig::fetch(mgmt, server, NAMESPACE, name).await? {
        let state = crate::cloud::prepare::state_dir(name)?;
        let path = kubeconfig::save(&state, &text)?;
        let (wl, wl_server) = super::create::workload_client(&text, name, &path).await?;
        progress.phase("removing LoadBalancer Services and volume claims in the workload cluster");
        let svcs: Api<Service> = Api::all(wl.clone());
        let list = svcs
            .list(&ListParams::default())
            .await
            .map_err(|e| api_error("listing Services", &wl_server, e))?;
        for s in list.items {
            if s.spec.as_ref().and_then(|s| s.type_.as_deref()) != Some("LoadBalancer") {
                continue;
            }
            let ns = s.metadata.namespace.clone().unwrap_or_default();
            let n = s.metadata.name.clone().unwrap_or_default();
            report.load_balancer_services.push(format!("{ns}/{n}"));
            if !dry_run {
                let api: Api<Service> = Api::namespaced(wl.clone(), &ns);
                delete_ok(
                    api.delete(&n, &DeleteParams::default()).await,
                    &format!("Service {ns}/{n}"),
                    &wl_server,
                )?;
            }
        }
        if volumes == Volumes::Delete {
            let pvcs: Api<PersistentVolumeClaim> = Api::all(wl.clone());
            let list = pvcs
                .list(&ListParams::default())
                .await
                .map_err(|e| api_error("listing PersistentVolumeClaims", &wl_server, e))?;
            for p in list.items {
                let ns = p.metadata.namespace.clone().unwrap_or_default();
                let n = p.metadata.name.clone().unwrap_or_default();
                report.volume_claims.push(format!("{ns}/{n}"));
                if !dry_run {
                    let api: Api<PersistentVolumeClaim> = Api::namespaced(wl.clone(), &ns);
                    delete_ok(
                        api.delete(&n, &DeleteParams::default()).await,
                        &format!("PersistentVolumeClaim {ns}/{n}"),
                        &wl_server,
                    )?;
                }
            }
        }
        progress.finish("workload cluster emptied of cloud resources");
    }
    if dry_run || !exists {
        report.cluster_deleted = !exists;
        report.seconds = started.elapsed().as_secs_f64();
        return Ok(report);
    }
    crate::interrupt::check(&format!(
        "before deleting Cluster `{NAMESPACE}/{name}` (run delete-cluster again)"
    ))?;
    progress.phase(&format!("deleting Cluster `{NAMESPACE}/{name}`"));
    delete_ok(
        refs.cluster_api(mgmt)
            .delete(name, &DeleteParams::background())
            .await,
        &format!("Cluster {NAMESPACE}/{name}"),
        server,
    )?;
    let deadline = Instant::now() + timeout;
    let mut interval = Duration::from_millis(20);
    loop {
        let gone = refs
            .cluster_api(mgmt)
            .get_opt(name)
            .await
            .map_err(|e| api_error(&format!("reading Cluster `{NAMESPACE}/{name}`"), server, e))?
            .is_none();
        if gone {
            break;
        }
        if Instant::now() >= deadline {
            progress.finish("timed out");
            let observed = refs.observe(mgmt, server).await?;
            let a = super::wait::assess(&observed);
            let mut blockers = a.blocking();
            blockers.push(format!("machines left: {}", observed.machines.len()));
            return Err(NotConverged {
                message: format!(
                    "Cluster `{NAMESPACE}/{name}` is still being deleted after {}s",
                    timeout.as_secs()
                ),
                blockers,
                hint: Some(
                    "run `delete-cluster` again to keep waiting; check CAPO's log for cloud errors"
                        .into(),
                ),
            }
            .into());
        }
        tokio::time::sleep(interval).await;
        interval = (interval * 2).min(Duration::from_secs(2));
    }
    progress.finish(&format!("Cluster `{name}` deleted"));
    report.cluster_deleted = true;
    let state = crate::cloud::prepare::state_dir(name)?;
    let _ = std::fs::remove_file(kubeconfig::path_in(&state));
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

fn delete_ok<T>(r: Result<T, kube::Error>, what: &str, server: &str) -> Result<(), MgmtError> {
    match r {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(e) => Err(api_error(&format!("deleting {what}"), server, e)),
    }
}
