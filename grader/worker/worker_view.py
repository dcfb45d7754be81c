"""The worker's file-system view: an allow-list root in its mount namespace (see ``worker_main``).

``build_view`` assembles the new root on an empty tmpfs (read-only system paths, the sandbox's
``lib``, shipped data; writable ``run``, ``home`` and a private scratch tmpfs; the grader's secrets
covered), ``enter_root`` makes it the root and detaches the host's tree. Standard library only.
"""

from __future__ import annotations

import ctypes
import os

# ``TYPE_CHECKING`` (False here, read as True by type checkers, without importing ``typing`` before
# the worker confines itself): mypy sees the package imports only, the flat files import the same names.
TYPE_CHECKING = False
if TYPE_CHECKING or __package__:  # imported as grader.worker.worker_view (the grader's tests)
    from .worker_namespaces import (MS_BIND, MS_NODEV, MS_NOEXEC, MS_NOSUID, MS_PRIVATE, MS_RDONLY, MS_REC,
                                    MS_REMOUNT, _check, _libc, mount, within)
else:  # the sandbox's lib/: flat files
    from worker_namespaces import (MS_BIND, MS_NODEV, MS_NOEXEC, MS_NOSUID, MS_PRIVATE, MS_RDONLY, MS_REC,
                                   MS_REMOUNT, _check, _libc, mount, within)

# What every worker sees read-only besides its own paths: the system's programs and libraries and
# the few /etc files the dynamic linker and the standard library read (no host configuration,
# no /home, /srv, /opt, /run, /var, /mnt, /media).
SYSTEM_PATHS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
ETC_FILES = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "timezone", "nsswitch.conf", "hosts",
             "host.conf", "fonts", "alternatives", "mime.types", "os-release")
DEV_FILES = ("null", "zero", "full", "random", "urandom")
SYS_DIRS = ("/sys/devices/system/cpu", "/sys/devices/system/node")  # CPU topology (torch's cpuinfo)
MNT_DETACH = 2
SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41, "ppc64le": 203, "s390x": 217, "riscv64": 41}


def _pivot_root(new: str, old: str) -> None:
    number = SYS_PIVOT_ROOT.get(os.uname().machine)
    if number is None:
        raise OSError(0, f"pivot_root: unknown system call number on {os.uname().machine}")
    _check(_libc().syscall(ctypes.c_long(number), os.fsencode(new), os.fsencode(old)), "pivot_root")


def _umount(target: str, flags: int) -> None:
    _check(_libc().umount2(os.fsencode(target), ctypes.c_int(flags)), f"umount {target}")


def _make_path(root: str, path: str, is_dir: bool) -> str:
    """Create ``path`` inside the new root ``root`` as it is on the host: directories, and the
    host's symbolic links along the way recreated as links (``/lib -> usr/lib``). Returns the
    host path with every link resolved (what gets bound)."""
    parts = [p for p in path.split("/") if p]
    cur = ""
    for i, part in enumerate(parts):
        cur += "/" + part
        inner = root + cur
        if os.path.islink(cur):
            if not os.path.lexists(inner):
                os.symlink(os.readlink(cur), inner)
            rest = "/".join(parts[i + 1:])
            real = os.path.realpath(cur)
            return _make_path(root, real + ("/" + rest if rest else ""), is_dir)
        if i < len(parts) - 1 or is_dir:
            if not os.path.isdir(inner):
                os.mkdir(inner, 0o755)
        elif not os.path.lexists(inner):
            os.close(os.open(inner, os.O_WRONLY | os.O_CREAT, 0o644))
    return cur or "/"


def _mount_options(target: str) -> dict[str, str]:
    """Mount point -> its options, for ``target`` and every mount below it (/proc/self/mountinfo)."""
    out = {}
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            point = fields[4].replace("\\040", " ").replace("\\011", "\t").replace("\\012", "\n").replace("\\134", "\\")
            if within(point, target):
                out[point] = fields[5]
    return out


def _read_only(target: str) -> None:
    """Remount ``target`` and every mount below it read-only, keeping the flags a user namespace
    locks (nosuid, nodev, noexec; atime flags are kept by the kernel on a bind remount)."""
    for point, options in sorted(_mount_options(target).items()):
        opts = set(options.split(","))
        flags = MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | (MS_NOEXEC if "noexec" in opts else 0)
        mount(None, point, None, flags)


def _bind(root: str, path: str, *, writable: bool, visible: tuple = ()) -> str:
    """Bind the host's ``path`` (directory or file) at the same place inside ``root`` (links on
    the way recreated as links); nothing is bound when its target is inside ``visible`` already.
    Returns the bound host path, or ""."""
    real = _make_path(root, path, os.path.isdir(path))
    if any(within(real, v) for v in visible):
        return ""
    inner = root + real
    mount(real, inner, None, MS_BIND | MS_REC)
    if writable:
        mount(None, inner, None, MS_REMOUNT | MS_BIND | MS_NOSUID | MS_NODEV)
    else:
        _read_only(inner)
    return real


def _outermost(paths) -> list[str]:
    """Existing absolute paths (normalised, links kept), without those inside another one."""
    out: list[str] = []
    for p in sorted({os.path.normpath(p) for p in paths if p and os.path.isabs(p) and os.path.exists(p)},
                    key=lambda q: (len(q), q)):
        if not any(within(p, o) for o in out):
            out.append(p)
    return out

def build_view(cfg: dict, facts: dict) -> str:
    """Inside a fresh mount namespace: assemble the worker's file system on an empty tmpfs (the
    new root, entered later by ``enter_root``). Only what is listed is there (issue #9.8):

    - read-only: ``SYSTEM_PATHS``, ``ETC_FILES``, CPU topology in /sys, the interpreter and its
      libraries, the sandbox's ``lib`` (worker, probes, submission copy), shipped data
      (``expose``); the grader's secrets inside those are covered by empty read-only tmpfs;
    - writable: the worker's ``run`` and ``home`` directories (``writable``, removed with the
      sandbox), and one private size-capped tmpfs (``scratch``: its TMPDIR, also mounted at /tmp,
      /var/tmp and /dev/shm; counted in the memory limit by the grader);
    - /dev: a tmpfs with null, zero, full, random, urandom; /proc: the PID namespace's own.

    Nothing else of the host exists there: no /home, /srv, /run (lock files, host unix
    sockets), no other checkout. Returns the new root."""
    import time

    started = time.perf_counter()
    mount(None, "/", None, MS_REC | MS_PRIVATE)
    root = cfg["root_dir"]
    size = cfg.get("scratch_size", "256m")
    mount("tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV, "mode=755,size=4m")
    # The scratch tmpfs and /dev first: the sandbox itself may live under /tmp.
    for d in ("/tmp", "/var", "/var/tmp", "/dev", "/proc"):
        os.mkdir(root + d, 0o755)
    mount("tmpfs", root + "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, f"mode=1777,size={size}")
    dev = root + "/dev"
    mount("tmpfs", dev, "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=755,size=64k")
    for name in DEV_FILES:
        if os.path.exists(f"/dev/{name}"):
            os.close(os.open(f"{dev}/{name}", os.O_WRONLY | os.O_CREAT, 0o666))
            mount(f"/dev/{name}", f"{dev}/{name}", None, MS_BIND)
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1"),
                         ("stderr", "/proc/self/fd/2")):
        os.symlink(target, f"{dev}/{name}")
    os.mkdir(dev + "/shm", 0o755)
    for shared in ("/var/tmp", "/dev/shm"):
        mount(root + "/tmp", root + shared, None, MS_BIND)
    visible: list[str] = []
    refused: list[str] = []
    readable = list(SYSTEM_PATHS) + [f"/etc/{n}" for n in ETC_FILES] + [d for d in SYS_DIRS] + list(cfg["expose"])
    # Never expose a directory holding the worker's own mount points (/, /tmp, the sandbox).
    own = ["/tmp", "/var/tmp", "/dev", "/proc", root, cfg["scratch_dir"]] + list(cfg.get("writable", []))
    # Paths without links first (``/bin -> usr/bin`` then only adds a link to the bound /usr).
    for p in readable:
        if p and os.path.isabs(p) and any(within(os.path.realpath(o), os.path.realpath(p)) for o in own):
            refused.append(p)
    for p in sorted(_outermost(q for q in readable if q not in refused),
                    key=lambda q: (os.path.realpath(q) != q, len(q), q)):
        bound = _bind(root, p, writable=False, visible=tuple(visible))
        if bound:
            visible.append(bound)
    for p in _outermost(cfg.get("writable", [])):
        _bind(root, p, writable=True)
    scratch = cfg["scratch_dir"]
    inner = root + _make_path(root, scratch, True)
    if any(within(os.path.realpath(scratch), t) for t in ("/tmp", "/var/tmp", "/dev/shm")):
        os.chmod(inner, 0o1777)  # a directory of the scratch tmpfs already
    else:
        mount(root + "/tmp", inner, None, MS_BIND)
    covered = []
    # outermost first: a secret inside one already covered (an assignment folder of the installed
    # grader package) no longer exists under the empty cover
    for p in _outermost(os.path.realpath(q) for q in cfg["secrets"]):
        rp = os.path.realpath(p)
        if os.path.isdir(rp) and any(within(rp, v) for v in visible):
            mount("tmpfs", root + rp, "tmpfs", MS_NOSUID | MS_NODEV | MS_RDONLY, "mode=755,size=4k")
            covered.append(rp)
    mount(None, dev, None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NOEXEC, "mode=755,size=64k")
    facts["filesystem"] = {"mode": "mount namespace, allow-list root", "visible": visible,
                           "writable": _outermost(cfg.get("writable", [])),
                           "scratch_tmpfs": {"path": "/tmp", "size": size,
                                             "also_at": ["/var/tmp", "/dev/shm", scratch]},
                           "covered_secrets": covered, "not_exposed": refused}
    facts["view_seconds"] = round(time.perf_counter() - started, 4)  # not in the report (varies)
    return root


def enter_root(root: str, *, proc: str) -> None:
    """Make ``root`` the root of this mount namespace and detach the host's tree from it.
    ``proc``: "mount" (a new proc of this PID namespace) or "bind" (the host's, no PID namespace)."""
    if proc == "mount":
        mount("proc", root + "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    else:
        mount("/proc", root + "/proc", None, MS_BIND | MS_REC)
    os.chdir(root)
    _pivot_root(".", ".")
    _umount(".", MNT_DETACH)
    os.chdir("/")
    mount(None, "/", None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, "mode=755,size=4m")
