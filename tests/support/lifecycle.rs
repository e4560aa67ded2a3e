//! The environment of the lifecycle tests (`create-cluster`, `upgrade-cluster`,
//! `delete-cluster` end to end): the fake OpenStack with a flavor and node images,
//! fake-kube as the management cluster with its simulated CAPI/CAPO wired to the fake
//! cloud ([`super::cloud_glue`]), addon manifests from a local mirror ([`super::mirror`]),
//! and the binary run as a process with `HOME`/`XDG_*` in a temp dir.
//!
//! The cloud is reached one of two ways ([`Auth`]): standalone (`auth_type: none`, endpoint
//! overrides; fast, but no application credential can exist) or through a real Keystone
//! ([`super::keystone`]) whose catalog points at the fake, with the `demo` user's password
//! in the clouds.yaml, so the per-cluster application credential is made, used and
//! removed.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use assert_cmd::Command;
use fake_kube::{Fake, Profile};
use fake_openstack::FakeCloud;
use serde_json::{Value, json};

use super::keystone::{DEMO_PW, Keystone};

/// The node image of [`Env::settings`] (named explicitly, so it does not follow the
/// Kubernetes version).
pub const IMAGE: &str = "ubuntu-capi-image-test";

/// Kubernetes versions whose default node image (`ubuntu-capi-image-<version>`) the fake
/// cloud holds, so settings without `node_image` find theirs for these versions (v1.25 and
/// v1.26 for the `r4` profile, whose CAPI 1.3 supports up to v1.26).
pub const SEEDED_VERSIONS: &[&str] = fake_openstack::DEMO_NODE_IMAGE_VERSIONS;

/// How the tool authenticates to the fake cloud.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// Standalone clouds.yaml (`auth_type: none`): no Keystone, no application credential.
    None,
    /// Keystone with the fake's endpoints in its catalog; clouds.yaml cloud `fake` logs in
    /// as `demo` with [`DEMO_PW`] (`auth_type: password`).
    Keystone,
}

/// The apiVersions of the objects a profile renders.
#[derive(Debug, Clone, Copy)]
pub struct Apis {
    /// Cluster, MachineDeployment, Machine.
    pub capi: &'static str,
    pub kcp: &'static str,
    pub bootstrap: &'static str,
    /// OpenStackCluster, OpenStackMachineTemplate, OpenStackMachine.
    pub infra: &'static str,
}

impl Apis {
    pub fn of(profile: Profile) -> Apis {
        match profile {
            Profile::Default => Apis {
                capi: "cluster.x-k8s.io/v1beta2",
                kcp: "controlplane.cluster.x-k8s.io/v1beta2",
                bootstrap: "bootstrap.cluster.x-k8s.io/v1beta2",
                infra: "infrastructure.cluster.x-k8s.io/v1beta1",
            },
            Profile::R4 => Apis {
                capi: "cluster.x-k8s.io/v1beta1",
                kcp: "controlplane.cluster.x-k8s.io/v1beta1",
                bootstrap: "bootstrap.cluster.x-k8s.io/v1beta1",
                infra: "infrastructure.cluster.x-k8s.io/v1alpha6",
            },
        }
    }
}

pub struct Env {
    pub profile: Profile,
    pub cloud: FakeCloud,
    /// With [`Auth::Keystone`]; declared before `dir` so it stops before its directory goes.
    pub keystone: Option<Keystone>,
    _os: fake_openstack::Running,
    pub kube: Fake,
    _kube: fake_kube::Running,
    pub mirror: String,
    _mirror_rt: tokio::runtime::Runtime,
    dir: tempfile::TempDir,
}

/// Builds an [`Env`]: how the tool authenticates and which API generation the management
/// cluster serves.
pub struct EnvBuilder {
    auth: Auth,
    profile: Profile,
}

impl EnvBuilder {
    pub fn auth(mut self, auth: Auth) -> Self {
        self.auth = auth;
        self
    }

    /// The management cluster's CRDs ([`Profile::Default`]: CAPI v1beta2 + CAPO v1beta1;
    /// [`Profile::R4`]: CAPI v1beta1 + CAPO v1alpha6, for `--profile r4`).
    pub fn profile(mut self, profile: Profile) -> Self {
        self.profile = profile;
        self
    }

    pub fn build(self) -> Env {
        Env::start(self.auth, self.profile)
    }
}

impl Env {
    pub fn new() -> Env {
        Env::builder().build()
    }

    pub fn with_auth(auth: Auth) -> Env {
        Env::builder().auth(auth).build()
    }

    pub fn builder() -> EnvBuilder {
        EnvBuilder {
            auth: Auth::None,
            profile: Profile::Default,
        }
    }

    fn start(auth: Auth, profile: Profile) -> Env {
        let dir = tempfile::tempdir().unwrap();
        // Keystone takes seconds to come up: it starts first and the fakes are set up
        // meanwhile.
        let starting =
            (auth == Auth::Keystone).then(|| Keystone::spawn(&dir.path().join("keystone")));
        let cloud = FakeCloud::new();
        cloud.seed().demo();
        cloud.seed().demo_node_images();
        cloud
            .seed()
            .image(IMAGE, json!({"min_disk": 20, "min_ram": 1024}));
        let os = cloud.serve_in_background(0).expect("fake cloud serves");
        let kube = Fake::builder()
            .profile(profile)
            .tick(Duration::from_millis(2))
            .hooks(super::cloud_glue::Glue {
                cloud: cloud.clone(),
            })
            .build()
            .expect("fake kube");
        let running = kube.serve_in_background(0).expect("fake kube serves");
        kube.write_kubeconfig(&dir.path().join("mgmt.kubeconfig"))
            .unwrap();
        let (mirror, _, rt) = super::mirror::start();
        let (yaml, keystone) = match starting {
            None => (
                super::cloud::standalone_clouds_yaml(&cloud, &os.url, 5),
                None,
            ),
            Some((ks, child)) => {
                let out = child.wait_with_output().expect("keystone-local.sh start");
                assert!(
                    out.status.success(),
                    "keystone-local.sh start failed: {}{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                );
                register_fake(&ks, &os.url);
                (ks.clouds_yaml("fake", DEMO_PW), Some(ks))
            }
        };
        std::fs::write(dir.path().join("clouds.yaml"), yaml).unwrap();
        Env {
            profile,
            cloud,
            keystone,
            _os: os,
            kube,
            _kube: running,
            mirror,
            _mirror_rt: rt,
            dir,
        }
    }

    /// The apiVersions of the management cluster's profile.
    pub fn apis(&self) -> Apis {
        Apis::of(self.profile)
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Settings for cluster `name` at Kubernetes v1.33 with the [`IMAGE`] node image,
    /// plus `extra` keys.
    pub fn settings(&self, name: &str, extra: &str) -> PathBuf {
        self.write_settings(
            name,
            &format!("node_image: {IMAGE}\nkubernetes_version: v1.33.x\n{extra}"),
        )
    }

    /// Settings for cluster `name`: the cloud, flavors and no kube-API allowlist, plus
    /// `keys` (which must include `kubernetes_version`).
    pub fn write_settings(&self, name: &str, keys: &str) -> PathBuf {
        let p = self.path().join(format!("{name}.yaml"));
        let body = format!(
            "cluster_name: {name}\ncloud_provider: fake\n\
             controller_flavor: SCS-2V-4-20s\nworker_flavor: SCS-2V-4-20\nrestrict_kubeapi: [none]\n{keys}"
        );
        std::fs::write(&p, body).unwrap();
        p
    }

    pub fn home(&self) -> PathBuf {
        self.path().join("home")
    }

    /// The whole environment of a run (cleared first): PATH, a home of its own, the
    /// fake cloud, the management cluster and the addon mirror.
    fn user_env(&self) -> Vec<(&'static str, std::ffi::OsString)> {
        let home = self.home();
        std::fs::create_dir_all(&home).unwrap();
        vec![
            ("PATH", std::env::var_os("PATH").unwrap_or_default()),
            ("HOME", home.clone().into()),
            ("XDG_CONFIG_HOME", home.join(".config").into()),
            ("XDG_STATE_HOME", home.join(".local/state").into()),
            ("XDG_CACHE_HOME", home.join(".cache").into()),
            (
                "OS_CLIENT_CONFIG_FILE",
                self.path().join("clouds.yaml").into(),
            ),
            ("KUBECONFIG", self.path().join("mgmt.kubeconfig").into()),
            ("SCS_CAPI_ADDON_MIRROR", self.mirror.clone().into()),
        ]
    }

    pub fn cmd(&self, args: &[&str]) -> Output {
        Command::cargo_bin("scs-capi")
            .unwrap()
            .args(args)
            .env_clear()
            .envs(self.user_env())
            .current_dir(self.path())
            .env("NO_COLOR", "1")
            .timeout(Duration::from_secs(120))
            .output()
            .unwrap()
    }

    /// Runs the binary as [`Env::cmd`] does, but under a pseudo-terminal (`script`), as a
    /// user's shell runs it: stdin, stdout and stderr are a terminal, so progress is drawn
    /// with bars and questions are asked. `input` is typed at the terminal. The run is
    /// killed after `deadline` (a hang fails the test instead of stalling the suite).
    /// stdout and stderr arrive merged, as on a screen.
    pub fn pty(&self, args: &[&str], input: &str, deadline: Duration) -> Output {
        let bin = assert_cmd::cargo::cargo_bin("scs-capi");
        let line = std::iter::once(bin.to_str().unwrap())
            .chain(args.iter().copied())
            .map(shell_quote)
            .collect::<Vec<_>>()
            .join(" ");
        Command::new("script")
            .args(["-qefc", &line, "/dev/null"])
            .env_clear()
            .envs(self.user_env())
            .current_dir(self.path())
            .env("TERM", "xterm-256color")
            .write_stdin(input.to_string())
            .timeout(deadline)
            .output()
            .unwrap()
    }

    pub fn create(&self, file: &Path, extra: &[&str]) -> Output {
        let f = file.to_str().unwrap();
        let mut args = vec!["create-cluster", "-f", f, "--timeout", "60"];
        args.extend_from_slice(extra);
        self.cmd(&args)
    }

    /// Deletes a Machine as a user would (`kubectl delete machine`), through kube-rs.
    pub fn delete_machine(&self, name: &str) {
        use kube::api::{Api, DynamicObject};
        use kube::discovery::ApiResource;
        let text = self.kube.kubeconfig().unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let kc = kube::config::Kubeconfig::from_yaml(&text).unwrap();
            let cfg = kube::Config::from_custom_kubeconfig(kc, &Default::default())
                .await
                .unwrap();
            let client = kube::Client::try_from(cfg).unwrap();
            let capi = self.apis().capi;
            let ar = ApiResource {
                group: "cluster.x-k8s.io".into(),
                version: capi.trim_start_matches("cluster.x-k8s.io/").into(),
                api_version: capi.into(),
                kind: "Machine".into(),
                plural: "machines".into(),
            };
            let api: Api<DynamicObject> = Api::namespaced_with(client, "default", &ar);
            api.delete(name, &Default::default()).await.unwrap();
        });
    }

    /// `kind name` of every resource in the fake cloud whose name contains `needle`.
    pub fn cloud_resources_named(&self, needle: &str) -> Vec<String> {
        let snap = self.cloud.snapshot();
        let mut found = Vec::new();
        for (kind, list) in snap.as_object().unwrap() {
            for item in list.as_array().into_iter().flatten() {
                let name = item["name"].as_str().unwrap_or_default();
                if name.contains(needle) {
                    found.push(format!("{kind} {name}"));
                }
            }
        }
        found
    }
}

/// Registers the fake cloud at `base` in Keystone's catalog. Versioned URLs (unversioned
/// entries: tests/cloud_discovery.rs); block-storage carries the project id as Cinder's
/// catalog entry does (Keystone substitutes it).
fn register_fake(ks: &Keystone, base: &str) {
    for (service, path) in [
        ("compute", "compute/v2.1"),
        ("network", "network/v2.0"),
        ("image", "image/v2"),
        ("load-balancer", "load-balancer/v2"),
        ("block-storage", "block-storage/v3/$(project_id)s"),
    ] {
        ks.register(service, &format!("{base}/{path}"));
    }
}

/// Every CAPI/CAPO object the tool applies (status aside) validates against the real
/// CRDs of the default profile, and each kind has at least one object.
pub fn assert_applied_objects_validate(kube: &Fake) {
    assert_applied_objects_validate_for(kube, Profile::Default);
}

/// [`assert_applied_objects_validate`] for the CRDs (and apiVersions) of `profile`.
pub fn assert_applied_objects_validate_for(kube: &Fake, profile: Profile) {
    let crds = super::crds::CrdSet::shared(match profile {
        Profile::Default => "default",
        Profile::R4 => "r4",
    });
    let a = Apis::of(profile);
    for (api, kind) in [
        (a.capi, "Cluster"),
        (a.kcp, "KubeadmControlPlane"),
        (a.capi, "MachineDeployment"),
        (a.infra, "OpenStackCluster"),
        (a.infra, "OpenStackMachineTemplate"),
        (a.bootstrap, "KubeadmConfigTemplate"),
    ] {
        let objs = kube.list(api, kind, Some("default"));
        assert!(!objs.is_empty(), "no {kind}");
        for mut o in objs {
            o.as_object_mut().unwrap().remove("status");
            if let Err(errs) = crds.validate(&o) {
                panic!("{kind}: {errs:?}");
            }
        }
    }
}

pub fn text(o: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

pub fn assert_exit(o: &Output, code: i32) {
    assert_eq!(o.status.code(), Some(code), "{}", text(o));
}

pub fn json_report(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("json report: {e}\n{}", text(o)))
}

/// `(object, change)` of a report's `objects`.
pub fn changes(report: &Value) -> Vec<(String, String)> {
    report["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["object"].as_str().unwrap().to_string(),
                p["change"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// Every CAPI/CAPO object of namespace `default`, status included, validates against the
/// CRDs of `profile`: what the simulated controllers write is a status the real ones could
/// write, so the tool's reading of it is tested against the real shapes.
pub fn assert_statuses_validate(kube: &Fake, profile: Profile) {
    let crds = super::crds::CrdSet::shared(match profile {
        Profile::Default => "default",
        Profile::R4 => "r4",
    });
    let a = Apis::of(profile);
    for (api, kind) in [
        (a.capi, "Cluster"),
        (a.kcp, "KubeadmControlPlane"),
        (a.capi, "MachineDeployment"),
        (a.capi, "Machine"),
        (a.bootstrap, "KubeadmConfig"),
        (a.infra, "OpenStackCluster"),
        (a.infra, "OpenStackMachine"),
    ] {
        let objs = kube.list(api, kind, Some("default"));
        assert!(!objs.is_empty(), "no {kind}");
        for o in objs {
            if let Err(errs) = crds.validate(&o) {
                panic!("{kind} with its status: {errs:#?}");
            }
        }
    }
}

/// Settings for cluster `name` at `version` with `workers` workers and the default
/// (version-named) node image.
pub fn versioned_settings(env: &Env, name: &str, version: &str, workers: u32) -> PathBuf {
    env.write_settings(
        name,
        &format!("kubernetes_version: {version}\nworker_count: {workers}\n"),
    )
}

/// Requests on the management cluster that change something.
pub fn kube_writes(env: &Env) -> Vec<String> {
    env.kube
        .request_log()
        .into_iter()
        .filter(|r| !matches!(r.verb.as_str(), "get" | "list" | "watch" | "discovery"))
        .map(|r| format!("{} {} {:?}", r.verb, r.path, r.name))
        .collect()
}

/// Requests on the fake cloud that change something.
pub fn cloud_writes(env: &Env) -> Vec<String> {
    env.cloud
        .request_log()
        .into_iter()
        .filter(|r| !matches!(r.method.as_str(), "GET" | "HEAD"))
        .map(|r| format!("{} {}", r.method, r.path))
        .collect()
}

/// The `metadata.name` of each object.
pub fn names(list: &[Value]) -> Vec<String> {
    list.iter()
        .map(|o| o["metadata"]["name"].as_str().unwrap().to_string())
        .collect()
}

/// `word` quoted for `sh -c`.
pub fn shell_quote(word: &str) -> String {
    format!("'{}'", word.replace('\'', "'\\''"))
}
