"""The gradebook CSV of a class: one row per submission, totals, components, status and notes;
no cell a spreadsheet reads as a formula.
"""

from __future__ import annotations

import csv
import io

from .model import Report, _r, grader_faults, report_notes
from .text import MESSAGE_LIMIT, bound_report, clean

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
