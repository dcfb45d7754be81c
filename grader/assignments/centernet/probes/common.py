"""Helpers every probe module uses: the package under test's submodules, draws from a generator,
calls that may raise, results as plain data, one SGD step on a module."""

from __future__ import annotations

import importlib

import torch
from torch import nn


def _mod(pkg, name: str):
    """A submodule of the package under test (``<pkg>.convert``)."""
    return importlib.import_module(f"{pkg.__name__}.{name}")


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _int(g: torch.Generator, lo: int, hi: int) -> int:
    """An integer in [lo, hi] drawn from ``g``."""
    return int(torch.randint(lo, hi + 1, (1,), generator=g))


def _odd(g: torch.Generator, lo: int, hi: int) -> int:
    """An odd integer in [lo, hi] (lo odd) drawn from ``g``."""
    return lo + 2 * _int(g, 0, (hi - lo) // 2)


def _attempt(fn):
    """``(fn(), None)``, or ``(None, "TypeError: ...")`` when it raises. NotImplementedError propagates
    (the engine reports it as "not attempted")."""
    try:
        return fn(), None
    except NotImplementedError:
        raise
    except Exception as exc:  # noqa: BLE001 - reported by the verdict, with the case that raised
        return None, f"{type(exc).__name__}: {exc}"[:600]


def _plain(t: torch.Tensor) -> torch.Tensor:
    return t.detach().cpu().clone().contiguous()


def _value(value):
    """A tensor result as plain data; None for anything else (see ``_result``)."""
    return _plain(value) if isinstance(value, torch.Tensor) else None


def _result(value, error=None) -> dict:
    """One call's outcome: the error it raised (or None), its tensor (or None) and its type's name
    (for the message "expected a tensor, got float"; never trusted for a score)."""
    return {"error": error, "value": None if error else _value(value),
            "type": None if error else type(value).__name__}


def _step_and_compare(module: nn.Module, forward, projection_seed, lr: float) -> dict:
    """Output before and after one SGD step (lr ``lr``) on the parameters of ``module`` that
    minimises ``sum(output * projection)``, and the gradient w.r.t. the input.

    ``forward() -> (input, output)``; the projection is drawn with ``_gen(projection_seed)`` in the
    output's shape (the verdict draws the same one). The parent checks that the projected output
    fell: only parameters that receive the gradient can make it fall."""
    x, y = forward()
    if not isinstance(y, torch.Tensor):
        return {"before": _value(y), "after": None, "input_grad": None}
    projection = torch.randn(y.shape, generator=_gen(projection_seed))
    params: list[torch.Tensor] = [p for p in module.parameters() if p.requires_grad]
    if y.requires_grad:
        (y * projection).sum().backward()
    if params:
        with torch.no_grad():
            for p in params:
                if p.grad is not None:
                    p -= lr * p.grad
    with torch.no_grad():
        _, after = forward()
    return {"before": _plain(y), "after": _value(after),
            "input_grad": None if x.grad is None else _plain(x.grad)}
