//! Fault injection: the next N requests matching a method and a path prefix (the full path,
//! service prefix included, e.g. `/network/v2.0/security-group-rules`) get a fault instead
//! of (or before) their normal handling.
//!
//! Fakes: error statuses with the error body each service really returns (Nova `computeFault`
//! family, `NeutronError`, Glance HTML, Octavia `faultstring`), 429 with `Retry-After`,
//! quota errors (Nova 403 `forbidden` "Quota exceeded", Neutron 409 `OverQuota`, Octavia 403
//! quota, Glance 413), slow responses (a delay, then normal handling), and dropped
//! connections (the TCP connection is closed without any response).
//!
//! Does not fake: partial responses, TLS errors, slow bodies.

use std::time::Duration;

/// What an injected fault does.
#[derive(Debug, Clone, PartialEq)]
pub enum FaultKind {
    /// Answer with this status and the service's error body for it (500, 503, 409, 401...).
    Status(u16),
    /// 429 with `Retry-After: <seconds>`.
    RateLimited { retry_after_secs: u64 },
    /// The service's quota error (see the module doc for the status per service).
    Quota,
    /// Wait this long, then handle the request normally (to exceed a client timeout).
    Delay(Duration),
    /// Close the connection without answering.
    DropConnection,
}

/// One rule: `remaining` more requests with `method` (`*` = any) whose path starts with
/// `path_prefix` get `kind`.
#[derive(Debug, Clone)]
pub struct FaultRule {
    pub method: String,
    pub path_prefix: String,
    pub remaining: usize,
    pub kind: FaultKind,
}

/// The rules, first match wins; a rule is used up after `remaining` hits.
#[derive(Debug, Default)]
pub struct FaultTable {
    rules: Vec<FaultRule>,
}

impl FaultTable {
    pub fn add(&mut self, rule: FaultRule) {
        if rule.remaining > 0 {
            self.rules.push(rule);
        }
    }

    pub fn clear(&mut self) {
        self.rules.clear();
    }

    pub fn pending(&self) -> usize {
        self.rules.iter().map(|r| r.remaining).sum()
    }

    /// The fault for this request, if any (consumes one hit of the matching rule).
    pub fn take(&mut self, method: &str, path: &str) -> Option<FaultKind> {
        let i = self.rules.iter().position(|r| {
            (r.method == "*" || r.method.eq_ignore_ascii_case(method))
                && path.starts_with(&r.path_prefix)
        })?;
        let rule = &mut self.rules[i];
        rule.remaining -= 1;
        let kind = rule.kind.clone();
        if rule.remaining == 0 {
            self.rules.remove(i);
        }
        Some(kind)
    }
}

/// Handle returned by [`crate::FakeCloud::faults`].
pub struct Faults<'a> {
    pub(crate) cloud: &'a crate::FakeCloud,
}

impl Faults<'_> {
    /// The next `times` requests `method` (`"*"` = any) under `path_prefix` get `kind`.
    pub fn inject(&self, method: &str, path_prefix: &str, times: usize, kind: FaultKind) {
        self.cloud.inner.faults.lock().unwrap().add(FaultRule {
            method: method.to_string(),
            path_prefix: path_prefix.to_string(),
            remaining: times,
            kind,
        });
    }

    /// Shorthand for [`FaultKind::Status`].
    pub fn status(&self, method: &str, path_prefix: &str, times: usize, status: u16) {
        self.inject(method, path_prefix, times, FaultKind::Status(status));
    }

    /// Removes every rule.
    pub fn clear(&self) {
        self.cloud.inner.faults.lock().unwrap().clear();
    }

    /// How many injected faults have not fired yet.
    pub fn pending(&self) -> usize {
        self.cloud.inner.faults.lock().unwrap().pending()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_match_method_and_prefix_and_run_out() {
        let mut t = FaultTable::default();
        t.add(FaultRule {
            method: "POST".into(),
            path_prefix: "/network/v2.0/security-group".into(),
            remaining: 2,
            kind: FaultKind::Status(503),
        });
        t.add(FaultRule {
            method: "*".into(),
            path_prefix: "/compute".into(),
            remaining: 1,
            kind: FaultKind::DropConnection,
        });
        assert_eq!(t.pending(), 3);
        assert_eq!(t.take("GET", "/network/v2.0/security-groups"), None);
        assert_eq!(
            t.take("post", "/network/v2.0/security-group-rules"),
            Some(FaultKind::Status(503))
        );
        assert_eq!(
            t.take("POST", "/network/v2.0/security-groups"),
            Some(FaultKind::Status(503))
        );
        assert_eq!(t.take("POST", "/network/v2.0/security-groups"), None);
        assert_eq!(
            t.take("DELETE", "/compute/v2.1/servers/x"),
            Some(FaultKind::DropConnection)
        );
        assert_eq!(t.pending(), 0);
    }

    #[test]
    fn zero_times_adds_nothing() {
        let mut t = FaultTable::default();
        t.add(FaultRule {
            method: "*".into(),
            path_prefix: "/".into(),
            remaining: 0,
            kind: FaultKind::Quota,
        });
        assert_eq!(t.take("GET", "/x"), None);
    }
}
