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


@dataclass
class Sandbox:
    name: str
    offset: int

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
