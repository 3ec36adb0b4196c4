"""The shared validators (test_plugins/cbdd_validators.py) and filters (filter_plugins/cbdd_filters.py),
in-process and through a real ansible-playbook run (the plugin paths of ansible.cfg)."""
import base64
import importlib.util
import json
import subprocess

import pytest

from support_env import REPO, VENV_BIN


def _load(path, name):
    spec = importlib.util.spec_from_file_location(name, REPO / path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


V = _load("test_plugins/cbdd_validators.py", "cbdd_validators")
F = _load("filter_plugins/cbdd_filters.py", "cbdd_filters")


def ed25519_line(comment="ops@example"):
    blob = b"\x00\x00\x00\x0bssh-ed25519" + b"\x00\x00\x00\x20" + bytes(range(32))
    return "ssh-ed25519 %s %s" % (base64.b64encode(blob).decode(), comment)


@pytest.mark.parametrize("value", ["clinical-bdd.local", "a", "x-1.example.org", "a" * 63 + ".org"])
def test_hostname_accepts(value):
    assert V.hostname(value) and V.server_name(value)


@pytest.mark.parametrize("value", ["clinical-bdd..local", "x.example; return 302 https://evil.example/; #", "-a.org",
                                   "a-.org", "a.org.", "", "a b", "a" * 64 + ".org", "10.0.0.1", 5, None, "é.org",
                                   "*.example.org"])
def test_hostname_refuses(value):
    assert not V.hostname(value)


def test_server_name_allows_a_leading_wildcard_only():
    assert V.server_name("*.example.org")
    assert not V.server_name("*.org") and not V.server_name("a.*.org") and not V.server_name("*")


@pytest.mark.parametrize("value,ok", [(1, True), (443, True), ("8443", True), (65535, True), (0, False), (70000, False),
                                      ("abc", False), (" 443", False), ("-1", False), (True, False), (443.0, False)])
def test_port(value, ok):
    assert V.port(value) is ok


@pytest.mark.parametrize("value,ip,cidr", [("10.0.0.1", True, True), ("::1", True, True), ("10.0.0.0/8", False, True),
                                           ("10.0.0.1/8", False, False), ("10.0.0.256", False, False),
                                           ("example.org", False, False), ("", False, False)])
def test_ip_and_cidr(value, ip, cidr):
    assert V.ip_address(value) is ip and V.ip_network(value) is cidr


@pytest.mark.parametrize("value,ok", [("15s", True), ("5m", True), ("1h", True), ("30d", True), ("250ms", True),
                                      ("15", False), ("1.5h", False), ("1 h", False), ("h", False), ("-1s", False)])
def test_duration(value, ok):
    assert V.duration(value) is ok


def test_duration_units_can_be_limited():
    assert V.duration("10m", ("s", "m")) and not V.duration("1d", ("s", "m"))


@pytest.mark.parametrize("value,ok", [("oncall@example.org", True), ("a.b+c@mail.example.org", True), ("root@localhost", False),
                                      ("a@@example.org", False), ("a b@example.org", False), ("@example.org", False),
                                      ("ops@example..org", False), ("ops@example.org\nBcc: x@y.org", False)])
def test_email(value, ok):
    assert V.email(value) is ok


def test_mailbox_takes_a_display_name():
    assert V.mailbox("Clinical BDD Creator operations <devops@company.com>")
    assert not V.mailbox("Ops <devops@company.com>\r\nBcc: x@y.org") and not V.mailbox("Ops <nobody>")


@pytest.mark.parametrize("value,ok", [("https://hooks.example.org/services/T0/B0?x=1", True), ("http://10.0.0.5:9093/", True),
                                      ("http://cbdd-s3-standin:5000", True), ("ftp://example.org/", False),
                                      ("https://exa mple.org/", False), ("https://example.org:99999/", False),
                                      ("https://user:pw@example.org/", False), ("example.org/hook", False),
                                      ("https://example.org/#frag", False), ("https://", False), ("https://a..b/", False)])
def test_url(value, ok):
    assert V.url(value) is ok


def test_url_schemes_can_be_limited():
    assert V.url("https://example.org/", ("https",)) and not V.url("http://example.org/", ("https",))


def test_ssh_public_key_accepts_one_plain_key():
    assert V.ssh_public_key(ed25519_line())
    assert V.ssh_public_key(ed25519_line() + "\n")


@pytest.mark.parametrize("mangle", [
    lambda k: 'command="/bin/sh" ' + k,                       # forced command option
    lambda k: 'from="10.0.0.1" ' + k,                         # options of any kind
    lambda k: k + "\n" + k,                                   # a second key
    lambda k: k.replace("ssh-ed25519 ", "ssh-dss ", 1),      # unsupported type
    lambda k: k.replace("ssh-ed25519 ", "ssh-rsa ", 1),      # type does not match the blob
    lambda k: k.split()[0] + " not-base64!! c",               # bad base64
    lambda k: k.split()[0],                                   # no key material
])
def test_ssh_public_key_refuses(mangle):
    assert not V.ssh_public_key(mangle(ed25519_line()))


def test_pem_certificate(tmp_path):
    from support_pki import UnitPKI
    pki = UnitPKI(tmp_path)
    assert V.pem_certificate(pki.ca.cert_path.read_text())
    assert not V.pem_certificate("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
    assert not V.pem_certificate("not a certificate")


def test_single_line_and_banner():
    assert V.single_line("Clinical BDD Creator") and not V.single_line("a\nb") and not V.single_line("a\x00")
    assert V.banner_text("Authorised use only.\nActivity is logged.\n") and not V.banner_text("a\x1b[31m") and not V.banner_text("  ")


def test_all_items():
    assert V.all_items(["a.org", "b.org"], "cbdd_hostname")
    assert not V.all_items(["a.org", "b..org"], "cbdd_hostname")
    assert not V.all_items("a.org", "cbdd_hostname")  # a string is not a list
    assert V.all_items(["10.0.0.0/8"], "cbdd_cidr")


@pytest.mark.parametrize("value,seconds", [(30, 30.0), ("30", 30.0), ("30s", 30.0), ("5m", 300.0), ("1h", 3600.0),
                                           ("250ms", 0.25), ("2.5s", 2.5)])
def test_cbdd_seconds(value, seconds):
    assert F.cbdd_seconds(value) == seconds


@pytest.mark.parametrize("value", ["abc", "5 minutes", True, "", None])
def test_cbdd_seconds_refuses(value):
    with pytest.raises(Exception):
        F.cbdd_seconds(value)


def test_plugins_are_found_by_ansible_playbook(tmp_path):
    """ansible.cfg points ansible at both plugin folders: a playbook can use them."""
    playbook = tmp_path / "p.yml"
    playbook.write_text(
        "- hosts: localhost\n  gather_facts: false\n  tasks:\n"
        "    - ansible.builtin.debug:\n"
        "        msg: \"{{ [443 is cbdd_port, 70000 is cbdd_port, ['a.org'] is cbdd_all('cbdd_hostname'),"
        " '5m' | cbdd_seconds] | to_json }}\"\n")
    out = subprocess.run([str(VENV_BIN / "ansible-playbook"), "-i", "localhost,", str(playbook)],
                         cwd=REPO, capture_output=True, text=True, check=True,
                         env={"ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "PATH": str(VENV_BIN) + ":/usr/bin:/bin",
                              "ANSIBLE_LOCALHOST_WARNING": "0", "ANSIBLE_PYTHON_INTERPRETER": "auto_silent"}).stdout
    assert json.dumps([True, False, True, 300.0]) in out or "[true, false, true, 300.0]" in out, out


def test_cbdd_release_id_is_stable_and_changes_with_any_part():
    release = {"version": "1.4.2", "ini": "[app]\nversion = 1.4.2\n", "env": "A=1\n", "spec": {"port": 3000, "cpus": 2.0}}
    first = F.cbdd_release_id(release)
    assert first.startswith("1.4.2-") and len(first) == len("1.4.2-") + 10
    assert F.cbdd_release_id(dict(reversed(list(release.items())))) == first  # key order does not matter
    for key, value in (("ini", "[app]\nversion = 1.4.3\n"), ("env", "A=2\n"), ("spec", {"port": 3001, "cpus": 2.0})):
        assert F.cbdd_release_id(dict(release, **{key: value})) != first, key
    with pytest.raises(Exception):
        F.cbdd_release_id({"version": "1"})


def test_cbdd_scrape_targets_reach_other_hosts_on_their_private_address():
    hosts = [{"inventory_hostname": "mon", "cbdd_private_address": "10.0.0.5"},
             {"inventory_hostname": "app-1", "cbdd_private_address": "10.0.0.11"},
             {"inventory_hostname": "app-6", "cbdd_private_address": "fd00::6"}]
    assert F.cbdd_scrape_targets(hosts, "mon", 9100, "cbdd-node-exporter") == [
        {"host": "mon", "address": "cbdd-node-exporter:9100"},
        {"host": "app-1", "address": "10.0.0.11:9100"},
        {"host": "app-6", "address": "[fd00::6]:9100"}]


def test_cbdd_scrape_targets_read_each_host_s_own_port_variable():
    hosts = [{"inventory_hostname": "mon", "cbdd_private_address": "10.0.0.5", "nginx_ssl_https_port": 443},
             {"inventory_hostname": "app-2", "cbdd_private_address": "10.0.0.12", "nginx_ssl_https_port": 8443}]
    assert F.cbdd_scrape_targets(hosts, "mon", "nginx_ssl_https_port", "cbdd-nginx", 443) == [
        {"host": "mon", "address": "cbdd-nginx:443"},
        {"host": "app-2", "address": "10.0.0.12:8443"}]
