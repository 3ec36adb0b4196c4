"""The users' CI workflow (.github/workflows/molecule.yml) is valid and names the real scenarios."""
import shlex
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
WORKFLOW = REPO / ".github" / "workflows" / "molecule.yml"


def load():
    return yaml.safe_load(WORKFLOW.read_text())


def scenarios_on_disk():
    return {p.parent.name for p in (REPO / "molecule").glob("*/molecule.yml")}


def test_workflow_is_a_valid_actions_workflow():
    wf = load()
    assert wf["name"]
    assert {"push", "pull_request"} <= set(wf["on"])  # "on" is quoted: YAML 1.1 would read it as true
    for name, job in wf["jobs"].items():
        assert job["runs-on"].startswith("ubuntu-"), name
        assert job["steps"], name
        for step in job["steps"]:
            assert ("uses" in step) != ("run" in step), (name, step)
            assert step.get("name"), (name, step)
    assert wf["jobs"]["molecule"]["needs"] == "lint"


def missing_scenarios(workflow):
    """Scenarios the workflow's matrix names that have no molecule/<name>/molecule.yml."""
    named = workflow["jobs"]["molecule"]["strategy"]["matrix"]["scenario"]
    return [s for s in named if not (REPO / "molecule" / s / "molecule.yml").is_file()]


def test_every_scenario_the_workflow_names_exists():
    named = load()["jobs"]["molecule"]["strategy"]["matrix"]["scenario"]
    assert named and len(named) == len(set(named))
    assert missing_scenarios(load()) == []


def test_a_scenario_that_does_not_exist_is_reported():
    workflow = load()
    workflow["jobs"]["molecule"]["strategy"]["matrix"]["scenario"].append("no-such-scenario")
    assert missing_scenarios(workflow) == ["no-such-scenario"]


def test_every_scenario_on_disk_runs_in_the_workflow():
    assert set(load()["jobs"]["molecule"]["strategy"]["matrix"]["scenario"]) == scenarios_on_disk()


def test_workflow_runs_lint_and_molecule_per_scenario():
    steps = [s.get("run", "") for job in load()["jobs"].values() for s in job["steps"]]
    text = "\n".join(steps)
    assert "yamllint --strict ." in text and "ansible-lint --offline" in text
    assert 'molecule test -s "${{ matrix.scenario }}"' in text
    for step in steps:
        for word in shlex.split(step.replace("\n", " ; ")) if step else []:
            if word.startswith(("files/", "playbooks/", "requirements")) and "*" not in word:
                assert (REPO / word).exists(), word


def test_the_scenarios_python_and_image_inputs_exist():
    wf = load()
    assert (REPO / "requirements.txt").is_file() and (REPO / "files" / "images" / "build").is_file()
    setup = [s for s in wf["jobs"]["lint"]["steps"] if s.get("uses", "").startswith("actions/setup-python")]
    assert tuple(int(x) for x in setup[0]["with"]["python-version"].split(".")) >= (3, 12)
