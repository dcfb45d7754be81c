# This file is generated from the course's solution, with the solution parts taken out.
# Fill in the parts that raise NotImplementedError; keep the given code (everything else) as it is.
"""The feature extractor of CenterNet: a ResNet-34 encoder and an upsampling decoder.

Shapes (R = 4 is the output stride of the whole backbone):

    image          [B, 3, H, W]          H and W multiples of 32, values in [0, 1]
    encoder        [B, 512, H/32, W/32]  HeadlessResnet34
    decoder        [B, 64, H/4, W/4]     three UpscaleTwiceLayer: 512 -> 256 -> 128 -> 64
"""

from __future__ import annotations

import os
from typing import Union

import torch
from torch import nn


class UpscaleTwiceLayer(nn.Module):
    """Learnable x2 upsampling: ``[B, in_channels, H, W] -> [B, out_channels, 2H, 2W]``.

    The decoder of "Simple Baselines" (arXiv 1804.06208), which CenterNet uses on top of a ResNet:
    a transposed convolution with stride 2, then BatchNorm, then ReLU.

    Args:
        in_channels: channels of the input.
        out_channels: channels of the output.
        kernel_size, padding, output_padding: of the transposed convolution (stride 2). The
            defaults are the original course's signature, kept so that its solutions drop in.

    Pitfall (the 2H - 1 trap): the output height of a transposed convolution is
    ``(H - 1) * stride - 2 * padding + kernel_size + output_padding``. With the defaults
    ``kernel_size=3, stride=2, padding=1, output_padding=0`` this is ``2H - 1``, not ``2H``.
    The layer must return exactly ``2H x 2W`` for every H and W, odd ones included, when it is built
    with the two positional arguments alone: for example ask the transposed convolution for the
    size you want (``conv(x, output_size=...)`` picks the output padding itself), or build it with
    ``output_padding=1`` (kernel 3) or ``kernel_size=4`` (padding 1).

    A bare transposed convolution works but tends to produce checkerboard artefacts; the
    BatchNorm + ReLU after it are part of the design.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, padding: int = 1,
                 output_padding: int = 0):
        super().__init__()
        raise NotImplementedError("UpscaleTwiceLayer.__init__ is not implemented yet")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, in_channels, H, W] -> [B, out_channels, 2H, 2W]``."""
        raise NotImplementedError("UpscaleTwiceLayer.forward is not implemented yet")


# Helpers of HeadlessResnet34 (for example a BasicBlock module, and a function that stacks blocks
# into a stage) belong here.


class HeadlessResnet34(nn.Module):
    """ResNet-34 without its classifier (no avgpool, no fc): ``[B, 3, H, W] -> [B, 512, H/32, W/32]``.

    Architecture (He et al., "Deep Residual Learning", table 1, column "34-layer"):

        conv1    7x7, 64, stride 2, padding 3, no bias    -> bn1 -> relu
        maxpool  3x3, stride 2, padding 1
        layer1   3 BasicBlocks,  64 channels, stride 1
        layer2   4 BasicBlocks, 128 channels, first block stride 2
        layer3   6 BasicBlocks, 256 channels, first block stride 2
        layer4   3 BasicBlocks, 512 channels, first block stride 2

    A BasicBlock is ``relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x))`` with 3x3 convolutions
    (padding 1, no bias; the stride sits in ``conv1``). The shortcut is the identity, or, when the
    block changes stride or channels, ``downsample = Sequential(Conv2d 1x1 with that stride, no bias;
    BatchNorm2d)``.

    Write it from scratch (no ``torchvision.models``), but name the submodules exactly as torchvision
    does, so that ``state_dict()`` has the keys of ``torchvision.models.resnet34().state_dict()``
    without ``fc.*``: ``conv1``, ``bn1``, ``layer1`` ... ``layer4`` as ``nn.Sequential`` of blocks with
    ``conv1``, ``bn1``, ``conv2``, ``bn2`` and optional ``downsample``. Then a torchvision checkpoint
    loads with ``load_state_dict(..., strict=True)`` and gives the same features.
    """

    def __init__(self):
        super().__init__()
        raise NotImplementedError("HeadlessResnet34.__init__ is not implemented yet")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, 3, H, W] -> [B, 512, H/32, W/32]``."""
        raise NotImplementedError("HeadlessResnet34.forward is not implemented yet")


# ImageNet statistics: torchvision checkpoints expect inputs normalised with them.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def load_resnet34_state_dict(path: Union[str, os.PathLike]) -> dict:
    """Read a local torchvision resnet34 checkpoint and drop its classifier (``fc.*``).

    Accepts a plain state_dict, or a dict holding one under ``"state_dict"`` or ``"model"``.
    Loaded with ``weights_only=True``: the file is data, never code. Nothing is downloaded.
    """
    state = torch.load(path, map_location="cpu", weights_only=True)
    for key in ("state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    return {k: v for k, v in state.items() if not k.startswith("fc.")}


class ResnetBackbone(nn.Module):
    """Encoder + decoder: ``[B, 3, H, W] -> [B, out_channels, H/4, W/4]``.

    Args:
        pretrained: ``False``/``None`` for a random initialisation, or the path of a local torchvision
            resnet34 checkpoint (``torch.save(torchvision.models.resnet34(...).state_dict(), path)``)
            to start the encoder from. Nothing is ever downloaded.
        out_channels: channels of the output feature map (the head's ``k_in_channels``).

    Input: images with values in [0, 1], H and W multiples of 32. The backbone normalises them with
    the ImageNet mean and std itself (a fixed buffer, not in the state_dict), as torchvision
    checkpoints expect.
    """

    def __init__(self, pretrained: Union[bool, None, str, os.PathLike] = False, out_channels: int = 64):
        super().__init__()
        self.encoder = HeadlessResnet34()
        if pretrained is True:
            raise ValueError("pretrained=True would need a download; pass the path of a local checkpoint")
        if pretrained:
            self.encoder.load_state_dict(load_resnet34_state_dict(pretrained), strict=True)
        self.decoder = nn.Sequential(
            UpscaleTwiceLayer(512, 256),
            UpscaleTwiceLayer(256, 128),
            UpscaleTwiceLayer(128, out_channels),
        )
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, 3, H, W]`` in [0, 1] ``-> [B, out_channels, H/4, W/4]``."""
        x = (x - self.mean) / self.std
        return self.decoder(self.encoder(x))
