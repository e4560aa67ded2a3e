//! Rendering: validated [`Settings`] -> `clusterctl.yaml` (R4's UPPER_SNAKE variables),
//! `cluster-template.yaml` (manifests with clusterctl `${VAR}` placeholders) and the final
//! manifests (the template expanded with those variables, exactly as
//! `clusterctl generate cluster` would).
//!
//! Structure that depends on settings (allowlist, security groups, etcd files) is decided
//! by the minijinja templates; R4's variables stay `${VAR}`s so clusterctl users can keep
//! editing `clusterctl.yaml`. Machine-template names end in a hash of their spec.
//!
//! What only the cloud knows comes in as [`CloudFacts`] (see [`facts`] for what is
//! rendered with and without them); with a credential, the Secret's `clouds.yaml` and the
//! OCCM/CSI `cloud.conf` are rendered from `templates/common/` too.

pub mod clusterctl_yaml;
pub mod envsubst;
pub mod facts;
mod name_hash;
pub mod profile;
mod templates;

use std::collections::HashMap;
use std::path::Path;

use serde::Serialize;

pub use facts::{AppCredential, CloudFacts};
pub use profile::Profile;

use crate::error::{Error, Result};
use crate::etcd;
use crate::settings::Settings;
use crate::settings::values::{AllowEntry, OvnLbProvider, Toggle};

/// What `render` produces for one cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub cluster_name: String,
    /// `clusterctl.yaml`: the variables, R4 keys.
    pub clusterctl_yaml: String,
    /// The manifests with `${VAR}` placeholders.
    pub cluster_template: String,
    /// The final manifests (`<cluster>-config.yaml`).
    pub manifests: String,
    /// `cloud.conf` for OCCM and Cinder CSI (the workload cluster's
    /// `kube-system/cloud-config`); only with a credential from [`CloudFacts`].
    pub cloud_conf: Option<String>,
    /// Whether `clusterctl_yaml` and `manifests` hold a credential (files must be 0600).
    pub has_secrets: bool,
    /// Things the user should know about the output (not errors).
    pub notes: Vec<String>,
}

/// Render options beyond the settings.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub profile: Profile,
    /// Management cluster egress CIDR from the command line (wins over the setting).
    pub mgmt_cidr: Option<crate::settings::values::Cidr>,
    /// What the cloud told `prepare-cloud`; `None` renders from the settings alone.
    pub facts: Option<CloudFacts>,
}

/// The renderer: compiled templates, reusable for many clusters.
pub struct Renderer {
    env: minijinja::Environment<'static>,
}

/// Structure the templates decide on.
#[derive(Serialize)]
struct Context {
    allowed_cidrs: Vec<String>,
    allow_all_in_cluster_traffic: bool,
    calico_rules: bool,
    external_network: bool,
    external_network_is_id: bool,
    failure_domain: bool,
    anti_affinity: bool,
    /// Server groups by id (`OPENSTACK_SRVGRP_*`) rather than by name (profile default).
    server_group_ids: bool,
    control_plane_root_volume: bool,
    worker_root_volume: bool,
    security_groups: Vec<String>,
    etcd_args: Vec<(String, String)>,
    control_plane_files: Vec<etcd::NodeFile>,
    control_plane_pre_commands: Vec<String>,
    control_plane_post_commands: Vec<String>,
}

impl Renderer {
    /// # Errors
    /// When a template under `templates_dir` cannot be read or parsed.
    pub fn new(templates_dir: Option<&Path>) -> Result<Renderer> {
        Ok(Renderer {
            env: templates::environment(templates_dir)?,
        })
    }

    /// Renders one cluster. The settings must have passed validation.
    ///
    /// # Errors
    /// [`Error::Usage`] when the kube-API allowlist is set but the management cluster's
    /// address is unknown; [`Error::Template`] when a (user) template fails.
    pub fn render(&self, settings: &Settings, opts: &Options) -> Result<Rendered> {
        let no_facts = CloudFacts::default();
        let facts = opts.facts.as_ref().unwrap_or(&no_facts);
        let settings = &effective(settings, opts, facts);
        let ctx = context(settings, facts)?;
        let template_name = format!("{}/cluster-template.yaml.j2", opts.profile.dir());
        let cluster_template = self.render_template(&template_name, &ctx)?;
        let secrets = match &facts.credential {
            Some(c) => Some(self.credential_files(settings, facts, c)?),
            None => None,
        };
        let extra = extra_vars(facts, secrets.as_ref());

        let mut notes = Vec::new();
        // Expand once without generation suffixes to hash the machine templates' specs.
        let unsuffixed = clusterctl_vars(settings, ("", ""), &extra);
        let draft = expand(&cluster_template, &unsuffixed, &template_name)?;
        let hashes = name_hash::machine_template_hashes(&draft);
        let gens = (
            pick_gen(&settings.control_plane_machine_gen, &hashes.0),
            pick_gen(&settings.worker_machine_gen, &hashes.1),
        );
        let vars = clusterctl_vars(settings, (&gens.0, &gens.1), &extra);
        let manifests = expand(&cluster_template, &vars, &template_name)?;

        let minors = opts.profile.workload_minors();
        if !minors.contains(&settings.kubernetes_version.minor) {
            notes.push(format!(
                "Kubernetes {} is outside what Cluster API v{} supports for workload clusters (v1.{}-v1.{}); use the {} profile or another version",
                settings.kubernetes_version.minor_string(),
                opts.profile.clusterapi_version(),
                minors.start(),
                minors.end(),
                if opts.profile == Profile::R4 { "default" } else { "r4" },
            ));
        }
        if opts.profile == Profile::R4 && settings.anti_affinity && !ctx.server_group_ids {
            notes.push(
                "profile r4 names server groups by ID: `scs-capi prepare-cloud --render-out DIR` fills `OPENSTACK_SRVGRP_CONTROLLER` and `OPENSTACK_SRVGRP_WORKER`; until then the manifests carry none"
                    .into(),
            );
        }
        if facts.credential.is_none() {
            notes.push(format!(
                "no application credential: the `{}-cloud-config` Secret is empty and no cloud.conf is written; `scs-capi prepare-cloud --render-out DIR` renders them with the cluster's own credential (needs Keystone)",
                settings.name()
            ));
        }
        Ok(Rendered {
            cluster_name: settings.name().to_string(),
            clusterctl_yaml: clusterctl_yaml::write(&vars, opts.profile),
            cluster_template,
            manifests,
            has_secrets: secrets.is_some(),
            cloud_conf: secrets.map(|s| s.cloud_conf),
            notes,
        })
    }

    fn render_template(&self, name: &str, ctx: &impl Serialize) -> Result<String> {
        self.env
            .get_template(name)
            .and_then(|t| t.render(minijinja::Value::from(minijinja::value::Serde(ctx))))
            .map_err(|source| Error::Template {
                name: name.to_string(),
                source,
            })
    }

    /// The Secret's `clouds.yaml` and the OCCM/CSI `cloud.conf` for `cred`.
    fn credential_files(
        &self,
        s: &Settings,
        facts: &CloudFacts,
        cred: &AppCredential,
    ) -> Result<CredentialFiles> {
        let ovn = match s.use_ovn_lb_provider {
            OvnLbProvider::True => true,
            OvnLbProvider::Auto => facts.lb_provider.as_deref() == Some("ovn"),
            OvnLbProvider::False => false,
        };
        let ctx = CredentialContext {
            cloud: s.cloud_provider.clone(),
            auth_url: cred.auth_url.clone(),
            region: cred.region.clone(),
            interface: cred.interface.clone(),
            project_id: cred.project_id.clone(),
            credential_id: cred.id.clone(),
            credential_secret: cred.secret.expose().to_string(),
            ovn,
        };
        Ok(CredentialFiles {
            clouds_yaml: self.render_template("common/clouds.yaml.j2", &ctx)?,
            cloud_conf: self.render_template("common/cloud.conf.j2", &ctx)?,
            cacert: cred.cacert_pem.clone(),
        })
    }
}

/// Values of the credential templates (this struct holds the secret only while rendering).
#[derive(Serialize)]
struct CredentialContext {
    cloud: String,
    auth_url: String,
    region: Option<String>,
    interface: String,
    project_id: Option<String>,
    credential_id: String,
    credential_secret: String,
    ovn: bool,
}

struct CredentialFiles {
    clouds_yaml: String,
    cloud_conf: String,
    cacert: Option<String>,
}

/// The settings with what the cloud told us filled in: the egress CIDR (command line >
/// setting > cloud), root volumes for diskless flavors (a setting wins), the external
/// network's id.
fn effective(settings: &Settings, opts: &Options, facts: &CloudFacts) -> Settings {
    let mut s = settings.clone();
    s.mgmt_egress_cidr = opts
        .mgmt_cidr
        .or(s.mgmt_egress_cidr)
        .or(facts.mgmt_egress_cidr);
    let gib = |g: u64| u32::try_from(g).unwrap_or(u32::MAX);
    if s.controller_root_disk_gib == 0
        && let Some(g) = facts.controller_root_volume_gib
    {
        s.controller_root_disk_gib = gib(g);
    }
    if s.worker_root_disk_gib == 0
        && let Some(g) = facts.worker_root_volume_gib
    {
        s.worker_root_disk_gib = gib(g);
    }
    if let Some(id) = &facts.external_network_id {
        s.external = id.clone();
    }
    if s.clusterapi_version.is_empty() {
        s.clusterapi_version = opts.profile.clusterapi_version().into();
    }
    if s.capi_openstack_version.is_empty() {
        s.capi_openstack_version = opts.profile.capo_version().into();
    }
    s
}

/// clusterctl variables only the cloud can give (R4's keys).
fn extra_vars(
    facts: &CloudFacts,
    secrets: Option<&CredentialFiles>,
) -> Vec<(&'static str, String)> {
    use base64::Engine;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let mut vars = Vec::new();
    if let (Some(cp), Some(wk)) = (
        &facts.controller_server_group_id,
        &facts.worker_server_group_id,
    ) {
        vars.push(("OPENSTACK_SRVGRP_CONTROLLER", cp.clone()));
        vars.push(("OPENSTACK_SRVGRP_WORKER", wk.clone()));
    }
    if let Some(files) = secrets {
        vars.push(("OPENSTACK_CLOUD_YAML_B64", b64(&files.clouds_yaml)));
        if let Some(ca) = &files.cacert {
            vars.push(("OPENSTACK_CLOUD_CACERT_B64", b64(ca)));
        }
    }
    vars
}

fn pick_gen(explicit: &str, hash: &str) -> String {
    if explicit.is_empty() {
        hash.to_string()
    } else {
        explicit.to_string()
    }
}

fn clusterctl_vars(
    settings: &Settings,
    gens: (&str, &str),
    extra: &[(&'static str, String)],
) -> Vec<(&'static str, String)> {
    let mut vars = crate::settings::clusterctl_keys::to_vars(settings, gens);
    vars.extend(extra.iter().cloned());
    vars
}

fn expand(template: &str, vars: &[(&'static str, String)], name: &str) -> Result<String> {
    let map: HashMap<&str, &str> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    envsubst::expand(template, |k| map.get(k).map(|v| (*v).to_string())).map_err(|missing| {
        Error::usage(
            format!("template `{name}` uses variables that have no value: {missing}"),
            Some("a template from `--templates` may only use the variables of clusterctl.yaml, or give a default with `${VAR:=default}`".to_string()),
        )
    })
}

fn context(s: &Settings, facts: &CloudFacts) -> Result<Context> {
    let mgmt = s.mgmt_egress_cidr;
    let list = &s.restrict_kubeapi.0;
    let allowed_cidrs = if list.is_empty() {
        Vec::new()
    } else {
        let Some(mgmt) = mgmt else {
            return Err(Error::usage(
                "`restrict_kubeapi` is set but the management cluster's egress address is unknown",
                Some("pass `--mgmt-cidr ADDR/32` or set `mgmt_egress_cidr`, so the management cluster can always reach the kube-API".to_string()),
            ));
        };
        let mut cidrs = vec![mgmt.0.trunc().to_string()];
        for e in list {
            if let AllowEntry::Net(net) = e {
                let net = net.trunc().to_string();
                if !cidrs.contains(&net) {
                    cidrs.push(net);
                }
            }
        }
        cidrs
    };
    let use_cilium = s.use_cilium != Toggle::Off;
    let mut security_groups = vec![
        "${PREFIX}-allow-ssh".to_string(),
        "${PREFIX}-allow-icmp".to_string(),
    ];
    if use_cilium {
        security_groups.push("${PREFIX}-${CLUSTER_NAME}-cilium".to_string());
    }
    let quota_bytes = s.etcd_quota_backend_mib * 1024 * 1024;
    let etcd_args = [
        ("heartbeat-interval", "250".to_string()),
        ("election-timeout", "2500".to_string()),
        ("snapshot-count", "6400".to_string()),
        ("auto-compaction-mode", "periodic".to_string()),
        ("auto-compaction-retention", "8h".to_string()),
        ("quota-backend-bytes", quota_bytes.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let allow_all = !allowed_cidrs.is_empty();
    Ok(Context {
        allow_all_in_cluster_traffic: allow_all,
        // CAPO v1beta1 does not open calico's ports by itself; allowing all in-cluster
        // traffic covers them already.
        calico_rules: !use_cilium && !allow_all,
        allowed_cidrs,
        external_network: !s.external.is_empty(),
        external_network_is_id: looks_like_uuid(&s.external),
        failure_domain: !s.availability_zone.is_empty(),
        anti_affinity: s.anti_affinity,
        server_group_ids: facts.controller_server_group_id.is_some()
            && facts.worker_server_group_id.is_some(),
        control_plane_root_volume: s.controller_root_disk_gib > 0,
        worker_root_volume: s.worker_root_disk_gib > 0,
        security_groups,
        etcd_args,
        control_plane_files: etcd::node_files(&s.etcd_defrag, quota_bytes),
        control_plane_pre_commands: if s.etcd_defrag.enabled {
            etcd::pre_kubeadm_commands()
        } else {
            Vec::new()
        },
        control_plane_post_commands: etcd::post_kubeadm_commands(&s.etcd_defrag),
    })
}

fn looks_like_uuid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.iter().map(|p| p.len()).eq([8, 4, 4, 4, 12])
        && s.bytes().all(|b| b == b'-' || b.is_ascii_hexdigit())
}
