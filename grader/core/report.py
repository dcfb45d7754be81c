"""Reports people read (docs/DESIGN.md principle 7): the report model and its writers.

The code is in ``grader.core.reports``, one module per concern (``model``, ``text``, ``gradescope``,
``junit``, ``markdown``, ``gradebook``, ``terminal``); this module gathers every name under one, and
runs a writer under a time budget (``within_budget``).

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

from typing import Optional

# The model, the text bounds and the writers live in grader.core.reports (one module per format);
# every name is here too, where the rest of the grader and the tests look them up.
from .reports.gradebook import (TOTAL_COLUMNS, csv_cell, gradebook_assignments, gradebook_columns, gradebook_status,
                                to_csv)
from .reports.gradescope import PENDING_NO_POINTS, PENDING_TEXT, gradescope_json, to_gradescope
from .reports.junit import to_junit
from .reports.markdown import STATUS_ICON, class_markdown, md_escape, md_message, to_markdown
from .reports.model import (GRADER_FAULT, GRADER_FAULT_TEXT, HIDDEN_OUTPUT_NOTE, SCHEMA_VERSION, VOLATILE_KEYS,
                            AssignmentSummary, Report, class_json, component_status, fault_message, grader_faults,
                            is_grader_fault, isolation_remarks, policy_notes, report_notes, scope_notes, shows_output,
                            strip_volatile, summarize, summary_totals, to_json, totals_text, write_text)
from .reports.model import _check_text as _check_text, _override_text as _override_text
from .reports.terminal import output_lines, progress_line, terminal_summary, terminal_text, terminal_width, wrap
from .reports.text import ATTACHMENT_LIMIT, MESSAGE_LIMIT, NAME_LIMIT, OUTPUT_LIMIT, bound_report, clean

__all__ = [
    # the model (reports.model) and the text bounds (reports.text)
    "SCHEMA_VERSION", "VOLATILE_KEYS", "GRADER_FAULT", "GRADER_FAULT_TEXT", "HIDDEN_OUTPUT_NOTE",
    "AssignmentSummary", "Report", "summarize", "totals_text", "summary_totals", "is_grader_fault", "grader_faults",
    "fault_message", "component_status", "shows_output", "isolation_remarks", "policy_notes", "scope_notes",
    "report_notes", "strip_volatile", "write_text", "to_json", "class_json",
    "MESSAGE_LIMIT", "OUTPUT_LIMIT", "NAME_LIMIT", "ATTACHMENT_LIMIT", "clean", "bound_report",
    # the writers
    "PENDING_TEXT", "PENDING_NO_POINTS", "to_gradescope", "gradescope_json",
    "to_junit",
    "STATUS_ICON", "md_escape", "md_message", "to_markdown", "class_markdown",
    "TOTAL_COLUMNS", "csv_cell", "gradebook_columns", "gradebook_status", "gradebook_assignments", "to_csv",
    "terminal_text", "terminal_width", "wrap", "progress_line", "output_lines", "terminal_summary",
    # running a writer under a time budget (here)
    "WRITER_BUDGET", "ReportStepTimeout", "within_budget",
]


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
