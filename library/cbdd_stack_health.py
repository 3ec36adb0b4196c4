#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Clinical BDD Creator operations
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ansible module cbdd_stack_health: concurrent HTTP(S) health checks of every service."""

DOCUMENTATION = r'''
---
module: cbdd_stack_health
short_description: Check the health endpoints of the whole stack concurrently
description:
  - Runs the M(cbdd_http_check) check for every item of O(endpoints) at the same time
    (one thread each, up to O(max_workers)), so the wall time is that of the slowest check.
  - Returns one report per service and an overall verdict; fails naming the unhealthy
    services unless O(fail_on_unhealthy=false).
  - Needs only the Python standard library on the managed host. Read-only; runs in check
    mode too and never reports a change.
version_added: "1.0.0"
author:
  - Clinical BDD Creator operations
extends_documentation_fragment:
  - cbdd_http.endpoints
  - cbdd_read_only
options:
  fail_on_unhealthy:
    description: Fail when any service is unhealthy. With V(false), only report.
    type: bool
    default: true
  max_workers:
    description: Most checks running at once (default one per endpoint, at most 32).
    type: int
seealso:
  - module: cbdd_http_check
  - module: cbdd_container_health
'''

EXAMPLES = r'''
- name: Every Clinical BDD Creator service answers and reports the deployed version
  cbdd_stack_health:
    endpoints:
      - name: app
        url: http://127.0.0.1:3000/health
        expect_json:
          status: ok
          version: "{{ cbdd_app_version }}"
      - name: nginx
        url: https://127.0.0.1/health
        server_name: clinical.example.org
        ca_path: /etc/cbdd/tls/ca.pem
        expect_json:
          status: ok
      - name: prometheus
        url: http://127.0.0.1:9090/-/ready
      - name: grafana
        url: http://127.0.0.1:3001/api/health
        expect_json:
          database: ok
        retries: 3
        deadline: 30
  register: cbdd_stack

- name: Report what is slow
  ansible.builtin.debug:
    msg: "{{ item.key }}: {{ item.value.latency_ms }} ms"
  loop: "{{ cbdd_stack.services | dict2items }}"
  loop_control:
    label: "{{ item.key }}"
'''

RETURN = r'''
services:
  description:
    - One report per endpoint, keyed by name, in the order of O(endpoints).
    - Each has the keys cbdd_http_check returns (C(url), C(healthy), C(status), C(latency_ms),
      C(elapsed_ms), C(attempts), C(json), C(body_excerpt), C(msg)) plus C(name).
  returned: always
  type: dict
  sample:
    app:
      name: app
      url: http://127.0.0.1:3000/health
      healthy: true
      status: 200
      latency_ms: 8.1
      elapsed_ms: 8.3
      attempts: 1
      json: {"status": "ok", "version": "1.2.0"}
      body_excerpt: null
      msg: "http://127.0.0.1:3000/health: status 200 in 8 ms"
healthy:
  description: Whether every service is healthy.
  returned: always
  type: bool
unhealthy:
  description: Names of the unhealthy services.
  returned: always
  type: list
  elements: str
wall_time_ms:
  description: Wall-clock time of all checks together (about the slowest check, not the sum).
  returned: always
  type: float
msg:
  description: Summary naming each unhealthy service with its reason.
  returned: always
  type: str
'''

import copy
import time
from concurrent.futures import ThreadPoolExecutor

from ansible.module_utils.cbdd_check import check_module, finish
from ansible.module_utils.cbdd_health import HTTP_CHECK_ARGS, check_http, plural, validate_http_params

MAX_WORKERS = 32

ENDPOINT_ARGS = dict(name=dict(type='str', required=True), **copy.deepcopy(HTTP_CHECK_ARGS))

ARGUMENT_SPEC = dict(
    endpoints=dict(type='list', elements='dict', required=True, options=ENDPOINT_ARGS),
    fail_on_unhealthy=dict(type='bool', default=True),
    max_workers=dict(type='int'),
)


def validate(params):
    """Per-endpoint errors (prefixed with the endpoint's name) and global ones."""
    errors = []
    names = [endpoint['name'] for endpoint in params['endpoints']]
    if not names:
        errors.append('endpoints must list at least one endpoint')
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        errors.append('endpoint names must be unique, repeated: %s' % ', '.join(duplicates))
    for endpoint in params['endpoints']:
        errors.extend('endpoints[%s]: %s' % (endpoint['name'], error) for error in validate_http_params(endpoint))
    if params['max_workers'] is not None and params['max_workers'] < 1:
        errors.append('max_workers must be >= 1, got %d' % params['max_workers'])
    return errors


def check_all(endpoints, max_workers):
    """Run check_http for every endpoint in a thread pool; returns ({name: report}, wall seconds)."""
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix='cbdd-check') as pool:
        reports = list(pool.map(check_http, endpoints))
    wall = time.monotonic() - started
    return {endpoint['name']: dict(report, name=endpoint['name'])
            for endpoint, report in zip(endpoints, reports)}, wall


def summary(services):
    """Message naming each unhealthy service and its reason."""
    bad = ['%s (%s)' % (name, report['msg']) for name, report in services.items() if not report['healthy']]
    if not bad:
        return '%s healthy' % plural(len(services), 'service')
    return '%d of %d services unhealthy: %s' % (len(bad), len(services), '; '.join(bad))


def main():
    """Entry point: validate, check all endpoints concurrently, report."""
    module = check_module(ARGUMENT_SPEC, validate)
    params = module.params
    endpoints = params['endpoints']
    workers = params['max_workers'] or min(len(endpoints), MAX_WORKERS)
    services, wall = check_all(endpoints, workers)
    unhealthy = [name for name, report in services.items() if not report['healthy']]
    result = dict(services=services, healthy=not unhealthy, unhealthy=unhealthy,
                  wall_time_ms=round(wall * 1000.0, 1), msg=summary(services))
    finish(module, result, failed=bool(unhealthy) and params['fail_on_unhealthy'])


if __name__ == '__main__':
    main()
