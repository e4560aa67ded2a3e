# shellcheck shell=bash
# Sourced by cloud-real.sh and cleanup-real.sh: the real OpenStack services of
# scripts/openstack-local.sh (SCS_TEST_OPENSTACK_DIR when set, else target/openstack-local,
# started if needed and left running), the release binary, `ours` and `osc` as the tenant.
repo=$PWD
target=${CARGO_TARGET_DIR:-$repo/target}
venv=${SCS_TEST_VENV:-$repo/.venv-test}
osc=$venv/bin/openstack
[[ -x "$osc" ]] || { echo "error: \`$osc\` is missing; run scripts/test.sh" >&2; exit 1; }
osl=${SCS_TEST_OPENSTACK_DIR:-$repo/target/openstack-local}
scripts/openstack-local.sh start "$osl" >&2
cargo build --quiet --release --bin scs-capi -p scs-capi
scs=$target/release/scs-capi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/home"
# The tenant's cloud only (never admin).
awk '/^  admin:/ {exit} {print}' "$osl/clouds.yaml" >"$work/clouds.yaml"

now() { date +%s.%N; }
ours() {
  HOME=$work/home XDG_STATE_HOME=$work/home/state XDG_CONFIG_HOME=$work/home/config \
    OS_CLIENT_CONFIG_FILE=$work/clouds.yaml "$scs" "$@"
}
py() { OS_CLIENT_CONFIG_FILE=$work/clouds.yaml "$venv/bin/python" - "$@"; }
export OS_CLIENT_CONFIG_FILE=$work/clouds.yaml OS_CLOUD=tenant
# `cleanup` of cluster $1 named by a settings file (a bare NAME needs the state that only
# `prepare-cloud` leaves, and the CLI baseline's clusters have none).
cleanup_cluster() {
  local c=$1
  shift
  printf 'cluster_name: %s\ncloud_provider: tenant\n' "$c" >"$work/$c-cleanup.yaml"
  ours cleanup -f "$work/$c-cleanup.yaml" "$@"
}
