"""Public checks of the detection assignment: run them on your laptop while you work.

    pytest tests/public/test_detection.py            # checks your code in student/detection
    pytest tests/public/test_detection.py -k tal     # only the checks whose id contains "tal"

Every check exercises one component on small inputs (a few seconds in all on a CPU) and says what
is wrong when it fails: shapes first, then the largest error, where it is, and what was expected.
Components you have not started yet are reported as skipped ("not attempted"), not as failures.
The grader runs these checks plus hidden ones (other inputs and edge cases) on your submission.
The mAP challenge is scored by the grader only (the test split's annotations stay hidden): measure
your mAP on the validation split (notebooks/detection_homework.ipynb).

COURSE_IMPL=<package> grades another package holding a ``detection`` subpackage (the course's own
CI runs ``COURSE_IMPL=reference``).
"""

from __future__ import annotations

import os

import pytest

from grader.core import assignment as assignment_module
from grader.core.engine import CachedExecutor, InProcessExecutor, grade

IMPLEMENTATION = os.environ.get("COURSE_IMPL", "student")
ASSIGNMENT = assignment_module.load("detection")
PUBLIC_CHECKS = [(component.name, check.id) for component, check in ASSIGNMENT.rubric.all_checks()
                 if check.visibility == "public"]
# One executor for the whole run: checks that share a probe run it once.
EXECUTOR = CachedExecutor(InProcessExecutor(IMPLEMENTATION, full_traceback=True))


@pytest.mark.parametrize("component, check_id", PUBLIC_CHECKS, ids=[check_id for _, check_id in PUBLIC_CHECKS])
def test_public_check(component: str, check_id: str):
    [result] = grade(ASSIGNMENT, EXECUTOR, None, only=[check_id], public_only=True)
    [check] = result.checks
    if check.status == "not_attempted":
        pytest.skip(f"{component}: {check.message}")
    if check.status != "passed":
        text = f"{component} / {check_id} ({check.description}): {check.status}\n{check.message}"
        if check.output:
            text += f"\n--- output of your code ---\n{check.output}"
        pytest.fail(text, pytrace=False)
