"""Alerts that reach people (issue 14), on the sandbox with real components only.

Alertmanager (Debian's prometheus-alertmanager 0.25) and the blackbox exporter (0.23) run in the
sandbox's nested engine; notifications go to the notify-peers TEST PEER beside the sandbox (a real
SMTP server process, aiosmtpd, and a webhook recorder; files/images/notify-peers), whose read API
is on the control node's 127.0.0.1:18900 + offset. Nothing is sent anywhere else.

  - Alertmanager, Prometheus, Grafana stay on the host's loopback; an operator reaches them with
    an SSH local forward as the deploy user (the hardened case, AllowTcpForwarding for the deploy
    user only, is covered by the hardening scenario).
  - Routing: L1 -> team channel webhook (grouped), L2 -> on-call e-mail, L3 -> e-mail AND pager; an
    L3 alert mutes L1/L2 of the same service and host.
  - Stop the app: the L3 e-mail and the page arrive (time printed); start it: the resolved notice.
  - Renew the certificate: the expiry Prometheus sees changes within one probe interval.
  - A stale backup metric: the L2 e-mail.
  - A broken template or configuration is refused, and the old configuration still routes.
  - Bad input fails naming the variable, and nothing changes.
Tests leave the stack deployed and healthy (other tests run after them).
"""
import json
import socket
import subprocess
import time
import urllib.error
import urllib.request
from datetime import datetime, timezone

import pytest
import yaml

from conftest import REPO
from waiting import eventually

ROOT = "/opt/clinical-bdd-creator"
AM_LIVE = ROOT + "/monitoring/alertmanager/config"
# group_vars: backup_metrics_file in the node exporter's textfile folder (prometheus_node_exporter_textfile_dir).
TEXTFILE = "/var/lib/cbdd/textfile/cbdd_backup.prom"
PROBE_INTERVAL = 15  # prometheus_blackbox_probe_interval


# ------------------------------------------------------------------------------------ helpers
class Peers:
    """The notify-peers test peer's read API (what reached the SMTP server and the webhooks)."""

    def __init__(self, offset):
        self.base = "http://127.0.0.1:%d" % (18900 + offset)

    def _get(self, path):
        with urllib.request.urlopen(self.base + path, timeout=10) as resp:
            return json.loads(resp.read())

    def mails(self, since=0):
        return self._get("/api/mails?since=%f" % since)

    def webhooks(self, since=0):
        return self._get("/api/webhooks?since=%f" % since)

    def wait(self, what, match, since, timeout):
        """First item of mails/webhooks received after `since` for which match(item) is true."""
        deadline = time.monotonic() + timeout
        while True:
            for item in getattr(self, what)(since):
                if match(item):
                    return item
            if time.monotonic() > deadline:
                raise AssertionError("no matching %s within %d s; got %s" % (
                    what, timeout, [i.get("subject") or alertnames(i) for i in getattr(self, what)(since)]))
            time.sleep(1)


def alertnames(hook):
    return sorted({a["labels"].get("alertname") for a in hook.get("json", {}).get("alerts", [])})


def am(sandbox, path, payload=None):
    """Alertmanager's API on the sandbox host's loopback (as the host's own checks use it)."""
    argv = ["curl", "-sS", "--max-time", "10", "http://127.0.0.1:9093" + path]
    if payload is not None:
        argv[1:1] = ["-X", "POST", "-H", "Content-Type: application/json", "-d", json.dumps(payload)]
    out = sandbox.exec(*argv).stdout
    return json.loads(out) if out.strip() else None


def prom(sandbox, query):
    out = sandbox.exec("curl", "-sS", "--max-time", "10", "-G", "http://127.0.0.1:9090/api/v1/query",
                       "--data-urlencode", "query=" + query).stdout
    return json.loads(out)["data"]["result"]


def post_alerts(sandbox, *alerts, resolve=False):
    """Send alerts to Alertmanager as Prometheus does (POST /api/v2/alerts)."""
    now = datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")
    body = [dict({"labels": labels, "annotations": {"summary": "test alert " + labels["alertname"],
                                                    "runbook_step": "service-unavailable",
                                                    "check_first": "nothing: sent by test_alerting"}},
                 **({"endsAt": now} if resolve else {})) for labels in alerts]
    am(sandbox, "/api/v2/alerts", body)


def started_at(sandbox, name):
    return sandbox.exec("docker", "inspect", "-f", "{{.Id}} {{.State.StartedAt}}", name).stdout.strip()


def live_state(sandbox):
    """Hashes of Alertmanager's live files and its container identity: what 'nothing changed' means."""
    files = sandbox.exec("sh", "-c", "cd %s && find . -type f -exec sha256sum {} + | sort" % AM_LIVE).stdout
    return files, started_at(sandbox, "cbdd-alertmanager")



def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def peers(sandbox):
    p = Peers(sandbox.offset)
    assert p._get("/healthz") == {"status": "ok"}, "the notify-peers test peer is not running (files/scripts/sandbox up)"
    return p


@pytest.fixture(scope="module")
def alertmanager_playbook(tmp_path_factory):
    """Only the alertmanager role on the monitoring hosts (what deploy.yml runs there, faster)."""
    playbook = tmp_path_factory.mktemp("alerting") / "alertmanager_role.yml"
    playbook.write_text("- hosts: monitoring\n  become: true\n  roles: [alertmanager]\n")
    return str(playbook)


def test_alerting_containers_on_loopback_only(sandbox):
    assert sandbox.exec("docker", "port", "cbdd-alertmanager", "9093/tcp").stdout.split() == ["127.0.0.1:9093"]
    assert sandbox.exec("docker", "port", "cbdd-blackbox", "9115/tcp").stdout.split() == ["127.0.0.1:9115"]
    for name in ("cbdd-alertmanager", "cbdd-blackbox"):
        labels = json.loads(sandbox.exec("docker", "inspect", "-f", "{{json .Config.Labels}}", name).stdout)
        assert labels.get("cbdd.service") == "prometheus", name  # stop/start/restart playbooks see them


def test_prometheus_sends_to_alertmanager_and_probes_the_user_path(sandbox):
    out = sandbox.exec("curl", "-sS", "--max-time", "10", "http://127.0.0.1:9090/api/v1/alertmanagers").stdout
    assert [a["url"] for a in json.loads(out)["data"]["activeAlertmanagers"]] == ["http://cbdd-alertmanager:9093/api/v2/alerts"]

    def check():
        targets = json.loads(sandbox.exec("curl", "-sS", "--max-time", "10", "http://127.0.0.1:9090/api/v1/targets").stdout)
        jobs = {t["labels"]["job"]: t for t in targets["data"]["activeTargets"]}
        for job in ("alertmanager", "blackbox", "cbdd-user-path", "cbdd-certificate"):
            assert jobs[job]["health"] == "up", jobs.get(job)
            assert jobs[job]["labels"]["cbdd_host"] == "sandbox"
            assert jobs[job]["labels"]["environment"] == "sandbox"
        assert jobs["cbdd-user-path"]["labels"]["instance"] == "https://cbdd-nginx:443/health"
        assert jobs["cbdd-user-path"]["scrapeInterval"] == "%ds" % PROBE_INTERVAL
        # The probe verifies the chain against the inventory's CA and the certificate's name.
        assert [r["value"][1] for r in prom(sandbox, 'probe_success{job="cbdd-user-path"}')] == ["1"]
        assert [r["value"][1] for r in prom(sandbox, 'probe_http_status_code{job="cbdd-user-path"}')] == ["200"]
    eventually(check)


def test_probes_check_the_certificate_name_and_chain(sandbox):
    """The user path module sends the certificate's name (SNI and Host) and verifies the chain
    against the inventory's CA (the sandbox's self-signed certificate, its folder mounted)."""
    config = yaml.safe_load(sandbox.exec("curl", "-sS", "--max-time", "10", "http://127.0.0.1:9115/config").stdout)
    http = config["modules"]["cbdd_https_health"]["http"]
    assert http["tls_config"]["server_name"] == "clinical-bdd.local"
    assert http["tls_config"]["ca_file"] == "/etc/blackbox_exporter-ca/cert.pem"
    assert http["tls_config"].get("insecure_skip_verify") is not True
    assert http["headers"] == {"Host": "clinical-bdd.local"}
    assert http["valid_status_codes"] == [200] and http["fail_if_not_ssl"] is True
    # The certificate probe reads the served certificate without trusting it (an expired one too).
    assert config["modules"]["cbdd_tls_certificate"]["tcp"]["tls_config"]["insecure_skip_verify"] is True
    # The exporter cannot read the key beside the certificate in the mounted folder.
    denied = sandbox.exec("docker", "exec", "cbdd-blackbox", "cat", "/etc/blackbox_exporter-ca/key.pem", check=False)
    assert denied.returncode != 0 and "Permission denied" in denied.stderr


def test_operator_reaches_the_uis_through_an_ssh_local_forward(sandbox):
    """The one way operators look: ssh -L as the deploy user with their key (Prometheus 9090,
    Alertmanager 9093, Grafana 3001 stay on the host's loopback)."""
    state = sandbox.state
    ports = {remote: free_port() for remote in (9090, 9093, 3001)}
    argv = ["ssh", "-N", "-o", "BatchMode=yes", "-o", "ExitOnForwardFailure=yes",
            "-o", "UserKnownHostsFile=%s" % (state / "known_hosts"), "-o", "StrictHostKeyChecking=yes",
            "-i", str(state / "id_ed25519"), "-p", str(2222 + sandbox.offset)]
    for remote, local in ports.items():
        argv += ["-L", "127.0.0.1:%d:127.0.0.1:%d" % (local, remote)]
    proc = subprocess.Popen(argv + ["deploy@127.0.0.1"], stdin=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        def get(remote, path):
            with urllib.request.urlopen("http://127.0.0.1:%d%s" % (ports[remote], path), timeout=5) as resp:
                return resp.status, resp.read()

        def forwarded():
            assert proc.poll() is None, proc.stderr.read().decode()
            try:
                return get(9093, "/-/ready")
            except (urllib.error.URLError, ConnectionError) as exc:
                raise AssertionError(exc) from exc
        assert eventually(forwarded, timeout=30, interval=1)[0] == 200
        assert get(9090, "/-/ready")[0] == 200
        status = json.loads(get(9093, "/api/v2/status")[1])
        assert "oncall-page" in status["config"]["original"]
        assert json.loads(get(3001, "/api/health")[1])["database"] == "ok"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_routes_are_the_runbook_escalation(sandbox):
    """What Alertmanager has loaded: L1 team channel (grouped, resolution notices), L2 on-call
    e-mail, L3 e-mail + pager repeated every 15 minutes until resolved, L3 inhibits L1/L2."""
    config = yaml.safe_load(am(sandbox, "/api/v2/status")["config"]["original"])
    routes = {r["matchers"][0]: r for r in config["route"]["routes"]}
    assert routes['severity="L1"']["receiver"] == "team-channel"
    assert routes['severity="L1"']["group_by"] == ["alertname", "service"]
    assert routes['severity="L2"']["receiver"] == "oncall-email"
    assert routes['severity="L3"']["receiver"] == "oncall-page"
    assert routes['severity="L3"']["repeat_interval"] == "15m"
    receivers = {r["name"]: r for r in config["receivers"]}
    assert receivers["team-channel"]["webhook_configs"][0]["send_resolved"] is True
    assert "email_configs" not in receivers["team-channel"]
    assert "webhook_configs" not in receivers["oncall-email"]
    assert receivers["oncall-page"]["email_configs"][0]["send_resolved"] is True
    assert receivers["oncall-page"]["webhook_configs"][0]["send_resolved"] is True
    assert config["inhibit_rules"] == [{"source_matchers": ['severity="L3"'], "target_matchers": ['severity=~"L1|L2"'],
                                        "equal": ["service", "cbdd_host"]}]


def test_levels_reach_their_receivers_and_l3_mutes_l1_l2_of_its_service_and_host(sandbox, peers):
    since = time.time()
    tag = "T%d" % int(since)
    l1 = [{"alertname": "CbddTestL1" + tag, "severity": "L1", "service": "svc-" + tag, "cbdd_host": h} for h in ("h1", "h2")]
    l3 = {"alertname": "CbddTestL3" + tag, "severity": "L3", "service": "svc-" + tag, "cbdd_host": "sandbox"}
    l2_muted = {"alertname": "CbddTestL2" + tag, "severity": "L2", "service": "svc-" + tag, "cbdd_host": "sandbox"}
    l2_other_host = dict(l2_muted, cbdd_host="other")
    post_alerts(sandbox, l3)
    time.sleep(1)  # the L3 alert is there before the L2 ones it mutes
    post_alerts(sandbox, *l1, l2_muted, l2_other_host)
    try:
        page = peers.wait("webhooks", lambda h: h["name"] == "pager" and l3["alertname"] in alertnames(h), since, 60)
        mail3 = peers.wait("mails", lambda m: l3["alertname"] in m["subject"], since, 60)
        assert page["json"]["status"] == "firing" and page["json"]["receiver"] == "oncall-page"
        assert mail3["rcpt_tos"] == ["oncall@company.com"]
        assert mail3["subject"].startswith("[FIRING:1] L3 svc-%s on sandbox" % tag), mail3["subject"]
        # The runbook's fields: service, host, level, what to check first, runbook step, diagnosis.
        body = mail3["body"]
        for needle in ("Level:           L3", "Service:         svc-" + tag, "Host:            sandbox",
                       "Check first:     nothing: sent by test_alerting",
                       "Runbook step:    https://wiki.company.com/clinical-bdd-creator/runbook#service-unavailable",
                       "Diagnose:        ansible-playbook playbooks/diagnose.yml --limit sandbox"):
            assert needle in body, (needle, body)
        # L1: one grouped webhook for both hosts, to the team channel only.
        team = peers.wait("webhooks", lambda h: h["name"] == "team-channel" and alertnames(h) == [l1[0]["alertname"]], since, 90)
        assert sorted(a["labels"]["cbdd_host"] for a in team["json"]["alerts"]) == ["h1", "h2"]
        # L2 of another host: e-mail; L2 of the L3's service and host: muted (inhibited).
        peers.wait("mails", lambda m: l2_muted["alertname"] in m["subject"] and "on other" in m["subject"], since, 90)
        held = [a for a in am(sandbox, "/api/v2/alerts?inhibited=true") if a["labels"] == dict(l2_muted)]
        assert held and held[0]["status"]["state"] == "suppressed" and held[0]["status"]["inhibitedBy"], held
        assert not [m for m in peers.mails(since) if l2_muted["alertname"] in m["subject"] and "on sandbox" in m["subject"]]
        assert not [m for m in peers.mails(since) if l1[0]["alertname"] in m["subject"]], "L1 must not e-mail"
        assert not [h for h in peers.webhooks(since) if l2_muted["alertname"] in alertnames(h)], "L2 must not page"
    finally:
        post_alerts(sandbox, *l1, l3, l2_muted, l2_other_host, resolve=True)


def test_app_stopped_pages_l3_and_started_sends_the_resolved_notice(sandbox, peers, run_playbook):
    live = sandbox.exec("docker", "ps", "--filter", "name=clinical-bdd-creator-", "--format", "{{.Names}}").stdout.split()
    assert len(live) == 1, live
    since = time.time()
    stop = run_playbook("playbooks/stop.yml", {"service": "app"})
    assert stop.rc == 0, stop.stdout[-3000:]
    try:
        finished = sandbox.exec("docker", "inspect", "-f", "{{.State.FinishedAt}}", live[0]).stdout.strip()
        stopped_at = datetime.fromisoformat(finished[:26].rstrip("Z") + "+00:00").timestamp()
        down = ("CbddAppDown", "CbddUserPathDown")
        mail = peers.wait("mails", lambda m: "[FIRING" in m["subject"] and " L3 clinical-bdd-creator on sandbox" in m["subject"],
                          since, 240)
        page = peers.wait("webhooks", lambda h: h["name"] == "pager" and set(alertnames(h)) & set(down), since, 60)
        first = min(mail["received_at"], page["received_at"])
        print("\nalert latency: app stopped -> first L3 notification %.1f s (e-mail %.1f s, page %.1f s)"
              % (first - stopped_at, mail["received_at"] - stopped_at, page["received_at"] - stopped_at))
        assert set(alertnames(page)) & set(down)
        assert "Runbook step:    https://wiki.company.com/clinical-bdd-creator/runbook#service-unavailable" in mail["body"]
        # What the notification points to: the read-only diagnosis shows the stopped app, the
        # unreachable upstream and the firing alerts.
        report = diagnose(run_playbook)
        rows = {r["check"]: r for r in report["rows"]}
        assert rows["container " + live[0]]["ok"] is False and "exited" in rows["container " + live[0]]["detail"]
        assert rows["network nginx -> live app"]["ok"] is False
        assert any(check.startswith("alert CbddAppDown (L3)") for check in report["findings"]), report["findings"]
    finally:
        start = run_playbook("playbooks/start.yml", {"service": "app"})
        assert start.rc == 0, start.stdout[-3000:]
    restarted = time.time()
    resolved = peers.wait("mails", lambda m: m["subject"].startswith("[RESOLVED]")
                          and " L3 clinical-bdd-creator on sandbox" in m["subject"], restarted, 240)
    peers.wait("webhooks", lambda h: h["name"] == "pager" and h["json"]["status"] == "resolved"
               and set(alertnames(h)) & set(down), restarted, 120)
    assert "[RESOLVED]" in resolved["body"] or "RESOLVED (" in resolved["body"]


def diagnose(run_playbook, *extra_args):
    run = run_playbook("playbooks/diagnose.yml", {"diagnose_output": "json"}, extra_args=["--limit", "sandbox", *extra_args])
    assert run.rc == 0, run.stdout[-3000:]
    assert run.recap["sandbox"]["changed"] == 0, run.recap
    return json.loads((REPO / "artifacts/diagnose-sandbox.json").read_text())


def test_diagnose_is_read_only_and_reports_a_healthy_stack(sandbox, run_playbook):
    before = live_state(sandbox), started_at(sandbox, "cbdd-prometheus")
    report = diagnose(run_playbook, "--check", "--diff")
    rows = {r["check"]: r for r in report["rows"]}
    for check in ("host memory", "docker engine", "network nginx -> live app", "network cbdd",
                  "prometheus targets", "firing alerts", "resources cbdd-alertmanager", "log app log file"):
        assert rows[check]["ok"], rows.get(check)
    assert rows["network nginx -> live app"]["detail"] == "HTTP 200 from %s:3000" % sandbox.live_app()
    assert {"container cbdd-nginx", "container cbdd-alertmanager", "container cbdd-blackbox"} <= set(rows)
    assert (live_state(sandbox), started_at(sandbox, "cbdd-prometheus")) == before


def test_renewed_certificate_seen_within_one_probe_interval(sandbox, peers, run_playbook):
    def expiry():
        result = prom(sandbox, 'probe_ssl_earliest_cert_expiry{job="cbdd-certificate"}')
        assert len(result) == 1, result
        return float(result[0]["value"][1])

    def days_left():
        return (expiry() - time.time()) / 86400

    assert days_left() > 300
    since = time.time()
    short = run_playbook("playbooks/renew-cert.yml", {"nginx_ssl_selfsigned_days": 10, "renew_if_expiring_within_days": -1})
    assert short.rc == 0, short.stdout[-3000:]
    swapped = time.time()

    def sees_short():
        assert 9 < days_left() < 11
    eventually(sees_short, timeout=2 * PROBE_INTERVAL + 5, interval=1)
    seen = time.time() - swapped
    print("\ncertificate renewal seen by Prometheus %.1f s after the playbook returned" % seen)
    assert seen <= PROBE_INTERVAL + 5  # one probe interval (+ the scrape's own latency)
    # The user path keeps verifying: the renewed certificate is trusted at the next probe.
    def user_path_up():
        assert [r["value"][1] for r in prom(sandbox, 'probe_success{job="cbdd-user-path"}')] == ["1"]
    time.sleep(PROBE_INTERVAL)
    eventually(user_path_up, timeout=2 * PROBE_INTERVAL)
    mail = peers.wait("mails", lambda m: "CbddCertificateExpiringSoon" in m["subject"], since, 120)
    assert " L2 tls on sandbox" in mail["subject"] and "expires in 10 days" in mail["body"], mail
    back = run_playbook("playbooks/renew-cert.yml")
    assert back.rc == 0, back.stdout[-3000:]

    def sees_long():
        assert days_left() > 300
    eventually(sees_long, timeout=2 * PROBE_INTERVAL + 5, interval=1)


def test_stale_backup_sends_the_l2_email(sandbox, peers):
    before = sandbox.exec("cat", TEXTFILE, check=False)
    since = time.time()
    stale = int(since) - 30 * 3600
    metrics = ("# HELP cbdd_backup_last_success_timestamp_seconds Unix time of the last configuration backup uploaded to S3.\n"
               "# TYPE cbdd_backup_last_success_timestamp_seconds gauge\n"
               "cbdd_backup_last_success_timestamp_seconds %d\n" % stale)

    def write(content):
        subprocess.run(["docker", "exec", "-i", sandbox.name, "sh", "-c",
                        "cat > %s.tmp && chmod 0644 %s.tmp && mv %s.tmp %s" % ((TEXTFILE,) * 4)],
                       input=content, text=True, check=True)
    write(metrics)
    try:
        # A deadline, not a speed figure: scrape + the rule's `for` + L2 grouping take about 100 s on a
        # quiet machine; 180 s was missed once while the fleet check shared the 2 cores (CI at e23329a).
        mail = peers.wait("mails", lambda m: "CbddBackupStale" in m["subject"], since, 300)
        assert mail["subject"].startswith("[FIRING:1] L2 backup on sandbox"), mail["subject"]
        assert "No configuration backup of sandbox succeeded for 1d 6h" in mail["body"], mail["body"]
        assert "Runbook step:    https://wiki.company.com/clinical-bdd-creator/runbook#configuration-backup" in mail["body"]
        assert not [h for h in peers.webhooks(since) if "CbddBackupStale" in alertnames(h)], "L2 must not page"
    finally:
        if before.returncode == 0:
            write(before.stdout)
        else:
            sandbox.exec("rm", "-f", TEXTFILE)


def routes_a_test_alert(sandbox, peers, name):
    """The running Alertmanager still routes: a test L3 alert reaches the pager and the mailbox."""
    since = time.time()
    alert = {"alertname": name, "severity": "L3", "service": "test", "cbdd_host": "sandbox"}
    post_alerts(sandbox, alert)
    try:
        peers.wait("webhooks", lambda h: h["name"] == "pager" and name in alertnames(h), since, 60)
        peers.wait("mails", lambda m: name in m["subject"], since, 60)
    finally:
        post_alerts(sandbox, alert, resolve=True)


def test_broken_template_is_refused_and_the_old_config_routes(sandbox, peers, run_playbook, alertmanager_playbook, tmp_path):
    before = live_state(sandbox)
    broken = tmp_path / "cbdd-extra.tmpl"
    broken.write_text('{{ define "cbdd.extra" }}{{ if }}broken{{ end }}\n')
    run = run_playbook(alertmanager_playbook, {"alertmanager_template_files": ["cbdd.tmpl.j2", str(broken)]})
    assert run.rc != 0
    assert "Write the plain notification templates" in run.stdout and "failed to validate" in run.stdout, run.stdout[-3000:]
    assert "missing value for if" in " ".join(run.stdout.split())
    assert "RUNNING HANDLER [alertmanager : Reload Alertmanager]" not in run.stdout
    assert live_state(sandbox) == before
    routes_a_test_alert(sandbox, peers, "CbddTestAfterBrokenTemplate")


def test_broken_config_is_refused_and_the_old_config_routes(sandbox, peers, run_playbook, alertmanager_playbook):
    before = live_state(sandbox)
    bad_rule = [{"source_matchers": ['severity=~"L3'], "target_matchers": ['severity="L2"'], "equal": ["service"]}]
    run = run_playbook(alertmanager_playbook, {"alertmanager_inhibit_rules": bad_rule})
    assert run.rc != 0
    assert "Write alertmanager.yml (checked with amtool first)" in run.stdout, run.stdout[-3000:]
    assert "failed to validate" in run.stdout
    assert "RUNNING HANDLER [alertmanager : Reload Alertmanager]" not in run.stdout
    assert live_state(sandbox) == before
    assert am(sandbox, "/api/v2/status")["config"]["original"].count('severity=~"L1|L2"') == 1
    routes_a_test_alert(sandbox, peers, "CbddTestAfterBrokenConfig")


ROUTES = {"L1": {"receiver": "team-channel"}, "L2": {"receiver": "oncall-email"}}


@pytest.mark.parametrize("extra, names", [
    ({"alertmanager_routes": dict(ROUTES, L3={"group_wait": "10s"})}, ["alertmanager_routes", "L3", "receiver"]),
    ({"alertmanager_routes": dict(ROUTES, L3={"receiver": "nobody"})}, ["alertmanager_routes", "L3 -> 'nobody'"]),
    ({"alertmanager_paging_webhook_url": "htp:/pager.example.org"}, ["oncall-page", "alertmanager_paging_webhook_url"]),
    ({"alertmanager_receivers": [{"name": n, "webhook_urls": ["http://127.0.0.1:9/x"]}
                                 for n in ("team-channel", "oncall-email", "oncall-page")]},
     ["alertmanager_smtp_smarthost", "needs at least one receiver with a recipient"]),
], ids=["l3-route-without-receiver", "l3-route-to-unknown-receiver", "malformed-webhook-url", "smtp-without-recipient"])
def test_bad_input_fails_naming_the_variable_and_nothing_changes(sandbox, run_playbook, alertmanager_playbook, extra, names):
    before = live_state(sandbox)
    run = run_playbook(alertmanager_playbook, extra)
    assert run.rc != 0
    text = " ".join(run.stdout.split())  # the YAML callback wraps long messages
    for name in names:
        assert name in text, (name, run.stdout[-3000:])
    assert run.recap["sandbox"]["changed"] == 0, run.recap
    assert live_state(sandbox) == before


def test_check_diff_run_changes_nothing_and_shows_no_secret(sandbox, run_playbook):
    before = live_state(sandbox), started_at(sandbox, "cbdd-blackbox")
    run = run_playbook("playbooks/deploy.yml", extra_args=["--tags", "monitoring", "--check", "--diff"])
    assert run.rc == 0, run.stdout[-3000:]
    assert run.recap["sandbox"]["changed"] == 0, run.recap
    assert (live_state(sandbox), started_at(sandbox, "cbdd-blackbox")) == before
    # Webhook URLs may carry tokens: alertmanager.yml's diff is never shown.
    assert "webhook/pager" not in run.stdout
