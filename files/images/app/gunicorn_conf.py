"""gunicorn hooks: Prometheus metrics from every worker (multiprocess mode) on port 8000."""
import glob
import os

from prometheus_client import CollectorRegistry, multiprocess, start_http_server

METRICS_PORT = int(os.environ.get("APP_METRICS_PORT", "8000"))


def on_starting(server):
    for stale in glob.glob(os.path.join(os.environ["PROMETHEUS_MULTIPROC_DIR"], "*.db")):
        os.remove(stale)


def when_ready(server):
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    start_http_server(METRICS_PORT, registry=registry)


def child_exit(server, worker):
    multiprocess.mark_process_dead(worker.pid)
