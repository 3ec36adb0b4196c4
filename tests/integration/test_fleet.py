"""The production-shaped fleet (inventories/fleet: three app hosts, a separate monitoring host),
deployed and verified by the molecule scenario `fleet` (make molecule runs it before these tests:
`make integration-fleet`). A rollout drops no request on any host; a no-op deploy switches nothing;
the first failed host stops a rollout and the run says which hosts are done and which still run the
old release; operations act on the hosts that run the named service; backup freshness exists per
host; bad inventories and batch sizes are refused before anything changes."""
import importlib.machinery
import importlib.util
import json
import os
import subprocess
import time

import pytest
import yaml

from conftest import REPO, Sandbox

_loader = importlib.machinery.SourceFileLoader("fleet_rollout", str(REPO / "tests/bench/fleet_rollout"))
_spec = importlib.util.spec_from_loader("fleet_rollout", _loader)
bench = importlib.util.module_from_spec(_spec)
_loader.exec_module(bench)

APP_HOSTS = ["fleet-app-1", "fleet-app-2", "fleet-app-3"]
FLEET = "inventories/fleet"


@pytest.fixture(scope="module", autouse=True)
def fleet_is_up():
    out = subprocess.run(["docker", "ps", "--format", "{{.Names}}"], capture_output=True, text=True).stdout.split()
    missing = [h for h in APP_HOSTS + ["fleet-mon-1"] if h not in out]
    if missing:
        pytest.fail("the fleet is not up (%s missing): run `make fleet` or the molecule scenario fleet first" % missing)


def served(host):
    return bench.live_version(bench.url_of(bench.APP_HOSTS[host]))


def other_version(version):
    return "1.0.0" if version == "1.1.0" else "1.1.0"


def mon():
    return Sandbox("fleet-mon-1", 0)


def prom_query(query):
    out = mon().exec("curl", "-sS", "-G", "http://127.0.0.1:9090/api/v1/query", "--data-urlencode", "query=" + query).stdout
    return json.loads(out)["data"]["result"]


def test_fleet_rollout_drops_no_request_on_any_host():
    version = other_version(served("fleet-app-1"))
    result = bench.rollout(version, batch="1")
    assert result["playbook_rc"] == 0, result["output_tail"]
    for host, summary in result["hosts"].items():
        assert summary["failures"] == 0, (host, summary)
        assert summary["requests"] >= 20, (host, summary)
    assert set(result["served_after"].values()) == {version}, result["served_after"]


def test_noop_fleet_deploy_switches_no_host(run_playbook):
    run = run_playbook("playbooks/deploy.yml", inventory=FLEET)
    assert run.rc == 0, run.stdout[-3000:]
    assert all(stats["changed"] == 0 for stats in run.recap.values()), run.recap
    switch = run.stdout.split("PLAY [Switch the application in rolling batches]", 1)[1].split("PLAY [", 1)[0]
    assert "skipping: no hosts matched" in switch, switch[:500]


def test_first_failed_host_stops_the_rollout_and_says_where_it_stands(run_playbook):
    subprocess.run([str(REPO / "files/images/build"), "app", "9.9.9-broken"], check=True, stdout=subprocess.DEVNULL,
                   env=dict(os.environ, APP_BROKEN="1"))
    before = {h: served(h) for h in APP_HOSTS}
    run = run_playbook("playbooks/deploy.yml", {"app_version": "9.9.9-broken", "app_health_deadline": 10}, inventory=FLEET)
    assert run.rc != 0
    text = " ".join(run.stdout.split())
    assert "Rollout STOPPED at fleet-app-1" in text, run.stdout[-3000:]
    assert "not started (still on their old release): fleet-app-2, fleet-app-3" in text, text[-2000:]
    assert {h: served(h) for h in APP_HOSTS} == before
    # the monitoring play did not run after the stopped rollout
    assert "PLAY [Deploy monitoring]" not in run.stdout


def test_restart_of_the_app_acts_on_the_app_hosts_only(run_playbook):
    started_mon = mon().exec("docker", "inspect", "-f", "{{.State.StartedAt}}", "cbdd-prometheus").stdout
    loops = {h: bench.RequestLoop(bench.url_of(p), workers=1) for h, p in bench.APP_HOSTS.items()}
    for loop in loops.values():
        loop.__enter__()
    run = run_playbook("playbooks/restart.yml", {"service": "app"}, inventory=FLEET)
    for loop in loops.values():
        loop.__exit__(None, None, None)
    assert run.rc == 0, run.stdout[-3000:]
    assert set(run.recap) == set(APP_HOSTS) | {"fleet-mon-1"}  # mon is in the selection play only
    restart = run.stdout.split("PLAY [Restart a Clinical BDD Creator service]", 1)[1].split("PLAY RECAP", 1)[0]
    assert "fleet-mon-1" not in restart
    for host, loop in loops.items():
        assert loop.summary()["failures"] == 0, (host, loop.summary())
    assert mon().exec("docker", "inspect", "-f", "{{.State.StartedAt}}", "cbdd-prometheus").stdout == started_mon
    logs = run_playbook("playbooks/logs.yml", {"service": "app", "lines": 5}, inventory=FLEET)
    assert logs.rc == 0, logs.stdout[-3000:]


def test_backup_freshness_is_scraped_per_app_host(run_playbook):
    run = run_playbook("playbooks/backup.yml", inventory=FLEET)
    assert run.rc == 0, run.stdout[-3000:]
    deadline = time.monotonic() + 90
    while True:
        hosts = sorted(r["metric"]["cbdd_host"] for r in prom_query("cbdd_backup_last_success_timestamp_seconds"))
        if hosts == APP_HOSTS or time.monotonic() > deadline:
            break
        time.sleep(3)
    assert hosts == APP_HOSTS


def fleet_copy(tmp_path, change):
    """A copy of inventories/fleet with its hosts.yml changed by change(dict) (same group_vars)."""
    inv = tmp_path / "fleet"
    inv.mkdir()
    hosts = yaml.safe_load((REPO / FLEET / "hosts.yml").read_text())
    change(hosts)
    (inv / "hosts.yml").write_text(yaml.safe_dump(hosts))
    (inv / "group_vars").symlink_to(REPO / FLEET / "group_vars")
    return str(inv)


def monitoring_outside_cbdd(hosts):
    hosts["monitoring"] = hosts["cbdd"]["children"].pop("monitoring")


def no_app_servers(hosts):
    hosts["cbdd"]["children"]["app_servers"]["hosts"] = {}


def bad_private_address(hosts):
    hosts["cbdd"]["children"]["app_servers"]["hosts"]["fleet-app-2"]["cbdd_private_address"] = "app-2.internal"


@pytest.mark.parametrize("change, named", [
    (monitoring_outside_cbdd, "missing from cbdd: ['fleet-mon-1']"),
    (no_app_servers, "app_servers (got [])"),
    (bad_private_address, "cbdd_private_address of fleet-app-2"),
])
def test_a_bad_inventory_is_refused_before_anything_changes(run_playbook, tmp_path, change, named):
    before = Sandbox("fleet-app-1", 0).fingerprint()
    run = run_playbook("playbooks/deploy.yml", {"app_version": "1.0.0"}, inventory=fleet_copy(tmp_path, change))
    assert run.rc != 0
    assert named in " ".join(run.stdout.split()), run.stdout[-2000:]
    assert "PLAY [Prepare the hosts" not in run.stdout  # refused in the first play, no host touched
    assert Sandbox("fleet-app-1", 0).fingerprint() == before


def test_monitoring_inputs_are_checked_on_the_monitoring_hosts_and_stop_every_host(run_playbook):
    """The monitoring roles' inputs (cbdd_role_groups) are checked where those roles run, the
    monitoring host, still in the first play: a bad one stops the whole run, no host touched."""
    before = Sandbox("fleet-app-1", 0).fingerprint()
    run = run_playbook("playbooks/deploy.yml", {"grafana_admin_password": "admin"}, inventory=FLEET)
    assert run.rc != 0
    assert "fatal: [fleet-mon-1]" in run.stdout and "grafana_admin_password is unset, shorter than 12" in run.stdout
    assert "fatal: [fleet-app-" not in run.stdout  # the app hosts do not check what they never run
    assert "PLAY [Prepare the hosts" not in run.stdout  # refused in the first play, no host touched
    assert Sandbox("fleet-app-1", 0).fingerprint() == before


@pytest.mark.parametrize("batch", ["0", "150%", "abc", "-1", "0%"])
def test_a_bad_batch_size_is_refused_before_anything_changes(run_playbook, batch):
    before = Sandbox("fleet-app-1", 0).fingerprint()
    run = run_playbook("playbooks/deploy.yml", {"cbdd_rolling_batch": batch}, inventory=FLEET)
    assert run.rc != 0
    assert "cbdd_rolling_batch must be a number of hosts >= 1 or a percentage 1%%-100%% (got '%s')" % batch in run.stdout
    assert "PLAY [Prepare the hosts" not in run.stdout  # refused in the first play, no host touched
    assert Sandbox("fleet-app-1", 0).fingerprint() == before
