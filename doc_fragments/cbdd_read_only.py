# -*- coding: utf-8 -*-
# Copyright: Clinical BDD Creator operations
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Attributes of the read-only cbdd_* check modules (``extends_documentation_fragment: cbdd_read_only``)."""


class ModuleDocFragment:  # pylint: disable=too-few-public-methods
    """check_mode: full (read-only), diff_mode: none."""

    DOCUMENTATION = r'''
attributes:
  check_mode:
    description: Runs normally in check mode (read-only).
    support: full
  diff_mode:
    description: Nothing to diff.
    support: none
'''
