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
        .arg(fixtures().join("r4/clusterctl.yaml")));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains("`OPENSTACK_SRVGRP_WORKER` not imported"),
        "{}",
        r.stderr
    );
    let text = std::fs::read_to_string(env.path("testcluster.yaml")).unwrap();
    assert!(text.contains("use_cilium: v1.13.0"));
    assert!(r.stderr.contains("dropped `none`"), "{}", r.stderr);
    let r = run(env.cmd().args([
        "render",
        "-f",
        "testcluster.yaml",
        "--mgmt-cidr",
        "192.0.2.9/32",
    ]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("capi-testcluster-control-plane-genc01"));
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
