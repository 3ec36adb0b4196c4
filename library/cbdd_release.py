#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Clinical BDD Creator operations
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ansible module cbdd_release: the live and previous application release, read fresh."""

DOCUMENTATION = r'''
---
module: cbdd_release
short_description: Read the live and previous release of the application on the managed host
description:
  - The one way every playbook learns what runs (deploy, rollback, restart, maintenance, health,
    restore). Nothing is cached; it reads the release state file written by the app role, asks the
    Docker Engine about both blue/green slot containers, and reads which slot nginx proxies to.
  - The truth, in this order - the container nginx proxies to (when it runs), the state file's live
    release (when its container runs), the only running slot container. A disagreement between these
    is reported in RV(problems) and the live release is taken from Docker and nginx.
  - Uses only the Python standard library. Read-only; runs in check mode and never reports a change.
version_added: "1.1.0"
author:
  - Clinical BDD Creator operations
options:
  state_file:
    description: Release state file written by the app role.
    type: path
    default: /var/lib/cbdd/app/release.json
  releases_dir:
    description: Folder holding one sub-folder per release (config, .env, release.json).
    type: path
    required: true
  container_name:
    description: Base name of the slot containers (C(<name>-blue), C(<name>-green)).
    type: str
    default: clinical-bdd-creator
  upstream_file:
    description: nginx include naming the live slot (C(set $cbdd_upstream http://NAME:PORT;)); empty to skip.
    type: path
    default: ''
  docker_socket:
    description: Path of the Docker Engine API unix socket.
    type: path
    default: /var/run/docker.sock
extends_documentation_fragment:
  - cbdd_read_only
seealso:
  - module: cbdd_container_health
'''

EXAMPLES = r'''
- name: Read the live release
  cbdd_release:
    releases_dir: /opt/clinical-bdd-creator/releases
    upstream_file: /opt/clinical-bdd-creator/nginx/conf.d/cbdd-upstream.inc
  register: app_release

- name: Show it
  ansible.builtin.debug:
    msg: "{{ app_release.live.version }} in {{ app_release.live.container }} (previous {{ app_release.previous.version | default('none') }})"
'''

RETURN = r'''
live:
  description: >-
    The live release ({} when there is none) - release_id, version, image, container, slot, since, by,
    running (false when the stack is stopped: the container a start brings back), addresses ({network: IP}),
    dir, dir_exists.
  returned: always
  type: dict
previous:
  description: The previous release from the state file ({} when none) - release_id, version, image, since, by, dir, dir_exists.
  returned: always
  type: dict
idle_container:
  description: The slot container a new release boots in (the one that is not live).
  returned: always
  type: str
containers:
  description: Per slot container - exists, running, state, release_id, version, image, addresses.
  returned: always
  type: dict
upstream:
  description: The container nginx proxies to according to upstream_file (empty when unknown).
  returned: always
  type: str
problems:
  description: Disagreements between the state file, Docker and nginx (empty when consistent).
  returned: always
  type: list
  elements: str
state:
  description: The state file's content ({} when missing).
  returned: always
  type: dict
'''

import json
import os
import re

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.cbdd_docker import DockerError, inspect_container

RELEASE_LABEL = 'cbdd.release'
VERSION_LABEL = 'org.opencontainers.image.version'
SLOTS = ('blue', 'green')
UPSTREAM_RE = re.compile(r'^\s*set\s+\$cbdd_upstream\s+https?://([A-Za-z0-9_.-]+):[0-9]+\s*;', re.M)


def read_json(path):
    try:
        with open(path, encoding='utf-8') as handle:
            data = json.load(handle)
    except FileNotFoundError:
        return {}
    return data if isinstance(data, dict) else {}


def read_upstream(path):
    if not path:
        return ''
    try:
        with open(path, encoding='utf-8') as handle:
            match = UPSTREAM_RE.search(handle.read())
    except FileNotFoundError:
        return ''
    return match.group(1) if match else ''


def slot_report(data):
    if data is None:
        return dict(exists=False, running=False, state=None, release_id='', version='', image='', addresses={})
    labels = (data.get('Config') or {}).get('Labels') or {}
    state = data.get('State') or {}
    networks = (data.get('NetworkSettings') or {}).get('Networks') or {}
    return dict(exists=True, running=bool(state.get('Running')), state=state.get('Status'),
                release_id=labels.get(RELEASE_LABEL, ''), version=labels.get(VERSION_LABEL, ''),
                image=(data.get('Config') or {}).get('Image', ''),
                addresses={net: info.get('IPAddress') for net, info in networks.items() if info.get('IPAddress')})


def with_dir(entry, releases_dir):
    entry = dict(entry)
    if entry.get('release_id'):
        entry['dir'] = os.path.join(releases_dir, entry['release_id'])
        entry['dir_exists'] = os.path.isfile(os.path.join(entry['dir'], 'release.json'))
    return entry


def work_out(state, containers, upstream, names):
    """(live, problems): the live release from nginx, the state file and Docker.

    When nothing runs (a stopped stack), the live release is the one nginx points at (or the state
    file names), with running=False: that is the container a start brings back.
    """
    problems = []
    running = [name for name in names if containers[name]['running']]
    recorded = (state.get('live') or {}).get('container', '')
    if upstream in running:
        live_name = upstream
    elif recorded in running:
        live_name = recorded
        if upstream:
            problems.append('nginx proxies to %s, which does not run; %s runs' % (upstream, recorded))
    elif len(running) == 1:
        live_name = running[0]
    elif not running and upstream in containers and containers[upstream]['exists']:
        live_name = upstream
    elif not running and recorded in containers and containers[recorded]['exists']:
        live_name = recorded
    else:
        live_name = ''
    if recorded and live_name and recorded != live_name:
        problems.append('the state file names %s as live, but %s serves' % (recorded, live_name))
    if recorded and not live_name:
        problems.append('the state file names %s as live, but it does not exist' % recorded)
    if len(running) > 1:
        problems.append('more than one slot container runs: %s' % ', '.join(running))
    if not live_name:
        return {}, problems
    slot = containers[live_name]
    live = dict(state.get('live') or {}) if recorded == live_name else {}
    if live.get('release_id') and slot['release_id'] and live['release_id'] != slot['release_id']:
        problems.append('%s runs release %s, the state file says %s' % (live_name, slot['release_id'], live['release_id']))
        live = {}
    live.update(container=live_name, slot=live_name.rsplit('-', 1)[-1], running=slot['running'],
                release_id=slot['release_id'] or live.get('release_id', ''),
                version=slot['version'] or live.get('version', ''), image=slot['image'] or live.get('image', ''),
                addresses=slot['addresses'])
    return live, problems


ARGUMENT_SPEC = dict(
    state_file=dict(type='path', default='/var/lib/cbdd/app/release.json'),
    releases_dir=dict(type='path', required=True),
    container_name=dict(type='str', default='clinical-bdd-creator'),
    upstream_file=dict(type='path', default=''),
    docker_socket=dict(type='path', default='/var/run/docker.sock'),
)


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    params = module.params
    names = ['%s-%s' % (params['container_name'], slot) for slot in SLOTS]
    try:
        state = read_json(params['state_file'])
    except ValueError as error:
        module.fail_json(msg='the release state file %s is not valid JSON: %s' % (params['state_file'], error))
    try:
        containers = {name: slot_report(inspect_container(params['docker_socket'], name)) for name in names}
    except DockerError as error:
        module.fail_json(msg=str(error))
    upstream = read_upstream(params['upstream_file'])
    live, problems = work_out(state, containers, upstream, names)
    previous = state.get('previous') or {}
    idle = names[1] if live.get('container') == names[0] else names[0]
    module.exit_json(changed=False, live=with_dir(live, params['releases_dir']) if live else {},
                     previous=with_dir(previous, params['releases_dir']) if previous else {},
                     idle_container=idle, containers=containers, upstream=upstream, problems=problems,
                     state=state)


if __name__ == '__main__':
    main()
