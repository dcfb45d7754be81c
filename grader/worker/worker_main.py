"""The grader's worker: runs probes on one submission inside a sandbox (DESIGN.md principle 3).

A standalone script. ``grader.core.sandbox`` copies it, with ``probe_runtime.py``, the assignments'
probe files and a copy of the submission package (``submission``), into a fresh sandbox directory
and starts it as ``python -I -S worker_main.py launch CONFIG REPLY_FD``. The grader's parent-side
code never imports it (``grader.core.runtime`` keeps its own copies of the few constants it plans
with). Until it has confined itself it imports only the standard library; torch and the submission
come after.

Stages:

``probe``   (once per grader process): which namespaces the kernel grants (mount, network, PID;
            with a user namespace first when not root). The grader makes this the plan.
``launch``  (as started by the grader, root or not): the planned namespaces, then the file-system
            view: the checkout, home directories and the grader's secrets are covered by empty
            read-only tmpfs mounts, with only what the worker needs (Python, site-packages, the
            sandbox, shipped data) bound back; /tmp, /var/tmp and /dev/shm become small private
            tmpfs. Anything that fails here stops the worker (fail closed). Without a mount
            namespace the grader protects secrets with permissions instead (see
            ``sandbox.protect_host``). With a PID namespace the launcher forks an init process
            (PID 1 of the namespace, reaps orphans; when it exits the kernel kills everything
            left in the namespace) which forks the worker.
``worker``  (in the forked child, or in the launcher itself without a PID namespace): resource
            limits, no core dumps, drop to the unprivileged uid/gid when root, no new privileges,
            die with the parent, then ``exec`` of the ``serve`` stage with a scrubbed environment.
``serve``   the request loop. Requests are JSON lines on stdin; replies are JSON lines on the
            reply descriptor (never stdout: what the code under test prints goes to the capture
            file the grader reads back). Probe data goes to ``run/out/<id>.pt`` via ``torch.save``
            of plain data only.

Every step records what it achieved in ``facts``, which the ready message reports, so the report
states the isolation actually in force.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import os
import resource
import signal
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
# launch: namespaces and the file-system view
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
    result = {"flags": 0, "namespaces": [], "errors": []}
    if sys.platform.startswith("linux"):
        for flags in candidate_flags(os.geteuid() == 0):
            error = _try_in_child(flags, scratch)
            if not error:
                result.update(flags=flags, namespaces=namespace_names(flags))
                break
            result["errors"].append(f"{'+'.join(namespace_names(flags))}: {error}")
    print(json.dumps(result))


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
# SysV IPC in the worker's own IPC namespace: no shared memory segment, no message queue (their
# memory is not counted in any process's resident size; issue #9.7).
IPC_SYSCTLS = {"kernel/shmmni": "0", "kernel/shmall": "0", "kernel/msgmni": "0"}


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
    visible, refused = [], []
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
                           "scratch_tmpfs": {"path": "/tmp", "size": size, "also_at": ["/var/tmp", "/dev/shm", scratch]},
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


def launch(config_path: str, reply_fd: int) -> None:
    """Stage 1 (see module docstring). The grader decided the namespaces (``ns_flags``, from the
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


# ----------------------------------------------------------------------------------------------
# serve: the request loop
# ----------------------------------------------------------------------------------------------

def block_network() -> None:
    """Last-resort network block at the Python level (no network namespace): refuse IP sockets."""
    import socket

    def refuse(*_args, **_kwargs):
        raise PermissionError("network access is disabled while grading")

    class NoIPSocket(socket.socket):
        def __init__(self, family=-1, type=-1, proto=-1, fileno=None):
            if fileno is None and family in (-1, socket.AF_INET, socket.AF_INET6):
                refuse()
            super().__init__(family, type, proto, fileno)

    socket.socket = NoIPSocket
    socket.create_connection = refuse
    socket.getaddrinfo = refuse


class Server:
    """Answers requests: ``import`` (the submission's assignment package) and ``probe``."""

    def __init__(self, cfg: dict, reply_fd: int):
        import probe_runtime

        # Bound before any submission code runs: rebinding ``probe_runtime.run_probe`` later does
        # not change what this server calls. (Code under test shares this interpreter and could
        # still tamper in deeper ways; verdicts therefore trust only values they can check
        # against the reference on secret inputs, see docs/GRADER.md, threat model.)
        self._run_probe = probe_runtime.run_probe
        self._context = probe_runtime.ProbeContext
        self.cfg = cfg
        self.reply_fd = reply_fd
        self.probe_modules: dict[str, object] = {}
        self.probe_functions: dict[str, dict] = {}
        self.requests = None

    def send(self, message: dict) -> None:
        data = (json.dumps(message) + "\n").encode()
        while data:
            data = data[os.write(self.reply_fd, data):]

    @staticmethod
    def reset_capture() -> None:
        """Start each request with an empty capture file (a flood in one probe costs only that probe)."""
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        try:
            os.ftruncate(1, 0)
        except OSError:
            pass

    def import_package(self, package: str):
        """Import ``submission.<package>``; return ``(status, module_or_None, message)``."""
        import importlib
        import probe_runtime

        name = f"submission.{package}"
        try:
            return "ok", importlib.import_module(name), ""
        except ModuleNotFoundError as exc:
            if exc.name in ("submission", name):
                return "not_attempted", None, f"not attempted: the submission has no `{package}` package"
            if exc.name and exc.name.startswith(name + "."):  # a module of the package is not handed in
                missing = exc.name[len("submission."):].replace(".", "/") + ".py"
                return "not_attempted", None, f"not attempted: the submission has no `{missing}`"
            status, message = probe_runtime.classify_exception(exc)
        except (Exception, SystemExit) as exc:  # noqa: BLE001
            status, message = probe_runtime.classify_exception(exc)
        if status == "error":
            message = f"importing your `{package}` package failed: {message}"
        return status, None, message

    def probes(self, assignment: str):
        """The probe module of an assignment, loaded from the sandbox's copy."""
        import importlib.util

        if assignment not in self.probe_modules:
            name = f"_grader_probes_{assignment}"
            folder = os.path.join(self.cfg["lib_dir"], "probes", f"{assignment}_probes")
            if os.path.isfile(os.path.join(folder, "__init__.py")):  # a probes/ package
                spec = importlib.util.spec_from_file_location(name, os.path.join(folder, "__init__.py"),
                                                              submodule_search_locations=[folder])
            else:
                spec = importlib.util.spec_from_file_location(name, folder + ".py")
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module  # a package's submodules import it (from . import x)
            spec.loader.exec_module(module)
            self.probe_modules[assignment] = module
            # The functions as loaded, before any submission code runs (the import request loads
            # them first): replacing the module's attributes later changes nothing here.
            self.probe_functions[assignment] = {k: v for k, v in vars(module).items() if callable(v)}
        return self.probe_modules[assignment]

    def handle(self, req: dict) -> dict:
        import probe_runtime
        import torch

        reply = {"id": req.get("id"), "status": "error", "message": "", "seconds": 0.0, "output": "", "data": False}
        if req.get("assignment"):
            self.probes(str(req["assignment"]))  # before the submission's import-time code runs
        status, pkg, message = self.import_package(str(req.get("package")))
        if status != "ok" or req.get("op") == "import":
            reply.update(status=status, message=message)
            return reply
        self.probes(str(req["assignment"]))
        fn = self.probe_functions[str(req["assignment"])].get(str(req["probe"]))
        if fn is None:
            raise KeyError(f"no probe named {req['probe']!r}")
        ctx = self._context(int(req.get("seed", 0)), lambda: self.late_inputs(req))
        status, data, message, seconds, output = self._run_probe(fn, pkg, threads=int(req.get("threads", 1)), ctx=ctx)
        reply.update(status=status, message=message, seconds=seconds, output=output)
        if status == "ok":
            try:
                torch.save(data, os.path.join(self.cfg["run_dir"], "out", f"{req['id']}.pt"))
                reply["data"] = True
            except (Exception, SystemExit) as exc:  # noqa: BLE001
                reply["status"], reply["message"] = probe_runtime.classify_exception(exc)
        return reply

    def late_inputs(self, req: dict):
        """Ask the grader for the probe's late inputs (``ProbeContext.late_inputs``) and wait."""
        import torch

        self.send({"op": "late_inputs", "id": req.get("id")})
        line = self.requests.readline() if self.requests is not None else b""
        answer = json.loads(line) if line else {}
        if answer.get("op") != "late_inputs" or answer.get("id") != req.get("id") or not answer.get("path"):
            raise RuntimeError(f"grader: no late inputs for this probe ({answer.get('error', 'no answer')})")
        return torch.load(answer["path"], weights_only=True)

    def loop(self, requests) -> None:
        self.requests = requests
        while True:
            line = requests.readline()
            if not line:
                return
            self.reset_capture()
            try:
                req = json.loads(line)
                reply = self.handle(req)
            except (Exception, SystemExit) as exc:  # noqa: BLE001 - never die on a bad request
                reply = {"id": None, "status": "error", "message": f"worker error: {type(exc).__name__}: {exc}"}
                try:
                    reply["id"] = json.loads(line).get("id")
                except ValueError:
                    pass
            self.send(reply)


def serve(config_path: str, reply_fd: int, facts_json: str) -> None:
    """Stage 3 (see module docstring)."""
    import time

    with open(config_path) as f:
        cfg = json.load(f)
    facts = json.loads(facts_json)
    sys.path[:] = [cfg["lib_dir"]] + cfg["sys_path"]
    sys.dont_write_bytecode = True
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a too large write fails with EFBIG instead of killing
    os.set_inheritable(reply_fd, False)
    requests = os.fdopen(os.dup(0), "rb")
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)  # code under test reads EOF from stdin, never the grader's requests
    os.close(devnull)
    if "network" in facts.get("namespaces", []):
        facts["network"] = "network namespace (no interfaces but loopback, which is down)"
    else:
        block_network()
        facts["network"] = "Python-level block of IP sockets (no network namespace available)"
    import faulthandler

    faulthandler.enable()  # a segfault prints the Python stack to the capture file
    start = time.perf_counter()
    import torch  # noqa: F401 - imported once, before the first probe is timed

    import probe_runtime

    probe_runtime.prepare_determinism(1)  # its first call takes seconds: pay it before the first probe
    facts["startup_seconds"] = round(time.perf_counter() - start, 3)
    server = Server(cfg, reply_fd)
    server.send({"op": "ready", "pid": os.getpid(), "facts": facts})
    server.loop(requests)


def main(argv: list[str]) -> None:
    stage = argv[1] if len(argv) > 1 else ""
    if stage == "probe":
        probe(argv[2])
    elif stage == "launch":
        try:
            launch(argv[2], int(argv[3]))
        except BaseException as exc:  # noqa: BLE001 - one line on the capture file, exit 70
            os.write(2, f"grader worker: cannot start: {type(exc).__name__}: {exc}\n".encode())
            os._exit(70)
    elif stage == "serve":
        serve(argv[2], int(argv[3]), argv[4])
    else:
        sys.exit("usage: worker_main.py launch CONFIG REPLY_FD (started by the grader, not by hand)")


if __name__ == "__main__":
    main(sys.argv)
