//! Every OpenStack name scs-capi creates or recognises for one cluster, and the exact
//! matchers for the names CAPO, OCCM and the Cinder CSI give their resources.
//!
//! This is the only place OpenStack names come from (`docs/style.md`): `prepare-cloud`
//! builds names with [`ClusterNames`], `cleanup` asks the `is_*`/`*_of` matchers whether a
//! listed resource belongs to the cluster. Every matcher answers exactly: cluster `foo`
//! never matches `foobar`, `foo-bar` or `foo` in another namespace; the property tests at
//! the bottom check that for random names. It does no I/O and knows nothing of ids.
//!
//! Upstream naming, as read in the upstream sources:
//! - CAPO v0.7 (`controllers/openstackcluster_controller.go`: `clusterName :=
//!   fmt.Sprintf("%s-%s", cluster.Namespace, cluster.Name)`) and v0.10-v0.14
//!   (`pkg/utils/names`: `ClusterResourceName` = `<namespace>-<name>`) use the same shapes:
//!   network and subnet `k8s-clusterapi-cluster-<ns>-<cluster>` (`networkPrefix` +
//!   `-cluster-`), the router likewise, security groups
//!   `k8s-cluster-<ns>-<cluster>-secgroup-{controlplane,worker,bastion}`, the API load
//!   balancer `k8s-clusterapi-cluster-<ns>-<cluster>-kubeapi`, and ports and floating IPs
//!   described `Created by cluster-api-provider-openstack cluster <ns>-<cluster>`. The
//!   `<ns>-<cluster>` join is ambiguous across namespaces (`a-b`/`c` vs `a`/`b-c`); within
//!   one namespace scheme it is exact.
//! - OCCM (`pkg/openstack/loadbalancer.go`): load balancers
//!   `kube_service_<cluster>_<ns>_<service>` (cut to 255 characters), floating IPs with
//!   description `Floating IP for Kubernetes external service <ns>/<service> from cluster
//!   <cluster>`, security groups `lb-sg-<service uid>-<ns>-<service>` (older releases:
//!   `lb-sg-<cluster>-<ns>-<service>`) with description `Security Group for <ns>/<service>
//!   Service LoadBalancer in cluster <cluster>`. `<cluster>` is OCCM's `--cluster-name`.
//! - Cinder CSI (`pkg/csi/cinder/controllerserver.go`): volumes `pvc-<uuid>` with metadata
//!   `cinder.csi.openstack.org/cluster: <cluster>` (the CSI's `--cluster`).
//! - Machines (CAPI KCP / MachineDeployment, our templates): servers
//!   `<cluster>-control-plane-<5>` (KCP machine names), `<prefix>-<cluster>-control-plane-
//!   <gen>-<5>` (older CAPI: infra machine named after its template), workers
//!   `<prefix>-<cluster>-md-<n>-no1-<hash>-<5>` (MachineSet + machine suffix) or
//!   `<prefix>-<cluster>-md-<n>-<gen>-<5>` (older CAPI); CAPO root volumes `<server>-root`.

use std::collections::BTreeMap;

/// CAPO's network/subnet/router/API-LB name prefix (`networkPrefix` + `-cluster-`).
const CAPO_NETWORK_PREFIX: &str = "k8s-clusterapi-cluster-";
/// CAPO's security-group prefix (`secGroupPrefix` + `-cluster-`).
const CAPO_SECGROUP_PREFIX: &str = "k8s-cluster-";
/// What CAPO writes into the description of its ports and floating IPs, before
/// `<ns>-<cluster>` (`pkg/utils/names` `GetDescription`).
const CAPO_DESCRIPTION_PREFIX: &str = "Created by cluster-api-provider-openstack cluster ";
/// The metadata key the Cinder CSI sets to its `--cluster` on every volume it creates.
pub const CSI_CLUSTER_KEY: &str = "cinder.csi.openstack.org/cluster";

/// A CAPO-managed security group's role (the suffix after `-secgroup-`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CapoSecGroupRole {
    Controlplane,
    Worker,
    Bastion,
}

impl CapoSecGroupRole {
    pub const ALL: [CapoSecGroupRole; 3] = [Self::Controlplane, Self::Worker, Self::Bastion];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Controlplane => "controlplane",
            Self::Worker => "worker",
            Self::Bastion => "bastion",
        }
    }
}

/// Which of our server groups a name is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ServerGroupRole {
    Controller,
    Worker,
}

/// What kind of machine a server name belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum MachineRole {
    ControlPlane,
    Worker,
}

/// An OCCM `type: LoadBalancer` Service, as recovered from an OpenStack name/description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceRef {
    pub namespace: String,
    pub name: String,
}

/// The names of one cluster: `<prefix>` (settings `prefix`), the cluster name, and the
/// namespace its CAPI objects live in (R4: `default`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ClusterNames {
    pub prefix: String,
    pub cluster: String,
    pub namespace: String,
}

impl ClusterNames {
    pub fn new(
        prefix: impl Into<String>,
        cluster: impl Into<String>,
        namespace: impl Into<String>,
    ) -> Self {
        ClusterNames {
            prefix: prefix.into(),
            cluster: cluster.into(),
            namespace: namespace.into(),
        }
    }

    // ---- names scs-capi creates ----

    /// `<prefix>-<cluster>-appcred`: the restricted per-cluster application credential.
    pub fn app_credential(&self) -> String {
        format!("{}-{}-appcred", self.prefix, self.cluster)
    }

    /// `<prefix>-<cluster>-controller` / `-worker`.
    pub fn server_group(&self, role: ServerGroupRole) -> String {
        let r = match role {
            ServerGroupRole::Controller => "controller",
            ServerGroupRole::Worker => "worker",
        };
        format!("{}-{}-{r}", self.prefix, self.cluster)
    }

    /// `<prefix>-<cluster>-cilium`.
    pub fn cilium_security_group(&self) -> String {
        format!("{}-{}-cilium", self.prefix, self.cluster)
    }

    // ---- names of the management server (never touched by cleanup) ----

    /// `<prefix>-mgmtcluster`: the management server.
    pub fn management_server(&self) -> String {
        format!("{}-mgmtcluster", self.prefix)
    }

    /// Names of the management server's own resources (R4 terraform): server, network,
    /// subnet, router, security groups and keypair; cleanup never plans any of them.
    pub fn is_management(&self, name: &str) -> bool {
        let Some(rest) = name
            .strip_prefix(self.prefix.as_str())
            .and_then(|r| r.strip_prefix('-'))
        else {
            return false;
        };
        matches!(
            rest,
            "mgmtcluster" | "net" | "subnet" | "rtr" | "mgmt" | "keypair" | "appcred"
        ) || rest.starts_with("allow-")
    }

    // ---- names CAPO gives the cluster ----

    /// `<ns>-<cluster>`: CAPO's `ClusterResourceName`, the base of its names.
    pub fn capo_resource_name(&self) -> String {
        format!("{}-{}", self.namespace, self.cluster)
    }

    /// `k8s-clusterapi-cluster-<ns>-<cluster>`: CAPO's network, subnet and router.
    pub fn capo_network(&self) -> String {
        format!("{CAPO_NETWORK_PREFIX}{}", self.capo_resource_name())
    }

    /// `Created by cluster-api-provider-openstack cluster <ns>-<cluster>`: the description
    /// CAPO gives the ports and floating IPs it creates.
    pub fn capo_description(&self) -> String {
        format!("{CAPO_DESCRIPTION_PREFIX}{}", self.capo_resource_name())
    }

    /// `k8s-clusterapi-cluster-<ns>-<cluster>-kubeapi`: CAPO's API-server load balancer.
    pub fn capo_kubeapi_lb(&self) -> String {
        format!("{}-kubeapi", self.capo_network())
    }

    /// `k8s-cluster-<ns>-<cluster>-secgroup-<role>`.
    pub fn capo_security_group(&self, role: CapoSecGroupRole) -> String {
        format!(
            "{CAPO_SECGROUP_PREFIX}{}-secgroup-{}",
            self.capo_resource_name(),
            role.as_str()
        )
    }

    // ---- matchers ----

    /// The application credential `<prefix>-<cluster>-appcred`.
    pub fn is_app_credential(&self, name: &str) -> bool {
        name == self.app_credential()
    }

    /// Which of our server groups `name` is, if any.
    pub fn server_group_role(&self, name: &str) -> Option<ServerGroupRole> {
        [ServerGroupRole::Controller, ServerGroupRole::Worker]
            .into_iter()
            .find(|r| name == self.server_group(*r))
    }

    pub fn is_cilium_security_group(&self, name: &str) -> bool {
        name == self.cilium_security_group()
    }

    /// CAPO's network (the subnet and router carry the same name).
    pub fn is_capo_network(&self, name: &str) -> bool {
        name == self.capo_network()
    }

    pub fn is_capo_kubeapi_lb(&self, name: &str) -> bool {
        name == self.capo_kubeapi_lb()
    }

    /// A port or floating IP CAPO created for this cluster, by its description.
    pub fn is_capo_description(&self, description: &str) -> bool {
        description == self.capo_description()
    }

    /// The role of a CAPO-managed security group of this cluster, if `name` is one.
    pub fn capo_security_group_role(&self, name: &str) -> Option<CapoSecGroupRole> {
        CapoSecGroupRole::ALL
            .into_iter()
            .find(|r| name == self.capo_security_group(*r))
    }

    /// The Service of an OCCM load balancer `kube_service_<cluster>_<ns>_<svc>` of this
    /// cluster. Kubernetes names have no `_`, so the split is exact.
    pub fn occm_lb_service(&self, name: &str) -> Option<ServiceRef> {
        let rest = name
            .strip_prefix("kube_service_")?
            .strip_prefix(self.cluster.as_str())?
            .strip_prefix('_')?;
        let (ns, svc) = rest.split_once('_')?;
        (is_k8s_name(ns) && is_k8s_name(svc)).then(|| ServiceRef {
            namespace: ns.to_string(),
            name: svc.to_string(),
        })
    }

    /// An OCCM floating IP of this cluster, by its description.
    pub fn occm_floating_ip_service(&self, description: &str) -> Option<ServiceRef> {
        let rest = description
            .strip_prefix("Floating IP for Kubernetes external service ")?
            .strip_suffix(self.cluster.as_str())?
            .strip_suffix(" from cluster ")?;
        service_path(rest)
    }

    /// An OCCM load-balancer security group (`lb-sg-...`) of this cluster, by name shape and
    /// description (the name carries the Service UID, not the cluster).
    pub fn occm_security_group_service(&self, name: &str, description: &str) -> Option<ServiceRef> {
        if !name.starts_with("lb-sg-") {
            return None;
        }
        let rest = description
            .strip_prefix("Security Group for ")?
            .strip_suffix(self.cluster.as_str())?
            .strip_suffix(" Service LoadBalancer in cluster ")?;
        let svc = service_path(rest)?;
        name.ends_with(&format!("-{}-{}", svc.namespace, svc.name))
            .then_some(svc)
    }

    /// A Cinder CSI volume of this cluster: `pvc-<uuid>` (or CSI ephemeral
    /// `ephemeral-<id>`) whose `cinder.csi.openstack.org/cluster` is exactly the cluster.
    pub fn is_csi_volume(&self, name: &str, metadata: &BTreeMap<String, String>) -> bool {
        let shaped = name.strip_prefix("pvc-").is_some_and(is_uuid)
            || name
                .strip_prefix("ephemeral-")
                .is_some_and(|r| !r.is_empty());
        shaped && metadata.get(CSI_CLUSTER_KEY).map(String::as_str) == Some(self.cluster.as_str())
    }

    /// The machine role of a server name of this cluster, if it is one (see the module doc
    /// for the accepted shapes). Never the management server.
    pub fn machine_role(&self, name: &str) -> Option<MachineRole> {
        if self.is_management(name) {
            return None;
        }
        // <cluster>-control-plane-<5>
        if let Some(r) = name
            .strip_prefix(self.cluster.as_str())
            .and_then(|r| r.strip_prefix("-control-plane-"))
            && is_token(r)
        {
            return Some(MachineRole::ControlPlane);
        }
        let ours = name
            .strip_prefix(self.prefix.as_str())
            .and_then(|r| r.strip_prefix('-'))
            .and_then(|r| r.strip_prefix(self.cluster.as_str()))?;
        // <prefix>-<cluster>-control-plane-<gen>-<5>
        if let Some(r) = ours.strip_prefix("-control-plane-") {
            let segs: Vec<&str> = r.split('-').collect();
            if segs.len() == 2 && segs.iter().all(|s| is_token(s)) {
                return Some(MachineRole::ControlPlane);
            }
        }
        // <prefix>-<cluster>-md-<n>-no<k>-<hash>-<5> | <prefix>-<cluster>-md-<n>-<gen>-<5>
        let r = ours.strip_prefix("-md-")?;
        let (n, r) = r.split_once('-')?;
        if !is_digits(n) {
            return None;
        }
        let segs: Vec<&str> = r.split('-').collect();
        let ok = match segs.as_slice() {
            [no, h, s] => {
                no.strip_prefix("no").is_some_and(is_digits) && is_token(h) && is_token(s)
            }
            [g, s] => is_token(g) && is_token(s),
            _ => false,
        };
        ok.then_some(MachineRole::Worker)
    }

    /// A CAPO root volume `<server>-root` of one of this cluster's machines.
    pub fn is_machine_root_volume(&self, name: &str) -> bool {
        name.strip_suffix("-root")
            .is_some_and(|server| self.machine_role(server).is_some())
    }
}

/// `<ns>/<name>` with both parts Kubernetes names.
fn service_path(s: &str) -> Option<ServiceRef> {
    let (ns, svc) = s.split_once('/')?;
    (is_k8s_name(ns) && is_k8s_name(svc)).then(|| ServiceRef {
        namespace: ns.to_string(),
        name: svc.to_string(),
    })
}

/// A DNS label as Kubernetes uses for namespaces and Service names.
fn is_k8s_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// One name segment without `-` (a random suffix or hash).
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

fn is_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` (hex, any case).
fn is_uuid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() == 5
        && parts
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(p, n)| p.len() == n && p.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn foo() -> ClusterNames {
        ClusterNames::new("capi", "foo", "default")
    }

    fn meta(cluster: &str) -> BTreeMap<String, String> {
        BTreeMap::from([(CSI_CLUSTER_KEY.to_string(), cluster.to_string())])
    }

    #[test]
    fn names_we_create() {
        let n = foo();
        assert_eq!(n.app_credential(), "capi-foo-appcred");
        assert_eq!(
            n.server_group(ServerGroupRole::Controller),
            "capi-foo-controller"
        );
        assert_eq!(n.server_group(ServerGroupRole::Worker), "capi-foo-worker");
        assert_eq!(n.cilium_security_group(), "capi-foo-cilium");
        assert_eq!(n.capo_network(), "k8s-clusterapi-cluster-default-foo");
        assert_eq!(
            n.capo_kubeapi_lb(),
            "k8s-clusterapi-cluster-default-foo-kubeapi"
        );
        assert!(
            n.is_capo_description("Created by cluster-api-provider-openstack cluster default-foo")
        );
        assert_eq!(
            n.capo_security_group(CapoSecGroupRole::Controlplane),
            "k8s-cluster-default-foo-secgroup-controlplane"
        );
        // R5-style per-cluster namespace
        assert_eq!(
            ClusterNames::new("capi", "foo", "foo").capo_network(),
            "k8s-clusterapi-cluster-foo-foo"
        );
    }

    #[test]
    fn foo_never_matches_foobar_or_foo_bar() {
        let n = foo();
        for other in ["foobar", "foo-bar", "fo", "xfoo"] {
            let o = ClusterNames::new("capi", other, "default");
            assert!(!n.is_app_credential(&o.app_credential()), "{other}");
            assert!(
                n.server_group_role(&o.server_group(ServerGroupRole::Worker))
                    .is_none()
            );
            assert!(!n.is_cilium_security_group(&o.cilium_security_group()));
            assert!(!n.is_capo_network(&o.capo_network()));
            assert!(!n.is_capo_kubeapi_lb(&o.capo_kubeapi_lb()));
            assert!(!n.is_capo_description(&o.capo_description()));
            assert!(
                n.capo_security_group_role(&o.capo_security_group(CapoSecGroupRole::Worker))
                    .is_none()
            );
            assert!(
                n.occm_lb_service(&format!(
                    "kube_service_{other}_ingress-nginx_ingress-nginx-controller"
                ))
                .is_none()
            );
            assert!(!n.is_csi_volume("pvc-0f2b3c4d-1111-2222-3333-444455556666", &meta(other)));
            assert!(
                n.machine_role(&format!("{other}-control-plane-x7k2p"))
                    .is_none()
            );
            assert!(
                n.machine_role(&format!("capi-{other}-md-0-no1-5d8f9c7b6a-x7k2p"))
                    .is_none()
            );
        }
        // the same cluster in another namespace
        let other_ns = ClusterNames::new("capi", "foo", "team-a");
        assert!(!n.is_capo_network(&other_ns.capo_network()));
        assert!(!n.is_capo_kubeapi_lb(&other_ns.capo_kubeapi_lb()));
    }

    #[test]
    fn occm_names() {
        let n = foo();
        let svc = n
            .occm_lb_service("kube_service_foo_ingress-nginx_ingress-nginx-controller")
            .unwrap();
        assert_eq!(
            (svc.namespace.as_str(), svc.name.as_str()),
            ("ingress-nginx", "ingress-nginx-controller")
        );
        assert!(n.occm_lb_service("kube_service_foo_a").is_none());
        assert!(n.occm_lb_service("kube_service_foo_a_b_c").is_none());
        assert!(
            n.occm_floating_ip_service(
                "Floating IP for Kubernetes external service default/web from cluster foo"
            )
            .is_some()
        );
        assert!(
            n.occm_floating_ip_service(
                "Floating IP for Kubernetes external service default/web from cluster foobar"
            )
            .is_none()
        );
        let d = "Security Group for default/web Service LoadBalancer in cluster foo";
        assert!(
            n.occm_security_group_service(
                "lb-sg-5b1e2f4a-aaaa-bbbb-cccc-0123456789ab-default-web",
                d
            )
            .is_some()
        );
        assert!(
            n.occm_security_group_service("lb-sg-foo-default-web", d)
                .is_some()
        );
        assert!(
            n.occm_security_group_service("other-default-web", d)
                .is_none()
        );
        assert!(
            n.occm_security_group_service(
                "lb-sg-x-default-web",
                "Security Group for default/web Service LoadBalancer in cluster foobar"
            )
            .is_none()
        );
    }

    #[test]
    fn machines_and_volumes() {
        let n = foo();
        assert_eq!(
            n.machine_role("foo-control-plane-x7k2p"),
            Some(MachineRole::ControlPlane)
        );
        assert_eq!(
            n.machine_role("capi-foo-control-plane-1a2b3c4d-x7k2p"),
            Some(MachineRole::ControlPlane)
        );
        assert_eq!(
            n.machine_role("capi-foo-md-0-no1-5d8f9c7b6a-x7k2p"),
            Some(MachineRole::Worker)
        );
        assert_eq!(
            n.machine_role("capi-foo-md-0-1a2b3c4d-x7k2p"),
            Some(MachineRole::Worker)
        );
        assert_eq!(n.machine_role("capi-mgmtcluster"), None);
        assert_eq!(n.machine_role("capi-foo-md-0"), None);
        // a cluster named `capi-foo-md-0` has CP machines `capi-foo-md-0-control-plane-...`
        assert_eq!(n.machine_role("capi-foo-md-0-control-plane-x7k2p"), None);
        assert!(n.is_machine_root_volume("capi-foo-md-0-no1-5d8f9c7b6a-x7k2p-root"));
        assert!(n.is_csi_volume("pvc-0f2b3c4d-1111-2222-3333-444455556666", &meta("foo")));
        assert!(!n.is_csi_volume("pvc-not-a-uuid", &meta("foo")));
        assert!(!n.is_csi_volume("pvc-0f2b3c4d-1111-2222-3333-444455556666", &BTreeMap::new()));
        assert!(n.is_management("capi-mgmtcluster") && n.is_management("capi-net"));
        assert!(!n.is_management("capi-foo-cilium"));
    }

    /// Cluster-name-like strings built from tokens that collide with our name grammar.
    fn cluster_name() -> impl Strategy<Value = String> {
        let tok = prop_oneof![
            "[a-z][a-z0-9]{0,5}",
            Just("md".to_string()),
            Just("0".to_string()),
            Just("no1".to_string()),
            Just("control".to_string()),
            Just("plane".to_string()),
            Just("secgroup".to_string()),
            Just("worker".to_string()),
            Just("kubeapi".to_string()),
            Just("root".to_string()),
            Just("foo".to_string()),
            Just("capi".to_string()),
        ];
        prop::collection::vec(tok, 1..5)
            .prop_map(|v| v.join("-"))
            .prop_filter("starts with a letter", |s| {
                s.starts_with(|c: char| c.is_ascii_lowercase())
            })
    }

    /// The kinds of resources; the planner asks each kind's list only its own matcher.
    #[derive(Debug, Clone, Copy)]
    enum K {
        AppCred,
        ServerGroup,
        SecGroup,
        /// network, subnet and router share the name
        Network,
        LoadBalancer,
        Server,
        Volume,
    }

    /// Every name cluster `o` has in OpenStack (with a given namespace), by kind.
    fn all_names(o: &ClusterNames) -> Vec<(K, String)> {
        let mut v = vec![
            (K::AppCred, o.app_credential()),
            (K::ServerGroup, o.server_group(ServerGroupRole::Controller)),
            (K::ServerGroup, o.server_group(ServerGroupRole::Worker)),
            (K::SecGroup, o.cilium_security_group()),
            (K::Network, o.capo_network()),
            (K::LoadBalancer, o.capo_kubeapi_lb()),
            (
                K::LoadBalancer,
                format!("kube_service_{}_default_web", o.cluster),
            ),
            (K::Server, format!("{}-control-plane-x7k2p", o.cluster)),
            (
                K::Server,
                format!("{}-{}-control-plane-1a2b3c4d-x7k2p", o.prefix, o.cluster),
            ),
            (
                K::Server,
                format!("{}-{}-md-0-no1-5d8f9c7b6a-x7k2p", o.prefix, o.cluster),
            ),
            (
                K::Server,
                format!("{}-{}-md-0-1a2b3c4d-x7k2p", o.prefix, o.cluster),
            ),
            (
                K::Volume,
                format!("{}-{}-md-0-no1-5d8f9c7b6a-x7k2p-root", o.prefix, o.cluster),
            ),
        ];
        v.extend(CapoSecGroupRole::ALL.map(|r| (K::SecGroup, o.capo_security_group(r))));
        v
    }

    fn matches(n: &ClusterNames, k: K, name: &str) -> bool {
        match k {
            K::AppCred => n.is_app_credential(name),
            K::ServerGroup => n.server_group_role(name).is_some(),
            K::SecGroup => {
                n.is_cilium_security_group(name)
                    || n.capo_security_group_role(name).is_some()
                    || n.occm_security_group_service(name, "").is_some()
            }
            K::Network => n.is_capo_network(name),
            K::LoadBalancer => n.is_capo_kubeapi_lb(name) || n.occm_lb_service(name).is_some(),
            K::Server => n.machine_role(name).is_some(),
            K::Volume => n.is_machine_root_volume(name),
        }
    }

    fn matches_any(n: &ClusterNames, name: &str) -> bool {
        [
            K::AppCred,
            K::ServerGroup,
            K::SecGroup,
            K::Network,
            K::LoadBalancer,
            K::Server,
            K::Volume,
        ]
        .into_iter()
        .any(|k| matches(n, k, name))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Two distinct clusters with the same prefix and namespace scheme (R4: `default`;
        /// R5: the namespace is the cluster name) never claim each other's resources of
        /// the same kind. (Across kinds names can coincide: cluster `a`'s API load
        /// balancer is named like cluster `a-kubeapi`'s network; the planner asks each
        /// kind's list only its own matcher.)
        #[test]
        fn distinct_clusters_never_cross_match(
            a in cluster_name(), b in cluster_name(), per_cluster_ns in any::<bool>()
        ) {
            prop_assume!(a != b);
            let ns = |c: &str| if per_cluster_ns { c.to_string() } else { "default".to_string() };
            let na = ClusterNames::new("capi", a.clone(), ns(&a));
            let nb = ClusterNames::new("capi", b.clone(), ns(&b));
            for (k, name) in all_names(&nb) {
                prop_assert!(!matches(&na, k, &name), "{a} claims {b}'s {k:?} {name}");
            }
            let fip = format!("Floating IP for Kubernetes external service default/web from cluster {b}");
            prop_assert!(na.occm_floating_ip_service(&fip).is_none());
            let sg = format!("Security Group for default/web Service LoadBalancer in cluster {b}");
            prop_assert!(na.occm_security_group_service("lb-sg-u-default-web", &sg).is_none());
            prop_assert!(!na.is_capo_description(&nb.capo_description()));
            prop_assert!(!na.is_csi_volume("pvc-0f2b3c4d-1111-2222-3333-444455556666", &meta(&b)));
            // and each cluster does recognise its own
            for (k, name) in all_names(&na) {
                prop_assert!(matches(&na, k, &name), "{a} misses its own {k:?} {name}");
            }
        }

        /// The management server's resources never match any cluster.
        #[test]
        fn management_never_matches(a in cluster_name()) {
            let n = ClusterNames::new("capi", a, "default");
            for m in ["capi-mgmtcluster", "capi-net", "capi-subnet", "capi-rtr", "capi-mgmt", "capi-appcred"] {
                prop_assert!(!matches_any(&n, m), "{m}");
            }
        }
    }
}
