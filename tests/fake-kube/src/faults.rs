//! HTTP fault injection for one fake API server: the next N requests matching a method and
//! a path prefix get an error `Status` (500, 503, 429 with `Retry-After`, 409, ...) or a
//! delay before normal handling. Cluster-level faults of the simulated controller (quota,
//! stuck provisioning) are in [`crate::controller::ClusterFaults`].

use std::time::Duration;

/// What an injected fault does.
#[derive(Debug, Clone, PartialEq)]
pub enum FaultKind {
    /// Answer with this status and a `Status` body (429 also gets `Retry-After: 1`).
    Status(u16),
    /// Wait this long, then handle the request normally.
    Delay(Duration),
}

#[derive(Debug, Clone)]
struct Rule {
    method: String,
    path_prefix: String,
    remaining: usize,
    kind: FaultKind,
}

/// The rules, first match wins; a rule is used up after `remaining` hits.
#[derive(Debug, Default)]
pub struct FaultTable {
    rules: Vec<Rule>,
}

impl FaultTable {
    /// The next `times` requests with `method` (`*` = any) under `path_prefix` get `kind`.
    pub fn add(&mut self, method: &str, path_prefix: &str, times: usize, kind: FaultKind) {
        if times > 0 {
            self.rules.push(Rule {
                method: method.to_string(),
                path_prefix: path_prefix.to_string(),
                remaining: times,
                kind,
            });
        }
    }

    pub fn clear(&mut self) {
        self.rules.clear();
    }

    pub fn pending(&self) -> usize {
        self.rules.iter().map(|r| r.remaining).sum()
    }

    /// The fault for this request, if any (consumes one hit).
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_match_method_and_prefix_and_run_out() {
        let mut t = FaultTable::default();
        t.add("PATCH", "/apis/cluster.x-k8s.io", 2, FaultKind::Status(503));
        t.add("*", "/api/v1", 1, FaultKind::Status(429));
        t.add("*", "/x", 0, FaultKind::Status(500));
        assert_eq!(t.pending(), 3);
        assert_eq!(
            t.take("GET", "/apis/cluster.x-k8s.io/v1beta2/clusters"),
            None
        );
        assert_eq!(
            t.take("patch", "/apis/cluster.x-k8s.io/v1beta2/x"),
            Some(FaultKind::Status(503))
        );
        assert_eq!(
            t.take("PATCH", "/apis/cluster.x-k8s.io/v1beta2/x"),
            Some(FaultKind::Status(503))
        );
        assert_eq!(t.take("PATCH", "/apis/cluster.x-k8s.io/v1beta2/x"), None);
        assert_eq!(
            t.take("GET", "/api/v1/secrets"),
            Some(FaultKind::Status(429))
        );
        assert_eq!(t.pending(), 0);
    }
}
