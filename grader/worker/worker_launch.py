"""The ``launch`` and ``worker`` stages of the worker (see ``worker_main``).

``launch`` enters the planned namespaces and the file-system view (``worker_view``), with a PID
namespace through an init process; ``become_worker`` sets the resource limits, drops privileges
and ``exec``s the ``serve`` stage. Standard library only (it runs before the worker has confined
itself).
"""

from __future__ import annotations

import json
import os
import resource
import signal
import sys

# ``TYPE_CHECKING`` (False here, read as True by type checkers, without importing ``typing`` before
# the worker confines itself): mypy sees the package imports only, the flat files import the same names.
TYPE_CHECKING = False
if TYPE_CHECKING or __package__:  # imported as grader.worker.worker_launch (the grader's tests)
    from .worker_namespaces import (CLONE_NEWIPC, CLONE_NEWNS, CLONE_NEWPID, PR_SET_NO_NEW_PRIVS, PR_SET_PDEATHSIG,
                                    _forbid_sysv_ipc, enter_namespaces, namespace_names, prctl)
    from .worker_view import build_view, enter_root
else:  # the sandbox's lib/: flat files
    from worker_namespaces import (CLONE_NEWIPC, CLONE_NEWNS, CLONE_NEWPID, PR_SET_NO_NEW_PRIVS, PR_SET_PDEATHSIG,
                                   _forbid_sysv_ipc, enter_namespaces, namespace_names, prctl)
    from worker_view import build_view, enter_root


def launch(config_path: str, reply_fd: int) -> None:
    """Stage 1 (see ``worker_main``'s docstring). The grader decided the namespaces (``ns_flags``, from the
    ``probe`` stage); if they, or the file-system view, cannot be set up, the worker does not start
    (fail closed: the grader retries once, then reports a grader error)."""
    with open(config_path) as f:
        cfg = json.load(f)
    cfg["reply_fd"] = reply_fd
    flags = int(cfg.get("ns_flags", 0))
    facts = {"namespaces": namespace_names(flags), "filesystem": cfg.get("filesystem_fallback") or {"mode": "none"},
             "notes": [], "pid_namespace": bool(flags & CLONE_NEWPID)}
    if flags:
        enter_namespaces(flags)
    if flags & CLONE_NEWIPC:
        _forbid_sysv_ipc(facts)
    else:
        facts["sysv_ipc"] = "host IPC namespace (segments of the worker's uid are counted by the grader)"
    root = build_view(cfg, facts) if flags & CLONE_NEWNS else None
    if flags & CLONE_NEWPID:
        _fork_init(cfg, facts, root)
    else:
        if root is not None:
            enter_root(root, proc="bind")
        become_worker(cfg, facts)


def _exit_code(status: int) -> int:
    """A child's wait status as an exit code: its own, or 128 + the signal that killed it."""
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.WEXITSTATUS(status) if os.WIFEXITED(status) else 1


def _detach_pipes(cfg: dict) -> None:
    """Supervising processes hold neither the request nor the reply pipe (EOF must mean death)."""
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    try:
        os.close(cfg["reply_fd"])
    except OSError:
        pass


def _wait_for(pid: int) -> int:
    """Reap children until ``pid`` exits; return its exit code."""
    while True:
        try:
            done, status = os.wait()
        except ChildProcessError:
            return 1
        except InterruptedError:
            continue
        if done == pid:
            return _exit_code(status)


def _fork_init(cfg: dict, facts: dict, root) -> None:
    """Launcher -> init (PID 1 of the new namespace) -> worker. Exit codes are passed up. With a
    new root (mount namespace), init mounts the namespace's own /proc in it and enters it."""
    init = os.fork()
    if init:
        _detach_pipes(cfg)
        os._exit(_wait_for(init))
    prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if root is not None:
        try:
            enter_root(root, proc="mount")
            facts["notes"].append("private /proc")
        except OSError as exc:
            facts["notes"].append(f"no private /proc: {exc.strerror}")
            enter_root(root, proc="bind")
    worker = os.fork()
    if worker == 0:
        become_worker(cfg, facts)
    _detach_pipes(cfg)
    os._exit(_wait_for(worker))  # PID 1 exits: the kernel kills whatever is left in the namespace


# ----------------------------------------------------------------------------------------------
# worker: limits, privileges, exec
# ----------------------------------------------------------------------------------------------

def set_limits(limits: dict, facts: dict) -> None:
    """Resource limits of the worker (inherited by anything it starts)."""
    names = {"cpu_seconds": resource.RLIMIT_CPU, "data_bytes": resource.RLIMIT_DATA,
             "fsize_bytes": resource.RLIMIT_FSIZE, "nofile": resource.RLIMIT_NOFILE,
             "nproc": getattr(resource, "RLIMIT_NPROC", None), "core_bytes": resource.RLIMIT_CORE,
             "msgqueue_bytes": getattr(resource, "RLIMIT_MSGQUEUE", None)}
    applied = {}
    for key, value in limits.items():
        which = names.get(key)
        if which is None or value is None:
            continue
        try:
            resource.setrlimit(which, (int(value), int(value)))
            applied[key] = int(value)
        except (ValueError, OSError) as exc:
            facts["notes"].append(f"limit {key} not set: {exc}")
    facts["limits"] = applied


def drop_privileges(cfg: dict, facts: dict) -> None:
    """As root: become the unprivileged uid/gid, with no supplementary groups."""
    uid, gid = cfg["uid"], cfg["gid"]
    os.setgroups([])
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)
    try:
        os.setuid(0)
    except PermissionError:
        pass
    else:  # pragma: no cover - would mean the drop did not work
        raise SystemExit("grader worker: could not drop root privileges")


def become_worker(cfg: dict, facts: dict) -> None:
    """Limits, privileges, then exec the serve stage. Never returns."""
    try:
        set_limits(cfg["limits"], facts)
        if os.geteuid() == 0 and cfg.get("drop"):
            drop_privileges(cfg, facts)
        if sys.platform.startswith("linux"):
            prctl(PR_SET_NO_NEW_PRIVS, 1)
            prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        facts["user"] = {"uid": os.getuid(), "gid": os.getgid(), "dropped": bool(cfg.get("drop")) and os.getuid() != 0}
        os.chdir(cfg["run_dir"])
        script = os.path.join(cfg["lib_dir"], "worker_main.py")
        argv = [cfg["python"], "-I", "-S", script, "serve", os.path.join(cfg["lib_dir"], "config.json"),
                str(cfg["reply_fd"]), json.dumps(facts)]
        os.execve(cfg["python"], argv, cfg["env"])
    except BaseException as exc:  # noqa: BLE001 - report on the capture file, then die
        os.write(2, f"grader worker: cannot start: {type(exc).__name__}: {exc}\n".encode())
        os._exit(70)
