"""Shared fixtures for integration tests that drive the real playbooks against the sandbox.

`make integration` creates the sandbox and runs playbooks/deploy.yml first; tests here must
leave the stack deployed and healthy when they finish (other tests run after them).
CBDD_SANDBOX / CBDD_SANDBOX_PORT_OFFSET select another sandbox (files/scripts/sandbox).
"""
import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
# Where files/scripts/sandbox and files/scripts/fleet keep each host's SSH key and pinned host key
# (one place per control node; the inventories name these files).
SANDBOX_STATE = Path.home() / ".local/state/cbdd-sandbox"
RELEASE_STATE = "/var/lib/cbdd/app/release.json"
# The paths a fingerprint covers (Sandbox.fingerprint). /var/lib/cbdd/backup/archives is left out only
# because the daily timer may add an archive at any time; its metric and state file are in.
FINGERPRINTED = " ".join([
    "/opt/clinical-bdd-creator", "/var/lib/cbdd/app", "/var/lib/cbdd/textfile", "/var/lib/cbdd/maintenance",
    "/etc/systemd/system", "/etc/ssh", "/etc/nftables.conf", "/etc/nftables.d", "/etc/fail2ban", "/etc/docker",
    "/etc/apt/apt.conf.d", "/etc/apt/sources.list.d", "/etc/sysctl.d", "/etc/cbdd-backup", "/home/deploy/.ssh",
])


@dataclass
class Sandbox:
    name: str
    offset: int

    @property
    def state(self):
        """The folder with this sandbox's SSH key (id_ed25519) and pinned host key (known_hosts)."""
        return SANDBOX_STATE / self.name

    @property
    def https_url(self):
        return "https://127.0.0.1:%d" % (8443 + self.offset)

    @property
    def http_url(self):
        return "http://127.0.0.1:%d" % (8080 + self.offset)

    def exec(self, *argv, check=True):
        """Run a command on the sandbox host (as root) and return its CompletedProcess."""
        return subprocess.run(["docker", "exec", self.name, *argv], check=check,
                              capture_output=True, text=True)

    def release(self):
        """The app role's release state on the host: {live: {...}, previous: {...}, history: [...]}."""
        return json.loads(self.exec("cat", RELEASE_STATE).stdout)

    def live_app(self):
        """Name of the live app container (blue/green slot) from the release state."""
        return self.release()["live"]["container"]

    def fingerprint(self):
        """What a run may change on the host: every container (id, image, state, start time), every
        network and volume, and every file (path, mode, owner, size, mtime, sha256) of the service,
        the release state, the deploy lock, the units, sshd, the firewall, fail2ban, apt and Docker
        configuration, and the deploy user's authorized_keys (not the app's logs/, which every request
        writes to). Equal fingerprints: nothing changed."""
        script = (
            "docker ps -a --format '{{.ID}} {{.Names}} {{.Image}} {{.State}}' | sort;"
            " for c in $(docker ps -aq); do docker inspect -f '{{.Name}} {{.State.StartedAt}}' $c; done | sort;"
            " docker network ls --format '{{.Name}}' | sort; docker volume ls --format '{{.Name}}' | sort;"
            " find %s -xdev -path '*/logs' -prune -o \\( -type f -o -type l -o -type d \\) -printf '%%p %%m %%u:%%g %%s %%T@\\n'"
            " 2>/dev/null | sort;"
            " find %s -xdev -path '*/logs' -prune -o -type f -exec sha256sum {} + 2>/dev/null | sort") % (FINGERPRINTED, FINGERPRINTED)
        return self.exec("sh", "-c", script).stdout

    def app_containers(self, running_only=False):
        """Names of the app slot containers on the host (the kept previous release is stopped)."""
        argv = ["docker", "ps", "--format", "{{.Names}}"] + ([] if running_only else ["-a"])
        return sorted(n for n in self.exec(*argv).stdout.split() if n.startswith("clinical-bdd-creator"))


@dataclass
class PlaybookRun:
    rc: int
    stdout: str
    stderr: str

    @property
    def recap(self):
        """{host: {ok, changed, failed, ...}} parsed from the PLAY RECAP lines."""
        stats = {}
        lines = self.stdout.splitlines()
        if "PLAY RECAP" not in self.stdout:
            return stats
        start = max(i for i, line in enumerate(lines) if line.startswith("PLAY RECAP"))
        for line in lines[start + 1:]:
            if ":" not in line:
                break
            host, _, rest = line.partition(":")
            stats[host.strip()] = {k: int(v) for k, v in (p.split("=") for p in rest.split())}
        return stats


@pytest.fixture(scope="session")
def sandbox():
    return Sandbox(os.environ.get("CBDD_SANDBOX", "cbdd-sandbox"),
                   int(os.environ.get("CBDD_SANDBOX_PORT_OFFSET", "0")))


@pytest.fixture(scope="session")
def run_playbook():
    """run_playbook("playbooks/x.yml", {"var": value}, inventory="inventories/local") -> PlaybookRun."""
    def run(playbook, extra_vars=None, inventory="inventories/local", extra_args=(), env=None):
        argv = ["ansible-playbook", "-i", str(REPO / inventory), str(REPO / playbook)]
        if extra_vars:
            argv += ["-e", json.dumps(extra_vars)]
        argv += list(extra_args)
        full_env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_FORCE_COLOR="0",
                        ANSIBLE_NOCOLOR="1", **(env or {}))
        proc = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, env=full_env)
        return PlaybookRun(proc.returncode, proc.stdout, proc.stderr)
    return run
