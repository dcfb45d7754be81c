"""checks.py, probes.py and rubric.toml of the centernet assignment agree with each other and with
the assignment's contract (points per component, probe/verdict split)."""

from __future__ import annotations

import ast
import inspect
import sys
import tomllib
from pathlib import Path

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
PROBE_THIRD_PARTY = {"torch", "torchvision", "numpy"}


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


def test_probes_import_only_what_the_worker_has():
    tree = ast.parse((DIRECTORY / "probes.py").read_text(encoding="utf-8"))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            imported.add(node.module)
    allowed = set(sys.stdlib_module_names) | PROBE_THIRD_PARTY
    outside = sorted(name for name in imported if name.split(".")[0] not in allowed)
    assert not outside, f"probes.py imports {outside}: the worker has only the standard library, torch, torchvision, numpy"


def test_every_probe_takes_only_the_package():
    a = _assignment()
    for probe in {check.probe for check in a.checks.values()}:
        params = list(inspect.signature(getattr(a.probes, probe)).parameters)
        assert params == ["pkg"], f"probe {probe} takes {params}"
