"""Clinical BDD Creator -- TEST STAND-IN with the real service's operational interface."""
import configparser
import logging
import logging.handlers
import os
import time

from flask import Flask, g, jsonify, request
from prometheus_client import Counter, Histogram

VERSION = os.environ.get("APP_VERSION", "0.0.0")
BROKEN = os.environ.get("APP_BROKEN", "0") == "1"
CONFIG_FILE = os.environ.get("APP_CONFIG", "/app/config/production.ini")

config = configparser.ConfigParser()
config.read(CONFIG_FILE)
log_file = config.get("logging", "file", fallback="/app/logs/clinical_bdd.log")
handler = logging.handlers.RotatingFileHandler(
    log_file,
    maxBytes=config.getint("logging", "max_bytes", fallback=100 * 1024 * 1024),
    backupCount=config.getint("logging", "backup_count", fallback=5),
)
handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
log = logging.getLogger("clinical_bdd")
log.setLevel(logging.INFO)
log.addHandler(handler)
log.addHandler(logging.StreamHandler())

REQUESTS = Counter("http_requests_total", "HTTP requests", ["method", "endpoint", "status"])
LATENCY = Histogram("http_request_duration_seconds", "HTTP request latency", ["endpoint"])

app = Flask(__name__)


@app.before_request
def _start():
    g.started = time.monotonic()


@app.after_request
def _count(response):
    endpoint = request.url_rule.rule if request.url_rule else "unmatched"
    REQUESTS.labels(request.method, endpoint, str(response.status_code)).inc()
    LATENCY.labels(endpoint).observe(time.monotonic() - g.started)
    log.info("%s %s %s", request.method, request.path, response.status_code)
    return response


@app.route("/health")
def health():
    if BROKEN:
        return jsonify(status="error", version=VERSION, detail="stand-in built broken"), 500
    return jsonify(status="ok", version=VERSION, service="clinical-bdd-creator")


@app.route("/")
def index():
    return jsonify(service="clinical-bdd-creator", version=VERSION)
