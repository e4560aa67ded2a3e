//! Issue 13 (secrets, state, concurrency), through the binary.
//!
//! H1: secrets never reach the terminal when a file that holds them is broken: every YAML
//! entry point that may read a password or token is run with a marker secret on the broken
//! line, and the marker must appear in neither stdout nor stderr, while the file and the
//! line are still named.
//!
//! M8: the workload kubeconfig from the management cluster is not trusted wholesale, and
//! `get-kubeconfig --merge` leaves other clusters' entries, symlinks and comments alone (or
//! says so).

mod support;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use assert_cmd::Command;
use base64::Engine as _;
use fake_kube::Fake;
use serde_json::json;
use support::cloud::text;

const MARKER: &str = "hunter2-MARKER-9f3a";

/// The broken lines a user writes around a secret: an unclosed quote, `: ` inside an
/// unquoted value, a quoted value followed by `#` without a space, an unclosed flow list.
fn broken_values() -> Vec<(&'static str, String)> {
    vec![
        ("unclosed double quote", format!("\"{MARKER}")),
        ("unclosed single quote", format!("'{MARKER}")),
        ("colon-space inside", format!("{MARKER}: tail")),
        ("quote then hash", format!("'{MARKER}'#tail")),
        ("unclosed flow list", format!("[{MARKER}")),
    ]
}

fn base(dir: &Path) -> Command {
    let home = dir.join("home");
    std::fs::create_dir_all(&home).unwrap();
    let mut cmd = Command::cargo_bin("scs-capi").unwrap();
    cmd.current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", &home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env("XDG_STATE_HOME", home.join(".local/state"))
        .env("NO_COLOR", "1")
        .timeout(Duration::from_secs(60));
    cmd
}

fn assert_redacted(case: &str, o: &Output, file: &str) {
    let all = text(o);
    assert!(!o.status.success(), "{case}: succeeded\n{all}");
    assert!(
        !all.contains(MARKER),
        "{case}: the secret is printed\n{all}"
    );
    // Nothing of the marker either (a snippet could cut it).
    assert!(
        !all.contains("hunter2"),
        "{case}: part of the secret\n{all}"
    );
    assert!(all.contains(file), "{case}: the file is not named\n{all}");
    let numbered = |prefix: &str| {
        all.match_indices(prefix)
            .any(|(i, _)| all[i + prefix.len()..].starts_with(|c: char| c.is_ascii_digit()))
    };
    assert!(
        numbered("line ") || numbered(&format!("{file}:")),
        "{case}: no line\n{all}"
    );
}

/// As [`assert_redacted`] for well-formed YAML of the wrong shape, which some entry points
/// read as a plain value first: it fails, names the file and does not quote the secret.
fn assert_quiet(case: &str, o: &Output, file: &str) {
    let all = text(o);
    assert!(!o.status.success(), "{case}: succeeded\n{all}");
    assert!(
        !all.contains("hunter2"),
        "{case}: the secret is printed\n{all}"
    );
    assert!(all.contains(file), "{case}: the file is not named\n{all}");
}

const CLOUDS_OK: &str = "clouds:\n  fake:\n    auth_type: password\n    auth:\n      auth_url: http://127.0.0.1:1/v3\n      username: u\n      project_name: p\n      user_domain_name: Default\n      project_domain_name: Default\n";

fn cleanup_dry_run(dir: &Path) -> Command {
    let mut c = base(dir);
    std::fs::write(
        dir.join("cluster.yaml"),
        "cluster_name: foo
",
    )
    .unwrap();
    c.args([
        "cleanup",
        "--file",
        "cluster.yaml",
        "--os-cloud",
        "fake",
        "--dry-run",
    ]);
    c
}

#[test]
fn clouds_yaml_secure_yaml_and_clouds_json() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for (what, value) in broken_values() {
        let clouds = d.join("clouds.yaml");
        std::fs::write(&clouds, format!("{CLOUDS_OK}      password: {value}\n")).unwrap();
        let o = cleanup_dry_run(d)
            .env("OS_CLIENT_CONFIG_FILE", &clouds)
            .output()
            .unwrap();
        assert_redacted(&format!("clouds.yaml, {what}"), &o, "clouds.yaml");

        let clouds = d.join("ok-clouds.yaml");
        std::fs::write(&clouds, CLOUDS_OK).unwrap();
        let secure = d.join("secure.yaml");
        std::fs::write(
            &secure,
            format!("clouds:\n  fake:\n    auth:\n      password: {value}\n"),
        )
        .unwrap();
        let o = cleanup_dry_run(d)
            .env("OS_CLIENT_CONFIG_FILE", &clouds)
            .env("OS_CLIENT_SECURE_FILE", &secure)
            .output()
            .unwrap();
        assert_redacted(&format!("secure.yaml, {what}"), &o, "secure.yaml");
    }
    let json = d.join("clouds.json");
    std::fs::write(
        &json,
        format!("{{\"clouds\": {{\"fake\": {{\"auth\": {{\"password\": \"{MARKER}\n}}}}}}"),
    )
    .unwrap();
    let o = cleanup_dry_run(d)
        .env("OS_CLIENT_CONFIG_FILE", &json)
        .output()
        .unwrap();
    assert_redacted("clouds.json, unclosed string", &o, "clouds.json");
}

/// A kubeconfig whose token line is `token: <value>`.
fn kubeconfig_with_token(server: &str, token_value: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: m\n  cluster: {{server: '{server}'}}\n\
         contexts:\n- name: m\n  context: {{cluster: m, user: m}}\ncurrent-context: m\n\
         users:\n- name: m\n  user:\n    token: {token_value}\n"
    )
}

/// Broken kubeconfigs, and whether the YAML itself is broken (else it is well-formed YAML
/// of the wrong shape, for which serde quotes the scalar: `invalid type: string "..."`).
fn kubeconfig_cases() -> Vec<(String, String, bool)> {
    let mut cases: Vec<(String, String, bool)> = broken_values()
        .into_iter()
        .map(|(what, v)| {
            (
                what.to_string(),
                kubeconfig_with_token("https://127.0.0.1:1", &v),
                true,
            )
        })
        .collect();
    cases.push((
        "a secret where a list belongs".into(),
        format!("apiVersion: v1\nkind: Config\nclusters: {MARKER}\n"),
        false,
    ));
    cases
}

fn check(syntax: bool, case: &str, o: &Output, file: &str) {
    if syntax {
        assert_redacted(case, o, file);
    } else {
        assert_quiet(case, o, file);
    }
}

#[test]
fn the_management_kubeconfig_by_flag_and_by_environment() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for (what, body, syntax) in kubeconfig_cases() {
        let kc = d.join("mgmt.kubeconfig");
        std::fs::write(&kc, &body).unwrap();
        let o = base(d)
            .args(["get-kubeconfig", "foo", "--kubeconfig"])
            .arg(&kc)
            .output()
            .unwrap();
        check(
            syntax,
            &format!("--kubeconfig, {what}"),
            &o,
            "mgmt.kubeconfig",
        );

        let other = d.join("first.kubeconfig");
        std::fs::write(&other, "apiVersion: v1\nkind: Config\n").unwrap();
        let list = std::env::join_paths([other.as_path(), kc.as_path()]).unwrap();
        let o = base(d)
            .args(["get-kubeconfig", "foo"])
            .env("KUBECONFIG", &list)
            .output()
            .unwrap();
        check(
            syntax,
            &format!("KUBECONFIG, {what}"),
            &o,
            "mgmt.kubeconfig",
        );
    }
}

/// A management cluster (plain API server) holding `foo`'s kubeconfig Secret with `text`.
fn mgmt_with_workload_kubeconfig(dir: &Path, text: &str) -> (Fake, fake_kube::Running, PathBuf) {
    let fake = Fake::builder().without_controller().build().unwrap();
    let running = fake.serve_in_background(0).unwrap();
    let path = dir.join("mgmt.kubeconfig");
    fake.write_kubeconfig(&path).unwrap();
    let value = base64::engine::general_purpose::STANDARD.encode(text);
    fake.put(json!({"apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "foo-kubeconfig", "namespace": "default"},
        "data": {"value": value}}))
        .unwrap();
    (fake, running, path)
}

#[test]
fn the_workload_kubeconfig_from_the_management_cluster() {
    for (what, body, syntax) in kubeconfig_cases() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let (_fake, _running, mgmt) = mgmt_with_workload_kubeconfig(d, &body);
        let o = base(d)
            .args(["get-kubeconfig", "foo", "--kubeconfig"])
            .arg(&mgmt)
            .output()
            .unwrap();
        check(syntax, &format!("workload, {what}"), &o, "foo-kubeconfig");
    }
}

#[test]
fn the_users_kubeconfig_in_get_kubeconfig_merge() {
    let good = "apiVersion: v1\nkind: Config\nclusters:\n- name: foo\n  cluster: {server: 'https://1.2.3.4:6443'}\n\
        contexts:\n- name: foo-admin@foo\n  context: {cluster: foo, user: foo-admin}\ncurrent-context: foo-admin@foo\n\
        users:\n- name: foo-admin\n  user: {token: t2}\n";
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (_fake, _running, mgmt) = mgmt_with_workload_kubeconfig(d, good);
    for (what, body, syntax) in kubeconfig_cases() {
        let user = d.join("user.kubeconfig");
        std::fs::write(&user, &body).unwrap();
        let o = base(d)
            .args(["get-kubeconfig", "foo", "--merge", "--kubeconfig"])
            .arg(&mgmt)
            .env("KUBECONFIG", &user)
            .output()
            .unwrap();
        check(syntax, &format!("--merge, {what}"), &o, "user.kubeconfig");
        assert_eq!(
            std::fs::read_to_string(&user).unwrap(),
            body,
            "{what}: the broken file is left alone"
        );
    }
}

#[test]
fn settings_files_and_r4_imports() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for (what, value) in broken_values() {
        let f = d.join("cluster.yaml");
        std::fs::write(&f, format!("cluster_name: foo\ncloud_provider: {value}\n")).unwrap();
        let o = base(d).arg("validate").arg(&f).output().unwrap();
        assert_redacted(&format!("settings, {what}"), &o, "cluster.yaml");

        // R4's clusterctl.yaml carries the clouds.yaml (password included) in base64.
        let f = d.join("clusterctl.yaml");
        std::fs::write(
            &f,
            format!("CLUSTER_NAME: foo\nOPENSTACK_CLOUD_YAML_B64: {value}\n"),
        )
        .unwrap();
        let o = base(d)
            .args(["settings", "import"])
            .arg(&f)
            .output()
            .unwrap();
        assert_redacted(&format!("settings import, {what}"), &o, "clusterctl.yaml");
    }
}

// ------------------------------------------------------------------------------- M8

const GOOD_WORKLOAD: &str = "apiVersion: v1\nkind: Config\nclusters:\n- name: foo\n  cluster: {server: 'https://1.2.3.4:6443'}\n\
    contexts:\n- name: foo-admin@foo\n  context: {cluster: foo, user: foo-admin}\ncurrent-context: foo-admin@foo\n\
    users:\n- name: foo-admin\n  user: {client-certificate-data: Y2VydA==, client-key-data: a2V5}\n";

fn get_kubeconfig(d: &Path, mgmt: &Path, user: &Path, merge: bool) -> Output {
    let mut c = base(d);
    c.args(["get-kubeconfig", "foo", "--kubeconfig"]).arg(mgmt);
    if merge {
        c.arg("--merge");
    }
    c.env("KUBECONFIG", user).output().unwrap()
}

fn state_kubeconfig(d: &Path) -> PathBuf {
    d.join("home/.local/state/scs-capi/foo/kubeconfig")
}

#[test]
fn a_workload_kubeconfig_that_runs_programs_is_refused() {
    for user in [
        "exec: {apiVersion: client.authentication.k8s.io/v1, command: /bin/sh, args: ['-c', 'touch /tmp/pwned']}",
        "auth-provider: {name: oidc, config: {idp-issuer-url: 'https://x'}}",
        "tokenFile: /etc/shadow",
    ] {
        let body = GOOD_WORKLOAD.replace(
            "{client-certificate-data: Y2VydA==, client-key-data: a2V5}",
            &format!("{{{user}}}"),
        );
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let (_fake, _running, mgmt) = mgmt_with_workload_kubeconfig(d, &body);
        let user_kc = d.join("user.kubeconfig");
        let o = get_kubeconfig(d, &mgmt, &user_kc, true);
        assert_eq!(o.status.code(), Some(2), "{user}\n{}", text(&o));
        let key = user.split(':').next().unwrap();
        assert!(
            text(&o).contains(&format!("`{key}`")),
            "{user}\n{}",
            text(&o)
        );
        assert!(!state_kubeconfig(d).exists(), "{user}: saved anyway");
        assert!(!user_kc.exists(), "{user}: merged anyway");
    }
}

#[test]
fn merge_refuses_to_repoint_another_clusters_entries() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (_fake, _running, mgmt) = mgmt_with_workload_kubeconfig(d, GOOD_WORKLOAD);
    // Another management cluster's `foo`: same names, another server.
    let other = "apiVersion: v1\nkind: Config\nclusters:\n- name: foo\n  cluster: {server: 'https://9.9.9.9:6443'}\n\
        contexts:\n- name: foo-admin@foo\n  context: {cluster: foo, user: foo-admin}\ncurrent-context: foo-admin@foo\n\
        users:\n- name: foo-admin\n  user: {token: other-token}\n";
    let user_kc = d.join("user.kubeconfig");
    std::fs::write(&user_kc, other).unwrap();
    let o = get_kubeconfig(d, &mgmt, &user_kc, true);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("https://9.9.9.9:6443"), "{}", text(&o));
    assert!(!text(&o).contains("other-token"), "{}", text(&o));
    assert_eq!(std::fs::read_to_string(&user_kc).unwrap(), other);

    // The same cluster again (same server): its entries are replaced.
    let same = other.replace("https://9.9.9.9:6443", "https://1.2.3.4:6443");
    std::fs::write(&user_kc, &same).unwrap();
    let o = get_kubeconfig(d, &mgmt, &user_kc, true);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let merged = std::fs::read_to_string(&user_kc).unwrap();
    assert!(!merged.contains("other-token"), "{merged}");
    assert!(merged.contains("Y2VydA=="), "{merged}");
}

#[test]
fn merge_keeps_a_symlink_and_warns_about_dropped_comments() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (_fake, _running, mgmt) = mgmt_with_workload_kubeconfig(d, GOOD_WORKLOAD);
    let real = d.join("dotfiles/kubeconfig");
    std::fs::create_dir_all(real.parent().unwrap()).unwrap();
    std::fs::write(
        &real,
        "# my clusters\napiVersion: v1\nkind: Config\nclusters:\n- name: other\n  cluster: {server: 'https://9.9.9.9'}\n",
    )
    .unwrap();
    let link = d.join("user.kubeconfig");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let o = get_kubeconfig(d, &mgmt, &link, true);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink(),
        "the symlink was replaced by a file"
    );
    let merged = std::fs::read_to_string(&real).unwrap();
    assert!(
        merged.contains("other") && merged.contains("foo-admin@foo"),
        "{merged}"
    );
    assert_eq!(
        std::fs::metadata(&real).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("comments") && err.contains("not kept"),
        "{err}"
    );

    // Without comments, no warning.
    let o = get_kubeconfig(d, &mgmt, &link, true);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        !String::from_utf8_lossy(&o.stderr).contains("comments"),
        "{}",
        text(&o)
    );
}

// ------------------------------------------------------------------------------- M4

/// The addon inventory lists a labelled Deployment (the addon's), an unlabelled one, a
/// Namespace and a CRD with the addon's label: removal deletes only the first.
#[test]
fn addon_removal_deletes_only_labelled_objects_and_never_namespaces_or_crds() {
    use scs_capi::addons::Desired;
    use scs_capi::lifecycle::addons_apply::{Request, apply};
    use scs_capi::mgmt::client::{Origin, client, select};

    let fake = Fake::builder().without_controller().build().unwrap();
    let _running = fake.serve_in_background(0).unwrap();
    let labelled = json!({"addons.scs-capi.io/name": "metrics-server"});
    let deployment = |name: &str, labels: &serde_json::Value| {
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": "kube-system", "labels": labels},
            "spec": {"selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "c", "image": "x"}]}}}})
    };
    fake.put(deployment("metrics-server", &labelled)).unwrap();
    fake.put(deployment("coredns", &json!({}))).unwrap();
    fake.put(json!({"apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": "tenant-a", "labels": labelled}}))
        .unwrap();
    fake.put(json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com", "labels": labelled},
        "spec": {"group": "example.com", "scope": "Namespaced",
                 "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "listKind": "WidgetList"},
                 "versions": [{"name": "v1", "served": true, "storage": true,
                               "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]}}))
        .unwrap();
    // What someone with write access to kube-system's ConfigMaps put into the inventory.
    let recorded = [
        "apps/v1|Deployment|kube-system|metrics-server",
        "apps/v1|Deployment|kube-system|coredns",
        "v1|Namespace||tenant-a",
        "apiextensions.k8s.io/v1|CustomResourceDefinition||widgets.example.com",
    ]
    .join("\n");
    fake.put(json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "scs-capi-addons", "namespace": "kube-system"},
        "data": {"metrics-server": recorded}}))
        .unwrap();

    let kc = scs_capi::secret_yaml::kubeconfig(&fake.kubeconfig().unwrap()).unwrap();
    let loaded = select(kc, Origin::Memory, None).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let kube = rt.block_on(client(&loaded)).unwrap();
    let runner = scs_capi::mgmt::runner::ScriptedRunner::new();
    let desired = Desired {
        install: vec![],
        remove: vec![],
    };
    let dir = tempfile::tempdir().unwrap();
    let req = Request {
        desired: &desired,
        built: &[],
        kubeconfig_file: &dir.path().join("kubeconfig"),
        runner: &runner,
        crd_timeout: Duration::from_secs(5),
    };
    let results = rt
        .block_on(apply(
            &kube,
            &loaded.server,
            &req,
            &scs_capi::ui::SilentProgress,
        ))
        .unwrap();

    assert!(
        fake.get("apps/v1", "Deployment", "kube-system", "metrics-server")
            .is_none(),
        "the addon's labelled object is removed"
    );
    assert!(
        fake.get("apps/v1", "Deployment", "kube-system", "coredns")
            .is_some(),
        "an object without the addon's label is kept"
    );
    assert!(
        fake.get("v1", "Namespace", "", "tenant-a").is_some(),
        "Namespace kept"
    );
    assert!(
        fake.get(
            "apiextensions.k8s.io/v1",
            "CustomResourceDefinition",
            "",
            "widgets.example.com"
        )
        .is_some(),
        "CRD kept"
    );
    let r = results
        .iter()
        .find(|r| r.addon == "metrics-server")
        .unwrap();
    assert_eq!(r.action, "removed 1 objects, kept 3", "{results:?}");
}

// ------------------------------------------------------------------------------ Low

#[test]
fn get_kubeconfig_refuses_a_name_that_leaves_the_state_directory() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let o = base(d)
        .args(["get-kubeconfig", "../../x", "--kubeconfig"])
        .arg(d.join("nowhere"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("the name may only contain"),
        "{}",
        text(&o)
    );
}

#[test]
fn min_db_size_mib_is_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let f = d.join("cluster.yaml");
    std::fs::write(
        &f,
        "cluster_name: foo\netcd_defrag:\n  min_db_size_mib: 99999999999\n",
    )
    .unwrap();
    let o = base(d).arg("validate").arg(&f).output().unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("etcd_defrag.min_db_size_mib"),
        "{}",
        text(&o)
    );
}

// ------------------------------------------------------------------------------- M3

/// While one run holds cluster `foo` (the test holds the lock as a run would), the
/// commands that change it refuse before touching anything, naming the holder.
#[test]
fn a_second_run_on_the_same_cluster_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let state = d.join("home/.local/state/scs-capi/foo");
    let held = scs_capi::state_lock::acquire_in(&state, "foo", "create-cluster").unwrap();
    let clouds = d.join("clouds.yaml");
    std::fs::write(&clouds, format!("{CLOUDS_OK}      password: x\n")).unwrap();
    std::fs::write(d.join("cluster.yaml"), "cluster_name: foo\n").unwrap();
    for args in [
        &[
            "delete-cluster",
            "--file",
            "cluster.yaml",
            "--os-cloud",
            "fake",
            "--yes",
        ][..],
        &["cleanup", "--file", "cluster.yaml", "--os-cloud", "fake"][..],
    ] {
        let o = base(d)
            .args(args)
            .env("OS_CLIENT_CONFIG_FILE", &clouds)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(2), "{args:?}\n{}", text(&o));
        assert!(
            text(&o).contains("`scs-capi create-cluster`, pid")
                && text(&o).contains("cluster `foo`"),
            "{args:?}\n{}",
            text(&o)
        );
    }
    drop(held);
}
