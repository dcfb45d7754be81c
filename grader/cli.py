"""The ``grader`` command: ``grader run`` (grade submissions), ``grader generate``, ``grader release``.

``grader run [SUBMISSION ...]`` grades the ``student/`` package of this checkout by default; see
``docs/GRADER.md`` for every option, the report formats, overrides and the isolation model.

Exit status: 0 when grading completed (whatever the score), 1 when ``--fail-under`` was not met,
2 for a bad invocation or a grader error (one line on stderr, no traceback), 130 when interrupted.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import os
import sys
from pathlib import Path
from typing import Optional

from .core import api, assignment as assignment_mod, report as rep
from .core.engine import CheckResult
from .core.overrides import load_overrides
from .core.rubric import RubricError
from .core.runner import GradingError, RunOptions, failed_report, grade_submission, reference_executor, validate_only
from .core.sandbox import ROOT, IsolationOptions, SandboxError
from .core.submission import Submission, SubmissionError, class_members, resolve, submission_name

EXIT_OK, EXIT_FAIL_UNDER, EXIT_ERROR, EXIT_INTERRUPTED = 0, 1, 2, 130


class UsageError(Exception):
    """A bad invocation; the message is one line."""


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr (no usage dump)."""

    def error(self, message: str):
        raise UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="grader", description="Autograder of the object-detection course kit.")
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
    what.add_argument("--assignment", action="append", default=[], metavar="NAME",
                      help="assignment name or directory (repeatable or comma list; default: all)")
    what.add_argument("--only", action="append", default=[], metavar="COMPONENT",
                      help="only this component name or check id (repeatable or comma list)")
    what.add_argument("--public-only", action="store_true", help="only the public checks (no reference needed)")
    what.add_argument("--reference-dir", metavar="DIR", help="the reference package (default: reference/ of this checkout)")
    what.add_argument("--data", metavar="DIR", help="the TinyCoco folder of the training checks (default: the rubric's "
                                                    "[training] data); the worker and the verdicts read this one")
    out = run.add_argument_group("reports")
    out.add_argument("--json", metavar="FILE", help="JSON report (schema_version 1)")
    out.add_argument("--gradescope", metavar="FILE", help="Gradescope results.json")
    out.add_argument("--gradescope-hidden", default="after_due_date", choices=rep.GRADESCOPE_VISIBILITIES,
                     help="Gradescope visibility of hidden checks (default: after_due_date)")
    out.add_argument("--junit", metavar="FILE", help="JUnit XML")
    out.add_argument("--markdown", metavar="FILE", help="Markdown (pull request / CI job summary)")
    out.add_argument("--csv", metavar="FILE", help="gradebook CSV (one row per submission)")
    out.add_argument("--report-dir", default="grader-report", metavar="DIR",
                     help="where attachments (and a class run's per-submission reports) go (default: ./grader-report)")
    out.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    pol = run.add_argument_group("policy")
    pol.add_argument("--overrides", metavar="FILE", help="review overrides and remarks (TOML)")
    pol.add_argument("--submitted-at", metavar="ISO", help="submission time, for deadline caps (e.g. 2026-12-02T10:00+01:00)")
    pol.add_argument("--fail-under", metavar="SCORE", help="exit 1 when a total is below SCORE (points, or N%%)")
    iso = run.add_argument_group("execution")
    iso.add_argument("--in-process", action="store_true",
                     help="run student code in this process (local debugging: plain tracebacks; no isolation)")
    iso.add_argument("--memory-limit", type=int, default=IsolationOptions.memory_mb, metavar="MB",
                     help=f"memory limit of the worker (default {IsolationOptions.memory_mb})")
    iso.add_argument("--keep-sandbox", action="store_true", help="keep the sandbox directory (debugging the grader)")
    cal = sub.add_parser("calibrate", help="train the reference on N seeds; write the training thresholds into the rubric",
                         description="Train the reference on N seeds on a TinyCoco folder, print the measured "
                                     "statistics and write thresholds with a stated margin into the rubric.")
    cal.add_argument("--assignment", required=True, metavar="NAME")
    cal.add_argument("--data", metavar="DIR", help="the TinyCoco folder (default: the rubric's [training] data)")
    cal.add_argument("--seeds", type=int, default=5, metavar="N", help="reference seeds (default 5)")
    cal.add_argument("--steps", type=int, metavar="N", help="training steps (default: the graded budget)")
    cal.add_argument("--rubric", metavar="FILE", help="the rubric to write (default: the assignment's rubric.toml)")
    gen = sub.add_parser("generate", help="regenerate student/ from reference/ (python -m grader.generate)",
                         add_help=False)
    gen.add_argument("rest", nargs=argparse.REMAINDER)
    rel = sub.add_parser("release", help="build the student bundle (python -m grader.release)", add_help=False)
    rel.add_argument("rest", nargs=argparse.REMAINDER)
    return parser


# ----------------------------------------------------------------------------------------------
# Parsing helpers: each raises UsageError / RubricError with one line
# ----------------------------------------------------------------------------------------------

def _split(values: list[str]) -> list[str]:
    return [v.strip() for item in values for v in item.split(",") if v.strip()]


def _load_assignments(names: list[str]) -> list:
    names = names or assignment_mod.available()
    if not names:
        raise GradingError("no assignments found (grader/assignments/*/rubric.toml)")
    loaded, seen = [], set()
    for n in names:
        a = assignment_mod.load(n)
        if a.name in seen:
            continue
        seen.add(a.name)
        loaded.append(a)
    return loaded


def _parse_time(text: Optional[str]) -> Optional[_dt.datetime]:
    if text is None:
        return None
    try:
        t = _dt.datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(f"--submitted-at: not an ISO date-time: {text!r}") from None
    if t.tzinfo is None:
        raise UsageError(f"--submitted-at: {text} needs a time zone (e.g. +00:00 or Z)")
    return t


def _fail_threshold(text: Optional[str]):
    """(value, is_percent) or None."""
    if text is None:
        return None
    try:
        return (float(text[:-1]), True) if text.endswith("%") else (float(text), False)
    except ValueError:
        raise UsageError(f"--fail-under: expected points or a percentage, got {text!r}") from None


def _below(report: rep.Report, threshold) -> bool:
    value, percent = threshold
    score = 100.0 * report.score / report.max_score if percent and report.max_score else report.score
    return report.error is not None or score < value - 1e-9


# ----------------------------------------------------------------------------------------------
# Output
# ----------------------------------------------------------------------------------------------

class Progress:
    """Prints one line per completed check (plain text, flushed: fine in CI logs)."""

    def __init__(self, quiet: bool, show_output: bool):
        self.quiet, self.show_output = quiet, show_output

    def __call__(self, assignment: str, component: str, chk: CheckResult) -> None:
        if self.quiet:
            return
        print(rep.progress_line(assignment, component, chk), flush=True)
        if self.show_output and chk.status not in ("passed", "not_attempted") and chk.output:
            print("\n".join("      " + line for line in chk.output.rstrip().splitlines()), flush=True)


def _write_single(report: rep.Report, args) -> None:
    report_dir = Path(args.report_dir)
    if args.json:
        rep.write_text(args.json, rep.to_json(report))
    if args.gradescope:
        rep.write_text(args.gradescope, rep.gradescope_json(report, args.gradescope_hidden))
    if args.junit:
        rep.write_text(args.junit, rep.to_junit(report))
    if args.markdown:
        rep.write_text(args.markdown, rep.to_markdown(report, report_dir, Path(args.markdown)))
    if args.csv:
        rep.write_text(args.csv, rep.to_csv([report]))


def _write_class(reports: list[rep.Report], args) -> None:
    report_dir = Path(args.report_dir)
    for r in reports:
        d = report_dir / r.name
        rep.write_text(d / "report.json", rep.to_json(r))
        rep.write_text(d / "results.json", rep.gradescope_json(r, args.gradescope_hidden))
        rep.write_text(d / "report.md", rep.to_markdown(r, d, d / "report.md"))
    rep.write_text(args.csv or report_dir / "gradebook.csv", rep.to_csv(reports))
    if args.json:
        rep.write_text(args.json, rep.class_json(reports))
    if args.markdown:
        rep.write_text(args.markdown, rep.class_markdown(reports))


# ----------------------------------------------------------------------------------------------
# grader run
# ----------------------------------------------------------------------------------------------

def _targets(args) -> list[Path]:
    if args.reference and (args.submissions or args.class_dir):
        raise UsageError("--reference grades the reference; do not name submissions too")
    if args.class_dir and args.submissions:
        raise UsageError("give either --class DIR or SUBMISSION paths, not both")
    if args.class_dir:
        return class_members(Path(args.class_dir))
    if args.reference:
        return [Path(args.reference_dir) if args.reference_dir else ROOT / "reference"]
    return [Path(p) for p in args.submissions] or [ROOT / "student"]


def _select_data(folder: Optional[str]) -> list[str]:
    """``--data DIR``: the TinyCoco folder for this process and the worker ($GRADER_TINYCOCO_DIR)."""
    if not folder:
        return []
    path = Path(folder).resolve()
    if not path.is_dir():
        raise UsageError(f"--data: not a folder: {folder}")
    os.environ["GRADER_TINYCOCO_DIR"] = str(path)
    return [str(path)]


def calibrate(args) -> int:
    (assignment,) = _load_assignments([args.assignment])
    fn = getattr(assignment.checks_module, "CALIBRATE", None)
    if fn is None:
        raise UsageError(f"assignment '{assignment.name}' has nothing to calibrate")
    if args.seeds < 1:
        raise UsageError("--seeds: at least 1")
    _select_data(args.data)
    budget = {"steps": args.steps} if args.steps else {}
    try:
        fn(Path(args.data) if args.data else None, args.seeds,
           rubric_path=Path(args.rubric) if args.rubric else assignment.directory / "rubric.toml", **budget)
    except (FileNotFoundError, RuntimeError) as exc:
        raise GradingError(f"calibrate: {exc}") from None
    return 0


def run(args) -> int:
    data_expose = _select_data(args.data)
    assignments = _load_assignments(_split(args.assignment))
    only = _split(args.only) or None
    if only:
        validate_only(only, assignments)
    overrides = load_overrides(Path(args.overrides), [a.rubric for a in assignments]) if args.overrides else []
    threshold = _fail_threshold(args.fail_under)
    targets = _targets(args)
    class_run = bool(args.class_dir) or len(targets) > 1
    if class_run and (args.gradescope or args.junit):
        raise UsageError("--gradescope and --junit take one submission; a class run writes "
                         "<report-dir>/<name>/results.json for each")
    secrets = [str(a.directory) for a in assignments]
    if args.reference_dir:
        secrets.append(str(Path(args.reference_dir).resolve()))
    if args.class_dir:
        secrets.append(str(Path(args.class_dir).resolve()))
    options = RunOptions(
        in_process=args.in_process, public_only=args.public_only, only=only, overrides=overrides,
        submitted_at=_parse_time(args.submitted_at), full_traceback=args.in_process,
        isolation=IsolationOptions(memory_mb=args.memory_limit, keep_sandbox=args.keep_sandbox,
                                   secrets=secrets, hide=list(secrets), expose=data_expose))
    reference = None if args.public_only else reference_executor(Path(args.reference_dir) if args.reference_dir else None)
    packages = [a.rubric.package for a in assignments]
    if not class_run:  # a bad single submission is a bad invocation: resolve before grading anything
        submission = resolve(targets[0], packages)
        if args.reference:
            submission.kind, submission.name = "reference", "reference"
        report = _grade_one(submission, assignments, reference, options, args, Path(args.report_dir))
        _write_single(report, args)
        return EXIT_FAIL_UNDER if threshold and _below(report, threshold) else EXIT_OK
    reports = []
    names: set[str] = set()
    for target in targets:
        try:
            submission = resolve(target, packages)
        except SubmissionError as exc:
            print(f"grader run: {exc}", file=sys.stderr)
            reports.append(failed_report(_unique(submission_name(target), names), str(target), str(exc), options))
            continue
        submission.name = _unique(submission.name, names)
        reports.append(_grade_one(submission, assignments, reference, options, args,
                                  Path(args.report_dir) / submission.name))
    _write_class(reports, args)
    return EXIT_FAIL_UNDER if threshold and any(_below(r, threshold) for r in reports) else EXIT_OK


def _unique(name: str, used: set) -> str:
    candidate, i = name, 2
    while candidate in used:
        candidate, i = f"{name}-{i}", i + 1
    used.add(candidate)
    return candidate


def _grade_one(submission: Submission, assignments, reference, options: RunOptions, args, report_dir: Path):
    mode = "in-process" if options.in_process else "isolated"
    if not args.quiet:
        print(f"grading {submission.name} ({submission.kind}, {mode})", flush=True)
    options.report_dir = report_dir
    try:
        report = grade_submission(submission, assignments, reference, options,
                                  Progress(args.quiet, show_output=options.in_process))
    finally:
        submission.cleanup()
    print(rep.terminal_summary(report), flush=True)
    return report


def main(argv: Optional[list[str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["generate"]:
        from . import generate

        return generate.main(argv[1:])
    if argv[:1] == ["release"]:
        from . import release

        return release.main(argv[1:])
    try:
        args = build_parser().parse_args(argv)
        return calibrate(args) if args.command == "calibrate" else run(args)
    except (UsageError, GradingError, SubmissionError, SandboxError, RubricError) as exc:
        # (OverridesError is a RubricError)
        message = " ".join(str(exc).split())
        print(f"grader: error: {message}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("grader: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    finally:
        api.set_report_dir(None)


if __name__ == "__main__":
    sys.exit(main())
