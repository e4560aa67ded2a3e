//! Rendering as a library: golden files for every settings fixture x profile, schema
//! validation of every rendered object against the real upstream CRDs (so a stable but
//! wrong snapshot cannot pass), and the clusterctl round trips.

mod support;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use scs_capi::render::{self, Profile, Renderer, envsubst};
use scs_capi::settings::{self, SourceFile, import_r4, validate::Options};
use support::crds::CrdSet;

const PROFILES: [(Profile, &str); 2] = [(Profile::Default, "default"), (Profile::R4, "r4")];

fn fixtures() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/settings");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("fixtures dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 4,
        "expected several fixtures in {}",
        dir.display()
    );
    files
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/fixtures/settings/{name}.yaml"))
}

fn load(defaults: Option<&Path>, cluster: &Path) -> settings::Loaded {
    let defaults = defaults.map(|p| SourceFile::read(p).expect("defaults"));
    let cluster = SourceFile::read(cluster).expect("cluster");
    let loaded = settings::load(
        defaults.as_ref(),
        Some(&cluster),
        &[],
        Options {
            is_cluster: true,
            ..Default::default()
        },
    );
    let errors: Vec<_> = loaded
        .diagnostics
        .iter()
        .filter(|d| d.severity == scs_capi::error::Severity::Error)
        .collect();
    assert!(errors.is_empty(), "{}: {errors:#?}", cluster.name);
    loaded
}

fn render(s: &settings::Settings, profile: Profile) -> render::Rendered {
    Renderer::new(None)
        .expect("templates")
        .render(
            s,
            &render::Options {
                profile,
                mgmt_cidr: None,
            },
        )
        .expect("render")
}

fn documents(stream: &str) -> Vec<serde_json::Value> {
    serde_saphyr::from_multiple::<serde_json::Value>(stream).expect("rendered YAML parses")
}

/// The etcd script is long and has its own tests; golden files show where it goes.
fn redact_script(manifests: &str) -> String {
    let mut out = String::new();
    let mut in_script_item = false;
    let mut in_content = false;
    for line in manifests.lines() {
        let indent = line.len() - line.trim_start().len();
        if line.trim_start().starts_with("- path:") {
            in_script_item = line.ends_with("/usr/local/sbin/etcd-defrag");
            in_content = false;
        } else if indent < 8 {
            in_script_item = false;
            in_content = false;
        }
        if in_content && indent >= 10 {
            continue;
        }
        in_content = false;
        if in_script_item && line.trim_start().starts_with("content:") {
            out.push_str("        content: <etcd-defrag script>\n");
            in_content = true;
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

#[test]
fn golden_files_for_every_fixture_and_profile() {
    for path in fixtures() {
        let name = path.file_stem().unwrap().to_string_lossy().to_string();
        let loaded = load(None, &path);
        for (profile, pname) in PROFILES {
            let r = render(&loaded.settings, profile);
            insta::assert_snapshot!(
                format!("{name}_{pname}_manifests"),
                redact_script(&r.manifests)
            );
            insta::assert_snapshot!(format!("{name}_{pname}_clusterctl"), r.clusterctl_yaml);
        }
    }
}

#[test]
fn every_rendered_object_validates_against_the_upstream_crds() {
    for path in fixtures() {
        let loaded = load(None, &path);
        for (profile, pname) in PROFILES {
            let crds = CrdSet::shared(pname);
            let r = render(&loaded.settings, profile);
            let docs = documents(&r.manifests);
            assert_eq!(docs.len(), 8, "{}: objects", path.display());
            let mut failures = Vec::new();
            for doc in &docs {
                if let Err(errs) = crds.validate(doc) {
                    failures.extend(errs);
                }
            }
            assert!(
                failures.is_empty(),
                "{} [{pname}]:\n{}",
                path.display(),
                failures.join("\n")
            );
        }
    }
}

#[test]
fn the_schema_check_would_catch_a_wrong_object() {
    // Guard against a validator that accepts anything.
    let loaded = load(None, &fixtures()[0]);
    let r = render(&loaded.settings, Profile::Default);
    let mut docs = documents(&r.manifests);
    let kcp = docs
        .iter_mut()
        .find(|d| d["kind"] == "KubeadmControlPlane")
        .expect("KCP");
    kcp["spec"]["replicas"] = serde_json::json!("three");
    kcp["spec"]["kubeadmConfigSpec"]["filez"] = serde_json::json!([]);
    let errs = CrdSet::shared("default").validate(kcp).unwrap_err();
    assert!(errs.len() >= 2, "{errs:?}");
}

/// clusterctl's view: read clusterctl.yaml as YAML (strings), expand the template.
fn expand_like_clusterctl(
    template: &str,
    clusterctl_yaml: &str,
    env: &HashMap<&str, &str>,
) -> String {
    let vars: serde_json::Map<String, serde_json::Value> =
        serde_saphyr::from_str(clusterctl_yaml).expect("clusterctl.yaml parses");
    envsubst::expand(template, |k| {
        if let Some(v) = env.get(k) {
            return Some((*v).to_string());
        }
        vars.get(k).map(|v| match v {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        })
    })
    .expect("every variable has a value")
}

#[test]
fn template_plus_clusterctl_yaml_gives_the_manifests_exactly() {
    for path in fixtures() {
        let loaded = load(None, &path);
        for (profile, _) in PROFILES {
            let r = render(&loaded.settings, profile);
            let expanded =
                expand_like_clusterctl(&r.cluster_template, &r.clusterctl_yaml, &HashMap::new());
            assert_eq!(expanded, r.manifests, "{}", path.display());
        }
    }
}

#[test]
fn environment_wins_over_clusterctl_yaml_as_in_clusterctl() {
    let loaded = load(None, &fixtures()[0]);
    let r = render(&loaded.settings, Profile::Default);
    let env = HashMap::from([("WORKER_MACHINE_COUNT", "9")]);
    let expanded = expand_like_clusterctl(&r.cluster_template, &r.clusterctl_yaml, &env);
    assert!(expanded.contains("replicas: 9"));
}

#[test]
fn settings_round_trip_through_clusterctl_yaml() {
    for path in fixtures() {
        let loaded = load(None, &path);
        let r = render(&loaded.settings, Profile::Default);
        let imported = import_r4::import(&settings::Input {
            name: "clusterctl.yaml",
            bytes: r.clusterctl_yaml.as_bytes(),
        });
        assert!(
            imported.diagnostics.is_empty(),
            "{}: {:#?}",
            path.display(),
            imported.diagnostics
        );
        let text = scs_capi::settings::write::render_yaml(&imported.values);
        let back = settings::load(
            None,
            Some(&SourceFile {
                name: "imported.yaml".into(),
                bytes: text.clone().into_bytes(),
            }),
            &[],
            Options {
                is_cluster: true,
                ..Default::default()
            },
        );
        let mut expected = loaded.settings.clone();
        // clusterctl needs a concrete version: `.x` comes back resolved.
        expected.kubernetes_version.patch = Some(
            back.settings
                .kubernetes_version
                .patch
                .expect("resolved patch"),
        );
        assert_eq!(
            expected.kubernetes_version.resolve(),
            loaded.settings.kubernetes_version.resolve()
        );
        // The profile's CAPI/CAPO versions are written out concretely.
        expected.clusterapi_version = back.settings.clusterapi_version.clone();
        expected.capi_openstack_version = back.settings.capi_openstack_version.clone();
        assert_eq!(back.settings, expected, "{}:\n{text}", path.display());
        assert_eq!(
            render(&back.settings, Profile::Default).manifests,
            r.manifests
        );
    }
}

#[test]
fn r4_clusterctl_yaml_imports_with_a_report() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/r4/clusterctl.yaml");
    let file = SourceFile::read(&path).unwrap();
    let imported = import_r4::import(&settings::Input {
        name: &file.name,
        bytes: &file.bytes,
    });
    insta::assert_snapshot!(
        "r4_import",
        scs_capi::settings::write::render_yaml(&imported.values)
    );
    let reported: Vec<&str> = imported
        .diagnostics
        .iter()
        .filter_map(|d| d.key.as_deref())
        .collect();
    assert_eq!(
        reported,
        [
            "OPENSTACK_CLOUD_CACERT_B64",
            "OPENSTACK_CLOUD_PROVIDER_CONF_B64",
            "OPENSTACK_CLOUD_YAML_B64",
            "OPENSTACK_CONTROL_PLANE_IP",
            "OPENSTACK_SRVGRP_CONTROLLER",
            "OPENSTACK_SRVGRP_WORKER",
            "RESTRICT_KUBEAPI",
        ]
    );
    // No secret survives the import.
    let text = scs_capi::settings::write::render_yaml(&imported.values);
    assert!(!text.contains("Y2xvdWRz"));
    assert!(text.contains("cloud_provider: gx-scs"));
}

#[test]
fn layered_settings_render_with_their_origins() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/layered");
    let loaded = load(Some(&dir.join("defaults.yaml")), &dir.join("prod.yaml"));
    let s = &loaded.settings;
    assert_eq!(
        (s.prefix.as_str(), s.worker_count, s.cluster_name.as_deref()),
        ("mgmt1", 4, Some("prod"))
    );
    assert_eq!(
        (s.etcd_defrag.pause_seconds, s.etcd_defrag.backups_kept),
        (10, 3)
    );
    let rows = scs_capi::commands::render::explain(&loaded);
    let origin = |k: &str| rows.iter().find(|r| r.0 == k).map(|r| r.2.clone()).unwrap();
    assert!(
        origin("prefix").starts_with("defaults file: "),
        "{}",
        origin("prefix")
    );
    assert!(
        origin("worker_count").contains("prod.yaml:2"),
        "{}",
        origin("worker_count")
    );
    assert_eq!(origin("calico_version"), "built-in default");
    assert!(origin("etcd_defrag.pause_seconds").contains("defaults.yaml:8"));
    let r = render(s, Profile::Default);
    assert!(r.manifests.contains("name: mgmt1-prod-md-0-no1"));
}

#[test]
fn machine_template_names_follow_their_spec() {
    let loaded = load(None, &fixture("minimal"));
    let base = render(&loaded.settings, Profile::Default);
    let name_of = |m: &str, marker: &str| {
        m.lines()
            .find(|l| {
                l.contains(marker) && !l.contains("-no1") && l.trim_start().starts_with("name:")
            })
            .unwrap()
            .to_string()
    };
    let mut s = loaded.settings.clone();
    s.worker_flavor = "SCS-4V-8-20".into();
    let changed = render(&s, Profile::Default);
    assert_eq!(
        name_of(&base.manifests, "-control-plane-"),
        name_of(&changed.manifests, "-control-plane-")
    );
    assert_ne!(
        name_of(&base.manifests, "-md-0-"),
        name_of(&changed.manifests, "-md-0-")
    );
    // An explicit generation wins, as in R4.
    s.worker_machine_gen = "genw07".into();
    assert!(
        render(&s, Profile::Default)
            .manifests
            .contains("name: capi-minimal-md-0-genw07")
    );
}

#[test]
fn etcd_maintenance_lands_in_every_control_plane() {
    for path in fixtures() {
        let loaded = load(None, &path);
        let expected = scs_capi::etcd::node_files(
            &loaded.settings.etcd_defrag,
            loaded.settings.etcd_quota_backend_mib * 1024 * 1024,
        );
        for (profile, _) in PROFILES {
            let docs = documents(&render(&loaded.settings, profile).manifests);
            let kcp = docs
                .iter()
                .find(|d| d["kind"] == "KubeadmControlPlane")
                .unwrap();
            let spec = &kcp["spec"]["kubeadmConfigSpec"];
            for f in &expected {
                let rendered = spec["files"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|x| x["path"] == f.path.as_str())
                    .unwrap_or_else(|| panic!("{} missing", f.path));
                assert_eq!(
                    support::kubeadm_file_content(rendered).trim_end(),
                    f.content.trim_end(),
                    "{}",
                    f.path
                );
                assert_eq!(rendered["permissions"], f.permissions.as_str());
            }
            let post: Vec<&str> = spec["postKubeadmCommands"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c.as_str().unwrap())
                .collect();
            assert!(
                post.contains(&"systemctl enable --now etcd-defrag.timer"),
                "{post:?}"
            );
            let args = &spec["clusterConfiguration"]["etcd"]["local"]["extraArgs"];
            assert!(args.to_string().contains("heartbeat-interval"));
        }
    }
}

#[test]
fn allowlist_always_contains_the_management_cluster() {
    let mut s = load(None, &fixture("restricted")).settings;
    let docs = documents(&render(&s, Profile::Default).manifests);
    let osc = docs
        .iter()
        .find(|d| d["kind"] == "OpenStackCluster")
        .unwrap();
    assert_eq!(
        osc["spec"]["apiServerLoadBalancer"]["allowedCIDRs"],
        serde_json::json!(["203.0.113.99/32", "10.1.0.0/16", "192.0.2.44/32"])
    );
    assert_eq!(
        osc["spec"]["managedSecurityGroups"]["allowAllInClusterTraffic"],
        true
    );
    s.mgmt_egress_cidr = None;
    let err = Renderer::new(None)
        .unwrap()
        .render(&s, &render::Options::default())
        .unwrap_err();
    assert!(
        err.to_string().contains("egress address is unknown"),
        "{err}"
    );
}
