#!/usr/bin/env bash
# Benchmark the node-image upload (`cloud::image::ensure_image`): a generated 1 GiB file
# served by a local HTTP server (python `http.server` from the test venv) is streamed into
# the fake Glance (release build of tests/fake-openstack) with SHA-256 verification.
# Measures the peak RSS of our process (`/usr/bin/time -v`) and its throughput, and, in the
# same run, a plain `curl -T FILE` of the same file into a fresh image on the same Glance.
# Our side runs through the ignored test `bench_upload_from_env` in tests/cloud_image.rs
# (release build, `--ignored --exact`), configured by SCS_BENCH_* variables; until a
# `scs-capi image upload` command exists, that test is the driver.
# Target: RSS < 64 MiB for any image size (memory must not grow with the image).
# Environment: CARGO_TARGET_DIR, BENCH_IMAGE_MIB (default 1024),
# SCS_TEST_VENV (default .venv-test).
set -euo pipefail
[[ -n ${BENCH_TRACE:-} ]] && set -x
cd "$(dirname "$0")/../.."
size_mib=${BENCH_IMAGE_MIB:-1024}
venv=${SCS_TEST_VENV:-.venv-test}
target=${CARGO_TARGET_DIR:-target}

cargo build --release --quiet -p fake-openstack --bin fake-openstack
testbin=$(cargo test --release --quiet --test cloud_image --no-run --message-format=json 2>/dev/null |
  python3 -c 'import json,sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "cloud_image" and m.get("executable"):
        print(m["executable"])')
[[ -x "$testbin" ]] || { echo "cannot find the cloud_image test binary" >&2; exit 1; }

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

fake_port=$(free_port)
"$target/release/fake-openstack" --port "$fake_port" >"$work/fake.log" 2>&1 &
pids+=($!)
glance=http://127.0.0.1:$fake_port/image
mkdir -p "$work/src"
head -c "$((size_mib * 1024 * 1024))" /dev/urandom >"$work/src/node.img"
sha=$(sha256sum "$work/src/node.img" | cut -d' ' -f1)
src_port=$(free_port)
"$venv/bin/python" -m http.server --bind 127.0.0.1 --directory "$work/src" "$src_port" \
  >"$work/http.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do
  if curl -fsS -o /dev/null "http://127.0.0.1:$src_port/" && curl -sS -o /dev/null "$glance/"; then break; fi
  sleep 0.1
done

cat >"$work/clouds.yaml" <<YAML
clouds:
  fake:
    auth_type: none
    region_name: RegionOne
    identity_endpoint_override: http://127.0.0.1:$fake_port/identity
    compute_endpoint_override: http://127.0.0.1:$fake_port/compute/v2.1
    network_endpoint_override: http://127.0.0.1:$fake_port/network
    image_endpoint_override: $glance/v2
    load_balancer_endpoint_override: http://127.0.0.1:$fake_port/load-balancer
YAML

# --- ours: GET from the HTTP server -> SHA-256 -> PUT into Glance ---
SCS_BENCH_CLOUDS_YAML=$work/clouds.yaml SCS_BENCH_URL=http://127.0.0.1:$src_port/node.img \
  SCS_BENCH_SHA256=$sha SCS_BENCH_IMAGE=bench-ours \
  /usr/bin/time -v "$testbin" --ignored --exact bench_upload_from_env --nocapture --test-threads 1 \
  >"$work/ours.out" 2>"$work/ours.err" || { cat "$work/ours.out" "$work/ours.err" >&2; exit 1; }
rss_kib=$(awk -F: '/Maximum resident set size/ { gsub(/ /, "", $2); print $2 }' "$work/ours.err")
ours=$(grep -o 'mib_s=[0-9.]*' "$work/ours.out" | cut -d= -f2)
grep -o 'BENCH .*' "$work/ours.out" >&2

# --- curl -T of the same (local) file into a fresh image on the same Glance ---
id=$(curl -fsS -H 'Content-Type: application/json' \
  -d '{"name": "bench-curl", "disk_format": "raw", "container_format": "bare"}' \
  "$glance/v2/images" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
speed=$(curl -fsS -o /dev/null -w '%{speed_upload}' -T "$work/src/node.img" \
  -H 'Content-Type: application/octet-stream' "$glance/v2/images/$id/file")
curl_mib_s=$(echo "$speed" | awk '{ printf "%.1f", $1 / 1048576 }')
status=$(curl -fsS "$glance/v2/images/$id" | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"])')
[[ $status == active ]] || { echo "curl upload left image $id $status" >&2; exit 1; }

rss_mib=$(echo "$rss_kib" | awk '{ printf "%.1f", $1 / 1024 }')
echo "image: ${size_mib} MiB; ours ${ours} MiB/s (download + SHA-256 + upload), peak RSS ${rss_mib} MiB; curl -T (local file) ${curl_mib_s} MiB/s"
echo "RESULT image rss_mib=$rss_mib ours_mib_s=$ours curl_mib_s=$curl_mib_s"
