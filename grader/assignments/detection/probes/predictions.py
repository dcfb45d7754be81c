"""Probe of the mAP challenge: the submitted ``predictions_test.json``, read and validated."""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch


PREDICTIONS_FILE = "predictions_test.json"
MAX_FILE_BYTES = 64 * 1024 * 1024
MAX_PER_IMAGE = 100
MAX_DETECTIONS = 200_000


def map_predictions(pkg) -> dict:
    """Read ``predictions_test.json`` from the package's folder; validate; return an (N, 7)
    float64 tensor ``[image_id, category_id, x, y, w, h, score]`` (at most 100 per image, the
    best-scoring ones). No file: not attempted."""
    path = Path(pkg.__file__).resolve().parent / PREDICTIONS_FILE
    if not path.is_file():
        raise NotImplementedError(f"no {PREDICTIONS_FILE} in your package: write it with "
                                  f"`python -m student.detection.train --predict-test` (see evaluate.py)")
    if path.stat().st_size > MAX_FILE_BYTES:
        raise ValueError(f"{PREDICTIONS_FILE} is larger than {MAX_FILE_BYTES // 2**20} MiB")
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, list):
        raise ValueError(f"{PREDICTIONS_FILE} must hold a JSON list of detections, got {type(data).__name__}")
    rows = []
    for i, d in enumerate(data[:MAX_DETECTIONS]):
        if not isinstance(d, dict):
            raise ValueError(f"{PREDICTIONS_FILE}[{i}] is not an object")
        try:
            image_id, category_id = d["image_id"], d["category_id"]
            bbox, score = d["bbox"], d["score"]
        except KeyError as exc:
            raise ValueError(f"{PREDICTIONS_FILE}[{i}] has no {exc.args[0]!r} (keys: image_id, category_id, bbox, "
                             f"score)") from None
        if not (isinstance(image_id, int) and isinstance(category_id, int)) or isinstance(image_id, bool):
            raise ValueError(f"{PREDICTIONS_FILE}[{i}]: image_id and category_id must be integers")
        if not (isinstance(bbox, list) and len(bbox) == 4 and all(isinstance(v, (int, float)) for v in bbox)):
            raise ValueError(f"{PREDICTIONS_FILE}[{i}]: bbox must be [x, y, w, h]")
        if not isinstance(score, (int, float)):
            raise ValueError(f"{PREDICTIONS_FILE}[{i}]: score must be a number")
        row = [float(image_id), float(category_id), *map(float, bbox), float(score)]
        if not all(math.isfinite(v) for v in row):
            raise ValueError(f"{PREDICTIONS_FILE}[{i}]: not a finite number")
        rows.append(row)
    table = torch.tensor(rows, dtype=torch.float64).reshape(-1, 7)
    # at most MAX_PER_IMAGE per image, best scores first
    keep = []
    if len(table):
        order = torch.argsort(table[:, 6], descending=True, stable=True)
        counts: dict[int, int] = {}
        for i in order.tolist():
            img = int(table[i, 0])
            if counts.get(img, 0) < MAX_PER_IMAGE:
                counts[img] = counts.get(img, 0) + 1
                keep.append(i)
    table = table[torch.tensor(sorted(keep), dtype=torch.long)] if keep else table[:0]
    return {"detections": table, "read": len(data), "kept": int(table.shape[0])}
