"""Pure functions of module_utils/cbdd_*.py, imported in-process (no servers)."""

import pytest

from ansible.module_utils.cbdd_check import bound_errors
from ansible.module_utils.cbdd_health import MISSING, json_mismatches, lookup_path, retry_loop, values_match
from ansible.module_utils.cbdd_tls import wildcard_match


class FakeClock:
    """Monotonic clock that only moves when the code under test sleeps or works."""

    def __init__(self):
        self.now = 0.0
        self.sleeps = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


def _failing(clock, cost=0.0):
    def attempt(_time_left):
        clock.now += cost
        return False, 'nope'
    return attempt


def test_retry_loop_backs_off_exponentially_up_to_max_delay():
    clock = FakeClock()
    result = retry_loop(_failing(clock), retries=5, delay=1, backoff_factor=2, max_delay=5,
                        clock=clock, sleep=clock.sleep)
    assert (result.ok, result.value, result.attempts) == (False, 'nope', 6)
    assert clock.sleeps == [1, 2, 4, 5, 5]
    assert result.elapsed == 17


def test_retry_loop_stops_before_a_pause_that_would_pass_the_deadline():
    clock = FakeClock()
    result = retry_loop(_failing(clock, cost=0.5), retries=100, delay=1, backoff_factor=2,
                        deadline=6, clock=clock, sleep=clock.sleep)
    # attempt 0.5 | sleep 1 | attempt 2.0 | sleep 2 | attempt 4.5 -> 1.5 s left < next pause 4
    assert result.attempts == 3 and clock.sleeps == [1, 2]


def test_retry_loop_passes_time_left_and_stops_on_success():
    clock = FakeClock()
    seen = []

    def attempt(time_left):
        seen.append(time_left)
        clock.now += 1
        return len(seen) == 2, len(seen)

    result = retry_loop(attempt, retries=None, delay=0.5, deadline=10, clock=clock, sleep=clock.sleep)
    assert result.ok and result.value == 2 and seen == [10, 8.5]


@pytest.mark.parametrize('pattern, name, expected', [
    ('clinical.example.org', 'clinical.example.org', True),
    ('Clinical.Example.org', 'clinical.example.org.', True),
    ('*.example.org', 'app.example.org', True),
    ('*.example.org', 'example.org', False),
    ('*.example.org', 'a.b.example.org', False),
    ('*.example.org', '.example.org', False),
    ('*.org', 'example.org', False),
    ('f*.example.org', 'foo.example.org', False),
    ('app.*.org', 'app.example.org', False),
    ('*.*.example.org', 'a.b.example.org', False),
    ('*.0.0.1', '127.0.0.1', False),
    ('', 'example.org', False),
])
def test_wildcard_rules(pattern, name, expected):
    assert wildcard_match(pattern, name) is expected


def test_lookup_path():
    document = {'a': {'b': [{'c': 1}]}, 'x.y': 2, 'list': [1, 2, 3]}
    assert lookup_path(document, 'a.b.0.c') == 1
    assert lookup_path(document, 'x.y') == 2
    assert lookup_path(document, 'list.-1') == 3
    assert lookup_path(document, 'list.3') is MISSING
    assert lookup_path(document, 'a.missing') is MISSING
    assert lookup_path(['first'], '0') == 'first'


@pytest.mark.parametrize('actual, expected, match', [
    ('1.2.0', '1.2.0', True),
    (200, '200', True),
    (True, 'true', True),
    (True, 1, False),
    (None, 'null', True),
    (1.5, 1.5, True),
    ({'a': 1}, {'a': 1}, True),
    ([1], ['1'], False),
    ('ok', 'OK', False),
])
def test_values_match(actual, expected, match):
    assert values_match(actual, expected) is match


def test_json_mismatches_messages():
    assert json_mismatches({'status': 'ok', 'version': '1.1.0'}, {'status': 'ok', 'version': '1.2.0', 'db': 'up'}) == [
        'expected version == 1.2.0, got 1.1.0', 'expected db == up, field missing']


def test_bound_errors_name_each_option_out_of_bounds_and_skip_unset_ones():
    params = {'timeout': 0, 'deadline': None, 'retries': -1, 'delay': 0, 'wait_timeout': 2.5}
    assert bound_errors(params, above_zero=('timeout', 'deadline', 'wait_timeout'),
                        at_least_zero=('retries', 'delay')) == [
        'timeout must be > 0, got 0', 'retries must be >= 0, got -1']
    assert bound_errors(params) == []
