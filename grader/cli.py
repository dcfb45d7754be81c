"""The ``grader`` command: ``grader run`` (grade submissions), ``grader selftest``, ``grader generate``,
``grader release``, ``grader gradescope-autograder`` (``grader.gradescope``), ``grader init-ci`` (``grader.ci``).

``grader run [SUBMISSION ...]`` grades the ``student/`` package of this checkout by default; see
``docs/GRADER.md`` for every option, the report formats, overrides and the isolation model.

Exit status: 0 when grading completed (whatever the score), 1 when ``--fail-under`` was not met,
2 for a bad invocation or a grader error (one line on stderr, no traceback) or a report that could
not be written (one line each; the other reports are written), 3 when a check could not be graded
because of the grader's own fault (status ``grader_error``: one line on stderr naming the checks;
fix the grader and re-run), 130 when interrupted. In a class run a submission that cannot be graded
is its own error row and never stops the run.
"""

from __future__ import annotations

# This module stays light (no torch): `grader --help` and usage errors answer at once. The
# commands themselves live in grader.commands, imported when one runs.

import argparse
import sys
from typing import Optional

from .core import course as course_mod
from .core.defaults import GRADESCOPE_VISIBILITIES, WORKER_MEMORY_MB

EXIT_OK, EXIT_FAIL_UNDER, EXIT_ERROR, EXIT_GRADER_FAULT, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
SUBMISSIONS_DIR = "submissions"  # a class run's per-submission reports: <report-dir>/submissions/<folder>/


class UsageError(Exception):
    """A bad invocation; the message is one line."""


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr (no usage dump)."""

    def error(self, message: str):
        raise UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="grader", description="Autograder of the object-detection course kit.",
                     epilog="Every subcommand takes --course-dir DIR: the course directory "
                            "(default: $GRADER_COURSE_DIR, else the current directory or the nearest parent "
                            "holding student/ and reference/ or data/, else the checkout the grader runs from).")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    run = sub.add_parser("run", help="grade submissions",
                         description="Grade submissions (isolated worker by default). See docs/GRADER.md.")
    run.add_argument("submissions", nargs="*", metavar="SUBMISSION",
                     help="a checkout, a package directory, or a .zip/.tar.gz of either "
                          "(default: this checkout's student/); several = a class run")
    what = run.add_argument_group("what to grade")
    what.add_argument("--reference", action="store_true", help="grade the reference solution (must get full marks)")
    what.add_argument("--class", dest="class_dir", metavar="DIR",
                      help="grade every sub-directory and archive of DIR (one gradebook row each)")
    what.add_argument("--shard", metavar="I/N",
                      help="class runs: grade only the members whose index (name order, from 0) is I modulo N; "
                           "`grader merge` joins the shards' class-results.json (docs/CLASS_RUNS.md)")
    what.add_argument("--assignment", action="append", default=[], metavar="NAME",
                      help="assignment name or directory (repeatable or comma list; default: all)")
    what.add_argument("--only", action="append", default=[], metavar="COMPONENT",
                      help="only this component name or check id (repeatable or comma list)")
    what.add_argument("--public-only", action="store_true", help="only the public checks (no reference needed)")
    what.add_argument("--reference-dir", metavar="DIR",
                      help="the reference package (default: reference/ of this checkout)")
    what.add_argument("--data", metavar="DIR", help="the TinyCoco folder of the training checks (default: the rubric's "
                                                    "[training] data); the worker and the verdicts read this one")
    out = run.add_argument_group("reports")
    out.add_argument("--json", metavar="FILE", help="JSON report (schema_version 1)")
    out.add_argument("--gradescope", metavar="FILE", help="Gradescope results.json")
    out.add_argument("--gradescope-hidden", default="after_due_date", choices=GRADESCOPE_VISIBILITIES,
                     help="Gradescope visibility of hidden checks (default: after_due_date)")
    out.add_argument("--junit", metavar="FILE", help="JUnit XML")
    out.add_argument("--markdown", metavar="FILE", help="Markdown (pull request / CI job summary)")
    out.add_argument("--csv", metavar="FILE", help="gradebook CSV (one row per submission)")
    out.add_argument("--report-dir", default="grader-report", metavar="DIR",
                     help="where attachments (and a class run's per-submission reports) go (default: ./grader-report)")
    talk = out.add_mutually_exclusive_group()
    talk.add_argument("-q", "--quiet", action="store_true", help="no progress lines (the summary table only)")
    talk.add_argument("-v", "--verbose", action="store_true",
                      help="also the messages of the checks that passed (failed checks always show theirs)")
    pol = run.add_argument_group("policy")
    pol.add_argument("--overrides", metavar="FILE", help="review overrides and remarks (TOML)")
    pol.add_argument("--submitted-at", metavar="ISO|auto|none",
                     help="submission time, for deadline caps (e.g. 2026-12-02T10:00+01:00); auto: each submission's "
                          "last git commit (a repository of its own), else its file time; none (default): no cap")
    pol.add_argument("--times", metavar="FILE",
                     help="class runs: a CSV of name,submitted_at rows (an LMS export); rows win over --submitted-at")
    pol.add_argument("--fail-under", metavar="SCORE", help="exit 1 when a total is below SCORE (points, or N%%)")
    iso = run.add_argument_group("execution")
    iso.add_argument("--in-process", action="store_true",
                     help="run student code in this process (local debugging: plain tracebacks; no isolation)")
    iso.add_argument("--memory-limit", type=int, default=WORKER_MEMORY_MB, metavar="MB",
                     help=f"memory limit of the worker (default {WORKER_MEMORY_MB})")
    iso.add_argument("--jobs", type=int, default=1, metavar="N",
                     help="class runs: grade N submissions at once, each in its own grading process and worker "
                          "(default 1)")
    iso.add_argument("--force", action="store_true",
                     help="class runs: regrade every submission (default: skip those whose cached result is current)")
    iso.add_argument("--keep-sandbox", action="store_true", help="keep the sandbox directory (debugging the grader)")
    sub.add_parser("selftest",
                   help="run the wrong-solution, alternative-solution and hostile suites (grader.selftest)",
                   add_help=False).add_argument("rest", nargs=argparse.REMAINDER)
    cal = sub.add_parser("calibrate",
                         help="train the reference on N seeds; write the training thresholds into the rubric",
                         description="Train the reference on N seeds on a TinyCoco folder, print the measured "
                                     "statistics and write thresholds with a stated margin into the rubric.")
    cal.add_argument("--assignment", required=True, metavar="NAME")
    cal.add_argument("--data", metavar="DIR", help="the TinyCoco folder (default: the rubric's [training] data)")
    cal.add_argument("--seeds", type=int, default=5, metavar="N", help="reference seeds (default 5)")
    cal.add_argument("--steps", type=int, metavar="N", help="training steps (default: the graded budget)")
    cal.add_argument("--rubric", metavar="FILE", help="the rubric to write (default: the assignment's rubric.toml)")
    mrg = sub.add_parser("merge", help="join the class-results.json of class-run shards into one gradebook",
                         description="Join the results files of `grader run --class ... --shard I/N` runs (each "
                                     "writes <report-dir>/class-results.json) into one gradebook, as one run of "
                                     "the whole class would have written it. See docs/CLASS_RUNS.md.")
    mrg.add_argument("results", nargs="+", metavar="RESULTS", help="class-results.json files, one per shard")
    mrg.add_argument("--csv", metavar="FILE", help="the gradebook (default: <report-dir>/gradebook.csv)")
    mrg.add_argument("--json", metavar="FILE", help="the class JSON report")
    mrg.add_argument("--markdown", metavar="FILE", help="the class summary in Markdown")
    mrg.add_argument("--report-dir", default="grader-report", metavar="DIR",
                     help="where the merged class-results.json and the class statistics go (default: ./grader-report)")
    mrg.add_argument("-q", "--quiet", action="store_true", help="no summary line")
    gen = sub.add_parser("generate", help="regenerate student/ from reference/ (python -m grader.generate)",
                         add_help=False)
    gen.add_argument("rest", nargs=argparse.REMAINDER)
    rel = sub.add_parser("release", help="build the student bundle (python -m grader.release)", add_help=False)
    rel.add_argument("rest", nargs=argparse.REMAINDER)
    gs = sub.add_parser("gradescope-autograder",
                        help="build the Gradescope autograder zip (python -m grader.gradescope)", add_help=False)
    gs.add_argument("rest", nargs=argparse.REMAINDER)
    ci = sub.add_parser("init-ci", help="write the pull-request grading workflow into a repository (grader.ci)",
                        add_help=False)
    ci.add_argument("rest", nargs=argparse.REMAINDER)
    return parser


# ----------------------------------------------------------------------------------------------
# Parsing helpers: each raises UsageError / RubricError with one line
# ----------------------------------------------------------------------------------------------

def _take_course_dir(argv: list[str]) -> list[str]:
    """Remove ``--course-dir DIR`` (accepted before or after the subcommand, by every subcommand)
    from ``argv`` and make that directory this process's course (``grader.core.course``)."""
    out, chosen, items = [], None, iter(argv)
    for item in items:
        if item == "--course-dir":
            chosen = next(items, None)
            if chosen is None:
                raise course_mod.CourseError("--course-dir needs a directory")
        elif item.startswith("--course-dir="):
            chosen = item.split("=", 1)[1]
        else:
            out.append(item)
    if chosen is not None:
        course_mod.activate(course_mod.find(chosen))
    return out


def main(argv: Optional[list[str]] = None) -> int:
    with course_mod.scoped():
        return _main(sys.argv[1:] if argv is None else argv)


def _main(argv: list[str]) -> int:
    try:
        argv = _take_course_dir(argv)
    except course_mod.CourseError as exc:
        print(f"grader: error: {_one_line(exc, 4000)}", file=sys.stderr)
        return EXIT_ERROR
    if argv[:1] == ["generate"]:
        from . import generate

        return generate.main(argv[1:])
    if argv[:1] == ["release"]:
        from . import release

        return release.main(argv[1:])
    if argv[:1] == ["gradescope-autograder"]:
        from . import gradescope

        return gradescope.main(argv[1:])
    if argv[:1] == ["init-ci"]:
        from . import ci

        return ci.main(argv[1:])
    if argv[:1] == ["selftest"]:
        from . import selftest

        return selftest.main(argv[1:])
    try:
        args = build_parser().parse_args(argv)
    except UsageError as exc:
        print(f"grader: error: {_one_line(exc, 4000)}", file=sys.stderr)
        return EXIT_ERROR
    from . import commands  # torch and the grading machinery: only now

    return commands.dispatch(args)


def _one_line(text, limit: int = 600) -> str:
    """``text`` on one line, at most ``limit`` characters."""
    line = "".join(ch if ch.isprintable() else "?" for ch in " ".join(str(text).split()))
    return line if len(line) <= limit else line[: limit - 1] + "…"


def __getattr__(name: str):
    """The commands' helpers (``cli.run``, ``cli.report_folder``, ...) stay reachable from here."""
    if name.startswith("__"):  # the import system asks for __path__ etc.: not a command's helper
        raise AttributeError(name)
    from . import commands

    try:
        return getattr(commands, name)
    except AttributeError:
        raise AttributeError(f"module 'grader.cli' has no attribute {name!r}") from None


if __name__ == "__main__":
    sys.exit(main())
