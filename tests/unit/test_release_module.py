"""cbdd_release against real containers on the host's Docker Engine: the live release is what nginx
proxies to (when it runs), else the state file's (when its container runs), else the one running
slot; a stopped stack still names the container to start; disagreements are reported."""

import json
import os
import shutil
import subprocess
import uuid

import pytest

IMAGE = 'local/cbdd-base:bookworm'
SOCKET = '/var/run/docker.sock'

pytestmark = pytest.mark.skipif(not (shutil.which('docker') and os.path.exists(SOCKET)),
                                reason='needs a Docker engine on %s' % SOCKET)


def docker(*args, check=True):
    return subprocess.run(['docker', *args], capture_output=True, text=True, check=check, timeout=60).stdout.strip()


@pytest.fixture
def slots(tmp_path):
    """Two slot containers <base>-blue/-green labelled as releases r-blue/r-green; removed afterwards."""
    base = 'cbdd-ut-rel-%s' % uuid.uuid4().hex[:8]
    names = {}
    for slot, version in (('blue', '1.0.0'), ('green', '1.1.0')):
        name = '%s-%s' % (base, slot)
        docker('run', '-d', '--name', name, '--stop-timeout', '1', '--label', 'cbdd.release=%s-r%s' % (version, slot),
               '--label', 'org.opencontainers.image.version=%s' % version, IMAGE, 'sleep', '600')
        names[slot] = name
    releases = tmp_path / 'releases'
    for slot, version in (('blue', '1.0.0'), ('green', '1.1.0')):
        (releases / ('%s-r%s' % (version, slot))).mkdir(parents=True)
        (releases / ('%s-r%s' % (version, slot)) / 'release.json').write_text('{}')
    try:
        yield base, names, tmp_path
    finally:
        docker('rm', '-f', *names.values(), check=False)


def args(base, tmp_path, upstream=None, state=None):
    state_file = tmp_path / 'release.json'
    if state is not None:
        state_file.write_text(json.dumps(state))
    upstream_file = tmp_path / 'upstream.inc'
    if upstream:
        upstream_file.write_text('set $cbdd_upstream http://%s:3000;\nset $cbdd_metrics_upstream http://%s:8000;\n' % (upstream, upstream))
    return dict(state_file=str(state_file), releases_dir=str(tmp_path / 'releases'), container_name=base,
                upstream_file=str(upstream_file) if upstream else '')


def test_nginx_upstream_wins_and_the_other_slot_is_idle(run_module, slots):
    base, names, tmp = slots
    state = {'live': {'container': names['blue'], 'release_id': '1.0.0-rblue', 'version': '1.0.0', 'by': 'x'},
             'previous': {'release_id': '0.9.0-old', 'version': '0.9.0'}}
    result = run_module('cbdd_release', **args(base, tmp, upstream=names['green'], state=state))
    assert result['rc'] == 0 and result['changed'] is False, result
    live = result['live']
    assert (live['container'], live['version'], live['release_id'], live['running']) == (names['green'], '1.1.0', '1.1.0-rgreen', True)
    assert live['dir_exists'] is True and live['addresses'], live
    assert result['idle_container'] == names['blue']
    assert result['previous']['release_id'] == '0.9.0-old' and result['previous']['dir_exists'] is False
    assert any('state file names %s as live' % names['blue'] in p for p in result['problems']), result['problems']


def test_state_file_names_the_live_slot_when_nginx_is_not_known(run_module, slots):
    base, names, tmp = slots
    state = {'live': {'container': names['blue'], 'release_id': '1.0.0-rblue', 'version': '1.0.0', 'by': 'ops@cn'}}
    result = run_module('cbdd_release', **args(base, tmp, state=state))
    assert result['live']['container'] == names['blue'] and result['live']['by'] == 'ops@cn', result
    assert 'more than one slot container runs: %s, %s' % (names['blue'], names['green']) in result['problems']


def test_one_running_slot_is_live_without_a_state_file(run_module, slots):
    base, names, tmp = slots
    docker('stop', names['blue'])
    result = run_module('cbdd_release', **args(base, tmp))
    assert result['live']['container'] == names['green'] and result['state'] == {}, result
    assert result['previous'] == {} and result['problems'] == []


def test_a_stopped_stack_names_the_container_to_start(run_module, slots):
    base, names, tmp = slots
    docker('stop', names['blue'], names['green'])
    state = {'live': {'container': names['green'], 'release_id': '1.1.0-rgreen', 'version': '1.1.0'}}
    result = run_module('cbdd_release', **args(base, tmp, upstream=names['green'], state=state))
    assert result['live']['container'] == names['green'] and result['live']['running'] is False, result
    assert result['idle_container'] == names['blue']


def test_nothing_at_all(run_module, tmp_path):
    base = 'cbdd-ut-rel-none-%s' % uuid.uuid4().hex[:6]
    result = run_module('cbdd_release', **args(base, tmp_path))
    assert result['live'] == {} and result['idle_container'] == base + '-blue' and result['problems'] == []


def test_a_corrupt_state_file_fails_naming_it(run_module, tmp_path):
    (tmp_path / 'release.json').write_text('{not json')
    result = run_module('cbdd_release', **args('cbdd-ut-rel-x', tmp_path))
    assert result['failed'] and 'is not valid JSON' in result['msg'] and 'release.json' in result['msg'], result


def test_check_mode_reads_the_same(run_module, slots):
    base, names, tmp = slots
    normal = run_module('cbdd_release', **args(base, tmp, upstream=names['blue']))
    check = run_module('cbdd_release', check_mode=True, **args(base, tmp, upstream=names['blue']))
    assert normal['live'] == check['live'] and check['changed'] is False
