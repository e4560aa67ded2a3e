//! `scs-capi cleanup`: everything OpenStack holds for one cluster, deleted in dependency
//! order with bounded parallelism, and nothing of any other cluster.
//!
//! The work is split by job: [`inventory`] lists what the project holds, [`plan`] decides
//! (purely) what belongs to the cluster and in which order it must go, [`execute`] runs a
//! plan through a [`execute::Deleter`], and [`deleter`] is that deleter for a real session
//! (the OpenStack calls themselves are in [`crate::cloud::api`]). [`run`] strings them
//! together for the command; printing is the command's job.

pub mod deleter;
pub mod execute;
#[cfg(test)]
mod fixtures;
pub mod inventory;
pub mod plan;
mod table;

use std::time::Duration;

pub use execute::{DeleteError, Deleter, ExecOptions, Gone, NodeResult, Outcome, Report, execute};
pub use inventory::Inventory;
pub use plan::{Action, Blocked, Kind, Node, Plan, VolumePolicy, plan};

use super::api::Api;
use super::config::ResolvedCloud;
use super::names::ClusterNames;
use super::retry::RetryPolicy;
use super::{CloudError, Session};

/// Connects to `cloud`, plans the cleanup of `names`' cluster and, unless `dry_run`,
/// executes it: what `cleanup` and `delete-cluster` both run. Returns the plan, the
/// services not looked at, and the report (`None` on a dry run).
///
/// # Errors
/// Authentication or a list call that fails (nothing has been deleted then).
pub async fn connect_and_run(
    cloud: &ResolvedCloud,
    names: &ClusterNames,
    volumes: VolumePolicy,
    dry_run: bool,
    progress: &mut dyn FnMut(&str),
) -> Result<(Plan, Vec<String>, Option<Report>), CloudError> {
    let session = Session::connect(cloud).await?;
    let api = Api::new(&session, RetryPolicy::for_cloud(cloud));
    let (plan, skipped) = plan_cleanup(&session, &api, names, volumes, progress).await?;
    if dry_run {
        return Ok((plan, skipped, None));
    }
    let report = run_plan(&session, &api, &plan, ExecOptions::default(), progress).await;
    Ok((plan, skipped, Some(report)))
}

/// Lists the project and plans the cleanup of `names`' cluster. `progress` gets one line
/// per phase.
///
/// # Errors
/// A list call that fails (nothing has been deleted then).
pub async fn plan_cleanup(
    session: &Session,
    api: &Api<'_>,
    names: &ClusterNames,
    volumes: VolumePolicy,
    progress: &mut dyn FnMut(&str),
) -> Result<(Plan, Vec<String>), CloudError> {
    progress(&format!(
        "listing the project's resources on cloud `{}`",
        session.cloud_name()
    ));
    let inv = inventory::collect(session, api, names).await?;
    for s in &inv.skipped {
        progress(&format!("warning: not checked: {s}"));
    }
    let plan = plan::plan(&inv, names, volumes);
    progress(&format!(
        "cluster `{}`: {} resource(s) to delete in {} wave(s), {} kept, {} blocked",
        names.cluster,
        plan.nodes
            .iter()
            .filter(|n| n.action == Action::Delete)
            .count(),
        plan.waves().len(),
        plan.nodes
            .iter()
            .filter(|n| n.action == Action::Keep)
            .count(),
        plan.blocked.len()
    ));
    Ok((plan, inv.skipped))
}

/// Executes `plan` against the session; `progress` gets one line per finished resource.
pub async fn run_plan(
    session: &Session,
    api: &Api<'_>,
    plan: &Plan,
    opts: ExecOptions,
    progress: &mut dyn FnMut(&str),
) -> Report {
    let deleter = deleter::CloudDeleter::new(session, api, &plan.cluster.cluster);
    execute(
        plan,
        &deleter,
        opts,
        &mut |r: &NodeResult, took: Duration| {
            let detail = match &r.outcome {
                Outcome::Failed { message } => format!(": {message}"),
                Outcome::Blocked { holder } => format!(" (held by {holder})"),
                _ => format!(" ({:.1}s)", took.as_secs_f64()),
            };
            progress(&format!(
                "{} {} `{}`{detail}",
                r.outcome.label(),
                r.kind,
                r.name
            ));
        },
    )
    .await
}
