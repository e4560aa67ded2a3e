//! The binary as users and CI scripts see it: exit codes, stdout/stderr split, located
//! messages, json findings. Each test runs in its own temp dir with `HOME` and
//! `XDG_CONFIG_HOME` inside it and no `SCS_CAPI_*` variables from outside.

use std::path::{Path, PathBuf};

use assert_cmd::Command;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

struct Env {
    dir: tempfile::TempDir,
}

impl Env {
    fn new() -> Env {
        Env {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    fn cmd(&self) -> Command {
        let mut cmd = Command::cargo_bin("scs-capi").expect("binary");
        cmd.current_dir(self.dir.path())
            .env("NO_COLOR", "1")
            .env("HOME", self.dir.path())
            .env("XDG_CONFIG_HOME", self.dir.path().join("config"));
        for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("SCS_CAPI_")) {
            cmd.env_remove(k);
        }
        cmd
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn run(cmd: &mut Command) -> Run {
    let out = cmd.output().expect("runs");
    Run {
        code: out.status.code().expect("exit code, not a signal"),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn bad(name: &str) -> String {
    fixtures().join("bad").join(name).display().to_string()
}

/// Replaces the fixtures path so snapshots do not depend on the checkout location.
fn filtered(text: &str) -> String {
    text.replace(&fixtures().display().to_string(), "[FIXTURES]")
}

#[test]
fn valid_fixtures_pass() {
    let env = Env::new();
    let r = run(env
        .cmd()
        .args(["validate"])
        .arg(fixtures().join("settings"))
        .arg(fixtures().join("layered")));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout, "");
    assert!(
        r.stderr.contains("checked 7 file(s): 0 error(s)"),
        "{}",
        r.stderr
    );
}

#[test]
fn typo_names_file_line_key_and_suggestion() {
    let env = Env::new();
    let r = run(env.cmd().args(["validate", &bad("typo.yaml")]));
    assert_eq!(r.code, 1);
    assert_eq!(r.stdout, "");
    insta::assert_snapshot!("typo", filtered(&r.stderr));
}

#[test]
fn wrong_types_are_all_reported_at_once() {
    let env = Env::new();
    let r = run(env.cmd().args(["validate", &bad("wrong-types.yaml")]));
    assert_eq!(r.code, 1);
    insta::assert_snapshot!("wrong_types", filtered(&r.stderr));
}

#[test]
fn json_findings_carry_file_line_column_key_hint() {
    let env = Env::new();
    let r = run(env.cmd().args([
        "validate",
        "--output",
        "json",
        &bad("typo.yaml"),
        &bad("overlap.yaml"),
    ]));
    assert_eq!(r.code, 1);
    let report: serde_json::Value = serde_json::from_str(&r.stdout).expect("json on stdout");
    assert_eq!(report["valid"], false);
    // The pod network overlaps both the node and the service network.
    assert_eq!(report["errors"], 3);
    let f = &report["findings"][0];
    assert_eq!(f["file"], bad("typo.yaml"));
    assert_eq!(
        (f["line"].as_u64(), f["column"].as_u64()),
        (Some(2), Some(1))
    );
    assert_eq!(f["key"], "worker_flavour");
    assert_eq!(f["severity"], "error");
    assert_eq!(f["hint"], "did you mean `worker_flavor`?");
    let overlap = &report["findings"][1];
    assert_eq!(overlap["key"], "pod_cidr");
    assert_eq!(overlap["line"], 3);
    assert!(
        overlap["message"]
            .as_str()
            .unwrap()
            .contains("overlaps `node_cidr`")
    );
}

#[test]
fn each_bad_input_gets_its_located_message() {
    let env = Env::new();
    std::fs::write(
        env.path("garbage.yaml"),
        [0x7fu8, b'E', b'L', b'F', 0xff, 0xfe, 0, 1, 2, 3],
    )
    .unwrap();
    let cases: Vec<(String, &str, Option<u64>)> = vec![
        (
            bad("ovn-allowlist.yaml"),
            "cannot be enforced with the OVN load-balancer provider",
            Some(3),
        ),
        (bad("syntax.yaml"), "invalid YAML", Some(3)),
        (bad("empty.yaml"), "the settings file is empty", None),
        (
            env.path("garbage.yaml").display().to_string(),
            "not UTF-8",
            Some(1),
        ),
    ];
    for (file, message, line) in cases {
        let r = run(env.cmd().args(["validate", "--output", "json", &file]));
        assert_eq!(r.code, 1, "{file}: {}", r.stderr);
        let report: serde_json::Value = serde_json::from_str(&r.stdout).expect("json");
        let f = &report["findings"][0];
        assert!(
            f["message"].as_str().unwrap().contains(message),
            "{file}: {f}"
        );
        assert_eq!(f["file"], file.as_str());
        assert_eq!(f["line"].as_u64(), line, "{file}: {f}");
        assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
    }
}

#[test]
fn warnings_pass_unless_strict() {
    let env = Env::new();
    let r = run(env.cmd().args(["validate", &bad("v1-flavor.yaml")]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("warning: `SCS-2V:4:20` is an SCS v1 flavor name"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("hint: the SCS v2 name is `SCS-2V-4-20`"),
        "{}",
        r.stderr
    );
    let r = run(env
        .cmd()
        .args(["validate", "--strict", &bad("v1-flavor.yaml")]));
    assert_eq!(r.code, 1);
}

#[test]
fn missing_path_is_an_io_error() {
    let env = Env::new();
    let r = run(env.cmd().args(["validate", "nope.yaml"]));
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("cannot read `nope.yaml`"), "{}", r.stderr);
    assert!(r.stderr.contains("Caused by:"), "{}", r.stderr);
}

#[test]
fn usage_errors_exit_2() {
    let env = Env::new();
    assert_eq!(run(env.cmd().args(["validate", "--output", "xml"])).code, 2);
    assert_eq!(run(env.cmd().args(["render"])).code, 2);
    assert_eq!(run(env.cmd().args(["frobnicate"])).code, 2);
}

#[test]
fn environment_overrides_are_checked_and_named() {
    let env = Env::new();
    let settings = fixtures().join("settings/minimal.yaml");
    let r = run(env
        .cmd()
        .env("SCS_CAPI_WORKER_COUNT", "lots")
        .arg("validate")
        .arg(&settings));
    assert_eq!(r.code, 1);
    assert!(
        r.stderr
            .contains("--> environment (`SCS_CAPI_WORKER_COUNT`)"),
        "{}",
        r.stderr
    );
    let r = run(env
        .cmd()
        .env("SCS_CAPI_WORKER_COUNT", "7")
        .args(["render", "-f"])
        .arg(&settings));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("replicas: 7"));
}

#[test]
fn preview_versions_need_the_flag() {
    let env = Env::new();
    std::fs::write(
        env.path("p.yaml"),
        "cluster_name: p\nkubernetes_version: v1.37.x\n",
    )
    .unwrap();
    let r = run(env.cmd().args(["validate", "p.yaml"]));
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("--allow-preview-versions"),
        "{}",
        r.stderr
    );
    assert_eq!(
        run(env
            .cmd()
            .args(["validate", "--allow-preview-versions", "p.yaml"]))
        .code,
        0
    );
}

#[test]
fn render_example_prints_the_manifests() {
    let env = Env::new();
    let r = run(env.cmd().args(["render", "--example"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let docs: Vec<serde_json::Value> = serde_saphyr::from_multiple(&r.stdout).expect("YAML");
    let kinds: Vec<&str> = docs.iter().map(|d| d["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "Cluster",
            "OpenStackCluster",
            "KubeadmControlPlane",
            "OpenStackMachineTemplate",
            "MachineDeployment",
            "OpenStackMachineTemplate",
            "KubeadmConfigTemplate",
            "Secret"
        ]
    );
    let r4 = run(env.cmd().args(["render", "--example", "--profile", "r4"]));
    assert_eq!(r4.code, 0);
    assert!(
        r4.stdout
            .contains("infrastructure.cluster.x-k8s.io/v1alpha6")
    );
}

#[test]
fn render_out_writes_three_files_with_private_manifests() {
    use std::os::unix::fs::PermissionsExt;
    let env = Env::new();
    let r = run(env.cmd().args(["render", "--example", "--out", "out"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout, "");
    for (name, mode) in [
        ("clusterctl.yaml", 0o644),
        ("cluster-template.yaml", 0o644),
        ("example-config.yaml", 0o600),
    ] {
        let meta = std::fs::metadata(env.path("out").join(name)).expect(name);
        assert_eq!(meta.permissions().mode() & 0o777, mode, "{name}");
    }
    let clusterctl = std::fs::read_to_string(env.path("out/clusterctl.yaml")).unwrap();
    assert!(
        clusterctl.contains("RESTRICT_KUBEAPI: \"[ 198.51.100.0/24, 203.0.113.7/32 ]\""),
        "{clusterctl}"
    );
}

#[test]
fn render_refuses_an_allowlist_without_the_management_address() {
    let env = Env::new();
    std::fs::write(
        env.path("c.yaml"),
        "cluster_name: c\nrestrict_kubeapi: [none]\n",
    )
    .unwrap();
    let r = run(env.cmd().args(["render", "-f", "c.yaml"]));
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("hint: pass `--mgmt-cidr ADDR/32`"),
        "{}",
        r.stderr
    );
    let r = run(env
        .cmd()
        .args(["render", "-f", "c.yaml", "--mgmt-cidr", "192.0.2.1/32"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("- 192.0.2.1/32"));
}

#[test]
fn render_explain_names_the_layer_of_each_value() {
    let env = Env::new();
    let layered = fixtures().join("layered");
    let r = run(env
        .cmd()
        .env("SCS_CAPI_PREFIX", "fromenv")
        .args(["render", "--explain", "--defaults"])
        .arg(layered.join("defaults.yaml"))
        .arg("-f")
        .arg(layered.join("prod.yaml")));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let line = |key: &str| {
        r.stdout
            .lines()
            .find(|l| l.starts_with(&format!("{key} ")))
            .unwrap_or_default()
            .to_string()
    };
    assert!(
        line("prefix").contains("environment: SCS_CAPI_PREFIX"),
        "{}",
        line("prefix")
    );
    assert!(
        line("worker_count").contains("cluster file:"),
        "{}",
        line("worker_count")
    );
    assert!(
        line("cloud_provider").contains("defaults file:"),
        "{}",
        line("cloud_provider")
    );
    assert!(
        line("calico_version").ends_with("built-in default"),
        "{}",
        line("calico_version")
    );
}

#[test]
fn templates_can_be_overridden_by_relative_name() {
    let env = Env::new();
    let builtin =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("templates/default/cluster-template.yaml.j2");
    let text = std::fs::read_to_string(builtin).unwrap();
    std::fs::create_dir_all(env.path("tpl/default")).unwrap();
    std::fs::write(
        env.path("tpl/default/cluster-template.yaml.j2"),
        text.replacen(
            "metadata:\n  name: ${CLUSTER_NAME}\n",
            "metadata:\n  name: ${CLUSTER_NAME}\n  labels:\n    team: ${TEAM:=platform}\n",
            1,
        ),
    )
    .unwrap();
    let r = run(env
        .cmd()
        .args(["--templates", "tpl", "render", "--example"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains("  labels:\n    team: platform\n"),
        "{}",
        r.stdout
    );
    // The other profile's template was not overridden: the built-in one is used.
    let r = run(env.cmd().args([
        "--templates",
        "tpl",
        "render",
        "--example",
        "--profile",
        "r4",
    ]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!r.stdout.contains("team:"));
    // A broken template is an error naming it (exit 2), not a panic.
    std::fs::write(env.path("tpl/default/cluster-template.yaml.j2"), "{% if %}").unwrap();
    let r = run(env
        .cmd()
        .args(["--templates", "tpl", "render", "--example"]));
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("cannot render template `default/cluster-template.yaml.j2`"),
        "{}",
        r.stderr
    );
    // A variable without value and default is named.
    std::fs::write(
        env.path("tpl/default/cluster-template.yaml.j2"),
        "kind: X\nname: ${NOPE}\n",
    )
    .unwrap();
    let r = run(env
        .cmd()
        .args(["--templates", "tpl", "render", "--example"]));
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("value for variables [NOPE] is not set"),
        "{}",
        r.stderr
    );
}

#[test]
fn defaults_come_from_xdg_config_home() {
    let env = Env::new();
    std::fs::create_dir_all(env.path("config/scs-capi")).unwrap();
    std::fs::write(env.path("config/scs-capi/defaults.yaml"), "prefix: xdg\n").unwrap();
    std::fs::write(env.path("c.yaml"), "cluster_name: c\n").unwrap();
    let r = run(env.cmd().args(["render", "-f", "c.yaml"]));
    assert!(r.stdout.contains("name: xdg-c-md-0-no1"), "{}", r.stderr);
}

#[test]
fn settings_init_gives_a_valid_file_and_never_overwrites() {
    let env = Env::new();
    let r = run(env.cmd().args([
        "settings",
        "init",
        "--cluster",
        "demo",
        "--out",
        "demo.yaml",
    ]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = run(env.cmd().args(["validate", "demo.yaml"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = run(env.cmd().args(["settings", "init", "--out", "demo.yaml"]));
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("already exists"));
}

#[test]
fn settings_import_converts_r4_and_reports_what_it_dropped() {
    let env = Env::new();
    let r = run(env
        .cmd()
        .args(["settings", "import", "--out", "testcluster.yaml"])
        .arg(fixtures().join("r4/home/testcluster/clusterctl.yaml")));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains("`OPENSTACK_SRVGRP_WORKER` not imported"),
        "{}",
        r.stderr
    );
    let text = std::fs::read_to_string(env.path("testcluster.yaml")).unwrap();
    assert!(text.contains("use_cilium: v1.13.0"));
    // The name from the directory, the prefix from `../.capi-settings`, the management
    // address from R4's kube-API patch, lists as lists.
    assert!(text.contains("cluster_name: testcluster\n"), "{text}");
    assert!(text.contains("prefix: r4demo\n"), "{text}");
    assert!(
        text.contains("mgmt_egress_cidr: 203.0.113.17/32\n"),
        "{text}"
    );
    assert!(
        text.contains("dns_nameservers:\n  - 5.1.66.255\n  - 185.150.99.255\n"),
        "{text}"
    );
    assert!(
        !text.contains("ssh_keypair"),
        "derived from the prefix: {text}"
    );
    assert!(r.stderr.contains("dropped `none`"), "{}", r.stderr);
    assert!(
        r.stderr
            .contains("note: prefix `r4demo` written (from `PREFIX` in `")
            && r.stderr.contains("a second cluster"),
        "{}",
        r.stderr
    );
    let r = run(env.cmd().args([
        "validate",
        "--profile",
        "r4",
        "--strict",
        "testcluster.yaml",
    ]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    // No `--mgmt-cidr` needed: the import wrote `mgmt_egress_cidr`.
    let r = run(env
        .cmd()
        .args(["render", "-f", "testcluster.yaml", "--profile", "r4"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("r4demo-testcluster-control-plane-genc01"));
    assert!(r.stdout.contains("203.0.113.17/32"));
}

#[test]
fn settings_import_without_r4s_side_files_says_what_to_set() {
    let env = Env::new();
    let dir = env.path("Not_A_Label");
    std::fs::create_dir_all(&dir).unwrap();
    let src = fixtures().join("r4/home/testcluster/clusterctl.yaml");
    std::fs::copy(&src, dir.join("clusterctl.yaml")).unwrap();
    // The directory is no cluster name: a clear error with the flag to use.
    let r = run(env
        .cmd()
        .args(["settings", "import", "Not_A_Label/clusterctl.yaml"]));
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("cluster name `Not_A_Label`"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("--cluster NAME"), "{}", r.stderr);
    assert!(r.stdout.is_empty());
    assert!(!r.stderr.contains("written"), "nothing was: {}", r.stderr);
    let r = run(env.cmd().args([
        "settings",
        "import",
        "Not_A_Label/clusterctl.yaml",
        "--cluster",
        "demo",
        "--prefix",
        "r4demo",
        "-o",
        "demo.yaml",
    ]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("prefix `r4demo` written (from `--prefix`)"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("`mgmt_egress_cidr: ADDR/32`"),
        "{}",
        r.stderr
    );
    // render names the key that is missing.
    let r = run(env
        .cmd()
        .args(["render", "-f", "demo.yaml", "--profile", "r4"]));
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("`mgmt_egress_cidr`"), "{}", r.stderr);
}

#[test]
fn etcd_defrag_script_prints_what_lands_on_the_nodes() {
    let env = Env::new();
    let r = run(env
        .cmd()
        .args(["etcd-defrag-script", "-f"])
        .arg(fixtures().join("settings/ha-cilium.yaml")));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains(
        "# ==> /usr/local/sbin/etcd-defrag (owner root:root, mode 0755)\n#!/usr/bin/env bash\n"
    ));
    assert!(
        r.stdout.contains("OnCalendar=Sun *-*-* 03:15:00"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("Environment=ETCD_DEFRAG_QUOTA_BYTES=4294967296")
    );
    assert!(r.stdout.contains("sha256sum -c"));
    std::fs::write(
        env.path("off.yaml"),
        "cluster_name: off\netcd_defrag:\n  enabled: false\n",
    )
    .unwrap();
    let r = run(env.cmd().args(["etcd-defrag-script", "-f", "off.yaml"]));
    assert_eq!(r.code, 0);
    assert!(r.stdout.starts_with("# etcd_defrag.enabled is false"));
    assert!(!r.stdout.contains("OnCalendar"));
    std::fs::write(
        env.path("bad.yaml"),
        "cluster_name: bad\netcd_defrag:\n  schedule: whenever\n",
    )
    .unwrap();
    let r = run(env.cmd().args(["etcd-defrag-script", "-f", "bad.yaml"]));
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("bad.yaml:3:13"), "{}", r.stderr);
}

#[test]
fn schema_completions_man_and_help() {
    let env = Env::new();
    let r = run(env.cmd().arg("schema"));
    assert_eq!(r.code, 0);
    let schema: serde_json::Value = serde_json::from_str(&r.stdout).expect("json");
    assert!(schema["properties"]["restrict_kubeapi"].is_object());
    let r = run(env.cmd().args(["completions", "bash"]));
    assert!(r.code == 0 && r.stdout.contains("scs-capi"));
    let r = run(env.cmd().arg("man"));
    assert!(r.code == 0 && r.stdout.contains(".TH"));
    for sub in [
        &["validate"][..],
        &["render"],
        &["settings", "init"],
        &["settings", "import"],
        &["schema"],
        &["completions"],
        &["man"],
    ] {
        let r = run(env.cmd().args(sub).arg("--help"));
        assert_eq!(r.code, 0, "{sub:?}");
        assert!(r.stdout.contains("Usage:"), "{sub:?}");
    }
}

/// Issue 11, item 3: the built-in defaults fit the profile they render for, and a version
/// outside the profile's range is an error before anything touches a cloud.
#[test]
fn defaults_fit_the_profile_and_versions_outside_it_are_errors() {
    let env = Env::new();
    std::fs::write(env.path("demo.yaml"), "cluster_name: demo\n").unwrap();
    for profile in ["default", "r4"] {
        let r = run(env
            .cmd()
            .args(["validate", "--strict", "--profile", profile, "demo.yaml"]));
        assert_eq!(r.code, 0, "{profile}: {}", r.stderr);
        let r = run(env.cmd().args([
            "render",
            "--strict",
            "--profile",
            profile,
            "-f",
            "demo.yaml",
        ]));
        assert_eq!(r.code, 0, "{profile}: {}", r.stderr);
        assert!(!r.stderr.contains("outside"), "{profile}: {}", r.stderr);
    }
    let explain = |profile: &str| {
        let r = run(env.cmd().args([
            "render",
            "--explain",
            "--profile",
            profile,
            "-f",
            "demo.yaml",
        ]));
        assert_eq!(r.code, 0, "{}", r.stderr);
        r.stdout
    };
    let line = |text: &str, key: &str| {
        text.lines()
            .find(|l| l.starts_with(&format!("{key} ")))
            .map(|l| l.split_whitespace().nth(1).unwrap_or_default().to_string())
            .unwrap_or_default()
    };
    let (default, r4) = (explain("default"), explain("r4"));
    assert_eq!(line(&default, "kubernetes_version"), "v1.33.3");
    assert_eq!(line(&default, "calico_version"), "v3.31.7");
    assert_eq!(line(&r4, "kubernetes_version"), "v1.25.x");
    assert_eq!(line(&r4, "calico_version"), "v3.25.0");

    std::fs::write(
        env.path("old.yaml"),
        "cluster_name: old\nkubernetes_version: v1.25.x\n",
    )
    .unwrap();
    let r = run(env.cmd().args(["validate", "old.yaml"]));
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains(
            "Kubernetes v1.25 is outside what Cluster API v1.14.0 (profile `default`) supports"
        ),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("old.yaml:2:21"), "{}", r.stderr);
    assert!(r.stderr.contains("`--profile r4`"), "{}", r.stderr);
    let r = run(env.cmd().args(["validate", "--profile", "r4", "old.yaml"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = run(env.cmd().args(["render", "-f", "old.yaml"]));
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_eq!(r.stdout, "");
    // Refused before the cloud is asked (no clouds.yaml here: that would be exit 2).
    for cmd in [
        vec!["prepare-cloud", "--dry-run", "-f", "old.yaml"],
        vec!["create-cluster", "--dry-run", "-f", "old.yaml"],
    ] {
        let r = run(env.cmd().args(&cmd));
        assert_eq!(r.code, 1, "{cmd:?}: {}", r.stderr);
        assert!(
            r.stderr.contains("kubernetes_version"),
            "{cmd:?}: {}",
            r.stderr
        );
    }
    // A version the default node image source lacks is a warning naming the way out.
    std::fs::write(
        env.path("new.yaml"),
        "cluster_name: new\nkubernetes_version: v1.35.x\n",
    )
    .unwrap();
    let r = run(env.cmd().args(["validate", "new.yaml"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("`node_image_url`"), "{}", r.stderr);
}

/// Issue 11, item 4: `validate DIR` on a settings repository after `create-cluster` and
/// `render --out` checks the settings files and lists what it skipped.
#[test]
fn validate_checks_only_the_settings_files_of_a_repository() {
    let env = Env::new();
    let repo = env.path("repo");
    std::fs::create_dir_all(&repo).unwrap();
    std::fs::write(repo.join("demo.yaml"), "cluster_name: demo\n").unwrap();
    let mut lock = scs_capi::addons::Lock::load(&repo.join("addons.lock.yaml")).unwrap();
    lock.record(
        "https://raw.githubusercontent.com/projectcalico/calico/v3.31.7/manifests/calico.yaml",
        &"ab".repeat(32),
    );
    lock.save().unwrap();
    let r = run(env
        .cmd()
        .args(["render", "-f", "repo/demo.yaml", "--out", "repo/out"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    std::fs::write(
        repo.join("clouds.yaml"),
        "clouds:\n  openstack:\n    auth:\n      password: marker-s3cret\n",
    )
    .unwrap();
    std::fs::write(
        repo.join("r4-clusterctl.yaml"),
        "CLUSTER_NAME: old\nKUBERNETES_VERSION: v1.25.6\nWORKER_MACHINE_COUNT: 3\n",
    )
    .unwrap();

    let r = run(env.cmd().args(["validate", "repo"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    for skipped in [
        "repo/addons.lock.yaml`: the addons lock file",
        "repo/clouds.yaml`: an OpenStack clouds.yaml",
        "repo/out/cluster-template.yaml`: Kubernetes manifests",
        "repo/out/demo-config.yaml`: Kubernetes manifests",
        "repo/out/clusterctl.yaml`: a clusterctl.yaml",
        "repo/r4-clusterctl.yaml`: a clusterctl.yaml",
    ] {
        assert!(r.stderr.contains(skipped), "{skipped}\n{}", r.stderr);
    }
    assert!(
        r.stderr
            .contains("checked 1 file(s), skipped 6 other file(s): 0 error(s)"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("marker-s3cret"), "{}", r.stderr);

    let r = run(env.cmd().args(["validate", "--output", "json", "repo"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let report: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(report["files"], 1);
    assert_eq!(report["skipped"].as_array().map(Vec::len), Some(6));
    // A settings file with mistakes is still checked, whatever else lies around it.
    std::fs::write(
        repo.join("typo.yaml"),
        "cluster_name: t\nworker_flavour: x\n",
    )
    .unwrap();
    let r = run(env.cmd().args(["validate", "repo"]));
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("unknown key `worker_flavour`"),
        "{}",
        r.stderr
    );
}

/// Issue 11, item 4: `validate` resolves the defaults layer by the rule `render` and
/// `create-cluster` use, so they agree on whether a cluster file is valid.
#[test]
fn validate_and_render_resolve_the_defaults_layer_alike() {
    let env = Env::new();
    let repo = env.path("repo");
    std::fs::create_dir_all(&repo).unwrap();
    std::fs::create_dir_all(env.path("config/scs-capi")).unwrap();
    std::fs::write(env.path("config/scs-capi/defaults.yaml"), "prefix: xdg\n").unwrap();
    // Valid on its own and with the XDG defaults; too long a name with the repo's prefix.
    std::fs::write(
        repo.join("defaults.yaml"),
        format!("prefix: {}\n", "p".repeat(30)),
    )
    .unwrap();
    std::fs::write(
        repo.join("c.yaml"),
        format!("cluster_name: {}\n", "c".repeat(14)),
    )
    .unwrap();
    let code = |args: &[&str]| run(env.cmd().args(args)).code;
    // Without --defaults both use $XDG_CONFIG_HOME/scs-capi/defaults.yaml ...
    assert_eq!(code(&["render", "-f", "repo/c.yaml"]), 0);
    let r = run(env.cmd().args(["validate", "repo"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("not used for the cluster files: they were checked with the defaults in use"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("pass `--defaults repo/defaults.yaml`"),
        "{}",
        r.stderr
    );
    // ... and with it, both use the repository's file.
    let with = ["--defaults", "repo/defaults.yaml"];
    assert_eq!(
        code(&[&["render", "-f", "repo/c.yaml"][..], &with].concat()),
        1
    );
    let r = run(env.cmd().args(["validate", "repo"]).args(with));
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("worker machine names would be"),
        "{}",
        r.stderr
    );
    assert!(
        !r.stderr.contains("not used for the cluster files"),
        "{}",
        r.stderr
    );
}

/// Issue 11, item 8: a reader that stops early (`completions zsh | head`, `render | head`)
/// ends the command quietly with success, not with a panic or "Broken pipe".
#[test]
fn a_closed_pipe_ends_quietly() {
    let env = Env::new();
    for args in [
        &["completions", "zsh"][..],
        &["completions", "bash"],
        &["man"],
        &["schema"],
        &["settings", "init"],
        &["render", "--example"],
        &["render", "--example", "--explain"],
    ] {
        let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("scs-capi"))
            .args(args)
            .current_dir(env.dir.path())
            .env("HOME", env.dir.path())
            .env("XDG_CONFIG_HOME", env.path("config"))
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // Close the read end before the command writes anything.
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {stderr}");
        assert!(
            !stderr.contains("panicked") && !stderr.to_lowercase().contains("broken pipe"),
            "{args:?}: {stderr}"
        );
    }
}

/// Issue 11, item 8: bash completes the options of a subcommand (clap_complete spells the
/// state of a hyphenated binary's subcommands two ways, clap-rs/clap#6421).
#[test]
fn bash_completion_completes_after_the_subcommand() {
    let env = Env::new();
    let r = run(env.cmd().args(["completions", "bash"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    std::fs::write(env.path("scs-capi.bash"), &r.stdout).unwrap();
    let script = r#"
source ./scs-capi.bash
complete_words() {
    COMP_WORDS=("$@"); COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))
    COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}; COMPREPLY=()
    _scs__capi scs-capi "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
    echo "${COMPREPLY[*]}"
}
complete_words scs-capi cre
complete_words scs-capi create-cluster --dr
complete_words scs-capi render --prof
complete_words scs-capi mgmt in
complete_words scs-capi mgmt init --dry
"#;
    let out = std::process::Command::new("bash")
        .arg("-c")
        .arg(script)
        .current_dir(env.dir.path())
        .output()
        .expect("bash runs");
    let lines: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(
        lines,
        [
            "create-cluster",
            "--dry-run",
            "--profile",
            "init",
            "--dry-run"
        ],
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Issue 11, item 8: `--version` names the commit and what the build pins.
#[test]
fn version_names_the_commit_and_the_pinned_versions() {
    let env = Env::new();
    let r = run(env.cmd().arg("--version"));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let first = r.stdout.lines().next().unwrap_or_default();
    assert_eq!(
        first,
        format!(
            "scs-capi {} (commit {})",
            env!("CARGO_PKG_VERSION"),
            scs_capi::version::COMMIT
        )
    );
    if let Ok(out) = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        && out.status.success()
    {
        assert_eq!(
            scs_capi::version::COMMIT,
            String::from_utf8_lossy(&out.stdout).trim(),
            "built from another commit than the checkout's HEAD"
        );
    }
    for part in [
        "Cluster API v1.14.0, CAPO v0.14.7",
        "Cluster API v1.3.5, CAPO v0.7.1",
        "(default v1.33.3), calico v3.31.7",
        "cilium v1.13.0 up to v1.26",
        "metrics-server v0.7.2",
        "ORC v2.4.0",
    ] {
        assert!(r.stdout.contains(part), "`{part}` missing:\n{}", r.stdout);
    }
    let short = run(env.cmd().arg("-V"));
    assert_eq!(short.stdout.trim(), first);
}

/// Issue 11, item 8: `settings init -o json` (as `--output json` elsewhere) does not write a
/// file named `json`.
#[test]
fn settings_init_out_must_be_a_yaml_file() {
    let env = Env::new();
    for name in ["json", "text", "demo"] {
        let r = run(env.cmd().args(["settings", "init", "-o", name]));
        assert_eq!(r.code, 2, "{name}: {}", r.stderr);
        assert!(
            r.stderr.contains("end in `.yaml` or `.yml`"),
            "{}",
            r.stderr
        );
        assert!(!env.path(name).exists(), "{name} was written");
    }
    let r = run(env.cmd().args(["settings", "init", "-o", "demo.yaml"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(env.path("demo.yaml").is_file());
}

/// Issue 11, item 8: every command's `--help` ends with examples, and each example is a
/// command line the parser accepts (so the examples cannot go stale).
#[test]
fn help_examples_parse_and_every_command_has_some() {
    use clap::{CommandFactory, Parser};
    fn walk(cmd: &clap::Command, path: &mut Vec<String>, found: &mut Vec<(String, String)>) {
        let name = path.join(" ");
        let is_leaf = !cmd.has_subcommands();
        let help = cmd
            .get_after_help()
            .map(|h| h.to_string())
            .unwrap_or_default();
        let examples: Vec<String> = help
            .lines()
            .filter_map(|l| l.trim_start().strip_prefix("scs-capi "))
            .map(|l| {
                l.split(" #")
                    .next()
                    .unwrap_or(l)
                    .split(" > ")
                    .next()
                    .unwrap_or(l)
                    .to_string()
            })
            .collect();
        if is_leaf && !["man", "help"].contains(&cmd.get_name()) {
            assert!(!examples.is_empty(), "`{name}` has no examples in --help");
        }
        found.extend(examples.into_iter().map(|e| (name.clone(), e)));
        for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
            path.push(sub.get_name().to_string());
            walk(sub, path, found);
            path.pop();
        }
    }
    let mut found = Vec::new();
    walk(
        &scs_capi::cli::Cli::command(),
        &mut vec!["scs-capi".into()],
        &mut found,
    );
    assert!(found.len() > 20, "{found:?}");
    for (owner, example) in &found {
        let words = std::iter::once("scs-capi").chain(example.split_whitespace());
        if let Err(e) = scs_capi::cli::Cli::try_parse_from(words) {
            panic!("example `scs-capi {example}` in `{owner} --help` does not parse:\n{e}");
        }
    }
    // The top-level examples follow the workflow.
    let top: Vec<&str> = found
        .iter()
        .filter(|(o, _)| o == "scs-capi")
        .filter_map(|(_, e)| e.split_whitespace().next())
        .collect();
    assert_eq!(
        top,
        [
            "settings",
            "validate",
            "render",
            "mgmt",
            "prepare-cloud",
            "create-cluster",
            "get-kubeconfig",
            "upgrade-cluster",
            "delete-cluster"
        ]
    );
}
