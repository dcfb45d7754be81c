# This file is generated from the course's solution, with the solution parts taken out.
# Fill in the parts that raise NotImplementedError; keep the given code (everything else) as it is.
"""Conversions between objects (one row per box) and points (dense maps).

Formats (see the package docstring):

    objects  [B, N, 6]         rows (y, x, h, w, cls, confidence); (y, x) is the box centre.
                               Padding rows are all zeros (confidence 0).
    points   [B, C+4, H, W]    channels 0..C-1 class probabilities, then dy, dx, h, w.

The location of an object on a map is ``(floor(y), floor(x))`` and its offsets are
``(y - floor(y), x - floor(x))``; there is no +0.5 shift.
"""

from __future__ import annotations

from typing import Tuple

import torch
import torch.nn.functional as F
from torch import nn

# Largest value a smoothed heatmap may take away from object centres (see ObjectsToPoints.forward).
_BELOW_ONE = 1.0 - 1e-6


class ObjectsToPoints(nn.Module):
    """Targets for training: objects ``[B, N, 6]`` (in map pixels) -> points ``[B, C+4, hw, hw]``.

    At the location ``(floor(y), floor(x))`` of every real object (confidence > 0):
    the class channel ``cls`` is 1, channels ``C, C+1`` hold the offsets ``(dy, dx)`` and channels
    ``C+2, C+3`` the size ``(h, w)``. The class channels are smoothed with a gaussian, so the
    pixels next to a centre are "almost positive" (the focal loss penalises them less).

    Args:
        hw: side of the square maps (image side / R).
        num_classes: C.
        smooth_kernel_size: the side S of the square gaussian kernel, odd (3 means 3x3, as in the
            original course); 0 means no smoothing. The kernel is ``_gaussian_2d(S)`` and does not
            depend on the object size (a simplification of the paper).

    The caller divides y, x, h, w by the output stride R before calling (CenterNetLoss does).
    """

    def __init__(self, hw: int = 64, num_classes: int = 2, smooth_kernel_size: int = 3):
        super().__init__()
        self.hw = hw
        self.num_classes = num_classes
        self.smooth_kernel_size = smooth_kernel_size
        kernel = self._gaussian_2d(smooth_kernel_size) if smooth_kernel_size else None
        self.register_buffer("smooth_kernel", kernel, persistent=False)

    @staticmethod
    def _gaussian_2d(kernel_size: int) -> torch.Tensor:
        """A centred gaussian ``[S, S]``, S = ``kernel_size`` = 2K + 1 (odd), peak 1 (not normalised).

        ``sigma = (K + 1) / 3`` with ``K = S // 2``, so the kernel reaches about 3 sigma from its
        centre: ``kernel[i, j] = exp(-((i - K)**2 + (j - K)**2) / (2 * sigma**2))``.
        Given code (the original course's staticmethod, same name and values).
        """
        if not isinstance(kernel_size, int) or kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"smooth_kernel_size must be an odd side (1, 3, 5, ...) or 0, got {kernel_size!r}")
        k = kernel_size // 2
        sigma = (k + 1) / 3
        r = torch.arange(-k, k + 1, dtype=torch.float32)
        squared_distance = r[:, None] ** 2 + r[None, :] ** 2
        return torch.exp(-squared_distance / (2 * sigma**2))

    @classmethod
    def create_default_heatmaps(cls, b: int, hw: int, c: int) -> torch.Tensor:
        """Empty points: zeros ``[b, c+4, hw, hw]`` (float32)."""
        raise NotImplementedError("ObjectsToPoints.create_default_heatmaps is not implemented yet")

    @classmethod
    def compute_objects_locations(cls, objects: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Where every object row lands on the map.

        Args:
            objects: ``[B, N, 6]`` rows (y, x, h, w, cls, confidence) in map pixels.

        Returns:
            ``(batch_idx, y_idx, x_idx)``, each flat ``[B*N]`` int64, in row-major order of
            ``objects`` (all rows, padding included: the caller filters them).
            ``batch_idx`` is the image index of the row, ``y_idx = floor(y)``, ``x_idx = floor(x)``.
        """
        raise NotImplementedError("ObjectsToPoints.compute_objects_locations is not implemented yet")

    @classmethod
    def compute_objects_offsets(cls, objects: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Sub-pixel offsets of the centres: ``(dy, dx) = (y - floor(y), x - floor(x))``.

        Args:
            objects: ``[B, N, 6]`` rows (y, x, h, w, cls, confidence) in map pixels.

        Returns:
            ``(dy, dx)``, each flat ``[B*N]`` with values in [0, 1), same dtype as ``objects``.
        """
        raise NotImplementedError("ObjectsToPoints.compute_objects_offsets is not implemented yet")

    @classmethod
    def compute_objects_sizes(cls, objects: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Box sizes of the rows.

        Args:
            objects: ``[B, N, 6]`` rows (y, x, h, w, cls, confidence) in map pixels.

        Returns:
            ``(h, w)``, each flat ``[B*N]``, same dtype as ``objects``.
        """
        raise NotImplementedError("ObjectsToPoints.compute_objects_sizes is not implemented yet")

    @classmethod
    def smooth_points_heatmap(cls, points_heatmap: torch.Tensor, smooth_kernel: torch.Tensor) -> torch.Tensor:
        """Smooth the class channels of ``points_heatmap`` with ``smooth_kernel``, each on its own.

        Args:
            points_heatmap: ``[B, C+4, H, W]``, the whole map as in the original course: C class
                channels (1 at object centres, 0 elsewhere), then dy, dx, h, w (the forward calls
                this before writing them, so they are still zero).
            smooth_kernel: ``[S, S]`` with S odd (a gaussian with peak 1).

        Returns:
            ``[B, C+4, H, W]``, same shape: each class channel convolved with the kernel ("same"
            padding, zeros outside the map); the last 4 channels unchanged (smoothing them as well
            is fine: they are zero here).

        Channels must not mix: an object of class 0 does not light up class 1. Use one grouped
        convolution (``groups=C``) rather than a Python loop over channels. Where the gaussians of
        two objects overlap, a convolution sums them (the course's choice); taking the maximum
        instead (the paper's choice) is accepted too.
        """
        raise NotImplementedError("ObjectsToPoints.smooth_points_heatmap is not implemented yet")

    def forward(self, objects: torch.Tensor) -> torch.Tensor:
        """``objects [B, N, 6]`` (map pixels) ``-> points [B, C+4, hw, hw]``.

        Rows with confidence 0 (padding) are not drawn. Centres are clamped into the map, so an
        object whose centre lies on the right or bottom border (floor(y) == hw) lands on the last
        pixel. After smoothing, every object centre holds exactly 1 and every other pixel less
        than 1: the focal loss treats "target == 1" as the positives. As in the original course,
        the class channels are smoothed first and the offsets and sizes written afterwards.
        """
        b = objects.shape[0]
        c = self.num_classes
        points = self.create_default_heatmaps(b, self.hw, c).to(device=objects.device, dtype=objects.dtype)

        objects = objects.clone()
        objects[..., 0:2] = objects[..., 0:2].clamp(min=0.0, max=self.hw - 1e-3)
        batch_idx, y_idx, x_idx = self.compute_objects_locations(objects)
        dy, dx = self.compute_objects_offsets(objects)
        h, w = self.compute_objects_sizes(objects)
        class_idx = objects[..., 4].reshape(-1).long()

        real = objects[..., 5].reshape(-1) > 0  # padding rows stay out of the maps
        batch_idx, y_idx, x_idx, class_idx = batch_idx[real], y_idx[real], x_idx[real], class_idx[real]
        points[batch_idx, class_idx, y_idx, x_idx] = 1.0

        if self.smooth_kernel is not None:
            points = self.smooth_points_heatmap(points, self.smooth_kernel)
            # Sum-merged gaussians can exceed 1 where objects are close: cap them below 1 and put
            # the exact 1s back at the centres.
            heat = points[:, :c].clamp(max=_BELOW_ONE)
            heat[batch_idx, class_idx, y_idx, x_idx] = 1.0
            points = torch.cat([heat, points[:, c:]], dim=1)

        points[batch_idx, c + 0, y_idx, x_idx] = dy[real]
        points[batch_idx, c + 1, y_idx, x_idx] = dx[real]
        points[batch_idx, c + 2, y_idx, x_idx] = h[real]
        points[batch_idx, c + 3, y_idx, x_idx] = w[real]
        return points


class PointsToObjects(nn.Module):
    """Decode points ``[B, C+4, H, W]`` into objects ``[B, K, 6]``, K = ``objects_per_image``.

    Take the K highest class scores over all classes and all locations of each image (one
    ``topk`` over the flattened ``[C*H*W]`` scores), in descending order. A score at class ``cls``
    and location ``(i, j)`` becomes the row::

        (i + dy[i, j], j + dx[i, j], h[i, j], w[i, j], cls, score)

    in map pixels (the caller scales them to the image). ``confidence`` is the score itself, not a
    0/1 flag. Rows whose score is below ``min_confidence`` are all zeros (like padding rows); if
    the map has fewer than K scores, the missing rows are zeros too.
    Stricter than the original course (its round-trip test also passed a 0/1 flag): confidence = score.

    Args:
        objects_per_image: K, stored as ``self.top_k`` (the original course's attribute name).
        min_confidence: the score threshold, stored as ``self.min_conf``.

    Run PointsNonMaxSuppression first, or the K rows will mostly be neighbours of the same peak.
    """

    def __init__(self, objects_per_image: int = 42, min_confidence: float = 0.1):
        super().__init__()
        self.top_k = objects_per_image
        self.min_conf = min_confidence

    def forward(self, points: torch.Tensor) -> torch.Tensor:
        """``[B, C+4, H, W] -> [B, top_k, 6]``, rows sorted by descending confidence."""
        raise NotImplementedError("PointsToObjects.forward is not implemented yet")


def objects_count(objects: torch.Tensor) -> torch.Tensor:
    """Number of real rows (confidence > 0) per image: ``[B, N, 6] -> [B]`` int64."""
    return (objects[..., 5] > 0).sum(dim=1)
