//! Rendering as a library: golden files for every settings fixture x profile, schema
//! validation of every rendered object against the real upstream CRDs (so a stable but
//! wrong snapshot cannot pass), the clusterctl round trips, and rendering with what the
//! cloud told `prepare-cloud` (a fixed, obviously fake test credential).

mod support;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use scs_capi::render::{self, Profile, Renderer, envsubst};
use scs_capi::settings::values::{AllowEntry, Allowlist};
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

/// The fixture as loaded for `profile` (its built-in defaults). A Kubernetes version
/// outside the profile's range is the one error allowed: the goldens show every fixture
/// under both profiles, as `render` (which only notes it) would write them.
fn load_as(profile: Profile, cluster: &Path) -> settings::Loaded {
    let cluster = SourceFile::read(cluster).expect("cluster");
    let loaded = settings::load(
        None,
        Some(&cluster),
        &[],
        Options {
            is_cluster: true,
            profile,
            ..Default::default()
        },
    );
    let errors: Vec<_> = loaded
        .diagnostics
        .iter()
        .filter(|d| d.severity == scs_capi::error::Severity::Error)
        .filter(|d| !d.message.contains("is outside what Cluster API"))
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
                facts: None,
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
        for (profile, pname) in PROFILES {
            let loaded = load_as(profile, &path);
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
        for (profile, pname) in PROFILES {
            let loaded = load_as(profile, &path);
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
        let imported = import_r4::import(
            &settings::Input {
                name: "clusterctl.yaml",
                bytes: r.clusterctl_yaml.as_bytes(),
            },
            &import_r4::Options::default(),
        );
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

/// The imported entries (dotted keys nested) against the published JSON schema.
fn assert_matches_schema(values: &[(String, serde_json::Value)]) {
    let mut doc = serde_json::Map::new();
    for (k, v) in values {
        match k.split_once('.') {
            Some((section, sub)) => {
                let e = doc
                    .entry(section.to_string())
                    .or_insert_with(|| serde_json::json!({}));
                e[sub] = v.clone();
            }
            None => {
                doc.insert(k.clone(), v.clone());
            }
        }
    }
    let schema = settings::schema();
    let validator = jsonschema::validator_for(&schema).expect("schema compiles");
    let doc = serde_json::Value::Object(doc);
    let errors: Vec<String> = validator
        .iter_errors(&doc)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}\n{doc:#}");
}

#[test]
fn r4_imports_validate_against_the_published_schema() {
    // R4 spellings of every list and YAML-1.1 booleans of toggles.
    let text = "KUBERNETES_VERSION: v1.25.6\nOPENSTACK_DNS_NAMESERVERS: \"[ 9.9.9.9, ]\"\n\
                RESTRICT_KUBEAPI: \"[ 10.1.0.0/16 ]\"\nUSE_CILIUM: yes\nDEPLOY_FLUX: \"off\"\n\
                OPENSTACK_ANTI_AFFINITY: \"Yes\"\nETCD_DEFRAG_ENABLED: \"on\"\nUSE_OVN_LB_PROVIDER: No\n";
    let imported = import_r4::import(
        &settings::Input {
            name: "clusterctl.yaml",
            bytes: text.as_bytes(),
        },
        &import_r4::Options {
            cluster_name: Some("demo".into()),
            prefix: Some("capi".into()),
            mgmt_egress_cidr: Some("192.0.2.1".into()),
            ..import_r4::Options::default()
        },
    );
    assert!(
        imported
            .diagnostics
            .iter()
            .all(|d| d.severity == scs_capi::error::Severity::Warning),
        "{:?}",
        imported.diagnostics
    );
    assert_matches_schema(&imported.values);
}

#[test]
fn r4_clusterctl_yaml_imports_with_a_report() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/r4/home/testcluster/clusterctl.yaml");
    let file = SourceFile::read(&path).unwrap();
    let imported = import_r4::import(
        &settings::Input {
            name: &file.name,
            bytes: &file.bytes,
        },
        &import_r4::Options {
            cluster_name: Some("testcluster".into()),
            prefix: Some("r4demo".into()),
            ..import_r4::Options::default()
        },
    );
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
            "RESTRICT_KUBEAPI",
        ]
    );
    assert_matches_schema(&imported.values);
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

// ---------------------------------------------------------------------------------------
// With cloud facts
// ---------------------------------------------------------------------------------------

const TEST_CRED_ID: &str = "0123456789abcdef0123456789abcdef";
const TEST_CRED_SECRET: &str = "test-only-secret-not-real";

/// What prepare-cloud would hand over; the credential is a fixed test value, not a real one.
fn test_facts() -> render::CloudFacts {
    render::CloudFacts {
        credential: Some(render::AppCredential {
            id: TEST_CRED_ID.into(),
            secret: scs_capi::cloud::Secret::new(TEST_CRED_SECRET),
            auth_url: "https://keystone.example.com:5000/v3".into(),
            region: Some("RegionOne".into()),
            interface: "public".into(),
            project_id: Some("fedcba9876543210fedcba9876543210".into()),
            cacert_pem: Some(
                "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n".into(),
            ),
        }),
        controller_server_group_id: Some("11111111-2222-4333-8444-555555555555".into()),
        worker_server_group_id: Some("66666666-7777-4888-9999-000000000000".into()),
        controller_root_volume_gib: Some(25),
        worker_root_volume_gib: Some(45),
        mgmt_egress_cidr: Some("198.51.100.7/32".parse().unwrap()),
        external_network_id: Some("aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee".into()),
        lb_provider: Some("amphora".into()),
    }
}

/// Diskless flavors without root-disk settings, an allowlist without `mgmt_egress_cidr`.
fn cloud_settings() -> settings::Settings {
    let mut s = load(None, &fixture("minimal")).settings;
    s.controller_flavor = "SCS-2V-8".into();
    s.worker_flavor = "SCS-4V-16".into();
    s.controller_root_disk_gib = 0;
    s.worker_root_disk_gib = 0;
    s.anti_affinity = true;
    s.restrict_kubeapi = Allowlist(vec!["10.1.0.0/16".parse().unwrap()]);
    s.mgmt_egress_cidr = None;
    s
}

fn render_with(
    s: &settings::Settings,
    profile: Profile,
    facts: render::CloudFacts,
) -> render::Rendered {
    Renderer::new(None)
        .expect("templates")
        .render(
            s,
            &render::Options {
                profile,
                mgmt_cidr: None,
                facts: Some(facts),
            },
        )
        .expect("render")
}

fn machine_template<'a>(docs: &'a [serde_json::Value], marker: &str) -> &'a serde_json::Value {
    docs.iter()
        .find(|d| {
            d["kind"] == "OpenStackMachineTemplate"
                && d["metadata"]["name"].as_str().unwrap().contains(marker)
        })
        .unwrap_or_else(|| panic!("no machine template {marker}"))
}

fn b64_decode(v: &serde_json::Value) -> String {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(v.as_str().expect("base64 string"))
        .expect("base64");
    String::from_utf8(bytes).expect("utf-8")
}

#[test]
fn cloud_facts_reach_every_object_and_validate_against_the_crds() {
    let s = cloud_settings();
    for (profile, pname) in PROFILES {
        let r = render_with(&s, profile, test_facts());
        let docs = documents(&r.manifests);
        let crds = CrdSet::shared(pname);
        let failures: Vec<String> = docs
            .iter()
            .filter_map(|d| crds.validate(d).err())
            .flatten()
            .collect();
        assert!(failures.is_empty(), "[{pname}]:\n{}", failures.join("\n"));

        // Root volumes for the diskless flavors, server groups by id.
        let cp = &machine_template(&docs, "-control-plane-")["spec"]["template"]["spec"];
        let wk = &machine_template(&docs, "-md-0-")["spec"]["template"]["spec"];
        match profile {
            Profile::Default => {
                assert_eq!(cp["rootVolume"]["sizeGiB"], 25, "[{pname}] {cp}");
                assert_eq!(wk["rootVolume"]["sizeGiB"], 45);
                assert_eq!(
                    cp["serverGroup"]["id"],
                    "11111111-2222-4333-8444-555555555555"
                );
                assert_eq!(
                    wk["serverGroup"]["id"],
                    "66666666-7777-4888-9999-000000000000"
                );
            }
            Profile::R4 => {
                assert_eq!(cp["rootVolume"]["diskSize"], 25, "[{pname}] {cp}");
                assert_eq!(wk["rootVolume"]["diskSize"], 45);
                assert_eq!(cp["serverGroupID"], "11111111-2222-4333-8444-555555555555");
                assert_eq!(wk["serverGroupID"], "66666666-7777-4888-9999-000000000000");
            }
        }

        // The management cluster's egress address leads the allowlist; external network by id.
        let osc = &docs
            .iter()
            .find(|d| d["kind"] == "OpenStackCluster")
            .unwrap()["spec"];
        let (cidrs, ext) = match profile {
            Profile::Default => (
                &osc["apiServerLoadBalancer"]["allowedCIDRs"],
                &osc["externalNetwork"]["id"],
            ),
            Profile::R4 => (
                &osc["apiServerLoadBalancer"]["allowedCidrs"],
                &osc["externalNetworkId"],
            ),
        };
        assert_eq!(
            cidrs,
            &serde_json::json!(["198.51.100.7/32", "10.1.0.0/16"])
        );
        assert_eq!(ext, "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee");

        // The cloud-config Secret carries the cluster's credential, and only that.
        let secret = docs.iter().find(|d| d["kind"] == "Secret").unwrap();
        let clouds = b64_decode(&secret["data"]["clouds.yaml"]);
        let parsed: serde_json::Value = serde_saphyr::from_str(&clouds).expect("clouds.yaml");
        let cloud = &parsed["clouds"][s.cloud_provider.as_str()];
        assert_eq!(cloud["auth_type"], "v3applicationcredential", "{clouds}");
        assert_eq!(cloud["auth"]["application_credential_id"], TEST_CRED_ID);
        assert_eq!(
            cloud["auth"]["application_credential_secret"],
            TEST_CRED_SECRET
        );
        assert_eq!(cloud["region_name"], "RegionOne");
        assert!(
            !clouds.contains("password") && !clouds.contains("username"),
            "{clouds}"
        );
        assert!(b64_decode(&secret["data"]["cacert"]).starts_with("-----BEGIN CERTIFICATE-----"));

        // cloud.conf for OCCM/CSI with the same credential; every file with it is private.
        let conf = r.cloud_conf.as_deref().expect("cloud.conf");
        assert!(
            conf.contains(&format!("application-credential-id={TEST_CRED_ID}\n")),
            "{conf}"
        );
        assert!(!conf.contains("lb-provider"), "{conf}");
        assert!(r.has_secrets);
        assert!(
            r.clusterctl_yaml.contains("OPENSTACK_CLOUD_YAML_B64: "),
            "{}",
            r.clusterctl_yaml
        );
        assert!(
            r.clusterctl_yaml
                .contains("OPENSTACK_SRVGRP_WORKER: 66666666")
        );
        assert!(
            r.clusterctl_yaml
                .contains("CONTROL_PLANE_ROOT_DISKSIZE: 25")
        );
        assert!(
            r.notes.iter().all(|n| !n.contains("cloud-config")),
            "{:?}",
            r.notes
        );
        // clusterctl gets the same manifests from the template and clusterctl.yaml.
        assert_eq!(
            expand_like_clusterctl(&r.cluster_template, &r.clusterctl_yaml, &HashMap::new()),
            r.manifests
        );
        // The caller's own secrets are not in the facts, so cannot be here; the test
        // credential appears only base64-encoded in the manifests.
        assert!(!r.manifests.contains(TEST_CRED_SECRET));
    }
}

#[test]
fn credential_files_snapshot() {
    let r = render_with(&cloud_settings(), Profile::Default, test_facts());
    let docs = documents(&r.manifests);
    let secret = docs.iter().find(|d| d["kind"] == "Secret").unwrap();
    insta::assert_snapshot!(
        "facts_clouds_yaml",
        b64_decode(&secret["data"]["clouds.yaml"])
    );
    insta::assert_snapshot!("facts_cloud_conf", r.cloud_conf.unwrap());
}

#[test]
fn settings_win_over_computed_root_volumes_and_ovn_follows_the_cloud() {
    let mut s = cloud_settings();
    s.worker_root_disk_gib = 60;
    s.mgmt_egress_cidr = Some("203.0.113.5/32".parse().unwrap());
    s.restrict_kubeapi = Allowlist(vec![AllowEntry::None]);
    s.use_ovn_lb_provider = scs_capi::settings::values::OvnLbProvider::Auto;
    let mut facts = test_facts();
    facts.lb_provider = Some("ovn".into());
    let r = render_with(&s, Profile::Default, facts);
    let docs = documents(&r.manifests);
    let wk = &machine_template(&docs, "-md-0-")["spec"]["template"]["spec"];
    assert_eq!(wk["rootVolume"]["sizeGiB"], 60);
    let osc = &docs
        .iter()
        .find(|d| d["kind"] == "OpenStackCluster")
        .unwrap()["spec"];
    assert_eq!(
        osc["apiServerLoadBalancer"]["allowedCIDRs"],
        serde_json::json!(["203.0.113.5/32"])
    );
    let conf = r.cloud_conf.unwrap();
    assert!(
        conf.contains("lb-provider=ovn\nlb-method=SOURCE_IP_PORT\ncreate-monitor=true\n"),
        "{conf}"
    );
}

#[test]
fn without_facts_nothing_is_invented() {
    let s = cloud_settings();
    let mut s = s;
    s.mgmt_egress_cidr = Some("203.0.113.5/32".parse().unwrap());
    for (profile, _) in PROFILES {
        let r = render(&s, profile);
        assert!(r.cloud_conf.is_none());
        assert!(!r.has_secrets);
        let docs = documents(&r.manifests);
        let secret = docs.iter().find(|d| d["kind"] == "Secret").unwrap();
        assert_eq!(secret["data"]["clouds.yaml"], "");
        assert_eq!(secret["data"]["cacert"], "");
        // Diskless flavors without settings: no root volume is made up.
        let cp = &machine_template(&docs, "-control-plane-")["spec"]["template"]["spec"];
        assert!(cp.get("rootVolume").is_none(), "{cp}");
        assert!(
            r.notes
                .iter()
                .any(|n| n.contains("cloud-config` Secret is empty")),
            "{:?}",
            r.notes
        );
    }
}
