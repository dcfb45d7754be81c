"""Grading: run probes through an executor, verdicts in this process, points from the rubric.

An *executor* runs a probe of an assignment against one implementation and returns a
``ProbeOutcome``. ``InProcessExecutor`` imports the implementation into this process (reference,
local student runs, the project's own tests); the isolated executor (``grader.core.sandbox``)
runs it in a worker process. Verdicts always run here.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import time
import traceback
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Optional, Protocol

from .api import Verdict
from .assignment import Assignment
from .probe_runtime import classify_exception, run_probe


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
    """Runs a probe of an assignment against one implementation.

    An executor that runs probes elsewhere may also offer ``submit(assignment, probe, *, threads,
    timeout) -> job``, ``set_timeout(job, seconds)``, ``done(job, wait) -> bool`` and
    ``collect(job) -> ProbeOutcome``; ``grade`` then overlaps the reference's work with the probe
    (see ``_grade_pipelined``)."""

    def run(self, assignment: Assignment, probe: str, *, threads: int, timeout: float) -> ProbeOutcome: ...


class InProcessExecutor:
    """Runs probes against a package importable in this process (e.g. ``reference``).

    For local debugging and the reference only: the code under test runs in the grader's process.
    """

    def __init__(self, package: str, path: Optional[Path] = None, *, full_traceback: bool = False):
        """``package`` is the dotted name of the package holding the assignments (``reference``,
        ``student``); ``path`` an extra directory to put first on ``sys.path``; ``full_traceback``
        appends the whole traceback of a failure to the outcome's output."""
        self.package = package
        self.path = path
        self.full_traceback = full_traceback
        self.package_dir: Optional[Path] = None
        os.environ.setdefault("GRADER_DATA_DIR", str(Path(__file__).resolve().parent.parent.parent / "data"))

    @classmethod
    def for_directory(cls, package_dir: Path, alias: str, *, full_traceback: bool = False) -> "InProcessExecutor":
        """An executor for the package in ``package_dir``, imported under the name ``alias``
        (whatever the directory is called, e.g. ``submission`` for a student's ``student/``)."""
        executor = cls(alias, full_traceback=full_traceback)
        executor.package_dir = Path(package_dir).resolve()
        return executor

    def _import(self, sub: str):
        if self.package_dir is not None and self.package not in sys.modules:
            self._import_directory()
        if self.path is not None and str(self.path) not in sys.path:
            sys.path.insert(0, str(self.path))
        return importlib.import_module(f"{self.package}.{sub}")

    def _import_directory(self) -> None:
        """Import ``package_dir`` as the package ``self.package`` (a bare module with a search path
        when the directory has no ``__init__.py``)."""
        init = self.package_dir / "__init__.py"
        if not init.is_file():
            module = types.ModuleType(self.package)
            module.__path__ = [str(self.package_dir)]
            sys.modules[self.package] = module
            return
        spec = importlib.util.spec_from_file_location(self.package, init,
                                                      submodule_search_locations=[str(self.package_dir)])
        module = importlib.util.module_from_spec(spec)
        sys.modules[self.package] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[self.package]
            raise

    def run(self, assignment: Assignment, probe: str, *, threads: int = 1, timeout: float = 0) -> ProbeOutcome:
        sub = assignment.rubric.package
        try:
            pkg = self._import(sub)
        except ModuleNotFoundError as exc:
            if exc.name in (self.package, f"{self.package}.{sub}"):
                return ProbeOutcome("not_attempted", message=f"not attempted: the submission has no `{sub}` package")
            return self._import_failure(exc, sub)
        except (Exception, SystemExit) as exc:  # noqa: BLE001 - reported, never raised
            return self._import_failure(exc, sub)
        fn = getattr(assignment.probes, probe)
        status, data, message, seconds, output = run_probe(fn, pkg, threads=threads,
                                                           full_traceback=self.full_traceback)
        return ProbeOutcome(status, data, message, seconds, output)

    def _import_failure(self, exc: BaseException, sub: str) -> ProbeOutcome:
        status, message = classify_exception(exc)
        if status == "error":
            message = f"importing your `{sub}` package failed: {message}"
        output = "".join(traceback.format_exception(exc)) if self.full_traceback and status != "not_attempted" else ""
        return ProbeOutcome(status, message=message, output=output)


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
    output: str = ""  # tail of what the code under test printed (bounded)

    def to_dict(self) -> dict:
        d = {
            "name": self.id, "description": self.description, "status": self.status,
            "score": round(self.score, 4), "max_score": round(self.max_score, 4), "message": self.message,
            "visibility": self.visibility, "seconds": round(self.seconds, 3), "attachments": list(self.attachments),
        }
        if self.output:
            d["output"] = self.output
        return d


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
    def overridden(self) -> bool:
        """A reviewer set this component's score (a remark alone changes nothing)."""
        return self.override is not None and "score" in self.override

    @property
    def automatic_score(self) -> float:
        return sum(c.score for c in self.checks)

    @property
    def score(self) -> float:
        return float(self.override["score"]) if self.overridden else self.automatic_score

    @property
    def status(self) -> str:
        if self.overridden:
            return "passed" if self.score >= self.max_score - 1e-9 else "failed"
        statuses = {c.status for c in self.checks}
        if self.manual or not statuses:
            return "pending_review"
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
    plan: list[tuple] = []  # (component result, rubric check, check, points), in rubric order
    for comp in rubric.components:
        if only_set is not None and comp.name not in only_set and not any(c.id in only_set for c in comp.checks):
            continue
        selected = [rc for rc in comp.checks
                    if not (public_only and rc.visibility != "public")
                    and not (only_set is not None and comp.name not in only_set and rc.id not in only_set)]
        if public_only and not selected:  # what a student can check alone: no manual review either
            continue
        cr = ComponentResult(rubric.assignment, comp.name, comp.points, comp.bonus, comp.manual)
        plan += [(cr, rc, assignment.check(rc.id), rubric.check_points(comp, rc)) for rc in selected]
        results.append(cr)

    def record(cr: ComponentResult, result: CheckResult) -> None:
        cr.checks.append(result)
        if progress is not None:
            progress(rubric.assignment, cr.name, result)

    if hasattr(executor, "submit"):
        _grade_pipelined(assignment, plan, executor, reference, record)
    else:
        # Several checks may share one probe (one training run, two verdicts): run each probe once.
        cached = executor if isinstance(executor, CachedExecutor) else CachedExecutor(executor)
        for cr, rc, check, points in plan:
            record(cr, _grade_check(assignment, check, rc, points, cached, reference))
    if public_only:
        for cr in results:
            cr.max_score = sum(c.max_score for c in cr.checks)
    return results


def _grade_pipelined(assignment, plan, executor, reference, record) -> None:
    """Grade with an executor that runs probes elsewhere (``submit`` / ``set_timeout`` /
    ``collect``, the isolated worker): the submission's probe starts first, with the check's
    ceiling as a provisional limit; while it runs, this process computes the reference of the same
    check, then sets the real limit (relative to the reference's time, still counted from the
    probe's start). A probe that comes back at once without data (untouched stubs, an import
    error) needs no reference at all. Reference probes and verdicts stay in this thread; one probe
    runs at a time; results are recorded in rubric order; each probe runs once. On an exception (an interrupt, a
    grader error) the caller closes the executor, which ends the job."""
    done: dict[str, ProbeOutcome] = {}
    pending: Optional[tuple] = None  # (probe name, job)
    backlog: list[tuple] = []  # (cr, rc, check, points, prepared) not yet recorded

    def settle() -> None:
        nonlocal pending
        if pending is not None:
            probe, job = pending
            pending = None
            done[probe] = executor.collect(job)

    def drain() -> None:
        while backlog:
            cr, rc, check, points, prepared = backlog[0]
            if isinstance(prepared, CheckResult):
                result = prepared
            elif check.probe in done:
                expected, limit = prepared
                result = _conclude_check(check, rc, points, done[check.probe], expected, limit, reference is not None)
            else:
                return
            backlog.pop(0)
            record(cr, result)

    for cr, rc, check, points in plan:
        submitted = None
        if check.probe not in done and (pending is None or pending[0] != check.probe):
            settle()
            drain()
            submitted = executor.submit(assignment, check.probe, threads=check.threads, timeout=check.timeout_ceiling)
            pending = (check.probe, submitted)
            if executor.done(submitted, 0.05):
                settle()
        finished = done.get(check.probe)
        if finished is not None and finished.status != "ok":
            prepared = (None, check.timeout_floor)  # untouched stubs, an import error: no reference needed
        else:
            prepared = _prepare_check(assignment, check, rc, points, reference)  # overlaps the running probe
            if submitted is not None and pending is not None:
                executor.set_timeout(submitted, check.timeout_floor if isinstance(prepared, CheckResult)
                                     else prepared[1])
        backlog.append((cr, rc, check, points, prepared))
        drain()
    settle()
    drain()


def _prepare_check(assignment, check, rc, points, reference):
    """The reference's side of a check: ``(expected, time limit)``, or a finished CheckResult when
    the check cannot run (the reference failed, or is needed and absent)."""
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
    return expected, timeout_for(check, ref_seconds)


def _conclude_check(check, rc, points, outcome: ProbeOutcome, expected, limit: float,
                    has_reference: bool) -> CheckResult:
    """The verdict's side of a check, from the probe's outcome."""
    if outcome.status != "ok":
        message = outcome.message
        if outcome.status == "timeout":
            relative = limit > check.timeout_floor and has_reference
            message += f" (limit: {check.timeout_factor:g} x the reference's time)" if relative else ""
        return CheckResult(check.id, check.component, check.description, outcome.status, 0.0, points,
                           message, rc.visibility, outcome.seconds, output=outcome.output)
    try:
        verdict: Verdict = check.verdict(outcome.data, expected)
    except Exception as exc:  # noqa: BLE001 - malformed probe data from a submission is its failure
        verdict = Verdict(0.0, f"unexpected output from your code: {type(exc).__name__}: {exc}")
    fraction = verdict.fraction if rc.partial else (1.0 if verdict.fraction >= 1.0 else 0.0)
    status = "passed" if verdict.fraction >= 1.0 else "failed"
    return CheckResult(check.id, check.component, check.description, status, points * fraction, points,
                       verdict.message, rc.visibility, outcome.seconds, list(verdict.attachments), outcome.output)


def _grade_check(assignment, check, rc, points, executor, reference) -> CheckResult:
    """One check, start to end, in this thread."""
    prepared = _prepare_check(assignment, check, rc, points, reference)
    if isinstance(prepared, CheckResult):
        return prepared
    expected, limit = prepared
    start = time.perf_counter()
    outcome = executor.run(assignment, check.probe, threads=check.threads, timeout=limit)
    if not outcome.seconds:
        outcome.seconds = time.perf_counter() - start
    return _conclude_check(check, rc, points, outcome, expected, limit, reference is not None)
