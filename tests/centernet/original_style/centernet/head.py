"""Head in the original course's style."""
import torch
from torch import nn


class CenterNetHead(nn.Module):
    """[B, K, H, W] -> [B, C+4, H, W]: class probabilities, (dy, dx), (h, w)."""

    def __init__(self, k_in_channels=64, c_classes: int = 2):
        super().__init__()

        def branch(cout):
            return nn.Sequential(nn.Conv2d(k_in_channels, k_in_channels, 3, padding=1), nn.ReLU(),
                                 nn.Conv2d(k_in_channels, cout, 1))

        self.c_classes = c_classes
        self.heatmap = branch(c_classes)
        self.offset = branch(2)
        self.size = branch(2)

    def forward(self, input_t):
        class_heatmap = torch.sigmoid(self.heatmap(input_t))
        offset_map = torch.sigmoid(self.offset(input_t))
        size_map = self.size(input_t)
        return torch.cat([class_heatmap, offset_map, size_map], dim=1)
