"""``grader selftest [--quick]``: does the grader still tell right from wrong, and stay in charge?

Runs the project's own suites through pytest (``grader.selftest_plugin`` sorts the tests) and
prints three counts:

- **caught**: plausible wrong solutions (``tests/centernet/variants.py``, ``tests/detection/variants.py``)
  that lose points, as their tests require;
- **accepted**: alternative correct solutions that get full marks;
- **contained**: hostile submissions (``tests/grader/fixtures/subs/hostile`` and the other attack
  tests) that score only what their honest parts earn, with the grader intact and the report complete;

then every test that did NOT behave as expected (one line each). Exit status 0 when all did, 1
otherwise, 2 when the suites could not be run. ``--quick`` runs the first two cases of each
parametrised suite (all hostile tests), for a check in a few minutes; without it, every case.
Needs the development install (``pip install -e .[dev]``: pytest) and a checkout (``tests/``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

_HOME = Path(__file__).resolve().parent.parent  # where this grader (and its pytest plugin) is imported from


def _course_root() -> Path:
    """The course directory whose suites run (``grader.core.course``)."""
    from .core import course as course_mod

    return course_mod.current().root
SUITE_FILES = [  # the files holding the suites; tests in them outside a suite are deselected
    "tests/centernet/test_discrimination.py",
    "tests/detection/test_grading.py",
    "tests/grader/test_isolation.py",
    "tests/grader/test_trust_core.py",
    "tests/grader/test_report_safety.py",
]
LABELS = {"wrong": ("caught", "wrong variants that lose points"),
          "alt": ("accepted", "alternative correct solutions at full marks"),
          "hostile": ("contained", "hostile submissions at 0 with the grader intact")}


def suite_files(root: Path | None = None) -> list[str]:
    """``SUITE_FILES`` that exist, plus every test file that marks a test ``selftest_*`` or is named
    like a hostile suite (``test_hostile*.py``, ``test_forgery*.py``, ``test_attack*.py``)."""
    root = _course_root() if root is None else root
    found = [f for f in SUITE_FILES if (root / f).is_file()]
    for path in sorted((root / "tests").rglob("test_*.py")):
        rel = path.relative_to(root).as_posix()
        if rel in found or path.name == "test_selftest.py":  # (its fake suites are text, not tests)
            continue
        if path.name.startswith(("test_hostile", "test_attack", "test_forgery")):
            found.append(rel)
            continue
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        if "mark.selftest_" in text:
            found.append(rel)
    return found


def run_suites(files: list[str], quick: bool, extra: tuple[str, ...] | list[str] = (),
               root: Path | None = None) -> dict:
    """Run pytest on ``files`` with the plugin; return its results (see ``grader.selftest_plugin``)."""
    with tempfile.TemporaryDirectory(prefix="grader-selftest-") as tmp:
        out = Path(tmp) / "results.json"
        path = os.pathsep.join(p for p in (str(_HOME), os.environ.get("PYTHONPATH", "")) if p)
        env = {**os.environ, "GRADER_SELFTEST_OUT": str(out), "GRADER_SELFTEST_QUICK": "1" if quick else "0",
               "NO_ALBUMENTATIONS_UPDATE": "1", "PYTHONPATH": path}  # the plugin: this grader's
        cmd = [sys.executable, "-m", "pytest", *files, "-p", "grader.selftest_plugin", "-q", "-rN",
               "-p", "no:cacheprovider", *extra]
        proc = subprocess.run(cmd, cwd=_course_root() if root is None else root, env=env,
                              capture_output=True, text=True)
        if not out.is_file():
            tail = " | ".join((proc.stdout + proc.stderr).strip().splitlines()[-3:])
            raise RuntimeError(f"pytest did not run the suites (exit status {proc.returncode}): {tail}")
        results = json.loads(out.read_text(encoding="utf-8"))
        results["returncode"] = proc.returncode
        return results


def summarize(results: dict) -> tuple[list[str], bool]:
    """The lines to print and whether everything behaved as expected."""
    tests = results.get("tests", {})
    lines, unexpected, skipped = [], [], []
    for suite, (word, meaning) in LABELS.items():
        mine = [t for t in tests.values() if t["suite"] == suite]
        ok = sum(t["outcome"] == "passed" for t in mine)
        ran = sum(t["outcome"] not in ("skipped", "xfailed", "xpassed") for t in mine)
        lines.append(f"  {word:<10} {ok:>4} / {ran:<4} {meaning}")
    gaps = []
    for nodeid, t in tests.items():
        if t["outcome"] in ("xfailed", "xpassed"):
            gaps.append(f"  {t['suite']:<8} {nodeid}: {t['outcome']}: {t['reason']}")
        elif t["outcome"] == "skipped":
            skipped.append(f"  {t['suite']:<8} {nodeid}: {t['reason']}")
        elif t["outcome"] != "passed":
            unexpected.append(f"  {t['suite']:<8} {nodeid}: {t['outcome']}: {t['reason']}")
    for err in results.get("collection_errors", []):
        unexpected.append(f"  {'collect':<8} {err['nodeid']}: {err['reason']}")
    if skipped:
        lines += [f"skipped ({len(skipped)}):"] + skipped
    if gaps:
        lines += [f"known gaps, marked xfail ({len(gaps)}):"] + gaps
    if unexpected:
        lines += [f"NOT as expected ({len(unexpected)}):"] + unexpected
    else:
        lines.append("all as expected")
    return lines, not unexpected and bool(tests)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="grader selftest", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="first two cases of each suite (a few minutes)")
    parser.add_argument("-k", metavar="EXPR", help="only tests matching EXPR (pytest -k)")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    files = suite_files()
    if not files:
        print("grader selftest: error: no suites found (run from a checkout with tests/)", file=sys.stderr)
        return 2
    try:
        results = run_suites(files, args.quick, ["-k", args.k] if args.k else [])
    except (RuntimeError, OSError) as exc:
        print(f"grader selftest: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    lines, ok = summarize(results)
    mode = "quick" if args.quick else "full"
    print(f"grader selftest ({mode}): {len(results.get('tests', {}))} tests from {len(files)} files")
    print("\n".join(lines))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
