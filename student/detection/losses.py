# This file is generated from the course's solution, with the solution parts taken out.
# Fill in the parts that raise NotImplementedError; keep the given code (everything else) as it is.
"""Box losses (part "DIoU", 1 point) and the detector's training loss (given).

Zheng et al., "Distance-IoU Loss", arXiv 1911.08287. With IoU alone, two boxes that do not
overlap give no gradient; DIoU adds the squared distance of the centres, normalised by the
squared diagonal of the smallest box enclosing both:

    DIoU loss = 1 - IoU + d^2 / c^2

CIoU adds an aspect-ratio term ``alpha * v``. Both match ``torchvision.ops.distance_box_iou_loss``
and ``complete_box_iou_loss`` (``reduction="mean"``), including their ``eps = 1e-7`` in the
denominators (so zero-area boxes give no NaN).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .assigner import TaskAlignedAssigner


def _as_float(boxes: torch.Tensor) -> torch.Tensor:
    """Like torchvision: float32 and float64 stay as they are, anything else (integers, float16,
    bfloat16) is computed in float32."""
    return boxes if boxes.dtype in (torch.float32, torch.float64) else boxes.float()


def diou_loss(pred_boxes: torch.Tensor, gt_boxes: torch.Tensor, eps: float = 1e-7) -> torch.Tensor:
    """Mean DIoU loss of matched pairs of boxes.

    Args:
        pred_boxes: ``(N, 4)`` boxes ``(x1, y1, x2, y2)``, any float or integer dtype.
        gt_boxes: ``(N, 4)``, same format; pair ``k`` is ``(pred_boxes[k], gt_boxes[k])``.
        eps: added to the union and to the squared diagonal ``c^2``.

    Returns:
        a scalar: the mean over the ``N`` pairs of ``1 - IoU + d^2 / c^2`` where ``IoU = inter /
        (union + eps)``, ``d`` is the distance of the box centres and ``c`` the diagonal of the
        smallest box enclosing both (``c^2 + eps``). Integer and float16 inputs are computed in
        float32 (the result is float32), float64 in float64; ``N = 0`` gives 0.
        Equals ``torchvision.ops.distance_box_iou_loss(pred, gt, reduction="mean")``.
    """
    raise NotImplementedError("diou_loss is not implemented yet")




def ciou_loss(pred_boxes: torch.Tensor, gt_boxes: torch.Tensor, eps: float = 1e-7) -> torch.Tensor:
    """Mean CIoU loss: DIoU loss ``+ alpha * v`` with the aspect-ratio term

        v = 4 / pi^2 * (atan(w_gt / h_gt) - atan(w / h))^2,  alpha = v / (1 - IoU + v + eps)

    (``alpha`` is a weight: no gradient flows through it). Same arguments and result as
    :func:`diou_loss`; equals ``torchvision.ops.complete_box_iou_loss(..., reduction="mean")``
    for boxes with positive height. Heights get ``+ eps`` so that zero-area boxes give no NaN.
    """
    raise NotImplementedError("ciou_loss is not implemented yet")


def quality_focal_loss(logits: torch.Tensor, targets: torch.Tensor, beta: float = 2.0) -> torch.Tensor:
    """Quality focal loss (Li et al., Generalized Focal Loss, arXiv 2006.04388), summed.

    ``logits`` and soft ``targets`` in [0, 1] have the same shape; easy elements (probability
    close to the target) are down-weighted by ``|target - sigmoid(logit)| ** beta``.
    """
    prob = logits.sigmoid()
    bce = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    return (bce * (targets - prob).abs().pow(beta)).sum()


class DetectionLoss(nn.Module):
    """The detector's loss (given code): TAL targets, quality focal loss for the classes, DIoU for the boxes.

    For each image, TAL assigns GTs to anchors from the (detached) predictions. The class target
    of a positive anchor is its soft TAL score at its GT's class (0 elsewhere, also for every
    class of a background anchor: there is no background class and no objectness). The box loss
    is the DIoU loss of the positive anchors' predicted boxes with their GT boxes.

    Forward:
        cls_logits: ``(B, N, C)``; pred_boxes: ``(B, N, 4)`` decoded xyxy; anchors: ``(N, 4)`` xyxy;
        targets: list of ``B`` dicts with ``boxes`` ``(G, 4)`` xyxy and ``labels`` ``(G,)`` in ``[0, C)``.
        Returns a dict with ``loss`` (to minimise), ``cls`` and ``box`` (detached), ``positives``.
    """

    def __init__(self, num_classes: int, assigner=None, box_weight: float = 2.0, use_qfl: bool = True):
        super().__init__()
        self.num_classes = num_classes
        self.assigner = assigner if assigner is not None else TaskAlignedAssigner()
        self.box_weight = box_weight
        self.use_qfl = use_qfl

    def forward(self, cls_logits, pred_boxes, anchors, targets) -> dict:
        centers = (anchors[:, :2] + anchors[:, 2:]) / 2
        cls_total = cls_logits.new_zeros(())
        score_total = 0.0
        pos_pred, pos_gt = [], []
        for b, target in enumerate(targets):
            a = self.assigner(cls_logits[b].detach().sigmoid(), pred_boxes[b].detach(), centers,
                              target["labels"], target["boxes"])
            soft = torch.zeros_like(cls_logits[b])
            positive = a.gt_index >= 0
            soft[positive, a.labels[positive]] = a.scores[positive].to(soft.dtype)
            if self.use_qfl:
                cls_total = cls_total + quality_focal_loss(cls_logits[b], soft)
            else:
                cls_total = cls_total + F.binary_cross_entropy_with_logits(cls_logits[b], soft, reduction="sum")
            score_total += float(soft.sum())
            pos_pred.append(pred_boxes[b][positive])
            pos_gt.append(a.boxes[positive])
        cls_loss = cls_total / max(score_total, 1.0)
        pos_pred, pos_gt = torch.cat(pos_pred), torch.cat(pos_gt)
        box_loss = diou_loss(pos_pred, pos_gt) if len(pos_pred) else pred_boxes.sum() * 0.0
        loss = cls_loss + self.box_weight * box_loss
        return {"loss": loss, "cls": cls_loss.detach(), "box": box_loss.detach(), "positives": len(pos_pred)}
