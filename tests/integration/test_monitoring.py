"""Monitoring on the sandbox (issue #5): Prometheus ready with the app target up every 5 s and every
rule group loaded, Grafana (TEST STAND-IN image locally) healthy and locked, dashboard queries run
on the live Prometheus, rule changes applied by reload (no restart), a bad rule fails the play
while the old rules keep serving.

Rule-change runs use `ansible-playbook playbooks/deploy.yml --tags monitoring` (only the
"Deploy monitoring" play) with prometheus_rule_files pointing at a modified copy; the last test
re-applies the shipped rules and checks that run changes nothing else."""
import base64
import json
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml

from conftest import REPO
from waiting import eventually

RULES = REPO / "roles/prometheus/files/rules/cbdd-alerts.yml"
LIVE_RULES = "/opt/clinical-bdd-creator/monitoring/prometheus/config/rules/cbdd-alerts.yml"
DASHBOARD = REPO / "roles/grafana/files/dashboards/clinical-bdd-creator.json"
PASSWORD_FILE = Path.home() / ".cache/cbdd-ops/grafana-admin-password"
MONITORING = ["--tags", "monitoring"]


def prom(sandbox, path):
    """GET a Prometheus API path from the sandbox host (Prometheus listens on its 127.0.0.1:9090)."""
    out = sandbox.exec("curl", "-sS", "--max-time", "10", "http://127.0.0.1:9090" + path).stdout
    return json.loads(out)


def status(sandbox, url, *curl_args):
    return sandbox.exec("curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "10",
                        *curl_args, url).stdout.strip()


def started_at(sandbox, name="cbdd-prometheus"):
    return sandbox.exec("docker", "inspect", "-f", "{{.Id}} {{.State.StartedAt}} {{.RestartCount}}", name).stdout.strip()


def loaded_rules(sandbox):
    return {rule["name"]: rule for group in prom(sandbox, "/api/v1/rules")["data"]["groups"]
            for rule in group["rules"]}



def test_prometheus_ready(sandbox):
    assert status(sandbox, "http://127.0.0.1:9090/-/ready") == "200"


def test_monitoring_ports_bound_to_loopback_only(sandbox):
    assert sandbox.exec("docker", "port", "cbdd-prometheus", "9090/tcp").stdout.split() == ["127.0.0.1:9090"]
    assert sandbox.exec("docker", "port", "cbdd-grafana", "3000/tcp").stdout.split() == ["127.0.0.1:3001"]


def test_app_target_up_every_5s(sandbox):
    def check():
        targets = [t for t in prom(sandbox, "/api/v1/targets")["data"]["activeTargets"]
                   if t["labels"]["job"] == "clinical-bdd-creator"]
        assert targets, "no clinical-bdd-creator target"
        for target in targets:
            assert target["health"] == "up", target
            assert target["scrapeInterval"] == "5s", target
            assert target["scrapeUrl"].endswith(":8000/metrics"), target
        others = {t["labels"]["job"]: t for t in prom(sandbox, "/api/v1/targets")["data"]["activeTargets"]}
        assert others["prometheus"]["scrapeInterval"] == "15s"
        assert others["node"]["health"] == "up", others["node"]
    eventually(check)


def test_every_rule_group_loaded(sandbox):
    shipped = yaml.safe_load(RULES.read_text())["groups"]
    groups = {g["name"]: g for g in prom(sandbox, "/api/v1/rules")["data"]["groups"]}
    assert set(groups) == {g["name"] for g in shipped}
    for group in shipped:
        assert len(groups[group["name"]]["rules"]) == len(group["rules"]), group["name"]
    assert prom(sandbox, "/api/v1/query?query=prometheus_config_last_reload_successful")["data"]["result"][0]["value"][1] == "1"


def test_certificate_days_left_exported(sandbox):
    def check():
        # Read by the blackbox exporter's probe (job cbdd-certificate; tests/integration/test_alerting.py).
        result = prom(sandbox, "/api/v1/query?query=" + urllib.request.quote(
            '(probe_ssl_earliest_cert_expiry{job="cbdd-certificate"}-time())/86400'))["data"]["result"]
        assert result, "no certificate expiry metric"
        days = float(result[0]["value"][1])
        # nginx_ssl's self-signed certificate: 365 days
        assert 300 < days < 366, days
    eventually(check)


def test_dashboard_queries_run_on_live_prometheus(sandbox):
    board = json.loads(DASHBOARD.read_text())
    for panel in board["panels"]:
        for target in panel["targets"]:
            expr = target["expr"].replace("$__rate_interval", "1m")
            answer = prom(sandbox, "/api/v1/query?query=" + urllib.request.quote(expr))
            assert answer["status"] == "success", (panel["title"], expr, answer)
    up = prom(sandbox, "/api/v1/query?query=" + urllib.request.quote('up{job="clinical-bdd-creator"}'))
    assert [r["value"][1] for r in up["data"]["result"]] == ["1"]


def test_grafana_healthy_and_not_anonymous(sandbox):
    assert status(sandbox, "http://127.0.0.1:3001/api/health") == "200"
    assert status(sandbox, "http://127.0.0.1:3001/api/datasources") == "401"
    assert status(sandbox, "http://127.0.0.1:3001/api/datasources", "-u", "admin:admin") == "401"
    password = PASSWORD_FILE.read_text().strip()
    token = base64.b64encode(("admin:" + password).encode()).decode()
    out = sandbox.exec("curl", "-sS", "--max-time", "10", "-H", "Authorization: Basic " + token,
                       "http://127.0.0.1:3001/api/datasources").stdout
    sources = json.loads(out)
    assert [(s["uid"], s["url"]) for s in sources] == [("cbdd-prometheus", "http://cbdd-prometheus:9090")]
    out = sandbox.exec("curl", "-sS", "--max-time", "10", "-H", "Authorization: Basic " + token,
                       "http://127.0.0.1:3001/api/search").stdout
    assert "clinical-bdd-creator" in [d["uid"] for d in json.loads(out)]


def test_grafana_password_not_in_container_environment(sandbox):
    env = sandbox.exec("docker", "inspect", "-f", "{{json .Config.Env}}", "cbdd-grafana").stdout
    assert PASSWORD_FILE.read_text().strip() not in env
    assert "GF_SECURITY_ADMIN_PASSWORD__FILE=/etc/grafana/secrets/admin_password" in env
    assert "GF_AUTH_ANONYMOUS_ENABLED=false" in env


def test_changed_rule_is_reloaded_without_restart(sandbox, run_playbook, tmp_path):
    before = started_at(sandbox)
    doc = yaml.safe_load(RULES.read_text())
    doc["groups"][1]["rules"].append({
        "alert": "CbddIntegrationProbe", "expr": "vector(1) == 0",
        "labels": {"severity": "L1"}, "annotations": {"summary": "added by test_monitoring"}})
    changed = tmp_path / "cbdd-alerts.yml"
    changed.write_text(yaml.safe_dump(doc, sort_keys=False))
    run = run_playbook("playbooks/deploy.yml", {"prometheus_rule_files": [str(changed)]}, extra_args=MONITORING)
    assert run.rc == 0, run.stdout[-3000:]
    assert "RUNNING HANDLER [prometheus : Reload Prometheus]" in run.stdout
    assert "Run the Prometheus container" in run.stdout
    assert run.recap["sandbox"]["changed"] >= 2, run.recap  # rule file + reload
    assert "CbddIntegrationProbe" in loaded_rules(sandbox)
    assert started_at(sandbox) == before, "Prometheus was restarted instead of reloaded"


def test_bad_rule_fails_the_play_and_old_rules_keep_serving(sandbox, run_playbook, tmp_path):
    before = started_at(sandbox)
    live_before = sandbox.exec("sha256sum", LIVE_RULES).stdout
    rules_before = set(loaded_rules(sandbox))
    bad = tmp_path / "cbdd-alerts.yml"
    bad.write_text(RULES.read_text().replace("expr: up{job=\"clinical-bdd-creator\"} == 0",
                                             "expr: up{job=\"clinical-bdd-creator\"} == == 0", 1))
    assert bad.read_text() != RULES.read_text()
    run = run_playbook("playbooks/deploy.yml", {"prometheus_rule_files": [str(bad)]}, extra_args=MONITORING)
    assert run.rc != 0
    assert "Write the alert rule files" in run.stdout
    assert "failed to validate" in run.stdout, run.stdout[-3000:]
    assert "RUNNING HANDLER [prometheus : Reload Prometheus]" not in run.stdout
    assert sandbox.exec("sha256sum", LIVE_RULES).stdout == live_before
    assert set(loaded_rules(sandbox)) == rules_before
    assert status(sandbox, "http://127.0.0.1:9090/-/ready") == "200"
    assert started_at(sandbox) == before


def test_shipped_rules_restored_and_rerun_is_idempotent(sandbox, run_playbook):
    run = run_playbook("playbooks/deploy.yml", extra_args=MONITORING)
    assert run.rc == 0, run.stdout[-3000:]
    assert "CbddIntegrationProbe" not in loaded_rules(sandbox)
    assert set(loaded_rules(sandbox)) >= {"CbddAppDown", "CbddCertificateExpiringSoon"}
    again = run_playbook("playbooks/deploy.yml", extra_args=MONITORING)
    assert again.rc == 0, again.stdout[-3000:]
    assert again.recap["sandbox"]["changed"] == 0, again.recap
