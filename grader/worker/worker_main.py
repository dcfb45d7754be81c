"""The grader's worker: runs probes on one submission inside a sandbox (docs/DESIGN.md principle 3).

A standalone script. ``grader.core.sandbox`` copies it, with its sibling modules (the worker files
of ``grader.core.runtime.WORKER_FILES``), the assignments' probe files and a copy of the submission
package (``submission``), into a fresh sandbox directory and starts it as ``python -I -S
worker_main.py launch CONFIG REPLY_FD``; it imports the siblings by their flat names there. The
grader's parent-side code never imports it (``grader.core.runtime`` keeps its own copies of the few
constants it plans with). Until it has confined itself it imports only the standard library; torch
and the submission come after.

This file holds the ``serve`` stage and the entry point; the stages before it live beside it:
``worker_namespaces`` (system-call wrappers, namespaces, the ``probe`` stage), ``worker_view`` (the
file-system view) and ``worker_launch`` (the ``launch`` and ``worker`` stages).

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

import json
import os
import signal
import sys

# ``TYPE_CHECKING`` (False here, read as True by type checkers, without importing ``typing`` before
# the worker confines itself): mypy sees the package imports only, the flat files import the same names.
TYPE_CHECKING = False
if TYPE_CHECKING or __package__:  # imported as grader.worker.worker_main (the grader's tests)
    from .worker_launch import launch
    from .worker_namespaces import (CLONE_NEWIPC, CLONE_NEWNET, CLONE_NEWNS, CLONE_NEWPID, CLONE_NEWUSER,
                                    CLONE_NEWUTS, probe, within)
else:  # a script in the sandbox's lib/ (or grader/worker/); ``-I`` leaves its folder off sys.path
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from worker_launch import launch
    from worker_namespaces import (CLONE_NEWIPC, CLONE_NEWNET, CLONE_NEWNS, CLONE_NEWPID, CLONE_NEWUSER,
                                   CLONE_NEWUTS, probe, within)
    del sys.path[0]  # the launch stage imports nothing else from there

__all__ = ["CLONE_NEWIPC", "CLONE_NEWNET", "CLONE_NEWNS", "CLONE_NEWPID", "CLONE_NEWUSER", "CLONE_NEWUTS", "Server",
           "block_network", "launch", "main", "probe", "serve", "within"]


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

    setattr(socket, "socket", NoIPSocket)  # a class attribute of the module: mypy refuses a plain assignment
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
            if spec is None or spec.loader is None:
                raise ImportError(f"no probe module for assignment {assignment!r} in {folder}")
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
