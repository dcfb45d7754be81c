"""The contract between assignments and the grader: checks, verdicts, comparisons.

A *check* is a probe (worker side, in ``grader/assignments/<name>/probes.py``) plus a
verdict (parent side, here in ``checks.py``). Points and visibility are not here:
they are data in ``rubric.toml``.
"""

from __future__ import annotations

import contextlib
import contextvars
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Mapping, Optional

import torch

#: ``grader_error``: the grader, not the submission, is at fault (a verdict raised, the reference
#: failed, hidden material is missing). It scores nothing, is reported as "grader fault, not your
#: code" and makes the run exit non-zero, so an instructor fixes it before grades go out.
STATUSES = ("passed", "failed", "error", "timeout", "resource_limit", "not_attempted", "pending_review",
            "grader_error")

GRADER_FAULT_PREFIX = "grader fault, not your code: "


@dataclass(frozen=True)
class Verdict:
    """Outcome of one check: ``fraction`` in [0, 1] of its points and a message for the student."""

    fraction: float
    message: str = ""
    attachments: tuple = ()  # file names (relative to the report dir) a verdict produced
    grader_fault: bool = False  # the grader could not judge (see ``grader_fault``), not the student's failure

    @property
    def passed(self) -> bool:
        return self.fraction >= 1.0


def passed(message: str = "ok") -> Verdict:
    return Verdict(1.0, message)


def failed(message: str) -> Verdict:
    return Verdict(0.0, message)


def partial(fraction: float, message: str) -> Verdict:
    return Verdict(max(0.0, min(1.0, float(fraction))), message)


def grader_fault(message: str) -> Verdict:
    """The grader cannot judge this check (missing hidden file, broken reference): status
    ``grader_error``, never the student's failure."""
    return Verdict(0.0, message, grader_fault=True)


@dataclass(frozen=True)
class Check:
    """One graded check.

    id:           unique within the assignment, referenced by ``rubric.toml``.
    component:    the graded component (rubric component name); the loader fills it from the rubric
                  (a check registered with ``Checks`` leaves it empty).
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
    structure: Optional[str] = None  # "exact" | "keys" | "none"; None: "exact" when differential
    verdict_budget: float = 60.0  # seconds the verdict may take (then the check is an "error")
    late_inputs: Optional[Callable[[torch.Generator], Any]] = None  # parent-side, see ProbeContext

    @property
    def structure_rule(self) -> str:
        if self.structure is not None:
            return self.structure
        return "exact" if self.differential else "none"


STRUCTURE_RULES = ("exact", "keys", "none")


class Checks:
    """The checks of an assignment, registered where their verdicts are written (issue 11.2).

    A verdicts module registers each verdict against its check id; the rubric alone says which
    component a check belongs to, what it is worth and whether it is public (the loader fills
    ``Check.component`` from it)::

        CHECKS = Checks()

        @CHECKS.verdict("upscale.shapes", probe="upscale_shapes", description="output shapes")
        def verdict_upscale_shapes(actual, expected): ...

        CHECKS.register("add.values", probe="add_values", verdict=same("add"), differential=True)

    ``options`` are the other fields of ``Check`` (``differential``, ``threads``, timeouts, ...).
    Iterating yields the ``Check`` objects in registration order; an id registered twice is an error.
    """

    def __init__(self) -> None:
        self._checks: dict[str, Check] = {}

    def register(self, check_id: str, *, probe: str, verdict: Callable[..., Verdict], description: str = "",
                 **options: Any) -> Check:
        """Register ``verdict`` as the verdict of check ``check_id`` (run on probe ``probe``)."""
        if check_id in self._checks:
            raise ValueError(f"check id '{check_id}' is registered twice")
        check = Check(check_id, options.pop("component", ""), probe, verdict, description, **options)
        self._checks[check_id] = check
        return check

    def verdict(self, check_id: str, *, probe: str, description: str = "",
                **options: Any) -> Callable[[Callable[..., Verdict]], Callable[..., Verdict]]:
        """Decorator form of ``register``: the decorated function is the check's verdict."""
        def add(fn: Callable[..., Verdict]) -> Callable[..., Verdict]:
            self.register(check_id, probe=probe, verdict=fn, description=description, **options)
            return fn
        return add

    def __iter__(self) -> Iterator[Check]:
        return iter(list(self._checks.values()))

    def __len__(self) -> int:
        return len(self._checks)

    def __getitem__(self, check_id: str) -> Check:
        return self._checks[check_id]


# ----------------------------------------------------------------------------------------------
# Hidden checks: their messages never show the reference's values (issue: a submission could learn
# them run by run). The engine runs a hidden check's verdict inside ``hidden_context()``.
# ----------------------------------------------------------------------------------------------

_HIDDEN = contextvars.ContextVar("grader_hidden_check", default=False)

HIDDEN_VALUE = "(hidden)"


@contextlib.contextmanager
def hidden_context(hidden: bool = True) -> Iterator[None]:
    """Within this block, ``compare_*`` and ``value`` leave out expected values."""
    token = _HIDDEN.set(bool(hidden))
    try:
        yield
    finally:
        _HIDDEN.reset(token)


def is_hidden() -> bool:
    """True while a hidden check's verdict runs."""
    return _HIDDEN.get()


def value(x: Any) -> str:
    """``x`` for a message: its text in a public check, ``(hidden)`` in a hidden one."""
    if is_hidden():
        return HIDDEN_VALUE
    if isinstance(x, float):
        return _fmt(x)
    if isinstance(x, torch.Tensor) and x.numel() == 1:
        return _fmt(float(x))
    return str(x)


# ----------------------------------------------------------------------------------------------
# Structure: the submission's output must hold every case the reference's output holds, so an
# empty or truncated result can never pass a verdict that loops over what it was given.
# ----------------------------------------------------------------------------------------------

def _kind(x: Any) -> str:
    if isinstance(x, torch.Tensor):
        return "a tensor"
    if isinstance(x, bool):
        return "a boolean"
    if isinstance(x, (int, float)):
        return "a number"
    if isinstance(x, str):
        return "a string"
    if x is None:
        return "None"
    if isinstance(x, dict):
        return "a dict"
    if isinstance(x, (list, tuple)):
        return "a list"
    return type(x).__name__


def structure_problem(actual: Any, expected: Any, name: str = "result", *, rule: str = "exact",
                      _depth: int = 0) -> Optional[str]:
    """None when ``actual`` has the structure of ``expected``, else a message naming where not.

    ``exact``: the same dict keys, the same list lengths, a tensor where a tensor is expected, a
    number where a number is expected (None matches anything, a probe's way of saying "no value").
    ``keys``: every key of ``expected``'s dicts present and lists as long (extra keys allowed).
    """
    if rule == "none" or expected is None or _depth > 64:
        return None
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return f"{name}: expected a dict, got {_kind(actual)}"
        missing = [k for k in expected if k not in actual]
        if missing:
            return f"{name}: missing {', '.join(repr(k) for k in missing[:5])}" + (" ..." if len(missing) > 5 else "")
        if rule == "exact":
            extra = [k for k in actual if k not in expected]
            if extra:
                return f"{name}: unexpected {', '.join(repr(k) for k in extra[:5])}"
        for k, v in expected.items():
            problem = structure_problem(actual[k], v, f"{name}[{k!r}]", rule=rule, _depth=_depth + 1)
            if problem:
                return problem
        return None
    if isinstance(expected, (list, tuple)):
        if not isinstance(actual, (list, tuple)):
            return f"{name}: expected a list of {len(expected)}, got {_kind(actual)}"
        if len(actual) != len(expected):
            return f"{name}: {len(actual)} entries, expected {len(expected)} (every case must be present)"
        for i, (a, e) in enumerate(zip(actual, expected)):
            problem = structure_problem(a, e, f"{name}[{i}]", rule=rule, _depth=_depth + 1)
            if problem:
                return problem
        return None
    if actual is None:
        return None  # a probe may record "no value" for one case; the verdict judges it
    if isinstance(expected, torch.Tensor) != isinstance(actual, torch.Tensor):
        return f"{name}: expected {_kind(expected)}, got {_kind(actual)}"
    if isinstance(expected, str) != isinstance(actual, str):
        return f"{name}: expected {_kind(expected)}, got {_kind(actual)}"
    return None


# ----------------------------------------------------------------------------------------------
# Comparison helpers that produce messages a student can act on (docs/DESIGN.md principle 4).
# ----------------------------------------------------------------------------------------------

def _fmt(x: float) -> str:
    return f"{x:.6g}"


def _shown(x: float) -> str:
    """An expected value in a message: left out in hidden checks."""
    return HIDDEN_VALUE if is_hidden() else _fmt(x)


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
                f"expected {_shown(float(e[idx]))}, got {_fmt(float(a[idx]))}")
    a_inf = torch.isinf(a)
    if (a_inf & ~torch.isinf(e)).any():
        idx = tuple(int(i) for i in torch.nonzero(a_inf & ~torch.isinf(e))[0])
        return f"{name}: Inf at index {idx}, expected {_shown(float(e[idx]))}"
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
    worst = (f"worst at index {idx}" if is_hidden()
             else f"worst at index {idx}: expected {_fmt(float(e[idx]))}, got {_fmt(float(a[idx]))}")
    return (
        f"{name}: {int(bad.sum())} of {a.numel()} elements ({100.0 * float(bad.float().mean()):.3g}%) "
        "out of tolerance; "
        f"max abs error {_fmt(float(diff.max()))}, max rel error {rel_text}; "
        f"{worst} (tolerance atol={atol:g}, rtol={rtol:g})"
    )


def compare_number(name: str, actual: Any, expected: float, *, atol: float = 1e-6, rtol: float = 1e-5) -> Optional[str]:
    """Compare two scalars; None when they match, else a message."""
    try:
        a = float(actual)
    except (TypeError, ValueError):
        return f"{name}: expected a number, got {type(actual).__name__}"
    if math.isnan(a) and not math.isnan(expected):
        return f"{name}: got NaN, expected a number" if is_hidden() else f"{name}: got NaN, expected {_fmt(expected)}"
    if abs(a - expected) > atol + rtol * abs(expected):
        if is_hidden():
            return f"{name}: off by {_fmt(abs(a - expected))} (tolerance atol={atol:g}, rtol={rtol:g})"
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
# Attachments (docs/DESIGN.md principle 7): files a verdict produces for the report, e.g. a loss-curve
# PNG. The grader sets the report directory (and the submission that owns the attachments) before
# grading; a verdict writes to ``attachment_path(name)`` and lists ``attachment_name(name)`` in
# ``Verdict.attachments``. After the verdict the grader renames each file after its owner and its
# content (``seal_attachments``): ``attachments/<submission>-<name>-<hash>.<ext>``, so two
# submissions graded into one report directory never show each other's pictures.
# ----------------------------------------------------------------------------------------------

_REPORT_DIR: list[Any] = [None]  # a pathlib.Path once set
_OWNER = [""]  # the submission whose attachments are being written ("" outside a grading run)
ATTACHMENT_DIR = "attachments"
HASH_CHARS = 12  # hex digits of the content's SHA-256 in a sealed name


def set_report_dir(path) -> None:
    """Where attachments go (the CLI's ``--report-dir``; per submission in class runs);
    ``set_report_dir(None)`` also forgets the owner (``set_attachment_owner``)."""
    from pathlib import Path

    _REPORT_DIR[0] = Path(path) if path is not None else None
    if path is None:
        _OWNER[0] = ""


def set_attachment_owner(submission: str) -> None:
    """The submission whose attachments the verdicts write from now on (its name goes into theirs)."""
    _OWNER[0] = submission


def _safe(text: str) -> str:
    import re

    return re.sub(r"[^A-Za-z0-9._-]", "_", text)


def attachment_name(filename: str) -> str:
    """The name to list in ``Verdict.attachments`` (relative to the report directory)."""
    return f"{ATTACHMENT_DIR}/{_safe(filename).lstrip('.') or 'attachment'}"


def _report_dir():
    from pathlib import Path

    return _REPORT_DIR[0] if _REPORT_DIR[0] is not None else Path("grader-report")


def attachment_path(filename: str):
    """The path a verdict writes an attachment to (its directory exists)."""
    path = _report_dir() / attachment_name(filename)
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def sealed_name(name: str, content: bytes, owner: str) -> str:
    """``attachments/<owner>-<stem>-<hash><suffix>``: the name of an attachment after its
    submission and its content (the first ``HASH_CHARS`` hex digits of its SHA-256)."""
    import hashlib
    from pathlib import PurePosixPath

    base = PurePosixPath(name)
    digest = hashlib.sha256(content).hexdigest()[:HASH_CHARS]
    return f"{ATTACHMENT_DIR}/{_safe(owner).strip('._')[:60] or 'submission'}-{base.stem}-{digest}{base.suffix}"


def seal_attachments(names) -> list:
    """Rename each attachment a verdict listed (``attachments/<name>``, written in the report
    directory) after the submission being graded and its content; return the new names. A name
    that is not a file written there is returned unchanged (the report writers drop unsafe ones)."""
    import os

    base, out = _report_dir(), []
    for name in names:
        path = base / name if isinstance(name, str) and name.startswith(ATTACHMENT_DIR + "/") else None
        if path is None or "/" in name[len(ATTACHMENT_DIR) + 1:] or not path.is_file() or path.is_symlink():
            out.append(name)
            continue
        new = sealed_name(name, path.read_bytes(), _OWNER[0])
        os.replace(path, base / new)
        out.append(new)
    return out
