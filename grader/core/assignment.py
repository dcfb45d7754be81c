"""Finding and loading an assignment: its rubric, its checks and its probes."""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from .api import Check
from .names import valid_names
from .rubric import Rubric, RubricError, load_rubric

ASSIGNMENTS_DIR = Path(__file__).resolve().parent.parent / "assignments"


@dataclass
class Assignment:
    name: str
    directory: Path
    rubric: Rubric
    checks: dict[str, Check]
    probes_file: Path
    checks_module: ModuleType | None = None  # checks.py, imported here (the parent)
    _probes: ModuleType | None = None

    @property
    def probes(self) -> ModuleType:
        """The probes module, imported in this process (only for in-process runs)."""
        if self._probes is None:
            spec = importlib.util.spec_from_file_location(f"_grader_probes_{self.name}", self.probes_file)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            self._probes = module
        return self._probes

    def check(self, check_id: str) -> Check:
        return self.checks[check_id]


def available() -> list[str]:
    """Names of the assignments shipped with the grader."""
    return sorted(p.parent.name for p in ASSIGNMENTS_DIR.glob("*/rubric.toml"))


def load(name_or_dir: str | Path) -> Assignment:
    """Load an assignment by name (``centernet``) or directory (a rubric.toml, checks.py, probes.py)."""
    directory = Path(name_or_dir)
    if not directory.is_dir():
        directory = ASSIGNMENTS_DIR / str(name_or_dir)
        if not directory.is_dir():
            raise RubricError(f"unknown assignment '{name_or_dir}' ({valid_names(str(name_or_dir), available())})")
    checks_file = directory / "checks.py"
    probes_file = directory / "probes.py"
    for f in (checks_file, probes_file):
        if not f.is_file():
            raise RubricError(f"{directory}: missing {f.name}")
    spec = importlib.util.spec_from_file_location(f"_grader_checks_{directory.name}", checks_file)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # noqa: BLE001 - a broken checks.py is a grader error, reported in one line
        raise RubricError(f"{checks_file}: cannot load: {type(exc).__name__}: {exc}") from None
    checks = {c.id: c for c in getattr(module, "CHECKS", [])}
    rubric = load_rubric(directory / "rubric.toml", known_checks=set(checks),
                         settings=frozenset(getattr(module, "RUBRIC_SETTINGS", ())))
    return Assignment(rubric.assignment, directory, rubric, checks, probes_file, module)
