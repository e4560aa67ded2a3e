"""Nova conformance: flavors, server groups per microversion, servers, availability zones.

Expects the fake seeded by conformance.rs: `demo` plus servers capi-c1-node-0..4.
"""
import openstack.exceptions as exc

from fake_common import check, connect, expect, ok, wait_for

conn = connect()
c = conn.compute

# flavors: list, find by name (404 on GET /flavors/<name>, then list), get
names = [f.name for f in c.flavors()]
check("SCS-2V-4" in names and "SCS-4V-8-50" in names, "flavor list", names)
f = c.find_flavor("SCS-2V-4", ignore_missing=False)
check(f.vcpus == 2 and f.ram == 4096 and f.disk == 0, "find_flavor by name (diskless)", f)
check(c.get_flavor(f.id).name == "SCS-2V-4", "get_flavor by id")
check(c.find_flavor("no-such-flavor") is None, "find_flavor of a missing name -> None")
page = list(c.flavors(limit=1))
check(len(page) == len(names), "flavor pagination (limit=1) yields all", len(page))

# server groups: the SDK negotiates 2.64 -> policy/rules
g = c.create_server_group(name="capi-c1-controller", policy="anti-affinity")
check(g.policy == "anti-affinity" and g.rules == {}, "server group at 2.64 has policy+rules", g)
w = c.create_server_group(name="capi-c1-worker", policy="soft-anti-affinity")
check(w.policy == "soft-anti-affinity", "soft-anti-affinity at 2.64")
found = c.find_server_group("capi-c1-worker", ignore_missing=False)
check(found.id == w.id, "find_server_group by name")
check({x.name for x in c.server_groups()} >= {"capi-c1-controller", "capi-c1-worker"}, "server group list")

# microversions through the raw session, as the CLI does with --os-compute-api-version
r = c.post("/os-server-groups", json={"server_group": {"name": "mv215", "policies": ["soft-anti-affinity"]}},
           microversion="2.15")
check(r.status_code == 200, "2.15 create with policies", r.text)
body = r.json()["server_group"]
check(body["policies"] == ["soft-anti-affinity"] and "policy" not in body, "2.15 answers with policies", body)
check(r.headers.get("OpenStack-API-Version") == "compute 2.15", "microversion echoed",
      dict(r.headers))
check(r.headers.get("X-OpenStack-Nova-API-Version") == "2.15", "legacy microversion header echoed")
r = c.post("/os-server-groups", json={"server_group": {"name": "mv214", "policies": ["soft-anti-affinity"]}},
           microversion="2.14", raise_exc=False)
check(r.status_code == 400 and "badRequest" in r.json(), "soft-* rejected below 2.15", r.text)
r = c.post("/os-server-groups", json={"server_group": {"name": "mv21", "policies": ["anti-affinity"]}},
           microversion="2.1")
check("project_id" not in r.json()["server_group"], "2.1 shape has no project_id", r.text)
r = c.get("/os-server-groups", microversion="2.15")
check(all("policies" in x for x in r.json()["server_groups"]), "list at 2.15 uses policies")
r = c.get("/os-server-groups", headers={"OpenStack-API-Version": "compute 3.0"}, raise_exc=False)
check(r.status_code == 406 and "computeFault" in r.json(), "unsupported microversion -> 406", r.text)
for x in list(c.server_groups()):
    if x.name in ("mv215", "mv21"):
        c.delete_server_group(x)
c.delete_server_group(w)
expect(exc.NotFoundException, lambda: c.get_server_group(w.id), "deleted server group -> 404")
e = expect(exc.NotFoundException, lambda: c.delete_server_group(w.id, ignore_missing=False),
           "delete of a missing server group -> 404")
check("could not be found" in str(e), "Nova 404 message passed through", str(e))

# servers: name is a regular expression; addresses include the floating IP
mgmt = list(c.servers(name="^capi-mgmtcluster$"))
check(len(mgmt) == 1, "server list name filter (anchored regex)", [s.name for s in mgmt])
addrs = [a for net in mgmt[0].addresses.values() for a in net]
check(any(a["OS-EXT-IPS:type"] == "floating" for a in addrs), "server addresses show the FIP", addrs)
nodes = list(c.servers(name="capi-c1-"))
check(len(nodes) == 5, "regex search matches the cluster's nodes only", [s.name for s in nodes])
check(not list(c.servers(name="capi-c1x")), "foo does not match foobar's pattern")
paged = list(c.servers(details=True, limit=2))
check(len(paged) == 6, "server pagination (limit=2) yields all", len(paged))
victim = nodes[0]
ports_before = list(conn.network.ports(device_id=victim.id))
check(len(ports_before) == 1, "the node has a port")
c.delete_server(victim)
s = c.get_server(victim.id)
check(s.task_state == "deleting", "server is deleting right after DELETE", s.task_state)
c.wait_for_delete(s, interval=0.05, wait=10)
ok("server gone after the async delay")
check(not list(conn.network.ports(device_id=victim.id)), "its ports went with it")
expect(exc.NotFoundException, lambda: c.get_server(victim.id), "deleted server -> 404")

# availability zones
zones = [z.name for z in c.availability_zones()]
check("nova" in zones, "availability zones", zones)
print("compute: all checks passed")
