"""Fixtures shared by the centernet tests."""

from __future__ import annotations

import pytest

from grader.core import assignment as assignment_mod
from grader.core.engine import CachedExecutor, InProcessExecutor


@pytest.fixture(scope="module")
def centernet():
    """The centernet assignment (rubric, checks, probes), loaded once per test module."""
    return assignment_mod.load("centernet")


@pytest.fixture(scope="module")
def reference_executor():
    """The reference, in this process, cached like the CLI's (once per test module)."""
    return CachedExecutor(InProcessExecutor("reference"))
