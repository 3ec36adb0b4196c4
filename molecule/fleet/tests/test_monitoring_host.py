"""The fleet's monitoring host (testinfra): it runs Prometheus and Grafana but no app, reaches every
app host's metrics and node exporter over the private network, and Prometheus scrapes every host
with host and environment labels."""
import json

from fleet_common import ALL_HOSTS, APP_HOSTS, PRIVATE, eventually, running

testinfra_hosts = ["docker://fleet-mon-1"]


def test_monitoring_host_runs_monitoring_and_no_app(host):
    names = running(host)
    assert {"cbdd-prometheus", "cbdd-grafana"} <= names
    assert not [n for n in names if n.startswith("clinical-bdd-creator") or n == "cbdd-nginx"], names
    assert not host.file("/etc/systemd/system/cbdd-backup.timer").exists


def test_reaches_every_app_hosts_metrics_over_the_private_network(host):
    for app in APP_HOSTS:
        address = PRIVATE[app]
        assert "http_requests_total" in host.check_output("curl -sS --max-time 5 http://%s:8000/metrics", address), app
        assert "node_filesystem_avail_bytes" in host.check_output("curl -sS --max-time 5 http://%s:9100/metrics", address), app


def test_prometheus_scrapes_every_host_with_host_and_environment_labels(host):
    def check():
        targets = json.loads(host.check_output("curl -sS http://127.0.0.1:9090/api/v1/targets"))["data"]["activeTargets"]
        by_job = {}
        for target in targets:
            by_job.setdefault(target["labels"]["job"], []).append(target)
        app = by_job.get("clinical-bdd-creator", [])
        assert sorted(t["labels"]["cbdd_host"] for t in app) == APP_HOSTS, app
        node = by_job.get("node", [])
        assert sorted(t["labels"]["cbdd_host"] for t in node) == sorted(ALL_HOSTS), node
        for target in app + node:
            assert target["health"] == "up", target
            assert target["labels"]["environment"] == "fleet", target
    eventually(check)


def test_disk_metrics_exist_per_host(host):
    def check():
        out = json.loads(host.check_output("curl -sS -G http://127.0.0.1:9090/api/v1/query --data-urlencode %s",
                                           "query=count by (cbdd_host) (node_filesystem_avail_bytes)"))
        assert sorted(r["metric"]["cbdd_host"] for r in out["data"]["result"]) == sorted(ALL_HOSTS), out
    eventually(check)


def test_the_user_path_of_every_app_host_is_probed_with_its_certificate_verified(host):
    """The blackbox exporter on the monitoring host reaches each app host's https://<private address>/health
    through its nginx, verifying the certificate with the bundle of the app hosts' certificates."""
    def check():
        out = json.loads(host.check_output("curl -sS -G http://127.0.0.1:9090/api/v1/query --data-urlencode %s",
                                           'query=probe_success{job="cbdd-user-path"}'))
        results = {r["metric"]["cbdd_host"]: r["value"][1] for r in out["data"]["result"]}
        assert results == {app: "1" for app in APP_HOSTS}, out
    eventually(check)
    bundle = host.file("/opt/clinical-bdd-creator/monitoring/blackbox/ca/trusted.pem")
    assert bundle.content_string.count("BEGIN CERTIFICATE") == len(APP_HOSTS)
