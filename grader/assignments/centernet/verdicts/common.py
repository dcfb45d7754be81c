"""What every verdict module uses: the registry ``CHECKS``, the probes package ``P`` (its input
builders and constants), ``Bad`` and ``student_verdict``, and the helpers that read a probe's result."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Mapping, Optional

import torch

from grader.core.api import Checks, compare_tensors, failed
from grader.core.assignment import import_path


# The probes package, for its deterministic input builders and constants (it imports only torch/torchvision).
P = import_path(Path(__file__).resolve().parents[1] / "probes", "_grader_centernet_probe_builders")

# The checks of the assignment, registered by id where their verdicts are written (the rubric says
# which component each belongs to, its points and visibility).
CHECKS = Checks()


class Bad(ValueError):
    """A problem with the submission's output, for its message (see ``student_verdict``)."""


def student_verdict(fn):
    """A verdict whose helpers raise ``Bad(message)`` for a malformed or wrong output: that is a
    failed check with the message (any other exception is left to the engine, which tells a
    malformed output from a grader fault)."""

    @functools.wraps(fn)
    def wrapper(actual, expected=None):
        try:
            return fn(actual, expected)
        except Bad as exc:
            return failed(str(exc))

    return wrapper


def _get(mapping, key, what: str = "your output"):
    """``mapping[key]``, or Bad when the output lacks it."""
    if not isinstance(mapping, Mapping) or key not in mapping:
        raise Bad(f"{what}: incomplete output (no result for {key!r})")
    return mapping[key]


def _case_list(actual, key: str, count: int, what: str) -> list:
    """``actual[key]``: a list of exactly ``count`` results (every case present)."""
    cases = _get(actual, key, what)
    if not isinstance(cases, list) or len(cases) != count:
        got = len(cases) if isinstance(cases, list) else type(cases).__name__
        raise Bad(f"{what}: expected results for {count} cases, got {got} (every case must be present)")
    return cases


def _tensor_problem(what: str, value, shape=None, dtype=torch.float32, finite: bool = True,
                    type_name: Optional[str] = None) -> Optional[str]:
    """Problems of a returned tensor: not a tensor, shape (``shape`` a list; None: any), dtype
    (None: any), NaN/Inf (if ``finite``)."""
    if not isinstance(value, torch.Tensor):
        got = type_name or ("nothing" if value is None else type(value).__name__)
        want = f" of shape {list(shape)}" if shape is not None else ""
        return f"{what}: expected a tensor{want}, got {got}"
    if shape is not None and list(value.shape) != list(shape):
        return f"{what}: shape {list(value.shape)}, expected {list(shape)}"
    if dtype is not None and value.dtype != dtype:
        return f"{what}: dtype {value.dtype}, expected {dtype}"
    if finite and value.is_floating_point() and not torch.isfinite(value).all():
        return f"{what}: contains NaN or Inf"
    return None


def _call_tensor(what: str, result, shape=None, dtype=torch.float32, finite: bool = True) -> torch.Tensor:
    """The tensor of one call's result (probes._result), or Bad with the error it raised or its problem."""
    if not isinstance(result, Mapping):
        raise Bad(f"{what}: no result")
    if result.get("error"):
        raise Bad(f"{what} raised {str(result['error'])[:600]}")
    value = result.get("value")
    problem = _tensor_problem(what, value, shape, dtype, finite,
                              type_name=result.get("type") if value is None else None)
    if problem:
        raise Bad(problem)
    assert isinstance(value, torch.Tensor)  # _tensor_problem reports anything else
    return value


def _close_to_any(name: str, actual, candidates: Mapping[str, torch.Tensor], *, atol: float,
                  rtol: float) -> Optional[str]:
    """None when ``actual`` matches one of the candidates, else the message for the closest one."""
    messages = {}
    for label, expected in candidates.items():
        message = compare_tensors(name, actual, expected, atol=atol, rtol=rtol)
        if message is None:
            return None
        messages[label] = message
    if isinstance(actual, torch.Tensor) and all(tuple(actual.shape) == tuple(e.shape) for e in candidates.values()):
        closest = min(candidates, key=lambda k: float((actual.double() - candidates[k].double()).abs().max()))
    else:
        closest = next(iter(candidates))
    labels = " or ".join(candidates)
    return f"{messages[closest]} [compared with the {closest} version; accepted: {labels}]"


def _learning_problem(what: str, result, out_shape_ok, input_shape, projection_seed: int, part: str) -> Optional[str]:
    """One SGD step on the module's parameters must lower ``sum(output * projection)`` (the
    projection is drawn here, as the probe drew it), and the input must receive a gradient.

    ``out_shape_ok(shape) -> None or a message`` judges the output's shape."""
    before = _get(result, "before", what)
    problem = _tensor_problem(what, before, dtype=None)
    if problem:
        return problem
    shape_problem = out_shape_ok(list(before.shape))
    if shape_problem:
        return f"{what}: {shape_problem}"
    after = result.get("after")
    if not isinstance(after, torch.Tensor) or after.shape != before.shape:
        return f"{what}: after one SGD step the output is not a tensor of the same shape"
    projection = torch.randn(before.shape, generator=P._gen(projection_seed)).double()
    start, end = float((before.double() * projection).sum()), float((after.double() * projection).sum())
    if not (end < start - 1e-6 * (1.0 + abs(start))):
        return (f"{what}: one SGD step on the parameters did not lower a random projection of the {part} "
                f"(from {start:.6g} to {end:.6g}): the {part} must depend on trainable parameters that receive "
                "gradients (no parameters, detached outputs or constants?)")
    grad = result.get("input_grad")
    if not isinstance(grad, torch.Tensor) or list(grad.shape) != list(input_shape) or not bool((grad != 0).any()):
        return f"{what}: no gradient reaches the input after backward(); the {part} must depend on it"
    return None
