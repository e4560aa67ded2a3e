"""Glance conformance: create + streamed upload (queued -> saving -> active, size, MD5
checksum, SHA-512 hash), properties, find by name, pagination (default page 25, `next`
links), JSON-patch update, errors, delete.

Expects the fake seeded with `demo` (one image "Ubuntu 22.04").
"""
import hashlib
import os
import tempfile
import threading

import openstack.exceptions as exc

from fake_common import check, connect, expect, ok

conn = connect()
img = conn.image

# Starts with qcow2's magic: Glance (and the fake) refuse qcow2 data that is not qcow2.
data = b"QFI\xfb" + os.urandom(3 * 1024 * 1024 + 13)
md5, sha512 = hashlib.md5(data).hexdigest(), hashlib.sha512(data).hexdigest()
with tempfile.NamedTemporaryFile(suffix=".qcow2", delete=False) as f:
    f.write(data)
    path = f.name

# the cloud layer, as openstackclient and R4's `openstack image create --file` do
props = {"os_distro": "ubuntu", "os_version": "22.04", "hw_disk_bus": "scsi", "image_build_date": "2024-01-01"}
i = conn.create_image("conf-upload", filename=path, disk_format="qcow2", container_format="bare",
                      min_disk=20, min_ram=1024, wait=True, timeout=60, meta=props)
i = img.get_image(i.id)
check(i.status == "active", "create_image(filename=..., wait=True) -> active", i.status)
check(i.size == len(data), "size", i.size)
check(i.checksum == md5, "checksum is the MD5 of the data", i.checksum)
check(i.hash_algo == "sha512" and i.hash_value == sha512, "os_hash_value is the SHA-512")
check(i.min_disk == 20 and i.min_ram == 1024 and i.disk_format == "qcow2", "min_disk/min_ram/disk_format")
check(i.os_distro == "ubuntu" and i.hw_disk_bus == "scsi" and i.properties.get("image_build_date") == "2024-01-01",
      "properties (typed and free-form)", i.to_dict())

# the proxy layer with a data stream; observe `saving` while the body streams
gate, seen = threading.Event(), {}


def body():
    yield data[:65536]
    seen["status"] = img.get_image(seen["id"]).status
    gate.set()
    yield data[65536:]


j = img.create_image(name="conf-stream", disk_format="raw", container_format="bare", visibility="private")
check(j.status == "queued", "created image is queued", j.status)
seen["id"] = j.id
r = img.put(f"/images/{j.id}/file", data=body(), headers={"Content-Type": "application/octet-stream"})
check(r.status_code == 204 and gate.is_set(), "streamed PUT /file -> 204")
check(seen["status"] == "saving", "status was saving while the body streamed", seen)
j = img.get_image(j.id)
check(j.status == "active" and j.checksum == md5, "stream upload -> active with the checksum")
octet = {"Content-Type": "application/octet-stream"}
r = img.put(f"/images/{j.id}/file", data=b"x", headers=octet)
check(r.status_code == 409 and "text/html" in r.headers["Content-Type"], "upload to an active image -> 409 (HTML body)", r.text)
k = img.get_image(img.post("/images", json={"name": "conf-noformat"}).json()["id"])
r = img.put(f"/images/{k.id}/file", data=b"x", headers=octet)
check(r.status_code == 400, "upload without disk/container format -> 400", r.text)
r = img.put(f"/images/{k.id}/file", data=b"x", headers={"Content-Type": "application/json"})
check(r.status_code == 415, "upload with the wrong Content-Type -> 415", r.text)
img.delete_image(k)
img.delete_image(j)

# find by name, pagination
check(img.find_image("Ubuntu 22.04").min_disk == 5, "find_image by name (404 by id, then ?name=)")
check(img.find_image("conf-nothing") is None, "find_image of a missing name -> None")
for n in range(30):
    img.create_image(name=f"conf-page-{n:02d}", disk_format="raw", container_format="bare")
every = list(img.images())
check(len(every) == 32, "list follows Glance's next links past the default page of 25", len(every))
raw = img.get("/images").json()
check(len(raw["images"]) == 25 and raw["next"].startswith("/v2/images?"), "first page: 25 and a next link", raw.get("next"))
check(len(list(img.images(limit=7))) == 32, "limit=7 pages yield all")
check([x.name for x in img.images(name="conf-page-07")] == ["conf-page-07"], "name filter")
for x in list(img.images()):
    if x.name.startswith("conf-page-"):
        img.delete_image(x)

# JSON-patch update
u = img.update_image(i, os_version="24.04")
check(img.get_image(i.id).os_version == "24.04", "update_image (PATCH)", u.os_version)

# errors
e = expect(exc.NotFoundException, lambda: img.get_image("00000000-0000-0000-0000-000000000000"), "missing image -> 404")
check("No image found" in str(e), "Glance 404 message", str(e))
expect(exc.BadRequestException, lambda: img.create_image(name="conf-bad", disk_format="exe"), "bad disk_format -> 400")
os.unlink(path)
print("image: all checks passed")
