"""Every fleet host (testinfra): the node exporter is published on the host's private address only."""
from fleet_common import PRIVATE, inventory_addresses, listening, name_of, private_address, running

testinfra_hosts = ["docker://fleet-app-1", "docker://fleet-app-2", "docker://fleet-app-3", "docker://fleet-mon-1"]


def test_node_exporter_runs_on_every_host(host):
    assert "cbdd-node-exporter" in running(host)


def test_node_exporter_is_published_on_the_private_address_only(host):
    sockets = listening(host)
    assert "%s:9100" % private_address(host) in sockets, sockets
    assert not {"0.0.0.0:9100", "*:9100", "[::]:9100"} & sockets, sockets


def test_the_inventory_names_the_hosts_private_address(host):
    name = name_of(host)
    assert inventory_addresses()[name] == PRIVATE[name]
    assert " %s/" % PRIVATE[name] in host.check_output("ip -4 -o addr show")
