"""Objects <-> points in the original course's style (its given forward written out again)."""
from typing import Tuple

import torch
import torch.nn.functional as F
from torch import nn


class ObjectsToPoints(nn.Module):
    """objects [B, N, 6] (map pixels) -> points [B, C+4, hw, hw]."""

    def __init__(self, hw: int = 64, num_classes: int = 2, smooth_kernel_size: int = 3):
        super().__init__()
        self.hw = hw
        self.c = num_classes
        self.smooth_kernel = None if smooth_kernel_size == 0 else self._gaussian_2d(smooth_kernel_size)

    def forward(self, objects):
        b, n, d6 = objects.shape
        assert d6 == 6
        points_heatmap = self.create_default_heatmaps(b, self.hw, self.c).to(objects.device)
        is_real_object = (objects[:, :, -1] == 1).float().flatten()

        batch_idx, y_idx, x_idx = self.compute_objects_locations(objects)
        cls_idx = objects[:, :, -2].flatten().long()
        self._put(points_heatmap, (batch_idx, cls_idx, y_idx, x_idx), is_real_object)
        if self.smooth_kernel is not None:
            self.smooth_kernel = self.smooth_kernel.to(points_heatmap.device)
            points_heatmap = self.smooth_points_heatmap(points_heatmap, self.smooth_kernel)

        dy, dx = self.compute_objects_offsets(objects)
        hy, wx = self.compute_objects_sizes(objects)
        for i, values in enumerate((dy, dx, hy, wx)):
            channel_idx = torch.full_like(batch_idx, self.c + i)
            self._put(points_heatmap, (batch_idx, channel_idx, y_idx, x_idx), is_real_object * values)
        return points_heatmap

    @classmethod
    def create_default_heatmaps(cls, b: int, hw: int, c: int) -> torch.Tensor:
        return torch.zeros((b, c + 4, hw, hw), dtype=torch.float32)

    @classmethod
    def compute_objects_locations(cls, objects: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        batch_size, objects_per_image, _ = objects.shape
        batch_idx = torch.arange(batch_size).view(-1, 1).expand(batch_size, objects_per_image).flatten()
        y_idx = torch.floor(objects[:, :, 0]).flatten()
        x_idx = torch.floor(objects[:, :, 1]).flatten()
        return batch_idx.long(), y_idx.long(), x_idx.long()

    @classmethod
    def compute_objects_offsets(cls, objects: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        yx = objects[:, :, :2]
        frac = yx - torch.floor(yx)
        return frac[:, :, 0].flatten(), frac[:, :, 1].flatten()

    @classmethod
    def compute_objects_sizes(cls, objects: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        return objects[:, :, 2].flatten(), objects[:, :, 3].flatten()

    @classmethod
    def smooth_points_heatmap(cls, points_heatmap: torch.Tensor, smooth_kernel: torch.Tensor):
        """Smooths every channel of the whole map on its own (dy, dx, h, w are still zero here)."""
        channels = points_heatmap.shape[1]
        side = smooth_kernel.shape[-1]
        weight = smooth_kernel.to(points_heatmap.dtype).expand(channels, 1, side, side)
        return F.conv2d(points_heatmap, weight, padding=side // 2, groups=channels)

    @staticmethod
    def _gaussian_2d(kernel_size: int) -> torch.Tensor:
        """Gaussian of side kernel_size = 2K+1, sigma (K+1)/3, peak 1."""
        assert kernel_size % 2 == 1, kernel_size
        k = kernel_size // 2
        sigma = (k + 1) / 3
        r = torch.arange(kernel_size, dtype=torch.float32) - k
        line = torch.exp(-r ** 2 / (2 * sigma ** 2))
        gauss = line[:, None] * line[None, :]
        return gauss / gauss.max()

    @staticmethod
    def _put(tensor, indices, values):
        # accumulate: padding rows add 0 at their (possibly repeated) location
        tensor.index_put_(indices, values, accumulate=True)


class PointsToObjects(nn.Module):
    """points [B, C+4, H, W] -> objects [B, top_k, 6], best scores first."""

    def __init__(self, objects_per_image: int = 42, min_confidence=0.1):
        super().__init__()
        self.top_k = objects_per_image
        self.min_conf = min_confidence

    def forward(self, points_heatmap):
        b, channels, h, w = points_heatmap.shape
        c = channels - 4
        flat = points_heatmap[:, :c].reshape(b, -1)
        k = min(self.top_k, flat.shape[1])
        scores, index = torch.topk(flat, k, dim=1)
        cls_idx, rest = index // (h * w), index % (h * w)
        y_idx, x_idx = rest // w, rest % w
        batch_idx = torch.arange(b).view(-1, 1).expand(b, k)
        dy, dx, hy, wx = (points_heatmap[batch_idx, c + i, y_idx, x_idx] for i in range(4))
        objects = torch.stack([y_idx + dy, x_idx + dx, hy, wx, cls_idx.float(), scores], dim=-1)
        objects = objects * (scores >= self.min_conf).float()[..., None]
        out = torch.zeros(b, self.top_k, 6, dtype=objects.dtype)
        out[:, :k] = objects
        return out
