//! `docs/quick-start.md`, verbatim: its `sh` blocks run in order in one shell, in a
//! terminal (a pseudo-terminal from `script`), as a new user pastes them: the fakes of step 0
//! (`scripts/fakes.sh`: the fake OpenStack with the clouds.yaml it prints, fake-kube as the
//! management cluster), then settings, validate, create (dry run and real), kubeconfig and
//! `kubectl get nodes`, delete (answering its question), stop. The cluster must come up and
//! go away. Only the blocks marked as needing a real cloud are skipped, and there are
//! exactly two of them.
//!
//! What the test provides around the blocks: an empty home, the built `scs-capi` and
//! kubectl (from the test venv) on PATH, and the addon manifests from a local mirror
//! (`SCS_CAPI_ADDON_MIRROR`; a user's run fetches them upstream).

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use assert_cmd::Command;

const SKIP: &str = "<!-- not run by tests/quick_start.rs: needs a real cloud -->";

/// The `sh` blocks of a Markdown text, de-indented, each with whether it is skipped.
fn sh_blocks(md: &str) -> Vec<(bool, String)> {
    let mut blocks = Vec::new();
    let mut previous = "";
    let mut lines = md.lines();
    while let Some(line) = lines.next() {
        let trimmed = line.trim_start();
        if trimmed == "```sh" {
            let indent = line.len() - trimmed.len();
            let mut body = String::new();
            for l in lines.by_ref() {
                if l.trim_start() == "```" {
                    break;
                }
                body.push_str(l.get(indent..).unwrap_or(l.trim_start()));
                body.push('\n');
            }
            blocks.push((previous == SKIP, body));
        }
        if !trimmed.is_empty() {
            previous = trimmed;
        }
    }
    blocks
}

#[test]
fn block_extraction_keeps_order_and_marks() {
    let md = "x\n\n   <!-- not run by tests/quick_start.rs: needs a real cloud -->\n   ```sh\n   a\n     b\n   ```\n```sh\nc\n```\n";
    assert_eq!(
        sh_blocks(md),
        [(true, "a\n  b\n".to_string()), (false, "c\n".to_string())]
    );
}

/// Stops the fakes however the test ends.
struct StopFakes<'a>(&'a Path);

impl Drop for StopFakes<'_> {
    fn drop(&mut self) {
        let _ = std::process::Command::new("scripts/fakes.sh")
            .arg("stop")
            .current_dir(self.0)
            .status();
    }
}

fn free_port_pair() -> u16 {
    // The fakes take PORT and PORT+1; ask the kernel for a free one and hope the next is.
    loop {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        if port < 65000 && std::net::TcpListener::bind(("127.0.0.1", port + 1)).is_ok() {
            return port;
        }
    }
}

#[test]
fn quick_start_runs_verbatim_in_a_terminal() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let md = std::fs::read_to_string(root.join("docs/quick-start.md")).unwrap();
    let blocks = sh_blocks(&md);
    let skipped = blocks.iter().filter(|(skip, _)| *skip).count();
    assert_eq!(
        skipped, 2,
        "only the real-cloud blocks of step 1 are skipped"
    );
    let mut script = String::from("set -euo pipefail\n");
    for (i, (_, body)) in blocks.iter().enumerate().filter(|(_, (skip, _))| !skip) {
        script.push_str(body);
        script.push_str(&format!("echo '== quick start block {i} done'\n"));
    }

    let work = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(root.join("scripts"), work.path().join("scripts")).unwrap();
    std::fs::write(work.path().join("quick-start.sh"), &script).unwrap();
    let _stop = StopFakes(work.path());
    let (mirror, _, _rt) = support::mirror::start();

    let home = work.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let real_home = PathBuf::from(std::env::var_os("HOME").unwrap_or_default());
    let bin_dir = assert_cmd::cargo::cargo_bin("scs-capi")
        .parent()
        .unwrap()
        .to_path_buf();
    let venv = std::env::var_os("SCS_TEST_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join(".venv-test"));
    assert!(
        venv.join("bin/kubectl").exists(),
        "kubectl is missing from the test venv `{}`: run scripts/test.sh",
        venv.display()
    );
    let path = format!(
        "{}:{}:{}",
        bin_dir.display(),
        venv.join("bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut cmd = Command::new("script");
    cmd.args(["-qefc", "bash quick-start.sh", "/dev/null"])
        .current_dir(work.path())
        .env_clear()
        .env("PATH", path)
        .env("TERM", "xterm-256color")
        .env("HOME", &home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env("XDG_STATE_HOME", home.join(".local/state"))
        .env("XDG_CACHE_HOME", home.join(".cache"))
        // cargo (building the fakes) keeps its toolchain and registry in the real home.
        .env(
            "CARGO_HOME",
            std::env::var_os("CARGO_HOME").unwrap_or_else(|| real_home.join(".cargo").into()),
        )
        .env(
            "RUSTUP_HOME",
            std::env::var_os("RUSTUP_HOME").unwrap_or_else(|| real_home.join(".rustup").into()),
        )
        .env("SCS_FAKES_PROFILE", "dev")
        .env("SCS_FAKES_PORT", free_port_pair().to_string())
        .env("SCS_CAPI_ADDON_MIRROR", &mirror)
        // delete-cluster asks for the cluster's name.
        .write_stdin("demo\n")
        .timeout(Duration::from_secs(600));
    if let Some(t) = std::env::var_os("CARGO_TARGET_DIR") {
        cmd.env("CARGO_TARGET_DIR", t);
    }
    let o = cmd.output().unwrap();
    let screen = String::from_utf8_lossy(&o.stdout).replace('\r', "");
    assert_eq!(o.status.code(), Some(0), "{screen}");
    for (i, _) in blocks.iter().enumerate().filter(|(_, (skip, _))| !skip) {
        assert!(
            screen.contains(&format!("== quick start block {i} done")),
            "block {i} did not finish:\n{screen}"
        );
    }
    // The cluster came up: kubectl lists its nodes (control plane and workers), all Ready.
    let nodes: Vec<&str> = screen
        .lines()
        .skip_while(|l| !l.starts_with("NAME") || !l.contains("STATUS"))
        .skip(1)
        .take_while(|l| !l.starts_with("== quick start block"))
        .collect();
    assert!(!nodes.is_empty(), "no nodes listed:\n{screen}");
    assert!(nodes.len() >= 2, "{nodes:?}");
    assert!(nodes.iter().all(|l| l.contains(" Ready ")), "{nodes:?}");
    // ... and went away.
    assert!(screen.contains("cluster `demo` deleted"), "{screen}");
}
