"""cbdd_tls_check against live local TLS servers and generated certificate files.

Every test runs twice when the two interpreters differ: with the target interpreter
(/usr/bin/python3; on Debian 12 python3.11 with python3-cryptography 38.0.4) and with the
controller's (the venv: a current cryptography), each with its own cryptography, so the
module is checked against the oldest and a current release of the library.
"""

import datetime
import json
import re
import sys

import pytest

from support_env import TARGET_PYTHON
from support_servers import closed_port

MODULE = 'cbdd_tls_check'
ISO = re.compile(r'\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ')
INTERPRETERS = {'target': TARGET_PYTHON}
if sys.executable != TARGET_PYTHON:
    INTERPRETERS['controller'] = sys.executable


@pytest.fixture(scope='module', params=sorted(INTERPRETERS, reverse=True))
def run_module(request, module_runner_for):
    """The module runner for the target and for the controller interpreter."""
    return module_runner_for(INTERPRETERS[request.param])


def _iso(moment):
    return moment.astimezone(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')


def test_live_endpoint_facts(run_module, https_server, pki):
    result = run_module(MODULE, host='127.0.0.1', port=https_server.port, server_name='clinical.example.org',
                        ca_path=str(pki.ca.cert_path), min_days=30)
    cert = pki.good.cert
    assert result['rc'] == 0, result['msg']
    assert result['source'] == 'endpoint'
    assert result['not_after'] == _iso(cert.not_valid_after_utc) and ISO.fullmatch(result['not_before'])
    assert result['days_remaining'] in (89, 90)
    assert result['expired'] is False
    assert result['serial'] == '%X' % cert.serial_number
    assert result['sha256_fingerprint'] == pki.good.sha256
    assert result['subject']['commonName'] == 'clinical.example.org'
    assert result['issuer']['commonName'] == 'CBDD Test Root CA'
    assert result['sans'] == ['DNS:clinical.example.org', 'DNS:localhost', 'IP:127.0.0.1']
    assert result['expected_name'] == 'clinical.example.org'
    assert result['name_matches'] is True and result['matched_name'] == 'DNS:clinical.example.org'
    assert result['chain_valid'] is True and result['chain_error'] is None
    assert result['failures'] == []
    assert 'valid until %s' % result['not_after'] in result['msg']


def test_sni_follows_server_name_and_ip_names_match_ip_sans(run_module, https_server, pki):
    run_module(MODULE, host='127.0.0.1', port=https_server.port, server_name='clinical.example.org',
               ca_path=str(pki.ca.cert_path))
    assert https_server.sni_names[-1] == 'clinical.example.org'
    result = run_module(MODULE, host='127.0.0.1', port=https_server.port, expected_name='127.0.0.1',
                        ca_path=str(pki.ca.cert_path))
    assert result['matched_name'] == 'IP:127.0.0.1'


def test_expired_endpoint_fails(run_module, expired_server, pki):
    result = run_module(MODULE, host='127.0.0.1', port=expired_server.port, server_name='clinical.example.org',
                        ca_path=str(pki.ca.cert_path))
    assert result['failed'] is True
    assert result['expired'] is True and result['days_remaining'] < 0
    assert result['chain_valid'] is False and result['chain_error'] == 'certificate has expired'
    assert 'certificate expired on %s' % _iso(pki.expired.cert.not_valid_after_utc) in result['msg']
    assert 'chain does not verify against ca_path %s: certificate has expired' % pki.ca.cert_path in result['msg']


def test_mismatched_name_endpoint_fails(run_module, wrongname_server, pki):
    result = run_module(MODULE, host='127.0.0.1', port=wrongname_server.port, server_name='clinical.example.org',
                        ca_path=str(pki.ca.cert_path))
    assert result['failed'] is True
    assert result['chain_valid'] is True and result['name_matches'] is False
    assert result['failures'] == [
        'certificate does not match name clinical.example.org (SANs: DNS:other.example.net; '
        'subject CN: other.example.net)']


def test_chain_against_system_store_and_verify_chain_switch(run_module, https_server):
    result = run_module(MODULE, host='127.0.0.1', port=https_server.port)
    assert result['failed'] is True
    assert 'chain does not verify against the system trust store: unable to get local issuer certificate' \
        in result['msg']
    result = run_module(MODULE, host='127.0.0.1', port=https_server.port, verify_chain=False)
    assert result['rc'] == 0 and result['chain_valid'] is None and result['name_matches'] is None


def test_closed_port(run_module):
    port = closed_port()
    result = run_module(MODULE, host='127.0.0.1', port=port)
    assert result['failed'] is True
    assert result['msg'] == '127.0.0.1:%d: cannot connect to 127.0.0.1:%d: Connection refused' % (port, port)


def test_plain_http_port(run_module, http_server):
    result = run_module(MODULE, host='127.0.0.1', port=http_server.port, timeout=3)
    assert result['failed'] is True
    assert 'TLS handshake with 127.0.0.1:%d failed' % http_server.port in result['msg']


def test_served_certificate_differs_from_file(run_module, https_server, pki):
    result = run_module(MODULE, host='127.0.0.1', port=https_server.port, server_name='clinical.example.org',
                        ca_path=str(pki.ca.cert_path), cert_path=str(pki.soon.cert_path))
    assert result['failed'] is True and result['served_matches_file'] is False
    assert result['file_sha256_fingerprint'] == pki.soon.sha256
    assert 'endpoint serves a different certificate than %s' % pki.soon.cert_path in result['msg']
    result = run_module(MODULE, host='127.0.0.1', port=https_server.port, server_name='clinical.example.org',
                        ca_path=str(pki.ca.cert_path), cert_path=str(pki.good.cert_path),
                        key_path=str(pki.good.key_path))
    assert result['rc'] == 0 and result['served_matches_file'] is True and result['key_matches'] is True


def test_file_with_key_and_chain(run_module, pki):
    result = run_module(MODULE, cert_path=str(pki.good.cert_path), key_path=str(pki.good.key_path),
                        ca_path=str(pki.ca.cert_path), expected_name='localhost')
    assert result['rc'] == 0, result['msg']
    assert result['source'] == 'file'
    assert result['key_matches'] is True and result['chain_valid'] is True
    assert result['sha256_fingerprint'] == pki.good.sha256
    assert result['matched_name'] == 'DNS:localhost'


def test_file_key_mismatch(run_module, pki):
    result = run_module(MODULE, cert_path=str(pki.good.cert_path), key_path=str(pki.expired.key_path))
    assert result['failed'] is True and result['key_matches'] is False
    assert result['failures'] == ['key_path %s does not match cert_path %s' % (pki.expired.key_path,
                                                                               pki.good.cert_path)]


def test_file_chain_through_intermediate(run_module, pki):
    leaf = pki.intermediate_leaf
    result = run_module(MODULE, cert_path=str(pki.intermediate_fullchain), key_path=str(leaf.key_path),
                        ca_path=str(pki.ca.cert_path))
    assert result['rc'] == 0 and result['chain_valid'] is True
    assert result['sha256_fingerprint'] == leaf.sha256  # the leaf, first in the full chain
    result = run_module(MODULE, cert_path=str(leaf.cert_path), key_path=str(leaf.key_path),
                        ca_path=str(pki.ca.cert_path))
    assert result['failed'] is True
    assert result['chain_error'] == 'unable to get local issuer certificate'


def test_file_from_another_ca(run_module, pki):
    result = run_module(MODULE, cert_path=str(pki.untrusted.cert_path), key_path=str(pki.untrusted.key_path),
                        ca_path=str(pki.ca.cert_path))
    assert result['failed'] is True and result['chain_valid'] is False


def test_file_without_key_is_not_chain_verified(run_module, pki):
    result = run_module(MODULE, cert_path=str(pki.good.cert_path), ca_path=str(pki.ca.cert_path))
    assert result['rc'] == 0 and result['chain_valid'] is None and result['key_matches'] is None
    assert 'chain of cert_path not verified: that needs key_path' in json.dumps(result['warnings'])


@pytest.mark.parametrize('min_days, fails', [(14, True), (5, False), (0, False)])
def test_min_days(run_module, pki, min_days, fails):
    result = run_module(MODULE, cert_path=str(pki.soon.cert_path), min_days=min_days)
    assert result['days_remaining'] == 5
    assert bool(result.get('failed')) is fails
    if fails:
        assert result['failures'] == ['certificate expires in 5 days (%s), min_days is 14' % result['not_after']]


@pytest.mark.parametrize('cert, name, match', [
    ('wildcard', 'app.example.org', 'DNS:*.example.org'),
    ('wildcard', 'APP.Example.ORG.', 'DNS:*.example.org'),
    ('wildcard', 'example.org', None),
    ('wildcard', 'a.b.example.org', None),
    ('cn_only', 'legacy.example.org', 'CN:legacy.example.org'),
    ('wrongname', 'other.example.net', 'DNS:other.example.net'),
])
def test_expected_name_rules(run_module, pki, cert, name, match):
    result = run_module(MODULE, cert_path=str(getattr(pki, cert).cert_path), expected_name=name)
    assert result['matched_name'] == match
    assert result['name_matches'] is (match is not None)


@pytest.mark.parametrize('args, message', [
    ({}, 'one of the following is required: host, cert_path'),
    ({'host': '127.0.0.1', 'key_path': '/tmp/k.pem'}, 'missing parameter(s) required by'),
    ({'host': '127.0.0.1', 'port': 70000}, 'port must be 1-65535, got 70000'),
    ({'cert_path': '/nonexistent/cert.pem'}, 'cannot read /nonexistent/cert.pem'),
])
def test_argument_validation(run_module, args, message):
    result = run_module(MODULE, **args)
    assert result['failed'] is True
    assert message in result['msg']


def test_through_ansible_cli_in_check_mode(run_ansible, pki):
    result = run_ansible(MODULE, {'cert_path': str(pki.good.cert_path), 'key_path': str(pki.good.key_path),
                                  'ca_path': str(pki.ca.cert_path), 'expected_name': 'clinical.example.org',
                                  'min_days': 30}, check=True)
    assert result.get('failed') is not True, result
    assert result['changed'] is False and result['chain_valid'] is True and result['key_matches'] is True


def test_unreadable_ca_path(run_module, https_server, tmp_path):
    ca_path = tmp_path / 'missing-ca.pem'
    result = run_module(MODULE, host='127.0.0.1', port=https_server.port, ca_path=str(ca_path))
    assert result['failed'] is True
    assert result['msg'] == '127.0.0.1:%d: cannot load ca_path %s: No such file or directory' % (
        https_server.port, ca_path)


def test_serial_keeps_no_leading_zero(run_module, pki):
    result = run_module(MODULE, cert_path=str(pki.small_serial.cert_path))
    assert result['rc'] == 0 and result['serial'] == 'A'


def test_ipv6_sans(run_module, pki):
    result = run_module(MODULE, cert_path=str(pki.ipv6.cert_path), expected_name='2001:DB8:0::1')
    assert result['sans'] == ['DNS:ipv6.example.org', 'IP:2001:db8::1', 'IP:::1']
    assert result['matched_name'] == 'IP:2001:db8::1'
    result = run_module(MODULE, cert_path=str(pki.ipv6.cert_path), expected_name='::2')
    assert result['failed'] is True and result['name_matches'] is False


def test_not_yet_valid_file_fails(run_module, pki):
    result = run_module(MODULE, cert_path=str(pki.future.cert_path), key_path=str(pki.future.key_path),
                        ca_path=str(pki.ca.cert_path))
    assert result['failed'] is True and result['not_yet_valid'] is True and result['expired'] is False
    assert result['not_before'] == _iso(pki.future.cert.not_valid_before_utc)
    assert 'certificate not valid before %s' % result['not_before'] in result['failures']
    assert result['chain_error'] == 'certificate is not yet valid'


def test_expired_file_chain_reason(run_module, pki):
    result = run_module(MODULE, cert_path=str(pki.expired.cert_path), key_path=str(pki.expired.key_path),
                        ca_path=str(pki.ca.cert_path))
    assert result['failed'] is True and result['days_remaining'] == -2  # floored: expired 1 day + seconds ago
    assert result['key_matches'] is True and result['chain_error'] == 'certificate has expired'


def test_encrypted_or_invalid_key(run_module, pki, tmp_path):
    result = run_module(MODULE, cert_path=str(pki.good.cert_path), key_path=str(pki.good_encrypted_key),
                        ca_path=str(pki.ca.cert_path))
    assert result['failed'] is True and result['key_matches'] is False and result['chain_valid'] is None
    assert result['key_error'] == 'cannot load key_path %s: the key is encrypted (an unencrypted key is needed)' % (
        pki.good_encrypted_key)
    result = run_module(MODULE, cert_path=str(pki.good.cert_path), key_path=str(pki.good.cert_path))
    assert result['key_matches'] is False and result['key_error'].startswith(
        'cannot load key_path %s: ' % pki.good.cert_path)
    missing = tmp_path / 'missing-key.pem'
    result = run_module(MODULE, cert_path=str(pki.good.cert_path), key_path=str(missing))
    assert result['key_error'] == 'cannot read key_path %s: No such file or directory' % missing


def test_endpoint_chain_through_intermediate(run_module, intermediate_server, pki):
    result = run_module(MODULE, host='127.0.0.1', port=intermediate_server.port, server_name='clinical.example.org',
                        ca_path=str(pki.ca.cert_path), cert_path=str(pki.intermediate_fullchain))
    assert result['rc'] == 0, result['msg']
    assert result['chain_valid'] is True and result['served_matches_file'] is True
    assert result['issuer']['commonName'] == 'CBDD Test Intermediate'
    result = run_module(MODULE, host='127.0.0.1', port=intermediate_server.port, ca_path=str(pki.other_ca.cert_path))
    assert result['failed'] is True and result['chain_error'] == 'unable to get local issuer certificate'


def test_invalid_pem_certificate(run_module, tmp_path):
    broken = tmp_path / 'broken.pem'
    broken.write_text('-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n')
    result = run_module(MODULE, cert_path=str(broken))
    assert result['failed'] is True and result['msg'].startswith('%s: %s: invalid PEM certificate' % (broken, broken))
    empty = tmp_path / 'empty.pem'
    empty.write_text('no certificate here\n')
    result = run_module(MODULE, cert_path=str(empty))
    assert result['failures'] == ['%s: no PEM certificate found' % empty]


def test_missing_cryptography_fails_with_the_install_command(run_module, pki):
    result = run_module(MODULE, with_packages=False, cert_path=str(pki.good.cert_path))
    assert result['failed'] is True
    assert result['msg'].startswith(
        'python3-cryptography is required on the managed host: apt install python3-cryptography. '
        'Failed to import the required Python library (cryptography)')
