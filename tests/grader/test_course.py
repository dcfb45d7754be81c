"""The course directory (grader/core/course.py) and a grader installed as a plain wheel (issue 11.3-4).

* the course is found from --course-dir, $GRADER_COURSE_DIR, the current directory upward, else the
  checkout of the grader; a wrong one is a one-line error;
* one ``grader`` command never changes the course of the next (``cli.main`` in tests);
* the wheel holds the grader only: no ``reference`` (solutions) and no ``student`` package;
* a copy of the grader installed outside the checkout (what ``pip install .`` puts in
  site-packages) grades the reference from another working directory, through the isolated worker,
  and the worker cannot read the installed grader's files.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from grader.core import course as course_mod

from grader_testkit import ROOT_DIR, run_cli


@pytest.fixture
def fresh_course(monkeypatch):
    """No course chosen yet in this process and no $GRADER_COURSE_DIR."""
    monkeypatch.delenv(course_mod.COURSE_ENV, raising=False)
    saved = course_mod._CURRENT[0]
    course_mod.reset()
    yield
    course_mod._CURRENT[0] = saved


def _course(root: Path, *, reference: bool = True) -> Path:
    (root / "student").mkdir(parents=True)
    if reference:
        (root / "reference").mkdir()
    return root


def test_found_from_the_current_directory_upward(fresh_course, tmp_path):
    root = _course(tmp_path / "course")
    (root / "reference" / "deep" / "er").mkdir(parents=True)
    assert course_mod.find(cwd=root / "reference" / "deep" / "er").root == root.resolve()


def test_explicit_beats_environment_beats_current_directory(fresh_course, tmp_path, monkeypatch):
    here, there, other = (_course(tmp_path / n) for n in ("here", "there", "other"))
    monkeypatch.setenv(course_mod.COURSE_ENV, str(there))
    assert course_mod.find(cwd=here).root == there.resolve()
    assert course_mod.find(other, cwd=here).root == other.resolve()


def test_outside_any_course_the_grader_checkout_is_used(fresh_course, tmp_path):
    assert course_mod.find(cwd=tmp_path).root == ROOT_DIR.resolve()


def test_a_student_bundle_is_a_course_directory(fresh_course, tmp_path):
    """student/ and data/, no reference/: public-only grading works there."""
    root = _course(tmp_path / "bundle", reference=False)
    (root / "data").mkdir()
    assert course_mod.find(cwd=root).root == root.resolve()


@pytest.mark.parametrize("bad", ["missing", "file", "no_student"])
def test_a_wrong_course_dir_is_one_line(fresh_course, tmp_path, capsys, bad):
    target = tmp_path / bad
    if bad == "file":
        target.write_text("")
    elif bad == "no_student":
        (target / "reference").mkdir(parents=True)
    code, out, err = run_cli(["run", "--course-dir", str(target)], capsys)
    assert code == 2 and err.startswith("grader: error: --course-dir") and err.count("\n") == 1, err
    assert os.environ.get(course_mod.COURSE_ENV) is None  # nothing left behind


def test_one_command_does_not_change_the_next(fresh_course, tmp_path, capsys):
    other = _course(tmp_path / "other")
    run_cli(["--course-dir", str(other), "run", "--public-only", "--assignment", "nonexistent"], capsys)
    assert course_mod.current().root == ROOT_DIR.resolve()
    assert course_mod.current().reference == ROOT_DIR.resolve() / "reference"


def test_reference_dir_moves_only_the_reference(fresh_course, tmp_path):
    moved = course_mod.find(cwd=ROOT_DIR).with_reference(tmp_path)
    assert moved.reference == tmp_path.resolve() and moved.student == ROOT_DIR.resolve() / "student"
    assert tmp_path.resolve() in moved.secret_dirs()


# ---------------------------------------------------------------------------------------------
# The wheel
# ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The project's wheel, built from a copy of the checkout (no build/ of ours is touched)."""
    src = tmp_path_factory.mktemp("src")
    for name in ("grader", "pyproject.toml", "README.md"):
        path = ROOT_DIR / name
        (shutil.copytree if path.is_dir() else shutil.copy2)(path, src / name, **(
            {"ignore": shutil.ignore_patterns("__pycache__")} if path.is_dir() else {}))
    for name in ("reference", "student"):  # present, as in a checkout: the wheel must leave them out
        shutil.copytree(ROOT_DIR / name, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pt"))
    out = tmp_path_factory.mktemp("dist")
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                           "-w", str(out), str(src)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    (built,) = out.glob("*.whl")
    return built


def test_the_wheel_holds_no_solutions(wheel):
    tops = {name.split("/", 1)[0] for name in zipfile.ZipFile(wheel).namelist()}
    assert "grader" in tops
    assert not tops & {"reference", "student", "tests", "data"}, tops
    names = zipfile.ZipFile(wheel).namelist()
    assert "grader/assignments/centernet/rubric.toml" in names  # package data travels


def test_an_installed_grader_grades_the_course_from_elsewhere(wheel, tmp_path):
    """The wheel unpacked into a site directory of its own (what pip puts in site-packages), run
    from an unrelated directory with --course-dir: the reference gets the points, through the
    isolated worker, and the worker saw the installed grader covered (a secret)."""
    site = tmp_path / "site"
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site),
                           str(wheel)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in (course_mod.COURSE_ENV, "GRADER_DATA_DIR")}
    env.update(PYTHONPATH=str(site), NO_ALBUMENTATIONS_UPDATE="1")
    report = elsewhere / "report.json"
    proc = subprocess.run([sys.executable, "-m", "grader", "run", "--course-dir", str(ROOT_DIR), "--reference",
                           "--assignment", "centernet", "--only", "UpscaleTwiceLayer", "--json", str(report), "-q"],
                          cwd=elsewhere, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-1500:] + proc.stderr[-1500:]
    data = json.loads(report.read_text())
    (assignment,) = data["assignments"]
    assert assignment["score"] == assignment["max_score"] == 2, assignment
    probe = subprocess.run([sys.executable, "-c", "import grader; print(grader.__file__)"], cwd=elsewhere,
                           env=env, capture_output=True, text=True)
    assert probe.stdout.strip().startswith(str(site)), probe.stdout  # the installed copy ran, not the checkout
    # the rubrics and hidden checks of the installed copy: covered, or outside everything the worker sees
    installed = (site / "grader").resolve()
    filesystem = data["isolation"]["filesystem"]
    if filesystem["mode"] == "permissions":
        assert str(installed) in filesystem["protected"], filesystem
    else:
        seen = [v for v in filesystem["visible"] if installed == Path(v) or Path(v) in installed.parents]
        assert not seen or str(installed) in filesystem["covered_secrets"], filesystem
