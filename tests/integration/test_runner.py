"""Our playbooks run the way AWX runs them: through ansible-runner, with a private data dir.

The private data dir is built in a tmpdir: project/ is the committed tree (`git archive HEAD`, as
AWX checks out a project revision; CBDD_RUNNER_PROJECT=worktree symlinks the working tree instead),
inventory/ a YAML inventory reaching the sandbox with the SSH settings of inventories/local
(key and known_hosts in .sandbox/<name>/) plus the local group_vars, env/ the job environment.
Assertions are on the runner's status, rc, stats and job events, not only on the return code.
Artifacts (they hold the whole environment) stay in the tmpdir.
"""
import json
import os
import ssl
import subprocess
import urllib.request
from pathlib import Path

import ansible_runner
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
PROJECT_ITEMS = ("ansible.cfg", "playbooks", "roles", "library", "module_utils", "group_vars",
                 "inventories", "files", "collections", "test_plugins", "filter_plugins", "strategy_plugins",
                 "doc_fragments")


def build_project(project):
    if os.environ.get("CBDD_RUNNER_PROJECT") == "worktree":
        project.mkdir()
        for item in PROJECT_ITEMS:
            if (REPO / item).exists():
                (project / item).symlink_to(REPO / item)
        return
    project.mkdir()
    archive = subprocess.run(["git", "archive", "--format=tar", "HEAD"], cwd=REPO, check=True,
                             capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(project)], input=archive, check=True)


def sandbox_inventory(sandbox, port=None):
    state = sandbox.state
    host_vars = {
        "ansible_host": "127.0.0.1",
        "ansible_port": port or 2222 + sandbox.offset,
        "ansible_user": "deploy",
        "ansible_ssh_private_key_file": str(state / "id_ed25519"),
        "ansible_ssh_common_args": "-o UserKnownHostsFile=%s -o StrictHostKeyChecking=yes" % (state / "known_hosts"),
        "cbdd_sandbox_name": sandbox.name,
        "cbdd_sandbox_port_offset": sandbox.offset,
        "cbdd_sandbox_state": str(state),
    }
    return {"cbdd": {"children": {"app_servers": {"hosts": {"sandbox": None}},
                                  "monitoring": {"hosts": {"sandbox": None}}},
                     "vars": host_vars}}


@pytest.fixture(scope="module")
def private_data_dir(tmp_path_factory, sandbox):
    if not (sandbox.state / "id_ed25519").is_file():
        pytest.fail("sandbox %s is not up: run files/scripts/sandbox up (make integration does)" % sandbox.name)
    pdd = tmp_path_factory.mktemp("runner")
    build_project(pdd / "project")
    (pdd / "inventory").mkdir()
    (pdd / "inventory" / "hosts.yml").write_text(yaml.safe_dump(sandbox_inventory(sandbox)))
    (pdd / "inventory" / "group_vars").symlink_to(pdd / "project" / "inventories" / "local" / "group_vars")
    (pdd / "env").mkdir()
    (pdd / "env" / "envvars").write_text(yaml.safe_dump({
        # the project's own ansible.cfg, not the caller's (make exports ANSIBLE_CONFIG)
        "ANSIBLE_CONFIG": str(pdd / "project" / "ansible.cfg"),
        "ANSIBLE_FORCE_COLOR": "0",
        "ANSIBLE_NOCOLOR": "1",
    }))
    (pdd / "env" / "settings").write_text(yaml.safe_dump({"suppress_ansible_output": True}))
    return pdd


def run(pdd, playbook, ident, **kwargs):
    """One job, as AWX launches it. ansible-runner keeps extravars in env/extravars, where the
    next job of the same private data dir would pick them up: removed after each job (AWX gives
    every job a new private data dir)."""
    try:
        return ansible_runner.run(private_data_dir=str(pdd), playbook=playbook, ident=ident, quiet=True, **kwargs)
    finally:
        if "extravars" in kwargs:
            (Path(pdd) / "env" / "extravars").unlink(missing_ok=True)


def events(result, kind):
    return [e for e in result.events if e.get("event") == kind]


def tasks_of(result, kind, role=None):
    return {e["event_data"].get("task") for e in events(result, kind)
            if role is None or e["event_data"].get("role") == role}


def failure_report(result):
    return "\n".join("%s %s: %s" % (e["event"], e["event_data"].get("task"),
                                    json.dumps(e["event_data"].get("res", {}))[:400])
                     for e in result.events if e.get("event") in ("runner_on_failed", "runner_on_unreachable"))


def get_health(sandbox):
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # the sandbox certificate is self-signed
    with urllib.request.urlopen(sandbox.https_url + "/health", context=ctx, timeout=10) as resp:
        return resp.status, json.loads(resp.read())


def test_deploy_runs_successfully_through_ansible_runner(private_data_dir, sandbox):
    result = run(private_data_dir, "playbooks/deploy.yml", "deploy-1")
    assert (result.status, result.rc) == ("successful", 0), failure_report(result)
    stats = result.stats
    assert stats["ok"].get("sandbox", 0) > 0  # "no hosts matched" would also be "successful"
    assert stats["failures"] == {} and stats["dark"] == {}
    assert events(result, "runner_on_failed") == [] and events(result, "runner_on_unreachable") == []
    assert any(t.startswith("Validating arguments against arg spec 'main'") for t in tasks_of(result, "runner_on_ok", "cbdd"))
    # Validated once per run, in the first play (each role's 'preflight' entry point); the entry
    # points the later plays run (main, stage) do not repeat it.
    for role, entry in (("docker_engine", "main"), ("app", "stage"), ("nginx_ssl", "main")):
        validated = {t.split("'")[1] for t in tasks_of(result, "runner_on_ok", role)
                     if t.startswith("Validating arguments against arg spec")}
        assert "preflight" in validated and entry not in validated, (role, validated)
    assert "Install the Docker engine packages" in tasks_of(result, "runner_on_ok", "docker_engine")
    assert [e["event"] for e in result.events][-1] == "playbook_on_stats"
    status, body = get_health(sandbox)
    assert status == 200 and body.get("status") == "ok", body


def test_second_deploy_through_runner_changes_nothing(private_data_dir):
    result = run(private_data_dir, "playbooks/deploy.yml", "deploy-2")
    assert (result.status, result.rc) == ("successful", 0), failure_report(result)
    assert result.stats["changed"].get("sandbox", 0) == 0, sorted(
        e["event_data"]["task"] for e in events(result, "runner_on_ok") if e["event_data"].get("res", {}).get("changed"))
    assert result.stats["ok"].get("sandbox", 0) > 0


def test_health_runs_successfully_through_ansible_runner(private_data_dir, sandbox):
    if not (private_data_dir / "project" / "playbooks" / "health.yml").is_file():
        pytest.skip("playbooks/health.yml is not in the project yet (issue 4)")
    # as the hourly AWX schedule launches it (survey answer health_output=json)
    result = run(private_data_dir, "playbooks/health.yml", "health-1", extravars={"health_output": "json"})
    assert (result.status, result.rc) == ("successful", 0), failure_report(result)
    assert result.stats["ok"].get("sandbox", 0) > 0
    assert result.stats["failures"] == {} and result.stats["dark"] == {}
    assert events(result, "runner_on_failed") == []
    ok = tasks_of(result, "runner_on_ok")
    for task in ("Check the HTTP endpoints concurrently", "Check the containers", "Write the report",
                 "Fail when anything is unhealthy"):
        assert task in ok, (task, sorted(ok))
    # health.yml writes to playbook_dir/../artifacts; playbook_dir is the real path of playbooks/
    playbooks = (private_data_dir / "project" / "playbooks").resolve()
    report_file = playbooks.parent / "artifacts" / "health-sandbox.json"
    report = json.loads(report_file.read_text())
    report_file.unlink()  # in worktree mode it lands in the (git-ignored) artifacts/ of the repository
    assert report["healthy"] is True, report


def test_invalid_variable_fails_the_job_naming_the_task(private_data_dir, sandbox):
    result = run(private_data_dir, "playbooks/deploy.yml", "deploy-invalid",
                 extravars={"docker_engine_log_driver": "syslog"})
    assert result.status == "failed" and result.rc != 0
    assert result.stats["failures"] == {"sandbox": 1}
    failed = events(result, "runner_on_failed")
    assert len(failed) == 1
    data = failed[0]["event_data"]
    assert data["role"] == "docker_engine"
    # the argument_specs check of the role's inputs, in the first play (before any host is touched)
    assert data["task"].startswith("Validating arguments against arg spec"), data["task"]
    assert "docker_engine_log_driver" in data["res"]["msg"] and "syslog" in data["res"]["msg"]
    # nothing was attempted after the failed validation: the stack still answers
    assert "Install the Docker engine packages" not in tasks_of(result, "runner_on_ok")
    assert get_health(sandbox)[0] == 200


def test_unreachable_host_fails_the_job_naming_the_task(private_data_dir, sandbox, tmp_path):
    # An inventory of its own (the shared inventory/ stays as it is), with the same group_vars.
    inventory = tmp_path / "unreachable"
    inventory.mkdir()
    (inventory / "hosts.yml").write_text(yaml.safe_dump(sandbox_inventory(sandbox, port=9)))  # nothing listens on port 9
    (inventory / "group_vars").symlink_to(private_data_dir / "inventory" / "group_vars")
    result = run(private_data_dir, "playbooks/deploy.yml", "deploy-unreachable",
                 inventory=str(inventory), envvars={"ANSIBLE_TIMEOUT": "5"})
    assert result.status == "failed" and result.rc != 0
    # The input checks run on the control node (they pass); the first connection is unreachable and
    # nothing changed anywhere.
    assert result.stats["dark"] == {"sandbox": 1} and result.stats["failures"] == {}, \
        [(e["event_data"]["task"], e["event_data"]["res"].get("msg")) for e in events(result, "runner_on_failed")]
    assert result.stats["changed"] == {}, result.stats
    unreachable = events(result, "runner_on_unreachable")
    assert [e["event_data"]["host"] for e in unreachable] == ["sandbox"]
    assert unreachable[0]["event_data"]["task"]  # the task the job stopped at is named
    assert "port 9" in unreachable[0]["event_data"]["res"]["msg"]
