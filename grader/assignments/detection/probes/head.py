"""Probe of the decoupled head: shapes, and which parameters each output (and each channel of the
box map with objectness) depends on."""

from __future__ import annotations

import torch

from .common import _mod, _seeded


def head_probe(pkg) -> dict:
    """Shapes with and without objectness; which parameters each output depends on; with
    objectness, which parameters each channel of the box map depends on (the 5-per-anchor layout
    and the objectness's branch)."""
    DecoupledHead = _mod(pkg, "head").DecoupledHead
    torch.manual_seed(0)
    x = torch.randn(2, 16, 6, 8, generator=_seeded(3))
    out: dict = {"shapes": {}}
    for objectness in (False, True):
        head = DecoupledHead(16, num_classes=5, num_anchors=2, width=24, objectness=objectness)
        res = head(x)
        out["shapes"][str(objectness)] = [list(t.shape) for t in res]
    head = DecoupledHead(16, num_classes=5, num_anchors=2, width=24)
    head.train()
    cls_logits, box = head(x)
    params = [(n, p) for n, p in head.named_parameters() if p.requires_grad]
    def deps(t, seed):
        w = torch.randn(t.shape, generator=_seeded(seed))
        grads = torch.autograd.grad((t * w).sum(), [p for _, p in params], retain_graph=True, allow_unused=True)
        return [bool(g is not None and g.abs().sum() > 0) for g in grads]
    cls_dep, box_dep = deps(cls_logits, 11), deps(box, 12)
    out["params"] = [{"name": n, "shape": list(p.shape), "cls": c, "box": b}
                     for (n, p), c, b in zip(params, cls_dep, box_dep)]
    # objectness: per channel of the box map, the parameters it depends on
    torch.manual_seed(0)
    head = DecoupledHead(16, num_classes=5, num_anchors=2, width=24, objectness=True)
    head.train()
    cls_logits, box = head(x)
    params = [(n, p) for n, p in head.named_parameters() if p.requires_grad]
    out["obj_params"] = [n for n, _ in params]
    out["obj_cls"] = deps(cls_logits, 13)
    out["obj_channels"] = [deps(box[:, c], 20 + c) for c in range(box.shape[1])] if box.dim() == 4 else []
    return out
