"""Verify the hardened target from the outside (real SSH clients) and the inside (testinfra).

The control node reaches the target on the scenario's Docker network (its own test container);
the client container on the same network is the attacker whose address fail2ban must ban.
"""
import os
import subprocess
import time

import pytest

testinfra_hosts = ["cbdd-mol-hardening"]

TARGET = "cbdd-mol-hardening"
CLIENT = "cbdd-mol-hardening-client"
NETWORK = "cbdd-mol-hardening"
POLICY = "Hardened Debian 12 (version 3)"
EPHEMERAL = os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]
KEY = os.path.join(EPHEMERAL, "deploy_key")
SSH_OPTS = ["-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
            "-o", "ConnectTimeout=5", "-o", "ControlPath=none", "-F", "/dev/null"]


def ip_of(container):
    fmt = "{{(index .NetworkSettings.Networks \"%s\").IPAddress}}" % NETWORK
    return subprocess.run(["docker", "inspect", "-f", fmt, container], check=True,
                          capture_output=True, text=True).stdout.strip()


def client(*argv, check=False, timeout=60):
    return subprocess.run(["docker", "exec", CLIENT, *argv], capture_output=True, text=True,
                          check=check, timeout=timeout)


@pytest.fixture(scope="module")
def target_ip():
    ip = ip_of(TARGET)
    assert ip, "target has no address on %s" % NETWORK
    return ip


def test_effective_sshd_config_wins_over_cloud_init_dropin(host):
    assert host.file("/etc/ssh/sshd_config.d/50-cloud-init.conf").contains("PasswordAuthentication yes")
    effective = host.check_output("sshd -T").splitlines()
    for line in ("passwordauthentication no", "kbdinteractiveauthentication no", "permitrootlogin no",
                 "authenticationmethods publickey", "x11forwarding no", "allowtcpforwarding no",
                 "allowagentforwarding no", "loglevel VERBOSE", "maxauthtries 3", "logingracetime 30"):
        assert line in effective, line


def test_host_keys_are_ed25519_and_rsa_4096_only(host):
    effective = host.check_output("sshd -T").splitlines()
    assert sorted(l for l in effective if l.startswith("hostkey ")) == [
        "hostkey /etc/ssh/ssh_host_ed25519_key", "hostkey /etc/ssh/ssh_host_rsa_key"]
    assert host.check_output("ssh-keygen -l -f /etc/ssh/ssh_host_rsa_key.pub").split()[0] == "4096"


def test_weak_dh_moduli_removed(host):
    sizes = [int(l.split()[4]) for l in host.file("/etc/ssh/moduli").content_string.splitlines()
             if l.strip() and not l.startswith("#")]
    assert sizes, "moduli file emptied"
    assert min(sizes) >= 3071


def test_ssh_audit_hardened_debian_12_policy_passes(target_ip):
    proc = subprocess.run(["ssh-audit", "-P", POLICY, target_ip], capture_output=True, text=True, timeout=120)
    assert "Passed" in proc.stdout, proc.stdout
    assert proc.returncode == 0, proc.stdout


def test_password_login_is_refused(target_ip):
    proc = subprocess.run(["ssh", *SSH_OPTS, "-o", "PubkeyAuthentication=no",
                           "-o", "PreferredAuthentications=password,keyboard-interactive",
                           "deploy@%s" % target_ip, "true"], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 255
    assert "Permission denied (publickey)" in proc.stderr, proc.stderr


def test_ansible_still_connects_over_ssh_with_the_key(target_ip):
    env = dict(os.environ, ANSIBLE_HOST_KEY_CHECKING="False", ANSIBLE_FORCE_COLOR="0")
    proc = subprocess.run(["ansible", "all", "-i", "%s," % target_ip, "-u", "deploy", "--private-key", KEY,
                           "--become", "-m", "ansible.builtin.command", "-a", "id -un"],
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "CHANGED" in proc.stdout and "root" in proc.stdout, proc.stdout


def test_firewall_drops_ports_not_allowed(host, target_ip):
    assert 'table inet cbdd_filter' in host.check_output("nft list tables")
    ruleset = host.check_output("nft list table inet cbdd_filter")
    assert "policy drop" in ruleset
    # A listener on 8000 answers locally but not from the client container.
    subprocess.run(["docker", "exec", "-d", TARGET, "timeout", "60", "python3", "-m", "http.server",
                    "8000", "--bind", "0.0.0.0"], check=True)
    for _ in range(20):
        if host.run("python3 -c \"import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/')\"").rc == 0:
            break
        time.sleep(0.5)
    else:
        pytest.fail("test listener did not start")
    blocked = client("python3", "-c", "import urllib.request; urllib.request.urlopen('http://%s:8000/', timeout=3)" % target_ip)
    assert blocked.returncode != 0
    assert "timed out" in blocked.stderr, blocked.stderr
    reachable = client("python3", "-c", "import socket; s=socket.create_connection(('%s', 22), 3); print(s.recv(64))" % target_ip)
    assert "SSH-2.0-OpenSSH" in reachable.stdout, reachable.stderr


def test_fail2ban_bans_a_client_failing_with_a_wrong_key_then_unbans(host, target_ip):
    client_ip = ip_of(CLIENT)
    host.run("fail2ban-client set sshd unbanip %s" % client_ip)
    client("rm", "-f", "/tmp/wrong_key", "/tmp/wrong_key.pub")
    client("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", "/tmp/wrong_key", check=True)
    status = host.check_output("fail2ban-client status sshd")
    assert client_ip not in status
    banned_after = None
    for attempt in range(1, 16):
        proc = client("ssh", *SSH_OPTS, "-i", "/tmp/wrong_key", "deploy@%s" % target_ip, "true", timeout=30)
        assert proc.returncode == 255
        time.sleep(1.5)
        if client_ip in host.check_output("fail2ban-client status sshd"):
            banned_after = attempt
            break
    assert banned_after is not None, host.check_output("fail2ban-client status sshd")
    # maxretry 5 (role default); each rejected key login counts at least once in aggressive mode.
    assert banned_after <= 5
    # The ban is real: the client can no longer reach sshd at all.
    refused = client("ssh", *SSH_OPTS, "-i", "/tmp/wrong_key", "deploy@%s" % target_ip, "true", timeout=30)
    assert refused.returncode == 255
    assert "Connection refused" in refused.stderr or "timed out" in refused.stderr, refused.stderr
    assert "Permission denied" not in refused.stderr
    # Unban: reachable again (the key is still wrong, so sshd itself refuses it).
    host.check_output("fail2ban-client set sshd unbanip %s" % client_ip)
    assert client_ip not in host.check_output("fail2ban-client status sshd")
    again = client("ssh", *SSH_OPTS, "-i", "/tmp/wrong_key", "deploy@%s" % target_ip, "true", timeout=30)
    assert "Permission denied (publickey)" in again.stderr, again.stderr


def test_control_node_is_never_banned(host):
    jail = host.file("/etc/fail2ban/jail.d/cbdd.local").content_string
    gateway = host.check_output("ip route show default").split()[2]
    ignore = [l for l in jail.splitlines() if l.startswith("ignoreip")][0]
    assert gateway in ignore.split()
    assert host.run("fail2ban-client -t").rc == 0
    assert "mode = aggressive" in jail and "backend = systemd" in jail


def test_sysctl_file_keeps_ip_forward_for_docker(host):
    conf = host.file("/etc/sysctl.d/60-cbdd-hardening.conf").content_string
    assert "net.ipv4.ip_forward = 1" in conf
    assert "net.ipv4.conf.all.accept_redirects = 0" in conf


def test_unattended_security_upgrades_enabled(host):
    dump = host.check_output("apt-config dump")
    assert 'APT::Periodic::Unattended-Upgrade "1";' in dump
    origins = [l for l in dump.splitlines() if l.startswith("Unattended-Upgrade::Origins-Pattern:: ")]
    assert origins and all("Debian-Security" in l for l in origins), origins
