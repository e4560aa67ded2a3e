//! Conditions in the two shapes CAPI uses: v1beta2 (`metav1.Condition`: type, status,
//! observedGeneration, lastTransitionTime, reason, message) and v1beta1 (CAPI's own:
//! type, status, severity, lastTransitionTime, reason, message; `Ready` first). The
//! transition time only changes when the status does, as the real helpers do.

use crate::util;
use serde_json::{Value, json};

/// Which API generation an object (and its cluster) uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gen {
    /// CAPI v1beta2 (+ CAPO v1beta1): `status.initialization`, metav1 conditions.
    V1Beta2,
    /// CAPI v1beta1 (+ CAPO v1alpha6): `status.infrastructureReady`, CAPI conditions.
    V1Beta1,
}

impl Gen {
    /// The generation of a CAPI object from its `apiVersion`.
    pub fn of(obj: &Value) -> Gen {
        if obj["apiVersion"]
            .as_str()
            .is_some_and(|a| a.ends_with("/v1beta2"))
        {
            Gen::V1Beta2
        } else {
            Gen::V1Beta1
        }
    }

    pub fn capi_version(self) -> &'static str {
        match self {
            Gen::V1Beta2 => "v1beta2",
            Gen::V1Beta1 => "v1beta1",
        }
    }
}

fn tf(ok: bool) -> &'static str {
    if ok { "True" } else { "False" }
}

fn time_for(list: &Value, ty: &str, status: &str) -> String {
    list.as_array()
        .and_then(|a| a.iter().find(|c| c["type"] == ty))
        .filter(|c| c["status"] == status)
        .and_then(|c| c["lastTransitionTime"].as_str())
        .map(String::from)
        .unwrap_or_else(util::now)
}

fn put(list: &mut Value, cond: Value) {
    if !list.is_array() {
        *list = json!([]);
    }
    let Some(a) = list.as_array_mut() else { return };
    match a.iter().position(|c| c["type"] == cond["type"]) {
        Some(i) => a[i] = cond,
        None => a.push(cond),
    }
}

/// Sets a v1beta2 condition in `list` (a `conditions` array value).
pub fn set_v1b2(
    list: &mut Value,
    ty: &str,
    ok: bool,
    reason: &str,
    message: &str,
    generation: i64,
) {
    let status = tf(ok);
    let mut c = json!({"type": ty, "status": status, "observedGeneration": generation,
        "lastTransitionTime": time_for(list, ty, status), "reason": reason});
    if !message.is_empty() {
        c["message"] = json!(message);
    }
    put(list, c);
}

/// Sets a v1beta1 condition; `severity` is used only when false (`Error`, `Warning`, `Info`).
pub fn set_v1b1(list: &mut Value, ty: &str, ok: bool, reason: &str, severity: &str, message: &str) {
    let status = tf(ok);
    let mut c =
        json!({"type": ty, "status": status, "lastTransitionTime": time_for(list, ty, status)});
    if !ok {
        c["severity"] = json!(severity);
        c["reason"] = json!(reason);
        if !message.is_empty() {
            c["message"] = json!(message);
        }
    }
    put(list, c);
    // CAPI keeps `Ready` first, the rest sorted by type.
    if let Some(a) = list.as_array_mut() {
        a.sort_by(|x, y| {
            let key = |c: &Value| {
                let t = c["type"].as_str().unwrap_or("").to_string();
                (t != "Ready", t)
            };
            key(x).cmp(&key(y))
        });
    }
}

/// Is condition `ty` in `list` true?
pub fn is_true(list: &Value, ty: &str) -> bool {
    list.as_array()
        .is_some_and(|a| a.iter().any(|c| c["type"] == ty && c["status"] == "True"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transition_time_kept_while_status_unchanged() {
        let mut l = json!([{"type": "Ready", "status": "True", "lastTransitionTime": "2020-01-01T00:00:00Z"}]);
        set_v1b2(&mut l, "Ready", true, "Ready", "", 3);
        assert_eq!(l[0]["lastTransitionTime"], "2020-01-01T00:00:00Z");
        assert_eq!(l[0]["observedGeneration"], 3);
        set_v1b2(&mut l, "Ready", false, "NotReady", "x", 3);
        assert_ne!(l[0]["lastTransitionTime"], "2020-01-01T00:00:00Z");
        assert_eq!(l[0]["message"], "x");
    }

    #[test]
    fn v1beta1_ready_first_and_severity_only_when_false() {
        let mut l = json!([]);
        set_v1b1(&mut l, "InfrastructureReady", true, "", "", "");
        set_v1b1(
            &mut l,
            "ControlPlaneReady",
            false,
            "WaitingForControlPlane",
            "Info",
            "",
        );
        set_v1b1(&mut l, "Ready", false, "WaitingForControlPlane", "Info", "");
        let types: Vec<&str> = l
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["type"].as_str().unwrap())
            .collect();
        assert_eq!(types, ["Ready", "ControlPlaneReady", "InfrastructureReady"]);
        assert!(l[2].get("severity").is_none());
        assert_eq!(l[1]["severity"], "Info");
        assert!(!is_true(&l, "Ready") && is_true(&l, "InfrastructureReady"));
        assert_eq!(
            Gen::of(&json!({"apiVersion": "cluster.x-k8s.io/v1beta2"})),
            Gen::V1Beta2
        );
    }
}
