"""cbdd_stack_health: concurrent checks of several real local endpoints."""

import pytest

from support_servers import LocalServer, closed_port

MODULE = 'cbdd_stack_health'


@pytest.fixture
def slow_server():
    """A fresh server per test, so its max_inflight counts only that test's requests."""
    server = LocalServer()
    yield server
    server.stop()


def test_checks_run_concurrently(run_module, slow_server):
    endpoints = [{'name': 'svc%d' % i, 'url': slow_server.url('/slow/0.5')} for i in range(5)]
    result = run_module(MODULE, endpoints=endpoints)
    assert result['rc'] == 0 and result['healthy'] is True and result['unhealthy'] == []
    assert list(result['services']) == ['svc0', 'svc1', 'svc2', 'svc3', 'svc4']
    assert slow_server.max_inflight == 5  # all five requests were in the server at once
    latencies = [report['latency_ms'] for report in result['services'].values()]
    assert all(latency >= 500 for latency in latencies)
    assert result['wall_time_ms'] < sum(latencies) / 2  # about the slowest check, not the sum
    assert result['msg'] == '5 services healthy'


def test_max_workers_limits_concurrency(run_module, slow_server):
    endpoints = [{'name': 'svc%d' % i, 'url': slow_server.url('/slow/0.2')} for i in range(4)]
    result = run_module(MODULE, endpoints=endpoints, max_workers=2)
    assert result['healthy'] is True and slow_server.max_inflight == 2


def _mixed_endpoints(http_server, https_server, expired_server, pki):
    ca = str(pki.ca.cert_path)
    return [
        {'name': 'app', 'url': http_server.url(), 'expect_json': {'status': 'ok', 'version': '1.2.0'}},
        {'name': 'nginx', 'url': https_server.url(), 'ca_path': ca, 'server_name': 'clinical.example.org'},
        {'name': 'broken', 'url': http_server.url('/error')},
        {'name': 'old', 'url': http_server.url('/old'), 'expect_json': {'version': '1.2.0'}},
        {'name': 'down', 'url': 'http://127.0.0.1:%d/health' % closed_port()},
        {'name': 'expired', 'url': expired_server.url(), 'ca_path': ca},
        {'name': 'expired-insecure', 'url': expired_server.url(), 'validate_certs': False},
    ]


def test_unhealthy_services_are_named(run_module, http_server, https_server, expired_server, pki):
    result = run_module(MODULE, endpoints=_mixed_endpoints(http_server, https_server, expired_server, pki))
    assert result['failed'] is True and result['healthy'] is False
    assert result['unhealthy'] == ['broken', 'old', 'down', 'expired']
    services = result['services']
    assert services['app']['healthy'] and services['app']['json']['version'] == '1.2.0'
    assert services['nginx']['healthy'] and services['expired-insecure']['healthy']
    assert services['broken']['status'] == 500
    assert 'expected version == 1.2.0, got 1.1.0' in services['old']['msg']
    assert 'connection refused' in services['down']['msg']
    assert 'certificate has expired' in services['expired']['msg']
    assert result['msg'].startswith('4 of 7 services unhealthy: broken (%s: expected status 200, got 500'
                                    % http_server.url('/error'))
    for name in result['unhealthy']:
        assert '%s (' % name in result['msg']


def test_report_only_mode(run_module, http_server, https_server, expired_server, pki):
    result = run_module(MODULE, fail_on_unhealthy=False,
                        endpoints=_mixed_endpoints(http_server, https_server, expired_server, pki))
    assert result['rc'] == 0 and 'failed' not in result
    assert result['healthy'] is False and len(result['unhealthy']) == 4


def test_per_endpoint_retries(run_module, http_server):
    result = run_module(MODULE, endpoints=[
        {'name': 'flaky', 'url': http_server.url('/flaky/1/stack'), 'retries': 2, 'delay': 0.05},
        {'name': 'steady', 'url': http_server.url()},
    ])
    assert result['healthy'] is True
    assert result['services']['flaky']['attempts'] == 2 and result['services']['steady']['attempts'] == 1


@pytest.mark.parametrize('args, message', [
    ({'endpoints': [{'name': 'a', 'url': 'http://127.0.0.1/'}, {'name': 'a', 'url': 'http://127.0.0.1/'}]},
     'endpoint names must be unique, repeated: a'),
    ({'endpoints': [{'name': 'web', 'url': 'gopher://x'}]},
     "endpoints[web]: url must start with http:// or https://, got 'gopher://x'"),
    ({'endpoints': [{'url': 'http://127.0.0.1/'}]}, 'missing required arguments: name'),
    ({'endpoints': [{'name': 'a', 'url': 'http://127.0.0.1/', 'timeout': 'soon'}]}, 'timeout'),
    ({'endpoints': []}, 'endpoints must list at least one endpoint'),
])
def test_argument_validation(run_module, args, message):
    result = run_module(MODULE, **args)
    assert result['failed'] is True
    assert message in result['msg']


def test_through_ansible_cli_in_check_mode(run_ansible, http_server):
    result = run_ansible(MODULE, {'endpoints': [
        {'name': 'app', 'url': http_server.url(), 'expect_json': {'status': 'ok'}},
        {'name': 'broken', 'url': http_server.url('/error')},
    ]}, check=True)
    assert result['failed'] is True and result['changed'] is False
    assert result['unhealthy'] == ['broken'] and result['services']['app']['healthy'] is True
