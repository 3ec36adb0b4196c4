"""Backup and restore (issue #7) on the sandbox, against a real S3 API endpoint.

S3 here is a STAND-IN: moto in server mode (ThreadedMotoServer) on the control node's
127.0.0.1:19000+offset, because no S3 server package can be installed on these machines. The
sandbox host reaches it on ITS OWN loopback through an SSH reverse tunnel opened by the `tunnel`
fixture (ssh -R 127.0.0.1:P:127.0.0.1:P with the sandbox's key), so the host's backup service talks
to "a remote S3 endpoint" exactly as in production; no non-loopback address is used.
"""
import hashlib
import json
import subprocess
import time
import ssl
import urllib.request

import boto3
import pytest
from moto.server import ThreadedMotoServer

from conftest import REPO

BUCKET = "cbdd-backups"
ROOT = "/opt/clinical-bdd-creator"
ARCHIVES = "/var/lib/cbdd/backup/archives"
SAFETY = "/var/lib/cbdd/backup/safety"
# group_vars/all/main.yml puts the metric into the node exporter's textfile folder.
BACKUP_METRICS_FILE = ROOT + "/monitoring/prometheus/textfile/cbdd_backup.prom"
HOST = "sandbox"  # inventory_hostname_short: in archive names and keys


@pytest.fixture(scope="module")
def s3_port(sandbox):
    return 19000 + sandbox.offset


@pytest.fixture(scope="module")
def s3(s3_port):
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=s3_port, verbose=False)
    server.start()
    client = boto3.client("s3", endpoint_url="http://127.0.0.1:%d" % s3_port, region_name="us-east-1",
                          aws_access_key_id="moto-standin", aws_secret_access_key="moto-standin")
    client.create_bucket(Bucket=BUCKET)
    yield client
    server.stop()


class Tunnel:
    """ssh -R: the sandbox's 127.0.0.1:port forwards to the control node's 127.0.0.1:port."""

    def __init__(self, sandbox, port):
        self.sandbox, self.port, self.proc = sandbox, port, None

    def start(self):
        state = REPO / ".sandbox" / self.sandbox.name
        self.proc = subprocess.Popen(
            ["ssh", "-N", "-i", str(state / "id_ed25519"), "-p", str(2222 + self.sandbox.offset),
             "-o", "UserKnownHostsFile=%s" % (state / "known_hosts"), "-o", "StrictHostKeyChecking=yes",
             "-o", "BatchMode=yes", "-o", "ExitOnForwardFailure=yes", "-o", "ControlMaster=no",
             "-o", "ControlPath=none", "-R", "127.0.0.1:%d:127.0.0.1:%d" % (self.port, self.port),
             "deploy@127.0.0.1"], stdin=subprocess.DEVNULL, stderr=subprocess.PIPE)
        for _ in range(50):
            if self.open_on_host():
                return
            if self.proc.poll() is not None:
                raise RuntimeError("ssh -R failed: %s" % self.proc.stderr.read().decode())
            time.sleep(0.2)
        raise RuntimeError("tunnel to 127.0.0.1:%d did not come up on the sandbox" % self.port)

    def open_on_host(self):
        probe = "import socket; socket.create_connection(('127.0.0.1', %d), 2).close()" % self.port
        return self.sandbox.exec("python3", "-c", probe, check=False).returncode == 0

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        for _ in range(50):
            if not self.open_on_host():
                return
            time.sleep(0.2)
        raise RuntimeError("the tunnel's listener is still open on the sandbox")


@pytest.fixture(scope="module")
def tunnel(sandbox, s3, s3_port):
    tun = Tunnel(sandbox, s3_port)
    tun.start()
    yield tun
    tun.stop()


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


def app_containers(sandbox):
    out = sandbox.exec("docker", "ps", "--filter", "name=clinical-bdd-creator", "--format", "{{.Names}}").stdout
    return sorted(out.split())


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


def test_backup_uploads_encrypted_archive_under_expected_key(role_run, run_playbook, sandbox, s3, tunnel):
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


def test_restore_round_trip_gives_byte_identical_files(run_playbook, sandbox, s3, tunnel):
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
    assert "TASK [backup : Reload nginx]" in run.stdout
    assert "TASK [backup : Restart the application containers]" in run.stdout
    assert started_at(sandbox, "cbdd-nginx") == nginx_before  # reloaded, not restarted
    assert health_ok(sandbox)
    assert sandbox.exec("sh", "-c", "ls %s | grep -c manifest.json" % SAFETY).stdout.strip() != "0"
    # A second restore finds nothing to do and touches nothing.
    again = run_playbook("playbooks/restore.yml", {"restore_backup": latest})
    assert again.rc == 0, again.stdout[-3000:]
    assert "nothing to restore" in " ".join(again.stdout.split())
    assert again.recap["sandbox"]["changed"] == 0


def test_corrupted_archive_is_refused_and_nothing_changes(run_playbook, sandbox, s3, tunnel):
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
        containers_before = [started_at(sandbox, c) for c in ["cbdd-nginx"] + app_containers(sandbox)]
        run = run_playbook("playbooks/restore.yml", {"restore_backup": name, "restore_source": "s3"})
        assert run.rc != 0
        assert "RESTORE REFUSED for %s" % name in run.stdout
        assert "SHA-256 mismatch for %s" % name in run.stdout
        assert "Nothing on the host was changed" in run.stdout
        assert run.recap["sandbox"]["changed"] == 0
        assert host_files(sandbox) == before
        assert sandbox.exec("sh", "-c", "ls %s 2>/dev/null || true" % SAFETY).stdout == safety_before
        assert [started_at(sandbox, c) for c in ["cbdd-nginx"] + app_containers(sandbox)] == containers_before
    finally:
        sandbox.exec("sed", "-i", "/^# after the backup$/d", "%s/config/production.ini" % ROOT)


def test_failed_restore_puts_the_safety_copy_back(run_playbook, sandbox, s3, tunnel):
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
    assert "RESTORE FAILED for %s at 'Test the nginx configuration'" % broken in run.stdout, run.stdout[-4000:]
    assert "was put back" in run.stdout
    assert host_files(sandbox) == before
    assert health_ok(sandbox)


def test_endpoint_down_fails_clearly_and_keeps_local_archive(run_playbook, sandbox, s3_port, tunnel):
    endpoint = "http://127.0.0.1:%d" % s3_port
    count = int(sandbox.exec("sh", "-c", "ls %s | grep -c 'tar.gz$' || true" % ARCHIVES).stdout.strip() or 0)
    tunnel.stop()
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
        tunnel.start()
    run_backup(run_playbook)  # the endpoint back: the next run succeeds, the unit recovers
    assert sandbox.exec("systemctl", "is-failed", "cbdd-backup.service", check=False).stdout.strip() != "failed"
