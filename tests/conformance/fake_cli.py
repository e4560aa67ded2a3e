"""openstackclient conformance: the `openstack` commands R4 ran (and the benchmarks time)
work against the fake and give the expected output.

Expects the fake seeded with `demo`, capi-c1-node-0..4, and LB
k8s-clusterapi-cluster-default-c2-kubeapi with a listener.
"""
import hashlib
import os
import tempfile

from fake_common import check, cli, cli_json, connect

conn = connect()

# cilium security group and rules, as enable-cilium-sg.sh
sg = cli_json("security", "group", "create", "capi-c1-cilium")
for proto, port in (("udp", 8472), ("tcp", 4240), ("tcp", 4244)):
    cli("security", "group", "rule", "create", "--ingress", "--ethertype", "IPv4", "--proto", proto,
        "--dst-port", f"{port}:{port}", "--remote-group", sg["id"], sg["id"])
rc, out, err = cli("security", "group", "rule", "create", "--ingress", "--ethertype", "IPv4", "--proto", "udp",
                   "--dst-port", "8472:8472", "--remote-group", sg["id"], sg["id"], expect_rc=1)
check("ConflictException" in err and "Security group rule already exists" in err, "duplicate rule: CLI exits 1 with the 409", err)
rules = cli_json("security", "group", "rule", "list", sg["id"])
check(len(rules) == 5, "security group rule list", len(rules))

# server groups, as create_cluster.sh
sg1 = cli_json("--os-compute-api-version", "2.15", "server", "group", "create", "--policy", "anti-affinity",
               "capi-c1-controller")
sg2 = cli_json("server", "group", "create", "--policy", "soft-anti-affinity", "--os-compute-api-version", "2.15",
               "capi-c1-worker")
check(sg2.get("policies") == ["soft-anti-affinity"] or sg2.get("policy") == "soft-anti-affinity",
      "server group create --policy soft-anti-affinity at 2.15", sg2)
_, out, _ = cli("server", "group", "list", "-f", "value", "-c", "Name")
check({"capi-c1-controller", "capi-c1-worker"} <= set(out.split("\n")), "server group list -f value", out)
cli("server", "group", "delete", "capi-c1-worker", "capi-c1-controller")
check(not any(g.name.startswith("capi-c1-") for g in conn.compute.server_groups()), "server group delete by name")

# images
imgs = cli_json("image", "list")
check([i["Name"] for i in imgs] == ["Ubuntu 22.04"], "image list -f json", imgs)
check(cli_json("image", "list", "--name", "Ubuntu 22.04")[0]["Status"] == "active", "image list --name")
data = os.urandom(1024 * 1024)
with tempfile.NamedTemporaryFile(suffix=".raw", delete=False) as f:
    f.write(data)
cli("image", "create", "--disk-format", "raw", "--container-format", "bare", "--min-ram", "1024",
    "--min-disk", "5", "--property", "os_distro=ubuntu", "--property", "hw_rng_model=virtio",
    "--tag", "managed_by_osism", "--file", f.name, "conf-cli-image")
shown = cli_json("image", "show", "conf-cli-image")
check(shown["status"] == "active" and shown["checksum"] == hashlib.md5(data).hexdigest(),
      "image create --file -> active with the checksum", shown)
check(shown["min_disk"] == 5 and "managed_by_osism" in shown["tags"], "min_disk and tag", shown)
os.unlink(f.name)

# networks, servers, ports, floating IPs
nets = cli_json("network", "list", "--external")
check([n["Name"] for n in nets] == ["public"], "network list --external", nets)
srv = cli_json("server", "list", "--name", "capi-mgmtcluster", "-c", "Networks")
check(len(srv) == 1 and "172.24.4." in str(srv[0]["Networks"]), "server list --name ... -c Networks shows the FIP", srv)
check(len(cli_json("server", "list", "--name", "capi-c1-")) == 5, "server list --name (regex)")
cli("server", "delete", "--wait", "capi-c1-node-0")
check(len(cli_json("server", "list", "--name", "capi-c1-")) == 4, "server delete --wait")
ports = cli_json("port", "list", "--device-owner", "compute:nova")
check(len(ports) == 5, "port list --device-owner", len(ports))
fips = cli_json("floating", "ip", "list")
check(len(fips) == 1, "floating ip list", fips)

# load balancers, as cleanup.sh
lbs = cli_json("loadbalancer", "list")
check([x["name"] for x in lbs] == ["k8s-clusterapi-cluster-default-c2-kubeapi"], "loadbalancer list", lbs)
provs = cli_json("loadbalancer", "provider", "list")
check(sorted(p["name"] for p in provs) == ["amphora", "octavia"], "loadbalancer provider list", provs)
cli("loadbalancer", "delete", "--cascade", "--wait", "k8s-clusterapi-cluster-default-c2-kubeapi")
check(cli_json("loadbalancer", "list") == [], "loadbalancer delete --cascade --wait")
cli("security", "group", "delete", "capi-c1-cilium")
print("cli: all checks passed")
