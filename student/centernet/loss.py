# This file is generated from the course's solution, with the solution parts taken out.
# Fill in the parts that raise NotImplementedError; keep the given code (everything else) as it is.
"""The CenterNet training loss: focal loss on the class heatmaps, L1 on offsets and sizes."""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from .convert import ObjectsToPoints, objects_count


class CenterNetLoss(nn.Module):
    """Loss of a batch: predicted points ``[B, C+4, H', W']`` vs target objects ``[B, N, 6]``.

    Args:
        l_size_lambda: weight of the size term (the paper uses 0.1).
        l_offset_lambda: weight of the offset term (the paper uses 1).
        r_scale: output stride R; target objects are in image pixels and are divided by R.
        obj_to_points: the ObjectsToPoints that builds the targets; by default one is built for the
            shape of the predictions (square maps of side H', C = channels - 4). (The original
            course built ``ObjectsToPoints(**kwargs)`` once, for 64x64 maps and 2 classes.)
        **kwargs: passed to that default ObjectsToPoints (e.g. ``smooth_kernel_size``).

    ``forward`` returns ``[B, 3]``: per image ``(lk, l_offset_lambda * loff, l_size_lambda * lsize)``,
    each divided by (the image's number of objects + 1). Train on ``loss.sum(dim=1).mean()``.
    """

    def __init__(
        self,
        l_size_lambda: float = 0.1,
        l_offset_lambda: float = 1,
        r_scale: int = 4,
        obj_to_points: Optional[ObjectsToPoints] = None,
        **kwargs,
    ):
        super().__init__()
        self.l_size_lambda = l_size_lambda
        self.l_offset_lambda = l_offset_lambda
        self.r_scale = r_scale
        self.obj_to_points = obj_to_points
        self.obj_to_points_kwargs = kwargs

    def loss_fl(self, predict_cyx: torch.Tensor, target_cyx: torch.Tensor, alpha: float = 2,
                beta: float = 4) -> torch.Tensor:
        """Penalty-reduced pixel-wise focal loss (CenterNet paper, eq. 1), summed per image.

        Args:
            predict_cyx: ``[B, C, H, W]`` predicted class probabilities in [0, 1] (the original
                course's name: the class, y and x axes of each image).
            target_cyx: ``[B, C, H, W]`` target heatmaps in [0, 1]; exactly 1 at object centres.
            alpha, beta: the focal exponents (2 and 4 in the paper).

        Returns:
            ``[B]``: the loss of each image, summed over C, H and W (not normalised).
            Stricter than the original course: one value per image, never a batch total.

        With p the prediction and t the target, a pixel contributes::

            -(1 - p) ** alpha * log(p)                          where t == 1   (positives)
            -(1 - t) ** beta * p ** alpha * log(1 - p)          everywhere else (negatives)

        Pitfalls:
          * The negatives are *all* pixels with t != 1, including those near a centre where
            0 < t < 1; the factor (1 - t) ** beta makes them cheap. Taking only t == 0 drops
            exactly the pixels that matter.
          * The loss must stay finite when p is exactly 0 or 1: clamp before the logarithms.
        """
        raise NotImplementedError("CenterNetLoss.loss_fl is not implemented yet")

    def loss_l1(self, predict: torch.Tensor, target: torch.Tensor, is_real_object: torch.Tensor) -> torch.Tensor:
        """Sum of absolute errors at the centres of real objects, per image.

        Args:
            predict: ``[B, 2, H, W]`` predicted (dy, dx) or (h, w).
            target: ``[B, 2, H, W]`` the target values (meaningful at object centres only).
            is_real_object: ``[B, 1, H, W]`` bool, True at the centre of a real object.

        Returns:
            ``[B]``: ``sum over channels and pixels of |predict - target|`` where ``is_real_object``;
            every other pixel (no object, or a padding row) contributes 0.
            Stricter than the original course: one value per image, never a batch total.
        """
        raise NotImplementedError("CenterNetLoss.loss_l1 is not implemented yet")

    def forward(self, pred_heatmaps: torch.Tensor, target_objects: torch.Tensor) -> torch.Tensor:
        """``pred_heatmaps [B, C+4, H', W']``, ``target_objects [B, N, 6]`` (image pixels) ``-> [B, 3]``."""
        b, channels, h, w = pred_heatmaps.shape
        if h != w:
            raise ValueError(f"CenterNetLoss expects square maps, got {h}x{w}")
        c = channels - 4

        target_objects = target_objects.to(pred_heatmaps)
        scaled = target_objects.clone()
        scaled[..., 0:4] = scaled[..., 0:4] / self.r_scale
        obj_to_points = self.obj_to_points
        if obj_to_points is None:
            obj_to_points = ObjectsToPoints(hw=h, num_classes=c, **self.obj_to_points_kwargs)
        target = obj_to_points.to(pred_heatmaps.device)(scaled)
        is_real_object = (target[:, :c] == 1).any(dim=1, keepdim=True)  # [B, 1, H', W']

        lk = self.loss_fl(pred_heatmaps[:, :c], target[:, :c])
        loff = self.loss_l1(pred_heatmaps[:, c : c + 2], target[:, c : c + 2], is_real_object)
        lsize = self.loss_l1(pred_heatmaps[:, c + 2 : c + 4], target[:, c + 2 : c + 4], is_real_object)

        losses = torch.stack([lk, self.l_offset_lambda * loff, self.l_size_lambda * lsize], dim=1)
        n = objects_count(target_objects).to(losses.dtype)
        return losses / (n + 1)[:, None]
