//! The snapshot step of the etcd defragmentation script (issue 13, M5), run as the real
//! script (as installed on the nodes) against a stub `etcdctl` that plays a healthy
//! single-member cluster with nothing to defragment, so every run ends in the snapshot.
//! Stub `df` and `xz` on `PATH` play a full disk and a failing compression.
//!
//! What must hold: free space is checked before the snapshot (and nothing is written
//! without it), old snapshots are pruned before the new one is written, and no
//! temporary file survives a failed run.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Command, Output};

/// A healthy single member (id 1, leader 1) whose database is `DB_BYTES` large; every call
/// is appended to `$STUB_LOG`. `snapshot save FILE` writes `DB_BYTES` bytes to FILE after
/// recording how many snapshots the backup directory holds at that moment.
const ETCDCTL: &str = r#"#!/usr/bin/env bash
set -euo pipefail
args=()
for a in "$@"; do
  case "$a" in
    --dial-timeout=* | --command-timeout=* | --cacert=* | --cert=* | --key=*) ;;
    *) args+=("$a") ;;
  esac
done
set -- "${args[@]}"
if [[ "${1:-}" == --endpoints ]]; then shift 2; fi
echo "$*" >>"$STUB_LOG"
case "$1 ${2:-}" in
  "endpoint status")
    echo '[{"Endpoint":"http://127.0.0.1:2379","Status":{"header":{"member_id":1},"leader":1,"dbSize":'"$DB_BYTES"',"dbSizeInUse":'"$DB_BYTES"'}}]' ;;
  "endpoint health")
    echo '[{"endpoint":"http://127.0.0.1:2379","health":true}]' ;;
  "member list")
    echo '{"members":[{"ID":1,"name":"m1","clientURLs":["http://127.0.0.1:2379"]}]}' ;;
  "alarm list") ;;
  "lease grant") echo "lease 694d77aa granted with TTL(60s)" ;;
  "lease keep-alive" | "lease revoke") ;;
  "txn "*|"txn") cat >/dev/null; printf 'SUCCESS\n\nOK\n\nholder\n' ;;
  "snapshot save")
    shopt -s nullglob
    old=("$BACKUP_DIR"/etcd-snapshot-*)
    echo "existing ${#old[@]}" >>"$STUB_LOG"
    head -c "$DB_BYTES" /dev/zero >"$3"
    echo "Snapshot saved at $3" ;;
  *) echo "stub etcdctl: unexpected: $*" >&2; exit 9 ;;
esac
"#;

/// The script as it lands on the nodes (comment lines stripped).
fn script() -> String {
    scs_capi::etcd::installed_script().to_string()
}

struct Node {
    dir: tempfile::TempDir,
}

impl Node {
    fn new() -> Node {
        let dir = tempfile::tempdir().unwrap();
        let n = Node { dir };
        std::fs::create_dir_all(n.bin()).unwrap();
        n.tool("etcdctl", ETCDCTL);
        n.tool("etcd-defrag", &script());
        n
    }

    fn bin(&self) -> PathBuf {
        self.dir.path().join("bin")
    }

    fn backups(&self) -> PathBuf {
        self.dir.path().join("backups")
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("stub.log")).unwrap_or_default()
    }

    fn tool(&self, name: &str, body: &str) {
        let p = self.bin().join(name);
        std::fs::write(&p, body).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    fn seed_old_backups(&self, days: &[&str]) {
        std::fs::create_dir_all(self.backups()).unwrap();
        for d in days {
            std::fs::write(
                self.backups()
                    .join(format!("etcd-snapshot-{d}T000000Z.db.xz")),
                "old",
            )
            .unwrap();
        }
    }

    fn run(&self, kept: u32, db_bytes: u64) -> Output {
        let path = format!(
            "{}:{}",
            self.bin().display(),
            std::env::var("PATH").unwrap_or_default()
        );
        Command::new("bash")
            .arg(self.bin().join("etcd-defrag"))
            .env("PATH", path)
            .env("ETCDCTL", self.bin().join("etcdctl"))
            .env("ETCD_DEFRAG_ENDPOINT", "http://127.0.0.1:2379")
            .env("ETCD_DEFRAG_CACERT", "")
            .env("ETCD_DEFRAG_CERT", "")
            .env("ETCD_DEFRAG_KEY", "")
            .env("ETCD_DEFRAG_BACKUP_DIR", self.backups())
            .env("ETCD_DEFRAG_BACKUPS_KEPT", kept.to_string())
            .env("ETCD_DEFRAG_BACKUP_RESERVE_BYTES", "1048576")
            .env("ETCD_DEFRAG_DATA_DIR", self.dir.path().join("no-such-dir"))
            .env("STUB_LOG", self.dir.path().join("stub.log"))
            .env("BACKUP_DIR", self.backups())
            .env("DB_BYTES", db_bytes.to_string())
            .output()
            .unwrap()
    }

    fn files(&self) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(self.backups())
            .map(|d| {
                d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    }
}

fn show(o: &Output, node: &Node) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}\n--- etcdctl calls\n{}\n--- backups\n{:?}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr),
        node.log(),
        node.files()
    )
}

fn events(o: &Output) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

#[test]
fn old_snapshots_are_pruned_before_the_new_one_is_written() {
    let node = Node::new();
    node.seed_old_backups(&["20250101", "20250102", "20250103"]);
    let o = node.run(2, 4096);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o, &node));
    // Two kept: at the time of the snapshot only one old one was left.
    assert!(node.log().contains("existing 1"), "{}", show(&o, &node));
    let files = node.files();
    assert_eq!(files.len(), 2, "{}", show(&o, &node));
    assert_eq!(files[0], "etcd-snapshot-20250103T000000Z.db.xz");
    assert!(files[1].ends_with(".db.xz") && !files[1].starts_with('.'));
}

#[test]
fn no_snapshot_without_free_space() {
    let node = Node::new();
    // 10 MiB free, a 64 MiB database.
    node.tool(
        "df",
        "#!/bin/sh\necho 'Filesystem 1024-blocks Used Available Capacity Mounted on'\necho '/dev/vda1 100000 90000 10240 90% /'\n",
    );
    node.seed_old_backups(&["20250101", "20250102"]);
    let o = node.run(2, 64 * 1024 * 1024);
    assert_eq!(o.status.code(), Some(1), "{}", show(&o, &node));
    assert!(!node.log().contains("snapshot save"), "{}", show(&o, &node));
    let failed: Vec<_> = events(&o)
        .into_iter()
        .filter(|e| e["event"] == "backup_failed")
        .collect();
    assert_eq!(failed.len(), 1, "{}", show(&o, &node));
    assert!(
        failed[0]["error"].as_str().unwrap().contains("free space"),
        "{}",
        show(&o, &node)
    );
    assert_eq!(failed[0]["free_bytes"], 10240 * 1024);
    // Pruning came first (room for one new snapshot), and nothing was added.
    assert_eq!(
        node.files(),
        ["etcd-snapshot-20250102T000000Z.db.xz"],
        "{}",
        show(&o, &node)
    );
}

#[test]
fn a_failed_compression_leaves_no_temporary_behind() {
    let node = Node::new();
    // xz that dies after writing half its output, as on a full disk.
    node.tool(
        "xz",
        "#!/bin/sh\nfor f; do :; done\nhead -c 100 /dev/zero >\"$f.xz\"\necho 'xz: No space left on device' >&2\nexit 1\n",
    );
    let o = node.run(3, 1 << 20);
    assert_eq!(o.status.code(), Some(1), "{}", show(&o, &node));
    assert!(node.log().contains("snapshot save"), "{}", show(&o, &node));
    assert!(node.files().is_empty(), "{}", show(&o, &node));
    let failed: Vec<_> = events(&o)
        .into_iter()
        .filter(|e| e["event"] == "backup_failed")
        .collect();
    assert!(
        failed[0]["error"]
            .as_str()
            .unwrap()
            .contains("No space left"),
        "{}",
        show(&o, &node)
    );

    // A temporary of an earlier, killed run is removed by the next one.
    std::fs::write(
        node.backups().join(".etcd-snapshot-20250101T000000Z.db"),
        "x",
    )
    .unwrap();
    std::fs::remove_file(node.bin().join("xz")).unwrap();
    let o = node.run(3, 4096);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o, &node));
    let files = node.files();
    assert_eq!(files.len(), 1, "{}", show(&o, &node));
    assert!(!files[0].starts_with('.'), "{files:?}");
}
