"""Adding an assignment touches only its own folders (issue 11.2): the toy assignment, dropped into
a course of its own, is generated, graded and released by an unchanged copy of the grader.

The course is built in a temporary directory: a copy of ``grader/`` with ``grader/assignments/toy/``
added (the fixture's rubric, checks and probes), ``reference/toy`` (the fixture's reference with
solution regions marked) and nothing else of the core changed, which the test checks file by file.
Everything runs as a user would: ``python -m grader`` from inside that course directory.
"""

from __future__ import annotations

import filecmp
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from grader_testkit import ROOT_DIR, TOY, TOYREF

GRADER = ROOT_DIR / "grader"


def _mark_solutions(ops: Path) -> None:
    """Put the bodies of add and scale inside solution regions (what `grader generate` stubs)."""
    text = ops.read_text()
    for body in ("    return a + b\n", "    return x * k\n"):
        assert text.count(body) == 1
        text = text.replace(body, f"    # BEGIN SOLUTION\n{body}    # END SOLUTION\n")
    ops.write_text(text)


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("toycourse")
    shutil.copytree(GRADER, root / "grader", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(TOY, root / "grader" / "assignments" / "toy")
    shutil.copytree(TOYREF, root / "reference", ignore=shutil.ignore_patterns("__pycache__"))
    _mark_solutions(root / "reference" / "toy" / "ops.py")
    (root / "student").mkdir()
    (root / "docs").mkdir()
    (root / "docs" / "STUDENT_README.md").write_text("# Toy course\n")
    (root / "pyproject.toml").write_text((ROOT_DIR / "pyproject.toml").read_text())
    return root


def _grader(course: Path, *args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("GRADER_COURSE_DIR", "GRADER_DATA_DIR", "PYTHONPATH")}
    env["NO_ALBUMENTATIONS_UPDATE"] = "1"
    return subprocess.run([sys.executable, "-m", "grader", *args], cwd=course, env=env, capture_output=True,
                          text=True, timeout=timeout)


def test_the_core_is_untouched(course):
    """Only grader/assignments/toy/ is new in the course's copy of the grader."""
    def differences(cmp: filecmp.dircmp, prefix: str = "") -> list[str]:
        out = [f"{prefix}{n}" for n in cmp.left_only + cmp.right_only + cmp.diff_files if n != "__pycache__"]
        for name, sub in cmp.subdirs.items():
            if name != "__pycache__":
                out += differences(sub, f"{prefix}{name}/")
        return out

    assert differences(filecmp.dircmp(GRADER, course / "grader")) == ["assignments/toy"]


def test_generate_release_and_grade_the_new_assignment(course, tmp_path):
    made = _grader(course, "generate")
    assert made.returncode == 0, made.stderr
    stub = (course / "student" / "toy" / "ops.py").read_text()
    assert 'raise NotImplementedError("add is not implemented yet")' in stub and "return a + b" not in stub
    assert _grader(course, "generate", "--check").returncode == 0

    # the reference gets every automatic point, the generated stubs get none (in-process: the toy
    # course has no worker-specific set-up either way; the isolated worker is tested elsewhere)
    ref = _grader(course, "run", "--reference", "--assignment", "toy", "--in-process",
                  "--json", str(tmp_path / "r.json"))
    assert ref.returncode == 0, ref.stdout[-1500:] + ref.stderr[-1500:]
    automatic = [c for c in json.loads((tmp_path / "r.json").read_text())["components"] if not c["manual"]]
    assert automatic and all(c["score"] == c["max_score"] > 0 for c in automatic), automatic
    stubs = _grader(course, "run", "--assignment", "toy", "--in-process", "--json", str(tmp_path / "s.json"))
    assert stubs.returncode == 0, stubs.stderr[-1500:]
    scored = {c["name"]: c["score"] for c in json.loads((tmp_path / "s.json").read_text())["components"]}
    assert scored["Add"] == scored["Scale"] == 0, scored

    bundle = tmp_path / "bundle"
    released = _grader(course, "release", str(bundle), "--skip-data")
    assert released.returncode == 0, released.stderr
    assert (bundle / "student" / "toy" / "ops.py").read_text() == stub
    assert (bundle / "grader" / "assignments" / "toy" / "rubric.toml").is_file()
    assert not (bundle / "reference").exists()
    public = (bundle / "grader" / "assignments" / "toy" / "rubric.toml").read_text()
    assert "add.values" in public and "scale.values" not in public  # hidden checks stay with the instructor
