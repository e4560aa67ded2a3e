"""Shared helpers for the fake-openstack conformance scripts (not a test itself).

Each fake_*.py script is run by tests/fake-openstack/tests/conformance.rs against a fresh
fake, with OS_CLIENT_CONFIG_FILE and OS_CLOUD set (standalone clouds.yaml), and drives it
with the real openstacksdk / openstack CLI. A failed check raises; the script prints one
"ok: ..." line per check so a failure shows how far it got.
"""
import json
import os
import subprocess
import sys
import time

import openstack


def connect():
    return openstack.connect(cloud=os.environ.get("OS_CLOUD", "fake"))


def ok(msg):
    print(f"ok: {msg}", flush=True)


def check(cond, msg, detail=None):
    if not cond:
        raise AssertionError(f"{msg}" + (f": {detail!r}" if detail is not None else ""))
    ok(msg)


def expect(exc_type, fn, msg):
    """fn() must raise exc_type; returns the exception."""
    try:
        fn()
    except exc_type as e:
        ok(f"{msg} ({type(e).__name__}: {e})")
        return e
    except Exception as e:  # noqa: BLE001
        raise AssertionError(f"{msg}: expected {exc_type.__name__}, got {type(e).__name__}: {e}")
    raise AssertionError(f"{msg}: expected {exc_type.__name__}, nothing raised")


def wait_for(fn, msg, timeout=10.0, interval=0.05):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = fn()
        if v:
            return v
        time.sleep(interval)
    raise AssertionError(f"timed out: {msg}")


def cli(*args, expect_rc=0):
    """Runs the `openstack` CLI next to this Python; returns (rc, stdout, stderr)."""
    exe = os.path.join(os.path.dirname(sys.executable), "openstack")
    cmd = [exe, "--os-cloud", os.environ.get("OS_CLOUD", "fake"), *args]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if expect_rc is not None and p.returncode != expect_rc:
        raise AssertionError(
            f"{' '.join(args)}: exit {p.returncode}, wanted {expect_rc}\nstdout: {p.stdout}\nstderr: {p.stderr}"
        )
    return p.returncode, p.stdout, p.stderr


def cli_json(*args):
    _, out, _ = cli(*args, "-f", "json")
    return json.loads(out)
