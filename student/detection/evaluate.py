"""Evaluation (given code): mAP@[.5:.95] with COCO rules, and the challenge's predictions file.

COCO rules (pycocotools): for each class, detections sorted by score are matched greedily to
unmatched GTs with IoU >= threshold; AP is the 101-point interpolated area under the
precision/recall curve; mAP averages over the 10 IoU thresholds 0.5, 0.55, ..., 0.95 and the
classes. Annotation ids must start at 1 (COCOeval treats id 0 as "unmatched").

The mAP challenge: write your detections on the test images to ``predictions_test.json`` next to
this file (``python -m student.detection.train ... --predict-test``): a COCO *results* list::

    [{"image_id": 7, "category_id": 2, "bbox": [x, y, w, h], "score": 0.93}, ...]

with ``bbox`` in pixels of the original image, ``category_id`` in 1..4, at most 100 per image.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
from pathlib import Path

import torch

PREDICTIONS_FILE = "predictions_test.json"
MAX_PER_IMAGE = 100


def coco_map(ground_truth: dict, results: list[dict]) -> dict:
    """mAP of COCO ``results`` against a COCO ground-truth dict (pycocotools).

    Returns ``{"map": mAP@[.5:.95], "map_50": mAP@.5, "map_75": mAP@.75}``; 0 when there is
    nothing to match.
    """
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    if not results or not ground_truth.get("annotations"):
        return {"map": 0.0, "map_50": 0.0, "map_75": 0.0}
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = copy.deepcopy(ground_truth)
        gt.createIndex()
        dt = gt.loadRes(copy.deepcopy(results))
        ev = COCOeval(gt, dt, "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    stats = [max(0.0, float(s)) for s in ev.stats]
    return {"map": stats[0], "map_50": stats[1], "map_75": stats[2]}


def to_coco_results(detections: list[dict], image_ids: list[int], scales: list[tuple[float, float]] | None = None,
                    ) -> list[dict]:
    """Per-image ``{"boxes" xyxy, "scores", "labels" in [0, C)}`` -> COCO results (xywh, ids from 1).

    ``scales[i] = (sx, sy)`` maps the model's input pixels back to the original image.
    """
    out = []
    for k, (det, image_id) in enumerate(zip(detections, image_ids)):
        sx, sy = scales[k] if scales else (1.0, 1.0)
        boxes = det["boxes"].detach().cpu().double()
        order = det["scores"].argsort(descending=True)[:MAX_PER_IMAGE]
        for i in order.tolist():
            x1, y1, x2, y2 = boxes[i].tolist()
            out.append({
                "image_id": int(image_id),
                "category_id": int(det["labels"][i]) + 1,
                "bbox": [round(x1 * sx, 2), round(y1 * sy, 2), round((x2 - x1) * sx, 2), round((y2 - y1) * sy, 2)],
                "score": round(float(det["scores"][i]), 5),
            })
    return out


@torch.no_grad()
def predict_dataset(model, dataset, batch_size: int = 16) -> list[dict]:
    """Run ``model.predict`` over a :class:`DetectionDataset`; return COCO results."""
    from .data import collate

    model.eval()
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=False, collate_fn=collate)
    results = []
    for images, targets in loader:
        dets = model.predict(images)
        size = images.shape[-1], images.shape[-2]
        scales = [(t["orig_size"][1] / size[0], t["orig_size"][0] / size[1]) for t in targets]
        results += to_coco_results(dets, [t["image_id"] for t in targets], scales)
    return results


def evaluate(model, dataset, batch_size: int = 16) -> dict:
    """mAP of ``model`` on a data set with annotations."""
    return coco_map(dataset.coco, predict_dataset(model, dataset, batch_size))


def write_predictions(results: list[dict], path: str | Path) -> Path:
    path = Path(path)
    path.write_text(json.dumps(results, separators=(",", ":")))
    return path
