"""A class run's parallel jobs (``grader run --class DIR --jobs N``, docs/CLASS_RUNS.md): the
reference's outcomes computed once, here, then N grading processes, each with its own isolated
worker, fed one member at a time; a job that dies takes only its current member with it.
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import os
import pickle
import sys
import time
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Optional

from .classresults import report_from_state, report_state

if TYPE_CHECKING:
    from .classrun import ClassContext, Member


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
                         "options": options,
                         # a module-level function of the command layer: pickled by name, so the
                         # job grades exactly as the parent would (this module does not import it)
                         "grade_member": ctx.grade_member})


def _job_main(conn) -> None:  # pragma: no cover - runs in a job process
    """A grading job: imports the grader (while the parent computes the reference), receives its
    setup, then grades the members the parent sends, one at a time, until told to stop."""
    import resource
    import signal

    import torch

    from . import assignment as assignment_mod
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
    assignments = [assignment_mod.load(directory) for directory in cfg["assignments"]]
    grade_member = cfg["grade_member"]
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
        report = grade_member(Path(target), name, cfg["packages"], assignments, reference, options, quiet,
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

