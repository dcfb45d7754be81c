"""The trust boundary as a folder line (issue 11.1), checked on the source of every module.

* worker side: ``grader/worker/*.py`` and every assignment's ``probes.py`` (they run inside the
  sandbox) import only the standard library, torch and what the worker has, plus each other by
  their flat sandbox names (``probe_runtime``); never ``grader``, ``reference`` or ``student``;
* parent side: no other module of ``grader/`` imports worker code, except ``grader.core.runtime``
  (the probe runtime for in-process runs); no parent module imports a ``probes`` module by name
  (the verdicts load their assignment's probes file by path, as data builders);
* the rule finds a violation when there is one (a planted import on each side).

A new assignment is covered without touching this file: the walk finds its folders.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

from grader.core import runtime

GRADER = Path(runtime.__file__).resolve().parents[1]
WORKER_THIRD_PARTY = {"torch", "torchvision", "numpy"}
# flat names inside the sandbox's lib/
WORKER_SIBLINGS = {"probe_runtime", "worker_launch", "worker_main", "worker_namespaces", "worker_view"}
GATEWAY = GRADER / "core" / "runtime.py"


def _imports(path: Path) -> set[str]:
    """Absolute module names ``path`` imports (relative imports resolved against its package)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = ".".join(path.relative_to(GRADER.parent).with_suffix("").parts[:-1])
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if not node.level:
                out.add(node.module)
                continue
            parts = package.split(".")
            base = ".".join(parts[: len(parts) - node.level + 1])
            if node.module:  # from ..worker import x: the module grader.worker
                out.add(f"{base}.{node.module}")
            else:  # from . import x: the modules package.x
                out.update(f"{base}.{a.name}" for a in node.names)
    return out


def worker_files() -> list[Path]:
    """The worker folder, and every assignment's probes: ``probes.py`` or the ``probes/`` package."""
    probes = [p for p in (GRADER / "assignments").rglob("*.py")
              if "__pycache__" not in p.parts and _probes_root(p) is not None]
    return sorted((GRADER / "worker").glob("*.py")) + sorted(probes)


def _probes_root(path: Path) -> Path | None:
    """The probes module or package folder ``path`` belongs to, if any."""
    rel = path.relative_to(GRADER / "assignments").parts
    if len(rel) == 2 and rel[1] == "probes.py":
        return path
    if len(rel) >= 3 and rel[1] == "probes":
        return GRADER / "assignments" / rel[0] / "probes"
    return None


def parent_files() -> list[Path]:
    worker = set(worker_files())
    return [p for p in sorted(GRADER.rglob("*.py")) if p not in worker and "__pycache__" not in p.parts]


def worker_problems(path: Path) -> list[str]:
    allowed = set(sys.stdlib_module_names) | WORKER_THIRD_PARTY | WORKER_SIBLINGS
    if path.parent.name == "worker":
        own = {"grader.worker"}
    else:  # a probes package's modules import each other (relative imports)
        root = _probes_root(path)
        own = {".".join(root.relative_to(GRADER.parent).parts)} if root is not None and root.is_dir() else set()
    return [f"{path.relative_to(GRADER.parent)} imports {name}" for name in sorted(_imports(path))
            if name.split(".")[0] not in allowed and not any(name == o or name.startswith(o + ".") for o in own)]


def parent_problems(path: Path) -> list[str]:
    bad = []
    for name in sorted(_imports(path)):
        worker = name.startswith("grader.worker") or name.split(".")[0] in WORKER_SIBLINGS
        probes = name.startswith("grader.assignments.") and "probes" in name.split(".")[3:]
        if (worker and path != GATEWAY) or probes:
            bad.append(f"{path.relative_to(GRADER.parent)} imports {name}")
    return bad


def test_the_walk_sees_both_sides_of_every_assignment():
    names = {p.parent.name for p in (GRADER / "assignments").glob("*/rubric.toml")}
    assert names and names == {_probes_root(p).relative_to(GRADER / "assignments").parts[0]
                               for p in worker_files() if p.parent.name != "worker"}
    assert {p.name for p in worker_files() if p.parent.name == "worker"} >= set(runtime.WORKER_FILES)


@pytest.mark.parametrize("path", worker_files(), ids=lambda p: str(p.relative_to(GRADER)))
def test_worker_code_imports_nothing_of_the_grader(path):
    assert not worker_problems(path)


def test_parent_code_never_imports_worker_code():
    problems = [line for path in parent_files() for line in parent_problems(path)]
    assert not problems, "\n".join(problems)


def test_the_rule_catches_a_crossing_on_each_side(tmp_path, monkeypatch):
    """Planted violations, written where the walk looks (a copy of the tree): both are found."""
    import shutil

    copy = tmp_path / "grader"
    shutil.copytree(GRADER, copy, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(sys.modules[__name__], "GRADER", copy)
    monkeypatch.setattr(sys.modules[__name__], "GATEWAY", copy / "core" / "runtime.py")
    probes = copy / "assignments" / "centernet" / "probes" / "__init__.py"
    probes.write_text(probes.read_text() + "\nfrom grader.core import api\n")
    verdicts = copy / "core" / "report.py"
    verdicts.write_text(verdicts.read_text() + "\nfrom ..worker import probe_runtime\n")
    assert worker_problems(probes) == ["grader/assignments/centernet/probes/__init__.py imports grader.core"]
    assert parent_problems(verdicts) == ["grader/core/report.py imports grader.worker"]


def test_the_parents_copies_of_worker_facts_agree():
    """``grader.core.runtime`` repeats two clone flags and ``within`` instead of importing the worker."""
    from grader.worker import worker_main

    assert (runtime.CLONE_NEWNS, runtime.CLONE_NEWIPC) == (worker_main.CLONE_NEWNS, worker_main.CLONE_NEWIPC)
    for path, root in (("/a/b", "/a"), ("/a", "/a"), ("/ab", "/a"), ("/a/", "/a/")):
        assert runtime.within(path, root) == worker_main.within(path, root)
