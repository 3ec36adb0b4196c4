# -*- coding: utf-8 -*-
# Copyright: Clinical BDD Creator operations
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters shared by the roles (one implementation each)."""

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


class FilterModule:
    def filters(self):
        return {'cbdd_seconds': cbdd_seconds}
