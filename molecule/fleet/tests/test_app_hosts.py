"""Each fleet app host (testinfra): it serves the live release through nginx, publishes its metrics
on its private address only, runs no monitoring, and has backups scheduled."""
import json

from fleet_common import NAME, ROOT, listening, private_address, running

testinfra_hosts = ["docker://fleet-app-1", "docker://fleet-app-2", "docker://fleet-app-3"]


def test_app_host_runs_the_app_and_nginx_and_no_monitoring(host):
    names = running(host)
    assert "cbdd-nginx" in names
    assert [n for n in names if n.startswith("clinical-bdd-creator-")], names
    assert not names & {"cbdd-prometheus", "cbdd-grafana"}, names


def test_metrics_listener_is_published_on_the_private_address_only(host):
    sockets = listening(host)
    assert "%s:8000" % private_address(host) in sockets, sockets
    assert not {"0.0.0.0:8000", "*:8000", "[::]:8000"} & sockets, sockets
    assert "0.0.0.0:443" in sockets


def test_serves_the_live_release_through_nginx(host):
    state = json.loads(host.file("/var/lib/cbdd/app/release.json").content_string)
    out = host.check_output("curl -sS --cacert %s --resolve %s:443:127.0.0.1 https://%s/health",
                            ROOT + "/nginx/ssl/cert.pem", NAME, NAME)
    assert json.loads(out)["version"] == state["live"]["version"]
    include = host.file(ROOT + "/nginx/conf.d/cbdd-upstream.inc").content_string
    assert "http://%s:3000;" % state["live"]["container"] in include


def test_backups_are_scheduled(host):
    timer = host.service("cbdd-backup.timer")
    assert timer.is_enabled and timer.is_running


def test_other_app_hosts_cannot_scrape_it(host):
    """The hardening firewall admits the private scrape ports only from the monitoring hosts: from this
    app host, another app host's metrics and node exporter time out (dropped, not refused)."""
    from fleet_common import APP_HOSTS, PRIVATE, name_of
    other = next(h for h in APP_HOSTS if h != name_of(host))
    for port in (8000, 9100):
        result = host.run("curl -sS -o /dev/null --max-time 4 http://%s:%s/metrics", PRIVATE[other], str(port))
        assert result.rc == 28, (other, port, result.rc, result.stderr)  # 28: timed out
