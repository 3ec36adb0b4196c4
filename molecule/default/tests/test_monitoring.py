"""Monitoring on the molecule target (issue #5): Prometheus ready, the app target up with a 5 s
interval, every shipped rule group loaded, node exporter up, Grafana (TEST STAND-IN image) healthy
and not anonymous. Reload/bad-rule behaviour: tests/integration/test_monitoring.py."""
import json
import os
import time

# The sandbox host is a container on the control node's engine: testinfra runs the checks in it
# (as root) with `docker exec`, like the fleet scenario (CBDD_SANDBOX names another sandbox).
testinfra_hosts = ["docker://" + os.environ.get("CBDD_SANDBOX", "cbdd-sandbox")]

RULE_GROUPS = {"cbdd-recording", "cbdd-availability", "cbdd-degradation", "cbdd-infrastructure"}


def api(host, path):
    return json.loads(host.check_output("curl -sS --max-time 10 http://127.0.0.1:9090%s", path))


def code(host, url):
    return host.check_output("curl -sS -o /dev/null -w '%%{http_code}' --max-time 10 %s", url)


def test_monitoring_containers_running(host):
    for name in ("cbdd-prometheus", "cbdd-node-exporter", "cbdd-grafana"):
        assert host.check_output("docker inspect -f '{{.State.Status}}' %s", name) == "running", name


def test_prometheus_ready(host):
    assert code(host, "http://127.0.0.1:9090/-/ready") == "200"


def test_app_target_up_every_5s(host):
    deadline = time.monotonic() + 60
    while True:
        targets = api(host, "/api/v1/targets")["data"]["activeTargets"]
        by_job = {t["labels"]["job"]: t for t in targets}
        app = by_job.get("clinical-bdd-creator")
        if app and app["health"] == "up" and by_job.get("node", {}).get("health") == "up":
            break
        assert time.monotonic() < deadline, targets
        time.sleep(2)
    assert app["scrapeInterval"] == "5s"
    # The app's metrics through nginx's metrics listener, which follows the live blue/green slot
    # (on one all-in-one host Prometheus reaches it by container name on the shared network).
    assert app["scrapeUrl"] == "http://cbdd-nginx:8000/metrics"
    assert by_job["prometheus"]["scrapeInterval"] == "15s"


def test_all_rule_groups_loaded(host):
    groups = api(host, "/api/v1/rules")["data"]["groups"]
    assert {g["name"] for g in groups} == RULE_GROUPS
    alerts = [r for g in groups for r in g["rules"] if r["type"] == "alerting"]
    assert alerts and all(r["labels"]["severity"] in ("L1", "L2", "L3") for r in alerts)


def test_grafana_health_and_no_anonymous_access(host):
    assert code(host, "http://127.0.0.1:3001/api/health") == "200"
    assert code(host, "http://127.0.0.1:3001/api/datasources") == "401"


def test_monitoring_published_on_loopback_only(host):
    assert host.check_output("docker port cbdd-prometheus 9090/tcp") == "127.0.0.1:9090"
    assert host.check_output("docker port cbdd-grafana 3000/tcp") == "127.0.0.1:3001"
