#!/usr/bin/env bash
# Try scs-capi without a cloud: starts the fake OpenStack (scripts/fake-openstack.sh, demo
# seed) and fake-kube as the management cluster (simulated CAPI/CAPO) on 127.0.0.1, in the
# background, and waits until both answer. Their files go to ./.fakes (of the directory you
# run this in): clouds.yaml (cloud `fake`, as the fake prints it), mgmt.kubeconfig, logs.
#
# Usage: scripts/fakes.sh start|stop|status
# Environment: SCS_FAKES_PORT (fake OpenStack port, default 8780; fake-kube uses +1),
# SCS_FAKES_PROFILE (cargo profile of the fakes, default release), CARGO_TARGET_DIR.
# Then: export OS_CLIENT_CONFIG_FILE=$PWD/.fakes/clouds.yaml OS_CLOUD=fake \
#         KUBECONFIG=$PWD/.fakes/mgmt.kubeconfig
set -euo pipefail
root=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)
dir=$PWD/.fakes
port=${SCS_FAKES_PORT:-8780}
profile=${SCS_FAKES_PROFILE:-release}

running() { [[ -f "$dir/$1.pid" ]] && kill -0 "$(cat "$dir/$1.pid")" 2>/dev/null; }

stop() {
  for f in fake-openstack fake-kube; do
    if running "$f"; then kill "$(cat "$dir/$f.pid")" 2>/dev/null || true; fi
    rm -f "$dir/$f.pid"
  done
}

case "${1:-}" in
  start)
    mkdir -p "$dir"
    stop
    echo "building the fakes ($profile) ..." >&2
    (cd "$root" && cargo build --quiet --profile "$profile" -p fake-openstack -p fake-kube)
    bin=${CARGO_TARGET_DIR:-$root/target}/$([[ $profile == dev ]] && echo debug || echo "$profile")
    rm -f "$dir/clouds.yaml" "$dir/mgmt.kubeconfig"
    nohup "$bin/fake-openstack" --port "$port" --seed demo >"$dir/fake-openstack.log" 2>&1 &
    echo $! >"$dir/fake-openstack.pid"
    nohup "$bin/fake-kube" --port "$((port + 1))" --kubeconfig "$dir/mgmt.kubeconfig" \
      >"$dir/fake-kube.log" 2>&1 &
    echo $! >"$dir/fake-kube.pid"
    for _ in $(seq 1 100); do
      if grep -q '^# clouds.yaml' "$dir/fake-openstack.log" 2>/dev/null && [[ -s "$dir/mgmt.kubeconfig" ]]; then
        # The standalone clouds.yaml the fake prints after its service list.
        sed -n '/^# clouds.yaml/,$p' "$dir/fake-openstack.log" >"$dir/clouds.yaml"
        echo "fake OpenStack on http://127.0.0.1:$port, management cluster on http://127.0.0.1:$((port + 1))" >&2
        exit 0
      fi
      for f in fake-openstack fake-kube; do
        running "$f" || { cat "$dir/$f.log" >&2; echo "error: $f did not start" >&2; exit 1; }
      done
      sleep 0.1
    done
    echo "error: the fakes did not answer within 10 s (logs in $dir)" >&2
    stop
    exit 1
    ;;
  stop) stop ;;
  status)
    for f in fake-openstack fake-kube; do
      if running "$f"; then echo "$f: running"; else echo "$f: stopped"; fi
    done
    ;;
  *)
    echo "usage: $0 start|stop|status" >&2
    exit 2
    ;;
esac
