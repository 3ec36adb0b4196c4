# -*- coding: utf-8 -*-
# Copyright: Clinical BDD Creator operations
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The linear strategy, run through Mitogen when it is installed (requirements.txt pins it).

Mitogen keeps one Python interpreter per target and reuses it for every task instead of starting
a new one (and unpacking the module) per task: measured here it halves the wall time of a no-op
deploy (tests/bench/noop_deploy). Where Mitogen is not installed (an execution environment without
it), this is ansible-core's own linear strategy, unchanged.

A play with ``connection: local`` (molecule's create/destroy of the docker driver, for example) runs
on plain linear: it gains nothing from Mitogen, and Mitogen never reports those plays' ``async``
jobs as finished to ``async_status`` (the wait loops until its retries run out).
"""

DOCUMENTATION = '''
    name: cbdd_linear
    short_description: linear, through Mitogen when it is installed
    description:
        - Task execution is the same as ansible-core's linear strategy; Mitogen (when importable)
          replaces the per-task interpreter start with one persistent interpreter per host.
    author: Clinical BDD Creator operations
'''

try:
    import ansible_mitogen.loaders
    import ansible_mitogen.strategy
except ImportError:  # no Mitogen: plain linear
    from ansible.plugins.strategy.linear import StrategyModule  # noqa: F401
else:
    _Linear = ansible_mitogen.loaders.strategy_loader.get('linear', class_only=True)

    class StrategyModule(ansible_mitogen.strategy.StrategyMixin, _Linear):
        """linear, with Mitogen's connection and module execution."""

        def run(self, iterator, play_context, result=0):
            if getattr(iterator._play, 'connection', None) == 'local':
                return _Linear.run(self, iterator, play_context)
            return super().run(iterator, play_context, result)
