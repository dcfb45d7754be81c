"""Verdict of the written answers: shown to the reviewer (0 points here; the three manual
components hold the review)."""

from __future__ import annotations

from grader.core import api
from grader.core.api import Verdict, failed

from .common import CHECKS, _shaped

_CONTROL = dict.fromkeys(c for c in range(32) if c not in (9, 10))


@CHECKS.verdict("answers.text", probe="written_answers",
                description="the three written answers of ANSWERS.md, shown to the reviewer")
@_shaped({"answers": None})
def verdict_answers(actual, expected) -> Verdict:
    answers = actual.get("answers") if isinstance(actual, dict) else None
    if not isinstance(answers, list) or len(answers) != 3 or not all(isinstance(a, str) for a in answers):
        return failed("ANSWERS.md could not be read as three answers (keep the '## Question 1..3' headings)")
    answers = [a.translate(_CONTROL)[:6000] for a in answers]
    lines, full = [], []
    for k, text in enumerate(answers, 1):
        words = len(text.split())
        excerpt = " ".join(text.split())
        excerpt = excerpt if len(excerpt) <= 400 else excerpt[:400] + " ..."
        lines.append(f"Question {k}: " + (f"({words} words) {excerpt}" if words else "(no answer)"))
        full.append(f"Question {k}\n{'-' * 11}\n{text or '(no answer)'}\n")
    path = api.attachment_path("detection-written-answers.txt")
    path.write_text("\n".join(full), encoding="utf-8")
    attachments = (api.attachment_name("detection-written-answers.txt"),)
    missing = [k for k, a in enumerate(answers, 1) if not a]
    message = "written answers, for the reviewer (full text attached):\n" + "\n".join(lines)
    if missing:
        return Verdict(0.0, f"no answer yet to question(s) {missing}; " + message, attachments)
    return Verdict(1.0, message, attachments)
