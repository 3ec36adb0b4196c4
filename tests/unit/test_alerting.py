"""Alerting (issue 14) without a target host: the alertmanager and blackbox_exporter roles'
configuration rendered from their defaults and checked by the real tools (amtool of Debian's
Alertmanager 0.25, the blackbox exporter's --config.check, promtool), their contracts and
preflight asserts (bad input fails naming the variable), the prometheus role's alerting and probe
jobs on a fleet-shaped inventory, the rules' runbook fields and the notify-peers TEST PEER.

The tools run from the project's images (files/images/build builds them when missing) with
--network none; the playbooks run on localhost with a local connection."""
import json
import shutil
import smtplib
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from support_env import REPO, TARGET_PYTHON, VENV_BIN

AM_IMAGE = "local/cbdd-alertmanager:bookworm"
BLACKBOX_IMAGE = "local/cbdd-blackbox:bookworm"
PROM_IMAGE = "local/cbdd-prometheus:bookworm"
PEERS_IMAGE = "local/cbdd-notify-peers:bookworm"
RULES = REPO / "roles/prometheus/files/rules/cbdd-alerts.yml"
TESTS = REPO / "files/prometheus/tests"
# The sandbox's values (inventories/local), with a peer name that needs no sandbox.
LOCAL = {"alertmanager_smtp_smarthost": "peers.test:2525", "alertmanager_smtp_require_tls": False,
         "alertmanager_oncall_email": ["oncall@company.com"],
         "alertmanager_team_webhook_url": "http://peers.test:8080/webhook/team-channel",
         "alertmanager_paging_webhook_url": "http://peers.test:8080/webhook/pager"}
SERVICES = {"clinical-bdd-creator", "tls", "backup", "monitoring", "host"}
# Anchors of the runbook's sections (GitHub-style) the notifications link to.
RUNBOOK_STEPS = {"service-unavailable", "high-response-times", "memory-issues", "docker-issues", "network-issues",
                 "prometheus-not-collecting-metrics", "certificate-renewal", "configuration-backup",
                 "monitoring-stack-health"}


def image(tag):
    if subprocess.run(["docker", "image", "inspect", tag], capture_output=True).returncode != 0:
        subprocess.run([str(REPO / "files/images/build"), "all"], check=True)
    return tag


def playbook(tmp_path, text, extra=None, inventory="localhost,"):
    """Run a playbook on localhost (local connection); CompletedProcess with stdout/stderr."""
    path = tmp_path / ("play-%d.yml" % time.monotonic_ns())
    path.write_text(text)
    argv = [str(VENV_BIN / "ansible-playbook"), "-i", inventory, "-c", "local", str(path),
            "-e", "ansible_python_interpreter=%s" % TARGET_PYTHON]
    if extra:
        argv += ["-e", json.dumps(extra)]
    return subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=300,
                          env={"ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "PATH": str(VENV_BIN) + ":/usr/bin:/bin",
                               "ANSIBLE_LOCALHOST_WARNING": "0", "ANSIBLE_NOCOLOR": "1", "HOME": str(Path.home()),
                               "ANSIBLE_INVENTORY_UNPARSED_WARNING": "0"})


def flat(proc):
    return " ".join((proc.stdout + proc.stderr).split())


def render(tmp_path, role, templates, extra=None):
    """Render role templates with the role's defaults and vars (extra vars override)."""
    out = tmp_path / "out"
    tasks = "".join(
        "    - ansible.builtin.template: {src: %s, dest: %s, mode: '0644'}\n" % (REPO / "roles" / role / "templates" / src,
                                                                               out / dest)
        for src, dest in templates.items())
    text = ("- hosts: localhost\n  gather_facts: false\n  vars_files:\n    - %s\n    - %s\n  tasks:\n"
            "    - ansible.builtin.file: {path: %s, state: directory, mode: '0755'}\n"
            % (REPO / "roles" / role / "defaults/main.yml", REPO / "roles" / role / "vars/main.yml", out / "templates")) + tasks
    proc = playbook(tmp_path, text, extra)
    assert proc.returncode == 0, proc.stdout[-3000:]
    return out


def amtool(folder):
    return subprocess.run(["docker", "run", "--rm", "--network", "none", "--user", "0:0",
                           "-v", "%s:/etc/alertmanager:ro" % folder, "--entrypoint", "/usr/bin/amtool", image(AM_IMAGE),
                           "check-config", "/etc/alertmanager/alertmanager.yml"], capture_output=True, text=True, timeout=120)


def preflight(tmp_path, role, extra, inventory="localhost,"):
    """The role's argument spec (main) and preflight asserts, nothing else."""
    text = ("- hosts: all\n  gather_facts: false\n  vars_files: [%s]\n  tasks:\n"
            "    - ansible.builtin.validate_argument_spec:\n"
            "        argument_spec: \"{{ (lookup('ansible.builtin.file', '%s') | from_yaml).argument_specs.main.options }}\"\n"
            "    - ansible.builtin.include_tasks: %s\n"
            % (REPO / "roles" / role / "defaults/main.yml", REPO / "roles" / role / "meta/argument_specs.yml",
               REPO / "roles" / role / "tasks/preflight.yml"))
    return playbook(tmp_path, text, extra, inventory)


# ----------------------------------------------------------------------------- alertmanager
def test_shipped_alertmanager_config_and_template_pass_amtool(tmp_path):
    out = render(tmp_path, "alertmanager", {"alertmanager.yml.j2": "alertmanager.yml", "cbdd.tmpl.j2": "templates/cbdd.tmpl"},
                 LOCAL)
    proc = amtool(out)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS" in proc.stdout and "3 receivers" in proc.stdout and "1 inhibit rules" in proc.stdout
    assert "1 templates" in proc.stdout
    config = yaml.safe_load((out / "alertmanager.yml").read_text())
    levels = {r["matchers"][0]: r for r in config["route"]["routes"]}
    assert [levels['severity="L%d"' % n]["receiver"] for n in (1, 2, 3)] == ["team-channel", "oncall-email", "oncall-page"]
    page = {r["name"]: r for r in config["receivers"]}["oncall-page"]
    assert page["email_configs"][0]["to"] == "oncall@company.com"
    assert page["webhook_configs"][0]["url"] == LOCAL["alertmanager_paging_webhook_url"]
    assert "smtp_auth_password_file" not in config["global"]


def test_smtp_password_goes_to_a_file_not_into_the_config(tmp_path):
    out = render(tmp_path, "alertmanager", {"alertmanager.yml.j2": "alertmanager.yml"},
                 dict(LOCAL, alertmanager_smtp_auth_username="alerts", alertmanager_smtp_auth_password="s3cret-Passw0rd"))
    text = (out / "alertmanager.yml").read_text()
    assert "s3cret-Passw0rd" not in text
    assert yaml.safe_load(text)["global"]["smtp_auth_password_file"] == "/etc/alertmanager-secrets/smtp_password"


def test_template_carries_the_runbook_fields_and_the_site_links(tmp_path):
    out = render(tmp_path, "alertmanager", {"cbdd.tmpl.j2": "cbdd.tmpl"},
                 {"alertmanager_runbook_url": "https://wiki.example.org/rb", "alertmanager_diagnose_command": "awx diagnose"})
    text = (out / "cbdd.tmpl").read_text()
    for field in ("Level:", "Service:", "Host:", "Check first:", "Runbook step:", "Diagnose:"):
        assert field in text
    assert '{{ define "cbdd.runbook_url" }}https://wiki.example.org/rb{{ end }}' in text
    assert '{{ define "cbdd.diagnose_command" }}awx diagnose{{ end }}' in text


def test_amtool_refuses_a_broken_template(tmp_path):
    out = render(tmp_path, "alertmanager", {"alertmanager.yml.j2": "alertmanager.yml", "cbdd.tmpl.j2": "templates/cbdd.tmpl"},
                 LOCAL)
    (out / "templates/broken.tmpl").write_text('{{ define "x" }}{{ .Labels | nosuchfunction }}{{ end }}\n')
    proc = amtool(out)
    assert proc.returncode != 0
    assert "nosuchfunction" in proc.stdout + proc.stderr


def test_alertmanager_preflight_accepts_the_sandbox_values(tmp_path):
    proc = preflight(tmp_path, "alertmanager", LOCAL)
    assert proc.returncode == 0, proc.stdout[-3000:]


ROUTES = {"L1": {"receiver": "team-channel"}, "L2": {"receiver": "oncall-email"}, "L3": {"receiver": "oncall-page"}}
WEBHOOK_ONLY = [{"name": n, "webhook_urls": ["http://hooks.example.org/x"]} for n in ("team-channel", "oncall-email", "oncall-page")]


@pytest.mark.parametrize("extra, needles", [
    ({"alertmanager_routes": dict(ROUTES, L3={"group_wait": "10s"})}, ["receiver", "alertmanager_routes", "L3"]),
    ({"alertmanager_routes": {"L1": ROUTES["L1"], "L2": ROUTES["L2"]}}, ["alertmanager_routes", "L3"]),
    ({"alertmanager_routes": dict(ROUTES, L3={"receiver": "pager"})}, ["alertmanager_routes", "L3 -> 'pager'"]),
    ({"alertmanager_paging_webhook_url": "htp:/pager"}, ["oncall-page", "alertmanager_paging_webhook_url", "webhook_urls"]),
    ({"alertmanager_team_webhook_url": ""}, ["team-channel", "alertmanager_team_webhook_url"]),
    ({"alertmanager_receivers": WEBHOOK_ONLY}, ["alertmanager_smtp_smarthost", "needs at least one receiver with a recipient"]),
    ({"alertmanager_smtp_smarthost": ""}, ["alertmanager_smtp_smarthost", "oncall-email"]),
    ({"alertmanager_oncall_email": ["not-an-address"]}, ["oncall-email", "email_to", "not-an-address"]),
    ({"alertmanager_smtp_smarthost": "mail.example.org"}, ["alertmanager_smtp_smarthost", "host:port"]),
    ({"alertmanager_smtp_from": "alerts at company"}, ["alertmanager_smtp_from"]),
    ({"alertmanager_routes": dict(ROUTES, L2={"receiver": "oncall-email", "group_wait": "soon"})},
     ["alertmanager_routes.L2", "group_wait"]),
    ({"alertmanager_bind_address": "0.0.0.0"}, ["alertmanager_bind_address", "alertmanager_expose"]),
    ({"alertmanager_cluster_peers": ["mon-2.example.org:9094"]}, ["alertmanager_cluster_address"]),
    ({"alertmanager_default_receiver": "nobody"}, ["alertmanager_default_receiver"]),
    ({"alertmanager_port": "abc"}, ["alertmanager_port"]),
], ids=["l3-without-receiver", "no-l3-route", "l3-unknown-receiver", "malformed-webhook", "empty-webhook",
        "smtp-without-recipient", "recipient-without-smtp", "bad-recipient", "smarthost-without-port", "bad-sender",
        "bad-duration", "exposed", "cluster-without-address", "unknown-default-receiver", "bad-port"])
def test_alertmanager_bad_input_fails_naming_the_variable(tmp_path, extra, needles):
    proc = preflight(tmp_path, "alertmanager", dict(LOCAL, **extra))
    assert proc.returncode != 0, proc.stdout[-2000:]
    text = flat(proc)
    for needle in needles:
        assert needle in text, (needle, proc.stdout[-3000:])


def test_preflight_never_prints_a_webhook_token(tmp_path):
    proc = preflight(tmp_path, "alertmanager", dict(LOCAL, alertmanager_team_webhook_url="http://hooks.example.org/T0KEN-123",
                                                    alertmanager_oncall_email=["bad"]))
    assert proc.returncode != 0
    assert "T0KEN-123" not in proc.stdout + proc.stderr


# ------------------------------------------------------------------------------ blackbox exporter
def test_shipped_blackbox_config_passes_config_check(tmp_path):
    out = render(tmp_path, "blackbox_exporter", {"blackbox.yml.j2": "blackbox.yml"},
                 {"blackbox_exporter_server_name": "clinical-bdd.local", "blackbox_exporter_ca_path": "/opt/x/ssl/cert.pem"})
    config = yaml.safe_load((out / "blackbox.yml").read_text())
    http = config["modules"]["cbdd_https_health"]["http"]
    assert http["tls_config"] == {"server_name": "clinical-bdd.local", "ca_file": "/etc/blackbox_exporter-ca/cert.pem"}
    assert http["headers"] == {"Host": "clinical-bdd.local"}
    assert config["modules"]["cbdd_tls_certificate"]["tcp"]["tls_config"]["insecure_skip_verify"] is True
    ca = tmp_path / "ca"
    ca.mkdir()
    (ca / "cert.pem").write_text("")  # --config.check does not load the CA; the folder must exist
    proc = subprocess.run(["docker", "run", "--rm", "--network", "none", "--user", "0:0",
                           "-v", "%s:/etc/blackbox_exporter:ro" % out, "-v", "%s:/etc/blackbox_exporter-ca:ro" % ca,
                           "--entrypoint", "/usr/bin/prometheus-blackbox-exporter", image(BLACKBOX_IMAGE),
                           "--config.file=/etc/blackbox_exporter/blackbox.yml", "--config.check"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_blackbox_config_check_refuses_a_broken_module(tmp_path):
    out = render(tmp_path, "blackbox_exporter", {"blackbox.yml.j2": "blackbox.yml"},
                 {"blackbox_exporter_extra_modules": {"x": {"prober": "http", "http": {"method": "GET", "no_such_field": 1}}}})
    proc = subprocess.run(["docker", "run", "--rm", "--network", "none", "--user", "0:0",
                           "-v", "%s:/etc/blackbox_exporter:ro" % out, "--entrypoint", "/usr/bin/prometheus-blackbox-exporter",
                           image(BLACKBOX_IMAGE), "--config.file=/etc/blackbox_exporter/blackbox.yml", "--config.check"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    assert "no_such_field" in proc.stdout + proc.stderr


@pytest.mark.parametrize("extra, needle", [
    ({"blackbox_exporter_server_name": "not a name"}, "blackbox_exporter_server_name"),
    ({"blackbox_exporter_timeout": "5"}, "blackbox_exporter_timeout"),
    ({"blackbox_exporter_ca_path": "relative/ca.pem"}, "blackbox_exporter_ca_path"),
    ({"blackbox_exporter_ca_path": "/etc/ssl/ca.pem", "blackbox_exporter_ca_hosts": ["localhost"]}, "only one of it"),
    ({"blackbox_exporter_ca_hosts": ["no-such-host"]}, "blackbox_exporter_ca_hosts"),
    ({"blackbox_exporter_bind_address": "0.0.0.0"}, "blackbox_exporter_expose"),
    ({"blackbox_exporter_extra_modules": {"cbdd_https_health": {}}}, "blackbox_exporter_extra_modules"),
])
def test_blackbox_bad_input_fails_naming_the_variable(tmp_path, extra, needle):
    proc = preflight(tmp_path, "blackbox_exporter", extra)
    assert proc.returncode != 0
    assert needle in flat(proc), proc.stdout[-3000:]


def ca_tasks(tmp_path, extra):
    """The blackbox role's CA step (tasks/ca.yml) on localhost, with the role's defaults and vars."""
    role = REPO / "roles/blackbox_exporter"
    text = ("- hosts: localhost\n  gather_facts: false\n  vars_files: [%s, %s]\n  tasks:\n"
            "    - ansible.builtin.include_tasks: %s\n" % (role / "defaults/main.yml", role / "vars/main.yml", role / "tasks/ca.yml"))
    return playbook(tmp_path, text, dict({"blackbox_exporter_root": str(tmp_path / "bb")}, **extra))


def test_a_missing_ca_file_is_refused_when_the_exporter_is_configured(tmp_path):
    proc = ca_tasks(tmp_path, {"blackbox_exporter_ca_path": "/nonexistent/ca.pem"})
    assert proc.returncode != 0
    assert "is not a file" in flat(proc) and "/nonexistent/ca.pem" in flat(proc)


def test_the_ca_bundle_holds_every_trusted_host_s_certificate(tmp_path):
    first = tmp_path / "one.pem"
    first.write_text("-----BEGIN CERTIFICATE-----\nONE\n-----END CERTIFICATE-----\n")
    proc = ca_tasks(tmp_path, {"blackbox_exporter_ca_hosts": ["localhost", "localhost"],
                               "blackbox_exporter_ca_hosts_path": str(first)})
    assert proc.returncode == 0, proc.stdout[-3000:]
    bundle = (tmp_path / "bb/ca/trusted.pem").read_text()
    assert bundle == first.read_text() * 2


# -------------------------------------------------------------------------- prometheus jobs
FLEET = """
cbdd:
  children:
    monitoring:
      hosts:
        mon-1: {ansible_host: 192.0.2.5, cbdd_private_address: 10.213.7.5}
        mon-2: {ansible_host: 192.0.2.6, cbdd_private_address: 10.213.7.6}
    app_servers:
      hosts:
        app-1: {ansible_host: 192.0.2.11, cbdd_private_address: 10.213.7.11}
        app-2: {ansible_host: 192.0.2.12, nginx_ssl_https_port: 8443}
        mon-1:
"""


def prometheus_config(tmp_path, inventory_text, limit, extra, environment="production"):
    """prometheus.yml rendered for host `limit` of a fleet-shaped inventory wired like every shipped
    inventory (group_vars/all/000_project.yml -> the project's group_vars/all/main.yml)."""
    folder = tmp_path / "inventory"
    (folder / "group_vars/all").mkdir(parents=True)
    (folder / "group_vars/all/000_project.yml").symlink_to(REPO / "group_vars/all/main.yml")
    (folder / "group_vars/all/010_environment.yml").write_text("cbdd_environment: %s\n" % environment)
    inventory = folder / "hosts.yml"
    inventory.write_text(inventory_text)
    out = tmp_path / "prom"
    out.mkdir()
    text = ("- hosts: %s\n  gather_facts: false\n  tasks:\n"
            "    - ansible.builtin.include_role: {name: prometheus, tasks_from: preflight, public: true}\n"
            "    - ansible.builtin.template: {src: %s, dest: %s/prometheus.yml, mode: '0644'}\n"
            % (limit, REPO / "roles/prometheus/templates/prometheus.yml.j2", out))
    proc = playbook(tmp_path, text, extra, str(inventory))
    assert proc.returncode == 0, proc.stdout[-3000:]
    check = subprocess.run(["docker", "run", "--rm", "--network", "none", "--user", "0:0",
                            "-v", "%s:/etc/prometheus/prometheus.yml:ro" % (out / "prometheus.yml"),
                            "-v", "%s:/etc/prometheus/rules:ro" % RULES.parent,
                            "--entrypoint", "/usr/bin/promtool", image(PROM_IMAGE), "check", "config",
                            "/etc/prometheus/prometheus.yml"], capture_output=True, text=True, timeout=120)
    assert check.returncode == 0, check.stdout + check.stderr
    config = yaml.safe_load((out / "prometheus.yml").read_text())
    return config, {job["job_name"]: job for job in config["scrape_configs"]}


def targets(job):
    return {t["targets"][0]: t["labels"] for t in job["static_configs"]}


def test_fleet_probes_every_app_host_by_its_private_address_with_labels(tmp_path):
    config, jobs = prometheus_config(tmp_path, FLEET, "mon-1", {
        "prometheus_alertmanager_targets": [{"host": "mon-1", "address": "cbdd-alertmanager:9093"},
                                            {"host": "mon-2", "address": "10.213.7.6:9093"}],
        "prometheus_blackbox_address": "cbdd-blackbox:9115"})
    assert config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == ["cbdd-alertmanager:9093", "10.213.7.6:9093"]
    assert targets(jobs["alertmanager"]) == {"cbdd-alertmanager:9093": {"cbdd_host": "mon-1", "environment": "production"},
                                             "10.213.7.6:9093": {"cbdd_host": "mon-2", "environment": "production"}}
    assert targets(jobs["cbdd-user-path"]) == {
        "https://10.213.7.11:443/health": {"cbdd_host": "app-1", "environment": "production"},
        "https://192.0.2.12:8443/health": {"cbdd_host": "app-2", "environment": "production"},
        "https://cbdd-nginx:443/health": {"cbdd_host": "mon-1", "environment": "production"}}
    assert set(targets(jobs["cbdd-certificate"])) == {"10.213.7.11:443", "192.0.2.12:8443", "cbdd-nginx:443"}
    for name in ("cbdd-user-path", "cbdd-certificate"):
        assert jobs[name]["metrics_path"] == "/probe"
        assert jobs[name]["relabel_configs"][-1] == {"target_label": "__address__", "replacement": "cbdd-blackbox:9115"}
    assert jobs["cbdd-user-path"]["params"] == {"module": ["cbdd_https_health"]}
    assert jobs["cbdd-certificate"]["params"] == {"module": ["cbdd_tls_certificate"]}
    assert targets(jobs["blackbox"]) == {"cbdd-blackbox:9115": {"cbdd_host": "mon-1", "environment": "production"}}


def test_no_alerting_or_probe_jobs_when_unset(tmp_path):
    config, jobs = prometheus_config(tmp_path, FLEET, "mon-1", {"prometheus_alertmanager_targets": [],
                                                                "prometheus_blackbox_address": ""})
    assert "alerting" not in config
    assert not {"alertmanager", "blackbox", "cbdd-user-path", "cbdd-certificate"} & set(jobs)


def test_environment_label_is_the_inventory_s_environment(tmp_path):
    _, jobs = prometheus_config(tmp_path, FLEET, "mon-1", {}, environment="staging")
    for job in jobs.values():
        assert {labels["environment"] for labels in targets(job).values()} == {"staging"}, job["job_name"]


@pytest.mark.parametrize("extra, needle", [
    ({"prometheus_alertmanager_targets": [{"host": "m", "address": "http://am:9093"}]}, "prometheus_alertmanager_targets"),
    ({"prometheus_alertmanager_targets": [{"host": "m", "address": "am:9093"}, {"host": "n", "address": "am:9093"}]},
     "prometheus_alertmanager_targets"),
    ({"prometheus_alertmanager_targets": ["am:9093"]}, "prometheus_alertmanager_targets"),
    ({"prometheus_blackbox_address": "cbdd-blackbox"}, "prometheus_blackbox_address"),
    ({"prometheus_blackbox_probe_interval": "15"}, "prometheus_blackbox_probe_interval"),
])
def test_prometheus_alerting_bad_input_fails_naming_the_variable(tmp_path, extra, needle):
    proc = preflight(tmp_path, "prometheus", extra)
    assert proc.returncode != 0
    assert needle in flat(proc), proc.stdout[-3000:]


# -------------------------------------------------------------------------------------- rules
def alerts():
    return [r for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"] if "alert" in r]


def test_every_alert_carries_service_runbook_step_and_what_to_check_first():
    for rule in alerts():
        assert rule["labels"].get("service") in SERVICES, rule["alert"]
        assert rule["annotations"].get("runbook_step") in RUNBOOK_STEPS, rule["alert"]
        assert rule["annotations"].get("check_first"), rule["alert"]


def test_the_issue_s_alerts_exist_with_their_levels():
    levels = {r["alert"]: r["labels"]["severity"] for r in alerts()}
    assert {name: levels.get(name) for name in (
        "CbddUserPathDown", "CbddUserPathSlow", "CbddCertificateExpiringSoon", "CbddCertificateExpired", "CbddBackupStale",
        "CbddExporterDown", "CbddAlertmanagerDown")} == {
        "CbddUserPathDown": "L3", "CbddUserPathSlow": "L2", "CbddCertificateExpiringSoon": "L2",
        "CbddCertificateExpired": "L3", "CbddBackupStale": "L2", "CbddExporterDown": "L2", "CbddAlertmanagerDown": "L2"}
    text = RULES.read_text()
    assert "cbdd_tls_cert_not_after_timestamp_seconds" not in text  # the probe replaces the deploy-time metric
    assert 'probe_ssl_earliest_cert_expiry{job="cbdd-certificate"}' in text


@pytest.mark.parametrize("old, new, alert", [
    ("time() - cbdd_backup_last_success_timestamp_seconds > 26 * 3600",
     "time() - cbdd_backup_last_success_timestamp_seconds > 32 * 3600", "CbddBackupStale"),
    ('expr: probe_success{job="cbdd-user-path"} == 0', 'expr: probe_success{job="cbdd-user-path"} < 0', "CbddUserPathDown"),
    ('(probe_ssl_earliest_cert_expiry{job="cbdd-certificate"} - time()) / 86400 < 14',
     '(probe_ssl_earliest_cert_expiry{job="cbdd-certificate"} - time()) / 86400 < 7', "CbddCertificateExpiringSoon"),
    ('expr: up{job="alertmanager"} == 0\n        for: 2m', 'expr: up{job="alertmanager"} == 0\n        for: 20m',
     "CbddAlertmanagerDown"),
])
def test_promtool_cases_catch_a_changed_new_rule(tmp_path, old, new, alert):
    rules = tmp_path / "roles/prometheus/files/rules"
    shutil.copytree(RULES.parent, rules)
    shutil.copytree(TESTS, tmp_path / "files/prometheus/tests")
    target = rules / RULES.name
    assert old in target.read_text()
    target.write_text(target.read_text().replace(old, new))
    proc = subprocess.run(["docker", "run", "--rm", "--network", "none", "--user", "0:0", "-v", "%s:/mut:ro" % tmp_path,
                           "-w", "/mut", "--entrypoint", "/usr/bin/promtool", image(PROM_IMAGE), "test", "rules",
                           "files/prometheus/tests/cbdd-alerts.test.yml"], capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    assert alert in proc.stdout + proc.stderr


# --------------------------------------------------------------------------- notify-peers peer
def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def notify_peers():
    api, smtp = free_port(), free_port()
    name = "cbdd-alert-unit-peers-%d" % api
    subprocess.run(["docker", "run", "-d", "--rm", "--name", name, "-p", "127.0.0.1:%d:8080" % api,
                    "-p", "127.0.0.1:%d:2525" % smtp, image(PEERS_IMAGE)], check=True, capture_output=True)
    base = "http://127.0.0.1:%d" % api
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(base + "/healthz", timeout=2).read()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.3)
        yield base, smtp
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True)


def test_notify_peers_records_mails_and_webhooks(notify_peers):
    base, smtp_port = notify_peers
    with smtplib.SMTP("127.0.0.1", smtp_port, timeout=10) as smtp:
        smtp.sendmail("alerts@company.com", ["oncall@company.com"],
                      "Subject: [FIRING:1] L3 test\r\nContent-Type: text/plain\r\n\r\nLevel: L3\r\n")
    request = urllib.request.Request(base + "/webhook/pager", data=json.dumps({"status": "firing", "alerts": []}).encode(),
                                     headers={"Content-Type": "application/json"})
    assert json.loads(urllib.request.urlopen(request, timeout=10).read()) == {"stored": True}
    mails = json.loads(urllib.request.urlopen(base + "/api/mails", timeout=10).read())
    assert [(m["subject"], m["rcpt_tos"]) for m in mails] == [("[FIRING:1] L3 test", ["oncall@company.com"])]
    assert "Level: L3" in mails[0]["body"]
    hooks = json.loads(urllib.request.urlopen(base + "/api/webhooks", timeout=10).read())
    assert [(h["name"], h["json"]["status"]) for h in hooks] == [("pager", "firing")]
    later = json.loads(urllib.request.urlopen(base + "/api/mails?since=%f" % (mails[0]["received_at"] + 0.001), timeout=10).read())
    assert later == []
    urllib.request.urlopen(urllib.request.Request(base + "/api/reset", data=b"", method="POST"), timeout=10).read()
    assert json.loads(urllib.request.urlopen(base + "/api/webhooks", timeout=10).read()) == []
