"""The contract between assignments and the grader: checks, verdicts, comparisons.

A *check* is a probe (worker side, in ``grader/assignments/<name>/probes.py``) plus a
verdict (parent side, here in ``checks.py``). Points and visibility are not here:
they are data in ``rubric.toml``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Optional

import torch

STATUSES = ("passed", "failed", "error", "timeout", "resource_limit", "not_attempted", "pending_review")


@dataclass(frozen=True)
class Verdict:
    """Outcome of one check: ``fraction`` in [0, 1] of its points and a message for the student."""

    fraction: float
    message: str = ""
    attachments: tuple = ()  # file names (relative to the report dir) a verdict produced

    @property
    def passed(self) -> bool:
        return self.fraction >= 1.0


def passed(message: str = "ok") -> Verdict:
    return Verdict(1.0, message)


def failed(message: str) -> Verdict:
    return Verdict(0.0, message)


def partial(fraction: float, message: str) -> Verdict:
    return Verdict(max(0.0, min(1.0, float(fraction))), message)


@dataclass(frozen=True)
class Check:
    """One graded check.

    id:           unique within the assignment, referenced by ``rubric.toml``.
    component:    the graded component (rubric component name).
    probe:        name of the function in ``probes.py``.
    verdict:      ``verdict(actual, expected) -> Verdict``; ``expected`` is the probe's output on the
                  reference when ``differential`` is true, else None.
    description:  one line shown in reports.
    differential: the verdict needs the reference's output for the same probe.
    threads:      torch threads fixed for the probe (determinism).
    timeout_factor / timeout_floor / timeout_ceiling: wall limit = clamp(factor * reference time).
    """

    id: str
    component: str
    probe: str
    verdict: Callable[[Mapping[str, Any], Optional[Mapping[str, Any]]], Verdict]
    description: str = ""
    differential: bool = False
    threads: int = 1
    timeout_factor: float = 20.0
    timeout_floor: float = 20.0
    timeout_ceiling: float = 300.0
    extra: Mapping[str, Any] = field(default_factory=dict)


# ----------------------------------------------------------------------------------------------
# Comparison helpers that produce messages a student can act on (DESIGN.md principle 4).
# ----------------------------------------------------------------------------------------------

def _fmt(x: float) -> str:
    return f"{x:.6g}"


def compare_tensors(
    name: str,
    actual: Any,
    expected: torch.Tensor,
    *,
    atol: float = 1e-5,
    rtol: float = 1e-4,
    check_dtype: bool = True,
) -> Optional[str]:
    """Compare two tensors; return None when they match, else a message.

    The message gives the shape/dtype mismatch first; otherwise the max abs and rel error,
    the fraction of elements out of tolerance, the worst index with expected vs actual, and the
    tolerance used.
    """
    if not isinstance(actual, torch.Tensor):
        return f"{name}: expected a tensor of shape {tuple(expected.shape)}, got {type(actual).__name__}"
    if tuple(actual.shape) != tuple(expected.shape):
        return f"{name}: shape {tuple(actual.shape)}, expected {tuple(expected.shape)}"
    if check_dtype and actual.dtype != expected.dtype:
        return f"{name}: dtype {actual.dtype}, expected {expected.dtype}"
    a = actual.detach().to(torch.float64)
    e = expected.detach().to(torch.float64)
    if a.numel() == 0:
        return None
    a_nan, e_nan = torch.isnan(a), torch.isnan(e)
    if (a_nan != e_nan).any():
        idx = tuple(int(i) for i in torch.nonzero(a_nan != e_nan)[0])
        return (f"{name}: NaN where a number was expected (or the reverse) at index {idx}: "
                f"expected {_fmt(float(e[idx]))}, got {_fmt(float(a[idx]))}")
    a_inf = torch.isinf(a)
    if (a_inf & ~torch.isinf(e)).any():
        idx = tuple(int(i) for i in torch.nonzero(a_inf & ~torch.isinf(e))[0])
        return f"{name}: Inf at index {idx}, expected {_fmt(float(e[idx]))}"
    a = torch.where(a_nan, torch.zeros_like(a), a)
    e = torch.where(e_nan, torch.zeros_like(e), e)
    diff = (a - e).abs()
    diff = torch.where(torch.isinf(a) & torch.isinf(e) & (a == e), torch.zeros_like(diff), diff)
    bad = diff > (atol + rtol * e.abs())
    if not bad.any():
        return None
    flat = int(torch.argmax(torch.where(bad, diff, torch.zeros_like(diff))))
    idx = tuple(int(i) for i in torch.unravel_index(torch.tensor(flat), a.shape))
    # Relative error only where the expected value is not (almost) zero; elsewhere it means nothing.
    meaningful = bad & (e.abs() > atol)
    rel_text = _fmt(float((diff[meaningful] / e.abs()[meaningful]).max())) if meaningful.any() else "n/a"
    return (
        f"{name}: {int(bad.sum())} of {a.numel()} elements ({100.0 * float(bad.float().mean()):.3g}%) out of tolerance; "
        f"max abs error {_fmt(float(diff.max()))}, max rel error {rel_text}; "
        f"worst at index {idx}: expected {_fmt(float(e[idx]))}, got {_fmt(float(a[idx]))} "
        f"(tolerance atol={atol:g}, rtol={rtol:g})"
    )


def compare_number(name: str, actual: Any, expected: float, *, atol: float = 1e-6, rtol: float = 1e-5) -> Optional[str]:
    """Compare two scalars; None when they match, else a message."""
    try:
        a = float(actual)
    except (TypeError, ValueError):
        return f"{name}: expected a number, got {type(actual).__name__}"
    if math.isnan(a) and not math.isnan(expected):
        return f"{name}: got NaN, expected {_fmt(expected)}"
    if abs(a - expected) > atol + rtol * abs(expected):
        return f"{name}: expected {_fmt(expected)}, got {_fmt(a)} (tolerance atol={atol:g}, rtol={rtol:g})"
    return None


def first_problem(*messages: Optional[str]) -> Optional[str]:
    """Return the first non-None message."""
    for m in messages:
        if m:
            return m
    return None


def verdict_from(messages, ok_message: str = "ok") -> Verdict:
    """Turn a list of (possibly None) problem messages into a pass/fail verdict."""
    problems = [m for m in messages if m]
    if not problems:
        return passed(ok_message)
    more = f" (+{len(problems) - 1} more problem(s))" if len(problems) > 1 else ""
    return failed(problems[0] + more)


# ----------------------------------------------------------------------------------------------
# Attachments (DESIGN.md principle 6): files a verdict produces for the report, e.g. a loss-curve
# PNG. The grader sets the report directory before grading; a verdict writes to
# ``attachment_path(name)`` and lists ``attachment_name(name)`` in ``Verdict.attachments``.
# ----------------------------------------------------------------------------------------------

_REPORT_DIR = [None]


def set_report_dir(path) -> None:
    """Where attachments go (the CLI's ``--report-dir``; per submission in class runs)."""
    from pathlib import Path

    _REPORT_DIR[0] = Path(path) if path is not None else None


def attachment_name(filename: str) -> str:
    """The name to list in ``Verdict.attachments`` (relative to the report directory)."""
    import re

    safe = re.sub(r"[^A-Za-z0-9._-]", "_", filename).lstrip(".") or "attachment"
    return f"attachments/{safe}"


def attachment_path(filename: str):
    """The path a verdict writes an attachment to (its directory exists)."""
    from pathlib import Path

    base = _REPORT_DIR[0] if _REPORT_DIR[0] is not None else Path("grader-report")
    path = base / attachment_name(filename)
    path.parent.mkdir(parents=True, exist_ok=True)
    return path
