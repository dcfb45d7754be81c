"""What the worker may see: its import path (``worker_sys_path``), the secrets hidden from it
(``default_secrets``, ``hidden_data_dirs``) and, without a mount namespace, the permission changes
that keep them from it (``HostProtection``, ``protect_host``).
"""

from __future__ import annotations

import atexit
import functools
import os
import stat
import sys
from pathlib import Path
from typing import Optional

from .. import course as course_mod
from .. import runtime as wm  # within()


def worker_sys_path() -> list[str]:
    """This interpreter's import path minus the course and the grader's checkout: stdlib and
    site-packages only (a site-packages inside the checkout, e.g. its ``.venv`` reached through a
    ``.pth`` file of another environment, is kept: it holds libraries, not course material).

    The worker starts with ``-I -S`` (no site processing), so the ``.pth`` files that ``pip
    install -e .`` adds (``__editable__.*.pth`` and its finder, which would map ``reference`` and
    ``grader`` onto the checkout) are never executed there; entries inside the checkout (a
    "compat" editable install, the current directory) are dropped here.
    """
    prefix = os.path.realpath(sys.prefix)
    out: list[str] = []
    for entry in sys.path:
        if not entry or not os.path.isabs(entry) or not os.path.exists(entry):
            continue
        real = os.path.realpath(entry)
        installed = wm.within(real, prefix) or os.path.basename(real) in ("site-packages", "dist-packages")
        if any(wm.within(real, str(d)) for d in _private_trees()) and not installed:
            continue  # the course or the grader's checkout (the current directory, a "compat" editable path)
        if real not in out:
            out.append(real)
    return out


@functools.lru_cache(maxsize=8)
def hidden_data_dirs(data_dir: Path) -> list[str]:
    """Directories under ``data/`` that stay with the grader: named ``hidden`` or marked by a
    ``.grader-hidden`` file (looked up once per process)."""
    if not data_dir.is_dir():
        return []
    found = []
    for dirpath, dirnames, filenames in os.walk(data_dir):
        if os.path.basename(dirpath) == "hidden" or ".grader-hidden" in filenames:
            found.append(dirpath)
            dirnames[:] = []
    return found


def _private_trees() -> list[Path]:
    """Trees no import path of the worker may point into: the course directory and the checkout
    holding the grader's code (when the grader is not installed under the interpreter's prefix)."""
    return [course_mod.current().root, course_mod.GRADER_PACKAGE.parent]


def default_secrets() -> list[str]:
    """The course's secret directories (solutions, the project's tests), the grader's own code
    wherever it is installed (rubrics, hidden checks) and the hidden data folders."""
    course = course_mod.current()
    dirs = dict.fromkeys(str(d) for d in course.secret_dirs())
    return list(dirs) + list(hidden_data_dirs(course.data))


class HostProtection:
    """Permission changes that keep secrets from the worker when there is no mount namespace.

    As root only: ``chmod go-rwx`` on each secret directory, ``chmod o+x`` (traverse, not list) on
    the directories between ``/`` and what the worker must reach (e.g. a Python under ``/root``).
    Each change is undone when the grader exits, if the mode is still the one set here.
    """

    def __init__(self) -> None:
        self.changes: list[tuple[str, int, int]] = []
        atexit.register(self.restore)

    def _chmod(self, path: str, new: int) -> None:
        old = stat.S_IMODE(os.stat(path).st_mode)
        if new != old:
            os.chmod(path, new)
            self.changes.append((path, old, new))

    def apply(self, secrets: list[str], reachable: list[str]) -> None:
        done = {c[0] for c in self.changes}
        for p in secrets:
            if os.path.isdir(p) and p not in done:
                self._chmod(p, stat.S_IMODE(os.stat(p).st_mode) & 0o700)
        for p in reachable:
            parts = os.path.realpath(p).split("/")
            for i in range(2, len(parts) + 1):
                d = "/".join(parts[:i])
                if not os.path.isdir(d):
                    break
                if d not in done:
                    self._chmod(d, stat.S_IMODE(os.stat(d).st_mode) | 0o001)

    def restore(self) -> None:
        while self.changes:
            path, old, new = self.changes.pop()
            try:
                if stat.S_IMODE(os.stat(path).st_mode) == new:
                    os.chmod(path, old)
            except OSError:
                pass

    def describe(self) -> list[str]:
        return [f"chmod {old:o} -> {new:o} {path}" for path, old, new in self.changes]


HOST_PROTECTION: Optional[HostProtection] = None


def protect_host(secrets: list[str], reachable: list[str]) -> HostProtection:
    global HOST_PROTECTION
    if HOST_PROTECTION is None:
        HOST_PROTECTION = HostProtection()
    HOST_PROTECTION.apply(secrets, reachable)
    return HOST_PROTECTION
