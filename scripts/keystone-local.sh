#!/usr/bin/env bash
# Runs a real OpenStack Keystone (PyPI `keystone`, gunicorn, sqlite) on 127.0.0.1 for tests
# and demos. Nothing listens beyond 127.0.0.1. This script installs nothing: the test venv
# comes from scripts/test.sh.
#
# Usage: keystone-local.sh COMMAND [DIR]
#   start              configure (first time), bootstrap and start Keystone; prints the URL
#   stop               stop it (state kept)
#   clean              stop it and delete DIR
#   token              print an admin project-scoped token
#   env                print `export OS_*=...` lines for the `demo` user
#   register TYPE URL  add a catalog service TYPE (compute, network, image, load-balancer)
#                      with public/internal/admin endpoints URL in RegionOne
#   (for `register` DIR comes after URL)
#
# What `start` creates: admin (project admin, role admin), project `demo` with user `demo`
# (roles member + load-balancer_member) and user `demo-other` (role member; use a wrong
# password with it for failure tests), domain `Default`, region `RegionOne`.
#
# Environment: KS_PORT (default 5000; remembered in DIR/port), SCS_TEST_VENV (default
# <repo>/.venv-test), KS_ADMIN_PASSWORD (s3cret-admin), KS_DEMO_PASSWORD (s3cret-demo),
# KS_OTHER_PASSWORD (s3cret-other).
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
cmd=${1:-}
shift || true
reg_type=""
reg_url=""
if [[ "$cmd" == register ]]; then
  reg_type=${1:?usage: keystone-local.sh register TYPE URL [DIR]}
  reg_url=${2:?usage: keystone-local.sh register TYPE URL [DIR]}
  shift 2
fi
dir=${1:-./keystone-test}
venv=${SCS_TEST_VENV:-$repo/.venv-test}
admin_pw=${KS_ADMIN_PASSWORD:-s3cret-admin}
demo_pw=${KS_DEMO_PASSWORD:-s3cret-demo}
other_pw=${KS_OTHER_PASSWORD:-s3cret-other}

port() {
  if [[ -n "${KS_PORT:-}" ]]; then
    echo "$KS_PORT"
  elif [[ -f "$dir/port" ]]; then
    cat "$dir/port"
  else
    echo 5000
  fi
}

alive() {
  local st
  st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
  [[ -n "$st" && "$st" != Z && "$st" != X ]]
}

need_venv() {
  if [[ ! -x "$venv/bin/keystone-manage" || ! -x "$venv/bin/gunicorn" ]]; then
    echo "error: Keystone is not installed in the test venv \`$venv\`" >&2
    echo "hint: run \`python3 -m venv $venv && $venv/bin/pip install keystone==30.0.0 gunicorn==27.0.1\` (or scripts/test.sh)" >&2
    exit 1
  fi
}

# api METHOD PATH [JSON] -> response body on stdout; fails on HTTP >= 400.
api() {
  local method=$1 path=$2 data=${3:-}
  local url
  url="http://127.0.0.1:$(port)/v3$path"
  local args=(-s --max-time 20 -X "$method" -H "X-Auth-Token: $(token)" -H 'Content-Type: application/json'
    -w '\n%{http_code}')
  [[ -n "$data" ]] && args+=(-d "$data")
  local out code
  out=$(curl "${args[@]}" "$url")
  code=${out##*$'\n'}
  out=${out%$'\n'*}
  if ((code >= 400)); then
    echo "error: $method $path -> $code: $out" >&2
    return 1
  fi
  printf '%s' "$out"
}

# json_get KEY.PATH < json
json_get() {
  "$venv/bin/python" -c 'import json,sys
v=json.load(sys.stdin)
for k in sys.argv[1].split("."):
    v=v[int(k)] if isinstance(v,list) else v[k]
print(v)' "$1"
}

token() {
  if [[ -n "${_KS_TOKEN:-}" ]]; then
    echo "$_KS_TOKEN"
    return
  fi
  local body
  body=$(printf '{"auth":{"identity":{"methods":["password"],"password":{"user":{"name":"admin","domain":{"id":"default"},"password":"%s"}}},"scope":{"project":{"name":"admin","domain":{"id":"default"}}}}}' "$admin_pw")
  _KS_TOKEN=$(curl -s --max-time 20 -D - -o /dev/null -H 'Content-Type: application/json' -d "$body" \
    "http://127.0.0.1:$(port)/v3/auth/tokens" | awk 'tolower($1)=="x-subject-token:" {print $2}' | tr -d '\r')
  [[ -n "$_KS_TOKEN" ]] || { echo "error: cannot get an admin token from http://127.0.0.1:$(port)/v3" >&2; return 1; }
  echo "$_KS_TOKEN"
}

seed() {
  _KS_TOKEN=$(token)
  export _KS_TOKEN
  local project member lbm demo other
  project=$(api POST /projects '{"project":{"name":"demo","domain_id":"default"}}' | json_get project.id)
  member=$(api GET '/roles?name=member' | json_get roles.0.id)
  lbm=$(api POST /roles '{"role":{"name":"load-balancer_member"}}' | json_get role.id)
  demo=$(api POST /users "{\"user\":{\"name\":\"demo\",\"domain_id\":\"default\",\"password\":\"$demo_pw\",\"default_project_id\":\"$project\"}}" | json_get user.id)
  other=$(api POST /users "{\"user\":{\"name\":\"demo-other\",\"domain_id\":\"default\",\"password\":\"$other_pw\",\"default_project_id\":\"$project\"}}" | json_get user.id)
  api PUT "/projects/$project/users/$demo/roles/$member" >/dev/null
  api PUT "/projects/$project/users/$demo/roles/$lbm" >/dev/null
  api PUT "/projects/$project/users/$other/roles/$member" >/dev/null
}

start() {
  need_venv
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  local p
  p=$(port)
  echo "$p" >"$dir/port"
  local url="http://127.0.0.1:$p/v3"
  if [[ -f "$dir/gunicorn.pid" ]] && alive "$(cat "$dir/gunicorn.pid")"; then
    echo "keystone already running: $url"
    return 0
  fi
  local fresh=""
  if [[ ! -f "$dir/bootstrapped" ]]; then
    fresh=1
    cat >"$dir/keystone.conf" <<EOF
[DEFAULT]
log_file = keystone.log
log_dir = $dir
[database]
connection = sqlite:///$dir/keystone.db
[token]
provider = fernet
[fernet_tokens]
key_repository = $dir/fernet-keys
[fernet_receipts]
key_repository = $dir/fernet-keys
[credential]
key_repository = $dir/credential-keys
EOF
    # oslo.config parses sys.argv on import: hide gunicorn's arguments from it.
    cat >"$dir/ks_app.py" <<'EOF'
import os, sys
sys.argv = sys.argv[:1]
os.environ.setdefault("OS_KEYSTONE_CONFIG_DIR", os.path.dirname(os.path.abspath(__file__)))
from keystone.wsgi.api import application  # noqa: E402,F401
EOF
    mkdir -p "$dir/fernet-keys" "$dir/credential-keys"
    local km=("$venv/bin/keystone-manage" --config-file "$dir/keystone.conf")
    (
      cd "$dir"
      "${km[@]}" fernet_setup --keystone-user "$(id -un)" --keystone-group "$(id -gn)" 2>/dev/null
      "${km[@]}" credential_setup --keystone-user "$(id -un)" --keystone-group "$(id -gn)" 2>/dev/null
      "${km[@]}" db_sync 2>/dev/null
      "${km[@]}" bootstrap --bootstrap-password "$admin_pw" \
        --bootstrap-admin-url "$url/" --bootstrap-internal-url "$url/" \
        --bootstrap-public-url "$url/" --bootstrap-region-id RegionOne 2>/dev/null
    ) || { echo "error: keystone-manage failed; see $dir/keystone.log" >&2; return 1; }
  fi
  # --no-control-socket: gunicorn 27 otherwise creates ~/.gunicorn/gunicorn.ctl.
  setsid "$venv/bin/gunicorn" --chdir "$dir" --bind "127.0.0.1:$p" --workers 1 --timeout 60 \
    --no-control-socket --pid "$dir/gunicorn.pid" ks_app:application \
    >"$dir/gunicorn.log" 2>&1 </dev/null &
  local ok=""
  for _ in $(seq 200); do
    if curl -s --max-time 1 -o /dev/null "$url/"; then ok=1; break; fi
    sleep 0.1
  done
  [[ -n "$ok" ]] || { echo "error: keystone did not come up on $url; see $dir/gunicorn.log" >&2; return 1; }
  if [[ -n "$fresh" ]]; then
    seed
    touch "$dir/bootstrapped"
  fi
  echo "keystone ready: $url"
}

stop() {
  [[ -f "$dir/gunicorn.pid" ]] || return 0
  local pid
  pid=$(cat "$dir/gunicorn.pid")
  if alive "$pid"; then
    kill -TERM "$pid"
    for _ in $(seq 100); do alive "$pid" || break; sleep 0.1; done
    alive "$pid" && kill -KILL "$pid"
  fi
  rm -f "$dir/gunicorn.pid"
}

env_out() {
  cat <<EOF
export OS_AUTH_URL=http://127.0.0.1:$(port)/v3
export OS_IDENTITY_API_VERSION=3
export OS_AUTH_TYPE=password
export OS_USERNAME=demo
export OS_PASSWORD=$demo_pw
export OS_PROJECT_NAME=demo
export OS_USER_DOMAIN_NAME=Default
export OS_PROJECT_DOMAIN_NAME=Default
export OS_REGION_NAME=RegionOne
export OS_INTERFACE=public
EOF
}

register() {
  need_venv
  _KS_TOKEN=$(token)
  export _KS_TOKEN
  local sid
  sid=$(api POST /services "{\"service\":{\"type\":\"$reg_type\",\"name\":\"$reg_type\",\"enabled\":true}}" | json_get service.id)
  for iface in public internal admin; do
    api POST /endpoints "{\"endpoint\":{\"service_id\":\"$sid\",\"interface\":\"$iface\",\"url\":\"$reg_url\",\"region_id\":\"RegionOne\",\"enabled\":true}}" >/dev/null
  done
  echo "registered $reg_type: $reg_url"
}

case "$cmd" in
  start) start ;;
  stop) stop ;;
  clean) stop; rm -rf "$dir" ;;
  token) token ;;
  env) env_out ;;
  register) register ;;
  *) echo "usage: $0 start|stop|clean|token|env [DIR] | register TYPE URL [DIR]" >&2; exit 2 ;;
esac
