"""Zero-downtime rollout: a new version goes live with 0 failed requests, a broken or mislabelled
release fails the play while the old version keeps answering (and the live release's config is
untouched), the deploy lock holds, a same-version re-run changes nothing, and rollback.yml returns to
the previous release (its image and config) from the kept container.

Tests run in file order and leave 1.0.0 live. Each runs the rollout plays of playbooks/deploy.yml
(tests/bench/rollout_downtime's app_play_file) while a request loop fires HTTPS requests at /health
through nginx.
"""
import importlib.machinery
import importlib.util
import json
import os
import subprocess

import pytest

from conftest import REPO

_loader = importlib.machinery.SourceFileLoader("rollout_downtime", str(REPO / "tests/bench/rollout_downtime"))
_spec = importlib.util.spec_from_loader("rollout_downtime", _loader)
bench = importlib.util.module_from_spec(_spec)
_loader.exec_module(bench)

LOCK = "/var/lib/cbdd/app/deploy.lock"
ROOT = "/opt/clinical-bdd-creator"


def build(version, broken=False):
    env = {"APP_BROKEN": "1"} if broken else {}
    subprocess.run([str(REPO / "files/images/build"), "app", version], check=True,
                   env={**os.environ, **env}, stdout=subprocess.DEVNULL)


@pytest.fixture(scope="module")
def app_play(tmp_path_factory):
    return bench.app_play_file(tmp_path_factory.mktemp("play"))


@pytest.fixture(scope="module")
def health_url(sandbox):
    return sandbox.https_url + "/health"


def running_apps(sandbox):
    out = sandbox.exec("docker", "ps", "--format", "{{.Names}} {{.Image}}").stdout.split("\n")
    return [line for line in out if line.startswith("clinical-bdd-creator")]


def live_files(sandbox):
    """What the live container reads: its release folder's config and .env (sha256), from its mounts."""
    live = sandbox.release()["live"]
    folder = "%s/releases/%s" % (ROOT, live["release_id"])
    return sandbox.exec("sh", "-c", "sha256sum %s/config/production.ini %s/.env" % (folder, folder)).stdout


def test_start_from_version_1_0_0(run_playbook, app_play, health_url):
    run = run_playbook(str(app_play), {"app_version": "1.0.0"})
    assert run.rc == 0, run.stdout[-3000:]
    assert bench.live_version(health_url) == "1.0.0"


def test_new_version_goes_live_without_failed_requests(run_playbook, app_play, sandbox, health_url):
    build("1.1.0")
    with bench.RequestLoop(health_url) as loop:
        run = run_playbook(str(app_play), {"app_version": "1.1.0"})
    assert run.rc == 0, run.stdout[-3000:]
    summary = loop.summary()
    assert summary["failures"] == 0, summary
    assert summary["requests"] >= 100, summary
    assert set(summary["versions"]) == {"1.0.0", "1.1.0"}, summary
    assert bench.live_version(health_url) == "1.1.0"
    state = sandbox.release()
    assert state["live"]["version"] == "1.1.0" and state["previous"]["version"] == "1.0.0", state
    running = running_apps(sandbox)
    assert running == ["%s local/cbdd-app:1.1.0" % state["live"]["container"]], running
    # the previous release's container is kept, stopped: an instant rollback
    assert len(sandbox.app_containers()) == 2, sandbox.app_containers()


def test_same_version_rerun_changes_nothing(run_playbook, app_play):
    run = run_playbook(str(app_play), {"app_version": "1.1.0"})
    assert run.rc == 0, run.stdout[-3000:]
    assert run.recap["sandbox"]["changed"] == 0, run.recap
    # without a version the live one stays: also a no-op
    run = run_playbook(str(app_play))
    assert run.rc == 0 and run.recap["sandbox"]["changed"] == 0, run.recap


def test_rollback_boots_the_kept_previous_release_without_failed_requests(run_playbook, sandbox, health_url):
    """Right after a deploy the previous release's container is kept stopped: the rollback starts that
    very container (same id) with its own release's config, and twice goes back and forth."""
    for expected in ("1.0.0", "1.1.0"):
        before = sandbox.release()
        kept = [c for c in sandbox.app_containers() if c != before["live"]["container"]]
        assert len(kept) == 1, sandbox.app_containers()
        kept_id = sandbox.exec("docker", "inspect", "-f", "{{.Id}}", kept[0]).stdout.strip()
        with bench.RequestLoop(health_url) as loop:
            run = run_playbook("playbooks/rollback.yml")
        assert run.rc == 0, run.stdout[-3000:]
        summary = loop.summary()
        assert summary["failures"] == 0, summary
        assert bench.live_version(health_url) == expected
        state = sandbox.release()
        assert state["live"]["release_id"] == before["previous"]["release_id"], state
        assert state["previous"]["release_id"] == before["live"]["release_id"], state
        assert sandbox.exec("docker", "inspect", "-f", "{{.Id}}", state["live"]["container"]).stdout.strip() == kept_id
        assert "version = %s" % expected in sandbox.exec("cat", ROOT + "/config/production.ini").stdout


def test_broken_release_fails_and_old_version_keeps_answering(run_playbook, app_play, sandbox, health_url):
    build("9.9.9-broken", broken=True)
    upstream_before = sandbox.exec("cat", "/opt/clinical-bdd-creator/nginx/conf.d/cbdd-upstream.inc").stdout
    files_before = live_files(sandbox)
    with bench.RequestLoop(health_url) as loop:
        # a new config value too: the failed release must not change what the live container reads
        run = run_playbook(str(app_play), {"app_version": "9.9.9-broken", "app_health_deadline": 15,
                                           "app_env": {"CBDD_TEST_SETTING": "from-the-broken-release"}})
    assert run.rc != 0
    assert "version 9.9.9-broken (release 9.9.9-broken-" in run.stdout and "FAILED its health gate" in run.stdout, run.stdout[-3000:]
    assert "Version 1.1.0 stays live" in run.stdout, run.stdout[-3000:]
    assert "stand-in built broken" in run.stdout  # the failed container's answer is reported
    summary = loop.summary()
    assert summary["failures"] == 0, summary
    assert summary["versions"] == {"1.1.0": summary["requests"]}, summary
    assert sandbox.exec("cat", "/opt/clinical-bdd-creator/nginx/conf.d/cbdd-upstream.inc").stdout == upstream_before
    assert len(running_apps(sandbox)) == 1, running_apps(sandbox)
    assert sandbox.release()["live"]["version"] == "1.1.0"
    assert live_files(sandbox) == files_before
    assert "from-the-broken-release" not in sandbox.exec("cat", ROOT + "/.env").stdout
    assert sandbox.exec("test", "-e", LOCK, check=False).returncode != 0, "lock left behind"


def test_release_reporting_another_version_is_refused(run_playbook, app_play, sandbox, health_url, tmp_path):
    # An image tagged 7.7.7-mislabelled that answers healthy but reports 1.0.0.
    subprocess.run(["docker", "tag", "local/cbdd-app:1.0.0", "local/cbdd-app:7.7.7-mislabelled"], check=True)
    archive = tmp_path / "mislabelled.tar"
    subprocess.run(["docker", "save", "-o", str(archive), "local/cbdd-app:7.7.7-mislabelled"], check=True)
    with bench.RequestLoop(health_url) as loop:
        run = run_playbook(str(app_play), {"app_version": "7.7.7-mislabelled", "app_image_archive": str(archive),
                                           "app_health_deadline": 10})
    assert run.rc != 0
    assert "expected version == 7.7.7-mislabelled" in run.stdout, run.stdout[-3000:]
    assert "Version 1.1.0 stays live" in run.stdout
    summary = loop.summary()
    assert summary["failures"] == 0 and summary["versions"] == {"1.1.0": summary["requests"]}, summary


def test_deploy_lock_blocks_a_second_deploy_and_reports_a_stale_one(run_playbook, app_play, sandbox):
    sandbox.exec("sh", "-c", "echo '{\"by\": \"someone@elsewhere\"}' > %s" % LOCK)
    try:
        run = run_playbook(str(app_play), {"app_version": "1.0.0"})
        assert run.rc != 0
        assert "Another deploy is running" in run.stdout and "someone@elsewhere" in run.stdout, run.stdout[-2000:]
        assert run.recap["sandbox"]["changed"] == 0
        assert sandbox.exec("test", "-e", LOCK, check=False).returncode == 0, "a failed run removed the other's lock"
        sandbox.exec("touch", "-d", "3 hours ago", LOCK)
        run = run_playbook(str(app_play), {"app_version": "1.0.0"})
        assert run.rc != 0
        assert "STALE deploy lock" in run.stdout and "app_deploy_lock_break=true" in run.stdout, run.stdout[-2000:]
        assert sandbox.release()["live"]["version"] == "1.1.0"
    finally:
        sandbox.exec("rm", "-f", LOCK)


def test_an_explicit_version_leaves_1_0_0_live(run_playbook, app_play, health_url):
    """The next test files start from 1.0.0, as the inventory's first version."""
    run = run_playbook(str(app_play), {"app_version": "1.0.0"})
    assert run.rc == 0, run.stdout[-3000:]
    assert bench.live_version(health_url) == "1.0.0"
