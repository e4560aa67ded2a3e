#!/usr/bin/env bash
# Start and stop a small etcd cluster on 127.0.0.1 for tests and benchmarks,
# with kubeadm-like mutual TLS (certificates made with openssl).
#
# Usage: etcd-cluster.sh COMMAND DIR [ARG]
#   start              create certificates (once) and start all members, wait until healthy
#   stop               stop all members (data is kept)
#   clean              stop and remove DIR
#   stop-member N      stop member N (1-based); start-member N starts it again
#   start-member N
#   endpoints          comma-separated client URLs of all members
#   endpoint N         client URL of member N
#   ctl-flags          etcdctl TLS flags (--cacert --cert --key), one per line
#   leader             client URL of the current leader
#   status             etcdctl endpoint status -w table
#   env                shell assignments for the defrag script (ETCD_DEFRAG_CACERT ...)
#
# Environment (read by `start`, then remembered in DIR/cluster.env):
#   ETCD_MEMBERS      number of members (default 3; 1 for single-member tests)
#   ETCD_BASE_PORT    default 23790; member i gets client port BASE+10*i+1, peer port BASE+10*i+2
#   ETCD_QUOTA_BYTES  --quota-backend-bytes (default 256 MiB)
#   ETCD_TLS          1 (default): mTLS on client and peer URLs; 0: plain http
#   ETCD_BIN, ETCDCTL_BIN  binaries (default etcd, etcdctl from PATH); work with 3.4 and 3.5
#
# Layout of DIR: pki/etcd/{ca,server,peer,healthcheck-client}.{crt,key} (as kubeadm names
# them), mN.etcd (data), mN.log, mN.pid, cluster.env.
set -euo pipefail

cmd=${1:-}
dir=${2:-}
if [[ -z "$cmd" || -z "$dir" ]]; then
  sed -n '2,24p' "$0" >&2
  exit 2
fi

if [[ "$cmd" == start && ! -f "$dir/cluster.env" ]]; then
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  {
    printf 'MEMBERS=%q\n' "${ETCD_MEMBERS:-3}"
    printf 'BASE_PORT=%q\n' "${ETCD_BASE_PORT:-23790}"
    printf 'QUOTA=%q\n' "${ETCD_QUOTA_BYTES:-268435456}"
    printf 'TLS=%q\n' "${ETCD_TLS:-1}"
    printf 'ETCD=%q\n' "${ETCD_BIN:-etcd}"
    printf 'CTL=%q\n' "${ETCDCTL_BIN:-etcdctl}"
  } >"$dir/cluster.env"
fi
if [[ "$cmd" == clean && ! -f "$dir/cluster.env" ]]; then
  rm -rf "$dir"
  exit 0
fi
if [[ ! -f "$dir/cluster.env" ]]; then
  echo "no cluster in $dir (run: $0 start $dir)" >&2
  exit 1
fi
dir=$(cd "$dir" && pwd)
MEMBERS='' BASE_PORT='' QUOTA='' TLS='' ETCD='' CTL=''
# shellcheck source=/dev/null
source "$dir/cluster.env"
export ETCDCTL_API=3
pki="$dir/pki/etcd"

scheme() { if [[ "$TLS" == 1 ]]; then echo https; else echo http; fi; }
cport() { echo $((BASE_PORT + 10 * $1 + 1)); }
pport() { echo $((BASE_PORT + 10 * $1 + 2)); }
endpoint() { echo "$(scheme)://127.0.0.1:$(cport "$1")"; }

endpoints() {
  local e="" i
  for ((i = 1; i <= MEMBERS; i++)); do e+="${e:+,}$(endpoint "$i")"; done
  echo "$e"
}

ctl_flags() {
  [[ "$TLS" == 1 ]] || return 0
  printf '%s\n' --cacert "$pki/ca.crt" --cert "$pki/healthcheck-client.crt" --key "$pki/healthcheck-client.key"
}

ctl() {
  local flags
  mapfile -t flags < <(ctl_flags)
  "$CTL" "${flags[@]}" "$@"
}

# running and not a zombie (an orphaned etcd may stay a zombie until PID 1 reaps it)
alive() {
  local st
  st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
  [[ -n "$st" && "$st" != Z && "$st" != X ]]
}

# one certificate signed by the CA: name, CN, extendedKeyUsage, with SANs or not
mkcert() {
  local name=$1 cn=$2 eku=$3 san=$4
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=$cn" \
    -keyout "$pki/$name.key" -out "$pki/$name.csr" 2>/dev/null
  {
    echo "extendedKeyUsage=$eku"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    [[ -z "$san" ]] || echo "subjectAltName=$san"
  } >"$pki/$name.ext"
  openssl x509 -req -in "$pki/$name.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial \
    -days 30 -extfile "$pki/$name.ext" -out "$pki/$name.crt" 2>/dev/null
  rm -f "$pki/$name.csr" "$pki/$name.ext"
  chmod 0600 "$pki/$name.key"
}

mkpki() {
  [[ -f "$pki/healthcheck-client.crt" ]] && return 0
  mkdir -p "$pki"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30 \
    -subj "/CN=etcd-ca" -keyout "$pki/ca.key" -out "$pki/ca.crt" 2>/dev/null
  mkcert server kube-etcd serverAuth,clientAuth "IP:127.0.0.1,DNS:localhost"
  mkcert peer kube-etcd-peer serverAuth,clientAuth "IP:127.0.0.1,DNS:localhost"
  mkcert healthcheck-client kube-etcd-healthcheck-client clientAuth ""
}

initial_cluster() {
  local c="" i
  for ((i = 1; i <= MEMBERS; i++)); do c+="${c:+,}m$i=$(scheme)://127.0.0.1:$(pport "$i")"; done
  echo "$c"
}

start_member() {
  local i=$1 pf="$dir/m$1.pid"
  if [[ -f "$pf" ]] && alive "$(cat "$pf")"; then
    return 0
  fi
  local state=new sch tls=()
  [[ -d "$dir/m$i.etcd/member" ]] && state=existing
  sch=$(scheme)
  if [[ "$TLS" == 1 ]]; then
    tls=(--cert-file "$pki/server.crt" --key-file "$pki/server.key" --trusted-ca-file "$pki/ca.crt"
      --client-cert-auth
      --peer-cert-file "$pki/peer.crt" --peer-key-file "$pki/peer.key"
      --peer-trusted-ca-file "$pki/ca.crt" --peer-client-cert-auth)
  fi
  "$ETCD" --name "m$i" \
    --data-dir "$dir/m$i.etcd" \
    --listen-client-urls "$sch://127.0.0.1:$(cport "$i")" \
    --advertise-client-urls "$sch://127.0.0.1:$(cport "$i")" \
    --listen-peer-urls "$sch://127.0.0.1:$(pport "$i")" \
    --initial-advertise-peer-urls "$sch://127.0.0.1:$(pport "$i")" \
    "${tls[@]}" \
    --initial-cluster "$(initial_cluster)" \
    --initial-cluster-token "test-$BASE_PORT" \
    --initial-cluster-state "$state" \
    --heartbeat-interval 50 --election-timeout 500 \
    --quota-backend-bytes "$QUOTA" \
    </dev/null >>"$dir/m$i.log" 2>&1 &
  echo $! >"$pf"
}

stop_member() {
  local pf="$dir/m$1.pid" pid
  [[ -f "$pf" ]] || return 0
  pid=$(cat "$pf")
  if alive "$pid"; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 100); do alive "$pid" || break; sleep 0.05; done
    if alive "$pid"; then kill -KILL "$pid" 2>/dev/null || true; fi
  fi
  rm -f "$pf"
}

wait_healthy() {
  local eps=$1 deadline=$((SECONDS + 30))
  until ctl --endpoints "$eps" --dial-timeout 300ms --command-timeout 500ms \
    endpoint health >/dev/null 2>&1; do
    if ((SECONDS > deadline)); then
      echo "etcd not healthy after 30s: $eps; see $dir/m*.log" >&2
      return 1
    fi
    sleep 0.1
  done
}

start() {
  [[ "$TLS" == 1 ]] && mkpki
  local i
  for ((i = 1; i <= MEMBERS; i++)); do start_member "$i"; done
  wait_healthy "$(endpoints)"
  echo "healthy: $(endpoints)"
}

stop() {
  local i
  for ((i = 1; i <= MEMBERS; i++)); do stop_member "$i"; done
}

leader() {
  # the JSON has uint64 IDs that jq 1.6 would round: compare them as text
  local ep out mid lid
  for ep in ${1//,/ }; do
    out=$(ctl --endpoints "$ep" --command-timeout 2s endpoint status -w fields 2>/dev/null) || continue
    mid=$(sed -n 's/^"MemberID" : \([0-9]*\)$/\1/p' <<<"$out")
    lid=$(sed -n 's/^"Leader" : \([0-9]*\)$/\1/p' <<<"$out")
    if [[ -n "$mid" && "$mid" == "$lid" ]]; then
      echo "$ep"
      return 0
    fi
  done
  echo "no leader found" >&2
  return 1
}

case "$cmd" in
  start) start ;;
  stop) stop ;;
  clean) stop; rm -rf "$dir" ;;
  stop-member) stop_member "${3:?member number}" ;;
  start-member) start_member "${3:?member number}"; wait_healthy "$(endpoint "$3")" ;;
  endpoints) endpoints ;;
  endpoint) endpoint "${3:?member number}" ;;
  ctl-flags) ctl_flags ;;
  leader) leader "$(endpoints)" ;;
  status) ctl --endpoints "$(endpoints)" endpoint status -w table ;;
  env)
    if [[ "$TLS" == 1 ]]; then
      printf 'ETCD_DEFRAG_CACERT=%q\nETCD_DEFRAG_CERT=%q\nETCD_DEFRAG_KEY=%q\n' \
        "$pki/ca.crt" "$pki/healthcheck-client.crt" "$pki/healthcheck-client.key"
    else
      printf 'ETCD_DEFRAG_CACERT=\nETCD_DEFRAG_CERT=\nETCD_DEFRAG_KEY=\n'
    fi
    printf 'ETCDCTL=%q\n' "$CTL"
    ;;
  *) echo "unknown command: $cmd" >&2; exit 2 ;;
esac
