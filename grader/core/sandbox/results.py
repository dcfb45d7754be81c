"""Reading what the worker hands back, safely: probe result files (``load_result``: size-capped,
``weights_only``, plain data only, see ``validate_plain``) and the crash site in its log
(``crash_location``).
"""

from __future__ import annotations

import io
import os
import re
import stat
from pathlib import Path
from typing import Any

import torch

from .isolation import MiB
from ..runtime import MAX_ELEMENTS


class DataError(ValueError):
    """The worker's result file is not acceptable plain data."""


MAX_RESULT_ELEMENTS = MAX_ELEMENTS  # tensor elements in one probe result, all together (the worker's cap)
MAX_RESULT_ITEMS = 200_000        # values in one probe result (list/tuple/dict entries, numbers, strings)


def validate_plain(value: Any, path: str = "result", *, max_elements: int = MAX_RESULT_ELEMENTS,
                   max_items: int = MAX_RESULT_ITEMS) -> Any:
    """Check that a loaded result is plain data; return it with dict subclasses made plain dicts.

    Bounded by what it would materialise, not by its size on disk (issue #9.6): the tensors hold at
    most ``max_elements`` elements together, the containers at most ``max_items`` values. A tensor
    that is a view (its storage is not exactly its own elements: ``expand``-ed, stride 0,
    overlapping or offset strides, a slice of a larger storage) is replaced by a compact copy,
    after the count (so a 1.5 KB file can no longer make the parent allocate 9 GB).
    """
    items, elements = _count(value, path, 0, [0, 0], max_items)
    if elements > max_elements:
        raise DataError(f"your probe output has {elements} elements; the limit is {max_elements}")
    return _validate(value, path)


def _count(value: Any, path: str, depth: int, budget: list, max_items: int) -> tuple[int, int]:
    """``[values, tensor elements]`` of a loaded result (shapes only: nothing is materialised)."""
    budget[0] += 1
    if budget[0] > max_items:
        raise DataError(f"your probe output has more than {max_items} values (list, tuple and dict entries); "
                        f"the limit is {max_items}")
    if depth > 32:
        raise DataError(f"{path}: result too deeply nested (more than 32 levels)")
    if isinstance(value, torch.Tensor):
        budget[1] += _numel(value.shape)
    elif isinstance(value, dict):
        for k, v in value.items():
            _count(v, f"{path}[{k!r}]", depth + 1, budget, max_items)
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            _count(v, f"{path}[{i}]", depth + 1, budget, max_items)
    return budget[0], budget[1]


def _validate(value: Any, path: str) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, torch.Tensor):
        if value.layout != torch.strided or value.is_quantized or value.device.type != "cpu":
            raise DataError(f"{path}: unsupported tensor ({value.layout}, {value.device})")
        if not _owns_storage(value):
            value = value.contiguous().clone()  # bounded by the element cap checked before
        return value
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise DataError(f"{path}: dictionary keys must be strings")
        return {k: _validate(v, f"{path}[{k!r}]") for k, v in value.items()}
    if isinstance(value, (list, tuple)) and type(value) in (list, tuple):
        items = [_validate(v, f"{path}[{i}]") for i, v in enumerate(value)]
        return items if isinstance(value, list) else tuple(items)
    raise DataError(f"{path}: a {type(value).__name__} is not plain data")


def _numel(shape) -> int:
    n = 1
    for s in shape:
        n *= int(s)
    return n


def _owns_storage(t: torch.Tensor) -> bool:
    """True when ``t`` is contiguous, starts at offset 0 and its storage holds exactly its elements."""
    try:
        nbytes = t.untyped_storage().nbytes()
    except (RuntimeError, NotImplementedError):
        return False
    # bool(): torch's stubs type ``storage_offset() == 0`` as ``SymBool | bool`` (a plain bool here)
    return bool(t.is_contiguous() and t.storage_offset() == 0 and nbytes == t.numel() * t.element_size())


def load_result(path: Path, max_bytes: int, max_elements: int = MAX_RESULT_ELEMENTS,
                max_items: int = MAX_RESULT_ITEMS) -> Any:
    """Load a probe result written by the worker: a regular file (no link, no FIFO), size-capped,
    ``weights_only`` unpickling, plain data only, bounded element and value counts
    (``validate_plain``)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as exc:
        raise DataError(f"the probe result is missing ({exc.strerror})") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise DataError("the probe result is not a regular file")
        if st.st_size > max_bytes:
            raise DataError(f"the probe result is too large ({st.st_size // MiB} MiB > {max_bytes // MiB} MiB)")
        chunks, size = [], 0
        while size <= max_bytes:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > max_bytes:
            raise DataError("the probe result is too large")
    finally:
        os.close(fd)
    try:
        value = torch.load(io.BytesIO(b"".join(chunks)), weights_only=True, map_location="cpu")
    except Exception as exc:  # noqa: BLE001 - any malformed file is the worker's problem
        detail = re.search(r"Unsupported global: GLOBAL [\w.]+", str(exc))
        raise DataError("the probe result could not be read safely: it holds something other than plain data"
                        + (f" ({detail.group(0)})" if detail else f" ({type(exc).__name__})")) from None
    return validate_plain(value, max_elements=max_elements, max_items=max_items)


def crash_location(log_tail: str) -> str:
    """The innermost frames of the Python stack that faulthandler printed for a fatal signal."""
    frames = re.findall(r'File "([^"]+)", line (\d+) in (\S+)', log_tail.split("Extension modules:")[0])
    frames = [(f.rsplit("/", 1)[-1], line, fn) for f, line, fn in frames
              if "probe_runtime" not in f and "worker_main" not in f and not re.search(r"_probes(\.py|/)", f)]
    return " <- ".join(f"{f}:{line} in {fn}" for f, line, fn in frames[:3])
