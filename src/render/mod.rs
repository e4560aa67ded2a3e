//! Rendering: validated [`Settings`] -> `clusterctl.yaml` (R4's UPPER_SNAKE variables),
//! `cluster-template.yaml` (manifests with clusterctl `${VAR}` placeholders) and the final
//! manifests (the template expanded with those variables, exactly as
//! `clusterctl generate cluster` would).
//!
//! Structure that depends on settings (allowlist, security groups, etcd files) is decided
//! by the minijinja templates; R4's variables stay `${VAR}`s so clusterctl users can keep
//! editing `clusterctl.yaml`. Machine-template names end in a hash of their spec.

pub mod clusterctl_yaml;
pub mod envsubst;
mod name_hash;
pub mod profile;
mod templates;

use std::collections::HashMap;
use std::path::Path;

use serde::Serialize;

pub use profile::Profile;

use crate::error::{Error, Result};
use crate::etcd;
use crate::settings::Settings;
use crate::settings::values::{AllowEntry, Toggle};

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
    /// Things the user should know about the output (not errors).
    pub notes: Vec<String>,
}

/// Render options beyond the settings.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub profile: Profile,
    /// Management cluster egress CIDR from the command line (wins over the setting).
    pub mgmt_cidr: Option<crate::settings::values::Cidr>,
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
        let ctx = context(settings, opts)?;
        let template_name = format!("{}/cluster-template.yaml.j2", opts.profile.dir());
        let cluster_template = self
            .env
            .get_template(&template_name)
            .and_then(|t| t.render(minijinja::Value::from(minijinja::value::Serde(&ctx))))
            .map_err(|source| Error::Template {
                name: template_name.clone(),
                source,
            })?;

        let mut notes = Vec::new();
        // Expand once without generation suffixes to hash the machine templates' specs.
        let unsuffixed = clusterctl_vars(settings, opts, ("", ""));
        let draft = expand(&cluster_template, &unsuffixed, &template_name)?;
        let hashes = name_hash::machine_template_hashes(&draft);
        let gens = (
            pick_gen(&settings.control_plane_machine_gen, &hashes.0),
            pick_gen(&settings.worker_machine_gen, &hashes.1),
        );
        let vars = clusterctl_vars(settings, opts, (&gens.0, &gens.1));
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
        if opts.profile == Profile::R4 && settings.anti_affinity {
            notes.push(
                "profile r4 names server groups by ID: create-cluster fills `OPENSTACK_SRVGRP_CONTROLLER` and `OPENSTACK_SRVGRP_WORKER`; until then the manifests carry none"
                    .into(),
            );
        }
        Ok(Rendered {
            cluster_name: settings.name().to_string(),
            clusterctl_yaml: clusterctl_yaml::write(&vars, opts.profile),
            cluster_template,
            manifests,
            notes,
        })
    }
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
    opts: &Options,
    gens: (&str, &str),
) -> Vec<(&'static str, String)> {
    let mut s = settings.clone();
    if let Some(cidr) = opts.mgmt_cidr {
        s.mgmt_egress_cidr = Some(cidr);
    }
    if s.clusterapi_version.is_empty() {
        s.clusterapi_version = opts.profile.clusterapi_version().into();
    }
    if s.capi_openstack_version.is_empty() {
        s.capi_openstack_version = opts.profile.capo_version().into();
    }
    crate::settings::clusterctl_keys::to_vars(&s, gens)
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

fn context(s: &Settings, opts: &Options) -> Result<Context> {
    let mgmt = opts.mgmt_cidr.or(s.mgmt_egress_cidr);
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
