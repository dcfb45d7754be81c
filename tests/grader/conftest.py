"""Fixtures of the grader's own tests (helpers: grader_testkit.py).

Worker starts cost a torch import each (seconds on 2 cores), so grading runs that several tests
inspect are module-scoped in the test files.
"""

from __future__ import annotations

import pytest

from grader.core import assignment
from grader.core.engine import CachedExecutor, InProcessExecutor

from grader_testkit import TOY, TOYREF


@pytest.fixture(scope="session")
def toy():
    return assignment.load(TOY)


@pytest.fixture(scope="session")
def toy_reference():
    """The toy reference, in this process, cached like the CLI's."""
    return CachedExecutor(InProcessExecutor.for_directory(TOYREF, "_test_toyref"))
