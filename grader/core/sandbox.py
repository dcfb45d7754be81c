"""Isolated execution of probes: one sandboxed worker process per submission (DESIGN.md principle 3).

``IsolatedExecutor(package_dir)`` implements the engine's executor interface. It builds a fresh
sandbox directory::

    <tmp>/grader-sandbox-XXXX/         (root-owned, 0711)
        lib/                           read-only for the worker
            worker_main.py             the worker (standalone script)
            probe_runtime.py           shared with in-process runs
            config.json                paths, limits, environment
            submission/                a COPY of the submission package (``submission.<assignment>``)
            probes/<assignment>_probes.py   (or the package <assignment>_probes/)
        run/                           the worker's cwd, owned by the worker's uid; run/out/<id>.pt
        home/, tmp/                    HOME and TMPDIR of the worker
        log/worker.log                 stdout+stderr of the worker (read back as a tail only)

and starts ``python -I -S lib/worker_main.py launch ...``; see ``worker_main`` for the confinement
(namespaces, hidden paths, limits, privilege drop). The worker is reused across probes; a probe that
times out, crashes the worker or exceeds the memory limit costs that probe only: the worker is
killed (its whole process tree, or its PID namespace) and a fresh one is started for the next probe.

The parent never imports student code and never unpickles anything from the worker but
``torch.load(..., weights_only=True)`` of a size-capped regular file, whose result is then checked
to be plain data (tensors, numbers, strings, None, lists/tuples/dicts of those).
"""

from __future__ import annotations

import atexit
import functools
import io
import json
import os
import re
import secrets as _secrets
import select
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import torch

from . import course as course_mod
from .defaults import WORKER_MEMORY_MB
from . import runtime as wm  # the worker's folder, its clone flags, within()
from .assignment import Assignment
from .engine import ProbeOutcome
from .runtime import MAX_ELEMENTS
from .submission import MAX_PACKAGE_BYTES, MAX_PACKAGE_FILES, SubmissionLinkError, SubmissionTooLarge

HERE = Path(__file__).resolve().parent
MiB = 1024 * 1024
REPLY_STATUSES = {"ok", "not_attempted", "error", "resource_limit"}
MAX_REPLY_LINE = 1 * MiB
COPY_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", ".git", ".ipynb_checkpoints")


class SandboxError(RuntimeError):
    """The grader could not build or start the sandbox (a grader problem, not the submission's)."""


@dataclass
class IsolationOptions:
    """Limits and confinement of the worker. Sizes in MiB, times in seconds.

    memory_mb:     anonymous + shared memory of the worker's process tree (polled by the parent);
                   each process also gets RLIMIT_DATA = memory_mb + data_headroom_mb (torch's CUDA
                   build maps ~1 GiB of writable library data at import; RLIMIT_AS would break it).
    cpu_seconds:   RLIMIT_CPU of the worker (all its probes together; wall limits are per probe).
    fsize_mb:      RLIMIT_FSIZE: largest file the worker may write (captured output included).
    result_mb:     largest probe result file the parent will load.
    result_elements / result_items: most tensor elements / values in one probe result (what the
                   parent would materialise; see ``validate_plain``).
    nproc:         RLIMIT_NPROC (only with a dedicated uid, i.e. when the grader runs as root).
    namespaces:    try Linux namespaces (mount, network, PID; user namespace when not root).
    drop_privileges: None = when root; True/False to force.
    uid:           the unprivileged uid/gid to use as root (default: a leased one, see ``UidLease``).
    scratch_mb:    size of the worker's private tmpfs (TMPDIR, /tmp, /var/tmp, /dev/shm); what it
                   holds counts against memory_mb.
    secrets / expose: extra paths for the worker's file-system view (see worker_main): with a
                   mount namespace the worker sees an allow-list (system, interpreter, libraries,
                   the sandbox, shipped data, ``expose``) minus ``secrets``; without one, secrets
                   are protected by permissions (``HostProtection``).
    hide:          kept for callers; with the allow-list it is implied (nothing unlisted exists).
    """

    memory_mb: int = WORKER_MEMORY_MB
    data_headroom_mb: int = 1536
    cpu_seconds: int = 3600
    fsize_mb: int = 256
    scratch_mb: int = 256
    result_mb: int = 256
    result_elements: int = MAX_ELEMENTS
    result_items: int = 200_000
    nproc: int = 512
    nofile: int = 1024
    startup_timeout: float = 180.0
    import_timeout: float = 120.0
    poll_interval: float = 0.1
    namespaces: bool = True
    drop_privileges: Optional[bool] = None
    uid: Optional[int] = None
    hide: list = field(default_factory=list)
    secrets: list = field(default_factory=list)
    expose: list = field(default_factory=list)
    data_dir: Optional[str] = None
    keep_sandbox: bool = False
    given_dir: Optional[str] = None  # the released package whose given files replace the submission's; default: the course's student/


# ----------------------------------------------------------------------------------------------
# What the worker may see
# ----------------------------------------------------------------------------------------------

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


# ----------------------------------------------------------------------------------------------
# The isolation plan: decided once per grader process
# ----------------------------------------------------------------------------------------------

_PLAN: dict = {}


def isolation_plan() -> dict:
    """Which namespaces this kernel grants the grader: ``{"flags", "namespaces", "errors"}``.

    Asked once per process (``worker_main.py probe`` tries each set in a throw-away child); every
    worker then enters exactly these namespaces or does not start.
    """
    if not _PLAN:
        with tempfile.TemporaryDirectory(prefix="grader-probe-") as scratch:
            try:
                out = subprocess.run([sys.executable, "-I", "-S", str(wm.WORKER_DIR / "worker_main.py"), "probe", scratch],
                                     capture_output=True, text=True, timeout=60, env={"PATH": "/usr/bin:/bin"})
                _PLAN.update(json.loads(out.stdout.strip().splitlines()[-1]))
            except (OSError, ValueError, IndexError, subprocess.TimeoutExpired) as exc:
                _PLAN.update(flags=0, namespaces=[], errors=[f"probe failed: {exc}"])
    return dict(_PLAN)


class HostProtection:
    """Permission changes that keep secrets from the worker when there is no mount namespace.

    As root only: ``chmod go-rwx`` on each secret directory, ``chmod o+x`` (traverse, not list) on
    the directories between ``/`` and what the worker must reach (e.g. a Python under ``/root``).
    Each change is undone when the grader exits, if the mode is still the one set here.
    """

    def __init__(self):
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


# ----------------------------------------------------------------------------------------------
# Reading the worker's results
# ----------------------------------------------------------------------------------------------

class DataError(ValueError):
    """The worker's result file is not acceptable plain data."""


MAX_RESULT_ELEMENTS = MAX_ELEMENTS  # tensor elements in one probe result, all together (the worker's cap)
MAX_RESULT_ITEMS = 200_000        # values in one probe result (list/tuple/dict entries, numbers, strings)


def validate_plain(value: Any, path: str = "result", *, max_elements: int = MAX_RESULT_ELEMENTS,
                   max_items: int = MAX_RESULT_ITEMS) -> Any:
    """Check that a loaded result is plain data; return it with dict subclasses made plain dicts.

    Bounded by what it would materialise, not by its size on disk (issue #9.6): the tensors hold at
    most ``max_elements`` elements together, the containers at most ``max_items`` values. A tensor
    that is a view (its storage is not exactly its own elements: ``expand``-ed, stride 0,
    overlapping or offset strides, a slice of a larger storage) is replaced by a compact copy,
    after the count (so a 1.5 KB file can no longer make the parent allocate 9 GB).
    """
    items, elements = _count(value, path, 0, [0, 0], max_items)
    if elements > max_elements:
        raise DataError(f"your probe output has {elements} elements; the limit is {max_elements}")
    return _validate(value, path)


def _count(value: Any, path: str, depth: int, budget: list, max_items: int) -> tuple[int, int]:
    """``[values, tensor elements]`` of a loaded result (shapes only: nothing is materialised)."""
    budget[0] += 1
    if budget[0] > max_items:
        raise DataError(f"your probe output has more than {max_items} values (list, tuple and dict entries); "
                        f"the limit is {max_items}")
    if depth > 32:
        raise DataError(f"{path}: result too deeply nested (more than 32 levels)")
    if isinstance(value, torch.Tensor):
        budget[1] += _numel(value.shape)
    elif isinstance(value, dict):
        for k, v in value.items():
            _count(v, f"{path}[{k!r}]", depth + 1, budget, max_items)
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            _count(v, f"{path}[{i}]", depth + 1, budget, max_items)
    return budget[0], budget[1]


def _validate(value: Any, path: str) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, torch.Tensor):
        if value.layout != torch.strided or value.is_quantized or value.device.type != "cpu":
            raise DataError(f"{path}: unsupported tensor ({value.layout}, {value.device})")
        if not _owns_storage(value):
            value = value.contiguous().clone()  # bounded by the element cap checked before
        return value
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise DataError(f"{path}: dictionary keys must be strings")
        return {k: _validate(v, f"{path}[{k!r}]") for k, v in value.items()}
    if isinstance(value, (list, tuple)) and type(value) in (list, tuple):
        items = [_validate(v, f"{path}[{i}]") for i, v in enumerate(value)]
        return items if isinstance(value, list) else tuple(items)
    raise DataError(f"{path}: a {type(value).__name__} is not plain data")


def _numel(shape) -> int:
    n = 1
    for s in shape:
        n *= int(s)
    return n


def _owns_storage(t: torch.Tensor) -> bool:
    """True when ``t`` is contiguous, starts at offset 0 and its storage holds exactly its elements."""
    try:
        nbytes = t.untyped_storage().nbytes()
    except (RuntimeError, NotImplementedError):
        return False
    return t.is_contiguous() and t.storage_offset() == 0 and nbytes == t.numel() * t.element_size()


def load_result(path: Path, max_bytes: int, max_elements: int = MAX_RESULT_ELEMENTS,
                max_items: int = MAX_RESULT_ITEMS) -> Any:
    """Load a probe result written by the worker: a regular file (no link, no FIFO), size-capped,
    ``weights_only`` unpickling, plain data only, bounded element and value counts
    (``validate_plain``)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as exc:
        raise DataError(f"the probe result is missing ({exc.strerror})") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise DataError("the probe result is not a regular file")
        if st.st_size > max_bytes:
            raise DataError(f"the probe result is too large ({st.st_size // MiB} MiB > {max_bytes // MiB} MiB)")
        chunks, size = [], 0
        while size <= max_bytes:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > max_bytes:
            raise DataError("the probe result is too large")
    finally:
        os.close(fd)
    try:
        value = torch.load(io.BytesIO(b"".join(chunks)), weights_only=True, map_location="cpu")
    except Exception as exc:  # noqa: BLE001 - any malformed file is the worker's problem
        detail = re.search(r"Unsupported global: GLOBAL [\w.]+", str(exc))
        raise DataError("the probe result could not be read safely: it holds something other than plain data"
                        + (f" ({detail.group(0)})" if detail else f" ({type(exc).__name__})")) from None
    return validate_plain(value, max_elements=max_elements, max_items=max_items)


def crash_location(log_tail: str) -> str:
    """The innermost frames of the Python stack that faulthandler printed for a fatal signal."""
    frames = re.findall(r'File "([^"]+)", line (\d+) in (\S+)', log_tail.split("Extension modules:")[0])
    frames = [(f.rsplit("/", 1)[-1], line, fn) for f, line, fn in frames
              if "probe_runtime" not in f and "worker_main" not in f and not re.search(r"_probes(\.py|/)", f)]
    return " <- ".join(f"{f}:{line} in {fn}" for f, line, fn in frames[:3])


# ----------------------------------------------------------------------------------------------
# Process bookkeeping
# ----------------------------------------------------------------------------------------------

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


# ----------------------------------------------------------------------------------------------
# The worker handle
# ----------------------------------------------------------------------------------------------

class _Worker:
    """One running worker process and its pipes."""

    def __init__(self, argv: list[str], cwd: str, log_path: Path, env: dict):
        reply_r, reply_w = os.pipe()
        log_fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o600)
        try:
            self.proc = subprocess.Popen(
                argv + [str(reply_w)], stdin=subprocess.PIPE, stdout=log_fd, stderr=subprocess.STDOUT,
                pass_fds=(reply_w,), start_new_session=True, cwd=cwd, env=env, close_fds=True)
        finally:
            os.close(reply_w)
            os.close(log_fd)
        self.reply_fd = reply_r
        self.buffer = b""
        self.eof = False
        self.ready: Optional[dict] = None
        self.started = time.monotonic()
        self.polls = 0
        self.memfd_mapped = 0.0

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def send(self, message: dict) -> bool:
        try:
            self.proc.stdin.write((json.dumps(message) + "\n").encode())
            self.proc.stdin.flush()
            return True
        except (BrokenPipeError, OSError):
            return False

    def drain(self) -> None:
        """Discard whatever is pending on the reply pipe (stale or forged lines)."""
        while not self.eof and select.select([self.reply_fd], [], [], 0)[0]:
            chunk = os.read(self.reply_fd, 65536)
            if not chunk:
                self.eof = True
        self.buffer = b""

    def read_line(self, timeout: float) -> Optional[bytes]:
        """One reply line, or None if none arrived within ``timeout`` (or the pipe is closed)."""
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buffer:
            if len(self.buffer) > MAX_REPLY_LINE:
                self.buffer = b""  # an endless line is junk
            remaining = deadline - time.monotonic()
            if self.eof or remaining <= 0:
                return None
            if not select.select([self.reply_fd], [], [], remaining)[0]:
                return None
            chunk = os.read(self.reply_fd, 65536)
            if not chunk:
                self.eof = True
                return None
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        return line

    def kill(self) -> None:
        """Kill the worker's process group (with a PID namespace: everything in it) and reap it."""
        for target in (lambda: os.killpg(self.proc.pid, signal.SIGKILL), lambda: self.proc.kill()):
            try:
                target()
            except (ProcessLookupError, PermissionError, OSError):
                pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:  # pragma: no cover
            pass
        for f in (self.proc.stdin,):
            try:
                f.close()
            except OSError:
                pass
        try:
            os.close(self.reply_fd)
        except OSError:
            pass


class _Job(threading.Thread):
    """A submitted probe: ``IsolatedExecutor.run`` in a thread (it mostly waits on the pipe).
    ``timeout`` may be changed while it runs (``IsolatedExecutor.set_timeout``)."""

    def __init__(self, fn, *args, timeout: float, **kwargs):
        super().__init__(daemon=True, name="grader-probe")
        self.timeout = timeout
        self._call = (fn, args, {**kwargs, "timeout": lambda: self.timeout})
        self._result: Optional[ProbeOutcome] = None
        self._error: Optional[BaseException] = None

    def run(self) -> None:
        fn, args, kwargs = self._call
        try:
            self._result = fn(*args, **kwargs)
        except BaseException as exc:  # noqa: BLE001 - handed to the collecting thread
            self._error = exc

    def outcome(self) -> ProbeOutcome:
        self.join()
        if self._error is not None:
            raise self._error
        return self._result


# ----------------------------------------------------------------------------------------------
# The executor
# ----------------------------------------------------------------------------------------------

class IsolatedExecutor:
    """Runs probes against ``package_dir`` (a package holding assignment subpackages) in a
    sandboxed worker. Use as a context manager, or call ``close()``."""

    def __init__(self, package_dir: Path | str, options: Optional[IsolationOptions] = None):
        if os.name != "posix":
            raise SandboxError("isolated grading needs Linux or macOS; use --in-process")
        self.package_dir = Path(package_dir).resolve()
        if not self.package_dir.is_dir():
            raise SandboxError(f"{package_dir}: not a directory")
        self.options = options or IsolationOptions()
        self.is_root = hasattr(os, "geteuid") and os.geteuid() == 0
        drop = self.options.drop_privileges
        self.drop = self.is_root if drop is None else (drop and self.is_root)
        self._lease = UidLease() if self.drop and self.options.uid is None else None
        self.uid = (self._lease.uid if self._lease else self.options.uid) if self.drop else None
        self.base = Path(tempfile.mkdtemp(prefix="grader-sandbox-"))
        self.lib, self.run_dir, self.log = self.base / "lib", self.base / "run", self.base / "log" / "worker.log"
        self.scratch_dir = self.base / "tmp"  # TMPDIR; a private tmpfs (also /tmp, /dev/shm) with a mount namespace
        self._worker: Optional[_Worker] = None
        self._imports: dict[str, Optional[ProbeOutcome]] = {}
        self._installed: set[str] = set()
        self._given_done: set[str] = set()
        self.remarks: list[str] = []  # for the report: given code replaced by the course's (issue #9.5)
        self.given_replaced: dict[str, list[str]] = {}
        self.facts: dict = {}
        self._job: Optional[_Job] = None
        self.plan: dict = {}
        self.start_failures: list[str] = []
        self.restarts = 0
        self.peak_worker_mb = 0.0
        self.closed = False
        try:
            self._build()
        except Exception:
            self.close()
            raise
        self._worker = self._spawn()  # start early: torch's import overlaps the reference's probes

    # -- sandbox -------------------------------------------------------------------------------

    def _build(self) -> None:
        o = self.options
        os.chmod(self.base, 0o711)
        self.lib.mkdir(mode=0o755)
        (self.lib / "probes").mkdir(mode=0o755)
        (self.base / "log").mkdir(mode=0o700)
        for name in wm.WORKER_FILES:
            shutil.copy(wm.WORKER_DIR / name, self.lib / name)
        _copy_package(self.package_dir, self.lib / "submission")
        (self.lib / "submission" / "__init__.py").touch()  # a package even when handed in without one
        for d in ("run", "run/out", "home", "tmp"):
            (self.base / d).mkdir(mode=0o700)
            if self.drop:
                os.chown(self.base / d, self.uid, self.uid)
        (self.base / "root").mkdir(mode=0o755)  # mount point of the worker's new root (worker_main.build_view)
        self._make_readable(self.lib)
        course_data = course_mod.current().data
        data_dir = o.data_dir or (str(course_data) if course_data.is_dir() else None)
        expose = [sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix, str(self.lib)]
        expose += worker_sys_path() + ([data_dir] if data_dir else []) + list(o.expose)
        writable = [str(self.run_dir), str(self.base / "home")]
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(self.base / "home"),
               "TMPDIR": str(self.base / "tmp"), "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
               "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONHASHSEED": "0",
               "MPLCONFIGDIR": str(self.base / "tmp"), "MPLBACKEND": "Agg", "NO_ALBUMENTATIONS_UPDATE": "1"}
        if data_dir:
            env["GRADER_DATA_DIR"] = data_dir
        if os.environ.get("GRADER_TINYCOCO_DIR"):  # `grader run --data DIR` (exposed through o.expose)
            env["GRADER_TINYCOCO_DIR"] = os.environ["GRADER_TINYCOCO_DIR"]
        limits = {"cpu_seconds": o.cpu_seconds, "data_bytes": (o.memory_mb + o.data_headroom_mb) * MiB,
                  "fsize_bytes": o.fsize_mb * MiB, "nofile": o.nofile, "core_bytes": 0, "msgqueue_bytes": 0,
                  "nproc": o.nproc if self.drop else None}
        plan = isolation_plan() if o.namespaces else {"flags": 0, "namespaces": [], "errors": ["disabled"]}
        secrets = default_secrets() + [str(p) for p in o.secrets]
        fallback = None
        if not plan["flags"] & wm.CLONE_NEWNS and self.drop:
            protection = protect_host(secrets, [str(p) for p in expose + writable + [str(self.base / "tmp")]])
            fallback = {"mode": "permissions", "protected": [p for p in secrets if os.path.isdir(p)],
                        "host_changes": protection.describe()}
        self.plan = plan
        config = {
            "lib_dir": str(self.lib), "run_dir": str(self.run_dir), "python": sys.executable,
            "sys_path": worker_sys_path(), "drop": self.drop, "uid": self.uid, "gid": self.uid,
            "ns_flags": plan["flags"], "filesystem_fallback": fallback, "limits": limits, "env": env,
            "root_dir": str(self.base / "root"), "scratch_dir": str(self.scratch_dir),
            "scratch_size": f"{o.scratch_mb}m", "writable": writable, "secrets": secrets,
            "expose": [str(p) for p in expose],
        }
        (self.lib / "config.json").write_text(json.dumps(config, indent=1))
        os.chmod(self.lib / "config.json", 0o644)

    @staticmethod
    def _make_readable(top: Path) -> None:
        for dirpath, dirnames, filenames in os.walk(top):
            os.chmod(dirpath, 0o755)
            for f in filenames:
                os.chmod(os.path.join(dirpath, f), 0o644)

    def _install_probes(self, assignment: Assignment) -> None:
        """Copy the assignment's probes (``probes.py``, or the ``probes/`` package whole) into the
        sandbox's ``lib/probes/`` as ``<name>_probes.py`` or ``<name>_probes/``."""
        if assignment.name not in self._installed:
            source = Path(assignment.probes_file)
            if source.is_dir():
                target = self.lib / "probes" / f"{assignment.name}_probes"
                shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
                self._make_readable(target)
            else:
                target = self.lib / "probes" / f"{assignment.name}_probes.py"
                shutil.copy(source, target)
                os.chmod(target, 0o644)
            self._installed.add(assignment.name)

    def _install_given(self, assignment: Assignment) -> None:
        """Replace the package's given files (rubric ``given``) in the sandbox copy by the
        course's own (``given_dir/<package>/<file>``, the released ``student/`` of the
        checkout), before the package is first imported (issue #9.5). A submission whose copy
        differs (or lacks it) gets a remark in ``remarks``; if another package of it was
        imported already (it may have loaded the changed file), the worker is restarted."""
        package = assignment.rubric.package
        given = getattr(assignment.rubric, "given", ())
        if not given or package in self._given_done:
            return
        self._given_done.add(package)
        target_pkg = self.lib / "submission" / package
        if not target_pkg.is_dir():
            return  # not handed in: stays "not attempted"
        course = Path(self.options.given_dir) if self.options.given_dir else course_mod.current().student
        changed, missing = [], []
        for rel in given:
            src = course / package / rel
            if not src.is_file():
                raise SandboxError(f"the course's copy of the given file {package}/{rel} is missing ({src})")
            dst = target_pkg / rel
            if dst.is_file() and not dst.is_symlink() and dst.read_bytes() == src.read_bytes():
                continue
            (changed if os.path.lexists(dst) else missing).append(rel)
            if dst.is_dir() and not dst.is_symlink():
                shutil.rmtree(dst)
            elif os.path.lexists(dst):
                dst.unlink()
            dst.parent.mkdir(parents=True, exist_ok=True)
            os.chmod(dst.parent, 0o755)
            shutil.copyfile(src, dst)
            os.chmod(dst, 0o644)
        parts = ([f"changed: {', '.join(changed)}"] if changed else []) + ([f"missing: {', '.join(missing)}"] if missing else [])
        if parts:
            self.remarks.append(f"{package}: given code {'; '.join(parts)}; graded with the course's original")
            self.given_replaced[package] = changed + missing
            if self._imports:  # a package imported earlier may have loaded the submission's version
                self._discard_worker()

    # -- worker lifecycle ----------------------------------------------------------------------

    def _spawn(self) -> _Worker:
        argv = [sys.executable, "-I", "-S", str(self.lib / "worker_main.py"), "launch", str(self.lib / "config.json")]
        env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}
        return _Worker(argv, str(self.run_dir), self.log, env)

    def _log_tail(self, limit: int = 4000) -> str:
        """The end of the worker's captured output, with sandbox paths shortened."""
        try:
            with open(self.log, "rb") as f:
                f.seek(0, os.SEEK_END)
                f.seek(max(0, f.tell() - limit))
                text = f.read().decode("utf-8", "replace")
        except OSError:
            return ""
        return text.replace(str(self.lib) + "/", "").replace(str(self.base), "<sandbox>").strip()

    def _ready_worker(self) -> _Worker:
        """The running worker, started and past its ready message (one retry: the worker fails
        closed when its confinement cannot be set up, which may be transient)."""
        try:
            return self._wait_ready()
        except SandboxError as exc:
            self.start_failures.append(str(exc))
            return self._wait_ready()

    def _wait_ready(self) -> _Worker:
        if self.closed:
            raise SandboxError("the sandbox is closed")
        if self._worker is None:
            self._worker = self._spawn()
        w = self._worker
        deadline = w.started + self.options.startup_timeout
        while w.ready is None:
            line = w.read_line(max(0.0, min(1.0, deadline - time.monotonic())))
            if line is not None:
                try:
                    msg = json.loads(line)
                except ValueError:
                    continue
                if isinstance(msg, dict) and msg.get("op") == "ready":
                    w.ready = msg
                    self.facts = msg.get("facts", {})
                continue
            if w.eof or not w.alive() or time.monotonic() > deadline:
                w.kill()
                self._worker = None
                tail = self._log_tail(600).replace("\n", " | ")
                raise SandboxError(f"the grading worker failed to start (exit status {w.proc.returncode}): {tail}")
        return w

    def _discard_worker(self) -> None:
        """Kill the current worker (and any stray process of the sandbox uid); start a fresh one."""
        if self._worker is not None:
            self._note_peak(self._worker)
            self._worker.kill()
        if self.uid is not None:
            kill_uid(self.uid)
        self.restarts += 1
        self._worker = None if self.closed else self._spawn()

    def _note_peak(self, w: _Worker) -> None:
        if os.path.isdir("/proc") and w.alive():
            self.peak_worker_mb = max(self.peak_worker_mb, peak_memory_mb(w.pid))

    def close(self) -> None:
        """Stop the worker and remove the sandbox. Idempotent."""
        if self.closed:
            return
        self.closed = True
        if self._worker is not None:
            self._note_peak(self._worker)
            self._worker.kill()
            self._worker = None
        if self.uid is not None:
            kill_uid(self.uid)
        if self._lease is not None:
            self._lease.release()
        if not self.options.keep_sandbox:
            shutil.rmtree(self.base, ignore_errors=True)

    def __enter__(self) -> "IsolatedExecutor":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self):  # pragma: no cover - best effort
        try:
            self.close()
        except Exception:  # noqa: BLE001
            pass

    # -- requests ------------------------------------------------------------------------------

    def run(self, assignment: Assignment, probe: str, *, threads: int = 1, timeout=0, seed: int = 0,
            late_inputs=None) -> ProbeOutcome:
        """Run one probe of ``assignment`` in the worker (engine executor interface). ``timeout``:
        seconds, or a function returning them (read again while the probe runs). ``seed`` reaches
        the probe's context; ``late_inputs`` (a function here) answers the probe's request for
        them, written to the run folder only when the probe asks."""
        self._install_probes(assignment)
        self._install_given(assignment)
        package = assignment.rubric.package
        if assignment.name not in self._imports:
            outcome = self._roundtrip({"op": "import", "package": package, "assignment": assignment.name},
                                      self.options.import_timeout)
            if outcome.status == "timeout":
                outcome.message = f"importing your `{package}` package did not finish: {outcome.message}"
            elif outcome.status != "ok" and not outcome.message.startswith(("importing", "not attempted")):
                outcome.message = f"importing your `{package}` package: {outcome.message}"
            self._imports[assignment.name] = None if outcome.status == "ok" else outcome
        failed = self._imports[assignment.name]
        if failed is not None:
            return ProbeOutcome(failed.status, message=failed.message)
        request = {"op": "probe", "assignment": assignment.name, "package": package, "probe": probe,
                   "threads": int(threads), "seed": int(seed)}
        return self._roundtrip(request, timeout if callable(timeout) else (timeout or 60.0), late_inputs)

    def submit(self, assignment: Assignment, probe: str, *, threads: int = 1, timeout: float = 0, seed: int = 0,
               late_inputs=None) -> "_Job":
        """Start ``run`` in a watcher thread and return at once (the engine computes the reference
        meanwhile). The thread enforces the time and memory limits as ``run`` does; ``timeout``
        can be changed with ``set_timeout`` while the probe runs. One job at a time: ``collect``
        it before the next ``submit``."""
        if self._job is not None and self._job.is_alive():
            raise RuntimeError("IsolatedExecutor: collect the running job before submitting another")
        self._job = _Job(self.run, assignment, probe, threads=threads, timeout=timeout or 60.0, seed=seed,
                         late_inputs=late_inputs)
        self._job.start()
        return self._job

    @staticmethod
    def set_timeout(job: "_Job", seconds: float) -> None:
        """The probe's real wall-time limit, counted from its start."""
        job.timeout = seconds

    @staticmethod
    def done(job: "_Job", wait: float = 0.0) -> bool:
        """Whether a submitted probe has finished (waiting up to ``wait`` seconds)."""
        job.join(wait)
        return not job.is_alive()

    @staticmethod
    def collect(job: "_Job") -> ProbeOutcome:
        """Wait for a submitted probe; its outcome (or the grader error it raised)."""
        return job.outcome()

    def _roundtrip(self, request: dict, timeout, late_inputs=None) -> ProbeOutcome:
        """Send one request; wait for its reply while watching time, memory and the process.
        ``timeout``: seconds, or a function returning them (checked at every poll).
        ``late_inputs``: answers the probe's one request for them (see ``_answer_late``)."""
        limit = timeout if callable(timeout) else (lambda: timeout)
        w = self._ready_worker()
        request["id"] = _secrets.token_hex(8)
        w.drain()
        start = time.monotonic()
        if not w.send(request):
            return self._lost(w, start)
        next_memory_check = start
        while True:
            now = time.monotonic()
            deadline = start + limit()
            if now >= deadline:
                self._discard_worker()
                return ProbeOutcome("timeout", message=f"time limit exceeded: stopped after {limit():.3g} s",
                                    seconds=now - start)
            line = w.read_line(min(self.options.poll_interval, deadline - now))
            if line is not None:
                if b'"late_inputs"' in line[:200]:
                    late_inputs = self._answer_late(w, line, request, late_inputs)
                    continue
                reply = self._parse_reply(line, request["id"])
                if reply is not None:
                    return self._outcome(reply, request, time.monotonic() - start)
                continue
            if w.eof or not w.alive():
                return self._lost(w, start)
            if time.monotonic() >= next_memory_check and os.path.isdir("/proc"):
                next_memory_check = time.monotonic() + self.options.poll_interval
                used, parts = self._memory_used(w)
                if used > self.options.memory_mb:
                    self._discard_worker()
                    where = ", ".join(f"{k} {v:.0f} MiB" for k, v in parts.items() if v >= 1)
                    return ProbeOutcome("resource_limit", seconds=time.monotonic() - start,
                                        message=f"memory limit exceeded ({used:.0f} MiB > {self.options.memory_mb} MiB: "
                                                f"{where})")

    def _memory_used(self, w: "_Worker") -> tuple[float, dict]:
        """Memory the worker holds, in MiB, and its parts: resident anonymous and shared memory of
        its process tree, memfd files (open or mapped), its private scratch tmpfs, SysV segments
        (issue #9.7). ``/proc/<pid>/maps`` is read every 5th poll only (a few ms with torch)."""
        pids = process_tree(w.pid)
        w.polls += 1
        parts = {"resident": _status_mib(pids, ("RssAnon:", "RssShmem:")),
                 "memfd": memfd_mb(pids, maps=w.polls % 5 == 1),
                 "scratch tmpfs": 0.0, "SysV shared memory": 0.0}
        if self.plan.get("flags", 0) & wm.CLONE_NEWNS:
            for p in reversed(pids):
                parts["scratch tmpfs"] = scratch_mb(p)
                if parts["scratch tmpfs"]:
                    break
        if not self.plan.get("flags", 0) & wm.CLONE_NEWIPC:
            parts["SysV shared memory"] = sysv_shm_mb(self.uid, pids)
        if not (w.polls % 5 == 1):  # keep the mapped-memfd size of the last full scan
            parts["memfd"] = max(parts["memfd"], w.memfd_mapped)
        else:
            w.memfd_mapped = parts["memfd"]
        return sum(parts.values()), parts

    def _answer_late(self, w: "_Worker", line: bytes, request: dict, late_inputs):
        """Answer a probe's request for its late inputs: built here only now, saved into the run
        folder, path sent on the request pipe. Answered once; returns what later asks get."""
        try:
            ask = json.loads(line)
        except ValueError:
            return late_inputs
        if not isinstance(ask, dict) or ask.get("op") != "late_inputs" or ask.get("id") != request["id"]:
            return late_inputs
        answer = {"op": "late_inputs", "id": request["id"]}
        if late_inputs is None:
            answer["error"] = "none declared, or already sent"
        else:
            import torch

            # In the worker's read-only library folder (the worker cannot plant a link there).
            folder = self.lib / "late"
            folder.mkdir(mode=0o755, exist_ok=True)
            path = folder / f"{request['id']}.pt"
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o644)
            with os.fdopen(fd, "wb") as f:
                torch.save(late_inputs(), f)
            answer["path"] = str(path)
        w.send(answer)
        return None

    @staticmethod
    def _parse_reply(line: bytes, request_id: str) -> Optional[dict]:
        """A well-formed reply to this request, or None (junk and forged lines are ignored)."""
        try:
            reply = json.loads(line)
        except ValueError:
            return None
        if not isinstance(reply, dict) or reply.get("id") != request_id:
            return None
        if reply.get("status") not in REPLY_STATUSES or not isinstance(reply.get("message", ""), str):
            return None
        return reply

    def _outcome(self, reply: dict, request: dict, seconds: float) -> ProbeOutcome:
        """Turn a reply into a ProbeOutcome, loading the data file when there is one."""
        status = reply["status"]
        message = self._clean(reply.get("message", ""))
        output = self._clean(str(reply.get("output", "")))[-2000:]
        out_file = self.run_dir / "out" / f"{request['id']}.pt"
        data = None
        if status == "ok" and request.get("op") == "probe":
            try:
                data = load_result(out_file, self.options.result_mb * MiB, self.options.result_elements,
                                   self.options.result_items)
            except DataError as exc:
                status, message = ("resource_limit" if "too large" in str(exc) else "error"), str(exc)
        try:
            out_file.unlink()
        except OSError:
            pass
        return ProbeOutcome(status, data, message[:2000], seconds, output)

    def _clean(self, text: str) -> str:
        return text.replace(str(self.lib) + "/", "").replace(str(self.base), "<sandbox>")

    def _lost(self, w: _Worker, start: float) -> ProbeOutcome:
        """The worker died or closed its pipe during a request."""
        try:
            w.proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            pass
        code = w.proc.returncode
        tail = self._log_tail(16000)
        self._discard_worker()
        if code is None:
            return ProbeOutcome("error", seconds=time.monotonic() - start,
                                message="lost contact with the worker (did your code close or write to the grader's pipes?)")
        status, message = describe_exit(code)
        where = crash_location(tail)
        if where and status == "error":
            message += f" (at {where})"
        output = tail.split("Extension modules:")[0].strip()[-2000:]
        return ProbeOutcome(status, message=message[:2000], seconds=time.monotonic() - start, output=output)

    # -- report --------------------------------------------------------------------------------

    def info(self) -> dict:
        """What isolation was in force (for the report; the sandbox's random name is left out)."""
        return json.loads(self._clean(json.dumps(self._info())))

    def _info(self) -> dict:
        return {
            "mode": "isolated",
            "user": self.facts.get("user", {}),
            "namespaces": self.facts.get("namespaces", []),
            "network": self.facts.get("network", "unknown"),
            "filesystem": self.facts.get("filesystem", {}),
            "pid_namespace": self.facts.get("pid_namespace", False),
            "sysv_ipc": self.facts.get("sysv_ipc", "unknown"),
            "limits": {**self.facts.get("limits", {}), "memory_mb_polled": self.options.memory_mb},
            "notes": self.facts.get("notes", []) + [f"namespaces refused: {e}" for e in self.plan.get("errors", [])],
            "remarks": list(self.remarks),
            "start_failures": self.start_failures,
            "worker_restarts": self.restarts,
        }
