"""Backbone: a timm feature extractor whose last stages can be trained (part "Backbone", 1 point).

The backbone turns a batch of images ``(B, 3, H, W)`` into feature maps at several strides.
timm builds such an extractor for almost every model with ``features_only=True``; its
``feature_info`` says which module produces each feature level, how many channels it has and
its stride (``reduction``).

Freezing: with few images and little compute, training a whole backbone overfits and is slow.
We freeze everything, then make the last ``unfreeze_last`` *stages* trainable again.
"""

from __future__ import annotations

from typing import Sequence

import timm
import torch
from torch import nn


def feature_stages(model: nn.Module) -> list[list[str]]:
    """Group the parameter names of a timm ``features_only`` model into stages, shallowest first.

    A *stage* is what one feature level of ``model.feature_info`` adds: stage ``i`` holds every
    parameter computed after feature level ``i - 1`` and up to (and including) the module
    ``model.feature_info.info[i]["module"]`` that outputs level ``i``. So there are
    ``len(model.feature_info.info)`` stages, whatever ``out_indices`` the model was built with.

    Examples (timm 1.0):
      - ``resnet18``: stage 0 = ``conv1``, ``bn1`` (level ``act1``), stage 1 = ``layer1``, ...,
        stage 4 = ``layer4``.
      - ``efficientnet_b0``: levels end at ``blocks.0, blocks.1, blocks.2, blocks.4, blocks.6``,
        so stage 0 = ``conv_stem``, ``bn1``, ``blocks.0``; stage 3 = ``blocks.3`` and ``blocks.4``;
        stage 4 = ``blocks.5`` and ``blocks.6``.

    Parameters after the last level's module (timm leaves none in a features-only model) join
    the last stage.
    """
    module_names = [name for name, _ in model.named_modules()]
    position = {name: i for i, name in enumerate(module_names)}
    # The position of the last module inside each level's module (its subtree ends there).
    ends = []
    for level_module in [info["module"] for info in model.feature_info.info]:  # every level, shallowest first
        # timm names modules of a FeatureDictNet/FeatureListNet with "_" instead of "."
        candidates = [level_module, level_module.replace(".", "_")]
        name = next((c for c in candidates if c in position), None)
        if name is None:
            raise ValueError(f"module {level_module!r} of feature_info not found in the model")
        end = position[name]
        for other in module_names[position[name] + 1:]:
            if other.startswith(name + "."):
                end = position[other]
            else:
                break
        ends.append(end)
    stages: list[list[str]] = [[] for _ in ends]
    for param_name, _ in model.named_parameters():
        owner = param_name.rsplit(".", 1)[0] if "." in param_name else ""
        pos = position.get(owner, len(module_names))
        stage = next((i for i, end in enumerate(ends) if pos <= end), len(ends) - 1)
        stages[stage].append(param_name)
    return stages


class Backbone(nn.Module):
    """A timm ``features_only`` backbone that returns feature maps, deepest first.

    Args:
        model_name: any timm model that supports ``features_only`` (``"resnet18"``,
            ``"efficientnet_b0"``, ...).
        out_indices: which feature levels to return, as timm counts them (negative = from the end).
            The default ``(-1, -2, -3)`` gives the three deepest levels: strides 32, 16 and 8 for
            most models.
        unfreeze_last: after freezing every parameter, make the parameters of the last
            ``unfreeze_last`` stages (see :func:`feature_stages`) trainable again. 0 trains
            nothing of the backbone; ``len(feature_stages(body))`` (or more) trains all of it.
        pretrained: ``False`` (random weights) or the path of a local weights file. Nothing is ever
            downloaded: ``True`` is refused.

    Attributes:
        body: the timm model, built with ``features_only=True`` and ``out_indices``.
        out_channels: channels of the returned maps, in the returned order (deepest first).
        strides: stride of each returned map, in the returned order.

    Forward:
        ``x``: ``(B, 3, H, W)`` float images. Returns a list of ``len(out_indices)`` tensors
        ``(B, C_i, H / s_i, W / s_i)``, deepest (largest stride) first, e.g. ``[C5, C4, C3]``.
    """

    def __init__(self, model_name: str, out_indices: Sequence[int] = (-1, -2, -3), unfreeze_last: int = 0,
                 pretrained: bool | str = False):
        super().__init__()
        if pretrained is True:
            raise ValueError("pretrained=True would download weights; give the path of a local weights file")
        kwargs = {}
        if pretrained:
            kwargs = dict(pretrained=True, pretrained_cfg_overlay=dict(file=str(pretrained)))
        self.body = timm.create_model(model_name, features_only=True, out_indices=tuple(out_indices), **kwargs)
        # timm returns the maps shallowest first (whatever the order of out_indices); we return them
        # deepest first, so we sort the levels' (stride, channels) by decreasing stride
        levels = sorted(zip(self.body.feature_info.reduction(), self.body.feature_info.channels()), reverse=True)
        self.strides = [stride for stride, _ in levels]
        self.out_channels = [channels for _, channels in levels]
        self.unfreeze_last = unfreeze_last
        self.set_trainable(unfreeze_last)

    def set_trainable(self, unfreeze_last: int) -> None:
        """Freeze every parameter of ``self.body``, then unfreeze the last ``unfreeze_last`` stages.

        Use :func:`feature_stages` for the stages. ``unfreeze_last=1`` on ``resnet18`` leaves exactly
        the parameters of ``layer4`` trainable (``requires_grad=True``); 0 leaves none.
        """
        # BEGIN SOLUTION
        for p in self.body.parameters():
            p.requires_grad_(False)
        stages = feature_stages(self.body)
        names = ({n for stage in stages[len(stages) - min(unfreeze_last, len(stages)):] for n in stage}
                 if unfreeze_last > 0 else set())
        for name, p in self.body.named_parameters():
            if name in names:
                p.requires_grad_(True)
        # END SOLUTION

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """``(B, 3, H, W)`` -> list of feature maps, deepest first (``[C5, C4, C3]`` by default)."""
        # BEGIN SOLUTION
        features = self.body(x)  # shallowest first
        return list(reversed(features))
        # END SOLUTION
