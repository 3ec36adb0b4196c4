"""playbooks/health.yml against the sandbox: all green, a stopped container is named, JSON report."""
import json

from conftest import REPO


def test_health_all_green(run_playbook):
    run = run_playbook("playbooks/health.yml")
    assert run.rc == 0, run.stdout[-4000:]
    assert "All " in run.stdout and "checks healthy on sandbox" in run.stdout
    for check in ("app via nginx (TLS)", "app direct", "prometheus ready", "grafana", "certificate"):
        assert check in run.stdout


def test_health_json_report(run_playbook):
    report_file = REPO / "artifacts" / "health-sandbox.json"
    report_file.unlink(missing_ok=True)
    run = run_playbook("playbooks/health.yml", {"health_output": "json"})
    assert run.rc == 0, run.stdout[-4000:]
    report = json.loads(report_file.read_text())
    assert report["healthy"] is True
    assert report["unhealthy"] == []
    checks = {row["check"]: row["ok"] for row in report["rows"]}
    assert checks["container cbdd-nginx"] is True
    assert len(checks) >= 10


def test_health_fails_naming_a_stopped_container(run_playbook, sandbox):
    sandbox.exec("docker", "stop", "cbdd-grafana")
    try:
        run = run_playbook("playbooks/health.yml")
        assert run.rc != 0
        assert "UNHEALTHY on sandbox" in run.stdout
        assert "container cbdd-grafana" in run.stdout.split("UNHEALTHY on sandbox", 1)[1]
        assert "container cbdd-nginx" not in run.stdout.split("UNHEALTHY on sandbox", 1)[1].split("\n")[0]
    finally:
        sandbox.exec("docker", "start", "cbdd-grafana")
    run = run_playbook("playbooks/health.yml", extra_args=["-e", "health_timeout=10"])
    assert run.rc == 0, run.stdout[-4000:]


def test_bad_health_output_value_is_refused(run_playbook):
    run = run_playbook("playbooks/health.yml", {"health_output": "xml"})
    assert run.rc != 0
    assert "health_output must be one of table, json" in run.stdout
