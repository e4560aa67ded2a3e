//! One retry policy for every OpenStack call scs-capi makes through [`super::api`].
//!
//! Owns: sending one `openstack_sdk` endpoint (raw, so status, headers and body stay
//! visible), a timeout per attempt, and retries with exponential backoff and jitter
//! (`backon`) on 5xx, 429 (its `Retry-After` honoured) and transport failures (connection
//! refused or dropped, timeouts). Only idempotent requests are retried: GET, HEAD, PUT and
//! DELETE, and a POST only when the caller marks it safe (for example a security-group rule,
//! whose duplicate answers 409). A failure that is not retried, or still fails after the last
//! attempt, becomes an [`ApiFailure`] carrying the method, the endpoint, the status,
//! OpenStack's own message (quota text, fault string) and the request id.
//!
//! It does not parse successful bodies (that is [`super::api`]) and never sees a token: the
//! SDK adds it, and no header is ever copied into an error.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use http::{Method, StatusCode};
use openstack_sdk::AsyncOpenStack;
use openstack_sdk::api::{ApiError, QueryAsync, RestEndpoint, raw};
use serde_json::Value;

use super::config::ResolvedCloud;
use super::{CloudError, CloudErrorKind};

/// How calls are timed out and retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// One attempt, body included.
    pub timeout: Duration,
    /// Attempts in all (first try included).
    pub attempts: usize,
    /// First backoff delay (doubled each time, with jitter).
    pub min_delay: Duration,
    /// Longest backoff delay.
    pub max_delay: Duration,
    /// Longest `Retry-After` we wait for; a longer one fails the call.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            timeout: Duration::from_secs(30),
            attempts: 5,
            min_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(5),
            max_retry_after: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// The defaults, with the cloud's `api_timeout` as the per-attempt timeout.
    pub fn for_cloud(cloud: &ResolvedCloud) -> Self {
        RetryPolicy {
            timeout: Duration::from_secs(cloud.api_timeout.unwrap_or(30)),
            ..Default::default()
        }
    }
}

/// A successful (2xx) answer.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: StatusCode,
    pub body: Vec<u8>,
    pub request_id: Option<String>,
}

impl Reply {
    /// The body as JSON (`null` when empty).
    ///
    /// # Errors
    /// When the body is not JSON.
    pub fn json(&self) -> Result<Value, serde_json::Error> {
        if self.body.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&self.body)
    }
}

/// A call that failed for good: what it was, and OpenStack's evidence.
#[derive(Debug, Clone)]
pub struct ApiFailure {
    pub method: Method,
    /// `<service type> <path>` (no host, no query, never a token).
    pub target: String,
    /// `None` for transport failures and timeouts.
    pub status: Option<StatusCode>,
    /// OpenStack's message (or the transport error).
    pub message: String,
    pub request_id: Option<String>,
    /// How many attempts were made.
    pub attempts: usize,
    retry_after: Option<Duration>,
    retryable: bool,
}

impl ApiFailure {
    /// True when the failure is an answer with this status.
    pub fn is_status(&self, code: u16) -> bool {
        self.status.map(|s| s.as_u16()) == Some(code)
    }

    /// The failure as a [`CloudError`] "`what` on cloud `cloud`: METHOD target -> status:
    /// message (request id ...)".
    pub fn into_cloud(self, cloud: &str, what: &str) -> CloudError {
        let kind = if self.status.is_some() {
            CloudErrorKind::Api
        } else {
            CloudErrorKind::Transport
        };
        let status = self
            .status
            .map(|s| s.as_u16().to_string())
            .filter(|s| !self.message.starts_with(s.as_str()))
            .map(|s| format!("{s} "))
            .unwrap_or_default();
        let rid = self
            .request_id
            .as_deref()
            .map(|r| format!(" (request id `{r}`)"))
            .unwrap_or_default();
        let tries = if self.attempts > 1 {
            format!(" after {} attempts", self.attempts)
        } else {
            String::new()
        };
        let mut err = CloudError::new(
            kind,
            format!(
                "{what} on cloud `{cloud}`: {} {} -> {status}{}{rid}{tries}",
                self.method, self.target, self.message
            ),
        );
        let lower = self.message.to_lowercase();
        if lower.contains("quota") || self.is_status(413) {
            err = err.hint(
                "the project's quota is exhausted; free resources or ask the cloud's admin for \
                 more, then re-run (what was created so far is adopted)",
            );
        } else if self.is_status(403) {
            err = err.hint("the user lacks the permission; ask the cloud's admin");
        } else if self.status.is_none() || self.status.is_some_and(|s| s.is_server_error()) {
            err = err.hint(
                "the cloud is unavailable or slow; re-run later (prepare-cloud is idempotent)",
            );
        }
        err
    }
}

#[cfg(test)]
impl ApiFailure {
    /// A failure as [`send`] would report it, for tests of its consumers.
    pub(crate) fn for_test(
        method: Method,
        target: &str,
        status: Option<StatusCode>,
        message: &str,
        request_id: Option<&str>,
        attempts: usize,
    ) -> Self {
        ApiFailure {
            method,
            target: target.to_string(),
            status,
            message: message.to_string(),
            request_id: request_id.map(String::from),
            attempts,
            retry_after: None,
            retryable: false,
        }
    }
}

/// Sends `ep` with the retry policy. `retry_post` marks a POST as safe to repeat.
///
/// # Errors
/// An [`ApiFailure`] for a non-2xx answer or a transport failure that is not retried or
/// outlasts the attempts.
pub async fn send<E>(
    client: &AsyncOpenStack,
    policy: &RetryPolicy,
    ep: E,
    retry_post: bool,
) -> Result<Reply, ApiFailure>
where
    E: RestEndpoint + Sync + Send,
{
    let method = ep.method();
    let target = format!("{} {}", ep.service_type(), ep.endpoint());
    let may_retry = matches!(
        method,
        Method::GET | Method::HEAD | Method::PUT | Method::DELETE
    ) || (method == Method::POST && retry_post);
    let request = raw(ep).skip_error_check(true);
    let attempts = AtomicUsize::new(0);
    let failure =
        |status: Option<StatusCode>, message: String, request_id, retry_after, retryable| {
            ApiFailure {
                method: method.clone(),
                target: target.clone(),
                status,
                message,
                request_id,
                attempts: attempts.load(Ordering::Relaxed),
                retry_after,
                retryable,
            }
        };
    let once = || async {
        attempts.fetch_add(1, Ordering::Relaxed);
        match tokio::time::timeout(policy.timeout, request.query_async(client)).await {
            Err(_) => Err(failure(
                None,
                format!("no answer within {}s", policy.timeout.as_secs_f32()),
                None,
                None,
                may_retry,
            )),
            Ok(Err(e)) => {
                let transport = matches!(e, ApiError::Client { .. });
                Err(failure(
                    None,
                    transport_message(&e),
                    None,
                    None,
                    may_retry && transport,
                ))
            }
            Ok(Ok(rsp)) => {
                let status = rsp.status();
                let request_id = ["x-openstack-request-id", "x-compute-request-id"]
                    .iter()
                    .find_map(|h| rsp.headers().get(*h))
                    .and_then(|v| v.to_str().ok())
                    .map(String::from);
                if status.is_success() {
                    return Ok(Reply {
                        status,
                        body: rsp.into_body().to_vec(),
                        request_id,
                    });
                }
                let retry_after = rsp
                    .headers()
                    .get(http::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .map(Duration::from_secs);
                let retryable = may_retry
                    && (status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS);
                Err(failure(
                    Some(status),
                    openstack_message(rsp.body()),
                    request_id,
                    retry_after,
                    retryable,
                ))
            }
        }
    };
    let backoff = ExponentialBuilder::default()
        .with_jitter()
        .with_min_delay(policy.min_delay)
        .with_max_delay(policy.max_delay)
        .with_max_times(policy.attempts.saturating_sub(1));
    let result = once
        .retry(backoff)
        .sleep(tokio::time::sleep)
        .when(|e: &ApiFailure| e.retryable)
        .adjust(|e: &ApiFailure, delay| match (delay, e.retry_after) {
            (None, _) => None,
            (Some(_), Some(ra)) if ra > policy.max_retry_after => None,
            (Some(d), Some(ra)) => Some(ra.max(d)),
            (Some(d), None) => Some(d),
        })
        .await;
    result.map_err(|mut e| {
        e.attempts = attempts.load(Ordering::Relaxed);
        e
    })
}

/// An error's text with its causes, `: `-joined, repeats dropped; nothing in it carries a
/// secret (transport errors name URLs without tokens).
pub(crate) fn transport_message(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let t = c.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        cur = c.source();
    }
    s
}

/// The human message in an OpenStack error body: Nova `{"forbidden": {"message"}}`,
/// Neutron `{"NeutronError": {"message", "type"}}`, Keystone `{"error": {"message"}}`,
/// Octavia `{"faultstring"}`, Glance's HTML (tags stripped); cut to 300 characters.
pub fn openstack_message(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let msg = match serde_json::from_slice::<Value>(body) {
        Ok(v) => json_message(&v).unwrap_or_else(|| v.to_string()),
        Err(_) => strip_tags(&text),
    };
    let msg = msg.split_whitespace().collect::<Vec<_>>().join(" ");
    if msg.chars().count() > 300 {
        format!("{}...", msg.chars().take(300).collect::<String>())
    } else if msg.is_empty() {
        "(empty body)".to_string()
    } else {
        msg
    }
}

fn json_message(v: &Value) -> Option<String> {
    for key in ["message", "faultstring", "description", "detail"] {
        if let Some(m) = v.get(key).and_then(Value::as_str) {
            return Some(m.to_string());
        }
    }
    v.as_object()?
        .values()
        .find_map(|inner| inner.get("message").and_then(Value::as_str))
        .map(String::from)
}

/// The text of an HTML error page (tags become spaces), as Glance and proxies send them.
pub(crate) fn strip_tags(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut in_tag = false;
    for c in s.chars() {
        match c {
            '<' => in_tag = true,
            '>' => {
                in_tag = false;
                out.push(' ');
            }
            _ if !in_tag => out.push(c),
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_from_each_service() {
        assert_eq!(
            openstack_message(
                br#"{"forbidden": {"code": 403, "message": "Quota exceeded for instances"}}"#
            ),
            "Quota exceeded for instances"
        );
        assert_eq!(
            openstack_message(br#"{"NeutronError": {"type": "OverQuota", "message": "Quota exceeded for resources: ['security_group'].", "detail": ""}}"#),
            "Quota exceeded for resources: ['security_group']."
        );
        assert_eq!(
            openstack_message(br#"{"faultcode": "Client", "faultstring": "Quota has been met", "debuginfo": null}"#),
            "Quota has been met"
        );
        assert_eq!(
            openstack_message(
                b"<html><body><h1>413 Request Entity Too Large</h1>Quota</body></html>"
            ),
            "413 Request Entity Too Large Quota"
        );
        assert_eq!(openstack_message(b""), "(empty body)");
    }
}
