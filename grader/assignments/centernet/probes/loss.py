"""Probes of CenterNetLoss: loss_fl and loss_l1 on prepared tensors, the given forward with fixed
targets."""

from __future__ import annotations

import torch
from torch import nn

from .common import _attempt, _gen, _int, _mod, _plain, _result


def build_focal_hand() -> dict:
    """Hand-computed focal-loss case: B=2, C=1, H=1, W=3 (see verdicts/loss.py for the arithmetic)."""
    predict = torch.tensor([[[[0.5, 0.5, 0.25]]], [[[0.5, 0.125, 0.0]]]])
    target = torch.tensor([[[[1.0, 0.5, 0.0]]], [[[0.0, 0.75, 0.0]]]])
    return {"predict": predict, "target": target}


def build_focal_exact() -> dict:
    """Predictions exactly 0 or 1. Image 0: the "right" extremes (1 at the centre, 0 elsewhere): the
    loss is 0. Image 1: the "wrong" extremes (0 at the centre, 1 elsewhere): the true loss is +inf; a
    clamped logarithm keeps it finite."""
    predict = torch.tensor([[[[1.0, 0.0, 0.0]]], [[[0.0, 1.0, 1.0]]]])
    target = torch.tensor([[[[1.0, 0.5, 0.0]]], [[[1.0, 0.5, 0.0]]]])
    return {"predict": predict, "target": target}


def build_heat_targets(g: torch.Generator, b: int, c: int, hw: int, peaks_per_image) -> torch.Tensor:
    """Target class heatmaps: exact 1 at a few centres, a gaussian around them (values in (0, 1)),
    0 far away. Built here, independent of the submission's ObjectsToPoints."""
    heat = torch.zeros(b, c, hw, hw)
    r = torch.arange(hw, dtype=torch.float32)
    for bi in range(b):
        for _ in range(peaks_per_image[bi]):
            ci = int(torch.randint(c, (1,), generator=g))
            y, x = (int(v) for v in torch.randint(hw, (2,), generator=g))
            blob = torch.exp(-((r[:, None] - y) ** 2 + (r[None, :] - x) ** 2) / 2.0)
            heat[bi, ci] = torch.maximum(heat[bi, ci], blob * 0.999)
            heat[bi, ci, y, x] = 1.0
    return heat


def draw_focal_random(g: torch.Generator) -> dict:
    """B=3, C in 1..3, hw in 6..9: a busy image, a quiet one, one with no object; predictions in (0.05, 0.95)."""
    target = build_heat_targets(g, 3, _int(g, 1, 3), _int(g, 6, 9), peaks_per_image=[_int(g, 3, 5), 1, 0])
    predict = torch.rand(target.shape, generator=g) * 0.9 + 0.05
    return {"predict": predict, "target": target}


def draw_focal_benign_exact(g: torch.Generator) -> dict:
    """Random case where predictions are exactly 1 at every centre and exactly 0 at some negatives:
    the true loss is finite, and every clamped implementation agrees with it."""
    case = draw_focal_random(g)
    predict, target = case["predict"].clone(), case["target"]
    predict[target == 1] = 1.0
    zero = torch.rand(target.shape, generator=g) < 0.3
    predict[zero & (target < 1)] = 0.0
    return {"predict": predict, "target": target}


def _loss_module(pkg):
    return _mod(pkg, "loss").CenterNetLoss()


def _focal(loss, case, **kwargs):
    predict = case["predict"].clone().requires_grad_(True)
    value = loss.loss_fl(predict, case["target"].clone(), **kwargs)
    result = {**_result(value), "grad": None}
    if isinstance(value, torch.Tensor) and value.requires_grad:
        value.sum().backward()
        result["grad"] = None if predict.grad is None else _plain(predict.grad)
    return result


def loss_focal_hand(pkg) -> dict:
    """loss_fl on the hand-computed case, with the default exponents and with alpha=1, beta=2."""
    loss = _loss_module(pkg)
    case = build_focal_hand()
    return {"default": _focal(loss, case), "alpha1_beta2": _focal(loss, case, alpha=1, beta=2)}


def loss_focal_exact(pkg) -> dict:
    """loss_fl with predictions exactly 0 or 1: values and gradients."""
    return {"exact": _focal(_loss_module(pkg), build_focal_exact())}


def loss_focal_random(pkg, ctx) -> dict:
    """loss_fl on secret random heatmaps (default and alpha=3, beta=2) and on exact 0/1 predictions
    where the loss is finite; values and gradients."""
    g = ctx.generator("loss.focal_random")
    loss = _loss_module(pkg)
    return {
        "default": _focal(loss, draw_focal_random(g)),
        "alpha3_beta2": _focal(loss, draw_focal_random(g), alpha=3, beta=2),
        "benign_exact": _focal(loss, draw_focal_benign_exact(g)),
    }


def build_l1_hand() -> dict:
    """Hand-computed L1 case, B=3, 2 channels, 2x2 maps (see verdicts/loss.py for the arithmetic).

    Everywhere except the listed pixels predict = 7 and target = 0, so a loss that also counts
    pixels without a real object is off by 7 per channel and pixel.
    """
    predict = torch.full((3, 2, 2, 2), 7.0)
    target = torch.zeros(3, 2, 2, 2)
    mask = torch.zeros(3, 1, 2, 2, dtype=torch.bool)
    # image 0: one object at (0, 1)
    mask[0, 0, 0, 1] = True
    predict[0, :, 0, 1] = torch.tensor([0.5, 2.0])
    target[0, :, 0, 1] = torch.tensor([0.25, 3.0])
    # image 1: objects at (0, 0) and (1, 1)
    mask[1, 0, 0, 0] = True
    predict[1, :, 0, 0] = torch.tensor([1.0, 0.0])
    target[1, :, 0, 0] = torch.tensor([0.5, 2.0])
    mask[1, 0, 1, 1] = True
    predict[1, :, 1, 1] = torch.tensor([3.0, 0.5])
    target[1, :, 1, 1] = torch.tensor([1.0, 0.5])
    # image 2: no object at all
    return {"predict": predict, "target": target, "mask": mask}


def draw_l1_random(g: torch.Generator) -> dict:
    """B=3, 2 channels, hw in 7..11: a few real-object pixels in images 0 and 1 (two opposite
    corners among them), none in image 2."""
    hw = _int(g, 7, 11)
    predict = torch.randn(3, 2, hw, hw, generator=g) * 3
    target = torch.randn(3, 2, hw, hw, generator=g) * 3
    mask = torch.rand(3, 1, hw, hw, generator=g) < 0.08
    mask[2] = False
    mask[0, 0, 0, 0] = True  # a corner
    mask[1, 0, hw - 1, hw - 1] = True  # the opposite corner
    return {"predict": predict, "target": target, "mask": mask}


def _l1(loss, case):
    predict = case["predict"].clone().requires_grad_(True)
    value = loss.loss_l1(predict, case["target"].clone(), case["mask"].clone())
    result = _result(value)
    if isinstance(value, torch.Tensor) and value.requires_grad:
        value.sum().backward()
    result["grad"] = None if predict.grad is None else _plain(predict.grad)
    return result


def loss_l1_hand(pkg) -> dict:
    """loss_l1 on the hand-computed case."""
    return {"l1": _l1(_loss_module(pkg), build_l1_hand())}


def loss_l1_random(pkg, ctx) -> dict:
    """loss_l1 on secret random maps with a sparse object mask (one image without objects); with gradients."""
    return {"l1": _l1(_loss_module(pkg), draw_l1_random(ctx.generator("loss.l1_random")))}


class FixedTargets(nn.Module):
    """Stands in for ObjectsToPoints in CenterNetLoss: returns prepared target points, so the loss
    probes do not depend on the submission's converter."""

    def __init__(self, points: torch.Tensor):
        super().__init__()
        self.points = points

    def forward(self, objects: torch.Tensor) -> torch.Tensor:
        return self.points.clone().to(objects)


def _loss_forward_case(rows: dict, c: int, hw: int, g: torch.Generator) -> dict:
    """Predictions [B, C+4, hw, hw], target objects [B, 4, 6] (image pixels, R = 4) from ``rows``
    ({image: [(y, x, h, w, cls) in map pixels]}) and the target points those objects give (built
    here: exact 1 at each centre, a gaussian around it)."""
    b, r = len(rows), 4
    objects = torch.zeros(b, 4, 6)
    points = torch.zeros(b, c + 4, hw, hw)
    ramp = torch.arange(hw, dtype=torch.float32)
    for bi, objs in rows.items():
        for n, (y, x, h, w, cls) in enumerate(objs):
            objects[bi, n] = torch.tensor([y * r, x * r, h * r, w * r, cls, 1.0])
            iy, ix = int(y), int(x)
            blob = torch.exp(-((ramp[:, None] - iy) ** 2 + (ramp[None, :] - ix) ** 2) / 2.0) * 0.999
            points[bi, cls] = torch.maximum(points[bi, cls], blob)
            points[bi, cls, iy, ix] = 1.0
            points[bi, c:, iy, ix] = torch.tensor([y - iy, x - ix, h, w])
    pred = torch.cat([torch.rand(b, c, hw, hw, generator=g) * 0.9 + 0.05,
                      torch.rand(b, 2, hw, hw, generator=g),
                      torch.rand(b, 2, hw, hw, generator=g) * 5], dim=1)
    return {"pred": pred, "objects": objects, "points": points}


def build_loss_forward() -> dict:
    """The public case: B=3, C=2, 8x8 maps; image 2 has no object."""
    rows = {0: [(2.25, 5.5, 3.0, 2.0, 0), (6.75, 1.25, 1.5, 4.0, 1)], 1: [(4.5, 4.5, 2.0, 2.0, 1)], 2: []}
    return _loss_forward_case(rows, 2, 8, _gen(60))


def draw_loss_forward(g: torch.Generator) -> dict:
    """A secret case: B=3, C in 1..3, hw in 6..10, 2-4 objects in image 0, one in image 1, none in
    image 2. Centres are at least 3 pixels apart, so no pixel but a centre has class values that
    sum to 1 or more: "a real object is where some class has its 1" (this project) and "where the
    class values sum to >= 1" (the original course's given forward) mark the same pixels."""
    c, hw = _int(g, 1, 3), _int(g, 6, 10)
    rows: dict[int, list[tuple[float, float, float, float, int]]] = {0: [], 1: [], 2: []}
    for bi, n in ((0, _int(g, 2, 4)), (1, 1)):
        taken: list[tuple[int, int]] = []
        tries = 0
        while len(rows[bi]) < n:
            tries += 1
            if tries % 200 == 0:  # a crowded start: draw the image again
                taken, rows[bi] = [], []
            y, x = (float(v) for v in torch.rand(2, generator=g) * hw)
            if any((int(y) - ty) ** 2 + (int(x) - tx) ** 2 < 9 for ty, tx in taken):
                continue
            taken.append((int(y), int(x)))
            h, w = (float(v) for v in torch.rand(2, generator=g) * 4 + 0.5)
            rows[bi].append((y, x, h, w, _int(g, 0, c - 1)))
    return _loss_forward_case(rows, c, hw, g)


def _loss_forward(pkg, case: dict) -> dict:
    """The given forward's result, and the shapes loss_fl and loss_l1 return on the same batch (only
    for the message when the forward fails: "loss_fl must return [B] first")."""
    loss = _mod(pkg, "loss").CenterNetLoss(obj_to_points=FixedTargets(case["points"]))
    pred, points = case["pred"], case["points"]
    c = points.shape[1] - 4
    with torch.no_grad():
        value, error = _attempt(lambda: loss(pred.clone(), case["objects"].clone()))
        fl, _ = _attempt(lambda: loss.loss_fl(pred[:, :c].clone(), points[:, :c].clone()))
        mask = (points[:, :c] == 1).any(dim=1, keepdim=True)
        l1, _ = _attempt(lambda: loss.loss_l1(pred[:, c:c + 2].clone(), points[:, c:c + 2].clone(), mask))
    # strings (the structure rule compares no text): "[3]", "[]", or the type's name
    shapes = {name: str(list(v.shape)) if isinstance(v, torch.Tensor) else type(v).__name__
              for name, v in (("loss_fl", fl), ("loss_l1", l1))}
    return {**_result(value, error), "term_shapes": shapes}


def loss_forward(pkg) -> dict:
    """The given CenterNetLoss.forward ([B, 3]) with the prepared targets (no ObjectsToPoints)."""
    return _loss_forward(pkg, build_loss_forward())


def loss_forward_random(pkg, ctx) -> dict:
    """The given forward on a secret batch (an empty image included), with prepared targets."""
    return _loss_forward(pkg, draw_loss_forward(ctx.generator("loss.forward_values")))
