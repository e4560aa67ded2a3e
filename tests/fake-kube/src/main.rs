//! `fake-kube [--port PORT] [--profile default|r4|none] [--crds DIR]... [--tick-ms N]
//! [--kubeconfig FILE] [--nodes-need-cni] [--log]`: serves a management-cluster fake with
//! the simulated CAPI/CAPO controller on 127.0.0.1:PORT until interrupted, and prints (or
//! writes, mode 0600) its kubeconfig.

use fake_kube::{Fake, Profile};
use std::path::PathBuf;
use std::time::Duration;

const USAGE: &str = "usage: fake-kube [--port PORT] [--profile default|r4|none] [--crds DIR]...
                 [--tick-ms N] [--kubeconfig FILE] [--nodes-need-cni] [--log]
  --port PORT        port on 127.0.0.1 (default 0 = any free port)
  --profile P        load the CAPI/CAPO CRDs of a rendering profile (default: default);
                     `none` loads none. CRD folders: $SCS_TEST_CRDS_DIR or ../shared/crds
  --crds DIR         also load every CRD in DIR's YAML files (repeatable)
  --tick-ms N        controller step time in milliseconds (default 20)
  --kubeconfig FILE  write the kubeconfig to FILE (0600) instead of printing it
  --nodes-need-cni   workload nodes stay NotReady until a CNI DaemonSet exists
  --log              print every request (verb, path, field manager, status) to stderr";

fn main() {
    let mut port: u16 = 0;
    let mut profile = Some(Profile::Default);
    let mut crds: Vec<PathBuf> = Vec::new();
    let mut tick = Duration::from_millis(20);
    let mut kubeconfig: Option<PathBuf> = None;
    let mut cni = false;
    let mut log = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--port" => port = number(args.next(), "--port"),
            "--profile" => {
                profile = match args.next().as_deref() {
                    Some("default") => Some(Profile::Default),
                    Some("r4") => Some(Profile::R4),
                    Some("none") => None,
                    other => fail(&format!(
                        "unknown profile {other:?} (known: default, r4, none)"
                    )),
                }
            }
            "--crds" => match args.next() {
                Some(d) => crds.push(d.into()),
                None => fail("--crds needs a folder"),
            },
            "--tick-ms" => tick = Duration::from_millis(number(args.next(), "--tick-ms")),
            "--kubeconfig" => match args.next() {
                Some(f) => kubeconfig = Some(f.into()),
                None => fail("--kubeconfig needs a file name"),
            },
            "--nodes-need-cni" => cni = true,
            "--log" => log = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                return;
            }
            other => fail(&format!("unknown argument {other}")),
        }
    }
    let mut b = Fake::builder().tick(tick).nodes_need_cni(cni);
    if let Some(p) = profile {
        b = b.profile(p);
    }
    for d in &crds {
        b = b.crds(d);
    }
    let fake = b.build().unwrap_or_else(|e| fail(&e));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap_or_else(|e| fail(&format!("cannot start the runtime: {e}")));
    rt.block_on(async {
        let running = fake
            .serve(port)
            .await
            .unwrap_or_else(|e| fail(&format!("cannot listen on 127.0.0.1:{port}: {e}")));
        eprintln!(
            "fake-kube (management cluster) listening on {}",
            running.url
        );
        match &kubeconfig {
            Some(path) => {
                fake.write_kubeconfig(path)
                    .unwrap_or_else(|e| fail(&format!("cannot write {}: {e}", path.display())));
                eprintln!("kubeconfig written to {}", path.display());
            }
            None => print!("{}", fake.kubeconfig().unwrap_or_default()),
        }
        if log {
            let api = fake.api().clone();
            tokio::spawn(async move {
                let mut seen = 0;
                loop {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    let l = api.request_log();
                    for r in &l[seen.min(l.len())..] {
                        eprintln!(
                            "{} {} {}{} [{}] -> {}",
                            r.verb,
                            r.method,
                            r.path,
                            r.query
                                .as_deref()
                                .map(|q| format!("?{q}"))
                                .unwrap_or_default(),
                            r.field_manager.as_deref().unwrap_or("-"),
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

fn number<T: std::str::FromStr>(v: Option<String>, flag: &str) -> T {
    v.and_then(|p| p.parse().ok())
        .unwrap_or_else(|| fail(&format!("{flag} needs a number")))
}

fn fail(msg: &str) -> ! {
    eprintln!("fake-kube: {msg}\n{USAGE}");
    std::process::exit(2);
}
