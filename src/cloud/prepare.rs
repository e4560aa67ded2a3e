//! Cloud preparation for one cluster (`scs-capi prepare-cloud`, later `create-cluster`): a
//! [`Plan`] built from read-only calls, then executed idempotently.
//!
//! Owns: the checks (flavors, root disks against the image's `min_disk`, node image and
//! where a missing one comes from, external network, availability zone, load-balancer
//! provider, the management cluster's egress address) and the per-cluster resources (node
//! image upload, restricted application credential with its secret in the state dir,
//! server groups, cilium security group and rules). Every check runs before anything is
//! created; a plan with a problem creates nothing. A diskless flavor gets a root volume of
//! a computed size ([`root_volume_gib`]) unless the settings give one. What it finds
//! (server-group ids, root-volume sizes, egress CIDR, external network, LB provider) is in
//! [`Outputs`]; [`super::facts`] turns them into rendering input.
//!
//! Leaves to others: the image's source and checksum ([`super::image_source`]), its
//! conversion ([`super::image_convert`]) and upload ([`super::image`]), deleting resources
//! (`cleanup`), and printing (the command prints the plan; this module reports progress
//! through a [`Progress`]).

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::api::{Api, Flavor, IngressRule, Policy};
use super::image::{GlanceTls, ImageTimeouts, ensure_image};
use super::image_convert;
use super::image_source::{self, NodeImageSource};
use super::names::{ClusterNames, ServerGroupRole};
use super::{CloudError, CloudErrorKind, Secret, Session};
use crate::settings::Settings;
use crate::settings::values::{Lifetime, OvnLbProvider, Toggle};
use crate::ui::Progress;

/// The namespace of the cluster's CAPI objects (R4: `default`); only CAPO's names use it.
pub const R4_NAMESPACE: &str = "default";

/// The roles the per-cluster application credential gets (those the caller holds): what
/// CAPO, OCCM and the Cinder CSI need.
pub const APP_CREDENTIAL_ROLES: &[&str] = &["member", "load-balancer_member"];

/// Ingress rules of the cilium security group (VXLAN, health, hubble), from itself.
pub const CILIUM_RULES: &[IngressRule] = &[
    IngressRule {
        protocol: "udp",
        port: 8472,
    },
    IngressRule {
        protocol: "tcp",
        port: 4240,
    },
    IngressRule {
        protocol: "tcp",
        port: 4244,
    },
];

/// What a step finds or does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum State {
    /// A check passed, or the resource exists and is adopted.
    Ok,
    /// Would be created (plan) ...
    Create,
    /// ... and was (after execution).
    Created,
    /// Not needed with these settings.
    Skipped,
    /// A problem: nothing is created while any step is in this state.
    Error,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Ok => "ok",
            State::Create => "create",
            State::Created => "created",
            State::Skipped => "skipped",
            State::Error => "error",
        }
    }
}

/// One line of the plan.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    /// `flavor controller`, `server-group worker`, `security-group cilium`...
    pub step: String,
    /// The OpenStack name concerned.
    pub name: String,
    pub state: State,
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

/// What rendering needs from the cloud.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Outputs {
    pub controller_server_group_id: Option<String>,
    pub worker_server_group_id: Option<String>,
    pub cilium_security_group_id: Option<String>,
    pub external_network_id: Option<String>,
    pub external_network_name: Option<String>,
    pub image_id: Option<String>,
    /// Root volume size for the control plane (GiB) when it boots from a volume.
    pub controller_root_volume_gib: Option<u64>,
    pub worker_root_volume_gib: Option<u64>,
    /// `ovn` or `amphora` for OCCM load balancers; `None` when not probed.
    pub lb_provider: Option<String>,
    /// The management cluster's egress CIDR for the kube-API allowlist.
    pub mgmt_egress_cidr: Option<String>,
    pub app_credential_id: Option<String>,
    /// Where the application credential's secret is stored (0600).
    pub app_credential_file: Option<PathBuf>,
    /// When the application credential expires (UTC, `2027-12-07T03:00:00`, the form
    /// Keystone takes), or `never`: the existing one's, or the one to be created.
    pub app_credential_expires_at: Option<String>,
}

/// The plan (and after execution, the result) for one cluster.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub cloud: String,
    pub cluster: String,
    pub dry_run: bool,
    pub steps: Vec<Step>,
    pub outputs: Outputs,
    /// Things to act on that do not stop the plan (a credential about to expire).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    #[serde(skip)]
    appcred: AppCredPlan,
    /// `expires_at` of a credential to be created (`None`: never).
    #[serde(skip)]
    appcred_expires_at: Option<String>,
    /// The source of a node image to upload (step `image` in state `create`).
    #[serde(skip)]
    image_source: Option<NodeImageSource>,
}

/// How a missing node image is fetched and uploaded.
#[derive(Debug, Clone)]
pub struct ImageOptions {
    /// TLS for the upload client: the cloud's `verify` and `cacert`.
    pub tls: GlanceTls,
    /// Where a download is converted to raw ([`image_convert::cache_dir`]).
    pub cache_dir: PathBuf,
    pub timeouts: ImageTimeouts,
}

#[derive(Debug, Clone, Default)]
enum AppCredPlan {
    #[default]
    None,
    Create,
    Recreate(String),
}

impl Plan {
    /// Fixes the `expires_at` of the credential to be created: now plus `lifetime`.
    fn set_new_expiry(&mut self, lifetime: Lifetime) {
        self.appcred_expires_at = credential_expires_at(chrono::Utc::now(), lifetime);
        self.outputs.app_credential_expires_at = Some(
            self.appcred_expires_at
                .clone()
                .unwrap_or_else(|| "never".into()),
        );
    }

    /// The id of the application credential this plan would delete and create anew
    /// because its secret is not in the state directory.
    pub fn replaced_app_credential(&self) -> Option<&str> {
        match &self.appcred {
            AppCredPlan::Recreate(id) => Some(id),
            _ => None,
        }
    }

    /// Steps in state [`State::Error`].
    pub fn problems(&self) -> impl Iterator<Item = &Step> {
        self.steps.iter().filter(|s| s.state == State::Error)
    }

    fn push(
        &mut self,
        step: &str,
        name: &str,
        state: State,
        detail: impl Into<String>,
    ) -> &mut Step {
        self.steps.push(Step {
            step: step.to_string(),
            name: name.to_string(),
            state,
            detail: detail.into(),
            hint: None,
            id: None,
        });
        let last = self.steps.len() - 1;
        &mut self.steps[last]
    }

    fn set(&mut self, step: &str, state: State, id: Option<String>, detail: impl Into<String>) {
        if let Some(s) = self.steps.iter_mut().find(|s| s.step == step) {
            s.state = state;
            s.detail = detail.into();
            if id.is_some() {
                s.id = id;
            }
        }
    }

    /// The problems as one error (exit 2), or `Ok` when there are none.
    ///
    /// # Errors
    /// A [`CloudError`] listing every problem.
    pub fn check(&self) -> Result<(), CloudError> {
        let problems: Vec<&Step> = self.problems().collect();
        if problems.is_empty() {
            return Ok(());
        }
        let lines: Vec<String> = problems
            .iter()
            .map(|s| format!("{} `{}`: {}", s.step, s.name, s.detail))
            .collect();
        let mut err = CloudError::new(
            CloudErrorKind::Config,
            format!(
                "cloud `{}` is not ready for cluster `{}` ({} problem(s)); nothing was created:\n  - {}",
                self.cloud,
                self.cluster,
                problems.len(),
                lines.join("\n  - ")
            ),
        );
        let hints: Vec<&str> = problems.iter().filter_map(|s| s.hint.as_deref()).collect();
        if !hints.is_empty() {
            err = err.hint(hints.join("\n      "));
        }
        Err(err)
    }
}

/// A credential expiring within this many days draws a warning.
pub const EXPIRY_WARNING_DAYS: i64 = 30;

/// The `expires_at` Keystone takes for a credential created at `now` that lives `lifetime`
/// (UTC, whole seconds, `2027-12-07T03:00:00`); `None` for `never`.
pub fn credential_expires_at(
    now: chrono::DateTime<chrono::Utc>,
    lifetime: Lifetime,
) -> Option<String> {
    let hours = i64::try_from(lifetime.hours()?).ok()?;
    let at = now.checked_add_signed(chrono::TimeDelta::try_hours(hours)?)?;
    Some(at.format("%Y-%m-%dT%H:%M:%S").to_string())
}

/// Keystone's `expires_at` (`2027-12-07T03:16:33.000000`, UTC, sometimes with `Z`).
pub fn parse_keystone_time(s: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    let t = s.trim().trim_end_matches('Z');
    let t = t.strip_suffix("+00:00").unwrap_or(t);
    chrono::NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S%.f")
        .ok()
        .map(|n| n.and_utc())
}

/// `1 day`, `12 days`.
fn days(n: i64) -> String {
    if n == 1 {
        "1 day".into()
    } else {
        format!("{n} days")
    }
}

/// `expires 2027-12-07 (in 365 days)`, `expired on ...`, `never expires`.
fn describe_expiry(expires_at: Option<&str>, now: chrono::DateTime<chrono::Utc>) -> String {
    let Some(e) = expires_at else {
        return "never expires".into();
    };
    match parse_keystone_time(e) {
        Some(at) if at <= now => format!(
            "expired on {} ({} ago)",
            at.format("%Y-%m-%d"),
            days((now - at).num_days())
        ),
        Some(at) => format!(
            "expires {} (in {})",
            at.format("%Y-%m-%d"),
            days((at - now).num_days())
        ),
        None => format!("expires `{e}`"),
    }
}

fn describe_new_expiry(lifetime: Lifetime, now: chrono::DateTime<chrono::Utc>) -> String {
    match credential_expires_at(now, lifetime) {
        Some(at) => format!(
            "{} (`app_credential_expires_in: {lifetime}`)",
            describe_expiry(Some(&at), now)
        ),
        None => "never expires (`app_credential_expires_in: never`)".into(),
    }
}

/// The warning for a credential that expires within [`EXPIRY_WARNING_DAYS`] or has
/// expired; `None` otherwise (and for a date that does not parse).
pub fn expiry_warning(
    cluster: &str,
    name: &str,
    expires_at: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Option<String> {
    let at = parse_keystone_time(expires_at)?;
    let left = (at - now).num_days();
    let date = at.format("%Y-%m-%d %H:%M UTC");
    let what = if at <= now {
        format!(
            "application credential `{name}` of cluster `{cluster}` expired on {date} ({} \
             ago): the cluster's CAPO, OCCM and Cinder CSI can no longer reach the cloud",
            days((now - at).num_days())
        )
    } else if left < EXPIRY_WARNING_DAYS {
        format!(
            "application credential `{name}` of cluster `{cluster}` expires on {date} (in \
             {}): from then on the cluster's CAPO, OCCM and Cinder CSI can no longer \
             reach the cloud",
            days(left)
        )
    } else {
        return None;
    };
    Some(format!(
        "{what}; scs-capi cannot rotate it yet (`scs-capi rotate-credentials` is planned): see \
         docs/maintenance.md, \"Application credential\", for what to do"
    ))
}

/// Where a cluster's local state lives: `$XDG_STATE_HOME/scs-capi/<cluster>` (else
/// `~/.local/state/scs-capi/<cluster>`).
///
/// # Errors
/// When neither `XDG_STATE_HOME` nor `HOME` is set.
pub fn state_dir(cluster: &str) -> Result<PathBuf, CloudError> {
    crate::state::dir(cluster).map_err(|e| CloudError::config(e.to_string()))
}

/// The application credential file in `dir`.
pub fn app_credential_file(dir: &Path) -> PathBuf {
    dir.join("appcred.yaml")
}

/// The credential id recorded in `file`, if the file exists and holds a secret.
pub(crate) fn stored_app_credential_id(file: &Path) -> Option<String> {
    read_app_credential(file).map(|(id, _)| id)
}

/// The credential id and secret recorded in `file` (written by `prepare-cloud`), if the
/// file exists and holds both.
pub fn read_app_credential(file: &Path) -> Option<(String, Secret)> {
    let text = std::fs::read_to_string(file).ok()?;
    let field = |key: &str| {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(key))
            .map(|v| v.trim().trim_matches('"').to_string())
            .filter(|v| !v.is_empty())
    };
    let secret = field("application_credential_secret:")?;
    Some((field("application_credential_id:")?, Secret::new(secret)))
}

/// Root volume (GiB) for a diskless flavor, R5's heuristic (`flavor_disk.sh`): the image
/// size plus 2 plus half the RAM in GiB, rounded down to a multiple of 5, at most 125 and
/// never below the image size. `image_gib` is the image's `min_disk`; unknown or 0 counts
/// as 20, as R5 assumed without an image.
pub fn root_volume_gib(image_gib: Option<u64>, ram_mib: u64) -> u64 {
    let image = image_gib.filter(|g| *g > 0).unwrap_or(20);
    let ram_gib = (ram_mib + 64) / 1024;
    ((image + 2 + ram_gib / 2) / 5 * 5).min(125).max(image)
}

/// The node-image step: adopt an active image, or plan its upload from a source whose
/// SHA-256 is known (probing the source's first bytes for its size). Returns the
/// `min_disk` and `min_ram` the flavors must satisfy, when known.
async fn plan_image(
    plan: &mut Plan,
    settings: &Settings,
    image: Option<super::api::Image>,
    images: &ImageOptions,
) -> (Option<u64>, Option<u64>) {
    let name = settings.node_image_name();
    match image {
        Some(img) if img.status == "active" => {
            let s = plan.push(
                "image",
                &name,
                State::Ok,
                format!(
                    "active, min_disk {} GiB, min_ram {} MiB",
                    img.min_disk_gib, img.min_ram_mib
                ),
            );
            s.id = Some(img.id.clone());
            plan.outputs.image_id = Some(img.id);
            (Some(img.min_disk_gib), Some(img.min_ram_mib))
        }
        // Not active: a leftover of an interrupted upload, or an upload in flight. The upload
        // step removes a stale leftover (and waits for a live upload) before uploading.
        leftover => match image_source::resolve(settings, &images.timeouts).await {
            Err(e) => {
                let s = plan.push(
                    "image",
                    &name,
                    State::Error,
                    format!("missing, and cannot be uploaded: {}", e.message),
                );
                s.hint = e.hint;
                (None, None)
            }
            Ok(source) => {
                let min_disk = source.min_disk_gib();
                let mut detail = source.describe(settings);
                if let Some(img) = &leftover {
                    detail = format!(
                        "{detail}; image `{}` of that name is `{}` (a stale leftover is removed \
                         first, a running upload is waited for)",
                        img.id, img.status
                    );
                }
                let converter = if source.needs_conversion(settings) {
                    Some(image_convert::qemu_img_version())
                } else {
                    None
                };
                match converter {
                    Some(Err(e)) => {
                        plan.push("image", &name, State::Error, e.message).hint = e.hint;
                    }
                    _ => {
                        plan.push("image", &name, State::Create, detail);
                    }
                }
                plan.image_source = Some(source);
                // R4 registered its images with `--min-ram 1024`.
                ((min_disk > 0).then_some(min_disk), Some(1024))
            }
        },
    }
}

/// Builds the plan with read-only calls (concurrently): against the cloud, and for a
/// missing node image against its source (checksum file, first bytes).
///
/// # Errors
/// API or transport failures; problems with the cloud are steps in state `error`.
pub async fn plan(
    session: &Session,
    api: &Api<'_>,
    settings: &Settings,
    state: &Path,
    images: &ImageOptions,
    dry_run: bool,
    progress: &dyn Progress,
) -> Result<Plan, CloudError> {
    let cluster = settings.name().to_string();
    let names = ClusterNames::new(settings.prefix.clone(), cluster.clone(), R4_NAMESPACE);
    let mut plan = Plan {
        cloud: session.cloud_name().to_string(),
        cluster: cluster.clone(),
        dry_run,
        steps: Vec::new(),
        outputs: Outputs::default(),
        warnings: Vec::new(),
        appcred: AppCredPlan::None,
        appcred_expires_at: None,
        image_source: None,
    };
    progress.message(&format!(
        "checking cloud `{}` for cluster `{cluster}`",
        session.cloud_name()
    ));
    let image_name = settings.node_image_name();
    let cilium = settings.use_cilium != Toggle::Off;
    let need_egress =
        !settings.restrict_kubeapi.0.is_empty() && settings.mgmt_egress_cidr.is_none();
    let probe_lb = settings.use_ovn_lb_provider != OvnLbProvider::False;
    let has_keystone = session.user_id().is_some();
    let appcred_name = names.app_credential();
    let mgmt_name = names.management_server();
    let cilium_name = names.cilium_security_group();

    let (cp_flavor, wk_flavor, image, ext, azs, providers, groups, sg, mgmt, appcred) = tokio::join!(
        api.find_flavor(&settings.controller_flavor),
        async {
            if settings.worker_flavor == settings.controller_flavor {
                Ok(None)
            } else {
                api.find_flavor(&settings.worker_flavor).await.map(Some)
            }
        },
        api.find_image(&image_name),
        api.external_networks(),
        async {
            if settings.availability_zone.is_empty() {
                Ok(Vec::new())
            } else {
                api.availability_zones().await
            }
        },
        async {
            if probe_lb {
                api.lb_providers().await.map(Some)
            } else {
                Ok(None)
            }
        },
        async {
            if settings.anti_affinity {
                api.server_groups().await
            } else {
                Ok(Vec::new())
            }
        },
        async {
            if cilium {
                api.find_security_group(&cilium_name).await
            } else {
                Ok(None)
            }
        },
        async {
            if need_egress {
                api.find_server(&mgmt_name).await
            } else {
                Ok(None)
            }
        },
        async {
            if has_keystone {
                session.find_app_credential(&appcred_name).await
            } else {
                Ok(None)
            }
        },
    );
    let cp_flavor = cp_flavor?;
    let wk_flavor = match wk_flavor? {
        Some(f) => f,
        None => cp_flavor.clone(),
    };

    // Node image: present and active, or uploaded from a known, checksummed source.
    // Its min_disk (from Glance, or from the source's qcow2 header) decides the root disks.
    let (min_disk, min_ram) = plan_image(&mut plan, settings, image?, images).await;

    // Flavors and root disks.
    for (role, flavor_name, flavor, root_key, root_gib) in [
        (
            "controller",
            &settings.controller_flavor,
            &cp_flavor,
            "controller_root_disk_gib",
            settings.controller_root_disk_gib,
        ),
        (
            "worker",
            &settings.worker_flavor,
            &wk_flavor,
            "worker_root_disk_gib",
            settings.worker_root_disk_gib,
        ),
    ] {
        let step = format!("flavor {role}");
        let Some(Flavor {
            id,
            disk_gib,
            vcpus,
            ram_mib,
            ..
        }) = flavor
        else {
            plan.push(&step, flavor_name, State::Error, "flavor does not exist")
                .hint = Some(format!(
                "pick an existing flavor for `{role}_flavor` (`openstack flavor list`)"
            ));
            continue;
        };
        // A root volume: the setting, else a computed one for a diskless flavor (R5's
        // fixup_flavor_volumes.sh), else none (the flavor's disk).
        let (disk, volume, how) = if root_gib > 0 {
            let g = u64::from(root_gib);
            (g, Some(g), format!("root volume {g} GiB (`{root_key}`)"))
        } else if *disk_gib > 0 {
            (*disk_gib, None, format!("disk {disk_gib} GiB"))
        } else {
            let g = root_volume_gib(min_disk, *ram_mib);
            (
                g,
                Some(g),
                format!("no disk: root volume {g} GiB (computed; set `{root_key}` to choose)"),
            )
        };
        let s = plan.push(
            &step,
            flavor_name,
            State::Ok,
            format!("{vcpus} vCPU, {ram_mib} MiB, {how}"),
        );
        s.id = Some(id.clone());
        if role == "controller" {
            plan.outputs.controller_root_volume_gib = volume;
        } else {
            plan.outputs.worker_root_volume_gib = volume;
        }
        if let Some(need) = min_disk
            && disk < need
        {
            plan.push(
                &format!("root disk {role}"),
                flavor_name,
                State::Error,
                format!("{disk} GiB is smaller than the image's min_disk {need} GiB"),
            )
            .hint = Some(format!(
                "set `{root_key}` to at least {need} or pick a flavor with a larger disk"
            ));
        }
        if let Some(need) = min_ram
            && *ram_mib < need
        {
            plan.push(
                &format!("ram {role}"),
                flavor_name,
                State::Error,
                format!("{ram_mib} MiB is less than the image's min_ram {need} MiB"),
            );
        }
    }

    // External network.
    let ext = ext?;
    let list = |nets: &[super::api::Network]| {
        nets.iter()
            .map(|n| format!("`{}` ({})", n.name, n.id))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let chosen: Result<&super::api::Network, (String, String)> = if settings.external.is_empty() {
        match ext.as_slice() {
            [one] => Ok(one),
            [] => Err(("(auto)".into(), "the cloud has no external network".into())),
            many => Err((
                "(auto)".into(),
                format!(
                    "the cloud has {} external networks: {}; choose one",
                    many.len(),
                    list(many)
                ),
            )),
        }
    } else {
        ext.iter()
            .find(|n| n.name == settings.external || n.id == settings.external)
            .ok_or_else(|| {
                (
                    settings.external.clone(),
                    format!(
                        "no such external network; the cloud has: {}",
                        if ext.is_empty() {
                            "none".into()
                        } else {
                            list(&ext)
                        }
                    ),
                )
            })
    };
    match chosen {
        Ok(n) => {
            let s = plan.push("external network", &n.name, State::Ok, "router:external");
            s.id = Some(n.id.clone());
            plan.outputs.external_network_id = Some(n.id.clone());
            plan.outputs.external_network_name = Some(n.name.clone());
        }
        Err((name, detail)) => {
            plan.push("external network", &name, State::Error, detail)
                .hint = Some("set `external` to the name or id of one external network".into());
        }
    }

    // Availability zone.
    let azs = azs?;
    if settings.availability_zone.is_empty() {
        plan.push("availability zone", "(any)", State::Skipped, "Nova chooses");
    } else if azs.contains(&settings.availability_zone) {
        plan.push(
            "availability zone",
            &settings.availability_zone,
            State::Ok,
            "available",
        );
    } else {
        plan.push(
            "availability zone",
            &settings.availability_zone,
            State::Error,
            format!("no such zone; the cloud has: {}", azs.join(", ")),
        )
        .hint = Some("set `availability_zone` to one of them, or empty".into());
    }

    // Load-balancer provider.
    match providers? {
        None => {
            plan.push(
                "lb provider",
                "amphora",
                State::Skipped,
                "use_ovn_lb_provider: false",
            );
        }
        Some(p) => {
            let ovn = p.iter().any(|n| n == "ovn");
            match (settings.use_ovn_lb_provider, ovn) {
                (OvnLbProvider::True, false) => {
                    plan.push(
                        "lb provider",
                        "ovn",
                        State::Error,
                        format!("Octavia has no `ovn` provider (it has: {})", p.join(", ")),
                    )
                    .hint = Some("set `use_ovn_lb_provider: auto` or `false`".into());
                }
                (_, true) => {
                    plan.push("lb provider", "ovn", State::Ok, "offered by Octavia");
                    plan.outputs.lb_provider = Some("ovn".into());
                }
                (_, false) => {
                    plan.push(
                        "lb provider",
                        "amphora",
                        State::Ok,
                        "no `ovn` provider: default",
                    );
                    plan.outputs.lb_provider = Some("amphora".into());
                }
            }
        }
    }

    // Management cluster egress address.
    let mgmt = mgmt?;
    if let Some(c) = &settings.mgmt_egress_cidr {
        plan.push(
            "mgmt egress",
            &c.to_string(),
            State::Ok,
            "from `mgmt_egress_cidr`",
        );
        plan.outputs.mgmt_egress_cidr = Some(c.to_string());
    } else if !need_egress {
        plan.push(
            "mgmt egress",
            "-",
            State::Skipped,
            "`restrict_kubeapi` is empty",
        );
    } else {
        match mgmt.as_ref().and_then(|s| s.floating_ips.last()) {
            Some(ip) => {
                let cidr = if ip.contains(':') {
                    format!("{ip}/128")
                } else {
                    format!("{ip}/32")
                };
                plan.push(
                    "mgmt egress",
                    &cidr,
                    State::Ok,
                    format!("floating IP of `{mgmt_name}`"),
                );
                plan.outputs.mgmt_egress_cidr = Some(cidr);
            }
            None => {
                let why = if mgmt.is_some() {
                    format!("server `{mgmt_name}` has no floating IP")
                } else {
                    format!("no server `{mgmt_name}`")
                };
                plan.push(
                    "mgmt egress",
                    &mgmt_name,
                    State::Error,
                    format!("`restrict_kubeapi` is set but the management cluster's egress address is unknown: {why}"),
                )
                .hint = Some(
                    "set `mgmt_egress_cidr` so the allowlist never locks the management cluster out"
                        .into(),
                );
            }
        }
    }

    // Application credential.
    let cred_file = app_credential_file(state);
    if !has_keystone {
        plan.push(
            "app credential",
            &appcred_name,
            State::Skipped,
            "the cloud has no Keystone user (auth type `none`)",
        );
    } else {
        match appcred? {
            Some(c) if stored_app_credential_id(&cred_file).as_deref() == Some(c.id.as_str()) => {
                let now = chrono::Utc::now();
                plan.push(
                    "app credential",
                    &appcred_name,
                    State::Ok,
                    format!(
                        "exists, {}; secret in `{}`",
                        describe_expiry(c.expires_at.as_deref(), now),
                        cred_file.display()
                    ),
                )
                .id = Some(c.id.clone());
                if let Some(w) = c
                    .expires_at
                    .as_deref()
                    .and_then(|e| expiry_warning(&cluster, &appcred_name, e, now))
                {
                    plan.warnings.push(w);
                }
                plan.outputs.app_credential_expires_at =
                    Some(c.expires_at.clone().unwrap_or_else(|| "never".into()));
                plan.outputs.app_credential_id = Some(c.id);
                plan.outputs.app_credential_file = Some(cred_file.clone());
            }
            Some(c) => {
                plan.push(
                    "app credential",
                    &appcred_name,
                    State::Create,
                    format!(
                        "exists, but its secret is not in `{}`: will be deleted and recreated",
                        cred_file.display()
                    ),
                )
                .id = Some(c.id.clone());
                plan.appcred = AppCredPlan::Recreate(c.id);
                plan.set_new_expiry(settings.app_credential_expires_in);
            }
            None => {
                plan.push(
                    "app credential",
                    &appcred_name,
                    State::Create,
                    format!(
                        "restricted, roles {}, {}; secret to `{}`",
                        APP_CREDENTIAL_ROLES.join(", "),
                        describe_new_expiry(settings.app_credential_expires_in, chrono::Utc::now()),
                        cred_file.display()
                    ),
                );
                plan.appcred = AppCredPlan::Create;
                plan.set_new_expiry(settings.app_credential_expires_in);
            }
        }
    }

    // Server groups.
    let groups = groups?;
    if settings.anti_affinity {
        let cp_policy = if settings.soft_anti_affinity_controller {
            Policy::SoftAntiAffinity
        } else {
            Policy::AntiAffinity
        };
        for (role, policy) in [
            (ServerGroupRole::Controller, cp_policy),
            (ServerGroupRole::Worker, Policy::SoftAntiAffinity),
        ] {
            let name = names.server_group(role);
            let step = match role {
                ServerGroupRole::Controller => "server-group controller",
                ServerGroupRole::Worker => "server-group worker",
            };
            match groups.iter().find(|g| g.name == name) {
                Some(g) if g.policy == policy.as_str() => {
                    plan.push(step, &name, State::Ok, format!("exists, {}", g.policy))
                        .id = Some(g.id.clone());
                    match role {
                        ServerGroupRole::Controller => {
                            plan.outputs.controller_server_group_id = Some(g.id.clone())
                        }
                        ServerGroupRole::Worker => {
                            plan.outputs.worker_server_group_id = Some(g.id.clone())
                        }
                    }
                }
                Some(g) => {
                    plan.push(
                        step,
                        &name,
                        State::Error,
                        format!(
                            "exists with policy `{}`, expected `{}`",
                            g.policy,
                            policy.as_str()
                        ),
                    )
                    .hint = Some(format!(
                        "delete server group `{}` when no server uses it, then re-run",
                        g.id
                    ));
                }
                None => {
                    plan.push(step, &name, State::Create, policy.as_str());
                }
            }
        }
    } else {
        plan.push(
            "server-groups",
            "-",
            State::Skipped,
            "`anti_affinity` is off",
        );
    }

    // Cilium security group.
    if cilium {
        match sg? {
            Some(g) => {
                let have = api.self_ingress_rules(&g.id).await?;
                let missing: Vec<String> = CILIUM_RULES
                    .iter()
                    .filter(|r| {
                        !have
                            .iter()
                            .any(|(p, port)| p == r.protocol && *port == r.port)
                    })
                    .map(|r| format!("{}/{}", r.protocol, r.port))
                    .collect();
                let (state, detail) = if missing.is_empty() {
                    (State::Ok, "exists with its 3 rules".to_string())
                } else {
                    (
                        State::Create,
                        format!("exists; rules to add: {}", missing.join(", ")),
                    )
                };
                plan.push("security-group cilium", &cilium_name, state, detail)
                    .id = Some(g.id.clone());
                plan.outputs.cilium_security_group_id = Some(g.id);
            }
            None => {
                plan.push(
                    "security-group cilium",
                    &cilium_name,
                    State::Create,
                    "ingress udp/8472, tcp/4240, tcp/4244 from itself",
                );
            }
        }
    } else {
        plan.push(
            "security-group cilium",
            &cilium_name,
            State::Skipped,
            "`use_cilium` is off",
        );
    }
    plan_node_access(&mut plan, api, settings).await?;

    Ok(plan)
}

/// The security groups every machine template names besides CAPO's own: R4's terraform
/// made them with the management server; `prepare-cloud` creates them when missing, with
/// the same rules.
fn node_access_groups(prefix: &str) -> [(String, &'static str, Option<u16>); 2] {
    [
        (format!("{prefix}-allow-ssh"), "tcp", Some(22)),
        (format!("{prefix}-allow-icmp"), "icmp", None),
    ]
}

/// Checks what the machine templates reference by name and CAPO would otherwise fail each
/// machine on: the SSH keypair (which scs-capi cannot make without the user's public key)
/// and the `<prefix>-allow-ssh`/`<prefix>-allow-icmp` security groups (planned for
/// creation when missing).
async fn plan_node_access(
    plan: &mut Plan,
    api: &Api<'_>,
    settings: &Settings,
) -> Result<(), CloudError> {
    let keypair = settings.ssh_keypair_name();
    let groups = node_access_groups(&settings.prefix);
    let (has_keypair, ssh, icmp) = tokio::join!(
        api.keypair_exists(&keypair),
        api.find_security_group(&groups[0].0),
        api.find_security_group(&groups[1].0),
    );
    if has_keypair? {
        plan.push("keypair", &keypair, State::Ok, "exists");
    } else {
        let step = plan.push(
            "keypair",
            &keypair,
            State::Error,
            "does not exist: every machine template names it",
        );
        step.hint = Some(format!(
            "upload your SSH public key under that name (`openstack keypair create \
             --public-key ~/.ssh/id_ed25519.pub {keypair}`, or in Horizon: Compute > Key \
             Pairs > Import Public Key), or set `ssh_keypair` to a keypair you have"
        ));
    }
    for ((name, protocol, port), found) in groups.iter().zip([ssh?, icmp?]) {
        let rule = match port {
            Some(p) => format!("ingress {protocol}/{p} from 0.0.0.0/0"),
            None => format!("ingress {protocol} from 0.0.0.0/0"),
        };
        match found {
            Some(g) => plan.push("security-group", name, State::Ok, "exists").id = Some(g.id),
            None => {
                plan.push("security-group", name, State::Create, rule);
            }
        }
    }
    Ok(())
}

/// Creates the node-access security groups [`plan_node_access`] planned, with R4's rules.
async fn create_node_access(
    api: &Api<'_>,
    plan: &mut Plan,
    prefix: &str,
    progress: &dyn Progress,
) -> Result<(), CloudError> {
    for (name, protocol, port) in node_access_groups(prefix) {
        let planned = plan
            .steps
            .iter()
            .any(|s| s.step == "security-group" && s.name == name && s.state == State::Create);
        if !planned {
            continue;
        }
        progress.message(&format!("creating security group `{name}`"));
        let (g, _) = api
            .ensure_security_group(&name, "node access (as R4's terraform made it)")
            .await?;
        api.ensure_ingress_rule_from(&g.id, protocol, port, "0.0.0.0/0")
            .await?;
        if let Some(s) = plan
            .steps
            .iter_mut()
            .find(|s| s.step == "security-group" && s.name == name)
        {
            s.state = State::Created;
            s.id = Some(g.id);
        }
    }
    Ok(())
}

/// A safe point between steps: an error (kind `Interrupted`) once SIGINT/SIGTERM came in.
fn safe_point(at: &str) -> Result<(), CloudError> {
    crate::interrupt::check(at).map_err(|i| {
        CloudError::new(super::CloudErrorKind::Interrupted, i.to_string()).hint(
            "what was created so far stays; run the command again to finish (every step is \
             create-or-adopt)",
        )
    })
}

/// Executes the `create` steps of a plan without problems, in order: application
/// credential, server groups, cilium security group and rules. Each is create-or-adopt, so
/// a re-run after a failure finishes the job.
///
/// # Errors
/// The plan's problems (nothing created), API or transport failures, or the credential
/// file not being writable.
pub async fn execute(
    session: &Session,
    api: &Api<'_>,
    settings: &Settings,
    state: &Path,
    images: &ImageOptions,
    plan: &mut Plan,
    progress: &dyn Progress,
) -> Result<(), CloudError> {
    plan.check()?;
    let names = ClusterNames::new(settings.prefix.clone(), plan.cluster.clone(), R4_NAMESPACE);

    // Node image first: the longest step, and one whose failure (a wrong checksum) should
    // leave nothing else behind.
    if let Some(source) = plan.image_source.clone()
        && plan
            .steps
            .iter()
            .any(|s| s.step == "image" && s.state == State::Create)
    {
        let info = upload_image(session, api, settings, &source, images, progress).await?;
        let how = match info.outcome {
            super::image::ImageOutcome::Adopted => "uploaded by someone else meanwhile",
            super::image::ImageOutcome::Uploaded { .. } => "uploaded",
        };
        plan.set(
            "image",
            State::Created,
            Some(info.id.clone()),
            format!(
                "{how}, {}, min_disk {} GiB",
                info.disk_format.as_deref().unwrap_or("?"),
                info.min_disk
            ),
        );
        plan.outputs.image_id = Some(info.id);
    }

    safe_point("before creating the application credential")?;
    // Application credential.
    let appcred_name = names.app_credential();
    let recreate = match &plan.appcred {
        AppCredPlan::None => None,
        AppCredPlan::Create => Some(None),
        AppCredPlan::Recreate(id) => Some(Some(id.clone())),
    };
    if let Some(old) = recreate {
        if let Some(id) = old {
            progress.message(&format!(
                "deleting application credential `{appcred_name}` (secret unknown)"
            ));
            session.delete_app_credential(&id).await?;
        }
        progress.message(&format!("creating application credential `{appcred_name}`"));
        let (id, secret) = session
            .create_restricted_app_credential(
                &appcred_name,
                APP_CREDENTIAL_ROLES,
                plan.appcred_expires_at.as_deref(),
            )
            .await?;
        let file = app_credential_file(state);
        write_app_credential(state, &file, session, &appcred_name, &id, &secret)?;
        plan.set(
            "app credential",
            State::Created,
            Some(id.clone()),
            format!(
                "restricted, {}; secret in `{}`",
                describe_expiry(plan.appcred_expires_at.as_deref(), chrono::Utc::now()),
                file.display()
            ),
        );
        plan.outputs.app_credential_id = Some(id);
        plan.outputs.app_credential_file = Some(file);
    }

    safe_point("before creating the server groups")?;
    // Server groups.
    if settings.anti_affinity {
        let cp_policy = if settings.soft_anti_affinity_controller {
            Policy::SoftAntiAffinity
        } else {
            Policy::AntiAffinity
        };
        for (role, policy, step) in [
            (
                ServerGroupRole::Controller,
                cp_policy,
                "server-group controller",
            ),
            (
                ServerGroupRole::Worker,
                Policy::SoftAntiAffinity,
                "server-group worker",
            ),
        ] {
            let name = names.server_group(role);
            let planned = plan
                .steps
                .iter()
                .any(|s| s.step == step && s.state == State::Create);
            if !planned {
                continue;
            }
            progress.message(&format!(
                "creating server group `{name}` ({})",
                policy.as_str()
            ));
            let (g, created) = api.ensure_server_group(&name, policy).await?;
            plan.set(
                step,
                if created { State::Created } else { State::Ok },
                Some(g.id.clone()),
                g.policy.clone(),
            );
            match role {
                ServerGroupRole::Controller => plan.outputs.controller_server_group_id = Some(g.id),
                ServerGroupRole::Worker => plan.outputs.worker_server_group_id = Some(g.id),
            }
        }
    }

    // Cilium security group and rules.
    safe_point("before creating the cilium security group")?;
    let sg_step = "security-group cilium";
    if plan
        .steps
        .iter()
        .any(|s| s.step == sg_step && s.state == State::Create)
    {
        let name = names.cilium_security_group();
        progress.message(&format!("creating security group `{name}` and its rules"));
        let (g, created) = api
            .ensure_security_group(&name, &format!("cilium for cluster {}", plan.cluster))
            .await?;
        let have = if created {
            Vec::new()
        } else {
            api.self_ingress_rules(&g.id).await?
        };
        let mut added = Vec::new();
        for rule in CILIUM_RULES {
            if have
                .iter()
                .any(|(p, port)| p == rule.protocol && *port == rule.port)
            {
                continue;
            }
            if api.ensure_self_ingress_rule(&g.id, rule).await? {
                added.push(format!("{}/{}", rule.protocol, rule.port));
            }
        }
        let detail = if added.is_empty() {
            "rules present".to_string()
        } else {
            format!("rules added: {}", added.join(", "))
        };
        plan.set(sg_step, State::Created, Some(g.id.clone()), detail);
        plan.outputs.cilium_security_group_id = Some(g.id);
    }
    create_node_access(api, plan, &settings.prefix, progress).await?;
    plan.dry_run = false;
    Ok(())
}

/// Uploads the node image from `source`: streamed as it is, or (`kube_image_raw` and a
/// qcow2 source) downloaded, verified and converted to raw in the cache directory first.
async fn upload_image(
    session: &Session,
    api: &Api<'_>,
    settings: &Settings,
    source: &NodeImageSource,
    images: &ImageOptions,
    progress: &dyn Progress,
) -> Result<super::image::ImageInfo, CloudError> {
    let mut spec = image_source::spec_for(settings, source);
    spec.tls = images.tls.clone();
    spec.timeouts = images.timeouts;
    if !source.needs_conversion(settings) {
        return ensure_image(session, &spec, progress).await;
    }
    // Someone may have uploaded it since the plan: then there is nothing to convert.
    if let Some(img) = api.find_image(&spec.name).await?
        && img.status == "active"
    {
        return ensure_image(session, &spec, progress).await;
    }
    let raw = image_convert::download_and_convert(
        source,
        &spec.name,
        &images.cache_dir,
        &images.timeouts,
        progress,
    )
    .await?;
    spec.source = raw.path.display().to_string();
    spec.sha256 = raw.sha256.clone();
    spec.disk_format = Some(super::image::DiskFormat::Raw);
    spec.min_disk_gib = raw.virtual_size.div_ceil(1024 * 1024 * 1024);
    spec.origin = Some(source.url.clone());
    spec.build_date = raw.modified.or(source.modified);
    // `raw` (and its file) lives until the upload is done.
    let info = ensure_image(session, &spec, progress).await;
    drop(raw);
    info
}

/// Writes the credential as a clouds.yaml-style entry into `file` (0600; `dir` 0700).
fn write_app_credential(
    dir: &Path,
    file: &Path,
    session: &Session,
    name: &str,
    id: &str,
    secret: &Secret,
) -> Result<(), CloudError> {
    use std::os::unix::fs::PermissionsExt;
    let io = |what: &str, e: &dyn std::fmt::Display| {
        CloudError::config(format!("cannot {what} `{}`: {e}", file.display()))
            .hint("check the permissions of the state directory (`XDG_STATE_HOME`)")
    };
    std::fs::create_dir_all(dir).map_err(|e| io("create the directory of", &e))?;
    for d in [Some(dir), dir.parent()].into_iter().flatten() {
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| io("restrict the directory of", &e))?;
    }
    let body = format!(
        "# Restricted application credential of cluster `{cluster}`, written by \
         `scs-capi prepare-cloud`. Keep private.\n\
         cloud: {cloud}\n\
         application_credential_name: {name}\n\
         application_credential_id: {id}\n\
         application_credential_secret: \"{secret}\"\n",
        cluster = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        cloud = session.cloud_name(),
        secret = secret.expose(),
    );
    crate::fsutil::write_file(file, body.as_bytes(), 0o600).map_err(|e| io("write", &e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> chrono::DateTime<chrono::Utc> {
        parse_keystone_time(s).unwrap()
    }

    #[test]
    fn new_credentials_expire_in_keystones_form() {
        use crate::settings::values::LifetimeUnit;
        let now = at("2026-12-07T03:00:00.123456");
        let days = |amount| Lifetime::After {
            amount,
            unit: LifetimeUnit::Days,
        };
        assert_eq!(
            credential_expires_at(now, days(365)).as_deref(),
            Some("2027-12-07T03:00:00")
        );
        let weeks = Lifetime::After {
            amount: 52,
            unit: LifetimeUnit::Weeks,
        };
        assert_eq!(
            credential_expires_at(now, weeks).as_deref(),
            Some("2027-12-06T03:00:00")
        );
        assert_eq!(credential_expires_at(now, Lifetime::Never), None);
        // What Keystone lists back parses, with or without fractions and `Z`.
        for k in [
            "2027-12-07T03:00:00.000000",
            "2027-12-07T03:00:00Z",
            "2027-12-07T03:00:00",
        ] {
            assert_eq!(at(k), at("2027-12-07T03:00:00"), "{k}");
        }
        assert_eq!(parse_keystone_time("next year"), None);
    }

    #[test]
    fn expiry_warns_within_thirty_days_and_after() {
        let now = at("2026-12-07T03:00:00");
        let w = |e: &str| expiry_warning("foo", "capi-foo-appcred", e, now);
        assert_eq!(w("2027-12-07T03:00:00"), None);
        assert_eq!(w("2027-01-07T03:00:00"), None, "31 days left");
        let soon = w("2026-12-19T15:30:00.000000").unwrap();
        assert!(soon.contains("`capi-foo-appcred`"), "{soon}");
        assert!(soon.contains("2026-12-19 15:30 UTC"), "{soon}");
        assert!(soon.contains("in 12 days"), "{soon}");
        assert!(soon.contains("docs/maintenance.md"), "{soon}");
        let gone = w("2026-12-01T03:00:00").unwrap();
        assert!(
            gone.contains("expired on 2026-12-01") && gone.contains("6 days ago"),
            "{gone}"
        );
        assert_eq!(w("garbage"), None);
        assert_eq!(describe_expiry(None, now), "never expires");
        assert_eq!(
            describe_expiry(Some("2027-12-07T03:00:00"), now),
            "expires 2027-12-07 (in 365 days)"
        );
    }

    #[test]
    fn root_volumes_follow_r5s_heuristic() {
        // SCS-2V-4 (4 GiB) and a 20 GiB image: 20 + 2 + 2 = 24 -> 20.
        assert_eq!(root_volume_gib(Some(20), 4096), 20);
        // SCS-4V-16: 20 + 2 + 8 = 30.
        assert_eq!(root_volume_gib(Some(20), 16384), 30);
        // Never below the image, at most 125 unless the image is larger.
        assert_eq!(root_volume_gib(Some(40), 4096), 40);
        assert_eq!(root_volume_gib(Some(20), 512 * 1024), 125);
        assert_eq!(root_volume_gib(Some(200), 4096), 200);
        // Unknown image size counts as R5's 20: 20 + 2 + 4 = 26 -> 25.
        assert_eq!(root_volume_gib(None, 8192), 25);
        assert_eq!(root_volume_gib(Some(0), 8192), 25);
        // RAM rounds as R5's `(RAM+64)/1024`.
        assert_eq!(root_volume_gib(Some(23), 8 * 1024 - 64), 25);
    }

    #[test]
    fn stored_id_needs_a_secret() {
        let dir = std::env::temp_dir().join(format!("scs-capi-prep-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("appcred.yaml");
        std::fs::write(&f, "application_credential_id: abc\n").unwrap();
        assert_eq!(stored_app_credential_id(&f), None);
        std::fs::write(
            &f,
            "application_credential_id: abc\napplication_credential_secret: \"s\"\n",
        )
        .unwrap();
        assert_eq!(stored_app_credential_id(&f).as_deref(), Some("abc"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
