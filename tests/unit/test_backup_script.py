"""roles/backup/files/cbdd_backup.py run locally against a real S3 API on loopback.

The S3 endpoint is moto in server mode (ThreadedMotoServer on 127.0.0.1): a STAND-IN, because no
S3 server package can be installed here. boto3 talks HTTP to it exactly as to AWS.
"""
import datetime as dt
import hashlib
import importlib.util
import io
import json
import os
import socket
import subprocess
import sys
import tarfile

import boto3
import pytest
from moto.server import ThreadedMotoServer

from support_env import REPO

SCRIPT = REPO / "roles" / "backup" / "files" / "cbdd_backup.py"
spec = importlib.util.spec_from_file_location("cbdd_backup", SCRIPT)
cbdd_backup = importlib.util.module_from_spec(spec)
spec.loader.exec_module(cbdd_backup)

BUCKET = "cbdd-backups"
NOW = dt.datetime(2026, 11, 29, 12, 0, 0, tzinfo=dt.timezone.utc)
CREDS = {"AWS_ACCESS_KEY_ID": "moto-standin", "AWS_SECRET_ACCESS_KEY": "moto-standin",
         "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true"}


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def moto_endpoint():
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield "http://127.0.0.1:%d" % port
    server.stop()


@pytest.fixture(autouse=True)
def aws_env(monkeypatch):
    for key in ("AWS_PROFILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(key, raising=False)
    for key, value in CREDS.items():
        monkeypatch.setenv(key, value)


@pytest.fixture
def s3(moto_endpoint):
    client = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1")
    try:
        client.create_bucket(Bucket=BUCKET)
    except client.exceptions.BucketAlreadyOwnedByYou:
        pass
    for obj in client.list_objects_v2(Bucket=BUCKET).get("Contents", []):
        client.delete_object(Bucket=BUCKET, Key=obj["Key"])
    return client


def make_root(path):
    (path / "config").mkdir(parents=True)
    (path / "config" / "production.ini").write_text("[app]\nworkers = 5\n")
    (path / ".env").write_text("SECRET_KEY=unit-test-generated\n")
    (path / ".env").chmod(0o600)
    (path / "nginx" / "conf.d").mkdir(parents=True)
    (path / "nginx" / "ssl").mkdir()
    (path / "nginx" / "conf.d" / "cbdd.conf").write_text("server { listen 443 ssl; }\n")
    (path / "nginx" / "ssl" / "key.pem").write_bytes(os.urandom(64))
    (path / "nginx" / "ssl" / "key.pem").chmod(0o600)
    (path / "logs").mkdir()
    (path / "logs" / "app.log").write_text("not backed up\n")
    return path


def snapshot(root):
    """{relpath: (mode, sha256 or None)} of the backed-up items."""
    out = {}
    for item in ("config", ".env", "nginx"):
        top = root / item
        paths = [top] + (sorted(top.rglob("*")) if top.is_dir() else [])
        for path in paths:
            st = path.lstat()
            digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None
            out[str(path.relative_to(root))] = (oct(st.st_mode), digest)
    return out


@pytest.fixture
def cfg(tmp_path, moto_endpoint, s3):
    raw = {
        "root": str(make_root(tmp_path / "root")),
        "host": "testhost",
        "local_dir": str(tmp_path / "archives"),
        "keep_local": 3,
        "metrics_file": str(tmp_path / "metrics" / "backup.prom"),
        "state_file": str(tmp_path / "state" / "last-run.json"),
        "s3": {"bucket": BUCKET, "prefix": "clinical-bdd", "region": "us-east-1",
               "endpoint_url": moto_endpoint, "addressing_style": "path", "sse": "AES256",
               "storage_class": "STANDARD_IA", "attempts": 2, "retry_delay": 0.1,
               "multipart_threshold": 5 * 1024 * 1024, "multipart_chunksize": 5 * 1024 * 1024,
               "retention_days": 30},
    }
    path = tmp_path / "backup.json"
    path.write_text(json.dumps(raw))
    loaded = cbdd_backup.load_config(str(path))
    loaded["_path"] = str(path)
    return loaded


def metric(cfg, name):
    for line in open(cfg["metrics_file"], encoding="utf-8"):
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError("%s not in %s" % (name, cfg["metrics_file"]))


def test_backup_uploads_archive_with_sse_storage_class_and_expected_key(cfg, s3):
    state = cbdd_backup.cmd_run(cfg, NOW)
    key = "clinical-bdd/testhost/cbdd-config-20261129T120000Z-testhost.tar.gz"
    assert state["key"] == key
    head = s3.head_object(Bucket=BUCKET, Key=key)
    assert head["ServerSideEncryption"] == "AES256"
    assert head["StorageClass"] == "STANDARD_IA"
    body = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    manifest = json.loads(s3.get_object(
        Bucket=BUCKET, Key="clinical-bdd/testhost/cbdd-config-20261129T120000Z-testhost.manifest.json")["Body"].read())
    assert hashlib.sha256(body).hexdigest() == manifest["archive_sha256"] == head["Metadata"]["sha256"]
    paths = {m["path"] for m in manifest["members"]}
    assert {"config/production.ini", ".env", "nginx/ssl/key.pem", "nginx/conf.d/cbdd.conf"} <= paths
    assert not any(p.startswith("logs") for p in paths)
    key_pem = os.path.join(cfg["root"], "nginx/ssl/key.pem")
    entry = next(m for m in manifest["members"] if m["path"] == "nginx/ssl/key.pem")
    assert entry["sha256"] == hashlib.sha256(open(key_pem, "rb").read()).hexdigest()
    assert entry["mode"] == "0600"
    local = os.path.join(cfg["local_dir"], "cbdd-config-20261129T120000Z-testhost.tar.gz")
    assert os.stat(local).st_mode & 0o077 == 0, "archives hold secrets: owner-only"
    assert metric(cfg, "cbdd_backup_last_success_timestamp_seconds") == NOW.timestamp()
    assert metric(cfg, "cbdd_backup_last_run_success") == 1


def test_kms_encryption_with_key_id(cfg, s3, moto_endpoint):
    kms = boto3.client("kms", endpoint_url=moto_endpoint, region_name="us-east-1")
    key_id = kms.create_key(Description="cbdd unit test")["KeyMetadata"]["KeyId"]
    cfg["s3"].update(sse="aws:kms", kms_key_id=key_id)
    state = cbdd_backup.cmd_run(cfg, NOW)
    head = s3.head_object(Bucket=BUCKET, Key=state["key"])
    assert head["ServerSideEncryption"] == "aws:kms"
    assert key_id in head["SSEKMSKeyId"]


def test_large_archive_is_uploaded_in_parts(cfg, s3):
    with open(os.path.join(cfg["root"], "config", "big.bin"), "wb") as handle:
        handle.write(os.urandom(12 * 1024 * 1024))  # random: gzip cannot shrink it below the threshold
    state = cbdd_backup.cmd_run(cfg, NOW)
    etag = s3.head_object(Bucket=BUCKET, Key=state["key"])["ETag"].strip('"')
    assert etag.endswith("-3"), etag  # 12 MiB+ in 5 MiB parts: a multipart upload of 3 parts


def test_endpoint_down_fails_with_message_naming_endpoint_and_keeps_archive(cfg, tmp_path):
    cbdd_backup.cmd_run(cfg, NOW)  # a first success sets the metric
    down = "http://127.0.0.1:%d" % free_port()
    raw = json.loads(open(cfg["_path"]).read())
    raw["s3"]["endpoint_url"] = down
    path = tmp_path / "down.json"
    path.write_text(json.dumps(raw))
    proc = subprocess.run([sys.executable, str(SCRIPT), "--config", str(path), "run"],
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == cbdd_backup.EXIT_S3, proc.stderr
    assert down in proc.stderr
    assert "failed after 2 attempts" in proc.stderr
    assert "retrying in" in proc.stderr  # backoff between attempts
    archives = sorted(n for n in os.listdir(cfg["local_dir"]) if n.endswith(".tar.gz"))
    assert len(archives) == 2
    assert "local archive is kept: %s" % os.path.join(cfg["local_dir"], archives[-1]) in proc.stderr
    state = json.loads(open(cfg["state_file"]).read())
    assert state["result"] == "failed" and state["exit_code"] == 3
    assert metric(cfg, "cbdd_backup_last_run_success") == 0
    assert metric(cfg, "cbdd_backup_last_success_timestamp_seconds") == NOW.timestamp()  # kept


def test_restore_round_trip_is_byte_identical(cfg, s3, tmp_path):
    root = tmp_path / "root"
    before = snapshot(root)
    name = os.path.basename(cbdd_backup.cmd_run(cfg, NOW)["archive"])
    # Damage the live configuration, then lose the local archives (host rebuilt).
    (root / "config" / "production.ini").write_text("[app]\nworkers = 1\n")
    (root / "config" / "stray.ini").write_text("x")
    (root / "nginx" / "ssl" / "key.pem").unlink()
    (root / ".env").chmod(0o644)
    for entry in os.listdir(cfg["local_dir"]):
        os.unlink(os.path.join(cfg["local_dir"], entry))
    listing = cbdd_backup.cmd_list(cfg)
    assert listing["remote"] == [name] and listing["local"] == [] and listing["latest"] == name
    fetched = cbdd_backup.cmd_fetch(cfg, name, str(tmp_path / "staging"))
    assert fetched["source"].startswith("s3://%s/clinical-bdd/testhost/" % BUCKET)
    diff = cbdd_backup.cmd_diff(cfg, fetched["archive"], fetched["manifest"])
    assert diff["items"] == [".env", "config", "nginx"]
    assert set(diff["paths"]) == {".env", "config/production.ini", "config/stray.ini", "nginx/ssl/key.pem"}
    cbdd_backup.cmd_apply(cfg, fetched["archive"], fetched["manifest"])
    assert snapshot(root) == before
    assert cbdd_backup.cmd_diff(cfg, fetched["archive"], fetched["manifest"])["changed"] is False


def test_one_flipped_byte_is_refused_before_anything_changes(cfg, s3, tmp_path):
    root = tmp_path / "root"
    state = cbdd_backup.cmd_run(cfg, NOW)
    name = os.path.basename(state["archive"])
    body = bytearray(s3.get_object(Bucket=BUCKET, Key=state["key"])["Body"].read())
    body[len(body) // 2] ^= 0x01
    s3.put_object(Bucket=BUCKET, Key=state["key"], Body=bytes(body))
    (root / "config" / "production.ini").write_text("changed after the backup\n")
    before = snapshot(root)
    with pytest.raises(cbdd_backup.BackupError) as err:
        cbdd_backup.cmd_fetch(cfg, name, str(tmp_path / "staging"), source="s3")
    assert err.value.code == cbdd_backup.EXIT_INTEGRITY
    assert "SHA-256 mismatch for %s" % name in str(err.value)
    assert "refusing to restore" in str(err.value)
    assert snapshot(root) == before


def test_member_tampering_and_unsafe_paths_are_refused(cfg, tmp_path):
    archive, manifest_path, manifest = cbdd_backup.create_archive(cfg, str(tmp_path / "a"), NOW)
    # A rebuilt archive whose manifest was updated for the archive but not for a changed member.
    evil = tmp_path / "evil.tar.gz"
    with tarfile.open(evil, "w:gz") as tar:
        data = b"../../etc/passwd"
        info = tarfile.TarInfo("../escape")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    manifest.update(archive_sha256=cbdd_backup.sha256_file(str(evil)))
    manifest["members"].append({"path": "../escape", "type": "file", "sha256": hashlib.sha256(data).hexdigest()})
    forged = tmp_path / "evil.manifest.json"
    forged.write_text(json.dumps(manifest))
    with pytest.raises(cbdd_backup.BackupError, match="unsafe member '../escape'"):
        cbdd_backup.verify_archive(str(evil), str(forged))
    assert cbdd_backup.verify_archive(archive, manifest_path)["archive"] == os.path.basename(archive)


def test_retention_keeps_n_local_and_prunes_old_remote(cfg, s3):
    cfg["s3"]["keep_min"] = 0
    for hour in range(4):
        cbdd_backup.cmd_run(cfg, NOW.replace(hour=hour))
    assert len(cbdd_backup.local_backups(cfg)) == 3  # keep_local
    assert len(s3.list_objects_v2(Bucket=BUCKET)["Contents"]) == 8  # all recent: none pruned
    later = cbdd_backup.utcnow() + dt.timedelta(days=31)
    state = cbdd_backup.cmd_run(cfg, later)
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]}
    assert keys == {state["key"], state["key"][:-len(".tar.gz")] + ".manifest.json"}
    assert len(state["pruned_remote"]) == 8


def test_retention_never_deletes_the_newest_backups_however_old(cfg, s3):
    """A host whose backups stopped for months keeps its newest keep_min backups remotely."""
    cfg["s3"]["keep_min"] = 3
    for hour in range(5):
        cbdd_backup.cmd_run(cfg, NOW.replace(hour=hour))
    names = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"] if o["Key"].endswith(".tar.gz"))
    assert len(names) == 5
    much_later = cbdd_backup.utcnow() + dt.timedelta(days=400)
    state = cbdd_backup.cmd_run(cfg, much_later)
    left = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"] if o["Key"].endswith(".tar.gz"))
    # the new one plus the newest two of the old ones (3 in all); the three oldest are gone
    assert left == sorted(names[-2:] + [state["key"]]), left
    assert sorted(k for k in state["pruned_remote"] if k.endswith(".tar.gz")) == names[:3]
    manifests = {o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"] if o["Key"].endswith(".manifest.json")}
    assert manifests == {k[:-len(".tar.gz")] + ".manifest.json" for k in left}


def test_database_dump_hook_off_by_default_and_archived_when_enabled(cfg, s3):
    state = cbdd_backup.cmd_run(cfg, NOW)
    manifest = json.loads(open(state["archive"][:-len(".tar.gz")] + ".manifest.json").read())
    assert not any(m["path"].startswith("db/") for m in manifest["members"])
    # The hook runs any argv and archives its stdout; a real site sets pg_dump's argv. Here a
    # python one-liner stands in for pg_dump (no PostgreSQL server on this machine).
    cfg["pg_dump"] = {"enabled": True, "member": "db/clinical_bdd.sql",
                      "command": [sys.executable, "-c", "print('-- PostgreSQL database dump')"]}
    state = cbdd_backup.cmd_run(cfg, NOW.replace(hour=13))
    with tarfile.open(state["archive"]) as tar:
        assert tar.extractfile("db/clinical_bdd.sql").read() == b"-- PostgreSQL database dump\n"
    cfg["pg_dump"]["command"] = [sys.executable, "-c", "import sys; sys.exit('connection refused')"]
    with pytest.raises(cbdd_backup.BackupError, match="pg_dump hook .* failed with exit code 1"):
        cbdd_backup.cmd_run(cfg, NOW.replace(hour=14))


# The role validates the settings (argument_specs + preflight); the script checks only the shape it
# needs, so a hand-edited or truncated file fails before anything runs.
@pytest.mark.parametrize("change, problem", [
    ({"root": "relative/path"}, "root must be an absolute path"),
    ({"items": []}, "items must be a non-empty list"),
    ({"s3": {"bucket": ""}}, "s3.bucket must be set"),
    ({"keep_local": "7"}, "keep_local must be an integer"),
])
def test_check_config_names_the_bad_setting(tmp_path, change, problem):
    raw = cbdd_backup.merge({"s3": {"bucket": "ok-bucket"}}, change)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(raw))
    proc = subprocess.run([sys.executable, str(SCRIPT), "check-config", str(path)],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == cbdd_backup.EXIT_CONFIG
    assert problem in proc.stderr
