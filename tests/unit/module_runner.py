"""Run one module file on this machine the way Ansible runs it on a managed host.

Usage: python -S -E module_runner.py ANSIBLE_PARENT MODULE_UTILS_DIR MODULE_PATH ARGS_JSON_FILE [PACKAGES_DIR]

Started with ``-S -E`` (no site-packages, no PYTHON* variables), so only the
standard library plus the ``ansible`` package in ANSIBLE_PARENT is importable,
like the AnsiballZ payload on a Debian host without extra Python packages.
PACKAGES_DIR, when given, is appended to ``sys.path`` (as site-packages would be):
it holds the host packages a module requires, e.g. python3-cryptography (see
support_target.py).
MODULE_UTILS_DIR is added to ``ansible.module_utils`` (what ansible.cfg's
``module_utils = module_utils`` does), then the module runs as ``__main__``
and reads its arguments from the ``{"ANSIBLE_MODULE_ARGS": ...}`` file.
"""

import runpy
import sys


def main():
    """Set up the import path and run the module."""
    ansible_parent, module_utils_dir, module_path, args_file = sys.argv[1:5]
    sys.path[0] = ansible_parent  # replaces this script's directory
    sys.path.extend(sys.argv[5:6])
    import ansible.module_utils  # pylint: disable=import-outside-toplevel

    ansible.module_utils.__path__.append(module_utils_dir)
    sys.argv = [module_path, args_file]
    runpy.run_path(module_path, run_name='__main__')


if __name__ == '__main__':
    main()
