"""Running one probe and classifying what happened. Used in-process and inside the worker.

This module must import nothing from the grader besides the standard library and torch,
because the worker copies it into its sandbox.
"""

from __future__ import annotations

import contextlib
import io
import random
import time
import traceback
import warnings

import torch

MAX_MESSAGE = 2000


def prepare_determinism(threads: int, seed: int = 0) -> None:
    """Fix threads, seeds and deterministic algorithms before a probe (DESIGN.md principle 5)."""
    torch.set_num_threads(max(1, int(threads)))
    torch.manual_seed(seed)
    random.seed(seed)
    try:
        import numpy as np

        np.random.seed(seed)
    except ImportError:  # pragma: no cover
        pass
    torch.use_deterministic_algorithms(True, warn_only=True)


def _student_frames_summary(exc: BaseException) -> str:
    """The last frames of a traceback, formatted compactly for a report."""
    tb = traceback.extract_tb(exc.__traceback__)
    frames = [f for f in tb if "probes" not in f.filename.rsplit("/", 1)[-1] and "probe_runtime" not in f.filename]
    frames = frames[-3:] if frames else tb[-1:]
    where = " <- ".join(f"{f.filename.rsplit('/', 2)[-2:][-1]}:{f.lineno} in {f.name}" for f in reversed(frames))
    return where


def run_probe(fn, pkg, *, threads: int = 1, seed: int = 0):
    """Run ``fn(pkg)``; return ``(status, data, message, seconds, output)``.

    status: "ok", "not_attempted" (NotImplementedError) or "error". Warnings never fail a probe.
    """
    prepare_determinism(threads, seed)
    out = io.StringIO()
    start = time.perf_counter()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with contextlib.redirect_stdout(out):
                data = fn(pkg)
        return "ok", data, "", time.perf_counter() - start, out.getvalue()[-MAX_MESSAGE:]
    except NotImplementedError as exc:
        msg = str(exc) or "NotImplementedError"
        return "not_attempted", None, f"not attempted: {msg}"[:MAX_MESSAGE], time.perf_counter() - start, out.getvalue()[-MAX_MESSAGE:]
    except Exception as exc:  # noqa: BLE001 - any failure of student code is reported, never raised
        msg = f"{type(exc).__name__}: {exc}".strip()
        where = _student_frames_summary(exc)
        text = f"{msg} (at {where})" if where else msg
        return "error", None, text[:MAX_MESSAGE], time.perf_counter() - start, out.getvalue()[-MAX_MESSAGE:]
