"""Grafana dashboards shipped with the grafana role: valid JSON, the uid the role expects, every
panel's datasource is the provisioned Prometheus datasource, and every PromQL query is accepted by
promtool (the real PromQL parser of Prometheus 2.42: each query becomes a recording rule and goes
through `promtool check rules`). Grafana's own variables are replaced by values first.

The queries are also run against the live Prometheus in tests/integration/test_monitoring.py."""
import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
IMAGE = "local/cbdd-prometheus:bookworm"
DASHBOARDS = sorted((REPO / "roles/grafana/files/dashboards").glob("*.json"))
GRAFANA_DEFAULTS = yaml.safe_load((REPO / "roles/grafana/defaults/main.yml").read_text())
# Grafana's global variables and a value for each.
GRAFANA_VARS = {"$__rate_interval": "1m", "$__interval": "15s", "$__range": "6h", "${__range}": "6h"}


def panels(board):
    for panel in board.get("panels", []):
        yield panel
        yield from panel.get("panels", [])  # rows


def queries(board):
    for panel in panels(board):
        for target in panel.get("targets", []):
            yield panel, target


def substitute(expr):
    for name, value in sorted(GRAFANA_VARS.items(), key=lambda item: -len(item[0])):
        expr = expr.replace(name, value)
    return expr


@pytest.fixture(scope="session")
def check_queries(tmp_path_factory):
    """check_queries([expr, ...]) -> CompletedProcess of promtool check rules over them."""
    if subprocess.run(["docker", "image", "inspect", IMAGE], capture_output=True).returncode != 0:
        subprocess.run([str(REPO / "files/images/build"), "all"], check=True)

    def run(exprs):
        folder = tmp_path_factory.mktemp("queries")
        rules = [{"record": "cbdd_dashboard:query_%d" % index, "expr": expr} for index, expr in enumerate(exprs)]
        (folder / "queries.yml").write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
        return subprocess.run(["docker", "run", "--rm", "--network", "none", "--user", "0:0",
                               "-v", "%s:/check:ro" % folder, "--entrypoint", "/usr/bin/promtool", IMAGE,
                               "check", "rules", "/check/queries.yml"], capture_output=True, text=True, timeout=120)
    return run


def test_dashboards_shipped():
    assert DASHBOARDS
    assert [p.name for p in DASHBOARDS] == sorted(GRAFANA_DEFAULTS["grafana_dashboard_files"])


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_dashboard_is_valid_json_with_the_expected_uid(path):
    board = json.loads(path.read_text())
    # The grafana role checks the provisioned dashboards by uid = file name.
    assert board["uid"] == path.stem
    assert board["title"]
    ids = [panel["id"] for panel in panels(board)]
    assert len(ids) == len(set(ids)), "panel ids must be unique"


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_every_panel_datasource_resolves_to_the_provisioned_one(path):
    board = json.loads(path.read_text())
    provisioned = {GRAFANA_DEFAULTS["grafana_datasource_uid"]}
    for panel in panels(board):
        if panel.get("type") == "row":
            continue
        for source in [panel.get("datasource")] + [t.get("datasource") for t in panel.get("targets", [])]:
            assert isinstance(source, dict), "panel %r: datasource must be {type, uid}" % panel["title"]
            assert source.get("type") == "prometheus", panel["title"]
            assert source.get("uid") in provisioned, "panel %r uses datasource %r" % (panel["title"], source)


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_dashboard_covers_the_runbook_views(path):
    exprs = " ".join(target["expr"] for _, target in queries(json.loads(path.read_text())))
    for needle in ("http_requests_total", 'status=~"5..', "histogram_quantile(0.95", "up{",
                   "resets(", "probe_ssl_earliest_cert_expiry", 'probe_success{job="cbdd-user-path"}',
                   "cbdd_backup_last_success_timestamp_seconds", 'ALERTS{alertstate="firing"}'):
        assert needle in exprs, needle


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_every_query_is_accepted_by_promtool(path, check_queries):
    board = json.loads(path.read_text())
    exprs = [substitute(target["expr"]) for _, target in queries(board)]
    assert exprs
    for expr in exprs:
        assert not re.search(r"\$\w", expr), "unknown Grafana variable in %r" % expr
    proc = check_queries(exprs)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS: %d rules found" % len(exprs) in proc.stdout


def test_promtool_rejects_a_bad_query(check_queries):
    proc = check_queries(['sum(rate(http_requests_total{job="x"}[1m])'])
    assert proc.returncode != 0
