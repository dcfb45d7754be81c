"""The anchor detector (given code): backbone -> FPN neck -> one decoupled head per level.

Anchors: torchvision's ``AnchorGenerator``, one size per level (4 x the level's stride by
default) and the given aspect ratios, on every location of every level. Boxes: the head predicts
deltas ``(dx, dy, dw, dh)`` relative to each anchor, decoded with torchvision's ``BoxCoder``
(Faster R-CNN parametrisation). Prediction: sigmoid class scores, score threshold, per-class NMS
(``torchvision.ops.batched_nms``), at most ``detections_per_img`` per image.

Order of the ``N`` anchors of one image (and of the flattened head outputs): level by level
(P3 first), then location by location (row-major), then anchor by anchor.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import nn
from torchvision.models.detection._utils import BoxCoder
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.image_list import ImageList
from torchvision.ops import batched_nms, clip_boxes_to_image

from .backbone import Backbone
from .head import DecoupledHead
from .neck import Neck


def flatten_level(x: torch.Tensor, num_anchors: int) -> torch.Tensor:
    """``(B, A*K, H, W)`` -> ``(B, H*W*A, K)``: location-major, then anchor (the anchors' order)."""
    b, ak, h, w = x.shape
    k = ak // num_anchors
    return x.view(b, num_anchors, k, h, w).permute(0, 3, 4, 1, 2).reshape(b, h * w * num_anchors, k)


class AnchorDetector(nn.Module):
    """Multi-level anchor detector.

    Args:
        num_classes: object classes (no background class).
        backbone: timm model name; ``unfreeze_last``, ``pretrained``, ``out_indices``: see :class:`Backbone`.
        neck_channels: FPN channels; head_width: channels of the heads' towers.
        anchor_sizes: one tuple of sizes per level, shallowest level first (default ``4 * stride``).
        aspect_ratios: height / width of the anchors (the same on every level).
        score_thresh, nms_thresh, detections_per_img: prediction filter.

    ``forward(images)`` returns the raw outputs ``{"cls_logits": (B, N, C), "boxes": (B, N, 4)
    decoded xyxy, "anchors": (N, 4)}``; ``predict(images)`` the filtered detections, a list of
    ``{"boxes": (K, 4) xyxy, "scores": (K,), "labels": (K,) in [0, C)}``.
    """

    def __init__(self, num_classes: int = 4, backbone: str = "resnet18", unfreeze_last: int = 5,
                 out_indices: Sequence[int] = (-1, -2, -3), pretrained: bool | str = False,
                 neck_channels: int = 64, head_width: int = 64, anchor_sizes=None,
                 aspect_ratios: Sequence[float] = (1.0,), score_thresh: float = 0.05, nms_thresh: float = 0.6,
                 detections_per_img: int = 100):
        super().__init__()
        self.num_classes = num_classes
        self.backbone = Backbone(backbone, out_indices=out_indices, unfreeze_last=unfreeze_last, pretrained=pretrained)
        self.neck = Neck(self.backbone.out_channels, neck_channels)
        self.strides = list(reversed(self.backbone.strides))  # shallowest first, like the neck's outputs
        if anchor_sizes is None:
            anchor_sizes = tuple((4 * s,) for s in self.strides)
        self.anchor_generator = AnchorGenerator(tuple(anchor_sizes), (tuple(aspect_ratios),) * len(anchor_sizes))
        self.num_anchors = self.anchor_generator.num_anchors_per_location()[0]
        self.heads = nn.ModuleList(
            DecoupledHead(neck_channels, num_classes, self.num_anchors, head_width) for _ in self.strides
        )
        self.box_coder = BoxCoder(weights=(1.0, 1.0, 1.0, 1.0), bbox_xform_clip=math.log(1000.0 / 16))
        self.score_thresh, self.nms_thresh, self.detections_per_img = score_thresh, nms_thresh, detections_per_img

    def forward(self, images: torch.Tensor) -> dict:
        features = self.neck(self.backbone(images))  # [P3, P4, P5]
        cls_levels, box_levels = [], []
        for head, feature in zip(self.heads, features):
            cls_logits, deltas = head(feature)
            cls_levels.append(flatten_level(cls_logits, self.num_anchors))
            box_levels.append(flatten_level(deltas, self.num_anchors)[..., :4])
        cls_logits = torch.cat(cls_levels, dim=1)
        deltas = torch.cat(box_levels, dim=1)
        image_list = ImageList(images, [tuple(images.shape[-2:])] * images.shape[0])
        anchors = self.anchor_generator(image_list, list(features))[0]  # the same for every image
        b, n, _ = deltas.shape
        boxes = self.box_coder.decode_single(deltas.reshape(b * n, 4), anchors.repeat(b, 1)).view(b, n, 4)
        return {"cls_logits": cls_logits, "boxes": boxes, "anchors": anchors}

    @torch.no_grad()
    def postprocess(self, outputs: dict, image_size: tuple[int, int]) -> list[dict]:
        """Raw outputs -> per-image ``{"boxes", "scores", "labels"}`` (score threshold, per-class NMS)."""
        results = []
        for cls_logits, boxes in zip(outputs["cls_logits"], outputs["boxes"]):
            scores = cls_logits.sigmoid().flatten()  # (N * C,): anchor-major, then class
            keep = scores > self.score_thresh
            idx = keep.nonzero().squeeze(1)
            scores = scores[idx]
            if scores.numel() > 1000:  # the best 1000 before NMS
                scores, top = scores.topk(1000)
                idx = idx[top]
            anchor_idx, labels = idx // self.num_classes, idx % self.num_classes
            det_boxes = clip_boxes_to_image(boxes[anchor_idx], image_size)
            keep = batched_nms(det_boxes, scores, labels, self.nms_thresh)[: self.detections_per_img]
            results.append({"boxes": det_boxes[keep], "scores": scores[keep], "labels": labels[keep]})
        return results

    @torch.no_grad()
    def predict(self, images: torch.Tensor) -> list[dict]:
        return self.postprocess(self(images), tuple(images.shape[-2:]))
