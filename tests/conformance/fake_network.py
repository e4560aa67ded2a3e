"""Neutron conformance: external network detection, networks/subnets/routers/ports,
floating IPs and their filters, security groups and rules (409 on duplicates), pagination,
tags, the deletion order Neutron enforces, error bodies.

Expects the fake seeded with `demo` (external network `public`, capi-mgmtcluster + FIP).
Everything it creates is named or described `conf-...` and deleted again.
"""
import openstack.exceptions as exc

from fake_common import check, connect, expect, ok

conn = connect()
n = conn.network

# external network auto-detection
ext = list(n.networks(is_router_external=True))
check([x.name for x in ext] == ["public"], "exactly one external network", [x.name for x in ext])
ext = ext[0]
check(n.find_network("public").is_router_external, "find_network by name")

# topology as CAPO builds it
net = n.create_network(name="conf-net")
sub = n.create_subnet(name="conf-net", network_id=net.id, cidr="10.8.0.0/20", ip_version=4)
check(sub.gateway_ip == "10.8.0.1", "subnet gateway", sub.gateway_ip)
rtr = n.create_router(name="conf-rtr", external_gateway_info={"network_id": ext.id})
check(rtr.external_gateway_info["network_id"] == ext.id, "router gateway on the external network")
n.add_interface_to_router(rtr, subnet_id=sub.id)
ifaces = list(n.ports(device_id=rtr.id, device_owner="network:router_interface"))
check(len(ifaces) == 1 and ifaces[0].fixed_ips[0]["ip_address"] == "10.8.0.1",
      "router interface port (filters device_id + device_owner)", ifaces)

ports = [n.create_port(network_id=net.id, name=f"conf-port-{i}") for i in range(7)]
check(len(list(n.ports(network_id=net.id))) == 8, "ports filter network_id")
check([p.id for p in n.ports(name="conf-port-3")] == [ports[3].id], "ports filter name")
paged = list(n.ports(network_id=net.id, limit=3))
check(len(paged) == 8 and len({p.id for p in paged}) == 8, "pagination (limit=3) yields all ports once", len(paged))
raw = n.get("/ports?limit=3").json()
check(any(link["rel"] == "next" for link in raw.get("ports_links", [])), "ports_links rel=next", raw.get("ports_links"))

# floating IPs
fip = n.create_ip(floating_network_id=ext.id, port_id=ports[0].id, description="conf-fip")
check(fip.status == "ACTIVE" and fip.fixed_ip_address == ports[0].fixed_ips[0]["ip_address"],
      "FIP associated", fip)
check(fip.router_id == rtr.id, "FIP router_id is the subnet's router", fip.router_id)
check([f.id for f in n.ips(port_id=ports[0].id)] == [fip.id], "ips filter port_id")
check([f.id for f in n.ips(description="conf-fip")] == [fip.id], "ips filter description")
check([f.id for f in n.ips(floating_ip_address=fip.floating_ip_address)] == [fip.id], "ips filter floating_ip_address")
mgmt_fips = [f for f in n.ips() if f.description == "capi-mgmtcluster"]
check(len(mgmt_fips) == 1 and mgmt_fips[0].status == "ACTIVE", "the mgmt server's FIP")
expect(exc.BadRequestException, lambda: n.create_ip(floating_network_id=net.id), "FIP on an internal network -> 400")

# security groups and rules
sg = n.create_security_group(name="conf-cilium", description="conf")
check(len(sg.security_group_rules) == 2 and all(r["direction"] == "egress" for r in sg.security_group_rules),
      "new group has the two default egress rules", sg.security_group_rules)
for proto, port in (("udp", 8472), ("tcp", 4240), ("tcp", 4244)):
    n.create_security_group_rule(security_group_id=sg.id, direction="ingress", ethertype="IPv4",
                                 protocol=proto, port_range_min=port, port_range_max=port,
                                 remote_group_id=sg.id)
ok("three cilium rules")
e = expect(exc.ConflictException, lambda: n.create_security_group_rule(
    security_group_id=sg.id, direction="ingress", ethertype="IPv4", protocol="udp",
    port_range_min=8472, port_range_max=8472, remote_group_id=sg.id), "duplicate rule -> 409")
err = e.response.json()["NeutronError"]
check(err["type"] == "SecurityGroupRuleExists" and err["detail"] == "", "NeutronError body", err)
check("Security group rule already exists" in str(e), "message passed through", str(e))
check(len(list(n.security_group_rules(security_group_id=sg.id))) == 5, "rules filter security_group_id")
check(len(n.get_security_group(sg.id).security_group_rules) == 5, "group lists its rules")
expect(exc.BadRequestException, lambda: n.create_security_group_rule(
    security_group_id=sg.id, direction="ingress", protocol="tcp", port_range_min=10, port_range_max=5),
    "min > max -> 400")
expect(exc.BadRequestException, lambda: n.create_security_group_rule(
    security_group_id=sg.id, direction="ingress", remote_ip_prefix="10.0.0.0/8", remote_group_id=sg.id),
    "remote_ip_prefix and remote_group_id -> 400")
check(n.find_security_group("conf-cilium").id == sg.id, "find_security_group by name")

# tags
n.set_tags(sg, ["conf-a", "conf-b"])
check(sorted(n.get_security_group(sg.id).tags) == ["conf-a", "conf-b"], "set_tags")
check([g.id for g in n.security_groups(tags="conf-a")] == [sg.id], "filter tags")

# errors and deletion order
e = expect(exc.NotFoundException, lambda: n.get_network("00000000-0000-0000-0000-000000000000"), "missing network -> 404")
check(e.response.json()["NeutronError"]["type"] == "NetworkNotFound", "404 NeutronError type")
n.update_port(ports[1], device_id="x", device_owner="compute:nova", security_groups=[sg.id])
expect(exc.ConflictException, lambda: n.delete_security_group(sg), "group in use -> 409")
expect(exc.ConflictException, lambda: n.delete_router(rtr), "router with interface -> 409")
expect(exc.ConflictException, lambda: n.delete_network(net), "network with ports -> 409")
expect(exc.ConflictException, lambda: n.delete_port(ifaces[0]), "router interface port via the port API -> 409")
for p in ports:
    n.delete_port(p)
check(n.get_ip(fip.id).status == "DOWN" and n.get_ip(fip.id).port_id is None, "FIP disassociated when its port goes")
expect(exc.ConflictException, lambda: n.delete_subnet(sub), "subnet with router interface -> 409")
n.remove_interface_from_router(rtr, subnet_id=sub.id)
e = expect(exc.NotFoundException, lambda: n.remove_interface_from_router(rtr, subnet_id=sub.id),
           "removing it twice -> 404")
n.delete_ip(fip)
n.delete_security_group(sg)
check(not list(n.security_group_rules(security_group_id=sg.id)), "rules went with the group")
n.delete_subnet(sub)
n.delete_network(net)
n.delete_router(rtr)
check(n.find_network("conf-net") is None and n.find_router("conf-rtr") is None, "everything deleted")
check(n.delete_network(net.id, ignore_missing=True) is None, "delete ignore_missing")
print("network: all checks passed")
