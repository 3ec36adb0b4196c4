"""Backup and restore on the sandbox, against a real S3 API endpoint.

S3 here is a STAND-IN: moto in server mode, because no S3 server package can be installed on these
machines. files/scripts/sandbox runs it as the container <sandbox>-s3 on the sandbox's private
network (the host reaches it as http://<sandbox>-s3:5000, exactly as `make deploy` configures it;
no tunnel, which a hardened sshd forbids) and publishes it on the control node's 127.0.0.1:19000+offset,
where these tests read the bucket with boto3.
"""
import hashlib
import json
import subprocess
import time
import ssl
import urllib.request

import boto3
import pytest

from conftest import REPO

BUCKET = "cbdd-backups"
ROOT = "/opt/clinical-bdd-creator"
ARCHIVES = "/var/lib/cbdd/backup/archives"
SAFETY = "/var/lib/cbdd/backup/safety"
# group_vars/all/main.yml puts the metric into the node exporter's textfile folder (every host runs one).
BACKUP_METRICS_FILE = "/var/lib/cbdd/textfile/cbdd_backup.prom"
HOST = "sandbox"  # inventory_hostname_short: in archive names and keys


@pytest.fixture(scope="module")
def s3_port(sandbox):
    return 19000 + sandbox.offset


@pytest.fixture(scope="module")
def s3(s3_port):
    """boto3 on the sandbox's S3 stand-in (the bucket exists: files/scripts/sandbox creates it)."""
    client = boto3.client("s3", endpoint_url="http://127.0.0.1:%d" % s3_port, region_name="us-east-1",
                          aws_access_key_id="moto-standin", aws_secret_access_key="moto-standin")
    client.head_bucket(Bucket=BUCKET)
    return client


@pytest.fixture(scope="module")
def role_run(run_playbook, tmp_path_factory):
    """The backup role applied again after deploy.yml installed it (make integration deploys first)."""
    playbook = tmp_path_factory.mktemp("backup") / "backup_role.yml"
    playbook.write_text("- hosts: app_servers\n  become: true\n  roles: [backup]\n")
    run = run_playbook(str(playbook))
    assert run.rc == 0, run.stdout[-3000:]
    return run


def host_files(sandbox):
    """Every backed-up path on the host with type, mode, owner, mtime and content hash."""
    script = ("cd %s && find config .env nginx -exec stat -c '%%n %%F %%a %%u:%%g %%Y' {} + | sort"
              " && find config .env nginx -type f -exec sha256sum {} + | sort") % ROOT
    return sandbox.exec("sh", "-c", script).stdout


def started_at(sandbox, container):
    return sandbox.exec("docker", "inspect", "-f", "{{.Id}} {{.State.StartedAt}}", container).stdout.strip()


def health_ok(sandbox):
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with urllib.request.urlopen(sandbox.https_url + "/health", context=ctx, timeout=10) as resp:
        return resp.status == 200 and json.loads(resp.read())["status"] == "ok"


def remote_names(s3):
    objects = s3.list_objects_v2(Bucket=BUCKET, Prefix="clinical-bdd/%s/" % HOST).get("Contents", [])
    return sorted(o["Key"].rsplit("/", 1)[1] for o in objects if o["Key"].endswith(".tar.gz"))


def run_backup(run_playbook):
    run = run_playbook("playbooks/backup.yml")
    assert run.rc == 0, run.stdout[-4000:]
    return run


def test_backup_uploads_encrypted_archive_under_expected_key(role_run, run_playbook, sandbox, s3):
    before = set(remote_names(s3))
    run = run_backup(run_playbook)
    new = sorted(set(remote_names(s3)) - before)
    assert len(new) == 1, new
    name = new[0]
    assert name.startswith("cbdd-config-") and name.endswith("-%s.tar.gz" % HOST)
    key = "clinical-bdd/%s/%s" % (HOST, name)
    assert "uploaded s3://%s/%s" % (BUCKET, key) in run.stdout
    head = s3.head_object(Bucket=BUCKET, Key=key)
    assert head["ServerSideEncryption"] == "AES256"
    body = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    manifest = json.loads(s3.get_object(Bucket=BUCKET, Key=key[:-len(".tar.gz")] + ".manifest.json")["Body"].read())
    assert hashlib.sha256(body).hexdigest() == manifest["archive_sha256"]
    members = {m["path"]: m for m in manifest["members"]}
    for path in ("config/production.ini", ".env", "nginx/ssl/cert.pem", "nginx/ssl/key.pem", "nginx/conf.d/cbdd.conf"):
        live = sandbox.exec("sha256sum", "%s/%s" % (ROOT, path)).stdout.split()[0]
        assert members[path]["sha256"] == live, path
    # the local copy is kept, owner-only (it holds the TLS key and .env)
    assert sandbox.exec("stat", "-c", "%a %U", "%s/%s" % (ARCHIVES, name)).stdout.split() == ["600", "root"]
    prom = sandbox.exec("cat", BACKUP_METRICS_FILE).stdout
    value = [line.split()[1] for line in prom.splitlines()
             if line.startswith("cbdd_backup_last_success_timestamp_seconds ")]
    assert value and abs(float(value[0]) - time.time()) < 300, prom


def test_timer_installed_enabled_and_next_run_scheduled(role_run, sandbox):
    assert sandbox.exec("systemctl", "is-enabled", "cbdd-backup.timer").stdout.strip() == "enabled"
    assert sandbox.exec("systemctl", "is-active", "cbdd-backup.timer").stdout.strip() == "active"
    timers = sandbox.exec("systemctl", "list-timers", "--no-pager", "cbdd-backup.timer").stdout
    line = next(line for line in timers.splitlines() if "cbdd-backup.timer" in line)
    assert not line.startswith("n/a"), timers  # NEXT column: a scheduled time
    props = sandbox.exec("systemctl", "show", "-p", "Persistent,RandomizedDelayUSec,TimersCalendar",
                         "cbdd-backup.timer").stdout
    assert "Persistent=yes" in props and "RandomizedDelayUSec=1h" in props and "OnCalendar=*-*-* 00:00:00" in props, props


def test_role_rerun_changes_nothing(role_run):
    assert role_run.recap["sandbox"]["changed"] == 0, role_run.stdout[-3000:]


def test_restore_round_trip_gives_byte_identical_files(run_playbook, sandbox, s3):
    run_backup(run_playbook)
    latest = remote_names(s3)[-1]
    before = host_files(sandbox)
    nginx_before = started_at(sandbox, "cbdd-nginx")
    # Damage the configuration and lose the host's local archives (restore must download).
    sandbox.exec("sh", "-c", "echo '# drift' >> %(r)s/config/production.ini && echo 'DRIFT=1' >> %(r)s/.env"
                 " && chmod 0644 %(r)s/.env && echo stray > %(r)s/config/stray.ini"
                 " && echo '# drift' >> %(r)s/nginx/conf.d/cbdd.conf && rm -f %(a)s/*" % {"r": ROOT, "a": ARCHIVES})
    assert host_files(sandbox) != before
    run = run_playbook("playbooks/restore.yml")
    assert run.rc == 0, run.stdout[-5000:]
    assert '"chosen": "%s"' % latest in run.stdout or "chosen: %s" % latest in run.stdout, run.stdout[-5000:]
    assert host_files(sandbox) == before
    assert "TASK [nginx_ssl : Reload nginx gracefully]" in run.stdout
    # config/ and .env came back as they were: the app role finds them identical to the live release
    assert "TASK [app : Read the live release's definition and the files to adopt]" in run.stdout
    assert started_at(sandbox, "cbdd-nginx") == nginx_before  # reloaded, not restarted
    assert health_ok(sandbox)
    assert sandbox.exec("sh", "-c", "ls %s | grep -c manifest.json" % SAFETY).stdout.strip() != "0"
    # A second restore finds nothing to do and touches nothing.
    again = run_playbook("playbooks/restore.yml", {"restore_backup": latest})
    assert again.rc == 0, again.stdout[-3000:]
    assert "nothing to restore" in " ".join(again.stdout.split())
    assert again.recap["sandbox"]["changed"] == 0


def test_corrupted_archive_is_refused_and_nothing_changes(run_playbook, sandbox, s3):
    run_backup(run_playbook)
    name = remote_names(s3)[-1]
    key = "clinical-bdd/%s/%s" % (HOST, name)
    body = bytearray(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())
    body[len(body) // 2] ^= 0x01  # one bit of one byte
    s3.put_object(Bucket=BUCKET, Key=key, Body=bytes(body), ServerSideEncryption="AES256")
    # A live change the restore would revert if it went ahead.
    sandbox.exec("sh", "-c", "echo '# after the backup' >> %s/config/production.ini" % ROOT)
    try:
        before = host_files(sandbox)
        safety_before = sandbox.exec("sh", "-c", "ls %s 2>/dev/null || true" % SAFETY).stdout
        containers_before = [started_at(sandbox, c) for c in ["cbdd-nginx"] + sandbox.app_containers()]
        run = run_playbook("playbooks/restore.yml", {"restore_backup": name, "restore_source": "s3"})
        assert run.rc != 0
        assert "RESTORE REFUSED for %s" % name in run.stdout
        assert "SHA-256 mismatch for %s" % name in run.stdout
        assert "Nothing on the host was changed" in run.stdout
        assert run.recap["sandbox"]["changed"] == 0
        assert host_files(sandbox) == before
        assert sandbox.exec("sh", "-c", "ls %s 2>/dev/null || true" % SAFETY).stdout == safety_before
        assert [started_at(sandbox, c) for c in ["cbdd-nginx"] + sandbox.app_containers()] == containers_before
    finally:
        sandbox.exec("sed", "-i", "/^# after the backup$/d", "%s/config/production.ini" % ROOT)


def test_failed_restore_puts_the_safety_copy_back(run_playbook, sandbox, s3):
    """A backup whose nginx configuration nginx -t rejects: the restore fails, the files return."""
    conf = "%s/nginx/conf.d/cbdd.conf" % ROOT
    original = sandbox.exec("cat", conf).stdout
    sandbox.exec("sh", "-c", "echo 'this_is_not_a_directive;' >> %s" % conf)
    try:
        run_backup(run_playbook)
    finally:
        subprocess.run(["docker", "exec", "-i", sandbox.name, "sh", "-c", "cat > %s" % conf],
                       input=original, text=True, check=True)
    broken = remote_names(s3)[-1]
    before = host_files(sandbox)
    run = run_playbook("playbooks/restore.yml", {"restore_backup": broken})
    assert run.rc != 0
    assert "RESTORE FAILED for %s at 'Test the live nginx configuration'" % broken in run.stdout, run.stdout[-4000:]
    assert "was put back" in run.stdout
    assert host_files(sandbox) == before
    assert health_ok(sandbox)


def test_endpoint_down_fails_clearly_and_keeps_local_archive(run_playbook, sandbox):
    """The S3 endpoint unreachable (its container taken off the sandbox's network: moto keeps its data)."""
    endpoint = "http://%s-s3:5000" % sandbox.name
    count = int(sandbox.exec("sh", "-c", "ls %s | grep -c 'tar.gz$' || true" % ARCHIVES).stdout.strip() or 0)
    network, standin = "%s-net" % sandbox.name, "%s-s3" % sandbox.name
    subprocess.run(["docker", "network", "disconnect", network, standin], check=True)
    try:
        run = run_playbook("playbooks/backup.yml")
        assert run.rc != 0
        assert "FAILED" in run.stdout and endpoint in run.stdout, run.stdout[-3000:]
        assert "local archive is kept" in run.stdout
        assert sandbox.exec("systemctl", "is-failed", "cbdd-backup.service", check=False).stdout.strip() == "failed"
        after = int(sandbox.exec("sh", "-c", "ls %s | grep -c 'tar.gz$'" % ARCHIVES).stdout.strip())
        assert after == count + 1
        prom = sandbox.exec("cat", BACKUP_METRICS_FILE).stdout
        assert "cbdd_backup_last_run_success 0" in prom
    finally:
        subprocess.run(["docker", "network", "connect", network, standin], check=True)
    run_backup(run_playbook)  # the endpoint back: the next run succeeds, the unit recovers
    assert sandbox.exec("systemctl", "is-failed", "cbdd-backup.service", check=False).stdout.strip() != "failed"


def test_backup_of_a_misspelt_service_is_refused(run_playbook):
    """A run that did not do what was asked fails: an unknown unit is not 'backup done'."""
    run = run_playbook("playbooks/backup.yml", {"backup_service_name": "cbdd-bakup"})
    assert run.rc != 0
    assert "did NOT run" in run.stdout and "backup_service_name" in run.stdout, run.stdout[-2000:]
    assert "backup done" not in run.stdout
