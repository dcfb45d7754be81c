"""Finding the package to grade in what a student handed in.

A submission is one of:

- a checkout: a directory holding a ``student/`` package;
- the package itself: a directory holding assignment subpackages (``centernet/``, ...), usually
  with an ``__init__.py``;
- a ``.zip`` or ``.tar.gz`` / ``.tgz`` of either (a single wrapping directory, as GitHub's
  "Download ZIP" adds, is fine).

Archives are extracted into a private temporary directory after every member has been checked:
no absolute paths, no ``..``, no links pointing outside the archive (links inside it, devices and
FIFOs are skipped), bounded size and member count. Every problem is a ``SubmissionError`` with a
one-line message.
"""

from __future__ import annotations

import hashlib
import os
import stat
import tarfile
import tempfile
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Iterable, Optional

MAX_TOTAL_BYTES = 500 * 1024 * 1024
MAX_MEMBERS = 20_000
MAX_PACKAGE_BYTES = 200 * 1024 * 1024  # the sandbox copy's cap (sandbox._copy_package), checked at resolve
MAX_PACKAGE_FILES = 20_000
ARCHIVE_SUFFIXES = (".zip", ".tar.gz", ".tgz")
IGNORED_NAMES = {"__MACOSX", ".git", "__pycache__", ".ipynb_checkpoints"}


class SubmissionError(ValueError):
    """A submission that cannot be graded; the message is one line."""


class SubmissionTooLarge(SubmissionError):
    """The submission is over the sandbox-copy cap (size or file count): that submission's error
    row, never the end of a class run."""


class SubmissionLinkError(SubmissionError):
    """The submission holds a symbolic link that leaves it (its ``student/``, an assignment
    package or any file): refused, never graded as the link's target."""


@dataclass
class Submission:
    """A resolved submission: the package directory to grade and where it came from."""

    name: str
    source: str
    kind: str  # "checkout", "package", "zip", "tar.gz", "reference"
    package_dir: Path
    sha256: Optional[str] = None
    _tmp: Optional[tempfile.TemporaryDirectory] = field(default=None, repr=False)

    def cleanup(self) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def to_dict(self) -> dict:
        d = {"name": self.name, "source": self.source, "kind": self.kind}
        if self.sha256:
            d["sha256"] = self.sha256
        return d


def submission_name(path: Path) -> str:
    """The name of a submission in a gradebook: its folder or archive name without the suffix
    (``.``, ``..`` or ``dir/``: the name of the folder they mean; ``/``: "submission")."""
    name = Path(os.path.abspath(path)).name or "submission"
    for suffix in ARCHIVE_SUFFIXES:
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name


def is_archive(path: Path) -> bool:
    return path.name.lower().endswith(ARCHIVE_SUFFIXES)


def resolve(path: Path | str, package_names: Iterable[str] = ()) -> Submission:
    """Resolve what was handed in to the package directory to grade (see the module docstring).

    ``package_names``: the assignment package names being graded (``centernet``...), used to
    recognise a package directory that has no ``__init__.py``.
    """
    path = Path(path)
    names = tuple(package_names)
    if not path.exists():
        raise SubmissionError(f"{path}: no such file or directory")
    if path.is_dir():
        check_links(path)
        package = find_package(path, names)
        check_size(package, path)
        kind = "checkout" if package != path.resolve() else "package"
        return Submission(submission_name(path), str(path), kind, package)
    if not is_archive(path):
        raise SubmissionError(f"{path}: not a directory, .zip, .tar.gz or .tgz")
    if not path.is_file():
        raise SubmissionError(f"{path}: not a regular file")
    tmp = tempfile.TemporaryDirectory(prefix="grader-submission-")
    os.chmod(tmp.name, 0o700)
    try:
        root = Path(tmp.name) / "x"
        root.mkdir()
        if path.name.lower().endswith(".zip"):
            extract_zip(path, root)
            kind = "zip"
        else:
            extract_tar(path, root)
            kind = "tar.gz"
        package = find_package(root, names, shown_as=path)
        check_size(package, path)
    except BaseException:
        tmp.cleanup()
        raise
    return Submission(submission_name(path), str(path), kind, package, _sha256(path), tmp)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# ----------------------------------------------------------------------------------------------
# Links
# ----------------------------------------------------------------------------------------------

def check_links(root: Path, max_entries: int = 200_000) -> None:
    """Refuse a directory submission holding a symbolic link that leaves it (issue #9.9).

    A git checkout may commit links: ``student -> /srv/course/reference`` or ``../classmate``
    would otherwise be graded as the link's target. Links that stay inside the submission are
    allowed (the sandbox copy follows them); a link whose target is outside, absolute into the
    host, or dangling is a ``SubmissionLinkError`` naming the link. The walk never follows links.
    """
    top = os.path.realpath(root)
    seen = 0
    for dirpath, dirnames, filenames in os.walk(top, followlinks=False):
        dirnames[:] = [d for d in dirnames if d not in IGNORED_NAMES or os.path.islink(os.path.join(dirpath, d))]
        for name in dirnames + filenames:
            seen += 1
            if seen > max_entries:
                raise SubmissionTooLarge(f"{root}: too many files (more than {max_entries})")
            p = os.path.join(dirpath, name)
            if os.path.islink(p):
                link_problem = _link_leaves(p, top)
                if link_problem:
                    shown = os.path.relpath(p, top)
                    raise SubmissionLinkError(f"{root}: `{shown}` is a symbolic link {link_problem}; "
                                              "hand in the files themselves")


def check_size(package: Path, shown: Path) -> None:
    """The package fits the sandbox copy's cap (``MAX_PACKAGE_BYTES``, ``MAX_PACKAGE_FILES``; the
    copy skips the same ``IGNORED_NAMES``), else ``SubmissionTooLarge`` here, where a class run
    gives that submission its error row (issue #9.10)."""
    size = files = 0
    for dirpath, dirnames, filenames in os.walk(package):
        dirnames[:] = [d for d in dirnames if d not in IGNORED_NAMES]
        for name in filenames:
            if name.endswith(".pyc"):
                continue
            try:
                size += os.path.getsize(os.path.join(dirpath, name))
            except OSError:
                continue
            files += 1
        if size > MAX_PACKAGE_BYTES or files > MAX_PACKAGE_FILES:
            raise SubmissionTooLarge(f"{shown}: the package is too large to grade (more than "
                                     f"{MAX_PACKAGE_BYTES // 2**20} MiB or {MAX_PACKAGE_FILES} files)")


def _link_leaves(link: str, top: str) -> str:
    """Why the link at ``link`` is refused ("" when it stays inside ``top``)."""
    try:
        target = os.readlink(link)
    except OSError:
        return "that cannot be read"
    real = os.path.realpath(link)
    if not (real == top or real.startswith(top.rstrip("/") + "/")):
        return f"to outside the submission ({target})"
    if not os.path.exists(real):
        return f"to a missing file ({target})"
    return ""


# ----------------------------------------------------------------------------------------------
# Finding the package
# ----------------------------------------------------------------------------------------------

def _is_package_root(d: Path, names: tuple) -> bool:
    """A package holding assignment subpackages: one of ``names``, or an ``__init__.py`` and at
    least one subpackage."""
    if any((d / n / "__init__.py").is_file() for n in names):
        return True
    return (d / "__init__.py").is_file() and any((s / "__init__.py").is_file() for s in d.iterdir() if s.is_dir())


def find_package(root: Path, names: tuple = (), shown_as: Optional[Path] = None, depth: int = 3) -> Path:
    """The package directory inside ``root``: ``root/student``, ``root`` itself, or the same inside
    a single wrapping directory."""
    shown = shown_as or root
    d = root.resolve()
    for _ in range(depth):
        if (d / "student").is_dir():
            return d / "student"
        if _is_package_root(d, names):
            return d
        entries = [e for e in d.iterdir() if e.name not in IGNORED_NAMES and not e.name.startswith(".")]
        subdirs = [e for e in entries if e.is_dir() and not e.is_symlink()]
        if len(subdirs) != 1 or any(e.is_file() and e.suffix == ".py" for e in entries):
            break
        d = subdirs[0]
    expected = f" or an assignment package ({', '.join(names)})" if names else ""
    raise SubmissionError(f"{shown}: no student package found (expected a `student/` package, "
                          f"a package directory with __init__.py{expected})")


# ----------------------------------------------------------------------------------------------
# Safe extraction
# ----------------------------------------------------------------------------------------------

def safe_member_path(name: str, archive: Path) -> Optional[PurePosixPath]:
    """The relative path of an archive member, or None for the archive root; reject escapes."""
    clean = name.replace("\\", "/")
    if clean.startswith("/") or (len(clean) > 1 and clean[1] == ":"):
        raise SubmissionError(f"{archive}: member {name!r} has an absolute path")
    parts = [p for p in PurePosixPath(clean).parts if p not in ("", ".")]
    if ".." in parts:
        raise SubmissionError(f"{archive}: member {name!r} points outside the archive ('..')")
    return PurePosixPath(*parts) if parts else None


def _link_escapes(member_path: PurePosixPath, target: str) -> bool:
    if target.startswith("/") or "\\" in target:
        return True
    depth = len(member_path.parts) - 1
    for part in PurePosixPath(target).parts:
        depth += -1 if part == ".." else (0 if part == "." else 1)
        if depth < 0:
            return True
    return False


class _Budget:
    """Counts extracted members and bytes against the caps."""

    def __init__(self, archive: Path):
        self.archive, self.members, self.bytes = archive, 0, 0

    def member(self) -> None:
        self.members += 1
        if self.members > MAX_MEMBERS:
            raise SubmissionError(f"{self.archive}: too many members (more than {MAX_MEMBERS})")

    def add(self, n: int) -> None:
        self.bytes += n
        if self.bytes > MAX_TOTAL_BYTES:
            raise SubmissionError(f"{self.archive}: too large when extracted (more than "
                                  f"{MAX_TOTAL_BYTES // 2**20} MiB)")


def _copy_stream(src, dest: Path, budget: _Budget) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    with open(dest, "wb") as out:
        while True:
            chunk = src.read(1 << 20)
            if not chunk:
                break
            budget.add(len(chunk))
            out.write(chunk)


def extract_zip(archive: Path, dest: Path) -> None:
    """Extract a zip archive safely (see the module docstring)."""
    budget = _Budget(archive)
    try:
        with zipfile.ZipFile(archive) as zf:
            infos = zf.infolist()
            for info in infos:  # validate everything before writing anything
                rel = safe_member_path(info.filename, archive)
                mode = info.external_attr >> 16
                if stat.S_ISLNK(mode) and rel is not None:
                    target = zf.read(info).decode("utf-8", "replace")
                    if _link_escapes(rel, target):
                        raise SubmissionError(f"{archive}: member {info.filename!r} is a link pointing outside "
                                              f"the archive ({target})")
            for info in infos:
                rel = safe_member_path(info.filename, archive)
                budget.member()
                mode = info.external_attr >> 16
                if rel is None or stat.S_ISLNK(mode):
                    continue
                if info.is_dir():
                    (dest / rel).mkdir(parents=True, exist_ok=True)
                    continue
                with zf.open(info) as src:
                    _copy_stream(src, dest / rel, budget)
    except SubmissionError:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError, NotImplementedError, ValueError) as exc:
        raise SubmissionError(f"{archive}: not a valid zip archive ({exc})") from None
    except OSError as exc:
        raise SubmissionError(f"{archive}: cannot read the archive ({exc.strerror or exc})") from None


def extract_tar(archive: Path, dest: Path) -> None:
    """Extract a .tar.gz / .tgz archive safely (see the module docstring)."""
    budget = _Budget(archive)
    try:
        with tarfile.open(archive, "r:*") as tf:
            members = tf.getmembers()
            for m in members:  # validate everything before writing anything
                rel = safe_member_path(m.name, archive)
                if m.issym() and rel is not None and _link_escapes(rel, m.linkname):
                    raise SubmissionError(f"{archive}: member {m.name!r} is a link pointing outside the "
                                          f"archive ({m.linkname})")
                if m.islnk():
                    safe_member_path(m.linkname, archive)  # hard links name another member
            for m in members:
                rel = safe_member_path(m.name, archive)
                budget.member()
                if rel is None or not (m.isfile() or m.isdir()):
                    continue  # links, devices, FIFOs are skipped
                if m.isdir():
                    (dest / rel).mkdir(parents=True, exist_ok=True)
                    continue
                src = tf.extractfile(m)
                if src is not None:
                    with src:
                        _copy_stream(src, dest / rel, budget)
    except SubmissionError:
        raise
    except (tarfile.TarError, zlib.error, EOFError, ValueError) as exc:
        raise SubmissionError(f"{archive}: not a valid .tar.gz archive ({exc})") from None
    except OSError as exc:
        raise SubmissionError(f"{archive}: cannot read the archive ({exc.strerror or exc})") from None


def class_members(directory: Path) -> list[Path]:
    """The submissions in a class folder: its sub-directories and archives, sorted by name."""
    if not directory.is_dir():
        raise SubmissionError(f"{directory}: not a directory")
    found = [p for p in sorted(directory.iterdir())
             if not p.name.startswith(".") and p.name not in IGNORED_NAMES and (p.is_dir() or is_archive(p))]
    if not found:
        raise SubmissionError(f"{directory}: no submissions (sub-directories or archives) found")
    return found

