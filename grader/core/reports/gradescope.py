"""Gradescope's ``results.json`` from a report: one test per check (one per component a reviewer
scored), manual components pending review, grader faults hidden from the student.
"""

from __future__ import annotations

import json
import math

from ..engine import CheckResult, ComponentResult
from .model import (GRADER_FAULT_TEXT, Report, _check_text, _override_text, _r, grader_faults, is_grader_fault,
                    report_notes)
from .text import bound_report

PENDING_TEXT = ("Pending manual review: a reviewer will grade this by hand; its {points:g} point(s) are not in "
                "this score yet.")
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
