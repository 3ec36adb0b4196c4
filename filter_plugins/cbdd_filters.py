# -*- coding: utf-8 -*-
# Copyright: Clinical BDD Creator operations
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters shared by the roles (one implementation each)."""

import hashlib
import json
import re

from ansible.errors import AnsibleFilterError

_UNITS = {'ms': 0.001, 's': 1, 'm': 60, 'h': 3600, 'd': 86400, 'w': 604800, 'y': 31536000}


def cbdd_seconds(value):
    """Seconds of a duration: ``90`` (int or digits), ``90s``, ``5m``, ``1h``, ``250ms`` -> float."""
    if isinstance(value, bool):
        raise AnsibleFilterError('cbdd_seconds: %r is not a duration' % (value,))
    if isinstance(value, (int, float)):
        return float(value)
    match = re.match(r'^\s*([0-9]+(?:\.[0-9]+)?)\s*(ms|s|m|h|d|w|y)?\s*$', str(value))
    if not match:
        raise AnsibleFilterError('cbdd_seconds: %r is not a duration such as 30, 30s, 5m, 1h' % (value,))
    return float(match.group(1)) * _UNITS[match.group(2) or 's']


def cbdd_scrape_targets(hosts, self_name, port, local_address, local_port=None):
    """Scrape targets ``[{host, address}]`` for the hosts' variables ``hosts`` (hostvars of each).

    A host is reached on its ``cbdd_private_address`` and ``port`` (a number, or the name of the
    host's variable holding it, so a host that overrides the role's port is scraped there); the
    scraping host itself (``self_name``) is reached on ``local_address`` (a container name on the
    shared Docker network) and ``local_port`` (the container's own port; default ``port``) instead.
    """
    targets = []
    for host in hosts:
        name = host['inventory_hostname']
        local = name == self_name
        address = local_address if local else str(host['cbdd_private_address'])
        if ':' in address and not address.startswith('['):
            address = '[%s]' % address  # IPv6 literal
        host_port = host[port] if isinstance(port, str) and not port.isdigit() else port
        targets.append({'host': name, 'address': '%s:%s' % (address, local_port if local and local_port else host_port)})
    return targets


def cbdd_release_id(release):
    """The id of an app release {version, ini, env, spec}: '<version>-<10 hex>', the hex being a hash
    of everything the release is made of (same inputs, same id; a re-run finds it live)."""
    try:
        parts = {key: release[key] for key in ('version', 'ini', 'env', 'spec')}
    except (KeyError, TypeError):
        raise AnsibleFilterError('cbdd_release_id: needs a dict with version, ini, env and spec')
    digest = hashlib.sha256(json.dumps(parts, sort_keys=True).encode('utf-8')).hexdigest()
    return '%s-%s' % (parts['version'], digest[:10])


class FilterModule:
    def filters(self):
        return {'cbdd_seconds': cbdd_seconds, 'cbdd_scrape_targets': cbdd_scrape_targets,
                'cbdd_release_id': cbdd_release_id}
