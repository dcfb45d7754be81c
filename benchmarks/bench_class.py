"""Benchmark of class runs (a script, not a test): ``--jobs 2`` against ``--jobs 1``.

    python benchmarks/bench_class.py [--copies N] [--only COMPONENTS] [--assignment NAME]

Builds a class of N submissions in a temporary folder, cycling through three kinds: copies of the
reference, copies of the untouched stubs, and wrong variants (the reference with the stub's
``centernet/network.py``: the network-level components fail). Grades it with the isolated worker
(``grader run --class ... --force``, a fresh cache each time), as separate processes, and prints
in one run:

- wall time of ``--jobs 1`` and ``--jobs 2`` and their ratio (target: at most 0.6 on 2 cores);
- peak resident memory per grading job (the job processes of ``--jobs 2``) and per worker;
- per submission: the mean grading time of each kind against the reference's own time (the
  reference graded in this process's child, in-process, on the same checks);
- the extrapolation to a class of 200 on this machine with ``--jobs 2``.

Run it when the machine is quiet (timings follow the load) and state the load with the numbers
(the script prints ``os.getloadavg()`` before and after).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
KINDS = ("reference", "stubs", "wrong")


def build_class(folder: Path, copies: int) -> dict:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    kinds = {}
    for i in range(copies):
        kind = KINDS[i % len(KINDS)]
        dst = folder / f"s{i:03d}_{kind}"
        shutil.copytree(ROOT / ("reference" if kind != "stubs" else "student"), dst, ignore=ignore)
        if kind == "wrong":
            shutil.copy(ROOT / "student" / "centernet" / "network.py", dst / "centernet" / "network.py")
        kinds[dst.name] = kind
    return kinds


def grade(class_dir: Path, report_dir: Path, jobs: int, base: list[str]) -> tuple[float, str]:
    cmd = [sys.executable, "-m", "grader", "run", *base, "--class", str(class_dir), "--jobs", str(jobs),
           "--force", "--report-dir", str(report_dir)]
    t0 = time.perf_counter()
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if out.returncode not in (0, 1):
        sys.exit(f"grading failed ({out.returncode}): {out.stderr[-2000:]}")
    return wall, out.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=6)
    parser.add_argument("--assignment", default="centernet")
    parser.add_argument("--only", default="ObjectsToPoints,PointsNonMaxSuppression")
    args = parser.parse_args()
    os.environ.setdefault("DETECTION_TEST_SEED", "5150811")
    base = ["--assignment", args.assignment] + (["--only", args.only] if args.only else [])
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; cpus: {os.cpu_count()}")
    with tempfile.TemporaryDirectory(prefix="bench-class-") as tmp:
        tmp = Path(tmp)
        kinds = build_class(tmp / "class", args.copies)
        t0 = time.perf_counter()
        ref = subprocess.run([sys.executable, "-m", "grader", "run", *base, "--reference", "--in-process", "-q",
                              "--json", str(tmp / "ref.json"), "--report-dir", str(tmp / "ref")],
                             cwd=ROOT, capture_output=True, text=True)
        ref_wall = time.perf_counter() - t0
        ref_seconds = json.loads((tmp / "ref.json").read_text())["timings"]["total_seconds"] if ref.returncode == 0 \
            else float("nan")
        results = {}
        for jobs in (1, 2):
            wall, out = grade(tmp / "class", tmp / f"r{jobs}", jobs, base)
            doc = json.loads((tmp / f"r{jobs}" / "class-results.json").read_text())
            per_kind: dict = {}
            workers = []
            for m in doc["members"]:
                per_kind.setdefault(kinds[m["name"]], []).append(m["seconds"])
                peak = (m["report"].get("isolation") or {}).get("worker_peak_rss_mb")
                if peak:
                    workers.append(peak)
            job_peak = re.search(r"peak grading process (\d+) MB", out)
            results[jobs] = wall
            print(f"--jobs {jobs}: {wall:7.1f} s wall for {args.copies} submissions "
                  f"({wall / args.copies:.1f} s each)")
            for kind in KINDS:
                times = per_kind.get(kind, [])
                if times:
                    mean = sum(times) / len(times)
                    print(f"    {kind:<9} {mean:6.1f} s per submission = {mean / ref_seconds:5.1f} x the "
                          f"reference's own time")
            if workers:
                print(f"    worker peak RSS: max {max(workers):.0f} MB")
            if job_peak:
                print(f"    grading job peak RSS: {job_peak.group(1)} MB")
        print(f"reference graded in-process: {ref_seconds:.1f} s of checks ({ref_wall:.1f} s wall with start-up)")
        ratio = results[2] / results[1]
        print(f"ratio --jobs 2 / --jobs 1: {ratio:.2f}  (target <= 0.6 on 2 free cores)")
        print(f"extrapolated class of 200 with --jobs 2: {results[2] / args.copies * 200 / 60:.0f} min "
              f"(these checks only: --only {args.only or '(all)'})")
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
