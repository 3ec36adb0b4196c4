#!/usr/bin/python3
"""cbdd-backup: configuration backups of Clinical BDD Creator to S3, and the verified restore steps.

Installed by the `backup` Ansible role and run on the host by `cbdd-backup.service` (the daily timer,
`playbooks/backup.yml` and AWX all start that same service). `playbooks/restore.yml` calls the
other sub-commands. Needs only the Python standard library and boto3 (Debian `python3-boto3`).

  cbdd_backup.py --config FILE run                 archive + manifest, upload, retention, metric
  cbdd_backup.py --config FILE list                backups in S3 and on local disk (JSON)
  cbdd_backup.py --config FILE fetch NAME --dest D download/copy NAME and its manifest, verify both
  cbdd_backup.py --config FILE diff ARCHIVE        which items differ from the live files (JSON)
  cbdd_backup.py --config FILE snapshot --dest D   safety copy of the live items (archive+manifest)
  cbdd_backup.py --config FILE apply ARCHIVE       verify again, then put ARCHIVE's files in place
  cbdd_backup.py check-config FILE                 validate a configuration file (template validate)

Archive name: <name_prefix>-<YYYYmmddTHHMMSSZ>-<host>.tar.gz (UTC; sorts by time), S3 key
<prefix>/<host>/<name>; beside it <name without .tar.gz>.manifest.json holds the SHA-256 of the
archive and of every member. Exit codes: 0 ok, 2 configuration, 3 S3 failure, 4 integrity failure,
5 archive/restore failure.
"""
import argparse
import datetime as dt
import hashlib
import json
import os
import re
import shutil
import socket
import stat
import subprocess
import sys
import tarfile
import tempfile
import time

EXIT_CONFIG, EXIT_S3, EXIT_INTEGRITY, EXIT_ARCHIVE = 2, 3, 4, 5
TS_FORMAT = "%Y%m%dT%H%M%SZ"
MANIFEST_SUFFIX = ".manifest.json"
METRIC = "cbdd_backup_last_success_timestamp_seconds"

DEFAULTS = {
    "root": "/opt/clinical-bdd-creator",
    "items": ["config", ".env", "nginx"],
    "host": "",
    "name_prefix": "cbdd-config",
    "local_dir": "/var/lib/cbdd/backup/archives",
    "keep_local": 7,
    "metrics_file": "/var/lib/cbdd/metrics/backup.prom",
    "state_file": "/var/lib/cbdd/backup/last-run.json",
    # AWS SDK standard files (used when present; otherwise the default chain / instance role).
    "aws_credentials_file": "",
    "aws_config_file": "",
    "s3": {
        "bucket": "",
        "prefix": "clinical-bdd",
        "region": "us-east-1",
        "endpoint_url": "",
        "addressing_style": "auto",
        "sse": "AES256",
        "kms_key_id": "",
        "storage_class": "STANDARD",
        "multipart_threshold": 64 * 1024 * 1024,
        "multipart_chunksize": 16 * 1024 * 1024,
        "max_concurrency": 4,
        "attempts": 5,
        "retry_delay": 5.0,
        "retry_max_delay": 120.0,
        "connect_timeout": 10.0,
        "read_timeout": 60.0,
        "retention_days": 30,
        "keep_min": 7,
    },
    "pg_dump": {"enabled": False, "command": [], "member": "db/clinical_bdd.sql"},
}


class BackupError(Exception):
    """An error with a message meant for the operator and an exit code."""

    def __init__(self, message, code):
        super().__init__(message)
        self.code = code


def log(message):
    print("cbdd-backup: " + message, file=sys.stderr, flush=True)


def utcnow():
    return dt.datetime.now(dt.timezone.utc)


# ---------------------------------------------------------------------------------------- config
def merge(defaults, given):
    out = dict(defaults)
    for key, value in (given or {}).items():
        if isinstance(out.get(key), dict) and isinstance(value, dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def validate_config(cfg):
    """Return a list of problems (empty when usable).

    The backup role validates every setting before it writes this file (argument_specs and
    preflight: choices, ranges, formats); the script only checks that the file has the shape it
    needs to run, so that a hand-edited or truncated file fails clearly instead of half-way.
    """
    problems = []
    if not isinstance(cfg.get("root"), str) or not os.path.isabs(cfg["root"]):
        problems.append("root must be an absolute path (got %r)" % cfg.get("root"))
    if not isinstance(cfg.get("items"), list) or not cfg["items"]:
        problems.append("items must be a non-empty list (got %r)" % cfg.get("items"))
    if not isinstance(cfg.get("s3"), dict) or not cfg["s3"].get("bucket"):
        problems.append("s3.bucket must be set")
    for key in ("keep_local",):
        if not isinstance(cfg.get(key), int):
            problems.append("%s must be an integer (got %r)" % (key, cfg.get(key)))
    return problems


def load_config(path):
    try:
        with open(path, encoding="utf-8") as handle:
            cfg = merge(DEFAULTS, json.load(handle))
    except (OSError, ValueError) as exc:
        raise BackupError("cannot read configuration %s: %s" % (path, exc), EXIT_CONFIG)
    problems = validate_config(cfg)
    if problems:
        raise BackupError("invalid configuration %s: %s" % (path, "; ".join(problems)), EXIT_CONFIG)
    if not cfg["host"]:
        cfg["host"] = socket.gethostname().split(".")[0]
    return cfg


# ------------------------------------------------------------------------------ archive + manifest
def sha256_file(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1024 * 1024), b""):
            digest.update(block)
    return digest.hexdigest()


class HashingReader:
    """File wrapper that hashes what tarfile reads from it."""

    def __init__(self, handle):
        self.handle, self.digest = handle, hashlib.sha256()

    def read(self, size=-1):
        data = self.handle.read(size)
        self.digest.update(data)
        return data


def archive_name(cfg, when):
    return "%s-%s-%s.tar.gz" % (cfg["name_prefix"], when.strftime(TS_FORMAT), cfg["host"])


def manifest_name(name):
    return name[:-len(".tar.gz")] + MANIFEST_SUFFIX


def name_pattern(cfg):
    return re.compile(r"^%s-(\d{8}T\d{6}Z)-(.+)\.tar\.gz$" % re.escape(cfg["name_prefix"]))


def _walk(root, item):
    """Yield relative paths under root/item (the item itself first), sorted, not following links."""
    top = os.path.join(root, item)
    if not os.path.lexists(top):
        return
    yield item
    if os.path.isdir(top) and not os.path.islink(top):
        for dirpath, dirnames, filenames in os.walk(top):
            dirnames.sort()
            rel = os.path.relpath(dirpath, root)
            for name in sorted(dirnames) + sorted(filenames):
                yield os.path.join(rel, name)


def _member_entry(info, digest=None):
    entry = {"path": info.name, "type": "dir" if info.isdir() else "file", "mode": "%04o" % info.mode,
             "uid": info.uid, "gid": info.gid}
    if info.isfile():
        entry.update(size=info.size, sha256=digest)
    return entry


def create_archive(cfg, dest_dir, when, extra_files=None, name=None):
    """Write <dest_dir>/<name> and its manifest; return (archive_path, manifest_path, manifest)."""
    root = cfg["root"]
    name = name or archive_name(cfg, when)
    os.makedirs(dest_dir, mode=0o700, exist_ok=True)
    final = os.path.join(dest_dir, name)
    part = final + ".part"
    members, items = [], []
    old_umask = os.umask(0o077)
    try:
        with tarfile.open(part, "w:gz", format=tarfile.PAX_FORMAT) as tar:
            for item in cfg["items"]:
                if not os.path.lexists(os.path.join(root, item)):
                    log("note: %s not present under %s, not archived" % (item, root))
                    continue
                items.append(item)
                for rel in _walk(root, item):
                    full = os.path.join(root, rel)
                    st = os.lstat(full)
                    if not (stat.S_ISDIR(st.st_mode) or stat.S_ISREG(st.st_mode)):
                        log("note: skipping %s (neither a file nor a folder)" % full)
                        continue
                    info = tar.gettarinfo(full, arcname=rel)
                    info.mode = stat.S_IMODE(info.mode)
                    info.uname = info.gname = ""
                    if info.isfile():
                        with open(full, "rb") as handle:
                            reader = HashingReader(handle)
                            tar.addfile(info, reader)
                        members.append(_member_entry(info, reader.digest.hexdigest()))
                    else:
                        tar.addfile(info)
                        members.append(_member_entry(info))
            for member, path in (extra_files or {}).items():
                info = tar.gettarinfo(path, arcname=member)
                info.uid = info.gid = 0
                info.uname = info.gname = ""
                info.mode = 0o600
                with open(path, "rb") as handle:
                    reader = HashingReader(handle)
                    tar.addfile(info, reader)
                members.append(_member_entry(info, reader.digest.hexdigest()))
                items.append(member)
        manifest = {
            "format": 1,
            "archive": name,
            "archive_sha256": sha256_file(part),
            "archive_size": os.path.getsize(part),
            "host": cfg["host"],
            "created": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "root": root,
            "items": items,
            "members": members,
        }
        manifest_path = os.path.join(dest_dir, manifest_name(name))
        with open(manifest_path + ".part", "w", encoding="utf-8") as handle:
            json.dump(manifest, handle, indent=1, sort_keys=True)
            handle.write("\n")
        os.replace(part, final)
        os.replace(manifest_path + ".part", manifest_path)
    finally:
        os.umask(old_umask)
        for leftover in (part,):
            if os.path.exists(leftover):
                os.unlink(leftover)
    return final, manifest_path, manifest


def _safe_member_name(name):
    parts = name.split("/")
    return name and not name.startswith("/") and ".." not in parts and "" not in parts


def verify_archive(archive, manifest_path):
    """Check the archive's SHA-256 and every member against the manifest; return the manifest.

    Nothing is extracted: members are hashed while streaming through the archive."""
    try:
        with open(manifest_path, encoding="utf-8") as handle:
            manifest = json.load(handle)
        expected_members = {m["path"]: m for m in manifest["members"]}
        expected_archive = manifest["archive_sha256"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise BackupError("INTEGRITY: manifest %s is unreadable: %s" % (manifest_path, exc), EXIT_INTEGRITY)
    actual = sha256_file(archive)
    if actual != expected_archive:
        raise BackupError("INTEGRITY: SHA-256 mismatch for %s: manifest says %s, archive has %s; the archive is "
                          "corrupted or was altered: refusing to restore it (nothing on the host was changed)"
                          % (os.path.basename(archive), expected_archive, actual), EXIT_INTEGRITY)
    seen = set()
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for info in tar:
                if not _safe_member_name(info.name) or not (info.isfile() or info.isdir()):
                    raise BackupError("INTEGRITY: unsafe member %r (type %r) in %s: refusing it"
                                      % (info.name, info.type, archive), EXIT_INTEGRITY)
                entry = expected_members.get(info.name)
                if entry is None:
                    raise BackupError("INTEGRITY: member %s of %s is not in the manifest" % (info.name, archive),
                                      EXIT_INTEGRITY)
                if info.isfile():
                    digest = hashlib.sha256()
                    handle = tar.extractfile(info)
                    for block in iter(lambda: handle.read(1024 * 1024), b""):
                        digest.update(block)
                    if digest.hexdigest() != entry.get("sha256"):
                        raise BackupError("INTEGRITY: SHA-256 mismatch for member %s of %s" % (info.name, archive),
                                          EXIT_INTEGRITY)
                seen.add(info.name)
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise BackupError("INTEGRITY: %s is not a readable tar.gz archive: %s" % (archive, exc), EXIT_INTEGRITY)
    missing = sorted(set(expected_members) - seen)
    if missing:
        raise BackupError("INTEGRITY: members listed in the manifest are missing from %s: %s"
                          % (archive, ", ".join(missing)), EXIT_INTEGRITY)
    return manifest


# ------------------------------------------------------------------------------------------- S3
def s3_client(cfg):
    import boto3  # noqa: E402 - only the S3 commands need boto3
    from botocore.config import Config
    for env, path in (("AWS_SHARED_CREDENTIALS_FILE", cfg["aws_credentials_file"]),
                      ("AWS_CONFIG_FILE", cfg["aws_config_file"])):
        if path and os.path.exists(path):
            os.environ.setdefault(env, path)
    s3 = cfg["s3"]
    config = Config(region_name=s3["region"] or None,
                    connect_timeout=float(s3["connect_timeout"]), read_timeout=float(s3["read_timeout"]),
                    retries={"max_attempts": 2, "mode": "standard"},
                    s3={"addressing_style": s3["addressing_style"]})
    return boto3.session.Session().client("s3", endpoint_url=s3["endpoint_url"] or None, config=config)


def s3_key(cfg, name, host=None):
    prefix = cfg["s3"]["prefix"].strip("/")
    return "/".join(p for p in (prefix, host or cfg["host"], name) if p)


def endpoint_of(client):
    return client.meta.endpoint_url


def with_retries(cfg, what, client, func):
    """Run func() with exponential backoff; raise BackupError naming the endpoint when all fail."""
    s3 = cfg["s3"]
    attempts, delay = int(s3["attempts"]), float(s3["retry_delay"])
    last = None
    for attempt in range(1, attempts + 1):
        try:
            return func()
        except Exception as exc:  # botocore/boto3 raise many classes; all are retried
            last = exc
            if attempt == attempts:
                break
            pause = min(delay * (2 ** (attempt - 1)), float(s3["retry_max_delay"]))
            log("%s via %s failed (attempt %d/%d): %s; retrying in %.1fs"
                % (what, endpoint_of(client), attempt, attempts, exc, pause))
            time.sleep(pause)
    raise BackupError("S3: %s via endpoint %s failed after %d attempts: %s: %s"
                      % (what, endpoint_of(client), attempts, type(last).__name__, last), EXIT_S3)


def upload(cfg, client, archive, manifest_path, manifest):
    from boto3.s3.transfer import TransferConfig
    s3 = cfg["s3"]
    extra = {"StorageClass": s3["storage_class"], "Metadata": {"sha256": manifest["archive_sha256"]}}
    if s3["sse"]:
        extra["ServerSideEncryption"] = s3["sse"]
    if s3["sse"] == "aws:kms" and s3["kms_key_id"]:
        extra["SSEKMSKeyId"] = s3["kms_key_id"]
    transfer = TransferConfig(multipart_threshold=int(s3["multipart_threshold"]),
                              multipart_chunksize=int(s3["multipart_chunksize"]),
                              max_concurrency=int(s3["max_concurrency"]))
    name = os.path.basename(archive)
    key, mkey = s3_key(cfg, name), s3_key(cfg, os.path.basename(manifest_path))
    with_retries(cfg, "upload of s3://%s/%s" % (s3["bucket"], key), client,
                 lambda: client.upload_file(archive, s3["bucket"], key, ExtraArgs=extra, Config=transfer))
    # The manifest goes last: its presence marks a complete backup.
    mextra = dict(extra, ContentType="application/json")
    with_retries(cfg, "upload of s3://%s/%s" % (s3["bucket"], mkey), client,
                 lambda: client.upload_file(manifest_path, s3["bucket"], mkey, ExtraArgs=mextra, Config=transfer))
    return key


def list_remote(cfg, client, host=None):
    s3 = cfg["s3"]
    prefix = s3_key(cfg, "", host) + "/" if s3_key(cfg, "", host) else ""
    objects = {}

    def fetch():
        objects.clear()
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=s3["bucket"], Prefix=prefix):
            for obj in page.get("Contents", []):
                objects[obj["Key"]] = obj
    with_retries(cfg, "listing of s3://%s/%s" % (s3["bucket"], prefix), client, fetch)
    return prefix, objects


def prune_remote(cfg, client, now, keep_keys):
    """Delete this host's remote backups older than retention_days, but never the newest keep_min
    backups, however old they are (a host whose backups stopped for a while keeps its last ones)."""
    days = int(cfg["s3"]["retention_days"])
    if days <= 0:
        return []
    pattern = name_pattern(cfg)
    _, objects = list_remote(cfg, client)
    cutoff = now - dt.timedelta(days=days)

    def archive_of(key):
        base = key.rsplit("/", 1)[-1]
        return base if base.endswith(".tar.gz") else base[:-len(MANIFEST_SUFFIX)] + ".tar.gz"
    archives = sorted({archive_of(key) for key in objects if pattern.match(archive_of(key))})
    newest = set(archives[-int(cfg["s3"]["keep_min"]):]) if int(cfg["s3"]["keep_min"]) > 0 else set()
    doomed = []
    for key, obj in sorted(objects.items()):
        archive = archive_of(key)
        if not pattern.match(archive) or key in keep_keys or archive in newest:
            continue
        if obj["LastModified"] < cutoff:
            doomed.append(key)
    for key in doomed:
        with_retries(cfg, "deletion of s3://%s/%s" % (cfg["s3"]["bucket"], key), client,
                     lambda key=key: client.delete_object(Bucket=cfg["s3"]["bucket"], Key=key))
        log("pruned s3://%s/%s (older than %d days)" % (cfg["s3"]["bucket"], key, days))
    return doomed


def local_backups(cfg):
    pattern = name_pattern(cfg)
    try:
        names = os.listdir(cfg["local_dir"])
    except FileNotFoundError:
        return []
    return sorted(n for n in names if pattern.match(n) and os.path.exists(
        os.path.join(cfg["local_dir"], manifest_name(n))))


def prune_local(cfg):
    names = local_backups(cfg)
    doomed = names[:-cfg["keep_local"]] if len(names) > cfg["keep_local"] else []
    for name in doomed:
        for path in (name, manifest_name(name)):
            try:
                os.unlink(os.path.join(cfg["local_dir"], path))
            except FileNotFoundError:
                pass
        log("pruned local %s (keeping the newest %d)" % (name, cfg["keep_local"]))
    return doomed


# -------------------------------------------------------------------------------------- metrics
def write_metrics(cfg, now, success, size, duration):
    path = cfg["metrics_file"]
    if not path:
        return
    last_success = 0
    try:
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                if line.startswith(METRIC + " "):
                    last_success = int(float(line.split()[1]))
    except (OSError, ValueError, IndexError):
        pass
    if success:
        last_success = int(now.timestamp())
    lines = [
        "# HELP %s Unix time of the last configuration backup uploaded to S3." % METRIC,
        "# TYPE %s gauge" % METRIC,
        "%s %d" % (METRIC, last_success),
        "# HELP cbdd_backup_last_run_timestamp_seconds Unix time the last backup run finished.",
        "# TYPE cbdd_backup_last_run_timestamp_seconds gauge",
        "cbdd_backup_last_run_timestamp_seconds %d" % int(time.time()),
        "# HELP cbdd_backup_last_run_success 1 if the last backup run succeeded, else 0.",
        "# TYPE cbdd_backup_last_run_success gauge",
        "cbdd_backup_last_run_success %d" % (1 if success else 0),
        "# HELP cbdd_backup_last_archive_bytes Size of the last archive written.",
        "# TYPE cbdd_backup_last_archive_bytes gauge",
        "cbdd_backup_last_archive_bytes %d" % size,
        "# HELP cbdd_backup_last_duration_seconds Duration of the last backup run.",
        "# TYPE cbdd_backup_last_duration_seconds gauge",
        "cbdd_backup_last_duration_seconds %.3f" % duration,
    ]
    os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".backup.prom.")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")
    os.chmod(tmp, 0o644)  # node_exporter's textfile collector reads it as another user
    os.replace(tmp, path)


def write_state(cfg, state):
    path = cfg["state_file"]
    if not path:
        return
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    with open(path + ".part", "w", encoding="utf-8") as handle:
        json.dump(state, handle, indent=1, sort_keys=True)
    os.replace(path + ".part", path)


# ------------------------------------------------------------------------------------- commands
def pg_dump(cfg, workdir):
    pg = cfg["pg_dump"]
    if not pg["enabled"]:
        return {}
    out = os.path.join(workdir, "pg_dump.sql")
    with open(out, "wb") as handle:
        proc = subprocess.run(pg["command"], stdout=handle, stderr=subprocess.PIPE, check=False)
    if proc.returncode != 0:
        raise BackupError("pg_dump hook %r failed with exit code %d: %s"
                          % (pg["command"], proc.returncode, proc.stderr.decode(errors="replace").strip()),
                          EXIT_ARCHIVE)
    return {pg["member"]: out}


def cmd_run(cfg, now=None):
    started = time.monotonic()
    now = now or utcnow()
    state = {"started": now.strftime("%Y-%m-%dT%H:%M:%SZ"), "host": cfg["host"]}
    size, archive = 0, None
    try:
        with tempfile.TemporaryDirectory(prefix="cbdd-backup-") as work:
            archive, manifest_path, manifest = create_archive(cfg, cfg["local_dir"], now, pg_dump(cfg, work))
        size = manifest["archive_size"]
        state.update(archive=archive, archive_sha256=manifest["archive_sha256"], members=len(manifest["members"]))
        log("archived %d members of %s into %s (%d bytes, sha256 %s)"
            % (len(manifest["members"]), cfg["root"], archive, size, manifest["archive_sha256"]))
        client = s3_client(cfg)
        key = upload(cfg, client, archive, manifest_path, manifest)
        state.update(bucket=cfg["s3"]["bucket"], key=key, endpoint=endpoint_of(client))
        log("uploaded s3://%s/%s via %s (sse %s, storage class %s)"
            % (cfg["s3"]["bucket"], key, endpoint_of(client), cfg["s3"]["sse"] or "none", cfg["s3"]["storage_class"]))
        state["pruned_remote"] = prune_remote(cfg, client, now, {key, s3_key(cfg, os.path.basename(manifest_path))})
        state["pruned_local"] = prune_local(cfg)
    except BackupError as exc:
        if archive and os.path.exists(archive):
            exc.args = ("%s. The local archive is kept: %s" % (exc, archive),)
        state.update(result="failed", message=str(exc), exit_code=exc.code)
        write_state(cfg, state)
        write_metrics(cfg, now, False, size, time.monotonic() - started)
        raise
    state.update(result="success", message="backup %s uploaded" % os.path.basename(archive), exit_code=0)
    write_state(cfg, state)
    write_metrics(cfg, now, True, size, time.monotonic() - started)
    return state


def cmd_list(cfg, host=None):
    host = host or cfg["host"]
    pattern = name_pattern(cfg)
    result = {"host": host, "local": local_backups(cfg) if host == cfg["host"] else [], "remote": [],
              "remote_error": None}
    try:
        client = s3_client(cfg)
        _, objects = list_remote(cfg, client, host)
        names = {k.rsplit("/", 1)[-1] for k in objects}
        result["remote"] = sorted(n for n in names if pattern.match(n) and manifest_name(n) in names)
    except BackupError as exc:
        result["remote_error"] = str(exc)
    result["all"] = sorted(set(result["local"]) | set(result["remote"]))
    result["latest"] = result["all"][-1] if result["all"] else None
    return result


def cmd_fetch(cfg, name, dest, source="auto", host=None):
    if not name_pattern(cfg).match(name):
        raise BackupError("%r is not a backup name (%s-YYYYmmddTHHMMSSZ-HOST.tar.gz)" % (name, cfg["name_prefix"]),
                          EXIT_CONFIG)
    host = host or cfg["host"]
    os.makedirs(dest, mode=0o700, exist_ok=True)
    archive, manifest = os.path.join(dest, name), os.path.join(dest, manifest_name(name))
    local = os.path.join(cfg["local_dir"], name)
    used = None
    if source in ("auto", "s3"):
        client = s3_client(cfg)
        bucket, key, mkey = cfg["s3"]["bucket"], s3_key(cfg, name, host), s3_key(cfg, manifest_name(name), host)
        try:
            with_retries(cfg, "download of s3://%s/%s" % (bucket, mkey), client,
                         lambda: client.download_file(bucket, mkey, manifest))
            with_retries(cfg, "download of s3://%s/%s" % (bucket, key), client,
                         lambda: client.download_file(bucket, key, archive))
            used = "s3://%s/%s" % (bucket, key)
        except BackupError:
            if source == "s3" or not os.path.exists(local):
                raise
            log("S3 unavailable; using the local copy %s" % local)
    if used is None:
        if not os.path.exists(local):
            raise BackupError("no local copy %s" % local, EXIT_ARCHIVE)
        shutil.copy2(local, archive)
        shutil.copy2(os.path.join(cfg["local_dir"], manifest_name(name)), manifest)
        used = local
    data = verify_archive(archive, manifest)
    return {"name": name, "source": used, "archive": archive, "manifest": manifest,
            "archive_sha256": data["archive_sha256"], "members": len(data["members"]), "items": data["items"]}


def _item_of(path):
    return path.split("/", 1)[0]


def _live_state(cfg, items):
    """{relpath: entry} of the live files and folders for the given items."""
    live = {}
    for item in items:
        for rel in _walk(cfg["root"], item):
            full = os.path.join(cfg["root"], rel)
            st = os.lstat(full)
            entry = {"type": "dir" if stat.S_ISDIR(st.st_mode) else "file", "mode": "%04o" % stat.S_IMODE(st.st_mode),
                     "uid": st.st_uid, "gid": st.st_gid}
            if stat.S_ISREG(st.st_mode):
                entry["sha256"] = sha256_file(full)
            elif not stat.S_ISDIR(st.st_mode):
                entry["type"] = "other"
            live[rel] = entry
    return live


def cmd_diff(cfg, archive, manifest_path):
    manifest = verify_archive(archive, manifest_path)
    items = [i for i in manifest["items"] if i in cfg["items"]]
    wanted = {m["path"]: m for m in manifest["members"] if _item_of(m["path"]) in items}
    live = _live_state(cfg, items)
    differing = []
    for path in sorted(set(wanted) | set(live)):
        want, have = wanted.get(path), live.get(path)
        keys = ("type", "mode", "uid", "gid", "sha256")
        if want is None or have is None or any(want.get(k) != have.get(k) for k in keys):
            differing.append(path)
    changed_items = sorted({_item_of(p) for p in differing})
    return {"changed": bool(differing), "paths": differing, "items": changed_items}


def cmd_apply(cfg, archive, manifest_path):
    """Verify again, then write the archive's files in place (folders are kept: bind mounts survive)."""
    manifest = verify_archive(archive, manifest_path)
    items = [i for i in manifest["items"] if i in cfg["items"]]
    root = cfg["root"]
    written = []
    with tarfile.open(archive, "r:gz") as tar:
        infos = [i for i in tar.getmembers() if _item_of(i.name) in items]
        wanted = {i.name for i in infos}
        for info in infos:  # folders come before their content in the archive
            full = os.path.join(root, info.name)
            if info.isdir():
                if os.path.lexists(full) and not os.path.isdir(full):
                    os.unlink(full)
                os.makedirs(full, exist_ok=True)
            else:
                if os.path.isdir(full) and not os.path.islink(full):
                    shutil.rmtree(full)
                fd, tmp = tempfile.mkstemp(dir=os.path.dirname(full), prefix=".cbdd-restore.")
                with os.fdopen(fd, "wb") as out:
                    shutil.copyfileobj(tar.extractfile(info), out)
                os.chown(tmp, info.uid, info.gid)
                os.chmod(tmp, info.mode)
                os.utime(tmp, (info.mtime, info.mtime))
                os.replace(tmp, full)
                written.append(info.name)
            os.chown(full, info.uid, info.gid)
            os.chmod(full, info.mode)
        # Files the backup did not have are removed (they are in the safety copy), deepest first.
        removed = []
        for rel in sorted(_live_state(cfg, items), key=lambda p: p.count("/"), reverse=True):
            if rel not in wanted:
                full = os.path.join(root, rel)
                if os.path.isdir(full) and not os.path.islink(full):
                    shutil.rmtree(full)
                else:
                    os.unlink(full)
                removed.append(rel)
        for info in infos:
            if info.isdir():
                os.utime(os.path.join(root, info.name), (info.mtime, info.mtime))
    return {"written": written, "removed": removed, "items": items}


def cmd_snapshot(cfg, dest):
    now = utcnow()
    name = "%s-safety-%s-%s.tar.gz" % (cfg["name_prefix"], now.strftime(TS_FORMAT), cfg["host"])
    archive, manifest_path, manifest = create_archive(cfg, dest, now, name=name)
    safety = sorted(n for n in os.listdir(dest) if "-safety-" in n and n.endswith(".tar.gz"))
    for old in safety[:-cfg["keep_local"]]:  # safety copies follow the local retention too
        for path in (old, manifest_name(old)):
            if os.path.exists(os.path.join(dest, path)):
                os.unlink(os.path.join(dest, path))
    return {"archive": archive, "manifest": manifest_path, "archive_sha256": manifest["archive_sha256"]}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", default="/etc/cbdd-backup/backup.json")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("run")
    p = sub.add_parser("list")
    p.add_argument("--host")
    p = sub.add_parser("fetch")
    p.add_argument("name")
    p.add_argument("--dest", required=True)
    p.add_argument("--source", choices=["auto", "s3", "local"], default="auto")
    p.add_argument("--host")
    for cmd in ("diff", "apply"):
        p = sub.add_parser(cmd)
        p.add_argument("archive")
        p.add_argument("--manifest")
    p = sub.add_parser("snapshot")
    p.add_argument("--dest", required=True)
    p = sub.add_parser("check-config")
    p.add_argument("file")
    args = parser.parse_args(argv)
    try:
        if args.command == "check-config":
            load_config(args.file)
            log("configuration %s is valid" % args.file)
            return 0
        cfg = load_config(args.config)
        if args.command == "run":
            cmd_run(cfg)
            return 0
        if args.command == "list":
            result = cmd_list(cfg, args.host)
        elif args.command == "fetch":
            result = cmd_fetch(cfg, args.name, args.dest, args.source, args.host)
        elif args.command == "snapshot":
            result = cmd_snapshot(cfg, args.dest)
        else:
            manifest = args.manifest or args.archive[:-len(".tar.gz")] + MANIFEST_SUFFIX
            result = (cmd_diff if args.command == "diff" else cmd_apply)(cfg, args.archive, manifest)
        print(json.dumps(result, sort_keys=True))
        return 0
    except BackupError as exc:
        print("cbdd-backup: ERROR: %s" % exc, file=sys.stderr, flush=True)
        return exc.code
    except (OSError, tarfile.TarError) as exc:
        print("cbdd-backup: ERROR: %s failed: %s" % (args.command, exc), file=sys.stderr, flush=True)
        return EXIT_ARCHIVE


if __name__ == "__main__":
    sys.exit(main())
