#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Clinical BDD Creator operations
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ansible module cbdd_http_check: one HTTP(S) health check with retries."""

DOCUMENTATION = r'''
---
module: cbdd_http_check
short_description: Check an HTTP(S) health endpoint (status, JSON fields, TLS, retries)
description:
  - Sends C(GET) requests to O(url) until the response has one of the expected
    statuses and every O(expect_json) field, or retries and the O(deadline) are exhausted.
  - TLS certificates are verified by default (system trust store or O(ca_path)).
    With O(server_name), SNI, certificate name verification and the C(Host) header
    use that name while the TCP connection goes to the host in O(url).
  - Redirects are reported, not followed; environment proxy variables are ignored.
  - Read-only; runs in check mode too and never reports a change.
  - Needs only the Python standard library on the managed host.
version_added: "1.0.0"
author:
  - Clinical BDD Creator operations
extends_documentation_fragment:
  - cbdd_http
  - cbdd_read_only
notes:
  - The same check runs for each endpoint of M(cbdd_stack_health).
seealso:
  - module: ansible.builtin.uri
  - module: cbdd_stack_health
  - module: cbdd_tls_check
'''

EXAMPLES = r'''
- name: Check the application through nginx on the host itself, as clinical.example.org
  cbdd_http_check:
    url: https://127.0.0.1:8443/health
    server_name: clinical.example.org
    ca_path: /etc/cbdd/tls/ca.pem
    expect_json:
      status: ok
      version: "{{ cbdd_app_version }}"
    retries: 5
    delay: 1
    deadline: 60

- name: Accept a redirect from plain HTTP
  cbdd_http_check:
    url: http://127.0.0.1/health
    status_code: [301, 308]

- name: Grafana answers (self-signed staging certificate, insecure on purpose)
  cbdd_http_check:
    url: https://grafana.staging.example.org/api/health
    validate_certs: false
    expect_json:
      database: ok
  register: grafana_health
'''

RETURN = r'''
url:
  description: The URL checked.
  returned: always
  type: str
healthy:
  description: Whether the last attempt met every expectation (the module fails otherwise).
  returned: always
  type: bool
status:
  description: HTTP status of the last attempt; null when no response arrived.
  returned: always
  type: int
  sample: 200
latency_ms:
  description: Duration of the last attempt in milliseconds.
  returned: always
  type: float
  sample: 12.4
elapsed_ms:
  description: Duration of all attempts and pauses in milliseconds.
  returned: always
  type: float
attempts:
  description: Number of requests made.
  returned: always
  type: int
  sample: 1
json:
  description: Parsed body of the last response if it was JSON, else null.
  returned: always
  type: raw
  sample: {"status": "ok", "version": "1.2.0", "service": "clinical-bdd-creator"}
body_excerpt:
  description: Start of the last response body (up to 200 characters) when the check failed.
  returned: always
  type: str
msg:
  description: One-line summary.
  returned: always
  type: str
  sample: "https://127.0.0.1:8443/health: expected version == 1.2.0, got 1.1.0 after 5 attempts in 10.2s"
'''

from ansible.module_utils.cbdd_check import check_module, finish
from ansible.module_utils.cbdd_health import HTTP_CHECK_ARGS, check_http, validate_http_params


def main():
    """Entry point: validate, check once (with retries), report."""
    module = check_module(HTTP_CHECK_ARGS, validate_http_params)
    report = check_http(module.params)
    finish(module, report, failed=not report['healthy'])


if __name__ == '__main__':
    main()
