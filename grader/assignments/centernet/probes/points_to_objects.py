"""Probes of PointsToObjects."""

from __future__ import annotations

import torch

from .common import _attempt, _gen, _int, _mod, _odd, _result


def build_points_hand() -> torch.Tensor:
    """Hand case [B=1, C=2+4, 3, 3] (see verdicts/points_to_objects.py for the expected rows).

    Class 1 scores 0.9 at (2, 1), class 0 scores 0.6 at (0, 2); the other 16 class scores are
    distinct values below 0.02 (all below min_confidence = 0.1).
    """
    points = torch.zeros(1, 6, 3, 3)
    points[0, :2] = (torch.arange(1, 19, dtype=torch.float32) * 0.001).reshape(2, 3, 3)
    points[0, 1, 2, 1] = 0.9
    points[0, 0, 0, 2] = 0.6
    points[0, 2:, 2, 1] = torch.tensor([0.25, 0.5, 3.0, 4.0])  # dy, dx, h, w at (2, 1)
    points[0, 2:, 0, 2] = torch.tensor([0.75, 0.0, 1.5, 2.0])  # dy, dx, h, w at (0, 2)
    return points


def build_points_random(seed, b: int, c: int, h: int, w: int) -> torch.Tensor:
    """Tie-free points [B, C+4, H, W]: the C*H*W scores of an image are a permutation of
    (k + 0.25) / (C*H*W), so no two are equal and none equals a round threshold such as 0.5.
    ``seed`` is an int or a ``torch.Generator``."""
    g = seed if isinstance(seed, torch.Generator) else _gen(seed)
    n = c * h * w
    scores = torch.stack([torch.randperm(n, generator=g) for _ in range(b)]).float()
    scores = ((scores + 0.25) / n).reshape(b, c, h, w)
    dydx = torch.rand(b, 2, h, w, generator=g) * 0.9
    sizes = torch.rand(b, 2, h, w, generator=g) * 9 + 1
    return torch.cat([scores, dydx, sizes], dim=1)


def build_points_min_confidence() -> torch.Tensor:
    """B=1, C=1, 3x3: only 0.8 at (0, 0) and 0.6 at (2, 1) reach min_confidence = 0.5."""
    points = torch.zeros(1, 5, 3, 3)
    points[0, 0] = torch.tensor([[0.8, 0.1, 0.2], [0.3, 0.4, 0.45], [0.05, 0.6, 0.15]])
    points[0, 1:] = torch.rand(4, 3, 3, generator=_gen(90)) * 0.9 + 0.05
    return points


def draw_round_trip(g: torch.Generator) -> list:
    """Secret (name, C, hw, objects [B, N, 6], K): distinct scores, distinct locations, borders
    included, padding rows. The probe draws the objects onto maps itself (no smoothing), as
    ObjectsToPoints would. Whatever the draw, image 0 of a case with C > 1 holds objects of class 0
    and of another class (in random score order), so every draw tests "top K over all classes"
    the same way."""
    cases = []
    for name, c, hw, b, n, k in (("cN_9x9", _int(g, 2, 4), _int(g, 8, 10), 2, 4, 6),
                                 ("c1_5x5", 1, _int(g, 4, 6), 1, 2, 3)):
        first_classes = [0, _int(g, 1, c - 1) if c > 1 else 0] + [_int(g, 0, c - 1) for _ in range(n - 2)]
        first_classes = [first_classes[int(i)] for i in torch.randperm(n, generator=g)]
        objects = torch.zeros(b, n, 6)
        scores = (torch.randperm(b * n * 10, generator=g)[: b * n].float() + 0.5) / (b * n * 10) * 0.85 + 0.12
        taken = set()
        for bi in range(b):
            count = n if bi == 0 else _int(g, 1, n)
            row = 0
            while row < count:
                if (bi, row) == (0, 0):
                    y, x = 0.0, hw - 0.01  # top-right corner
                elif (bi, row) == (0, 1):
                    y, x = hw - 0.5, 0.0  # bottom-left corner
                else:
                    y, x = (float(v) for v in torch.rand(2, generator=g) * hw)
                if (bi, int(y), int(x)) in taken:
                    continue
                taken.add((bi, int(y), int(x)))
                h, w = (float(v) for v in torch.rand(2, generator=g) * 5 + 0.5)
                cls = first_classes[row] if bi == 0 else _int(g, 0, c - 1)
                objects[bi, row] = torch.tensor([y, x, h, w, float(cls), float(scores[bi * n + row])])
                row += 1
        cases.append((name, c, hw, objects, k))
    return cases


def draw_objects(objects: torch.Tensor, c: int, hw: int) -> torch.Tensor:
    """Objects -> points without smoothing: score = confidence at (cls, floor(y), floor(x))."""
    points = torch.zeros(objects.shape[0], c + 4, hw, hw)
    for bi in range(objects.shape[0]):
        for y, x, h, w, cls, conf in objects[bi].tolist():
            if conf > 0:
                iy, ix = int(y), int(x)
                points[bi, int(cls), iy, ix] = conf
                points[bi, c:, iy, ix] = torch.tensor([y - iy, x - ix, h, w])
    return points


def _decode(pkg, points: torch.Tensor, **kwargs) -> dict:
    p2o = _mod(pkg, "convert").PointsToObjects(**kwargs)
    with torch.no_grad():
        value, error = _attempt(lambda: p2o(points.clone()))
    return _result(value, error)


def p2o_hand(pkg) -> dict:
    """PointsToObjects(objects_per_image=3, min_confidence=0.1) on the hand case."""
    return {"hand": _decode(pkg, build_points_hand(), objects_per_image=3, min_confidence=0.1)}


P2O_PROPERTY_CASE = dict(seed=91, b=2, c=3, h=6, w=6)


def p2o_properties(pkg) -> dict:
    """PointsToObjects(objects_per_image=10, min_confidence=0.0) on random tie-free maps."""
    return {"random": _decode(pkg, build_points_random(**P2O_PROPERTY_CASE), objects_per_image=10, min_confidence=0.0)}


def p2o_min_confidence(pkg) -> dict:
    """PointsToObjects(objects_per_image=4, min_confidence=0.5): two rows above, two below."""
    return {"threshold": _decode(pkg, build_points_min_confidence(), objects_per_image=4, min_confidence=0.5)}


def draw_p2o_random_cases(g: torch.Generator) -> list:
    """Secret (name, points, kwargs) for the differential check: C=2..3 on odd maps with an empty
    last image (no score above min_confidence), C=1, and the defaults."""
    b, c = 3, _int(g, 2, 3)
    first = build_points_random(g, b, c, _odd(g, 5, 9), _odd(g, 5, 9))
    first[b - 1, :c] *= 0.4  # every score of the last image below 0.5
    # image 0: its two best scores in two classes, one of them class 0 (top K over all classes is
    # tested the same way whatever the draw)
    flat = first[0, :c].flatten()
    order = flat.argsort(descending=True)
    hw = first.shape[2] * first.shape[3]
    best_class = int(order[0]) // hw
    other = next(int(i) for i in order[1:]
                 if (int(i) // hw != 0 if best_class == 0 else int(i) // hw == 0))
    flat[[int(order[1]), other]] = flat[[other, int(order[1])]].clone()
    first[0, :c] = flat.reshape(c, *first.shape[2:])
    return [("cN_odd", first, dict(objects_per_image=_int(g, 6, 10), min_confidence=0.5)),
            ("c1", build_points_random(g, 2, 1, _int(g, 4, 6), _int(g, 4, 6)),
             dict(objects_per_image=_int(g, 12, 20), min_confidence=0.2)),
            ("default", build_points_random(g, 1, 2, _int(g, 7, 9), _int(g, 7, 9)), dict())]


def p2o_random(pkg, ctx) -> dict:
    """PointsToObjects on secret random tie-free maps (an empty image, C=1, odd sizes, the defaults)."""
    return {name: _decode(pkg, points, **kwargs)
            for name, points, kwargs in draw_p2o_random_cases(ctx.generator("p2o.random"))}


def p2o_round_trip(pkg, ctx) -> dict:
    """Secret objects drawn onto maps (by the probe) and decoded back; the objects are returned
    with the results (the verdict reads the reference's)."""
    out = {}
    for name, c, hw, objects, k in draw_round_trip(ctx.generator("p2o.round_trip")):
        out[name] = {**_decode(pkg, draw_objects(objects, c, hw), objects_per_image=k, min_confidence=0.1),
                     "objects": objects}
    return out
