"""Probes of the task-aligned assigner (TAL): hand-built cases and random images drawn from the
run's secret seed."""

from __future__ import annotations

import torch

from .common import _mod, _seeded, _t


def _alignment_of(scores, pred_boxes, gt_labels, gt_boxes, gt_index, score_exponent=1.0, iou_exponent=6.0):
    """Per anchor, ``t`` and IoU with the GT ``gt_index`` gives it (0 for background): computed
    here from the inputs, not by the code under test. The verdict uses them only from the
    reference's run (the parent's), to accept every usual placement of the normalisation's eps."""
    from torchvision.ops import box_iou

    a = scores.shape[0]
    t, u = torch.zeros(a, dtype=torch.float64), torch.zeros(a, dtype=torch.float64)
    if not (isinstance(gt_index, torch.Tensor) and gt_index.shape == (a,) and not gt_index.is_floating_point()):
        return t, u
    pos = (gt_index >= 0) & (gt_index < gt_boxes.shape[0])
    if pos.any():
        j = gt_index[pos].long()
        ious = box_iou(gt_boxes.double(), pred_boxes.double())  # (G, A)
        u[pos] = ious[j, pos.nonzero().squeeze(1)]
        s = scores.double()[pos.nonzero().squeeze(1), gt_labels[j]]
        t[pos] = s ** score_exponent * u[pos] ** iou_exponent
    return t, u


def _assign(pkg, scores, pred_boxes, points, gt_labels, gt_boxes, **kw) -> dict:
    fn = _mod(pkg, "assigner").task_aligned_assign
    res = fn(scores, pred_boxes, points, gt_labels, gt_boxes, **kw)
    gt_index, labels, boxes, soft = res
    exponents = {k: kw[k] for k in ("score_exponent", "iou_exponent") if k in kw}
    t, u = _alignment_of(scores, pred_boxes, gt_labels, gt_boxes, gt_index, **exponents)
    return {"gt_index": gt_index, "labels": labels, "boxes": boxes, "scores": soft, "t": t, "iou": u}


def topk_permutation() -> torch.Tensor:
    """The fixed shuffle of the top-k case's 15 anchors (public; the verdict rebuilds it)."""
    return torch.randperm(15, generator=_seeded(5))


def tal_cases(pkg) -> dict:
    """Hand-built cases (the verdict knows the answers)."""
    out = {}
    # 1. centre strictly inside: 6 anchors, one GT [0,0,10,10]; every predicted box overlaps it
    points = _t([[5, 5], [10, 5], [0, 5], [5, 10], [12, 5], [3, 3]])
    preds = _t([[1, 1, 9, 9]] * 6)
    scores = torch.full((6, 2), 0.5)
    out["inside"] = _assign(pkg, scores, preds, points, torch.tensor([0]), _t([[0, 0, 10, 10]]))
    # 2. top-k: 12 candidates of one GT, predicted boxes of decreasing IoU, equal scores; k = 5;
    #    3 more anchors outside the GT with perfect boxes (never candidates, whatever their t)
    points = _t([[50 + i, 50] for i in range(12)] + [[150, 50], [50, 100], [-3, 20]])
    preds = _t([[0, 0, 100, 100 - 5 * i] for i in range(12)] + [[0, 0, 100, 100]] * 3)
    perm = topk_permutation()
    out["topk"] = _assign(pkg, torch.full((15, 3), 0.5), preds[perm], points[perm], torch.tensor([2]),
                          _t([[0, 0, 100, 100]]), topk=5)
    # 3. conflict: anchor 0 lies in GTs A (class 0) and B (class 1); its box overlaps A more, but
    #    its score for B's class is much higher (t_B > t_A): it must go to A (highest IoU)
    points = _t([[10, 10], [3, 3], [25, 25]])
    preds = _t([[1, 1, 19, 19], [0, 0, 18, 18], [6, 6, 30, 30]])
    scores = _t([[1e-4, 0.9999], [0.6, 0.1], [0.1, 0.7]])
    out["conflict"] = _assign(pkg, scores, preds, points, torch.tensor([0, 1]), _t([[0, 0, 20, 20], [5, 5, 30, 30]]))
    # 4. normalisation and the exponents' roles: GT 0 with IoUs 1, .5, .8; GT 1 with IoUs .8, .5
    points = _t([[5, 5], [4, 4], [6, 6], [105, 105], [104, 104]])
    preds = _t([[0, 0, 10, 10], [0, 0, 10, 5], [0, 0, 10, 8], [100, 100, 110, 108], [100, 100, 110, 105]])
    scores = _t([[0.5, 0.0], [0.9, 0.0], [0.6, 0.0], [0.0, 0.3], [0.0, 0.9]])
    out["normalise"] = _assign(pkg, scores, preds, points, torch.tensor([0, 1]),
                               _t([[0, 0, 10, 10], [100, 100, 110, 110]]))
    # 5. no GT at all
    g = _seeded(9)
    points = torch.rand(7, 2, generator=g) * 50
    preds = torch.cat([points - 3, points + 3], dim=1)
    out["empty"] = _assign(pkg, torch.rand(7, 4, generator=g), preds, points, torch.zeros(0, dtype=torch.long),
                           torch.zeros(0, 4))
    # 6. a GT without any candidate (between anchor centres) next to a normal one
    ys, xs = torch.meshgrid(torch.arange(8) * 4 + 2.0, torch.arange(8) * 4 + 2.0, indexing="ij")
    points = torch.stack([xs.flatten(), ys.flatten()], dim=1)
    preds = torch.cat([points - 1.5, points + 1.5], dim=1)
    scores = torch.full((64, 2), 0.5)
    out["no_candidate"] = _assign(pkg, scores, preds, points, torch.tensor([1, 0]),
                                  _t([[2.5, 2.5, 5.5, 5.5], [12, 12, 24, 24]]))
    return out


def anchor_centres(image: int, strides=(8, 16, 32)) -> torch.Tensor:
    """Centres ``(x, y)`` of the anchor points of a square image on every level: ``[A, 2]`` float32,
    level by level, row-major within a level (the layout TAL sees)."""
    points = []
    for stride in strides:
        n = image // stride
        ys, xs = torch.meshgrid(torch.arange(n) * stride + stride / 2, torch.arange(n) * stride + stride / 2,
                                indexing="ij")
        points.append(torch.stack([xs.flatten(), ys.flatten()], 1))
    return torch.cat(points).float()


def _random_tal_case(seed: int, num_gt: int, num_classes: int = 4, image: int = 128,
                     g: torch.Generator | None = None):
    """One random image's TAL inputs; ``seed`` picks the variant (odd: GT corners on the anchor
    grid), ``g`` draws the values (default: seeded from ``seed``)."""
    g = g if g is not None else _seeded(seed)
    points = anchor_centres(image)
    a = points.shape[0]
    # predicted boxes contain their anchor point: every candidate overlaps its GT (t > 0, no ties)
    left_top = points - torch.rand(a, 2, generator=g) * 30 - 1
    right_bottom = points + torch.rand(a, 2, generator=g) * 30 + 1
    preds = torch.cat([left_top, right_bottom], 1)
    scores = torch.rand(a, num_classes, generator=g) * 0.9 + 0.05
    xy = torch.rand(num_gt, 2, generator=g) * (image - 20)
    wh = torch.rand(num_gt, 2, generator=g) * 60 + 8
    gt_boxes = torch.cat([xy, (xy + wh).clamp(max=image)], 1)
    if seed % 2:  # corners on the grid of anchor centres: centres on a GT's border are not inside
        gt_boxes = (gt_boxes / 4).round() * 4
    gt_labels = torch.randint(0, num_classes, (num_gt,), generator=g)
    return scores, preds, points, gt_labels, gt_boxes


def tal_random(pkg, ctx) -> dict:
    """Random images drawn from the run's secret seed (336 anchors on 3 levels, 1-12 GTs),
    several settings; compared with the reference on the same inputs."""
    out = {}
    settings: list[dict] = [dict(), dict(topk=5), dict(topk=9, score_exponent=0.5, iou_exponent=4.0)]
    for seed in range(12):
        num_gt = [1, 3, 6, 12][seed % 4]
        case = _random_tal_case(seed, num_gt, g=ctx.generator(f"tal:case{seed}"))
        kw = settings[seed % 3]
        out[f"case{seed}"] = _assign(pkg, *case, **kw)
    return out
