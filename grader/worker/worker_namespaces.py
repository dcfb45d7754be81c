"""Linux primitives of the worker's confinement, and the ``probe`` stage (see ``worker_main``).

The clone(2), mount(2) and prctl(2) constants, small ctypes system-call wrappers (Python 3.11 has
no os.unshare / os.mount), the namespace sets the worker tries and enters, and the SysV IPC limits
of a fresh IPC namespace. Standard library only (it runs before the worker has confined itself).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import os
import sys

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_REMOUNT = 0x20
MS_BIND = 0x1000
MS_REC = 0x4000
MS_PRIVATE = 0x40000

PR_SET_PDEATHSIG = 1
PR_SET_NO_NEW_PRIVS = 38


_LIBC = None


# ----------------------------------------------------------------------------------------------
# Small system-call wrappers (ctypes; Python 3.11 has no os.unshare / os.mount)
# ----------------------------------------------------------------------------------------------

def _libc():
    global _LIBC
    if _LIBC is None:
        _LIBC = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
    return _LIBC


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def unshare(flags: int) -> None:
    _check(_libc().unshare(ctypes.c_int(flags)), "unshare")


def _encode(s: str | None) -> bytes | None:
    return None if s is None else os.fsencode(s)


def mount(source, target, fstype, flags: int, data: str | None = None) -> None:
    _check(_libc().mount(_encode(source), _encode(target), _encode(fstype), ctypes.c_ulong(flags), _encode(data)),
           f"mount {target}")


def prctl(option: int, arg: int) -> None:
    _check(_libc().prctl(ctypes.c_int(option), ctypes.c_ulong(arg), ctypes.c_ulong(0), ctypes.c_ulong(0),
                         ctypes.c_ulong(0)), "prctl")


def within(path: str, root: str) -> bool:
    """``path`` is ``root`` or inside it (plain string paths)."""
    return path == root or path.startswith(root.rstrip("/") + "/")


def _write(path: str, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)


# ----------------------------------------------------------------------------------------------
# namespaces, and the probe stage
# ----------------------------------------------------------------------------------------------

NAMESPACE_NAMES = (("user", CLONE_NEWUSER), ("mount", CLONE_NEWNS), ("network", CLONE_NEWNET),
                   ("pid", CLONE_NEWPID), ("ipc", CLONE_NEWIPC), ("uts", CLONE_NEWUTS))


def namespace_names(flags: int) -> list[str]:
    return [n for n, f in NAMESPACE_NAMES if flags & f]


def candidate_flags(root: bool) -> list[int]:
    """Namespace sets to try, strongest first (without root, a user namespace comes first)."""
    full = CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS
    sets = [full, CLONE_NEWNS | CLONE_NEWNET, CLONE_NEWNET]
    return sets if root else [CLONE_NEWUSER | f for f in sets]


def enter_namespaces(flags: int) -> None:
    """Unshare exactly ``flags``; with a user namespace, map our own uid/gid onto themselves (not
    root inside, so the exec of the serve stage drops every capability)."""
    uid, gid = os.getuid(), os.getgid()
    unshare(flags)
    if flags & CLONE_NEWUSER:
        _write("/proc/self/setgroups", "deny")
        _write("/proc/self/uid_map", f"{uid} {uid} 1")
        _write("/proc/self/gid_map", f"{gid} {gid} 1")


def _try_in_child(flags: int, scratch: str) -> str:
    """In a forked child: enter ``flags`` and, with a mount namespace, mount a tmpfs. "" = works."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            enter_namespaces(flags)
            if flags & CLONE_NEWNS:
                mount(None, "/", None, MS_REC | MS_PRIVATE)
                mount("tmpfs", scratch, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m")
            os.write(w, b"ok")
        except OSError as exc:
            os.write(w, (exc.strerror or str(exc)).encode()[:200])
        os._exit(0)
    os.close(w)
    answer = os.read(r, 256).decode(errors="replace")
    os.close(r)
    os.waitpid(pid, 0)
    return "" if answer == "ok" else (answer or "no answer")


def probe(scratch: str) -> None:
    """Stage ``probe``: print (JSON) the strongest namespace set this kernel grants us."""
    errors: list[str] = []
    result: dict[str, object] = {"flags": 0, "namespaces": [], "errors": errors}
    if sys.platform.startswith("linux"):
        for flags in candidate_flags(os.geteuid() == 0):
            error = _try_in_child(flags, scratch)
            if not error:
                result.update(flags=flags, namespaces=namespace_names(flags))
                break
            errors.append(f"{'+'.join(namespace_names(flags))}: {error}")
    print(json.dumps(result))


# SysV IPC in the worker's own IPC namespace: no shared memory segment, no message queue (their
# memory is not counted in any process's resident size; issue #9.7).
IPC_SYSCTLS = {"kernel/shmmni": "0", "kernel/shmall": "0", "kernel/msgmni": "0"}


def _forbid_sysv_ipc(facts: dict) -> None:
    """In a fresh IPC namespace (as its root): no SysV shared memory or message queues."""
    refused = []
    for name, value in IPC_SYSCTLS.items():
        try:
            _write(f"/proc/sys/{name}", value)
        except OSError as exc:
            refused.append(f"{name}: {exc.strerror}")
    facts["sysv_ipc"] = "forbidden (shmmni = shmall = msgmni = 0)" if not refused else \
        "allowed (cannot set " + "; ".join(refused) + ")"
