"""JUnit XML from a report: a test suite per assignment, a test case per check."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Optional

from ..engine import CheckResult, ComponentResult
from .model import GRADER_FAULT, Report, _check_text, _override_text, fault_message, is_grader_fault
from .text import bound_report

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
