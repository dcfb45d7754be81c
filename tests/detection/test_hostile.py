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
from pathlib import Path
import subprocess
import sys


from .support import ROOT

FIXTURE = ROOT / "tests" / "detection" / "fixtures" / "hostile"


def _hostile_package(submission: Path) -> None:
    """The course's untouched stubs plus the attack: ``_payload.py``, imported by ``assigner.py`` (a
    solution module; the given ``__init__`` is replaced by the course's copy at grading time)."""
    shutil.copytree(ROOT / "student" / "detection", submission / "detection",
                    ignore=shutil.ignore_patterns("__pycache__", "*.json", "weights.pt"))
    shutil.copy(FIXTURE / "detection" / "_payload.py", submission / "detection" / "_payload.py")
    assigner = submission / "detection" / "assigner.py"
    text = assigner.read_text()
    marker = "\nimport torch\n"
    assert marker in text, "the stub's imports changed: update the hostile fixture's insertion point"
    assigner.write_text(text.replace(
        marker, marker + "\nfrom . import _payload  # noqa: F401 - HOSTILE: runs at import\n", 1))


def _grade_hostile(tmp_path, head_flags=None, *extra: str) -> dict:
    submission = tmp_path / "hostile"
    _hostile_package(submission)
    if head_flags is not None:
        (submission / "detection" / "head_flags.json").write_text(json.dumps(head_flags))
    report = tmp_path / "report.json"
    env = {**os.environ, "NO_ALBUMENTATIONS_UPDATE": "1"}
    proc = subprocess.run([sys.executable, "-m", "grader", "run", "--assignment", "detection", str(submission),
                           "--json", str(report), "--report-dir", str(tmp_path / "out"), "-q", *extra],
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



def test_the_payload_is_live(tmp_path):
    """Control for the tests above: imported in a plain interpreter, the package really rebinds the
    probe runtime (so the worker's score of 0 is containment, not an inert fixture)."""
    submission = tmp_path / "live"
    _hostile_package(submission)
    code = ("import sys; sys.path[:0] = [sys.argv[1], sys.argv[2]]\n"
            "import grader.worker.probe_runtime as pr; sys.modules['probe_runtime'] = pr; before = pr.run_probe\n"
            "import detection\n"
            "print('rebound' if pr.run_probe is not before else 'inert')")
    env = {**os.environ, "NO_ALBUMENTATIONS_UPDATE": "1"}
    proc = subprocess.run([sys.executable, "-c", code, str(submission), str(ROOT)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.stdout.strip().endswith("rebound"), proc.stdout[-1000:] + proc.stderr[-1000:]
