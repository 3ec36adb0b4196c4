"""Fixtures for the cbdd_* module tests: test PKI, local servers, module runners."""

import json
import os
import shutil
import subprocess
import uuid
from pathlib import Path

import ansible
import ansible.module_utils
import pytest

from support_env import ANSIBLE_BIN, LIBRARY, MODULE_UTILS, REPO, RUNNER, TARGET_PYTHON
from support_pki import UnitPKI
from support_servers import LocalServer
from support_target import NEEDS_CRYPTOGRAPHY, TargetPackages, label, probe

# In-process imports of the shared code (pure-function tests), as ansible.cfg's module_utils does.
if str(MODULE_UTILS) not in ansible.module_utils.__path__:
    ansible.module_utils.__path__.append(str(MODULE_UTILS))


class ModuleRunner:
    """Runs a module file in a fresh interpreter with only stdlib + ansible (see module_runner.py).

    Modules in NEEDS_CRYPTOGRAPHY also get the interpreter's own python3-cryptography (see
    support_target.py); ``with_packages=False`` runs them without it, as on a host that lacks it.
    """

    def __init__(self, workdir, python=TARGET_PYTHON):
        self.workdir = workdir
        self.python = python
        self.ansible_parent = workdir / 'ansible-only'
        self.ansible_parent.mkdir()
        (self.ansible_parent / 'ansible').symlink_to(Path(ansible.__file__).parent)
        self.packages = TargetPackages(python, workdir / 'host-packages')

    def __call__(self, module, check_mode=False, with_packages=True, **args):
        """Result dict of ``module`` with ``args``; ``rc`` added; ``failed`` agrees with rc."""
        payload = dict(args, _ansible_check_mode=check_mode)
        args_file = self.workdir / ('%s-%s.json' % (module, uuid.uuid4().hex))
        args_file.write_text(json.dumps({'ANSIBLE_MODULE_ARGS': payload}))
        command = [self.python, '-S', '-E', str(RUNNER), str(self.ansible_parent), str(MODULE_UTILS),
                   str(LIBRARY / ('%s.py' % module)), str(args_file)]
        if with_packages and module in NEEDS_CRYPTOGRAPHY:
            if self.packages.path is None:
                pytest.fail(self.packages.problem)
            command.append(str(self.packages.path))
        proc = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=self.workdir, check=False)
        try:
            result = json.loads(proc.stdout)
        except ValueError:
            pytest.fail('%s printed no JSON (rc %d)\nstdout: %s\nstderr: %s'
                        % (module, proc.returncode, proc.stdout, proc.stderr))
        assert (proc.returncode != 0) == bool(result.get('failed')), result
        assert not result.get('changed'), result  # read-only checks never change anything
        result['rc'] = proc.returncode
        return result


def pytest_report_header():
    """Which interpreter (and cryptography) plays the managed host."""
    return 'module tests: target python %s (%s)' % (TARGET_PYTHON, label(probe(TARGET_PYTHON)))


@pytest.fixture(scope='session')
def module_runner_for(tmp_path_factory):
    """``module_runner_for(python) -> ModuleRunner`` that runs the modules with that interpreter."""
    runners = {}

    def runner(python):
        if python not in runners:
            runners[python] = ModuleRunner(tmp_path_factory.mktemp('modules'), python)
        return runners[python]

    return runner


@pytest.fixture(scope='session')
def run_module(module_runner_for):
    """``run_module('cbdd_http_check', url=..., check_mode=False) -> result dict`` (the target interpreter)."""
    return module_runner_for(TARGET_PYTHON)


@pytest.fixture(scope='session')
def run_ansible():
    """Run a module through the real ``ansible`` CLI (AnsiballZ, ansible.cfg); returns the host result."""

    def run(module, args, check=False):
        env = dict(os.environ, ANSIBLE_LOAD_CALLBACK_PLUGINS='1', ANSIBLE_STDOUT_CALLBACK='ansible.posix.json',
                   ANSIBLE_DEPRECATION_WARNINGS='0', ANSIBLE_NOCOLOR='1', ANSIBLE_CONFIG=str(REPO / 'ansible.cfg'))
        command = [str(ANSIBLE_BIN) if ANSIBLE_BIN.exists() else shutil.which('ansible'), 'localhost',
                   '-i', 'localhost,', '-c', 'local', '-e', 'ansible_python_interpreter=%s' % TARGET_PYTHON,
                   '-m', module, '-a', json.dumps(args)] + (['--check'] if check else [])
        proc = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False)
        try:
            return json.loads(proc.stdout)['plays'][0]['tasks'][0]['hosts']['localhost']
        except (ValueError, KeyError, IndexError):
            pytest.fail('ansible -m %s gave no JSON result (rc %d)\nstdout: %s\nstderr: %s'
                        % (module, proc.returncode, proc.stdout, proc.stderr))
        return None

    return run


@pytest.fixture(scope='session')
def pki(tmp_path_factory):
    """Test CA and certificates (see support_pki)."""
    return UnitPKI(tmp_path_factory.mktemp('pki'))


@pytest.fixture(scope='session')
def http_server():
    """Plain HTTP server."""
    server = LocalServer()
    yield server
    server.stop()


def _tls_server(leaf, doc):
    """A session fixture: an HTTPS server presenting ``pki.<leaf>`` (certificate file and key)."""

    @pytest.fixture(scope='session')
    def server_fixture(pki):
        server = LocalServer(getattr(pki, leaf))
        yield server
        server.stop()

    server_fixture.__doc__ = doc
    return server_fixture


https_server = _tls_server('good', 'HTTPS server with the good certificate (clinical.example.org, localhost, 127.0.0.1).')
expired_server = _tls_server('expired', 'HTTPS server with an expired certificate from the test CA.')
wrongname_server = _tls_server('wrongname', 'HTTPS server with a certificate for other.example.net only.')
intermediate_server = _tls_server(
    'intermediate_chain', 'HTTPS server presenting a leaf from the intermediate CA plus the intermediate.')
