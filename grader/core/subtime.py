"""When a submission was handed in, for the rubric's deadline policy (caps, the bonus deadline).

Where the time comes from, in order (``grader run``; docs/GRADER.md, docs/CLASS_RUNS.md):

1. ``--submitted-at ISO``: one time for every submission of the run;
2. ``--times FILE`` (class runs): a CSV of ``name,submitted_at`` rows, as LMS exports give;
3. with ``--submitted-at auto``: the submission's last git commit (the committer date of HEAD,
   ``git log -1 --format=%cI``), only when the submission folder is a git repository of its own;
   else the modification time of the archive or folder;
4. otherwise none: no cap applies (``--submitted-at none`` says so explicitly).

The inferred times (3) are opt-in: a class downloaded from an LMS after the deadline carries the
download time as its files' modification time, which would cap every student. Every report says
which source gave the time (``policy.submitted_at_source`` in the JSON report, and the cap notes).
"""

from __future__ import annotations

import csv
import datetime as _dt
import os
import subprocess
from pathlib import Path
from typing import Optional

SOURCE_OPTION = "--submitted-at"
SOURCE_TIMES = "--times file"
SOURCE_GIT = "last git commit"
SOURCE_MTIME = "file modification time"
AUTO, NONE = "auto", "none"

NAME_COLUMNS = ("name", "submission", "student", "login", "username", "user", "id")
TIME_COLUMNS = ("submitted_at", "submitted", "submission_time", "timestamp", "time", "date")
MAX_TIMES_BYTES = 20 * 1024 * 1024


class TimeError(ValueError):
    """A malformed time or times file; the message is one line."""


def parse_time(text: str, what: str) -> _dt.datetime:
    """An ISO 8601 date-time with a time zone (``Z`` allowed), else ``TimeError`` naming ``what``."""
    value = text.strip()
    try:
        t = _dt.datetime.fromisoformat(value)
    except ValueError:
        raise TimeError(f"{what}: not an ISO date-time: {value!r} (e.g. 2026-12-02T10:00+01:00)") from None
    if t.tzinfo is None:
        raise TimeError(f"{what}: {value} needs a time zone (e.g. +00:00 or Z)")
    return t


def git_commit_time(folder: Path, timeout: float = 10.0) -> Optional[_dt.datetime]:
    """The committer date of HEAD when ``folder`` is the top of a git repository of its own
    (``folder/.git`` exists), else None. The repository is the student's: git runs without a
    pager, hooks or fsmonitor, with a bounded time, and any failure (no git, no commit, a
    repository git refuses) is None."""
    if not (folder / ".git").exists():
        return None
    cmd = ["git", "--no-pager", "-c", "core.fsmonitor=", "-c", "core.hooksPath=/dev/null",
           "-c", f"safe.directory={folder.resolve()}", "-C", str(folder), "log", "-1", "--format=%cI"]
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "GIT_CONFIG_NOSYSTEM": "1", "HOME": "/nonexistent",
           "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"}
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        return None
    text = out.stdout.strip()
    if out.returncode != 0 or not text:
        return None
    try:
        return parse_time(text.splitlines()[0], "git")
    except TimeError:
        return None


def mtime(path: Path) -> _dt.datetime:
    """The modification time of ``path`` (not following a link), in UTC, to the second."""
    st = os.lstat(path)
    return _dt.datetime.fromtimestamp(int(st.st_mtime), _dt.timezone.utc)


def infer(path: Path) -> tuple[_dt.datetime, str]:
    """``--submitted-at auto`` for one submission: its last git commit, else its mtime."""
    path = Path(path)
    if path.is_dir() and not path.is_symlink():
        t = git_commit_time(path)
        if t is not None:
            return t, SOURCE_GIT
    return mtime(path), SOURCE_MTIME


def resolve_time(path: Path, option: Optional[str], times: Optional[dict] = None,
                 name: Optional[str] = None) -> tuple[Optional[_dt.datetime], str]:
    """``(time, source)`` of one submission (see the module docstring); ``(None, "none")`` when no
    time applies. ``option`` is the raw ``--submitted-at`` value (an ISO time, ``auto``, ``none``
    or None); ``times`` what ``read_times`` returned, by submission name."""
    if option not in (None, AUTO, NONE):
        return parse_time(option, SOURCE_OPTION), SOURCE_OPTION
    if times is not None and name is not None and name in times:
        return times[name], SOURCE_TIMES
    if option == AUTO:
        return infer(path)
    return None, NONE


def _column(header: list[str], names: tuple, fallback: int) -> int:
    lowered = [h.strip().lower().replace(" ", "_") for h in header]
    for n in names:
        if n in lowered:
            return lowered.index(n)
    return fallback


def read_times(path: Path) -> dict:
    """``--times FILE``: submission name -> time. A CSV with a header naming the columns (a name
    column: name, submission, student, login, username; a time column: submitted_at, submitted,
    timestamp, time, date) or, without a header, name and time as the first two columns. Every
    time needs a time zone. A malformed file is a ``TimeError`` naming the line."""
    path = Path(path)
    where = f"--times {path}"
    try:
        if path.stat().st_size > MAX_TIMES_BYTES:
            raise TimeError(f"{where}: larger than {MAX_TIMES_BYTES // 2**20} MiB")
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise TimeError(f"{where}: no such file") from None
    except UnicodeDecodeError:
        raise TimeError(f"{where}: not a UTF-8 text file") from None
    except OSError as exc:
        raise TimeError(f"{where}: cannot read it ({exc.strerror or exc})") from None
    try:
        rows = [(i, r) for i, r in enumerate(csv.reader(text.splitlines()), start=1) if any(c.strip() for c in r)]
    except csv.Error as exc:
        raise TimeError(f"{where}: not a valid CSV file ({exc})") from None
    if not rows:
        raise TimeError(f"{where}: no rows (expected name,submitted_at)")
    name_col, time_col = 0, 1
    first = rows[0][1]
    if len(first) >= 2 and not _looks_like_time(first[1] if len(first) > 1 else ""):
        name_col = _column(first, NAME_COLUMNS, 0)
        time_col = _column(first, TIME_COLUMNS, 1)
        if name_col == time_col:
            raise TimeError(f"{where}:{rows[0][0]}: the header names no separate name and time columns")
        rows = rows[1:]
    times: dict = {}
    for line, row in rows:
        if len(row) <= max(name_col, time_col):
            raise TimeError(f"{where}:{line}: expected a name and a time, got {len(row)} column(s)")
        name = row[name_col].strip()
        if not name:
            raise TimeError(f"{where}:{line}: empty name")
        t = parse_time(row[time_col], f"{where}:{line}")
        if name in times:
            raise TimeError(f"{where}:{line}: {name!r} appears twice")
        times[name] = t
    if not times:
        raise TimeError(f"{where}: a header but no rows")
    return times


def _looks_like_time(text: str) -> bool:
    try:
        _dt.datetime.fromisoformat(text.strip())
        return True
    except ValueError:
        return False
