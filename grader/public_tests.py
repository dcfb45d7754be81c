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


class PublicCheckFailed(AssertionError):
    """A component fails (or has not started) one of its public checks; the message says which and why."""


def notebook_checks(assignment_name: str, package: str = "student"):
    """``check(component)`` for the notebooks: runs the component's public checks on ``package``
    (in this process, as ``grader run --public-only --in-process --only <component>`` does) and
    raises ``PublicCheckFailed`` with the verdict's message when one does not pass. So a notebook's
    quick checks catch at least what the public checks catch: they are the public checks."""
    assignment = assignment_module.load(assignment_name)
    names = [comp.name for comp in assignment.rubric.components]

    def check(component: str) -> None:
        ids = [rc.id for comp, rc in assignment.rubric.all_checks()
               if comp.name == component and rc.visibility == "public"]
        if not ids:
            raise ValueError(f"{assignment_name} has no public checks of {component!r}; components: {', '.join(names)}")
        executor = InProcessExecutor(package, full_traceback=True)
        [result] = grade(assignment, executor, None, only=ids, public_only=True)
        for chk in result.checks:
            if chk.status != "passed":
                text = (f"{component}: public check {chk.id} ({chk.description}): "
                        f"{chk.status.replace('_', ' ')}\n{chk.message}")
                if chk.output:
                    text += f"\n--- output of your code ---\n{chk.output}"
                raise PublicCheckFailed(text)
        print(f"{component}: the {len(ids)} public check(s) pass ({', '.join(ids)}); the grader adds hidden ones")

    return check
