//! The in-memory cloud: every resource as the JSON document the real service would return
//! (one `Vec` per kind, in creation order), plus the pending asynchronous transitions.
//!
//! Fakes: asynchronous state changes (server deletion, load-balancer create/update/delete,
//! volume deletion)
//! as deadlines that are applied lazily by [`State::tick`] at the start of every request and
//! every snapshot, so nothing runs in the background and tests are deterministic given the
//! [`Timings`]. Also shared helpers: ids, timestamps, IPv4 allocation, query-string parsing,
//! filtering and marker pagination.
//!
//! Does not fake: projects/users (one fixed project), quotas, policy, IPv6 allocation.

use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The project every resource belongs to.
pub const PROJECT_ID: &str = "a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5";
/// The user every resource is created by.
pub const USER_ID: &str = "f0e1d2c3b4a5968778695a4b3c2d1e0f";

/// How long the asynchronous transitions take.
#[derive(Debug, Clone, Copy)]
pub struct Timings {
    /// `DELETE /servers/{id}` until the server (and its ports) is gone.
    pub server_delete: Duration,
    /// Load balancer `PENDING_CREATE` -> `ACTIVE`.
    pub lb_create: Duration,
    /// Load balancer `PENDING_UPDATE` -> `ACTIVE` (listener create/delete).
    pub lb_update: Duration,
    /// Load balancer `PENDING_DELETE` -> gone.
    pub lb_delete: Duration,
    /// Volume `deleting` -> gone.
    pub volume_delete: Duration,
}

impl Default for Timings {
    fn default() -> Self {
        Timings {
            server_delete: Duration::from_millis(100),
            lb_create: Duration::from_millis(200),
            lb_update: Duration::from_millis(50),
            lb_delete: Duration::from_millis(200),
            volume_delete: Duration::from_millis(100),
        }
    }
}

/// What happens when a pending transition is due.
#[derive(Debug, Clone)]
pub enum Action {
    /// Remove the resource (with the cascade [`State::remove`] applies).
    Remove,
    /// Set top-level fields.
    Set(Vec<(String, Value)>),
}

#[derive(Debug, Clone)]
pub struct Pending {
    pub kind: &'static str,
    pub id: String,
    pub at: Instant,
    pub action: Action,
}

/// All kinds of resources, in the order [`State::snapshot`] lists them.
pub const KINDS: &[&str] = &[
    "flavors",
    "server_groups",
    "keypairs",
    "servers",
    "networks",
    "subnets",
    "routers",
    "ports",
    "floatingips",
    "security_groups",
    "security_group_rules",
    "images",
    "loadbalancers",
    "listeners",
    "volumes",
];

#[derive(Debug)]
pub struct State {
    pub res: BTreeMap<&'static str, Vec<Value>>,
    pub pending: Vec<Pending>,
    pub timings: Timings,
    /// Octavia providers (name, description).
    pub lb_providers: Vec<(String, String)>,
    /// Nova availability zones.
    pub availability_zones: Vec<String>,
    /// When set, requests without `X-Auth-Token` get 401 (keystonemiddleware's shape).
    pub require_token: bool,
    /// Ports that survive the deletion of their server, unbound (as Nova treats ports that
    /// were passed in at boot, like CAPO's); other server ports go with the server.
    pub preserved_ports: HashSet<String>,
    ip_next: HashMap<String, u32>,
    mac_next: u32,
}

impl Default for State {
    fn default() -> Self {
        let mut res = BTreeMap::new();
        for k in KINDS {
            res.insert(*k, Vec::new());
        }
        State {
            res,
            pending: Vec::new(),
            timings: Timings::default(),
            lb_providers: vec![
                ("amphora".into(), "The Octavia Amphora driver.".into()),
                (
                    "octavia".into(),
                    "Deprecated alias of the Octavia Amphora driver.".into(),
                ),
            ],
            availability_zones: vec!["nova".into()],
            require_token: false,
            preserved_ports: HashSet::new(),
            ip_next: HashMap::new(),
            mac_next: 1,
        }
    }
}

impl State {
    pub fn list(&self, kind: &str) -> &[Value] {
        self.res.get(kind).map(|v| v.as_slice()).unwrap_or(&[])
    }

    fn vec_mut(&mut self, kind: &str) -> &mut Vec<Value> {
        self.res
            .iter_mut()
            .find(|(k, _)| **k == kind)
            .map(|(_, v)| v)
            .unwrap_or_else(|| panic!("unknown kind {kind}"))
    }

    pub fn get(&self, kind: &str, id: &str) -> Option<&Value> {
        self.list(kind).iter().find(|v| v["id"] == id)
    }

    pub fn get_mut(&mut self, kind: &str, id: &str) -> Option<&mut Value> {
        self.vec_mut(kind).iter_mut().find(|v| v["id"] == id)
    }

    pub fn insert(&mut self, kind: &str, v: Value) -> Value {
        self.vec_mut(kind).push(v.clone());
        v
    }

    /// Sets top-level fields of a resource (no-op when it is gone).
    pub fn set(&mut self, kind: &str, id: &str, fields: &[(&str, Value)]) {
        if let Some(Value::Object(o)) = self.get_mut(kind, id) {
            for (k, v) in fields {
                o.insert((*k).to_string(), v.clone());
            }
        }
    }

    /// Removes a resource and what the real cloud removes with it: a server's ports (a
    /// preserved port is unbound instead) and its volume attachments, a load balancer's
    /// listeners and VIP port, a network's subnets and DHCP ports, a security group's
    /// rules; floating IPs of a removed port are disassociated.
    pub fn remove(&mut self, kind: &str, id: &str) -> Option<Value> {
        let v = self.vec_mut(kind);
        let pos = v.iter().position(|r| r["id"] == id)?;
        let removed = v.remove(pos);
        self.pending.retain(|p| !(p.kind == kind && p.id == id));
        match kind {
            "servers" => {
                for p in self.ids_where("ports", |p| p["device_id"] == id) {
                    if self.preserved_ports.contains(&p) {
                        self.set(
                            "ports",
                            &p,
                            &[
                                ("device_id", json!("")),
                                ("device_owner", json!("")),
                                ("status", json!("DOWN")),
                            ],
                        );
                    } else {
                        self.remove("ports", &p);
                    }
                }
                for v in self.ids_where("volumes", |v| {
                    v["attachments"]
                        .as_array()
                        .is_some_and(|a| a.iter().any(|x| x["server_id"] == id))
                }) {
                    if let Some(vol) = self.get_mut("volumes", &v) {
                        if let Some(a) = vol["attachments"].as_array_mut() {
                            a.retain(|x| x["server_id"] != id);
                        }
                        if vol["attachments"].as_array().is_some_and(|a| a.is_empty()) {
                            vol["status"] = json!("available");
                        }
                    }
                }
            }
            "loadbalancers" => {
                for l in self.ids_where("listeners", |l| l["loadbalancers"][0]["id"] == id) {
                    self.remove("listeners", &l);
                }
                if let Some(port) = removed["vip_port_id"].as_str() {
                    self.remove("ports", port);
                }
            }
            "networks" => {
                for s in self.ids_where("subnets", |s| s["network_id"] == id) {
                    self.remove("subnets", &s);
                }
                for p in self.ids_where("ports", |p| p["network_id"] == id) {
                    self.remove("ports", &p);
                }
            }
            "subnets" => {
                let net = removed["network_id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                if let Some(Value::Array(subs)) =
                    self.get_mut("networks", &net).map(|n| n["subnets"].take())
                {
                    let subs: Vec<Value> = subs.into_iter().filter(|s| s != id).collect();
                    self.set("networks", &net, &[("subnets", Value::Array(subs))]);
                }
            }
            "security_groups" => {
                for r in self.ids_where("security_group_rules", |r| r["security_group_id"] == id) {
                    self.remove("security_group_rules", &r);
                }
            }
            "security_group_rules" => {
                let sg = removed["security_group_id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                if let Some(Value::Array(rules)) = self
                    .get_mut("security_groups", &sg)
                    .map(|g| g["security_group_rules"].take())
                {
                    let rules: Vec<Value> = rules.into_iter().filter(|r| r["id"] != id).collect();
                    self.set(
                        "security_groups",
                        &sg,
                        &[("security_group_rules", Value::Array(rules))],
                    );
                }
            }
            "ports" => {
                for f in self.ids_where("floatingips", |f| f["port_id"] == id) {
                    self.set(
                        "floatingips",
                        &f,
                        &[
                            ("port_id", Value::Null),
                            ("fixed_ip_address", Value::Null),
                            ("router_id", Value::Null),
                            ("status", json!("DOWN")),
                        ],
                    );
                }
            }
            _ => {}
        }
        Some(removed)
    }

    pub fn ids_where(&self, kind: &str, pred: impl Fn(&Value) -> bool) -> Vec<String> {
        self.list(kind)
            .iter()
            .filter(|v| pred(v))
            .filter_map(|v| v["id"].as_str().map(String::from))
            .collect()
    }

    /// Schedules an action on a resource after `after`.
    pub fn schedule(&mut self, kind: &'static str, id: &str, after: Duration, action: Action) {
        self.pending.push(Pending {
            kind,
            id: id.to_string(),
            at: Instant::now() + after,
            action,
        });
    }

    /// Applies every pending transition that is due.
    pub fn tick(&mut self) {
        let now = Instant::now();
        let mut due: Vec<Pending> = Vec::new();
        self.pending.retain(|p| {
            if p.at <= now {
                due.push(p.clone());
                false
            } else {
                true
            }
        });
        due.sort_by_key(|p| p.at);
        for p in due {
            match p.action {
                Action::Remove => {
                    self.remove(p.kind, &p.id);
                }
                Action::Set(fields) => {
                    let f: Vec<(&str, Value)> = fields
                        .iter()
                        .map(|(k, v)| (k.as_str(), v.clone()))
                        .collect();
                    self.set(p.kind, &p.id, &f);
                    if p.kind == "loadbalancers" || p.kind == "listeners" {
                        self.set(p.kind, &p.id, &[("updated_at", json!(now_iso()))]);
                    }
                }
            }
        }
    }

    /// Next free IPv4 address of a subnet (from .10 upwards; the gateway is .1).
    pub fn alloc_ip(&mut self, subnet: &Value) -> String {
        let id = subnet["id"].as_str().unwrap_or_default().to_string();
        let n = self.ip_next.entry(id).or_insert(10);
        let ip = nth_host(subnet["cidr"].as_str().unwrap_or("10.0.0.0/24"), *n);
        *n += 1;
        ip
    }

    pub fn mac(&mut self) -> String {
        let m = self.mac_next;
        self.mac_next += 1;
        format!(
            "fa:16:3e:{:02x}:{:02x}:{:02x}",
            (m >> 16) & 0xff,
            (m >> 8) & 0xff,
            m & 0xff
        )
    }

    pub fn snapshot(&self) -> Value {
        let mut o = Map::new();
        for k in KINDS {
            o.insert((*k).to_string(), Value::Array(self.list(k).to_vec()));
        }
        Value::Object(o)
    }
}

/// The `n`-th address of an IPv4 CIDR (`10.0.0.0/24`, 1 -> `10.0.0.1`).
pub fn nth_host(cidr: &str, n: u32) -> String {
    let base = cidr.split('/').next().unwrap_or("10.0.0.0");
    let parts: Vec<u32> = base.split('.').filter_map(|p| p.parse().ok()).collect();
    if parts.len() != 4 {
        return format!("10.0.0.{n}");
    }
    let v = (parts[0] << 24 | parts[1] << 16 | parts[2] << 8 | parts[3]).wrapping_add(n);
    format!(
        "{}.{}.{}.{}",
        v >> 24,
        (v >> 16) & 0xff,
        (v >> 8) & 0xff,
        v & 0xff
    )
}

pub fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

pub fn request_id() -> String {
    format!("req-{}", uuid::Uuid::new_v4())
}

/// Current UTC time as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn now_iso() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // civil-from-days (Howard Hinnant's algorithm)
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    )
}

/// Parses a query string into (key, value) pairs, percent-decoded, repeated keys kept.
pub fn parse_query(q: Option<&str>) -> Vec<(String, String)> {
    q.unwrap_or_default()
        .split('&')
        .filter(|s| !s.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                match std::str::from_utf8(&b[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                {
                    Some(x) => {
                        out.push(x);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Minimal percent-encoding for values put into pagination links.
pub fn percent_encode(s: &str) -> String {
    let mut out = String::new();
    for c in s.bytes() {
        if c.is_ascii_alphanumeric() || b"-_.~:".contains(&c) {
            out.push(c as char);
        } else {
            out.push_str(&format!("%{c:02X}"));
        }
    }
    out
}

/// First value of a query parameter.
pub fn q1<'a>(q: &'a [(String, String)], key: &str) -> Option<&'a str> {
    q.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

/// All values of a query parameter.
pub fn qall<'a>(q: &'a [(String, String)], key: &str) -> Vec<&'a str> {
    q.iter()
        .filter(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .collect()
}

/// Whether a JSON field equals a query-string value, the way the services compare them
/// (booleans case-insensitively, numbers by their text, null as empty or `None`).
pub fn field_matches(field: &Value, wanted: &str) -> bool {
    match field {
        Value::String(s) => s == wanted,
        Value::Bool(b) => wanted.eq_ignore_ascii_case(if *b { "true" } else { "false" }),
        Value::Number(n) => n.to_string() == wanted,
        Value::Null => wanted.is_empty() || wanted == "None" || wanted == "null",
        Value::Array(a) => a.iter().any(|x| field_matches(x, wanted)),
        Value::Object(_) => false,
    }
}

/// One page of `items` after `marker` (an id), at most `limit` long, and whether more items
/// follow; `None` when the marker is unknown.
pub fn paginate(
    items: Vec<Value>,
    limit: Option<usize>,
    marker: Option<&str>,
) -> Option<(Vec<Value>, bool)> {
    let start = match marker {
        Some(m) => items.iter().position(|v| v["id"] == m)? + 1,
        None => 0,
    };
    let rest: Vec<Value> = items.into_iter().skip(start).collect();
    match limit {
        Some(l) if rest.len() > l => Some((rest.into_iter().take(l).collect(), true)),
        _ => Some((rest, false)),
    }
}

/// Rebuilds a query string with `marker` replaced (for `next` links).
pub fn next_query(q: &[(String, String)], marker: &str) -> String {
    let mut parts: Vec<String> = q
        .iter()
        .filter(|(k, _)| k != "marker")
        .map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v)))
        .collect();
    parts.push(format!("marker={}", percent_encode(marker)));
    parts.join("&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_time_has_the_right_shape() {
        let t = now_iso();
        assert_eq!(t.len(), 20, "{t}");
        assert!(t.starts_with("20") && t.ends_with('Z'), "{t}");
    }

    #[test]
    fn query_parsing_decodes_and_keeps_repeats() {
        let q = parse_query(Some("name=a%20b&x=1&x=2&router%3Aexternal=True&e="));
        assert_eq!(q1(&q, "name"), Some("a b"));
        assert_eq!(qall(&q, "x"), vec!["1", "2"]);
        assert_eq!(q1(&q, "router:external"), Some("True"));
        assert_eq!(q1(&q, "e"), Some(""));
        assert_eq!(percent_decode("100%"), "100%");
    }

    #[test]
    fn pagination_walks_all_items() {
        let items: Vec<Value> = (0..5).map(|i| json!({"id": format!("i{i}")})).collect();
        let (p1, more) = paginate(items.clone(), Some(2), None).unwrap();
        assert_eq!((p1.len(), more), (2, true));
        let (p3, more) = paginate(items.clone(), Some(2), Some("i3")).unwrap();
        assert_eq!((p3.len(), more), (1, false));
        assert!(paginate(items, Some(2), Some("nope")).is_none());
    }

    #[test]
    fn ip_allocation_and_matching() {
        assert_eq!(nth_host("10.8.0.0/20", 1), "10.8.0.1");
        assert_eq!(nth_host("10.8.0.0/20", 300), "10.8.1.44");
        assert!(field_matches(&json!(true), "True"));
        assert!(!field_matches(&json!(false), "true"));
        assert!(field_matches(&json!(8), "8"));
        assert!(field_matches(&Value::Null, "None"));
    }

    #[test]
    fn transitions_apply_when_due_and_cascade() {
        let mut s = State::default();
        s.insert("servers", json!({"id": "s1", "name": "vm"}));
        s.insert("ports", json!({"id": "p1", "device_id": "s1"}));
        s.insert(
            "floatingips",
            json!({"id": "f1", "port_id": "p1", "status": "ACTIVE"}),
        );
        s.schedule("servers", "s1", Duration::from_millis(30), Action::Remove);
        s.tick();
        assert!(s.get("servers", "s1").is_some(), "not yet due");
        std::thread::sleep(Duration::from_millis(40));
        s.tick();
        assert!(s.get("servers", "s1").is_none());
        assert!(s.get("ports", "p1").is_none(), "server ports go with it");
        assert_eq!(s.get("floatingips", "f1").unwrap()["status"], "DOWN");
        assert!(s.pending.is_empty());
    }

    #[test]
    fn a_server_leaves_preserved_ports_unbound_and_its_volumes_detached() {
        let mut s = State::default();
        s.insert("servers", json!({"id": "s1", "name": "vm"}));
        s.insert(
            "ports",
            json!({"id": "p1", "device_id": "s1", "device_owner": "compute:nova"}),
        );
        s.insert(
            "ports",
            json!({"id": "p2", "device_id": "s1", "device_owner": "compute:nova"}),
        );
        s.preserved_ports.insert("p2".into());
        s.insert(
            "volumes",
            json!({"id": "v1", "status": "in-use", "attachments": [{"server_id": "s1"}]}),
        );
        s.remove("servers", "s1");
        assert!(s.get("ports", "p1").is_none());
        let p2 = s.get("ports", "p2").unwrap();
        assert_eq!(
            (&p2["device_id"], &p2["device_owner"]),
            (&json!(""), &json!(""))
        );
        let v = s.get("volumes", "v1").unwrap();
        assert_eq!(v["status"], "available");
        assert_eq!(v["attachments"], json!([]));
    }
}
