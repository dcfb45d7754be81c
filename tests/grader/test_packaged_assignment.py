"""An assignment may split its probes and verdicts into packages (issue 11.1-11.2).

``fixtures/toypkg`` is the toy assignment written that way: ``probes/`` (modules importing each other
by relative imports) and ``verdicts/`` (verdicts registered by check id with ``api.Checks``; no check
names its component, the rubric does). The same submissions get the same scores as with the one-file
toy, through the sandboxed worker; the student bundle drops the hidden verdicts and keeps the public.
"""

from __future__ import annotations

import ast
import shutil
import textwrap

import pytest

from grader import release
from grader.core import assignment
from grader.core.api import Checks, passed
from grader.core.runner import RunOptions, grade_submission
from grader.core.rubric import RubricError
from grader.core.sandbox import IsolationOptions
from grader.core.submission import resolve

from grader_testkit import FIXTURES, SUBS, TOY, TOYREF

TOYPKG = FIXTURES / "toypkg"


def _scores(path, assignment_, reference, options):
    submission = resolve(path, ["toy"])
    try:
        report = grade_submission(submission, [assignment_], reference, options)
    finally:
        submission.cleanup()
    return {cr.name: cr.score for cr in report.components}, {chk.id: chk.status for _, chk in report.checks()}


def test_components_come_from_the_rubric():
    packaged, flat = assignment.load(TOYPKG), assignment.load(TOY)
    assert assignment.source(TOYPKG, "probes", "probes.py").is_dir()
    assert {c.id: c.component for c in packaged.checks.values()} == {c.id: c.component for c in flat.checks.values()}
    assert packaged.check("cube.values").component == "Cube"


@pytest.fixture(scope="module")
def graded(toy_reference):
    """The reference and the wrong submission, each on the one-file and the packaged toy (sandboxed)."""
    options = RunOptions(isolation=IsolationOptions(memory_mb=4096, secrets=[str(TOYREF)], hide=[str(TOYREF)]))
    out = {}
    for kind, folder in (("flat", TOY), ("packaged", TOYPKG)):
        loaded = assignment.load(folder)
        out[kind] = {name: _scores(path, loaded, toy_reference, options)
                     for name, path in (("reference", TOYREF), ("wrong", SUBS / "wrong"))}
    return out


def test_the_packaged_probes_run_in_the_worker_and_grade_alike(graded):
    ref_scores, ref_status = graded["packaged"]["reference"]
    assert all(s == "passed" for s in ref_status.values()), ref_status
    assert graded["packaged"] == graded["flat"]
    wrong_scores, _ = graded["packaged"]["wrong"]
    assert wrong_scores != ref_scores  # the wrong submission loses points here as with the flat toy


def test_the_bundle_keeps_public_verdicts_and_drops_hidden_ones(tmp_path):
    dst = tmp_path / "toypkg"
    release._public_assignment(TOYPKG, dst)
    sources = {p.relative_to(dst).as_posix(): p.read_text() for p in dst.rglob("*.py")}
    text = "\n".join(sources.values())
    assert "add.values" in text and "add.shape" in text  # public, kept
    assert "scale.values" not in text and "relu.values" not in text and "cube.values" not in text
    assert "hidden_helper_only_scale_uses" not in text  # only a hidden verdict used it
    for source in sources.values():
        ast.parse(source)
    public = assignment.load(dst)
    assert set(public.checks) == {"add.values", "add.shape"}


def test_a_check_registered_twice_is_refused():
    checks = Checks()
    checks.register("a.b", probe="p", verdict=lambda actual, expected: passed())
    with pytest.raises(ValueError, match="registered twice"):
        checks.register("a.b", probe="q", verdict=lambda actual, expected: passed())


def test_a_component_declared_against_the_rubric_is_refused(tmp_path):
    folder = tmp_path / "toy"
    shutil.copytree(TOY, folder)
    checks = folder / "checks.py"
    checks.write_text(checks.read_text().replace('Check("cube.values", "Cube"', 'Check("cube.values", "Relu"'))
    with pytest.raises(RubricError, match="'cube.values' is listed under component 'Cube'.*declares 'Relu'"):
        assignment.load(folder)


def test_a_broken_verdicts_package_is_one_line(tmp_path):
    folder = tmp_path / "toypkg"
    shutil.copytree(TOYPKG, folder)
    (folder / "verdicts" / "activations.py").write_text(textwrap.dedent("""
        from .common import CHECKS
        raise ImportError("no such thing")
    """))
    with pytest.raises(RubricError, match="cannot load: ImportError: no such thing"):
        assignment.load(folder)


def test_a_missing_probes_package_is_named(tmp_path):
    folder = tmp_path / "toypkg"
    shutil.copytree(TOYPKG, folder)
    shutil.rmtree(folder / "probes")
    with pytest.raises(RubricError, match="missing probes.py"):
        assignment.load(folder)


def test_a_removed_name_leaves_only_the_imports_of_its_own_module():
    """A hidden verdict and a public probe share a name: only the probe package's import of the
    hidden probe goes; the public probe keeps its import and its place in ``__all__``."""
    sources = {
        "probes/__init__.py": "from .a import pub, hid\n__all__ = ['pub', 'hid']\n",
        "probes/a.py": "def pub(pkg):\n    return {}\n\n\ndef hid(pkg):\n    return {}\n",
        "verdicts/__init__.py": "from .v import CHECKS, pub\n",
        "verdicts/v.py": ("CHECKS = object()\n\n\n@CHECKS.verdict('c.hidden', probe='hid')\n"
                          "def pub(actual, expected):\n    return None\n"),
    }
    out = release.public_sources(sources, {"c.hidden"}, {"pub", "CHECKS"})
    assert out["probes/__init__.py"] == "from .a import pub\n__all__ = ['pub']\n"
    assert "def hid" not in out["probes/a.py"] and "def pub" in out["probes/a.py"]
    assert out["verdicts/__init__.py"] == "from .v import CHECKS\n"
    assert "def pub" not in out["verdicts/v.py"]
