"""Every assignment carries the course's deadline policy (issue 13): full marks up to the first
deadline, at most half the maximum after it, nothing after the second; bonus points until the bonus
deadline. The dates are the course's to set; a submission months late never gets full marks."""

from __future__ import annotations

import datetime as dt

import pytest

from grader.core import assignment as assignment_mod
from grader.core.engine import CheckResult, ComponentResult
from grader.core.report import summarize


def _full_marks(rubric) -> list[ComponentResult]:
    """Every component at its maximum (as a perfect submission would score)."""
    out = []
    for comp in rubric.components:
        result = ComponentResult(rubric.assignment, comp.name, comp.points, bonus=comp.bonus, manual=comp.manual)
        result.checks.append(CheckResult(f"{comp.name}.all", comp.name, "", "passed", comp.points, comp.points, "",
                                         "hidden"))
        out.append(result)
    return out


@pytest.mark.parametrize("name", assignment_mod.available())
def test_every_assignment_has_the_course_policy(name):
    rubric = assignment_mod.load(name).rubric
    policy = rubric.policy
    assert policy.deadline is not None, f"{name}: no deadline in [policy]"
    first = policy.cap_at(policy.deadline + dt.timedelta(minutes=1))
    assert first is not None and first.max == rubric.max_score / 2, f"{name}: after the deadline the cap is not half"
    assert policy.cap_at(policy.deadline) is None, f"{name}: capped on time"
    if rubric.bonus_points:
        assert policy.bonus_deadline is not None, f"{name}: a bonus without a bonus deadline"


@pytest.mark.parametrize("name", assignment_mod.available())
def test_a_submission_months_late_gets_nothing(name):
    rubric = assignment_mod.load(name).rubric
    assert rubric.policy.deadline is not None, f"{name}: no deadline in [policy]"
    late = rubric.policy.deadline + dt.timedelta(days=120)
    on_time = summarize(rubric, _full_marks(rubric), rubric.policy.deadline)
    assert on_time.raw_score == rubric.max_score and not on_time.policy["capped"]
    summary = summarize(rubric, _full_marks(rubric), late)
    assert summary.policy["capped"] and summary.score == 0, f"{name}: {summary.score} points months late"
    assert not rubric.bonus_points or summary.policy["bonus_forfeited"]
