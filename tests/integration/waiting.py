"""Waiting for a state that arrives on its own (a scrape, a probe, an alert): shared by the
integration tests and the fleet's verify tests (molecule/fleet/tests)."""
import time


def eventually(check, timeout=60, interval=2):
    """Call ``check`` until it stops raising AssertionError; after ``timeout`` seconds the last
    AssertionError propagates. Returns what ``check`` returned."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return check()
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(interval)
