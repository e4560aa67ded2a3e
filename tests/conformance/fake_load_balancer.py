"""Octavia conformance: providers, LB create PENDING_CREATE -> ACTIVE, listeners with
allowed_cidrs, filters (name, vip_port_id), delete without cascade refused while it has
listeners, cascade delete PENDING_DELETE -> gone (with the VIP port), immutability, and
the OCCM-LB cleanup pattern (its floating IP first).

Expects: ovn enabled; LBs kube_service_c1_ingress-nginx_ingress-nginx-controller (with a
FIP described conf-lb-fip) and k8s-clusterapi-cluster-default-c1-kubeapi (listener 6443
with allowed_cidrs), both on network k8s-clusterapi-cluster-default-c1.
"""
import openstack.exceptions as exc

from fake_common import check, connect, expect, ok

conn = connect()
lb = conn.load_balancer

providers = sorted(p.name for p in lb.providers())
check(providers == ["amphora", "octavia", "ovn"], "providers incl. ovn", providers)

api = lb.find_load_balancer("k8s-clusterapi-cluster-default-c1-kubeapi", ignore_missing=False)
listeners = list(lb.listeners(load_balancer_id=api.id))
check(len(listeners) == 1 and listeners[0].protocol_port == 6443, "listener of the kube-API LB")
check(listeners[0].allowed_cidrs == ["10.0.0.0/8", "172.24.4.10/32"], "allowed_cidrs readable",
      listeners[0].allowed_cidrs)

# create
sub = conn.network.find_subnet("k8s-clusterapi-cluster-default-c1", ignore_missing=False)
new = lb.create_load_balancer(name="conf-lb", vip_subnet_id=sub.id, provider="ovn")
check(new.provisioning_status == "PENDING_CREATE", "new LB is PENDING_CREATE", new.provisioning_status)
expect(exc.ConflictException, lambda: lb.delete_load_balancer(new), "PENDING_* LB is immutable -> 409")
new = lb.wait_for_load_balancer(new.id, status="ACTIVE", interval=0.05, wait=10)
check(new.provisioning_status == "ACTIVE" and new.vip_address, "-> ACTIVE with a VIP", new.vip_address)
vip = conn.network.get_port(new.vip_port_id)
check(vip.device_owner == "Octavia", "VIP port in Neutron")
check([x.id for x in lb.load_balancers(vip_port_id=new.vip_port_id)] == [new.id], "filter vip_port_id")
check([x.id for x in lb.load_balancers(name="conf-lb")] == [new.id], "filter name")
li = lb.create_listener(name="conf-l", load_balancer_id=new.id, protocol="TCP", protocol_port=6443,
                        allowed_cidrs=["192.0.2.0/24"])
check(lb.get_listener(li.id).allowed_cidrs == ["192.0.2.0/24"], "listener create with allowed_cidrs")
check(lb.get_load_balancer(new.id).provisioning_status == "PENDING_UPDATE", "LB PENDING_UPDATE after listener create")
lb.wait_for_load_balancer(new.id, status="ACTIVE", interval=0.05, wait=10)
expect(exc.BadRequestException, lambda: lb.delete_load_balancer(new), "delete with listeners, no cascade -> 400")
lb.delete_load_balancer(new, cascade=True)
check(lb.get_load_balancer(new.id).provisioning_status == "PENDING_DELETE", "cascade delete -> PENDING_DELETE")
lb.wait_for_delete(lb.get_load_balancer(new.id), interval=0.05, wait=10)
ok("LB gone after PENDING_DELETE")
check(lb.find_listener("conf-l") is None, "its listener went with it")
expect(exc.NotFoundException, lambda: conn.network.get_port(new.vip_port_id), "its VIP port went with it")
e = expect(exc.NotFoundException, lambda: lb.get_load_balancer(new.id), "deleted LB -> 404")
check("not found" in str(e), "Octavia faultstring passed through", str(e))

# OCCM LB cleanup as scs-capi does it: FIP of the VIP, then cascade delete
occm = [x for x in lb.load_balancers() if x.name.startswith("kube_service_c1_")]
check(len(occm) == 1, "OCCM LB by name prefix")
fips = list(conn.network.ips(port_id=occm[0].vip_port_id))
check(len(fips) == 1 and fips[0].description == "conf-lb-fip", "the OCCM LB's floating IP by port_id")
conn.network.delete_ip(fips[0])
for x in [occm[0], api]:
    lb.delete_load_balancer(x, cascade=True)
for x in [occm[0], api]:
    lb.wait_for_delete(x, interval=0.05, wait=10)
check(not list(lb.load_balancers()), "no load balancers left")
print("load-balancer: all checks passed")
