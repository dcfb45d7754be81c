"""Finding and loading an assignment: its rubric, its checks and its probes."""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import sys
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
    probes_file: Path  # probes.py, or the probes/ package folder
    checks_module: ModuleType | None = None  # the verdicts (verdicts/ or checks.py), imported here (the parent)
    _probes: ModuleType | None = None

    @property
    def probes(self) -> ModuleType:
        """The probes module, imported in this process (only for in-process runs)."""
        if self._probes is None:
            self._probes = import_path(self.probes_file, f"_grader_probes_{self.name}")
        return self._probes

    def check(self, check_id: str) -> Check:
        return self.checks[check_id]


def source(directory: Path, package: str, module: str) -> Path | None:
    """An assignment's ``package/`` folder (with an ``__init__.py``), else its ``module`` file, else None."""
    folder = directory / package
    if (folder / "__init__.py").is_file():
        return folder
    return directory / module if (directory / module).is_file() else None


def import_path(path: Path, name: str) -> ModuleType:
    """Import a module file, or a package folder (its ``__init__.py``, with its submodules and their
    relative imports), under the module name ``name``."""
    if path.is_dir():
        spec = importlib.util.spec_from_file_location(name, path / "__init__.py",
                                                      submodule_search_locations=[str(path)])
    else:
        spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    for stale in [m for m in sys.modules if m == name or m.startswith(name + ".")]:
        del sys.modules[stale]  # a copy loaded before under this name (release loads the bundle's)
    if path.is_dir():  # its submodules import ``name`` (from . import x) while it runs
        sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        if sys.modules.get(name) is module:
            del sys.modules[name]
        raise
    return module


def available() -> list[str]:
    """Names of the assignments shipped with the grader."""
    return sorted(p.parent.name for p in ASSIGNMENTS_DIR.glob("*/rubric.toml"))


def load(name_or_dir: str | Path) -> Assignment:
    """Load an assignment by name (``centernet``) or directory: a ``rubric.toml``, the verdicts (a
    ``verdicts/`` package or ``checks.py``) and the probes (a ``probes/`` package or ``probes.py``)."""
    directory = Path(name_or_dir)
    if not directory.is_dir():
        directory = ASSIGNMENTS_DIR / str(name_or_dir)
        if not directory.is_dir():
            raise RubricError(f"unknown assignment '{name_or_dir}' ({valid_names(str(name_or_dir), available())})")
    checks_file = source(directory, "verdicts", "checks.py")
    probes_file = source(directory, "probes", "probes.py")
    if checks_file is None:
        raise RubricError(f"{directory}: missing checks.py (or a verdicts/ package)")
    if probes_file is None:
        raise RubricError(f"{directory}: missing probes.py (or a probes/ package)")
    try:
        module = import_path(checks_file, f"_grader_checks_{directory.name}")
    except Exception as exc:  # noqa: BLE001 - a broken checks.py is a grader error, reported in one line
        raise RubricError(f"{checks_file}: cannot load: {type(exc).__name__}: {exc}") from None
    checks = {c.id: c for c in getattr(module, "CHECKS", [])}
    rubric = load_rubric(directory / "rubric.toml", known_checks=set(checks),
                         settings=frozenset(getattr(module, "RUBRIC_SETTINGS", ())))
    for comp, rc in rubric.all_checks():  # the rubric says which component a check belongs to
        declared = checks[rc.id].component
        if declared and declared != comp.name:
            raise RubricError(f"{directory / 'rubric.toml'}: check '{rc.id}' is listed under component "
                              f"'{comp.name}', but its verdicts module declares '{declared}'")
        checks[rc.id] = dataclasses.replace(checks[rc.id], component=comp.name)
    return Assignment(rubric.assignment, directory, rubric, checks, probes_file, module)
