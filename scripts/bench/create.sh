#!/usr/bin/env bash
# Benchmark `create`: `scs-capi create-cluster` end to end on the fakes with zero simulated
# latency - the fake OpenStack (standalone, no Keystone: no application credential), fake-kube
# as the management cluster (controller tick 0, its simulated CAPO creating servers, network
# and load balancer in the fake cloud) and its workload cluster, addon manifests from a
# local mirror (tests/fixtures/addons). No network, nothing outside the repository.
#
# The harness (scripts/bench/create.rs, cargo example `bench-create`) serves the fakes in
# its own process and runs the release binary: the create, then the same command again as
# the re-run baseline (nothing to change), then `scs-capi --version` (process start).
# `api_calls` counts every request the fakes received from the tool (cloud + management +
# workload API); `seconds` is the wall-clock time of the create process. Target: < 2 s.
#
# Usage: scripts/bench.sh create      Environment: CARGO_TARGET_DIR, SCS_TEST_CRDS_DIR.
# Last line: RESULT create seconds=<s> api_calls=<n> rerun_seconds=<s> rerun_api_calls=<n>
#            baseline_process_ms=<ms> mirror_gets=<n>
set -euo pipefail
cd "$(dirname "$0")/../.."
target=${CARGO_TARGET_DIR:-$PWD/target}

cargo build --quiet --release --bin scs-capi -p scs-capi
cargo build --quiet --release --example bench-create -p scs-capi
exec "$target/release/examples/bench-create" "$target/release/scs-capi"
