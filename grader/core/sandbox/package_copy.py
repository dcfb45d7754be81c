"""The copy of a submission package into the sandbox (``_copy_package``): capped in size and file
count, links resolved or refused.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from .. import runtime as wm  # within()
from .isolation import MiB
from ..submission import MAX_PACKAGE_BYTES, MAX_PACKAGE_FILES, SubmissionLinkError, SubmissionTooLarge

COPY_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", ".git", ".ipynb_checkpoints")


def _copy_package(src: Path, dst: Path, max_bytes: int = MAX_PACKAGE_BYTES, max_files: int = MAX_PACKAGE_FILES) -> None:
    """Copy a submission package into the sandbox; size and file count are capped.

    Links are never copied as links: one that stays inside the package is copied as what it points
    to (a directory link to one of its own ancestors is skipped), one that leaves it is a
    ``SubmissionLinkError`` naming it. Over the cap: ``SubmissionTooLarge`` (both are
    ``SubmissionError``: the submission's error row, not a grader fault).
    """
    top = os.path.realpath(src)
    total = [0, 0]

    def inside(real: str) -> bool:
        return real == top or real.startswith(top.rstrip("/") + "/")

    def ignore(directory, names):
        skipped = set(COPY_IGNORE(directory, names))
        for n in names:
            if n in skipped:
                continue
            p = os.path.join(directory, n)
            if os.path.islink(p):
                real = os.path.realpath(p)
                if not inside(real):
                    raise SubmissionLinkError(f"`{os.path.relpath(p, top)}` is a symbolic link to outside the "
                                              f"submission ({os.readlink(p)}); hand in the files themselves")
                if os.path.isdir(real) and wm.within(os.path.realpath(directory), real):
                    skipped.add(n)  # a loop
                    continue
            if not (os.path.isfile(p) or os.path.isdir(p)):
                skipped.add(n)  # devices, FIFOs, sockets, dangling links
            elif os.path.isfile(p):
                total[0] += os.path.getsize(p)
                total[1] += 1
        if total[0] > max_bytes or total[1] > max_files:
            raise SubmissionTooLarge(f"submission too large to grade (more than {max_bytes // MiB} MiB or "
                                     f"{max_files} files)")
        return skipped

    shutil.copytree(top, dst, ignore=ignore, symlinks=False)
