"""module_utils/cbdd_tls.py in-process (the controller's cryptography), against the test PKI.

The decoded facts must read like the standard library's own decoding: ``getpeercert()`` of a
verified connection (public API) gives the same subject, issuer, SANs and validity.
"""

import datetime
import socket
import ssl
import warnings

import pytest

from ansible.module_utils.cbdd_tls import (
    TLSCheckError, cert_facts, fetch_endpoint_cert, key_error, match_name, read_pem_certificate, validity,
    verify_chain_offline,
)
from support_pki import issue

UTC = datetime.timezone.utc


def _peercert(server, ca_path, server_name='clinical.example.org'):
    """getpeercert() dict of a verified connection to ``server``."""
    context = ssl.create_default_context(cafile=str(ca_path))
    with socket.create_connection(('127.0.0.1', server.port), timeout=10) as sock:
        with context.wrap_socket(sock, server_hostname=server_name) as tls:
            return tls.getpeercert()


def test_facts_read_like_the_standard_library(https_server, pki):
    cert, chain_error = fetch_endpoint_cert('127.0.0.1', https_server.port, 'clinical.example.org',
                                            ca_path=str(pki.ca.cert_path))
    assert chain_error is None
    facts = cert_facts(cert)
    stdlib = _peercert(https_server, pki.ca.cert_path)
    assert facts['subject'] == dict(pair for rdn in stdlib['subject'] for pair in rdn)
    assert facts['issuer'] == dict(pair for rdn in stdlib['issuer'] for pair in rdn)
    assert facts['subject'] == {'commonName': 'clinical.example.org', 'organizationName': 'CBDD unit tests'}
    assert facts['sans'] == ['%s:%s' % ({'IP Address': 'IP'}.get(kind, kind), value)
                             for kind, value in stdlib['subjectAltName']]
    assert facts['not_after'] == datetime.datetime.fromtimestamp(
        ssl.cert_time_to_seconds(stdlib['notAfter']), UTC).strftime('%Y-%m-%dT%H:%M:%SZ')
    assert facts['serial'] == stdlib['serialNumber'].lstrip('0')


def test_validity_is_utc_aware_and_needs_no_deprecated_attribute(pki):
    with warnings.catch_warnings():
        warnings.simplefilter('error')  # cryptography >= 42 warns on the naive not_valid_* attributes
        not_before, not_after = validity(pki.good.cert)
        cert_facts(pki.good.cert)
    assert not_after == pki.good.cert.not_valid_after_utc and not_before.tzinfo is not None


class _Cryptography38Certificate:
    """What cryptography 38 offers: naive UTC not_valid_* only."""

    not_valid_before = datetime.datetime(2026, 1, 1, 0, 0, 0)
    not_valid_after = datetime.datetime(2027, 1, 1, 12, 0, 0)


def test_validity_from_naive_utc_attributes():
    not_before, not_after = validity(_Cryptography38Certificate())
    assert not_before == datetime.datetime(2026, 1, 1, tzinfo=UTC)
    assert not_after == datetime.datetime(2027, 1, 1, 12, tzinfo=UTC)


@pytest.mark.parametrize('now, days, expired, not_yet_valid', [
    (datetime.datetime(2026, 12, 31, 12, 0, 1, tzinfo=UTC), 0, False, False),
    (datetime.datetime(2026, 12, 31, 12, 0, 0, tzinfo=UTC), 1, False, False),
    (datetime.datetime(2027, 1, 1, 12, 0, 1, tzinfo=UTC), -1, True, False),
    # 23:00 at UTC-2 is 01:00Z, after not_before; 23:00Z is before it
    (datetime.datetime(2025, 12, 31, 23, 0, 0, tzinfo=datetime.timezone(datetime.timedelta(hours=-2))),
     365, False, False),
    (datetime.datetime(2025, 12, 31, 23, 0, 0, tzinfo=UTC), 365, False, True),
])
def test_days_remaining_is_floored(pki, now, days, expired, not_yet_valid):
    fixed = issue('fixed.example.org', pki.ca, ('fixed.example.org',),
                  not_before=datetime.datetime(2026, 1, 1, tzinfo=UTC), not_after=datetime.datetime(2027, 1, 1, 12, tzinfo=UTC))
    facts = cert_facts(fixed.cert, now=now)
    assert (facts['days_remaining'], facts['expired'], facts['not_yet_valid']) == (days, expired, not_yet_valid)
    assert (facts['not_before'], facts['not_after']) == ('2026-01-01T00:00:00Z', '2027-01-01T12:00:00Z')


@pytest.mark.parametrize('leaf, name, match, sans', [
    ('wildcard', 'app.example.org', 'DNS:*.example.org', ['DNS:*.example.org']),
    ('wildcard', 'example.org', None, ['DNS:*.example.org']),
    ('good', '127.0.0.1', 'IP:127.0.0.1', ['DNS:clinical.example.org', 'DNS:localhost', 'IP:127.0.0.1']),
    ('good', '127.0.0.2', None, ['DNS:clinical.example.org', 'DNS:localhost', 'IP:127.0.0.1']),
    ('good', 'LOCALHOST', 'DNS:localhost', ['DNS:clinical.example.org', 'DNS:localhost', 'IP:127.0.0.1']),
    ('ipv6', '::1', 'IP:::1', ['DNS:ipv6.example.org', 'IP:2001:db8::1', 'IP:::1']),
    ('ipv6', 'ipv6.example.org', 'DNS:ipv6.example.org', ['DNS:ipv6.example.org', 'IP:2001:db8::1', 'IP:::1']),
    ('cn_only', 'legacy.example.org', 'CN:legacy.example.org', []),
    ('cn_only', '127.0.0.1', None, []),
    ('wrongname', 'clinical.example.org', None, ['DNS:other.example.net']),
])
def test_names(pki, leaf, name, match, sans):
    cert = read_pem_certificate(getattr(pki, leaf).cert_path)
    assert match_name(name, cert) == match
    assert cert_facts(cert)['sans'] == sans


def test_expired_certificate_facts(pki):
    facts = cert_facts(read_pem_certificate(pki.expired.cert_path))
    assert facts['expired'] is True and facts['days_remaining'] < 0 and facts['not_yet_valid'] is False


def test_first_certificate_of_a_full_chain_is_the_leaf(pki):
    assert read_pem_certificate(pki.intermediate_fullchain) == pki.intermediate_leaf.cert


def test_key_match_compares_public_keys(pki):
    good = read_pem_certificate(pki.good.cert_path)
    assert key_error(good, 'good.pem', pki.good.key_path) is None
    assert key_error(good, 'good.pem', pki.expired.key_path) == (
        'key_path %s does not match cert_path good.pem' % pki.expired.key_path)
    assert 'the key is encrypted' in key_error(good, 'good.pem', pki.good_encrypted_key)


def test_offline_chain_verification(pki):
    leaf = pki.intermediate_leaf
    assert verify_chain_offline(str(pki.intermediate_fullchain), str(leaf.key_path), str(pki.ca.cert_path)) is None
    assert verify_chain_offline(str(leaf.cert_path), str(leaf.key_path), str(pki.ca.cert_path)) == (
        'unable to get local issuer certificate')
    assert verify_chain_offline(str(pki.expired.cert_path), str(pki.expired.key_path), str(pki.ca.cert_path)) == (
        'certificate has expired')
    assert verify_chain_offline(str(pki.good.cert_path), str(pki.good.key_path), str(pki.other_ca.cert_path)) == (
        'unable to get local issuer certificate')
    with pytest.raises(TLSCheckError, match='cannot load ca_path'):
        verify_chain_offline(str(pki.good.cert_path), str(pki.good.key_path), str(pki.dir / 'missing.pem'))
