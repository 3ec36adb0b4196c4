"""Paths and interpreters shared by the unit tests."""

import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
LIBRARY = REPO / 'library'
MODULE_UTILS = REPO / 'module_utils'
RUNNER = Path(__file__).resolve().parent / 'module_runner.py'
VENV_BIN = Path(sys.executable).parent
ANSIBLE_BIN = VENV_BIN / 'ansible'
ANSIBLE_DOC_BIN = VENV_BIN / 'ansible-doc'
# Debian 12's python3.11 is what the managed hosts run; fall back to this interpreter.
TARGET_PYTHON = os.environ.get('CBDD_TARGET_PYTHON') or (
    '/usr/bin/python3' if os.access('/usr/bin/python3', os.X_OK) else sys.executable)
MODULES = ('cbdd_http_check', 'cbdd_tls_check', 'cbdd_container_health', 'cbdd_stack_health', 'cbdd_release')
