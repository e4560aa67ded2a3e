//! Fault injection and error shapes over real HTTP (a minimal HTTP/1.1 client on std).

use fake_openstack::{FakeCloud, FaultKind};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

struct Resp {
    status: u16,
    head: String,
    body: String,
}

fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&str>,
    extra: &str,
    timeout: Duration,
) -> std::io::Result<Resp> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(timeout))?;
    let body = body.unwrap_or("");
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\n{extra}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf)?;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    Ok(Resp {
        status,
        head: head.to_lowercase(),
        body: body.to_string(),
    })
}

fn get(addr: SocketAddr, path: &str) -> Resp {
    http(addr, "GET", path, None, "", Duration::from_secs(5)).unwrap()
}

#[test]
fn status_faults_use_each_services_error_shape_then_recover() {
    let cloud = FakeCloud::new();
    let run = cloud.serve_in_background(0).unwrap();
    let sg = r#"{"security_group": {"name": "g"}}"#;
    cloud
        .faults()
        .status("POST", "/network/v2.0/security-groups", 1, 503);
    let r = http(
        run.addr,
        "POST",
        "/network/v2.0/security-groups",
        Some(sg),
        "",
        Duration::from_secs(5),
    )
    .unwrap();
    assert_eq!(r.status, 503);
    assert!(
        r.body.contains(r#""NeutronError""#) && r.body.contains("HTTPServiceUnavailable"),
        "{}",
        r.body
    );
    assert!(
        r.head.contains("x-openstack-request-id: req-"),
        "{}",
        r.head
    );
    let r = http(
        run.addr,
        "POST",
        "/network/v2.0/security-groups",
        Some(sg),
        "",
        Duration::from_secs(5),
    )
    .unwrap();
    assert_eq!(r.status, 201, "the fault fired once: {}", r.body);

    cloud.faults().status("*", "/compute", 1, 500);
    let r = get(run.addr, "/compute/v2.1/os-server-groups");
    assert_eq!(r.status, 500);
    assert!(r.body.contains(r#""computeFault""#), "{}", r.body);

    cloud.faults().status("GET", "/load-balancer", 1, 409);
    let r = get(run.addr, "/load-balancer/v2/lbaas/loadbalancers");
    assert!(
        r.status == 409 && r.body.contains(r#""faultstring""#),
        "{}",
        r.body
    );
    assert_eq!(cloud.faults().pending(), 0);
}

#[test]
fn rate_limit_quota_delay_and_dropped_connection() {
    let cloud = FakeCloud::new();
    let run = cloud.serve_in_background(0).unwrap();
    cloud.faults().inject(
        "GET",
        "/compute/v2.1/servers",
        1,
        FaultKind::RateLimited {
            retry_after_secs: 3,
        },
    );
    let r = get(run.addr, "/compute/v2.1/servers/detail");
    assert_eq!(r.status, 429);
    assert!(
        r.head.contains("retry-after: 3") && r.body.contains("overLimit"),
        "{}\n{}",
        r.head,
        r.body
    );

    cloud.faults().inject(
        "POST",
        "/compute/v2.1/os-server-groups",
        1,
        FaultKind::Quota,
    );
    let r = http(
        run.addr,
        "POST",
        "/compute/v2.1/os-server-groups",
        Some(r#"{"server_group": {"name": "x", "policies": ["anti-affinity"]}}"#),
        "",
        Duration::from_secs(5),
    )
    .unwrap();
    assert!(
        r.status == 403 && r.body.contains("Quota exceeded"),
        "{}",
        r.body
    );
    cloud
        .faults()
        .inject("POST", "/network", 1, FaultKind::Quota);
    let r = http(
        run.addr,
        "POST",
        "/network/v2.0/security-groups",
        Some("{}"),
        "",
        Duration::from_secs(5),
    )
    .unwrap();
    assert!(
        r.status == 409 && r.body.contains("OverQuota"),
        "{}",
        r.body
    );

    cloud.faults().inject(
        "GET",
        "/network",
        1,
        FaultKind::Delay(Duration::from_millis(600)),
    );
    let t = Instant::now();
    let e = http(
        run.addr,
        "GET",
        "/network/v2.0/networks",
        None,
        "",
        Duration::from_millis(150),
    );
    assert!(e.is_err(), "the client timed out");
    assert!(t.elapsed() < Duration::from_millis(550));
    let t = Instant::now();
    assert_eq!(get(run.addr, "/network/v2.0/networks").status, 200);
    assert!(
        t.elapsed() < Duration::from_millis(400),
        "only one request was delayed"
    );

    cloud
        .faults()
        .inject("*", "/image", 1, FaultKind::DropConnection);
    let r = http(
        run.addr,
        "GET",
        "/image/v2/images",
        None,
        "",
        Duration::from_secs(5),
    );
    match r {
        Ok(r) => assert_eq!((r.status, r.body.as_str()), (0, ""), "no response at all"),
        Err(e) => assert!(
            matches!(
                e.kind(),
                std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::UnexpectedEof
            ),
            "{e}"
        ),
    }
    assert_eq!(
        get(run.addr, "/image/v2/images").status,
        200,
        "the next connection works"
    );
    let log = cloud.request_log();
    assert!(
        log.iter()
            .any(|l| l.path == "/image/v2/images" && l.status == 0),
        "dropped request logged with status 0"
    );
}

#[test]
fn tokens_and_not_found_bodies() {
    let cloud = FakeCloud::new();
    cloud.set_require_token(true);
    let run = cloud.serve_in_background(0).unwrap();
    let r = get(run.addr, "/network/v2.0/networks");
    assert!(
        r.status == 401 && r.body.contains("requires authentication"),
        "{}",
        r.body
    );
    assert_eq!(
        get(run.addr, "/network").status,
        200,
        "version discovery needs no token"
    );
    let r = http(
        run.addr,
        "GET",
        "/network/v2.0/networks",
        None,
        "X-Auth-Token: anything\r\n",
        Duration::from_secs(5),
    )
    .unwrap();
    assert_eq!(r.status, 200, "any token is accepted");
    assert!(cloud.request_log().last().unwrap().had_token);
    cloud.set_require_token(false);

    let r = get(run.addr, "/image/v2/images/nope");
    assert!(
        r.status == 404
            && r.head.contains("text/html")
            && r.body.contains("No image found with ID nope"),
        "{}",
        r.body
    );
    let r = get(run.addr, "/network/v2.0/ports/nope");
    assert!(
        r.status == 404 && r.body.contains("PortNotFound"),
        "{}",
        r.body
    );
    let r = http(
        run.addr,
        "GET",
        "/compute/v2.1/servers/nope",
        None,
        "OpenStack-API-Version: compute 2.64\r\n",
        Duration::from_secs(5),
    )
    .unwrap();
    assert!(
        r.status == 404 && r.body.contains("itemNotFound"),
        "{}",
        r.body
    );
    assert!(
        r.head.contains("openstack-api-version: compute 2.64"),
        "microversion echoed on errors: {}",
        r.head
    );
    let r = get(run.addr, "/load-balancer/v2/lbaas/loadbalancers/nope");
    assert!(
        r.status == 404 && r.body.contains("Load Balancer nope not found."),
        "{}",
        r.body
    );
}

#[test]
fn shutdown_frees_the_port() {
    let cloud = FakeCloud::new();
    let run = cloud.serve_in_background(0).unwrap();
    let addr = run.addr;
    assert_eq!(get(addr, "/").status, 200);
    run.shutdown();
    std::thread::sleep(Duration::from_millis(50));
    assert!(
        TcpStream::connect(addr).is_err(),
        "nothing listens after shutdown"
    );
}

/// One raw request with `content_type` and a binary body; (status, body).
fn put_bytes(addr: SocketAddr, path: &str, content_type: &str, data: &[u8]) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "PUT {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
        data.len()
    )
    .unwrap();
    s.write_all(data).unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).unwrap();
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, text)
}

/// As Glance 33's format inspector (measured on the real service): data declared `qcow2`
/// that is not qcow2 -> 415 "does not match stream data raw", the image stays `queued`;
/// declared `raw`, anything goes.
#[test]
fn glance_refuses_data_that_is_not_the_declared_qcow2() {
    let cloud = FakeCloud::new();
    let running = cloud.serve_in_background(0).unwrap();
    let id_of = |name: &str, format: &str| {
        let r = http(
            running.addr,
            "POST",
            "/image/v2/images",
            Some(&format!(
                r#"{{"name": "{name}", "disk_format": "{format}", "container_format": "bare"}}"#
            )),
            "",
            Duration::from_secs(5),
        )
        .unwrap();
        assert_eq!(r.status, 201, "{}", r.body);
        let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
        v["id"].as_str().unwrap().to_string()
    };
    let status_of = |id: &str| {
        cloud.snapshot()["images"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["id"] == id)
            .unwrap()["status"]
            .clone()
    };
    let q = id_of("q", "qcow2");
    let (st, body) = put_bytes(
        running.addr,
        &format!("/image/v2/images/{q}/file"),
        "application/octet-stream",
        &[0u8; 4096],
    );
    assert_eq!(st, 415, "{body}");
    assert!(
        body.contains("Image disk_format qcow2 does not match stream data raw"),
        "{body}"
    );
    assert_eq!(status_of(&q), "queued");
    let mut qcow = b"QFI\xfb\0\0\0\x03".to_vec();
    qcow.resize(4096, 0);
    let (st, body) = put_bytes(
        running.addr,
        &format!("/image/v2/images/{q}/file"),
        "application/octet-stream",
        &qcow,
    );
    assert_eq!(st, 204, "{body}");
    assert_eq!(status_of(&q), "active");
    let r = id_of("r", "raw");
    let (st, body) = put_bytes(
        running.addr,
        &format!("/image/v2/images/{r}/file"),
        "application/octet-stream",
        &qcow,
    );
    assert_eq!(st, 204, "{body}");
}

/// Nova 34's root: 200 (not 300) with the legacy v2.0 DEPRECATED.
#[test]
fn nova_root_answers_like_nova() {
    let cloud = FakeCloud::new();
    let running = cloud.serve_in_background(0).unwrap();
    let r = http(
        running.addr,
        "GET",
        "/compute/",
        None,
        "",
        Duration::from_secs(5),
    )
    .unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(v["versions"][0]["id"], "v2.0");
    assert_eq!(v["versions"][0]["status"], "DEPRECATED");
    assert_eq!(v["versions"][1]["status"], "CURRENT");
}
