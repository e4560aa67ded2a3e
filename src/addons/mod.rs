//! Addons of the workload cluster (CNI, OCCM + cloud-config, Cinder CSI + snapshots,
//! metrics-server, cert-manager, flux, ingress-nginx): which ones and which versions for
//! the settings ([`catalog`]), their upstream manifests fetched once and checked against
//! the lock ([`fetch`], [`lock`]), parsed ([`manifest`]) and changed as this tool needs
//! ([`patch`]). The result is a list of objects per addon, labelled with the addon's name
//! so a switched-off addon can be found and removed; applying them is the caller's job.

pub mod catalog;
pub mod fetch;
pub mod lock;
pub mod manifest;
pub mod patch;

use serde_json::Value;

pub use catalog::{AddonName, Desired, Install};
pub use fetch::Fetcher;
pub use lock::Lock;
pub use patch::Context;

/// An addon could not be fetched, verified or understood.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct AddonError {
    pub message: String,
    pub hint: Option<String>,
}

impl AddonError {
    pub fn new(message: impl Into<String>) -> Self {
        AddonError {
            message: message.into(),
            hint: None,
        }
    }

    #[must_use]
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

/// The objects of one manifest-installed addon, patched and labelled.
#[derive(Debug, Clone)]
pub struct Built {
    pub name: AddonName,
    pub version: String,
    pub objects: Vec<Value>,
}

/// Fetches, parses, patches and labels every manifest-installed addon of `desired` (the
/// CLI-installed cilium is left to the caller). Each file is checked against `lock`;
/// new checksums are recorded there (the caller saves it).
///
/// # Errors
/// The first addon whose files cannot be fetched, verified or parsed; nothing is applied
/// by this function, so an error leaves the cluster as it was.
pub async fn build(
    desired: &Desired,
    fetcher: &Fetcher,
    lock: &mut Lock,
    ctx: &Context,
) -> Result<Vec<Built>, AddonError> {
    let mut built = Vec::new();
    for addon in &desired.install {
        let Install::Manifests { urls } = &addon.install else {
            continue;
        };
        let mut objects = Vec::new();
        for url in urls {
            let text = fetcher.fetch(url, lock).await?;
            objects.extend(manifest::parse(url, &text).map_err(|e| {
                AddonError::new(format!("addon {} {}: {e}", addon.name, addon.version))
            })?);
        }
        patch::apply(addon.name, &addon.version, &mut objects, ctx);
        manifest::label_all(&mut objects, addon.name.as_str());
        built.push(Built {
            name: addon.name,
            version: addon.version.clone(),
            objects,
        });
    }
    Ok(built)
}
