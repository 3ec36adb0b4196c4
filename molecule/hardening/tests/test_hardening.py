"""Verify the hardened target from the outside (real SSH clients) and the inside (testinfra).

The control node reaches the target on the scenario's Docker network (its own test container);
the client container on the same network is the attacker whose address fail2ban must ban.
"""
import os
import subprocess
import sys
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
                           "deploy@%s" % target_ip, "true"], stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30)
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


# ---- Private scrape ports: only the listed source (the client container) gets through; the
# control node (the scenario network's gateway) is a source that must be dropped.

def gateway_ip():
    fmt = "{{(index .NetworkSettings.Networks \"%s\").Gateway}}" % NETWORK
    return subprocess.run(["docker", "inspect", "-f", fmt, TARGET], check=True,
                          capture_output=True, text=True).stdout.strip()


def probe_from_client(ip, port):
    return client("python3", "-c", "import urllib.request; print(urllib.request.urlopen('http://%s:%d/', timeout=4).status)"
                  % (ip, port), timeout=30)


def probe_from_control_node(ip, port):
    import urllib.request
    try:
        return urllib.request.urlopen("http://%s:%d/" % (ip, port), timeout=4).status
    except OSError as exc:
        return repr(exc)


def wait_listening(host, ip, port, netns=None):
    prefix = "ip netns exec %s " % netns if netns else ""
    for _ in range(30):
        if host.run("%spython3 -c \"import socket; socket.create_connection(('%s', %d), 1)\"" % (prefix, ip, port)).rc == 0:
            return
        time.sleep(0.5)
    pytest.fail("test listener on %s:%d did not start" % (ip, port))


def test_private_service_host_port_accepts_only_listed_sources(host, target_ip):
    ruleset = host.check_output("nft list chain inet cbdd_filter input")
    assert "tcp dport 9100 drop" in ruleset and "fd00:cbdd::/64" in ruleset, ruleset
    subprocess.run(["docker", "exec", "-d", TARGET, "timeout", "60", "python3", "-m", "http.server", "9100",
                    "--bind", "0.0.0.0"], check=True)
    wait_listening(host, "127.0.0.1", 9100)
    allowed = probe_from_client(target_ip, 9100)
    assert allowed.stdout.strip() == "200", allowed.stderr
    dropped = probe_from_control_node(target_ip, 9100)
    assert "timed out" in str(dropped), "control node %s reached the private port: %s" % (gateway_ip(), dropped)


def test_private_service_published_port_filtered_on_forward_hook(host, target_ip):
    """A port published the way Docker does it (DNAT in prerouting to an address behind the host)
    never passes the input hook: the forward-hook chain must let the client in and drop the rest."""
    forward = host.check_output("nft list chain inet cbdd_filter forward")
    assert "hook forward priority filter - 10" in forward, forward
    setup = """set -e
    ip netns add cbdd-svc
    ip link add cbdd-veth0 type veth peer name cbdd-veth1
    ip link set cbdd-veth1 netns cbdd-svc
    ip addr add 10.203.0.1/30 dev cbdd-veth0 && ip link set cbdd-veth0 up
    ip -n cbdd-svc addr add 10.203.0.2/30 dev cbdd-veth1 && ip -n cbdd-svc link set cbdd-veth1 up
    ip -n cbdd-svc link set lo up && ip -n cbdd-svc route add default via 10.203.0.1
    printf 'table ip cbdd_test_nat {\\n chain prerouting {\\n  type nat hook prerouting priority dstnat;\\n  tcp dport 18000 dnat to 10.203.0.2:18000\\n }\\n}\\n' | nft -f -
    """
    teardown = "nft delete table ip cbdd_test_nat; ip link del cbdd-veth0; ip netns del cbdd-svc"
    host.run(teardown)
    try:
        host.check_output("bash -c %s" % shlex_quote(setup))
        subprocess.run(["docker", "exec", "-d", TARGET, "ip", "netns", "exec", "cbdd-svc", "timeout", "60",
                        "python3", "-m", "http.server", "18000", "--bind", "10.203.0.2"], check=True)
        wait_listening(host, "10.203.0.2", 18000, netns="cbdd-svc")
        allowed = probe_from_client(target_ip, 18000)
        assert allowed.stdout.strip() == "200", allowed.stderr
        dropped = probe_from_control_node(target_ip, 18000)
        assert "timed out" in str(dropped), dropped
        # Our own table only: the forward chain accepts everything that is not a private port.
        assert "policy accept" in forward
    finally:
        host.run(teardown)


def shlex_quote(text):
    import shlex
    return shlex.quote(text)


# ---- Operators' tunnels: local forwarding for the tunnel users to the listed loopback ports only.

def ssh_as(user, target_ip, *options, command=(), stdin=None, timeout=30):
    # Never the test's own stdin: ssh would leave it non-blocking for the processes after it.
    return subprocess.run(["ssh", *SSH_OPTS, "-i", KEY, *options, "%s@%s" % (user, target_ip), *command],
                          input=stdin if stdin is not None else "", capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def loopback_ui(host):
    subprocess.run(["docker", "exec", "-d", TARGET, "timeout", "300", "python3", "-m", "http.server", "9090",
                    "--bind", "127.0.0.1"], check=True)
    wait_listening(host, "127.0.0.1", 9090)
    subprocess.run(["docker", "exec", "-d", TARGET, "timeout", "300", "python3", "-m", "http.server", "9999",
                    "--bind", "127.0.0.1"], check=True)
    wait_listening(host, "127.0.0.1", 9999)


def test_sshd_forwarding_is_off_for_other_users(host):
    other = host.check_output("sshd -T -C user=auditor,host=x,addr=192.0.2.1").splitlines()
    assert "allowtcpforwarding no" in other
    assert "allowtcpforwarding no" in host.check_output("sshd -T").splitlines()
    tunnel = host.check_output("sshd -T -C user=deploy,host=x,addr=192.0.2.1").splitlines()
    assert "allowtcpforwarding local" in tunnel
    assert "permitopen 127.0.0.1:9090 127.0.0.1:9093 127.0.0.1:3001" in tunnel
    assert "allowstreamlocalforwarding no" in tunnel and "gatewayports no" in tunnel


def test_tunnel_user_reaches_a_listed_loopback_port_with_ssh_L(loopback_ui, target_ip):
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        local_port = s.getsockname()[1]
    proc = subprocess.Popen(["ssh", *SSH_OPTS, "-i", KEY, "-N", "-o", "ExitOnForwardFailure=yes",
                             "-L", "127.0.0.1:%d:127.0.0.1:9090" % local_port, "deploy@%s" % target_ip],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        import urllib.request
        status = None
        for _ in range(30):
            try:
                status = urllib.request.urlopen("http://127.0.0.1:%d/" % local_port, timeout=3).status
                break
            except OSError:
                assert proc.poll() is None, proc.communicate()[1]
                time.sleep(0.5)
        assert status == 200
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_tunnel_to_an_unlisted_port_is_refused(loopback_ui, target_ip):
    # -W opens the same direct-tcpip channel as -L; 9999 listens but is not in PermitOpen.
    proc = ssh_as("deploy", target_ip, "-W", "127.0.0.1:9999", stdin="GET / HTTP/1.0\r\n\r\n")
    assert proc.returncode == 255
    assert "administratively prohibited" in proc.stderr, proc.stderr
    listed = ssh_as("deploy", target_ip, "-W", "127.0.0.1:9090", stdin="GET / HTTP/1.0\r\n\r\n")
    assert listed.stdout.startswith("HTTP/1.0 200"), listed.stderr


def test_other_login_user_cannot_tunnel(loopback_ui, target_ip):
    assert ssh_as("auditor", target_ip, command=["true"]).returncode == 0
    proc = ssh_as("auditor", target_ip, "-W", "127.0.0.1:9090", stdin="GET / HTTP/1.0\r\n\r\n")
    assert proc.returncode == 255
    assert "administratively prohibited" in proc.stderr, proc.stderr


def test_remote_forwarding_is_refused_for_everyone(target_ip):
    for user in ("deploy", "auditor"):
        proc = ssh_as(user, target_ip, "-o", "ExitOnForwardFailure=yes", "-R", "127.0.0.1:2299:127.0.0.1:22",
                      command=["sleep", "2"])
        assert proc.returncode == 255, (user, proc.stderr)
        assert "remote port forwarding failed" in proc.stderr, proc.stderr


# ---- OS baseline (dev-sec os_hardening level).

def test_legal_banner_is_shown_before_login(host, target_ip):
    for path in ("/etc/issue", "/etc/issue.net"):
        assert "authorized users only" in host.file(path).content_string
    assert "banner /etc/issue.net" in host.check_output("sshd -T").splitlines()
    # Shown before authentication: even a refused password-only attempt receives it.
    proc = subprocess.run(["ssh", *SSH_OPTS, "-o", "PubkeyAuthentication=no", "-o", "PreferredAuthentications=password",
                           "nobody@%s" % target_ip, "true"], stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=30)
    assert "authorized users only" in proc.stderr, proc.stderr


def test_login_defs_and_idle_timeout(host):
    active = [" ".join(l.split()) for l in host.file("/etc/login.defs").content_string.splitlines()
              if l.strip() and not l.lstrip().startswith("#")]
    for line in ("UMASK 027", "PASS_MAX_DAYS 365", "PASS_MIN_DAYS 1", "SHA_CRYPT_MIN_ROUNDS 640000",
                 "SHA_CRYPT_MAX_ROUNDS 640000", "ENCRYPT_METHOD SHA512"):
        assert line in active, line
    # A new account really gets the ages and a 0750 home (UMASK 027).
    host.run("userdel -r cbdd-probe")
    host.check_output("useradd -m cbdd-probe")
    try:
        assert host.file("/home/cbdd-probe").mode == 0o750
        assert host.check_output("chage -l cbdd-probe | grep 'Maximum number'").split(":")[1].strip() == "365"
    finally:
        host.run("userdel -r cbdd-probe")
    login = host.run("su - deploy -c 'echo TMOUT=$TMOUT; TMOUT=5 && echo writable'")
    assert "TMOUT=900" in login.stdout
    assert "writable" not in login.stdout and "readonly" in login.stderr


def test_core_dumps_are_off(host, target_ip):
    limits = [l.split() for l in host.file("/etc/security/limits.d/10-cbdd-coredumps.conf").content_string.splitlines()
              if l.strip() and not l.startswith("#")]
    assert ["*", "hard", "core", "0"] in [l[:4] for l in limits] and ["*", "soft", "core", "0"] in [l[:4] for l in limits], limits
    # sshd's PAM session applies limits.d; the login shell's profile.d sets the soft limit too.
    login = ssh_as("deploy", target_ip, command=["ulimit -Hc; ulimit -c"])
    assert login.stdout.split() == ["0", "0"], login.stdout + login.stderr
    assert host.check_output("su - deploy -c 'ulimit -c'") == "0"
    coredump = host.file("/etc/systemd/coredump.conf.d/cbdd.conf").content_string
    assert "Storage=none" in coredump and "ProcessSizeMax=0" in coredump
    assert "fs.suid_dumpable = 0" in host.file("/etc/sysctl.d/60-cbdd-coredumps.conf").content_string


def test_unused_kernel_modules_cannot_load(host):
    for module in ("dccp", "sctp", "rds", "tipc", "usb-storage", "firewire-core", "cramfs"):
        # modprobe resolves the rule without loading anything (-n); the install rule wins.
        assert host.check_output("modprobe -n -v %s" % module).strip() == "install /bin/true", module
    assert host.run("modprobe --showconfig | grep -q '^blacklist dccp$'").rc == 0


def test_pam_password_quality_and_tmpdir(host):
    assert "pam_pwquality.so" in host.file("/etc/pam.d/common-password").content_string
    assert "pam_tmpdir.so" in host.file("/etc/pam.d/common-session").content_string
    assert "no_pass_expiry" in host.file("/etc/pam.d/common-account").content_string
    # 10 characters of 4 classes, no dictionary word: libpwquality's defaults (minlen 8) accept it,
    # the role's minlen 14 does not.
    short = host.run("echo 'Xk7#mq2Lw!' | pwscore")
    assert short.rc != 0 and "shorter than 14" in short.stderr, (short.stdout, short.stderr)
    strong = host.run("echo 'k7#Qv!2pLr9@zW4x' | pwscore")
    assert strong.rc == 0, strong.stderr
    assert "TMPDIR=/tmp/user/" in host.check_output("su - deploy -c env")


def test_package_tools_and_needrestart(host):
    for package in ("debsums", "apt-show-versions", "needrestart", "libpam-tmpdir", "acct", "sysstat"):
        assert host.package(package).is_installed, package
    assert not host.package("apt-listbugs").is_installed
    assert "$nrconf{restart} = 'l';" in host.file("/etc/needrestart/conf.d/50-cbdd.conf").content_string
    assert "NEEDRESTART-VER" in host.check_output("needrestart -b -r l")
    assert host.run("debsums -s openssh-server").rc == 0


def test_accounting_sysstat_on_acct_and_auditd_skipped_in_container(host):
    assert 'ENABLED="true"' in host.file("/etc/default/sysstat").content_string
    assert host.service("sysstat").is_enabled
    # No CAP_SYS_PACCT / CAP_AUDIT_CONTROL in this container: left off, not failing.
    assert not host.service("acct").is_enabled
    assert not host.package("auditd").is_installed
    assert host.run("systemctl is-failed acct").stdout.strip() != "failed"


def test_permissions_tightened(host):
    assert host.file("/home/deploy").mode == 0o750
    assert host.file("/home/auditor").mode == 0o750
    assert host.file("/etc/ssh/sshd_config").mode == 0o600
    for folder in ("/etc/cron.d", "/etc/cron.daily"):
        if host.file(folder).exists:
            assert host.file(folder).mode == 0o700, folder
    assert host.file("/etc/shadow").mode & 0o007 == 0


def test_security_repository_is_configured_and_seen_by_apt(host):
    source = host.file("/etc/apt/sources.list.d/cbdd-debian-security.sources").content_string
    assert "Suites: bookworm-security" in source
    policy = host.check_output("apt-cache policy")
    assert "n=bookworm-security,l=Debian-Security" in policy, policy
    # The lists were really fetched (apt knows the security archive's packages).
    lists = host.check_output("ls /var/lib/apt/lists/").split()
    assert any("bookworm-security_main_binary-amd64_Packages" in name for name in lists), lists
    # unattended-upgrades' origin patterns name exactly that archive.
    dump = host.check_output("apt-config dump Unattended-Upgrade::Origins-Pattern")
    assert "codename=${distro_codename}-security,label=Debian-Security" in dump, dump


# ---- Bad input is refused before anything changes, and --check changes nothing.

def etc_fingerprint(host):
    return host.check_output("find /etc -xdev -printf '%p %m %u %g %s %T@ %l\\n' | LC_ALL=C sort | sha256sum")


def run_harden(*args, timeout=600):
    project = os.environ["MOLECULE_PROJECT_DIRECTORY"]
    inventory = os.environ.get("MOLECULE_INVENTORY_FILE", os.path.join(EPHEMERAL, "inventory"))
    # Facts from memory only: the project's jsonfile cache may hold an earlier instance's facts for
    # the same host name (another network, another gateway) for an hour.
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(project, "ansible.cfg"), ANSIBLE_FORCE_COLOR="0",
               ANSIBLE_NOCOLOR="1", ANSIBLE_CACHE_PLUGIN="ansible.builtin.memory")
    playbook_bin = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
    return subprocess.run([playbook_bin, "-i", os.path.dirname(inventory) if inventory.endswith(".yml") else inventory,
                           "--limit", TARGET, os.path.join(project, "playbooks", "harden.yml"), *args],
                          capture_output=True, text=True, env=env, cwd=project, timeout=timeout)


BAD_INPUT = [
    ({"hardening_fail2ban_ignoreip": ["10.0.0.300"]}, "hardening_fail2ban_ignoreip"),
    ({"hardening_firewall_private_services": [{"name": "metrics", "port": 8000, "sources": ["10.1.2.3/8"]}]},
     "hardening_firewall_private_services"),
    ({"hardening_banner_text": "Authorized only\u001b[2J\u0007"}, "hardening_banner_text"),
    ({"hardening_ssh_allow_users": ["someone-else"]}, "hardening_ssh_allow_users"),
]


@pytest.mark.parametrize("extra,variable", BAD_INPUT, ids=[v for _, v in BAD_INPUT])
def test_bad_input_is_refused_before_anything_changes(host, extra, variable):
    import json
    before = etc_fingerprint(host)
    proc = run_harden("-e", json.dumps(extra))
    assert proc.returncode != 0, proc.stdout[-2000:]
    assert variable in proc.stdout, proc.stdout[-3000:]
    assert "Check the hardening variables" in proc.stdout or "Assert" in proc.stdout
    assert etc_fingerprint(host) == before


def test_check_diff_on_the_hardened_host_changes_nothing(host):
    before = etc_fingerprint(host)
    proc = run_harden("--check", "--diff")
    assert proc.returncode == 0, proc.stdout[-3000:]
    recap = [l for l in proc.stdout.splitlines() if l.startswith(TARGET) and "ok=" in l]
    task, changed = None, []
    for line in proc.stdout.splitlines():
        if line.startswith("TASK ["):
            task = line
        elif line.startswith("changed:"):
            changed.append("%s %s" % (task, line))
    assert recap and "changed=0" in recap[0], "\n".join(recap + changed)
    assert etc_fingerprint(host) == before
