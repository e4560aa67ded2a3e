//! Deletions for `cleanup`, one function per resource kind, each answering how the resource
//! went ([`Gone`]) or why it did not ([`DeleteError`], with OpenStack's message, the request
//! and its id).
//!
//! Asynchronous deletions are waited for until the resource answers 404: load balancers
//! (cascade, so listeners, pools and the VIP port go with them), servers and volumes. A
//! load balancer in a `PENDING_*` state (409) is waited for and deleted again. A resource
//! that ends in `ERROR` instead of going fails with the cloud's fault text. Every request
//! goes through [`crate::cloud::retry`] (timeouts, 5xx/429/transport retries); what is left
//! is classified here: 404 is done, a 409 conflict (still in use while something else is
//! torn down) and transient failures are marked retryable for the executor, everything else
//! (400, 401, 403, ...) is final.

use std::time::{Duration, Instant};

use openstack_sdk::api::RestEndpoint;
use openstack_sdk::api::block_storage::v3::volume::{delete as volume_delete, get as volume_get};
use openstack_sdk::api::compute::v2::server::{delete as server_delete, get as server_get};
use openstack_sdk::api::compute::v2::server_group::delete as server_group_delete;
use openstack_sdk::api::load_balancer::v2::loadbalancer::{delete as lb_delete, get as lb_get};
use openstack_sdk::api::network::v2::{
    floatingip::delete as fip_delete, network::delete as network_delete,
    port::delete as port_delete, router::delete as router_delete, router::remove_router_interface,
    security_group::delete as secgroup_delete, subnet::delete as subnet_delete,
};
use serde_json::Value;

use super::Api;
use crate::cloud::cleanup::{DeleteError, Gone};
use crate::cloud::retry::ApiFailure;

/// How long asynchronous deletions are waited for.
#[derive(Debug, Clone, Copy)]
pub struct DeleteWaits {
    pub load_balancer: Duration,
    pub server: Duration,
    pub volume: Duration,
    /// Longest pause between two status polls (they start at 100 ms and grow).
    pub max_poll: Duration,
}

impl Default for DeleteWaits {
    fn default() -> Self {
        DeleteWaits {
            load_balancer: Duration::from_secs(600),
            server: Duration::from_secs(600),
            volume: Duration::from_secs(300),
            max_poll: Duration::from_secs(2),
        }
    }
}

/// Neutron collections deleted with a plain `DELETE <collection>/<id>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NeutronKind {
    FloatingIp,
    Port,
    Subnet,
    Network,
    Router,
    SecurityGroup,
}

/// A failure left after the HTTP-level retries, for the executor: 409 and transient
/// failures may clear up (retryable), anything else is final. OpenStack's message comes
/// first, then the request (method, service, path), its id and the attempts.
fn delete_error(f: ApiFailure) -> DeleteError {
    let status = f.status.map(|s| s.as_u16());
    let retryable = match status {
        None => true,
        Some(s) => s == 409 || s == 429 || s >= 500,
    };
    let mut ctx = vec![format!("{} {}", f.method, f.target)];
    if let Some(r) = &f.request_id {
        ctx.push(format!("request id `{r}`"));
    }
    if f.attempts > 1 {
        ctx.push(format!("{} attempts", f.attempts));
    }
    DeleteError {
        status,
        message: format!("{} ({})", f.message, ctx.join(", ")),
        retryable,
    }
}

fn build_error(e: impl std::fmt::Display) -> DeleteError {
    DeleteError {
        status: None,
        message: format!("cannot build the request: {e}"),
        retryable: false,
    }
}

/// Where a polled resource stands.
enum Seen {
    Gone,
    /// Still there, in this state (for messages).
    There(String),
    /// It will not go by itself: the cloud's fault text.
    Failed(String),
}

impl Api<'_> {
    /// Sends one DELETE-like request: `Deleted` on 2xx, `AlreadyGone` on 404.
    async fn delete_call<E>(&self, ep: E) -> Result<Gone, DeleteError>
    where
        E: RestEndpoint + Sync + Send,
    {
        match self.call_raw(ep, false).await {
            Ok(_) => Ok(Gone::Deleted),
            Err(f) if f.is_status(404) => Ok(Gone::AlreadyGone),
            Err(f) => Err(delete_error(f)),
        }
    }

    /// Polls with `look` until the resource is gone, fails, or `deadline` passes.
    async fn wait_gone<F, Fut>(
        &self,
        what: &str,
        deadline: Instant,
        max_poll: Duration,
        look: F,
    ) -> Result<(), DeleteError>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<Seen, DeleteError>>,
    {
        let mut pause = Duration::from_millis(100);
        loop {
            match look().await? {
                Seen::Gone => return Ok(()),
                Seen::Failed(msg) => {
                    return Err(DeleteError {
                        status: None,
                        message: format!("{what} failed to delete: {msg}"),
                        retryable: false,
                    });
                }
                Seen::There(state) if Instant::now() >= deadline => {
                    return Err(DeleteError {
                        status: None,
                        message: format!(
                            "{what} is still there (status `{state}`) after the wait; re-run \
                             cleanup later"
                        ),
                        retryable: false,
                    });
                }
                Seen::There(_) => {}
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 3 / 2).min(max_poll);
        }
    }

    /// GETs `ep` and reads the object under `key`: `Gone` on 404, else `judge` decides.
    async fn look<E>(
        &self,
        ep: Result<E, String>,
        key: &str,
        judge: impl Fn(&Value) -> Seen,
    ) -> Result<Seen, DeleteError>
    where
        E: RestEndpoint + Sync + Send,
    {
        let ep = ep.map_err(build_error)?;
        match self.call_raw(ep, false).await {
            Ok(r) => {
                let v = r.json().map_err(|e| DeleteError {
                    status: None,
                    message: format!("unexpected answer while waiting: {e}"),
                    retryable: true,
                })?;
                Ok(judge(v.get(key).unwrap_or(&Value::Null)))
            }
            Err(f) if f.is_status(404) => Ok(Seen::Gone),
            Err(f) => Err(delete_error(f)),
        }
    }

    /// Deletes a Neutron resource; 404 counts as gone.
    ///
    /// # Errors
    /// OpenStack's refusal (409 `...InUse` is retryable) or a transport failure.
    pub async fn delete_neutron(&self, kind: NeutronKind, id: &str) -> Result<Gone, DeleteError> {
        let id = id.to_string();
        match kind {
            NeutronKind::FloatingIp => {
                let ep = fip_delete::Request::builder().id(id).build();
                self.delete_call(ep.map_err(build_error)?).await
            }
            NeutronKind::Port => {
                let ep = port_delete::Request::builder().id(id).build();
                self.delete_call(ep.map_err(build_error)?).await
            }
            NeutronKind::Subnet => {
                let ep = subnet_delete::Request::builder().id(id).build();
                self.delete_call(ep.map_err(build_error)?).await
            }
            NeutronKind::Network => {
                let ep = network_delete::Request::builder().id(id).build();
                self.delete_call(ep.map_err(build_error)?).await
            }
            NeutronKind::Router => {
                let ep = router_delete::Request::builder().id(id).build();
                self.delete_call(ep.map_err(build_error)?).await
            }
            NeutronKind::SecurityGroup => {
                let ep = secgroup_delete::Request::builder().id(id).build();
                self.delete_call(ep.map_err(build_error)?).await
            }
        }
    }

    /// Removes router `router`'s interface on `subnet`; a missing router, subnet or
    /// interface (404) counts as gone.
    ///
    /// # Errors
    /// OpenStack's refusal (409 while a floating IP still uses the subnet is retryable) or
    /// a transport failure.
    pub async fn remove_router_interface(
        &self,
        router: &str,
        subnet: &str,
    ) -> Result<Gone, DeleteError> {
        let ep = remove_router_interface::Request::builder()
            .id(router.to_string())
            .subnet_id(subnet.to_string())
            .build()
            .map_err(build_error)?;
        self.delete_call(ep).await
    }

    /// Deletes server group `id`; 404 counts as gone.
    ///
    /// # Errors
    /// OpenStack's refusal or a transport failure.
    pub async fn delete_server_group(&self, id: &str) -> Result<Gone, DeleteError> {
        let ep = server_group_delete::Request::builder()
            .id(id.to_string())
            .build()
            .map_err(build_error)?;
        self.delete_call(ep).await
    }

    /// Deletes server `id` and waits until Nova no longer shows it.
    ///
    /// # Errors
    /// OpenStack's refusal, a server that ends in `ERROR` (its fault message), or one still
    /// there after `waits.server`.
    pub async fn delete_server(&self, id: &str, waits: DeleteWaits) -> Result<Gone, DeleteError> {
        let ep = server_delete::Request::builder()
            .id(id.to_string())
            .build()
            .map_err(build_error)?;
        if self.delete_call(ep).await? == Gone::AlreadyGone {
            return Ok(Gone::AlreadyGone);
        }
        let deadline = Instant::now() + waits.server;
        let what = format!("server `{id}`");
        self.wait_gone(&what, deadline, waits.max_poll, || {
            let ep = server_get::Request::builder()
                .id(id.to_string())
                .build()
                .map_err(|e| e.to_string());
            self.look(ep, "server", |s| {
                let status = s["status"].as_str().unwrap_or_default();
                let task = s["OS-EXT-STS:task_state"].as_str();
                match (status, task) {
                    ("DELETED" | "SOFT_DELETED", _) => Seen::Gone,
                    ("ERROR", None) => Seen::Failed(
                        s["fault"]["message"]
                            .as_str()
                            .unwrap_or("the server is in ERROR")
                            .to_string(),
                    ),
                    _ => Seen::There(format!("{status}/{}", task.unwrap_or("-"))),
                }
            })
        })
        .await?;
        Ok(Gone::Deleted)
    }

    /// Deletes load balancer `id` with everything on it (`cascade`) and waits until it is
    /// gone (its VIP port goes with it). A `PENDING_*` load balancer (409) is waited for and
    /// deleted again.
    ///
    /// # Errors
    /// OpenStack's refusal, a load balancer that goes to `ERROR`, or one still there after
    /// `waits.load_balancer`.
    pub async fn delete_load_balancer(
        &self,
        id: &str,
        waits: DeleteWaits,
    ) -> Result<Gone, DeleteError> {
        let deadline = Instant::now() + waits.load_balancer;
        let what = format!("load balancer `{id}`");
        let status = || {
            let ep = lb_get::Request::builder()
                .id(id.to_string())
                .build()
                .map_err(|e| e.to_string());
            self.look(ep, "loadbalancer", |l| {
                let st = l["provisioning_status"].as_str().unwrap_or_default();
                Seen::There(st.to_string())
            })
        };
        let mut pause = Duration::from_millis(100);
        loop {
            let ep = lb_delete::Request::builder()
                .id(id.to_string())
                .cascade(true)
                .build()
                .map_err(build_error)?;
            match self.call_raw(ep, false).await {
                Ok(_) => break,
                Err(f) if f.is_status(404) => return Ok(Gone::AlreadyGone),
                Err(f) if f.is_status(409) && Instant::now() < deadline => {
                    // Being created, updated or already deleted: see which, then go on.
                    match status().await? {
                        Seen::Gone => return Ok(Gone::Deleted),
                        Seen::There(st) if st == "PENDING_DELETE" => break,
                        _ => {}
                    }
                    tokio::time::sleep(pause).await;
                    pause = (pause * 3 / 2).min(waits.max_poll);
                }
                Err(f) => {
                    // A conflict that outlasted the whole wait will not clear up soon.
                    let stuck = f.is_status(409);
                    let mut e = delete_error(f);
                    e.retryable &= !stuck;
                    return Err(e);
                }
            }
        }
        self.wait_gone(&what, deadline, waits.max_poll, || async {
            Ok(match status().await? {
                Seen::There(st) if st == "ERROR" => {
                    Seen::Failed("Octavia put it in provisioning status `ERROR`".into())
                }
                other => other,
            })
        })
        .await?;
        Ok(Gone::Deleted)
    }

    /// Deletes Cinder volume `id` and waits until it is gone. Cinder refuses (400) a volume
    /// that is still attached or detaching; that is retryable, as the servers it was
    /// attached to are deleted first.
    ///
    /// # Errors
    /// OpenStack's refusal, a volume that ends in `error_deleting`, or one still there after
    /// `waits.volume`.
    pub async fn delete_volume(&self, id: &str, waits: DeleteWaits) -> Result<Gone, DeleteError> {
        let ep = volume_delete::Request::builder()
            .id(id.to_string())
            .build()
            .map_err(build_error)?;
        let first = match self.call_raw(ep, false).await {
            Ok(_) => Gone::Deleted,
            Err(f) if f.is_status(404) => Gone::AlreadyGone,
            Err(f) if f.is_status(400) => {
                let mut e = delete_error(f);
                e.retryable = true;
                return Err(e);
            }
            Err(f) => return Err(delete_error(f)),
        };
        if first == Gone::AlreadyGone {
            return Ok(first);
        }
        let deadline = Instant::now() + waits.volume;
        let what = format!("volume `{id}`");
        self.wait_gone(&what, deadline, waits.max_poll, || {
            let ep = volume_get::Request::builder()
                .id(id.to_string())
                .build()
                .map_err(|e| e.to_string());
            self.look(ep, "volume", |v| {
                let st = v["status"].as_str().unwrap_or_default();
                if st == "error_deleting" {
                    Seen::Failed("Cinder put it in status `error_deleting`".into())
                } else {
                    Seen::There(st.to_string())
                }
            })
        })
        .await?;
        Ok(Gone::Deleted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::{Method, StatusCode};

    fn failure(status: Option<u16>, attempts: usize) -> ApiFailure {
        ApiFailure::for_test(
            Method::DELETE,
            "network security-groups/abc",
            status.map(|s| StatusCode::from_u16(s).unwrap()),
            "Security Group abc in use.",
            Some("req-1"),
            attempts,
        )
    }

    #[test]
    fn conflicts_and_transient_failures_are_retryable_the_rest_final() {
        let e = delete_error(failure(Some(409), 1));
        assert!(e.retryable);
        assert_eq!(e.status, Some(409));
        assert_eq!(
            e.to_string(),
            "409: Security Group abc in use. (DELETE network security-groups/abc, request id \
             `req-1`)"
        );
        assert!(delete_error(failure(None, 5)).retryable);
        assert!(delete_error(failure(Some(503), 5)).retryable);
        assert!(
            delete_error(failure(Some(503), 5))
                .message
                .ends_with("5 attempts)")
        );
        for final_status in [400, 401, 403] {
            assert!(!delete_error(failure(Some(final_status), 1)).retryable);
        }
    }
}
