"""Grading one submission end to end: executors, every assignment, overrides, policy, report.

Used by the CLI (``grader run``), the benchmark and the tests. The reference's outcomes are
computed in this process, once, and shared by every submission of a run (``CachedExecutor``).
"""

from __future__ import annotations

import datetime as _dt
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import grader

from . import api
from .assignment import Assignment
from .engine import CachedExecutor, CheckResult, InProcessExecutor, grade
from .names import valid_names
from .overrides import apply_overrides
from .report import Report, bound_report, summarize
from . import course as course_mod
from .sandbox import IsolatedExecutor, IsolationOptions
from .submission import Submission

REFERENCE_ALIAS = "_grader_reference"


class GradingError(RuntimeError):
    """A grader-side problem (bad setup, not the submission's fault); the message is one line."""


def reference_executor(reference_dir: Optional[Path] = None) -> CachedExecutor:
    """The reference solution, run in this process and cached (expected values, reference times)."""
    directory = Path(reference_dir) if reference_dir else course_mod.current().reference
    if not directory.is_dir():
        raise GradingError(f"the reference solution is not available ({directory} is missing); "
                           "grade with --public-only")
    return CachedExecutor(InProcessExecutor.for_directory(directory, REFERENCE_ALIAS))


@dataclass
class RunOptions:
    """What to grade and how."""

    in_process: bool = False
    public_only: bool = False
    only: Optional[list] = None
    overrides: list = field(default_factory=list)
    submitted_at: Optional[_dt.datetime] = None
    submitted_at_source: Optional[str] = None  # where the time came from (grader.core.subtime)
    isolation: IsolationOptions = field(default_factory=IsolationOptions)
    report_dir: Optional[Path] = None
    full_traceback: bool = False

    def describe(self) -> dict:
        """The options that change what was graded (for the report)."""
        return {"public_only": self.public_only, "only": list(self.only) if self.only else None,
                "submitted_at": self.submitted_at.isoformat() if self.submitted_at else None,
                "submitted_at_source": self.submitted_at_source if self.submitted_at else None,
                "in_process": self.in_process}


ProgressFn = Callable[[str, str, CheckResult], None]

_alias_counter = [0]


def _executor(submission: Submission, options: RunOptions):
    if options.in_process:
        _alias_counter[0] += 1  # a fresh module name per submission: nothing cached from another one
        alias = f"_grader_submission_{_alias_counter[0]}"
        return InProcessExecutor.for_directory(submission.package_dir, alias, full_traceback=options.full_traceback)
    iso = options.isolation
    extra_hide = [str(Path(submission.source).resolve().parent)]
    return IsolatedExecutor(submission.package_dir, IsolationOptions(**{**iso.__dict__, "hide": iso.hide + extra_hide}))


def grade_submission(submission: Submission, assignments: list[Assignment], reference: Optional[CachedExecutor],
                     options: RunOptions, progress: Optional[ProgressFn] = None) -> Report:
    """Grade one submission on every assignment; the report is complete whatever the code does."""
    started = _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0)
    t0 = time.perf_counter()
    if options.report_dir is not None:
        api.set_report_dir(options.report_dir)
    api.set_attachment_owner(submission.name)  # attachments are named after their submission
    report = Report(submission.to_dict(), options=options.describe(), started_at=started.isoformat(),
                    grader_version=grader.__version__)
    executor = _executor(submission, options)
    timings: dict[str, float] = {}
    try:
        for a in assignments:
            ta = time.perf_counter()
            components = grade(a, executor, None if options.public_only else reference,
                               only=options.only, public_only=options.public_only, progress=progress)
            apply_overrides(components, options.overrides, submission.name)
            report.components.extend(components)
            if components:
                summary = summarize(a.rubric, components, options.submitted_at)
                summary.policy["submitted_at_source"] = options.submitted_at_source if options.submitted_at else None
                report.assignments.append(summary)
            timings[a.name] = round(time.perf_counter() - ta, 3)
        report.isolation = executor.info() if hasattr(executor, "info") else {"mode": "in-process"}
    finally:
        if hasattr(executor, "close"):
            executor.close()
    if hasattr(executor, "peak_worker_mb"):
        report.isolation["worker_peak_rss_mb"] = round(executor.peak_worker_mb, 1)
    report.timings = {"total_seconds": round(time.perf_counter() - t0, 3), "assignments": timings}
    return bound_report(report)  # student-controlled text bounded and neutralised (see report.py)


def failed_report(submission_name: str, source: str, error: str, options: RunOptions) -> Report:
    """The report of a submission that could not be graded at all (class runs: a corrupt archive)."""
    return bound_report(Report({"name": submission_name, "source": source, "kind": "unknown"},
                               options=options.describe(), grader_version=grader.__version__, error=error,
                               started_at=_dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()))


def validate_only(only: list[str], assignments: list[Assignment]) -> None:
    """Every ``--only`` name must be a component or a check id of a graded assignment."""
    known: list[str] = []
    for a in assignments:
        for comp in a.rubric.components:
            known += [comp.name] + [c.id for c in comp.checks]
    unknown = [o for o in only if o not in known]
    if unknown:
        raise GradingError(f"--only: unknown component or check '{unknown[0]}' ({valid_names(unknown[0], known)})"
                           + (f"; also unknown: {', '.join(unknown[1:])}" if unknown[1:] else ""))

