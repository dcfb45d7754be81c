"""The report model: one ``Report`` per graded submission, its assignments' totals after the
deadline policy, the notes shown under them, and its JSON form (the schema is in
``grader.core.report``'s docstring).
"""

from __future__ import annotations

import datetime as _dt
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Optional

from ..engine import CheckResult, ComponentResult
from ..rubric import Rubric
from .text import NAME_LIMIT, bound_report, clean

SCHEMA_VERSION = 1
# vary run to run (uid: the worker user leased for this run, another one while other graders run)
VOLATILE_KEYS = ("seconds", "started_at", "timings", "total_seconds", "worker_peak_rss_mb", "uid")

GRADER_FAULT = "grader_error"  # status of a check the grader could not grade (its own fault)
GRADER_FAULT_TEXT = "grader fault, not your code"

def is_grader_fault(chk: CheckResult) -> bool:
    return chk.status == GRADER_FAULT


def grader_faults(report: "Report") -> list[tuple[str, CheckResult]]:
    """``(assignment, check)`` of every check the grader could not grade because of its own fault."""
    return [(comp.assignment, chk) for comp, chk in report.checks() if is_grader_fault(chk)]


def fault_message(chk: CheckResult) -> str:
    """A grader fault's message, always starting with "grader fault, not your code"."""
    message = chk.message or ""
    return message if message.startswith(GRADER_FAULT_TEXT) else f"{GRADER_FAULT_TEXT}: {message}".rstrip(": ")


def component_status(comp: ComponentResult) -> str:
    """The status a report shows for a component: a component whose only problems are grader
    faults is "grader_error" (never "failed": the student did not fail it)."""
    status = comp.status
    if comp.overridden or status == "passed":
        return status
    statuses = {c.status for c in comp.checks}
    if GRADER_FAULT in statuses and statuses <= {GRADER_FAULT, "passed"}:
        return GRADER_FAULT
    return status


def shows_output(chk: CheckResult) -> bool:
    """Student-facing reports (Gradescope, Markdown, JUnit) show what the code printed only for public
    checks: a hidden check's output can echo its hidden inputs. The JSON report keeps it."""
    return bool(chk.output) and chk.visibility == "public"


@dataclass
class AssignmentSummary:
    """Totals of one assignment, after the deadline policy."""

    name: str
    title: str
    max_score: float
    bonus_max_score: float
    raw_score: float
    raw_bonus: float
    score: float
    bonus_score: float
    policy: dict
    rubric_max_score: Optional[float] = None        # the whole rubric's (None: what was graded)
    rubric_bonus_max_score: Optional[float] = None

    @property
    def regular_score(self) -> float:
        """The non-bonus points earned, after caps (``score`` is this plus the bonus)."""
        return round(self.score - self.bonus_score, 9)

    def to_dict(self) -> dict:
        return {"name": self.name, "title": self.title, "score": _r(self.score),
                "regular_score": _r(self.regular_score), "max_score": _r(self.max_score),
                "bonus_score": _r(self.bonus_score), "bonus_max_score": _r(self.bonus_max_score),
                "rubric_max_score": _r(_or(self.rubric_max_score, self.max_score)),
                "rubric_bonus_max_score": _r(_or(self.rubric_bonus_max_score, self.bonus_max_score)),
                "policy": self.policy}

    @property
    def partial(self) -> bool:
        """Whether this run graded less than the whole rubric (``--public-only``, ``--only``)."""
        return (_or(self.rubric_max_score, self.max_score) > self.max_score + 1e-9
                or _or(self.rubric_bonus_max_score, self.bonus_max_score) > self.bonus_max_score + 1e-9)


def _or(value: Optional[float], default: float) -> float:
    return default if value is None else value


def totals_text(regular: float, regular_max: float, bonus: float, bonus_max: float) -> str:
    """``3.5 / 7``, or with a bonus ``3.5 / 7 + bonus 1 / 1 = 4.5``: the regular points out of the
    regular maximum first, then the bonus out of its own, then the grade."""
    text = f"{regular:g} / {regular_max:g}"
    if bonus_max:
        text += f" + bonus {bonus:g} / {bonus_max:g} = {_r(regular + bonus):g}"
    return text


def summary_totals(a: "AssignmentSummary") -> str:
    return totals_text(a.regular_score, a.max_score, a.bonus_score, a.bonus_max_score)


def _r(x: float) -> float:
    return round(float(x), 4)


def _iso(t: Optional[_dt.datetime]) -> Optional[str]:
    return t.isoformat() if t is not None else None


def summarize(rubric: Rubric, components: list[ComponentResult],
              submitted_at: Optional[_dt.datetime] = None) -> AssignmentSummary:
    """Totals of one assignment with the rubric's deadline policy applied for ``submitted_at``."""
    regular = [c for c in components if not c.bonus]
    bonus = [c for c in components if c.bonus]
    raw, raw_bonus = sum(c.score for c in regular), sum(c.score for c in bonus)
    score, bonus_score = raw, raw_bonus
    policy = rubric.policy
    info: dict = {"submitted_at": _iso(submitted_at), "deadline": _iso(policy.deadline),
                  "bonus_deadline": _iso(policy.bonus_deadline), "cap": None, "capped": False,
                  "bonus_forfeited": False, "score_before_policy": _r(raw + raw_bonus),
                  "regular_before_cap": _r(raw)}
    if submitted_at is not None:
        cap = policy.cap_at(submitted_at)
        if cap is not None:
            info["cap"] = {"after": _iso(cap.after), "max": cap.max}
            if raw > cap.max:
                score, info["capped"] = cap.max, True
        if bonus and policy.bonus_forfeited(submitted_at):
            bonus_score, info["bonus_forfeited"] = 0.0, raw_bonus > 0
    return AssignmentSummary(rubric.assignment, rubric.title, sum(c.max_score for c in regular),
                             sum(c.max_score for c in bonus), raw, raw_bonus, score + bonus_score,
                             bonus_score, info, rubric.max_score, rubric.bonus_points)


def isolation_remarks(report: "Report") -> list[str]:
    """What the sandbox noted about the submission (e.g. given code replaced by the course's copy)."""
    remarks = (report.isolation or {}).get("remarks") or []
    return [str(r) for r in remarks if r][:20]


def policy_notes(summary: AssignmentSummary) -> list[str]:
    """Human-readable lines about caps and the bonus deadline."""
    p, notes = summary.policy, []
    if p.get("cap"):
        cap = p["cap"]
        verb = "capped" if p["capped"] else "cap (not reached)"
        source = f" ({p['submitted_at_source']})" if p.get("submitted_at_source") else ""
        notes.append(f"{summary.name}: submitted {p['submitted_at']}{source}, after {cap['after']}: "
                     f"regular score {verb} at {cap['max']:g} (before the cap: {summary.raw_score:g}"
                     + ("; the bonus is not capped)" if summary.bonus_max_score else ")"))
    if p.get("bonus_forfeited"):
        notes.append(f"{summary.name}: bonus submitted after its deadline {p['bonus_deadline']}: "
                     f"{summary.raw_bonus:g} bonus point(s) not counted")
    return notes


def scope_notes(report: "Report") -> list[str]:
    """What the scores of a run that graded part of the rubric (``--public-only``, ``--only``) are
    out of, and what the whole assignment is out of: never a silently smaller maximum."""
    options = report.options or {}
    if options.get("public_only"):
        what = "the public checks (--public-only)"
        rest = "the hidden checks and the reviewed components add to this score"
    else:
        only = ", ".join(str(o) for o in options.get("only") or []) or "part of the rubric"
        what, rest = f"{only} (--only)", "the components and checks not graded in this run add to this score"
    notes = []
    for a in report.assignments:
        if a.partial:
            bonus = _or(a.rubric_bonus_max_score, a.bonus_max_score)
            whole = f"{_or(a.rubric_max_score, a.max_score):g}" + (f" + bonus {bonus:g}" if bonus else "")
            notes.append(f"{a.name}: {summary_totals(a)} is out of the {a.max_score:g} point(s) of {what}; the "
                         f"whole assignment is out of {whole}: {rest}")
    return notes


def report_notes(report: "Report") -> list[str]:
    """Every note a report shows under its totals: scope, deadline policy, isolation remarks."""
    return (scope_notes(report) + [n for a in report.assignments for n in policy_notes(a)]
            + isolation_remarks(report))


@dataclass
class Report:
    """Everything known about grading one submission."""

    submission: dict
    components: list[ComponentResult] = field(default_factory=list)
    assignments: list[AssignmentSummary] = field(default_factory=list)
    isolation: dict = field(default_factory=dict)
    options: dict = field(default_factory=dict)
    started_at: str = ""
    timings: dict = field(default_factory=dict)
    grader_version: str = ""
    error: Optional[str] = None
    error_is_grader_fault: bool = False  # the submission could not be graded because of the grader

    @property
    def score(self) -> float:
        """The grade: regular points after caps plus the bonus."""
        return sum(a.score for a in self.assignments)

    @property
    def regular_score(self) -> float:
        return round(sum(a.regular_score for a in self.assignments), 9)

    @property
    def partial(self) -> bool:
        return any(a.partial for a in self.assignments)

    @property
    def totals(self) -> str:
        """``regular / max`` then ``+ bonus b / bmax = grade`` (see ``totals_text``)."""
        return totals_text(self.regular_score, self.max_score, self.bonus_score, self.bonus_max_score)

    @property
    def max_score(self) -> float:
        return sum(a.max_score for a in self.assignments)

    @property
    def bonus_score(self) -> float:
        return sum(a.bonus_score for a in self.assignments)

    @property
    def bonus_max_score(self) -> float:
        return sum(a.bonus_max_score for a in self.assignments)

    @property
    def name(self) -> str:
        return str(self.submission.get("name", "submission"))

    def checks(self) -> Iterable[tuple[ComponentResult, CheckResult]]:
        for comp in self.components:
            for chk in comp.checks:
                yield comp, chk

    def to_dict(self) -> dict:
        return {
            "schema_version": SCHEMA_VERSION, "grader_version": self.grader_version,
            "submission": self.submission, "score": _r(self.score), "regular_score": _r(self.regular_score),
            "max_score": _r(self.max_score),
            "bonus_score": _r(self.bonus_score), "bonus_max_score": _r(self.bonus_max_score),
            "assignments": [a.to_dict() for a in self.assignments],
            "components": [c.to_dict() for c in self.components],
            "isolation": self.isolation, "options": self.options, "started_at": self.started_at,
            "timings": self.timings, "error": self.error,
            "grader_faults": [f"{a}/{c.id}" for a, c in grader_faults(self)]
                             + (["(whole submission)"] if self.error_is_grader_fault else []),
        }


def strip_volatile(value):
    """A report dict without the keys that differ between two identical runs (timings)."""
    if isinstance(value, dict):
        return {k: strip_volatile(v) for k, v in value.items() if k not in VOLATILE_KEYS}
    if isinstance(value, list):
        return [strip_volatile(v) for v in value]
    return value


# ----------------------------------------------------------------------------------------------
# Writing files
# ----------------------------------------------------------------------------------------------

def write_text(path: Path | str, text: str) -> None:
    """Write atomically (a temporary file renamed over the target: never follows a planted link)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8", newline="") as f:
        f.write(text)
    os.replace(tmp, path)


def to_json(report: Report) -> str:
    return json.dumps(bound_report(report).to_dict(), indent=2, ensure_ascii=False) + "\n"


def class_json(reports: list[Report]) -> str:
    return json.dumps({"schema_version": SCHEMA_VERSION,
                       "submissions": [bound_report(r).to_dict() for r in reports]},
                      indent=2, ensure_ascii=False) + "\n"

HIDDEN_OUTPUT_NOTE = "(what your code printed in hidden checks is not shown)"


def _override_text(comp: ComponentResult) -> str:
    if not comp.override:
        return ""
    o = comp.override
    who = f" ({clean(o['reviewer'], NAME_LIMIT, single_line=True)})" if o.get("reviewer") else ""
    parts = []
    if "score" in o:
        parts.append(f"Reviewed{who}: {o['score']:g} / {comp.max_score:g} points "
                     f"(automatic checks: {comp.automatic_score:g})")
    if o.get("verdict"):
        parts.append(f"Verdict{who if 'score' not in o else ''}: {clean(o['verdict'])}")
    if o.get("remark"):
        parts.append(f"Remark{who if 'score' not in o and 'verdict' not in o else ''}: {clean(o['remark'])}")
    return "\n".join(parts)


def _check_text(chk: CheckResult) -> str:
    """A check's status, message and (public checks only) output tail, for student-facing reports."""
    if is_grader_fault(chk):
        return f"[{GRADER_FAULT_TEXT}] {fault_message(chk)}".strip()
    text = f"[{chk.status}] {chk.message}".strip()
    if shows_output(chk):
        text += f"\n--- output (tail) ---\n{chk.output}"
    elif chk.output:
        text += f"\n{HIDDEN_OUTPUT_NOTE}"
    return text
