"""Helpers of the grader's own tests: paths of the fixtures, running the CLI, grading in-process.

Nothing here depends on the real assignments (centernet, detection): ``fixtures/`` holds a toy
assignment, a hostile rubric, a toy reference package and submissions.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from grader import cli
from grader.core.runner import RunOptions, grade_submission
from grader.core.submission import resolve

FIXTURES = Path(__file__).resolve().parent / "fixtures"
ROOT_DIR = FIXTURES.parents[2]  # the checkout
TOY = FIXTURES / "toy"
HOSTILE = FIXTURES / "hostile"
TOYREF = FIXTURES / "toyref"
SUBS = FIXTURES / "subs"
ALL_STATUSES = {"passed", "failed", "error", "timeout", "resource_limit", "not_attempted", "pending_review",
                "grader_error"}


def toy_args(*extra: str) -> list[str]:
    """CLI arguments that grade against the toy assignment and reference."""
    return ["run", "--assignment", str(TOY), "--reference-dir", str(TOYREF), *extra]


def run_cli(argv: list[str], capsys) -> tuple[int, str, str]:
    """Run ``grader`` in this process; return (exit code, stdout, stderr)."""
    code = cli.main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def copy_package(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("__pycache__"))
    return dst


def grade_in_process(path: Path, toy_assignment, reference, **options):
    """Grade a submission path on the toy assignment in this process (fast; no worker)."""
    submission = resolve(path, ["toy"])
    try:
        return grade_submission(submission, [toy_assignment], reference, RunOptions(in_process=True, **options))
    finally:
        submission.cleanup()
