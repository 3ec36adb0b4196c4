"""The day-2 acceptance test (issue 13): on the sandbox that has lived through the other tests, the
sequence an operator and the AWX schedules run, with ONE HTTPS request loop over the whole of it:

  deploy 1.0.0 -> deploy 1.1.0 -> health -> plain deploy (changed=0, still 1.1.0) -> renew-cert
  check (no-op) -> maintenance weekly+prune (backup uploaded) -> restart app -> rollback (1.0.0,
  its config) -> health

The sequence is tests/bench/day2's run_sequence (the bench prints the same figures); here every
step must pass its own check and not one request may fail, in any step or over the whole."""
import importlib.machinery
import importlib.util

from conftest import REPO

_loader = importlib.machinery.SourceFileLoader("day2", str(REPO / "tests/bench/day2"))
_spec = importlib.util.spec_from_loader("day2", _loader)
day2 = importlib.util.module_from_spec(_spec)
_loader.exec_module(day2)


def test_day2_sequence_drops_no_request_and_every_step_leaves_the_truth(sandbox):
    lines = []
    results = day2.run_sequence(sandbox.name, sandbox.offset, log=lines.append)
    report = "\n".join(lines)
    steps = [r["step"] for r in results]
    assert steps == ["deploy 1.0.0", "deploy 1.1.0", "health", "plain deploy", "renew-cert check",
                     "maintenance weekly+prune", "restart app", "rollback", "health", "whole sequence"], report
    for result in results:
        assert result["rc"] == 0 and result["checks_ok"], report
        assert result["failures"] == 0, report
    assert results[-1]["requests"] >= 100, report
