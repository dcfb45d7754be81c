"""Reports on the terminal: the progress line of each check, output tails, the results table."""

from __future__ import annotations

import shutil
import textwrap
from typing import Optional

from ..engine import CheckResult, ComponentResult
from .model import (GRADER_FAULT, GRADER_FAULT_TEXT, Report, _override_text, component_status, fault_message,
                    grader_faults, is_grader_fault, report_notes, summary_totals)
from .text import MESSAGE_LIMIT, OUTPUT_LIMIT, bound_report, clean


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
