"""TEST STAND-IN FOR GRAFANA -- not Grafana.

No Grafana server can be installed in this workplace, so this small server answers the Grafana
HTTP API paths that the grafana role and the health checks use, from the same provisioning files
the real Grafana reads:

  GET /api/health                 {"database": "ok", "version": ..., "standin": true}
  GET /api/datasources            datasources from provisioning/datasources/*.yml   (basic auth)
  GET /api/search                 dashboards found by provisioning/dashboards/*.yml (basic auth)
  GET /api/dashboards/uid/<uid>   one dashboard JSON                                 (basic auth)
  POST /api/admin/provisioning/datasources/reload                                    (basic auth)
  POST /api/admin/provisioning/dashboards/reload   re-read and check the files       (basic auth)

Admin credentials come from GF_SECURITY_ADMIN_USER / GF_SECURITY_ADMIN_PASSWORD, or
GF_SECURITY_ADMIN_PASSWORD__FILE (Grafana's __FILE convention; re-read on each request), like
Grafana. Anonymous access is never granted.
"""
import base64
import glob
import json
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import yaml

PROV = os.environ.get("GF_PATHS_PROVISIONING", "/etc/grafana/provisioning")
USER = os.environ.get("GF_SECURITY_ADMIN_USER", "admin")
PASSWORD_FILE = os.environ.get("GF_SECURITY_ADMIN_PASSWORD__FILE", "")
PORT = int(os.environ.get("GF_SERVER_HTTP_PORT", "3000"))
VERSION = "standin-1"


def admin_password():
    if PASSWORD_FILE:
        try:
            with open(PASSWORD_FILE, encoding="utf-8") as handle:
                return handle.read().strip()
        except OSError:
            return ""
    return os.environ.get("GF_SECURITY_ADMIN_PASSWORD", "")


def _yaml_files(sub):
    items = []
    for path in sorted(glob.glob(os.path.join(PROV, sub, "*.y*ml"))):
        with open(path, encoding="utf-8") as handle:
            items.append(yaml.safe_load(handle) or {})
    return items


def datasources():
    result = []
    for doc in _yaml_files("datasources"):
        for index, source in enumerate(doc.get("datasources") or []):
            entry = dict(source)
            entry.setdefault("id", len(result) + 1)
            entry.setdefault("uid", source.get("name", str(index)))
            entry.pop("secureJsonData", None)
            result.append(entry)
    return result


def dashboards():
    found = {}
    for doc in _yaml_files("dashboards"):
        for provider in doc.get("providers") or []:
            path = (provider.get("options") or {}).get("path", "")
            for file in sorted(glob.glob(os.path.join(path, "*.json"))):
                with open(file, encoding="utf-8") as handle:
                    board = json.load(handle)
                found[board.get("uid") or os.path.basename(file)] = board
    return found


class Handler(BaseHTTPRequestHandler):
    server_version = "grafana-standin"

    def _send(self, code, body):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _authorised(self):
        header = self.headers.get("Authorization", "")
        expected = admin_password()
        if not header.startswith("Basic ") or not expected:
            return False
        user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        return user == USER and password == expected

    def do_GET(self):  # noqa: N802 (http.server API)
        path = self.path.split("?", 1)[0]
        if path == "/api/health":
            return self._send(200, {"database": "ok", "version": VERSION, "standin": True})
        if not path.startswith("/api/"):
            return self._send(404, {"message": "Not found"})
        if not self._authorised():
            return self._send(401, {"message": "Unauthorized"})
        try:
            if path == "/api/datasources":
                return self._send(200, datasources())
            if path == "/api/search":
                return self._send(200, [{"uid": uid, "title": b.get("title"), "type": "dash-db"}
                                        for uid, b in dashboards().items()])
            if path.startswith("/api/dashboards/uid/"):
                board = dashboards().get(path.rsplit("/", 1)[1])
                if board is None:
                    return self._send(404, {"message": "Dashboard not found"})
                return self._send(200, {"dashboard": board, "meta": {"provisioned": True}})
        except (OSError, ValueError, yaml.YAMLError) as exc:
            return self._send(500, {"message": "provisioning error: %s" % exc})
        return self._send(404, {"message": "Not found"})

    def do_POST(self):  # noqa: N802 (http.server API)
        path = self.path.split("?", 1)[0]
        if not path.startswith("/api/"):
            return self._send(404, {"message": "Not found"})
        if not self._authorised():
            return self._send(401, {"message": "Unauthorized"})
        try:
            if path == "/api/admin/provisioning/datasources/reload":
                datasources()
                return self._send(200, {"message": "Datasources config reloaded"})
            if path == "/api/admin/provisioning/dashboards/reload":
                dashboards()
                return self._send(200, {"message": "Dashboards config reloaded"})
        except (OSError, ValueError, yaml.YAMLError) as exc:
            return self._send(500, {"message": "provisioning error: %s" % exc})
        return self._send(404, {"message": "Not found"})

    def log_message(self, fmt, *args):
        print("grafana-standin: " + fmt % args, flush=True)


if __name__ == "__main__":
    ThreadingHTTPServer(("0.0.0.0", PORT), Handler).serve_forever()
