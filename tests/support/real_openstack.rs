//! The real OpenStack services of `scripts/openstack-local.sh` for tests: found through
//! `SCS_TEST_OPENSTACK_DIR` (set by `scripts/test.sh`, which starts them once and stops them
//! afterwards). Without it a test starts them itself in `<repo>/target/openstack-local`
//! (installs on first use, ~5 min; ~1 min after a stop) and leaves them running for the
//! next test (`scripts/openstack-local.sh stop target/openstack-local` stops them); a
//! failing start fails the test, never skips it (as the Keystone tests do).
//!
//! The tests act as the tenant (`demo`, roles member + load-balancer_member), never as
//! admin. They share one project, so [`RealCloud::lock`] serializes them (real default
//! quotas: 10 security groups per project).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Mutex, MutexGuard, OnceLock};

use super::keystone::{repo, venv};

pub struct RealCloud {
    pub dir: PathBuf,
}

static STARTED: OnceLock<PathBuf> = OnceLock::new();

/// An ed25519 public key whose private half was thrown away.
const TEST_PUBLIC_KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMvCkEAhL/F5nsQZlZUuCf1R/EmA+qkJh9gRBXMCjEBd scs-test";
static SERIAL: Mutex<()> = Mutex::new(());

impl RealCloud {
    /// The running services (started here when the variable is unset).
    pub fn get() -> RealCloud {
        let dir = STARTED.get_or_init(|| {
            if let Some(d) = std::env::var_os("SCS_TEST_OPENSTACK_DIR") {
                let d = PathBuf::from(d);
                assert!(
                    d.join("clouds.yaml").exists(),
                    "SCS_TEST_OPENSTACK_DIR={} has no clouds.yaml: was \
                     `scripts/openstack-local.sh start` run?",
                    d.display()
                );
                return d;
            }
            let d = repo().join("target/openstack-local");
            let out = Command::new(repo().join("scripts/openstack-local.sh"))
                .arg("start")
                .arg(&d)
                .env("SCS_TEST_VENV", venv())
                .stdin(Stdio::null())
                .output()
                .expect("run scripts/openstack-local.sh");
            assert!(
                out.status.success(),
                "scripts/openstack-local.sh start {} failed:\n{}{}",
                d.display(),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            d
        });
        let cloud = RealCloud { dir: dir.clone() };
        // The keypair every machine template names (prepare-cloud checks it); per user.
        cloud.python(
            &format!(
                "import openstack; c = openstack.connect(cloud='tenant')\n\
                 c.compute.find_keypair('capi-keypair') or c.compute.create_keypair(\
                 name='capi-keypair', public_key='{TEST_PUBLIC_KEY}')"
            ),
            &[],
        );
        cloud
    }

    /// One test at a time in the shared project.
    pub fn lock() -> MutexGuard<'static, ()> {
        SERIAL.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `clouds.yaml` with clouds `tenant` and `admin`.
    pub fn clouds_yaml(&self) -> PathBuf {
        self.dir.join("clouds.yaml")
    }

    /// The text of `clouds.yaml` with the tenant cloud only (what a user has).
    pub fn tenant_clouds_yaml(&self) -> String {
        let text = std::fs::read_to_string(self.clouds_yaml()).expect("clouds.yaml");
        text.split("\n  admin:")
            .next()
            .expect("tenant section")
            .to_string()
            + "\n"
    }

    /// `http://127.0.0.1:PORT` of the first port (Keystone) + `offset` (see the script).
    pub fn port_url(&self, offset: u16) -> String {
        let base: u16 = std::fs::read_to_string(self.dir.join("ports"))
            .expect("ports file")
            .trim()
            .parse()
            .expect("port number");
        format!("http://127.0.0.1:{}", base + offset)
    }

    /// Runs `script` with the test venv's python as the tenant (`openstack.connect(cloud=
    /// "tenant")` works in it); `args` go to `sys.argv[1:]`. Panics with its output when it
    /// fails; returns stdout.
    pub fn python(&self, script: &str, args: &[&str]) -> String {
        let out = self.python_output(script, args);
        assert!(
            out.status.success(),
            "python failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn python_output(&self, script: &str, args: &[&str]) -> Output {
        Command::new(venv().join("bin/python"))
            .arg("-c")
            .arg(script)
            .args(args)
            .env("OS_CLIENT_CONFIG_FILE", self.clouds_yaml())
            .env_remove("OS_CLOUD")
            .output()
            .expect("venv python")
    }
}

/// Writes `clouds.yaml` with only the tenant cloud into `dir`.
pub fn write_tenant_clouds(cloud: &RealCloud, dir: &Path) -> PathBuf {
    let p = dir.join("clouds.yaml");
    std::fs::write(&p, cloud.tenant_clouds_yaml()).expect("write clouds.yaml");
    p
}
