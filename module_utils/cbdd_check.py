# -*- coding: utf-8 -*-
# Copyright: Clinical BDD Creator operations
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The frame every read-only cbdd_* check module shares (standard library and ansible only).

* ``check_module`` -- the AnsibleModule (check mode supported), failing early with the
  errors the module's own ``validate(params)`` finds beyond what argument_spec expresses.
* ``bound_errors`` -- the usual "must be > 0" / "must be >= 0" checks of numeric options.
* ``finish`` -- report the result, never as a change; fail when the check failed.
"""

from ansible.module_utils.basic import AnsibleModule


def check_module(argument_spec, validate, **kwargs):
    """AnsibleModule for a read-only check; fails with ``'; '.join(validate(params))`` if any."""
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True, **kwargs)
    errors = validate(module.params)
    if errors:
        module.fail_json(msg='; '.join(errors))
    return module


def bound_errors(params, above_zero=(), at_least_zero=()):
    """'timeout must be > 0, got 0' for each named option that is set and out of bounds."""
    errors = []
    for names, bound, too_low in ((above_zero, '> 0', lambda value: value <= 0),
                                  (at_least_zero, '>= 0', lambda value: value < 0)):
        errors.extend('%s must be %s, got %s' % (name, bound, params[name])
                      for name in names if params.get(name) is not None and too_low(params[name]))
    return errors


def finish(module, result, failed):
    """Return ``result`` with changed=False; as a failure when ``failed``."""
    if failed:
        module.fail_json(changed=False, **result)
    module.exit_json(changed=False, **result)
