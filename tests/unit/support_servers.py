"""Real HTTP(S) servers on 127.0.0.1 ephemeral ports for the module tests.

Routes (every server, HTTP or HTTPS):

* ``/health``        200, JSON of the healthy app (version 1.2.0)
* ``/old``           200, JSON reporting version 1.1.0
* ``/error``         500, JSON with status "error"
* ``/slow/<s>``      answers /health after sleeping <s> seconds (tracks concurrency)
* ``/html``          200, an HTML page
* ``/redirect``      301 to /health
* ``/flaky/<n>/<k>`` 503 for the first n requests (counter k), then /health
* ``/fail/<k>``      always 503 (request times are recorded per k)
* ``/echo``          200, JSON of the request headers

Each request is recorded (path, headers, TLS SNI, monotonic time); every TLS
handshake's SNI is appended to ``sni_names``.
"""

import json
import socket
import ssl
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HEALTHY = {'status': 'ok', 'version': '1.2.0', 'service': 'clinical-bdd-creator',
           'checks': {'db': {'status': 'ok'}}, 'items': [{'name': 'first'}], 'code': 200, 'ready': True}
OLD = {'status': 'ok', 'version': '1.1.0', 'service': 'clinical-bdd-creator'}
BROKEN = {'status': 'error', 'version': '1.2.0', 'detail': 'stand-in built broken'}


class _Handler(BaseHTTPRequestHandler):
    """Dispatches the routes above; the server object holds the shared state."""

    protocol_version = 'HTTP/1.1'

    def log_message(self, format, *args):  # noqa: A002 - quiet test output
        pass

    def handle(self):
        if isinstance(self.connection, ssl.SSLSocket):
            try:
                self.connection.do_handshake()
            except (ssl.SSLError, OSError):
                return
        try:
            super().handle()
        except ConnectionResetError:
            pass  # a certificate check hangs up after the handshake, before the session tickets arrive

    def do_GET(self):  # noqa: N802 - http.server naming
        server = self.server.owner
        server.record(self)
        parts = self.path.strip('/').split('/')
        route = getattr(self, 'route_' + parts[0], None)
        if route is None:
            self.reply(404, {'error': 'no route %s' % self.path})
        else:
            route(server, *parts[1:])

    def reply(self, status, payload, content_type='application/json', headers=()):
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header('Content-Type', content_type)
        self.send_header('Content-Length', str(len(body)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def route_health(self, _server):
        self.reply(200, HEALTHY)

    def route_old(self, _server):
        self.reply(200, OLD)

    def route_error(self, _server):
        self.reply(500, BROKEN)

    def route_slow(self, server, seconds='1'):
        with server.inflight():
            time.sleep(float(seconds))
        self.reply(200, HEALTHY)

    def route_html(self, _server):
        self.reply(200, b'<html><body>\n  <h1>Welcome   to nginx!</h1>\n</body></html>', 'text/html')

    def route_redirect(self, _server):
        self.reply(301, b'', 'text/plain', headers=[('Location', '/health')])

    def route_flaky(self, server, failures, key):
        if server.count(key) < int(failures):
            self.reply(503, {'status': 'starting'})
        else:
            self.reply(200, HEALTHY)

    def route_fail(self, server, key):
        server.count(key)
        self.reply(503, {'status': 'down'})

    def route_echo(self, _server):
        self.reply(200, {'headers': {k.lower(): v for k, v in self.headers.items()}})


class LocalServer:
    """A threaded HTTP server on 127.0.0.1 (HTTPS when ``cert`` is given)."""

    def __init__(self, cert=None):
        self.requests = []
        self.sni_names = []
        self.max_inflight = 0
        self._inflight = 0
        self._counts = Counter()
        self._lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(('127.0.0.1', 0), _Handler)
        self.httpd.daemon_threads = True
        self.httpd.owner = self
        self.scheme = 'http'
        if cert is not None:
            self.scheme = 'https'
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(str(cert.cert_path), str(cert.key_path))
            context.sni_callback = self._remember_sni
            self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True,
                                                    do_handshake_on_connect=False)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={'poll_interval': 0.05},
                                       daemon=True)
        self.thread.start()

    def _remember_sni(self, tls_socket, server_name, _context):
        tls_socket.cbdd_sni = server_name
        with self._lock:
            self.sni_names.append(server_name)

    def url(self, path='/health'):
        """URL of ``path`` on this server."""
        return '%s://127.0.0.1:%d%s' % (self.scheme, self.port, path)

    def record(self, handler):
        """Remember a request: path, headers, SNI, arrival time."""
        with self._lock:
            self.requests.append(dict(
                path=handler.path, headers={k.lower(): v for k, v in handler.headers.items()},
                sni=getattr(handler.connection, 'cbdd_sni', None), time=time.monotonic()))

    def requests_for(self, path):
        """Recorded requests for ``path``."""
        with self._lock:
            return [request for request in self.requests if request['path'] == path]

    def count(self, key):
        """Number of earlier hits of counter ``key`` (then counts this one)."""
        with self._lock:
            seen = self._counts[key]
            self._counts[key] += 1
            return seen

    def inflight(self):
        """Context manager counting concurrent requests into ``max_inflight``."""
        server = self

        class _Inflight:
            def __enter__(self):
                with server._lock:
                    server._inflight += 1
                    server.max_inflight = max(server.max_inflight, server._inflight)

            def __exit__(self, *exc):
                with server._lock:
                    server._inflight -= 1

        return _Inflight()

    def stop(self):
        """Shut the server down."""
        self.httpd.shutdown()
        self.httpd.server_close()


def closed_port():
    """A port on 127.0.0.1 with nothing listening (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]
