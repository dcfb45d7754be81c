"""Rubric files: points, visibility, partial credit, policy (docs/DESIGN.md principle 4).

A rubric is a TOML file, validated at load; every problem is reported as one clear line
(``RubricError``). Schema (version 1)::

    schema = 1
    assignment = "centernet"          # name, also the directory under grader/assignments
    title = "CenterNet: Objects as Points"
    package = "centernet"             # subpackage of the submission's `student` package
    max_score = 18                    # must equal the sum of non-bonus, non-manual... see below
    given = ["train.py", "data.py"]   # optional: files of the package the course gives (no
                                      # solution region); graded with the course's own copy

    [[components]]
    name = "UpscaleTwiceLayer"
    points = 2
    bonus = false                     # bonus points come on top of max_score
    manual = false                    # reviewed by hand: no checks, "pending_review" until overridden
    description = "..."

      [[components.checks]]
      id = "upscale.shapes"           # must exist in checks.py
      weight = 1                      # share of the component's points (default 1)
      visibility = "public"           # "public" (ships to students) or "hidden"
      partial = false                 # allow fractional credit from the verdict

    [policy]                          # optional
    deadline = "2026-12-01T23:59:00+00:00"         # informational
    bonus_deadline = "2027-01-31T23:59:00+00:00"   # bonus points are 0 after it
    [[policy.caps]]                   # after `after`, the (non-bonus) total is capped at `max`
    after = "2026-12-01T23:59:00+00:00"            # (keys after [[policy.caps]] belong to the cap)
    max = 10

``max_score`` equals the sum of the points of components with ``bonus = false`` (manual ones
included).
"""

from __future__ import annotations

import datetime as _dt
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 1
VISIBILITIES = ("public", "hidden")


class RubricError(ValueError):
    """A malformed rubric; the message is one line naming the file and the problem."""


@dataclass(frozen=True)
class RubricCheck:
    id: str
    weight: float = 1.0
    visibility: str = "hidden"
    partial: bool = False


@dataclass(frozen=True)
class Component:
    name: str
    points: float
    checks: tuple[RubricCheck, ...] = ()
    bonus: bool = False
    manual: bool = False
    description: str = ""

    @property
    def total_weight(self) -> float:
        return sum(c.weight for c in self.checks)


@dataclass(frozen=True)
class Cap:
    after: _dt.datetime
    max: float


@dataclass(frozen=True)
class Policy:
    caps: tuple[Cap, ...] = ()
    bonus_deadline: _dt.datetime | None = None
    deadline: _dt.datetime | None = None  # informational (shown in reports); caps do the capping

    def cap_at(self, submitted_at: _dt.datetime) -> Cap | None:
        """The cap in force for a submission made at ``submitted_at`` (the lowest passed one)."""
        passed = [c for c in self.caps if submitted_at > c.after]
        return min(passed, key=lambda c: c.max) if passed else None

    def bonus_forfeited(self, submitted_at: _dt.datetime) -> bool:
        """True when the bonus deadline has passed."""
        return self.bonus_deadline is not None and submitted_at > self.bonus_deadline


@dataclass(frozen=True)
class Rubric:
    assignment: str
    title: str
    package: str
    max_score: float
    components: tuple[Component, ...]
    policy: Policy = field(default_factory=Policy)
    path: str = ""
    given: tuple[str, ...] = ()  # package-relative paths of given files (the course's copy is graded)
    outputs: tuple[str, ...] = ()  # files a submission adds (trained weights, predictions): never stubs
    data_sets: tuple[tuple[str, str], ...] = ()  # (generator script in the course, data/generated/<folder>)

    def check_points(self, component: Component, check: RubricCheck) -> float:
        """Points one check is worth: its weight's share of the component's points."""
        return component.points * check.weight / component.total_weight if component.total_weight else 0.0

    def all_checks(self):
        for comp in self.components:
            for chk in comp.checks:
                yield comp, chk

    @property
    def bonus_points(self) -> float:
        return sum(c.points for c in self.components if c.bonus)


def _parse_time(value: Any, where: str) -> _dt.datetime:
    if isinstance(value, _dt.datetime):
        dt = value
    elif isinstance(value, str):
        try:
            dt = _dt.datetime.fromisoformat(value)
        except ValueError:
            raise RubricError(f"{where}: not an ISO date-time: {value!r}") from None
    else:
        raise RubricError(f"{where}: expected a date-time, got {type(value).__name__}")
    if dt.tzinfo is None:
        raise RubricError(f"{where}: date-time {value!s} needs a time zone (e.g. +00:00)")
    return dt


def _expect(table: dict, key: str, types, where: str, default: Any = ...) -> Any:
    if key not in table:
        if default is ...:
            raise RubricError(f"{where}: missing key '{key}'")
        return default
    value = table[key]
    if isinstance(value, bool) and bool not in (types if isinstance(types, tuple) else (types,)):
        raise RubricError(f"{where}: '{key}' must be {_type_names(types)}, got a boolean")
    if not isinstance(value, types):
        raise RubricError(f"{where}: '{key}' must be {_type_names(types)}, got {type(value).__name__}")
    return value


def _type_names(types) -> str:
    types = types if isinstance(types, tuple) else (types,)
    return " or ".join({int: "a number", float: "a number", str: "a string", bool: "true/false",
                        list: "a list", dict: "a table"}.get(t, t.__name__) for t in types)


def _unknown_keys(table: dict, allowed: set, where: str) -> None:
    extra = sorted(set(table) - allowed)
    if extra:
        raise RubricError(f"{where}: unknown key(s) {', '.join(extra)} (allowed: {', '.join(sorted(allowed))})")


CORE_KEYS = {"schema", "assignment", "title", "package", "max_score", "components", "policy", "released", "given",
             "outputs", "data_sets"}


def parse_rubric(data: dict, path: str = "<rubric>", known_checks: set[str] | None = None,
                 settings: frozenset[str] | set[str] = frozenset()) -> Rubric:
    """Validate a parsed TOML document; ``known_checks`` are the ids ``checks.py`` declares,
    ``settings`` the top-level tables it reads itself (its ``RUBRIC_SETTINGS``, e.g. ``training``):
    the core knows no assignment's settings, and any other unknown key is a typo, refused."""
    where = path
    _unknown_keys(data, CORE_KEYS | set(settings), where)
    for name in settings:
        if name in data and not isinstance(data[name], dict):
            raise RubricError(f"{where}: '{name}' must be a table ([{name}])")
    # A released rubric is the student bundle's public subset: a component may have lost all its
    # (hidden) checks there.
    released = _expect(data, "released", bool, where, default=False)
    schema = _expect(data, "schema", int, where)
    if schema != SCHEMA_VERSION:
        raise RubricError(f"{where}: schema {schema} is not supported (this grader reads schema {SCHEMA_VERSION})")
    assignment = _expect(data, "assignment", str, where)
    title = _expect(data, "title", str, where, default=assignment)
    package = _expect(data, "package", str, where, default=assignment)
    max_score = float(_expect(data, "max_score", (int, float), where))
    raw_components = _expect(data, "components", list, where)
    if not raw_components:
        raise RubricError(f"{where}: no components")
    components = []
    seen_names: set[str] = set()
    seen_ids: set[str] = set()
    for i, rc in enumerate(raw_components):
        cw = f"{where}: components[{i}]"
        if not isinstance(rc, dict):
            raise RubricError(f"{cw}: must be a table")
        _unknown_keys(rc, {"name", "points", "bonus", "manual", "description", "checks"}, cw)
        name = _expect(rc, "name", str, cw)
        cw = f"{where}: component '{name}'"
        if name in seen_names:
            raise RubricError(f"{cw}: duplicate component name")
        seen_names.add(name)
        points = float(_expect(rc, "points", (int, float), cw))
        if points < 0:
            raise RubricError(f"{cw}: points must be >= 0")
        bonus = _expect(rc, "bonus", bool, cw, default=False)
        manual = _expect(rc, "manual", bool, cw, default=False)
        description = _expect(rc, "description", str, cw, default="")
        raw_checks = _expect(rc, "checks", list, cw, default=[])
        if manual and raw_checks:
            raise RubricError(f"{cw}: a manual component has no automatic checks")
        if not manual and not raw_checks and not released:
            raise RubricError(f"{cw}: no checks (mark it manual = true if it is reviewed by hand)")
        checks = []
        for j, rk in enumerate(raw_checks):
            kw = f"{cw}: checks[{j}]"
            if not isinstance(rk, dict):
                raise RubricError(f"{kw}: must be a table")
            _unknown_keys(rk, {"id", "weight", "visibility", "partial"}, kw)
            cid = _expect(rk, "id", str, kw)
            kw = f"{cw}: check '{cid}'"
            if cid in seen_ids:
                raise RubricError(f"{kw}: duplicate check id")
            seen_ids.add(cid)
            if known_checks is not None and cid not in known_checks:
                raise RubricError(f"{kw}: no such check in checks.py")
            weight = float(_expect(rk, "weight", (int, float), kw, default=1))
            if weight <= 0:
                raise RubricError(f"{kw}: weight must be > 0")
            visibility = _expect(rk, "visibility", str, kw, default="hidden")
            if visibility not in VISIBILITIES:
                raise RubricError(f"{kw}: visibility must be one of {', '.join(VISIBILITIES)}, got {visibility!r}")
            partial = _expect(rk, "partial", bool, kw, default=False)
            checks.append(RubricCheck(cid, weight, visibility, partial))
        components.append(Component(name, points, tuple(checks), bonus, manual, description))
    regular = sum(c.points for c in components if not c.bonus)
    if abs(regular - max_score) > 1e-9:
        raise RubricError(f"{where}: max_score is {max_score:g} but the non-bonus components add up to {regular:g}")
    policy = _parse_policy(data.get("policy", {}), f"{where}: policy")
    given = _parse_given(_expect(data, "given", list, where, default=[]), f"{where}: given")
    outputs = _parse_given(_expect(data, "outputs", list, where, default=[]), f"{where}: outputs")
    data_sets = _parse_data_sets(_expect(data, "data_sets", list, where, default=[]), f"{where}: data_sets")
    return Rubric(assignment, title, package, max_score, tuple(components), policy, path, given, outputs, data_sets)


def _parse_data_sets(raw: list, where: str) -> tuple[tuple[str, str], ...]:
    """``[{generator = "data/x/make_dataset.py", folder = "x"}, ...]``: a course-relative script
    (run by `grader release` with ``--out data/generated/<folder>``) and a plain folder name."""
    out = []
    for i, item in enumerate(raw):
        if not isinstance(item, dict):
            raise RubricError(f"{where}[{i}]: must be a table with generator and folder")
        _unknown_keys(item, {"generator", "folder"}, f"{where}[{i}]")
        script, folder = _expect(item, "generator", str, f"{where}[{i}]"), _expect(item, "folder", str, f"{where}[{i}]")
        if script.startswith("/") or ".." in script.split("/") or not script.endswith(".py"):
            raise RubricError(f"{where}[{i}]: generator {script!r} must be a .py file inside the course")
        if not folder or "/" in folder or folder.startswith("."):
            raise RubricError(f"{where}[{i}]: folder {folder!r} must be a plain folder name")
        out.append((script, folder))
    return tuple(out)


def _parse_given(raw: list, where: str) -> tuple[str, ...]:
    """Given files: relative paths inside the package, no ``..``, no duplicates."""
    out: list[str] = []
    for item in raw:
        if not isinstance(item, str) or not item:
            raise RubricError(f"{where}: entries must be file names (strings), got {item!r}")
        parts = item.replace("\\", "/").split("/")
        if item.startswith("/") or ".." in parts or "" in parts:
            raise RubricError(f"{where}: {item!r} must be a path inside the package (no '..', not absolute)")
        if item in out:
            raise RubricError(f"{where}: {item!r} is listed twice")
        out.append(item)
    return tuple(out)


def _parse_policy(raw: Any, where: str) -> Policy:
    if not isinstance(raw, dict):
        raise RubricError(f"{where}: must be a table")
    _unknown_keys(raw, {"caps", "bonus_deadline", "deadline"}, where)
    caps = []
    for i, rc in enumerate(_expect(raw, "caps", list, where, default=[])):
        cw = f"{where}.caps[{i}]"
        if not isinstance(rc, dict):
            raise RubricError(f"{cw}: must be a table")
        _unknown_keys(rc, {"after", "max"}, cw)
        caps.append(Cap(_parse_time(_expect(rc, "after", (str, _dt.datetime), cw), cw),
                        float(_expect(rc, "max", (int, float), cw))))
    caps.sort(key=lambda c: c.after)
    bonus = raw.get("bonus_deadline")
    deadline = raw.get("deadline")
    return Policy(tuple(caps), _parse_time(bonus, f"{where}.bonus_deadline") if bonus is not None else None,
                  _parse_time(deadline, f"{where}.deadline") if deadline is not None else None)


def load_rubric(path: Path, known_checks: set[str] | None = None,
                settings: frozenset[str] | set[str] = frozenset()) -> Rubric:
    """Read and validate a rubric file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RubricError(f"{path}: rubric file not found") from None
    except OSError as exc:
        raise RubricError(f"{path}: cannot read rubric: {exc.strerror}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RubricError(f"{path}: not valid TOML: {exc}") from None
    return parse_rubric(data, str(path), known_checks, settings)
