"""Grading: run probes through an executor, verdicts in this process, points from the rubric.

An *executor* runs a probe of an assignment against one implementation and returns a
``ProbeOutcome``. ``InProcessExecutor`` imports the implementation into this process (reference,
local student runs, the project's own tests); the isolated executor (``grader.core.sandbox``)
runs it in a worker process. Verdicts always run here.

The executors are in ``grader.core.executors``, the results in ``grader.core.results``; their
names are here too.
"""

from __future__ import annotations

import os
import secrets
import signal
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Optional

from . import api
from .api import GRADER_FAULT_PREFIX, Verdict
from .assignment import Assignment
from .executors import CachedExecutor, Executor, InProcessExecutor, ProbeOutcome
from .results import CheckResult, ComponentResult
from .runtime import seeded_generator

__all__ = ["RunSecrets", "run_secrets", "ProbeOutcome", "Executor", "InProcessExecutor", "CachedExecutor",
           "CheckResult", "ComponentResult", "timeout_for", "ProgressFn", "grade", "judge", "VerdictTimeout"]


# ----------------------------------------------------------------------------------------------
# The run's secrets (issue: hidden inputs must be new in every grading run). ``seed`` goes to the
# probes (worker and reference alike) when a probe starts; ``late`` never leaves this process: it
# seeds the inputs a probe receives only when it asks for them (``ProbeContext.late_inputs``).
# One pair per grading process, so the reference's outcomes stay cached across a class.
# ``GRADER_PROBE_SEED`` fixes both, to reproduce a run while debugging the grader.
# ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class RunSecrets:
    seed: int
    late: int

    def late_provider(self, check) -> Optional[Callable[[], Any]]:
        """The zero-argument function that builds ``check``'s late inputs, or None."""
        if check.late_inputs is None:
            return None
        build = check.late_inputs
        return lambda: build(seeded_generator(self.late, f"late:{check.probe}"))


_RUN_SECRETS: list = [None]


def run_secrets() -> RunSecrets:
    """This process's secrets (drawn at first use)."""
    if _RUN_SECRETS[0] is None:
        fixed = os.environ.get("GRADER_PROBE_SEED", "").strip()
        if fixed:
            try:
                base = int(fixed)
            except ValueError:
                raise SystemExit(f"grader: GRADER_PROBE_SEED must be an integer, got {fixed!r}") from None
            _RUN_SECRETS[0] = RunSecrets(base, base + 1)
        else:
            _RUN_SECRETS[0] = RunSecrets(secrets.randbits(62), secrets.randbits(62))
    return _RUN_SECRETS[0]


def timeout_for(check, reference_seconds: float) -> float:
    """Wall-time limit of a probe: relative to the reference's time, with a floor and a ceiling."""
    return max(check.timeout_floor, min(check.timeout_ceiling, check.timeout_factor * reference_seconds))


ProgressFn = Callable[[str, str, CheckResult], None]


def grade(
    assignment: Assignment,
    executor: Executor,
    reference: Optional[Executor],
    *,
    only: Optional[Iterable[str]] = None,
    public_only: bool = False,
    progress: Optional[ProgressFn] = None,
    run: Optional[RunSecrets] = None,
) -> list[ComponentResult]:
    """Grade one implementation on one assignment; return one result per component.

    ``only``: component names (or check ids) to grade; others are skipped entirely.
    ``public_only``: run only the checks with visibility "public" (no reference needed).
    ``reference``: the reference solution's executor; None where it is not available (a
    differential check then fails as a grader error, the others run without relative limits).
    ``run``: the secrets of this grading run (default: this process's, ``run_secrets()``).
    """
    run = run if run is not None else run_secrets()
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
        _grade_pipelined(assignment, plan, executor, reference, record, run)
    else:
        # Several checks may share one probe (one training run, two verdicts): run each probe once.
        cached = executor if isinstance(executor, CachedExecutor) else CachedExecutor(executor)
        for cr, rc, check, points in plan:
            record(cr, _grade_check(assignment, check, rc, points, cached, reference, run))
    if public_only:
        for cr in results:
            cr.max_score = sum(c.max_score for c in cr.checks)
    return results


def _grade_pipelined(assignment, plan, executor, reference, record, run: RunSecrets) -> None:
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
                expected, limit, witness = prepared
                result = _conclude_check(check, rc, points, done[check.probe], expected, limit, reference is not None,
                                         witness)
            else:
                return
            backlog.pop(0)
            record(cr, result)

    for cr, rc, check, points in plan:
        submitted = None
        if check.probe not in done and (pending is None or pending[0] != check.probe):
            settle()
            drain()
            submitted = executor.submit(assignment, check.probe, threads=check.threads, timeout=check.timeout_ceiling,
                                        seed=run.seed, late_inputs=run.late_provider(check))
            pending = (check.probe, submitted)
            if executor.done(submitted, 0.05):
                settle()
        finished = done.get(check.probe)
        if finished is not None and finished.status != "ok":
            prepared = (None, check.timeout_floor, None)  # untouched stubs, an import error: no reference needed
        else:
            prepared = _prepare_check(assignment, check, rc, points, reference, run)  # overlaps the running probe
            if submitted is not None and pending is not None:
                executor.set_timeout(submitted, check.timeout_floor if isinstance(prepared, CheckResult)
                                     else prepared[1])
        backlog.append((cr, rc, check, points, prepared))
        drain()
    settle()
    drain()


def _prepare_check(assignment, check, rc, points, reference, run: RunSecrets):
    """The reference's side of a check: ``(expected, time limit, witness)``, or a finished
    CheckResult when the check cannot run (the reference failed, or is needed and absent).
    ``witness`` is the reference's output of the probe, differential or not (see ``judge``)."""
    expected = witness = None
    ref_seconds = 1.0
    if check.differential or reference is not None:
        ref = reference.run(assignment, check.probe, threads=check.threads, timeout=0, seed=run.seed,
                            late_inputs=run.late_provider(check)) if reference is not None else None
        if ref is not None:
            ref_seconds = ref.seconds
            witness = ref.data if ref.status == "ok" else None
            if check.differential:
                if ref.status != "ok":
                    return CheckResult(check.id, check.component, check.description, "grader_error", 0.0, points,
                                       f"{GRADER_FAULT_PREFIX}the reference solution failed this probe: {ref.message}",
                                       rc.visibility)
                expected = ref.data
    if check.differential and reference is None:
        return CheckResult(check.id, check.component, check.description, "grader_error", 0.0, points,
                           f"{GRADER_FAULT_PREFIX}this check needs the reference solution, which is not available here",
                           rc.visibility)
    return expected, timeout_for(check, ref_seconds), witness


def _conclude_check(check, rc, points, outcome: ProbeOutcome, expected, limit: float,
                    has_reference: bool, witness=None) -> CheckResult:
    """The verdict's side of a check, from the probe's outcome."""
    if outcome.status != "ok":
        message = outcome.message
        if outcome.status == "timeout":
            relative = limit > check.timeout_floor and has_reference
            message += f" (limit: {check.timeout_factor:g} x the reference's time)" if relative else ""
        return CheckResult(check.id, check.component, check.description, outcome.status, 0.0, points,
                           message, rc.visibility, outcome.seconds, output=outcome.output)
    status, verdict = judge(check, outcome.data, expected, hidden=rc.visibility != "public", witness=witness)
    fraction = verdict.fraction if rc.partial else (1.0 if verdict.fraction >= 1.0 else 0.0)
    if status != "passed" and status != "failed":
        fraction = 0.0
    return CheckResult(check.id, check.component, check.description, status, points * fraction, points,
                       verdict.message, rc.visibility, outcome.seconds, api.seal_attachments(verdict.attachments),
                       outcome.output)


def _judges_cleanly(check, witness, expected, hidden: bool) -> bool:
    """Whether the verdict judges the reference's own output without raising (its attachments go
    to a scratch folder, never into the student's report)."""
    import tempfile

    saved = api._REPORT_DIR[0]
    with tempfile.TemporaryDirectory(prefix="grader-witness-") as scratch:
        api.set_report_dir(scratch)
        try:
            with api.hidden_context(hidden):
                _call_with_budget(lambda: check.verdict(witness, expected), check.verdict_budget)
            return True
        except Exception:  # noqa: BLE001 - any failure here means: the grader's fault
            return False
        finally:
            api._REPORT_DIR[0] = saved


class VerdictTimeout(Exception):
    """A verdict ran past its budget."""


def _call_with_budget(fn, seconds: float):
    """``fn()`` with a wall-time budget (SIGALRM, when this is the main thread; else unbounded)."""
    if seconds <= 0 or threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer"):
        return fn()

    def expired(_signum, _frame):
        raise VerdictTimeout()

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        return fn()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def judge(check, actual, expected, *, hidden: bool, witness=None) -> tuple[str, Verdict]:
    """Run ``check``'s verdict on a probe's data: ``(status, verdict)``.

    First the structure rule (``Check.structure_rule``): an output that lacks a case the
    reference's has fails before the verdict sees it. The verdict runs under its time budget and,
    for a hidden check, inside ``api.hidden_context()`` (messages without the reference's values).
    When the verdict raises, it is run on ``witness`` (the reference's own output of the probe):
    if it judges that without raising, the submission's output was malformed (its failure);
    otherwise, or without a witness, the grader is at fault (``grader_error``)."""
    rule = check.structure_rule
    if check.differential and rule != "none":
        problem = api.structure_problem(actual, expected, "your output", rule=rule)
        if problem:
            return "failed", api.failed(f"incomplete or malformed output: {problem}")

    def run_verdict():
        with api.hidden_context(hidden):
            return check.verdict(actual, expected)

    try:
        verdict = _call_with_budget(run_verdict, check.verdict_budget)
    except VerdictTimeout:
        return "error", api.failed(f"the grader could not judge this output within {check.verdict_budget:g} s "
                                   "(is it unusually large?)")
    except Exception as exc:  # noqa: BLE001 - whose fault: see the docstring
        if witness is not None and _judges_cleanly(check, witness, expected, hidden):
            return "failed", api.failed(f"unexpected output from your code: {type(exc).__name__}: {str(exc)[:500]}")
        return "grader_error", api.grader_fault(f"{GRADER_FAULT_PREFIX}the verdict raised "
                                                f"{type(exc).__name__}: {str(exc)[:500]}")
    if not isinstance(verdict, Verdict):
        return "grader_error", api.grader_fault(f"{GRADER_FAULT_PREFIX}the verdict returned "
                                                f"{type(verdict).__name__}, not a Verdict")
    if verdict.grader_fault:
        message = (verdict.message if verdict.message.startswith(GRADER_FAULT_PREFIX)
                   else GRADER_FAULT_PREFIX + verdict.message)
        return "grader_error", Verdict(0.0, message, verdict.attachments, True)
    return ("passed" if verdict.fraction >= 1.0 else "failed"), verdict


def _grade_check(assignment, check, rc, points, executor, reference, run: RunSecrets) -> CheckResult:
    """One check, start to end, in this thread."""
    prepared = _prepare_check(assignment, check, rc, points, reference, run)
    if isinstance(prepared, CheckResult):
        return prepared
    expected, limit, witness = prepared
    start = time.perf_counter()
    outcome = executor.run(assignment, check.probe, threads=check.threads, timeout=limit, seed=run.seed,
                           late_inputs=run.late_provider(check))
    if not outcome.seconds:
        outcome.seconds = time.perf_counter() - start
    return _conclude_check(check, rc, points, outcome, expected, limit, reference is not None, witness)
