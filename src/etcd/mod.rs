//! etcd maintenance on control-plane nodes.
//!
//! This module owns everything the control-plane nodes need to keep etcd's database file
//! small: the defragmentation script ([`SCRIPT`], `defrag.sh` beside this file), its
//! systemd service and timer (rendered from the `etcd_defrag` settings into
//! `kubeadmConfigSpec.files`), the `preKubeadmCommands` that install a checksum-verified
//! `etcdctl`, and the `postKubeadmCommands` that enable the timer.
//!
//! Every control-plane node's timer fires; only the node whose local member is the etcd
//! leader does any work, under a lock held in etcd itself. See `docs/etcd-maintenance.md`.

use crate::settings::EtcdDefrag;

/// A file for `kubeadmConfigSpec.files`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct NodeFile {
    pub path: String,
    pub owner: String,
    pub permissions: String,
    pub content: String,
}

/// Where the defragmentation script is installed on the node.
pub const SCRIPT_PATH: &str = "/usr/local/sbin/etcd-defrag";
/// The systemd service that runs [`SCRIPT_PATH`] once.
pub const SERVICE_PATH: &str = "/etc/systemd/system/etcd-defrag.service";
/// The systemd timer that starts the service on the configured schedule.
pub const TIMER_PATH: &str = "/etc/systemd/system/etcd-defrag.timer";
/// The script itself: a static file, configured only through its environment.
pub const SCRIPT: &str = include_str!("defrag.sh");

/// Where `pre_kubeadm_commands` installs etcdctl (and etcdutl, for restores).
pub const ETCDCTL_PATH: &str = "/usr/local/bin/etcdctl";

/// The etcd release whose etcdctl is installed on control-plane nodes.
///
/// Checksums of the release tarballs `etcd-v3.5.21-linux-{amd64,arm64}.tar.gz` as published
/// in the release's `SHA256SUMS`; taken from kubespray's
/// `roles/kubespray_defaults/vars/main/checksums.yml` (`etcd_binary_checksums`, generated
/// from the release assets) and cross-checked against several independent pins of the same
/// tarball (Bazel `http_archive` rules, chromebrew's etcd package, a Go installer's
/// `sha256Sums` table), which all agree.
pub const ETCD_VERSION: &str = "3.5.21";
/// SHA-256 of `etcd-v3.5.21-linux-amd64.tar.gz` (see [`ETCD_VERSION`]).
pub const ETCD_SHA256_AMD64: &str =
    "adddda4b06718e68671ffabff2f8cee48488ba61ad82900e639d108f2148501c";
/// SHA-256 of `etcd-v3.5.21-linux-arm64.tar.gz` (see [`ETCD_VERSION`]).
pub const ETCD_SHA256_ARM64: &str =
    "95bf6918623a097c0385b96f139d90248614485e781ec9bee4768dbb6c79c53f";

/// The script as installed on the nodes: [`SCRIPT`] without its comment lines. CAPI
/// v1beta2 limits a kubeadm file to 10240 characters, even gzip+base64-encoded; the
/// commented source is `src/etcd/defrag.sh`, explained in `docs/etcd-maintenance.md`.
/// Heredocs in the script must not contain lines starting with `#`.
pub fn installed_script() -> &'static str {
    static INSTALLED: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    INSTALLED.get_or_init(strip_comments)
}

fn strip_comments() -> String {
    let mut lines = SCRIPT.lines();
    let mut out = String::with_capacity(SCRIPT.len());
    if let Some(shebang) = lines.next() {
        out.push_str(shebang);
        out.push('\n');
    }
    out.push_str(
        "# etcd-defrag, installed by scs-capi: `etcd-defrag --help`; source with comments and\n",
    );
    out.push_str("# documentation: src/etcd/defrag.sh and docs/etcd-maintenance.md in scs-capi\n");
    for line in lines.filter(|l| !l.trim_start().starts_with('#')) {
        out.push_str(line);
        out.push('\n');
    }
    out
}

const DOCS_URL: &str = "https://etcd.io/docs/v3.5/op-guide/maintenance/#defragmentation";

/// The script, the systemd service (with `Environment=` lines from the settings and the
/// quota) and the timer (`OnCalendar=` from the settings, `Persistent=true`; no random delay:
/// the leader gate and the lock in etcd serialise the runs). Empty when disabled.
pub fn node_files(settings: &EtcdDefrag, quota_backend_bytes: u64) -> Vec<NodeFile> {
    if !settings.enabled {
        return Vec::new();
    }
    vec![
        NodeFile {
            path: SCRIPT_PATH.to_string(),
            owner: "root:root".to_string(),
            permissions: "0755".to_string(),
            content: installed_script().to_string(),
        },
        NodeFile {
            path: SERVICE_PATH.to_string(),
            owner: "root:root".to_string(),
            permissions: "0644".to_string(),
            content: service_unit(settings, quota_backend_bytes),
        },
        NodeFile {
            path: TIMER_PATH.to_string(),
            owner: "root:root".to_string(),
            permissions: "0644".to_string(),
            content: timer_unit(settings),
        },
    ]
}

/// The `single_member` policy as the script spells it (`danger-zone`, `never`, `always`):
/// the settings' serde names.
fn single_member_policy(settings: &EtcdDefrag) -> String {
    match serde_json::to_value(settings.single_member) {
        Ok(serde_json::Value::String(s)) => s,
        _ => "danger-zone".to_string(),
    }
}

fn service_unit(settings: &EtcdDefrag, quota_backend_bytes: u64) -> String {
    let env = [
        ("ETCDCTL", ETCDCTL_PATH.to_string()),
        (
            "ETCD_DEFRAG_MIN_DB_BYTES",
            (settings.min_db_size_mib.saturating_mul(1024 * 1024)).to_string(),
        ),
        (
            "ETCD_DEFRAG_MIN_FREE_PERCENT",
            settings.min_free_percent.to_string(),
        ),
        (
            "ETCD_DEFRAG_MAX_QUOTA_PERCENT",
            settings.max_quota_percent.to_string(),
        ),
        ("ETCD_DEFRAG_QUOTA_BYTES", quota_backend_bytes.to_string()),
        (
            "ETCD_DEFRAG_PAUSE_SECONDS",
            settings.pause_seconds.to_string(),
        ),
        (
            "ETCD_DEFRAG_BACKUPS_KEPT",
            settings.backups_kept.to_string(),
        ),
        ("ETCD_DEFRAG_SINGLE_MEMBER", single_member_policy(settings)),
    ];
    let mut s = String::new();
    s.push_str("[Unit]\n");
    s.push_str("Description=Defragment etcd: leader-driven, one member at a time, leader last\n");
    s.push_str(&format!("Documentation={DOCS_URL}\n"));
    s.push_str("After=network-online.target\n");
    s.push_str("\n[Service]\n");
    s.push_str("Type=oneshot\n");
    s.push_str(&format!("ExecStart={SCRIPT_PATH}\n"));
    for (k, v) in env {
        s.push_str(&format!("Environment={k}={v}\n"));
    }
    s.push_str("Nice=19\n");
    s.push_str("IOSchedulingClass=idle\n");
    s.push_str("TimeoutStartSec=2h\n");
    s
}

fn timer_unit(settings: &EtcdDefrag) -> String {
    // systemd reads one line per setting: never let a value spill into a second one
    let schedule = settings.schedule.replace(['\n', '\r'], " ");
    format!(
        "[Unit]\n\
         Description=Run etcd-defrag.service on schedule (only the etcd leader's node acts)\n\
         Documentation={DOCS_URL}\n\
         \n\
         [Timer]\n\
         OnCalendar={schedule}\n\
         Persistent=true\n\
         \n\
         [Install]\n\
         WantedBy=timers.target\n"
    )
}

/// Commands for `preKubeadmCommands` of control-plane nodes: install etcdctl and etcdutl
/// from the etcd release tarball at [`ETCD_VERSION`], verified with `sha256sum -c` against
/// the pinned checksum, into `/usr/local/bin`. Idempotent (skips when that version is
/// already installed); the command exits non-zero when the download or the checksum fails,
/// and installs nothing then.
pub fn pre_kubeadm_commands() -> Vec<String> {
    let v = ETCD_VERSION;
    vec![format!(
        "(set -eu; \
if [ \"$({ETCDCTL_PATH} version 2>/dev/null | head -n 1)\" = \"etcdctl version: {v}\" ]; then exit 0; fi; \
case \"$(uname -m)\" in \
x86_64) arch=amd64; sum={ETCD_SHA256_AMD64} ;; \
aarch64) arch=arm64; sum={ETCD_SHA256_ARM64} ;; \
*) echo \"etcdctl: unsupported architecture $(uname -m)\" >&2; exit 1 ;; \
esac; \
name=etcd-v{v}-linux-$arch; \
tmp=$(mktemp -d); \
trap 'rm -rf \"$tmp\"' EXIT; \
curl -fsSL --retry 5 --retry-delay 2 -o \"$tmp/$name.tar.gz\" https://github.com/etcd-io/etcd/releases/download/v{v}/$name.tar.gz; \
echo \"$sum  $tmp/$name.tar.gz\" | sha256sum -c -; \
tar -xzf \"$tmp/$name.tar.gz\" -C \"$tmp\" \"$name/etcdctl\" \"$name/etcdutl\"; \
install -m 0755 \"$tmp/$name/etcdctl\" \"$tmp/$name/etcdutl\" /usr/local/bin/)"
    )]
}

/// Commands for `postKubeadmCommands` of control-plane nodes: load the units and start the
/// timer (empty when disabled).
pub fn post_kubeadm_commands(settings: &EtcdDefrag) -> Vec<String> {
    if !settings.enabled {
        return Vec::new();
    }
    vec![
        "systemctl daemon-reload".to_string(),
        "systemctl enable --now etcd-defrag.timer".to_string(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file<'a>(files: &'a [NodeFile], path: &str) -> &'a NodeFile {
        files
            .iter()
            .find(|f| f.path == path)
            .unwrap_or_else(|| panic!("no {path}"))
    }

    #[test]
    fn defaults_render_three_files() {
        let files = node_files(&EtcdDefrag::default(), 2147483648);
        let paths: Vec<_> = files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(paths, [SCRIPT_PATH, SERVICE_PATH, TIMER_PATH]);
        let script = file(&files, SCRIPT_PATH);
        assert_eq!(script.content, installed_script());
        // Only comments were dropped: every other line of the source is there, in order.
        let code: Vec<&str> = SCRIPT
            .lines()
            .skip(1)
            .filter(|l| !l.trim_start().starts_with('#'))
            .collect();
        let installed: Vec<&str> = script.content.lines().skip(3).collect();
        assert_eq!(installed, code);
        assert_eq!(script.permissions, "0755");
        assert_eq!(script.owner, "root:root");
        assert!(script.content.starts_with("#!/usr/bin/env bash\n"));
        assert!(script.content.contains("set -euo pipefail"));
        for f in &files[1..] {
            assert_eq!(f.permissions, "0644");
        }
    }

    #[test]
    fn service_environment_reflects_settings_and_quota() {
        let s = EtcdDefrag {
            min_db_size_mib: 200,
            min_free_percent: 50,
            max_quota_percent: 70,
            pause_seconds: 45,
            backups_kept: 3,
            single_member: crate::settings::SingleMemberPolicy::Never,
            ..EtcdDefrag::default()
        };
        let files = node_files(&s, 8 * 1024 * 1024 * 1024);
        let unit = &file(&files, SERVICE_PATH).content;
        for line in [
            "Type=oneshot",
            "ExecStart=/usr/local/sbin/etcd-defrag",
            "Nice=19",
            "IOSchedulingClass=idle",
            "Documentation=https://etcd.io/docs/v3.5/op-guide/maintenance/#defragmentation",
            "Environment=ETCDCTL=/usr/local/bin/etcdctl",
            "Environment=ETCD_DEFRAG_MIN_DB_BYTES=209715200",
            "Environment=ETCD_DEFRAG_MIN_FREE_PERCENT=50",
            "Environment=ETCD_DEFRAG_MAX_QUOTA_PERCENT=70",
            "Environment=ETCD_DEFRAG_QUOTA_BYTES=8589934592",
            "Environment=ETCD_DEFRAG_PAUSE_SECONDS=45",
            "Environment=ETCD_DEFRAG_BACKUPS_KEPT=3",
            "Environment=ETCD_DEFRAG_SINGLE_MEMBER=never",
        ] {
            assert!(
                unit.lines().any(|l| l == line),
                "missing {line:?} in\n{unit}"
            );
        }
    }

    #[test]
    fn default_environment_matches_the_script_defaults() {
        let files = node_files(&EtcdDefrag::default(), 2147483648);
        let unit = &file(&files, SERVICE_PATH).content;
        // the script's own defaults equal the settings' defaults
        for (var, value) in [
            ("ETCD_DEFRAG_MIN_DB_BYTES", "104857600"),
            ("ETCD_DEFRAG_MIN_FREE_PERCENT", "45"),
            ("ETCD_DEFRAG_MAX_QUOTA_PERCENT", "80"),
            ("ETCD_DEFRAG_QUOTA_BYTES", "2147483648"),
            ("ETCD_DEFRAG_PAUSE_SECONDS", "30"),
            ("ETCD_DEFRAG_BACKUPS_KEPT", "7"),
            ("ETCD_DEFRAG_SINGLE_MEMBER", "danger-zone"),
        ] {
            assert!(unit.contains(&format!("Environment={var}={value}\n")));
            let default = format!("${{{var}:-{value}}}");
            assert!(SCRIPT.contains(&default), "script default {default}");
        }
    }

    #[test]
    fn timer_uses_schedule_persistent_without_random_delay() {
        let s = EtcdDefrag {
            schedule: "Sun *-*-* 03:15:00".to_string(),
            ..EtcdDefrag::default()
        };
        let files = node_files(&s, 2147483648);
        let timer = &file(&files, TIMER_PATH).content;
        assert!(timer.contains("\nOnCalendar=Sun *-*-* 03:15:00\n"));
        assert!(timer.contains("\nPersistent=true\n"));
        assert!(timer.contains("\nWantedBy=timers.target\n"));
        assert!(!timer.contains("RandomizedDelaySec"));
        let default = node_files(&EtcdDefrag::default(), 2147483648);
        assert!(
            file(&default, TIMER_PATH)
                .content
                .contains("\nOnCalendar=*-*-* 02:30:00\n")
        );
    }

    #[test]
    fn disabled_renders_nothing() {
        let s = EtcdDefrag {
            enabled: false,
            ..EtcdDefrag::default()
        };
        assert!(node_files(&s, 2147483648).is_empty());
        assert!(post_kubeadm_commands(&s).is_empty());
    }

    #[test]
    fn post_commands_enable_the_timer() {
        assert_eq!(
            post_kubeadm_commands(&EtcdDefrag::default()),
            [
                "systemctl daemon-reload",
                "systemctl enable --now etcd-defrag.timer"
            ]
        );
    }

    #[test]
    fn pre_commands_pin_version_and_checksums() {
        let cmds = pre_kubeadm_commands();
        assert_eq!(cmds.len(), 1);
        let c = &cmds[0];
        assert!(c.contains("etcd-v3.5.21-linux-$arch"));
        assert!(c.contains(ETCD_SHA256_AMD64));
        assert!(c.contains(ETCD_SHA256_ARM64));
        assert!(c.contains("sha256sum -c -"));
        assert!(c.contains("/usr/local/bin/"));
        assert!(c.contains("etcdctl version: 3.5.21"));
        for sum in [ETCD_SHA256_AMD64, ETCD_SHA256_ARM64] {
            assert_eq!(sum.len(), 64);
            assert!(sum.chars().all(|c| c.is_ascii_hexdigit()));
        }
    }

    /// The install command is valid POSIX shell (dash) and, run against a fake `curl` that
    /// serves a tarball with the wrong content, fails on the checksum and installs nothing.
    #[test]
    fn pre_command_fails_on_checksum_mismatch() {
        let sh = std::path::Path::new("/bin/sh");
        if !sh.exists() {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        // fake curl: writes a tarball of the right layout but the wrong content to -o FILE
        let curl = bin.join("curl");
        std::fs::write(
            &curl,
            "#!/bin/sh\nwhile [ $# -gt 0 ]; do if [ \"$1\" = -o ]; then out=$2; fi; shift; done\n\
             d=$(mktemp -d); n=etcd-v3.5.21-linux-amd64; mkdir \"$d/$n\"; \
             echo fake > \"$d/$n/etcdctl\"; echo fake > \"$d/$n/etcdutl\"; \
             tar -czf \"$out\" -C \"$d\" \"$n\"\n",
        )
        .unwrap();
        let uname = bin.join("uname");
        std::fs::write(&uname, "#!/bin/sh\necho x86_64\n").unwrap();
        for f in [&curl, &uname] {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(f, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let cmd = pre_kubeadm_commands()[0]
            .replace("/usr/local/bin/)", &format!("{}/)", dir.path().display()));
        let path = format!(
            "{}:{}",
            bin.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let out = std::process::Command::new(sh)
            .arg("-c")
            .arg(&cmd)
            .env("PATH", path)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "must fail: {stderr}");
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("FAILED")
                || stderr.contains("FAILED")
                || stderr.contains("did NOT match"),
            "checksum failure expected: {stderr}"
        );
        assert!(!dir.path().join("etcdctl").exists());
    }
}
