//! The management server's terraform (`terraform/`), checked without terraform or tofu
//! (neither can download providers here, and a fresh machine has neither):
//! - every `.tf`/`.tfvars` file and every template parses (hcl-rs);
//! - every variable has a type, a description and at least one validation, and each
//!   validation looks only at its own variable (all OpenTofu/Terraform 1.6 allow) and
//!   keeps functions that can fail inside can()/try() (Terraform's `||` evaluates both
//!   sides); the README names every variable and output;
//! - every `var.X`/`local.X` reference names a declared one, and every variable is used;
//! - the variables that seed the defaults file are named like the settings keys they seed,
//!   `settings_keys.tf` equals the settings schema, and the example tfvars sets only
//!   declared variables (and every required one);
//! - the outputs give the address and the ssh command;
//! - the cloud-init the server gets, rendered from the real `locals` with hcl-rs's template
//!   engine (release mode, local-binary mode, custom CA), is YAML whose clouds.yaml (0600)
//!   resolves with the tool's own cloud configuration, whose defaults file loads without a
//!   finding through the tool's settings loader, and whose bootstrap script passes `sh -n`
//!   and checks each download's SHA-256 before installing it.
//!
//! The templates are evaluated with the few terraform functions the `locals` need,
//! reimplemented in [`declare_functions`]; resource and data-source attributes come from a
//! fake world ([`FAKE`]). hcl-rs follows HCL's strip-marker rules for the `%{ ... ~}` form
//! the templates use (compared by hand with `terraform console`); other forms differ.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use hcl::edit::expr::{Expression as EditExpr, Traversal, TraversalOperator};
use hcl::edit::visit::{Visit, visit_traversal};
use hcl::eval::{Context, Evaluate, FuncArgs, FuncDef, ParamType};
use hcl::{Body, Expression, Template, Value};
use scs_capi::cloud::AuthType;
use scs_capi::cloud::config::{Env, resolve_with};
use scs_capi::settings::{self, SourceFile, validate::Options};
use serde_json::Value as Json;
use sha2::{Digest, Sha256};

/// Variables that seed the settings key of the same name in the defaults file.
const SEEDS: &[&str] = &[
    "cloud_provider",
    "prefix",
    "availability_zone",
    "external",
    "dns_nameservers",
];
/// Settings keys the defaults file gets from a resource rather than a variable.
const COMPUTED_SEEDS: &[&str] = &["mgmt_egress_cidr"];

/// Attributes of the resources and data sources the `locals` read.
struct Fake {
    external_id: &'static str,
    external_name: &'static str,
    floating_ip: &'static str,
    appcred_id: &'static str,
    appcred_secret: &'static str,
}

const FAKE: Fake = Fake {
    external_id: "0b6a3c52-7c1e-4f3e-9d52-5a1d2c3e4f50",
    external_name: "ext01",
    floating_ip: "192.0.2.10",
    appcred_id: "4f0e1d2c3b4a59687766554433221100",
    appcred_secret: "fake-appcred-secret-Zq7",
};

const BOOTSTRAP: &str = "/usr/local/sbin/scs-capi-bootstrap";
const CLOUDS_YAML: &str = "/home/ubuntu/.config/openstack/clouds.yaml";
const DEFAULTS_YAML: &str = "/home/ubuntu/.config/scs-capi/defaults.yaml";
const CACERT: &str = "/home/ubuntu/.config/openstack/cacert.pem";

fn tf_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("terraform")
}

/// One parsed file: the hcl-rs body (evaluation) and the hcl-edit body (visitors).
struct TfFile {
    path: PathBuf,
    body: Body,
    edit: hcl::edit::structure::Body,
}

fn parse_file(path: &Path) -> TfFile {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read `{}`: {e}", path.display()));
    let body = hcl::parse(&text).unwrap_or_else(|e| panic!("`{}`: {e}", path.display()));
    let edit = hcl::edit::parser::parse_body(&text)
        .unwrap_or_else(|e| panic!("`{}`: {e}", path.display()));
    TfFile {
        path: path.to_path_buf(),
        body,
        edit,
    }
}

fn files_with_ext(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot list `{}`: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == ext))
        .collect();
    paths.sort();
    assert!(!paths.is_empty(), "no *.{ext} in `{}`", dir.display());
    paths
}

fn tf_files() -> Vec<TfFile> {
    files_with_ext(&tf_dir(), "tf")
        .iter()
        .map(|p| parse_file(p))
        .collect()
}

fn example_tfvars() -> TfFile {
    parse_file(&tf_dir().join("environments/example.tfvars"))
}

fn blocks<'a>(
    files: &'a [TfFile],
    kind: &'a str,
) -> impl Iterator<Item = (&'a TfFile, &'a hcl::Block)> {
    files.iter().flat_map(move |f| {
        f.body
            .blocks()
            .filter(move |b| b.identifier.as_str() == kind)
            .map(move |b| (f, b))
    })
}

fn label(b: &hcl::Block, i: usize) -> &str {
    b.labels.get(i).map(|l| l.as_str()).unwrap_or_default()
}

fn attr<'a>(body: &'a Body, key: &str) -> Option<&'a Expression> {
    body.attributes()
        .find(|a| a.key.as_str() == key)
        .map(|a| &a.expr)
}

/// A literal (no references) evaluated; `None` when it is not one.
fn literal(expr: &Expression) -> Option<Value> {
    expr.evaluate(&Context::new()).ok()
}

fn literal_string(expr: Option<&Expression>) -> Option<String> {
    match expr.and_then(literal) {
        Some(Value::String(s)) => Some(s),
        _ => None,
    }
}

/// `variable` blocks by name.
fn variables(files: &[TfFile]) -> BTreeMap<String, &Body> {
    let mut vars = BTreeMap::new();
    for (f, b) in blocks(files, "variable") {
        let name = label(b, 0).to_string();
        assert!(
            vars.insert(name.clone(), &b.body).is_none(),
            "variable `{name}` declared twice (again in `{}`)",
            f.path.display()
        );
    }
    vars
}

/// The names every `locals` block declares.
fn local_names(files: &[TfFile]) -> BTreeSet<String> {
    blocks(files, "locals")
        .flat_map(|(_, b)| b.body.attributes().map(|a| a.key.to_string()))
        .collect()
}

fn schema_keys() -> BTreeSet<String> {
    settings::schema()["properties"]
        .as_object()
        .expect("the settings schema has properties")
        .keys()
        .cloned()
        .collect()
}

/// `var.X` and `local.X` references, found by walking the hcl-edit syntax tree (string
/// templates and heredocs included).
#[derive(Default)]
struct Refs {
    vars: BTreeSet<String>,
    locals: BTreeSet<String>,
}

impl Visit for Refs {
    fn visit_traversal(&mut self, node: &Traversal) {
        if let EditExpr::Variable(root) = &node.expr
            && let Some(first) = node.operators.first()
            && let TraversalOperator::GetAttr(name) = first.value()
        {
            match root.as_str() {
                "var" => {
                    self.vars.insert(name.to_string());
                }
                "local" => {
                    self.locals.insert(name.to_string());
                }
                _ => {}
            }
        }
        visit_traversal(self, node);
    }
}

fn refs_in(expr: &Expression) -> Refs {
    let text = hcl::format::to_string(expr).expect("expression formats as HCL");
    let edit: EditExpr = text
        .parse()
        .unwrap_or_else(|e| panic!("`{text}` does not parse back: {e}"));
    let mut refs = Refs::default();
    refs.visit_expr(&edit);
    refs
}

// ---- terraform functions the `locals` and templates use ---------------------------

fn declare_functions(ctx: &mut Context, with_templatefile: bool) {
    let string1 = |f| FuncDef::builder().param(ParamType::String).build(f);
    ctx.declare_func(
        "jsonencode",
        FuncDef::builder().param(ParamType::Any).build(jsonencode),
    );
    ctx.declare_func("lower", string1(lower));
    ctx.declare_func("pathexpand", string1(pathexpand));
    ctx.declare_func("file", string1(file));
    ctx.declare_func("filesha256", string1(filesha256));
    if with_templatefile {
        ctx.declare_func(
            "templatefile",
            FuncDef::builder()
                .param(ParamType::String)
                .param(ParamType::Any)
                .build(templatefile),
        );
    }
}

fn arg_str(args: &FuncArgs, i: usize) -> Result<&str, String> {
    args.get(i)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("argument {i} is not a string"))
}

/// Like terraform's: JSON with `<`, `>` and `&` escaped (Go's HTML-safe encoding).
fn jsonencode(args: FuncArgs) -> Result<Value, String> {
    let text = serde_json::to_string(&args[0]).map_err(|e| e.to_string())?;
    Ok(Value::from(
        text.replace('<', "\\u003c")
            .replace('>', "\\u003e")
            .replace('&', "\\u0026"),
    ))
}

fn lower(args: FuncArgs) -> Result<Value, String> {
    Ok(Value::from(arg_str(&args, 0)?.to_lowercase()))
}

fn pathexpand(args: FuncArgs) -> Result<Value, String> {
    let p = arg_str(&args, 0)?;
    Ok(Value::from(match p.strip_prefix("~/") {
        Some(rest) => format!("{}/{rest}", std::env::var("HOME").unwrap_or_default()),
        None => p.to_string(),
    }))
}

fn file(args: FuncArgs) -> Result<Value, String> {
    let p = arg_str(&args, 0)?;
    std::fs::read_to_string(p)
        .map(Value::from)
        .map_err(|e| format!("file(`{p}`): {e}"))
}

fn filesha256(args: FuncArgs) -> Result<Value, String> {
    let p = arg_str(&args, 0)?;
    let bytes = std::fs::read(p).map_err(|e| format!("filesha256(`{p}`): {e}"))?;
    Ok(Value::from(hex(&Sha256::digest(bytes))))
}

fn templatefile(args: FuncArgs) -> Result<Value, String> {
    let p = arg_str(&args, 0)?;
    let text = std::fs::read_to_string(p).map_err(|e| format!("templatefile(`{p}`): {e}"))?;
    let template: Template = text
        .parse()
        .map_err(|e| format!("template `{p}` does not parse: {e}"))?;
    let Some(Value::Object(vars)) = args.get(1) else {
        return Err("templatefile: the variables are not an object".into());
    };
    let mut ctx = Context::new();
    for (k, v) in vars {
        ctx.declare_var(k.as_str(), v.clone());
    }
    declare_functions(&mut ctx, false);
    template
        .evaluate(&ctx)
        .map(Value::from)
        .map_err(|e| format!("template `{p}`: {e}"))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

// ---- evaluating the configuration ---------------------------------------------------

/// The variables' values: defaults, then the example tfvars, then `overrides`.
fn variable_values(files: &[TfFile], overrides: &[(&str, Value)]) -> hcl::Map<String, Value> {
    let mut values = hcl::Map::new();
    for (name, body) in variables(files) {
        if let Some(default) = attr(body, "default") {
            let v = literal(default)
                .unwrap_or_else(|| panic!("the default of `{name}` is not a literal"));
            values.insert(name, v);
        }
    }
    for a in example_tfvars().body.attributes() {
        let v = literal(&a.expr)
            .unwrap_or_else(|| panic!("example.tfvars: `{}` is not a literal", a.key));
        values.insert(a.key.to_string(), v);
    }
    for (k, v) in overrides {
        values.insert(k.to_string(), v.clone());
    }
    values
}

fn object(entries: &[(&str, Value)]) -> Value {
    Value::Object(
        entries
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect(),
    )
}

/// A context with `var`, `path`, the fake world and the functions.
fn world(files: &[TfFile], overrides: &[(&str, Value)]) -> Context<'static> {
    let mut ctx = Context::new();
    ctx.declare_var("var", Value::Object(variable_values(files, overrides)));
    ctx.declare_var(
        "path",
        object(&[("module", tf_dir().display().to_string().into())]),
    );
    let one = |name: &str, attrs: &[(&str, Value)]| object(&[(name, object(attrs))]);
    ctx.declare_var(
        "data",
        object(&[(
            "openstack_networking_network_v2",
            one(
                "external",
                &[
                    ("id", FAKE.external_id.into()),
                    ("name", FAKE.external_name.into()),
                ],
            ),
        )]),
    );
    ctx.declare_var(
        "openstack_networking_floatingip_v2",
        one("mgmt", &[("address", FAKE.floating_ip.into())]),
    );
    ctx.declare_var(
        "openstack_identity_application_credential_v3",
        one(
            "mgmt",
            &[
                ("id", FAKE.appcred_id.into()),
                ("secret", FAKE.appcred_secret.into()),
            ],
        ),
    );
    declare_functions(&mut ctx, true);
    ctx
}

/// Evaluates every `locals` entry that can be evaluated against the fake world (those
/// using functions not reimplemented here stay out) and returns them.
fn locals(
    files: &[TfFile],
    ctx: &mut Context,
) -> (hcl::Map<String, Value>, BTreeMap<String, String>) {
    let pending: Vec<(String, Expression)> = blocks(files, "locals")
        .flat_map(|(_, b)| {
            b.body
                .attributes()
                .map(|a| (a.key.to_string(), a.expr.clone()))
        })
        .collect();
    let mut done = hcl::Map::new();
    let mut errors = BTreeMap::new();
    loop {
        let mut progress = false;
        for (name, expr) in &pending {
            if done.contains_key(name) {
                continue;
            }
            match expr.evaluate(ctx) {
                Ok(v) => {
                    done.insert(name.clone(), v);
                    ctx.declare_var("local", Value::Object(done.clone()));
                    progress = true;
                }
                Err(e) => {
                    errors.insert(name.clone(), e.to_string());
                }
            }
        }
        if !progress {
            break;
        }
    }
    errors.retain(|k, _| !done.contains_key(k));
    (done, errors)
}

/// The server's user-data and clouds.yaml as terraform would render them.
struct Rendered {
    user_data: String,
    clouds_yaml: String,
    vars: hcl::Map<String, Value>,
}

fn render(overrides: &[(&str, Value)]) -> Rendered {
    let files = tf_files();
    let mut ctx = world(&files, overrides);
    let (locals, errors) = locals(&files, &mut ctx);
    let get = |name: &str| match locals.get(name) {
        Some(Value::String(s)) => s.clone(),
        other => panic!(
            "local.{name} did not render: {other:?}; error: {}",
            errors.get(name).map(String::as_str).unwrap_or("(none)")
        ),
    };
    Rendered {
        user_data: get("user_data"),
        clouds_yaml: get("clouds_yaml"),
        vars: variable_values(&files, overrides),
    }
}

fn yaml(text: &str, what: &str) -> Json {
    serde_saphyr::from_str::<Json>(text)
        .unwrap_or_else(|e| panic!("{what} is not valid YAML: {e}\n---\n{text}"))
}

/// A `write_files` entry of the cloud-config by path.
fn write_file<'a>(doc: &'a Json, path: &str) -> &'a Json {
    let files = doc["write_files"]
        .as_array()
        .expect("cloud-config has write_files");
    files.iter().find(|f| f["path"] == path).unwrap_or_else(|| {
        let paths: Vec<&Json> = files.iter().map(|f| &f["path"]).collect();
        panic!("no write_files entry `{path}`; there are {paths:?}")
    })
}

fn content(entry: &Json) -> &str {
    entry["content"]
        .as_str()
        .unwrap_or_else(|| panic!("write_files entry without content: {entry}"))
}

/// Position of `needle` in `hay`, failing with the text when absent.
fn pos(hay: &str, needle: &str) -> usize {
    hay.find(needle)
        .unwrap_or_else(|| panic!("`{needle}` missing from:\n{hay}"))
}

fn sh_syntax_ok(script: &str) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("bootstrap.sh");
    std::fs::write(&path, script).expect("write script");
    let out = Command::new("sh")
        .arg("-n")
        .arg(&path)
        .output()
        .expect("run sh -n");
    assert!(
        out.status.success(),
        "bootstrap script has a syntax error: {}\n{script}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The checks common to every mode; returns the bootstrap script.
fn check_cloud_config(r: &Rendered) -> (Json, String) {
    assert!(
        r.user_data.starts_with("#cloud-config\n"),
        "user-data must start with `#cloud-config`"
    );
    let doc = yaml(&r.user_data, "the rendered cloud-init");
    assert_eq!(doc["runcmd"], serde_json::json!([[BOOTSTRAP]]));

    // The secret is written once, into clouds.yaml, and nowhere else.
    assert_eq!(
        r.user_data.matches(FAKE.appcred_secret).count(),
        1,
        "the application credential secret must appear only in clouds.yaml"
    );

    // clouds.yaml: 0600, the user's, resolvable by the tool itself.
    let clouds = write_file(&doc, CLOUDS_YAML);
    assert_eq!(clouds["permissions"], "0600");
    assert_eq!(clouds["owner"], "ubuntu:ubuntu");
    assert_eq!(
        clouds["defer"], true,
        "the user exists only in the final stage"
    );
    assert_eq!(content(clouds), r.clouds_yaml);
    yaml(content(clouds), "clouds.yaml");
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("clouds.yaml");
    std::fs::write(&path, content(clouds)).expect("write clouds.yaml");
    let env = Env {
        vars: [
            (
                "OS_CLIENT_CONFIG_FILE".to_string(),
                path.display().to_string(),
            ),
            ("HOME".to_string(), dir.path().display().to_string()),
        ]
        .into(),
        cwd: dir.path().to_path_buf(),
    };
    let cloud_name = r.vars["cloud_provider"].as_str().expect("cloud_provider");
    let cloud = resolve_with(Some(cloud_name), &env).unwrap_or_else(|e| {
        panic!(
            "the server's clouds.yaml does not resolve: {e}\n{}",
            content(clouds)
        )
    });
    assert_eq!(cloud.auth_type, AuthType::ApplicationCredential);
    assert_eq!(cloud.auth.auth_url.as_deref(), r.vars["auth_url"].as_str());
    assert_eq!(
        cloud.auth.application_credential_id.as_deref(),
        Some(FAKE.appcred_id)
    );
    assert_eq!(
        cloud
            .auth
            .application_credential_secret
            .as_ref()
            .map(|s| s.expose()),
        Some(FAKE.appcred_secret)
    );
    assert_eq!(Some(cloud.interface.as_str()), r.vars["interface"].as_str());

    // The defaults file loads through the tool's own settings loader without a finding.
    let defaults = write_file(&doc, DEFAULTS_YAML);
    assert_eq!(defaults["owner"], "ubuntu:ubuntu");
    assert_eq!(defaults["defer"], true);
    let file = SourceFile {
        name: "defaults.yaml".into(),
        bytes: content(defaults).as_bytes().to_vec(),
    };
    let loaded = settings::load(
        Some(&file),
        None,
        &[],
        Options {
            is_cluster: false,
            ..Options::default()
        },
    );
    assert!(
        loaded.diagnostics.is_empty(),
        "the defaults file has findings: {:#?}\n{}",
        loaded.diagnostics,
        content(defaults)
    );
    let s = &loaded.settings;
    let var = |k: &str| r.vars[k].as_str().unwrap_or_default().to_string();
    assert_eq!(s.cloud_provider, var("cloud_provider"));
    assert_eq!(s.prefix, var("prefix"));
    assert_eq!(s.availability_zone, var("availability_zone"));
    assert_eq!(s.external, FAKE.external_id, "the resolved network ID");
    let dns: Vec<String> = s
        .dns_nameservers
        .0
        .iter()
        .map(|ip| ip.to_string())
        .collect();
    let dns_var: Vec<String> = r.vars["dns_nameservers"]
        .as_array()
        .expect("dns_nameservers list")
        .iter()
        .map(|v| v.as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(dns, dns_var);
    assert_eq!(
        s.mgmt_egress_cidr.as_ref().map(|c| c.to_string()),
        Some(format!("{}/32", FAKE.floating_ip))
    );
    for key in SEEDS.iter().chain(COMPUTED_SEEDS) {
        assert!(
            content(defaults).contains(&format!("\n{key}: ")),
            "the defaults file does not set `{key}`"
        );
    }

    // The containers cannot read this user-data from the metadata service.
    let dropin = write_file(
        &doc,
        "/etc/systemd/system/docker.service.d/10-scs-capi-no-metadata.conf",
    );
    assert!(content(dropin).contains("DOCKER-USER -d 169.254.169.254/32 -j DROP"));

    // The bootstrap script: root-only, valid sh, strict, checksums before installs.
    let boot = write_file(&doc, BOOTSTRAP);
    assert_eq!(boot["permissions"], "0700");
    let script = content(boot).to_string();
    sh_syntax_ok(&script);
    assert!(script.starts_with("#!/bin/sh\n"));
    assert!(
        script.contains("\nset -eu\n"),
        "the script must stop at the first error"
    );
    assert!(!script.contains(FAKE.appcred_secret));
    let func = &script[pos(&script, "install_verified() {")..];
    assert!(
        pos(func, "sha256sum -c -") < pos(func, "install -m 0755"),
        "install_verified must check before it installs"
    );
    let kind_sha = r.vars["kind_sha256"]
        .as_str()
        .expect("kind_sha256")
        .to_lowercase();
    let kind_version = r.vars["kind_version"].as_str().expect("kind_version");
    assert!(script.contains(&format!(
        "'https://github.com/kubernetes-sigs/kind/releases/download/{kind_version}/kind-linux-amd64'"
    )));
    pos(
        &script,
        &format!("install_verified \"$work/kind\" '{kind_sha}' /usr/local/bin/kind"),
    );
    let installed = pos(&script, "install_verified \"$work/scs-capi\" '");
    let kind_cluster = pos(&script, "kind create cluster --name kind");
    let mgmt_init = pos(
        &script,
        "scs-capi mgmt init --kubeconfig ~/.kube/config --context kind-kind --bin-dir ~/.local/bin",
    );
    assert!(installed < mgmt_init && kind_cluster < mgmt_init);
    // The command line the server runs is one the CLI accepts.
    let line = script[mgmt_init..].lines().next().unwrap_or_default();
    let argv = line
        .strip_suffix('\'')
        .unwrap_or_else(|| panic!("`{line}` is not a quoted as_user command"));
    let parsed = <scs_capi::cli::Cli as clap::Parser>::try_parse_from(argv.split_whitespace());
    assert!(parsed.is_ok(), "`{argv}`: {:?}", parsed.err());
    assert!(
        pos(
            &script,
            "scs-capi validate ~/.config/scs-capi/defaults.yaml"
        ) < mgmt_init
    );
    (doc, script)
}

// ---- the tests ------------------------------------------------------------------------

#[test]
fn every_file_parses() {
    let files = tf_files();
    let names: BTreeSet<String> = files
        .iter()
        .map(|f| {
            f.path
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    for expected in [
        "versions.tf",
        "variables.tf",
        "network.tf",
        "security.tf",
        "keypair.tf",
        "appcred.tf",
        "server.tf",
        "outputs.tf",
    ] {
        assert!(names.contains(expected), "terraform/{expected} is missing");
    }
    for path in files_with_ext(&tf_dir().join("environments"), "tfvars") {
        parse_file(&path);
    }
    for path in files_with_ext(&tf_dir().join("templates"), "tftpl") {
        let text = std::fs::read_to_string(&path).expect("read template");
        text.parse::<Template>()
            .unwrap_or_else(|e| panic!("`{}`: {e}", path.display()));
    }
}

#[test]
fn versions_allow_opentofu_and_terraform_1_6() {
    let files = tf_files();
    let (_, tf) = blocks(&files, "terraform")
        .next()
        .expect("a terraform block");
    assert_eq!(
        literal_string(attr(&tf.body, "required_version")).as_deref(),
        Some(">= 1.6.0")
    );
    let providers = tf
        .body
        .blocks()
        .find(|b| b.identifier.as_str() == "required_providers")
        .expect("required_providers");
    let openstack = attr(&providers.body, "openstack")
        .and_then(literal)
        .expect("the openstack provider is pinned");
    let source = match &openstack {
        Value::Object(m) => m.get("source").cloned(),
        _ => None,
    };
    assert_eq!(
        source,
        Some(Value::from("terraform-provider-openstack/openstack"))
    );
}

#[test]
fn every_variable_is_typed_documented_and_validated() {
    let files = tf_files();
    let vars = variables(&files);
    let readme = std::fs::read_to_string(tf_dir().join("README.md")).expect("terraform/README.md");
    let mut problems = Vec::new();
    for (name, body) in &vars {
        if attr(body, "type").is_none() {
            problems.push(format!("`{name}` has no type"));
        }
        match literal_string(attr(body, "description")) {
            Some(d) if d.trim().len() > 10 && d.ends_with('.') => {}
            other => problems.push(format!(
                "`{name}` needs a description (a sentence ending in `.`), has {other:?}"
            )),
        }
        let validations: Vec<&hcl::Block> = body
            .blocks()
            .filter(|b| b.identifier.as_str() == "validation")
            .collect();
        if validations.is_empty() {
            problems.push(format!("`{name}` has no validation block"));
        }
        for v in validations {
            match literal_string(attr(&v.body, "error_message")) {
                Some(m) if m.starts_with(|c: char| c.is_ascii_uppercase()) && m.ends_with('.') => {}
                other => problems.push(format!(
                    "`{name}`: error_message must be a sentence (capital, `.`), is {other:?}"
                )),
            }
            match attr(&v.body, "condition") {
                None => problems.push(format!("`{name}`: validation without condition")),
                Some(cond) => {
                    let refs = refs_in(cond);
                    let expected: BTreeSet<String> = [name.clone()].into();
                    // OpenTofu/Terraform before 1.8/1.9 reject references to anything else.
                    if refs.vars != expected || !refs.locals.is_empty() {
                        problems.push(format!(
                            "`{name}`: a validation may refer only to `var.{name}`; refers to vars {:?}, locals {:?}",
                            refs.vars, refs.locals
                        ));
                    }
                }
            }
        }
        if !readme.contains(&format!("`{name}`")) {
            problems.push(format!("terraform/README.md does not mention `{name}`"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn references_name_declared_variables_and_locals_and_every_variable_is_used() {
    let files = tf_files();
    let declared: BTreeSet<String> = variables(&files).into_keys().collect();
    let locals = local_names(&files);
    let mut refs = Refs::default();
    for f in &files {
        refs.visit_body(&f.edit);
    }
    let undeclared: Vec<_> = refs.vars.difference(&declared).collect();
    assert!(
        undeclared.is_empty(),
        "undeclared variables referenced: {undeclared:?}"
    );
    let unknown_locals: Vec<_> = refs.locals.difference(&locals).collect();
    assert!(
        unknown_locals.is_empty(),
        "undeclared locals referenced: {unknown_locals:?}"
    );
    let unused: Vec<_> = declared.difference(&refs.vars).collect();
    assert!(unused.is_empty(), "variables never used: {unused:?}");
    let unused_locals: Vec<_> = locals.difference(&refs.locals).collect();
    assert!(
        unused_locals.is_empty(),
        "locals never used: {unused_locals:?}"
    );
}

#[test]
fn seeding_variables_are_named_after_settings_keys() {
    let files = tf_files();
    let vars = variables(&files);
    let schema = schema_keys();
    for seed in SEEDS {
        assert!(vars.contains_key(*seed), "variable `{seed}` is missing");
        assert!(schema.contains(*seed), "`{seed}` is not a settings key");
        let description = literal_string(attr(vars[*seed], "description")).unwrap_or_default();
        assert!(
            description.contains(&format!("Seeds the setting `{seed}`")),
            "the description of `{seed}` must say that it seeds the setting"
        );
    }
    for key in COMPUTED_SEEDS {
        assert!(schema.contains(*key), "`{key}` is not a settings key");
    }
    // A variable named like a setting must seed it, or the name would mislead.
    for name in vars.keys() {
        assert!(
            !schema.contains(name) || SEEDS.contains(&name.as_str()),
            "variable `{name}` is named like a settings key but does not seed it (add it to the defaults file and SEEDS)"
        );
    }
}

#[test]
fn settings_keys_tf_equals_the_settings_schema() {
    let files = tf_files();
    let mut ctx = world(&files, &[]);
    let (locals, _) = locals(&files, &mut ctx);
    let listed: BTreeSet<String> = locals["settings_keys"]
        .as_array()
        .expect("local.settings_keys is a list")
        .iter()
        .map(|v| v.as_str().unwrap_or_default().to_string())
        .collect();
    let schema = schema_keys();
    let missing: Vec<_> = schema.difference(&listed).collect();
    let extra: Vec<_> = listed.difference(&schema).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "terraform/settings_keys.tf is out of date: add {missing:?}, remove {extra:?}"
    );

    // cluster_defaults may not set what other variables seed (nor cluster_name).
    let vars = variables(&files);
    let mut forbidden = BTreeSet::new();
    for v in vars["cluster_defaults"]
        .blocks()
        .filter(|b| b.identifier.as_str() == "validation")
    {
        if let Some(cond) = attr(&v.body, "condition") {
            string_arrays(cond, &mut forbidden);
        }
    }
    let expected: BTreeSet<String> = SEEDS
        .iter()
        .chain(COMPUTED_SEEDS)
        .chain(&["cluster_name"])
        .map(|s| s.to_string())
        .collect();
    assert_eq!(
        forbidden, expected,
        "the keys cluster_defaults must not set"
    );
}

/// Every string of every all-string array literal inside `expr`.
fn string_arrays(expr: &Expression, out: &mut BTreeSet<String>) {
    if let Expression::Array(items) = expr {
        let strings: Vec<&str> = items
            .iter()
            .filter_map(|e| match e {
                Expression::String(s) => Some(s.as_str()),
                _ => None,
            })
            .collect();
        if !items.is_empty() && strings.len() == items.len() {
            out.extend(strings.into_iter().map(String::from));
        }
    }
    for child in children(expr) {
        string_arrays(child, out);
    }
}

/// The direct sub-expressions of `expr` (not those inside string templates).
fn children(expr: &Expression) -> Vec<&Expression> {
    use hcl::expr::{ObjectKey, Operation, TraversalOperator as Op};
    match expr {
        Expression::Array(items) => items.iter().collect(),
        Expression::Object(o) => o
            .iter()
            .flat_map(|(k, v)| match k {
                ObjectKey::Expression(e) => vec![e, v],
                _ => vec![v],
            })
            .collect(),
        Expression::FuncCall(call) => call.args.iter().collect(),
        Expression::Parenthesis(inner) => vec![inner.as_ref()],
        Expression::Conditional(c) => vec![&c.cond_expr, &c.true_expr, &c.false_expr],
        Expression::Operation(op) => match op.as_ref() {
            Operation::Binary(b) => vec![&b.lhs_expr, &b.rhs_expr],
            Operation::Unary(u) => vec![&u.expr],
        },
        Expression::ForExpr(f) => [
            Some(&f.collection_expr),
            f.key_expr.as_ref(),
            Some(&f.value_expr),
            f.cond_expr.as_ref(),
        ]
        .into_iter()
        .flatten()
        .collect(),
        Expression::Traversal(t) => std::iter::once(&t.expr)
            .chain(t.operators.iter().filter_map(|o| match o {
                Op::Index(e) => Some(e),
                _ => None,
            }))
            .collect(),
        _ => Vec::new(),
    }
}

/// Calls to functions that fail on bad input, outside `can()`/`try()`.
fn unguarded_calls(expr: &Expression, guarded: bool, out: &mut Vec<String>) {
    const FAILING: &[&str] = &[
        "cidrhost",
        "cidrnetmask",
        "cidrsubnet",
        "file",
        "fileexists",
        "filesha256",
        "formatdate",
        "keys",
        "regex",
        "tonumber",
    ];
    let mut guarded = guarded;
    if let Expression::FuncCall(call) = expr {
        let name = call.name.name.as_str();
        if !guarded && FAILING.contains(&name) {
            out.push(name.to_string());
        }
        guarded |= name == "can" || name == "try";
    }
    for child in children(expr) {
        unguarded_calls(child, guarded, out);
    }
}

#[test]
fn validations_cannot_fail_with_an_error_instead_of_their_message() {
    // Terraform evaluates both sides of `||`: `var.x == "" || fileexists(var.x)` fails
    // with "Error in function call" for the empty default instead of passing. A function
    // that can fail must sit inside can() or try().
    let files = tf_files();
    let mut problems = Vec::new();
    for (name, body) in variables(&files) {
        for v in body
            .blocks()
            .filter(|b| b.identifier.as_str() == "validation")
        {
            let mut calls = Vec::new();
            if let Some(cond) = attr(&v.body, "condition") {
                unguarded_calls(cond, false, &mut calls);
            }
            if !calls.is_empty() {
                problems.push(format!(
                    "`{name}`: wrap {calls:?} in can() or try() in the validation"
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn example_tfvars_sets_declared_variables_and_every_required_one() {
    let files = tf_files();
    let vars = variables(&files);
    let example = example_tfvars();
    let set: BTreeSet<String> = example
        .body
        .attributes()
        .map(|a| a.key.to_string())
        .collect();
    let undeclared: Vec<_> = set.iter().filter(|k| !vars.contains_key(*k)).collect();
    assert!(
        undeclared.is_empty(),
        "example.tfvars sets undeclared variables: {undeclared:?}"
    );
    let required: Vec<_> = vars
        .iter()
        .filter(|(_, b)| attr(b, "default").is_none())
        .map(|(n, _)| n)
        .filter(|n| !set.contains(*n))
        .collect();
    assert!(
        required.is_empty(),
        "example.tfvars misses required variables: {required:?}"
    );
    // Its cluster_defaults are settings keys (terraform checks that at plan time).
    let schema = schema_keys();
    let defaults = example
        .body
        .attributes()
        .find(|a| a.key.as_str() == "cluster_defaults")
        .and_then(|a| literal(&a.expr));
    if let Some(Value::Object(map)) = defaults {
        for k in map.keys() {
            assert!(
                schema.contains(k),
                "example cluster_defaults: `{k}` is not a settings key"
            );
        }
    }
}

#[test]
fn outputs_give_the_address_and_the_ssh_command() {
    let files = tf_files();
    let ctx = world(&files, &[]);
    let readme = std::fs::read_to_string(tf_dir().join("README.md")).expect("terraform/README.md");
    let outputs: BTreeMap<&str, &Body> = blocks(&files, "output")
        .map(|(_, b)| (label(b, 0), &b.body))
        .collect();
    let value = |name: &str| -> Value {
        let body = outputs
            .get(name)
            .unwrap_or_else(|| panic!("output `{name}` is missing"));
        assert!(
            literal_string(attr(body, "description")).is_some(),
            "`{name}` has no description"
        );
        attr(body, "value")
            .expect("output value")
            .evaluate(&ctx)
            .unwrap_or_else(|e| panic!("output `{name}`: {e}"))
    };
    assert_eq!(value("mgmtcluster_address"), Value::from(FAKE.floating_ip));
    assert_eq!(
        value("ssh_command"),
        Value::from(format!("ssh ubuntu@{}", FAKE.floating_ip))
    );
    assert_eq!(
        outputs
            .get("mgmt_clouds_yaml")
            .and_then(|b| attr(b, "sensitive"))
            .and_then(literal),
        Some(Value::Bool(true)),
        "the clouds.yaml output holds a secret: it must be sensitive"
    );
    for name in outputs.keys() {
        assert!(
            readme.contains(&format!("`{name}`")),
            "README does not mention output `{name}`"
        );
    }
}

#[test]
fn the_server_gets_the_rendered_user_data_and_keeps_it() {
    let files = tf_files();
    let (_, server) = blocks(&files, "resource")
        .find(|(_, b)| label(b, 0) == "openstack_compute_instance_v2" && label(b, 1) == "mgmt")
        .expect("resource openstack_compute_instance_v2.mgmt");
    let user_data = attr(&server.body, "user_data").expect("user_data");
    assert_eq!(
        hcl::format::to_string(user_data).expect("format"),
        "local.user_data"
    );
    // Changing a cloud-init input must not rebuild the server (it holds the management
    // cluster).
    let lifecycle = server
        .body
        .blocks()
        .find(|b| b.identifier.as_str() == "lifecycle")
        .expect("lifecycle");
    let ignored =
        hcl::format::to_string(attr(&lifecycle.body, "ignore_changes").expect("ignore_changes"))
            .expect("format");
    assert!(ignored.contains("user_data"), "{ignored}");
}

#[test]
fn cloud_init_in_local_binary_mode() {
    let dir = tempfile::tempdir().expect("temp dir");
    let binary = dir.path().join("scs-capi");
    std::fs::write(&binary, b"#!/bin/sh\necho fake scs-capi\n").expect("write fake binary");
    let sha = hex(&Sha256::digest(std::fs::read(&binary).expect("read")));
    let r = render(&[("scs_capi_binary", binary.display().to_string().into())]);
    let (doc, script) = check_cloud_config(&r);
    pos(
        &script,
        &format!("install_verified \"$work/scs-capi\" '{sha}' /usr/local/bin/scs-capi"),
    );
    // The script waits for exactly the file the terraform_data provisioner renames.
    pos(&script, "until [ -f \"$home/.scs-capi.upload\" ]");
    pos(
        &script,
        "cat \"$home/.scs-capi.upload\" > \"$work/scs-capi\"",
    );
    // Never through /tmp, where another local user could plant the file first.
    assert!(!script.contains("/tmp/"), "{script}");
    assert!(
        !script.contains("-o \"$work/scs-capi\""),
        "nothing to download in binary mode"
    );
    // No sums given: mgmt init gets none and will name what is missing.
    pos(&script, "--bin-dir ~/.local/bin'\n");
    let files = tf_files();
    let (_, upload) = blocks(&files, "resource")
        .find(|(_, b)| label(b, 0) == "terraform_data" && label(b, 1) == "scs_capi_upload")
        .expect("resource terraform_data.scs_capi_upload");
    let provisioners: Vec<String> = upload
        .body
        .blocks()
        .filter(|b| b.identifier.as_str() == "provisioner")
        .map(|b| hcl::format::to_string(&b.body).expect("format"))
        .collect();
    assert!(
        provisioners
            .iter()
            .any(|p| p.contains("mv -f ~/.scs-capi.part ~/.scs-capi.upload")),
        "{provisioners:?}"
    );
    // The upload connects with the ssh-agent, never with a private key in the config.
    let connection = upload
        .body
        .blocks()
        .find(|b| b.identifier.as_str() == "connection")
        .expect("connection");
    assert_eq!(
        attr(&connection.body, "agent").and_then(literal),
        Some(Value::Bool(true))
    );
    assert!(attr(&connection.body, "private_key").is_none());
    // The example's extra defaults reached the defaults file.
    let defaults = content(write_file(&doc, DEFAULTS_YAML));
    let file = SourceFile {
        name: "defaults.yaml".into(),
        bytes: defaults.as_bytes().to_vec(),
    };
    let s = settings::load(Some(&file), None, &[], Options::default()).settings;
    assert_eq!(s.worker_flavor, "SCS-2V-4-20");
    assert_eq!(s.worker_count, 3);
    assert_eq!(s.etcd_defrag.schedule, "*-*-* 03:30:00");
    assert!(
        s.etcd_defrag.enabled,
        "the other section keys keep their defaults"
    );
    // No custom CA by default.
    assert!(
        doc["write_files"]
            .as_array()
            .is_some_and(|f| f.iter().all(|e| e["path"] != CACERT))
    );
    assert!(!r.clouds_yaml.contains("cacert"));
}

#[test]
fn cloud_init_in_release_mode() {
    let url = "https://example.com/scs-capi/v1.0.0/scs-capi-linux-amd64";
    let sha = "AB".repeat(32);
    let r = render(&[
        ("scs_capi_binary", "".into()),
        ("scs_capi_url", url.into()),
        ("scs_capi_sha256", sha.clone().into()),
        ("kind_node_image", "kindest/node:v1.34.0".into()),
        ("cluster_defaults", object(&[])),
        (
            "mgmt_tool_sha256",
            object(&[
                ("clusterctl", "CD".repeat(32).into()),
                ("orc", "ef".repeat(32).into()),
            ]),
        ),
        ("mgmt_allow_unpinned", true.into()),
    ]);
    let (_, script) = check_cloud_config(&r);
    pos(
        &script,
        &format!(
            "--bin-dir ~/.local/bin --sha256 clusterctl={} --sha256 orc={} --allow-unpinned'\n",
            "cd".repeat(32),
            "ef".repeat(32)
        ),
    );
    let download = pos(
        &script,
        &format!("curl -fsSL --retry 5 -o \"$work/scs-capi\" '{url}'"),
    );
    let check = pos(
        &script,
        &format!(
            "install_verified \"$work/scs-capi\" '{}' /usr/local/bin/scs-capi",
            sha.to_lowercase()
        ),
    );
    assert!(download < check);
    assert!(
        !script.contains(".scs-capi.upload"),
        "nothing to wait for in release mode"
    );
    pos(
        &script,
        "kind create cluster --name kind --wait 5m --image kindest/node:v1.34.0'",
    );
}

#[test]
fn cloud_init_with_a_custom_ca_and_region() {
    let dir = tempfile::tempdir().expect("temp dir");
    let pem = "-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n";
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, pem).expect("write CA");
    let binary = dir.path().join("scs-capi");
    std::fs::write(&binary, b"fake").expect("write fake binary");
    let r = render(&[
        ("scs_capi_binary", binary.display().to_string().into()),
        ("cacert_file", ca.display().to_string().into()),
        ("region_name", "RegionOne".into()),
    ]);
    let (doc, _) = check_cloud_config(&r);
    let entry = write_file(&doc, CACERT);
    assert_eq!(content(entry), pem);
    assert_eq!(entry["owner"], "ubuntu:ubuntu");
    let clouds = yaml(&r.clouds_yaml, "clouds.yaml");
    let cloud = &clouds["clouds"]["mycloud"];
    assert_eq!(cloud["cacert"], CACERT);
    assert_eq!(cloud["region_name"], "RegionOne");
}

/// Cloud names with `-` are common (`devstack-admin`, R4's `gx-scs`) and openstacksdk
/// resolves them; scs-capi's resolver turns the `-` of cloud *names* into `_` (it applies
/// openstacksdk's key normalisation to the `clouds:` map itself, in
/// `src/cloud/config.rs`), so `scs-capi` on the server would not find such a cloud.
#[test]
fn a_cloud_name_with_a_dash_resolves_on_the_server() {
    let dir = tempfile::tempdir().expect("temp dir");
    let binary = dir.path().join("scs-capi");
    std::fs::write(&binary, b"fake").expect("write fake binary");
    let r = render(&[
        ("scs_capi_binary", binary.display().to_string().into()),
        ("cloud_provider", "gx-scs".into()),
    ]);
    check_cloud_config(&r);
}
