"""Reports people read (DESIGN.md principle 6): the report model and its writers.

One ``Report`` per graded submission. Writers: JSON (own schema, ``schema_version`` 1), Gradescope
``results.json``, JUnit XML, Markdown (pull request / CI job summary), gradebook CSV, and the
terminal table. Every writer shows reviewer overrides and remarks, and deadline caps.

JSON schema, version 1 (keys always present unless marked optional)::

    schema_version   1
    grader_version   str
    submission       {name, source, kind[, sha256]}
    score            float   the grade: regular_score + bonus_score (after caps)
    regular_score    float   the non-bonus components' points earned, after caps
    max_score        float   sum of the non-bonus components' points (graded in this run)
    bonus_score      float   bonus points earned (after the bonus deadline: 0)
    bonus_max_score  float
    assignments      [{name, title, score, regular_score, max_score, bonus_score, bonus_max_score,
                       rubric_max_score, rubric_bonus_max_score, policy}]
                     rubric_*: the whole rubric's maxima (more than max_score when a run graded part
                     of it: --public-only, --only)
    components       [{assignment, name, score, max_score, bonus, manual, status, checks, [override]}]
                     checks: [{name, description, status, score, max_score, message, visibility,
                               seconds, attachments[, output]}]
    isolation        {mode, ...}  what confinement was in force (see grader.core.sandbox)
    options          the options that change what was graded
    started_at       ISO time;  timings {total_seconds, assignments: {name: seconds}}
    error            null, or a one-line reason the submission could not be graded (class runs)
    grader_faults    ["assignment/check", ...]: checks with status "grader_error" (the grader's own
                     fault, not the student's: re-run after fixing the grader); "(whole submission)"
                     when the error above is the grader's

Student-controlled text (messages, output tails, submission and member names) is bounded and
neutralised in every format (``bound_report``): no terminal escapes, Markdown without live links,
images, HTML or emphasis from it, CSV cells that no spreadsheet reads as a formula.
"""

from __future__ import annotations

import csv
import datetime as _dt
import io
import json
import math
import os
import re
import shutil
import textwrap
import urllib.parse
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Optional

from .engine import CheckResult, ComponentResult
from .rubric import Rubric

SCHEMA_VERSION = 1
VOLATILE_KEYS = ("seconds", "started_at", "timings", "total_seconds", "worker_peak_rss_mb")  # vary run to run

GRADER_FAULT = "grader_error"  # status of a check the grader could not grade (its own fault)
GRADER_FAULT_TEXT = "grader fault, not your code"

# Bounds on what a report holds (DESIGN.md principle 6; issue 9.6): a 2 MB message or a list of
# 200 000 attachments from a verdict costs no report step more than these.
MESSAGE_LIMIT = 4000      # characters of a check's message (then a note says how much was cut)
OUTPUT_LIMIT = 4000       # characters of a check's output tail (the end is kept)
NAME_LIMIT = 200          # submission names, sources, attachment names
ATTACHMENT_LIMIT = 20     # attachments listed per check


# ----------------------------------------------------------------------------------------------
# Student-controlled text: bounded and neutralised before any writer sees it
# ----------------------------------------------------------------------------------------------

# Terminal escape sequences: CSI (ESC [ ... final), OSC (ESC ] ... BEL or ST), DCS/SOS/PM/APC
# (ESC P/X/^/_ ... ST), and two-character escapes; then the C0/C1 controls but tab and newline,
# and the invisible characters that reorder or hide text (bidirectional overrides, zero widths).
_ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]?|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[PX^_][^\x1b]*(?:\x1b\\)?|[ -/]*[0-~]?)"
                   r"|\x9b[0-?]*[ -/]*[@-~]?")
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]")


def clean(text, limit: int = MESSAGE_LIMIT, *, single_line: bool = False, keep: str = "head") -> str:
    """``text`` as a report may show it: at most ``limit`` characters (a note says how many more
    there were; ``keep="tail"`` keeps the end, for output tails), without terminal escapes, control
    characters (but tab and newline) or invisible reordering characters, without lone surrogates
    (they cannot be written as UTF-8), on one line if ``single_line``. Idempotent."""
    text = text if isinstance(text, str) else str(text)
    total = len(text)
    room = limit if total <= limit else max(0, limit - 48)
    part = text[:room] if keep == "head" else text[total - room:]
    part = part.encode("utf-8", "replace").decode("utf-8")
    part = _CONTROL.sub("", _ANSI.sub("", part))
    if single_line:
        part = " ".join(part.split())
    if total > limit:
        note = f"[cut: {total - room} more characters]"
        part = f"{part} … {note}" if keep == "head" else f"{note} … {part}"
    return part


def bound_report(report: "Report") -> "Report":
    """Bound and neutralise, in place, every student-controlled text of ``report`` (check messages
    and outputs, attachment lists, submission name and source, the error line); returns it.
    Every writer calls it first; calling it again changes nothing."""
    sub = report.submission
    for key in ("name", "source"):
        if key in sub:
            sub[key] = clean(sub[key], NAME_LIMIT if key == "name" else 1000, single_line=True)
    if report.error is not None:
        report.error = clean(report.error, MESSAGE_LIMIT, single_line=True)
    for comp in report.components:
        for chk in comp.checks:
            chk.message = clean(chk.message or "", MESSAGE_LIMIT)
            chk.output = clean(chk.output or "", OUTPUT_LIMIT, keep="tail")
            attachments = chk.attachments if isinstance(chk.attachments, (list, tuple)) else []
            kept = [clean(a, NAME_LIMIT, single_line=True) for a in list(attachments[:ATTACHMENT_LIMIT])
                    if isinstance(a, str) and "://" not in a and not a.startswith(("/", "\\"))]
            if len(attachments) > ATTACHMENT_LIMIT:
                chk.message = clean(f"{chk.message} [{len(attachments) - ATTACHMENT_LIMIT} more attachment(s) "
                                    "not listed]", MESSAGE_LIMIT)
            chk.attachments = kept
    return report


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
        notes.append(f"{summary.name}: submitted {p['submitted_at']}{source}, after {cap['after']}: regular score {verb} "
                     f"at {cap['max']:g} (before the cap: {summary.raw_score:g}"
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
        what, rest = "the public checks (--public-only)", "the hidden checks and the reviewed components add to this score"
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


# ----------------------------------------------------------------------------------------------
# Gradescope results.json
# ----------------------------------------------------------------------------------------------

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


PENDING_TEXT = "Pending manual review: a reviewer will grade this by hand; its {points:g} point(s) are not in this score yet."
PENDING_NO_POINTS = "Reviewed by hand (no points): a reviewer reads it and may leave a remark."


def _gradescope_pending(comp: ComponentResult, title: str, note: str) -> dict:
    """A manual component nobody has scored yet: no status (it neither passed nor failed) and no
    score or maximum (it promises no points this score could hold); the output says what to expect."""
    body = note or (PENDING_TEXT.format(points=comp.max_score) if comp.max_score else PENDING_NO_POINTS)
    if note and comp.max_score:
        body += "\n" + PENDING_TEXT.format(points=comp.max_score)
    return {"name": f"{title} (manual review: pending)", "output": body, "visibility": "visible"}


def _gradescope_component(comp: ComponentResult, title: str, note: str, hidden_visibility: str) -> dict:
    """A component a reviewer scored: one test with the reviewed score."""
    body = note + "".join(f"\n{c.id}: {_check_text(c)}" for c in comp.checks)
    visible = all(c.visibility == "public" for c in comp.checks)
    return {"name": f"{title} (reviewed)", "score": _r(comp.score), "max_score": _r(comp.max_score),
            "status": "passed" if comp.status == "passed" else "failed", "output": body,
            "visibility": "visible" if visible else hidden_visibility}


def _gradescope_check(chk: CheckResult, title: str, note: str, hidden_visibility: str) -> dict:
    output = _check_text(chk) + (f"\n{note}" if note else "")
    name = f"{title} / {chk.id}" + (f": {chk.description}" if chk.description else "")
    if is_grader_fault(chk):
        return {"name": f"{name} ({GRADER_FAULT_TEXT})", "score": _r(chk.score), "max_score": _r(chk.max_score),
                "status": "failed", "output": output, "visibility": "hidden"}
    return {"name": name, "score": _r(chk.score), "max_score": _r(chk.max_score),
            "status": "passed" if chk.status == "passed" else "failed", "output": output,
            "visibility": "visible" if chk.visibility == "public" else hidden_visibility}


def _gradescope_tests(report: Report, hidden_visibility: str) -> list[dict]:
    tests = []
    for comp in report.components:
        title, note = f"{comp.assignment} / {comp.name}", _override_text(comp)
        if comp.overridden:
            tests.append(_gradescope_component(comp, title, note, hidden_visibility))
        elif not comp.checks:
            tests.append(_gradescope_pending(comp, title, note))
        else:
            tests += [_gradescope_check(chk, title, note if i == 0 else "", hidden_visibility)
                      for i, chk in enumerate(comp.checks)]
    return tests


def _gradescope_output(report: Report) -> str:
    lines = [f"Score: {report.totals}"] + report_notes(report)
    pending = [c for c in report.components if c.status == "pending_review" and c.max_score]
    if pending:
        lines.append(f"Pending manual review: {', '.join(f'{c.assignment} / {c.name}' for c in pending)} "
                     f"({sum(c.max_score for c in pending):g} point(s), not in this score yet)")
    faults = grader_faults(report)
    if faults:
        lines.append(f"Grading incomplete: {len(faults)} check(s) could not be graded because of a fault in the "
                     f"grader ({GRADER_FAULT_TEXT}); your instructor will re-run them.")
    if report.error:
        lines.append(f"Not graded ({GRADER_FAULT_TEXT}; your instructor will re-run it)"
                     if report.error_is_grader_fault else f"Not graded: {report.error}")
    return "\n".join(lines)


def to_gradescope(report: Report, hidden_visibility: str = "after_due_date") -> dict:
    """Gradescope's results.json: one test per check (one per component when a reviewer set the
    component's score), top-level score after caps (the grade: regular points plus the bonus). A
    manual component not scored yet is a test without status, score or maximum (pending, not
    failed). A check the grader could not grade (``grader_error``) is hidden from the student (it
    says nothing about their code) and the top-level output says the grading is incomplete."""
    bound_report(report)
    return {"score": _r(report.score), "execution_time": int(math.ceil(report.timings.get("total_seconds", 0))),
            "output": _gradescope_output(report), "output_format": "text", "test_output_format": "text",
            "visibility": "visible", "stdout_visibility": "hidden",
            "tests": _gradescope_tests(report, hidden_visibility)}


def gradescope_json(report: Report, hidden_visibility: str = "after_due_date") -> str:
    return json.dumps(to_gradescope(report, hidden_visibility), indent=2, ensure_ascii=False) + "\n"


# ----------------------------------------------------------------------------------------------
# JUnit XML
# ----------------------------------------------------------------------------------------------

_XML_BAD = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _xml(text: str) -> str:
    return _XML_BAD.sub("?", str(text))


def to_junit(report: Report) -> str:
    """JUnit XML: a test suite per assignment (properties: ``score`` = ``regular_score`` +
    ``bonus_score``, ``max_score``, ``bonus_max_score``), a test case per check (manual components: one
    case, skipped until reviewed). failed/not_attempted -> <failure>; error/timeout/resource_limit
    and grader_error (type "grader_error", "grader fault, not your code") -> <error>."""
    bound_report(report)
    suites = ET.Element("testsuites", name=_xml(f"grader: {report.name}"))
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for a in report.assignments:
        suite = ET.SubElement(suites, "testsuite", name=_xml(a.name))
        props = ET.SubElement(suite, "properties")
        for k, v in (("score", a.score), ("regular_score", a.regular_score), ("max_score", a.max_score),
                     ("bonus_score", a.bonus_score), ("bonus_max_score", a.bonus_max_score)):
            ET.SubElement(props, "property", name=k, value=f"{v:g}")
        counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
        seconds = 0.0
        for comp in (c for c in report.components if c.assignment == a.name):
            cases = comp.checks if comp.checks else [None]
            for chk in cases:
                counts["tests"] += 1
                name = chk.id if chk else f"{comp.name} (manual review)"
                case = ET.SubElement(suite, "testcase", classname=_xml(f"{a.name}.{comp.name}"), name=_xml(name),
                                     time=f"{chk.seconds if chk else 0:.3f}")
                seconds += chk.seconds if chk else 0
                _junit_outcome(case, comp, chk, counts)
                text = "\n".join(t for t in ((_check_text(chk) if chk else ""), _override_text(comp)) if t)
                if text:
                    ET.SubElement(case, "system-out").text = _xml(text)
        for k, v in counts.items():
            suite.set(k, str(v))
            totals[k] += v
        suite.set("time", f"{seconds:.3f}")
    for k, v in totals.items():
        suites.set(k, str(v))
    ET.indent(suites)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"


def _junit_outcome(case, comp: ComponentResult, chk: Optional[CheckResult], counts: dict) -> None:
    if comp.overridden:
        status = comp.status
        message = f"reviewed: {comp.score:g} / {comp.max_score:g}"
    elif chk is None:
        status, message = "pending_review", "pending manual review"
    elif is_grader_fault(chk):
        status, message = GRADER_FAULT, fault_message(chk)
    else:
        status, message = chk.status, chk.message
    if status in ("failed", "not_attempted"):
        ET.SubElement(case, "failure", message=_xml(message[:500]), type=status).text = _xml(message)
        counts["failures"] += 1
    elif status in ("error", "timeout", "resource_limit", GRADER_FAULT):
        ET.SubElement(case, "error", message=_xml(message[:500]), type=status).text = _xml(message)
        counts["errors"] += 1
    elif status == "pending_review":
        ET.SubElement(case, "skipped", message=message)
        counts["skipped"] += 1


# ----------------------------------------------------------------------------------------------
# Markdown
# ----------------------------------------------------------------------------------------------

STATUS_ICON = {"passed": "✅", "failed": "❌", "error": "💥", "timeout": "⏱️", "resource_limit": "🧱",
               "not_attempted": "⬜", "pending_review": "⏳", GRADER_FAULT: "🛠️"}

# Characters with a meaning inside a Markdown line (GitHub Flavoured): emphasis, code, links and
# images (their brackets), tables, strikethrough, math, escapes. Block markers (#, -, >, 1.) only act at the start of
# a line, and student text never starts one here.
_MD_SPECIAL = re.compile(r"([\\`*_\[\]|~$])")
# What GitHub turns into a link without any markup: URLs, www. names, e-mail addresses and
# @mentions, #123 references. A zero-width space after the trigger breaks each.
_MD_AUTOLINK = re.compile(r"(:)(?=//)|(?<![A-Za-z0-9])(www)(?=\.)|(@)(?=\w)|(#)(?=\d)", re.IGNORECASE)
_ZWSP = "\u200b"


def md_escape(text: str) -> str:
    """``text`` as inert Markdown: it renders as the same characters, never as a link, image,
    HTML, emphasis or table cell boundary."""
    text = _MD_SPECIAL.sub(r"\\\1", text)
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MD_AUTOLINK.sub(lambda m: m.group(0) + _ZWSP, text)


def _md(text: str, limit: int = 300) -> str:
    """Student-controlled (or any) text in a Markdown table cell or list item: one line, at most
    ``limit`` characters, escaped."""
    return md_escape(clean(text, limit, single_line=True))


def _md_status(status: str) -> str:
    label = f"{GRADER_FAULT_TEXT} ({GRADER_FAULT})" if status == GRADER_FAULT else status
    return f"{STATUS_ICON.get(status, '')} {label}"


def md_message(text: str) -> str:
    """A whole message (student-controlled) on one Markdown source line: every line escaped (see
    ``md_escape``), lines joined by ``<br>``; nothing cut but what ``bound_report`` bounds."""
    lines = [md_escape(clean(line, MESSAGE_LIMIT, single_line=True)) for line in clean(text).split("\n")]
    return "<br>".join(line for line in lines if line)


def _md_check_item(assignment: str, chk: CheckResult, message: str) -> str:
    return (f"- {_md(assignment)} / `{_md_code(chk.id)}`: {_md_status(chk.status)}, {chk.score:g} / {chk.max_score:g}"
            + (f"<br>{md_message(message)}" if message.strip() else ""))


def _md_totals(report: Report) -> list[str]:
    lines = [f"**Score: {report.totals}**"]
    if report.partial:
        lines[0] += " (part of the rubric: see the notes below)"
    return lines + [""]


def _md_components(report: Report) -> list[str]:
    lines = ["| Assignment | Component | Status | Score |", "|---|---|---|---:|"]
    for comp in report.components:
        kind = " (bonus)" if comp.bonus else (" (manual)" if comp.manual else "")
        reviewed = " (reviewed)" if comp.overridden else ""
        lines.append(f"| {_md(comp.assignment)} | {_md(comp.name)}{kind} | {_md_status(component_status(comp))}"
                     f"{reviewed} | {comp.score:g} / {comp.max_score:g} |")
    lines += [f"| **{_md(a.name)}** | **total** | | **{summary_totals(a)}** |" for a in report.assignments]
    return lines


def _md_lost(report: Report) -> list[str]:
    lost = [(comp, chk) for comp, chk in report.checks() if chk.status != "passed" and not is_grader_fault(chk)]
    if not lost:
        return []
    return (["", f"<details><summary>Checks that lost points ({len(lost)}), with their full messages</summary>", ""]
            + [_md_check_item(comp.assignment, chk, chk.message) for comp, chk in lost] + ["", "</details>"])


def _md_faults(report: Report) -> list[str]:
    faults = grader_faults(report)
    if not faults:
        return []
    return (["", f"### Not graded: {GRADER_FAULT_TEXT}", "",
             "The grader could not grade these checks because of a fault on its side; they say nothing "
             "about your code and will be re-run.", "",
             "<details><summary>The checks and the grader's messages</summary>", ""]
            + [_md_check_item(a, chk, fault_message(chk)) for a, chk in faults] + ["", "</details>"])


def _md_notes(report: Report) -> list[str]:
    reviews = [(comp, _override_text(comp)) for comp in report.components if comp.override]
    notes = report_notes(report)
    if not reviews and not notes:
        return []
    return (["", "### Reviews and policy", ""]
            + [f"- **{_md(c.assignment)} / {_md(c.name)}**: {md_message(t)}" for c, t in reviews]
            + [f"- {md_message(n)}" for n in notes])


def _md_attachments(report: Report, report_dir: Optional[Path], markdown_path: Optional[Path]) -> list[str]:
    attachments = [(chk, a) for _, chk in report.checks() for a in chk.attachments]
    if not attachments:
        return []
    lines = ["", "### Attachments", ""]
    for chk, name in attachments:
        link = _attachment_link(name, report_dir, markdown_path)
        image = name.lower().endswith((".png", ".jpg", ".jpeg", ".gif", ".svg"))
        lines.append(f"{'!' if image else ''}[{_md(chk.id)}: {_md(name)}]({link})")
    return lines


def to_markdown(report: Report, report_dir: Optional[Path] = None, markdown_path: Optional[Path] = None) -> str:
    """Markdown for a pull request or the CI job summary: totals (regular, then bonus), a component
    table, the checks that lost points with their full messages (in a details block), the checks
    the grader could not grade, reviews and notes, and attachments (PNG images linked, local files
    only). No output tails (see ``shows_output``)."""
    bound_report(report)
    lines = [f"## Grading report: {_md(report.name)}", ""] + _md_totals(report)
    if report.error:
        lines += [f"> **Not graded:** {_md(report.error)}", ""]
    lines += (_md_components(report) + _md_lost(report) + _md_faults(report) + _md_notes(report)
              + _md_attachments(report, report_dir, markdown_path))
    iso = report.isolation or {}
    lines += ["", f"<sub>grader {_md(report.grader_version)} · {_md(_isolation_summary(iso))}</sub>", ""]
    return "\n".join(lines)


def _md_code(text: str) -> str:
    """Text inside a code span of a table cell: no backticks, pipes escaped (GitHub tables)."""
    return clean(text, NAME_LIMIT, single_line=True).replace("`", "'").replace("|", "\\|")


def class_markdown(reports: list[Report]) -> str:
    """A class run's summary table."""
    lines = ["## Class gradebook", "", "| Submission | Score | Bonus | Total | Status |", "|---|---:|---:|---:|---|"]
    for r in reports:
        bound_report(r)
        lines.append(f"| {_md(r.name)} | {r.regular_score:g} / {r.max_score:g} | {r.bonus_score:g} / "
                     f"{r.bonus_max_score:g} | {r.score:g} | {_md(gradebook_status(r))} |")
    return "\n".join(lines) + "\n"


def _attachment_link(name: str, report_dir: Optional[Path], markdown_path: Optional[Path]) -> str:
    """A relative, percent-encoded link to a local attachment (never a remote URL)."""
    if report_dir is None:
        link = name
    else:
        target = Path(report_dir) / name
        base = Path(markdown_path).resolve().parent if markdown_path else Path.cwd()
        try:
            link = os.path.relpath(target.resolve(), base).replace(os.sep, "/")
        except ValueError:
            link = str(target)
    return urllib.parse.quote(link, safe="/._-~")


def _isolation_summary(iso: dict) -> str:
    if iso.get("mode") != "isolated":
        return str(iso.get("mode", "in-process"))
    parts = ["isolated worker"]
    user = iso.get("user") or {}
    if user.get("dropped"):
        parts.append(f"uid {user.get('uid')}")
    if iso.get("namespaces"):
        parts.append("namespaces: " + ",".join(iso["namespaces"]))
    return ", ".join(parts)


# ----------------------------------------------------------------------------------------------
# Gradebook CSV
# ----------------------------------------------------------------------------------------------

# OWASP CSV injection: a cell starting with one of these is a formula (or becomes one) in Excel,
# LibreOffice and Google Sheets; a leading apostrophe makes it text.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n", "\uff1d", "\uff0b", "\uff0d", "\uff20")


def csv_cell(text) -> str:
    """A text cell of the gradebook: one line, bounded, never read as a formula."""
    raw = text if isinstance(text, str) else str(text)
    if raw.startswith(_FORMULA_START):
        return "'" + clean(raw, MESSAGE_LIMIT, single_line=True)
    value = clean(raw, MESSAGE_LIMIT, single_line=True)
    return "'" + value if value.startswith(_FORMULA_START) else value


def gradebook_columns(reports: list[Report]) -> list[str]:
    """Component columns ("assignment/component"), in rubric order, over all reports."""
    cols: list[str] = []
    for r in reports:
        for comp in r.components:
            key = f"{comp.assignment}/{comp.name}"
            if key not in cols:
                cols.append(key)
    return cols


def gradebook_status(report: Report) -> str:
    """``graded``, ``error: ...`` (not graded), or ``grader fault: ...`` (checks to re-run)."""
    if report.error:
        return f"{'grader fault' if report.error_is_grader_fault else 'error'}: {report.error}"
    faults = grader_faults(report)
    if faults:
        return f"grader fault (re-run): {', '.join(f'{a}/{c.id}' for a, c in faults)}"
    return "graded"


TOTAL_COLUMNS = ("score", "max_score", "bonus_score", "bonus_max_score", "total")


def gradebook_assignments(reports: list[Report]) -> list[str]:
    """The assignments of a gradebook, in order of first appearance."""
    names: list[str] = []
    for r in reports:
        names += [a.name for a in r.assignments if a.name not in names]
    return names


def _totals_cells(regular: float, regular_max: float, bonus: float, bonus_max: float) -> list[str]:
    return [f"{regular:g}", f"{regular_max:g}", f"{bonus:g}", f"{bonus_max:g}", f"{_r(regular + bonus):g}"]


def _assignment_cells(report: Report, name: str) -> list[str]:
    a = next((a for a in report.assignments if a.name == name), None)
    return [""] * len(TOTAL_COLUMNS) if a is None else _totals_cells(a.regular_score, a.max_score, a.bonus_score,
                                                                     a.bonus_max_score)


def _csv_notes(report: Report) -> str:
    notes = report_notes(report)
    notes += [f"{c.name}: {c.override['remark']}" for c in report.components if c.override and c.override.get("remark")]
    pending = [c.name for c in report.components if c.status == "pending_review"]
    if pending:
        notes.append("pending review: " + ", ".join(pending))
    return "; ".join(notes)


def to_csv(reports: list[Report]) -> str:
    """One row per submission: the totals (``score`` = regular points after caps, out of
    ``max_score``; ``bonus_score`` out of ``bonus_max_score``; ``total`` = the grade, both summed),
    the same five per assignment (``<assignment> score``...), the score of every component, then
    the status and notes."""
    for r in reports:
        bound_report(r)
    assignments, cols = gradebook_assignments(reports), gradebook_columns(reports)
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["submission", *TOTAL_COLUMNS] + [csv_cell(f"{a} {c}") for a in assignments for c in TOTAL_COLUMNS]
               + [csv_cell(c) for c in cols] + ["status", "notes"])
    for r in reports:
        by_key = {f"{c.assignment}/{c.name}": c for c in r.components}
        w.writerow([csv_cell(r.name), *_totals_cells(r.regular_score, r.max_score, r.bonus_score, r.bonus_max_score)]
                   + [cell for a in assignments for cell in _assignment_cells(r, a)]
                   + [f"{by_key[k].score:g}" if k in by_key else "" for k in cols]
                   + [csv_cell(gradebook_status(r)), csv_cell(_csv_notes(r))])
    return out.getvalue()


# ----------------------------------------------------------------------------------------------
# Terminal
# ----------------------------------------------------------------------------------------------

def terminal_text(text, limit: int = MESSAGE_LIMIT) -> str:
    """Student-controlled text for the terminal: no escape sequences or control characters."""
    return clean(text, limit)


def terminal_width() -> int:
    """Columns to wrap terminal text to (``$COLUMNS`` or the terminal's; 80 when neither is known)."""
    return max(40, shutil.get_terminal_size().columns)


def wrap(text: str, indent: str = "      ", width: Optional[int] = None) -> str:
    """``text`` (lines kept) wrapped to ``width`` columns, every line indented."""
    width = width or terminal_width()
    lines = []
    for line in clean(text).split("\n"):
        lines += textwrap.wrap(line, width, initial_indent=indent, subsequent_indent=indent,
                               break_on_hyphens=False)  # a blank line: none
    return "\n".join(lines)


def progress_line(assignment: str, component: str, chk: CheckResult, width: Optional[int] = None,
                  verbose: bool = False) -> str:
    """A completed check: status, points, where; then its whole message, wrapped to the terminal
    width, for a check that did not pass (and, ``verbose``, for one that did)."""
    head = f"  {chk.status:<14} {chk.score:5.2f}/{chk.max_score:<5.2f} {assignment}/{chk.id}"
    message = fault_message(chk) if is_grader_fault(chk) else (chk.message or "")
    if not message.strip() or (chk.status == "passed" and not verbose):
        return head
    return f"{head}\n{wrap(message, width=width)}"


def output_lines(chk: CheckResult, indent: str = "      ") -> str:
    """A check's output tail for the terminal, indented, without escape sequences."""
    return "\n".join(indent + line for line in clean(chk.output, OUTPUT_LIMIT, keep="tail").rstrip().splitlines())


def _terminal_rows(report: Report) -> list[tuple[str, str, str]]:
    return [(f"{c.assignment} / {c.name}" + (" (bonus)" if c.bonus else "") + (" (manual)" if c.manual else ""),
             _terminal_status(c) + (" (reviewed)" if c.overridden else ""), f"{c.score:g} / {c.max_score:g}")
            for c in report.components]


def _terminal_notes(report: Report) -> list[str]:
    lines = [f"note: {terminal_text(n)}" for n in report_notes(report)]
    lines += [f"review: {c.assignment} / {c.name}: {' '.join(_override_text(c).split())}"
              for c in report.components if c.override]
    faults = grader_faults(report)
    if faults:
        lines.append(f"note: {len(faults)} check(s) not graded ({GRADER_FAULT_TEXT}): "
                     + ", ".join(f"{a}/{c.id}" for a, c in faults) + "; they will be re-run")
    return lines


def terminal_summary(report: Report) -> str:
    """The submission's name, per-component points, each assignment's totals and the total (regular
    points out of the regular maximum, then the bonus out of its own), as a plain-text table."""
    bound_report(report)
    rows = _terminal_rows(report)
    width = max([len(r[0]) for r in rows] + [30])
    sw = max([len(r[1]) for r in rows] + [24])
    rule = "-" * (width + sw + 12)
    lines = [f"results of {report.name}", f"{'component':<{width}}  {'status':<{sw}}  points", rule]
    lines += [f"{a:<{width}}  {b:<{sw}}  {c}" for a, b, c in rows] + [rule]
    lines += [f"{a.name + ' total':<{width}}  {'':<{sw}}  {summary_totals(a)}" for a in report.assignments]
    lines += _terminal_notes(report)
    lines.append(f"TOTAL {report.totals}" + (" (part of the rubric: see the note above)" if report.partial else ""))
    return "\n".join(lines)


def _terminal_status(comp: ComponentResult) -> str:
    status = component_status(comp)
    return GRADER_FAULT_TEXT if status == GRADER_FAULT else status


# ----------------------------------------------------------------------------------------------
# Running a writer under a time budget
# ----------------------------------------------------------------------------------------------

WRITER_BUDGET = 60.0  # seconds per report step; inputs are bounded, so this is a safety net


class ReportStepTimeout(Exception):
    """A report step ran past its budget."""


def within_budget(fn, *args, budget: Optional[float] = None, **kwargs):
    """``fn(*args, **kwargs)``, stopped with ``ReportStepTimeout`` after ``budget`` seconds (default
    ``WRITER_BUDGET``). Uses SIGALRM in the main thread of POSIX systems (an outer alarm, e.g.
    pytest-timeout's, is restored afterwards); elsewhere the bounded inputs are the only limit."""
    import signal
    import threading
    import time

    budget = WRITER_BUDGET if budget is None else budget
    if (not hasattr(signal, "setitimer") or threading.current_thread() is not threading.main_thread()
            or budget <= 0):
        return fn(*args, **kwargs)

    def expired(signum, frame):
        raise ReportStepTimeout(f"took longer than {budget:g} s")

    start = time.monotonic()
    previous = signal.signal(signal.SIGALRM, expired)
    outer, interval = signal.setitimer(signal.ITIMER_REAL, budget)
    if outer and outer < budget:  # never postpone an outer alarm
        signal.setitimer(signal.ITIMER_REAL, outer)
    try:
        return fn(*args, **kwargs)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if outer:  # re-arm an outer alarm with what was left of it
            signal.setitimer(signal.ITIMER_REAL, max(0.001, outer - (time.monotonic() - start)), interval)
