"""One request to the worker and its reply: sent, watched for time, memory and the process's
death, answered (late inputs), and turned into a ``ProbeOutcome`` (``ProbeRequests``, a part of
``IsolatedExecutor``; it uses the executor's options, folders, plan, uid and worker lifecycle).
"""

from __future__ import annotations

import json
import os
import secrets as _secrets
import subprocess
import time
from pathlib import Path
from typing import Callable, Optional

from .. import runtime as wm  # the clone flags
from ..engine import ProbeOutcome
from .isolation import IsolationOptions, MiB
from .proctree import _status_mib, describe_exit, memfd_mb, process_tree, scratch_mb, sysv_shm_mb
from .handle import _Worker
from .results import DataError, crash_location, load_result

REPLY_STATUSES = {"ok", "not_attempted", "error", "resource_limit"}


class ProbeRequests:
    """The request side of ``IsolatedExecutor``: one round trip with the worker."""

    # What it uses of ``IsolatedExecutor`` (set in its ``__init__`` and ``_build``, or its methods).
    options: IsolationOptions
    plan: dict
    uid: Optional[int]
    base: Path
    lib: Path
    run_dir: Path
    _ready_worker: Callable[[], _Worker]
    _discard_worker: Callable[[], None]
    _log_tail: Callable[[int], str]

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
                                        message=f"memory limit exceeded ({used:.0f} MiB > "
                                                f"{self.options.memory_mb} MiB: {where})")

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
                                message="lost contact with the worker (did your code close or write to the "
                                        "grader's pipes?)")
        status, message = describe_exit(code)
        where = crash_location(tail)
        if where and status == "error":
            message += f" (at {where})"
        output = tail.split("Extension modules:")[0].strip()[-2000:]
        return ProbeOutcome(status, message=message[:2000], seconds=time.monotonic() - start, output=output)
