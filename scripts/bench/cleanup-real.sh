#!/usr/bin/env bash
# Benchmark `cleanup-real`: `scs-capi cleanup --volumes delete` of a 50-resource footprint
# of cluster `benchx` on the real OpenStack services (scripts/openstack-local.sh, as the
# tenant) vs the same deletions as sequential `openstack` CLI calls, one per resource in
# our plan's wave order (as R4's cleanup.sh did), in the same run. The footprint is what
# CAPO, OCCM and the Cinder CSI leave, made with openstacksdk before each side (not timed):
# network, subnet, router with gateway and interface, 2 cross-referencing security groups
# + an OCCM `lb-sg-*` group, 4 servers with their CAPO ports, 10 stray CAPO ports, the
# kube-API and an OCCM load balancer, 20 floating IPs, 2 server groups, an attached CSI
# volume. Both sides are checked: ours reports 50 deleted; after the CLI calls a dry run
# finds nothing left.
#
# Usage: scripts/bench.sh cleanup-real   Environment: SCS_TEST_OPENSTACK_DIR,
# CARGO_TARGET_DIR, SCS_TEST_VENV.
# Last line: RESULT cleanup-real ours_s=<s> openstackclient_s=<s> ratio=<x>   (target: >= 10)
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=scripts/bench/real-common.sh
source scripts/bench/real-common.sh

footprint() {
  py benchx <<'PY'
import sys, uuid, openstack
name = sys.argv[1]
c = openstack.connect(cloud="tenant")
base = "default-" + name
capo = "k8s-clusterapi-cluster-" + base
desc = "Created by cluster-api-provider-openstack cluster " + base
pub = c.network.find_network("public")
net = c.network.create_network(name=capo)
sub = c.network.create_subnet(name=capo, network_id=net.id, cidr="10.71.0.0/24", ip_version=4)
rtr = c.network.create_router(name=capo, external_gateway_info={"network_id": pub.id})
c.network.add_interface_to_router(rtr, subnet_id=sub.id)
cp = c.network.create_security_group(name="k8s-cluster-%s-secgroup-controlplane" % base)
wk = c.network.create_security_group(name="k8s-cluster-%s-secgroup-worker" % base)
for a, b in ((cp, wk), (wk, cp)):
    c.network.create_security_group_rule(security_group_id=a.id, direction="ingress",
        protocol="tcp", port_range_min=10250, port_range_max=10250, remote_group_id=b.id)
c.network.create_security_group(name="lb-sg-%s-default-web-0" % uuid.uuid4(),
    description="Security Group for default/web-0 Service LoadBalancer in cluster " + name)
for role in ("controller", "worker"):
    c.compute.create_server_group(name="capi-%s-%s" % (name, role), policy="anti-affinity")
img = c.image.find_image("cirros-fake")
fl = c.compute.find_flavor("SCS-2V-4-20")
servers = []
for i, (server, sg) in enumerate([(name + "-control-plane-abcde", cp)] +
        [("capi-%s-md-0-no1-5d8f9c7b6a-w%04d" % (name, i), wk) for i in range(3)]):
    port = c.network.create_port(network_id=net.id, name=server + "-0", description=desc,
                                 security_group_ids=[sg.id])
    servers.append(c.compute.create_server(name=server, image_id=img.id, flavor_id=fl.id,
                                           networks=[{"port": port.id}]))
for i in range(10):
    c.network.create_port(network_id=net.id, name="capi-%s-stray-%d" % (name, i), description=desc)
lbs = [c.load_balancer.create_load_balancer(name=capo + "-kubeapi", vip_subnet_id=sub.id),
       c.load_balancer.create_load_balancer(name="kube_service_%s_default_web-0" % name,
                                            vip_subnet_id=sub.id)]
for i in range(20):
    c.network.create_ip(floating_network_id=pub.id, description=desc)
servers = [c.compute.wait_for_server(s, wait=300) for s in servers]
for lb in lbs:
    c.load_balancer.wait_for_load_balancer(lb.id, wait=300)
v = c.block_storage.create_volume(size=1, name="pvc-" + str(uuid.uuid4()),
                                  metadata={"cinder.csi.openstack.org/cluster": name})
c.block_storage.wait_for_status(v, "available", wait=120)
c.compute.create_volume_attachment(servers[1], volume_id=v.id)
c.block_storage.wait_for_status(v, "in-use", wait=120)
PY
}
cleanup_cluster benchx --volumes delete --yes --force >/dev/null 2>&1 || true

# --- ours
footprint
t0=$(now)
cleanup_cluster benchx --volumes delete --yes --force >"$work/ours.out" 2>"$work/ours.err" ||
  { cat "$work/ours.out" "$work/ours.err" >&2; exit 1; }
t1=$(now)
ours_s=$(echo "$t1 - $t0" | bc -l)
summary=$(tail -n 1 "$work/ours.out")
echo "ours: $summary" >&2
[[ "$summary" == "50 deleted, 0 already gone, 0 kept, 0 failed, 0 blocked" ]] ||
  { cat "$work/ours.out" >&2; echo "error: expected 50 deletions" >&2; exit 1; }

# --- openstackclient, sequential, the same deletions in plan order
footprint
cleanup_cluster benchx --volumes delete --yes --force --dry-run --output json \
  >"$work/plan.json" 2>"$work/plan.err" || { cat "$work/plan.err" >&2; exit 1; }
python3 - "$work/plan.json" >"$work/calls" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
nodes = [n for n in doc["plan"]["nodes"] if n["action"] == "delete"]
nodes.sort(key=lambda n: n["wave"])
cmd = {
    "floating-ip": "floating ip delete {id}",
    "load-balancer": "loadbalancer delete --cascade --wait {id}",
    "server": "server delete --wait {id}",
    "port": "port delete {id}",
    "router-interface": "router remove subnet {router_id} {id}",
    "subnet": "subnet delete {id}",
    "network": "network delete {id}",
    "router": "router delete {id}",
    "security-group": "security group delete {id}",
    "server-group": "server group delete {id}",
    "volume": "volume delete {id}",
}
for n in nodes:
    print(cmd[n["kind"]].format(**n))
PY
calls=$(wc -l <"$work/calls")
[[ "$calls" == 50 ]] || { echo "error: the plan has $calls deletions, expected 50" >&2; exit 1; }
t0=$(now)
while read -r line; do
  # A volume detached by its server's deletion is `detaching` for a moment: the CLI user
  # waits for it as R4's script did.
  if [[ "$line" == "volume delete "* ]]; then
    for _ in $(seq 60); do
      [[ "$("$osc" volume show -f value -c status "${line##* }")" == available ]] && break
      sleep 1
    done
  fi
  # shellcheck disable=SC2086 # one CLI call per line, split into its words
  "$osc" $line </dev/null >/dev/null
done <"$work/calls"
t1=$(now)
cli_s=$(echo "$t1 - $t0" | bc -l)
left=$(cleanup_cluster benchx --volumes delete --yes --force --dry-run --output json 2>/dev/null |
  python3 -c 'import json,sys; print(len(json.load(sys.stdin)["plan"]["nodes"]))')
[[ "$left" == 0 ]] || { echo "error: the CLI calls left $left resources" >&2; exit 1; }
echo "openstackclient: $calls calls" >&2
printf 'RESULT cleanup-real ours_s=%.3f openstackclient_s=%.3f ratio=%.1f\n' "$ours_s" "$cli_s" "$(echo "$cli_s / $ours_s" | bc -l)"
