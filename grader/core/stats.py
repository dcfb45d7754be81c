"""Class statistics after a class run (or ``grader merge``): which checks to look at.

Written into the report folder: ``stats.md`` (Markdown tables), ``stats.csv`` (one row per check
and per component), ``histogram.png`` (the distribution of total scores, matplotlib's Agg
backend). Rates count the graded submissions only: a submission that could not be graded at all
(its error row) is counted apart, and a check the grader could not grade (``grader_error``) is
neither passed nor failed by that student. A check that most students fail is flagged: it is
either hard, taught too little, or broken (look at its messages in a few reports).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from . import report as rep

MOSTLY_FAILED = 0.5   # a check passed by fewer than this share of the graded students is flagged
HISTOGRAM_BINS = 10   # of the total score, as a percentage of the maximum
STUDENT_FAILURES = ("failed", "error", "timeout", "resource_limit", "not_attempted")


@dataclass
class Rate:
    assignment: str
    component: str
    check: str  # "" for a component row
    graded: int = 0
    passed: int = 0
    points: float = 0.0
    max_points: float = 0.0
    statuses: dict = field(default_factory=dict)

    @property
    def pass_rate(self) -> Optional[float]:
        return self.passed / self.graded if self.graded else None

    @property
    def mean_fraction(self) -> Optional[float]:
        return self.points / self.max_points if self.max_points else None


@dataclass
class ClassStats:
    submissions: int
    graded: int
    not_graded: int
    checks: list[Rate]
    components: list[Rate]
    histogram: list[tuple[float, float, int]]  # (low %, high %, count)
    scores: list[float]  # percentages of the graded submissions
    max_score: float

    @property
    def mostly_failed(self) -> list[Rate]:
        rows = [r for r in self.checks if r.pass_rate is not None and r.pass_rate < MOSTLY_FAILED]
        return sorted(rows, key=lambda r: (r.pass_rate, r.assignment, r.component, r.check))


def compute(reports: list[rep.Report]) -> ClassStats:
    graded = [r for r in reports if not r.error]
    checks: dict[tuple, Rate] = {}
    components: dict[tuple, Rate] = {}
    for r in graded:
        for comp in r.components:
            ck = (comp.assignment, comp.name)
            crow = components.setdefault(ck, Rate(comp.assignment, comp.name, ""))
            status = rep.component_status(comp)
            crow.statuses[status] = crow.statuses.get(status, 0) + 1
            if status not in (rep.GRADER_FAULT, "pending_review"):
                crow.graded += 1
                crow.passed += status == "passed"
                crow.points += comp.score
                crow.max_points += comp.max_score
            for chk in comp.checks:
                row = checks.setdefault((comp.assignment, comp.name, chk.id), Rate(comp.assignment, comp.name, chk.id))
                row.statuses[chk.status] = row.statuses.get(chk.status, 0) + 1
                if rep.is_grader_fault(chk):
                    continue
                row.graded += 1
                row.passed += chk.status == "passed"
                row.points += chk.score
                row.max_points += chk.max_score
    max_score = max((r.max_score for r in graded), default=0.0)
    scores = [100.0 * r.score / r.max_score if r.max_score else 0.0 for r in graded]
    width = 100.0 / HISTOGRAM_BINS
    counts = [0] * HISTOGRAM_BINS
    for s in scores:
        counts[min(HISTOGRAM_BINS - 1, max(0, int(s // width)))] += 1
    histogram = [(i * width, (i + 1) * width, counts[i]) for i in range(HISTOGRAM_BINS)]
    return ClassStats(len(reports), len(graded), len(reports) - len(graded), list(checks.values()),
                      list(components.values()), histogram, scores, max_score)


def _pct(x: Optional[float]) -> str:
    return "" if x is None else f"{100.0 * x:.0f}%"


def _others(row: Rate) -> str:
    return ", ".join(f"{s} {n}" for s, n in sorted(row.statuses.items()) if s != "passed")


def to_markdown(stats: ClassStats, histogram_png: Optional[str] = None) -> str:
    md = rep.md_escape
    lines = ["## Class statistics", "",
             f"{stats.submissions} submissions: {stats.graded} graded, {stats.not_graded} not graded "
             "(their error rows are not counted below).", ""]
    flagged = stats.mostly_failed
    lines += [f"### Checks most students fail (pass rate below {MOSTLY_FAILED:.0%})", ""]
    if flagged:
        lines += ["| Check | Pass rate | Passed / graded | Other outcomes |", "|---|---:|---:|---|"]
        lines += [f"| {md(r.assignment)} / {md(r.component)} / `{md(r.check)}` | {_pct(r.pass_rate)} "
                  f"| {r.passed} / {r.graded} | {md(_others(r))} |" for r in flagged]
    else:
        lines.append("None.")
    lines += ["", "### Components", "", "| Component | Pass rate | Passed / graded | Mean score | Other outcomes |",
              "|---|---:|---:|---:|---|"]
    lines += [f"| {md(r.assignment)} / {md(r.component)} | {_pct(r.pass_rate)} | {r.passed} / {r.graded} "
              f"| {_pct(r.mean_fraction)} | {md(_others(r))} |" for r in stats.components]
    lines += ["", "### Checks", "", "| Check | Pass rate | Passed / graded | Mean score | Other outcomes |",
              "|---|---:|---:|---:|---|"]
    lines += [f"| {md(r.assignment)} / {md(r.component)} / `{md(r.check)}` | {_pct(r.pass_rate)} "
              f"| {r.passed} / {r.graded} | {_pct(r.mean_fraction)} | {md(_others(r))} |" for r in stats.checks]
    lines += ["", "### Total scores", "", "| Score (% of the maximum) | Submissions |", "|---|---:|"]
    for lo, hi, n in stats.histogram:
        closing = "]" if hi >= 100.0 else ")"
        lines.append(f"| [{lo:.0f}, {hi:.0f}{closing} | {n} {'█' * n} |")
    if histogram_png:
        lines += ["", f"![Histogram of the total scores]({histogram_png})"]
    return "\n".join(lines) + "\n"


CSV_HEADER = ["level", "assignment", "component", "check", "graded", "passed", "pass_rate", "mean_score",
              "failed", "error", "timeout", "resource_limit", "not_attempted", "grader_error", "pending_review",
              "mostly_failed"]


def to_csv(stats: ClassStats) -> str:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(CSV_HEADER)
    flagged = {id(r) for r in stats.mostly_failed}
    for level, rows in (("component", stats.components), ("check", stats.checks)):
        for r in rows:
            w.writerow([level, rep.csv_cell(r.assignment), rep.csv_cell(r.component), rep.csv_cell(r.check),
                        r.graded, r.passed, "" if r.pass_rate is None else f"{r.pass_rate:.4f}",
                        "" if r.mean_fraction is None else f"{r.mean_fraction:.4f}"]
                       + [r.statuses.get(s, 0) for s in ("failed", "error", "timeout", "resource_limit",
                                                         "not_attempted", "grader_error", "pending_review")]
                       + [int(id(r) in flagged)])
    return out.getvalue()


def write_histogram(stats: ClassStats, path: Path) -> None:
    """The histogram of total scores as a PNG (matplotlib, Agg backend: no display needed)."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 3.6), dpi=100)
    ax = fig.add_subplot()
    lows = [lo for lo, _, _ in stats.histogram]
    counts = [n for _, _, n in stats.histogram]
    width = 100.0 / HISTOGRAM_BINS
    ax.bar(lows, counts, width=width * 0.95, align="edge", color="#4c72b0")
    ax.set_xlim(0, 100)
    ax.set_xlabel("total score (% of the maximum)")
    ax.set_ylabel("submissions")
    ax.set_title(f"Total scores of {stats.graded} graded submission(s)")
    # the default locator is a MaxNLocator, which takes integer= (matplotlib types it as a Locator)
    ax.yaxis.get_major_locator().set_params(integer=True)  # type: ignore[call-arg]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    fig.savefig(tmp, format="png")
    tmp.replace(path)


def write_all(reports: list[rep.Report], report_dir: Path, steps) -> ClassStats:
    """stats.md, stats.csv and histogram.png in ``report_dir``, each its own report step."""
    stats = compute(reports)
    report_dir = Path(report_dir)
    png = report_dir / "histogram.png"
    has_png = steps(f"{png}", lambda: write_histogram(stats, png))
    steps(f"{report_dir / 'stats.md'}",
          lambda: rep.write_text(report_dir / "stats.md", to_markdown(stats, "histogram.png" if has_png else None)))
    steps(f"{report_dir / 'stats.csv'}", lambda: rep.write_text(report_dir / "stats.csv", to_csv(stats)))
    return stats
