"""Public checks as pytest tests, for the files in ``tests/public/`` that students run.

Each public check of the assignment's rubric becomes one test: passed, failed with the verdict's
message (and the output of the student's code), or skipped as "not attempted" for a component the
student has not started. ``COURSE_IMPL=<package>`` grades another package than ``student`` (the
course's own CI runs ``COURSE_IMPL=reference``).
"""

from __future__ import annotations

import os

import pytest

from .core import assignment as assignment_module
from .core.engine import CachedExecutor, InProcessExecutor, grade


def public_check_test(assignment_name: str):
    """A test function parametrized over the public checks of ``assignment_name``."""
    assignment = assignment_module.load(assignment_name)
    public = [(component.name, check.id) for component, check in assignment.rubric.all_checks()
              if check.visibility == "public"]
    # One executor for the whole run: checks that share a probe run it once.
    executor = CachedExecutor(InProcessExecutor(os.environ.get("COURSE_IMPL", "student"), full_traceback=True))

    @pytest.mark.parametrize("component, check_id", public, ids=[check_id for _, check_id in public])
    def test_public_check(component: str, check_id: str):
        [result] = grade(assignment, executor, None, only=[check_id], public_only=True)
        [check] = result.checks
        if check.status == "not_attempted":
            pytest.skip(f"{component}: {check.message}")
        if check.status != "passed":
            text = f"{component} / {check_id} ({check.description}): {check.status}\n{check.message}"
            if check.output:
                text += f"\n--- output of your code ---\n{check.output}"
            pytest.fail(text, pytrace=False)

    return test_public_check
