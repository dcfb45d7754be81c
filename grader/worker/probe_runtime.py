"""Running one probe and classifying what happened. Used in-process and inside the worker.

This module must import nothing from the grader besides the standard library and torch,
because the worker copies it into its sandbox (``grader.core.sandbox``).

Probe data is *plain data*: ``None``, ``bool``, ``int``, ``float``, ``str``, tensors (dense, strided),
and lists / tuples / dicts (string keys) of those. ``plain_data`` converts what can be converted
(numpy arrays and scalars, ``torch.Size``) and rejects everything else with a message naming where
in the structure the offending value sits, so the in-process and the isolated paths hand verdicts
exactly the same types.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import inspect
import io
import os
import random
import sysconfig
import time
import traceback
import warnings

import torch

MAX_MESSAGE = 2000
MAX_DEPTH = 32
MAX_ITEMS = 1_000_000
MAX_ELEMENTS = 64_000_000  # tensor elements in one probe result, all tensors together

#: Statuses ``run_probe`` returns.
PROBE_STATUSES = ("ok", "not_attempted", "error", "resource_limit")


class ProbeDataError(TypeError):
    """A probe returned something that is not plain data."""


def prepare_determinism(threads: int, seed: int = 0) -> None:
    """Fix threads, seeds and deterministic algorithms before a probe (docs/DESIGN.md principle 5)."""
    torch.set_num_threads(max(1, int(threads)))
    torch.manual_seed(seed)
    random.seed(seed)
    try:
        import numpy as np

        np.random.seed(seed)
    except ImportError:  # pragma: no cover
        pass
    torch.use_deterministic_algorithms(True, warn_only=True)


class TailBuffer(io.TextIOBase):
    """A text sink that keeps only the last ``limit`` characters written to it (bounded memory)."""

    def __init__(self, limit: int = MAX_MESSAGE):
        self.limit = limit
        self.total = 0
        self._chunks: list[str] = []
        self._size = 0

    def writable(self) -> bool:
        return True

    def write(self, s: str) -> int:
        s = str(s)
        self.total += len(s)
        if len(s) >= self.limit:
            self._chunks, self._size = [s[-self.limit:]], self.limit
            return len(s)
        self._chunks.append(s)
        self._size += len(s)
        if self._size > 2 * self.limit:
            joined = "".join(self._chunks)[-self.limit:]
            self._chunks, self._size = [joined], len(joined)
        return len(s)

    def getvalue(self) -> str:
        text = "".join(self._chunks)[-self.limit:]
        if self.total > len(text):
            return f"[... {self.total - len(text)} characters of output cut ...]\n" + text
        return text


_OWN_DIR = os.path.dirname(os.path.abspath(__file__))  # grader/worker, or the worker's lib/
# In-process runs also pass through the parent's engine (grader/core, beside grader/worker); in the
# worker that folder does not exist.
_GRADER_DIRS = {_OWN_DIR, os.path.join(os.path.dirname(_OWN_DIR), "core")}
_STDLIB = sysconfig.get_paths()["stdlib"]


def _is_grader_frame(filename: str) -> bool:
    """Frames of the grader, the probes or the standard library (importlib...), not of the code
    under test (third-party libraries such as torch stay: they tell where a call went wrong)."""
    if filename.startswith("<"):
        return True
    path = os.path.abspath(filename)
    if os.path.dirname(path) in _GRADER_DIRS or "probes" in os.path.basename(path):
        return True
    return path.startswith(_STDLIB + os.sep) and "site-packages" not in path


def _student_frames_summary(exc: BaseException) -> str:
    """The last frames of a traceback (outside the grader's own files), formatted compactly."""
    tb = traceback.extract_tb(exc.__traceback__)
    frames = [f for f in tb if not _is_grader_frame(f.filename)]
    frames = frames[-3:] if frames else tb[-1:]
    return " <- ".join(f"{f.filename.rsplit('/', 1)[-1]}:{f.lineno} in {f.name}" for f in reversed(frames))


def is_out_of_memory(exc: BaseException) -> bool:
    """True for the ways an allocation failure surfaces in Python and in torch's allocator."""
    if isinstance(exc, MemoryError):
        return True
    text = str(exc)
    return isinstance(exc, RuntimeError) and ("can't allocate memory" in text or "not enough memory" in text
                                               or "out of memory" in text.lower())


def classify_exception(exc: BaseException) -> tuple[str, str]:
    """Map an exception raised by code under test to ``(status, message)``."""
    if isinstance(exc, NotImplementedError):
        return "not_attempted", f"not attempted: {str(exc) or 'NotImplementedError'}"
    if isinstance(exc, SystemExit):
        return "error", f"your code called sys.exit({exc.code!r}); return or raise an exception instead"
    if is_out_of_memory(exc):
        return "resource_limit", f"memory limit exceeded ({type(exc).__name__}: {str(exc)[:200]})"
    if isinstance(exc, OSError) and exc.errno == errno.EFBIG:
        return "resource_limit", "file size limit exceeded (your code wrote a file or output that is too large)"
    msg = f"{type(exc).__name__}: {exc}".strip()
    where = _student_frames_summary(exc)
    return "error", f"{msg} (at {where})" if where else msg


def plain_data(value, path: str = "result", _depth: int = 0, _count: list | None = None):
    """Return ``value`` as plain data (see the module docstring); raise ``ProbeDataError`` otherwise.

    Tensors are detached, moved to the CPU and copied into compact storage (a view never drags
    its whole storage along).
    """
    count = _count if _count is not None else [0]
    count[0] += 1
    if count[0] > MAX_ITEMS or _depth > MAX_DEPTH:
        raise ProbeDataError(f"{path}: the probe result is too large or too deeply nested")
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, torch.Tensor):
        if value.layout != torch.strided or value.is_quantized:
            raise ProbeDataError(f"{path}: a {value.layout} tensor is not supported; return a dense tensor")
        if len(count) < 2:
            count.append(0)
        count[1] += value.numel()  # counted before copying: an expanded view is as big as it claims
        if count[1] > MAX_ELEMENTS:
            raise ProbeDataError(f"{path}: the probe result has more than {MAX_ELEMENTS} tensor elements")
        return value.detach().to("cpu").contiguous().clone()
    if isinstance(value, torch.Size):
        return tuple(int(v) for v in value)
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise ProbeDataError(f"{path}: dictionary key {k!r} is a {type(k).__name__}, expected a string")
            out[k] = plain_data(v, f"{path}[{k!r}]", _depth + 1, count)
        return out
    if isinstance(value, (list, tuple)):
        items = [plain_data(v, f"{path}[{i}]", _depth + 1, count) for i, v in enumerate(value)]
        return items if isinstance(value, list) else tuple(items)
    converted = _from_numpy(value)
    if converted is not None:
        return converted
    raise ProbeDataError(f"{path}: a {type(value).__module__}.{type(value).__qualname__} is not plain data "
                         "(expected tensors, numbers, strings, None, lists and dicts of those)")


def _from_numpy(value):
    """numpy arrays become tensors, numpy scalars Python numbers; None for anything else."""
    module = type(value).__module__
    if not module.startswith("numpy"):
        return None
    import numpy as np

    if isinstance(value, np.ndarray) and value.dtype != object:
        return torch.from_numpy(np.array(value, copy=True))
    if isinstance(value, np.generic) and not isinstance(value, np.object_):
        return value.item()
    return None


def derive_seed(seed: int, tag: str) -> int:
    """A 63-bit seed derived from ``seed`` and a text ``tag`` (stable across processes)."""
    digest = hashlib.sha256(f"{int(seed)}:{tag}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def seeded_generator(seed: int, tag: str) -> torch.Generator:
    """A CPU ``torch.Generator`` seeded from ``(seed, tag)``."""
    g = torch.Generator()
    g.manual_seed(derive_seed(seed, tag))
    return g


class ProbeContext:
    """What a probe gets besides the package under test (``def probe(pkg, ctx)``).

    seed:           drawn secretly by the grading process for each grading run; the reference runs
                    the same probe with the same seed, so hidden inputs built from it are new in every
                    run and still compared like with like.
    generator(tag): a ``torch.Generator`` seeded from ``(seed, tag)``: one per independent input.
    late_inputs():  data the grading process builds only when the probe asks for it (after
                    training, say), from a secret the probe never sees.
    """

    hidden_inputs = True

    def __init__(self, seed: int, late_inputs=None):
        self.seed = int(seed)
        self._late_inputs = late_inputs

    def generator(self, tag: str) -> torch.Generator:
        return seeded_generator(self.seed, tag)

    def late_inputs(self):
        if self._late_inputs is None:
            raise RuntimeError("grader: this probe has no late inputs (a check must declare late_inputs)")
        return self._late_inputs()


def wants_context(fn) -> bool:
    """Whether a probe function takes the context as a second positional argument."""
    try:
        params = [p for p in inspect.signature(fn).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL)]
    except (TypeError, ValueError):
        return False
    return len(params) >= 2 or any(p.kind == p.VAR_POSITIONAL for p in params)


def run_probe(fn, pkg, *, threads: int = 1, seed: int = 0, full_traceback: bool = False, ctx=None):
    """Run ``fn(pkg)`` (or ``fn(pkg, ctx)``); return ``(status, data, message, seconds, output)``.

    ``ctx`` is the probe's ``ProbeContext`` (one with ``seed`` is made when it is None).

    status: "ok", "not_attempted" (NotImplementedError), "resource_limit" (memory or file-size
    limit) or "error" (any other exception, ``sys.exit`` included). Warnings never fail a probe.
    ``data`` is plain data (``plain_data``). ``output`` is the tail of what the probe printed; with
    ``full_traceback`` the full traceback of a failure is appended to it (local debugging).
    """
    ctx = ctx if ctx is not None else ProbeContext(seed)
    prepare_determinism(threads, seed)  # torch's global RNG stays fixed: hidden inputs use ctx.generator
    call = (lambda: fn(pkg, ctx)) if wants_context(fn) else (lambda: fn(pkg))
    out = TailBuffer()
    start = time.perf_counter()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with contextlib.redirect_stdout(out):
                data = plain_data(call())
        return "ok", data, "", time.perf_counter() - start, out.getvalue()
    except ProbeDataError as exc:
        return "error", None, f"unexpected output from your code: {exc}"[:MAX_MESSAGE], \
            time.perf_counter() - start, out.getvalue()
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - any failure of code under test is reported
        status, message = classify_exception(exc)
        seconds = time.perf_counter() - start
        output = out.getvalue()
        if full_traceback and status != "not_attempted":
            output = (output + "\n" if output else "") + "".join(traceback.format_exception(exc))
        return status, None, message[:MAX_MESSAGE], seconds, output
