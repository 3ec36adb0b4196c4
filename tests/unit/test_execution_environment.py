"""execution-environment.yml: `ansible-builder create` (what a build runs first) succeeds and
generates the expected build context; pins match the controller toolchain; our Python pins satisfy
the Python requirements our collections declare (ansible-builder's own introspect script).
A full image build needs a registry for the base image and is not possible here."""
import subprocess
import sys
from pathlib import Path

import ansible_builder
import ansible_collections
import pytest
import yaml
from packaging.requirements import Requirement

REPO = Path(__file__).resolve().parents[2]
EE = REPO / "execution-environment.yml"
BUILDER = str(Path(sys.executable).parent / "ansible-builder")


def builder_create(definition, context):
    return subprocess.run([BUILDER, "create", "-f", str(definition), "-c", str(context),
                           "--output-filename", "Containerfile"],
                          cwd=REPO, capture_output=True, text=True)


def pins(path):
    out = {}
    for line in Path(path).read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            req = Requirement(line)
            out[req.name.lower()] = req
    return out


@pytest.fixture(scope="module")
def context(tmp_path_factory):
    ctx = tmp_path_factory.mktemp("ee-context")
    proc = builder_create(EE, ctx)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Complete!" in proc.stdout
    return ctx


def test_create_generates_the_build_context(context):
    for rel in ("Containerfile", "_build/requirements.yml", "_build/requirements.txt", "_build/bindep.txt",
                "_build/scripts/assemble", "_build/scripts/introspect.py"):
        assert (context / rel).is_file(), rel
    assert (context / "_build/requirements.yml").read_text() == (REPO / "collections/requirements.yml").read_text()
    assert (context / "_build/requirements.txt").read_text() == (REPO / "awx/ee-requirements.txt").read_text()
    assert (context / "_build/bindep.txt").read_text() == (REPO / "bindep.txt").read_text()


def test_containerfile_installs_the_pinned_toolchain(context):
    text = (context / "Containerfile").read_text()
    assert 'ARG PYCMD="/usr/bin/python3.12"' in text
    assert 'ARG ANSIBLE_INSTALL_REFS="ansible-core==2.21.5 ansible-runner==2.4.3"' in text
    assert "ansible-galaxy collection install" in text and "-r requirements.yml" in text
    assert 'ARG EE_BASE_IMAGE="registry.access.redhat.com/ubi9/' in text


def test_pins_match_the_controller_toolchain():
    ee = yaml.safe_load(EE.read_text())
    controller = pins(REPO / "requirements.txt")
    core = Requirement(ee["dependencies"]["ansible_core"]["package_pip"])
    runner = Requirement(ee["dependencies"]["ansible_runner"]["package_pip"])
    assert str(core.specifier) == str(controller["ansible-core"].specifier) == "==2.21.5"
    assert str(runner.specifier) == str(controller["ansible-runner"].specifier)
    python = ee["dependencies"]["python_interpreter"]["python_path"]
    major, minor = (int(x) for x in python.rsplit("python", 1)[1].split("."))
    assert (major, minor) >= (3, 12)
    for name, req in pins(REPO / "awx/ee-requirements.txt").items():
        if name in controller:
            assert req.specifier == controller[name].specifier, name


def test_our_pins_satisfy_what_the_collections_require(tmp_path):
    """Run ansible-builder's introspect over exactly our pinned collections (as installed in the
    venv) and check every version constraint they declare holds for our pinned packages."""
    installed = Path(ansible_collections.__path__[0])
    wanted = yaml.safe_load((REPO / "collections/requirements.yml").read_text())["collections"]
    linked = 0
    for coll in wanted:
        namespace, name = coll["name"].split(".")
        if (installed / namespace / name).is_dir():
            (tmp_path / "ansible_collections" / namespace).mkdir(parents=True, exist_ok=True)
            (tmp_path / "ansible_collections" / namespace / name).symlink_to(installed / namespace / name)
            linked += 1
    assert linked == len(wanted)
    introspect = Path(ansible_builder.__file__).parent / "_target_scripts" / "introspect.py"
    proc = subprocess.run([sys.executable, str(introspect), "introspect", str(tmp_path),
                           "--user-pip", str(REPO / "awx/ee-requirements.txt"),
                           "--user-bindep", str(REPO / "bindep.txt")],
                          capture_output=True, text=True, check=True)
    data = yaml.safe_load(proc.stdout)
    ours = pins(REPO / "awx/ee-requirements.txt")
    checked = 0
    for line in data["python"]:
        req = Requirement(line.split("#")[0].strip())
        if req.name.lower() in ours and req.specifier:
            pinned = next(iter(ours[req.name.lower()].specifier)).version
            assert req.specifier.contains(pinned), (line, pinned)
            checked += 1
    assert checked >= 1  # amazon.aws declares boto3/botocore minimums
    assert any("openssh-clients" in line for line in data["system"])


def test_create_rejects_an_invalid_definition(tmp_path):
    broken = yaml.safe_load(EE.read_text())
    broken["dependencies"]["galaxy"] = "collections/no-such-requirements.yml"
    path = tmp_path / "execution-environment.yml"
    # relative paths resolve against the definition's folder: point them back at the repository
    for key in ("python", "system"):
        broken["dependencies"][key] = str(REPO / broken["dependencies"][key])
    broken["dependencies"]["galaxy"] = str(REPO / "collections/no-such-requirements.yml")
    path.write_text(yaml.safe_dump(broken))
    proc = builder_create(path, tmp_path / "ctx")
    assert proc.returncode != 0
    assert "no-such-requirements.yml" in proc.stdout + proc.stderr
