"""`--check --diff` never changes a host: deploy (a new version), renew-cert (a renewal due), a
maintenance window and hardening run in check mode against the live sandbox; the host's fingerprint
(containers, networks, volumes, the service's files, units, sshd/firewall/fail2ban/apt/Docker
configuration, keys) is the same afterwards, the site keeps answering, and the output says what
would have changed."""
import json
import ssl
import urllib.request

import pytest


def health(sandbox):
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with urllib.request.urlopen(sandbox.https_url + "/health", context=ctx, timeout=10) as resp:
        return resp.status, json.loads(resp.read())


def other_version(version):
    return "1.0.0" if version == "1.1.0" else "1.1.0"


@pytest.mark.parametrize("playbook, extra, says", [
    ("playbooks/deploy.yml", "OTHER_VERSION", "Check mode: would boot release"),
    ("playbooks/renew-cert.yml", {"renew_if_expiring_within_days": -1}, "Check mode: would renew the certificate"),
    ("playbooks/maintenance.yml", {"maintenance_tasks": ["weekly", "prune"]}, "Check mode: would start cbdd-backup.service"),
    ("playbooks/harden.yml", None, ""),
])
def test_check_mode_changes_nothing(run_playbook, sandbox, playbook, extra, says):
    import subprocess
    from conftest import REPO
    if extra == "OTHER_VERSION":
        version = other_version(sandbox.release()["live"]["version"])
        subprocess.run([str(REPO / "files/images/build"), "app", version], check=True, stdout=subprocess.DEVNULL)
        extra = {"app_version": version}
    before = sandbox.fingerprint()
    served = health(sandbox)
    run = run_playbook(playbook, extra, extra_args=["--check", "--diff"])
    assert run.rc == 0, run.stdout[-4000:]
    assert says in run.stdout, run.stdout[-4000:]
    after = sandbox.fingerprint()
    assert after == before, "\n".join(l for l in after.splitlines() if l not in before.splitlines())[:3000]
    assert health(sandbox) == served
