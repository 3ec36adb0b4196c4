# -*- coding: utf-8 -*-
# Copyright: Clinical BDD Creator operations
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""X.509 certificate inspection for cbdd_tls_check, on public and maintained APIs only.

* ``cryptography`` decodes certificates and private keys (``x509.load_pem_x509_certificate``,
  ``x509.load_der_x509_certificate``, ``Certificate.fingerprint``, the SubjectAlternativeName
  extension, ``serialization.load_pem_private_key``) and tells whether a key belongs to a
  certificate (their SubjectPublicKeyInfo are equal).  Only APIs that python3-cryptography
  38.0.4 (Debian 12) already has are used; newer releases work too: the validity bounds come
  from ``not_valid_*_utc`` when present (cryptography >= 42, where the naive ``not_valid_*``
  attributes are deprecated) and from the naive UTC ``not_valid_*`` otherwise.
* The standard library's ``ssl`` fetches the served certificate
  (``SSLSocket.getpeercert(binary_form=True)``) and verifies chains with OpenSSL's verifier
  (``ssl.create_default_context(cafile=...)``); a certificate file's chain is verified by an
  in-memory handshake (``SSLContext.wrap_bio`` over ``ssl.MemoryBIO``), which needs its key.
  cryptography 38 has no path validation (``cryptography.x509.verification`` is 42+), and
  checking signatures by hand would skip what OpenSSL checks besides (validity of every
  certificate, CA and purpose constraints), so OpenSSL stays the one chain verifier, for
  endpoints and files alike, with the same reasons (``certificate has expired``, ...).
* Host names are matched against SAN/CN with RFC 6125 wildcard rules (``wildcard_match``).

Not community.crypto's or community.docker's module_utils: since community.crypto 3.0.0 and
community.docker 5.0.0 all their module_utils are private to the collection (renamed with a
leading ``_``; breaking changes allowed even in bugfix releases), so they are no API to build on.
"""

import datetime
import ipaddress
import re
import socket
import ssl
import traceback

from ansible.module_utils.basic import missing_required_lib

try:
    from cryptography import x509
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import hashes, serialization
except ImportError:
    HAS_CRYPTOGRAPHY = False
    CRYPTOGRAPHY_IMPORT_ERROR = traceback.format_exc()
else:
    HAS_CRYPTOGRAPHY = True
    CRYPTOGRAPHY_IMPORT_ERROR = None

CRYPTOGRAPHY_REQUIRED = 'python3-cryptography is required on the managed host: apt install python3-cryptography'
PEM_CERT_RE = re.compile(rb'-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----', re.DOTALL)
DAY = datetime.timedelta(days=1)

# OpenSSL's long names of the usual distinguished-name attributes (what ssl's getpeercert()
# reports); other attribute types are reported by their dotted OID.
LONG_NAMES = {
    '2.5.4.3': 'commonName',
    '2.5.4.4': 'surname',
    '2.5.4.5': 'serialNumber',
    '2.5.4.6': 'countryName',
    '2.5.4.7': 'localityName',
    '2.5.4.8': 'stateOrProvinceName',
    '2.5.4.9': 'streetAddress',
    '2.5.4.10': 'organizationName',
    '2.5.4.11': 'organizationalUnitName',
    '2.5.4.12': 'title',
    '2.5.4.15': 'businessCategory',
    '2.5.4.17': 'postalCode',
    '2.5.4.42': 'givenName',
    '2.5.4.43': 'initials',
    '2.5.4.44': 'generationQualifier',
    '2.5.4.46': 'dnQualifier',
    '2.5.4.65': 'pseudonym',
    '0.9.2342.19200300.100.1.1': 'userId',
    '0.9.2342.19200300.100.1.25': 'domainComponent',
    '1.2.840.113549.1.9.1': 'emailAddress',
    '1.3.6.1.4.1.311.60.2.1.1': 'jurisdictionLocalityName',
    '1.3.6.1.4.1.311.60.2.1.2': 'jurisdictionStateOrProvinceName',
    '1.3.6.1.4.1.311.60.2.1.3': 'jurisdictionCountryName',
}


class TLSCheckError(Exception):
    """The certificate could not be obtained or decoded (unreachable endpoint, unreadable file)."""


def require_cryptography(module):
    """Fail ``module`` with install instructions when python3-cryptography cannot be imported."""
    if not HAS_CRYPTOGRAPHY:
        module.fail_json(msg='%s. %s' % (CRYPTOGRAPHY_REQUIRED, missing_required_lib(
            'cryptography', reason='to decode certificates and keys')), exception=CRYPTOGRAPHY_IMPORT_ERROR)


# --------------------------------------------------------------------------
# Obtaining certificates
# --------------------------------------------------------------------------

def load_der_certificate(der):
    """x509.Certificate from DER bytes (as received in a handshake)."""
    try:
        return x509.load_der_x509_certificate(der)
    except ValueError as error:
        raise TLSCheckError('cannot decode certificate: %s' % error)


def read_pem_certificate(path):
    """The first PEM certificate in ``path`` (the leaf of a full chain), as x509.Certificate."""
    try:
        with open(path, 'rb') as handle:
            match = PEM_CERT_RE.search(handle.read())
    except OSError as error:
        raise TLSCheckError('cannot read %s: %s' % (path, error.strerror or error))
    if not match:
        raise TLSCheckError('%s: no PEM certificate found' % path)
    try:
        return x509.load_pem_x509_certificate(match.group(0))
    except ValueError as error:
        raise TLSCheckError('%s: invalid PEM certificate: %s' % (path, error))


def _handshake(host, port, server_name, timeout, context):
    """DER certificate presented by ``host:port`` during a handshake with ``context``."""
    with socket.create_connection((host, port), timeout=timeout) as sock:
        with context.wrap_socket(sock, server_hostname=server_name or host) as tls:
            der = tls.getpeercert(binary_form=True)
    if not der:
        raise TLSCheckError('%s:%s presented no certificate' % (host, port))
    return der


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

    Returns ``(certificate, chain_error)``: ``chain_error`` is None when the
    chain verified against ``ca_path`` (or the system trust store), OpenSSL's
    reason when it did not, and None with ``verify=False``.  Names are not
    checked here (see ``match_name``) so that chain and name problems are
    reported separately.  Raises TLSCheckError when no certificate was received.
    """
    chain_error = None
    verifier = verifying_context(ca_path) if verify else None
    try:
        if verifier is not None:
            try:
                return load_der_certificate(_handshake(host, port, server_name, timeout, verifier)), None
            except ssl.SSLCertVerificationError as error:
                chain_error = error.verify_message or str(error)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return load_der_certificate(_handshake(host, port, server_name, timeout, context)), chain_error
    except ssl.SSLError as error:
        raise TLSCheckError('TLS handshake with %s:%s failed: %s' % (host, port, error.reason or error))
    except (socket.timeout, TimeoutError):
        raise TLSCheckError('cannot connect to %s:%s: timed out after %.1fs' % (host, port, timeout))
    except OSError as error:
        raise TLSCheckError('cannot connect to %s:%s: %s' % (host, port, error.strerror or error))


# --------------------------------------------------------------------------
# Facts
# --------------------------------------------------------------------------

def validity(cert):
    """``(not_before, not_after)`` as timezone-aware UTC datetimes, for cryptography 38 and later."""
    bounds = []
    for name in ('not_valid_before', 'not_valid_after'):
        aware = getattr(cert, name + '_utc', None)  # cryptography >= 42
        bounds.append(aware if aware is not None else getattr(cert, name).replace(tzinfo=datetime.timezone.utc))
    return tuple(bounds)


def _iso(moment):
    """ISO 8601 UTC timestamp of an aware datetime."""
    return moment.astimezone(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')


def _text(value):
    """Attribute value as text (bit-string attributes as hex)."""
    return value.hex() if isinstance(value, bytes) else value


def name_dict(name):
    """x509.Name -> {'commonName': ..., 'organizationName': ...} (the last of repeated attributes)."""
    return {LONG_NAMES.get(attribute.oid.dotted_string, attribute.oid.dotted_string): _text(attribute.value)
            for attribute in name}


def _general_names(cert):
    """The subjectAltName entries of ``cert`` (x509.GeneralName objects), empty without the extension."""
    try:
        return list(cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value)
    except x509.ExtensionNotFound:
        return []
    except ValueError as error:  # malformed extensions are decoded lazily
        raise TLSCheckError('cannot decode certificate extensions: %s' % error)


def _san_text(entry):
    """'DNS:name', 'IP:address', 'email:...', 'URI:...', 'DirName:...' or the OID of other entries."""
    if isinstance(entry, x509.DNSName):
        return 'DNS:%s' % entry.value
    if isinstance(entry, x509.IPAddress):
        return 'IP:%s' % entry.value
    if isinstance(entry, x509.RFC822Name):
        return 'email:%s' % entry.value
    if isinstance(entry, x509.UniformResourceIdentifier):
        return 'URI:%s' % entry.value
    if isinstance(entry, x509.DirectoryName):
        return 'DirName:%s' % entry.value.rfc4514_string()
    if isinstance(entry, x509.RegisteredID):
        return 'Registered ID:%s' % entry.value.dotted_string
    return 'othername:%s' % entry.type_id.dotted_string


def sans(cert):
    """subjectAltName entries as 'DNS:name' / 'IP:address' strings, in certificate order."""
    return [_san_text(entry) for entry in _general_names(cert)]


def sha256_fingerprint(cert):
    """Colon-separated upper-case SHA-256 fingerprint of the DER certificate."""
    digest = cert.fingerprint(hashes.SHA256()).hex().upper()
    return ':'.join(digest[i:i + 2] for i in range(0, len(digest), 2))


def cert_facts(cert, now=None):
    """Return values describing one certificate (validity in UTC, days_remaining floored).

    ``now`` is a timezone-aware datetime (default: the current time).
    """
    now = datetime.datetime.now(datetime.timezone.utc) if now is None else now
    not_before, not_after = validity(cert)
    return dict(
        subject=name_dict(cert.subject),
        issuer=name_dict(cert.issuer),
        serial='%X' % cert.serial_number,  # no leading zeros, whatever the DER length
        not_before=_iso(not_before),
        not_after=_iso(not_after),
        days_remaining=(not_after - now) // DAY,
        expired=now > not_after,
        not_yet_valid=now < not_before,
        sha256_fingerprint=sha256_fingerprint(cert),
        sans=sans(cert),
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


def match_name(name, cert):
    """SAN/CN entry of ``cert`` matching ``name`` ('DNS:...', 'IP:...', 'CN:...'), or None.

    IP addresses match IP SANs only.  DNS names match DNS SANs; the subject
    CN is used only when the certificate has no DNS SAN.
    """
    entries = _general_names(cert)
    address = _ip(name)
    if address is not None:
        for entry in entries:
            if isinstance(entry, x509.IPAddress) and entry.value == address:
                return _san_text(entry)
        return None
    candidates = [('DNS', entry.value) for entry in entries if isinstance(entry, x509.DNSName)]
    if not candidates:
        common_name = name_dict(cert.subject).get('commonName')
        candidates = [('CN', common_name)] if common_name else []
    for kind, value in candidates:
        if wildcard_match(value, name):
            return '%s:%s' % (kind, value)
    return None


# --------------------------------------------------------------------------
# Key pair and offline chain verification
# --------------------------------------------------------------------------

def _public_key_info(public_key):
    """DER SubjectPublicKeyInfo of a public key (equal for the two halves of one key pair)."""
    return public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def key_error(cert, cert_path, key_path):
    """None when the PEM private key in ``key_path`` belongs to ``cert``, else the reason."""
    try:
        with open(key_path, 'rb') as handle:
            data = handle.read()
    except OSError as error:
        return 'cannot read key_path %s: %s' % (key_path, error.strerror or error)
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except TypeError:  # the key is encrypted: no prompting on the managed host
        return 'cannot load key_path %s: the key is encrypted (an unencrypted key is needed)' % key_path
    except (ValueError, UnsupportedAlgorithm) as error:
        return 'cannot load key_path %s: %s' % (key_path, error)
    try:
        if _public_key_info(key.public_key()) == _public_key_info(cert.public_key()):
            return None
    except (ValueError, UnsupportedAlgorithm) as error:
        return 'cannot compare key_path %s with cert_path %s: %s' % (key_path, cert_path, error)
    return 'key_path %s does not match cert_path %s' % (key_path, cert_path)


def _no_passphrase():
    """Password callback: encrypted keys fail instead of prompting on a terminal."""
    return b''


def _step(tls_object):
    """Advance a handshake; True once it is complete."""
    try:
        tls_object.do_handshake()
        return True
    except ssl.SSLWantReadError:
        return False


def verify_chain_offline(cert_path, key_path, ca_path=None):
    """Verify the chain in ``cert_path`` (leaf first) against ``ca_path`` (or the system store).

    Runs a TLS handshake between two in-memory endpoints, the server side
    presenting ``cert_path`` with ``key_path``, so OpenSSL does the full chain,
    purpose and validity-period checks without any network.  Returns None when
    the chain is trusted, else the reason.  Raises TLSCheckError when ``ca_path``
    cannot be loaded.
    """
    client_context = verifying_context(ca_path)
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        server_context.load_cert_chain(cert_path, key_path, password=_no_passphrase)
    except (ssl.SSLError, OSError) as error:
        return 'cannot load cert_path %s with key_path %s: %s' % (
            cert_path, key_path, getattr(error, 'reason', None) or error.strerror or error)
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
