//! Watches (`GET ...?watch=true`): a chunked stream of newline-delimited
//! `{"type":"ADDED|MODIFIED|DELETED|BOOKMARK|ERROR","object":...}` events.
//!
//! - `resourceVersion` unset or `0`: the matching objects as ADDED, then changes;
//!   `N`: every change after N from the event history, then live changes; N older than the
//!   history -> one ERROR event with a 410 `Expired` Status (clients re-list), as the real
//!   server does.
//! - `sendInitialEvents=true` (streaming lists): the objects as ADDED, then a BOOKMARK
//!   annotated `k8s.io/initial-events-end: "true"`.
//! - namespace, `labelSelector` and `fieldSelector` filter events (an object that stops
//!   matching a label selector is not turned into a DELETED event - simplification).
//! - `timeoutSeconds` ends the stream (default 30 min); a watcher that falls more than
//!   8192 events behind is ended too (clients re-watch from their last version).

use crate::handlers::{Ctx, matching, out};
use crate::registry::ResourceType;
use crate::select::{FieldSelector, LabelSelector};
use crate::server::{Inner, lock};
use crate::status::ApiError;
use axum::body::Body;
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use serde_json::{Value, json};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;

fn line(kind: &str, object: Value) -> String {
    let mut s = json!({"type": kind, "object": object}).to_string();
    s.push('\n');
    s
}

pub(crate) fn serve(inner: Arc<Inner>, t: ResourceType, c: &Ctx) -> Result<Response, ApiError> {
    let q = |k: &str| {
        c.query
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
    };
    let labels = LabelSelector::parse(&q("labelSelector").unwrap_or_default())
        .map_err(|e| ApiError::bad_request(format!("unable to parse labelSelector: {e}")))?;
    let fields = FieldSelector::parse(&q("fieldSelector").unwrap_or_default())
        .map_err(|e| ApiError::bad_request(format!("unable to parse fieldSelector: {e}")))?;
    let timeout = q("timeoutSeconds")
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or(1800);
    let version = c.rp.version.clone();
    let ns = c.rp.namespace.clone();
    let key = t.key();
    let rv = q("resourceVersion").unwrap_or_default();
    let send_initial = q("sendInitialEvents").as_deref() == Some("true");

    let in_scope = {
        let (ns, labels, fields) = (ns.clone(), labels.clone(), fields.clone());
        move |o: &Value| {
            ns.as_deref()
                .is_none_or(|n| crate::store::namespace_of(o) == n)
                && labels.matches(o)
                && fields.matches(o)
        }
    };

    let (initial, rx) = {
        let st = lock(&inner.state);
        let rx = st.subscribe();
        let current = st.resource_version();
        let mut lines = Vec::new();
        if send_initial || rv.is_empty() || rv == "0" {
            for o in matching(&st, &t, c)? {
                lines.push(line("ADDED", out(&t, &version, &o)));
            }
            if send_initial {
                lines.push(line(
                    "BOOKMARK",
                    json!({"apiVersion": t.api_version(&version), "kind": t.kind,
                        "metadata": {"resourceVersion": current.to_string(),
                            "annotations": {"k8s.io/initial-events-end": "true"}}}),
                ));
            }
        } else {
            let n: u64 = rv
                .parse()
                .map_err(|_| ApiError::bad_request(format!("invalid resource version \"{rv}\"")))?;
            if n < st.oldest_watchable() {
                let gone = ApiError::new(
                    410,
                    "Expired",
                    format!(
                        "too old resource version: {n} ({})",
                        st.oldest_watchable() + 1
                    ),
                );
                lines.push(line("ERROR", gone.body()));
            } else {
                for e in st.events_since(&key, n) {
                    if in_scope(&e.object) {
                        lines.push(line(e.kind, out(&t, &version, &e.object)));
                    }
                }
            }
        }
        (lines, rx)
    };

    let live = futures_util::stream::unfold(rx, move |mut rx| {
        let (key, t, version, in_scope) =
            (key.clone(), t.clone(), version.clone(), in_scope.clone());
        async move {
            loop {
                match rx.recv().await {
                    Ok(e) if e.key == key && in_scope(&e.object) => {
                        let l = line(e.kind, out(&t, &version, &e.object));
                        return Some((l, rx));
                    }
                    Ok(_) => {}
                    Err(RecvError::Lagged(_) | RecvError::Closed) => return None,
                }
            }
        }
    });
    let stream = futures_util::stream::iter(initial)
        .chain(live)
        .take_until(tokio::time::sleep(Duration::from_secs(timeout)))
        .map(Ok::<String, Infallible>);
    let mut r = Body::from_stream(stream).into_response();
    r.headers_mut()
        .insert("content-type", HeaderValue::from_static("application/json"));
    Ok(r)
}
