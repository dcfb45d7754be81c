"""Markdown from reports (a pull request, the CI job summary, a class's table): student text escaped
so that it never renders as a link, image, HTML or emphasis.
"""

from __future__ import annotations

import os
import re
import urllib.parse
from pathlib import Path
from typing import Optional

from ..engine import CheckResult
from .gradebook import gradebook_status
from .model import (GRADER_FAULT, GRADER_FAULT_TEXT, Report, _override_text, component_status, fault_message,
                    grader_faults, is_grader_fault, report_notes, summary_totals)
from .text import MESSAGE_LIMIT, NAME_LIMIT, bound_report, clean

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
