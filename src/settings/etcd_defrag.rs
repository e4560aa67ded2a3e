//! The `etcd_defrag` settings section: when and how the defragmentation timer that
//! [`crate::etcd`] installs on every control-plane node runs.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// What to do with a single-member etcd (one control-plane node): defragmenting it
/// blocks the only member, and so the Kubernetes API, for the duration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum SingleMemberPolicy {
    /// Defragment only when the database is in the danger zone (quota usage over
    /// `max_quota_percent`).
    DangerZone,
    /// Never defragment a single member automatically.
    Never,
    /// Apply the normal rule, accepting the API blip.
    Always,
}

/// Settings of the etcd defragmentation timer (`etcd_defrag:` in the settings file).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct EtcdDefrag {
    /// Install and enable the timer on every control-plane node.
    pub enabled: bool,
    /// When the timer fires, as a systemd `OnCalendar=` expression (node-local time, UTC on
    /// the standard images).
    pub schedule: String,
    /// Defragment a member only when its database file is at least this large (MiB) ...
    pub min_db_size_mib: u64,
    /// ... and at least this share of the file is free (percent of the file size).
    pub min_free_percent: u8,
    /// Defragment regardless of size when the file uses this share of the backend quota
    /// (percent; the danger zone).
    pub max_quota_percent: u8,
    /// Seconds to wait between two members.
    pub pause_seconds: u32,
    /// Snapshots kept in the backup directory (oldest are removed).
    pub backups_kept: u32,
    /// What to do when the cluster has a single etcd member.
    pub single_member: SingleMemberPolicy,
}

impl Default for EtcdDefrag {
    fn default() -> Self {
        EtcdDefrag {
            enabled: true,
            schedule: "*-*-* 02:30:00".to_string(),
            min_db_size_mib: 100,
            min_free_percent: 45,
            max_quota_percent: 80,
            pause_seconds: 30,
            backups_kept: 7,
            single_member: SingleMemberPolicy::DangerZone,
        }
    }
}
