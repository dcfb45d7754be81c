"""Probes of diou_loss and ciou_loss on public inputs (the verdicts rebuild them with
``box_loss_inputs``)."""

from __future__ import annotations

import torch

from .common import _mod, _seeded, _t


def _random_int_boxes(g, n: int, positive: bool) -> torch.Tensor:
    xy = torch.randint(0, 100, (n, 2), generator=g)
    wh = torch.randint(1 if positive else 0, 60, (n, 2), generator=g)
    return torch.cat([xy, xy + wh], dim=1)


def box_loss_inputs(positive: bool) -> dict:
    """The DIoU/CIoU probe's public inputs (the verdict rebuilds them in the parent):
    1000 random integer pairs, degenerate/identical pairs, and large (up to 320 px) boxes whose
    areas and squared diagonals overflow float16 (max 65504) unless computed in float32."""
    g = _seeded(2024)
    pred, gt = _random_int_boxes(g, 1000, positive), _random_int_boxes(g, 1000, positive)
    special_pred = _t([[0, 0, 0, 0], [5, 5, 5, 5], [0, 0, 10, 10], [3, 4, 3, 9], [0, 0, 10, 10], [2, 2, 8, 2]])
    special_gt = _t([[0, 0, 0, 0], [0, 0, 10, 10], [0, 0, 10, 10], [3, 4, 3, 9], [20, 20, 30, 30], [2, 2, 8, 2]])
    g = _seeded(2025)
    xy = torch.randint(0, 40, (64, 2), generator=g)
    large_pred = torch.cat([xy, xy + torch.randint(200, 300, (64, 2), generator=g)], 1)
    xy = torch.randint(0, 40, (64, 2), generator=g)
    large_gt = torch.cat([xy, xy + torch.randint(200, 300, (64, 2), generator=g)], 1)
    return {"pred": pred, "gt": gt, "special_pred": special_pred, "special_gt": special_gt,
            "large_pred": large_pred, "large_gt": large_gt}


def _box_loss_probe(fn, positive: bool) -> dict:
    inputs = box_loss_inputs(positive)
    pred, gt = inputs["pred"], inputs["gt"]
    special_pred, special_gt = inputs["special_pred"], inputs["special_gt"]
    out = {}
    out["mean_int64"] = fn(pred, gt)
    out["mean_int32"] = fn(pred.int(), gt.int())
    out["mean_float32"] = fn(pred.float(), gt.float())
    out["mean_float64"] = fn(pred.double(), gt.double())
    out["mean_float16"] = fn(pred.half(), gt.half())
    out["per_pair"] = torch.stack([torch.as_tensor(fn(pred[i:i + 1].float(), gt[i:i + 1].float())).reshape(())
                                   for i in range(200)])
    # degenerate and identical boxes
    out["special"] = torch.stack([torch.as_tensor(fn(special_pred[i:i + 1], special_gt[i:i + 1])).reshape(())
                                  for i in range(len(special_pred))])
    # large boxes in float16: the float32 result the docstring promises, no overflow
    out["large_float16"] = fn(inputs["large_pred"].half(), inputs["large_gt"].half())
    out["large_float32"] = fn(inputs["large_pred"].float(), inputs["large_gt"].float())
    p = special_pred.clone().requires_grad_(True)
    q = torch.cat([pred[:50].float(), special_pred]).requires_grad_(True)
    loss = fn(p, special_gt) + fn(q, torch.cat([gt[:50].float(), special_gt]))
    grads = torch.autograd.grad(loss, [p, q], allow_unused=True)
    out["grads"] = [gr if gr is not None else None for gr in grads]  # the gradients themselves
    out["empty"] = fn(torch.zeros(0, 4), torch.zeros(0, 4))
    return out


def diou_probe(pkg) -> dict:
    return _box_loss_probe(_mod(pkg, "losses").diou_loss, positive=False)


def ciou_probe(pkg) -> dict:
    return _box_loss_probe(_mod(pkg, "losses").ciou_loss, positive=True)
