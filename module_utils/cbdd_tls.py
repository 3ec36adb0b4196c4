# -*- coding: utf-8 -*-
# Copyright: Clinical BDD Creator operations
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""X.509 certificate inspection with the Python standard library only (used by cbdd_tls_check).

* fetch a server's certificate (with or without chain verification),
* decode DER with ``ssl._ssl._test_decode_cert`` (stdlib; no python3-cryptography),
* match a host name against SAN/CN with RFC 6125 wildcard rules,
* check that a key belongs to a certificate and verify a certificate file's
  chain against a CA bundle with an in-memory TLS handshake (``ssl.MemoryBIO``).
"""

import datetime
import hashlib
import ipaddress
import os
import re
import socket
import ssl
import tempfile
import time

PEM_CERT_RE = re.compile(r'-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----', re.DOTALL)
SAN_PREFIX = {'IP Address': 'IP'}


class TLSCheckError(Exception):
    """The certificate could not be obtained or decoded (unreachable endpoint, unreadable file)."""


# --------------------------------------------------------------------------
# Obtaining certificates
# --------------------------------------------------------------------------

def read_pem_cert_der(path):
    """DER bytes of the first PEM certificate in ``path`` (the leaf of a full chain)."""
    try:
        with open(path, 'r', encoding='ascii', errors='replace') as handle:
            match = PEM_CERT_RE.search(handle.read())
    except OSError as error:
        raise TLSCheckError('cannot read %s: %s' % (path, error.strerror or error))
    if not match:
        raise TLSCheckError('%s: no PEM certificate found' % path)
    try:
        return ssl.PEM_cert_to_DER_cert(match.group(0))
    except ValueError as error:
        raise TLSCheckError('%s: invalid PEM certificate: %s' % (path, error))


def _handshake(host, port, server_name, timeout, context):
    """DER certificate presented by ``host:port`` during a handshake with ``context``."""
    with socket.create_connection((host, port), timeout=timeout) as sock:
        with context.wrap_socket(sock, server_hostname=server_name or host) as tls:
            return tls.getpeercert(binary_form=True)


def verifying_context(ca_path=None):
    """Client context that verifies chains (not names) against ``ca_path`` or the system store."""
    try:
        context = ssl.create_default_context(cafile=ca_path)
    except (OSError, ValueError) as error:  # ssl.SSLError is an OSError
        raise TLSCheckError('cannot load ca_path %s: %s' % (ca_path, getattr(error, 'strerror', None) or error))
    context.check_hostname = False
    return context


def fetch_endpoint_cert(host, port, server_name=None, timeout=10.0, ca_path=None, verify=True):
    """Peer certificate of a live endpoint.

    Returns ``(der, chain_error)``: ``chain_error`` is None when the chain
    verified against ``ca_path`` (or the system trust store), the OpenSSL
    reason when it did not, and None with ``verify=False``.  Names are not
    checked here (see ``match_name``) so that chain and name problems are
    reported separately.  Raises TLSCheckError when no certificate was received.
    """
    chain_error = None
    verifier = verifying_context(ca_path) if verify else None
    try:
        if verifier is not None:
            try:
                return _handshake(host, port, server_name, timeout, verifier), None
            except ssl.SSLCertVerificationError as error:
                chain_error = error.verify_message or str(error)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return _handshake(host, port, server_name, timeout, context), chain_error
    except ssl.SSLError as error:
        raise TLSCheckError('TLS handshake with %s:%s failed: %s' % (host, port, error.reason or error))
    except (socket.timeout, TimeoutError):
        raise TLSCheckError('cannot connect to %s:%s: timed out after %.1fs' % (host, port, timeout))
    except OSError as error:
        raise TLSCheckError('cannot connect to %s:%s: %s' % (host, port, error.strerror or error))


def decode_der(der):
    """Certificate dict as ``SSLSocket.getpeercert()`` returns it, for any DER certificate."""
    decoder = getattr(ssl._ssl, '_test_decode_cert', None)  # pylint: disable=protected-access
    if decoder is None:
        raise TLSCheckError('this Python has no ssl._ssl._test_decode_cert to decode certificates')
    handle, path = tempfile.mkstemp(prefix='cbdd-tls-', suffix='.pem')
    try:
        with os.fdopen(handle, 'w') as pem:
            pem.write(ssl.DER_cert_to_PEM_cert(der))
        return decoder(path)
    except ssl.SSLError as error:
        raise TLSCheckError('cannot decode certificate: %s' % error)
    finally:
        os.unlink(path)


# --------------------------------------------------------------------------
# Facts
# --------------------------------------------------------------------------

def _serial_hex(serial):
    """Serial number as upper-case hex without leading zeros (as '%X' % int), None if absent.

    ssl pads the hex to whole bytes, so the same serial would print differently elsewhere."""
    if not serial:
        return None
    return '%X' % int(serial, 16)


def _iso(epoch):
    """ISO 8601 UTC timestamp of ``epoch`` seconds."""
    return datetime.datetime.fromtimestamp(epoch, tz=datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')


def _name_dict(rdns):
    """Distinguished name tuples -> {'commonName': ..., 'organizationName': ...}."""
    return dict(pair for rdn in rdns for pair in rdn)


def sans(decoded):
    """subjectAltName entries as 'DNS:name' / 'IP:address' strings."""
    return ['%s:%s' % (SAN_PREFIX.get(kind, kind), value)
            for kind, value in decoded.get('subjectAltName', ())]


def sha256_fingerprint(der):
    """Colon-separated upper-case SHA-256 fingerprint of a DER certificate."""
    digest = hashlib.sha256(der).hexdigest().upper()
    return ':'.join(digest[i:i + 2] for i in range(0, len(digest), 2))


def cert_facts(decoded, der, now=None):
    """Return values describing one certificate (validity in UTC, days_remaining floored)."""
    now = time.time() if now is None else now
    not_before = ssl.cert_time_to_seconds(decoded['notBefore'])
    not_after = ssl.cert_time_to_seconds(decoded['notAfter'])
    return dict(
        subject=_name_dict(decoded.get('subject', ())),
        issuer=_name_dict(decoded.get('issuer', ())),
        serial=_serial_hex(decoded.get('serialNumber')),
        not_before=_iso(not_before),
        not_after=_iso(not_after),
        days_remaining=int((not_after - now) // 86400),
        expired=now > not_after,
        not_yet_valid=now < not_before,
        sha256_fingerprint=sha256_fingerprint(der),
        sans=sans(decoded),
    )


# --------------------------------------------------------------------------
# Name matching (RFC 6125)
# --------------------------------------------------------------------------

def _ip(value):
    """ipaddress object for ``value``, or None when it is not an IP address."""
    try:
        return ipaddress.ip_address(value.strip())
    except ValueError:
        return None


def wildcard_match(pattern, name):
    """Whether DNS ``pattern`` (maybe ``*.example.org``) covers host ``name``.

    Rules: case-insensitive, trailing dots ignored; a wildcard must be the
    whole left-most label, matches exactly one non-empty label, and needs at
    least two labels after it (``*.org`` matches nothing); partial wildcards
    (``f*.example.org``) match nothing; IP addresses never match DNS names.
    """
    pattern, name = pattern.lower().rstrip('.'), name.lower().rstrip('.')
    if not pattern or not name or _ip(name) is not None:
        return False
    if '*' not in pattern:
        return pattern == name
    first, _, rest = pattern.partition('.')
    if first != '*' or '*' in rest or rest.count('.') < 1:
        return False
    label, _, name_rest = name.partition('.')
    return bool(label) and name_rest == rest


def match_name(name, decoded):
    """SAN/CN entry of ``decoded`` matching ``name`` ('DNS:...', 'IP:...', 'CN:...'), or None.

    IP addresses match IP SANs only.  DNS names match DNS SANs; the subject
    CN is used only when the certificate has no DNS SAN.
    """
    entries = decoded.get('subjectAltName', ())
    address = _ip(name)
    if address is not None:
        for kind, value in entries:
            if kind == 'IP Address' and _ip(value) == address:
                return 'IP:%s' % value
        return None
    dns = [value for kind, value in entries if kind == 'DNS']
    if dns:
        candidates = [('DNS', value) for value in dns]
    else:
        candidates = [('CN', value) for key, value in _name_dict(decoded.get('subject', ())).items()
                      if key == 'commonName']
    for kind, value in candidates:
        if wildcard_match(value, name):
            return '%s:%s' % (kind, value)
    return None


# --------------------------------------------------------------------------
# Key pair and offline chain verification
# --------------------------------------------------------------------------

def _no_passphrase():
    """Password callback: encrypted keys fail instead of prompting on a terminal."""
    return b''


def load_key_pair(cert_path, key_path):
    """Server SSLContext holding cert_path + key_path, or ``(None, reason)`` if they do not fit."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(cert_path, key_path, password=_no_passphrase)
    except ssl.SSLError as error:
        if 'KEY_VALUES_MISMATCH' in str(error):
            return None, 'key_path %s does not match cert_path %s' % (key_path, cert_path)
        return None, 'cannot load key_path %s with cert_path %s: %s' % (key_path, cert_path, error.reason or error)
    except OSError as error:
        return None, 'cannot read key_path %s: %s' % (key_path, error.strerror or error)
    return context, None


def _step(tls_object):
    """Advance a handshake; True once it is complete."""
    try:
        tls_object.do_handshake()
        return True
    except ssl.SSLWantReadError:
        return False


def verify_chain_offline(server_context, ca_path=None):
    """Verify the chain loaded in ``server_context`` against ``ca_path`` (or the system store).

    Runs a TLS handshake between two in-memory endpoints, so OpenSSL does the
    full chain, purpose and validity-period checks without any network.
    Returns None when the chain is trusted, else the reason.
    """
    client_context = verifying_context(ca_path)
    client_in, client_out, server_in, server_out = (ssl.MemoryBIO() for _ in range(4))
    client = client_context.wrap_bio(client_in, client_out)
    server = server_context.wrap_bio(server_in, server_out, server_side=True)
    for _ in range(10):
        try:
            if _step(client):
                return None
        except ssl.SSLCertVerificationError as error:
            return error.verify_message or str(error)
        except ssl.SSLError as error:
            return 'handshake failed: %s' % (error.reason or error)
        try:
            _step(server)
        except ssl.SSLError:
            pass  # the client side reports the reason
        server_in.write(client_out.read())
        client_in.write(server_out.read())
    return 'handshake did not complete'
