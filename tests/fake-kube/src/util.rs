//! Small helpers shared by the server and the controller: timestamps, uids, random name
//! suffixes, name validation, query-string decoding and YAML/JSON body parsing.

use serde_json::Value;

/// `2026-01-02T03:04:05Z` (RFC 3339, seconds, UTC), as Kubernetes writes timestamps.
pub fn now() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

pub fn uid() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// `n` random characters from the alphabet apiserver's `generateName` uses.
pub fn suffix(n: usize) -> String {
    const ALPHA: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut out = String::new();
    while out.len() < n {
        for b in uuid::Uuid::new_v4().as_bytes() {
            if out.len() == n {
                break;
            }
            out.push(ALPHA[*b as usize % ALPHA.len()] as char);
        }
    }
    out
}

/// Why `name` is not a DNS-1123 subdomain (None = valid), in apiserver's words.
pub fn invalid_subdomain(name: &str) -> Option<String> {
    if name.len() > 253 {
        return Some("must be no more than 253 characters".into());
    }
    let ok = !name.is_empty()
        && name.split('.').all(|l| {
            !l.is_empty()
                && l.bytes()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        });
    (!ok).then(|| {
        "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, \
         '-' or '.', and must start and end with an alphanumeric character (e.g. \
         'example.com', regex used for validation is \
         '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
            .to_string()
    })
}

/// Why `name` is not a DNS-1123 label (namespaces), None = valid.
pub fn invalid_label(name: &str) -> Option<String> {
    if name.len() > 63 {
        return Some("must be no more than 63 characters".into());
    }
    if name.contains('.') || invalid_subdomain(name).is_some() {
        return Some(
            "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or \
             '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or \
             '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
                .into(),
        );
    }
    None
}

/// Percent-decoding of a query component (`+` is a space).
pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => {
                let hex = std::str::from_utf8(&b[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(v) => {
                        out.push(v);
                        i += 3;
                        continue;
                    }
                    None => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `a=1&b=x%2Fy` -> [("a","1"), ("b","x/y")].
pub fn parse_query(q: Option<&str>) -> Vec<(String, String)> {
    q.unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

/// A request body as a JSON value: JSON first, then YAML (apply bodies may be either).
pub fn parse_body(bytes: &[u8]) -> Result<Value, String> {
    if let Ok(v) = serde_json::from_slice::<Value>(bytes) {
        return Ok(v);
    }
    let text = std::str::from_utf8(bytes).map_err(|e| format!("body is not UTF-8: {e}"))?;
    serde_saphyr::from_str::<Value>(text).map_err(|e| format!("cannot parse the body: {e}"))
}

/// The JSON path `.spec.replicas` as segments.
pub fn json_path(p: &str) -> Vec<String> {
    p.trim_start_matches('.')
        .split('.')
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_validated_like_apiserver() {
        assert!(invalid_subdomain("capi-demo.x").is_none());
        assert!(invalid_subdomain("Demo").is_some());
        assert!(invalid_subdomain("-a").is_some());
        assert!(invalid_subdomain("").is_some());
        assert!(invalid_label("a.b").is_some());
        assert!(invalid_label("kube-system").is_none());
    }

    #[test]
    fn query_decoding() {
        let q = parse_query(Some(
            "labelSelector=cluster.x-k8s.io%2Fcluster-name%3Dx&watch=1&x=a+b&y=%zz",
        ));
        assert_eq!(q[0].1, "cluster.x-k8s.io/cluster-name=x");
        assert_eq!(q[2].1, "a b");
        assert_eq!(q[3].1, "%zz");
    }

    #[test]
    fn bodies_parse_as_json_or_yaml() {
        assert_eq!(parse_body(b"{\"a\": 1}").unwrap()["a"], 1);
        let y = parse_body(b"kind: Secret\nmetadata:\n  name: x\n").unwrap();
        assert_eq!(y["metadata"]["name"], "x");
        assert_eq!(suffix(5).len(), 5);
    }
}
