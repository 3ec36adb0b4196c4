#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Clinical BDD Creator operations
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ansible module cbdd_tls_check: certificate health of a TLS endpoint and/or a certificate file."""

DOCUMENTATION = r'''
---
module: cbdd_tls_check
short_description: Check a TLS certificate (expiry, name, key, chain) of an endpoint or a file
description:
  - Inspects the certificate served by O(host):O(port) (with SNI O(server_name)) and/or the
    first certificate in O(cert_path), and fails when it expires in fewer than O(min_days)
    days, is not yet valid, does not cover O(expected_name), does not fit O(key_path),
    does not chain to O(ca_path) (or the system trust store), or when the endpoint serves a
    certificate other than O(cert_path).
  - With both O(host) and O(cert_path), the returned facts describe the served certificate
    and RV(served_matches_file) tells whether it is the one in O(cert_path) (for example after
    a renewal, whether nginx was reloaded).
  - Decodes certificates and keys with the Python C(cryptography) library on the managed host
    (python3-cryptography, 38.0.4 on Debian 12, or newer) and fetches and verifies chains with the
    standard library's C(ssl) (OpenSSL). For a full certificate dump (extensions, public key) use
    M(community.crypto.x509_certificate_info) or M(community.crypto.get_certificate); this module
    adds the health assertions they lack (wildcard-aware name match, key match, chain
    verification of files, C(min_days) threshold).
  - Read-only; runs in check mode too and never reports a change.
version_added: "1.0.0"
author:
  - Clinical BDD Creator operations
extends_documentation_fragment:
  - cbdd_read_only
options:
  host:
    description: Host name or IP address of a live TLS endpoint to connect to.
    type: str
  port:
    description: TCP port of O(host).
    type: int
    default: 443
  server_name:
    description:
      - Name sent as SNI to O(host). Defaults to O(host).
      - Also the default for O(expected_name).
    type: str
  timeout:
    description: Seconds for connecting and for the TLS handshake.
    type: float
    default: 10.0
  cert_path:
    description: PEM certificate file on the managed host (the first certificate of a full chain is checked).
    type: path
  key_path:
    description:
      - PEM private key (unencrypted) that must belong to O(cert_path).
      - Also needed to verify the chain of O(cert_path) when O(host) is not given.
    type: path
  ca_path:
    description: PEM CA bundle for chain verification. Default is the system trust store.
    type: path
  verify_chain:
    description:
      - Verify the certificate chain (served chain, or the chain in O(cert_path) with O(key_path)),
        including validity periods and server purpose, and fail when it does not verify.
      - For a file without O(key_path) the chain is not verified (RV(chain_valid) is null).
    type: bool
    default: true
  expected_name:
    description:
      - DNS name or IP address the certificate must be valid for, checked against the DNS/IP
        SANs (the subject CN only when there is no DNS SAN). A wildcard covers exactly one
        left-most label (C(*.example.org) covers C(a.example.org), not C(example.org) nor
        C(a.b.example.org)).
      - Defaults to O(server_name); when neither is set, no name is checked.
    type: str
  min_days:
    description:
      - Fail when fewer than this many whole days remain until C(not_after).
        V(0) fails only expired certificates.
    type: int
    default: 0
requirements:
  - python3-cryptography >= 38 on the managed host (C(apt install python3-cryptography); nginx_ssl installs it).
notes:
  - Public APIs only. C(cryptography) decodes certificates and keys; the key matches when its public key equals
    the certificate's. Chains are verified by OpenSSL through C(ssl) (for O(cert_path) in an in-memory TLS
    handshake, hence O(key_path)), because cryptography 38 has no certificate path validation.
  - The module_utils of community.crypto and community.docker are not used, they are private to those
    collections since community.crypto 3.0.0 and community.docker 5.0.0.
seealso:
  - module: community.crypto.x509_certificate_info
  - module: community.crypto.get_certificate
  - module: cbdd_http_check
'''

EXAMPLES = r'''
- name: The certificate nginx serves for clinical.example.org is trusted and not about to expire
  cbdd_tls_check:
    host: 127.0.0.1
    port: 443
    server_name: clinical.example.org
    ca_path: /etc/cbdd/tls/ca.pem
    min_days: 14

- name: The deployed certificate file fits its key, chains to our CA, and is the one being served
  cbdd_tls_check:
    host: 127.0.0.1
    server_name: clinical.example.org
    cert_path: /etc/cbdd/tls/fullchain.pem
    key_path: /etc/cbdd/tls/privkey.pem
    ca_path: /etc/cbdd/tls/ca.pem
    min_days: 30
  register: cbdd_tls

- name: Report how long the certificate is valid
  ansible.builtin.debug:
    msg: "{{ cbdd_tls.subject.commonName }} expires {{ cbdd_tls.not_after }} ({{ cbdd_tls.days_remaining }} days)"
'''

RETURN = r'''
source:
  description: Which certificate the facts describe, C(endpoint) or C(file).
  returned: when a certificate was obtained (not when the endpoint or file could not be read)
  type: str
subject:
  description: Subject attributes by long name.
  returned: when a certificate was obtained (not when the endpoint or file could not be read)
  type: dict
  sample: {"commonName": "clinical.example.org"}
issuer:
  description: Issuer attributes by long name.
  returned: when a certificate was obtained (not when the endpoint or file could not be read)
  type: dict
serial:
  description: Serial number, upper-case hexadecimal without leading zeros.
  returned: when a certificate was obtained (not when the endpoint or file could not be read)
  type: str
  sample: 5696E195FC1BD0966D0097AEFB631ED70670B3EC
not_before:
  description: Start of validity, ISO 8601 UTC.
  returned: when a certificate was obtained (not when the endpoint or file could not be read)
  type: str
  sample: "2026-01-01T00:00:00Z"
not_after:
  description: End of validity, ISO 8601 UTC.
  returned: when a certificate was obtained (not when the endpoint or file could not be read)
  type: str
  sample: "2027-01-01T00:00:00Z"
days_remaining:
  description: Whole days until RV(not_after) (negative once expired).
  returned: when a certificate was obtained (not when the endpoint or file could not be read)
  type: int
expired:
  description: Whether RV(not_after) has passed.
  returned: when a certificate was obtained (not when the endpoint or file could not be read)
  type: bool
not_yet_valid:
  description: Whether RV(not_before) is in the future.
  returned: when a certificate was obtained (not when the endpoint or file could not be read)
  type: bool
sha256_fingerprint:
  description: SHA-256 fingerprint of the DER certificate, colon-separated upper-case hex.
  returned: when a certificate was obtained (not when the endpoint or file could not be read)
  type: str
sans:
  description: Subject alternative names as C(DNS:name) / C(IP:address).
  returned: when a certificate was obtained (not when the endpoint or file could not be read)
  type: list
  elements: str
  sample: ["DNS:clinical.example.org", "IP:127.0.0.1"]
expected_name:
  description: Name checked (O(expected_name) or O(server_name)); null when none.
  returned: when a certificate was obtained (not when the endpoint or file could not be read)
  type: str
name_matches:
  description: Whether the certificate covers RV(expected_name); null when no name was checked.
  returned: when a certificate was obtained (not when the endpoint or file could not be read)
  type: bool
matched_name:
  description: SAN or CN entry that matched, e.g. C(DNS:*.example.org).
  returned: when a certificate was obtained (not when the endpoint or file could not be read)
  type: str
key_matches:
  description: Whether O(key_path) belongs to O(cert_path); null without O(key_path).
  returned: when a certificate was obtained (not when the endpoint or file could not be read)
  type: bool
key_error:
  description: Why O(key_path) does not fit O(cert_path); null when it does or without O(key_path).
  returned: when a certificate was obtained (not when the endpoint or file could not be read)
  type: str
chain_valid:
  description: Whether the chain verified against O(ca_path) or the system store; null when not verified.
  returned: when a certificate was obtained (not when the endpoint or file could not be read)
  type: bool
chain_error:
  description: OpenSSL's reason when the chain did not verify, e.g. C(certificate has expired).
  returned: when a certificate was obtained (not when the endpoint or file could not be read)
  type: str
served_matches_file:
  description: With O(host) and O(cert_path), whether the endpoint serves the certificate in O(cert_path); else null.
  returned: when a certificate was obtained (not when the endpoint or file could not be read)
  type: bool
file_sha256_fingerprint:
  description: SHA-256 fingerprint of O(cert_path) (compare with RV(sha256_fingerprint)).
  returned: when both O(host) and O(cert_path) are given
  type: str
failures:
  description: Reasons the check failed (empty when it passed).
  returned: always
  type: list
  elements: str
msg:
  description: One-line summary.
  returned: always
  type: str
'''

from ansible.module_utils.cbdd_check import bound_errors, check_module, finish
from ansible.module_utils.cbdd_tls import (
    TLSCheckError, cert_facts, fetch_endpoint_cert, key_error, match_name, read_pem_certificate,
    require_cryptography, sha256_fingerprint, verify_chain_offline,
)

ARGUMENT_SPEC = dict(
    host=dict(type='str'),
    port=dict(type='int', default=443),
    server_name=dict(type='str'),
    timeout=dict(type='float', default=10.0),
    cert_path=dict(type='path'),
    key_path=dict(type='path'),
    ca_path=dict(type='path'),
    verify_chain=dict(type='bool', default=True),
    expected_name=dict(type='str'),
    min_days=dict(type='int', default=0),
)


def validate(params):
    """Errors the argument spec cannot express."""
    errors = []
    if not 0 < params['port'] < 65536:
        errors.append('port must be 1-65535, got %d' % params['port'])
    return errors + bound_errors(params, above_zero=('timeout',))


def trust_label(params):
    """'ca_path /x' or 'the system trust store', for messages."""
    return 'ca_path %s' % params['ca_path'] if params['ca_path'] else 'the system trust store'


def inspect_endpoint(params, result):
    """Fetch the served certificate; record chain verification.  Returns the certificate."""
    cert, chain_error = fetch_endpoint_cert(
        params['host'], params['port'], params['server_name'], params['timeout'],
        params['ca_path'], params['verify_chain'])
    if params['verify_chain']:
        result.update(chain_valid=chain_error is None, chain_error=chain_error)
    return cert


def inspect_files(params, result, warn):
    """Check cert_path (and key_path); verify its chain offline when there is no endpoint."""
    file_cert = read_pem_certificate(params['cert_path'])
    if params['key_path']:
        problem = key_error(file_cert, params['cert_path'], params['key_path'])
        result.update(key_matches=problem is None, key_error=problem)
    if params['verify_chain'] and not params['host']:
        if result['key_matches']:
            chain_error = verify_chain_offline(params['cert_path'], params['key_path'], params['ca_path'])
            result.update(chain_valid=chain_error is None, chain_error=chain_error)
        elif params['ca_path'] and not params['key_path']:
            warn('chain of cert_path not verified: that needs key_path (an in-memory TLS handshake)')
    return file_cert


def inspect(params, warn):
    """Gather facts of the endpoint and/or file certificate (no judgement yet)."""
    result = dict(source='endpoint' if params['host'] else 'file', key_matches=None, key_error=None,
                  chain_valid=None, chain_error=None, served_matches_file=None,
                  expected_name=params['expected_name'] or params['server_name'],
                  name_matches=None, matched_name=None)
    cert = inspect_endpoint(params, result) if params['host'] else None
    if params['cert_path']:
        file_cert = inspect_files(params, result, warn)
        if cert is None:
            cert = file_cert
        else:
            result['file_sha256_fingerprint'] = sha256_fingerprint(file_cert)
            result['served_matches_file'] = sha256_fingerprint(cert) == result['file_sha256_fingerprint']
    result.update(cert_facts(cert))
    if result['expected_name']:
        result['matched_name'] = match_name(result['expected_name'], cert)
        result['name_matches'] = result['matched_name'] is not None
    return result


def failures(result, params):
    """Why the certificate is unhealthy, as a list of sentences."""
    found = []
    if result['days_remaining'] < params['min_days']:
        if result['expired']:
            found.append('certificate expired on %s' % result['not_after'])
        else:
            found.append('certificate expires in %d days (%s), min_days is %d'
                         % (result['days_remaining'], result['not_after'], params['min_days']))
    if result['not_yet_valid']:
        found.append('certificate not valid before %s' % result['not_before'])
    if result['name_matches'] is False:
        found.append('certificate does not match name %s (SANs: %s; subject CN: %s)' % (
            result['expected_name'], ', '.join(result['sans']) or 'none', result['subject'].get('commonName')))
    if result['key_matches'] is False:
        found.append(result['key_error'])
    if result['chain_valid'] is False:
        found.append('chain does not verify against %s: %s' % (trust_label(params), result['chain_error']))
    if result['served_matches_file'] is False:
        found.append('endpoint serves a different certificate than %s (sha256 %s, file %s)' % (
            params['cert_path'], result['sha256_fingerprint'], result['file_sha256_fingerprint']))
    return found


def target_label(params):
    """'host:port (SNI name)' and/or the certificate path, for messages."""
    parts = []
    if params['host']:
        sni = ' (SNI %s)' % params['server_name'] if params['server_name'] else ''
        parts.append('%s:%d%s' % (params['host'], params['port'], sni))
    if params['cert_path']:
        parts.append(params['cert_path'])
    return ' / '.join(parts)


def main():
    """Entry point: inspect, judge, report."""
    module = check_module(ARGUMENT_SPEC, validate, required_one_of=[('host', 'cert_path')],
                          required_by={'key_path': 'cert_path'})
    require_cryptography(module)
    params = module.params
    try:
        result = inspect(params, module.warn)
    except TLSCheckError as error:
        module.fail_json(msg='%s: %s' % (target_label(params), error), failures=[str(error)])
    result['failures'] = failures(result, params)
    if result['failures']:
        result['msg'] = '%s: %s' % (target_label(params), '; '.join(result['failures']))
    else:
        result['msg'] = '%s: certificate for %s valid until %s (%d days left)' % (
            target_label(params), result['subject'].get('commonName') or ', '.join(result['sans']),
            result['not_after'], result['days_remaining'])
    finish(module, result, failed=bool(result['failures']))


if __name__ == '__main__':
    main()
