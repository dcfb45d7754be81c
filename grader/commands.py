"""The ``grader`` commands that grade: ``run`` (one submission or a class), ``calibrate``, ``merge``.

``grader.cli`` parses the command line without importing any of this (torch included), so that
``grader --help`` and usage errors answer at once; it calls ``dispatch`` for these commands.
See ``grader.cli`` for the exit statuses.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import re
import sys
from pathlib import Path
from typing import Optional

from .cli import (EXIT_ERROR, EXIT_FAIL_UNDER, EXIT_GRADER_FAULT, EXIT_INTERRUPTED, EXIT_OK, SUBMISSIONS_DIR,
                  UsageError)
from .core import api, assignment as assignment_mod, classrun, report as rep, stats as class_stats, subtime
from .core import course as course_mod
from .core.engine import CheckResult
from .core.overrides import load_overrides
from .core.rubric import RubricError
from .core.runner import GradingError, RunOptions, failed_report, grade_submission, reference_executor, validate_only
from .core.sandbox import IsolationOptions, SandboxError
from .core.submission import Submission, SubmissionError, class_members, resolve


def dispatch(args) -> int:
    """Run the parsed command; every error is one ``grader: error:`` line."""
    try:
        if getattr(args, "reference_dir", None):
            course_mod.activate(course_mod.current().with_reference(Path(args.reference_dir)))
        if args.command == "merge":
            return merge(args)
        return calibrate(args) if args.command == "calibrate" else run(args)
    except (UsageError, GradingError, SubmissionError, SandboxError, RubricError, course_mod.CourseError,
            subtime.TimeError, classrun.ClassRunError) as exc:
        # (OverridesError is a RubricError)
        print(f"grader: error: {_one_line(exc, 4000)}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("grader: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    finally:
        api.set_report_dir(None)


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
    if text is None or text in (subtime.AUTO, subtime.NONE):
        return None
    return subtime.parse_time(text, "--submitted-at")  # one line (TimeError) when it is not one


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

    def __init__(self, quiet: bool, show_output: bool, verbose: bool = False):
        self.quiet, self.show_output, self.verbose = quiet, show_output, verbose

    def __call__(self, assignment: str, component: str, chk: CheckResult) -> None:
        if self.quiet:
            return
        print(rep.progress_line(assignment, component, chk, verbose=self.verbose), flush=True)
        if self.show_output and chk.status not in ("passed", "not_attempted") and chk.output:
            print(rep.output_lines(chk), flush=True)


def _one_line(text, limit: int = 600) -> str:
    """Text for one stderr line: no escapes or control characters (paths hold member names)."""
    return rep.clean(text, limit, single_line=True)


class _Steps:
    """Report steps: each runs under a time budget; a failing one prints one line, the others run."""

    def __init__(self):
        self.failed = 0

    def __call__(self, label: str, fn, *args) -> bool:
        try:
            rep.within_budget(fn, *args)
            return True
        except Exception as exc:  # noqa: BLE001 - one line, the other reports are still written
            self.failed += 1
            reason = f"{type(exc).__name__}: {exc}" if not isinstance(exc, OSError) else (exc.strerror or str(exc))
            print(f"grader: error: {_one_line(label)} not written: {_one_line(reason)}", file=sys.stderr, flush=True)
            return False


def _writer(path, make):
    """A report step: build the text (bounded input) and write it atomically."""
    return lambda: rep.write_text(path, make())


def _write_single(report: rep.Report, args, steps: _Steps) -> None:
    report_dir = Path(args.report_dir)
    if args.json:
        steps(f"--json {args.json}", _writer(args.json, lambda: rep.to_json(report)))
    if args.gradescope:
        steps(f"--gradescope {args.gradescope}",
              _writer(args.gradescope, lambda: rep.gradescope_json(report, args.gradescope_hidden)))
    if args.junit:
        steps(f"--junit {args.junit}", _writer(args.junit, lambda: rep.to_junit(report)))
    if args.markdown:
        steps(f"--markdown {args.markdown}",
              _writer(args.markdown, lambda: rep.to_markdown(report, report_dir, Path(args.markdown))))
    if args.csv:
        steps(f"--csv {args.csv}", _writer(args.csv, lambda: rep.to_csv([report])))


def _write_class(entries: list[tuple[rep.Report, Path]], args, steps: _Steps) -> None:
    """Per-submission reports in their own folders under ``<report-dir>/submissions/``; the grader's
    own files (``gradebook.csv``) at the top, where no member name can land."""
    reports = [r for r, _ in entries]
    report_dir = Path(args.report_dir)
    gradebook = Path(args.csv) if args.csv else report_dir / "gradebook.csv"
    steps(f"gradebook {gradebook}", _writer(gradebook, lambda: rep.to_csv(reports)))
    for r, d in entries:
        steps(f"{d / 'report.json'}", _writer(d / "report.json", lambda: rep.to_json(r)))
        steps(f"{d / 'results.json'}",
              _writer(d / "results.json", lambda: rep.gradescope_json(r, args.gradescope_hidden)))
        steps(f"{d / 'report.md'}", _writer(d / "report.md", lambda: rep.to_markdown(r, d, d / "report.md")))
    if args.json:
        steps(f"--json {args.json}", _writer(args.json, lambda: rep.class_json(reports)))
    if args.markdown:
        steps(f"--markdown {args.markdown}", _writer(args.markdown, lambda: rep.class_markdown(reports)))


def report_folder(name: str, used: set) -> str:
    """A folder name for a submission's reports: only ``[A-Za-z0-9._-]``, no leading dot, at most
    80 characters, unique among ``used`` ignoring case (case-insensitive file systems)."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", name).lstrip(".")[:80] or "submission"
    candidate, i = safe, 2
    while candidate.lower() in used:
        candidate, i = f"{safe}-{i}", i + 1
    used.add(candidate.lower())
    return candidate


def grader_fault_line(reports: list[rep.Report]) -> Optional[str]:
    """The one stderr line of a run with grader faults, or None."""
    checks: dict[str, set] = {}
    first = ""
    for r in reports:
        for a, chk in rep.grader_faults(r):
            checks.setdefault(f"{a}/{chk.id}", set()).add(r.name)
            first = first or rep.fault_message(chk)
        if r.error_is_grader_fault:
            checks.setdefault(f"grading {r.name}", set()).add(r.name)
            first = first or (r.error or "")
    if not checks:
        return None
    names = list(checks)
    where = ", ".join(names[:5]) + (f" (+{len(names) - 5} more)" if len(names) > 5 else "")
    subs = {n for s in checks.values() for n in s}
    who = f"; {len(subs)} submissions" if len(reports) > 1 else ""
    detail = first
    if detail.startswith(rep.GRADER_FAULT_TEXT):
        detail = detail[len(rep.GRADER_FAULT_TEXT):].lstrip(" :")
    return (f"grader: grader fault in {_one_line(where)} (not the student's{who}): "
            f"{rep.clean(detail, 300, single_line=True)}; fix the grader and re-run")


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
        return [course_mod.current().reference]
    return [Path(p) for p in args.submissions] or [course_mod.current().student]


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
    shard = classrun.parse_shard(args.shard)
    if not class_run and (shard or args.times):
        raise UsageError("--shard and --times take a class run (--class DIR or several submissions)")
    if args.jobs < 1:
        raise UsageError(f"--jobs: at least 1, got {args.jobs}")
    fixed_time = _parse_time(args.submitted_at)
    if class_run and (args.gradescope or args.junit):
        raise UsageError("--gradescope and --junit take one submission; a class run writes "
                         f"<report-dir>/{SUBMISSIONS_DIR}/<name>/results.json for each")
    secrets = [str(a.directory) for a in assignments]
    if args.reference_dir:
        secrets.append(str(Path(args.reference_dir).resolve()))
    if args.class_dir:
        secrets.append(str(Path(args.class_dir).resolve()))
    options = RunOptions(
        in_process=args.in_process, public_only=args.public_only, only=only, overrides=overrides,
        submitted_at=fixed_time, submitted_at_source=subtime.SOURCE_OPTION if fixed_time else None,
        full_traceback=args.in_process,
        isolation=IsolationOptions(memory_mb=args.memory_limit, keep_sandbox=args.keep_sandbox,
                                   secrets=secrets, hide=list(secrets), expose=data_expose))
    reference = None if args.public_only else reference_executor(course_mod.current().reference)
    packages = [a.rubric.package for a in assignments]
    steps = _Steps()
    if not class_run:  # a bad single submission is a bad invocation: resolve before grading anything
        if args.submitted_at == subtime.AUTO and not args.reference:
            options.submitted_at, options.submitted_at_source = subtime.resolve_time(targets[0], args.submitted_at)
        submission = resolve(targets[0], packages)
        if args.reference:
            submission.kind, submission.name = "reference", "reference"
        report = _grade_one(submission, assignments, reference, options, args, Path(args.report_dir), steps)
        _write_single(report, args, steps)
        reports = [report]
    else:
        reports = _run_class(targets, packages, assignments, reference, options, args, steps, shard)
    fault = grader_fault_line(reports)
    if fault:
        print(fault, file=sys.stderr, flush=True)
        return EXIT_GRADER_FAULT
    if steps.failed:
        return EXIT_ERROR
    return EXIT_FAIL_UNDER if threshold and any(_below(r, threshold) for r in reports) else EXIT_OK


def _students_problem(exc: Exception) -> bool:
    """A submission that cannot be graded because of what it is (a corrupt or oversize archive,
    too many files for the sandbox copy), as opposed to a grader fault."""
    if isinstance(exc, SubmissionError):
        return True
    return isinstance(exc, SandboxError) and bool(re.search(r"^submission\b|too large|too many", str(exc)))


def _graded(member) -> rep.Report:
    """A class member's report, which ``classrun.grade_class`` fills for every member."""
    if member.report is None:
        raise RuntimeError(f"{member.name}: no report after grading the class")
    return member.report


def _grade_member(target: Path, name: str, packages, assignments, reference, options: RunOptions, args,
                  folder: Path, steps: Optional[_Steps]) -> rep.Report:
    """One submission of a class run: its report, or its error row; never an exception (but Ctrl-C)."""
    try:
        submission = resolve(target, packages)
    except Exception as exc:  # noqa: BLE001 - a corrupt archive is that student's row
        return _error_row(name, target, exc, options)
    submission.name = name
    try:
        return _grade_one(submission, assignments, reference, options, args, folder, steps)
    except Exception as exc:  # noqa: BLE001 - e.g. the sandbox copy cap: that student's row
        return _error_row(name, target, exc, options)


def _error_row(name: str, target: Path, exc: Exception, options: RunOptions) -> rep.Report:
    students = _students_problem(exc)
    message = str(exc) if students else f"{type(exc).__name__}: {exc}"
    print(f"grader run: {_one_line(message if students else f'{name}: ' + message)}", file=sys.stderr, flush=True)
    report = failed_report(name, str(target), message, options)
    report.error_is_grader_fault = not students
    return rep.bound_report(report)


def _unique(name: str, used: set) -> str:
    candidate, i = name, 2
    while candidate in used:
        candidate, i = f"{name}-{i}", i + 1
    used.add(candidate)
    return candidate


def _grade_one(submission: Submission, assignments, reference, options: RunOptions, args, report_dir: Path,
               steps: Optional[_Steps] = None):
    mode = "in-process" if options.in_process else "isolated"
    if not args.quiet:
        print(f"grading {_one_line(submission.name)} ({submission.kind}, {mode})", flush=True)
    options.report_dir = report_dir
    try:
        report = grade_submission(submission, assignments, reference, options,
                                  Progress(args.quiet, show_output=options.in_process, verbose=args.verbose))
    finally:
        submission.cleanup()
    rep.bound_report(report)
    (steps or _Steps())("the terminal summary", lambda: print(rep.terminal_summary(report), flush=True))
    return report


# ----------------------------------------------------------------------------------------------
# Class runs: jobs, cache, shards, statistics (grader.core.classrun, docs/CLASS_RUNS.md)
# ----------------------------------------------------------------------------------------------

def _member_error_row(name: str, target: Path, message: str, options: RunOptions, grader_fault: bool) -> rep.Report:
    print(f"grader run: {_one_line(f'{name}: {message}')}", file=sys.stderr, flush=True)
    report = failed_report(name, str(target), message, options)
    report.error_is_grader_fault = grader_fault
    return rep.bound_report(report)


def _run_class(targets, packages, assignments, reference, options: RunOptions, args, steps: _Steps, shard):
    """Grade a class (or its shard): every member's report, then the gradebook, the per-member
    reports, class-results.json and the class statistics."""
    report_dir = Path(args.report_dir)
    times = subtime.read_times(Path(args.times)) if args.times else None
    members = classrun.plan_members(targets, report_dir, args.submitted_at, times, report_folder, _unique)
    warning = classrun.times_coverage_warning(members, times)
    if warning:
        print(_one_line(warning), file=sys.stderr, flush=True)
    selected = [m for m in members if classrun.in_shard(m.index, shard)]
    reference_dir = None if args.public_only else course_mod.current().reference
    overrides_hash = ""
    if args.overrides:
        import hashlib

        overrides_hash = hashlib.sha256(Path(args.overrides).read_bytes()).hexdigest()
    fingerprint = classrun.grader_fingerprint(
        assignments, reference_dir, options,
        {"memory_mb": args.memory_limit, "data": args.data, "overrides": overrides_hash})
    cache = classrun.ResultCache(report_dir, fingerprint)
    ctx = classrun.ClassContext(packages, assignments, reference, reference_dir, options, args.quiet, _grade_member,
                                _member_error_row, jobs=args.jobs, progress=lambda line: print(line, flush=True))
    if not args.quiet and shard:
        print(f"shard {shard[0]}/{shard[1]}: {len(selected)} of {len(members)} submissions", flush=True)
    classrun.grade_class(selected, ctx, cache, args.force)
    entries = [(_graded(m), m.folder) for m in selected]
    _write_class(entries, args, steps)
    results = report_dir / classrun.RESULTS_FILE
    steps(f"{results}", _writer(results, lambda: json.dumps(
        classrun.results_document(selected, len(members), shard, fingerprint), ensure_ascii=False) + "\n"))
    reports = [r for r, _ in entries]
    class_stats.write_all(reports, report_dir, steps)
    if not args.quiet:
        s = ctx.stats
        line = f"class run: {s.get('graded', 0)} graded, {s.get('cached', 0)} from the cache"
        if "reference_seconds" in s:
            line += (f"; {args.jobs} jobs; the reference computed once here ({s['reference_seconds']:.1f} s; "
                     f"{s.get('reference_runs_in_jobs', 0)} reference probe(s) re-run in jobs)")
        if s.get("job_peak_rss_mb"):
            line += f"; peak grading process {s['job_peak_rss_mb']:.0f} MB"
        print(line + f"; statistics in {report_dir / 'stats.md'}", flush=True)
    return reports


def merge(args) -> int:
    """``grader merge``: join shard results into one gradebook (and the class statistics)."""
    entries, document = classrun.merge_results([Path(p) for p in args.results])
    reports = [r for _, r, _ in entries]
    report_dir = Path(args.report_dir)
    steps = _Steps()
    gradebook = Path(args.csv) if args.csv else report_dir / "gradebook.csv"
    steps(f"gradebook {gradebook}", _writer(gradebook, lambda: rep.to_csv(reports)))
    if args.json:
        steps(f"--json {args.json}", _writer(args.json, lambda: rep.class_json(reports)))
    if args.markdown:
        steps(f"--markdown {args.markdown}", _writer(args.markdown, lambda: rep.class_markdown(reports)))
    results = report_dir / classrun.RESULTS_FILE
    steps(f"{results}", _writer(results, lambda: json.dumps(document, ensure_ascii=False) + "\n"))
    class_stats.write_all(reports, report_dir, steps)
    if not args.quiet:
        print(f"merged {len(args.results)} results file(s): {len(reports)} submissions -> {gradebook}", flush=True)
    fault = grader_fault_line(reports)
    if fault:
        print(fault, file=sys.stderr, flush=True)
        return EXIT_GRADER_FAULT
    return EXIT_ERROR if steps.failed else EXIT_OK
