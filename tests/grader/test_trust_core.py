"""The engine's trust rules, on the probe-context toy (``fixtures/ctxtoy``):

- hidden inputs come from a secret drawn per grading run, the same for the reference and the
  submission, different between runs; late inputs come from a second secret the probe never sees;
- a differential verdict never sees an output that lacks one of the reference's cases;
- hidden checks' messages leave out the reference's values;
- a verdict that raises on the reference's own output is a grader fault (``grader_error``), one
  that raises only on the submission's is the submission's failure; a slow verdict is an error.
"""

from __future__ import annotations

import shutil

import pytest
import torch

from grader.core import api, assignment, engine
from grader.core.engine import CachedExecutor, InProcessExecutor, ProbeOutcome, RunSecrets

from grader_testkit import FIXTURES, TOYREF

CTXTOY = FIXTURES / "ctxtoy"


@pytest.fixture(scope="module")
def ctxtoy():
    return assignment.load(CTXTOY)


def _package(tmp_path, name: str, scale: str = "x * k") -> InProcessExecutor:
    """A copy of the toy reference whose ``scale`` returns ``scale`` (an expression of x and k)."""
    root = tmp_path / name
    shutil.copytree(TOYREF, root, ignore=shutil.ignore_patterns("__pycache__"))
    ops = root / "toy" / "ops.py"
    ops.write_text(ops.read_text().replace("    return x * k\n", f"    return {scale}\n"))
    return InProcessExecutor.for_directory(root, f"_ctxtoy_{name}")


def _reference() -> CachedExecutor:
    return CachedExecutor(InProcessExecutor.for_directory(TOYREF, "_ctxtoy_reference"))


def _checks(results) -> dict:
    return {c.id: c for r in results for c in r.checks}


def test_reference_and_submission_share_the_seed_and_runs_differ(ctxtoy, tmp_path):
    honest = _package(tmp_path, "honest")
    reference = _reference()
    first = _checks(engine.grade(ctxtoy, honest, reference, only=["scale.seeded"], run=RunSecrets(11, 12)))
    assert first["scale.seeded"].status == "passed", first["scale.seeded"].message
    seen = {}
    for seed in (11, 12):
        outcome = honest.run(ctxtoy, "scale_seeded", seed=seed)
        seen[seed] = outcome.data["x"]
        assert outcome.data["seed"] == seed
    assert not torch.equal(seen[11], seen[12]), "hidden inputs must change with the run's seed"


def test_process_secrets_are_random_unless_fixed(monkeypatch):
    monkeypatch.setattr(engine, "_RUN_SECRETS", [None])
    monkeypatch.delenv("GRADER_PROBE_SEED", raising=False)
    first = engine.run_secrets()
    assert engine.run_secrets() is first  # one pair per grading process: the reference stays cached
    monkeypatch.setattr(engine, "_RUN_SECRETS", [None])
    assert engine.run_secrets() != first
    monkeypatch.setattr(engine, "_RUN_SECRETS", [None])
    monkeypatch.setenv("GRADER_PROBE_SEED", "5")
    assert engine.run_secrets() == RunSecrets(5, 6)


def test_late_inputs_come_from_the_parents_own_secret(ctxtoy, tmp_path):
    honest = _package(tmp_path, "late")
    check = ctxtoy.check("scale.late")
    outs = [honest.run(ctxtoy, "scale_late", seed=1, late_inputs=RunSecrets(1, late).late_provider(check)).data["out"]
            for late in (2, 3)]
    assert not torch.equal(outs[0], outs[1]), "the same probe seed with another late secret gives other inputs"
    results = _checks(engine.grade(ctxtoy, honest, _reference(), only=["scale.late"], run=RunSecrets(1, 2)))
    assert results["scale.late"].status == "passed", results["scale.late"].message
    wrong = _checks(engine.grade(ctxtoy, _package(tmp_path, "late_wrong", "x * (k + 0.5)"), _reference(),
                                 only=["scale.late"], run=RunSecrets(1, 2)))
    assert wrong["scale.late"].status == "failed"


class _Fabricated:
    """A submission that hands back a made-up result (as a patched probe runtime would)."""

    def __init__(self, data):
        self.data = data

    def run(self, assignment, probe, **_kwargs):
        return ProbeOutcome("ok", self.data, seconds=0.01)


@pytest.mark.parametrize("data", [{"cases": []}, {"cases": [{"out": torch.zeros(2, 3)}] * 2}, {},
                                  {"cases": "all passed"}, {"cases": [{"out": None}] * 3}],
                         ids=["empty", "short", "no-key", "a-string", "no-values"])
def test_fabricated_results_never_pass(ctxtoy, data):
    results = _checks(engine.grade(ctxtoy, _Fabricated(data), _reference(), only=["add.cases"], run=RunSecrets(3, 4)))
    check = results["add.cases"]
    assert check.status == "failed" and check.score == 0, (check.status, check.message)


def test_naive_verdict_would_have_passed_the_empty_list(ctxtoy):
    """The reason for the structure rule: without it this toy's verdict accepts an empty list."""
    verdict = ctxtoy.check("add.cases").verdict({"cases": []}, {"cases": [{"out": torch.ones(1)}]})
    assert verdict.passed


def test_structure_problem_rules():
    expected = {"cases": [torch.ones(2), torch.ones(2)], "name": "x"}
    assert api.structure_problem({"cases": [torch.ones(2), torch.ones(3)], "name": "y"}, expected) is None
    assert "missing" in api.structure_problem({"cases": [torch.ones(2)] * 2}, expected)
    assert "unexpected" in api.structure_problem({**expected, "extra": 1}, expected)
    assert api.structure_problem({**expected, "extra": 1}, expected, rule="keys") is None
    assert "expected a tensor" in api.structure_problem({"cases": [1.0, torch.ones(2)], "name": "x"}, expected)


def test_hidden_messages_leave_out_expected_values(ctxtoy, tmp_path):
    wrong = _package(tmp_path, "wrong", "x * (k + 0.25)")
    run = RunSecrets(21, 22)
    results = _checks(engine.grade(ctxtoy, wrong, _reference(), only=["scale.seeded"], run=run))
    message = results["scale.seeded"].message
    assert results["scale.seeded"].status == "failed"
    expected = _reference().run(ctxtoy, "scale_seeded", seed=run.seed).data["out"]
    assert "worst at index" in message and "expected" not in message.split("worst at index")[1]
    for v in expected.tolist():
        assert f"{v:.6g}" not in message and f"{v:.4g}" not in message, message
    # The same comparison in a public check shows the values (public inputs are public anyway).
    public = api.compare_tensors("out", torch.zeros(3), torch.ones(3))
    assert "expected 1, got 0" in public
    with api.hidden_context():
        assert "expected 1" not in api.compare_tensors("out", torch.zeros(3), torch.ones(3))
        assert api.value(0.5) == api.HIDDEN_VALUE and "2" not in (api.compare_number("n", 1.0, 2.0) or "")


def test_verdict_faults_are_the_graders_and_slow_verdicts_are_errors(ctxtoy, tmp_path):
    results = _checks(engine.grade(ctxtoy, _package(tmp_path, "faults"), _reference(),
                                   only=["Faulty"], run=RunSecrets(5, 6)))
    fault, slow = results["faulty.verdict"], results["faulty.slow"]
    assert fault.status == "grader_error" and fault.score == 0
    assert fault.message.startswith(api.GRADER_FAULT_PREFIX) and "FileNotFoundError" in fault.message
    assert slow.status == "error" and "0.5 s" in slow.message


def test_malformed_submission_output_is_its_own_failure(ctxtoy):
    """A verdict that raises on the submission's output but judges the reference's own output: the
    submission's fault (failed), not a grader fault."""
    def fragile(actual, expected):
        return verdict_ok(actual["out"].sum(), expected["out"].sum())

    def verdict_ok(a, e):
        return api.passed() if abs(float(a) - float(e)) < 1e-4 else api.failed("differs")

    check = api.Check("fragile", "Scale", "scale_seeded", fragile, differential=True, structure="none")
    expected = {"seed": 1, "x": torch.ones(5), "out": torch.ones(5)}
    status, verdict = engine.judge(check, {"seed": 1, "x": torch.ones(5), "out": "not a tensor"}, expected,
                                   hidden=True, witness=expected)
    assert status == "failed" and verdict.message.startswith("unexpected output from your code")
    status, _ = engine.judge(check, {"seed": 1, "x": torch.ones(5), "out": "not a tensor"}, expected,
                             hidden=True, witness=None)
    assert status == "grader_error"


def test_reference_failure_is_a_grader_error(ctxtoy, tmp_path):
    broken_reference = CachedExecutor(_package(tmp_path, "broken_ref", "1 / 0"))
    results = _checks(engine.grade(ctxtoy, _package(tmp_path, "ok_sub"), broken_reference,
                                   only=["scale.seeded"], run=RunSecrets(7, 8)))
    assert results["scale.seeded"].status == "grader_error"
    assert results["scale.seeded"].message.startswith(api.GRADER_FAULT_PREFIX)


def test_isolated_worker_gets_the_seed_and_late_inputs(ctxtoy, tmp_path):
    from grader.core.sandbox import IsolatedExecutor, IsolationOptions

    with IsolatedExecutor(TOYREF, IsolationOptions(startup_timeout=120)) as worker:
        results = _checks(engine.grade(ctxtoy, worker, _reference(), only=["Scale", "Add"], run=RunSecrets(31, 32)))
    for cid in ("scale.seeded", "scale.late", "add.cases"):
        assert results[cid].status == "passed", (cid, results[cid].message)


def test_probe_results_are_bounded_by_elements_not_bytes(monkeypatch):
    """An expanded view claims billions of elements on a few bytes of storage: refused before it is
    copied (the parent would otherwise materialise it)."""
    from grader.worker import probe_runtime

    monkeypatch.setattr(probe_runtime, "MAX_ELEMENTS", 1000)
    huge = torch.zeros(1).expand(10_000)
    status, data, message, *_ = probe_runtime.run_probe(lambda pkg: {"x": huge}, None)
    assert status == "error" and "tensor elements" in message
    status, data, *_ = probe_runtime.run_probe(lambda pkg: {"x": torch.zeros(1).expand(10)}, None)
    assert status == "ok" and data["x"].stride() == (1,)  # compacted, not a view


def test_an_alias_reused_for_another_directory_imports_that_directory(ctxtoy, tmp_path):
    """Two in-process executors with one alias (the CLI's reference alias, first for the course's
    reference, then for another reference directory): the second grades its own directory."""
    first = _package(tmp_path, "first", "x * k + 100")
    second_root = tmp_path / "second"
    shutil.copytree(TOYREF, second_root, ignore=shutil.ignore_patterns("__pycache__"))
    first_alias = InProcessExecutor.for_directory(first.package_dir, "_ctxtoy_shared_alias")
    second_alias = InProcessExecutor.for_directory(second_root, "_ctxtoy_shared_alias")
    x_first = first_alias.run(ctxtoy, "scale_seeded", seed=1).data
    x_second = second_alias.run(ctxtoy, "scale_seeded", seed=1).data
    assert torch.allclose(x_first["out"] - 100, x_second["out"])
