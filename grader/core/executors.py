"""Executors: what runs a probe of an assignment against one implementation and returns a
``ProbeOutcome``. ``InProcessExecutor`` imports the implementation into this process (reference,
local student runs, the project's own tests); ``CachedExecutor`` remembers outcomes. The isolated
executor, which runs probes in a worker process, is ``grader.core.sandbox``'s.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import traceback
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional, Protocol

from .assignment import Assignment
from .runtime import ProbeContext, classify_exception, run_probe


@dataclass
class ProbeOutcome:
    """What came back from running one probe.

    status: "ok", "not_attempted", "error", "timeout", "resource_limit".
    """

    status: str
    data: Any = None
    message: str = ""
    seconds: float = 0.0
    output: str = ""


class Executor(Protocol):
    """Runs a probe of an assignment against one implementation.

    An executor that runs probes elsewhere may also offer ``submit(assignment, probe, *, threads,
    timeout) -> job``, ``set_timeout(job, seconds)``, ``done(job, wait) -> bool`` and
    ``collect(job) -> ProbeOutcome``; ``grade`` then overlaps the reference's work with the probe
    (see ``engine._grade_pipelined``)."""

    def run(self, assignment: Assignment, probe: str, *, threads: int, timeout: float, seed: int = 0,
            late_inputs: Optional[Callable[[], Any]] = None) -> ProbeOutcome: ...


class InProcessExecutor:
    """Runs probes against a package importable in this process (e.g. ``reference``).

    For local debugging and the reference only: the code under test runs in the grader's process.
    """

    def __init__(self, package: str, path: Optional[Path] = None, *, full_traceback: bool = False):
        """``package`` is the dotted name of the package holding the assignments (``reference``,
        ``student``); ``path`` an extra directory to put first on ``sys.path``; ``full_traceback``
        appends the whole traceback of a failure to the outcome's output."""
        self.package = package
        self.path = path
        self.full_traceback = full_traceback
        self.package_dir: Optional[Path] = None
        if "GRADER_DATA_DIR" not in os.environ:
            from . import course as course_mod

            os.environ["GRADER_DATA_DIR"] = str(course_mod.current().data)

    @classmethod
    def for_directory(cls, package_dir: Path, alias: str, *, full_traceback: bool = False) -> "InProcessExecutor":
        """An executor for the package in ``package_dir``, imported under the name ``alias``
        (whatever the directory is called, e.g. ``submission`` for a student's ``student/``)."""
        executor = cls(alias, full_traceback=full_traceback)
        executor.package_dir = Path(package_dir).resolve()
        return executor

    def import_module(self, sub: str):
        """The submodule ``sub`` (e.g. ``centernet.loss``) of this executor's package."""
        return self._import(sub)

    def _import(self, sub: str):
        if self.package_dir is not None and not self._alias_is_ours():
            self._forget_alias()
            self._import_directory()
        if self.path is not None and str(self.path) not in sys.path:
            sys.path.insert(0, str(self.path))
        return importlib.import_module(f"{self.package}.{sub}")

    def _alias_is_ours(self) -> bool:
        """Whether ``sys.modules`` holds this executor's directory under its alias (another
        executor may have imported another directory under the same alias before)."""
        module = sys.modules.get(self.package)
        paths = list(getattr(module, "__path__", []) or []) if module is not None else []
        return bool(paths) and Path(paths[0]).resolve() == self.package_dir

    def _forget_alias(self) -> None:
        for name in [n for n in sys.modules if n == self.package or n.startswith(self.package + ".")]:
            del sys.modules[name]

    def _import_directory(self) -> None:
        """Import ``package_dir`` as the package ``self.package`` (a bare module with a search path
        when the directory has no ``__init__.py``)."""
        package_dir = self.package_dir
        if package_dir is None:
            raise RuntimeError(f"executor for {self.package!r} has no package directory to import")
        init = package_dir / "__init__.py"
        if not init.is_file():
            module = types.ModuleType(self.package)
            module.__path__ = [str(package_dir)]
            sys.modules[self.package] = module
            return
        spec = importlib.util.spec_from_file_location(self.package, init,
                                                      submodule_search_locations=[str(package_dir)])
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot import {init} as the package {self.package!r}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[self.package] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[self.package]
            raise

    def run(self, assignment: Assignment, probe: str, *, threads: int = 1, timeout: float = 0, seed: int = 0,
            late_inputs: Optional[Callable[[], Any]] = None) -> ProbeOutcome:
        sub = assignment.rubric.package
        try:
            pkg = self._import(sub)
        except ModuleNotFoundError as exc:
            if exc.name in (self.package, f"{self.package}.{sub}"):
                return ProbeOutcome("not_attempted", message=f"not attempted: the submission has no `{sub}` package")
            return self._import_failure(exc, sub)
        except (Exception, SystemExit) as exc:  # noqa: BLE001 - reported, never raised
            return self._import_failure(exc, sub)
        fn = getattr(assignment.probes, probe)
        status, data, message, seconds, output = run_probe(fn, pkg, threads=threads,
                                                           ctx=ProbeContext(seed, late_inputs),
                                                           full_traceback=self.full_traceback)
        return ProbeOutcome(status, data, message, seconds, output)

    def _import_failure(self, exc: BaseException, sub: str) -> ProbeOutcome:
        status, message = classify_exception(exc)
        if status == "error":
            message = f"importing your `{sub}` package failed: {message}"
        output = "".join(traceback.format_exception(exc)) if self.full_traceback and status != "not_attempted" else ""
        return ProbeOutcome(status, message=message, output=output)


class CachedExecutor:
    """Wraps an executor; remembers outcomes (the reference's are the same for every submission)."""

    def __init__(self, inner: Executor):
        self.inner = inner
        self.cache: dict[tuple[str, str, int], ProbeOutcome] = {}

    def run(self, assignment: Assignment, probe: str, *, threads: int = 1, timeout: float = 0, seed: int = 0,
            late_inputs: Optional[Callable[[], Any]] = None) -> ProbeOutcome:
        key = (assignment.name, probe, seed)
        if key not in self.cache:
            self.cache[key] = self.inner.run(assignment, probe, threads=threads, timeout=timeout, seed=seed,
                                             late_inputs=late_inputs)
        return self.cache[key]
