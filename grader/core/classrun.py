"""Class runs at scale (docs/CLASS_RUNS.md): parallel jobs, a results cache, shards and merging.

``grader run --class DIR`` plans every member first (its name, report folder, submission time and
content hash, over the whole class, so a shard names a member as an unsharded run does), then:

- skips the members whose result is cached: ``<report-dir>/cache/<key>.json``, the key a hash of
  the member's content (its archive, or every file of its folder), name and submission time, the
  grader's own code, the assignments, the reference and the options that change a grade.
  ``--force`` regrades them. A result with a grader fault is never cached (it is to be re-run);
- grades the others: with ``--jobs 1`` in this process; with ``--jobs N`` in N grading processes,
  each with its own isolated worker (own sandbox, limits and leased uid; see ``sandbox``). The
  reference's probe outcomes are computed once, here, before the jobs start, and handed to every
  job with this run's secrets: no job runs the reference again. A job that dies takes only its
  current member with it (that member's error row) and is replaced;
- prints ``[k/N] name score/max`` per finished member, and writes ``class-results.json`` (every
  report at full precision, with the shard it covers), which ``grader merge`` joins.

``--shard i/N`` grades the members whose index (in name order) is ``i`` modulo ``N``; ``i``
counts from 0 (Kubernetes' ``JOB_COMPLETION_INDEX`` does; a Slurm array ``--array=0-3``).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as _dt
import hashlib
import io
import json
import os
import pickle
import re
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import grader

from . import report as rep
from . import subtime
from .engine import CheckResult, ComponentResult
from .submission import IGNORED_NAMES, is_archive, submission_name

CACHE_DIR = "cache"
RESULTS_FILE = "class-results.json"
RESULTS_FORMAT = "grader-class-results"
RESULTS_VERSION = 1
CACHE_VERSION = 1


class ClassRunError(ValueError):
    """A bad class-run invocation or results file; the message is one line."""


# ----------------------------------------------------------------------------------------------
# Reports as state: every field at full precision (``Report.to_dict`` rounds), so a report read
# back writes the same gradebook as the one graded
# ----------------------------------------------------------------------------------------------

def report_state(report: rep.Report) -> dict:
    return dataclasses.asdict(report)


def report_from_state(d: dict) -> rep.Report:
    try:
        components = [ComponentResult(**{**c, "checks": [CheckResult(**k) for k in c["checks"]]})
                      for c in d["components"]]
        assignments = [rep.AssignmentSummary(**a) for a in d["assignments"]]
        fields = {k: d[k] for k in ("submission", "isolation", "options", "started_at", "timings", "grader_version",
                                    "error", "error_is_grader_fault")}
    except (KeyError, TypeError) as exc:
        raise ClassRunError(f"not a report state ({type(exc).__name__}: {exc})") from None
    return rep.Report(components=components, assignments=assignments, **fields)


# ----------------------------------------------------------------------------------------------
# Shards
# ----------------------------------------------------------------------------------------------

def parse_shard(text: Optional[str]) -> Optional[tuple[int, int]]:
    """``"i/N"`` -> ``(i, N)`` with ``0 <= i < N``; None for None."""
    if text is None:
        return None
    m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if not m:
        raise ClassRunError(f"--shard: expected i/N (e.g. 0/4), got {text!r}")
    i, n = int(m.group(1)), int(m.group(2))
    if n < 1 or not 0 <= i < n:
        raise ClassRunError(f"--shard {text}: i counts from 0 and must be below N (0/{max(n, 1)} .. "
                            f"{max(n, 1) - 1}/{max(n, 1)})")
    return i, n


def in_shard(index: int, shard: Optional[tuple[int, int]]) -> bool:
    return shard is None or index % shard[1] == shard[0]


# ----------------------------------------------------------------------------------------------
# Content hashes and the results cache
# ----------------------------------------------------------------------------------------------

def _hash_tree(h, root: Path, skip_pyc: bool = True) -> None:
    """Feed every file under ``root`` (relative path and bytes; links as their target text) to
    ``h``, in a fixed order, skipping ``IGNORED_NAMES`` folders and compiled files."""
    root = Path(root)
    if not root.exists():
        h.update(b"<missing>")
        return
    if root.is_file():
        _hash_file(h, root)
        return
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if d not in IGNORED_NAMES)
        rel_dir = os.path.relpath(dirpath, root)
        for d in dirnames:
            p = os.path.join(dirpath, d)
            if os.path.islink(p):
                h.update(f"L {rel_dir}/{d} -> {os.readlink(p)}\n".encode("utf-8", "replace"))
        for name in sorted(filenames):
            if skip_pyc and name.endswith(".pyc"):
                continue
            p = os.path.join(dirpath, name)
            h.update(f"F {rel_dir}/{name}\n".encode("utf-8", "replace"))
            if os.path.islink(p):
                h.update(f"-> {os.readlink(p)}\n".encode("utf-8", "replace"))
            else:
                try:
                    _hash_file(h, Path(p))
                except OSError as exc:
                    h.update(f"<unreadable {exc.errno}>".encode())


def _hash_file(h, path: Path) -> None:
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)


def content_hash(path: Path) -> str:
    """What a member holds: the sha256 of its archive, or of every file of its folder."""
    h = hashlib.sha256()
    h.update(b"archive\n" if is_archive(Path(path)) else b"folder\n")
    _hash_tree(h, Path(path))
    return h.hexdigest()


def grader_fingerprint(assignments, reference_dir: Optional[Path], options, extra: dict) -> str:
    """What else decides a grade: the grader's code and version, the assignments (rubric, checks,
    probes), the reference, the options. Paths do not count (shards on other machines agree)."""
    h = hashlib.sha256()
    h.update(f"grader {grader.__version__}\n".encode())
    _hash_tree(h, Path(grader.__file__).resolve().parent)
    for a in sorted(assignments, key=lambda a: a.name):
        h.update(f"assignment {a.name}\n".encode())
        _hash_tree(h, Path(a.directory))
    h.update(b"reference\n")
    if reference_dir is not None:
        _hash_tree(h, Path(reference_dir))
    described = {k: v for k, v in options.describe().items() if k not in ("submitted_at", "submitted_at_source")}
    h.update(json.dumps({"options": described, **extra}, sort_keys=True, default=str).encode())
    return h.hexdigest()


def cacheable(report: rep.Report) -> bool:
    """A result worth keeping: graded, or not gradable because of what the submission is; never
    one the grader is to re-run (a grader fault, a job that died)."""
    return not report.error_is_grader_fault and not rep.grader_faults(report)


class ResultCache:
    """``<report-dir>/cache/<key>.json``: reports by member key (see the module docstring)."""

    def __init__(self, report_dir: Path, fingerprint: str):
        self.dir = Path(report_dir) / CACHE_DIR
        self.fingerprint = fingerprint

    def key(self, member: "Member") -> str:
        h = hashlib.sha256()
        h.update(json.dumps([CACHE_VERSION, self.fingerprint, member.name, member.content,
                             member.submitted_at.isoformat() if member.submitted_at else None,
                             member.time_source]).encode())
        return h.hexdigest()

    def get(self, key: str) -> Optional[rep.Report]:
        path = self.dir / f"{key}.json"
        try:
            d = json.loads(path.read_text(encoding="utf-8"))
            if d.get("cache_version") != CACHE_VERSION or d.get("key") != key:
                return None
            return report_from_state(d["report"])
        except (OSError, ValueError, KeyError, TypeError, ClassRunError):
            return None  # absent or unreadable: grade again

    def put(self, key: str, report: rep.Report) -> None:
        if cacheable(report):
            rep.write_text(self.dir / f"{key}.json",
                           json.dumps({"cache_version": CACHE_VERSION, "key": key, "report": report_state(report)},
                                      ensure_ascii=False))


# ----------------------------------------------------------------------------------------------
# Planning the members of a class
# ----------------------------------------------------------------------------------------------

@dataclass
class Member:
    index: int
    target: Path
    name: str
    folder: Path
    submitted_at: Optional[_dt.datetime] = None
    time_source: str = subtime.NONE
    content: str = ""
    key: str = ""
    report: Optional[rep.Report] = None
    cached: bool = False
    seconds: float = 0.0
    job_peak_rss_mb: Optional[float] = None


def plan_members(targets: list[Path], report_dir: Path, submitted_at: Optional[str], times: Optional[dict],
                 folder_name: Callable, unique: Callable) -> list[Member]:
    """Every member of the class, in name order, with its name and report folder (unique over the
    whole class, whatever the shard) and its submission time."""
    names: set = set()
    folders: set = set()
    members = []
    for i, target in enumerate(targets):
        raw = submission_name(target)
        name = unique(rep.clean(raw, rep.NAME_LIMIT, single_line=True) or "submission", names)
        folder = Path(report_dir) / "submissions" / folder_name(name, folders)
        t, source = subtime.resolve_time(target, submitted_at, times, raw)
        members.append(Member(i, target, name, folder, t, source))
    return members


def times_coverage_warning(members: list[Member], times: Optional[dict]) -> Optional[str]:
    """One line about ``--times`` rows and members that do not match, or None."""
    if times is None:
        return None
    raw = {submission_name(m.target) for m in members}
    missing = [m.name for m in members if m.time_source != subtime.SOURCE_TIMES]
    unknown = sorted(set(times) - raw)
    parts = []
    if missing:
        fallback = next(m.time_source for m in members if m.time_source != subtime.SOURCE_TIMES)
        parts.append(f"{len(missing)} submission(s) have no row ({', '.join(missing[:5])}"
                     f"{', ...' if len(missing) > 5 else ''}): their time is {fallback if fallback != subtime.NONE else 'none (no cap)'}")
    if unknown:
        parts.append(f"{len(unknown)} row(s) name no submission ({', '.join(unknown[:5])}"
                     f"{', ...' if len(unknown) > 5 else ''})")
    return "grader: warning: --times: " + "; ".join(parts) if parts else None


# ----------------------------------------------------------------------------------------------
# Grading a class
# ----------------------------------------------------------------------------------------------

@dataclass
class ClassContext:
    """What grading one member needs (cli.run fills it)."""

    packages: list
    assignments: list
    reference: object  # a CachedExecutor, or None (--public-only)
    reference_dir: Optional[Path]
    options: object  # RunOptions
    quiet: bool
    grade_member: Callable  # cli._grade_member(target, name, packages, assignments, reference, options, args, folder, steps)
    error_row: Callable     # cli-side: (name, target, message, options, grader_fault) -> Report
    jobs: int = 1
    progress: Callable = print
    stats: dict = field(default_factory=dict)


def member_options(options, member: Member):
    return dataclasses.replace(options, submitted_at=member.submitted_at,
                               submitted_at_source=member.time_source if member.submitted_at else None)


def _progress_line(k: int, total: int, m: Member) -> str:
    r = m.report
    if r is None:
        return f"[{k}/{total}] {rep.clean(m.name, 80, single_line=True)}"
    if r.error:
        tail = f"not graded: {rep.clean(r.error, 120, single_line=True)}"
    else:
        tail = f"{r.score:g}/{r.max_score:g}"
        if rep.grader_faults(r):
            tail += f" ({len(rep.grader_faults(r))} grader fault(s))"
    extra = " (cached)" if m.cached else (f" {m.seconds:.1f}s" if m.seconds else "")
    return f"[{k}/{total}] {rep.clean(m.name, 80, single_line=True)} {tail}{extra}"


def grade_class(members: list[Member], ctx: ClassContext, cache: Optional[ResultCache], force: bool) -> None:
    """Fill every member's report: from the cache, or graded (serially or by ``ctx.jobs`` jobs)."""
    total = len(members)
    done = [0]

    def finished(m: Member) -> None:
        done[0] += 1
        if cache is not None and not m.cached:
            cache.put(m.key, m.report)
        if not ctx.quiet:
            ctx.progress(_progress_line(done[0], total, m))

    todo = []
    for m in members:
        if cache is not None:
            m.content = content_hash(m.target) if m.target.exists() else ""
            m.key = cache.key(m)
            cached = None if force else cache.get(m.key)
            if cached is not None:
                m.report, m.cached = cached, True
                finished(m)
                continue
        todo.append(m)
    ctx.stats.update(cached=total - len(todo), graded=len(todo))
    if not todo:
        return
    if ctx.jobs <= 1 or len(todo) == 1:
        for m in todo:
            t0 = time.perf_counter()
            m.report = ctx.grade_member(m.target, m.name, ctx.packages, ctx.assignments, ctx.reference,
                                        member_options(ctx.options, m), argparse.Namespace(quiet=ctx.quiet, verbose=False),
                                        m.folder, None)
            m.seconds = time.perf_counter() - t0
            finished(m)
        return
    _grade_parallel(todo, ctx, finished)


# -- parallel jobs -----------------------------------------------------------------------------

def warm_reference(ctx: ClassContext) -> float:
    """Compute the reference's outcome of every probe the run needs, once, in this process (the
    reference graded against itself, its attachments in a scratch folder). Returns the seconds."""
    import tempfile

    from . import api
    from .engine import grade

    if ctx.reference is None:
        return 0.0
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="grader-warm-") as scratch:
        api.set_report_dir(scratch)
        try:
            for a in ctx.assignments:
                grade(a, ctx.reference, ctx.reference, only=ctx.options.only, public_only=ctx.options.public_only)
        finally:
            api.set_report_dir(None)
    return time.perf_counter() - t0


def _job_setup(ctx: ClassContext) -> bytes:
    import torch

    from .engine import run_secrets

    buf = io.BytesIO()
    torch.save(dict(ctx.reference.cache) if ctx.reference is not None else {}, buf)
    options = dataclasses.replace(ctx.options, report_dir=None)
    return pickle.dumps({"secrets": run_secrets(), "reference_cache": buf.getvalue(),
                         "reference_dir": str(ctx.reference_dir) if ctx.reference_dir else None,
                         "has_reference": ctx.reference is not None,
                         "assignments": [str(a.directory) for a in ctx.assignments], "packages": ctx.packages,
                         "options": options})


def _job_main(conn) -> None:  # pragma: no cover - runs in a job process
    """A grading job: imports the grader (while the parent computes the reference), receives its
    setup, then grades the members the parent sends, one at a time, until told to stop."""
    import resource
    import signal

    import torch

    from .. import commands as cli
    from . import engine
    from .runner import reference_executor

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops the jobs on Ctrl-C
    sys.stdout = open(os.devnull, "w")  # the parent prints the progress
    try:
        setup = conn.recv()
    except EOFError:
        return
    cfg = pickle.loads(setup)
    engine._RUN_SECRETS[0] = cfg["secrets"]
    assignments = cli._load_assignments(cfg["assignments"])
    reference = None
    if cfg["has_reference"]:
        reference = reference_executor(Path(cfg["reference_dir"]) if cfg["reference_dir"] else None)
        reference.cache.update(torch.load(io.BytesIO(cfg["reference_cache"]), weights_only=False))
    loaded = len(reference.cache) if reference is not None else 0
    base = cfg["options"]
    quiet = argparse.Namespace(quiet=True, verbose=False)
    while True:
        try:
            task = conn.recv()
        except EOFError:
            return
        if task is None:
            return
        index, target, name, folder, submitted_at, source = task
        options = dataclasses.replace(base, submitted_at=submitted_at,
                                      submitted_at_source=source if submitted_at else None)
        t0 = time.perf_counter()
        report = cli._grade_member(Path(target), name, cfg["packages"], assignments, reference, options, quiet,
                                   Path(folder), None)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
        computed = len(reference.cache) - loaded if reference is not None else 0  # reference probes run here
        conn.send((index, report_state(report), time.perf_counter() - t0, peak, computed))


class _Job:
    def __init__(self, mp, setup: Optional[bytes] = None):
        self.conn, child = mp.Pipe()
        self.proc = mp.Process(target=_job_main, args=(child,), daemon=True)
        self.proc.start()
        child.close()
        self.member: Optional[Member] = None
        self.started = 0.0
        self.computed = 0  # reference probes this job ran itself (its cache missed)
        if setup is not None:
            self.setup(setup)

    def setup(self, setup: bytes) -> None:
        self.conn.send(setup)

    def send(self, m: Member) -> None:
        self.member, self.started = m, time.perf_counter()
        self.conn.send((m.index, str(m.target), m.name, str(m.folder), m.submitted_at, m.time_source))

    def stop(self) -> None:
        try:
            self.conn.send(None)
        except (OSError, ValueError):
            pass

    def kill(self) -> None:
        if self.proc.is_alive():
            self.proc.kill()
        self.proc.join(5)


def _grade_parallel(todo: list[Member], ctx: ClassContext, finished: Callable) -> None:
    import multiprocessing
    from multiprocessing.connection import wait

    mp = multiprocessing.get_context("spawn")
    jobs = [_Job(mp) for _ in range(min(ctx.jobs, len(todo)))]  # their start-up overlaps the reference
    ctx.stats["reference_seconds"] = round(warm_reference(ctx), 3)
    setup = _job_setup(ctx)
    for job in jobs:
        job.setup(setup)
    queue = deque(todo)
    peaks: list[float] = []
    extra_reference_runs = 0
    try:
        for job in jobs:
            if queue:
                job.send(queue.popleft())
        while any(j.member is not None for j in jobs):
            busy = [j for j in jobs if j.member is not None]
            wait([j.conn for j in busy] + [j.proc.sentinel for j in busy])
            for i, job in enumerate(jobs):
                m = job.member
                if m is None:
                    continue
                result = None
                if job.conn.poll():
                    try:
                        result = job.conn.recv()
                    except (EOFError, OSError):
                        result = None
                elif job.proc.is_alive():
                    continue
                if result is not None:
                    _, state, seconds, peak, computed = result
                    m.report, m.seconds, m.job_peak_rss_mb = report_from_state(state), seconds, peak
                    peaks.append(peak)
                    extra_reference_runs += computed - job.computed
                    job.computed = computed
                    job.member = None
                else:  # the job died with this member: its error row; a fresh job for the rest
                    job.kill()
                    code = job.proc.exitcode
                    in_process = bool(getattr(ctx.options, "in_process", False))
                    message = (f"grading stopped: the grading process exited ({code}) while grading this submission"
                               + (" (its code runs in that process with --in-process)" if in_process else ""))
                    m.report = ctx.error_row(m.name, m.target, message, ctx.options, not in_process)
                    m.seconds = time.perf_counter() - job.started
                    job = jobs[i] = _Job(mp, setup)
                finished(m)
                if queue:
                    job.send(queue.popleft())
    finally:
        for job in jobs:
            job.stop()
        for job in jobs:
            job.proc.join(10)
            job.kill()
    ctx.stats.update(job_peak_rss_mb=round(max(peaks), 1) if peaks else None,
                     reference_runs_in_jobs=extra_reference_runs)


# ----------------------------------------------------------------------------------------------
# Results files (a shard's, or a whole class's) and merging them
# ----------------------------------------------------------------------------------------------

def results_document(members: list[Member], class_size: int, shard: Optional[tuple[int, int]],
                     fingerprint: str) -> dict:
    return {"format": RESULTS_FORMAT, "version": RESULTS_VERSION, "grader_version": grader.__version__,
            "fingerprint": fingerprint, "class_size": class_size,
            "shard": {"index": shard[0], "count": shard[1]} if shard else None,
            "members": [{"index": m.index, "name": m.name, "folder": m.folder.name, "cached": m.cached,
                         "seconds": round(m.seconds, 3), "report": report_state(m.report)} for m in members]}


def read_results(path: Path) -> dict:
    where = str(path)
    try:
        d = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ClassRunError(f"{where}: no such file") from None
    except (OSError, ValueError) as exc:
        raise ClassRunError(f"{where}: not a readable results file ({exc})") from None
    if not isinstance(d, dict) or d.get("format") != RESULTS_FORMAT:
        raise ClassRunError(f"{where}: not a class results file (written by `grader run --class` as {RESULTS_FILE})")
    if d.get("version") != RESULTS_VERSION:
        raise ClassRunError(f"{where}: results format version {d.get('version')}, this grader reads {RESULTS_VERSION}")
    return d


def merge_results(paths: list[Path]) -> tuple[list[tuple[int, rep.Report, str]], dict]:
    """Join results files: ``[(index, report, folder)]`` in class order, and the merged document's
    header. Every member of the class exactly once, all graded by the same grader."""
    docs = [(p, read_results(p)) for p in paths]
    sizes = {d["class_size"] for _, d in docs}
    prints = {d["fingerprint"] for _, d in docs}
    if len(sizes) != 1:
        raise ClassRunError(f"the results are of classes of different sizes ({', '.join(map(str, sorted(sizes)))})")
    if len(prints) != 1:
        raise ClassRunError("the results were graded by different graders, assignments, references or options "
                            "(fingerprints differ); grade every shard with the same setup")
    size = sizes.pop()
    counts = {(d["shard"] or {"count": 1})["count"] for _, d in docs}
    seen: dict[int, tuple[Path, dict]] = {}
    for p, d in docs:
        for m in d["members"]:
            i = m["index"]
            if i in seen:
                raise ClassRunError(f"member {i} ({m['name']}) is in both {seen[i][0]} and {p}")
            seen[i] = (p, m)
    missing = [i for i in range(size) if i not in seen]
    if missing:
        shards = sorted({i % c for i in missing for c in counts}) if len(counts) == 1 else []
        hint = f" (shard {', '.join(f'{s}/{next(iter(counts))}' for s in shards)})" if shards else ""
        raise ClassRunError(f"{len(missing)} of {size} members have no result{hint}: "
                            f"missing results file(s)?")
    out = []
    for i in range(size):
        _, m = seen[i]
        try:
            out.append((i, report_from_state(m["report"]), m["folder"]))
        except ClassRunError as exc:
            raise ClassRunError(f"{seen[i][0]}: member {i}: {exc}") from None
    header = {"format": RESULTS_FORMAT, "version": RESULTS_VERSION, "grader_version": grader.__version__,
              "fingerprint": prints.pop(), "class_size": size, "shard": None,
              "members": [{"index": i, "name": seen[i][1]["name"], "folder": seen[i][1]["folder"],
                           "cached": seen[i][1].get("cached", False), "seconds": seen[i][1].get("seconds", 0.0),
                           "report": seen[i][1]["report"]} for i in range(size)]}
    return out, header
