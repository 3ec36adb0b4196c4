"""Verify the deployed stack on the sandbox (testinfra, run inside the target).

In `make test` this runs after the integration tests on the same sandbox: the host has lived
(rollouts, rollbacks, renewals, restores), so the live version and the certificate are read from
the host's own state, never assumed to be a fresh deploy's."""
import json
import os

# The sandbox host is a container on the control node's engine: testinfra runs the checks in it
# (as root) with `docker exec`, like the fleet scenario (CBDD_SANDBOX names another sandbox).
testinfra_hosts = ["docker://" + os.environ.get("CBDD_SANDBOX", "cbdd-sandbox")]

ROOT = "/opt/clinical-bdd-creator"
NAME = "clinical-bdd.local"


def release(host):
    return json.loads(host.file("/var/lib/cbdd/app/release.json").content_string)


def test_containers_log_with_rotation(host):
    """What the RUNNING containers use (docker inspect), not what daemon.json says."""
    assert host.service("docker").is_running
    for name in (release(host)["live"]["container"], "cbdd-nginx", "cbdd-prometheus"):
        config = json.loads(host.check_output("docker inspect -f '{{json .HostConfig.LogConfig}}' %s", name))
        assert config == {"Type": "json-file", "Config": {"max-size": "100m", "max-file": "5"}}, (name, config)


def test_containers_running(host):
    # The app runs in one blue/green slot, recorded in the release state with its version.
    live = release(host)["live"]
    assert live["container"] in ("clinical-bdd-creator-blue", "clinical-bdd-creator-green")
    assert live["version"], live
    for name in (live["container"], "cbdd-nginx"):
        state = host.check_output("docker inspect -f '{{.State.Status}}' %s", name)
        assert state == "running", name
    running = host.check_output("docker ps --format '{{.Names}}'").split()
    assert [n for n in running if n.startswith("clinical-bdd-creator")] == [live["container"]]


def test_gunicorn_workers_follow_the_container_cpu_limit(host):
    """Runbook: CPU cores x 2 + 1, counted on the container's CPU limit (2.0 -> 5), not the host's CPUs."""
    live = release(host)["live"]["container"]
    cmd = json.loads(host.check_output("docker inspect -f '{{json .Config.Cmd}}' %s", live))
    assert cmd[cmd.index("--workers") + 1] == "5", cmd
    assert host.check_output("docker inspect -f '{{.HostConfig.NanoCpus}}' %s", live) == "2000000000"


def test_nginx_proxies_to_the_live_slot(host):
    include = host.file(ROOT + "/nginx/conf.d/cbdd-upstream.inc").content_string
    assert "http://%s:3000;" % release(host)["live"]["container"] in include


def test_https_health_through_nginx_with_served_certificate(host):
    # --cacert with the deployed self-signed certificate: the request only succeeds if nginx
    # serves exactly that certificate for the configured name.
    out = host.check_output(
        "curl -sS --cacert %s --resolve %s:443:127.0.0.1 https://%s/health",
        ROOT + "/nginx/ssl/cert.pem", NAME, NAME)
    body = json.loads(out)
    assert body["status"] == "ok"
    # The version answering is the one the release state records as live.
    assert body["version"] == release(host)["live"]["version"]


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


def test_certificate_is_for_the_server_name_and_matches_the_key(host):
    """The runbook's openssl command (RSA 4096, CN = the server name) for a self-signed pair; a
    CA-signed pair installed by renew-cert must still name the server and match the served key."""
    cert = ROOT + "/nginx/ssl/cert.pem"
    text = host.check_output("openssl x509 -in %s -noout -text", cert)
    assert "DNS:%s" % NAME in text
    subject = host.check_output("openssl x509 -in %s -noout -subject -nameopt RFC2253", cert)
    issuer = host.check_output("openssl x509 -in %s -noout -issuer -nameopt RFC2253", cert)
    if subject.split("=", 1)[1] == issuer.split("=", 1)[1]:
        assert "Public-Key: (4096 bit)" in text, text[:400]
        assert "CN=%s" % NAME in subject
    cert_key = host.check_output("openssl x509 -in %s -noout -pubkey | sha256sum", cert)
    served_key = host.check_output("openssl pkey -in %s -pubout | sha256sum", ROOT + "/nginx/ssl/key.pem")
    assert cert_key == served_key
