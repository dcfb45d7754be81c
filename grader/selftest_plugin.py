"""pytest plugin of ``grader selftest`` (loaded with ``-p grader.selftest_plugin``; inert otherwise).

Sorts the collected tests into the three suites of the self-test and records each one's outcome:

- ``wrong``: a plausible wrong solution must lose points (tests/*/variants.py ``WRONG``);
- ``alt``: an alternative correct solution must get full marks (``CORRECT``);
- ``hostile``: a hostile submission must score what its honest parts earn, the grader intact.

A test belongs to a suite by its marker (``@pytest.mark.selftest_wrong`` / ``selftest_alt`` /
``selftest_hostile``) or, without one, by the rules in ``RULES`` (the variant tests' names, the
hostile test files). Tests in no suite are deselected. With ``GRADER_SELFTEST_QUICK=1`` only the
first ``QUICK_PER_TEST`` cases of each parametrised test run (hostile tests all run: they share one
grading run per module). Results go to the JSON file named by ``GRADER_SELFTEST_OUT``.
"""

from __future__ import annotations

import json
import os
import re

import pytest

CATEGORIES = ("wrong", "alt", "hostile")
RULES = [  # (suite, regular expression on the test's node id), first match wins
    ("wrong", re.compile(r"::test_wrong_variant")),
    ("alt", re.compile(r"::test_(alternative_correct|correct)_variant")),
    ("hostile", re.compile(r"(^|/)test_(isolation|trust_core|hostile\w*|forgery\w*|attack\w*|report_safety)\.py::")),
]
QUICK_PER_TEST = 2

_results: dict = {"tests": {}, "collection_errors": []}


def _enabled(config) -> bool:
    return bool(os.environ.get("GRADER_SELFTEST_OUT"))


def category(item) -> str | None:
    """The suite of a collected test, or None."""
    for name in CATEGORIES:
        if item.get_closest_marker(f"selftest_{name}") is not None:
            return name
    for name, pattern in RULES:
        if pattern.search(item.nodeid):
            return name
    return None


@pytest.hookimpl(trylast=True)  # after -k / -m have deselected theirs
def pytest_collection_modifyitems(session, config, items):
    if not _enabled(config):
        return
    quick = os.environ.get("GRADER_SELFTEST_QUICK") == "1"
    keep, drop, per_function = [], [], {}
    for item in items:
        suite = category(item)
        if suite is None:
            drop.append(item)
            continue
        if quick and suite != "hostile" and hasattr(item, "callspec"):
            key = item.nodeid.split("[", 1)[0]
            per_function[key] = per_function.get(key, 0) + 1
            if per_function[key] > QUICK_PER_TEST:
                drop.append(item)
                continue
        item.user_properties.append(("selftest", suite))
        _results["tests"][item.nodeid] = {"suite": suite, "outcome": "not run", "reason": ""}
        keep.append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
    items[:] = keep


def _reason(report) -> str:
    crash = getattr(report.longrepr, "reprcrash", None)
    if crash is not None:
        return " ".join(str(crash.message).split())[:300]
    if isinstance(report.longrepr, tuple):  # a skip: (file, line, reason)
        return str(report.longrepr[2])[:300]
    return " ".join(str(report.longrepr).split())[-300:]


def pytest_runtest_logreport(report):
    entry = _results["tests"].get(report.nodeid)
    if entry is None:
        return
    if report.when == "call" or (report.when == "setup" and not report.passed):
        if hasattr(report, "wasxfail"):  # a known gap (an xfail tripwire), not a containment
            entry.update(outcome="xfailed" if report.skipped else "xpassed", reason=str(report.wasxfail)[:300])
        elif report.skipped:
            entry.update(outcome="skipped", reason=_reason(report))
        elif report.failed:
            entry.update(outcome="failed" if report.when == "call" else "error", reason=_reason(report))
        else:
            entry["outcome"] = "passed"
    elif report.when == "teardown" and report.failed and entry["outcome"] == "passed":
        entry.update(outcome="error", reason=_reason(report))


def pytest_collectreport(report):
    if report.failed and os.environ.get("GRADER_SELFTEST_OUT"):
        _results["collection_errors"].append({"nodeid": report.nodeid, "reason": _reason(report)})


def pytest_sessionfinish(session, exitstatus):
    out = os.environ.get("GRADER_SELFTEST_OUT")
    if out:
        with open(out, "w", encoding="utf-8") as f:
            json.dump(_results, f, indent=1)


def pytest_configure(config):
    for name, text in (("wrong", "a plausible wrong solution that must lose points (grader selftest)"),
                       ("alt", "an alternative correct solution that must get full marks (grader selftest)"),
                       ("hostile", "a hostile submission that must be contained (grader selftest)")):
        config.addinivalue_line("markers", f"selftest_{name}: {text}")


@pytest.hookimpl(tryfirst=True)
def pytest_report_header(config):
    if _enabled(config):
        return "grader selftest: wrong / alt / hostile suites"
    return None
