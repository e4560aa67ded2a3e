"""openstackclient conformance for the deletions `scs-capi cleanup` makes (and
`scripts/bench/cleanup.sh` times as one `openstack` call each), in dependency order, on a
cluster seeded by `Seed::cluster` (CAPO, OCCM, CSI resources): floating IPs, load
balancers (cascade), servers (their CAPO ports stay, unbound; attached volumes are
detached), ports, the router interface, subnet, network, router, security groups, server
groups, volumes.

Expects: CLUSTER_IDS, the JSON of the seeded ids by kind (see conformance.rs).
"""
import json
import os

import openstack.exceptions as exc

from fake_common import check, cli, cli_json, connect, expect, wait_for

ids = json.loads(os.environ["CLUSTER_IDS"])
conn = connect()


def gone(find, what):
    expect(exc.NotFoundException, find, f"{what} is gone")


for f in ids["floatingips"]:
    cli("floating", "ip", "delete", f)
gone(lambda: conn.network.get_ip(ids["floatingips"][0]), "floating ip delete")

for lb in ids["loadbalancers"]:
    cli("loadbalancer", "delete", "--cascade", "--wait", lb)
check(not [x for x in cli_json("loadbalancer", "list") if x["id"] in ids["loadbalancers"]],
      "loadbalancer delete --cascade --wait")

# a worker with a CSI volume attached: after `server delete --wait` its CAPO port is unbound
# (not deleted) and the volume is detached
worker = ids["servers"][1]
port = next(p for p in conn.network.ports(device_id=worker))
vol = conn.block_storage.get_volume(ids["volumes"][0])
check(vol.status == "in-use" and vol.attachments[0]["server_id"] == worker, "volume attached to the worker")
for s in ids["servers"]:
    cli("server", "delete", "--wait", s)
gone(lambda: conn.compute.get_server(worker), "server delete --wait")
left = conn.network.get_port(port.id)
check(left.device_id == "" and left.device_owner == "", "the CAPO port outlives its server, unbound", left)
check(conn.block_storage.get_volume(vol.id).status == "available", "the volume is detached")

for p in ids["ports"]:
    cli("port", "delete", p)
gone(lambda: conn.network.get_port(port.id), "port delete")

_, _, err = cli("subnet", "delete", ids["subnet"], expect_rc=1)
check("SubnetInUse" in err or "in use" in err.lower() or "One or more ports" in err,
      "subnet with a router interface: CLI exits 1 with the 409", err)
cli("router", "remove", "subnet", ids["router"], ids["subnet"])
check(not list(conn.network.ports(device_id=ids["router"])), "router remove subnet")
cli("subnet", "delete", ids["subnet"])
cli("network", "delete", ids["network"])
cli("router", "delete", ids["router"])
gone(lambda: conn.network.get_network(ids["network"]), "subnet, network and router delete")

for g in ids["security_groups"]:
    cli("security", "group", "delete", g)
gone(lambda: conn.network.get_security_group(ids["security_groups"][0]), "security group delete")
for g in ids["server_groups"]:
    cli("server", "group", "delete", g)
gone(lambda: conn.compute.get_server_group(ids["server_groups"][0]), "server group delete")

for v in ids["volumes"]:
    cli("volume", "delete", v)
wait_for(lambda: all(conn.block_storage.find_volume(v) is None for v in ids["volumes"]),
         "volume delete: the volumes go")
print("cli-cleanup: all checks passed")
