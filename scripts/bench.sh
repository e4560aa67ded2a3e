#!/usr/bin/env bash
# The project's one benchmark entry point: `scripts/bench.sh NAME` runs
# scripts/bench/NAME.sh, which measures its subject and a baseline in the same run and
# prints, as its last line, `RESULT NAME key=value...`.
# Benchmarks: render, etcd, cloud, image, cleanup, create, cloud-real, cleanup-real.
set -euo pipefail
cd "$(dirname "$0")/.."
name=${1:-}
if [[ -z "$name" || ! -f "scripts/bench/$name.sh" ]]; then
  names=(scripts/bench/*.sh)
  names=("${names[@]##*/}")
  echo "usage: scripts/bench.sh NAME   (NAME: ${names[*]%.sh})" >&2
  exit 2
fi
shift
exec bash "scripts/bench/$name.sh" "$@"
