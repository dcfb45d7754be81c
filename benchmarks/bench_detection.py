"""Benchmark (a script, not a test): the reference's TAL vs ultralytics' TaskAlignedAssigner, and
diou_loss vs torchvision.ops.distance_box_iou_loss, on the same inputs, time per call.

    python benchmarks/bench_detection.py [--repeats 5] [--threads 2]

TAL inputs: batch 16, 8400 anchors (80x80 + 40x40 + 20x20 of a 640 image), 80 classes, 20 GTs per
image. ultralytics (optional; CI pins ultralytics==8.4.190) runs batched with plain IoU and no
small-GT enlargement (the same semantics); the reference runs image by image, as the loss calls it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from reference.detection.assigner import task_aligned_assign
from reference.detection.losses import diou_loss
from grader.core import assignment as assignment_mod

anchor_centres = assignment_mod.load("detection").probes.anchor_centres


def tal_inputs(batch=16, image=640, num_classes=80, num_gt=20, seed=0):
    g = torch.Generator().manual_seed(seed)
    points = anchor_centres(image)
    a = len(points)
    pred = torch.cat([points[None] - torch.rand(batch, a, 2, generator=g) * 60 - 1,
                      points[None] + torch.rand(batch, a, 2, generator=g) * 60 + 1], -1)
    scores = torch.rand(batch, a, num_classes, generator=g)
    xy = torch.rand(batch, num_gt, 2, generator=g) * (image - 100)
    gt_boxes = torch.cat([xy, xy + torch.rand(batch, num_gt, 2, generator=g) * 200 + 8], -1).clamp(max=image)
    gt_labels = torch.randint(0, num_classes, (batch, num_gt, 1), generator=g)
    mask_gt = torch.ones(batch, num_gt, 1)
    return scores, pred, points, gt_labels, gt_boxes, mask_gt


def timed(fn, repeats):
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def ultralytics_assigner(num_classes):
    os.environ.setdefault("YOLO_OFFLINE", "1")
    os.environ.setdefault("YOLO_CONFIG_DIR", tempfile.mkdtemp(prefix="yolo-config-"))
    try:
        from ultralytics.utils import tal
        from ultralytics.utils.metrics import bbox_iou
    except ImportError:
        return None

    class PlainIoUAssigner(tal.TaskAlignedAssigner):
        def iou_calculation(self, gt_bboxes, pd_bboxes):
            return bbox_iou(gt_bboxes, pd_bboxes, xywh=False).squeeze(-1).clamp_(0)

    return PlainIoUAssigner(topk=13, num_classes=num_classes, alpha=1.0, beta=6.0, stride=[0])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    scores, pred, points, gt_labels, gt_boxes, mask_gt = tal_inputs()
    b = scores.shape[0]

    def ours():
        return [task_aligned_assign(scores[i], pred[i], points, gt_labels[i, :, 0], gt_boxes[i]) for i in range(b)]

    t_ours = timed(ours, args.repeats)
    print(f"TAL, batch {b}, {points.shape[0]} anchors, {scores.shape[-1]} classes, {gt_boxes.shape[1]} GTs/image:")
    print(f"  reference (per image) : {t_ours * 1e3:9.1f} ms/call")
    ul = ultralytics_assigner(scores.shape[-1])
    if ul is None:
        print("  ultralytics           : not installed (pip install ultralytics==8.4.190)")
    else:
        t_ul = timed(lambda: ul(scores, pred, points, gt_labels, gt_boxes, mask_gt), args.repeats)
        print(f"  ultralytics (batched) : {t_ul * 1e3:9.1f} ms/call")
        print(f"  ratio reference / ultralytics: {t_ours / t_ul:.2f}")
        # the same inputs give the same assignment
        _, _, _, fg, idx = ul(scores, pred, points, gt_labels, gt_boxes, mask_gt)
        got = ours()
        agree = sum(int((torch.where(fg[i], idx[i], torch.full_like(idx[i], -1)) == got[i].gt_index).sum())
                    for i in range(b)) / (b * points.shape[0])
        print(f"  assignment agreement  : {agree:.5f}")

    g = torch.Generator().manual_seed(1)
    n = 100_000
    xy = torch.randint(0, 600, (2, n, 2), generator=g).float()
    wh = torch.randint(0, 200, (2, n, 2), generator=g).float()
    p, q = torch.cat([xy[0], xy[0] + wh[0]], 1), torch.cat([xy[1], xy[1] + wh[1]], 1)
    from torchvision.ops import distance_box_iou_loss

    t_d = timed(lambda: diou_loss(p, q), args.repeats * 4)
    t_tv = timed(lambda: distance_box_iou_loss(p, q, reduction="mean"), args.repeats * 4)
    print(f"DIoU, {n} box pairs (float32):")
    print(f"  reference diou_loss   : {t_d * 1e3:9.2f} ms/call")
    print(f"  torchvision           : {t_tv * 1e3:9.2f} ms/call")
    print(f"  ratio reference / torchvision: {t_d / t_tv:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
