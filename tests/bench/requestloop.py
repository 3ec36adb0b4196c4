"""HTTPS request loops for the downtime benchmarks and tests (tests/bench/*): requests fired back
to back at /health, each on a new TLS connection (as a new user would), every answer recorded with
its time, so that the failures and the longest gap can be told for the whole run or for any part of
it (one step of a sequence)."""
import json
import ssl
import threading
import time
import urllib.request


class RequestLoop:
    """Requests `url` back to back in `workers` threads; records (start, end, ok, version, error)."""

    def __init__(self, url, workers=2, timeout=5.0):
        self.url, self.workers, self.timeout = url, workers, timeout
        self.results = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = []
        self.ctx = ssl.create_default_context()
        self.ctx.check_hostname = False
        self.ctx.verify_mode = ssl.CERT_NONE
        self.t0 = self.t1 = None

    def one(self):
        started = time.monotonic()
        try:
            with urllib.request.urlopen(self.url, context=self.ctx, timeout=self.timeout) as resp:
                body = json.loads(resp.read())
                ok = resp.status == 200 and body.get("status") == "ok"
                return started, time.monotonic(), ok, body.get("version"), None if ok else "bad body %r" % body
        except Exception as exc:  # any error is a failed request for the user
            return started, time.monotonic(), False, None, repr(exc)

    def _run(self):
        while not self._stop.is_set():
            result = self.one()
            with self._lock:
                self.results.append(result)

    def __enter__(self):
        self.t0 = time.monotonic()
        for _ in range(self.workers):
            thread = threading.Thread(target=self._run, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def __exit__(self, *exc):
        self._stop.set()
        for thread in self._threads:
            thread.join()
        self.t1 = time.monotonic()

    def summary(self, start=None, end=None):
        """requests, failures, longest gap without a successful answer, versions, in [start, end]."""
        start = self.t0 if start is None else start
        end = (self.t1 if self.t1 is not None else time.monotonic()) if end is None else end
        with self._lock:
            window = [r for r in self.results if start <= r[0] <= end]
        failures = [r for r in window if not r[2]]
        ends = sorted(r[1] for r in window if r[2])
        points = [start] + ends + [end]
        gap = max((b - a for a, b in zip(points, points[1:])), default=end - start)
        versions = {}
        for r in window:
            if r[2]:
                versions[r[3]] = versions.get(r[3], 0) + 1
        return {"requests": len(window), "failures": len(failures), "longest_gap_ms": round(gap * 1000, 1),
                "versions": versions, "duration_s": round(end - start, 1),
                "first_errors": [r[4] for r in failures[:3]]}

    # The figures of the whole run (properties kept for the rollout test and bench).
    @property
    def failures(self):
        return [r for r in self.results if not r[2]]

    @property
    def versions(self):
        return self.summary()["versions"]

    @property
    def longest_gap(self):
        return self.summary()["longest_gap_ms"] / 1000.0


def live_version(url):
    return RequestLoop(url).one()[3]
