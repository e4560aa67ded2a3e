//! Cloud configuration and authentication, against the references:
//! - a table of `clouds.yaml`/`secure.yaml`/`clouds-public.yaml`/`OS_*` scenarios resolved by
//!   our resolver and by Python openstacksdk (`tests/conformance/config_resolve.py`, run with
//!   the test venv; missing venv = failure, never a skip), compared field by field;
//! - a real Keystone (`scripts/keystone-local.sh`, free port, temp dir) for password and
//!   application-credential auth, the restricted per-cluster credential, catalog lookups and
//!   the error cases.
//!
//! Everything runs inside one `#[test]`: it points `HOME` at a temp dir (to check that no
//! token lands in `~/.osc`), which is only sound while no other test thread reads the
//! environment. Keystone starts in the background while the conformance table runs.

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use scs_capi::cloud::config::{AuthType, Env, ResolvedCloud, resolve_with};
use scs_capi::cloud::{CloudErrorKind, Session};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use support::keystone::{DEMO_PW, Keystone, free_port, repo, venv_python};

// ---------------------------------------------------------------------------------------
// Conformance table
// ---------------------------------------------------------------------------------------

struct Scenario {
    name: &'static str,
    /// (path relative to the scenario dir, content); `home/` is `$HOME`, `cwd/` the cwd.
    files: Vec<(&'static str, &'static str)>,
    env: Vec<(&'static str, &'static str)>,
    cloud: Option<&'static str>,
}

fn sc(
    name: &'static str,
    files: &[(&'static str, &'static str)],
    env: &[(&'static str, &'static str)],
    cloud: Option<&'static str>,
) -> Scenario {
    Scenario {
        name,
        files: files.to_vec(),
        env: env.to_vec(),
        cloud,
    }
}

const PW_CLOUD: &str = "clouds:
  pw:
    auth:
      auth_url: https://keystone.example:5000/v3
      username: alice
      password: pw-from-clouds
      project_name: proj
      user_domain_name: Default
      project_domain_name: Default
    region_name: RegionOne
";

fn scenarios() -> Vec<Scenario> {
    vec![
        sc(
            "cwd clouds.yaml with OS_CLOUD",
            &[("cwd/clouds.yaml", PW_CLOUD)],
            &[("OS_CLOUD", "pw")],
            None,
        ),
        sc(
            "secure.yaml supplies the password",
            &[
                (
                    "home/.config/openstack/clouds.yaml",
                    "clouds:\n  pw:\n    auth:\n      auth_url: https://k/v3\n      username: alice\n      project_id: p-1\n      user_domain_id: default\n    interface: internal\n",
                ),
                (
                    "home/.config/openstack/secure.yaml",
                    "clouds:\n  pw:\n    auth:\n      password: pw-from-secure\n",
                ),
            ],
            &[],
            Some("pw"),
        ),
        sc(
            "secure.yaml overrides clouds.yaml",
            &[
                ("cwd/clouds.yaml", PW_CLOUD),
                (
                    "cwd/secure.yaml",
                    "clouds:\n  pw:\n    auth:\n      password: pw-from-secure\n    region_name: RegionTwo\n",
                ),
            ],
            &[],
            Some("pw"),
        ),
        sc(
            "a cloud name with dashes is looked up as written",
            &[(
                "cwd/clouds.yaml",
                "clouds:\n  gx-scs:\n    auth:\n      auth-url: https://k/v3\n      username: alice\n      password: pw\n      project-id: p-1\n      user-domain-id: default\n    region-name: RegionOne\n  gx_scs:\n    auth:\n      auth_url: https://other/v3\n      username: mallory\n      password: x\n",
            )],
            &[],
            Some("gx-scs"),
        ),
        sc(
            "cwd beats ~/.config",
            &[
                ("cwd/clouds.yaml", PW_CLOUD),
                (
                    "home/.config/openstack/clouds.yaml",
                    "clouds:\n  pw:\n    auth:\n      auth_url: https://home/v3\n      username: bob\n      password: x\n",
                ),
            ],
            &[],
            Some("pw"),
        ),
        sc(
            "OS_CLIENT_CONFIG_FILE beats cwd",
            &[
                ("cwd/clouds.yaml", PW_CLOUD),
                (
                    "elsewhere/my-clouds.yaml",
                    "clouds:\n  pw:\n    auth:\n      auth_url: https://override/v3\n      username: carol\n      password: y\n      project_name: p\n",
                ),
            ],
            &[("OS_CLIENT_CONFIG_FILE", "@/elsewhere/my-clouds.yaml")],
            Some("pw"),
        ),
        sc(
            "XDG_CONFIG_HOME beats ~/.config",
            &[
                (
                    "xdg/openstack/clouds.yaml",
                    "clouds:\n  pw:\n    auth:\n      auth_url: https://xdg/v3\n      username: dave\n      password: z\n",
                ),
                ("home/.config/openstack/clouds.yaml", PW_CLOUD),
            ],
            &[("XDG_CONFIG_HOME", "@/xdg")],
            Some("pw"),
        ),
        sc(
            "profile from clouds-public.yaml",
            &[
                (
                    "home/.config/openstack/clouds-public.yaml",
                    "public-clouds:\n  scs:\n    auth:\n      auth_url: https://scs.example/v3\n      user_domain_name: d1\n    region_name: RegionP\n    interface: internal\n",
                ),
                (
                    "cwd/clouds.yaml",
                    "clouds:\n  mine:\n    profile: scs\n    auth:\n      username: erin\n      password: pw\n      project_name: proj\n      project_domain_name: d2\n",
                ),
            ],
            &[],
            None,
        ),
        sc(
            "profile via old cloud key, cloud overrides region",
            &[
                (
                    "cwd/clouds-public.yaml",
                    "public-clouds:\n  scs:\n    auth:\n      auth_url: https://scs.example/v3\n    regions: [r1, r2]\n",
                ),
                (
                    "cwd/clouds.yaml",
                    "clouds:\n  mine:\n    cloud: scs\n    region_name: r9\n    auth:\n      username: erin\n      password: pw\n      domain_name: shared\n      project_name: proj\n",
                ),
            ],
            &[],
            Some("mine"),
        ),
        sc(
            "application credential by id",
            &[(
                "cwd/clouds.yaml",
                "clouds:\n  ac:\n    auth_type: v3applicationcredential\n    auth:\n      auth_url: https://k/v3\n      application_credential_id: ac-id-1\n      application_credential_secret: ac-secret\n    region_name: RegionOne\n",
            )],
            &[],
            Some("ac"),
        ),
        sc(
            "application credential by name",
            &[(
                "cwd/clouds.yaml",
                "clouds:\n  ac:\n    auth_type: v3applicationcredential\n    auth:\n      auth_url: https://k/v3\n      application_credential_name: capi\n      application_credential_secret: ac-secret\n      username: alice\n      user_domain_name: Default\n",
            )],
            &[],
            Some("ac"),
        ),
        sc(
            "token",
            &[(
                "cwd/clouds.yaml",
                "clouds:\n  t:\n    auth_type: token\n    auth:\n      auth_url: https://k/v3\n      token: gAAAAtoken\n      project_id: p-2\n",
            )],
            &[],
            Some("t"),
        ),
        sc(
            "verify false drops cacert",
            &[(
                "cwd/clouds.yaml",
                "clouds:\n  v:\n    verify: false\n    cacert: /etc/ssl/ca.pem\n    auth:\n      auth_url: https://k/v3\n      username: u\n      password: p\n",
            )],
            &[],
            Some("v"),
        ),
        sc(
            "cacert with tilde",
            &[(
                "cwd/clouds.yaml",
                "clouds:\n  v:\n    cacert: ~/ca.pem\n    auth:\n      auth_url: https://k/v3\n      username: u\n      password: p\n",
            )],
            &[],
            Some("v"),
        ),
        sc(
            "insecure true beats verify",
            &[(
                "cwd/clouds.yaml",
                "clouds:\n  v:\n    insecure: true\n    verify: true\n    auth:\n      auth_url: https://k/v3\n      username: u\n      password: p\n",
            )],
            &[],
            Some("v"),
        ),
        sc(
            "regions with values",
            &[(
                "cwd/clouds.yaml",
                "clouds:\n  r:\n    regions:\n      - name: north\n        values:\n          interface: internal\n      - south\n    auth:\n      auth_url: https://k/v3\n      username: u\n      password: p\n",
            )],
            &[],
            Some("r"),
        ),
        sc(
            "comma separated region_name",
            &[(
                "cwd/clouds.yaml",
                "clouds:\n  r:\n    region_name: east,west\n    auth:\n      auth_url: https://k/v3\n      username: u\n      password: p\n",
            )],
            &[],
            Some("r"),
        ),
        sc(
            "aliases: tenant_name, dashes, auth_plugin, endpoint_type",
            &[(
                "cwd/clouds.yaml",
                "clouds:\n  a:\n    auth_plugin: password\n    endpoint_type: admin\n    auth:\n      auth-url: https://k/v3\n      username: u\n      password: p\n      tenant-name: legacy\n      user-domain-name: Default\n",
            )],
            &[],
            Some("a"),
        ),
        sc(
            "plain OS_* variables",
            &[],
            &[
                ("OS_AUTH_URL", "https://env.example/v3"),
                ("OS_USERNAME", "envuser"),
                ("OS_PASSWORD", "envpw"),
                ("OS_PROJECT_NAME", "envproj"),
                ("OS_USER_DOMAIN_NAME", "Default"),
                ("OS_PROJECT_DOMAIN_NAME", "Default"),
                ("OS_REGION_NAME", "RegionEnv"),
                ("OS_INTERFACE", "internal"),
                ("OS_IDENTITY_API_VERSION", "3"),
            ],
            None,
        ),
        sc(
            "OS_* application credential",
            &[],
            &[
                ("OS_AUTH_TYPE", "v3applicationcredential"),
                ("OS_AUTH_URL", "https://env.example/v3"),
                ("OS_APPLICATION_CREDENTIAL_ID", "env-ac"),
                ("OS_APPLICATION_CREDENTIAL_SECRET", "env-secret"),
                ("OS_CACERT", "/tmp/env-ca.pem"),
            ],
            None,
        ),
        sc(
            "OS_TOKEN",
            &[],
            &[
                ("OS_AUTH_TYPE", "token"),
                ("OS_AUTH_URL", "https://env/v3"),
                ("OS_TOKEN", "tok"),
                ("OS_PROJECT_ID", "p9"),
            ],
            None,
        ),
        sc(
            "OS_CLOUD beats OS_* variables",
            &[("cwd/clouds.yaml", PW_CLOUD)],
            &[
                ("OS_CLOUD", "pw"),
                ("OS_USERNAME", "envuser"),
                ("OS_PASSWORD", "envpw"),
                ("OS_AUTH_URL", "https://env/v3"),
            ],
            None,
        ),
        sc(
            "OS_* variables beat a single file cloud",
            &[("cwd/clouds.yaml", PW_CLOUD)],
            &[
                ("OS_USERNAME", "envuser"),
                ("OS_PASSWORD", "envpw"),
                ("OS_AUTH_URL", "https://env/v3"),
            ],
            None,
        ),
        sc(
            "YAML 1.1 scalars as PyYAML reads them",
            &[(
                "cwd/clouds.yaml",
                "clouds:\n  y:\n    verify: no\n    auth:\n      auth_url: https://k/v3\n      username: n\n      password: y\n      project_id: 0755\n      project_name: 12\n",
            )],
            &[],
            Some("y"),
        ),
        sc(
            "single cloud needs no name",
            &[("cwd/clouds.yaml", PW_CLOUD)],
            &[],
            None,
        ),
        sc(
            "auth none with endpoint overrides",
            &[(
                "cwd/clouds.yaml",
                "clouds:\n  fake:\n    auth_type: none\n    compute_endpoint_override: http://127.0.0.1:8774/v2.1\n    network_endpoint_override: http://127.0.0.1:9696/\n",
            )],
            &[],
            Some("fake"),
        ),
        sc(
            "unknown cloud fails on both sides",
            &[("cwd/clouds.yaml", PW_CLOUD)],
            &[],
            Some("nope"),
        ),
    ]
}

fn sha(s: &str) -> String {
    let d = Sha256::digest(s.as_bytes());
    d.iter().map(|b| format!("{b:02x}")).collect::<String>()[..16].to_string()
}

fn ours_as_json(c: &ResolvedCloud) -> Value {
    let a = &c.auth;
    json!({
        "ok": true,
        "name": c.name,
        "auth_type": c.auth_type.as_str(),
        "auth_url": a.auth_url,
        "username": a.username,
        "user_id": a.user_id,
        "project_name": a.project_name,
        "project_id": a.project_id,
        "user_domain_name": a.user_domain_name,
        "user_domain_id": a.user_domain_id,
        "project_domain_name": a.project_domain_name,
        "project_domain_id": a.project_domain_id,
        "domain_name": a.domain_name,
        "domain_id": a.domain_id,
        "application_credential_id": a.application_credential_id,
        "application_credential_name": a.application_credential_name,
        "password": a.password.as_ref().map(|s| sha(s.expose())),
        "application_credential_secret": a.application_credential_secret.as_ref().map(|s| sha(s.expose())),
        "token": a.token.as_ref().map(|s| sha(s.expose())),
        "region_name": c.region_name,
        "interface": c.interface,
        "verify": c.verify,
        "cacert": c.cacert.as_ref().map(|p| p.display().to_string()),
        "endpoint_overrides": c.endpoint_overrides,
    })
}

/// Writes the scenario's files under `dir` and returns the environment (`@` in a value is
/// the scenario dir).
fn materialize(s: &Scenario, dir: &Path) -> Env {
    for (rel, content) in &s.files {
        let p = dir.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content).unwrap();
    }
    std::fs::create_dir_all(dir.join("cwd")).unwrap();
    std::fs::create_dir_all(dir.join("home")).unwrap();
    let mut vars: BTreeMap<String, String> = s
        .env
        .iter()
        .map(|(k, v)| (k.to_string(), v.replace('@', &dir.display().to_string())))
        .collect();
    vars.insert("HOME".into(), dir.join("home").display().to_string());
    Env {
        vars,
        cwd: dir.join("cwd"),
    }
}

/// Runs all scenarios in one Python process (`--batch`): one openstacksdk import instead of
/// one per scenario.
fn run_python_batch(py: &Path, script: &Path, envs: &[(Env, Option<&str>)]) -> Vec<Value> {
    use std::io::Write;
    let input: Vec<Value> = envs
        .iter()
        .map(|(env, cloud)| json!({"env": env.vars, "cwd": env.cwd, "cloud": cloud}))
        .collect();
    let mut child = Command::new(py)
        .arg(script)
        .arg("--batch")
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run the venv python");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(serde_json::to_string(&input).unwrap().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "config_resolve.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON ({e}): {l}")))
        .collect();
    assert_eq!(lines.len(), envs.len(), "one result per scenario");
    lines
}

fn conformance() {
    let py = venv_python();
    let script = repo().join("tests/conformance/config_resolve.py");
    let root = tempfile::tempdir().unwrap();
    let scenarios = scenarios();
    let envs: Vec<(Env, Option<&str>)> = scenarios
        .iter()
        .enumerate()
        .map(|(i, s)| (materialize(s, &root.path().join(format!("s{i}"))), s.cloud))
        .collect();
    let theirs_all = run_python_batch(&py, &script, &envs);
    let results: Vec<(String, Value, Value)> = scenarios
        .iter()
        .zip(envs.iter())
        .zip(theirs_all)
        .map(|((s, (env, cloud)), theirs)| {
            let ours = match resolve_with(*cloud, env) {
                Ok(c) => ours_as_json(&c),
                Err(e) => json!({"ok": false, "error": e.to_string()}),
            };
            (s.name.to_string(), ours, theirs)
        })
        .collect();
    let mut failures = Vec::new();
    for (name, ours, theirs) in &results {
        let same = if theirs["ok"] == json!(false) || ours["ok"] == json!(false) {
            theirs["ok"] == ours["ok"]
        } else {
            ours == theirs
        };
        if !same {
            failures.push(format!(
                "scenario `{name}`:\n  ours:   {ours}\n  theirs: {theirs}"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} scenarios differ from openstacksdk:\n{}",
        failures.len(),
        results.len(),
        failures.join("\n")
    );
    eprintln!(
        "conformance: {} scenarios agree with openstacksdk",
        results.len()
    );
}

// ---------------------------------------------------------------------------------------
// Real Keystone
// ---------------------------------------------------------------------------------------

fn write_cloud_files(dir: &Path, clouds: &str, secure: Option<&str>) -> Env {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("clouds.yaml"), clouds).unwrap();
    if let Some(s) = secure {
        std::fs::write(dir.join("secure.yaml"), s).unwrap();
    }
    Env {
        vars: [(
            "HOME".to_string(),
            std::env::var("HOME").unwrap_or_default(),
        )]
        .into(),
        cwd: dir.to_path_buf(),
    }
}

/// The whole error chain, as the CLI would print it.
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut c = e.source();
    while let Some(x) = c {
        s.push_str(&format!(" | {x}"));
        c = x.source();
    }
    s
}

async fn keystone_scenarios(ks: &Keystone, work: &Path) {
    let url = ks.url();

    // Password auth from clouds.yaml; catalog entries added with `register` resolve.
    let out = ks.script(&["register", "compute", "http://127.0.0.1:18774/v2.1"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let clouds = format!(
        "clouds:
  demo:
    auth:
      auth_url: {url}
      username: demo
      password: {DEMO_PW}
      project_name: demo
      user_domain_name: Default
      project_domain_name: Default
    region_name: RegionOne
  split:
    auth:
      auth_url: {url}
      username: demo
      project_name: demo
      user_domain_name: Default
      project_domain_name: Default
  wrongpw:
    auth:
      auth_url: {url}
      username: demo-other
      password: not-the-password-xyz
      project_name: demo
      user_domain_name: Default
      project_domain_name: Default
"
    );
    let env = write_cloud_files(
        &work.join("pw"),
        &clouds,
        Some(&format!(
            "clouds:\n  split:\n    auth:\n      password: {DEMO_PW}\n"
        )),
    );
    let t = Instant::now();
    let demo = resolve_with(Some("demo"), &env).unwrap();
    let s = Session::connect(&demo).await.expect("password auth");
    eprintln!("password auth: {:?}", t.elapsed());
    assert!(s.project_id().is_some() && s.user_id().is_some());
    assert!(s.roles().iter().any(|r| r == "member"), "{:?}", s.roles());
    assert_eq!(
        s.endpoint("compute").await.unwrap(),
        "http://127.0.0.1:18774/v2.1"
    );
    assert!(s.endpoint("identity").await.unwrap().starts_with(&url));

    // Missing catalog entry: a clear error; after `register`, a new session finds it.
    let e = s.endpoint("load-balancer").await.unwrap_err();
    assert_eq!(e.kind, CloudErrorKind::Catalog);
    assert!(
        e.to_string().contains("`load-balancer`") && e.to_string().contains("`demo`"),
        "{e}"
    );
    let out = ks.script(&["register", "load-balancer", "http://127.0.0.1:19876"]);
    assert!(out.status.success());
    let s = Session::connect(&demo).await.unwrap();
    // (URLs come back normalized: a bare host gains its `/`.)
    assert_eq!(
        s.endpoint("load-balancer").await.unwrap(),
        "http://127.0.0.1:19876/"
    );

    // Password split across clouds.yaml and secure.yaml.
    let split = resolve_with(Some("split"), &env).unwrap();
    assert!(split.sources.secure_file.is_some());
    Session::connect(&split).await.expect("split password auth");

    // The restricted per-cluster credential, created by our code.
    let name = "scs-test-cluster1-appcred";
    assert!(s.find_app_credential(name).await.unwrap().is_none());
    let (id, secret) = s
        .create_restricted_app_credential(
            name,
            &["member", "load-balancer_member", "admin"],
            Some("2099-01-01T00:00:00"),
        )
        .await
        .expect("create app credential");
    assert!(!format!("{secret:?} {secret}").contains(secret.expose()));
    let found = s.find_app_credential(name).await.unwrap().expect("found");
    assert_eq!(found.id, id);
    assert!(!found.unrestricted);
    let mut roles = found.roles.clone();
    roles.sort();
    // `admin` was asked for but the user does not hold it; `reader` is implied by `member`.
    assert!(!roles.contains(&"admin".to_string()), "{roles:?}");
    assert!(
        roles.contains(&"member".to_string())
            && roles.contains(&"load-balancer_member".to_string()),
        "{roles:?}"
    );

    // Authenticate with it (by id, and by name): the token says `restricted: true`.
    let ac_clouds = format!(
        "clouds:
  ac:
    auth_type: v3applicationcredential
    auth:
      auth_url: {url}
      application_credential_id: {id}
      application_credential_secret: {}
  acname:
    auth_type: v3applicationcredential
    auth:
      auth_url: {url}
      application_credential_name: {name}
      application_credential_secret: {}
      username: demo
      user_domain_name: Default
",
        secret.expose(),
        secret.expose()
    );
    let env_ac = write_cloud_files(&work.join("ac"), &ac_clouds, None);
    let ac = resolve_with(Some("ac"), &env_ac).unwrap();
    assert_eq!(ac.auth_type, AuthType::ApplicationCredential);
    let t = Instant::now();
    let acs = Session::connect(&ac).await.expect("app credential auth");
    eprintln!("app-cred auth: {:?}", t.elapsed());
    let info = acs.auth_info().unwrap();
    let appcred = info
        .token
        .application_credential
        .expect("token names the credential");
    assert_eq!(appcred.id.as_deref(), Some(id.as_str()));
    assert_eq!(appcred.restricted, Some(true));
    assert_eq!(acs.project_id(), s.project_id());
    let acn = resolve_with(Some("acname"), &env_ac).unwrap();
    // By name: resolved like openstacksdk, but openstack_sdk 0.22.8 cannot use it (see
    // session.rs); a clear error instead of an obscure plugin failure.
    let e = Session::connect(&acn).await.unwrap_err();
    assert_eq!(e.kind, CloudErrorKind::Config);
    assert!(
        e.hint
            .as_deref()
            .unwrap()
            .contains("application_credential_id"),
        "{e}"
    );

    // With an app-cred token, creating another credential is refused: Keystone's 403 shown.
    let e = acs
        .create_restricted_app_credential("scs-test-nested", &["member"], None)
        .await
        .unwrap_err();
    assert_eq!(e.kind, CloudErrorKind::Api);
    let msg = e.to_string();
    assert!(msg.contains("403") && msg.contains("not allowed"), "{msg}");
    assert!(
        e.hint
            .as_deref()
            .unwrap_or("")
            .contains("auth_type: password")
    );

    // Delete; deleting again is fine (404 = done).
    s.delete_app_credential(&id).await.unwrap();
    s.delete_app_credential(&id).await.unwrap();
    assert!(s.find_app_credential(name).await.unwrap().is_none());
    // And the deleted credential no longer authenticates.
    let e = Session::connect(&ac).await.unwrap_err();
    assert_eq!(e.kind, CloudErrorKind::Auth, "{}", chain(&e));

    // Wrong password: names the cloud, never the password.
    let wrong = resolve_with(Some("wrongpw"), &env).unwrap();
    let e = Session::connect(&wrong).await.unwrap_err();
    assert_eq!(e.kind, CloudErrorKind::Auth, "{}", chain(&e));
    let all = format!("{} {e:?} {:?}", chain(&e), e.hint);
    assert!(all.contains("`wrongpw`"), "{all}");
    assert!(
        !all.contains("not-the-password-xyz"),
        "secret leaked: {all}"
    );
    let as_cli: scs_capi::error::Error = e.into();
    let mut buf = Vec::new();
    scs_capi::error::report(&as_cli, &mut buf);
    let printed = String::from_utf8(buf).unwrap();
    assert!(
        printed.starts_with("error: cannot authenticate to cloud `wrongpw`"),
        "{printed}"
    );
    assert!(printed.contains("hint:") && !printed.contains("not-the-password-xyz"));
    assert_eq!(
        format!("{:?}", as_cli.exit_code()),
        format!("{:?}", std::process::ExitCode::from(2))
    );

    // Keystone unreachable: a transport error, quickly.
    let dead = write_cloud_files(
        &work.join("dead"),
        &format!(
            "clouds:\n  dead:\n    auth:\n      auth_url: http://127.0.0.1:{}/v3\n      username: u\n      password: p\n",
            free_port()
        ),
        None,
    );
    let t = Instant::now();
    let e = Session::connect(&resolve_with(Some("dead"), &dead).unwrap())
        .await
        .unwrap_err();
    assert!(t.elapsed().as_secs() < 20, "{:?}", t.elapsed());
    assert!(e.to_string().contains("`dead`"), "{}", chain(&e));
}

fn config_errors(work: &Path) {
    // Unknown cloud: lists the known ones.
    let env = write_cloud_files(&work.join("unknown"), PW_CLOUD, None);
    let e = resolve_with(Some("prod"), &env).unwrap_err();
    assert_eq!(e.kind, CloudErrorKind::Config);
    assert!(
        e.to_string().contains("`prod`") && e.to_string().contains("clouds.yaml"),
        "{e}"
    );
    assert!(e.hint.as_deref().unwrap().contains("`pw`"), "{:?}", e.hint);

    // Broken YAML: the file and the position.
    let env = write_cloud_files(
        &work.join("broken"),
        "clouds:\n  pw:\n    auth: {auth_url: x\n   bad: [\n",
        None,
    );
    let e = resolve_with(Some("pw"), &env).unwrap_err();
    let all = chain(&e);
    assert!(
        all.contains("cannot parse `") && all.contains("clouds.yaml`"),
        "{all}"
    );
    assert!(
        all.contains("line") || all.contains(":3") || all.contains(":4"),
        "no position: {all}"
    );
}

#[test]
fn cloud_config_and_keystone() {
    let work = tempfile::tempdir().unwrap();
    let home = work.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    // SAFETY: this is the only test in this binary and no other thread exists yet.
    unsafe {
        std::env::set_var("HOME", &home);
        std::env::remove_var("XDG_CONFIG_HOME");
    }

    let t0 = Instant::now();
    let (ks, mut starting) = Keystone::spawn(&work.path().join("keystone"));
    conformance();
    config_errors(work.path());
    eprintln!("conformance + config errors: {:?}", t0.elapsed());

    let status = starting.wait().unwrap();
    let mut out = String::new();
    use std::io::Read;
    starting
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    starting
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    assert!(status.success(), "keystone-local.sh start failed: {out}");
    eprintln!("keystone up after {:?}", t0.elapsed());

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(keystone_scenarios(&ks, work.path()));
    drop(rt);

    // No token on disk: `~/.osc` may exist (the SDK creates it) but stays empty.
    let osc = home.join(".osc");
    if osc.exists() {
        let entries: Vec<_> = std::fs::read_dir(&osc)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .collect();
        assert!(entries.is_empty(), "the SDK wrote {entries:?}");
    }
    eprintln!("total: {:?}", t0.elapsed());
    drop(ks);
}
