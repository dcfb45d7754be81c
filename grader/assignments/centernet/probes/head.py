"""Probes of CenterNetHead."""

from __future__ import annotations

import torch

from .common import _attempt, _gen, _int, _mod, _plain, _result, _step_and_compare, _value


def build_head_input(seed, shape, scale: float = 3.0) -> torch.Tensor:
    """``randn * scale``; ``seed`` is an int or a ``torch.Generator``."""
    g = seed if isinstance(seed, torch.Generator) else _gen(seed)
    return torch.randn(*shape, generator=g) * scale


# (k_in_channels or None for the default 64, c_classes or None for the default 2, input shape)
HEAD_SHAPE_CASES = [(16, 3, (2, 16, 5, 7)), (None, None, (1, 64, 8, 8)), (8, 1, (2, 8, 6, 6))]


def _make_head(pkg, k, c):
    head_cls = _mod(pkg, "head").CenterNetHead
    torch.manual_seed(0)
    kwargs = {}
    if k is not None:
        kwargs["k_in_channels"] = k
    if c is not None:
        kwargs["c_classes"] = c
    return head_cls(**kwargs)


def head_shapes(pkg) -> dict:
    """Outputs of CenterNetHead for C = 3, the defaults (K=64, C=2) and C = 1."""
    out = []
    for i, (k, c, shape) in enumerate(HEAD_SHAPE_CASES):
        head = _make_head(pkg, k, c)
        with torch.no_grad():
            y, error = _attempt(lambda: head(build_head_input(30 + i, shape)))
        out.append(_result(y, error))
    return {"cases": out}


def head_outputs(pkg) -> dict:
    """Raw outputs of CenterNetHead(8, C) for C = 3 and C = 1 on inputs of a large spread."""
    out = {}
    for c, seed in ((3, 31), (1, 32)):
        head = _make_head(pkg, 8, c)
        with torch.no_grad():
            y = head(build_head_input(seed, (2, 8, 9, 9), scale=4.0))
        out[f"c{c}"] = _value(y)
    return out


HEAD_GROUPS = {"class": (0, 2), "offset": (2, 4), "size": (4, 6)}  # channels of CenterNetHead(8, 2)
HEAD_LEARNABLE: dict = dict(input_shape=(2, 8, 6, 6), lr=0.05)


def head_learnable(pkg) -> dict:
    """For each output group of CenterNetHead(8, 2) (classes, offsets, sizes), on a fresh head: the
    group's output before and after one SGD step minimising a random projection of it, and the
    gradient w.r.t. the input."""
    out = {}
    base = build_head_input(33, HEAD_LEARNABLE["input_shape"])
    for i, (name, (lo, hi)) in enumerate(HEAD_GROUPS.items()):
        head = _make_head(pkg, 8, 2)

        def forward():
            x = base.clone().requires_grad_(True)
            y = head(x)
            return x, y[:, lo:hi] if isinstance(y, torch.Tensor) and y.dim() == 4 and y.shape[1] >= hi else y

        out[name] = _step_and_compare(head, forward, 34 + i, HEAD_LEARNABLE["lr"])
    return out


HEAD_BACKGROUND_STEPS = 30


def head_background(pkg, ctx) -> dict:
    """Train CenterNetHead(8, 2) for a few Adam steps to say "no object" everywhere (minimise the
    mean class probability) on a secret input; the class probabilities before and after."""
    g = ctx.generator("head.can_predict_background")
    head = _make_head(pkg, 8, 2)
    x = build_head_input(g, (1, 8, _int(g, 5, 8), _int(g, 5, 8)), scale=1.0)
    optimizer = torch.optim.Adam(head.parameters(), lr=0.1)
    with torch.no_grad():
        start = head(x)[:, :2]
    for _ in range(HEAD_BACKGROUND_STEPS):
        optimizer.zero_grad()
        head(x)[:, :2].mean().backward()
        optimizer.step()
    with torch.no_grad():
        end = head(x)[:, :2]
    return {"start": _plain(start), "end": _plain(end)}
