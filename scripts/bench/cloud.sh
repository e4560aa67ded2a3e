#!/usr/bin/env bash
# Benchmark `cloud`: `scs-capi prepare-cloud` for one cluster against the fake OpenStack vs
# the same steps as sequential `openstack` CLI calls (python-openstackclient, the R4 way:
# upstream-r4.md §5.1) against a fresh fake, in the same run.
#
# Standalone fake (no Keystone): the application-credential step is skipped on both sides
# (it needs a real Keystone); the remaining steps are compared:
#   server group list + create x2, flavor show x2, image show, network list --external,
#   security group list + create + 3 rule creates, loadbalancer provider list,
#   server list --name <prefix>-mgmtcluster (13 CLI calls).
#
# Usage: scripts/bench.sh cloud      Environment: CARGO_TARGET_DIR, SCS_TEST_VENV.
# Last line: RESULT cloud ours_s=<s> openstackclient_s=<s> ratio=<x>
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$PWD
target=${CARGO_TARGET_DIR:-$repo/target}
venv=${SCS_TEST_VENV:-$repo/.venv-test}
osc=$venv/bin/openstack
[[ -x "$osc" ]] || { echo "error: \`$osc\` is missing; run scripts/test.sh" >&2; exit 1; }

cargo build --quiet --release --bin scs-capi -p scs-capi
cargo build --quiet --release -p fake-openstack --bin fake-openstack

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# start_fake NAME STYLE -> writes $work/NAME/clouds.yaml (cloud `fake`). STYLE `versioned`
# points the overrides at versioned URLs (openstack_sdk does not discover versions below
# an override); `discover` gives the service roots, as openstacksdk/the CLI expect them.
start_fake() {
  local d=$work/$1 style=$2 port v2=/v2 v20=/v2.0
  mkdir -p "$d"
  port=$(free_port)
  "$target/release/fake-openstack" --port "$port" --seed demo --ovn >"$d/fake.out" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do
    curl -s -o /dev/null "http://127.0.0.1:$port/compute/v2.1" && break
    sleep 0.05
  done
  local b=http://127.0.0.1:$port
  if [[ "$style" == discover ]]; then v2="" v20=""; fi
  cat >"$d/clouds.yaml" <<EOF
clouds:
  fake:
    auth_type: none
    region_name: RegionOne
    identity_endpoint_override: $b/identity
    compute_endpoint_override: $b/compute/v2.1
    network_endpoint_override: $b/network$v20
    image_endpoint_override: $b/image$v2
    load_balancer_endpoint_override: $b/load-balancer$v2
EOF
}

now() { date +%s.%N; }

# --- ours
start_fake ours versioned
cat >"$work/bench.yaml" <<EOF
cluster_name: bench
cloud_provider: fake
node_image: "Ubuntu 22.04"
controller_flavor: SCS-2V-4-20s
worker_flavor: SCS-4V-8-50
anti_affinity: true
use_cilium: true
use_ovn_lb_provider: auto
restrict_kubeapi: [10.1.0.0/16]
EOF
mkdir -p "$work/home"
t0=$(now)
HOME=$work/home XDG_STATE_HOME=$work/home/state XDG_CONFIG_HOME=$work/home/config \
  OS_CLIENT_CONFIG_FILE=$work/ours/clouds.yaml \
  "$target/release/scs-capi" prepare-cloud -f "$work/bench.yaml" >"$work/ours.out" 2>"$work/ours.err" \
  || { cat "$work/ours.out" "$work/ours.err" >&2; exit 1; }
t1=$(now)
ours=$(echo "$t1 - $t0" | bc -l)
cat "$work/ours.out" >&2

# --- openstackclient, sequential, against a fresh fake
start_fake osc discover
export OS_CLIENT_CONFIG_FILE=$work/osc/clouds.yaml OS_CLOUD=fake
o() { "$osc" "$@" >/dev/null; }
t0=$(now)
o server group list -f value
o server group create --policy anti-affinity -f value -c id capi-bench-controller
o server group create --policy soft-anti-affinity -f value -c id capi-bench-worker
o flavor show SCS-2V-4-20s
o flavor show SCS-4V-8-50
o image show "Ubuntu 22.04"
o network list --external
o security group list
sg=$("$osc" security group create capi-bench-cilium -f value -c id)
o security group rule create --ingress --ethertype IPv4 --proto udp --dst-port 8472:8472 --remote-group "$sg" "$sg"
o security group rule create --ingress --ethertype IPv4 --proto tcp --dst-port 4240:4240 --remote-group "$sg" "$sg"
o security group rule create --ingress --ethertype IPv4 --proto tcp --dst-port 4244:4244 --remote-group "$sg" "$sg"
o loadbalancer provider list
o server list --name capi-mgmtcluster -c Networks
t1=$(now)
cli=$(echo "$t1 - $t0" | bc -l)

echo "note: standalone fake without Keystone: the application credential step is skipped on both sides" >&2
printf 'RESULT cloud ours_s=%.3f openstackclient_s=%.3f ratio=%.1f\n' "$ours" "$cli" "$(echo "$cli / $ours" | bc -l)"
