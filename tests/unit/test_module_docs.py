"""Module documentation: ansible-doc renders it, it matches the argument specs, EXAMPLES lint clean."""

import ast
import re
import subprocess

import pytest
import yaml
from yamllint import config as yamllint_config
from yamllint import linter

from support_env import ANSIBLE_DOC_BIN as ANSIBLE_DOC, LIBRARY, MODULES, REPO


def module_strings(module):
    """DOCUMENTATION / EXAMPLES / RETURN string literals of a module file."""
    tree = ast.parse((LIBRARY / ('%s.py' % module)).read_text())
    return {node.targets[0].id: node.value.value for node in tree.body
            if isinstance(node, ast.Assign) and getattr(node.targets[0], 'id', None) in
            ('DOCUMENTATION', 'EXAMPLES', 'RETURN')}


@pytest.fixture(scope='module')
def rendered():
    """ansible-doc -M library output for all modules (one run), split per module."""
    proc = subprocess.run([str(ANSIBLE_DOC), '-M', str(LIBRARY), *MODULES], cwd=REPO,
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    assert 'ERROR' not in proc.stderr, proc.stderr
    text = re.sub(r'\x1b\[[0-9;]*m', '', proc.stdout)
    sections = re.split(r'^> MODULE (\S+)', text, flags=re.MULTILINE)[1:]
    return dict(zip(sections[::2], sections[1::2]))


@pytest.mark.parametrize('module', MODULES)
def test_ansible_doc_renders(rendered, module):
    text = rendered[module]
    for heading in ('OPTIONS', 'ATTRIBUTES', 'EXAMPLES', 'RETURN VALUES'):
        assert heading in text, '%s: no %s section' % (module, heading)
    documentation = yaml.safe_load(module_strings(module)['DOCUMENTATION'])
    for option in documentation['options']:
        assert re.search(r'^\s+%s\s' % option, text, re.MULTILINE), '%s: option %s not rendered' % (module, option)
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
def test_documented_options_match_argument_spec(module):
    documentation = yaml.safe_load(module_strings(module)['DOCUMENTATION'])
    _compare(documentation['options'], _spec_of(module), module)


@pytest.mark.parametrize('module', MODULES)
def test_doc_strings_pass_the_repository_yamllint_rules(module):
    config_file = REPO / '.yamllint'
    config = (yamllint_config.YamlLintConfig(file=str(config_file)) if config_file.exists()
              else yamllint_config.YamlLintConfig('extends: default'))
    for name, text in module_strings(module).items():
        document = text.lstrip('\n')
        if not document.startswith('---'):
            document = '---\n' + document  # ansible-doc does not need the marker, yamllint wants it
        problems = [str(problem) for problem in linter.run(document, config)]
        assert problems == [], '%s %s: %s' % (module, name, problems)
