"""Forged results score nothing on the centernet checks (issue 9.1, 9.2).

* ``tests/grader/fixtures/subs/forge_centernet``: a package that implements nothing and, at import
  time, replaces ``run_probe`` wherever it is loaded by one that returns fabricated results (empty
  case lists, ``num_parameters: 21e6``, torchvision's key names, "ok" flags, shapes described
  instead of tensors). Graded in the isolated worker it scores 0.
* The same fabricated results, and blind forgeries (an empty dict; the reference's structure with
  no tensors), handed to every verdict directly (as if the runtime had been patched): 0 on every check.
* A lookup table learnt from earlier runs: the reference's own outputs for another secret seed
  fail every hidden check (its inputs are new in every run).

The one hidden check that rests on the process boundary alone is named in
``PROCESS_BOUNDARY_ONLY`` (its verdict cannot tell the submission's own trained values from
fabricated ones; see the report / docs/GRADER.md threat model).
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import torch

from grader import cli
from grader.core.engine import InProcessExecutor, judge

ROOT = Path(__file__).resolve().parents[2]
FORGE = ROOT / "tests" / "grader" / "fixtures" / "subs" / "forge_centernet"
PROCESS_BOUNDARY_ONLY = {"head.can_predict_background"}
# Public checks whose whole output is derivable from public code without tensors: the state_dict
# digest of the public torchvision weights (replaying it is replaying a public expected value; only
# the process boundary stops a forged reply, as for every public check with fixed inputs).
PUBLIC_REPLAYABLE = {"resnet34.state_dict_keys"}


def _forgeries():
    spec = importlib.util.spec_from_file_location("_centernet_forgeries", FORGE / "centernet" / "forgeries.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _unit_checks(a):
    training = set(a.checks_module.TRAINING_COMPONENTS)
    return [(rc, a.check(rc.id)) for comp, rc in a.rubric.all_checks() if comp.name not in training]


@pytest.fixture(scope="module")
def reference(centernet):
    executor = InProcessExecutor("reference")
    cache = {}

    def data(probe: str, seed: int):
        if (probe, seed) not in cache:
            outcome = executor.run(centernet, probe, seed=seed)
            assert outcome.status == "ok", outcome.message
            cache[probe, seed] = outcome.data
        return cache[probe, seed]

    return data


def _without_tensors(value):
    if isinstance(value, torch.Tensor):
        return None
    if isinstance(value, dict):
        return {k: _without_tensors(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_without_tensors(v) for v in value]
    return value


def test_forged_and_blind_results_score_zero_on_every_check(centernet, reference):
    forgeries = _forgeries()
    accepted = []
    for rc, check in _unit_checks(centernet):
        witness = reference(check.probe, 7)
        expected = witness if check.differential else None
        blind = [("empty", {}), ("fabricated", forgeries.forged_result(check.probe))]
        if rc.id not in PUBLIC_REPLAYABLE:
            blind.append(("no tensors", _without_tensors(witness)))
        for label, forged in blind:
            status, verdict = judge(check, forged, expected, hidden=rc.visibility != "public", witness=witness)
            if status == "passed" or verdict.fraction > 0:
                accepted.append(f"{rc.id} accepts the {label} forgery ({status}, {verdict.fraction:g})")
            assert status != "grader_error", f"{rc.id}, {label}: {verdict.message}"
    assert not accepted, "\n".join(accepted)


def test_the_reference_of_another_run_fails_every_hidden_check(centernet, reference):
    replayed = []
    for rc, check in _unit_checks(centernet):
        if rc.visibility == "public" or rc.id in PROCESS_BOUNDARY_ONLY:
            continue
        assert check.differential, f"{rc.id}: a hidden check compares with the reference on the run's inputs"
        status, verdict = judge(check, reference(check.probe, 1), reference(check.probe, 2), hidden=True,
                                witness=reference(check.probe, 2))
        if verdict.fraction > 0:
            replayed.append(f"{rc.id}: {status} {verdict.fraction:g}")
    assert not replayed, "a lookup table from another run earns points:\n" + "\n".join(replayed)


def test_process_boundary_only_checks_are_few_and_hidden(centernet):
    visibility = {rc.id: rc.visibility for _, rc in centernet.rubric.all_checks()}
    assert PROCESS_BOUNDARY_ONLY <= set(visibility)
    assert all(visibility[c] == "hidden" for c in PROCESS_BOUNDARY_ONLY)


def test_the_runtime_patching_submission_scores_zero_in_the_worker(centernet, tmp_path, capsys):
    components = [c.name for c in centernet.rubric.components
                  if c.name not in centernet.checks_module.TRAINING_COMPONENTS]
    report = tmp_path / "report.json"
    argv = ["run", "--assignment", "centernet", "-q", "--json", str(report), "--report-dir", str(tmp_path / "r")]
    for name in components:
        argv += ["--only", name]
    code = cli.main(argv + [str(FORGE)])
    capsys.readouterr()
    data = json.loads(report.read_text())
    comps = [c for c in data["components"] if c["name"] in components]
    assert len(comps) == len(components), data
    assert sum(c["score"] for c in comps) == 0, [(c["name"], c["score"]) for c in comps]
    assert code in (0, 1), f"exit {code}"
