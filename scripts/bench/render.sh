#!/usr/bin/env bash
# Benchmark `render`: validate + render 1000 generated cluster files (two processes:
# `scs-capi validate DIR` and `scs-capi render -f ... -f ...` writing all manifests to
# stdout, which goes to a file), and the cost of one
# `scs-capi validate` invocation including process start, against the baseline of
# starting a trivial process (`/bin/true`) measured in the same run.
# Targets (design.md): 1000 clusters < 1 s on 2 cores; one invocation < 20 ms.
set -euo pipefail
cd "$(dirname "$0")/../.."
n=${BENCH_CLUSTERS:-1000}
cargo build --release --quiet
bin=${CARGO_TARGET_DIR:-target}/release/scs-capi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/clusters"

flavors=(SCS-2V-4-20s SCS-4V-8-50s SCS-8V-16-100s)
versions=(v1.25.x v1.31.x v1.33.x v1.34.x)
for ((i = 0; i < n; i++)); do
  {
    echo "cluster_name: c$i"
    echo "kubernetes_version: ${versions[i % 4]}"
    echo "controller_count: $((i % 2 * 2 + 1))"
    echo "worker_count: $((i % 7 + 1))"
    echo "controller_flavor: ${flavors[i % 3]}"
    if ((i % 3 == 0)); then echo "use_cilium: true"; fi
    if ((i % 5 == 0)); then
      echo "restrict_kubeapi: [10.$((i % 200)).0.0/16, 192.0.2.$((i % 250 + 1))]"
      echo "mgmt_egress_cidr: 203.0.113.10/32"
    fi
    echo "etcd_defrag:"
    echo "  pause_seconds: $((i % 60 + 1))"
  } >"$work/clusters/c$i.yaml"
done

now_ns() { date +%s%N; }
ms_between() { echo "$1 $2" | awk '{ printf "%.3f", ($2 - $1) / 1e6 }'; }
median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

# warm the page cache
"$bin" validate "$work/clusters" 2>/dev/null

t0=$(now_ns)
"$bin" validate "$work/clusters" 2>/dev/null
t1=$(now_ns)
# shellcheck disable=SC2046 # one -f per file
"$bin" render $(printf -- "-f $work/clusters/c%d.yaml " $(seq 0 $((n - 1)))) >"$work/all.yaml" 2>/dev/null
t2=$(now_ns)
rendered=$(grep -c '^kind: Cluster$' "$work/all.yaml")
if [[ "$rendered" != "$n" ]]; then
  echo "expected $n rendered clusters, got $rendered" >&2
  exit 1
fi
validate_ms=$(ms_between "$t0" "$t1")
render_ms=$(ms_between "$t1" "$t2")
total_s=$(echo "$t0 $t2" | awk '{ printf "%.3f", ($2 - $1) / 1e9 }')
per_cluster_ms=$(echo "$t0 $t2 $n" | awk '{ printf "%.3f", ($2 - $1) / 1e6 / $3 }')

runs=31
single=$(for ((i = 0; i < runs; i++)); do
  a=$(now_ns); "$bin" validate "$work/clusters/c1.yaml" 2>/dev/null; b=$(now_ns); ms_between "$a" "$b"; echo
done | median)
floor=$(for ((i = 0; i < runs; i++)); do
  a=$(now_ns); /bin/true; b=$(now_ns); ms_between "$a" "$b"; echo
done | median)

echo "validate ${n} files: ${validate_ms} ms; render ${n} clusters: ${render_ms} ms" >&2
echo "one validate invocation: median ${single} ms over ${runs} runs (process start baseline /bin/true: ${floor} ms)" >&2
echo "RESULT render clusters=$n seconds=$total_s per_cluster_ms=$per_cluster_ms single_validate_ms=$single baseline_process_ms=$floor"
