# This file is generated from the course's solution, with the solution parts taken out.
# Fill in the parts that raise NotImplementedError; keep the given code (everything else) as it is.
"""Neck: a Feature Pyramid Network (part "Neck", 2 points).

Lin et al., "Feature Pyramid Networks for Object Detection", arXiv 1612.03144, fig. 3:

    C5 -> 1x1 lateral -> M5 ------------------------------> 3x3 conv -> P5
                          | upsample x2 (nearest)
    C4 -> 1x1 lateral ->  + = M4 -------------------------> 3x3 conv -> P4
                               | upsample x2 (nearest)
    C3 -> 1x1 lateral ->       + = M3 --------------------> 3x3 conv -> P3

Deep maps know *what* is in the image, shallow maps know *where*: the top-down path brings the
semantics of C5 down to the fine P3, where small objects are found.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn


class Neck(nn.Module):
    """FPN over backbone maps given deepest first.

    Args:
        in_channels_list: channels of the inputs, in the input order (deepest first), e.g.
            ``[512, 256, 128]`` for ``[C5, C4, C3]`` of a resnet18.
        out_channels: channels of every output map.

    Layers (one of each per level): a 1x1 *lateral* conv ``C_i -> out_channels`` and a 3x3
    *output* conv ``out_channels -> out_channels`` (padding 1). Nothing else has parameters.

    Forward:
        ``features``: list ``[C5, C4, C3]`` of ``(B, C_i, H_i, W_i)``, deepest (smallest) first,
        each level twice the size of the one before (any sizes work: upsample to the exact size
        of the next lateral, ``F.interpolate(x, size=lateral.shape[-2:], mode="nearest")``).

        Returns ``[P3, P4, P5]``, **shallowest first**: ``P_i`` has shape
        ``(B, out_channels, H_i, W_i)``, the size of ``C_i``.
    """

    def __init__(self, in_channels_list: Sequence[int], out_channels: int = 256):
        super().__init__()
        self.in_channels_list = list(in_channels_list)
        self.out_channels = out_channels
        raise NotImplementedError("Neck.__init__ is not implemented yet")

    def forward(self, features: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        """``[C5, C4, C3]`` (deepest first) -> ``[P3, P4, P5]`` (shallowest first)."""
        raise NotImplementedError("Neck.forward is not implemented yet")
