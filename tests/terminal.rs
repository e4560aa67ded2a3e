//! The long-running commands as a user runs them: in a terminal (a pseudo-terminal from
//! `script`), so progress is drawn as bars and questions are asked on it, each with a
//! deadline so that a hang fails instead of stalling the suite. Against the fakes of
//! `support::lifecycle::Env`. (`mgmt init` in a terminal: `tests/mgmt_kube.rs`.)
//!
//! They once hung for ever on a terminal, at the first progress line after a bar started:
//! the command held stderr's lock while the bar's drawing thread waited for it.

mod support;

use std::process::Output;
use std::time::Duration;

use support::lifecycle::Env;

const DEADLINE: Duration = Duration::from_secs(120);

fn screen(o: &Output) -> String {
    format!(
        "exit {:?}\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout)
    )
}

fn assert_ok(o: &Output) {
    assert_eq!(o.status.code(), Some(0), "{}", screen(o));
}

#[test]
fn create_upgrade_and_delete_finish_in_a_terminal() {
    let env = Env::new();
    let f = env.settings("tty", "");
    let f = f.to_str().unwrap();

    for dry in [true, false] {
        let mut args = vec!["create-cluster", "-f", f, "--timeout", "60"];
        if dry {
            args.push("--dry-run");
        }
        let o = env.pty(&args, "", DEADLINE);
        assert_ok(&o);
    }
    assert!(
        env.kube
            .get("cluster.x-k8s.io/v1beta2", "Cluster", "default", "tty")
            .is_some()
    );

    for dry in [true, false] {
        let mut args = vec![
            "upgrade-cluster",
            "-f",
            f,
            "--to",
            "v1.34.x",
            "--timeout",
            "60",
        ];
        if dry {
            args.push("--dry-run");
        }
        let o = env.pty(&args, "", DEADLINE);
        assert_ok(&o);
    }
    let kcp = env
        .kube
        .get(
            "controlplane.cluster.x-k8s.io/v1beta2",
            "KubeadmControlPlane",
            "default",
            "tty-control-plane",
        )
        .or_else(|| {
            env.kube
                .list(
                    "controlplane.cluster.x-k8s.io/v1beta2",
                    "KubeadmControlPlane",
                    Some("default"),
                )
                .into_iter()
                .next()
        })
        .expect("the control plane");
    assert!(
        kcp["spec"]["version"]
            .as_str()
            .is_some_and(|v| v.starts_with("v1.34.")),
        "{kcp:#}"
    );

    let o = env.pty(
        &["delete-cluster", "tty", "--dry-run", "--timeout", "60"],
        "",
        DEADLINE,
    );
    assert_ok(&o);
    // Asked on the terminal; the user types the name.
    let o = env.pty(
        &["delete-cluster", "tty", "--timeout", "60"],
        "tty\n",
        DEADLINE,
    );
    assert_ok(&o);
    assert!(
        screen(&o).contains("type the cluster name to confirm"),
        "{}",
        screen(&o)
    );
    assert!(
        env.kube
            .get("cluster.x-k8s.io/v1beta2", "Cluster", "default", "tty")
            .is_none()
    );
}

#[test]
fn prepare_cloud_and_cleanup_finish_in_a_terminal() {
    let env = Env::new();
    let f = env.settings("tty", "");
    let f = f.to_str().unwrap();
    for dry in [true, false] {
        let mut args = vec!["prepare-cloud", "-f", f];
        if dry {
            args.push("--dry-run");
        }
        assert_ok(&env.pty(&args, "", DEADLINE));
    }
    assert!(!env.cloud_resources_named("tty").is_empty());

    assert_ok(&env.pty(&["cleanup", "tty", "--dry-run"], "", DEADLINE));
    // Asked on the terminal; a wrong answer deletes nothing.
    let o = env.pty(&["cleanup", "tty"], "typo\n", DEADLINE);
    assert_eq!(o.status.code(), Some(2), "{}", screen(&o));
    assert!(!env.cloud_resources_named("tty").is_empty());
    let o = env.pty(&["cleanup", "-f", f], "tty\n", DEADLINE);
    assert_ok(&o);
    assert_eq!(env.cloud_resources_named("tty"), Vec::<String>::new());
}

/// `--no-progress` (and `SCS_CAPI_NO_PROGRESS`) leave the terminal free of progress while
/// the report is still printed.
#[test]
fn no_progress_draws_nothing_but_the_report() {
    let env = Env::new();
    let f = env.settings("quiet", "");
    let f = f.to_str().unwrap();
    let with = env.pty(&["prepare-cloud", "-f", f, "--dry-run"], "", DEADLINE);
    assert_ok(&with);
    let without = env.pty(
        &["prepare-cloud", "-f", f, "--dry-run", "--no-progress"],
        "",
        DEADLINE,
    );
    assert_ok(&without);
    let (with, without) = (screen(&with), screen(&without));
    assert!(with.contains("checking cloud"), "{with}");
    assert!(!without.contains("checking cloud"), "{without}");
    assert!(without.contains("server-group"), "{without}");
}
