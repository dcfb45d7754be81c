"""Student-controlled text in reports: bounded and neutralised before any writer sees it.

``clean`` makes one text safe to show; ``bound_report`` applies it, in place, to every such text of
a report (check messages and outputs, attachment lists, submission name and source, the error).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .model import Report

# Bounds on what a report holds (docs/DESIGN.md principle 7; issue 9.6): a 2 MB message or a list of
# 200 000 attachments from a verdict costs no report step more than these.
MESSAGE_LIMIT = 4000      # characters of a check's message (then a note says how much was cut)
OUTPUT_LIMIT = 4000       # characters of a check's output tail (the end is kept)
NAME_LIMIT = 200          # submission names, sources, attachment names
ATTACHMENT_LIMIT = 20     # attachments listed per check

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
