"""Probes of PointsNonMaxSuppression."""

from __future__ import annotations

import torch

from .common import _attempt, _gen, _int, _mod, _odd, _result


def build_nms_hand() -> torch.Tensor:
    """Hand case [B=1, C=2+4, 4, 4] (see verdicts/nms.py for the expected maps).

    class 0: 0.9 at (1, 1), 0.5 at (1, 2), 0.3 at (3, 3)
    class 1: 0.7 at (1, 2), 0.2 at (2, 2)
    dy, dx, h, w: distinct non-zero values everywhere.
    """
    points = torch.zeros(1, 6, 4, 4)
    points[0, 0, 1, 1], points[0, 0, 1, 2], points[0, 0, 3, 3] = 0.9, 0.5, 0.3
    points[0, 1, 1, 2], points[0, 1, 2, 2] = 0.7, 0.2
    points[0, 2:] = torch.arange(1, 65, dtype=torch.float32).reshape(4, 4, 4) / 64
    return points


def build_nms_random(seed, b: int, c: int, h: int, w: int, plateau: bool = True) -> torch.Tensor:
    """Random scores in (0, 1) (no ties), plus a plateau of two equal neighbours (both are maxima).
    ``seed`` is an int or a ``torch.Generator``."""
    g = seed if isinstance(seed, torch.Generator) else _gen(seed)
    points = torch.cat([torch.rand(b, c, h, w, generator=g), torch.rand(b, 2, h, w, generator=g),
                        torch.rand(b, 2, h, w, generator=g) * 9 + 1], dim=1)
    if plateau:
        y, x = _int(g, 0, h - 1), _int(g, 0, w - 2)
        points[0, 0, y, x] = points[0, 0, y, x + 1] = 1.0  # rand() < 1: nothing around is larger
    return points


NMS_PROPERTY_CASE: dict = dict(seed=100, b=2, c=3, h=8, w=8, plateau=False)


def _nms(pkg, points: torch.Tensor, kernel_size: int, with_inputs: bool = False) -> dict:
    nms = _mod(pkg, "network").PointsNonMaxSuppression(kernel_size=kernel_size)
    with torch.no_grad():
        value, error = _attempt(lambda: nms(points.clone()))
    out = _result(value, error)
    if with_inputs:
        out.update(points=points, kernel_size=kernel_size)
    return out


def nms_hand(pkg) -> dict:
    """PointsNonMaxSuppression(3) on the hand case."""
    return {"hand": _nms(pkg, build_nms_hand(), 3)}


def nms_properties(pkg) -> dict:
    """PointsNonMaxSuppression(3) on random maps."""
    return {"random": _nms(pkg, build_nms_random(**NMS_PROPERTY_CASE), 3)}


def draw_nms_random_cases(g: torch.Generator) -> list:
    """Secret (name, points, kernel_size): kernel 3, C=2..4, odd maps, with a plateau."""
    return [("k3", build_nms_random(g, 2, _int(g, 2, 4), _odd(g, 7, 11), _odd(g, 7, 11)), 3)]


def draw_nms_kernel_cases(g: torch.Generator) -> list:
    """Secret (name, points, kernel_size): C=1 with kernel 5 on odd, non-square maps; kernel 1
    (nothing is suppressed)."""
    return [("c1_k5", build_nms_random(g, 1, 1, _odd(g, 5, 9), _odd(g, 7, 11)), 5),
            ("k1", build_nms_random(g, 1, 2, _int(g, 4, 6), _int(g, 4, 6)), 1)]


def nms_random(pkg, ctx) -> dict:
    """PointsNonMaxSuppression(3) on secret random maps with a plateau; inputs returned with the results."""
    return {name: _nms(pkg, points, k, with_inputs=True)
            for name, points, k in draw_nms_random_cases(ctx.generator("nms.random"))}


def nms_kernel_sizes(pkg, ctx) -> dict:
    """PointsNonMaxSuppression(5) and (1) on secret random maps; inputs returned with the results."""
    return {name: _nms(pkg, points, k, with_inputs=True)
            for name, points, k in draw_nms_kernel_cases(ctx.generator("nms.kernel_sizes"))}
