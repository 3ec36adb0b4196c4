"""Module documentation: ansible-doc renders it, it matches the argument specs, EXAMPLES lint clean.

Options the modules share are documented once, in doc_fragments/ (ansible.cfg's
doc_fragment_plugins); the checks below look at the documentation as ansible-doc merges it.
"""

import ast
import importlib.util
import json
import re
import subprocess

import pytest
import yaml
from yamllint import config as yamllint_config
from yamllint import linter

from support_env import ANSIBLE_DOC_BIN as ANSIBLE_DOC, LIBRARY, MODULES, REPO

FRAGMENTS = REPO / 'doc_fragments'


def module_strings(module):
    """DOCUMENTATION / EXAMPLES / RETURN string literals of a module file."""
    tree = ast.parse((LIBRARY / ('%s.py' % module)).read_text())
    return {node.targets[0].id: node.value.value for node in tree.body
            if isinstance(node, ast.Assign) and getattr(node.targets[0], 'id', None) in
            ('DOCUMENTATION', 'EXAMPLES', 'RETURN')}


def fragment(name):
    """The ModuleDocFragment class of doc_fragments/NAME.py."""
    spec = importlib.util.spec_from_file_location('cbdd_fragment_%s' % name, FRAGMENTS / ('%s.py' % name))
    namespace = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(namespace)
    return namespace.ModuleDocFragment


def fragment_strings():
    """{'cbdd_http.DOCUMENTATION': yaml text, ...} for every fragment variable."""
    return {'%s.%s' % (path.stem, var): text for path in sorted(FRAGMENTS.glob('*.py'))
            for var, text in vars(fragment(path.stem)).items() if var.isupper()}


def _ansible_doc(*args):
    proc = subprocess.run([str(ANSIBLE_DOC), '-M', str(LIBRARY), *args, *MODULES], cwd=REPO,
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    assert 'ERROR' not in proc.stderr, proc.stderr
    return proc.stdout


@pytest.fixture(scope='module')
def rendered():
    """ansible-doc -M library output for all modules (one run), split per module."""
    text = re.sub(r'\x1b\[[0-9;]*m', '', _ansible_doc())
    sections = re.split(r'^> MODULE (\S+)', text, flags=re.MULTILINE)[1:]
    return dict(zip(sections[::2], sections[1::2]))


@pytest.fixture(scope='module')
def documented():
    """{module: DOCUMENTATION with the fragments merged in}, from ansible-doc --json."""
    return {name: data['doc'] for name, data in json.loads(_ansible_doc('--json')).items()}


def _all_options(options, prefix=''):
    """Option names, suboptions as 'endpoints.url'."""
    for name, option in options.items():
        yield prefix + name
        yield from _all_options(option.get('suboptions') or {}, '%s%s.' % (prefix, name))


@pytest.mark.parametrize('module', MODULES)
def test_ansible_doc_renders(rendered, documented, module):
    text = rendered[module]
    for heading in ('OPTIONS', 'ATTRIBUTES', 'EXAMPLES', 'RETURN VALUES'):
        assert heading in text, '%s: no %s section' % (module, heading)
    for option in _all_options(documented[module]['options']):
        name = option.rpartition('.')[2]
        assert re.search(r'^\s+%s\s' % name, text, re.MULTILINE), '%s: option %s not rendered' % (module, option)
    assert 'support: full' in text  # check_mode attribute


def _spec_of(module):
    """The argument_spec the module passes to AnsibleModule."""
    namespace = {}
    source = (LIBRARY / ('%s.py' % module)).read_text()
    exec(compile(source, module, 'exec'), namespace)  # noqa: S102 - our own module, __name__ != __main__
    if module == 'cbdd_http_check':
        return namespace['HTTP_CHECK_ARGS']
    return namespace['ARGUMENT_SPEC']


def _compare(doc_options, spec, where):
    assert sorted(doc_options) == sorted(spec), where
    for name, option in spec.items():
        doc = doc_options[name]
        label = '%s.%s' % (where, name)
        assert doc.get('type', 'str') == option.get('type', 'str'), label
        assert doc.get('default') == option.get('default'), label
        assert bool(doc.get('required')) == bool(option.get('required')), label
        assert doc.get('elements') == option.get('elements'), label
        if 'options' in option:
            _compare(doc['suboptions'], option['options'], label)


@pytest.mark.parametrize('module', MODULES)
def test_documented_options_match_argument_spec(documented, module):
    _compare(documented[module]['options'], _spec_of(module), module)


def test_http_check_options_are_documented_once_in_the_fragment(documented):
    """cbdd_http_check's options and each cbdd_stack_health endpoint's suboptions: the same text."""
    check = yaml.safe_load(fragment('cbdd_http').DOCUMENTATION)['options']
    endpoints = yaml.safe_load(fragment('cbdd_http').ENDPOINTS)['options']['endpoints']['suboptions']
    assert documented['cbdd_http_check']['options'] == check
    suboptions = documented['cbdd_stack_health']['options']['endpoints']['suboptions']
    assert suboptions == endpoints and sorted(suboptions) == sorted(['name', *check])
    for name, option in check.items():
        as_suboption = json.dumps(endpoints[name]).replace('O(endpoints[].', 'O(')
        assert json.loads(as_suboption) == option, name  # references point at the sibling suboption


@pytest.mark.parametrize('module', MODULES)
def test_no_module_repeats_fragment_docs(module):
    """A module's own DOCUMENTATION neither restates nor overrides what its fragments provide."""
    own = yaml.safe_load(module_strings(module)['DOCUMENTATION'])
    assert 'cbdd_read_only' in own['extends_documentation_fragment'] and 'attributes' not in own
    for name in own['extends_documentation_fragment']:
        fragment_name, _, var = name.partition('.')
        shared = yaml.safe_load(getattr(fragment(fragment_name), (var or 'documentation').upper()))
        assert not set(shared.get('options') or {}) & set(own.get('options') or {}), (module, name)


def test_ansible_doc_needs_the_configured_fragment_path(tmp_path):
    """Without ansible.cfg's doc_fragment_plugins the fragments are unknown: the setting is what finds them."""
    (tmp_path / 'ansible.cfg').write_text('[defaults]\n')
    proc = subprocess.run([str(ANSIBLE_DOC), '-M', str(LIBRARY), 'cbdd_http_check'], cwd=tmp_path,
                          env={'PATH': str(ANSIBLE_DOC.parent), 'HOME': str(tmp_path),
                               'ANSIBLE_CONFIG': str(tmp_path / 'ansible.cfg')},
                          capture_output=True, text=True, timeout=120, check=False)
    assert 'unknown doc_fragment(s)' in proc.stderr and 'cbdd_http' in proc.stderr, proc.stderr
    config = (REPO / 'ansible.cfg').read_text()
    assert re.search(r'^doc_fragment_plugins = doc_fragments$', config, re.MULTILINE)


@pytest.mark.parametrize('module', [*MODULES, 'doc_fragments'])
def test_doc_strings_pass_the_repository_yamllint_rules(module):
    config_file = REPO / '.yamllint'
    config = (yamllint_config.YamlLintConfig(file=str(config_file)) if config_file.exists()
              else yamllint_config.YamlLintConfig('extends: default'))
    strings = fragment_strings() if module == 'doc_fragments' else module_strings(module)
    assert strings, module
    for name, text in strings.items():
        document = text.lstrip('\n')
        if not document.startswith('---'):
            document = '---\n' + document  # ansible-doc does not need the marker, yamllint wants it
        problems = [str(problem) for problem in linter.run(document, config)]
        assert problems == [], '%s %s: %s' % (module, name, problems)
