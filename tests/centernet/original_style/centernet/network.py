"""NMS and the assembled network in the original course's style."""
import torch
import torch.nn.functional as F
from torch import nn

from .backbone import ResnetBackbone
from .convert import PointsToObjects
from .head import CenterNetHead


class PointsNonMaxSuppression(nn.Module):
    """Keeps class scores that are the maximum of their neighbourhood in their own class."""

    def __init__(self, kernel_size: int = 3):
        super().__init__()
        self.kernel_size = kernel_size

    def forward(self, points):
        scores = points[:, :-4]
        pooled = F.max_pool2d(scores, self.kernel_size, stride=1, padding=(self.kernel_size - 1) // 2)
        return torch.cat([scores * (pooled == scores).float(), points[:, -4:]], dim=1)


class ScaleObjects(nn.Module):
    """Objects from map pixels back to image pixels."""

    def __init__(self, scale: int = 4):
        super().__init__()
        self.scale = scale

    def forward(self, objects):
        objects = objects.clone()
        objects[:, :, :4] *= self.scale
        return objects


class CenterNet(nn.Module):
    """Backbone -> head; with return_objects also NMS -> PointsToObjects -> ScaleObjects."""

    def __init__(self, pretrained=True, head_kwargs={}, nms_kwargs={}, points_to_objects_kwargs={}):
        super().__init__()
        self.backbone = ResnetBackbone(pretrained)
        self.head = CenterNetHead(**head_kwargs)
        self.return_objects = torch.nn.Sequential(
            PointsNonMaxSuppression(**nms_kwargs),
            PointsToObjects(**points_to_objects_kwargs),
            ScaleObjects(),
        )

    def forward(self, input_t, return_objects=False):
        x = self.backbone(input_t)
        x = self.head(x)
        if return_objects:
            x = self.return_objects(x)
        return x
