"""The Grafana TEST STAND-IN (files/images/grafana-standin) reports what a real Grafana reports: a
broken provisioning file stops it at start-up and fails a reload, an unwritable database folder makes
/api/health answer 503 "failing" - so the grafana role's health gate can fail for real."""
import base64
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from support_env import REPO

STANDIN = REPO / "files/images/grafana-standin/grafana_standin.py"
PASSWORD = "standin-test-password"


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def provisioning(root, datasource=None, board=None):
    (root / "provisioning/datasources").mkdir(parents=True)
    (root / "provisioning/dashboards").mkdir(parents=True)
    (root / "dashboards").mkdir()
    (root / "data").mkdir()
    (root / "provisioning/datasources/cbdd.yaml").write_text(json.dumps({"apiVersion": 1, "datasources": [datasource or {
        "name": "Prometheus", "uid": "cbdd-prometheus", "type": "prometheus", "access": "proxy",
        "url": "http://cbdd-prometheus:9090", "isDefault": True}]}))
    (root / "provisioning/dashboards/cbdd.yaml").write_text(json.dumps({"apiVersion": 1, "providers": [
        {"name": "cbdd", "type": "file", "options": {"path": str(root / "dashboards")}}]}))
    (root / "dashboards/board.json").write_text(board if board is not None else json.dumps({"uid": "b1", "title": "B"}))
    return root


def start(root, data=None):
    port = free_port()
    env = dict(os.environ, GF_PATHS_PROVISIONING=str(root / "provisioning"), GF_PATHS_DATA=str(data or root / "data"),
               GF_SERVER_HTTP_PORT=str(port), GF_SECURITY_ADMIN_PASSWORD=PASSWORD)
    proc = subprocess.Popen([sys.executable, str(STANDIN)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for _ in range(100):
        if proc.poll() is not None:
            return proc, port
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, port
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise AssertionError("the stand-in did not start")


def call(port, path, method="GET"):
    request = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), method=method, headers={
        "Authorization": "Basic " + base64.b64encode(("admin:%s" % PASSWORD).encode()).decode()})
    try:
        with urllib.request.urlopen(request, timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@pytest.fixture
def running(tmp_path):
    proc, port = start(provisioning(tmp_path))
    yield tmp_path, port
    proc.terminate()
    proc.wait(5)


def test_healthy_with_good_provisioning(running):
    _, port = running
    assert call(port, "/api/health") == (200, {"database": "ok", "version": "standin-1", "standin": True})
    status, boards = call(port, "/api/search")
    assert status == 200 and [b["uid"] for b in boards] == ["b1"]


@pytest.mark.parametrize("datasource, board, problem", [
    ({"name": "Prometheus", "type": "prometheus", "url": "not-a-url"}, None, "url must be an http(s) URL"),
    ({"name": "Prometheus", "type": "prometheus", "url": "http://x:9090", "access": "sideways"}, None, "access must be"),
    ({"type": "prometheus", "url": "http://x:9090"}, None, "has no name"),
    (None, "{not json", "is not JSON"),
    (None, json.dumps({"title": "no uid"}), "has no uid or title"),
])
def test_broken_provisioning_stops_the_start(tmp_path, datasource, board, problem):
    proc, _ = start(provisioning(tmp_path, datasource, board))
    assert proc.wait(10) == 1
    stderr = proc.stderr.read()
    assert "Failed to start grafana" in stderr and problem in stderr, stderr


def test_broken_provisioning_fails_the_reload(running):
    root, port = running
    (root / "dashboards/board.json").write_text("{broken")
    status, body = call(port, "/api/admin/provisioning/dashboards/reload", "POST")
    assert status == 500 and "is not JSON" in body["message"], body
    (root / "provisioning/datasources/cbdd.yaml").write_text(json.dumps({"apiVersion": 1, "datasources": [
        {"name": "A", "type": "prometheus", "url": "http://a:1", "isDefault": True},
        {"name": "B", "type": "prometheus", "url": "http://b:1", "isDefault": True}]}))
    status, body = call(port, "/api/admin/provisioning/datasources/reload", "POST")
    assert status == 500 and "more than one default datasource" in body["message"], body


def test_unusable_database_folder_is_failing(tmp_path):
    """A data folder that cannot be written (here: a file where the folder should be; root ignores modes)."""
    root = provisioning(tmp_path)
    blocker = root / "data-is-a-file"
    blocker.write_text("")
    proc, port = start(root, data=blocker)
    try:
        status, body = call(port, "/api/health")
        assert (status, body["database"]) == (503, "failing"), body
    finally:
        proc.terminate()
        proc.wait(5)
