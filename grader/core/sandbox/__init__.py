"""Isolated execution of probes: one sandboxed worker process per submission (docs/DESIGN.md principle 3).

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

This module holds the executor; its parts live beside it and are re-exported here: ``isolation``
(options, namespace plan, ``SandboxError``), ``visibility`` (import path, secrets, host
permissions), ``package_copy`` (the submission's copy), ``proctree`` (uid lease, process trees,
memory, kills), ``handle`` (the worker process and its jobs), ``requests`` (one
request's round trip) and ``results`` (reading results and crash sites safely).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Optional

from .. import course as course_mod
from .. import runtime as wm  # the worker's folder
from ..assignment import Assignment
from ..engine import ProbeOutcome
from .isolation import MiB, IsolationOptions, SandboxError, isolation_plan
from .package_copy import COPY_IGNORE, _copy_package
from .requests import REPLY_STATUSES, ProbeRequests
from .proctree import (UID_RANGE, UidLease, describe_exit, kill_uid, memfd_mb, peak_memory_mb, process_tree,
                       scratch_mb, sysv_shm_mb, tree_memory_mb)
from .handle import MAX_REPLY_LINE, _Job, _Worker
from .results import (MAX_RESULT_ELEMENTS, MAX_RESULT_ITEMS, DataError, crash_location, load_result,
                             validate_plain)
from .visibility import HostProtection, default_secrets, hidden_data_dirs, protect_host, worker_sys_path



__all__ = ["COPY_IGNORE", "MAX_REPLY_LINE", "MAX_RESULT_ELEMENTS", "MAX_RESULT_ITEMS", "REPLY_STATUSES",
           "UID_RANGE", "DataError", "HostProtection", "IsolatedExecutor", "IsolationOptions", "MiB",
           "SandboxError", "UidLease", "_copy_package", "crash_location", "default_secrets", "describe_exit",
           "hidden_data_dirs", "isolation_plan", "kill_uid", "load_result", "memfd_mb", "peak_memory_mb",
           "process_tree", "protect_host", "scratch_mb", "sysv_shm_mb", "tree_memory_mb", "validate_plain",
           "worker_sys_path"]


# ----------------------------------------------------------------------------------------------
# The executor
# ----------------------------------------------------------------------------------------------

class IsolatedExecutor(ProbeRequests):
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
            if self.uid is not None:  # dropping privileges (``self.drop``)
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
        plan: dict = isolation_plan() if o.namespaces else {"flags": 0, "namespaces": [], "errors": ["disabled"]}
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
        changed: list[str] = []
        missing: list[str] = []
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
        parts = ([f"changed: {', '.join(changed)}"] if changed else []) \
            + ([f"missing: {', '.join(missing)}"] if missing else [])
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
