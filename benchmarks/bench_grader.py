"""Benchmark of the grader (a script, not a test): speed and memory of isolated grading.

    python benchmarks/bench_grader.py [--assignment NAME ...] [--repeat N]

Prints, in one run:
- wall time of grading the reference on every available assignment, isolated (the worker runs the
  reference as if it were a submission) and in-process (same checks), and their ratio;
- wall time of grading the untouched stubs (``student/``), isolated;
- peak resident memory of the grader process and of the worker (its whole process tree).

Targets (DESIGN.md, the grader issue): isolated within 1.3x of in-process, < 60 s, < 3 GB in all.
Each mode computes the reference's expected values afresh (a new cache), as a real run does.
On a shared machine, run it when the machine is quiet: timings follow the load.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from grader.core import assignment as assignment_mod  # noqa: E402
from grader.core.runner import RunOptions, grade_submission, reference_executor  # noqa: E402
from grader.core.sandbox import process_tree  # noqa: E402
from grader.core.submission import resolve  # noqa: E402


class MemorySampler:
    """Samples, every ``interval`` s, the resident (RSS) and proportional (PSS: shared pages split
    between the processes sharing them) memory of this process and all its descendants together;
    keeps the peaks. The sum of two separate peaks would overstate what is in use at once."""

    def __init__(self, interval: float = 0.25):
        self.interval, self.peak_rss, self.peak_pss = interval, 0.0, 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def _field(path: str, key: str) -> float:
        try:
            with open(path) as f:
                for line in f:
                    if line.startswith(key):
                        return int(line.split()[1]) / 1024
        except OSError:
            pass
        return 0.0

    def _run(self) -> None:
        while not self._stop.is_set():
            pids = process_tree(os.getpid())
            self.peak_rss = max(self.peak_rss, sum(self._field(f"/proc/{p}/status", "VmRSS:") for p in pids))
            self.peak_pss = max(self.peak_pss, sum(self._field(f"/proc/{p}/smaps_rollup", "Pss:") for p in pids))
            self._stop.wait(self.interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def grade_once(path: Path, assignments, *, in_process: bool, kind: str = "package", reference=None):
    """Grade ``path`` (with a fresh reference cache unless one is given); return (seconds, report)."""
    submission = resolve(path, [a.rubric.package for a in assignments])
    submission.kind = kind
    reference = reference or reference_executor()
    start = time.perf_counter()
    report = grade_submission(submission, assignments, reference, RunOptions(in_process=in_process))
    return time.perf_counter() - start, report


def slowest_checks(report, n: int = 5) -> str:
    checks = sorted(((chk.seconds, f"{comp.assignment}/{chk.id}") for comp, chk in report.checks()), reverse=True)
    return ", ".join(f"{name} {sec:.1f} s" for sec, name in checks[:n])


def rss_mb(usage) -> float:
    return usage.ru_maxrss / 1024  # kilobytes on Linux


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assignment", action="append", default=[], help="default: every available one")
    parser.add_argument("--repeat", type=int, default=1, help="measurements per mode (the fastest is kept)")
    args = parser.parse_args(argv)
    names = args.assignment or assignment_mod.available()
    assignments = [assignment_mod.load(n) for n in names]
    checks = sum(1 for a in assignments for _ in a.rubric.all_checks())
    print(f"assignments: {', '.join(names)} ({checks} checks)")

    # Warm-up (imports, torch's one-time initialisations) so that neither mode pays them alone.
    grade_once(ROOT / "reference", [assignments[0]], in_process=True)

    times = {"in-process": [], "isolated": []}
    worker_peak = 0.0
    score, report = None, None
    cpu0 = os.times()
    with MemorySampler() as memory:
        for _ in range(args.repeat):
            for mode in ("in-process", "isolated"):
                seconds, report = grade_once(ROOT / "reference", assignments, in_process=mode == "in-process",
                                             kind="reference")
                times[mode].append(seconds)
                score = (report.score, report.max_score)
                worker_peak = max(worker_peak, report.isolation.get("worker_peak_rss_mb", 0.0))
                print(f"  reference, {mode:<10}: {seconds:6.1f} s   score {report.score:g} / {report.max_score:g}")
        cpu1 = os.times()
        # The stubs as the second submission of a class run: the reference is already cached.
        cached = reference_executor()
        grade_once(ROOT / "reference", assignments, in_process=True, reference=cached)
        stub_seconds, stub_report = grade_once(ROOT / "student", assignments, in_process=False, kind="checkout",
                                               reference=cached)
    worker_peak = max(worker_peak, stub_report.isolation.get("worker_peak_rss_mb", 0.0))
    statuses = {c.status for _, c in stub_report.checks()}
    best = {mode: min(v) for mode, v in times.items()}
    ratio = best["isolated"] / best["in-process"]
    cpu = (cpu1.user + cpu1.system + cpu1.children_user + cpu1.children_system
           - cpu0.user - cpu0.system - cpu0.children_user - cpu0.children_system) / (2 * args.repeat)

    parent = rss_mb(resource.getrusage(resource.RUSAGE_SELF))
    print()
    print(f"grading the reference, isolated  : {best['isolated']:6.1f} s  (target < 60 s)   "
          f"score {score[0]:g} / {score[1]:g}")
    print(f"grading the reference, in-process: {best['in-process']:6.1f} s")
    print(f"isolated / in-process            : {ratio:6.2f} x   (target <= 1.3)")
    print(f"CPU time per grading (mean)      : {cpu:6.1f} s   (grader + worker; isolated grading overlaps the two)")
    print(f"grading the stubs, isolated      : {stub_seconds:6.1f} s   (reference cached, as in a class run) "
          f"statuses {sorted(statuses)}")
    print(f"slowest checks                   : {slowest_checks(report)}")
    print(f"peak RSS, grader process         : {parent:6.0f} MiB")
    print(f"peak RSS, worker (process tree)  : {worker_peak:6.0f} MiB")
    print(f"peak at once, grader + workers   : RSS {memory.peak_rss:6.0f} MiB, PSS {memory.peak_pss:6.0f} MiB "
          "(target < 3072 MiB; PSS counts shared library pages once)")
    print(f"load average during the run      : {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
