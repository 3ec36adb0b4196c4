"""Verify the deployed stack on the molecule target (testinfra, run inside the target)."""
import json

ROOT = "/opt/clinical-bdd-creator"
NAME = "clinical-bdd.local"


def test_docker_engine_running_with_log_rotation(host):
    assert host.service("docker").is_running
    daemon = json.loads(host.file("/etc/docker/daemon.json").content_string)
    assert daemon["log-driver"] == "json-file"
    assert daemon["log-opts"] == {"max-size": "100m", "max-file": "5"}


def test_containers_running(host):
    # The app runs in one blue/green slot, recorded in the local facts file with its version.
    facts = json.loads(host.file("/etc/ansible/facts.d/cbdd_app.fact").content_string)
    assert facts["live_container"] in ("clinical-bdd-creator-blue", "clinical-bdd-creator-green")
    assert facts["live_version"] == "1.0.0"
    for name in (facts["live_container"], "cbdd-nginx"):
        state = host.check_output("docker inspect -f '{{.State.Status}}' %s", name)
        assert state == "running", name
    running = host.check_output("docker ps --format '{{.Names}}'").split()
    assert [n for n in running if n.startswith("clinical-bdd-creator")] == [facts["live_container"]]


def test_nginx_proxies_to_the_live_slot(host):
    facts = json.loads(host.file("/etc/ansible/facts.d/cbdd_app.fact").content_string)
    include = host.file(ROOT + "/nginx/conf.d/cbdd-upstream.inc").content_string
    assert "http://%s:3000;" % facts["live_container"] in include


def test_https_health_through_nginx_with_served_certificate(host):
    # --cacert with the deployed self-signed certificate: the request only succeeds if nginx
    # serves exactly that certificate for the configured name.
    out = host.check_output(
        "curl -sS --cacert %s --resolve %s:443:127.0.0.1 https://%s/health",
        ROOT + "/nginx/ssl/cert.pem", NAME, NAME)
    body = json.loads(out)
    assert body["status"] == "ok"
    assert body["version"] == "1.0.0"


def test_http_redirects_to_https(host):
    out = host.check_output(
        "curl -sS -o /dev/null -w '%%{http_code} %%{redirect_url}' -H 'Host: %s' http://127.0.0.1/health", NAME)
    code, location = out.split(" ", 1)
    assert code == "301"
    assert location.startswith("https://%s" % NAME)
    assert location.endswith("/health")


def test_private_key_not_world_readable(host):
    key = host.file(ROOT + "/nginx/ssl/key.pem")
    assert key.user == "root"
    assert key.mode == 0o600
