"""Alert rules: promtool accepts them, the shipped `promtool test rules` unit tests pass, every alert
carries a runbook level and is tested firing and not firing, and the tests catch a changed threshold.

promtool runs from the project's Prometheus image (local/cbdd-prometheus, Debian's prometheus 2.42),
built by files/images/build when missing, with the repository mounted read-only."""
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
IMAGE = "local/cbdd-prometheus:bookworm"
RULES_DIR = REPO / "roles/prometheus/files/rules"
TESTS_DIR = REPO / "files/prometheus/tests"
LEVELS = {"L1", "L2", "L3"}


@pytest.fixture(scope="session")
def promtool():
    """promtool(*args, mounts={host_dir: container_dir}, workdir=...) -> CompletedProcess."""
    if subprocess.run(["docker", "image", "inspect", IMAGE], capture_output=True).returncode != 0:
        subprocess.run([str(REPO / "files/images/build"), "all"], check=True)

    def run(*args, mounts=None, workdir="/repo"):
        argv = ["docker", "run", "--rm", "--network", "none", "--user", "0:0",
                "-v", "%s:/repo:ro" % REPO, "-w", workdir, "--entrypoint", "/usr/bin/promtool"]
        for host, target in (mounts or {}).items():
            argv += ["-v", "%s:%s:ro" % (host, target)]
        return subprocess.run(argv + [IMAGE, *args], capture_output=True, text=True, timeout=120)
    return run


def rule_files():
    return sorted(RULES_DIR.glob("*.yml"))


def alerts(path):
    doc = yaml.safe_load(path.read_text())
    return [rule for group in doc["groups"] for rule in group["rules"] if "alert" in rule]


def test_rule_files_shipped():
    assert rule_files(), "no rule files in %s" % RULES_DIR
    assert sorted(TESTS_DIR.glob("*.test.yml")), "no promtool tests in %s" % TESTS_DIR


@pytest.mark.parametrize("path", rule_files(), ids=lambda p: p.name)
def test_promtool_check_rules_accepts(promtool, path):
    proc = promtool("check", "rules", "/repo/" + str(path.relative_to(REPO)))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS" in proc.stdout


def test_promtool_check_rules_rejects_a_bad_rule(promtool, tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text("groups:\n  - name: x\n    rules:\n      - alert: Broken\n        expr: sum(rate(x[5m])\n")
    proc = promtool("check", "rules", "/check/bad.yml", mounts={tmp_path: "/check"})
    assert proc.returncode != 0
    assert "Broken" in proc.stdout + proc.stderr or "parse error" in proc.stdout + proc.stderr


@pytest.mark.parametrize("path", rule_files(), ids=lambda p: p.name)
def test_every_alert_carries_a_runbook_level(path):
    found = alerts(path)
    assert found
    for rule in found:
        assert rule.get("labels", {}).get("severity") in LEVELS, rule["alert"]
        assert rule.get("annotations", {}).get("summary"), rule["alert"]


def test_shipped_promtool_unit_tests_pass(promtool):
    for test in sorted(TESTS_DIR.glob("*.test.yml")):
        proc = promtool("test", "rules", "/repo/" + str(test.relative_to(REPO)))
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "SUCCESS" in proc.stdout


def test_every_alert_is_tested_firing_and_not_firing():
    firing, quiet = set(), set()
    for test in sorted(TESTS_DIR.glob("*.test.yml")):
        for case in yaml.safe_load(test.read_text())["tests"]:
            for check in case.get("alert_rule_test", []):
                (firing if check.get("exp_alerts") else quiet).add(check["alertname"])
    names = {rule["alert"] for path in rule_files() for rule in alerts(path)}
    assert names - firing == set(), "alerts never tested firing"
    assert names - quiet == set(), "alerts never tested not firing"


def test_unit_tests_catch_a_changed_threshold(promtool, tmp_path):
    """The unit tests are not vacuous: moving the L3 error threshold from 50 % to 90 % fails them."""
    rules = tmp_path / "roles/prometheus/files/rules"
    tests = tmp_path / "files/prometheus/tests"
    shutil.copytree(RULES_DIR, rules)
    shutil.copytree(TESTS_DIR, tests)
    target = rules / "cbdd-alerts.yml"
    text = target.read_text()
    assert "cbdd:http_error_ratio:rate5m > 0.50\n" in text
    target.write_text(text.replace("cbdd:http_error_ratio:rate5m > 0.50\n", "cbdd:http_error_ratio:rate5m > 0.90\n"))
    proc = promtool("test", "rules", "/mut/files/prometheus/tests/cbdd-alerts.test.yml",
                    mounts={tmp_path: "/mut"}, workdir="/mut")
    assert proc.returncode != 0
    assert "CbddErrorRatioL3" in proc.stdout + proc.stderr
