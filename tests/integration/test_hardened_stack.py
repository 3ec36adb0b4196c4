"""The whole stack on a HARDENED sandbox (playbooks/harden.yml ran before deploy.yml).

- hardening again on the deployed host changes nothing (it does not fight Docker's rules, the
  stack's files or the services);
- operators reach Prometheus and Grafana (loopback only on the host) through `ssh -L` as deploy,
  while other destinations and remote forwarding (-R) are refused;
- a private service port drops a Docker-published port (DNAT-ed by the nested engine, forward path)
  from a source that is not listed, and the stack answers again when the default firewall is back.
"""
import socket
import subprocess
import time
import urllib.error
import urllib.request

import pytest



def sandbox_ssh(sandbox, *extra):
    state = sandbox.state
    return ["ssh", "-i", str(state / "id_ed25519"), "-p", str(2222 + sandbox.offset),
            "-o", "UserKnownHostsFile=%s" % (state / "known_hosts"), "-o", "StrictHostKeyChecking=yes",
            "-o", "BatchMode=yes", "-o", "ControlPath=none", "-o", "ConnectTimeout=10", *extra, "deploy@127.0.0.1"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def get(url, timeout=5):
    """HTTP status of url (redirects not followed), or the error's text."""
    try:
        with urllib.request.build_opener(NoRedirect).open(url, timeout=timeout) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError as exc:
        return repr(exc)


@pytest.fixture(scope="module")
def hardened(sandbox):
    drop_in = sandbox.exec("test", "-f", "/etc/ssh/sshd_config.d/00-cbdd-hardening.conf", check=False)
    assert drop_in.returncode == 0, "the sandbox is not hardened: run playbooks/harden.yml before deploy.yml"
    return sandbox


def test_hardening_again_changes_nothing_on_the_deployed_host(hardened, run_playbook):
    run = run_playbook("playbooks/harden.yml")
    assert run.rc == 0, run.stdout[-3000:]
    assert run.recap["sandbox"]["changed"] == 0, run.stdout[-3000:]


@pytest.mark.parametrize("remote,path", [(9090, "/-/healthy"), (3001, "/api/health")], ids=["prometheus", "grafana"])
def test_operator_tunnel_reaches_loopback_ui(hardened, remote, path):
    local = free_port()
    proc = subprocess.Popen(sandbox_ssh(hardened, "-N", "-o", "ExitOnForwardFailure=yes",
                                        "-L", "127.0.0.1:%d:127.0.0.1:%d" % (local, remote)),
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        status = None
        for _ in range(40):
            status = get("http://127.0.0.1:%d%s" % (local, path))
            if status == 200:
                break
            assert proc.poll() is None, proc.communicate()[1]
            time.sleep(0.5)
        assert status == 200, status
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_tunnel_to_other_destinations_and_remote_forwarding_refused(hardened):
    other = subprocess.run(sandbox_ssh(hardened, "-W", "127.0.0.1:22"), input="", capture_output=True,
                           text=True, timeout=60)
    assert other.returncode == 255 and "administratively prohibited" in other.stderr, other.stderr
    remote = subprocess.run(sandbox_ssh(hardened, "-o", "ExitOnForwardFailure=yes", "-R", "127.0.0.1:2299:127.0.0.1:22")
                            + ["sleep", "2"], stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
    assert remote.returncode == 255 and "remote port forwarding failed" in remote.stderr, remote.stderr
    effective = hardened.exec("sshd", "-T").stdout.splitlines()
    assert "allowtcpforwarding no" in effective


def test_private_service_drops_a_docker_published_port_from_unlisted_sources(hardened, run_playbook):
    http = hardened.http_url + "/"
    assert get(http) in (200, 301, 308), "the stack's HTTP port does not answer before the test"
    restricted = run_playbook("playbooks/harden.yml", {
        "hardening_firewall_allowed_tcp_ports": [22, 443],
        "hardening_firewall_private_services": [{"name": "http-only-from-doc-net", "port": 80, "sources": ["192.0.2.0/24"]}],
    })
    try:
        assert restricted.rc == 0, restricted.stdout[-3000:]
        forward = hardened.exec("nft", "list", "chain", "inet", "cbdd_filter", "forward").stdout
        assert "ct original proto-dst 80 drop" in forward, forward
        assert "timed out" in str(get(http, timeout=4))
        # Docker's own tables are untouched: HTTPS (not a private port) still goes through its DNAT.
        assert hardened.exec("nft", "list", "table", "ip", "nat", check=False).returncode == 0
    finally:
        restored = run_playbook("playbooks/harden.yml")
    assert restored.rc == 0, restored.stdout[-3000:]
    for _ in range(20):
        if get(http) in (200, 301, 308):
            break
        time.sleep(0.5)
    assert get(http) in (200, 301, 308)
