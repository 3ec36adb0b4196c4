# -*- coding: utf-8 -*-
# Copyright: Clinical BDD Creator operations
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Shared health-check code for the cbdd_* modules.

Python standard library plus ``ansible.module_utils`` only: this file runs on
the managed host (Debian 12, python3.11) inside the AnsiballZ payload.

Contents:

* ``retry_loop`` -- retries with exponential backoff under an overall deadline
  (used by the HTTP checks and by cbdd_container_health's ``wait_timeout``).
* ``HTTP_CHECK_ARGS`` / ``validate_http_params`` / ``check_http`` -- the one
  HTTP(S) health check, used by cbdd_http_check (one URL) and
  cbdd_stack_health (many URLs in threads).
* ``json_mismatches`` -- dotted-path JSON expectations.
"""

import functools
import http.client
import json
import socket
import ssl
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

from ansible.module_utils.cbdd_check import bound_errors
from ansible.module_utils.urls import make_context

BODY_LIMIT = 1024 * 1024
EXCERPT_CHARS = 200
MISSING = object()

# One argument spec for an HTTP check: the options of cbdd_http_check and the
# suboptions of each cbdd_stack_health endpoint.
HTTP_CHECK_ARGS = dict(
    url=dict(type='str', required=True),
    status_code=dict(type='list', elements='int', default=[200]),
    expect_json=dict(type='dict'),
    validate_certs=dict(type='bool', default=True),
    ca_path=dict(type='path'),
    server_name=dict(type='str'),
    headers=dict(type='dict', default={}),
    timeout=dict(type='float', default=10.0),
    retries=dict(type='int', default=0),
    delay=dict(type='float', default=1.0),
    backoff_factor=dict(type='float', default=2.0),
    max_delay=dict(type='float', default=30.0),
    deadline=dict(type='float'),
)


# --------------------------------------------------------------------------
# Retries
# --------------------------------------------------------------------------

class RetryResult:
    """Outcome of ``retry_loop``: last attempt's value, attempt count, seconds spent."""

    def __init__(self, ok, value, attempts, elapsed):
        self.ok = ok
        self.value = value
        self.attempts = attempts
        self.elapsed = elapsed


def retry_loop(attempt, retries=0, delay=1.0, backoff_factor=2.0, max_delay=30.0,
               deadline=None, clock=time.monotonic, sleep=time.sleep):
    """Call ``attempt(time_left)`` until it succeeds, retries run out or the deadline passes.

    ``attempt`` gets the seconds left before ``deadline`` (None: no deadline)
    and returns ``(ok, value)``.  ``retries`` is the number of extra attempts
    after the first one (None: unlimited, so ``deadline`` must be set).  The
    pause before retry n is ``delay * backoff_factor ** (n - 1)``, capped at
    ``max_delay``; no retry starts when its pause would end past the deadline.
    """
    start = clock()
    attempts = 0
    pause = delay
    while True:
        attempts += 1
        ok, value = attempt(_time_left(start, deadline, clock))
        if ok or (retries is not None and attempts > retries):
            break
        left = _time_left(start, deadline, clock)
        if left is not None and pause >= left:
            break
        sleep(pause)
        pause = min(pause * backoff_factor, max_delay)
    return RetryResult(ok, value, attempts, clock() - start)


def _time_left(start, deadline, clock):
    """Seconds left before ``deadline`` (relative to ``start``), or None without deadline."""
    if deadline is None:
        return None
    return max(0.0, deadline - (clock() - start))


def plural(count, word):
    """'1 attempt', '5 attempts'."""
    return '%d %s%s' % (count, word, '' if count == 1 else 's')


# --------------------------------------------------------------------------
# JSON expectations
# --------------------------------------------------------------------------

def lookup_path(document, path):
    """Value at dotted ``path`` (``a.b.0.c``; list items by index) or ``MISSING``.

    A top-level key that itself contains dots is matched literally first.
    """
    if isinstance(document, dict) and path in document:
        return document[path]
    value = document
    for part in path.split('.'):
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and _is_index(part, value):
            value = value[int(part)]
        else:
            return MISSING
    return value


def _is_index(part, items):
    """True when ``part`` is a valid index string for list ``items``."""
    return part.lstrip('-').isdigit() and -len(items) <= int(part) < len(items)


def _scalar_text(value):
    """JSON-ish text of a scalar: true/false/null, numbers, strings unquoted."""
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, (int, float)):
        return json.dumps(value)
    return value if isinstance(value, str) else None


def values_match(actual, expected):
    """Compare a JSON value with an expectation.

    Scalars compare by their JSON text so that templated strings match typed
    JSON (``"200"`` matches ``200``, ``"true"`` matches ``true``); lists and
    dicts must be equal.
    """
    actual_text, expected_text = _scalar_text(actual), _scalar_text(expected)
    if actual_text is not None and expected_text is not None:
        return actual_text == expected_text
    return actual == expected


def _display(value):
    """Short human form of a JSON value for messages."""
    text = _scalar_text(value)
    if text is None:
        text = json.dumps(value, sort_keys=True)
    return text if len(text) <= 80 else text[:77] + '...'


def json_mismatches(document, expectations):
    """List of 'expected <path> == <want>, got <have>' for unmet expectations."""
    problems = []
    for path, expected in (expectations or {}).items():
        actual = lookup_path(document, path)
        if actual is MISSING:
            problems.append('expected %s == %s, field missing' % (path, _display(expected)))
        elif not values_match(actual, expected):
            problems.append('expected %s == %s, got %s' % (path, _display(expected), _display(actual)))
    return problems


# --------------------------------------------------------------------------
# HTTP(S) transport: SNI and Host follow server_name, no global opener
# --------------------------------------------------------------------------

class _SNIHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS connection to ``host`` that sends ``server_name`` as SNI and verifies against it."""

    def __init__(self, *args, server_name=None, **kwargs):
        super().__init__(*args, **kwargs)
        self._server_name = server_name

    def connect(self):
        """TCP connect to the URL's host, TLS handshake for ``server_name``."""
        http.client.HTTPConnection.connect(self)  # pylint: disable=non-parent-method-called
        self.sock = self._context.wrap_socket(self.sock, server_hostname=self._server_name or self.host)


class _SNIHTTPSHandler(urllib.request.HTTPSHandler):
    """urllib handler opening ``_SNIHTTPSConnection``s."""

    def __init__(self, context, server_name):
        super().__init__(context=context)
        self._ssl_context = context
        self._server_name = server_name

    def https_open(self, req):
        connection = functools.partial(_SNIHTTPSConnection, server_name=self._server_name)
        return self.do_open(connection, req, context=self._ssl_context)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Report 3xx responses as they are instead of following them."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


_TLS_CONTEXTS = {}
_TLS_CONTEXTS_LOCK = threading.Lock()


def tls_context(ca_path, validate_certs):
    """SSL context from ``urls.make_context`` (same CA handling as ansible.builtin.uri).

    Cached per (ca_path, validate_certs) under a lock: loading a trust store
    takes tens of milliseconds of CPU, concurrent checks would each load it
    otherwise, and one context is safely shared between threads.
    """
    key = (ca_path, validate_certs)
    with _TLS_CONTEXTS_LOCK:
        if key not in _TLS_CONTEXTS:
            _TLS_CONTEXTS[key] = make_context(cafile=ca_path, validate_certs=validate_certs)
        return _TLS_CONTEXTS[key]


def build_opener(params):
    """A private urllib opener for one check.

    ``ansible.module_utils.urls.Request.open`` installs its opener globally
    (``urllib.request.install_opener``) before ``urlopen``, which races between
    threads with different TLS settings, and has no way to set SNI apart from
    the URL host.  So the TLS context comes from ``urls.make_context`` and the
    opener stays local.  Environment proxies are not used: health checks go
    straight to the URL.
    """
    context = tls_context(params.get('ca_path'), params.get('validate_certs', True))
    # Always pass an HTTPS handler: otherwise build_opener makes a default one, which loads
    # the system trust store again for every opener.
    return urllib.request.build_opener(
        urllib.request.ProxyHandler({}),
        _SNIHTTPSHandler(context, params.get('server_name')),
        _NoRedirect(),
    )


def host_header(url, server_name):
    """Host header value for ``server_name`` (with the URL's port when not the default)."""
    parts = urllib.parse.urlsplit(url)
    default_port = 443 if parts.scheme == 'https' else 80
    if parts.port and parts.port != default_port:
        return '%s:%d' % (server_name, parts.port)
    return server_name


def build_request(params):
    """urllib Request for the check: GET with the user's headers and Host for server_name."""
    headers = {'User-Agent': 'cbdd-health-check', 'Accept': 'application/json, */*'}
    if params.get('server_name'):
        headers['Host'] = host_header(params['url'], params['server_name'])
    headers.update({str(k): str(v) for k, v in (params.get('headers') or {}).items()})
    return urllib.request.Request(params['url'], headers=headers, method='GET')


# --------------------------------------------------------------------------
# One HTTP check
# --------------------------------------------------------------------------

def validate_http_params(params):
    """Argument errors that argument_spec types cannot express, as a list of strings."""
    errors = []
    scheme = urllib.parse.urlsplit(params.get('url') or '').scheme
    if scheme not in ('http', 'https'):
        errors.append('url must start with http:// or https://, got %r' % params.get('url'))
    if not params.get('status_code'):
        errors.append('status_code must list at least one HTTP status')
    errors.extend(bound_errors(params, above_zero=('timeout', 'deadline'),
                               at_least_zero=('retries', 'delay', 'max_delay')))
    if params.get('backoff_factor') is not None and params['backoff_factor'] < 1:
        errors.append('backoff_factor must be >= 1, got %s' % params['backoff_factor'])
    if params.get('ca_path') and not params.get('validate_certs', True):
        errors.append('ca_path is set but validate_certs is false: drop one of them')
    return errors


def excerpt(body):
    """First EXCERPT_CHARS characters of a response body, for failure reports."""
    text = body.decode('utf-8', 'replace').strip()
    return text if len(text) <= EXCERPT_CHARS else text[:EXCERPT_CHARS] + '...'


def parse_json(body):
    """Parsed JSON body, or None when the body is not JSON."""
    try:
        return json.loads(body.decode('utf-8'))
    except ValueError:
        return None


def describe_error(error, timeout):
    """Short reason for a transport-level failure."""
    reason = error.reason if isinstance(error, urllib.error.URLError) else error
    if isinstance(reason, ssl.SSLCertVerificationError):
        return 'TLS verification failed: %s' % (reason.verify_message or reason)
    if isinstance(reason, ssl.SSLError):
        return 'TLS error: %s' % (reason.reason or reason)
    if isinstance(reason, (socket.timeout, TimeoutError)):
        return 'timed out (timeout %.1fs)' % timeout
    if isinstance(reason, ConnectionRefusedError):
        return 'connection refused'
    if isinstance(reason, OSError) and reason.strerror:
        return 'connection failed: %s' % reason.strerror
    return 'request failed: %s' % reason


def _fetch(opener, request, timeout):
    """(status, body bytes) of one request; HTTP error statuses are results, not errors."""
    try:
        with opener.open(request, timeout=timeout) as response:
            return response.status, response.read(BODY_LIMIT)
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.read(BODY_LIMIT)


def http_attempt(opener, params, time_left):
    """One request; returns ``(ok, report)`` where report holds status/latency/json/problems."""
    timeout = params['timeout'] if time_left is None else max(0.001, min(params['timeout'], time_left))
    started = time.monotonic()
    try:
        status, body = _fetch(opener, build_request(params), timeout)
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as error:
        return False, dict(status=None, latency_ms=_ms_since(started), json=None, body_excerpt=None,
                           problems=[describe_error(error, timeout)])
    report = dict(status=status, latency_ms=_ms_since(started), json=parse_json(body), body_excerpt=None)
    report['problems'] = response_problems(params, status, report['json'], body)
    if report['problems']:
        report['body_excerpt'] = excerpt(body)
    return not report['problems'], report


def response_problems(params, status, document, body):
    """Why a response fails the check (empty list: healthy)."""
    problems = []
    wanted = params['status_code']
    if status not in wanted:
        expected = str(wanted[0]) if len(wanted) == 1 else 'in %s' % wanted
        problems.append('expected status %s, got %d' % (expected, status))
    if params.get('expect_json'):
        if document is None:
            problems.append('expected a JSON body, got %r' % ' '.join(excerpt(body).split())[:60])
        else:
            problems.extend(json_mismatches(document, params['expect_json']))
    return problems


def _ms_since(started):
    """Milliseconds since monotonic ``started``, rounded to 0.1 ms."""
    return round((time.monotonic() - started) * 1000.0, 1)


def check_http(params):
    """Run one HTTP check with retries; returns the report dict the modules return.

    Keys: url, healthy, status, latency_ms (last attempt), attempts,
    elapsed_ms (all attempts and pauses), json, body_excerpt, msg.
    """
    try:
        opener = build_opener(params)
    except (OSError, ValueError) as error:  # ssl.SSLError is an OSError
        problem = 'cannot load ca_path %s: %s' % (params.get('ca_path'), getattr(error, 'strerror', None) or error)
        value = dict(status=None, latency_ms=None, json=None, body_excerpt=None, problems=[problem])
        return _report(params, RetryResult(False, value, 0, 0.0))
    result = retry_loop(
        functools.partial(http_attempt, opener, params),
        retries=params['retries'], delay=params['delay'], backoff_factor=params['backoff_factor'],
        max_delay=params['max_delay'], deadline=params.get('deadline'),
    )
    return _report(params, result)


def _report(params, result):
    """Module return values from a RetryResult of http_attempt."""
    report = dict(result.value, url=params['url'], healthy=result.ok, attempts=result.attempts,
                  elapsed_ms=round(result.elapsed * 1000.0, 1))
    problems = report.pop('problems')
    if result.ok:
        report['msg'] = '%s: status %d in %.0f ms' % (params['url'], report['status'], report['latency_ms'])
    elif result.attempts:
        report['msg'] = '%s: %s after %s in %.1fs' % (
            params['url'], '; '.join(problems), plural(result.attempts, 'attempt'), result.elapsed)
    else:
        report['msg'] = '%s: %s' % (params['url'], '; '.join(problems))
    return report
