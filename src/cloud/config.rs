//! Which cloud to talk to and how: `clouds.yaml`, `secure.yaml`, `clouds-public.yaml` and
//! `OS_*` variables, resolved the way openstacksdk's `OpenStackConfig().get_one(cloud)` does
//! (which is what `openstack --os-cloud NAME` uses underneath).
//!
//! We parse the files ourselves instead of using `openstack_sdk::config::ConfigFile`: that one
//! merges every `clouds.yaml` it finds (openstacksdk uses only the first), ignores
//! `clouds-public.yaml` next to a given file, has no `envvars` cloud with openstacksdk's
//! selection rules and does none of the key fix-ups below. The result, a [`ResolvedCloud`],
//! is turned into the SDK's `CloudConfig` by [`ResolvedCloud::to_sdk_config`].
//!
//! What is reproduced (checked against openstacksdk 4.22 by `tests/cloud_auth.rs`):
//! - search order `OS_CLIENT_CONFIG_FILE`, `./`, `$XDG_CONFIG_HOME/openstack/` (default
//!   `~/.config/openstack/`), `~/.config/openstack/`, `$XDG_CONFIG_DIRS/openstack/` (default
//!   `/etc/xdg/openstack/`), `/etc/openstack/`, each with `clouds.yaml`, `clouds.yml`,
//!   `clouds.json`; the first file found is the only one used. `secure.yaml` is found the
//!   same way (`OS_CLIENT_SECURE_FILE` first) and deep-merged; `clouds-public.yaml` likewise
//!   (no variable) and applied under the cloud for `profile:` (or the old `cloud:`) key;
//! - the cloud is `--os-cloud`, else `OS_CLOUD`, else the `envvars` cloud built from `OS_*`
//!   variables (name from `OS_CLOUD_NAME`) when any non-selector `OS_*` variable is set,
//!   else the only cloud in the file. `OS_*` variables never override a named cloud (as in
//!   openstacksdk's `get_one`; openstackclient's own `--os-*` options would);
//! - `regions:`/`region_name:` (first region, its `values` applied), `tenant_*` aliases,
//!   `domain_id`/`domain_name` copied to user and project domains for project scope,
//!   top-level auth keys moved under `auth`, `auth_plugin`, `*endpoint_type`, `-` in keys,
//!   `insecure` beating `verify`, `cacert` dropped (with a warning) when not verifying.
//!
//! Deliberate differences: a file that does not parse is an error (openstacksdk skips it
//! with a log line); a `profile:` that is not in `clouds-public.yaml` is an error
//! (openstacksdk also knows about 25 built-in vendor profiles and `https://` profiles);
//! missing credentials are reported here rather than at the first request; only the auth
//! types `password`/`v3password`, `v3applicationcredential`, `token`/`v3token` and `none`
//! are accepted.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::{CloudError, Secret};

/// The process environment as the resolver sees it; tests build one by hand.
#[derive(Clone, Default)]
pub struct Env {
    pub vars: BTreeMap<String, String>,
    pub cwd: PathBuf,
}

impl fmt::Debug for Env {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        // Values may be passwords (`OS_PASSWORD`): list the names only.
        f.debug_struct("Env")
            .field("vars", &self.vars.keys().collect::<Vec<_>>())
            .field("cwd", &self.cwd)
            .finish()
    }
}

impl Env {
    /// The real environment and working directory.
    pub fn from_process() -> Self {
        Env {
            vars: std::env::vars().collect(),
            cwd: std::env::current_dir().unwrap_or_else(|_| PathBuf::from(".")),
        }
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.vars
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// The directories searched for `clouds.yaml`, `secure.yaml` and `clouds-public.yaml`.
    pub fn search_dirs(&self) -> Vec<PathBuf> {
        let home = self.get("HOME").map(PathBuf::from);
        let unix_config = home
            .as_ref()
            .map(|h| h.join(".config"))
            .unwrap_or_else(|| PathBuf::from("~/.config"));
        let user_config = self
            .get("XDG_CONFIG_HOME")
            .map(|s| PathBuf::from(s.trim()))
            .unwrap_or_else(|| unix_config.clone());
        let site = self
            .get("XDG_CONFIG_DIRS")
            .map(|s| s.split(':').next().unwrap_or("/etc/xdg").to_string())
            .unwrap_or_else(|| "/etc/xdg".to_string());
        vec![
            self.cwd.clone(),
            user_config.join("openstack"),
            unix_config.join("openstack"),
            PathBuf::from(site).join("openstack"),
            PathBuf::from("/etc/openstack"),
        ]
    }
}

/// How to authenticate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthType {
    /// `password` or `v3password`.
    Password,
    /// `v3applicationcredential`.
    ApplicationCredential,
    /// `token` or `v3token`: an existing Keystone token.
    Token,
    /// `none`: no Keystone; endpoints come from `*_endpoint_override` keys.
    None,
}

impl AuthType {
    /// The name openstacksdk and `openstack_sdk` use.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthType::Password => "password",
            AuthType::ApplicationCredential => "v3applicationcredential",
            AuthType::Token => "token",
            AuthType::None => "none",
        }
    }
}

/// The `auth:` section after resolution. Secrets are [`Secret`]s.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Auth {
    pub auth_url: Option<String>,
    pub username: Option<String>,
    pub user_id: Option<String>,
    pub password: Option<Secret>,
    pub project_name: Option<String>,
    pub project_id: Option<String>,
    pub user_domain_name: Option<String>,
    pub user_domain_id: Option<String>,
    pub project_domain_name: Option<String>,
    pub project_domain_id: Option<String>,
    pub domain_name: Option<String>,
    pub domain_id: Option<String>,
    pub default_domain_name: Option<String>,
    pub default_domain_id: Option<String>,
    pub system_scope: Option<String>,
    pub application_credential_id: Option<String>,
    pub application_credential_name: Option<String>,
    pub application_credential_secret: Option<Secret>,
    pub token: Option<Secret>,
    /// `none` auth: the endpoint given as `auth.endpoint`.
    pub endpoint: Option<String>,
}

/// Where a resolved cloud came from, for messages.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sources {
    pub clouds_file: Option<PathBuf>,
    pub secure_file: Option<PathBuf>,
    pub vendor_file: Option<PathBuf>,
    /// True for the cloud built from `OS_*` variables.
    pub environment: bool,
}

impl Sources {
    /// `clouds.yaml` path or `environment`, for messages.
    pub fn describe(&self) -> String {
        if self.environment {
            "environment (`OS_*` variables)".to_string()
        } else {
            match &self.clouds_file {
                Some(p) => format!("`{}`", p.display()),
                None => "no file".to_string(),
            }
        }
    }
}

/// One cloud, ready to connect to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedCloud {
    /// The cloud's name in `clouds.yaml`, or `envvars` (`OS_CLOUD_NAME`).
    pub name: String,
    pub sources: Sources,
    pub auth_type: AuthType,
    pub auth: Auth,
    /// Empty when neither the cloud nor its profile names a region.
    pub region_name: Option<String>,
    /// `public` unless set.
    pub interface: String,
    /// False with `verify: false` or `insecure: true`; then [`Self::warnings`] says so.
    pub verify: bool,
    /// CA bundle (`~` expanded); only set when verifying.
    pub cacert: Option<PathBuf>,
    /// `compute_endpoint_override: URL` and the like, keyed by service type
    /// (`load-balancer`).
    pub endpoint_overrides: BTreeMap<String, String>,
    /// `api_timeout` in seconds, if set.
    pub api_timeout: Option<u64>,
    /// Things the caller should print loudly (`verify: false`, ignored `cacert`).
    pub warnings: Vec<String>,
}

/// Resolves the cloud chosen by `os_cloud` (`--os-cloud`), else `OS_CLOUD`, else the
/// `OS_*` variables, from the real environment.
///
/// # Errors
/// A [`CloudError`] of kind `Config` naming the cloud, the file and the key.
pub fn resolve(os_cloud: Option<&str>) -> Result<ResolvedCloud, CloudError> {
    resolve_with(os_cloud, &Env::from_process())
}

/// [`resolve`] against a given environment.
///
/// # Errors
/// As [`resolve`].
pub fn resolve_with(os_cloud: Option<&str>, env: &Env) -> Result<ResolvedCloud, CloudError> {
    let dirs = env.search_dirs();
    let names = |base: &str| -> Vec<PathBuf> {
        dirs.iter()
            .flat_map(|d| ["yaml", "yml", "json"].map(|ext| d.join(format!("{base}.{ext}"))))
            .collect()
    };
    let mut clouds_candidates = names("clouds");
    if let Some(f) = env.get("OS_CLIENT_CONFIG_FILE") {
        clouds_candidates.insert(0, PathBuf::from(f));
    }
    let mut secure_candidates = names("secure");
    if let Some(f) = env.get("OS_CLIENT_SECURE_FILE") {
        secure_candidates.insert(0, PathBuf::from(f));
    }

    let mut sources = Sources::default();
    let mut config = Map::new();
    if let Some((path, data)) = load_first(&clouds_candidates)? {
        if let Some(data) = data {
            config = data;
        }
        sources.clouds_file = Some(path);
    }
    if let Some((path, data)) = load_first(&secure_candidates)? {
        if let Some(data) = data {
            config = merge_clouds(config, data);
        }
        sources.secure_file = Some(path);
    }
    let file_desc = sources
        .clouds_file
        .as_ref()
        .map(|p| format!("`{}`", p.display()))
        .unwrap_or_else(|| "`clouds.yaml`".to_string());
    let mut clouds = match config.remove("clouds") {
        None | Some(Value::Null) => Map::new(),
        // Cloud names are looked up as written (`gx-scs`); only their contents are
        // normalised, as openstacksdk does.
        Some(Value::Object(m)) => m
            .into_iter()
            .map(|(name, v)| match v {
                Value::Object(o) => (name, Value::Object(normalize_keys(o))),
                other => (name, other),
            })
            .collect(),
        Some(_) => {
            return Err(
                CloudError::config(format!("`clouds` in {file_desc} is not a mapping"))
                    .hint("write `clouds:` followed by one indented entry per cloud"),
            );
        }
    };

    // The cloud built from OS_* variables.
    let envvar_key = env.get("OS_CLOUD_NAME").unwrap_or("envvars").to_string();
    if clouds.contains_key(&envvar_key) {
        return Err(CloudError::config(format!(
            "{file_desc} defines a cloud named `{envvar_key}`, the name reserved for the cloud \
             built from `OS_*` variables"
        ))
        .hint("rename that cloud, or set `OS_CLOUD_NAME` to another name"));
    }
    const SELECTORS: [&str; 5] = [
        "OS_CLOUD",
        "OS_REGION_NAME",
        "OS_CLIENT_CONFIG_FILE",
        "OS_CLIENT_SECURE_FILE",
        "OS_CLOUD_NAME",
    ];
    let env_keys: Vec<&String> = env
        .vars
        .keys()
        .filter(|k| {
            k.starts_with("OS_")
                && !k.starts_with("OS_TEST")
                && !k.starts_with("OS_STD")
                && !k.starts_with("OS_LOG")
        })
        .collect();
    let env_cloud = env_keys
        .iter()
        .any(|k| !SELECTORS.contains(&k.as_str()))
        .then(|| {
            let mut m = defaults();
            for k in &env_keys {
                let key = k.split_once('_').map(|x| x.1).unwrap_or(k).to_lowercase();
                m.insert(key, Value::String(env.vars[k.as_str()].clone()));
            }
            m
        });
    if let Some(m) = env_cloud {
        clouds.insert(envvar_key.clone(), Value::Object(m));
    }

    let requested = os_cloud
        .filter(|s| !s.is_empty())
        .or_else(|| env.get("OS_CLOUD"));
    let name = match requested {
        Some(n) => n.to_string(),
        None if clouds.contains_key(&envvar_key) => envvar_key.clone(),
        None if clouds.len() == 1 => clouds.keys().next().cloned().unwrap_or_default(),
        None => {
            return Err(no_cloud_error(&clouds, &sources, &clouds_candidates));
        }
    };
    let Some(our_cloud) = clouds.get(&name) else {
        return Err(unknown_cloud_error(
            &name,
            &clouds,
            &sources,
            &clouds_candidates,
        ));
    };
    sources.environment = name == envvar_key;
    let where_ = if sources.environment {
        "environment (`OS_*` variables)".to_string()
    } else {
        file_desc.clone()
    };
    let Value::Object(our_cloud) = our_cloud.clone() else {
        return Err(
            CloudError::config(format!("cloud `{name}` in {where_} is not a mapping"))
                .hint("each entry under `clouds:` holds keys such as `auth:` and `region_name:`"),
        );
    };

    // Base config: defaults, then the vendor profile, then the cloud itself.
    let mut cloud = defaults();
    let mut profile: Option<Map<String, Value>> = None;
    let profile_name = our_cloud
        .get("profile")
        .or_else(|| our_cloud.get("cloud"))
        .and_then(scalar);
    if let Some(pname) = profile_name.filter(|p| *p != envvar_key) {
        let (vendor_path, data) = load_first(&names("clouds-public"))?
            .map(|(p, d)| (Some(p), d))
            .unwrap_or((None, None));
        sources.vendor_file = vendor_path.clone();
        let found = data
            .and_then(|d| d.get("public-clouds").cloned())
            .and_then(|pc| pc.get(&pname).cloned());
        match found {
            Some(Value::Object(p)) => {
                let p = normalize_keys(p);
                auth_update(&mut cloud, &p);
                profile = Some(p);
            }
            _ => {
                let looked = match &vendor_path {
                    Some(p) => format!("`{}`", p.display()),
                    None => "no `clouds-public.yaml` found".to_string(),
                };
                return Err(CloudError::config(format!(
                    "cloud `{name}` in {where_} uses profile `{pname}`, which is not defined \
                     under `public-clouds` ({looked})"
                ))
                .hint(
                    "add the profile under `public-clouds:` in `clouds-public.yaml` next to \
                     `clouds.yaml`, or copy its keys into the cloud",
                ));
            }
        }
    }
    cloud
        .entry("auth".to_string())
        .or_insert_with(|| Value::Object(Map::new()));
    auth_update(&mut cloud, &our_cloud);
    cloud.remove("cloud");
    cloud.remove("profile");

    // Region: the first known one, with its values.
    let regions = known_regions(&our_cloud, profile.as_ref(), &name, &where_)?;
    cloud.remove("regions");
    let region_name = match regions.into_iter().next() {
        Some((rname, values)) => {
            for (k, v) in values {
                if v.is_null() {
                    continue;
                }
                if k == "auth" {
                    if let (Some(Value::Object(a)), Value::Object(v)) = (cloud.get_mut("auth"), v) {
                        for (ak, av) in v {
                            a.insert(ak, av);
                        }
                    }
                } else {
                    cloud.insert(k, v);
                }
            }
            rname
        }
        None => String::new(),
    };
    cloud.insert("region_name".into(), Value::String(region_name));

    magic_fixes(&mut cloud);
    let mut cloud = normalize_keys(cloud);

    let auth_type_raw = cloud.get("auth_type").and_then(scalar);
    let auth_type = match auth_type_raw.as_deref() {
        None | Some("") | Some("None") | Some("none") => AuthType::None,
        Some("password") | Some("v3password") => AuthType::Password,
        Some("v3applicationcredential") => AuthType::ApplicationCredential,
        Some("token") | Some("v3token") => AuthType::Token,
        Some(other) => {
            return Err(CloudError::config(format!(
                "cloud `{name}` in {where_} has unsupported auth type `{other}` (key `auth_type`)"
            ))
            .hint(
                "use `password`, `v3applicationcredential` or `token` (or `none` with \
                 `*_endpoint_override` keys)",
            ));
        }
    };
    validate_auth(&mut cloud, auth_type);

    let auth_map = match cloud.get("auth") {
        Some(Value::Object(m)) => m.clone(),
        _ => Map::new(),
    };
    let s = |k: &str| auth_map.get(k).and_then(scalar).filter(|v| !v.is_empty());
    let secret = |k: &str| s(k).map(Secret::new);
    let auth = Auth {
        auth_url: s("auth_url"),
        username: s("username"),
        user_id: s("user_id"),
        password: secret("password"),
        project_name: s("project_name"),
        project_id: s("project_id"),
        user_domain_name: s("user_domain_name"),
        user_domain_id: s("user_domain_id"),
        project_domain_name: s("project_domain_name"),
        project_domain_id: s("project_domain_id"),
        domain_name: s("domain_name"),
        domain_id: s("domain_id"),
        default_domain_name: s("default_domain_name"),
        default_domain_id: s("default_domain_id"),
        system_scope: s("system_scope"),
        application_credential_id: s("application_credential_id"),
        application_credential_name: s("application_credential_name"),
        application_credential_secret: secret("application_credential_secret"),
        token: secret("token"),
        endpoint: s("endpoint"),
    };

    // TLS: `insecure` wins over `verify`; `cacert` only counts when verifying.
    let mut warnings = Vec::new();
    let insecure = cloud.get("insecure").map(get_boolean).unwrap_or(false);
    let mut verify = cloud.get("verify").map(truthy).unwrap_or(true);
    if insecure {
        verify = false;
    }
    let cacert_raw = cloud
        .get("cacert")
        .and_then(scalar)
        .filter(|c| !c.is_empty());
    let cacert = match (verify, cacert_raw) {
        (true, Some(c)) => Some(expand_user(&c, env)),
        (false, Some(c)) => {
            warnings.push(format!(
                "cloud `{name}`: `cacert` `{c}` is ignored because TLS verification is off"
            ));
            None
        }
        (_, None) => None,
    };
    if !verify {
        warnings.insert(
            0,
            format!(
                "TLS certificate verification is OFF for cloud `{name}` (`verify: false` or \
                 `insecure: true` in {where_}): anyone on the network path can read the \
                 credentials; set `cacert:` to the cloud's CA bundle instead"
            ),
        );
    }

    let mut endpoint_overrides = BTreeMap::new();
    for (k, v) in &cloud {
        if let Some(service) = k.strip_suffix("_endpoint_override")
            && let Some(url) = scalar(v).filter(|u| !u.is_empty())
        {
            endpoint_overrides.insert(service.replace('_', "-"), url);
        }
    }
    let api_timeout = match cloud.get("api_timeout") {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            scalar(v)
                .and_then(|t| t.parse::<f64>().ok())
                .filter(|t| *t > 0.0)
                .map(|t| t.ceil() as u64)
                .ok_or_else(|| {
                    CloudError::config(format!(
                        "cloud `{name}` in {where_}: `api_timeout` is not a positive number"
                    ))
                    .hint("give the per-request timeout in seconds, e.g. `api_timeout: 60`")
                })?,
        ),
    };

    let resolved = ResolvedCloud {
        region_name: cloud
            .get("region_name")
            .and_then(scalar)
            .filter(|r| !r.is_empty()),
        interface: cloud
            .get("interface")
            .and_then(scalar)
            .filter(|i| !i.is_empty())
            .unwrap_or_else(|| "public".to_string()),
        name,
        sources,
        auth_type,
        auth,
        verify,
        cacert,
        endpoint_overrides,
        api_timeout,
        warnings,
    };
    resolved.check_complete(&where_)?;
    Ok(resolved)
}

impl ResolvedCloud {
    /// Missing credentials are errors now, not at the first request.
    fn check_complete(&self, where_: &str) -> Result<(), CloudError> {
        let name = &self.name;
        let missing = |key: &str, env: &str| {
            CloudError::config(format!(
                "cloud `{name}` in {where_} has no `{key}` (auth type `{}`)",
                self.auth_type.as_str()
            ))
            .hint(format!(
                "set `{key}` under `clouds.{name}` in `clouds.yaml` (secrets may go to \
                 `secure.yaml`), or `{env}` when using `OS_*` variables"
            ))
        };
        let a = &self.auth;
        if self.auth_type != AuthType::None && a.auth_url.is_none() {
            return Err(missing("auth.auth_url", "OS_AUTH_URL"));
        }
        match self.auth_type {
            AuthType::Password => {
                if a.username.is_none() && a.user_id.is_none() {
                    return Err(missing("auth.username", "OS_USERNAME"));
                }
                if a.password.is_none() {
                    return Err(missing("auth.password", "OS_PASSWORD"));
                }
            }
            AuthType::ApplicationCredential => {
                if a.application_credential_id.is_none() {
                    if a.application_credential_name.is_none() {
                        return Err(missing(
                            "auth.application_credential_id",
                            "OS_APPLICATION_CREDENTIAL_ID",
                        ));
                    }
                    if a.username.is_none() && a.user_id.is_none() {
                        return Err(missing("auth.username", "OS_USERNAME").hint(
                            "an application credential given by name needs `auth.username` \
                             (and `auth.user_domain_name`) or `auth.user_id`; or give \
                             `auth.application_credential_id`",
                        ));
                    }
                }
                if a.application_credential_secret.is_none() {
                    return Err(missing(
                        "auth.application_credential_secret",
                        "OS_APPLICATION_CREDENTIAL_SECRET",
                    ));
                }
            }
            AuthType::Token => {
                if a.token.is_none() {
                    return Err(missing("auth.token", "OS_TOKEN"));
                }
            }
            AuthType::None => {
                if self.endpoint_overrides.is_empty() && a.endpoint.is_none() {
                    return Err(CloudError::config(format!(
                        "cloud `{name}` in {where_} uses auth type `none` but sets no endpoint"
                    ))
                    .hint(
                        "add `compute_endpoint_override: URL` (and `network_`, `image_`, \
                         `load_balancer_`...) to the cloud",
                    ));
                }
            }
        }
        Ok(())
    }

    /// The `openstack_sdk` configuration for this cloud (auth cache off).
    ///
    /// # Errors
    /// Only if the SDK's config type rejects a value (it should not).
    pub fn to_sdk_config(&self) -> Result<openstack_sdk::config::CloudConfig, CloudError> {
        let a = &self.auth;
        let mut auth = Map::new();
        let mut put = |k: &str, v: Option<&str>| {
            if let Some(v) = v {
                auth.insert(k.to_string(), Value::String(v.to_string()));
            }
        };
        // The generic password plugin falls back to the default domain.
        let user_domain_name = a
            .user_domain_name
            .as_deref()
            .or(a.default_domain_name.as_deref());
        let user_domain_id = a
            .user_domain_id
            .as_deref()
            .or(a.default_domain_id.as_deref());
        let project_domain_name = a
            .project_domain_name
            .as_deref()
            .or(a.default_domain_name.as_deref());
        let project_domain_id = a
            .project_domain_id
            .as_deref()
            .or(a.default_domain_id.as_deref());
        let auth_url = a.auth_url.clone().or_else(|| {
            // `none`: the SDK still wants an identity URL; it is never contacted.
            a.endpoint
                .clone()
                .or_else(|| self.endpoint_overrides.values().next().cloned())
        });
        put("auth_url", auth_url.as_deref());
        put("username", a.username.as_deref());
        put("user_id", a.user_id.as_deref());
        put("password", a.password.as_ref().map(Secret::expose));
        put("project_name", a.project_name.as_deref());
        put("project_id", a.project_id.as_deref());
        put("user_domain_name", user_domain_name);
        put("user_domain_id", user_domain_id);
        put("project_domain_name", project_domain_name);
        put("project_domain_id", project_domain_id);
        put("domain_name", a.domain_name.as_deref());
        put("domain_id", a.domain_id.as_deref());
        put("system_scope", a.system_scope.as_deref());
        put(
            "application_credential_id",
            a.application_credential_id.as_deref(),
        );
        put(
            "application_credential_name",
            a.application_credential_name.as_deref(),
        );
        put(
            "application_credential_secret",
            a.application_credential_secret.as_ref().map(Secret::expose),
        );
        put("token", a.token.as_ref().map(Secret::expose));

        let mut cfg = Map::new();
        cfg.insert("auth".into(), Value::Object(auth));
        cfg.insert("auth_type".into(), self.auth_type.as_str().into());
        cfg.insert("interface".into(), self.interface.clone().into());
        if let Some(r) = &self.region_name {
            cfg.insert("region_name".into(), r.clone().into());
        }
        cfg.insert("name".into(), self.name.clone().into());
        if let Some(c) = &self.cacert {
            cfg.insert("cacert".into(), c.display().to_string().into());
        }
        cfg.insert("verify".into(), self.verify.into());
        cfg.insert("auth_cache".into(), false.into());
        for (service, url) in &self.endpoint_overrides {
            cfg.insert(
                format!("{}_endpoint_override", service.replace('-', "_")),
                url.clone().into(),
            );
        }
        serde_json::from_value(Value::Object(cfg)).map_err(|e| {
            CloudError::config(format!(
                "cannot build the OpenStack SDK configuration for cloud `{}`",
                self.name
            ))
            // serde_json's message names the field, never its value.
            .source(e)
        })
    }
}

fn defaults() -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("auth_type".into(), "password".into());
    m.insert("interface".into(), "public".into());
    m
}

/// Reads the first existing file of `candidates`: `(path, None)` for an empty file.
#[allow(clippy::type_complexity)]
fn load_first(
    candidates: &[PathBuf],
) -> Result<Option<(PathBuf, Option<Map<String, Value>>)>, CloudError> {
    for path in candidates {
        if !path.exists() {
            continue;
        }
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => continue,
            Err(e) => {
                return Err(
                    CloudError::config(format!("cannot read `{}`", path.display())).source(e),
                );
            }
        };
        // The position only: these files hold passwords, and parser messages quote the text.
        let parsed: Result<Value, crate::secret_yaml::Redacted> =
            if path.extension().is_some_and(|e| e == "json") {
                serde_json::from_str(&text).map_err(|e| crate::secret_yaml::Redacted::of_json(&e))
            } else {
                // PyYAML (YAML 1.1) semantics: duplicate keys allowed (last wins), octal
                // `0755`, and booleans exactly `true/false/yes/no/on/off` in three casings (not
                // `y`/`n`). Only a quoted "yes" is read differently (as a boolean).
                let options = serde_saphyr::options! {
                    strict_booleans: true,
                    legacy_octal_numbers: true,
                    duplicate_keys: serde_saphyr::DuplicateKeyPolicy::LastWins,
                };
                crate::secret_yaml::from_str_with_options(&text, options).map(yaml11_booleans)
            };
        let value = parsed.map_err(|e| {
            CloudError::config(format!("cannot parse `{}`: {e}", path.display())).hint(format!(
                "{}; or point `OS_CLIENT_CONFIG_FILE` at another file",
                crate::secret_yaml::Redacted::HINT
            ))
        })?;
        return match value {
            Value::Null => Ok(Some((path.clone(), None))),
            Value::Object(m) => Ok(Some((path.clone(), Some(m)))),
            _ => Err(
                CloudError::config(format!("`{}` is not a mapping", path.display()))
                    .hint("the file must start with `clouds:`"),
            ),
        };
    }
    Ok(None)
}

/// `yes`/`no`/`on`/`off` (PyYAML spellings) as booleans.
fn yaml11_booleans(v: Value) -> Value {
    match v {
        Value::String(s) => match s.as_str() {
            "yes" | "Yes" | "YES" | "on" | "On" | "ON" => Value::Bool(true),
            "no" | "No" | "NO" | "off" | "Off" | "OFF" => Value::Bool(false),
            _ => Value::String(s),
        },
        Value::Array(a) => Value::Array(a.into_iter().map(yaml11_booleans).collect()),
        Value::Object(m) => Value::Object(
            m.into_iter()
                .map(|(k, v)| (k, yaml11_booleans(v)))
                .collect(),
        ),
        other => other,
    }
}

/// Like `dict.update`, recursing into nested mappings (openstacksdk `merge_clouds`).
fn merge_clouds(mut old: Map<String, Value>, new: Map<String, Value>) -> Map<String, Value> {
    for (k, v) in new {
        match (old.remove(&k), v) {
            (Some(Value::Object(o)), Value::Object(n)) => {
                old.insert(k, Value::Object(merge_clouds(o, n)));
            }
            (_, v) => {
                old.insert(k, v);
            }
        }
    }
    old
}

/// `dict.update`, except that `auth` is updated key by key (openstacksdk `_auth_update`).
fn auth_update(old: &mut Map<String, Value>, new: &Map<String, Value>) {
    for (k, v) in new {
        if k == "auth"
            && let (Some(Value::Object(o)), Value::Object(n)) = (old.get_mut("auth"), v)
        {
            for (ak, av) in n {
                o.insert(ak.clone(), av.clone());
            }
            continue;
        }
        old.insert(k.clone(), v.clone());
    }
}

/// `-` becomes `_` in every key, recursively.
fn normalize_keys(m: Map<String, Value>) -> Map<String, Value> {
    m.into_iter()
        .map(|(k, v)| {
            let v = match v {
                Value::Object(o) => Value::Object(normalize_keys(o)),
                other => other,
            };
            (k.replace('-', "_"), v)
        })
        .collect()
}

/// A scalar as openstacksdk's `str()` would print it.
fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(true) => Some("True".into()),
        Value::Bool(false) => Some("False".into()),
        _ => None,
    }
}

/// openstacksdk's `get_boolean`: only `true` (any case) or a YAML `true` is true.
fn get_boolean(v: &Value) -> bool {
    match v {
        Value::Bool(b) => *b,
        Value::String(s) => s.eq_ignore_ascii_case("true"),
        _ => false,
    }
}

/// Python truthiness, for `verify` (which openstacksdk does not convert).
fn truthy(v: &Value) -> bool {
    match v {
        Value::Bool(b) => *b,
        Value::Null => false,
        Value::String(s) => !s.is_empty(),
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

fn expand_user(p: &str, env: &Env) -> PathBuf {
    match (p.strip_prefix("~/"), env.get("HOME")) {
        (Some(rest), Some(home)) => Path::new(home).join(rest),
        _ if p == "~" => env
            .get("HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| p.into()),
        _ => PathBuf::from(p),
    }
}

type Region = (String, Map<String, Value>);

/// openstacksdk `_get_known_regions`: `regions:`, else `region_name:` (a list or comma
/// separated), else the profile's.
fn known_regions(
    our: &Map<String, Value>,
    profile: Option<&Map<String, Value>>,
    name: &str,
    where_: &str,
) -> Result<Vec<Region>, CloudError> {
    let expand = |list: &[Value]| -> Result<Vec<Region>, CloudError> {
        list.iter()
            .map(|r| match r {
                Value::Object(m) => {
                    let rname = m.get("name").and_then(scalar);
                    let only_known = m.keys().all(|k| k == "name" || k == "values");
                    match (rname, only_known) {
                        (Some(n), true) => {
                            let values = match m.get("values") {
                                Some(Value::Object(v)) => normalize_keys(v.clone()),
                                _ => Map::new(),
                            };
                            Ok((n, values))
                        }
                        _ => Err(CloudError::config(format!(
                            "cloud `{name}` in {where_}: invalid entry under `regions`"
                        ))
                        .hint("a region is a name, or a mapping with `name:` and `values:`")),
                    }
                }
                other => Ok((scalar(other).unwrap_or_default(), Map::new())),
            })
            .collect()
    };
    let from = |m: &Map<String, Value>| -> Result<Option<Vec<Region>>, CloudError> {
        if let Some(Value::Array(list)) = m.get("regions") {
            return expand(list).map(Some);
        }
        match m.get("region_name") {
            Some(Value::Array(list)) => expand(list).map(Some),
            Some(v) => match scalar(v) {
                Some(s) => Ok(Some(
                    s.split(',').map(|r| (r.to_string(), Map::new())).collect(),
                )),
                None => Ok(None),
            },
            None => Ok(None),
        }
    };
    if let Some(r) = from(our)? {
        return Ok(r);
    }
    if let Some(p) = profile
        && let Some(r) = from(p)?
    {
        return Ok(r);
    }
    Ok(Vec::new())
}

/// openstacksdk `magic_fixes` (the parts that matter for authentication and endpoints).
fn magic_fixes(cloud: &mut Map<String, Value>) {
    // `<service>_timeout` -> `api_timeout`.
    let service_timeout: Option<Value> = cloud
        .iter()
        .filter(|(k, _)| k.ends_with("timeout") && *k != "timeout" && *k != "api_timeout")
        .map(|(_, v)| v.clone())
        .next_back();
    cloud.retain(|k, _| !(k.ends_with("timeout") && k != "timeout" && k != "api_timeout"));
    if let Some(t) = service_timeout {
        cloud.insert("api_timeout".into(), t);
    }

    // `auth_plugin` -> `auth_type`, `auth_type` winning.
    let mut target = Value::Null;
    for key in ["auth_plugin", "auth_type"] {
        if let Some(v) = cloud.remove(key) {
            target = v;
        }
    }
    cloud.insert("auth_type".into(), target);

    // Aliases; values outside `auth` win (they may come from the environment).
    let mut auth = match cloud.remove("auth") {
        Some(Value::Object(m)) => m,
        _ => Map::new(),
    };
    let mappings: [(&str, &[&str]); 10] = [
        ("domain_id", &["domain_id"]),
        ("domain_name", &["domain_name"]),
        ("user_domain_id", &["user_domain_id"]),
        ("user_domain_name", &["user_domain_name"]),
        ("project_domain_id", &["project_domain_id"]),
        ("project_domain_name", &["project_domain_name"]),
        ("token", &["auth_token", "token"]),
        ("passcode", &["passcode"]),
        ("project_id", &["tenant_id", "project_id"]),
        ("project_name", &["tenant_name", "project_name"]),
    ];
    for (target_key, possible) in mappings {
        let mut target = None;
        for key in possible {
            if let Some(v) = auth.remove(*key) {
                target = scalar(&v);
            }
            if let Some(v) = cloud.remove(*key) {
                target = scalar(&v);
            }
        }
        if let Some(t) = target.filter(|t| !t.is_empty()) {
            auth.insert(target_key.into(), Value::String(t));
        }
    }

    // `*endpoint_type` -> `*interface`.
    let renamed: Vec<(String, Value)> = cloud
        .iter()
        .filter(|(k, _)| k.ends_with("endpoint_type"))
        .map(|(k, v)| (k.replace("endpoint_type", "interface"), v.clone()))
        .collect();
    cloud.retain(|k, _| !k.ends_with("endpoint_type"));
    for (k, v) in renamed {
        cloud.insert(k, v);
    }

    // `domain_id`/`domain_name` stand for both user and project domain when project-scoped.
    let project_scoped = ["project_id", "project_name"]
        .iter()
        .any(|k| cloud.contains_key(*k) || auth.contains_key(*k));
    for (target_key, possible) in [
        ("domain_id", ["user_domain_id", "project_domain_id"]),
        ("domain_name", ["user_domain_name", "project_domain_name"]),
    ] {
        if !project_scoped {
            if !auth.contains_key(target_key)
                && let Some(v) = cloud.remove(target_key)
            {
                auth.insert(target_key.into(), v);
            }
            continue;
        }
        for key in possible {
            if let Some(v) = auth.get(target_key).cloned()
                && !auth.contains_key(key)
            {
                auth.insert(key.into(), v);
            }
        }
        cloud.remove(target_key);
        auth.remove(target_key);
    }
    cloud.insert("auth".into(), Value::Object(auth));
}

/// keystoneauth plugin options: the value under `auth` wins, else the top-level one; it ends
/// up under `auth` either way (openstacksdk `_validate_auth`).
fn validate_auth(cloud: &mut Map<String, Value>, auth_type: AuthType) {
    const COMMON: [&str; 9] = [
        "auth_url",
        "system_scope",
        "domain_id",
        "domain_name",
        "project_id",
        "project_name",
        "project_domain_id",
        "project_domain_name",
        "trust_id",
    ];
    const USER: [&str; 4] = ["user_id", "username", "user_domain_id", "user_domain_name"];
    let mut options: Vec<&str> = Vec::new();
    match auth_type {
        AuthType::Password => {
            options.extend(COMMON);
            options.extend(["default_domain_id", "default_domain_name"]);
            options.extend(USER);
            options.push("password");
        }
        AuthType::ApplicationCredential => {
            options.extend(COMMON);
            options.extend(USER);
            options.extend([
                "application_credential_secret",
                "application_credential_id",
                "application_credential_name",
            ]);
        }
        AuthType::Token => {
            options.extend(COMMON);
            options.extend(["default_domain_id", "default_domain_name", "token"]);
        }
        AuthType::None => options.push("endpoint"),
    }
    let mut auth = match cloud.remove("auth") {
        Some(Value::Object(m)) => m,
        _ => Map::new(),
    };
    let alias = |opt: &str| -> Option<&'static str> { (opt == "username").then_some("user_name") };
    for opt in options {
        let mut winning = None;
        for src in [&auth, &*cloud] {
            let v = src
                .get(opt)
                .or_else(|| alias(opt).and_then(|a| src.get(a)))
                .filter(|v| truthy(v));
            if let Some(v) = v {
                winning = Some(v.clone());
                break;
            }
        }
        for k in std::iter::once(opt).chain(alias(opt)) {
            auth.remove(k);
            cloud.remove(k);
        }
        if let Some(v) = winning {
            auth.insert(opt.into(), v);
        }
    }
    cloud.insert("auth".into(), Value::Object(auth));
}

fn known_list(clouds: &Map<String, Value>) -> String {
    if clouds.is_empty() {
        "none".to_string()
    } else {
        clouds
            .keys()
            .map(|k| format!("`{k}`"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn searched(candidates: &[PathBuf]) -> String {
    let mut dirs: Vec<String> = Vec::new();
    for c in candidates {
        let d = c
            .parent()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        if !dirs.contains(&d) {
            dirs.push(d);
        }
    }
    dirs.join(", ")
}

fn unknown_cloud_error(
    name: &str,
    clouds: &Map<String, Value>,
    sources: &Sources,
    candidates: &[PathBuf],
) -> CloudError {
    match &sources.clouds_file {
        Some(p) => CloudError::config(format!(
            "cloud `{name}` is not defined in `{}`",
            p.display()
        ))
        .hint(format!(
            "known clouds: {}; check `--os-cloud`/`OS_CLOUD`",
            known_list(clouds)
        )),
        None => CloudError::config(format!(
            "cloud `{name}` is not defined: no `clouds.yaml` found"
        ))
        .hint(format!(
            "searched {}; set `OS_CLIENT_CONFIG_FILE` or create `~/.config/openstack/clouds.yaml` \
             (known clouds: {})",
            searched(candidates),
            known_list(clouds)
        )),
    }
}

fn no_cloud_error(
    clouds: &Map<String, Value>,
    sources: &Sources,
    candidates: &[PathBuf],
) -> CloudError {
    let file = match &sources.clouds_file {
        Some(p) => format!("`{}` defines {}", p.display(), known_list(clouds)),
        None => format!("no `clouds.yaml` found (searched {})", searched(candidates)),
    };
    CloudError::config(format!("no cloud selected: {file}")).hint(
        "pass `--os-cloud NAME`, set `OS_CLOUD`, or set `OS_AUTH_URL` and the other `OS_*` \
         variables (e.g. `source openrc.sh`)",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_with(dir: &Path, vars: &[(&str, &str)]) -> Env {
        let mut m: BTreeMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        m.insert("HOME".into(), dir.join("home").display().to_string());
        Env {
            vars: m,
            cwd: dir.to_path_buf(),
        }
    }

    #[test]
    fn secrets_are_redacted_everywhere() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("clouds.yaml"),
            "clouds:\n  c:\n    auth:\n      auth_url: http://k/v3\n      username: u\n      password: hunter2-secret\n",
        )
        .unwrap();
        let env = env_with(dir.path(), &[("OS_PASSWORD_X", "hunter2-secret")]);
        let c = resolve_with(Some("c"), &env).unwrap();
        assert_eq!(c.auth.password.as_ref().unwrap().expose(), "hunter2-secret");
        assert!(!format!("{c:?}").contains("hunter2"));
        assert!(!format!("{env:?}").contains("hunter2"));
        let sdk = c.to_sdk_config().unwrap();
        assert!(!format!("{sdk:?}").contains("hunter2"));
    }

    #[test]
    fn unknown_auth_type_names_cloud_file_and_key() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("clouds.yaml"),
            "clouds:\n  c:\n    auth_type: v3oidcpassword\n    auth:\n      auth_url: http://k/v3\n",
        )
        .unwrap();
        let e = resolve_with(Some("c"), &env_with(dir.path(), &[])).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("`c`") && msg.contains("clouds.yaml") && msg.contains("auth_type"));
        assert!(msg.contains("v3oidcpassword"), "{msg}");
        assert!(e.hint.is_some());
    }

    #[test]
    fn missing_password_is_a_located_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("clouds.yaml"),
            "clouds:\n  c:\n    auth:\n      auth_url: http://k/v3\n      username: u\n",
        )
        .unwrap();
        let e = resolve_with(Some("c"), &env_with(dir.path(), &[])).unwrap_err();
        assert!(e.to_string().contains("auth.password"), "{e}");
        assert!(e.hint.unwrap().contains("secure.yaml"));
    }

    #[test]
    fn none_auth_takes_endpoint_overrides() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("clouds.yaml"),
            "clouds:\n  fake:\n    auth_type: none\n    compute_endpoint_override: http://127.0.0.1:1/v2.1\n    load-balancer_endpoint_override: http://127.0.0.1:2/\n",
        )
        .unwrap();
        let c = resolve_with(None, &env_with(dir.path(), &[])).unwrap();
        assert_eq!(c.auth_type, AuthType::None);
        assert_eq!(c.endpoint_overrides["compute"], "http://127.0.0.1:1/v2.1");
        assert_eq!(c.endpoint_overrides["load-balancer"], "http://127.0.0.1:2/");
        c.to_sdk_config().unwrap();
    }
}
