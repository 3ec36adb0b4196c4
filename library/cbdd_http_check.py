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
options:
  url:
    description: URL to request, C(http://) or C(https://).
    type: str
    required: true
  status_code:
    description: Acceptable HTTP statuses.
    type: list
    elements: int
    default: [200]
  expect_json:
    description:
      - Fields the JSON body must contain, as a mapping of field path to expected value.
        Paths may be dotted (C(checks.db.status)); list items are addressed by index (C(items.0.name)).
      - Scalars compare by their JSON text, so C("200") matches C(200) and
        C("true") matches C(true); lists and dicts must be equal.
    type: dict
  validate_certs:
    description: Verify the server certificate. V(false) is the explicit insecure switch.
    type: bool
    default: true
  ca_path:
    description: PEM CA bundle to verify the server certificate against (instead of the system store).
    type: path
  server_name:
    description:
      - Name for SNI, certificate verification and the C(Host) header
        (with the URL's port if not the default), e.g. to reach
        C(https://127.0.0.1:8443) as C(clinical.example.org).
    type: str
  headers:
    description: Extra request headers (override C(Host) and the defaults).
    type: dict
    default: {}
  timeout:
    description: Seconds for each attempt (connect and read), capped by what is left of O(deadline).
    type: float
    default: 10.0
  retries:
    description: Extra attempts after the first failed one.
    type: int
    default: 0
  delay:
    description: Seconds to wait before the first retry.
    type: float
    default: 1.0
  backoff_factor:
    description: Each further pause is the previous one times this factor (exponential backoff).
    type: float
    default: 2.0
  max_delay:
    description: Upper bound for a single pause, in seconds.
    type: float
    default: 30.0
  deadline:
    description:
      - Overall time budget in seconds for all attempts and pauses. No attempt starts
        once its pause would end past the deadline; unset means no overall limit.
    type: float
attributes:
  check_mode:
    description: Runs normally in check mode (read-only).
    support: full
  diff_mode:
    description: Nothing to diff.
    support: none
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

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.cbdd_health import HTTP_CHECK_ARGS, check_http, validate_http_params


def main():
    """Entry point: validate, check once (with retries), report."""
    module = AnsibleModule(argument_spec=HTTP_CHECK_ARGS, supports_check_mode=True)
    errors = validate_http_params(module.params)
    if errors:
        module.fail_json(msg='; '.join(errors))
    report = check_http(module.params)
    if report['healthy']:
        module.exit_json(changed=False, **report)
    module.fail_json(changed=False, **report)


if __name__ == '__main__':
    main()
