"""Static validation of the AWX configuration as code in awx/ (no AWX needed).

validate_definitions() is the validator; the tests run it on the real definitions (must be clean)
and on modified copies (must report the defect). Checks:
- every job template names an existing playbook that AWX can discover (a play with `hosts:`,
  outside roles/), existing credentials roles, and the inventory source names an existing
  inventory directory of this repository;
- every survey variable is accepted by the playbook: an option of the argument_specs of a role the
  playbook uses, a variable the playbook declares in a play's `vars:`, or a documented playbook
  variable of PLAYBOOK_VARIABLES (the playbook must mention it);
- survey questions are well formed for AWX (types, choices, defaults), schedule extra_data answers
  the template's survey with valid values;
- every rrule parses with python-dateutil and follows AWX's rules (awx/api/serializers.py
  SchedulePreviewSerializer.validate_rrule in AWX 24.6.1);
- awx/apply.yml passes only options that the awx.awx 24.6.1 modules accept.
"""
import copy
import itertools
import re
import subprocess
from pathlib import Path

import pytest
import yaml
from dateutil.rrule import rrulestr

REPO = Path(__file__).resolve().parents[2]
AWX = REPO / "awx"

# Survey variables that are playbook variables, not role options (the playbook maps them onto its
# roles' prefixed options). The playbook file must mention the variable.
PLAYBOOK_VARIABLES = {
    "restore_backup": "restore.yml maps it onto backup_restore_name (empty = latest backup)",
    "renew_if_expiring_within_days": "renew-cert.yml: a no-op while the certificate is fresh (daily schedule)",
    "maintenance_tasks": "maintenance.yml selects the runbook's weekly/monthly/quarterly/prune tasks",
    "health_output": "health.yml: table for people, json for AWX/CI",
    "stop_mode": "stop.yml maps it onto maintenance_stop_mode",
    "service": "stop.yml maps it onto maintenance_service",
}

SURVEY_TYPES = {"text", "textarea", "password", "integer", "float", "multiplechoice", "multiselect"}
CREDENTIAL_ROLES = {"machine", "vault", "aws"}

AWX_MODULE_OPTIONS = {
    "organization": set("""
        custom_virtualenv default_environment description galaxy_credentials instance_groups
        max_hosts name new_name notification_templates_approvals notification_templates_error
        notification_templates_started notification_templates_success state
    """.split()),
    "execution_environment": set("""
        credential description image name new_name organization pull state
    """.split()),
    "project": set("""
        allow_override copy_from credential custom_virtualenv default_environment description
        interval local_path name new_name notification_templates_error
        notification_templates_started notification_templates_success organization scm_branch
        scm_clean scm_delete_on_update scm_refspec scm_track_submodules scm_type
        scm_update_cache_timeout scm_update_on_launch scm_url signature_validation_credential
        state timeout update_project wait
    """.split()),
    "inventory": set("""
        copy_from description host_filter input_inventories instance_groups kind name new_name
        organization prevent_instance_group_fallback state variables
    """.split()),
    "inventory_source": set("""
        credential custom_virtualenv description enabled_value enabled_var execution_environment
        host_filter inventory limit name new_name notification_templates_error
        notification_templates_started notification_templates_success organization overwrite
        overwrite_vars scm_branch source source_path source_project source_vars state timeout
        update_cache_timeout update_on_launch verbosity
    """.split()),
    "job_template": set("""
        allow_simultaneous ask_credential_on_launch ask_diff_mode_on_launch
        ask_execution_environment_on_launch ask_forks_on_launch ask_instance_groups_on_launch
        ask_inventory_on_launch ask_job_slice_count_on_launch ask_job_type_on_launch
        ask_labels_on_launch ask_limit_on_launch ask_scm_branch_on_launch ask_skip_tags_on_launch
        ask_tags_on_launch ask_timeout_on_launch ask_variables_on_launch ask_verbosity_on_launch
        become_enabled copy_from credential credentials custom_virtualenv description diff_mode
        execution_environment extra_vars force_handlers forks host_config_key instance_groups
        inventory job_slice_count job_tags job_type labels limit name new_name
        notification_templates_error notification_templates_started notification_templates_success
        organization playbook prevent_instance_group_fallback project scm_branch skip_tags
        start_at_task state survey_enabled survey_spec timeout use_fact_cache vault_credential
        verbosity webhook_credential webhook_service
    """.split()),
    "schedule": set("""
        credentials description diff_mode enabled execution_environment extra_data forks
        instance_groups inventory job_slice_count job_tags job_type labels limit name new_name
        organization rrule scm_branch skip_tags state timeout unified_job_template verbosity
    """.split()),
}

INCLUDE_ROLE = {"include_role", "import_role", "ansible.builtin.include_role", "ansible.builtin.import_role"}
# AWX lists a file as a playbook when a top-level line starts a play (awx/main/utils/ansible.py).
AWX_PLAY_RE = re.compile(r"^\s*-?\s*(hosts|(ansible\.builtin\.)?import_playbook)\s*:", re.M)


def load_definitions(awx_dir=AWX):
    """The variables awx/apply.yml loads: its vars_files, merged in order."""
    play = yaml.safe_load((awx_dir / "apply.yml").read_text())[0]
    defs = {}
    for rel in play["vars_files"]:
        defs.update(yaml.safe_load((awx_dir / rel).read_text()))
    return defs


def _tasks(items):
    for item in items or []:
        yield item
        for key in ("block", "rescue", "always"):
            yield from _tasks(item.get(key))


def role_names(role, repo, seen=None):
    """A role and the roles of its meta/main.yml dependencies."""
    seen = set() if seen is None else seen
    if role in seen:
        return seen
    seen.add(role)
    meta = repo / "roles" / role / "meta" / "main.yml"
    if meta.is_file():
        for dep in (yaml.safe_load(meta.read_text()) or {}).get("dependencies") or []:
            role_names(dep if isinstance(dep, str) else dep.get("role", dep.get("name")), repo, seen)
    return seen


def playbook_facts(path, repo):
    """(roles used, variables declared in plays' vars:) of a playbook, following import_playbook."""
    roles, declared = set(), set()
    for play in yaml.safe_load(path.read_text()) or []:
        imported = play.get("import_playbook") or play.get("ansible.builtin.import_playbook")
        if imported:
            sub_roles, sub_vars = playbook_facts(path.parent / imported, repo)
            roles |= sub_roles
            declared |= sub_vars
            continue
        declared |= set(play.get("vars") or {})
        for entry in play.get("roles") or []:
            roles |= role_names(entry if isinstance(entry, str) else entry.get("role", entry.get("name")), repo)
        for section in ("pre_tasks", "tasks", "post_tasks", "handlers"):
            for task in _tasks(play.get(section)):
                for key in INCLUDE_ROLE & set(task):
                    roles |= role_names(task[key]["name"], repo)
    return roles, declared


def role_options(role, repo):
    spec = repo / "roles" / role / "meta" / "argument_specs.yml"
    if not spec.is_file():
        return set()
    entry_points = (yaml.safe_load(spec.read_text()) or {}).get("argument_specs") or {}
    return {name for ep in entry_points.values() for name in (ep.get("options") or {})}


def validate_rrule(value):
    """AWX 24.6.1's rules for a schedule rrule, plus a dateutil parse; returns error strings."""
    errors = []
    dtstarts = re.findall(r"DTSTART(?:;[^:\s]+)?:[0-9]+T[0-9]+Z?", value)
    if len(dtstarts) != 1:
        errors.append("exactly one DTSTART is required (found %d)" % len(dtstarts))
    if not re.match(r"^DTSTART;TZID=[A-Za-z_]+(/[A-Za-z_+-]+)*:\d{8}T\d{6} ", value):
        errors.append("must start with DTSTART;TZID=<zone>:YYYYMMDDTHHMMSS followed by a space")
    rules = re.findall(r"(?<![A-Z])RRULE:(\S*)", value)
    if len(rules) != 1:
        errors.append("exactly one RRULE is required (found %d)" % len(rules))
    for token in value.split():
        if not token.startswith(("DTSTART", "RRULE:")):
            errors.append("unexpected part %r" % token)
    for rule in rules:
        parts = dict(p.split("=", 1) for p in rule.split(";") if "=" in p)
        if "INTERVAL" not in parts:
            errors.append("INTERVAL required in rrule")
        if parts.get("FREQ") not in {"HOURLY", "DAILY", "WEEKLY", "MONTHLY", "YEARLY"}:
            errors.append("FREQ must be HOURLY, DAILY, WEEKLY, MONTHLY or YEARLY, not %r" % parts.get("FREQ"))
        if "COUNT" in parts and "UNTIL" in parts:
            errors.append("RRULE may not contain both COUNT and UNTIL")
        if "COUNT" in parts and int(parts["COUNT"]) > 999:
            errors.append("COUNT > 999 is unsupported")
        if re.search(r"[+-]?\d", parts.get("BYDAY", "")):
            errors.append("BYDAY with numeric prefix not supported")
        for unsupported in ("BYYEARDAY", "BYWEEKNO"):
            if unsupported in parts:
                errors.append("%s not supported" % unsupported)
        for single in ("BYMONTHDAY", "BYMONTH"):
            if "," in parts.get(single, ""):
                errors.append("Multiple %ss not supported" % single)
    if errors:
        return errors
    try:
        ruleset = rrulestr(value, forceset=True)
        if ruleset[0] is None:
            errors.append("no occurrence")
    except (ValueError, IndexError, TypeError) as exc:
        errors.append("python-dateutil cannot parse it: %s" % exc)
    else:
        if ruleset[0].tzinfo is None:
            errors.append("TZID %r is not a known time zone" % value.split(":")[0])
    return errors


def validate_survey_item(where, item):
    errors = []
    for key in ("question_name", "variable", "type", "required"):
        if key not in item:
            errors.append("%s: missing %s" % (where, key))
    kind = item.get("type")
    if kind not in SURVEY_TYPES:
        return errors + ["%s: type %r is not one of %s" % (where, kind, sorted(SURVEY_TYPES))]
    default = item.get("default")
    if kind in ("multiplechoice", "multiselect"):
        choices = item.get("choices")
        if not choices or not isinstance(choices, list) or len(set(choices)) != len(choices):
            return errors + ["%s: choices must be a non-empty list of distinct values" % where]
        picked = [] if default in (None, "") else (default.split("\n") if kind == "multiselect" else [default])
        errors += ["%s: default %r is not one of %s" % (where, d, choices) for d in picked if d not in choices]
    if kind == "integer" and default is not None and not (
            isinstance(default, int) and item.get("min", default) <= default <= item.get("max", default)):
        errors.append("%s: default %r is not an integer within min/max" % (where, default))
    return errors


def validate_answer(where, item, value):
    kind = item["type"]
    if kind == "multiplechoice" and value not in item["choices"]:
        return ["%s: %r is not one of %s" % (where, value, item["choices"])]
    if kind == "multiselect" and not (isinstance(value, list) and set(value) <= set(item["choices"])):
        return ["%s: %r is not a list of %s" % (where, value, item["choices"])]
    if kind == "integer" and not (isinstance(value, int) and item.get("min", value) <= value <= item.get("max", value)):
        return ["%s: %r is not an integer within min/max" % (where, value)]
    return []


def validate_definitions(defs, repo=REPO):
    """Every defect of the AWX definitions, as readable strings (empty list: valid)."""
    errors = []
    source_path = defs["cbdd_awx_inventory_source"]["source_path"]
    if not (repo / source_path / "hosts.yml").is_file():
        errors.append("inventory source: %s is not an inventory directory of the repository" % source_path)
    credentials = defs["cbdd_awx_credentials"]
    if set(credentials) != CREDENTIAL_ROLES:
        errors.append("cbdd_awx_credentials must name exactly %s" % sorted(CREDENTIAL_ROLES))
    templates = {}
    for jt in defs["cbdd_awx_job_templates"]:
        name = jt["name"]
        if name in templates:
            errors.append("job template %r is defined twice" % name)
        templates[name] = jt
        playbook = repo / jt["playbook"]
        if not playbook.is_file():
            errors.append("job template %r: playbook %s does not exist" % (name, jt["playbook"]))
            continue
        if jt["playbook"].startswith("roles/") or not AWX_PLAY_RE.search(playbook.read_text()):
            errors.append("job template %r: AWX does not list %s as a playbook" % (name, jt["playbook"]))
        for cred in jt.get("credentials", []):
            if cred not in credentials:
                errors.append("job template %r: credential %r is not in cbdd_awx_credentials" % (name, cred))
        roles, declared = playbook_facts(playbook, repo)
        accepted = declared | {opt for role in roles for opt in role_options(role, repo)}
        variables = [q.get("variable") for q in jt.get("survey", [])]
        if len(set(variables)) != len(variables):
            errors.append("job template %r: a survey variable is asked twice" % name)
        for item in jt.get("survey", []):
            where = "job template %r survey %r" % (name, item.get("variable"))
            errors += validate_survey_item(where, item)
            var = item.get("variable")
            documented = var in PLAYBOOK_VARIABLES and re.search(r"\b%s\b" % re.escape(var), playbook.read_text())
            if var not in accepted and not documented:
                errors.append("%s: not accepted by %s (roles %s, play vars %s)"
                              % (where, jt["playbook"], sorted(roles), sorted(declared)))
    names = set()
    for sched in defs["cbdd_awx_schedules"]:
        where = "schedule %r" % sched["name"]
        if sched["name"] in names:
            errors.append("%s is defined twice" % where)
        names.add(sched["name"])
        errors += ["%s: rrule %s" % (where, e) for e in validate_rrule(sched["rrule"])]
        jt = templates.get(sched["job_template"])
        if jt is None:
            errors.append("%s: no job template %r" % (where, sched["job_template"]))
            continue
        survey = {q["variable"]: q for q in jt.get("survey", [])}
        for var, value in (sched.get("extra_data") or {}).items():
            if var not in survey:
                errors.append("%s: extra_data %r is not a survey variable of %r" % (where, var, jt["name"]))
            else:
                errors += validate_answer("%s extra_data %r" % (where, var), survey[var], value)
    return errors


def apply_tasks():
    play = yaml.safe_load((AWX / "apply.yml").read_text())[0]
    return play["tasks"]


# --- the real definitions -----------------------------------------------------------------------

@pytest.fixture()
def defs():
    return load_definitions()


def test_definitions_are_valid(defs):
    errors = validate_definitions(defs)
    assert not errors, "\n".join(errors)


def test_every_runbook_job_has_a_template(defs):
    playbooks = {jt["playbook"] for jt in defs["cbdd_awx_job_templates"]}
    assert playbooks == {"playbooks/%s.yml" % n for n in (
        "deploy", "stop", "renew-cert", "maintenance", "backup", "restore", "health", "rotate-keys", "rollback")}


def test_operator_choices_are_surveyed(defs):
    asked = {jt["playbook"]: {q["variable"] for q in jt["survey"]} for jt in defs["cbdd_awx_job_templates"]}
    assert asked["playbooks/deploy.yml"] == {"app_version", "cbdd_rolling_batch"}
    assert asked["playbooks/stop.yml"] == {"stop_mode", "service"}
    assert asked["playbooks/maintenance.yml"] == {"maintenance_tasks", "maintenance_upgrade_app_version"}
    assert asked["playbooks/restore.yml"] == {"restore_backup"}
    assert asked["playbooks/renew-cert.yml"] == {"renew_if_expiring_within_days", "renew_cert_src", "renew_key_src", "renew_ca_src"}
    assert asked["playbooks/health.yml"] == {"health_output"}
    stop = next(jt for jt in defs["cbdd_awx_job_templates"] if jt["playbook"] == "playbooks/stop.yml")
    mode = next(q for q in stop["survey"] if q["variable"] == "stop_mode")
    assert (mode["type"], mode["choices"]) == ("multiplechoice", ["graceful", "force", "emergency"])
    deploy = next(jt for jt in defs["cbdd_awx_job_templates"] if jt["playbook"] == "playbooks/deploy.yml")
    version = next(q for q in deploy["survey"] if q["variable"] == "app_version")
    # A launch with defaults must never pick a version (it would downgrade production).
    assert version["required"] is True and "default" not in version, version
    renew = next(jt for jt in defs["cbdd_awx_job_templates"] if jt["playbook"] == "playbooks/renew-cert.yml")
    days = next(q for q in renew["survey"] if q["variable"] == "renew_if_expiring_within_days")
    assert days["default"] >= 0, "a launch with defaults must not renew a fresh certificate"
    maint = next(jt for jt in defs["cbdd_awx_job_templates"] if jt["playbook"] == "playbooks/maintenance.yml")
    assert maint["survey"][0]["type"] == "multiselect"
    assert maint["survey"][0]["choices"] == ["weekly", "monthly", "quarterly", "prune"]


def test_credentials_are_references_without_secrets(defs):
    for jt in defs["cbdd_awx_job_templates"]:
        assert "machine" in jt["credentials"] and "vault" in jt["credentials"], jt["name"]
    needs_aws = {jt["playbook"] for jt in defs["cbdd_awx_job_templates"] if "aws" in jt["credentials"]}
    assert {"playbooks/backup.yml", "playbooks/restore.yml"} <= needs_aws
    text = "\n".join(p.read_text() for p in AWX.rglob("*.yml")).lower()
    for secret_word in ("password:", "token:", "secret_key", "ssh_key_data", "aws_secret"):
        assert secret_word not in text


def test_schedules_cover_the_runbook_cadence(defs):
    by_template = {s["job_template"]: s for s in defs["cbdd_awx_schedules"]}
    templates = {jt["name"]: jt["playbook"] for jt in defs["cbdd_awx_job_templates"]}
    freq = {templates[t]: re.search(r"FREQ=(\w+)", s["rrule"]).group(1) for t, s in by_template.items()}
    assert freq == {"playbooks/backup.yml": "DAILY", "playbooks/renew-cert.yml": "DAILY",
                    "playbooks/maintenance.yml": "WEEKLY", "playbooks/health.yml": "HOURLY"}
    renew = next(s for s in defs["cbdd_awx_schedules"] if templates[s["job_template"]] == "playbooks/renew-cert.yml")
    assert renew["extra_data"] == {"renew_if_expiring_within_days": 30}


def test_rrules_give_the_expected_occurrences(defs):
    backup = next(s for s in defs["cbdd_awx_schedules"] if s["name"] == "cbdd daily backup")
    first, second = itertools.islice(rrulestr(backup["rrule"], forceset=True), 2)
    assert (first.hour, first.minute, str(first.tzinfo.tzname(first))) == (2, 0, "GMT")
    assert (second - first).days == 1
    weekly = next(s for s in defs["cbdd_awx_schedules"] if "maintenance" in s["name"])
    assert all(d.weekday() == 6 for d in itertools.islice(rrulestr(weekly["rrule"], forceset=True), 3))


def test_apply_playbook_uses_only_options_of_awx_awx_24_6_1():
    used = set()
    for task in apply_tasks():
        for key, args in task.items():
            if key.startswith("awx.awx."):
                module = key.split(".")[-1]
                used.add(module)
                assert module in AWX_MODULE_OPTIONS, key
                assert set(args) <= AWX_MODULE_OPTIONS[module], (key, set(args) - AWX_MODULE_OPTIONS[module])
    assert {"project", "inventory", "inventory_source", "job_template", "schedule"} <= used


def test_apply_playbook_never_creates_credentials():
    assert not [t for t in apply_tasks() if "awx.awx.credential" in t]


def test_collection_requirements_pin_the_tested_versions():
    reqs = yaml.safe_load((REPO / "collections" / "requirements.yml").read_text())["collections"]
    pins = {c["name"]: c["version"] for c in reqs}
    assert set(pins) == {"community.docker", "community.crypto", "amazon.aws", "community.general", "ansible.posix"}
    awx_reqs = yaml.safe_load((AWX / "requirements.yml").read_text())["collections"]
    assert awx_reqs == [{"name": "awx.awx", "version": "24.6.1"}]
    out = subprocess.run(["ansible-galaxy", "collection", "list", "--format", "yaml"],
                         capture_output=True, text=True, check=True, cwd=REPO).stdout
    installed = {}
    for path_entries in yaml.safe_load(out).values():
        for name, info in path_entries.items():
            installed.setdefault(name, info["version"])
    for name, version in pins.items():
        assert installed.get(name) == version, (name, version, installed.get(name))


# --- the validator catches defects -----------------------------------------------------------------

def test_validator_fails_on_a_missing_playbook(defs):
    broken = copy.deepcopy(defs)
    broken["cbdd_awx_job_templates"][0]["playbook"] = "playbooks/no-such-playbook.yml"
    errors = validate_definitions(broken)
    assert any("playbooks/no-such-playbook.yml does not exist" in e for e in errors), errors


def test_validator_fails_on_a_missing_inventory(defs):
    broken = copy.deepcopy(defs)
    broken["cbdd_awx_inventory_source"]["source_path"] = "inventories/nowhere"
    assert any("inventories/nowhere" in e for e in validate_definitions(broken))


def test_validator_fails_on_a_survey_variable_no_role_accepts(defs):
    broken = copy.deepcopy(defs)
    deploy = next(jt for jt in broken["cbdd_awx_job_templates"] if jt["playbook"] == "playbooks/deploy.yml")
    deploy["survey"][0]["variable"] = "app_verison"
    assert any("'app_verison': not accepted by playbooks/deploy.yml" in e for e in validate_definitions(broken))


def test_validator_fails_on_a_schedule_answer_outside_the_choices(defs):
    broken = copy.deepcopy(defs)
    sched = next(s for s in broken["cbdd_awx_schedules"] if "maintenance" in s["name"])
    sched["extra_data"] = {"maintenance_tasks": ["weekly", "yearly"]}
    assert any("maintenance_tasks" in e and "yearly" in e for e in validate_definitions(broken))


@pytest.mark.parametrize("rrule, message", [
    ("DTSTART:20260101T020000 RRULE:FREQ=DAILY;INTERVAL=1", "DTSTART;TZID"),
    ("DTSTART;TZID=Europe/London:20260101T020000 RRULE:FREQ=DAILY", "INTERVAL required"),
    ("DTSTART;TZID=Europe/London:20260101T020000 RRULE:FREQ=DAILY;INTERVAL=1 RRULE:FREQ=HOURLY;INTERVAL=1",
     "exactly one RRULE"),
    ("DTSTART;TZID=Europe/London:20260101T020000 RRULE:FREQ=SECONDLY;INTERVAL=1", "FREQ must be"),
    ("DTSTART;TZID=Europe/London:20260101T020000 RRULE:FREQ=DAILY;INTERVAL=1;COUNT=3;UNTIL=20260301T000000Z",
     "both COUNT and UNTIL"),
    ("DTSTART;TZID=Europe/London:20260101T020000 RRULE:FREQ=MONTHLY;INTERVAL=1;BYDAY=1MO", "numeric prefix"),
    ("DTSTART;TZID=Nowhere/Atlantis:20260101T020000 RRULE:FREQ=DAILY;INTERVAL=1", "not a known time zone"),
    ("DTSTART;TZID=Europe/London:20260101T020000 RRULE:FREQ=DAILY;INTERVAL=1;BYHOUR=25", "cannot parse"),
])
def test_rrule_validator_rejects_what_awx_rejects(rrule, message):
    errors = validate_rrule(rrule)
    assert any(message in e for e in errors), errors


def test_rrule_validator_accepts_awx_examples():
    assert validate_rrule("DTSTART;TZID=Europe/London:20260101T020000 RRULE:FREQ=DAILY;INTERVAL=1") == []
    assert validate_rrule("DTSTART;TZID=America/New_York:20260105T090000 "
                          "RRULE:FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,WE;COUNT=10") == []
