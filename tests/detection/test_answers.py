"""Written answers (issue 10.6): the stubs create ANSWERS.md with the three questions, the
submission carries it, the report shows it to the reviewer, the overrides file records a verdict
per question."""

from __future__ import annotations

import json
import re

import pytest

from grader.core import api, engine, report
from grader.core.overrides import OverridesError, apply_overrides, parse_overrides

from .support import ROOT, SAMPLE_ANSWERS, by_component, filled_answers, package_copy

MANUAL = ("Written answer 1: label assignment", "Written answer 2: best improvement", "Written answer 3: no effect")


def _questions(text: str) -> list[str]:
    """The question sentences of a markdown text (``> `` lines or the notebook's paragraphs)."""
    return [" ".join(m.split()) for m in re.findall(r"## Question \d[^\n]*\n+((?:>.*\n?)+)", text)]


def test_stubs_carry_the_three_questions_of_the_notebook():
    stub = (ROOT / "student" / "detection" / "ANSWERS.md").read_text()
    assert stub == (ROOT / "reference" / "detection" / "ANSWERS.md").read_text()
    questions = [q.replace("> ", "").replace(">", "") for q in _questions(stub)]
    assert len(questions) == 3 and stub.count("*Your answer here.*") == 3
    nb = json.loads((ROOT / "notebooks" / "detection_homework.ipynb").read_text())
    cells = ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown"]
    asked = [" ".join(c.split("\n", 1)[1].split()) for c in cells if c.startswith("## Question")]
    assert [" ".join(q.split()) for q in questions] == asked  # the same three questions


def _grade(assignment, tmp_path, answers):
    api.set_report_dir(tmp_path / "report")
    try:
        executor, _ = package_copy(tmp_path, answers=answers)
        return by_component(engine.grade(assignment, executor, None, only=["Written answers (text)", *MANUAL]))
    finally:
        api.set_report_dir(None)


def test_answers_reach_the_reviewer(assignment, tmp_path):
    results = _grade(assignment, tmp_path, filled_answers())
    (check,) = results["Written answers (text)"].checks
    assert check.status == "passed" and check.max_score == 0
    attached = (tmp_path / "report" / check.attachments[0]).read_text()
    for k, text in enumerate(SAMPLE_ANSWERS, 1):
        assert f"Question {k}" in check.message and text in attached
    for name in MANUAL:
        assert results[name].status == "pending_review"


def test_untouched_and_partial_answers(assignment, tmp_path):
    results = _grade(assignment, tmp_path / "a", None)  # the stubs' template
    assert results["Written answers (text)"].checks[0].status == "not_attempted"
    results = _grade(assignment, tmp_path / "b", filled_answers((SAMPLE_ANSWERS[0], "*Your answer here.*",
                                                                 SAMPLE_ANSWERS[2])))
    check = results["Written answers (text)"].checks[0]
    assert check.status == "failed" and "no answer yet to question(s) [2]" in check.message


def test_review_records_a_verdict_per_question(assignment, tmp_path):
    data = {"reviewer": "R. Eviewer", "override": [
        {"assignment": "detection", "component": MANUAL[0], "verdict": "accepted", "remark": "measured, explained"},
        {"assignment": "detection", "component": MANUAL[1], "verdict": "partly accepted"},
        {"assignment": "detection", "component": MANUAL[2], "verdict": "rejected", "remark": "no reason given"},
    ]}
    overrides = parse_overrides(data, {"detection": assignment.rubric})
    results = _grade(assignment, tmp_path, filled_answers())
    components = list(results.values())
    apply_overrides(components, overrides, "alice")
    verdicts = {c.name: c.override.get("verdict") for c in components if c.override}
    assert verdicts == {MANUAL[0]: "accepted", MANUAL[1]: "partly accepted", MANUAL[2]: "rejected"}
    assert "Verdict (R. Eviewer): accepted" in report._override_text(results[MANUAL[0]])
    with pytest.raises(OverridesError, match="verdict 'maybe'"):
        parse_overrides({"override": [{"assignment": "detection", "component": MANUAL[0], "verdict": "maybe"}]},
                        {"detection": assignment.rubric})
