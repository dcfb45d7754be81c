"""The results of a class run as data (docs/CLASS_RUNS.md): reports as state, at full precision,
and the results files (``class-results.json``, a shard's or a whole class's) that ``grader merge``
joins.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import grader

from . import report as rep
from .engine import CheckResult, ComponentResult

if TYPE_CHECKING:
    from .classrun import Member

RESULTS_FILE = "class-results.json"
RESULTS_FORMAT = "grader-class-results"
RESULTS_VERSION = 1


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
# Results files (a shard's, or a whole class's) and merging them
# ----------------------------------------------------------------------------------------------

def results_document(members: list[Member], class_size: int, shard: Optional[tuple[int, int]],
                     fingerprint: str) -> dict:
    return {"format": RESULTS_FORMAT, "version": RESULTS_VERSION, "grader_version": grader.__version__,
            "fingerprint": fingerprint, "class_size": class_size,
            "shard": {"index": shard[0], "count": shard[1]} if shard else None,
            "members": [{"index": m.index, "name": m.name, "folder": m.folder.name, "cached": m.cached,
                         "seconds": round(m.seconds, 3), "report": report_state(m.graded())} for m in members]}


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
