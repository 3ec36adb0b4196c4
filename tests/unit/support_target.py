"""Python packages a module needs on the managed host, taken from the interpreter that runs it.

module_runner.py starts the target interpreter with ``-S -E``: standard library and ansible
only. cbdd_tls_check also needs python3-cryptography on the host (Debian 12: 38.0.4, installed
by the nginx_ssl role), so for the modules in NEEDS_CRYPTOGRAPHY the runner adds a directory
holding links to exactly the packages that interpreter's own ``import cryptography`` loads
from its site directories (cryptography, _cffi_backend, ...): the host's installed library
and nothing else of its site-packages. No copy from the controller's venv is ever used for
/usr/bin/python3: the tests exercise the cryptography version the target interpreter has.

When the interpreter has no cryptography, the module tests that need it fail (never skip)
with the install instruction; CBDD_TARGET_PYTHON selects another interpreter.
"""

import json
import subprocess
from pathlib import Path

NEEDS_CRYPTOGRAPHY = frozenset({'cbdd_tls_check'})

# Run by the target interpreter (normal start, site-packages on): import what cbdd_tls imports,
# exercise the OpenSSL backend (cryptography 38 loads _cffi_backend lazily), then report the
# top-level packages that came from site directories, beyond what was loaded at start-up.
PROBE = r'''
import json, os, site, sys
before = set(sys.modules)
try:
    import cryptography
    from cryptography import x509
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
except ImportError as error:
    print(json.dumps({"error": str(error), "python": sys.version.split()[0]}))
    raise SystemExit(0)
roots = [os.path.realpath(p) for p in site.getsitepackages() + [site.getusersitepackages()]]
found = {}
for name in set(sys.modules) - before:
    path = getattr(sys.modules[name], "__file__", None)
    if not path:
        continue
    path = os.path.realpath(path)
    for root in roots:
        if path.startswith(root + os.sep):
            top = os.path.relpath(path, root).split(os.sep)[0]
            found[top] = os.path.join(root, top)
print(json.dumps({"packages": found, "cryptography": cryptography.__version__,
                  "python": sys.version.split()[0]}))
'''


def probe(python):
    """What ``python`` imports for cryptography: {'packages': {name: path}, 'cryptography': version,
    'python': version} or {'error': reason, ...}."""
    proc = subprocess.run([python, '-c', PROBE], capture_output=True, text=True, timeout=60, check=False)
    try:
        return json.loads(proc.stdout)
    except ValueError:
        return {'error': 'probe failed (rc %d): %s' % (proc.returncode, proc.stderr.strip()[-500:])}


def label(found):
    """'python 3.11.2, cryptography 38.0.4' for a probe result."""
    return 'python %s, cryptography %s' % (found.get('python', '?'), found.get('cryptography') or 'missing')


class TargetPackages:
    """What ``python`` has installed for NEEDS_CRYPTOGRAPHY, linked into ``directory``.

    ``path`` is the directory to append to sys.path (None when the library is missing),
    ``problem`` says why it is missing, ``version`` is cryptography's version.
    """

    def __init__(self, python, directory):
        found = probe(python)
        self.python = python
        self.version = found.get('cryptography')
        self.label = label(found)
        self.path = None
        self.problem = None
        if 'error' in found:
            self.problem = (
                '%s cannot import cryptography (%s). The module tests run the modules with this interpreter '
                'as the managed host does; on Debian: apt install python3-cryptography (the nginx_ssl role '
                'installs it on the hosts), or set CBDD_TARGET_PYTHON to an interpreter that has it.'
                % (python, found['error']))
            return
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        for name, source in sorted(found['packages'].items()):
            (directory / name).symlink_to(source)
        self.path = directory
