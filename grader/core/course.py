"""The course directory: where one course's material lives, apart from the grader's code.

A course directory holds ``student/`` (the stubs, or the released package) and, on the
instructor's side, ``reference/`` (the solutions), ``data/`` (shipped and generated data sets,
``hidden`` folders included), ``tests/`` and ``docs/``. The grader itself may be installed
anywhere (an editable checkout, or a wheel in site-packages that carries no solutions); every path
to course material comes from the one ``Course`` found here, never from the location of the
grader's own files.

Found, first match wins:

1. ``--course-dir DIR`` (``grader run``, ``calibrate``, ``generate``, ``release``);
2. the environment variable ``GRADER_COURSE_DIR``;
3. the current directory or the nearest parent that is a course directory;
4. the directory that holds the grader package, when it is one (an editable checkout, or a
   student bundle, which ships ``grader/`` beside ``student/``).

Parent side only: the worker never imports this module (it gets concrete paths from the parent).
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Optional

COURSE_ENV = "GRADER_COURSE_DIR"
GRADER_PACKAGE = Path(__file__).resolve().parents[1]  # the grader's own code, wherever installed


class CourseError(RuntimeError):
    """No usable course directory; the message is one line."""


def is_course_dir(path: Path) -> bool:
    """A directory with ``student/`` and at least one of ``reference/`` or ``data/``."""
    return (path / "student").is_dir() and ((path / "reference").is_dir() or (path / "data").is_dir())


@dataclass(frozen=True)
class Course:
    """One course's material. ``reference`` may be moved (``--reference-dir``); the rest follows
    from ``root``."""

    root: Path
    reference: Path

    @classmethod
    def at(cls, root: Path) -> "Course":
        root = Path(root).resolve()
        return cls(root=root, reference=root / "reference")

    @property
    def student(self) -> Path:
        return self.root / "student"

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def tests(self) -> Path:
        return self.root / "tests"

    @property
    def docs(self) -> Path:
        return self.root / "docs"

    def with_reference(self, reference: Optional[Path]) -> "Course":
        return self if reference is None else replace(self, reference=Path(reference).resolve())

    def secret_dirs(self) -> list[Path]:
        """What no submission may read: the solutions, the grader's code (rubrics, hidden checks),
        the project's tests. Hidden data folders are found by ``sandbox.hidden_data_dirs``."""
        return [self.reference, self.root / "reference", GRADER_PACKAGE, self.tests]


def find(explicit: Optional[str | Path] = None, *, cwd: Optional[Path] = None) -> Course:
    """The course directory, by the rules of the module docstring."""
    if explicit is not None:
        return _checked(Path(explicit), "--course-dir")
    from_env = os.environ.get(COURSE_ENV, "").strip()
    if from_env:
        return _checked(Path(from_env), COURSE_ENV)
    start = Path(cwd or os.getcwd()).resolve()
    for candidate in (start, *start.parents):
        if is_course_dir(candidate):
            return Course.at(candidate)
    if is_course_dir(GRADER_PACKAGE.parent):
        return Course.at(GRADER_PACKAGE.parent)
    raise CourseError(f"no course directory here ({start}) or above it: run inside one (a folder with student/ "
                      f"and reference/ or data/), or pass --course-dir DIR, or set {COURSE_ENV}")


def _checked(path: Path, source: str) -> Course:
    if not path.is_dir():
        raise CourseError(f"{source}: {path} is not a directory")
    if not is_course_dir(path):
        raise CourseError(f"{source}: {path} is not a course directory (it needs student/ and reference/ or data/)")
    return Course.at(path)


_CURRENT: list[Optional[Course]] = [None]


def current() -> Course:
    """The course of this process: the one ``activate`` set, else found now (and kept)."""
    course = _CURRENT[0]
    return course if course is not None else activate(find())


def activate(course: Course) -> Course:
    """Make ``course`` this process's course. Its root is also exported as ``GRADER_COURSE_DIR``,
    which in-process probes read for the course's own copy of the given files (the worker gets an
    environment of the sandbox's making, without it)."""
    _CURRENT[0] = course
    os.environ[COURSE_ENV] = str(course.root)
    return course


def reset() -> None:
    """Forget the current course (tests)."""
    _CURRENT[0] = None


@contextlib.contextmanager
def scoped():
    """Restore this process's course (and ``GRADER_COURSE_DIR``) on exit: one ``grader`` command
    run in-process (``cli.main``, tests) never changes the course of the next."""
    saved, env = _CURRENT[0], os.environ.get(COURSE_ENV)
    try:
        yield
    finally:
        _CURRENT[0] = saved
        if env is None:
            os.environ.pop(COURSE_ENV, None)
        else:
            os.environ[COURSE_ENV] = env
