"""checks.py, probes.py and rubric.toml of the centernet assignment agree with each other and with
the assignment's contract (points per component, probe/verdict split)."""

from __future__ import annotations

import inspect
import tomllib
from pathlib import Path

import torch

from grader.core import assignment as assignment_module

DIRECTORY = Path(__file__).resolve().parents[2] / "grader" / "assignments" / "centernet"
# The graded components and their points (the course's table; training is added separately).
COMPONENT_POINTS = {
    "UpscaleTwiceLayer": 2,
    "HeadlessResnet34": 2,
    "CenterNetHead": 2,
    "CenterNetLoss": 2,
    "ObjectsToPoints": 3,
    "PointsToObjects": 4,
    "PointsNonMaxSuppression": 3,
}
# The worker has the standard library, torch, torchvision and numpy; never grader, reference or student.


def _assignment():
    return assignment_module.load("centernet")


def _rubric_check_ids() -> list[str]:
    data = tomllib.loads((DIRECTORY / "rubric.toml").read_text(encoding="utf-8"))
    return [check["id"] for comp in data["components"] for check in comp.get("checks", [])]


def test_every_check_is_in_the_rubric_and_every_rubric_check_exists():
    declared = set(_assignment().checks)
    in_rubric = _rubric_check_ids()
    assert len(in_rubric) == len(set(in_rubric)), "a check id appears twice in rubric.toml"
    assert declared - set(in_rubric) == set(), "checks.py declares checks the rubric does not grade"
    assert set(in_rubric) - declared == set(), "rubric.toml names checks checks.py does not declare"


def test_components_and_points_follow_the_contract():
    rubric = _assignment().rubric
    graded = {c.name: c.points for c in rubric.components if c.name in COMPONENT_POINTS}
    assert graded == COMPONENT_POINTS
    assert sum(COMPONENT_POINTS.values()) == 18
    assert rubric.max_score == sum(c.points for c in rubric.components if not c.bonus)


def test_each_check_sits_in_its_own_component_and_names_an_existing_probe():
    a = _assignment()
    for comp, rc in a.rubric.all_checks():
        check = a.check(rc.id)
        assert check.component == comp.name, f"{rc.id}: checks.py says {check.component}, rubric says {comp.name}"
        assert callable(getattr(a.probes, check.probe, None)), f"{rc.id}: no probe {check.probe} in probes.py"


def test_public_checks_need_no_reference_and_every_component_has_both_kinds():
    a = _assignment()
    for comp in a.rubric.components:
        if comp.name not in COMPONENT_POINTS:
            continue
        kinds = {rc.visibility for rc in comp.checks}
        assert kinds == {"public", "hidden"}, f"{comp.name}: visibilities {kinds}"
        for rc in comp.checks:
            if rc.visibility == "public":
                assert not a.check(rc.id).differential, f"{rc.id} is public but needs the reference"


def _params(fn) -> list:
    return list(inspect.signature(fn).parameters)


def test_public_probes_use_fixed_inputs_and_hidden_probes_the_secret_context():
    """Public checks' probes take the package only (their cases are public), unless they receive late
    inputs after training (the parent's secret, through the context); every probe of a hidden
    unit check takes the probe context (its inputs come from the per-run secret seed), and its check
    is differential (the verdict reads the cases from the reference's run with the same seed)."""
    a = _assignment()
    training = set(a.checks_module.TRAINING_COMPONENTS)
    public_probes = {a.check(rc.id).probe for _, rc in a.rubric.all_checks() if rc.visibility == "public"}
    for comp, rc in a.rubric.all_checks():
        check = a.check(rc.id)
        params = _params(getattr(a.probes, check.probe))
        if check.probe in public_probes:
            wanted = ["pkg", "ctx"] if check.late_inputs is not None else ["pkg"]
            assert params == wanted, f"public probe {check.probe} takes {params}"
        elif comp.name not in training:
            assert params == ["pkg", "ctx"], f"hidden probe {check.probe} takes {params}"
            assert check.differential, f"{rc.id}: hidden, so differential"


def _tensors(value) -> list:
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, dict):
        return [t for v in value.values() for t in _tensors(v)]
    if isinstance(value, (list, tuple)):
        return [t for v in value for t in _tensors(v)]
    return []


def _same(a, b) -> bool:
    ta, tb = _tensors(a), _tensors(b)
    return len(ta) == len(tb) and all(x.shape == y.shape and torch.equal(x, y) for x, y in zip(ta, tb))


def test_hidden_inputs_change_with_the_secret_seed_and_only_with_it():
    """No hidden case is a module constant: the reference's output of every hidden unit probe differs
    between two seeds, and is the same for the same seed (parent and worker agree)."""
    from grader.core.engine import InProcessExecutor

    a = _assignment()
    training = set(a.checks_module.TRAINING_COMPONENTS)
    executor = InProcessExecutor("reference")
    public_probes = {a.check(rc.id).probe for _, rc in a.rubric.all_checks() if rc.visibility == "public"}
    hidden = sorted({a.check(rc.id).probe for comp, rc in a.rubric.all_checks()
                     if comp.name not in training and a.check(rc.id).probe not in public_probes})
    assert len(hidden) >= 12
    for probe in hidden:
        first, again, other = (executor.run(a, probe, seed=s) for s in (11, 11, 12))
        assert first.status == again.status == other.status == "ok", (probe, first.message)
        assert _same(first.data, again.data), f"{probe}: the same seed gave other inputs"
        assert not _same(first.data, other.data), f"{probe}: another seed gave the same result (fixed inputs?)"
