"""Cinder conformance: version discovery through block_storage_endpoint_override, listing
volumes (detail, pagination, name/status/metadata filters), the Cinder CSI metadata the
cleanup planner matches on, show, delete -> deleting -> gone, 404 on a deleted volume, and
the 400 Cinder answers when deleting an attached volume.

Expects: volumes pvc-<uuid> x5 of cluster c1 (one attached, `in-use`), one pvc of cluster
c1bar, and capi-c1-control-plane-aaaaa-root attached; see conformance.rs (sdk_block_storage).
"""
import json
import urllib.parse

import openstack.exceptions as exc

from fake_common import check, connect, expect, ok, wait_for

CSI = "cinder.csi.openstack.org/cluster"

conn = connect()
bs = conn.block_storage

allv = list(bs.volumes(details=True, limit=2))
check(len(allv) == 7, "all volumes over pages of 2", [v.name for v in allv])
plain = list(bs.volumes(details=False))
check({v.id for v in plain} == {v.id for v in allv}, "list without details")
ours = [v for v in allv if v.metadata.get(CSI) == "c1" and v.name.startswith("pvc-")]
check(len(ours) == 5, "CSI volumes of c1 by metadata (c1bar's excluded)", [v.metadata for v in ours])
# openstacksdk 4.22 turns volumes(metadata={...}) into `?metadata=<key>` (keys only), which
# Cinder cannot use; scs-capi filters client-side. The raw dict-literal filter works:
q = urllib.parse.quote(json.dumps({CSI: "c1"}))
raw = bs.get(f"/volumes/detail?metadata={q}").json()["volumes"]
check({v["id"] for v in raw} == {v.id for v in ours}, "metadata filter on the server (raw query)")
attached = [v for v in ours if v.attachments]
check(len(attached) == 1 and attached[0].status == "in-use", "one attached, in-use")
check(attached[0].attachments[0]["server_id"] == "srv-c1-w0", "attachment names the server",
      attached[0].attachments)
check([v.id for v in bs.volumes(name=ours[0].name)] == [ours[0].id], "name filter")
check(len(list(bs.volumes(status="in-use"))) == 2, "status filter")

got = bs.get_volume(ours[0].id)
check(got.size == 1 and got.metadata[CSI] == "c1", "show")

e = expect(exc.BadRequestException, lambda: bs.delete_volume(attached[0]), "attached -> 400")
check("Invalid volume" in str(e), "Cinder's message passed through", str(e))

free = [v for v in ours if not v.attachments]
for v in free:
    bs.delete_volume(v)
check(bs.get_volume(free[0].id).status == "deleting", "delete -> deleting")
for v in free:
    bs.wait_for_delete(v, interval=0.05, wait=10)
ok("deleted volumes are gone")
expect(exc.NotFoundException, lambda: bs.get_volume(free[0].id), "deleted volume -> 404")
bs.delete_volume(free[0].id, ignore_missing=True)
ok("ignore_missing delete of a gone volume")
left = sorted(v.name for v in bs.volumes())
check(len(left) == 3, "attached, foreign and root volumes left", left)
print("block-storage: all checks passed")
