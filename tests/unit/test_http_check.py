"""cbdd_http_check against real local HTTP/HTTPS servers."""

import re

import pytest

from support_servers import HEALTHY, closed_port

MODULE = 'cbdd_http_check'


def test_healthy_endpoint_reports_status_latency_and_json(run_module, http_server):
    result = run_module(MODULE, url=http_server.url(), expect_json={'status': 'ok', 'version': '1.2.0'})
    assert result['rc'] == 0 and result['healthy'] is True
    assert result['status'] == 200
    assert result['attempts'] == 1
    assert result['latency_ms'] > 0
    assert result['json'] == HEALTHY
    assert result['body_excerpt'] is None
    assert result['msg'].startswith('%s: status 200 in ' % http_server.url())


def test_dotted_paths_list_indexes_and_typed_values(run_module, http_server):
    result = run_module(MODULE, url=http_server.url(), expect_json={
        'checks.db.status': 'ok', 'items.0.name': 'first', 'code': '200', 'ready': 'true'})
    assert result['healthy'] is True, result['msg']


def test_wrong_version_fails_after_retries_with_clear_message(run_module, http_server):
    url = http_server.url('/old')
    result = run_module(MODULE, url=url, expect_json={'status': 'ok', 'version': '1.2.0'}, retries=2, delay=0.05)
    assert result['failed'] is True and result['healthy'] is False
    assert result['attempts'] == 3
    assert re.fullmatch(r'%s: expected version == 1\.2\.0, got 1\.1\.0 after 3 attempts in \d+\.\ds' % re.escape(url),
                        result['msg']), result['msg']
    assert result['json']['version'] == '1.1.0'
    assert '"version": "1.1.0"' in result['body_excerpt']
    assert len(http_server.requests_for('/old')) >= 3


def test_missing_json_field_is_named(run_module, http_server):
    result = run_module(MODULE, url=http_server.url(), expect_json={'checks.cache.status': 'ok'})
    assert 'expected checks.cache.status == ok, field missing' in result['msg']


def test_server_error_500(run_module, http_server):
    url = http_server.url('/error')
    result = run_module(MODULE, url=url)
    assert result['failed'] is True
    assert result['status'] == 500
    assert result['msg'] == '%s: expected status 200, got 500 after 1 attempt in 0.0s' % url
    assert 'stand-in built broken' in result['body_excerpt']
    assert result['json']['status'] == 'error'


def test_500_accepted_when_listed(run_module, http_server):
    result = run_module(MODULE, url=http_server.url('/error'), status_code=[200, 500])
    assert result['healthy'] is True and result['status'] == 500


def test_status_and_json_problems_are_both_reported(run_module, http_server):
    result = run_module(MODULE, url=http_server.url('/error'), status_code=[200, 204], expect_json={'status': 'ok'})
    assert 'expected status in [200, 204], got 500; expected status == ok, got error' in result['msg']


def test_non_json_body_when_json_expected(run_module, http_server):
    result = run_module(MODULE, url=http_server.url('/html'), expect_json={'status': 'ok'})
    assert result['failed'] is True and result['json'] is None
    assert "expected a JSON body, got '<html><body> <h1>Welcome to nginx!" in result['msg']


def test_redirect_is_reported_not_followed(run_module, http_server):
    result = run_module(MODULE, url=http_server.url('/redirect'), status_code=[301])
    assert result['healthy'] is True and result['status'] == 301


def test_slow_server_times_out(run_module, http_server):
    url = http_server.url('/slow/2')
    result = run_module(MODULE, url=url, timeout=0.3)
    assert result['failed'] is True and result['status'] is None
    assert re.fullmatch(r'%s: timed out \(timeout 0\.3s\) after 1 attempt in 0\.\ds' % re.escape(url),
                        result['msg']), result['msg']
    assert result['latency_ms'] < 1500


def test_deadline_bounds_total_time(run_module, http_server):
    result = run_module(MODULE, url=http_server.url('/slow/0.4'), timeout=5, retries=50, delay=0.1,
                        expect_json={'version': '9.9.9'}, deadline=1.2)
    assert result['failed'] is True
    assert 2 <= result['attempts'] < 50
    assert result['elapsed_ms'] < 1500  # 50 retries of a 0.4 s request would take > 20 s


def test_retries_back_off_exponentially(run_module, http_server):
    result = run_module(MODULE, url=http_server.url('/fail/backoff'), retries=3, delay=0.1, backoff_factor=2)
    assert result['attempts'] == 4 and result['status'] == 503
    times = [request['time'] for request in http_server.requests_for('/fail/backoff')]
    gaps = [later - earlier for earlier, later in zip(times, times[1:])]
    assert len(gaps) == 3
    for gap, pause in zip(gaps, (0.1, 0.2, 0.4)):
        assert gap >= pause, gaps
    assert gaps[0] < gaps[1] < gaps[2], gaps


def test_recovers_when_a_retry_succeeds(run_module, http_server):
    result = run_module(MODULE, url=http_server.url('/flaky/2/recover'), retries=5, delay=0.05)
    assert result['healthy'] is True
    assert result['attempts'] == 3 and result['status'] == 200


def test_closed_port(run_module):
    url = 'http://127.0.0.1:%d/health' % closed_port()
    result = run_module(MODULE, url=url)
    assert result['failed'] is True and result['status'] is None
    assert result['msg'] == '%s: connection refused after 1 attempt in 0.0s' % url


def test_https_with_ca_path_sends_sni_and_host_for_server_name(run_module, https_server, pki):
    url = https_server.url('/echo')
    result = run_module(MODULE, url=url, ca_path=str(pki.ca.cert_path), server_name='clinical.example.org',
                        headers={'X-Probe': 'cbdd'})
    assert result['healthy'] is True, result['msg']
    request = https_server.requests_for('/echo')[-1]
    assert request['sni'] == 'clinical.example.org'
    assert request['headers']['host'] == 'clinical.example.org:%d' % https_server.port
    assert result['json']['headers']['x-probe'] == 'cbdd'


def test_host_header_can_be_overridden(run_module, https_server, pki):
    result = run_module(MODULE, url=https_server.url('/echo'), ca_path=str(pki.ca.cert_path),
                        server_name='clinical.example.org', headers={'Host': 'clinical.example.org'})
    assert result['json']['headers']['host'] == 'clinical.example.org'


def test_https_verification_is_on_by_default(run_module, https_server):
    result = run_module(MODULE, url=https_server.url())
    assert result['failed'] is True
    assert 'TLS verification failed: unable to get local issuer certificate' in result['msg']


def test_server_name_must_match_certificate(run_module, https_server, pki):
    result = run_module(MODULE, url=https_server.url(), ca_path=str(pki.ca.cert_path), server_name='evil.example.com')
    assert result['failed'] is True
    assert ("TLS verification failed: Hostname mismatch, certificate is not valid for 'evil.example.com'"
            in result['msg'])


def test_certificate_for_another_name(run_module, wrongname_server, pki):
    result = run_module(MODULE, url=wrongname_server.url(), ca_path=str(pki.ca.cert_path),
                        server_name='clinical.example.org')
    assert result['failed'] is True
    assert 'Hostname mismatch' in result['msg']


def test_expired_certificate(run_module, expired_server, pki):
    result = run_module(MODULE, url=expired_server.url(), ca_path=str(pki.ca.cert_path))
    assert result['failed'] is True
    assert 'TLS verification failed: certificate has expired' in result['msg']


def test_insecure_switch_accepts_expired_certificate(run_module, expired_server):
    result = run_module(MODULE, url=expired_server.url(), validate_certs=False, expect_json={'status': 'ok'})
    assert result['healthy'] is True


def test_runs_in_check_mode(run_module, http_server):
    result = run_module(MODULE, check_mode=True, url=http_server.url())
    assert result['healthy'] is True and result['changed'] is False


@pytest.mark.parametrize('args, message', [
    ({'url': 'ftp://127.0.0.1/health'}, "url must start with http:// or https://, got 'ftp://127.0.0.1/health'"),
    ({'url': 'http://127.0.0.1/', 'timeout': 0}, 'timeout must be > 0, got 0.0'),
    ({'url': 'http://127.0.0.1/', 'status_code': []}, 'status_code must list at least one HTTP status'),
    ({'url': 'http://127.0.0.1/', 'validate_certs': False, 'ca_path': '/tmp/ca.pem'},
     'ca_path is set but validate_certs is false'),
    ({'url': 'http://127.0.0.1/', 'status_code': ['ok']}, 'status_code'),
    ({'url': 'http://127.0.0.1/', 'verify': True}, 'Unsupported parameters'),
    ({}, 'missing required arguments: url'),
])
def test_argument_validation(run_module, args, message):
    result = run_module(MODULE, **args)
    assert result['failed'] is True
    assert message in result['msg']


def test_through_ansible_cli_in_check_mode(run_ansible, https_server, pki):
    """The real AnsiballZ path: ansible.cfg's module_utils, target python, --check."""
    result = run_ansible(MODULE, {'url': https_server.url(), 'ca_path': str(pki.ca.cert_path),
                                  'server_name': 'clinical.example.org',
                                  'expect_json': {'status': 'ok', 'version': '1.2.0'}}, check=True)
    assert result.get('failed') is not True, result
    assert result['changed'] is False and result['status'] == 200 and result['json']['version'] == '1.2.0'


def test_unreadable_ca_path(run_module, https_server, tmp_path):
    url = https_server.url()
    result = run_module(MODULE, url=url, ca_path=str(tmp_path / 'missing-ca.pem'))
    assert result['failed'] is True and result['attempts'] == 0
    assert result['msg'] == '%s: cannot load ca_path %s: No such file or directory' % (url, tmp_path / 'missing-ca.pem')
