"""The students' public test file (tests/public/test_centernet.py) works as they will run it.

It is run in a subprocess, as ``pytest`` would be on a laptop: on the reference (COURSE_IMPL=reference)
every public check passes; on the untouched stubs nothing passes and nothing fails, every check is
skipped as "not attempted"; on a wrong solution the failing check shows the verdict's message.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

from grader.core import assignment as assignment_module

ROOT = Path(__file__).resolve().parents[2]
PUBLIC_FILE = ROOT / "tests" / "public" / "test_centernet.py"


def _public_check_ids() -> set[str]:
    rubric = assignment_module.load("centernet").rubric
    return {check.id for _, check in rubric.all_checks() if check.visibility == "public"}


def _run_public_suite(tmp_path: Path, impl: str | None, *extra: str, pythonpath: Path | None = None) -> dict:
    """Run the public file; return {check id: (outcome, message)} from its JUnit report."""
    report = tmp_path / "report.xml"
    env = {k: v for k, v in os.environ.items() if k != "COURSE_IMPL"}
    if impl is not None:
        env["COURSE_IMPL"] = impl
    if pythonpath is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(pythonpath), env.get("PYTHONPATH")]))
    cmd = [sys.executable, "-m", "pytest", str(PUBLIC_FILE), "-q", "-p", "no:cacheprovider",
           f"--junitxml={report}", "-o", "addopts=", *extra]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert report.exists(), f"pytest did not run:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    outcomes = {}
    for case in ET.parse(report).getroot().iter("testcase"):
        check_id = case.get("name").split("[", 1)[1].rstrip("]")
        outcome, message = "passed", ""
        for tag in ("failure", "error", "skipped"):
            node = case.find(tag)
            if node is not None:
                outcome, message = tag, (node.get("message") or "") + (node.text or "")
        outcomes[check_id] = (outcome, message)
    return outcomes


def test_public_suite_passes_on_the_reference(tmp_path):
    outcomes = _run_public_suite(tmp_path, "reference")
    assert set(outcomes) == _public_check_ids()
    not_passed = {k: v for k, v in outcomes.items() if v[0] != "passed"}
    assert not not_passed, not_passed


def test_public_suite_on_the_stubs_only_skips_as_not_attempted(tmp_path):
    outcomes = _run_public_suite(tmp_path, None)  # the default: the student package
    assert set(outcomes) == _public_check_ids()
    assert {outcome for outcome, _ in outcomes.values()} == {"skipped"}, outcomes
    for check_id, (_, message) in outcomes.items():
        assert "not attempted" in message and "is not implemented yet" in message, (check_id, message)


def test_public_suite_shows_the_verdict_of_a_wrong_solution(tmp_path):
    spec = importlib.util.spec_from_file_location("_centernet_public_variants", Path(__file__).with_name("variants.py"))
    variants = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = variants
    spec.loader.exec_module(variants)
    softmax = next(v for v in variants.WRONG if v.name == "head_softmax")
    package = tmp_path / "pkgs" / "softmax_submission"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    variants.apply(softmax, ROOT / "reference" / "centernet", package / "centernet")

    outcomes = _run_public_suite(tmp_path, "softmax_submission", "-k", "head", pythonpath=tmp_path / "pkgs")
    assert outcomes["head.independent_classes"][0] == "failure"
    assert "sum to 1" in outcomes["head.independent_classes"][1]
    assert outcomes["head.shapes"][0] == "passed"
