"""Shared by the fleet verify tests (testinfra). The fleet's hosts are containers on the control
node's engine: testinfra reaches each one with `docker exec` (docker:// hosts), so the checks run ON
the monitoring host and ON each app host without depending on how the inventory's SSH settings are
templated."""
import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "tests/integration"))
from waiting import eventually as _eventually  # noqa: E402  (the one waiting loop of the tests)

ROOT = "/opt/clinical-bdd-creator"
NAME = "clinical-bdd.example.org"  # production's cbdd_server_name: the fleet uses production's group_vars
APP_HOSTS = ["fleet-app-1", "fleet-app-2", "fleet-app-3"]
ALL_HOSTS = APP_HOSTS + ["fleet-mon-1"]
# The fleet's private addresses (files/scripts/fleet, inventories/fleet/hosts.yml; each host checks
# that its inventory agrees in test_every_host.py).
PRIVATE = {"fleet-mon-1": "10.213.7.5", "fleet-app-1": "10.213.7.11", "fleet-app-2": "10.213.7.12",
           "fleet-app-3": "10.213.7.13"}


INVENTORY = Path(__file__).resolve().parents[3] / "inventories/fleet/hosts.yml"


def name_of(host):
    return host.backend.get_hostname()


def private_address(host):
    return PRIVATE[name_of(host)]


def inventory_addresses():
    """cbdd_private_address of every host in inventories/fleet/hosts.yml."""
    data = yaml.safe_load(INVENTORY.read_text())["cbdd"]["children"]
    return {name: (hvars or {}).get("cbdd_private_address")
            for group in data.values() for name, hvars in group["hosts"].items()}


def listening(host):
    """'address:port' of every listening TCP socket on the host."""
    out = host.check_output("ss -Hltn")
    return {line.split()[3] for line in out.splitlines() if line.strip()}


def running(host):
    return set(host.check_output("docker ps --format '{{.Names}}'").split())


def eventually(check, timeout=90, interval=3):
    return _eventually(check, timeout, interval)
