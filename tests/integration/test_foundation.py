"""Foundation: inventories load the top-level group_vars, the deploy is idempotent, bad input
fails before any change."""
import json
import ssl
import subprocess
import urllib.request

import pytest

from conftest import REPO


@pytest.mark.parametrize("env", ["local", "staging", "production"])
def test_top_level_group_vars_loaded_for_every_inventory(env):
    out = subprocess.run(["ansible-inventory", "-i", str(REPO / "inventories" / env), "--list"],
                         cwd=REPO, check=True, capture_output=True, text=True).stdout
    hostvars = json.loads(out)["_meta"]["hostvars"]
    assert hostvars, "no hosts in inventories/%s" % env
    for host, hv in hostvars.items():
        # cbdd_root comes only from group_vars/all/main.yml (top level)
        assert hv.get("cbdd_root") == "/opt/clinical-bdd-creator", host


def test_environment_values_override_project_values():
    out = subprocess.run(["ansible", "-i", str(REPO / "inventories/production"), "all", "-m",
                          "ansible.builtin.debug", "-a", "var=cbdd_server_name", "-o"],
                         cwd=REPO, check=True, capture_output=True, text=True).stdout
    assert '"cbdd_server_name": "clinical-bdd.example.org"' in out
    out = subprocess.run(["ansible", "-i", str(REPO / "inventories/local"), "all", "-m",
                          "ansible.builtin.debug", "-a", "var=cbdd_server_name", "-o"],
                         cwd=REPO, check=True, capture_output=True, text=True).stdout
    assert '"cbdd_server_name": "clinical-bdd.local"' in out


def test_health_through_nginx_from_control_node(sandbox):
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with urllib.request.urlopen(sandbox.https_url + "/health", context=ctx, timeout=10) as resp:
        assert resp.status == 200
        assert json.loads(resp.read())["status"] == "ok"


def test_second_deploy_changes_nothing(run_playbook):
    run = run_playbook("playbooks/deploy.yml")
    assert run.rc == 0, run.stdout[-3000:]
    assert run.recap, run.stdout[-3000:]
    assert all(stats["changed"] == 0 for stats in run.recap.values()), run.recap


def test_invalid_variable_fails_before_any_change(run_playbook, sandbox):
    before = sandbox.exec("docker", "inspect", "-f", "{{.Id}} {{.State.StartedAt}}", "cbdd-nginx").stdout
    run = run_playbook("playbooks/deploy.yml", {"nginx_ssl_https_port": "not-a-port"})
    assert run.rc != 0
    assert "nginx_ssl_https_port" in run.stdout
    assert run.recap["sandbox"]["changed"] == 0
    after = sandbox.exec("docker", "inspect", "-f", "{{.Id}} {{.State.StartedAt}}", "cbdd-nginx").stdout
    assert before == after
