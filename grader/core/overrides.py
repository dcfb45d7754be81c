"""Review overrides and remarks: a TOML file, validated at load (docs/DESIGN.md principle 4).

Format (schema 1)::

    schema = 1
    reviewer = "A. Reviewer"              # default reviewer of the entries below (optional)

    [[override]]
    assignment = "centernet"
    component = "CenterNetHead"
    score = 2                             # optional: replaces the component's score (0..points)
    remark = "right in meaning; fails the shape test only because of a transposed view"
    reviewer = "B. Reviewer"              # optional, overrides the default
    submission = "alice"                  # optional: only for this submission (class grading);
                                          # without it the entry applies to every submission
    verdict = "accepted"                  # optional: the reviewer's verdict on a reviewed-by-hand
                                          # component (e.g. one written answer): accepted,
                                          # partly accepted, rejected

An entry needs a ``score``, a ``remark``, a ``verdict`` or several. A remark alone costs nothing and changes no
score; it is shown in every report. Manual components stay ``pending_review`` until an entry
gives them a score.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Optional

from .engine import ComponentResult
from .names import valid_names
from .rubric import Rubric, RubricError


class OverridesError(RubricError):
    """A malformed overrides file; the message is one line."""


@dataclass(frozen=True)
class Override:
    assignment: str
    component: str
    score: Optional[float] = None
    remark: str = ""
    reviewer: str = ""
    submission: Optional[str] = None
    verdict: str = ""

    def as_dict(self) -> dict:
        d: dict = {}
        if self.score is not None:
            d["score"] = self.score
        if self.remark:
            d["remark"] = self.remark
        if self.reviewer:
            d["reviewer"] = self.reviewer
        if self.verdict:
            d["verdict"] = self.verdict
        return d


TOP_KEYS = ("schema", "reviewer", "override")
ENTRY_KEYS = {"assignment", "component", "score", "remark", "reviewer", "submission", "verdict"}
VERDICTS = ("accepted", "partly accepted", "rejected")


def load_overrides(path: Path, rubrics: Iterable[Rubric]) -> list[Override]:
    """Read and validate an overrides file against the rubrics being graded."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise OverridesError(f"{path}: overrides file not found") from None
    except OSError as exc:
        raise OverridesError(f"{path}: cannot read the overrides file: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise OverridesError(f"{path}: not valid TOML: {exc}") from None
    return parse_overrides(data, {r.assignment: r for r in rubrics}, str(path))


def _string(entry: dict, key: str, where: str, default=None):
    value = entry.get(key, default)
    if value is not None and not isinstance(value, str):
        raise OverridesError(f"{where}: '{key}' must be a string")
    return value


def parse_overrides(data: dict, rubrics: dict[str, Rubric], where: str = "<overrides>") -> list[Override]:
    """Validate a parsed overrides document."""
    extra = sorted(set(data) - set(TOP_KEYS))
    if extra:
        raise OverridesError(f"{where}: unknown key '{extra[0]}' ({valid_names(extra[0], TOP_KEYS)})")
    if data.get("schema", 1) != 1:
        raise OverridesError(f"{where}: schema {data.get('schema')!r} is not supported (this grader reads schema 1)")
    default_reviewer = _string(data, "reviewer", where, "")
    entries = data.get("override", [])
    if not isinstance(entries, list):
        raise OverridesError(f"{where}: 'override' must be an array of tables ([[override]])")
    out: list[Override] = []
    seen: set[tuple] = set()
    for i, entry in enumerate(entries):
        ew = f"{where}: override[{i}]"
        if not isinstance(entry, dict):
            raise OverridesError(f"{ew}: must be a table")
        unknown = sorted(set(entry) - ENTRY_KEYS)
        if unknown:
            raise OverridesError(f"{ew}: unknown key '{unknown[0]}' ({valid_names(unknown[0], sorted(ENTRY_KEYS))})")
        assignment = _string(entry, "assignment", ew)
        component = _string(entry, "component", ew)
        if not assignment or not component:
            raise OverridesError(f"{ew}: needs 'assignment' and 'component'")
        rubric = rubrics.get(assignment)
        if rubric is None:
            raise OverridesError(f"{ew}: unknown assignment '{assignment}' (graded in this run; "
                                 f"{valid_names(assignment, sorted(rubrics))})")
        comp = next((c for c in rubric.components if c.name == component), None)
        if comp is None:
            raise OverridesError(f"{ew}: assignment '{assignment}' has no component '{component}' "
                                 f"({valid_names(component, [c.name for c in rubric.components])})")
        score = entry.get("score")
        if score is not None:
            if isinstance(score, bool) or not isinstance(score, (int, float)):
                raise OverridesError(f"{ew}: 'score' must be a number")
            if not 0 <= score <= comp.points:
                raise OverridesError(f"{ew}: score {score:g} is outside 0..{comp.points:g} for '{component}'")
        remark = _string(entry, "remark", ew, "")
        verdict = _string(entry, "verdict", ew, "")
        if verdict and verdict not in VERDICTS:
            raise OverridesError(f"{ew}: verdict {verdict!r} is not one of {', '.join(VERDICTS)}")
        if score is None and not remark and not verdict:
            raise OverridesError(f"{ew}: needs a 'score', a 'remark' or a 'verdict'")
        submission = _string(entry, "submission", ew)
        key = (submission, assignment, component)
        if key in seen:
            raise OverridesError(f"{ew}: a second entry for {assignment} / {component}"
                                 + (f" of {submission}" if submission else ""))
        seen.add(key)
        out.append(Override(assignment, component, None if score is None else float(score), remark,
                            _string(entry, "reviewer", ew, "") or default_reviewer, submission, verdict))
    return out


def apply_overrides(components: list[ComponentResult], overrides: Iterable[Override], submission: str) -> None:
    """Attach the entries that concern ``submission`` to its component results. An entry for this
    submission by name wins over a general one for the same component."""
    chosen: dict[tuple, Override] = {}
    for o in overrides:
        if o.submission not in (None, submission):
            continue
        key = (o.assignment, o.component)
        if key not in chosen or o.submission is not None:
            chosen[key] = o
    for cr in components:
        picked = chosen.get((cr.assignment, cr.name))
        if picked is not None:
            cr.override = picked.as_dict()
