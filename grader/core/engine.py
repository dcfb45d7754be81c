"""Grading: run probes through an executor, verdicts in this process, points from the rubric.

An *executor* runs a probe of an assignment against one implementation and returns a
``ProbeOutcome``. ``InProcessExecutor`` imports the implementation into this process (reference,
local student runs, the project's own tests); the isolated executor (``grader.core.sandbox``)
runs it in a worker process. Verdicts always run here.
"""

from __future__ import annotations

import importlib
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Optional, Protocol

from .api import Verdict
from .assignment import Assignment
from .probe_runtime import run_probe


@dataclass
class ProbeOutcome:
    """What came back from running one probe.

    status: "ok", "not_attempted", "error", "timeout", "resource_limit".
    """

    status: str
    data: Any = None
    message: str = ""
    seconds: float = 0.0
    output: str = ""


class Executor(Protocol):
    def run(self, assignment: Assignment, probe: str, *, threads: int, timeout: float) -> ProbeOutcome: ...


class InProcessExecutor:
    """Runs probes against a package importable in this process (e.g. ``reference``)."""

    def __init__(self, package: str, path: Optional[Path] = None):
        """``package`` is the dotted name of the package holding the assignments (``reference``,
        ``student``); ``path`` an extra directory to put first on ``sys.path``."""
        self.package = package
        self.path = path

    def _import(self, sub: str):
        if self.path is not None and str(self.path) not in sys.path:
            sys.path.insert(0, str(self.path))
        return importlib.import_module(f"{self.package}.{sub}")

    def run(self, assignment: Assignment, probe: str, *, threads: int = 1, timeout: float = 0) -> ProbeOutcome:
        try:
            pkg = self._import(assignment.rubric.package)
        except NotImplementedError as exc:
            return ProbeOutcome("not_attempted", message=f"not attempted: {exc}")
        except Exception as exc:  # noqa: BLE001
            return ProbeOutcome("error", message=f"cannot import the submission: {type(exc).__name__}: {exc}")
        fn = getattr(assignment.probes, probe)
        status, data, message, seconds, output = run_probe(fn, pkg, threads=threads)
        return ProbeOutcome(status, data, message, seconds, output)


class CachedExecutor:
    """Wraps an executor; remembers outcomes (the reference's are the same for every submission)."""

    def __init__(self, inner: Executor):
        self.inner = inner
        self.cache: dict[tuple[str, str], ProbeOutcome] = {}

    def run(self, assignment: Assignment, probe: str, *, threads: int = 1, timeout: float = 0) -> ProbeOutcome:
        key = (assignment.name, probe)
        if key not in self.cache:
            self.cache[key] = self.inner.run(assignment, probe, threads=threads, timeout=timeout)
        return self.cache[key]


@dataclass
class CheckResult:
    id: str
    component: str
    description: str
    status: str
    score: float
    max_score: float
    message: str
    visibility: str
    seconds: float = 0.0
    attachments: list = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "name": self.id, "description": self.description, "status": self.status,
            "score": round(self.score, 4), "max_score": round(self.max_score, 4), "message": self.message,
            "visibility": self.visibility, "seconds": round(self.seconds, 3), "attachments": list(self.attachments),
        }


@dataclass
class ComponentResult:
    assignment: str
    name: str
    max_score: float
    bonus: bool = False
    manual: bool = False
    checks: list[CheckResult] = field(default_factory=list)
    override: Optional[dict] = None

    @property
    def score(self) -> float:
        if self.override is not None and "score" in self.override:
            return float(self.override["score"])
        return sum(c.score for c in self.checks)

    @property
    def status(self) -> str:
        if self.manual and self.override is None:
            return "pending_review"
        statuses = {c.status for c in self.checks}
        if not statuses:
            return "passed" if self.override else "pending_review"
        if statuses == {"passed"}:
            return "passed"
        if statuses == {"not_attempted"}:
            return "not_attempted"
        return "failed"

    def to_dict(self) -> dict:
        d = {
            "assignment": self.assignment, "name": self.name, "score": round(self.score, 4),
            "max_score": round(self.max_score, 4), "bonus": self.bonus, "manual": self.manual,
            "status": self.status, "checks": [c.to_dict() for c in self.checks],
        }
        if self.override is not None:
            d["override"] = self.override
        return d


def timeout_for(check, reference_seconds: float) -> float:
    """Wall-time limit of a probe: relative to the reference's time, with a floor and a ceiling."""
    return max(check.timeout_floor, min(check.timeout_ceiling, check.timeout_factor * reference_seconds))


ProgressFn = Callable[[str, str, CheckResult], None]


def grade(
    assignment: Assignment,
    executor: Executor,
    reference: Executor,
    *,
    only: Optional[Iterable[str]] = None,
    public_only: bool = False,
    progress: Optional[ProgressFn] = None,
) -> list[ComponentResult]:
    """Grade one implementation on one assignment; return one result per component.

    ``only``: component names (or check ids) to grade; others are skipped entirely.
    ``public_only``: run only the checks with visibility "public" (no reference needed).
    """
    only_set = set(only) if only else None
    rubric = assignment.rubric
    results: list[ComponentResult] = []
    for comp in rubric.components:
        if only_set is not None and comp.name not in only_set and not any(c.id in only_set for c in comp.checks):
            continue
        cr = ComponentResult(rubric.assignment, comp.name, comp.points, comp.bonus, comp.manual)
        for rc in comp.checks:
            if public_only and rc.visibility != "public":
                continue
            if only_set is not None and comp.name not in only_set and rc.id not in only_set:
                continue
            check = assignment.check(rc.id)
            points = rubric.check_points(comp, rc)
            result = _grade_check(assignment, check, rc, points, executor, reference)
            cr.checks.append(result)
            if progress is not None:
                progress(rubric.assignment, comp.name, result)
        if public_only:
            cr.max_score = sum(c.max_score for c in cr.checks) if cr.checks else (0.0 if not comp.manual else comp.points)
            if not cr.checks and not comp.manual:
                continue
        results.append(cr)
    return results


def _grade_check(assignment, check, rc, points, executor, reference) -> CheckResult:
    expected = None
    ref_seconds = 1.0
    if check.differential or reference is not None:
        ref = reference.run(assignment, check.probe, threads=check.threads, timeout=0) if reference is not None else None
        if ref is not None:
            ref_seconds = ref.seconds
            if check.differential:
                if ref.status != "ok":
                    return CheckResult(check.id, check.component, check.description, "error", 0.0, points,
                                       f"grader error: the reference failed this probe: {ref.message}", rc.visibility)
                expected = ref.data
    if check.differential and reference is None:
        return CheckResult(check.id, check.component, check.description, "error", 0.0, points,
                           "this check needs the reference solution, which is not available here", rc.visibility)
    start = time.perf_counter()
    outcome = executor.run(assignment, check.probe, threads=check.threads, timeout=timeout_for(check, ref_seconds))
    if outcome.status != "ok":
        return CheckResult(check.id, check.component, check.description, outcome.status, 0.0, points,
                           outcome.message, rc.visibility, outcome.seconds or (time.perf_counter() - start))
    try:
        verdict: Verdict = check.verdict(outcome.data, expected)
    except Exception as exc:  # noqa: BLE001 - malformed probe data from a submission is its failure
        verdict = Verdict(0.0, f"unexpected output from your code: {type(exc).__name__}: {exc}")
    fraction = verdict.fraction if rc.partial else (1.0 if verdict.fraction >= 1.0 else 0.0)
    status = "passed" if verdict.fraction >= 1.0 else "failed"
    return CheckResult(check.id, check.component, check.description, status, points * fraction, points,
                       verdict.message, rc.visibility, outcome.seconds, list(verdict.attachments))
