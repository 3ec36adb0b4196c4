"""Foundation: inventories load the top-level group_vars, the deploy is idempotent, bad input
fails before any change."""
import json
import ssl
import subprocess
import urllib.request

import pytest

from conftest import REPO


@pytest.mark.parametrize("env", ["local", "fleet", "staging", "production"])
def test_top_level_group_vars_loaded_for_every_inventory(env):
    out = subprocess.run(["ansible-inventory", "-i", str(REPO / "inventories" / env), "--list"],
                         cwd=REPO, check=True, capture_output=True, text=True).stdout
    hostvars = json.loads(out)["_meta"]["hostvars"]
    assert hostvars, "no hosts in inventories/%s" % env
    for host, hv in hostvars.items():
        # cbdd_root comes only from group_vars/all/main.yml (top level)
        assert hv.get("cbdd_root") == "/opt/clinical-bdd-creator", host


@pytest.mark.parametrize("env, expected", [("local", "sandbox"), ("fleet", "fleet"), ("staging", "staging"),
                                           ("production", "production")])
def test_environment_values_override_project_values(env, expected):
    """cbdd_environment is empty in group_vars/all/main.yml (and refused empty): each inventory's own
    environment file must set it, and win over the project file."""
    project = (REPO / "group_vars/all/main.yml").read_text()
    assert '\ncbdd_environment: ""\n' in project
    out = subprocess.run(["ansible", "-i", str(REPO / "inventories" / env), "all", "-m",
                          "ansible.builtin.debug", "-a", "var=cbdd_environment", "-o"],
                         cwd=REPO, check=True, capture_output=True, text=True).stdout
    values = [line for line in out.splitlines() if "cbdd_environment" in line]
    assert values and all('"cbdd_environment": "%s"' % expected in line for line in values), out


def test_fleet_inventory_is_productions_shape():
    """inventories/fleet: production's groups and production's own environment file (a link)."""
    fleet = REPO / "inventories/fleet/group_vars/all/010_production.yml"
    assert fleet.is_symlink() and fleet.resolve() == (REPO / "inventories/production/group_vars/all/production.yml").resolve()
    shape = {}
    for env in ("fleet", "production"):
        out = subprocess.run(["ansible-inventory", "-i", str(REPO / "inventories" / env), "--list"],
                             cwd=REPO, check=True, capture_output=True, text=True).stdout
        data = json.loads(out)
        shape[env] = {group: bool(data.get(group, {}).get("hosts")) for group in ("app_servers", "monitoring")}
        app = set(data["app_servers"]["hosts"])
        assert not app & set(data["monitoring"]["hosts"]), "%s: a monitoring host is also an app host" % env
    assert shape["fleet"] == shape["production"] == {"app_servers": True, "monitoring": True}


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
