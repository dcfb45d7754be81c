"""Outside opinions on the reference: torchvision for DIoU/CIoU, ultralytics for TAL.

ultralytics is optional (pinned for CI: ``ultralytics==8.4.190``); its ``TaskAlignedAssigner``
differs from the spec in two documented ways, which the adapter removes or measures:
  - it scores pairs with CIoU and enlarges GTs smaller than a stride: the adapter uses plain IoU
    and ``stride=[0]`` (no enlargement);
  - an anchor chosen by several GTs goes to the GT with the highest IoU among *all* GTs whose
    box contains the anchor's centre, not only among those that chose it: rare; reported.
"""

from __future__ import annotations

import os
import tempfile

import pytest
import torch
import torchvision

from grader.core import assignment as assignment_mod
from reference.detection.assigner import task_aligned_assign
from reference.detection.losses import ciou_loss, diou_loss


def _random_boxes(n, g, dtype=torch.float32):
    xy = torch.rand(n, 2, generator=g) * 200
    wh = torch.rand(n, 2, generator=g) * 80 + 0.5
    return torch.cat([xy, xy + wh], 1).to(dtype)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_diou_ciou_equal_torchvision(dtype):
    g = torch.Generator().manual_seed(0)
    p, q = _random_boxes(5000, g, dtype), _random_boxes(5000, g, dtype)
    tol = 1e-6 if dtype == torch.float32 else 1e-12
    torch.testing.assert_close(diou_loss(p, q), torchvision.ops.distance_box_iou_loss(p, q, reduction="mean"),
                               atol=tol, rtol=tol)
    # ciou_loss adds eps to the heights in atan(w / h) (no NaN for zero-area boxes): ~1e-9 apart
    torch.testing.assert_close(ciou_loss(p, q), torchvision.ops.complete_box_iou_loss(p, q, reduction="mean"),
                               atol=max(tol, 1e-7), rtol=max(tol, 1e-7))


def test_diou_gradients_equal_torchvision():
    g = torch.Generator().manual_seed(1)
    p, q = _random_boxes(300, g).requires_grad_(True), _random_boxes(300, g)
    (ga,) = torch.autograd.grad(diou_loss(p, q), p)
    (gb,) = torch.autograd.grad(torchvision.ops.distance_box_iou_loss(p, q, reduction="mean"), p)
    torch.testing.assert_close(ga, gb)


anchor_centres = assignment_mod.load("detection").probes.anchor_centres


def random_tal_batch(seed: int, batch: int = 4, image: int = 256, max_gt: int = 12, num_classes: int = 5):
    """Anchors on 3 levels, predicted boxes around each anchor, padded GTs (``mask_gt``)."""
    g = torch.Generator().manual_seed(seed)
    points = anchor_centres(image)
    a = len(points)
    lt = points[None] - torch.rand(batch, a, 2, generator=g) * 40 - 1
    rb = points[None] + torch.rand(batch, a, 2, generator=g) * 40 + 1
    pred_boxes = torch.cat([lt, rb], -1)
    scores = torch.rand(batch, a, num_classes, generator=g) * 0.9 + 0.05
    xy = torch.rand(batch, max_gt, 2, generator=g) * (image - 40)
    wh = torch.rand(batch, max_gt, 2, generator=g) * 100 + 10
    gt_boxes = torch.cat([xy, (xy + wh).clamp(max=image)], -1)
    gt_labels = torch.randint(0, num_classes, (batch, max_gt, 1), generator=g)
    counts = torch.randint(0, max_gt + 1, (batch,), generator=g)
    mask_gt = (torch.arange(max_gt)[None] < counts[:, None]).unsqueeze(-1).float()
    gt_boxes = gt_boxes * mask_gt
    return scores, pred_boxes, points, gt_labels, gt_boxes, mask_gt


def ultralytics_assigner(num_classes: int, topk: int = 13):
    os.environ.setdefault("YOLO_OFFLINE", "1")
    os.environ.setdefault("YOLO_CONFIG_DIR", tempfile.mkdtemp(prefix="yolo-config-"))
    tal = pytest.importorskip("ultralytics.utils.tal", reason="ultralytics is not installed (CI pins "
                                                              "ultralytics==8.4.190)")
    from ultralytics.utils.metrics import bbox_iou

    class PlainIoUAssigner(tal.TaskAlignedAssigner):
        def iou_calculation(self, gt_bboxes, pd_bboxes):
            return bbox_iou(gt_bboxes, pd_bboxes, xywh=False).squeeze(-1).clamp_(0)

    # stride [0]: GTs smaller than a stride are not enlarged
    return PlainIoUAssigner(topk=topk, num_classes=num_classes, alpha=1.0, beta=6.0, stride=[0])


def compare_with_ultralytics(seeds=range(10), topk: int = 13):
    """Agreement of the reference TAL with ultralytics' on random batches (the numbers reported)."""
    num_classes = 5
    ul = ultralytics_assigner(num_classes, topk)
    anchors = same_assignment = fg_both = 0
    worst_score = 0.0
    for seed in seeds:
        scores, pred_boxes, points, gt_labels, gt_boxes, mask_gt = random_tal_batch(seed, num_classes=num_classes)
        _, _, ul_scores, ul_fg, ul_idx = ul(scores, pred_boxes, points, gt_labels, gt_boxes, mask_gt)
        for b in range(scores.shape[0]):
            n = int(mask_gt[b].sum())
            ours = task_aligned_assign(scores[b], pred_boxes[b], points, gt_labels[b, :n, 0], gt_boxes[b, :n],
                                       topk=topk)
            theirs = torch.where(ul_fg[b], ul_idx[b], torch.full_like(ul_idx[b], -1))
            same = ours.gt_index == theirs
            anchors += len(same)
            same_assignment += int(same.sum())
            both = same & (ours.gt_index >= 0)
            fg_both += int(both.sum())
            if both.any():
                soft = ul_scores[b].amax(-1)
                worst_score = max(worst_score, float((soft[both] - ours.scores[both]).abs().max()))
    return {"anchors": anchors, "agreement": same_assignment / anchors, "positives_compared": fg_both,
            "max_score_diff": worst_score}


def test_tal_agrees_with_ultralytics():
    stats = compare_with_ultralytics()
    print(f"TAL vs ultralytics: {stats}")
    assert stats["agreement"] >= 0.998, stats
    assert stats["positives_compared"] > 500
    assert stats["max_score_diff"] < 1e-4, stats
