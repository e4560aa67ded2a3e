//! `fake-openstack --port PORT [--seed demo] [--cluster NAME] [--orphans NAME] [--ovn]
//! [--log]`: serves the fake on 127.0.0.1:PORT until interrupted; prints the endpoints and
//! a standalone clouds.yaml.

use fake_openstack::{ClusterShape, FakeCloud};

const USAGE: &str = "usage: fake-openstack [--port PORT] [--seed demo] [--cluster NAME]... [--orphans NAME]... [--ovn] [--log]
  --port PORT   port on 127.0.0.1 (default 0 = any free port)
  --seed demo   start with a small SCS-like cloud (flavors, external network `public`,
                management server `capi-mgmtcluster` with a floating IP, an image)
  --cluster NAME
                seed a workload cluster NAME as CAPO, OCCM and the CSI leave it
                (1 control plane, 2 workers, 1 OCCM load balancer, 2 volumes, ...)
  --orphans NAME
                seed 100 orphaned resources of mixed kinds for cluster NAME (what
                `scs-capi cleanup NAME --volumes delete` deletes)
  --ovn         offer the `ovn` Octavia provider besides amphora
  --log         print every request (method, path, status) to stderr";

fn main() {
    let mut port: u16 = 0;
    let mut seed = None;
    let mut ovn = false;
    let mut log = false;
    let mut clusters: Vec<(String, ClusterShape)> = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--port" => match args.next().and_then(|p| p.parse().ok()) {
                Some(p) => port = p,
                None => fail("--port needs a number"),
            },
            "--seed" => seed = args.next(),
            "--cluster" | "--orphans" => {
                let shape = if a == "--cluster" {
                    ClusterShape::default()
                } else {
                    ClusterShape::orphans_100()
                };
                match args.next().filter(|n| !n.is_empty() && !n.starts_with('-')) {
                    Some(n) => clusters.push((n, shape)),
                    None => fail(&format!("{a} needs a cluster name")),
                }
            }
            "--ovn" => ovn = true,
            "--log" => log = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                return;
            }
            other => fail(&format!("unknown argument {other}")),
        }
    }
    let cloud = FakeCloud::new();
    match seed.as_deref() {
        None => {}
        Some("demo") => {
            cloud.seed().demo();
            cloud.seed().demo_node_images();
        }
        Some(other) => fail(&format!("unknown seed {other} (known: demo)")),
    }
    for (i, (name, shape)) in clusters.iter().enumerate() {
        cloud
            .seed()
            .cluster(name, &format!("10.{}.0.0/20", 8 + i), shape);
    }
    cloud.set_lb_providers(ovn);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap_or_else(|e| fail(&format!("cannot start the runtime: {e}")));
    rt.block_on(async {
        let running = cloud
            .serve(port)
            .await
            .unwrap_or_else(|e| fail(&format!("cannot listen on 127.0.0.1:{port}: {e}")));
        let ep = cloud.endpoints(&running.url);
        println!("fake-openstack listening on {}", running.url);
        for (t, u) in ep.catalog() {
            println!("  {t:<14} {u}");
        }
        println!(
            "\n# clouds.yaml (standalone, no Keystone):\n{}",
            ep.clouds_yaml("fake")
        );
        if log {
            let c = cloud.clone();
            tokio::spawn(async move {
                let mut seen = 0;
                loop {
                    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                    let l = c.request_log();
                    for r in &l[seen.min(l.len())..] {
                        eprintln!(
                            "{} {}{} -> {}",
                            r.method,
                            r.path,
                            r.query
                                .as_deref()
                                .map(|q| format!("?{q}"))
                                .unwrap_or_default(),
                            r.status
                        );
                    }
                    seen = l.len();
                }
            });
        }
        let _ = tokio::signal::ctrl_c().await;
        drop(running);
    });
}

fn fail(msg: &str) -> ! {
    eprintln!("fake-openstack: {msg}\n{USAGE}");
    std::process::exit(2);
}
