"""Throw-away test PKI generated at test time with ``cryptography`` (nothing is committed).

Layout (all EC P-256, PEM files in one directory):

* ``ca.pem``                root CA, ``other-ca.pem`` an unrelated root
* ``good``                  leaf from the root: clinical.example.org, localhost, 127.0.0.1 (90 days)
* ``expired``               leaf from the root, expired yesterday
* ``wrongname``             leaf from the root for other.example.net only
* ``soon``                  leaf from the root valid for 5 more days
* ``wildcard``              leaf from the root for *.example.org
* ``cn-only``               leaf from the root without SAN, CN legacy.example.org
* ``untrusted``             leaf from other-ca for clinical.example.org
* ``intermediate-leaf``     leaf from an intermediate CA; ``intermediate-leaf-fullchain.pem``
                            holds leaf + intermediate (``intermediate_chain`` serves it)
* ``future``                leaf from the root, valid from tomorrow
* ``ipv6``                  leaf from the root for ipv6.example.org, 2001:db8::1 and ::1
* ``small-serial``          leaf from the root with serial number 10 (one DER byte: 0A)

Each leaf NAME has ``NAME.pem`` (certificate) and ``NAME-key.pem``; ``good-key-encrypted.pem``
is the good key encrypted with a passphrase.
"""

import datetime
import ipaddress
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

NOW = datetime.datetime.now(datetime.timezone.utc)
DAY = datetime.timedelta(days=1)
HOUR = datetime.timedelta(hours=1)


@dataclass
class Issued:
    """A certificate and its key, in memory and on disk."""

    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey
    cert_path: Path = None
    key_path: Path = None
    extra: dict = field(default_factory=dict)

    @property
    def sha256(self):
        """Colon-separated upper-case SHA-256 fingerprint, as cbdd_tls_check returns it."""
        digest = self.cert.fingerprint(hashes.SHA256()).hex().upper()
        return ':'.join(digest[i:i + 2] for i in range(0, len(digest), 2))


def _name(common_name):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, 'CBDD unit tests')])


def _sans(names):
    entries = []
    for name in names:
        try:
            entries.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            entries.append(x509.DNSName(name))
    return x509.SubjectAlternativeName(entries)


def issue(common_name, issuer=None, sans=(), ca=False, not_before=None, not_after=None, serial=None):
    """Create a certificate signed by ``issuer`` (self-signed when None)."""
    key = ec.generate_private_key(ec.SECP256R1())
    signer_key = issuer.key if issuer else key
    builder = (x509.CertificateBuilder()
               .subject_name(_name(common_name))
               .issuer_name(issuer.cert.subject if issuer else _name(common_name))
               .public_key(key.public_key())
               .serial_number(serial or x509.random_serial_number())
               .not_valid_before(not_before or NOW - DAY)
               .not_valid_after(not_after or NOW + 90 * DAY)
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False))
    if issuer:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()), critical=False)
    if ca:
        builder = builder.add_extension(x509.KeyUsage(
            digital_signature=True, content_commitment=False, key_encipherment=False, data_encipherment=False,
            key_agreement=False, key_cert_sign=True, crl_sign=True, encipher_only=False, decipher_only=False),
            critical=True)
    else:
        builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    if sans:
        builder = builder.add_extension(_sans(sans), critical=False)
    return Issued(builder.sign(signer_key, hashes.SHA256()), key)


def _write(directory, name, issued):
    issued.cert_path = directory / ('%s.pem' % name)
    issued.key_path = directory / ('%s-key.pem' % name)
    issued.cert_path.write_bytes(issued.cert.public_bytes(serialization.Encoding.PEM))
    issued.key_path.write_bytes(issued.key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    issued.key_path.chmod(0o600)
    return issued


class UnitPKI:
    """All certificates the unit tests need, written below ``directory``."""

    SERVER_NAMES = ('clinical.example.org', 'localhost', '127.0.0.1')

    def __init__(self, directory):
        directory = Path(directory)
        self.dir = directory
        self.ca = _write(directory, 'ca', issue('CBDD Test Root CA', ca=True))
        self.other_ca = _write(directory, 'other-ca', issue('Unrelated Root CA', ca=True))
        self.intermediate = _write(directory, 'intermediate', issue('CBDD Test Intermediate', self.ca, ca=True))
        self.good = _write(directory, 'good', issue('clinical.example.org', self.ca, self.SERVER_NAMES))
        self.expired = _write(directory, 'expired', issue(
            'clinical.example.org', self.ca, self.SERVER_NAMES, not_before=NOW - 30 * DAY, not_after=NOW - DAY))
        self.wrongname = _write(directory, 'wrongname', issue('other.example.net', self.ca, ('other.example.net',)))
        self.soon = _write(directory, 'soon', issue(
            'clinical.example.org', self.ca, ('clinical.example.org',), not_after=NOW + 5 * DAY + HOUR))
        self.wildcard = _write(directory, 'wildcard', issue('*.example.org', self.ca, ('*.example.org',)))
        self.cn_only = _write(directory, 'cn-only', issue('legacy.example.org', self.ca))
        self.untrusted = _write(directory, 'untrusted', issue(
            'clinical.example.org', self.other_ca, self.SERVER_NAMES))
        leaf = issue('clinical.example.org', self.intermediate, self.SERVER_NAMES)
        self.intermediate_leaf = _write(directory, 'intermediate-leaf', leaf)
        self.intermediate_fullchain = directory / 'intermediate-leaf-fullchain.pem'
        self.intermediate_fullchain.write_bytes(
            leaf.cert.public_bytes(serialization.Encoding.PEM)
            + self.intermediate.cert.public_bytes(serialization.Encoding.PEM))
        self.intermediate_chain = Issued(leaf.cert, leaf.key, self.intermediate_fullchain, leaf.key_path)
        self.future = _write(directory, 'future', issue(
            'clinical.example.org', self.ca, self.SERVER_NAMES, not_before=NOW + DAY, not_after=NOW + 30 * DAY))
        self.ipv6 = _write(directory, 'ipv6', issue(
            'ipv6.example.org', self.ca, ('ipv6.example.org', '2001:db8::1', '::1')))
        self.small_serial = _write(directory, 'small-serial', issue(
            'clinical.example.org', self.ca, self.SERVER_NAMES, serial=10))
        self.good_encrypted_key = directory / 'good-key-encrypted.pem'
        self.good_encrypted_key.write_bytes(self.good.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b'unit-test-passphrase')))
