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

The parallel jobs are in ``grader.core.classjobs``; reports as state and the results files in
``grader.core.classresults``; their names are here too.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as _dt
import hashlib
import json
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Optional

import grader

from . import report as rep
from . import subtime
from .classjobs import _grade_parallel, warm_reference
from .classresults import (RESULTS_FILE, RESULTS_FORMAT, RESULTS_VERSION, ClassRunError, merge_results, read_results,
                           report_from_state, report_state, results_document)
from .submission import IGNORED_NAMES, is_archive, submission_name

if TYPE_CHECKING:
    from .executors import CachedExecutor
    from .runner import RunOptions

__all__ = ["CACHE_DIR", "CACHE_VERSION", "RESULTS_FILE", "RESULTS_FORMAT", "RESULTS_VERSION", "ClassRunError",
           "report_state", "report_from_state", "parse_shard", "in_shard", "content_hash", "grader_fingerprint",
           "cacheable", "ResultCache", "Member", "plan_members", "times_coverage_warning", "ClassContext",
           "member_options", "grade_class", "warm_reference", "results_document", "read_results", "merge_results"]

CACHE_DIR = "cache"
CACHE_VERSION = 1


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

    def graded(self) -> rep.Report:
        """The report, which ``grade_class`` fills for every member it grades."""
        if self.report is None:
            raise RuntimeError(f"{self.name}: no report after grading")
        return self.report


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
        when = fallback if fallback != subtime.NONE else "none (no cap)"
        parts.append(f"{len(missing)} submission(s) have no row ({', '.join(missing[:5])}"
                     f"{', ...' if len(missing) > 5 else ''}): their time is {when}")
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
    reference: Optional[CachedExecutor]  # None with --public-only
    reference_dir: Optional[Path]
    options: RunOptions
    quiet: bool
    # cli._grade_member(target, name, packages, assignments, reference, options, args, folder, steps)
    grade_member: Callable
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
            cache.put(m.key, m.graded())
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
                                        member_options(ctx.options, m),
                                        argparse.Namespace(quiet=ctx.quiet, verbose=False), m.folder, None)
            m.seconds = time.perf_counter() - t0
            finished(m)
        return
    _grade_parallel(todo, ctx, finished)


