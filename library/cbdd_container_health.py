#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Clinical BDD Creator operations
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ansible module cbdd_container_health: Docker state and health of named containers."""

DOCUMENTATION = r'''
---
module: cbdd_container_health
short_description: Report state, Docker health and version of containers on the managed host
description:
  - Asks the Docker Engine API over its unix socket about each container in O(containers)
    and reports whether it exists, its state, Docker health status, restart count, image,
    C(org.opencontainers.image.version) label and start time.
  - A container is healthy when it exists, is running and its HEALTHCHECK (if it has one)
    reports C(healthy). With O(require_healthy) the module fails and names every missing or
    unhealthy container.
  - With O(wait_timeout) it polls until every container is healthy or the time is up
    (useful right after a deployment, while health is still C(starting)).
  - Uses only the Python standard library (no docker SDK). Read-only; runs in check mode too
    and never reports a change.
version_added: "1.0.0"
author:
  - Clinical BDD Creator operations
extends_documentation_fragment:
  - cbdd_read_only
options:
  containers:
    description: Container names (or ids) to check.
    type: list
    elements: str
    required: true
  require_healthy:
    description: Fail unless every container is healthy. With V(false), only report.
    type: bool
    default: true
  wait_timeout:
    description: Seconds to keep polling until all containers are healthy; V(0) checks once.
    type: float
    default: 0
  docker_socket:
    description: Path of the Docker Engine API unix socket.
    type: path
    default: /var/run/docker.sock
  timeout:
    description: Seconds for each Docker API request.
    type: float
    default: 10.0
notes:
  - The remote user must be allowed to use the Docker socket (root or the C(docker) group).
seealso:
  - module: community.docker.docker_container_info
  - module: cbdd_stack_health
'''

EXAMPLES = r'''
- name: All Clinical BDD Creator containers run and report healthy (wait up to 2 minutes)
  cbdd_container_health:
    containers:
      - cbdd-app
      - cbdd-nginx
      - cbdd-prometheus
      - cbdd-grafana
    wait_timeout: 120
  become: true

- name: Record the running application version without failing
  cbdd_container_health:
    containers: [cbdd-app]
    require_healthy: false
  register: cbdd_containers

- name: Show it
  vars:
    cbdd_app_container: "{{ cbdd_containers.containers['cbdd-app'] }}"
  ansible.builtin.debug:
    msg: "cbdd-app {{ cbdd_app_container.version }} is {{ cbdd_app_container.health }}"
'''

RETURN = r'''
containers:
  description:
    - One report per requested container, keyed by the name given in O(containers).
    - Each has C(name), C(exists), C(state) (C(running), C(exited), ...; null when missing),
      C(health) (C(healthy), C(unhealthy), C(starting) or C(none) without HEALTHCHECK),
      C(restart_count), C(image), C(image_id), C(version) (image label
      C(org.opencontainers.image.version)), C(started_at), C(exit_code), C(health_output)
      (last probe output), C(healthy) (bool) and C(problem) (why not healthy, e.g. C(missing)).
  returned: always
  type: dict
  sample:
    cbdd-app:
      name: cbdd-app
      exists: true
      state: running
      health: healthy
      restart_count: 0
      image: registry.example.org/clinical-bdd-creator:1.2.0
      image_id: sha256:0123abcd
      version: 1.2.0
      started_at: "2026-01-01T10:00:00.000000000Z"
      exit_code: 0
      health_output: null
      healthy: true
      problem: null
healthy:
  description: Whether every container is healthy.
  returned: always
  type: bool
unhealthy:
  description: Names of the missing or unhealthy containers.
  returned: always
  type: list
  elements: str
attempts:
  description: Number of polls made (more than one only with O(wait_timeout)).
  returned: always
  type: int
msg:
  description: Summary naming each unhealthy container and why.
  returned: always
  type: str
  sample: "unhealthy containers: cbdd-app (unhealthy: curl failed), cbdd-db (missing)"
'''

from ansible.module_utils.cbdd_check import bound_errors, check_module, finish
from ansible.module_utils.cbdd_docker import DockerError, container_report, inspect_container
from ansible.module_utils.cbdd_health import plural, retry_loop

POLL_DELAY = 0.5
POLL_MAX_DELAY = 5.0

ARGUMENT_SPEC = dict(
    containers=dict(type='list', elements='str', required=True),
    require_healthy=dict(type='bool', default=True),
    wait_timeout=dict(type='float', default=0),
    docker_socket=dict(type='path', default='/var/run/docker.sock'),
    timeout=dict(type='float', default=10.0),
)


def validate(params):
    """Errors the argument spec cannot express."""
    errors = []
    if not params['containers'] or not all(name.strip() for name in params['containers']):
        errors.append('containers must list at least one non-empty name')
    return errors + bound_errors(params, above_zero=('timeout',), at_least_zero=('wait_timeout',))


def poll(params):
    """Inspect every container once; returns ``(all healthy, {name: report})``."""
    reports = {}
    for name in params['containers']:
        data = inspect_container(params['docker_socket'], name, params['timeout'])
        reports[name] = container_report(name, data)
    return all(report['healthy'] for report in reports.values()), reports


def summary(reports, attempts):
    """Message naming each unhealthy container with its problem."""
    bad = ['%s (%s)' % (name, report['problem']) for name, report in reports.items() if not report['healthy']]
    if not bad:
        return '%s healthy' % plural(len(reports), 'container')
    suffix = ' after %s' % plural(attempts, 'poll') if attempts > 1 else ''
    return 'unhealthy containers: %s%s' % (', '.join(bad), suffix)


def main():
    """Entry point: poll (until healthy or wait_timeout), report, fail if required."""
    module = check_module(ARGUMENT_SPEC, validate)
    params = module.params
    wait = params['wait_timeout']
    try:
        outcome = retry_loop(lambda _left: poll(params), retries=None if wait else 0, delay=POLL_DELAY,
                             backoff_factor=2.0, max_delay=POLL_MAX_DELAY, deadline=wait or None)
    except DockerError as error:
        module.fail_json(msg=str(error))
    reports = outcome.value
    result = dict(
        containers=reports,
        healthy=outcome.ok,
        unhealthy=[name for name, report in reports.items() if not report['healthy']],
        attempts=outcome.attempts,
        msg=summary(reports, outcome.attempts),
    )
    finish(module, result, failed=params['require_healthy'] and not outcome.ok)


if __name__ == '__main__':
    main()
