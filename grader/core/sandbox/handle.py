"""The parent's handle on one worker: the process and its pipes (``_Worker``) and a probe
submitted to it, run in a watcher thread (``_Job``).
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import IO, Optional

from ..engine import ProbeOutcome
from .isolation import MiB

MAX_REPLY_LINE = 1 * MiB


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

    @property
    def stdin(self) -> IO[bytes]:
        """The request pipe (the worker is started with ``stdin=PIPE``)."""
        stdin = self.proc.stdin
        if stdin is None:
            raise RuntimeError(f"worker {self.proc.pid} has no request pipe")
        return stdin

    def send(self, message: dict) -> bool:
        try:
            self.stdin.write((json.dumps(message) + "\n").encode())
            self.stdin.flush()
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
        if self.proc.stdin is not None:
            try:
                self.proc.stdin.close()
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
        if self._result is None:
            raise RuntimeError("the probe job ended without an outcome")
        return self._result

