"""Statuses a student reads (docs/DESIGN.md principles 2 and 4): the reference gets full marks, untouched
stubs "not attempted", an import failure its message on every check; the isolated and the
in-process paths agree; class runs give one gradebook row per submission."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from grader.core.runner import RunOptions, grade_submission
from grader.core.sandbox import IsolationOptions
from grader.core.submission import resolve

from grader_testkit import SUBS, TOYREF, copy_package, grade_in_process, run_cli, toy_args


def _statuses(report) -> dict:
    return {chk.id: (chk.status, chk.message) for _, chk in report.checks()}


@pytest.fixture(scope="module")
def isolated(toy, toy_reference):
    """Isolated grading of the submissions whose import or stubs decide every check."""
    out = {}
    for name in ("stub", "import_error", "import_notimpl"):
        sub = resolve(SUBS / name, ["toy"])
        out[name] = grade_submission(sub, [toy], toy_reference, RunOptions(isolation=IsolationOptions()))
    return out


def test_stubs_are_not_attempted(isolated):
    report = isolated["stub"]
    assert report.score == 0
    for cid, (status, message) in _statuses(report).items():
        assert status == "not_attempted", cid
        assert message.startswith("not attempted:") and "is not implemented yet" in message
    comps = {c.name: c.status for c in report.components}
    assert comps == {"Add": "not_attempted", "Scale": "not_attempted", "Relu": "not_attempted",
                     "Cube": "not_attempted", "Report": "pending_review"}


def test_import_error_is_reported_on_every_check(isolated):
    for cid, (status, message) in _statuses(isolated["import_error"]).items():
        assert status == "error", cid
        assert message.startswith("importing your `toy` package failed: ValueError: broken at import time")
        assert "__init__.py:1" in message


def test_not_implemented_at_import_is_not_attempted(isolated):
    for cid, (status, message) in _statuses(isolated["import_notimpl"]).items():
        assert (status, message) == ("not_attempted", "not attempted: toy is not started"), cid


@pytest.mark.parametrize("name", ["stub", "import_error", "import_notimpl"])
def test_in_process_agrees_with_isolated(isolated, toy, toy_reference, name):
    assert _statuses(grade_in_process(SUBS / name, toy, toy_reference)) == _statuses(isolated[name])


def test_missing_assignment_package_is_not_attempted(tmp_path, toy, toy_reference):
    (tmp_path / "pkg" / "other").mkdir(parents=True)
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "other" / "__init__.py").write_text("")
    statuses = _statuses(grade_in_process(tmp_path / "pkg", toy, toy_reference))
    assert {s for s, _ in statuses.values()} == {"not_attempted"}
    assert all("has no `toy` package" in m for _, m in statuses.values())


def test_reference_gets_full_marks_isolated(tmp_path, capsys):
    code, out, err = run_cli(toy_args("--reference", "--json", str(tmp_path / "r.json"),
                                      "--report-dir", str(tmp_path)), capsys)
    assert code == 0, err
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["submission"]["kind"] == "reference" and report["isolation"]["mode"] == "isolated"
    automatic = [c for c in report["components"] if not c["manual"]]
    assert all(c["score"] == c["max_score"] and c["status"] == "passed" for c in automatic)
    assert report["score"] == 5 + 1  # everything but the manual Report, plus the bonus


def test_warnings_never_fail(tmp_path, toy, toy_reference):
    pkg = copy_package(TOYREF, tmp_path / "warns")
    ops = pkg / "toy" / "ops.py"
    ops.write_text("import warnings\nwarnings.simplefilter('error')\n" + ops.read_text().replace(
        '    """Elementwise sum."""\n',
        '    """Elementwise sum."""\n    warnings.warn("careful", UserWarning)\n'
        '    warnings.warn("old", DeprecationWarning)\n'))
    report = grade_in_process(pkg, toy, toy_reference)
    assert {s for s, _ in _statuses(report).values()} == {"passed"}


def test_public_only_needs_no_reference(capsys):
    code, out, err = run_cli(["run", "--assignment", str(Path(__file__).parent / "fixtures" / "toy"),
                              "--reference-dir", "/nonexistent", "--public-only", "--in-process",
                              str(SUBS / "wrong")], capsys)
    assert "add.values" in out and "scale.values" not in out  # hidden checks are not run
    assert out.strip().splitlines()[-1] == "TOTAL 1 / 2 (part of the rubric: see the note above)"
    # The toy's public add.values is differential (the real assignments' public checks never are):
    # without a reference that is the grader's fault, not the student's: exit 3, one line.
    assert code == 3 and err.startswith("grader: grader fault in toy/add.values (not the student's)")
    assert "failed" not in out


def test_in_process_shows_full_tracebacks(capsys):
    code, out, _ = run_cli(toy_args(str(SUBS / "import_error"), "--in-process", "--only", "add.shape"), capsys)
    assert code == 0
    assert "Traceback (most recent call last)" in out and "ValueError: broken at import time" in out


def test_class_run_writes_a_gradebook(tmp_path, capsys):
    klass = tmp_path / "class"
    klass.mkdir()
    copy_package(TOYREF, klass / "alice")
    copy_package(SUBS / "wrong", klass / "bob")
    copy_package(SUBS / "stub", klass / "carol")
    (klass / "dave.zip").write_bytes(b"not a zip")
    out_dir = tmp_path / "out"
    code, out, err = run_cli(toy_args("--class", str(klass), "--in-process", "-q", "--report-dir", str(out_dir),
                                      "--json", str(tmp_path / "class.json")), capsys)
    assert code == 0
    assert err.count("\n") == 1 and "dave.zip: not a valid zip archive" in err
    rows = list(csv.DictReader(io.StringIO((out_dir / "gradebook.csv").read_text())))
    assert [(r["submission"], r["score"], r["total"], r["status"].split(":")[0]) for r in rows] == [
        ("alice", "5", "6", "graded"), ("bob", "3.5", "3.5", "graded"), ("carol", "0", "0", "graded"),
        ("dave", "0", "0", "error")]
    for name in ("alice", "bob", "carol"):
        assert json.loads((out_dir / "submissions" / name / "report.json").read_text())["submission"]["name"] == name
        assert ((out_dir / "submissions" / name / "results.json").is_file()
                and (out_dir / "submissions" / name / "report.md").is_file())
    combined = json.loads((tmp_path / "class.json").read_text())
    assert [s["submission"]["name"] for s in combined["submissions"]] == ["alice", "bob", "carol", "dave"]
