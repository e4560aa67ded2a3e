#!/usr/bin/env bash
# Builds (release) and runs the fake OpenStack on 127.0.0.1:PORT until Ctrl-C; prints the
# service URLs and a standalone clouds.yaml (cloud `fake`). See tests/fake-openstack/README.md.
#
# Usage: scripts/fake-openstack.sh PORT [--seed demo] [--ovn] [--log]
# Environment: CARGO_TARGET_DIR (optional build cache).
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ $# -lt 1 || ! $1 =~ ^[0-9]+$ ]]; then
  echo "usage: $0 PORT [--seed demo] [--ovn] [--log]" >&2
  exit 2
fi
port=$1
shift
cargo build --quiet --release -p fake-openstack --bin fake-openstack
exec "${CARGO_TARGET_DIR:-target}/release/fake-openstack" --port "$port" "$@"
