# This file is generated from the course's solution, with the solution parts taken out.
# Fill in the parts that raise NotImplementedError; keep the given code (everything else) as it is.
"""Head: a decoupled head as in YOLOX (part "Head", 1 point).

Ge et al., "YOLOX: Exceeding YOLO Series in 2021", arXiv 2107.08430, fig. 2. Classification
("what") and localisation ("where exactly") want different features; one shared tower serves both
badly. A decoupled head has a shared 1x1 *stem*, then two separate towers:

    x -> stem (1x1 conv) -+-> cls tower (two 3x3 convs) -> 1x1 conv -> class logits
                          +-> reg tower (two 3x3 convs) -+-> 1x1 conv -> box deltas
                                                         +-> 1x1 conv -> objectness (optional)

One head is used per pyramid level (the detector builds one for each).
"""

from __future__ import annotations

import math

import torch
from torch import nn


def conv_bn_act(in_channels: int, out_channels: int, kernel_size: int) -> nn.Sequential:
    """Conv (no bias) -> BatchNorm -> SiLU, "same" padding for odd kernels."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.SiLU(inplace=True),
    )


class DecoupledHead(nn.Module):
    """A YOLOX-style decoupled head for one pyramid level.

    Args:
        in_channels: channels of the input map (the neck's ``out_channels``).
        num_classes: number of object classes ``C`` (no background class).
        num_anchors: anchors per location ``A``.
        width: channels of the stem and of both towers.
        objectness: also predict one objectness logit per anchor (from the regression tower).

    Layers: ``stem`` = :func:`conv_bn_act` 1x1; ``cls_tower`` and ``reg_tower`` = two
    :func:`conv_bn_act` 3x3 each (separate parameters!); ``cls_pred`` 1x1 conv ``width -> A*C``;
    ``reg_pred`` 1x1 conv ``width -> A*4``; ``obj_pred`` 1x1 conv ``width -> A`` when
    ``objectness``.

    Forward:
        ``x``: ``(B, in_channels, H, W)``. Returns ``(cls_logits, box_deltas)`` with shapes
        ``(B, A*C, H, W)`` and ``(B, A*4, H, W)``; with ``objectness=True`` the second map is
        ``(B, A*5, H, W)``: per anchor the 4 deltas, then its objectness logit, i.e. channels
        ``[a*5, a*5+4)`` are anchor ``a``'s deltas and channel ``a*5+4`` its objectness.
        Channel ``a*C + c`` of the logits is anchor ``a``, class ``c``.

    The class logits must not depend on the regression tower's parameters, nor the box map on
    the classification tower's: only the stem is shared.
    """

    def __init__(self, in_channels: int, num_classes: int, num_anchors: int = 1, width: int = 64,
                 objectness: bool = False):
        super().__init__()
        self.num_classes = num_classes
        self.num_anchors = num_anchors
        self.objectness = objectness
        raise NotImplementedError("DecoupledHead.__init__ is not implemented yet")

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(B, in_channels, H, W)`` -> ``(cls_logits (B, A*C, H, W), box map (B, A*4 or A*5, H, W))``."""
        raise NotImplementedError("DecoupledHead.forward is not implemented yet")
