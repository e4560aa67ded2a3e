#!/usr/bin/env bash
# etcd-defrag: defragment the members of this node's etcd cluster, one at a time,
# the leader last after handing leadership to a freshly defragmented follower,
# then save a snapshot. Installed by scs-capi on every control-plane node and run by
# etcd-defrag.timer; only the node whose member is the leader does any work.
#
# Usage: etcd-defrag [--dry-run] [--force] [--force-single] [--force-unhealthy]
#   --dry-run          evaluate gates and rule, log decisions; change nothing (no lock,
#                      no defrag, no leader move, no alarm disarm, no snapshot)
#   --force            defragment every member regardless of the rule
#   --force-single     defragment a single-member cluster regardless of policy and rule
#                      (this blocks the Kubernetes API for the duration)
#   --force-unhealthy  skip the health gate; unreachable members are left out
#
# Environment (defaults in brackets):
#   ETCD_DEFRAG_ENDPOINT           the local member [https://127.0.0.1:2379]
#   ETCD_DEFRAG_CACERT             [/etc/kubernetes/pki/etcd/ca.crt]
#   ETCD_DEFRAG_CERT, _KEY         client certificate signed by the etcd CA
#                                  [/etc/kubernetes/pki/etcd/healthcheck-client.crt/.key]
#                                  (set all three to empty strings for plain http)
#   ETCDCTL                        etcdctl binary (3.4 or 3.5) [etcdctl]
#   ETCD_DEFRAG_MIN_DB_BYTES       rule: file at least this large [104857600]
#   ETCD_DEFRAG_MIN_FREE_PERCENT   rule: ... and at least this % of it free [45]
#   ETCD_DEFRAG_MAX_QUOTA_PERCENT  rule: or the file uses this % of the quota [80]
#   ETCD_DEFRAG_QUOTA_BYTES        the cluster's --quota-backend-bytes [2147483648]
#   ETCD_DEFRAG_PAUSE_SECONDS      pause between members [30]
#   ETCD_DEFRAG_SINGLE_MEMBER      danger-zone | never | always [danger-zone]
#   ETCD_DEFRAG_BACKUP_DIR         snapshots go here [/var/backups/etcd]
#   ETCD_DEFRAG_BACKUPS_KEPT       snapshots kept, 0 = no snapshot [7]
#   ETCD_DEFRAG_BACKUP_RESERVE_BYTES  free space left on the backup file system after a
#                                  snapshot (twice the database size) [536870912]
#   ETCD_DEFRAG_DATA_DIR           fstrim'ed after the local member was defragmented [/var/lib/etcd]
#   ETCD_DEFRAG_TIMEOUT            etcdctl command timeout of one defrag or snapshot [10m]
#   ETCD_DEFRAG_CHECK_TIMEOUT      etcdctl command timeout of status and health checks [5s]
#   ETCD_DEFRAG_LOCK_KEY           key of the lock held in etcd [/etcd-defrag/lock]
#
# Rule per member (integer arithmetic):
#   (dbSize >= MIN_DB_BYTES and (dbSize - dbSizeInUse)*100 >= MIN_FREE_PERCENT*dbSize)
#   or dbSize*100 >= MAX_QUOTA_PERCENT*QUOTA_BYTES
# An active NOSPACE alarm selects every member and is disarmed afterwards.
#
# Output: one JSON object per line on stdout for every decision and action.
#
# Exit codes:
#   0  done, nothing to do, not the leader, or another run holds the lock
#   1  a step failed (defrag, leader move, alarm disarm, snapshot, lock)
#   2  usage or configuration error
#   3  a gate stopped the run (member unreachable or unhealthy, no leader,
#      alarm other than NOSPACE) before anything was changed by this step
set -euo pipefail
umask 077
export ETCDCTL_API=3

ENDPOINT=${ETCD_DEFRAG_ENDPOINT:-https://127.0.0.1:2379}
CACERT=${ETCD_DEFRAG_CACERT-/etc/kubernetes/pki/etcd/ca.crt}
CERT=${ETCD_DEFRAG_CERT-/etc/kubernetes/pki/etcd/healthcheck-client.crt}
KEY=${ETCD_DEFRAG_KEY-/etc/kubernetes/pki/etcd/healthcheck-client.key}
ETCDCTL=${ETCDCTL:-etcdctl}
MIN_DB_BYTES=${ETCD_DEFRAG_MIN_DB_BYTES:-104857600}
MIN_FREE_PERCENT=${ETCD_DEFRAG_MIN_FREE_PERCENT:-45}
MAX_QUOTA_PERCENT=${ETCD_DEFRAG_MAX_QUOTA_PERCENT:-80}
QUOTA_BYTES=${ETCD_DEFRAG_QUOTA_BYTES:-2147483648}
PAUSE_SECONDS=${ETCD_DEFRAG_PAUSE_SECONDS:-30}
SINGLE_MEMBER=${ETCD_DEFRAG_SINGLE_MEMBER:-danger-zone}
BACKUP_DIR=${ETCD_DEFRAG_BACKUP_DIR:-/var/backups/etcd}
BACKUPS_KEPT=${ETCD_DEFRAG_BACKUPS_KEPT:-7}
BACKUP_RESERVE_BYTES=${ETCD_DEFRAG_BACKUP_RESERVE_BYTES:-536870912}
DATA_DIR=${ETCD_DEFRAG_DATA_DIR:-/var/lib/etcd}
DEFRAG_TIMEOUT=${ETCD_DEFRAG_TIMEOUT:-10m}
CHECK_TIMEOUT=${ETCD_DEFRAG_CHECK_TIMEOUT:-5s}
LOCK_KEY=${ETCD_DEFRAG_LOCK_KEY:-/etcd-defrag/lock}
LOCK_TTL=60

DRY_RUN=false FORCE=false FORCE_SINGLE=false FORCE_UNHEALTHY=false

# ---------------------------------------------------------------- logging

json_str() {
  local s=$1
  s=${s//\\/\\\\}
  s=${s//\"/\\\"}
  s=${s//$'\n'/\\n}
  s=${s//$'\r'/\\r}
  s=${s//$'\t'/\\t}
  if [[ $s == *[[:cntrl:]]* ]]; then
    s=$(printf '%s' "$s" | tr -d '\000-\037')
  fi
  printf '"%s"' "$s"
}

# log EVENT [key=string]... [key:=raw-json]...
log() {
  local line kv
  line="{\"ts\":\"$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ)\",\"event\":$(json_str "$1")"
  shift
  for kv in "$@"; do
    if [[ $kv == *:=* && ${kv%%:=*} != *=* ]]; then
      line+=",$(json_str "${kv%%:=*}"):${kv#*:=}"
    else
      line+=",$(json_str "${kv%%=*}"):$(json_str "${kv#*=}")"
    fi
  done
  printf '%s}\n' "$line"
}

now_ms() { date +%s%3N; }

usage() {
  # the header comments are stripped on the nodes, so the text lives here
  cat >&2 <<'USAGE'
Usage: etcd-defrag [--dry-run] [--force] [--force-single] [--force-unhealthy]
  --dry-run          evaluate gates and rule, log decisions; change nothing
  --force            defragment every member regardless of the rule
  --force-single     defragment a single-member cluster regardless of policy and rule
                     (this blocks the Kubernetes API for the duration)
  --force-unhealthy  skip the health gate; unreachable members are left out
Configuration: ETCD_DEFRAG_* environment variables (see the systemd service).
USAGE
  exit 2
}

die_config() {
  log config_error "error=$1"
  exit 2
}

# ---------------------------------------------------------------- arguments

for arg in "$@"; do
  case "$arg" in
    --dry-run) DRY_RUN=true ;;
    --force) FORCE=true ;;
    --force-single) FORCE_SINGLE=true ;;
    --force-unhealthy) FORCE_UNHEALTHY=true ;;
    -h | --help) usage ;;
    *) log config_error "error=unknown argument: $arg"; usage ;;
  esac
done

for v in MIN_DB_BYTES MIN_FREE_PERCENT MAX_QUOTA_PERCENT QUOTA_BYTES PAUSE_SECONDS BACKUPS_KEPT BACKUP_RESERVE_BYTES; do
  [[ ${!v} =~ ^[0-9]{1,15}$ ]] || die_config "ETCD_DEFRAG_$v must be a non-negative integer, got '${!v}'"
done
((QUOTA_BYTES > 0)) || die_config "ETCD_DEFRAG_QUOTA_BYTES must be positive"
((MIN_FREE_PERCENT <= 100 && MAX_QUOTA_PERCENT <= 100)) || die_config "percentages must be at most 100"
case "$SINGLE_MEMBER" in
  danger-zone | never | always) ;;
  *) die_config "ETCD_DEFRAG_SINGLE_MEMBER must be danger-zone, never or always, got '$SINGLE_MEMBER'" ;;
esac
command -v "$ETCDCTL" >/dev/null || die_config "etcdctl not found: $ETCDCTL"
command -v jq >/dev/null || die_config "jq not found"

TLS_FLAGS=()
[[ -z "$CACERT" ]] || TLS_FLAGS+=(--cacert "$CACERT")
[[ -z "$CERT" ]] || TLS_FLAGS+=(--cert "$CERT")
[[ -z "$KEY" ]] || TLS_FLAGS+=(--key "$KEY")

TMP=$(mktemp -d)
BACKUP_TMP=""
LEASE_ID=""
KEEPALIVE_PID=""

cleanup() {
  if [[ -n "$KEEPALIVE_PID" ]]; then
    kill "$KEEPALIVE_PID" 2>/dev/null || true
  fi
  if [[ -n "$LEASE_ID" ]]; then
    # revoking the lease deletes the lock key
    if ctl 15s --endpoints "$ENDPOINT" lease revoke "$LEASE_ID" >/dev/null 2>"$TMP/err"; then
      log lock_released "lease=$LEASE_ID"
    else
      log lock_release_failed "lease=$LEASE_ID" "error=$(tail -n 1 "$TMP/err")"
    fi
  fi
  # a snapshot cut short (failed compression, a signal) is as large as the database:
  # never leave it behind on the disk etcd may write to
  if [[ -n "$BACKUP_TMP" ]]; then
    rm -f "$BACKUP_TMP" "$BACKUP_TMP.part" "$BACKUP_TMP.xz" "$BACKUP_TMP.gz"
  fi
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------- etcdctl

# ctl TIMEOUT ARGS... ; etcdctl with the TLS flags and a command timeout
ctl() {
  local timeout=$1
  shift
  "$ETCDCTL" "${TLS_FLAGS[@]}" --dial-timeout=3s --command-timeout="$timeout" "$@"
}

last_error() { grep -v '^{' "$TMP/err" | tail -n 1 || true; }

# Member IDs are uint64 and exceed 2^53: jq 1.6 would round them as numbers.
# Turn them into strings in the raw text before jq sees it.
quote_ids() {
  sed -E 's/"(ID|member_id|cluster_id|leader|memberID)":([0-9]+)/"\1":"\2"/g'
}

hex() { printf '%x' "$1"; }

# status EP: the member's own view; sets ST_ID ST_LEADER ST_DB ST_INUSE ST_ERRORS
status() {
  local json line
  json=$(ctl "$CHECK_TIMEOUT" --endpoints "$1" endpoint status -w json 2>"$TMP/err") || return 1
  line=$(quote_ids <<<"$json" | jq -r '.[0].Status |
    [.header.member_id, .leader, .dbSize, (.dbSizeInUse // .dbSize),
     ((.errors // []) | join("; "))] | @tsv') || return 1
  IFS=$'\t' read -r ST_ID ST_LEADER ST_DB ST_INUSE ST_ERRORS <<<"$line"
  ST_ERRORS=${ST_ERRORS:-}
  [[ -n "$ST_ID" && -n "$ST_DB" ]]
}

# errors that only report NOSPACE alarms are expected while the alarm is active
only_nospace() {
  local rest=$1
  rest=$(sed -E 's/memberID:[0-9]+ alarm:NOSPACE//g; s/Active Alarm\(s\):( NOSPACE)+//g; s/[ ;,]//g' <<<"$rest")
  [[ -z "$rest" ]]
}

# ---------------------------------------------------------------- cluster state

declare -A M_EP M_NAME M_HEX S_DB S_INUSE S_LEADER
VOTERS=()
LOCAL_ID=""

load_members() {
  local json rows id learner ep name
  json=$(ctl 10s --endpoints "$ENDPOINT" member list -w json 2>"$TMP/err") || {
    log gate_failed reason=member_list "error=$(last_error)"
    exit 3
  }
  rows=$(quote_ids <<<"$json" | jq -r '.members[] | [.ID, (.isLearner // false),
    (((.clientURLs // [])[0]) // "-"), (if (.name // "") == "" then "-" else .name end)] | @tsv')
  VOTERS=()
  while IFS=$'\t' read -r id learner ep name; do
    [[ -n "$id" ]] || continue
    if [[ "$learner" == true ]]; then
      log skip_learner "member=$name" "member_id=$(hex "$id")" "endpoint=$ep"
      continue
    fi
    if [[ "$ep" == - ]]; then
      log member_not_started "member_id=$(hex "$id")"
      if [[ "$FORCE_UNHEALTHY" != true ]]; then
        log gate_failed reason=member_not_started "member_id=$(hex "$id")"
        exit 3
      fi
      continue
    fi
    M_EP[$id]=$ep M_NAME[$id]=$name M_HEX[$id]=$(hex "$id")
    VOTERS+=("$id")
  done <<<"$rows"
}

# check_health: every voting member healthy, judged by exit codes and by each member's
# own entry. Refreshes S_*; sets HEALTH_PROBLEMS (empty when healthy) and REACHABLE.
HEALTH_PROBLEMS=()
REACHABLE=()
check_health() {
  HEALTH_PROBLEMS=()
  REACHABLE=()
  local json rc=0 rows id ep entry health err leaders=""
  json=$(ctl "$CHECK_TIMEOUT" --endpoints "$ENDPOINT" endpoint health --cluster -w json 2>"$TMP/err") || rc=$?
  rows=$(jq -r '.[] | [.endpoint, (.health | tostring), ((.error // "") | gsub("[\t\n]"; " "))] | @tsv' \
    <<<"${json:-[]}" 2>/dev/null) || rows=""
  for id in "${VOTERS[@]}"; do
    ep=${M_EP[$id]}
    entry=$(awk -F'\t' -v ep="$ep" '$1 == ep { print; exit }' <<<"$rows")
    health=$(cut -f2 <<<"$entry")
    err=$(cut -f3- <<<"$entry")
    if [[ -z "$entry" ]]; then
      HEALTH_PROBLEMS+=("${M_NAME[$id]} ($ep): no health entry")
    elif [[ "$health" != true ]] && ! { [[ -n "$err" ]] && only_nospace "$err"; }; then
      HEALTH_PROBLEMS+=("${M_NAME[$id]} ($ep): ${err:-unhealthy}")
    fi
    if status "$ep"; then
      S_DB[$id]=$ST_DB S_INUSE[$id]=$ST_INUSE S_LEADER[$id]=$ST_LEADER
      if [[ "$ST_ID" != "$id" ]]; then
        HEALTH_PROBLEMS+=("${M_NAME[$id]} ($ep): endpoint answers as member $(hex "$ST_ID")")
      elif [[ "$ST_LEADER" == 0 ]]; then
        HEALTH_PROBLEMS+=("${M_NAME[$id]} ($ep): no leader")
      elif [[ -n "$ST_ERRORS" ]] && ! only_nospace "$ST_ERRORS"; then
        HEALTH_PROBLEMS+=("${M_NAME[$id]} ($ep): $ST_ERRORS")
      else
        REACHABLE+=("$id")
      fi
      [[ " $leaders " == *" $ST_LEADER "* ]] || leaders+=" $ST_LEADER"
    else
      HEALTH_PROBLEMS+=("${M_NAME[$id]} ($ep): status failed: $(last_error)")
    fi
  done
  # a non-zero exit that no entry explains (e.g. a member missing from the output)
  if ((rc != 0 && ${#HEALTH_PROBLEMS[@]} == 0)) && [[ -z "$rows" ]]; then
    HEALTH_PROBLEMS+=("endpoint health exited $rc: $(last_error)")
  fi
  read -ra leaders <<<"$leaders"
  if ((${#leaders[@]} > 1)); then
    HEALTH_PROBLEMS+=("members disagree about the leader")
  fi
  ((${#HEALTH_PROBLEMS[@]} == 0))
}

log_health_problems() {
  local p
  for p in "${HEALTH_PROBLEMS[@]}"; do log unhealthy "problem=$p"; done
}

# after a defrag or leader move: wait up to 30 s for the cluster to be healthy again
wait_healthy() {
  local deadline=$((SECONDS + 30))
  until check_health; do
    if ((SECONDS >= deadline)); then break; fi
    sleep 1
  done
  ((${#HEALTH_PROBLEMS[@]} == 0)) && return 0
  log_health_problems
  if [[ "$FORCE_UNHEALTHY" == true ]]; then
    log health_gate_skipped reason=--force-unhealthy
    return 0
  fi
  log gate_failed reason=unhealthy_after_step
  exit 3
}

# ---------------------------------------------------------------- lock

acquire_lock() {
  local out holder
  out=$(ctl 10s --endpoints "$ENDPOINT" lease grant "$LOCK_TTL" 2>"$TMP/err") || {
    log lock_failed "error=$(last_error)"
    exit 1
  }
  LEASE_ID=$(awk '{ print $2 }' <<<"$out")
  holder="$(hostname) pid $$ since $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  out=$(printf 'create("%s") = "0"\n\nput %s "%s" --lease=%s\n\nget %s --print-value-only\n\n' \
    "$LOCK_KEY" "$LOCK_KEY" "$holder" "$LEASE_ID" "$LOCK_KEY" |
    ctl 10s --endpoints "$ENDPOINT" txn 2>"$TMP/err") || {
    log lock_failed "error=$(last_error)"
    exit 1
  }
  if [[ $(head -n 1 <<<"$out") != SUCCESS ]]; then
    LOCK_HOLDER=$(grep -v -e '^FAILURE$' -e '^$' <<<"$out" | tail -n 1 || true)
    ctl 10s --endpoints "$ENDPOINT" lease revoke "$LEASE_ID" >/dev/null 2>&1 || true
    LEASE_ID=""
    return 1
  fi
  # keep the lease alive while this shell lives; when it dies the lease expires
  (
    while kill -0 "$$" 2>/dev/null; do
      ctl 5s --endpoints "$ENDPOINT" lease keep-alive --once "$LEASE_ID" || true
      sleep $((LOCK_TTL / 4))
    done
  ) </dev/null >/dev/null 2>&1 &
  KEEPALIVE_PID=$!
  log lock_acquired "key=$LOCK_KEY" "lease=$LEASE_ID" "holder=$holder"
}

# ---------------------------------------------------------------- actions

DEFRAGGED=()
LOCAL_DEFRAGGED=false

member_fields() {
  local id=$1 role=follower
  [[ "$id" == "${S_LEADER[$id]}" ]] && role=leader
  printf '%s\n' "member=${M_NAME[$id]}" "member_id=${M_HEX[$id]}" "endpoint=${M_EP[$id]}" "role=$role"
}

defrag_member() {
  local id=$1 reason=$2 ep=${M_EP[$1]} before inuse t0 t1 fields
  mapfile -t fields < <(member_fields "$id")
  before=${S_DB[$id]} inuse=${S_INUSE[$id]}
  if [[ "$DRY_RUN" == true ]]; then
    log would_defrag "${fields[@]}" "rule=$reason" "db_size:=$before" "db_in_use:=$inuse"
    return 0
  fi
  log defrag_start "${fields[@]}" "rule=$reason" "db_size_before:=$before" "db_in_use:=$inuse"
  t0=$(now_ms)
  if ! ctl "$DEFRAG_TIMEOUT" --endpoints "$ep" defrag >"$TMP/out" 2>"$TMP/err"; then
    log defrag_failed "${fields[@]}" "error=$(last_error)" "duration_ms:=$(($(now_ms) - t0))"
    exit 1
  fi
  t1=$(now_ms)
  local after=null after_inuse=null
  if status "$ep"; then after=$ST_DB after_inuse=$ST_INUSE; fi
  log defrag_done "${fields[@]}" "rule=$reason" "db_size_before:=$before" "db_size_after:=$after" \
    "db_in_use:=$after_inuse" "duration_ms:=$((t1 - t0))"
  DEFRAGGED+=("$id")
  [[ "$id" == "$LOCAL_ID" ]] && LOCAL_DEFRAGGED=true
  return 0
}

pause() {
  [[ "$DRY_RUN" == true ]] && return 0
  ((PAUSE_SECONDS == 0)) && return 0
  log pause "seconds:=$PAUSE_SECONDS"
  sleep "$PAUSE_SECONDS"
}

move_leader() {
  local target=$1 from=$2 i t0 fields
  mapfile -t fields < <(member_fields "$target")
  if [[ "$DRY_RUN" == true ]]; then
    log would_move_leader "from=${M_HEX[$from]}" "to=${M_HEX[$target]}" "to_member=${M_NAME[$target]}"
    return 0
  fi
  t0=$(now_ms)
  # move-leader must be sent to the current leader's endpoint and takes the hex ID
  if ! ctl 30s --endpoints "${M_EP[$from]}" move-leader "${M_HEX[$target]}" >"$TMP/out" 2>"$TMP/err"; then
    log move_leader_failed "from=${M_HEX[$from]}" "to=${M_HEX[$target]}" "error=$(last_error)"
    exit 1
  fi
  for ((i = 0; i < 40; i++)); do
    if status "${M_EP[$from]}" && [[ "$ST_LEADER" == "$target" ]]; then
      log move_leader "from=${M_HEX[$from]}" "from_member=${M_NAME[$from]}" "to=${M_HEX[$target]}" \
        "to_member=${M_NAME[$target]}" "duration_ms:=$(($(now_ms) - t0))"
      return 0
    fi
    sleep 0.25
  done
  log move_leader_failed "from=${M_HEX[$from]}" "to=${M_HEX[$target]}" "error=leadership did not move within 10s"
  exit 1
}

# prune_backups KEEP: remove the oldest snapshots until at most KEEP are left (names sort
# by time)
prune_backups() {
  local keep=$1 files n i
  shopt -s nullglob
  files=("$BACKUP_DIR"/etcd-snapshot-*.db "$BACKUP_DIR"/etcd-snapshot-*.db.xz "$BACKUP_DIR"/etcd-snapshot-*.db.gz)
  shopt -u nullglob
  ((${#files[@]} > 0)) || return 0
  mapfile -t files < <(printf '%s\n' "${files[@]}" | sort)
  n=${#files[@]}
  for ((i = 0; i < n - keep; i++)); do
    rm -f "${files[$i]}"
    log backup_removed "file=${files[$i]}"
  done
}

# free_bytes DIR: bytes available to this user on DIR's file system
free_bytes() {
  df -Pk "$1" | awk 'NR == 2 { print $4 * 1024 }'
}

backup() {
  if ((BACKUPS_KEPT == 0)); then
    log backup_skipped reason=ETCD_DEFRAG_BACKUPS_KEPT=0
    return 0
  fi
  local stamp name tmp t0 final size free need
  mkdir -p "$BACKUP_DIR"
  chmod 0700 "$BACKUP_DIR"
  # temporaries of an earlier run that was killed
  rm -f "$BACKUP_DIR"/.etcd-snapshot-*
  # room for the new one first: the disk may be the one etcd writes to
  prune_backups $((BACKUPS_KEPT - 1))
  # the snapshot is as large as the database file; compressing it needs up to as much again
  need=$((2 * ${S_DB[$LOCAL_ID]:-0} + BACKUP_RESERVE_BYTES))
  free=$(free_bytes "$BACKUP_DIR") || free=""
  if [[ ! "$free" =~ ^[0-9]+$ ]]; then
    log backup_failed "error=cannot tell the free space of $BACKUP_DIR"
    exit 1
  fi
  if ((free < need)); then
    log backup_failed "error=not enough free space in $BACKUP_DIR" "free_bytes:=$free" "needed_bytes:=$need"
    exit 1
  fi
  stamp=$(date -u +%Y%m%dT%H%M%SZ)
  name="etcd-snapshot-$stamp.db"
  tmp="$BACKUP_DIR/.$name"
  BACKUP_TMP=$tmp
  t0=$(now_ms)
  if ! ctl "$DEFRAG_TIMEOUT" --endpoints "$ENDPOINT" snapshot save "$tmp" >"$TMP/out" 2>"$TMP/err"; then
    log backup_failed "error=$(last_error)"
    exit 1
  fi
  if command -v xz >/dev/null; then
    if ! xz -3 -f "$tmp" 2>"$TMP/err"; then
      log backup_failed "error=xz: $(last_error)"
      exit 1
    fi
    final="$BACKUP_DIR/$name.xz"
    mv -f "$tmp.xz" "$final"
  elif command -v gzip >/dev/null; then
    if ! gzip -f "$tmp" 2>"$TMP/err"; then
      log backup_failed "error=gzip: $(last_error)"
      exit 1
    fi
    final="$BACKUP_DIR/$name.gz"
    mv -f "$tmp.gz" "$final"
  else
    final="$BACKUP_DIR/$name"
    mv -f "$tmp" "$final"
  fi
  BACKUP_TMP=""
  chmod 0600 "$final"
  size=$(stat -c %s "$final")
  log backup "file=$final" "size:=$size" "duration_ms:=$(($(now_ms) - t0))"
}

trim() {
  if [[ "$LOCAL_DEFRAGGED" != true ]]; then return 0; fi
  if ! command -v fstrim >/dev/null; then
    log fstrim_skipped reason="fstrim not installed"
    return 0
  fi
  if [[ ! -d "$DATA_DIR" ]]; then
    log fstrim_skipped "reason=no directory $DATA_DIR"
    return 0
  fi
  local out
  if out=$(fstrim -v "$DATA_DIR" 2>&1); then
    log fstrim "dir=$DATA_DIR" "result=$out"
  else
    log fstrim_failed "dir=$DATA_DIR" "error=$out"
  fi
}

# ---------------------------------------------------------------- main

# 1. leader gate: only the node whose member leads does the work
if ! status "$ENDPOINT"; then
  log gate_failed reason=local_member_unreachable "endpoint=$ENDPOINT" "error=$(last_error)"
  exit 3
fi
if [[ "$ST_LEADER" == 0 ]]; then
  log gate_failed reason=no_leader "endpoint=$ENDPOINT"
  exit 3
fi
if [[ "$ST_ID" != "$ST_LEADER" ]]; then
  log not_leader "endpoint=$ENDPOINT" "member_id=$(hex "$ST_ID")" "leader_id=$(hex "$ST_LEADER")"
  exit 0
fi
LOCAL_ID=$ST_ID
log start "endpoint=$ENDPOINT" "member_id=$(hex "$LOCAL_ID")" "dry_run:=$DRY_RUN" "force:=$FORCE" \
  "force_single:=$FORCE_SINGLE" "force_unhealthy:=$FORCE_UNHEALTHY" \
  "min_db_bytes:=$MIN_DB_BYTES" "min_free_percent:=$MIN_FREE_PERCENT" \
  "max_quota_percent:=$MAX_QUOTA_PERCENT" "quota_bytes:=$QUOTA_BYTES" "single_member=$SINGLE_MEMBER"

# 2. alarms: NOSPACE is what defragmentation repairs; anything else (CORRUPT) stops the run
NOSPACE=false
if ! alarms=$(ctl 10s --endpoints "$ENDPOINT" alarm list 2>"$TMP/err"); then
  log gate_failed reason=alarm_list "error=$(last_error)"
  exit 3
fi
while read -r line; do
  [[ -n "$line" ]] || continue
  if [[ "$line" =~ alarm:NOSPACE ]]; then
    NOSPACE=true
  else
    log gate_failed reason=alarm "alarm=$line"
    exit 3
  fi
done <<<"$alarms"
[[ "$NOSPACE" == true ]] && log alarm "alarm=NOSPACE" "action=defragment every member, then disarm"

# 3. one run per cluster: a lock in etcd (a key bound to a lease)
if [[ "$DRY_RUN" == true ]]; then
  log lock_skipped reason=dry-run
elif [[ "$NOSPACE" == true ]]; then
  # etcd refuses new leases while NOSPACE is active
  log lock_skipped reason="NOSPACE alarm: etcd refuses leases"
else
  LOCK_HOLDER=""
  if ! acquire_lock; then
    log lock_held "key=$LOCK_KEY" "holder=$LOCK_HOLDER" "action=nothing to do"
    exit 0
  fi
fi

# 4. members and health gate
load_members
if ! check_health; then
  log_health_problems
  if [[ "$FORCE_UNHEALTHY" != true ]]; then
    log gate_failed reason=unhealthy "members:=${#VOTERS[@]}"
    exit 3
  fi
  log health_gate_skipped reason=--force-unhealthy
  VOTERS=("${REACHABLE[@]}")
fi
if [[ -z "${S_LEADER[$LOCAL_ID]:-}" ]]; then
  log gate_failed reason="local member not in the member list"
  exit 3
fi
if [[ "${S_LEADER[$LOCAL_ID]}" != "$LOCAL_ID" ]]; then
  log not_leader "member_id=$(hex "$LOCAL_ID")" "leader_id=$(hex "${S_LEADER[$LOCAL_ID]}")" \
    reason="leadership moved before the lock was taken"
  exit 0
fi

# 5. decide per member
# reason: nospace | force | fragmented | danger-zone | none
decide() {
  local id=$1 db=${S_DB[$1]} inuse=${S_INUSE[$1]}
  if [[ "$NOSPACE" == true ]]; then echo nospace; return; fi
  if [[ "$FORCE" == true ]]; then echo force; return; fi
  if ((db * 100 >= MAX_QUOTA_PERCENT * QUOTA_BYTES)); then echo danger-zone; return; fi
  if ((db >= MIN_DB_BYTES && (db - inuse) * 100 >= MIN_FREE_PERCENT * db)); then echo fragmented; return; fi
  echo none
}

declare -A REASON
FOLLOWERS=()
LEADER_SELECTED=false
SINGLE=false
((${#VOTERS[@]} == 1)) && SINGLE=true
for id in "${VOTERS[@]}"; do
  reason=$(decide "$id")
  selected=false
  [[ "$reason" != none ]] && selected=true
  if [[ "$SINGLE" == true ]]; then
    if [[ "$FORCE_SINGLE" == true ]]; then
      reason=force-single selected=true
    elif [[ "$SINGLE_MEMBER" == never ]]; then
      selected=false
    elif [[ "$SINGLE_MEMBER" == danger-zone && "$reason" != danger-zone && "$reason" != nospace ]]; then
      selected=false
    fi
  fi
  db=${S_DB[$id]} inuse=${S_INUSE[$id]}
  free_pct=0
  ((db > 0)) && free_pct=$(((db - inuse) * 100 / db))
  mapfile -t fields < <(member_fields "$id")
  log decision "${fields[@]}" "db_size:=$db" "db_in_use:=$inuse" "free_percent:=$free_pct" \
    "quota_percent:=$((db * 100 / QUOTA_BYTES))" "rule=$reason" "defrag:=$selected"
  [[ "$selected" == true ]] || continue
  REASON[$id]=$reason
  if [[ "$id" == "$LOCAL_ID" ]]; then LEADER_SELECTED=true; else FOLLOWERS+=("$id"); fi
done

if [[ "$SINGLE" == true ]]; then
  if [[ "$LEADER_SELECTED" == true ]]; then
    log single_member "action=defragment" \
      "warning=the only member blocks all reads and writes, and so the Kubernetes API, while it is defragmented"
  else
    log single_member "action=skip" "policy=$SINGLE_MEMBER" \
      "reason=defragmenting the only member blocks the Kubernetes API; use --force-single to do it anyway"
  fi
fi

# most fragmented first: by free share, then free bytes
if ((${#FOLLOWERS[@]} > 1)); then
  mapfile -t FOLLOWERS < <(for id in "${FOLLOWERS[@]}"; do
    db=${S_DB[$id]} inuse=${S_INUSE[$id]}
    printf '%d %d %s\n' $(((db - inuse) * 1000000 / (db > 0 ? db : 1))) $((db - inuse)) "$id"
  done | sort -k1,1nr -k2,2nr | awk '{ print $3 }')
fi

if ((${#FOLLOWERS[@]} == 0)) && [[ "$LEADER_SELECTED" != true ]]; then
  log nothing_to_do "members:=${#VOTERS[@]}"
fi

# 6. followers, one at a time
first=true
for id in "${FOLLOWERS[@]}"; do
  [[ "$first" == true ]] || pause
  first=false
  defrag_member "$id" "${REASON[$id]}"
  [[ "$DRY_RUN" == true ]] || wait_healthy
done

# 7. the leader last: hand leadership to a freshly defragmented healthy follower first
if [[ "$LEADER_SELECTED" == true ]]; then
  [[ "$first" == true ]] || pause
  if [[ "$SINGLE" != true ]]; then
    if [[ "$DRY_RUN" != true ]]; then
      check_health || wait_healthy
    fi
    if [[ "${S_LEADER[$LOCAL_ID]}" == "$LOCAL_ID" ]]; then
      target=""
      for ((i = ${#DEFRAGGED[@]} - 1; i >= 0; i--)); do
        for r in "${REACHABLE[@]}"; do
          [[ "$r" == "${DEFRAGGED[$i]}" ]] && target=$r && break 2
        done
      done
      if [[ -z "$target" ]]; then
        # no follower was defragmented in this run (dry run or all under the rule):
        # the smallest healthy follower
        for r in "${REACHABLE[@]}"; do
          [[ "$r" != "$LOCAL_ID" ]] || continue
          if [[ -z "$target" ]] || ((S_DB[$r] < S_DB[$target])); then target=$r; fi
        done
      fi
      if [[ -z "$target" ]]; then
        log gate_failed reason="no healthy follower to take over leadership"
        exit 3
      fi
      move_leader "$target" "$LOCAL_ID"
      if [[ "$DRY_RUN" != true ]]; then
        S_LEADER[$LOCAL_ID]=$target
        pause
      fi
    else
      log leader_moved_meanwhile "leader_id=$(hex "${S_LEADER[$LOCAL_ID]}")"
    fi
  fi
  defrag_member "$LOCAL_ID" "${REASON[$LOCAL_ID]}"
  [[ "$DRY_RUN" == true ]] || wait_healthy
fi

# 8. alarm, snapshot, trim
if [[ "$DRY_RUN" == true ]]; then
  [[ "$NOSPACE" == true ]] && log would_disarm alarm=NOSPACE
  log finished "dry_run:=true" "defragged:=0"
  exit 0
fi
if [[ "$NOSPACE" == true ]]; then
  if ((${#DEFRAGGED[@]} < ${#VOTERS[@]})); then
    log alarm_kept alarm=NOSPACE reason="not every member was defragmented"
  elif ctl 10s --endpoints "$ENDPOINT" alarm disarm >"$TMP/out" 2>"$TMP/err"; then
    log alarm_disarmed alarm=NOSPACE
  else
    log alarm_disarm_failed "error=$(last_error)"
    exit 1
  fi
fi
backup
trim
log finished "dry_run:=false" "defragged:=${#DEFRAGGED[@]}"
