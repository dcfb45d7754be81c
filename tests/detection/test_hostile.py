"""A hostile "detection" package scores 0 in the isolated worker (issue 9.1, 9.4).

``fixtures/hostile/detection`` implements nothing; at import it rebinds the probe runtime and
replaces the probe functions as they load, handing back forged results (see its docstring),
and tries to rebuild the test split from the generator or read the hidden annotations. Before
this change such a submission earned 2 + 3 points on the mAP challenge alone.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from .support import ROOT

FIXTURE = ROOT / "tests" / "detection" / "fixtures" / "hostile"


def _grade_hostile(tmp_path, head_flags=None) -> dict:
    submission = tmp_path / "hostile"
    shutil.copytree(FIXTURE, submission, ignore=shutil.ignore_patterns("__pycache__"))
    if head_flags is not None:
        (submission / "detection" / "head_flags.json").write_text(json.dumps(head_flags))
    report = tmp_path / "report.json"
    env = {**os.environ, "NO_ALBUMENTATIONS_UPDATE": "1"}
    proc = subprocess.run([sys.executable, "-m", "grader", "run", "--assignment", "detection", str(submission),
                           "--json", str(report), "--report-dir", str(tmp_path / "out"), "-q"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return json.loads(report.read_text())


def test_hostile_package_scores_zero(tmp_path):
    data = _grade_hostile(tmp_path)
    components = [c for c in data["components"] if c["assignment"] == "detection"]
    assert {c["name"] for c in components} == {c.name for c in __import__("grader.core.assignment", fromlist=["load"])
                                               .load("detection").rubric.components}  # the report is complete
    assert sum(c["score"] for c in components) == 0, [(c["name"], c["score"]) for c in components]
    checks = {k["name"]: k for c in components for k in c["checks"]}
    assert all(k["status"] != "grader_error" for k in checks.values())
    # the forged test split: neither the generator nor the hidden annotations were reachable
    for name in ("map.regular", "map.bonus"):
        assert checks[name]["score"] == 0
        assert checks[name]["status"] in ("failed", "not_attempted"), checks[name]


def test_probe_functions_replaced_at_import_change_nothing(tmp_path):
    """The worker binds the probe functions before the submission's import-time code runs, so a
    package that swaps them as the probes module loads forges nothing (head.decoupled included)."""
    from grader.core import assignment, engine

    flags = engine.InProcessExecutor("reference").run(assignment.load("detection"), "head_probe").data
    data = _grade_hostile(tmp_path, head_flags=flags)
    head = next(c for c in data["components"] if c["name"] == "Head")
    assert head["score"] == 0, head["checks"][0]["message"]
