"""Bad input never takes the site down or over. Every playbook an operator or AWX can launch gets
hostile or careless values (passed as JSON, as AWX passes survey answers: key=value would cut a
value at its first space); each run must exit non-zero, name the variable (or the setting) in its
error, leave the host's fingerprint as it was (containers, networks, volumes, the service's files,
units, sshd/firewall/fail2ban/apt/Docker configuration, keys), and the site must still answer 200.

Classes covered: host names and aliases (nginx injection), ports (range, type), IP addresses,
durations and sizes, Docker tags and names, environment variable names, URL, e-mail and SMTP
settings, systemd calendar expressions, S3 bucket names, certificates and keys (PEM, key match,
expiry), SSH public keys (one key, no options), paths (relative, traversal), choices (modes,
services, tasks, formats), batch sizes, timeout order, units and backups that do not exist.
"""
import datetime
import json
import ssl
import urllib.request

import pytest

from conftest import REPO

EVIL_ALIAS = "x.example; return 302 https://evil.example/; #"


def health(sandbox):
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with urllib.request.urlopen(sandbox.https_url + "/health", context=ctx, timeout=10) as resp:
        return resp.status


def pem_pair(tmp_path, name, days=90, key_of=None):
    """A self-signed certificate for clinical-bdd.local (optionally already expired, or written with
    another key) as PEM files and texts."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "clinical-bdd.local")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=400 if days < 0 else 1))
            .not_valid_after(now + datetime.timedelta(days=days))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("clinical-bdd.local")]), critical=False)
            .sign(key, hashes.SHA256()))
    written = key_of or key
    cert_pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    key_pem = written.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()).decode()
    (tmp_path / ("%s.crt" % name)).write_text(cert_pem)
    (tmp_path / ("%s.key" % name)).write_text(key_pem)
    return cert_pem, key_pem, key


def ssh_key_file(tmp_path, text):
    path = tmp_path / "new_key.pub"
    path.write_text(text)
    (tmp_path / "new_key").write_text("not used: the public key is refused first\n")
    return {"rotate_keys_new_public_key_file": str(path), "rotate_keys_new_private_key_file": str(tmp_path / "new_key")}


def public_key_line():
    import base64
    blob = b"\x00\x00\x00\x0bssh-ed25519" + b"\x00\x00\x00\x20" + bytes(range(32))
    return "ssh-ed25519 %s rotate@example" % base64.b64encode(blob).decode()


# (id, playbook, extra vars (a dict, or a callable(tmp_path) -> dict), text the output must contain)
CASES = [
    # deploy.yml: what reaches nginx
    ("alias-injection", "deploy.yml", {"nginx_ssl_server_aliases": [EVIL_ALIAS]}, "nginx_ssl_server_aliases"),
    ("alias-injection-shared", "deploy.yml", {"cbdd_server_aliases": [EVIL_ALIAS]}, "cbdd_server_aliases"),
    ("server-name-empty-label", "deploy.yml", {"cbdd_server_name": "clinical-bdd..local"}, "cbdd_server_name"),
    ("server-name-injection", "deploy.yml", {"nginx_ssl_server_name": "a.example; return 444"}, "nginx_ssl_server_name"),
    ("https-port-too-big", "deploy.yml", {"nginx_ssl_https_port": 70000}, "nginx_ssl_https_port"),
    # checked in the first play with the other prometheus inputs (before the Docker engine is touched)
    ("node-exporter-port-too-big", "deploy.yml", {"prometheus_node_exporter_port": 70000}, "prometheus_node_exporter_port"),
    ("https-port-zero", "deploy.yml", {"nginx_ssl_https_port": 0}, "nginx_ssl_https_port"),
    ("https-port-not-a-number", "deploy.yml", {"cbdd_https_port": "not-a-port"}, "cbdd_https_port"),
    ("http-equals-https", "deploy.yml", {"cbdd_http_port": 443}, "cbdd_http_port"),
    ("bind-address-injection", "deploy.yml", {"nginx_ssl_bind_address": "0.0.0.0; deny all"}, "nginx_ssl_bind_address"),
    ("header-injection", "deploy.yml",
     {"nginx_ssl_security_headers": {"X-Frame-Options": 'DENY" always; return 302 https://evil.example/; #'}},
     "nginx_ssl_security_headers"),
    ("header-name-injection", "deploy.yml", {"nginx_ssl_security_headers": {"X-A; return 444": "x"}},
     "nginx_ssl_security_headers"),
    ("body-size-injection", "deploy.yml", {"nginx_ssl_client_max_body_size": "10m; return 444"},
     "nginx_ssl_client_max_body_size"),
    ("proxy-timeout-below-app-timeout", "deploy.yml", {"cbdd_proxy_timeout": 10}, "cbdd_proxy_timeout"),
    ("stop-timeout-below-graceful", "deploy.yml", {"cbdd_app_stop_timeout": 5}, "cbdd_app_stop_timeout"),
    # deploy.yml: what reaches Docker and the app
    ("app-port-too-big", "deploy.yml", {"app_port": 70000}, "app_port"),
    ("app-version-injection", "deploy.yml", {"app_version": "1.0.0; rm -rf /"}, "app_version"),
    ("app-version-without-image", "deploy.yml", {"app_version": "9.9.9"}, "app_version=9.9.9"),
    ("memory-limit-words", "deploy.yml", {"app_memory_limit": "two gigs"}, "app_memory_limit"),
    ("cpu-limit-negative", "deploy.yml", {"app_cpu_limit": -1}, "app_cpu_limit"),
    ("env-name-with-space", "deploy.yml", {"app_env": {"BAD NAME": "x"}}, "app_env"),
    ("health-path-injection", "deploy.yml", {"app_health_path": "/health'); import os; ('"}, "app_health_path"),
    ("container-name-invalid", "deploy.yml", {"cbdd_app_container_name": "app name"}, "cbdd_app_container_name"),
    ("batch-percent-too-big", "deploy.yml", {"cbdd_rolling_batch": "150%"}, "cbdd_rolling_batch"),
    ("batch-zero", "deploy.yml", {"cbdd_rolling_batch": 0}, "cbdd_rolling_batch"),
    ("role-groups-unknown-group", "deploy.yml", {"cbdd_role_groups": {"grafana": "nosuch"}}, "cbdd_role_groups"),
    ("role-groups-not-a-dict", "deploy.yml", {"cbdd_role_groups": "monitoring"}, "cbdd_role_groups"),
    ("log-size-words", "deploy.yml", {"docker_engine_log_max_size": "100 MB"}, "docker_engine_log_max_size"),
    ("log-driver-unknown", "deploy.yml", {"docker_engine_log_driver": "syslog"}, "docker_engine_log_driver"),
    ("tls-ca-path-relative", "deploy.yml", {"cbdd_tls_ca_path": "nginx/ssl/cert.pem"}, "cbdd_tls_ca_path"),
    ("tls-ca-path-two-lines", "health.yml", {"cbdd_tls_ca_path": "/etc/ssl/ca.pem\n/etc/shadow"}, "cbdd_tls_ca_path"),
    ("ciphers-separator", "deploy.yml", {"nginx_ssl_ciphers": ["ECDHE-RSA-AES128-GCM-SHA256;ALL"]}, "nginx_ssl_ciphers"),
    ("blackbox-ca-hosts-path-relative", "deploy.yml", {"blackbox_exporter_ca_hosts_path": "x;y"},
     "blackbox_exporter_ca_hosts_path"),
    ("environment-label", "deploy.yml", {"cbdd_environment": "Prod uction"}, "cbdd_environment"),
    # deploy.yml: monitoring and backups
    ("scrape-interval-words", "deploy.yml", {"prometheus_scrape_interval": "15 seconds"}, "prometheus_scrape_interval"),
    ("retention-forever", "deploy.yml", {"prometheus_retention_time": "forever"}, "prometheus_retention_time"),
    ("grafana-weak-password", "deploy.yml", {"grafana_admin_password": "admin"}, "grafana_admin_password"),
    ("s3-endpoint-with-space", "deploy.yml", {"backup_s3_endpoint_url": "http://evil host:5000"}, "backup_s3_endpoint_url"),
    ("s3-bucket-invalid", "deploy.yml", {"backup_s3_bucket": "Bad_Bucket"}, "backup_s3_bucket"),
    ("s3-sse-unknown", "deploy.yml", {"backup_s3_sse": "rot13"}, "backup_s3_sse"),
    ("timer-schedule-prose", "deploy.yml", {"backup_timer_on_calendar": "every day at noon"}, "backup_timer_on_calendar"),
    # deploy.yml: provided certificates (vault variables)
    ("certificate-not-pem", "deploy.yml", {"nginx_ssl_certificate": "not a certificate", "nginx_ssl_private_key": "x"},
     "nginx_ssl_certificate"),
    ("certificate-key-mismatch", "deploy.yml",
     lambda tmp: dict(zip(("nginx_ssl_certificate", "nginx_ssl_private_key"),
                          pem_pair(tmp, "mismatch", key_of=pem_pair(tmp, "other")[2])[:2])),
     "nginx_ssl_certificate"),
    ("certificate-expired", "deploy.yml",
     lambda tmp: dict(zip(("nginx_ssl_certificate", "nginx_ssl_private_key"), pem_pair(tmp, "expired", days=-1)[:2])),
     "nginx_ssl_certificate"),
    # renew-cert.yml
    ("renew-days-words", "renew-cert.yml", {"renew_if_expiring_within_days": "soon"}, "renew_if_expiring_within_days"),
    ("renew-cert-relative", "renew-cert.yml", {"renew_cert_src": "cert.pem", "renew_key_src": "key.pem"}, "renew_cert_src"),
    ("renew-cert-without-key", "renew-cert.yml", {"renew_cert_src": "/tmp/cert.pem"}, "renew_key_src"),
    ("renew-expired-files", "renew-cert.yml",
     lambda tmp: (pem_pair(tmp, "old", days=-1), {"renew_cert_src": str(tmp / "old.crt"), "renew_key_src": str(tmp / "old.key")})[1],
     "Certificate REFUSED"),
    # stop / start / restart / logs
    ("stop-mode-unknown", "stop.yml", {"stop_mode": "gentle"}, "stop_mode"),
    ("stop-service-unknown", "stop.yml", {"service": "database"}, "service must be one of"),
    ("start-service-injection", "start.yml", {"service": "app; rm -rf /"}, "service must be one of"),
    ("restart-without-service", "restart.yml", {}, "service is required"),
    ("restart-batch-words", "restart.yml", {"service": "app", "cbdd_rolling_batch": "all of them"}, "cbdd_rolling_batch"),
    ("logs-since-prose", "logs.yml", {"service": "app", "since": "yesterday"}, "maintenance_logs_since"),
    ("logs-lines-negative", "logs.yml", {"service": "app", "lines": -5}, "maintenance_logs_lines"),
    ("logs-fetch-dir-relative", "logs.yml", {"service": "app", "fetch_dir": "logs"}, "maintenance_logs_fetch_dir"),
    # maintenance.yml
    ("maintenance-task-unknown", "maintenance.yml", {"maintenance_tasks": ["daily"]}, "maintenance_tasks"),
    ("maintenance-task-string", "maintenance.yml", {"maintenance_tasks": "weekly prune"}, "maintenance_tasks"),
    ("maintenance-recipient-invalid", "maintenance.yml",
     {"maintenance_tasks": ["weekly"], "maintenance_smtp_host": "127.0.0.1", "maintenance_smtp_to": ["stakeholders"]},
     "maintenance_smtp_to"),
    ("maintenance-webhook-ftp", "maintenance.yml", {"maintenance_tasks": ["weekly"], "maintenance_webhook_url": "ftp://x/y"},
     "maintenance_webhook_url"),
    ("maintenance-smtp-refuses", "maintenance.yml",
     {"maintenance_tasks": ["weekly"], "maintenance_smtp_host": "127.0.0.1", "maintenance_smtp_port": 9,
      "maintenance_smtp_secure": "never", "maintenance_smtp_to": ["ops@example.org"]}, "maintenance_smtp_host=127.0.0.1"),
    ("maintenance-upgrade-injection", "maintenance.yml",
     {"maintenance_tasks": ["quarterly"], "maintenance_upgrade_app_version": "1.0; reboot"}, "maintenance_upgrade_app_version"),
    # health / backup / restore / rotate-keys
    ("health-output-xml", "health.yml", {"health_output": "xml"}, "health_output"),
    ("health-days-words", "health.yml", {"health_cert_min_days": "two weeks"}, "health_cert_min_days"),
    ("backup-unit-misspelt", "backup.yml", {"backup_service_name": "cbdd-bakup"}, "backup_service_name"),
    ("restore-traversal", "restore.yml", {"restore_backup": "../../../etc/shadow"}, "backup_restore_name"),
    ("restore-source-unknown", "restore.yml", {"restore_source": "tape"}, "backup_restore_source"),
    ("rotate-two-keys-one-forced", "rotate-keys.yml",
     lambda tmp: ssh_key_file(tmp, public_key_line() + "\ncommand=\"/bin/sh\" " + public_key_line() + "\n"),
     "rotate_keys_new_public_key_file"),
    ("rotate-key-with-options", "rotate-keys.yml",
     lambda tmp: ssh_key_file(tmp, 'from="0.0.0.0/0" ' + public_key_line() + "\n"), "rotate_keys_new_public_key_file"),
    ("rotate-missing-files", "rotate-keys.yml",
     {"rotate_keys_new_public_key_file": "/nonexistent.pub", "rotate_keys_new_private_key_file": "/nonexistent"},
     "rotate_keys_new_public_key_file"),
]


@pytest.mark.parametrize("playbook, extra, named", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_refused_and_changes_nothing(run_playbook, sandbox, tmp_path, playbook, extra, named):
    extra_vars = extra(tmp_path) if callable(extra) else extra
    before = sandbox.fingerprint()
    run = run_playbook("playbooks/" + playbook, extra_vars)
    text = " ".join((run.stdout + run.stderr).split())
    assert run.rc != 0, "accepted: %s" % run.stdout[-2000:]
    assert named in text, text[-3000:]
    after = sandbox.fingerprint()
    assert after == before, "\n".join(line for line in after.splitlines() if line not in before.splitlines())[:2000]
    assert health(sandbox) == 200


def test_the_suite_covers_every_launchable_playbook():
    covered = {c[1] for c in CASES}
    launchable = {p.name for p in (REPO / "playbooks").glob("*.yml")} - {"rollback.yml", "harden.yml", "diagnose.yml"}
    # rollback.yml takes no input; harden.yml's bad input is the hardening molecule scenario's; diagnose.yml is read-only
    assert launchable <= covered, launchable - covered
    assert len(CASES) >= 40
