# -*- coding: utf-8 -*-
# Copyright: Clinical BDD Creator operations
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Minimal read-only Docker Engine API client over the unix socket (stdlib only).

Used by cbdd_container_health; no ``docker`` Python SDK on the managed host.
"""

import http.client
import json
import socket
import urllib.parse

DEFAULT_SOCKET = '/var/run/docker.sock'
VERSION_LABEL = 'org.opencontainers.image.version'
HEALTH_OUTPUT_CHARS = 200


class DockerError(Exception):
    """The Docker Engine could not be reached or answered unexpectedly."""


class _UnixHTTPConnection(http.client.HTTPConnection):
    """HTTP/1.1 connection over an AF_UNIX stream socket."""

    def __init__(self, socket_path, timeout):
        super().__init__('localhost', timeout=timeout)
        self._socket_path = socket_path

    def connect(self):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self._socket_path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


def docker_get(socket_path, path, timeout=10.0):
    """GET ``path`` from the Engine API; returns ``(status, parsed JSON or None)``."""
    connection = _UnixHTTPConnection(socket_path, timeout)
    try:
        connection.request('GET', path, headers={'Accept': 'application/json'})
        response = connection.getresponse()
        body = response.read()
    except OSError as error:
        raise DockerError('cannot reach the Docker Engine at %s: %s' % (socket_path, error.strerror or error))
    except http.client.HTTPException as error:
        raise DockerError('bad answer from the Docker Engine at %s: %s' % (socket_path, error))
    finally:
        connection.close()
    try:
        return response.status, json.loads(body.decode('utf-8')) if body else None
    except ValueError:
        return response.status, None


def inspect_container(socket_path, name, timeout=10.0):
    """``docker inspect`` data of container ``name`` (name or id), or None when it does not exist."""
    status, data = docker_get(socket_path, '/containers/%s/json' % urllib.parse.quote(name, safe=''), timeout)
    if status == 404:
        return None
    if status != 200:
        message = (data or {}).get('message') if isinstance(data, dict) else None
        raise DockerError('Docker Engine answered %d for container %s: %s' % (status, name, message))
    return data


def _last_health_output(health):
    """Output of the most recent health probe, shortened."""
    log = (health or {}).get('Log') or []
    if not log:
        return None
    output = ' '.join((log[-1].get('Output') or '').split())
    return output[:HEALTH_OUTPUT_CHARS]


def container_report(name, data):
    """Health facts of one container from its inspect data (None: missing).

    ``healthy`` means: it exists, is running, and its HEALTHCHECK (if it has
    one) reports ``healthy``.  ``problem`` says why not.
    """
    if data is None:
        return dict(name=name, exists=False, state=None, health=None, restart_count=None, image=None,
                    image_id=None, version=None, started_at=None, exit_code=None, health_output=None,
                    healthy=False, problem='missing')
    state = data.get('State') or {}
    config = data.get('Config') or {}
    health = state.get('Health')
    report = dict(
        name=name,
        exists=True,
        state=state.get('Status'),
        health=(health or {}).get('Status') or 'none',
        restart_count=data.get('RestartCount', 0),
        image=config.get('Image'),
        image_id=data.get('Image'),
        version=(config.get('Labels') or {}).get(VERSION_LABEL),
        started_at=state.get('StartedAt'),
        exit_code=state.get('ExitCode'),
        health_output=_last_health_output(health),
    )
    report['problem'] = _problem(report)
    report['healthy'] = report['problem'] is None
    return report


def _problem(report):
    """Why a container that exists is not healthy, or None."""
    if report['state'] in ('exited', 'dead'):
        return '%s (exit code %s)' % (report['state'], report['exit_code'])
    if report['state'] != 'running':
        return report['state']
    if report['health'] not in ('healthy', 'none'):
        detail = ': %s' % report['health_output'] if report['health_output'] else ''
        return '%s%s' % (report['health'], detail)
    return None
