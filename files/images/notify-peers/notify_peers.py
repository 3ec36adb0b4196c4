#!/usr/bin/env python3
"""TEST PEER, not part of the product: the far ends of Alertmanager's notifications in the sandbox.

Runs beside the sandbox host (files/scripts/sandbox starts it as <sandbox>-peers on the sandbox's
network) so that alerts reach real server processes out of the box:

  SMTP  :2525  a real SMTP server (aiosmtpd, Debian's python3-aiosmtpd) that keeps every message
  HTTP  :8080  POST /webhook/<name>   records the JSON body (a team channel, a pager, ...)
               GET  /api/mails        received messages, oldest first: [{received_at, mail_from,
                                      rcpt_tos, subject, headers, body}]
               GET  /api/webhooks     received webhook calls: [{received_at, name, json, headers}]
               GET  /api/mails?since=<unix time>  (same for /api/webhooks) only newer ones
               POST /api/reset        forget everything received so far
               GET  /healthz          200

Nothing here forwards anything anywhere: what arrives is stored in memory (at most MAX_KEPT items
per kind) and shown on the API, which the sandbox publishes on the control node's loopback only.
"""
import email
import email.policy
import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from aiosmtpd.controller import Controller

MAX_KEPT = 2000
SMTP_PORT = int(os.environ.get("PEERS_SMTP_PORT", "2525"))
HTTP_PORT = int(os.environ.get("PEERS_HTTP_PORT", "8080"))

LOCK = threading.Lock()
RECEIVED = {"mails": [], "webhooks": []}


def keep(kind, item):
    with LOCK:
        RECEIVED[kind].append(item)
        del RECEIVED[kind][:-MAX_KEPT]
    print("notify-peers: %s %s" % (kind[:-1], json.dumps(item.get("subject") or item.get("name"))), flush=True)


def text_of(message):
    """The text/plain part (or the first part) of a parsed message, as text."""
    part = message.get_body(preferencelist=("plain", "html")) if message.is_multipart() else message
    if part is None:
        return ""
    try:
        return part.get_content()
    except (KeyError, LookupError):
        return part.get_payload(decode=True).decode("utf-8", "replace")


class SMTPHandler:
    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's hook name)
        message = email.message_from_bytes(envelope.original_content or envelope.content,
                                           policy=email.policy.default)
        keep("mails", {
            "received_at": time.time(),
            "mail_from": envelope.mail_from,
            "rcpt_tos": list(envelope.rcpt_tos),
            "subject": str(message.get("Subject", "")),
            "headers": {key: str(value) for key, value in message.items()},
            "body": text_of(message),
        })
        return "250 Message accepted for delivery"


class HTTPHandler(BaseHTTPRequestHandler):
    server_version = "cbdd-notify-peers/1"

    def log_message(self, fmt, *args):  # quiet: one line per stored item is printed by keep()
        pass

    def answer(self, status, payload):
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):  # noqa: N802
        url = urlsplit(self.path)
        if url.path == "/healthz":
            return self.answer(200, {"status": "ok"})
        kind = {"/api/mails": "mails", "/api/webhooks": "webhooks"}.get(url.path)
        if not kind:
            return self.answer(404, {"error": "unknown path"})
        since = float(parse_qs(url.query).get("since", ["0"])[0])
        with LOCK:
            items = [item for item in RECEIVED[kind] if item["received_at"] > since]
        return self.answer(200, items)

    def do_POST(self):  # noqa: N802
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if url.path == "/api/reset":
            with LOCK:
                for items in RECEIVED.values():
                    items.clear()
            return self.answer(200, {"reset": True})
        if url.path.startswith("/webhook/") and len(url.path) > len("/webhook/"):
            try:
                payload = json.loads(raw or b"null")
            except ValueError:
                return self.answer(400, {"error": "body is not JSON"})
            keep("webhooks", {
                "received_at": time.time(),
                "name": url.path[len("/webhook/"):],
                "json": payload,
                "headers": {key: value for key, value in self.headers.items()
                            if key.lower() in ("content-type", "user-agent", "authorization")},
            })
            return self.answer(200, {"stored": True})
        return self.answer(404, {"error": "unknown path"})


def main():
    smtp = Controller(SMTPHandler(), hostname="0.0.0.0", port=SMTP_PORT, server_hostname="notify-peers")
    smtp.start()
    print("notify-peers: TEST PEER - SMTP on :%d, HTTP on :%d" % (SMTP_PORT, HTTP_PORT), flush=True)
    try:
        ThreadingHTTPServer(("0.0.0.0", HTTP_PORT), HTTPHandler).serve_forever()
    finally:
        smtp.stop()


if __name__ == "__main__":
    main()
