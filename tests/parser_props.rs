//! No input makes the settings parser, the R4 importer or the renderer panic; settings
//! that validate always render into YAML that parses.

use proptest::prelude::*;
use scs_capi::render::{self, Profile, Renderer};
use scs_capi::settings::{self, Input, SourceFile, import_r4, validate::Options};

const VALID: &str = include_str!("fixtures/settings/ha-cilium.yaml");

fn load(bytes: Vec<u8>) -> settings::Loaded {
    let file = SourceFile {
        name: "fuzz.yaml".into(),
        bytes,
    };
    settings::load(
        None,
        Some(&file),
        &[],
        Options {
            is_cluster: true,
            allow_preview_versions: true,
            ..Default::default()
        },
    )
}

fn yamlish() -> impl Strategy<Value = String> {
    proptest::string::string_regex(
        r"([a-z_]{1,12}|[:\-\[\]{},&*!|>'\x22%@` #\n]|  |[0-9.]{1,6}|true|no|~){0,40}",
    )
    .expect("regex")
}

/// A valid file with a few bytes flipped, inserted or removed.
fn mutated() -> impl Strategy<Value = Vec<u8>> {
    let len = VALID.len();
    proptest::collection::vec((0..len, any::<u8>(), 0u8..3), 1..6).prop_map(|edits| {
        let mut bytes = VALID.as_bytes().to_vec();
        for (pos, byte, kind) in edits {
            let pos = pos.min(bytes.len().saturating_sub(1));
            match kind {
                0 => bytes[pos] = byte,
                1 => bytes.insert(pos, byte),
                _ => {
                    bytes.remove(pos);
                }
            }
        }
        bytes
    })
}

fn renders_if_valid(loaded: &settings::Loaded) -> Result<(), TestCaseError> {
    if loaded
        .diagnostics
        .iter()
        .any(|d| d.severity == scs_capi::error::Severity::Error)
    {
        return Ok(());
    }
    let renderer = Renderer::new(None).expect("templates");
    for profile in [Profile::Default, Profile::R4] {
        let opts = render::Options {
            profile,
            mgmt_cidr: Some("192.0.2.1/32".parse().expect("cidr")),
            facts: None,
        };
        let r = renderer
            .render(&loaded.settings, &opts)
            .expect("valid settings render");
        let docs = serde_saphyr::from_multiple::<serde_json::Value>(&r.manifests);
        prop_assert!(docs.is_ok(), "output does not parse: {:?}", docs.err());
        prop_assert_eq!(docs.unwrap_or_default().len(), 8);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let loaded = load(bytes);
        prop_assert!(!loaded.diagnostics.is_empty() || loaded.settings.cluster_name.is_some());
    }

    #[test]
    fn yaml_like_text_never_panics(text in yamlish()) {
        let loaded = load(text.into_bytes());
        renders_if_valid(&loaded)?;
    }

    #[test]
    fn mutated_settings_either_fail_located_or_render(bytes in mutated()) {
        let loaded = load(bytes);
        for d in &loaded.diagnostics {
            prop_assert!(d.file == "fuzz.yaml" || d.file == "built-in default", "{d:?}");
        }
        renders_if_valid(&loaded)?;
    }

    #[test]
    fn free_text_values_render_or_are_rejected(flavor in "\\PC{0,20}", zone in "\\PC{0,10}") {
        let text = format!(
            "cluster_name: p\nworker_flavor: {}\navailability_zone: {}\n",
            serde_json::to_string(&flavor).expect("json"),
            serde_json::to_string(&zone).expect("json"),
        );
        let loaded = load(text.into_bytes());
        renders_if_valid(&loaded)?;
    }

    #[test]
    fn environment_values_never_panic(value in "\\PC{0,40}") {
        let file = SourceFile { name: "c.yaml".into(), bytes: b"cluster_name: c\n".to_vec() };
        let env = vec![("SCS_CAPI_RESTRICT_KUBEAPI".to_string(), value.clone()), ("SCS_CAPI_ETCD_DEFRAG".to_string(), value)];
        let _ = settings::load(None, Some(&file), &env, Options::default());
    }

    #[test]
    fn r4_import_never_panics(text in yamlish()) {
        let _ = import_r4::import(&Input { name: "clusterctl.yaml", bytes: text.as_bytes() }, &import_r4::Options::default());
        // With R4's side files made of the same text.
        let side = Input { name: ".capi-settings", bytes: text.as_bytes() };
        let patch = Input { name: "restrict-kubeapi-cidr.yaml", bytes: text.as_bytes() };
        let opts = import_r4::Options { cluster_name: Some("c".into()), capi_settings: Some(side), kubeapi_patch: Some(patch), ..Default::default() };
        let _ = import_r4::import(&Input { name: "clusterctl.yaml", bytes: text.as_bytes() }, &opts);
    }
}
