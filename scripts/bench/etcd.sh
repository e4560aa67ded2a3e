#!/usr/bin/env bash
# Benchmark body for `scripts/bench.sh etcd`: a 3-member etcd cluster with mTLS on
# 127.0.0.1, fragmented (write, delete, compact); a writer puts keys through the
# grpc-gateway of one member over one kept-alive HTTPS connection (as a kube-apiserver
# talks to its local member) and records each request's latency, first alone, then
# during one run of the defrag script.
# Environment: ETCD_BIN, ETCDCTL_BIN (default etcd, etcdctl from PATH), BENCH_KEYS (3000
# values of 10 KB), BENCH_BEFORE_SECONDS (5), BENCH_PAUSE_SECONDS (2),
# ETCD_BASE_PORT (33790).
# Last line:
#   RESULT etcd defragged=<n> leader_last=<true|false> writer_errors=<n> p99_ms_before=<x> p99_ms_during=<y>
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
harness="$root/scripts/etcd-cluster.sh"
script="$root/src/etcd/defrag.sh"
keys=${BENCH_KEYS:-3000}
before_s=${BENCH_BEFORE_SECONDS:-5}
work=$(mktemp -d)
writer_pid=""
cleanup() {
  [[ -z "$writer_pid" ]] || kill "$writer_pid" 2>/dev/null || true
  "$harness" clean "$work/cluster" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

ETCD_BASE_PORT=${ETCD_BASE_PORT:-33790} ETCD_MEMBERS=3 ETCD_TLS=1 "$harness" start "$work/cluster" >&2
mapfile -t tls < <("$harness" ctl-flags "$work/cluster")
eps=$("$harness" endpoints "$work/cluster")
ctl=${ETCDCTL_BIN:-etcdctl}
ctl() { ETCDCTL_API=3 "$ctl" "${tls[@]}" --endpoints "$eps" --command-timeout 30s "$@"; }

echo "filling $keys x 10 KB" >&2
value=$(head -c 10000 /dev/zero | tr '\0' x)
for ((i = 0; i < keys; i += 100)); do
  {
    echo
    for ((j = i; j < i + 100 && j < keys; j++)); do printf 'put /bench/%06d %s\n' "$j" "$value"; done
    echo
    echo
  } | ctl txn >/dev/null
done
ctl del --prefix /bench/ >/dev/null
rev=$(ctl endpoint status -w fields | sed -n 's/^"Revision" : //p' | head -n 1)
ctl compaction --physical "$rev" >/dev/null
sleep 1
"$harness" status "$work/cluster" >&2

leader_ep=$("$harness" leader "$work/cluster")
leader_hex=$(ETCDCTL_API=3 "$ctl" "${tls[@]}" --endpoints "$leader_ep" endpoint status -w table |
  awk -F'|' 'NR == 4 { gsub(/ /, "", $3); print $3 }')
writer_ep=$("$harness" endpoint "$work/cluster" 1)
pki="$work/cluster/pki/etcd"

# the writer: one HTTPS connection with the client certificate, PUT through the gateway
cat >"$work/writer.py" <<'PY'
import base64, http.client, json, ssl, sys, time, urllib.parse
ep, ca, cert, key, out, stop = sys.argv[1:7]
u = urllib.parse.urlparse(ep)
ctx = ssl.create_default_context(cafile=ca)
ctx.load_cert_chain(cert, key)
def conn():
    return http.client.HTTPSConnection(u.hostname, u.port, context=ctx, timeout=10)
c = conn()
val = base64.b64encode(b"v" * 100).decode()
i = 0
import os
with open(out, "w") as f:
    while not os.path.exists(stop):
        body = json.dumps({"key": base64.b64encode(b"/writer/%d" % (i % 1000)).decode(), "value": val})
        t0 = time.time()
        ok = True
        try:
            c.request("POST", "/v3/kv/put", body, {"Content-Type": "application/json"})
            r = c.getresponse()
            data = r.read()
            ok = r.status == 200 and b"error" not in data
        except Exception:
            ok = False
            c.close()
            c = conn()
        t1 = time.time()
        f.write("%d %.3f %s\n" % (t0 * 1000, (t1 - t0) * 1000, "ok" if ok else "err"))
        i += 1
        time.sleep(0.01)
PY
python3 "$work/writer.py" "$writer_ep" "$pki/ca.crt" "$pki/healthcheck-client.crt" \
  "$pki/healthcheck-client.key" "$work/lat.txt" "$work/stop" &
writer_pid=$!
sleep "$before_s"

start_ms=$(date +%s%3N)
ETCD_DEFRAG_ENDPOINT=$leader_ep ETCD_DEFRAG_CACERT="$pki/ca.crt" \
  ETCD_DEFRAG_CERT="$pki/healthcheck-client.crt" ETCD_DEFRAG_KEY="$pki/healthcheck-client.key" \
  ETCDCTL="$ctl" ETCD_DEFRAG_MIN_DB_BYTES=$((4 * 1024 * 1024)) ETCD_DEFRAG_QUOTA_BYTES=$((256 * 1024 * 1024)) \
  ETCD_DEFRAG_PAUSE_SECONDS=${BENCH_PAUSE_SECONDS:-2} ETCD_DEFRAG_BACKUP_DIR="$work/backups" \
  ETCD_DEFRAG_DATA_DIR="$work/no-trim" \
  bash "$script" >"$work/run.log" || echo "defrag script exited $?" >&2
end_ms=$(date +%s%3N)
touch "$work/stop"
wait "$writer_pid" || true
writer_pid=""
cat "$work/run.log" >&2

defragged=$(grep -c '"event":"defrag_done"' "$work/run.log" || true)
last=$(grep '"event":"defrag_done"' "$work/run.log" | tail -n 1 | sed -n 's/.*"member_id":"\([0-9a-f]*\)".*/\1/p')
leader_last=false
if [[ -n "$last" && "$last" == "$leader_hex" ]] && grep -q '"event":"move_leader"' "$work/run.log"; then
  leader_last=true
fi
read -r errors p99_before p99_during < <(python3 - "$work/lat.txt" "$start_ms" "$end_ms" <<'PY'
import sys
path, start, end = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
before, during, errors = [], [], 0
for line in open(path):
    t, lat, st = line.split()
    t, lat = int(t), float(lat)
    if st != "ok":
        errors += 1
    (before if t < start else during if t <= end else []).append(lat)
def p99(xs):
    if not xs:
        return 0.0
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * 0.99))]
print(errors, "%.1f" % p99(before), "%.1f" % p99(during))
PY
)
echo "RESULT etcd defragged=$defragged leader_last=$leader_last writer_errors=$errors p99_ms_before=$p99_before p99_ms_during=$p99_during"
