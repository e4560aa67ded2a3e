//! Names of immutable machine templates: a short hash of their expanded spec, so that any
//! change creates new templates and CAPI rolls the machines (R4 needed hand-bumped
//! `*_MACHINE_GEN` counters for that).

use sha2::{Digest, Sha256};

/// Length of the hex suffix; `settings import` recognises suffixes of this shape as
/// computed.
pub const HASH_LEN: usize = 8;

/// `(control plane, workers)` hashes of manifests expanded with empty generation
/// suffixes. The control-plane hash covers its OpenStackMachineTemplate; the worker hash
/// covers the worker OpenStackMachineTemplate and KubeadmConfigTemplate (both are named
/// with `WORKER_MACHINE_GEN`).
pub fn machine_template_hashes(manifests: &str) -> (String, String) {
    let mut control_plane = Sha256::new();
    let mut workers = Sha256::new();
    for doc in documents(manifests) {
        let kind = field(doc, "kind");
        let name = doc
            .lines()
            .skip_while(|l| *l != "metadata:")
            .find_map(|l| l.strip_prefix("  name: "))
            .unwrap_or_default();
        match kind {
            Some("OpenStackMachineTemplate") if name.ends_with("-control-plane-") => {
                control_plane.update(doc)
            }
            Some("OpenStackMachineTemplate") | Some("KubeadmConfigTemplate") => workers.update(doc),
            _ => {}
        }
    }
    (short(control_plane), short(workers))
}

fn short(h: Sha256) -> String {
    let digest = h.finalize();
    digest
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<String>()[..HASH_LEN]
        .to_string()
}

/// Splits a multi-document YAML stream at `---` lines.
pub fn documents(stream: &str) -> impl Iterator<Item = &str> {
    stream
        .split("\n---\n")
        .map(|d| d.trim_start_matches("---\n"))
        .filter(|d| !d.trim().is_empty())
}

fn field<'a>(doc: &'a str, key: &str) -> Option<&'a str> {
    doc.lines()
        .find_map(|l| l.strip_prefix(key).and_then(|r| r.strip_prefix(": ")))
        .map(str::trim)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOCS: &str = "kind: OpenStackMachineTemplate\nmetadata:\n  name: p-c-control-plane-\nspec:\n  flavor: a\n---\nkind: OpenStackMachineTemplate\nmetadata:\n  name: p-c-md-0-\nspec:\n  flavor: b\n---\nkind: KubeadmConfigTemplate\nmetadata:\n  name: p-c-md-0-\n";

    #[test]
    fn hashes_follow_the_spec() {
        let (cp, w) = machine_template_hashes(DOCS);
        assert_eq!((cp.len(), w.len()), (HASH_LEN, HASH_LEN));
        let (cp2, w2) = machine_template_hashes(&DOCS.replace("flavor: b", "flavor: c"));
        assert_eq!(cp, cp2, "control plane unchanged");
        assert_ne!(w, w2, "workers changed");
    }
}
