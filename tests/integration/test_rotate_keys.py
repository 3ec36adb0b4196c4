"""playbooks/rotate-keys.yml against the sandbox: real SSH logins with the old, new and bad keys.

Keys are generated at test time; the sandbox's original key is authorized again at the end (by the
playbook itself, connecting with the new key), so later tests find the sandbox as before.
"""
import subprocess
from pathlib import Path

import pytest



def keygen(path):
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", path.name, "-f", str(path)], check=True)
    return path


@pytest.fixture(scope="module")
def keys(tmp_path_factory, sandbox):
    d = tmp_path_factory.mktemp("rotate-keys")
    state = sandbox.state
    return {"old": state / "id_ed25519", "known_hosts": state / "known_hosts",
            "new": keygen(d / "new_key"), "other": keygen(d / "other_key")}


def login(sandbox, keys, key):
    """A real SSH login as deploy with exactly one key; returns (rc, stderr)."""
    proc = subprocess.run(
        ["ssh", "-F", "/dev/null", "-i", str(key), "-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none",
         "-o", "ControlPath=none", "-o", "BatchMode=yes", "-o", "UserKnownHostsFile=%s" % keys["known_hosts"],
         "-o", "StrictHostKeyChecking=yes", "-p", str(2222 + sandbox.offset), "deploy@127.0.0.1", "true"],
        capture_output=True, text=True, timeout=60)
    return proc.returncode, proc.stderr


def authorized(sandbox):
    return sandbox.exec("cat", "/home/deploy/.ssh/authorized_keys").stdout.strip().splitlines()


def pub(key):
    return Path(str(key) + ".pub").read_text().strip()


def test_bad_new_key_aborts_and_keeps_the_old_key(sandbox, keys, run_playbook):
    before = authorized(sandbox)
    assert login(sandbox, keys, keys["old"])[0] == 0
    # The public key does not belong to the private key: the proof login must fail.
    run = run_playbook("playbooks/rotate-keys.yml", {
        "rotate_keys_new_public_key_file": str(keys["new"]) + ".pub",
        "rotate_keys_new_private_key_file": str(keys["other"])})
    assert run.rc != 0
    assert "Key rotation aborted" in run.stdout
    assert run.recap["sandbox"]["failed"] == 1 and run.recap["sandbox"]["rescued"] == 1
    assert authorized(sandbox) == before
    assert login(sandbox, keys, keys["old"])[0] == 0
    rc, err = login(sandbox, keys, keys["new"])
    assert rc == 255 and "Permission denied" in err


def test_rotation_keeps_only_the_new_key_then_rotates_back(sandbox, keys, run_playbook):
    run = run_playbook("playbooks/rotate-keys.yml", {
        "rotate_keys_new_public_key_file": str(keys["new"]) + ".pub",
        "rotate_keys_new_private_key_file": str(keys["new"])})
    try:
        assert run.rc == 0, run.stdout + run.stderr
        assert authorized(sandbox) == [pub(keys["new"])]
        assert login(sandbox, keys, keys["new"])[0] == 0
        rc, err = login(sandbox, keys, keys["old"])
        assert rc == 255 and "Permission denied" in err
    finally:
        # Rotate back with the playbook, connecting with the new key (the old one is refused now).
        back = run_playbook("playbooks/rotate-keys.yml", {
            "rotate_keys_new_public_key_file": str(keys["old"]) + ".pub",
            "rotate_keys_new_private_key_file": str(keys["old"]),
            "ansible_ssh_private_key_file": str(keys["new"])},
            extra_args=["-e", "ansible_ssh_args='-o ControlPath=none'"])
    assert back.rc == 0, back.stdout + back.stderr
    assert authorized(sandbox) == [pub(keys["old"])]
    assert login(sandbox, keys, keys["old"])[0] == 0
    rc, err = login(sandbox, keys, keys["new"])
    assert rc == 255 and "Permission denied" in err
