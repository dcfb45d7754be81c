"""Loss in the original course's style (its given forward, written out again for the test)."""
import torch
from torch import nn

from .convert import ObjectsToPoints


class CenterNetLoss(nn.Module):
    """Per image (lk, l_offset_lambda * loff, l_size_lambda * lsize): [B, 3]."""

    def __init__(self, l_size_lambda=0.1, l_offset_lambda=1, r_scale=4, obj_to_points=None, **kwargs):
        super().__init__()
        self.l_size_lambda = l_size_lambda
        self.l_offset_lambda = l_offset_lambda
        self.r_scale = r_scale
        # the original builds its target maker once, here (64x64 maps, 2 classes by default)
        self.obj_to_points = ObjectsToPoints(**kwargs) if obj_to_points is None else obj_to_points

    def forward(self, pred_heatmaps, target_objects):
        target_objects = target_objects.clone()
        target_objects[:, :, :4] = target_objects[:, :, :4] / self.r_scale
        target_heatmaps = self.obj_to_points(target_objects)
        assert target_heatmaps.shape == pred_heatmaps.shape, (target_heatmaps.shape, pred_heatmaps.shape)
        c = pred_heatmaps.shape[1] - 4

        # real objects are where some class has its 1
        is_real_object = (target_heatmaps[:, :c].sum(dim=1, keepdim=True) >= 1).float()
        norm = is_real_object.sum(dim=(1, 2, 3)) + 1
        lk = self.loss_fl(pred_heatmaps[:, :c], target_heatmaps[:, :c]) / norm
        loff = self.loss_l1(pred_heatmaps[:, c:c + 2], target_heatmaps[:, c:c + 2], is_real_object) / norm
        lsize = self.loss_l1(pred_heatmaps[:, c + 2:], target_heatmaps[:, c + 2:], is_real_object) / norm
        return torch.stack([lk, self.l_offset_lambda * loff, self.l_size_lambda * lsize], dim=-1)

    def loss_fl(self, predict_cyx, target_cyx, alpha=2, beta=4):
        """Focal loss of the paper, summed over C, H, W: [B]."""
        p = predict_cyx.clamp(1e-6, 1 - 1e-6)
        pos = (target_cyx == 1).float()
        pos_term = pos * (1 - p) ** alpha * torch.log(p)
        neg_term = (1 - pos) * (1 - target_cyx) ** beta * p ** alpha * torch.log(1 - p)
        return -(pos_term + neg_term).sum(dim=(1, 2, 3))

    def loss_l1(self, predict, target, is_real_object):
        """Sum of |predict - target| at real objects: [B]."""
        return ((predict - target).abs() * is_real_object).sum(dim=(1, 2, 3))
