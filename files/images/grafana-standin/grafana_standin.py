"""TEST STAND-IN FOR GRAFANA -- not Grafana.

No Grafana server can be installed in this workplace, so this small server answers the Grafana
HTTP API paths that the grafana role and the health checks use, from the same provisioning files
the real Grafana reads:

  GET /api/health                 {"database": "ok"|"failing", ...}: 503 when its data folder
                                  (Grafana's database) is not writable, as Grafana reports a broken DB
  GET /api/datasources            datasources from provisioning/datasources/*.yml   (basic auth)
  GET /api/search                 dashboards found by provisioning/dashboards/*.yml (basic auth)
  GET /api/dashboards/uid/<uid>   one dashboard JSON                                 (basic auth)
  POST /api/admin/provisioning/datasources/reload                                    (basic auth)
  POST /api/admin/provisioning/dashboards/reload   re-read and check the files       (basic auth)

Admin credentials come from GF_SECURITY_ADMIN_USER / GF_SECURITY_ADMIN_PASSWORD, or
GF_SECURITY_ADMIN_PASSWORD__FILE (Grafana's __FILE convention; re-read on each request), like
Grafana. Anonymous access is never granted.

Broken provisioning is reported as Grafana reports it: at start-up the process exits non-zero
("Datasource provisioning error"), and a reload answers 500 naming the problem - a datasource without
name/type/url or with an unknown access mode, two default datasources, a dashboard provider whose
folder is missing, a dashboard that is not JSON or has no uid/title.
"""
import base64
import glob
import json
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import sys

import yaml

PROV = os.environ.get("GF_PATHS_PROVISIONING", "/etc/grafana/provisioning")
DATA = os.environ.get("GF_PATHS_DATA", "/var/lib/grafana")
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


class ProvisioningError(ValueError):
    """Provisioning that Grafana would refuse."""


def datasources():
    result = []
    for doc in _yaml_files("datasources"):
        for index, source in enumerate(doc.get("datasources") or []):
            for field in ("name", "type"):
                if not source.get(field):
                    raise ProvisioningError("datasource %d has no %s" % (index, field))
            if source.get("access", "proxy") not in ("proxy", "direct"):
                raise ProvisioningError("datasource %s: access must be proxy or direct" % source["name"])
            if source["type"] == "prometheus" and not str(source.get("url", "")).startswith(("http://", "https://")):
                raise ProvisioningError("datasource %s: url must be an http(s) URL" % source["name"])
            entry = dict(source)
            entry.setdefault("id", len(result) + 1)
            entry.setdefault("uid", source.get("name", str(index)))
            entry.pop("secureJsonData", None)
            result.append(entry)
    if len([s for s in result if s.get("isDefault")]) > 1:
        raise ProvisioningError("more than one default datasource")
    return result


def dashboards():
    found = {}
    for doc in _yaml_files("dashboards"):
        for provider in doc.get("providers") or []:
            path = (provider.get("options") or {}).get("path", "")
            if not os.path.isdir(path):
                raise ProvisioningError("dashboard provider %s: folder %r does not exist" % (provider.get("name"), path))
            for file in sorted(glob.glob(os.path.join(path, "*.json"))):
                with open(file, encoding="utf-8") as handle:
                    try:
                        board = json.load(handle)
                    except ValueError as exc:
                        raise ProvisioningError("dashboard %s is not JSON: %s" % (file, exc))
                if not board.get("uid") or not board.get("title"):
                    raise ProvisioningError("dashboard %s has no uid or title" % file)
                found[board["uid"]] = board
    return found


def database_ok():
    """Grafana's database lives in its data folder: it works when the folder is writable."""
    probe = os.path.join(DATA, ".standin-health")
    try:
        with open(probe, "w", encoding="utf-8") as handle:
            handle.write("ok")
        os.remove(probe)
    except OSError:
        return False
    return True


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
            healthy = database_ok()
            return self._send(200 if healthy else 503, {"database": "ok" if healthy else "failing",
                                                        "version": VERSION, "standin": True})
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


def main():
    try:
        datasources()
        dashboards()
    except (OSError, ValueError, yaml.YAMLError) as exc:
        print("grafana-standin: Failed to start grafana. error: provisioning error: %s" % exc, file=sys.stderr, flush=True)
        return 1
    ThreadingHTTPServer(("0.0.0.0", PORT), Handler).serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
