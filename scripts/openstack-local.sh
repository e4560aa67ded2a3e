#!/usr/bin/env bash
# Real OpenStack services on 127.0.0.1 for tests, demos and benchmarks: Keystone, Placement,
# Nova (fake virt driver), Neutron (ML2 without agents, a binding-only mechanism driver),
# Glance (file store), Cinder (fake volume driver) and Octavia (noop amphora drivers), with
# MariaDB (unix socket only) and RabbitMQ from Debian. No hypervisor, no packet forwarding:
# every API, database, scheduler, quota, state machine and error is the real one. Facts and
# pitfalls: ../shared/reference/real-openstack.md.
#
# Usage: openstack-local.sh COMMAND DIR
#   start    install (pinned; first time), configure, migrate, start, seed (first time);
#            prints `openstack ready: DIR/clouds.yaml`. A second start of a running set is a
#            no-op; a start after stop keeps the state.
#   stop     stop every process started here (state kept in DIR)
#   status   one line per process (running/stopped); exit 1 when any is stopped
#   env      `export OS_*=...` for the tenant user (never admin)
#   clean    stop and delete DIR
#
# What `start` creates (state in DIR; nothing listens beyond 127.0.0.1):
#   DIR/clouds.yaml with clouds `tenant` (user `demo`, project `demo`, roles member +
#   load-balancer_member; what the tests use) and `admin` (setup only); catalog as real
#   deployments register it (network, image, load-balancer unversioned; compute /v2.1;
#   block-storage and volumev3 /v3/%(project_id)s; placement); the SCS flavors; the external
#   network `public` (flat, 192.0.2.0/24 as floating IP pool); image `cirros-fake` (no
#   hypervisor_type, boots on the fake driver). Real default quotas.
#
# Environment: OSL_PORT_BASE (default 29400; ports BASE..BASE+9, remembered in DIR/ports),
# OSL_VENV (services venv, default <repo>/target/openstack-venv), SCS_TEST_VENV (Keystone +
# openstacksdk venv from scripts/test.sh, default <repo>/.venv-test).
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
cmd=${1:-}
dir=${2:-}
if [[ -z "$cmd" || -z "$dir" ]]; then
  echo "usage: $0 start|stop|status|env|clean DIR" >&2
  exit 2
fi
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
venv=${OSL_VENV:-$repo/target/openstack-venv}
client_venv=${SCS_TEST_VENV:-$repo/.venv-test}
admin_pw=s3cret-admin
svc_pw=s3cret-service

pip_set=(neutron==29.0.0 neutron-lib==5.0.1 glance==33.0.0 glance-store==5.7.0
  openstack-placement==16.0.0 nova==34.0.0 cinder==29.0.0 octavia==19.0.0 octavia-lib==3.12.0
  gunicorn==27.0.1 PyMySQL==1.2.4)

if [[ -f "$dir/ports" ]]; then
  base=$(cat "$dir/ports")
else
  base=${OSL_PORT_BASE:-29400}
fi
ks_port=$base
placement_port=$((base + 1))
nova_port=$((base + 2))
neutron_port=$((base + 3))
glance_port=$((base + 4))
cinder_port=$((base + 5))
octavia_port=$((base + 6))
rabbit_port=$((base + 7))
epmd_port=$((base + 8))
dist_port=$((base + 9))
ks_url=http://127.0.0.1:$ks_port/v3
sock=$dir/mysql/mysqld.sock
site=""

log() { printf '[openstack-local] %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

alive() {
  local st
  st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
  [[ -n "$st" && "$st" != Z && "$st" != X ]]
}

# ---------------------------------------------------------------------------------------
# install
# ---------------------------------------------------------------------------------------
install() {
  local need=()
  command -v mariadbd >/dev/null || need+=(mariadb-server)
  [[ -x /usr/lib/rabbitmq/bin/rabbitmq-server ]] || need+=(rabbitmq-server)
  command -v openssl >/dev/null || need+=(openssl)
  command -v curl >/dev/null || need+=(curl)
  if ((${#need[@]})); then
    log "apt-get install ${need[*]}"
    # policy-rc.d (containers) or not: the packaged services are stopped below; only the
    # processes this script starts run.
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >&2
  fi
  if [[ ! -f "$venv/.installed" ]] || [[ "$(cat "$venv/.installed")" != "${pip_set[*]}" ]]; then
    log "pip install ${pip_set[*]} into $venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q "${pip_set[@]}" >&2
    echo "${pip_set[*]}" >"$venv/.installed"
  fi
  [[ -x "$client_venv/bin/keystone-manage" && -x "$client_venv/bin/python" ]] ||
    die "the test venv \`$client_venv\` lacks Keystone/openstacksdk; run scripts/test.sh"
  site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  # The ML2 mechanism driver that binds every port to its first segment (no agents run).
  if [[ ! -f "$site/scs_bind_all.py" ]]; then
    cat >"$site/scs_bind_all.py" <<'EOF'
"""ML2 mechanism driver for agentless test deployments: binds any port on any host to its
first segment as an OVS port, status ACTIVE, so Nova's fake driver can boot servers."""
from neutron_lib import constants
from neutron_lib.plugins.ml2 import api


class BindAll(api.MechanismDriver):
    def initialize(self):
        pass

    def bind_port(self, context):
        for segment in context.segments_to_bind:
            context.set_binding(segment[api.ID], "ovs", {"port_filter": False},
                                status=constants.PORT_STATUS_ACTIVE)
            return
EOF
    mkdir -p "$site/scs_bind_all-0.1.dist-info"
    printf 'Metadata-Version: 2.1\nName: scs-bind-all\nVersion: 0.1\n' \
      >"$site/scs_bind_all-0.1.dist-info/METADATA"
    printf '[neutron.ml2.mechanism_drivers]\nscs_bind_all = scs_bind_all:BindAll\n' \
      >"$site/scs_bind_all-0.1.dist-info/entry_points.txt"
    printf 'scs_bind_all.py,,\n' >"$site/scs_bind_all-0.1.dist-info/RECORD"
  fi
}

# ---------------------------------------------------------------------------------------
# processes
# ---------------------------------------------------------------------------------------

# run NAME CMD...: starts CMD in its own session in the background, pid in DIR/run/NAME.pid.
run() {
  local name=$1
  shift
  mkdir -p "$dir/run" "$dir/log"
  if [[ -f "$dir/run/$name.pid" ]] && alive "$(cat "$dir/run/$name.pid")"; then
    return 0
  fi
  setsid "$@" >"$dir/log/$name.out" 2>&1 </dev/null &
  echo $! >"$dir/run/$name.pid"
}

# api NAME PORT MODULE [ENV=VAL...]: a WSGI app under gunicorn on 127.0.0.1:PORT.
# --keep-alive 30: gunicorn closes idle connections after 2 s by default, just when
# openstacksdk's 2 s status polls reuse them ("Remote end closed connection without
# response"); real deployments keep connections open longer (Apache, uWSGI, haproxy).
# Neutron gets two worker processes, as its `api_workers` default (one per CPU) gives on
# these 2-core machines: one Python process serializes every Neutron call of a client
# that deletes in parallel. The others stay at one to save memory.
run_api() {
  local name=$1 port=$2 app=$3 workers=1
  shift 3
  [[ $name == neutron ]] && workers=2
  run "$name" env "$@" "$venv/bin/gunicorn" --name "osl-$name" --chdir "$dir/etc" \
    --bind "127.0.0.1:$port" --workers "$workers" --threads 4 --timeout 120 --keep-alive 30 --no-control-socket \
    "$app:application"
}

wait_http() {
  local name=$1 url=$2 tries=${3:-600}
  for _ in $(seq "$tries"); do
    if curl -s --max-time 2 -o /dev/null "$url"; then return 0; fi
    if [[ -f "$dir/run/$name.pid" ]] && ! alive "$(cat "$dir/run/$name.pid")"; then
      tail -n 30 "$dir/log/$name.out" >&2 || true
      die "$name exited; see $dir/log/$name.out"
    fi
    sleep 0.2
  done
  die "$name did not answer on $url; see $dir/log/$name.out"
}

sql() { mariadb --socket="$sock" -uroot -e "$1"; }

start_mariadb() {
  if [[ ! -d "$dir/mysql/data/mysql" ]]; then
    mkdir -p "$dir/mysql/data"
    mariadb-install-db --user=root --datadir="$dir/mysql/data" --auth-root-authentication-method=socket \
      --skip-test-db >"$dir/log/mariadb-install.out" 2>&1 ||
      die "mariadb-install-db failed; see $dir/log/mariadb-install.out"
  fi
  run mariadb mariadbd --no-defaults --user=root --datadir="$dir/mysql/data" --socket="$sock" \
    --skip-networking --pid-file="$dir/mysql/mariadb.pid" --innodb-buffer-pool-size=128M \
    --max-connections=500 --log-error="$dir/log/mariadb.err"
  for _ in $(seq 300); do
    if mariadb --socket="$sock" -uroot -e 'select 1' >/dev/null 2>&1; then return 0; fi
    sleep 0.2
  done
  die "MariaDB did not start; see $dir/log/mariadb.err"
}

rabbit_env=()
set_rabbit_env() {
  rabbit_env=(env HOME="$dir/rabbit" RABBITMQ_HOME=/usr/lib/rabbitmq
    RABBITMQ_MNESIA_BASE="$dir/rabbit/mnesia" RABBITMQ_LOG_BASE="$dir/rabbit/log"
    RABBITMQ_NODENAME=osl@localhost RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
    RABBITMQ_NODE_PORT="$rabbit_port" RABBITMQ_DIST_PORT="$dist_port" ERL_EPMD_PORT="$epmd_port"
    ERL_EPMD_ADDRESS=127.0.0.1 RABBITMQ_ENABLED_PLUGINS_FILE="$dir/rabbit/enabled_plugins"
    RABBITMQ_PID_FILE="$dir/rabbit/rabbit.pid"
    "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS=-kernel inet_dist_use_interface {127,0,0,1}"
    "RABBITMQ_CTL_ERL_ARGS=-kernel inet_dist_use_interface {127,0,0,1}")
}

start_rabbit() {
  mkdir -p "$dir/rabbit/mnesia" "$dir/rabbit/log"
  [[ -f "$dir/rabbit/enabled_plugins" ]] || echo '[].' >"$dir/rabbit/enabled_plugins"
  set_rabbit_env
  run rabbitmq "${rabbit_env[@]}" /usr/lib/rabbitmq/bin/rabbitmq-server
  for _ in $(seq 600); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$rabbit_port") 2>/dev/null; then return 0; fi
    alive "$(cat "$dir/run/rabbitmq.pid")" || { tail -n 30 "$dir/log/rabbitmq.out" >&2; die "RabbitMQ exited"; }
    sleep 0.2
  done
  die "RabbitMQ did not listen on 127.0.0.1:$rabbit_port; see $dir/log/rabbitmq.out"
}

# ---------------------------------------------------------------------------------------
# configuration
# ---------------------------------------------------------------------------------------
db() { echo "mysql+pymysql://root@localhost/$1?unix_socket=$sock&charset=utf8"; }

authtoken() {
  cat <<EOF
[keystone_authtoken]
www_authenticate_uri = http://127.0.0.1:$ks_port/v3
auth_url = http://127.0.0.1:$ks_port/v3
auth_type = password
username = service
password = $svc_pw
project_name = service
user_domain_name = Default
project_domain_name = Default
region_name = RegionOne
service_token_roles_required = true
EOF
}

svc_auth() {
  cat <<EOF
[$1]
auth_url = http://127.0.0.1:$ks_port/v3
auth_type = password
username = service
password = $svc_pw
project_name = service
user_domain_name = Default
project_domain_name = Default
region_name = RegionOne
EOF
}

write_configs() {
  local e=$dir/etc transport="rabbit://guest:guest@127.0.0.1:$rabbit_port/"
  mkdir -p "$e" "$dir/state/images" "$dir/state/staging" "$dir/state/tasks" "$dir/state/locks" \
    "$dir/state/nova" "$dir/state/cinder" "$dir/state/octavia"
  cp "$venv/etc/neutron/api-paste.ini" "$e/neutron-api-paste.ini"
  cp "$venv/etc/nova/api-paste.ini" "$e/nova-api-paste.ini"
  cp "$venv/etc/cinder/api-paste.ini" "$e/cinder-api-paste.ini"
  cp "$venv/etc/cinder/resource_filters.json" "$e/resource_filters.json"
  cp "$venv/etc/glance/glance-api-paste.ini" "$e/glance-api-paste.ini"

  cat >"$e/placement.conf" <<EOF
[DEFAULT]
log_dir = $dir/log
log_file = placement.log
[api]
auth_strategy = keystone
[placement_database]
connection = $(db placement)
$(authtoken)
EOF

  cat >"$e/neutron.conf" <<EOF
[DEFAULT]
log_dir = $dir/log
log_file = neutron.log
core_plugin = ml2
service_plugins = router
auth_strategy = keystone
transport_url = fake:/
notify_nova_on_port_status_changes = false
notify_nova_on_port_data_changes = false
allow_overlapping_ips = true
api_paste_config = $e/neutron-api-paste.ini
state_path = $dir/state
[database]
connection = $(db neutron)
[oslo_concurrency]
lock_path = $dir/state/locks
[ml2]
type_drivers = flat,vlan,vxlan,geneve
tenant_network_types = vxlan
mechanism_drivers = scs_bind_all
extension_drivers = port_security
[ml2_type_flat]
flat_networks = public
[ml2_type_vxlan]
vni_ranges = 1:10000
[securitygroup]
firewall_driver = noop
$(authtoken)
$(svc_auth nova)
EOF

  cat >"$e/glance-api.conf" <<EOF
[DEFAULT]
log_dir = $dir/log
log_file = glance.log
enabled_backends = fs:file
[database]
connection = sqlite:///$dir/state/glance.db
[glance_store]
default_backend = fs
[fs]
filesystem_store_datadir = $dir/state/images
[os_glance_staging_store]
filesystem_store_datadir = $dir/state/staging
[os_glance_tasks_store]
filesystem_store_datadir = $dir/state/tasks
[paste_deploy]
flavor = keystone
config_file = $e/glance-api-paste.ini
[oslo_concurrency]
lock_path = $dir/state/locks
$(authtoken)
EOF

  cat >"$e/nova.conf" <<EOF
[DEFAULT]
log_dir = $dir/log
log_file = nova.log
compute_driver = fake.FakeDriverWithoutFakeNodes
transport_url = $transport
my_ip = 127.0.0.1
host = osl-compute
state_path = $dir/state/nova
instances_path = $dir/state/nova/instances
[wsgi]
api_paste_config = $e/nova-api-paste.ini
[api]
auth_strategy = keystone
[api_database]
connection = $(db nova_api)
[database]
connection = $(db nova)
[oslo_concurrency]
lock_path = $dir/state/locks
[vnc]
enabled = false
[scheduler]
workers = 1
[conductor]
workers = 1
[oslo_messaging_notifications]
driver = noop
$(authtoken)
$(svc_auth placement)
$(svc_auth neutron)
$(svc_auth cinder)
$(svc_auth glance)
$(svc_auth service_user)
send_service_user_token = true
EOF

  cat >"$e/cinder.conf" <<EOF
[DEFAULT]
log_dir = $dir/log
log_file = cinder.log
transport_url = $transport
auth_strategy = keystone
enabled_backends = fake
state_path = $dir/state/cinder
my_ip = 127.0.0.1
host = osl-volume
api_paste_config = $e/cinder-api-paste.ini
resource_query_filters_file = $e/resource_filters.json
[fake]
volume_driver = cinder.tests.fake_driver.FakeLoggingVolumeDriver
volume_backend_name = fake
[database]
connection = $(db cinder)
[oslo_concurrency]
lock_path = $dir/state/locks
[oslo_messaging_notifications]
driver = noop
$(authtoken)
$(svc_auth nova)
EOF

  # Octavia's certificates (noop drivers, but the controller wants a CA and client cert).
  if [[ ! -f "$e/ca.pem" ]]; then
    openssl req -x509 -newkey rsa:2048 -nodes -keyout "$e/ca.key" -out "$e/ca.pem" -days 3650 \
      -subj /CN=osl-ca >/dev/null 2>&1
    openssl req -newkey rsa:2048 -nodes -keyout "$e/client.key" -out "$e/client.csr" \
      -subj /CN=osl-client >/dev/null 2>&1
    openssl x509 -req -in "$e/client.csr" -CA "$e/ca.pem" -CAkey "$e/ca.key" -CAcreateserial \
      -out "$e/client.crt" -days 3650 >/dev/null 2>&1
    cat "$e/client.crt" "$e/client.key" >"$e/client.pem"
  fi
  cat >"$e/octavia.conf" <<EOF
[DEFAULT]
log_dir = $dir/log
log_file = octavia.log
transport_url = $transport
[api_settings]
bind_host = 127.0.0.1
bind_port = $octavia_port
auth_strategy = keystone
enabled_provider_drivers = amphora:The Octavia Amphora driver (noop here).
default_provider_driver = amphora
[database]
connection = $(db octavia)
[controller_worker]
amphora_driver = amphora_noop_driver
compute_driver = compute_noop_driver
network_driver = network_noop_driver
volume_driver = volume_noop_driver
image_driver = image_noop_driver
loadbalancer_topology = SINGLE
client_ca = $e/ca.pem
amp_boot_network_list = 00000000-0000-0000-0000-000000000000
amp_flavor_id = 1
amp_image_tag = amphora
amp_secgroup_list = default
[task_flow]
jobboard_enabled = False
[certificates]
ca_certificate = $e/ca.pem
ca_private_key = $e/ca.key
cert_generator = local_cert_generator
[haproxy_amphora]
client_cert = $e/client.pem
server_ca = $e/ca.pem
[oslo_messaging]
topic = octavia_prov
[oslo_concurrency]
lock_path = $dir/state/locks
$(authtoken)
$(svc_auth service_auth)
EOF

  # oslo.config parses sys.argv on import: each app sees only its own config.
  cat >"$e/osl_neutron.py" <<EOF
import os, sys
sys.argv = sys.argv[:1]
os.environ["OS_NEUTRON_CONFIG_DIR"] = "$e"
os.environ["OS_NEUTRON_CONFIG_FILES"] = "neutron.conf"
from neutron.wsgi.api import application  # noqa: E402,F401
EOF
  cat >"$e/osl_glance.py" <<EOF
import os, sys
sys.argv = sys.argv[:1]
os.environ["OS_GLANCE_CONFIG_DIR"] = "$e"
from glance.wsgi.api import application  # noqa: E402,F401
EOF
  cat >"$e/osl_placement.py" <<EOF
import os, sys
sys.argv = sys.argv[:1]
os.environ["OS_PLACEMENT_CONFIG_DIR"] = "$e"
from placement.wsgi.api import application  # noqa: E402,F401
EOF
  cat >"$e/osl_nova.py" <<EOF
import os, sys
sys.argv = sys.argv[:1]
os.environ["OS_NOVA_CONFIG_DIR"] = "$e"
os.environ["OS_NOVA_CONFIG_FILES"] = "nova-api-paste.ini;nova.conf"
from nova.wsgi.osapi_compute import application  # noqa: E402,F401
EOF
  cat >"$e/osl_cinder.py" <<EOF
import sys
sys.argv = [sys.argv[0], "--config-file", "$e/cinder.conf"]
from cinder.wsgi.api import application  # noqa: E402,F401
EOF
  cat >"$e/osl_octavia.py" <<EOF
import sys
sys.argv = [sys.argv[0], "--config-file", "$e/octavia.conf"]
from octavia.wsgi.api import application  # noqa: E402,F401
EOF
}

# ---------------------------------------------------------------------------------------
# first start: databases, Keystone catalog, seed
# ---------------------------------------------------------------------------------------
migrate() {
  local e=$dir/etc b=$venv/bin
  for d in placement neutron nova_api nova nova_cell0 cinder octavia; do
    sql "CREATE DATABASE IF NOT EXISTS $d CHARACTER SET utf8"
  done
  log "migrating databases"
  (
    "$b/placement-manage" --config-file "$e/placement.conf" db sync
    "$b/neutron-db-manage" --config-file "$e/neutron.conf" upgrade head
    "$b/glance-manage" --config-file "$e/glance-api.conf" db_sync
    "$b/cinder-manage" --config-file "$e/cinder.conf" db sync
    "$b/octavia-db-manage" --config-file "$e/octavia.conf" upgrade head
  ) >"$dir/log/migrate.out" 2>&1 &
  local others=$!
  (
    local nm=("$b/nova-manage" --config-file "$e/nova.conf")
    "${nm[@]}" api_db sync
    "${nm[@]}" cell_v2 map_cell0 --database_connection "$(db nova_cell0)"
    "${nm[@]}" cell_v2 list_cells | grep -q ' cell1 ' ||
      "${nm[@]}" cell_v2 create_cell --name cell1
    "${nm[@]}" db sync
  ) >"$dir/log/migrate-nova.out" 2>&1 || die "nova-manage failed; see $dir/log/migrate-nova.out"
  wait "$others" || die "a database migration failed; see $dir/log/migrate.out"
}

keystone_setup() {
  "$client_venv/bin/python" - "$ks_url" "$admin_pw" "$svc_pw" "$base" <<'EOF'
import sys
import openstack
ks_url, admin_pw, svc_pw, base = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
c = openstack.connect(auth_url=ks_url, username="admin", password=admin_pw, project_name="admin",
                      user_domain_name="Default", project_domain_name="Default",
                      region_name="RegionOne")
idn = c.identity
service_project = idn.find_project("service") or idn.create_project(name="service", domain_id="default")
user = idn.find_user("service") or idn.create_user(name="service", password=svc_pw, domain_id="default",
                                                   default_project_id=service_project.id)
admin_role = idn.find_role("admin")
idn.assign_project_role_to_user(service_project, user, admin_role)
for role in ("service", "load-balancer_admin"):
    r = idn.find_role(role) or idn.create_role(name=role)
    idn.assign_project_role_to_user(service_project, user, r)
u = "http://127.0.0.1:"
catalog = [
    ("placement", "placement", f"{u}{base + 1}"),
    ("nova", "compute", f"{u}{base + 2}/v2.1"),
    ("neutron", "network", f"{u}{base + 3}"),
    ("glance", "image", f"{u}{base + 4}"),
    ("cinder", "block-storage", f"{u}{base + 5}/v3/%(project_id)s"),
    ("cinderv3", "volumev3", f"{u}{base + 5}/v3/%(project_id)s"),
    ("octavia", "load-balancer", f"{u}{base + 6}"),
]
for name, stype, url in catalog:
    svc = next((s for s in idn.services() if s.type == stype), None) or \
        idn.create_service(name=name, type=stype)
    have = {e.interface for e in idn.endpoints(service_id=svc.id)}
    for iface in ("public", "internal", "admin"):
        if iface not in have:
            idn.create_endpoint(service_id=svc.id, interface=iface, url=url, region_id="RegionOne")
EOF
}

seed() {
  command -v qemu-img >/dev/null || die "qemu-img is missing (Debian qemu-utils)"
  [[ -f "$dir/state/cirros-fake.qcow2" ]] || qemu-img create -q -f qcow2 "$dir/state/cirros-fake.qcow2" 64M
  if "$client_venv/bin/python" - "$dir" <<'EOF'
import sys, time
import openstack
d = sys.argv[1]
c = openstack.connect(cloud="admin")
# The SCS flavors the defaults and tests use (standard names; `s` = local SSD, no disk =
# diskless, boot from volume).
for name, vcpus, ram, disk in [
    ("SCS-1V-2", 1, 2048, 0), ("SCS-2V-4", 2, 4096, 0), ("SCS-2V-8", 2, 8192, 0),
    ("SCS-4V-8", 4, 8192, 0), ("SCS-4V-16", 4, 16384, 0), ("SCS-2V-4-20", 2, 4096, 20),
    ("SCS-2V-4-20s", 2, 4096, 20), ("SCS-2V-8-20", 2, 8192, 20), ("SCS-4V-8-50s", 4, 8192, 50),
    ("SCS-4V-16-50", 4, 16384, 50), ("SCS-8V-32-100", 8, 32768, 100)]:
    if not c.compute.find_flavor(name):
        c.compute.create_flavor(name=name, vcpus=vcpus, ram=ram, disk=disk, is_public=True)
net = c.network.find_network("public")
if not net:
    net = c.network.create_network(name="public", is_router_external=True, is_shared=False,
                                   provider_network_type="flat",
                                   provider_physical_network="public")
    c.network.create_subnet(network_id=net.id, name="public-subnet", ip_version=4,
                            cidr="192.0.2.0/24", gateway_ip="192.0.2.1", enable_dhcp=False,
                            allocation_pools=[{"start": "192.0.2.10", "end": "192.0.2.250"}])
# Glance checks that the data is what disk_format says: a real (empty) qcow2.
img = c.image.find_image("cirros-fake")
if img and img.status != "active":
    c.image.delete_image(img)
    img = None
if not img:
    c.image.create_image(name="cirros-fake", disk_format="qcow2", container_format="bare",
                         visibility="public", filename=d + "/state/cirros-fake.qcow2")
# Nova's compute host (first heartbeat), then cell discovery.
for _ in range(300):
    if list(c.compute.services(binary="nova-compute")):
        break
    time.sleep(0.5)
else:
    sys.exit("nova-compute never reported")
EOF
  then :; else return 1; fi
  "$venv/bin/nova-manage" --config-file "$dir/etc/nova.conf" cell_v2 discover_hosts >>"$dir/log/migrate-nova.out" 2>&1
}

write_clouds() {
  cat >"$dir/clouds.yaml" <<EOF
clouds:
  tenant:
    auth:
      auth_url: $ks_url
      username: demo
      password: s3cret-demo
      project_name: demo
      user_domain_name: Default
      project_domain_name: Default
    region_name: RegionOne
    interface: public
    identity_api_version: 3
  admin:
    auth:
      auth_url: $ks_url
      username: admin
      password: $admin_pw
      project_name: admin
      user_domain_name: Default
      project_domain_name: Default
    region_name: RegionOne
    interface: public
    identity_api_version: 3
EOF
  chmod 600 "$dir/clouds.yaml"
}

start() {
  local t0=$SECONDS
  install
  echo "$base" >"$dir/ports"
  mkdir -p "$dir/log" "$dir/run"
  local fresh=""
  [[ -f "$dir/seeded" ]] || fresh=1
  write_configs
  write_clouds
  export OS_CLIENT_CONFIG_FILE=$dir/clouds.yaml
  log "starting MariaDB, RabbitMQ, Keystone"
  KS_PORT=$ks_port SCS_TEST_VENV=$client_venv "$repo/scripts/keystone-local.sh" start "$dir/keystone" >&2 &
  local ks=$!
  start_rabbit &
  local rb=$!
  start_mariadb
  wait "$ks" || die "Keystone did not start"
  [[ -n "$fresh" ]] && keystone_setup
  [[ -n "$fresh" ]] && migrate
  wait "$rb" || die "RabbitMQ did not start"
  log "starting the services"
  local e=$dir/etc b=$venv/bin
  run_api placement "$placement_port" osl_placement
  run_api neutron "$neutron_port" osl_neutron
  run_api glance "$glance_port" osl_glance
  run_api nova-api "$nova_port" osl_nova
  run_api cinder-api "$cinder_port" osl_cinder
  run_api octavia-api "$octavia_port" osl_octavia
  run nova-conductor "$b/nova-conductor" --config-file "$e/nova.conf"
  run nova-scheduler "$b/nova-scheduler" --config-file "$e/nova.conf"
  run nova-compute "$b/nova-compute" --config-file "$e/nova.conf"
  run cinder-scheduler "$b/cinder-scheduler" --config-file "$e/cinder.conf"
  run cinder-volume "$b/cinder-volume" --config-file "$e/cinder.conf"
  run octavia-worker "$b/octavia-worker" --config-file "$e/octavia.conf"
  wait_http placement "http://127.0.0.1:$placement_port/"
  wait_http neutron "http://127.0.0.1:$neutron_port/"
  wait_http glance "http://127.0.0.1:$glance_port/"
  wait_http nova-api "http://127.0.0.1:$nova_port/"
  wait_http cinder-api "http://127.0.0.1:$cinder_port/"
  wait_http octavia-api "http://127.0.0.1:$octavia_port/"
  if [[ -n "$fresh" ]]; then
    log "seeding flavors, external network, image"
    seed || die "seeding failed"
    touch "$dir/seeded"
  fi
  log "up in $((SECONDS - t0)) s"
  echo "openstack ready: $dir/clouds.yaml"
}

procs=(octavia-worker octavia-api cinder-volume cinder-scheduler cinder-api nova-compute
  nova-scheduler nova-conductor nova-api glance neutron placement rabbitmq mariadb)

stop() {
  local name pid
  for name in "${procs[@]}"; do
    [[ -f "$dir/run/$name.pid" ]] || continue
    pid=$(cat "$dir/run/$name.pid")
    # Each was started with setsid: its pid is its process group.
    if alive "$pid"; then kill -TERM -- "-$pid" 2>/dev/null || true; fi
  done
  for name in "${procs[@]}"; do
    [[ -f "$dir/run/$name.pid" ]] || continue
    pid=$(cat "$dir/run/$name.pid")
    for _ in $(seq 150); do alive "$pid" || break; sleep 0.2; done
    if alive "$pid"; then kill -KILL -- "-$pid" 2>/dev/null || true; fi
    rm -f "$dir/run/$name.pid"
  done
  # RabbitMQ's own epmd daemonizes out of the process group.
  if command -v epmd >/dev/null; then ERL_EPMD_PORT=$epmd_port epmd -kill >/dev/null 2>&1 || true; fi
  if [[ -d "$dir/keystone" ]]; then
    KS_PORT=$ks_port SCS_TEST_VENV=$client_venv "$repo/scripts/keystone-local.sh" stop "$dir/keystone"
  fi
}

status() {
  local name bad=0
  for name in "${procs[@]}"; do
    if [[ -f "$dir/run/$name.pid" ]] && alive "$(cat "$dir/run/$name.pid")"; then
      echo "$name running"
    else
      echo "$name stopped"
      bad=1
    fi
  done
  if [[ -f "$dir/keystone/gunicorn.pid" ]] && alive "$(cat "$dir/keystone/gunicorn.pid")"; then
    echo "keystone running"
  else
    echo "keystone stopped"
    bad=1
  fi
  return $bad
}

env_out() {
  cat <<EOF
export OS_AUTH_URL=$ks_url
export OS_IDENTITY_API_VERSION=3
export OS_AUTH_TYPE=password
export OS_USERNAME=demo
export OS_PASSWORD=s3cret-demo
export OS_PROJECT_NAME=demo
export OS_USER_DOMAIN_NAME=Default
export OS_PROJECT_DOMAIN_NAME=Default
export OS_REGION_NAME=RegionOne
export OS_INTERFACE=public
EOF
}

case "$cmd" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  env) env_out ;;
  clean) stop; rm -rf "$dir" ;;
  *) echo "usage: $0 start|stop|status|env|clean DIR" >&2; exit 2 ;;
esac
