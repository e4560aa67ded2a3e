#!/usr/bin/env bash
# Benchmark `cleanup`: `scs-capi cleanup --volumes delete` of 100 orphaned resources of mixed
# kinds (the standalone fake's `--orphans bench` seed: floating IPs, load balancers,
# servers, ports, the router interface, subnet, network, router, security groups, server
# groups, volumes) vs the same deletions as sequential `openstack` CLI calls
# (python-openstackclient from the test venv, one call per resource as R4's cleanup.sh
# did: upstream-r4.md §5.5), each side against a freshly seeded fake, in the same run.
#
# The CLI side deletes exactly what our plan lists, in its wave order: the plan comes from
# `scs-capi cleanup --dry-run --output json` against the CLI's fake (read-only, not timed).
# Both sides are checked: ours must report 100 deleted, and after the CLI calls a dry run
# must find nothing left. Standalone fake without Keystone: no application credential.
#
# Usage: scripts/bench.sh cleanup      Environment: CARGO_TARGET_DIR, SCS_TEST_VENV.
# Last line: RESULT cleanup ours_s=<s> openstackclient_s=<s> ratio=<x>   (target: >= 10)
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$PWD
target=${CARGO_TARGET_DIR:-$repo/target}
venv=${SCS_TEST_VENV:-$repo/.venv-test}
osc=$venv/bin/openstack
[[ -x "$osc" ]] || { echo "error: \`$osc\` is missing; run scripts/test.sh" >&2; exit 1; }

cargo build --quiet --release --bin scs-capi -p scs-capi
cargo build --quiet --release -p fake-openstack --bin fake-openstack
scs=$target/release/scs-capi

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# start_fake NAME -> a fresh fake (demo cloud + 100 orphans of cluster `bench`) and two
# clouds.yaml for it (cloud `fake`) in $work/NAME: `clouds.yaml` with versioned URLs for us
# (openstack_sdk does not discover versions below an override), `clouds-cli.yaml` with the
# service roots, as openstacksdk/the CLI expect them.
start_fake() {
  local d=$work/$1 port bs style
  mkdir -p "$d"
  port=$(free_port)
  "$target/release/fake-openstack" --port "$port" --seed demo --orphans bench >"$d/fake.out" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do
    curl -s -o /dev/null "http://127.0.0.1:$port/compute/v2.1" && break
    sleep 0.05
  done
  local b=http://127.0.0.1:$port
  # Cinder's catalog URL carries the project id; the fake prints it.
  bs=$(awk '$1 == "block-storage" {print $2; exit}' "$d/fake.out")
  [[ -n "$bs" ]] || { cat "$d/fake.out" >&2; echo "error: no block-storage URL from the fake" >&2; exit 1; }
  for style in versioned discover; do
    local v2=/v2 v20=/v2.0 file=$d/clouds.yaml
    if [[ "$style" == discover ]]; then v2="" v20="" file=$d/clouds-cli.yaml; fi
    cat >"$file" <<EOF
clouds:
  fake:
    auth_type: none
    region_name: RegionOne
    identity_endpoint_override: $b/identity
    compute_endpoint_override: $b/compute/v2.1
    network_endpoint_override: $b/network$v20
    image_endpoint_override: $b/image$v2
    load_balancer_endpoint_override: $b/load-balancer$v2
    block_storage_endpoint_override: $bs
EOF
  done
}

now() { date +%s.%N; }

ours() { # ARGS... -> scs-capi against the fake whose clouds.yaml is $clouds
  HOME=$work/home XDG_STATE_HOME=$work/home/state XDG_CONFIG_HOME=$work/home/config \
    OS_CLIENT_CONFIG_FILE=$clouds "$scs" "$@"
}
mkdir -p "$work/home"
# The seeded cluster is named by a settings file; no management cluster holds it (--force).
printf 'cluster_name: bench\ncloud_provider: fake\n' >"$work/bench.yaml"

# --- ours
start_fake ours
clouds=$work/ours/clouds.yaml
t0=$(now)
ours cleanup -f "$work/bench.yaml" --yes --force --volumes delete --os-cloud fake >"$work/ours.out" 2>"$work/ours.err" \
  || { cat "$work/ours.out" "$work/ours.err" >&2; exit 1; }
t1=$(now)
ours_s=$(echo "$t1 - $t0" | bc -l)
summary=$(tail -n 1 "$work/ours.out")
echo "ours: $summary" >&2
[[ "$summary" == "100 deleted, 0 already gone, 0 kept, 0 failed, 0 blocked" ]] \
  || { cat "$work/ours.out" >&2; echo "error: expected 100 deletions" >&2; exit 1; }

# --- openstackclient, sequential, against a fresh fake, the same deletions in plan order
start_fake osc
clouds=$work/osc/clouds.yaml
ours cleanup -f "$work/bench.yaml" --volumes delete --os-cloud fake --dry-run --output json \
  >"$work/plan.json" 2>"$work/plan.err" || { cat "$work/plan.err" >&2; exit 1; }
python3 - "$work/plan.json" >"$work/calls" <<'EOF'
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
EOF
calls=$(wc -l <"$work/calls")
[[ "$calls" == 100 ]] || { echo "error: the plan has $calls deletions, expected 100" >&2; exit 1; }
export OS_CLIENT_CONFIG_FILE=$work/osc/clouds-cli.yaml OS_CLOUD=fake
t0=$(now)
while read -r line; do
  # shellcheck disable=SC2086 # one CLI call per line, split into its words
  "$osc" $line </dev/null >/dev/null
done <"$work/calls"
t1=$(now)
cli_s=$(echo "$t1 - $t0" | bc -l)
unset OS_CLIENT_CONFIG_FILE OS_CLOUD
left=$(ours cleanup -f "$work/bench.yaml" --volumes delete --os-cloud fake --dry-run --output json 2>/dev/null |
  python3 -c 'import json,sys; print(len(json.load(sys.stdin)["plan"]["nodes"]))')
[[ "$left" == 0 ]] || { echo "error: the CLI calls left $left resources" >&2; exit 1; }
echo "openstackclient: $calls calls" >&2

echo "note: standalone fake without Keystone: no application credential on either side" >&2
printf 'RESULT cleanup ours_s=%.3f openstackclient_s=%.3f ratio=%.1f\n' "$ours_s" "$cli_s" "$(echo "$cli_s / $ours_s" | bc -l)"
