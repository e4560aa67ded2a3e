"""Reference for tests/cloud_auth.rs: how openstacksdk resolves a cloud.

Usage: python config_resolve.py [CLOUD]   (run with the scenario's environment and cwd)
       python config_resolve.py --batch < scenarios.json
Prints one JSON object: the fields scs-capi's resolver must agree on. Secrets are never
printed, only a SHA-256 of them, so the test can tell which file a secret came from.

Batch mode reads a JSON list of {"env": {...}, "cwd": DIR, "cloud": NAME|null} and prints
one result per line: for each scenario it replaces os.environ, changes directory and
reloads openstacksdk's loader (whose search paths are computed at import), which is what a
fresh process would do, at a fraction of the start-up cost.
"""

import hashlib
import importlib
import json
import os
import sys
import warnings

warnings.simplefilter("ignore")

import openstack.config  # noqa: E402


def sha(v):
    return hashlib.sha256(str(v).encode()).hexdigest()[:16] if v else None


def resolve(cloud, config_class):
    try:
        region = config_class().get_one(cloud)
    except Exception as e:  # the test compares only that both sides fail
        return {"ok": False, "error": type(e).__name__}
    cfg = region.config
    auth = cfg.get("auth") or {}
    verify, _cert = region.get_requests_verify_args()
    keys = [
        "auth_url", "username", "user_id", "project_name", "project_id",
        "user_domain_name", "user_domain_id", "project_domain_name",
        "project_domain_id", "domain_name", "domain_id",
        "application_credential_id", "application_credential_name",
    ]
    out = {"ok": True, "name": region.name, "auth_type": cfg.get("auth_type")}
    for k in keys:
        out[k] = auth.get(k) or None
    out["password"] = sha(auth.get("password"))
    out["application_credential_secret"] = sha(auth.get("application_credential_secret"))
    out["token"] = sha(auth.get("token"))
    out["region_name"] = region.region_name or None
    out["interface"] = cfg.get("interface")
    out["verify"] = verify is not False
    out["cacert"] = verify if isinstance(verify, str) else None
    out["endpoint_overrides"] = {
        k[: -len("_endpoint_override")].replace("_", "-"): v
        for k, v in cfg.items()
        if k.endswith("_endpoint_override") and v
    }
    return out


def main():
    if sys.argv[1:2] == ["--batch"]:
        from openstack.config import loader

        for sc in json.load(sys.stdin):
            os.environ.clear()
            os.environ.update(sc["env"])
            os.chdir(sc["cwd"])
            importlib.reload(loader)
            print(json.dumps(resolve(sc["cloud"], loader.OpenStackConfig), sort_keys=True))
        return
    cloud = sys.argv[1] if len(sys.argv) > 1 and sys.argv[1] else None
    print(json.dumps(resolve(cloud, openstack.config.OpenStackConfig), sort_keys=True))


main()
