"""cbdd_container_health against real containers on the host's Docker Engine."""

import json
import os
import shutil
import subprocess
import time
import uuid

import pytest

MODULE = 'cbdd_container_health'
IMAGE = 'local/cbdd-base:bookworm'
SOCKET = '/var/run/docker.sock'

pytestmark = pytest.mark.skipif(not (shutil.which('docker') and os.path.exists(SOCKET)),
                                reason='needs a Docker engine on %s' % SOCKET)


def docker(*args, check=True):
    """Run the docker CLI; returns stdout."""
    return subprocess.run(['docker', *args], capture_output=True, text=True, check=check, timeout=60).stdout.strip()


def health_of(name):
    """Docker's view of a container: (state, health)."""
    data = json.loads(docker('inspect', name))[0]['State']
    return data['Status'], (data.get('Health') or {}).get('Status', 'none')


def wait_for(name, state, health, timeout=30):
    """Block until ``name`` reaches state/health."""
    deadline = time.monotonic() + timeout
    while health_of(name) != (state, health):
        if time.monotonic() > deadline:
            pytest.fail('%s did not become %s/%s: %s' % (name, state, health, health_of(name)))
        time.sleep(0.2)


class Containers:
    """Names of this run's test containers (unique per run, removed afterwards)."""

    def __init__(self):
        self.prefix = 'cbdd-ut-%s' % uuid.uuid4().hex[:8]
        self.created = []

    def run(self, suffix, *options, command=('sleep', '600')):
        """``docker run -d`` a container named <prefix>-<suffix>; returns its name."""
        name = '%s-%s' % (self.prefix, suffix)
        self.created.append(name)
        docker('run', '-d', '--name', name, '--stop-timeout', '1', *options, IMAGE, *command)
        return name

    def remove(self):
        """Force-remove every container this run created."""
        if self.created:
            docker('rm', '-f', *self.created, check=False)


@pytest.fixture(scope='module')
def containers():
    """healthy (with version label), unhealthy, no-healthcheck, exited; plus the missing name."""
    pool = Containers()
    try:
        pool.healthy = pool.run('healthy', '--label', 'org.opencontainers.image.version=1.2.3',
                                '--health-cmd', 'true', '--health-interval', '1s')
        pool.unhealthy = pool.run('unhealthy', '--health-cmd', 'echo database unreachable; exit 1',
                                  '--health-interval', '1s', '--health-retries', '1')
        pool.plain = pool.run('plain')
        pool.exited = pool.run('exited', command=('sh', '-c', 'exit 3'))
        pool.missing = '%s-missing' % pool.prefix
        wait_for(pool.healthy, 'running', 'healthy')
        wait_for(pool.unhealthy, 'running', 'unhealthy')
        wait_for(pool.exited, 'exited', 'none')
        yield pool
    finally:
        pool.remove()


def test_healthy_container_facts(run_module, containers):
    result = run_module(MODULE, containers=[containers.healthy])
    assert result['rc'] == 0 and result['healthy'] is True and result['unhealthy'] == []
    report = result['containers'][containers.healthy]
    assert report['exists'] is True and report['state'] == 'running' and report['health'] == 'healthy'
    assert report['restart_count'] == 0
    assert report['image'] == IMAGE and report['image_id'].startswith('sha256:')
    assert report['version'] == '1.2.3'
    assert report['started_at'].startswith('20') and report['healthy'] is True and report['problem'] is None
    assert result['msg'] == '1 container healthy'


def test_every_problem_is_named(run_module, containers):
    names = [containers.healthy, containers.unhealthy, containers.plain, containers.exited, containers.missing]
    result = run_module(MODULE, containers=names)
    assert result['failed'] is True and result['healthy'] is False
    assert result['unhealthy'] == [containers.unhealthy, containers.exited, containers.missing]
    reports = result['containers']
    assert reports[containers.plain]['health'] == 'none' and reports[containers.plain]['healthy'] is True
    assert reports[containers.unhealthy]['health'] == 'unhealthy'
    assert reports[containers.exited]['state'] == 'exited' and reports[containers.exited]['exit_code'] == 3
    assert reports[containers.missing]['exists'] is False and reports[containers.missing]['state'] is None
    assert result['msg'] == 'unhealthy containers: %s (unhealthy: database unreachable), %s (exited (exit code 3)), ' \
        '%s (missing)' % (containers.unhealthy, containers.exited, containers.missing)


def test_report_only(run_module, containers):
    result = run_module(MODULE, containers=[containers.healthy, containers.missing], require_healthy=False)
    assert result['rc'] == 0 and 'failed' not in result
    assert result['healthy'] is False and result['unhealthy'] == [containers.missing]


def test_wait_timeout_polls_until_healthy(run_module, containers):
    name = containers.run('starting', '--health-cmd', 'test -e /tmp/ready', '--health-interval', '1s',
                          command=('sh', '-c', 'sleep 1; touch /tmp/ready; sleep 600'))
    result = run_module(MODULE, containers=[name], wait_timeout=20)
    assert result['rc'] == 0 and result['containers'][name]['health'] == 'healthy'
    assert result['attempts'] > 1


def test_wait_timeout_gives_up(run_module, containers):
    name = containers.run('never', '--health-cmd', 'true', '--health-interval', '60s')
    started = time.monotonic()
    result = run_module(MODULE, containers=[name], wait_timeout=1.5)
    assert time.monotonic() - started < 10
    assert result['failed'] is True and result['containers'][name]['health'] == 'starting'
    assert result['attempts'] > 1
    assert result['msg'].startswith('unhealthy containers: %s (starting) after ' % name)


def test_unreachable_engine(run_module, tmp_path):
    socket_path = str(tmp_path / 'no-docker.sock')
    result = run_module(MODULE, containers=['anything'], docker_socket=socket_path)
    assert result['failed'] is True
    assert result['msg'] == 'cannot reach the Docker Engine at %s: No such file or directory' % socket_path


@pytest.mark.parametrize('args, message', [
    ({}, 'missing required arguments: containers'),
    ({'containers': ['']}, 'containers must list at least one non-empty name'),
    ({'containers': ['x'], 'wait_timeout': -1}, 'wait_timeout must be >= 0'),
])
def test_argument_validation(run_module, args, message):
    result = run_module(MODULE, **args)
    assert result['failed'] is True and message in result['msg']


def test_through_ansible_cli_in_check_mode(run_ansible, containers):
    result = run_ansible(MODULE, {'containers': [containers.healthy, containers.missing]}, check=True)
    assert result['failed'] is True and result['changed'] is False
    assert result['unhealthy'] == [containers.missing]
    assert result['containers'][containers.healthy]['version'] == '1.2.3'
