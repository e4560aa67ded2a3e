#!/usr/bin/env bash
# Benchmark `cloud-real`: `scs-capi prepare-cloud` for one cluster against the real
# OpenStack services (scripts/openstack-local.sh, as the tenant) vs the same steps as
# sequential `openstack` CLI calls in the same run:
#   application credential create (restricted, member + load-balancer_member),
#   server group list + create x2, flavor show x2, image show, network list --external,
#   security group list + create + 3 rule creates, loadbalancer provider list,
#   server list --name <prefix>-mgmtcluster (14 CLI calls).
# The node image exists (no upload on either side). What each side created is removed
# afterwards with `scs-capi cleanup` (not timed).
#
# Usage: scripts/bench.sh cloud-real   Environment: SCS_TEST_OPENSTACK_DIR, CARGO_TARGET_DIR,
# SCS_TEST_VENV. Last line: RESULT cloud-real ours_s=<s> openstackclient_s=<s> ratio=<x>
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=scripts/bench/real-common.sh
source scripts/bench/real-common.sh

settings() {
  cat >"$work/$1.yaml" <<EOS
cluster_name: $1
cloud_provider: tenant
node_image: cirros-fake
controller_flavor: SCS-2V-4-20s
worker_flavor: SCS-4V-8-50s
anti_affinity: true
use_cilium: true
EOS
}
for c in benchq benchc; do cleanup_cluster "$c" --yes --force >/dev/null 2>&1 || true; done

# --- ours
settings benchq
t0=$(now)
ours prepare-cloud -f "$work/benchq.yaml" >"$work/ours.out" 2>"$work/ours.err" ||
  { cat "$work/ours.out" "$work/ours.err" >&2; exit 1; }
t1=$(now)
ours_s=$(echo "$t1 - $t0" | bc -l)
cat "$work/ours.out" >&2

# --- openstackclient, sequential
o() { "$osc" "$@" >/dev/null; }
t0=$(now)
o application credential create --role member --role load-balancer_member \
  --description "created by the CLI baseline" capi-benchc-appcred
o server group list -f value
o server group create --policy anti-affinity -f value -c id capi-benchc-controller
o server group create --policy soft-anti-affinity -f value -c id capi-benchc-worker
o flavor show SCS-2V-4-20s
o flavor show SCS-4V-8-50s
o image show cirros-fake
o network list --external
o security group list
sg=$("$osc" security group create capi-benchc-cilium -f value -c id)
o security group rule create --ingress --ethertype IPv4 --proto udp --dst-port 8472:8472 --remote-group "$sg" "$sg"
o security group rule create --ingress --ethertype IPv4 --proto tcp --dst-port 4240:4240 --remote-group "$sg" "$sg"
o security group rule create --ingress --ethertype IPv4 --proto tcp --dst-port 4244:4244 --remote-group "$sg" "$sg"
o loadbalancer provider list
o server list --name capi-mgmtcluster -c Networks
t1=$(now)
cli_s=$(echo "$t1 - $t0" | bc -l)

for c in benchq benchc; do
  cleanup_cluster "$c" --yes --force >"$work/clean.out" 2>&1 || { cat "$work/clean.out" >&2; exit 1; }
done
printf 'RESULT cloud-real ours_s=%.3f openstackclient_s=%.3f ratio=%.1f\n' "$ours_s" "$cli_s" "$(echo "$cli_s / $ours_s" | bc -l)"
