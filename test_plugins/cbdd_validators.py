# -*- coding: utf-8 -*-
# Copyright: Clinical BDD Creator operations
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The project's one set of input validators (Jinja2 tests), used by every role and playbook.

A value that ends up in a config file, a container definition, a unit file, an authorized_keys
file or a command line is checked against what it stands for (a host name, a port, a duration...),
not only by the parser of the file it lands in. Each test answers False for anything it does not
recognise (wrong type included); the asserts that use them name the variable and the accepted form.

    that: nginx_ssl_server_aliases is cbdd_all('cbdd_server_name')
    that: nginx_ssl_https_port is cbdd_port
"""

import base64
import ipaddress
import re
import struct
import urllib.parse

_LABEL = re.compile(r'^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$')
_DURATION_UNITS = ('ms', 's', 'm', 'h', 'd', 'w', 'y')
_DURATION = re.compile(r'^([0-9]+)(ms|s|m|h|d|w|y)$')
_LOCAL_PART = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$")
_DOCKER_TAG = re.compile(r'^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$')
_CONTAINER_NAME = re.compile(r'^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$')
_SSH_KEY_TYPES = ('ssh-ed25519', 'ssh-rsa', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521',
                  'sk-ssh-ed25519@openssh.com', 'sk-ecdsa-sha2-nistp256@openssh.com')
_PEM_CERT = re.compile(r'-----BEGIN CERTIFICATE-----\s+([A-Za-z0-9+/=\s]+?)-----END CERTIFICATE-----')


def _is_text(value):
    return isinstance(value, str)


def hostname(value):
    """RFC 1123 host name: dot-separated labels of letters, digits and inner hyphens, <= 253 chars.

    No empty label (``a..b``), no leading/trailing hyphen in a label, no trailing dot, not all digits
    in the last label (that would be an IP address).
    """
    if not _is_text(value) or not value or len(value) > 253:
        return False
    labels = value.split('.')
    if not all(_LABEL.match(label) for label in labels):
        return False
    return not labels[-1].isdigit()


def server_name(value):
    """A host name a certificate and nginx may serve: a host name, or ``*.`` followed by one."""
    if _is_text(value) and value.startswith('*.'):
        return hostname(value[2:]) and '.' in value[2:]
    return hostname(value)


def port(value):
    """A TCP/UDP port 1-65535, as an integer or a string of digits (no sign, no spaces)."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return 1 <= value <= 65535
    if _is_text(value) and value.isdigit() and value == value.strip():
        return 1 <= int(value) <= 65535
    return False


def ip_address(value):
    """An IPv4 or IPv6 address (no prefix length)."""
    if not _is_text(value):
        return False
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def ip_network(value):
    """An address or a network in CIDR form (``10.0.0.0/8``; host bits must be zero)."""
    if not _is_text(value):
        return False
    try:
        ipaddress.ip_network(value, strict=True)
    except ValueError:
        return False
    return True


def duration(value, units=_DURATION_UNITS):
    """A duration such as ``15s``, ``5m``, ``1h``, ``30d`` (digits then one of ``units``)."""
    if not _is_text(value):
        return False
    match = _DURATION.match(value)
    return bool(match) and match.group(2) in units


def email(value):
    """A bare e-mail address ``local@domain`` (domain: a host name with at least one dot)."""
    if not _is_text(value) or len(value) > 254 or value.count('@') != 1:
        return False
    local, domain = value.split('@')
    return bool(_LOCAL_PART.match(local)) and len(local) <= 64 and hostname(domain) and '.' in domain


def mailbox(value):
    """An e-mail address, optionally with a display name: ``Ops <ops@example.org>``."""
    if not _is_text(value) or any(c in value for c in '\r\n\0'):
        return False
    match = re.match(r'^([^<>"]*)<([^<>]+)>$', value.strip())
    return email(match.group(2)) if match else email(value)


def url(value, schemes=('http', 'https')):
    """An absolute URL with one of ``schemes``, a host (name or IP address) and a valid port.

    No whitespace, control characters, user info or fragments: the value is pasted into config
    files and command lines.
    """
    if not _is_text(value) or not value or any(ord(c) < 33 or ord(c) == 127 for c in value):
        return False
    try:
        parts = urllib.parse.urlsplit(value)
        explicit_port = parts.port
    except ValueError:
        return False
    if parts.scheme not in schemes or parts.username or parts.password or parts.fragment:
        return False
    host = parts.hostname or ''
    if host.startswith('[') or not (hostname(host) or ip_address(host) or host == 'localhost'):
        return False
    return explicit_port is None or port(explicit_port)


def docker_tag(value):
    """A Docker image tag (what ``docker tag`` accepts)."""
    return _is_text(value) and bool(_DOCKER_TAG.match(value))


def container_name(value):
    """A Docker container (or network, volume) name."""
    return _is_text(value) and bool(_CONTAINER_NAME.match(value))


def single_line(value):
    """Printable text on one line: no newline, carriage return, NUL or other control character."""
    return _is_text(value) and not any(ord(c) < 32 or ord(c) == 127 for c in value)


def banner_text(value):
    """Text for a login banner: printable characters and newlines only (no NUL, no escapes)."""
    return _is_text(value) and bool(value.strip()) and not any(
        (ord(c) < 32 and c != '\n') or ord(c) == 127 for c in value)


def ssh_public_key(value):
    """Exactly ONE OpenSSH public key line ``<type> <base64> [comment]``, without options.

    Rejects a second key, leading options such as ``command="..."`` or ``from=...``, unknown key
    types, and base64 whose embedded type does not match the declared one.
    """
    if not _is_text(value):
        return False
    lines = [line for line in value.strip().splitlines() if line.strip()]
    if len(lines) != 1:
        return False
    fields = lines[0].split()
    if len(fields) < 2 or fields[0] not in _SSH_KEY_TYPES:
        return False
    try:
        blob = base64.b64decode(fields[1], validate=True)
        (length,) = struct.unpack('>I', blob[:4])
        embedded = blob[4:4 + length].decode('ascii')
    except (ValueError, struct.error, UnicodeDecodeError):
        return False
    return embedded == fields[0] and single_line(lines[0])


def pem_certificate(value):
    """Text holding at least one well-formed PEM ``CERTIFICATE`` block (base64 DER inside)."""
    if not _is_text(value):
        return False
    blocks = _PEM_CERT.findall(value)
    if not blocks:
        return False
    for block in blocks:
        try:
            der = base64.b64decode(''.join(block.split()), validate=True)
        except ValueError:
            return False
        if len(der) < 64 or der[0] != 0x30:
            return False
    return True


def service_runs_on(service, services, groups, hosts):
    """True when a catalogue service (name) runs on at least one of ``hosts`` (its group has one)."""
    group = (services.get(service) or {}).get('group')
    return bool(set(groups.get(group) or []) & set(hosts))


def all_items(values, test_name, *args):
    """True when ``values`` is a list (not a string) and every item passes the named cbdd test."""
    if isinstance(values, (str, bytes, dict)) or not hasattr(values, '__iter__'):
        return False
    test = TESTS[test_name]
    return all(test(item, *args) for item in values)


TESTS = {
    'cbdd_hostname': hostname,
    'cbdd_server_name': server_name,
    'cbdd_port': port,
    'cbdd_ip': ip_address,
    'cbdd_cidr': ip_network,
    'cbdd_duration': duration,
    'cbdd_email': email,
    'cbdd_mailbox': mailbox,
    'cbdd_url': url,
    'cbdd_docker_tag': docker_tag,
    'cbdd_container_name': container_name,
    'cbdd_single_line': single_line,
    'cbdd_banner_text': banner_text,
    'cbdd_ssh_public_key': ssh_public_key,
    'cbdd_pem_certificate': pem_certificate,
    'cbdd_service_runs_on': service_runs_on,
}


class TestModule:
    """Jinja2 tests: ``value is cbdd_port``, ``values is cbdd_all('cbdd_cidr')``."""

    def tests(self):
        return dict(TESTS, cbdd_all=all_items)
