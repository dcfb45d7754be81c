"""Process bookkeeping of the sandbox: the leased uid (``UidLease``), a worker's process tree and
the memory it holds (resident, memfd, SysV, scratch tmpfs), killing the uid's processes and
describing how a worker died.
"""

from __future__ import annotations

import os
import signal
import tempfile
import time
from pathlib import Path
from typing import Optional

from .isolation import MiB, SandboxError

UID_RANGE = range(61000, 65000)


class UidLease:
    """An unprivileged uid/gid held exclusively by this grader process (as root).

    The first uid of ``UID_RANGE`` with no passwd entry, no running process and a free lock file
    (``<tmp>/grader-uids/<uid>.lock``, ``flock``-ed while held): sequential runs get the same uid
    (reports stay identical), concurrent graders never share one, so limits per uid (processes)
    and the final sweep of the uid's processes concern this grader's workers only.
    """

    def __init__(self):
        import fcntl
        import pwd

        lock_dir = Path(tempfile.gettempdir()) / "grader-uids"
        lock_dir.mkdir(mode=0o700, exist_ok=True)
        running = {_owner(d) for d in Path("/proc").glob("[0-9]*")}
        for uid in UID_RANGE:
            try:
                pwd.getpwuid(uid)
                continue
            except KeyError:
                pass
            if uid in running:
                continue
            fd = os.open(lock_dir / f"{uid}.lock", os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                continue
            self.uid, self._fd = uid, fd
            return
        raise SandboxError(f"no free uid in {UID_RANGE.start}-{UID_RANGE.stop - 1} for the sandbox")

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _owner(proc_dir: Path) -> int:
    try:
        return proc_dir.stat().st_uid
    except OSError:
        return -1


_HAS_CHILDREN_FILES = os.path.exists(f"/proc/{os.getpid()}/task/{os.getpid()}/children")


def _proc_table() -> dict[int, int]:
    """pid -> parent pid of every process (Linux /proc)."""
    table = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat", "rb") as f:
                text = f.read()
            table[int(d)] = int(text[text.rindex(b")") + 2:].split()[1])
        except (OSError, ValueError):
            pass
    return table


def process_tree(pid: int) -> list[int]:
    """``pid`` and all its descendants (``/proc/<pid>/task/<tid>/children`` where the kernel has
    it: a few reads instead of one per process of the machine; else the whole process table)."""
    if not os.path.isdir("/proc"):
        return [pid]
    if _HAS_CHILDREN_FILES:
        out, todo = [], [pid]
        try:
            while todo:
                p = todo.pop()
                out.append(p)
                for tid in os.listdir(f"/proc/{p}/task"):
                    with open(f"/proc/{p}/task/{tid}/children") as f:
                        todo.extend(int(c) for c in f.read().split())
            return out
        except FileNotFoundError:
            if out and not os.path.exists(f"/proc/{pid}"):
                return out
        except (OSError, ValueError):
            pass  # a process that exited meanwhile: fall back to the full table
    children: dict[int, list[int]] = {}
    for p, pp in _proc_table().items():
        children.setdefault(pp, []).append(p)
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def _tree_status_mib(pid: int, keys: tuple) -> float:
    """Sum of /proc/<p>/status fields ``keys`` (kB) over a process tree, in MiB."""
    return _status_mib(process_tree(pid), keys)


def _status_mib(pids: list[int], keys: tuple) -> float:
    """Sum of /proc/<p>/status fields ``keys`` (kB) over processes, in MiB."""
    total_kb = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/status") as f:
                total_kb += sum(int(line.split()[1]) for line in f if line.startswith(keys))
        except (OSError, ValueError):
            pass
    return total_kb / 1024


def tree_memory_mb(pid: int) -> float:
    """Anonymous + shared-memory resident size of a process tree, in MiB (shared libraries are not
    counted: they are file-backed and the same for every submission)."""
    return _tree_status_mib(pid, ("RssAnon:", "RssShmem:"))


def memfd_mb(pids: list[int], *, maps: bool = True) -> float:
    """Memory held in memfd files (``memfd_create``) by these processes, in MiB: files open on a
    descriptor, and (``maps``) files only mapped (their descriptor closed). Written with
    ``write()`` and never mapped, such memory is in nobody's resident size (issue #9.7). Each file
    counts once (by device and inode), at its allocated size; a mapped-only file is stat-ed
    through ``/proc/<pid>/map_files`` (root) or else counted by the mapped length."""
    seen: set = set()
    total = 0
    for p in pids:
        try:
            fds = os.listdir(f"/proc/{p}/fd")
        except OSError:
            continue
        for fd in fds:
            link = f"/proc/{p}/fd/{fd}"
            try:
                if not os.readlink(link).startswith("/memfd:"):
                    continue
                st = os.stat(link)
            except OSError:
                continue
            if (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                total += st.st_blocks * 512
        if not maps:
            continue
        try:
            with open(f"/proc/{p}/maps") as f:
                lines = [line for line in f if "/memfd:" in line]
        except OSError:
            continue
        for line in lines:
            fields = line.split(None, 5)
            if len(fields) < 6:
                continue
            span, dev, inode = fields[0], fields[3], fields[4]
            key: tuple[int, int] | tuple[str, str]  # (device, inode): stat-ed, or as the maps line has them
            try:
                st = os.stat(f"/proc/{p}/map_files/{span}")
                key, size = (st.st_dev, st.st_ino), st.st_blocks * 512
            except OSError:
                start, end = (int(x, 16) for x in span.split("-"))
                key, size = (dev, inode), end - start
            if key not in seen:
                seen.add(key)
                total += size
    return total / MiB


def sysv_shm_mb(uid: Optional[int], pids: list[int]) -> float:
    """SysV shared memory segments of the worker (by owner uid or creator pid) visible in this
    IPC namespace, in MiB (only relevant when the worker has no IPC namespace of its own, where
    the worker forbids them)."""
    total = 0
    pidset = set(pids)
    try:
        with open("/proc/sysvipc/shm") as f:
            next(f, None)
            for line in f:
                fields = line.split()
                if len(fields) >= 8:
                    size, cpid, seg_uid = int(fields[3]), int(fields[4]), int(fields[7])
                    if cpid in pidset or (uid is not None and seg_uid == uid):
                        total += size
    except (OSError, ValueError, StopIteration):
        return 0.0
    return total / MiB


def scratch_mb(pid: int, path: str = "/tmp") -> float:
    """What the worker's private scratch tmpfs holds (files count as memory), in MiB, seen
    through ``/proc/<pid>/root`` (the worker's own mount namespace)."""
    try:
        st = os.statvfs(f"/proc/{pid}/root{path}")
    except OSError:
        return 0.0
    return (st.f_blocks - st.f_bfree) * st.f_frsize / MiB


def peak_memory_mb(pid: int) -> float:
    """VmHWM (peak resident size) summed over a process tree, in MiB."""
    return _tree_status_mib(pid, ("VmHWM:",))


def kill_uid(uid: int, wait: float = 5.0) -> int:
    """SIGKILL every process running as ``uid`` (the sandbox's leased uid) and wait until they are
    gone; return how many were killed."""
    killed = 0
    deadline = time.monotonic() + wait
    while True:
        pids = [int(d.name) for d in Path("/proc").glob("[0-9]*") if _owner(d) == uid]
        if not pids or time.monotonic() > deadline:
            return killed
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
                killed += 1
            except OSError:
                pass
        time.sleep(0.02)


def describe_exit(returncode: int) -> tuple[str, str]:
    """``(status, message)`` for a worker that died while running a probe."""
    sig = -returncode if returncode < 0 else (returncode - 128 if returncode > 128 else 0)
    if sig:
        try:
            name = signal.Signals(sig).name
        except ValueError:
            name = f"signal {sig}"
        if sig == signal.SIGXCPU:
            return "resource_limit", "CPU time limit exceeded (the worker was stopped by SIGXCPU)"
        if sig == signal.SIGKILL:
            return "resource_limit", "the worker was killed by SIGKILL (most likely out of memory)"
        if sig == signal.SIGSEGV:
            return "error", "your code crashed the worker with a segmentation fault (SIGSEGV)"
        return "error", f"your code crashed the worker ({name})"
    if returncode == 70:
        return "error", "the grading worker could not start"
    return "error", (f"the worker exited with status {returncode} while running your code "
                     "(os._exit or a closed grader pipe?)")
