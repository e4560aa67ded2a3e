//! `fake-openstack --port PORT [--seed demo] [--ovn] [--log]`: serves the fake on
//! 127.0.0.1:PORT until interrupted; prints the endpoints and a standalone clouds.yaml.

use fake_openstack::FakeCloud;

const USAGE: &str = "usage: fake-openstack [--port PORT] [--seed demo] [--ovn] [--log]
  --port PORT   port on 127.0.0.1 (default 0 = any free port)
  --seed demo   start with a small SCS-like cloud (flavors, external network `public`,
                management server `capi-mgmtcluster` with a floating IP, an image)
  --ovn         offer the `ovn` Octavia provider besides amphora
  --log         print every request (method, path, status) to stderr";

fn main() {
    let mut port: u16 = 0;
    let mut seed = None;
    let mut ovn = false;
    let mut log = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--port" => match args.next().and_then(|p| p.parse().ok()) {
                Some(p) => port = p,
                None => fail("--port needs a number"),
            },
            "--seed" => seed = args.next(),
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
        Some("demo") => cloud.seed().demo(),
        Some(other) => fail(&format!("unknown seed {other} (known: demo)")),
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
