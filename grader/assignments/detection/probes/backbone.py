"""Probes of the Backbone: output shapes and order, trainable parameters per ``unfreeze_last``."""

from __future__ import annotations

import torch
from torch import nn

from .common import _mod, _seeded


def _timm_body(module: nn.Module) -> tuple[str, nn.Module]:
    """The timm feature model inside the student's Backbone (the submodule with ``feature_info``)."""
    for name, sub in module.named_modules():
        if sub is not module and hasattr(sub, "feature_info"):
            return name, sub
    raise TypeError("the Backbone holds no timm model with `feature_info` (build it with timm.create_model(..., "
                    "features_only=True))")


def _backbone_case(Backbone, model_name: str, unfreeze_last: int) -> dict:
    torch.manual_seed(0)
    bb = Backbone(model_name, unfreeze_last=unfreeze_last)
    prefix, body = _timm_body(bb)
    outside = sorted(n for n, p in bb.named_parameters() if not n.startswith(prefix + "."))
    names = [n for n, _ in body.named_parameters()]
    trainable = [n for n, p in body.named_parameters() if p.requires_grad]
    return {"all": names, "trainable": trainable, "outside": outside}


def _backbone_forward(Backbone, model_name: str, g: torch.Generator | None = None) -> dict:
    torch.manual_seed(0)
    bb = Backbone(model_name)
    bb.eval()
    with torch.no_grad():
        feats = bb(torch.randn(2, 3, 96, 128, generator=g if g is not None else _seeded(1)))
    return {
        "shapes": [list(f.shape) for f in feats] if isinstance(feats, (list, tuple)) else str(type(feats)),
        "out_channels": [int(c) for c in getattr(bb, "out_channels", [])],
    }


def backbone_public(pkg) -> dict:
    """resnet18: output shapes and order; trainable names for unfreeze_last = 0, 1, 5."""
    Backbone = _mod(pkg, "backbone").Backbone
    out = {"forward": _backbone_forward(Backbone, "resnet18")}
    for k in (0, 1, 5):
        out[f"k{k}"] = _backbone_case(Backbone, "resnet18", k)
    return out


def backbone_models(pkg, ctx) -> dict:
    """resnet18 and efficientnet_b0: trainable names for unfreeze_last = 0, 1, 2, all; shapes
    (on an input drawn from the run's secret seed)."""
    Backbone = _mod(pkg, "backbone").Backbone
    out = {}
    for model_name in ("resnet18", "efficientnet_b0"):
        out[model_name] = {"forward": _backbone_forward(Backbone, model_name, ctx.generator(f"backbone:{model_name}"))}
        for k in (0, 1, 2, 5):
            case = _backbone_case(Backbone, model_name, k)
            out[model_name][f"k{k}"] = {"trainable": case["trainable"], "outside": case["outside"]}
    return out
