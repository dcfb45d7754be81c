"""Verdicts of the mAP challenge: the submission's detections scored with pycocotools against the
hidden test annotations, in the score tiers of the rubric's ``[map]`` table."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import torch

from grader.core import api
from grader.core.api import Verdict, failed, partial, passed

from .common import _T, CHECKS, _shaped
from .challenge_data import HiddenDataFault, hidden_test_annotations

RUBRIC_SETTINGS = ("map",)  # the rubric's [map] table: the mAP challenge's tiers (map_tiers)


def _rubric_file() -> Path:
    return Path(__file__).resolve().parents[1] / "rubric.toml"


def map_tiers() -> dict:
    """The mAP challenge's score tiers, from the rubric's ``[map]`` table (the only place they are
    written): ``{"map.regular": [(threshold, share), ...], "map.bonus": [...]}``, thresholds rising.
    A check earns the share of its component's points of the highest threshold reached."""
    import tomllib

    table = tomllib.loads(_rubric_file().read_text(encoding="utf-8")).get("map", {})
    tiers = {}
    for check in ("map.regular", "map.bonus"):
        rows = sorted((float(t), float(share)) for t, share in table.get(check.split(".")[1], []))
        if not rows or any(not 0 < share <= 1 for _, share in rows):
            raise RuntimeError(f"grader set-up: rubric [map] {check.split('.')[1]} needs (threshold, share in "
                               f"(0, 1]) rows")
        tiers[check] = rows
    return tiers


def _tier_share(value: float, rows) -> float:
    """The share of the highest threshold ``value`` reaches (0 below them all)."""
    return max((share for threshold, share in rows if value >= threshold), default=0.0)


def _tiers_text() -> str:
    """e.g. "thresholds 0.05 / 0.1 give 1 / 2 points, 0.2 gives 3 bonus points": from the rubric."""
    import tomllib

    data = tomllib.loads(_rubric_file().read_text(encoding="utf-8"))
    points = {chk["id"]: comp["points"] for comp in data.get("components", []) for chk in comp.get("checks", [])}
    parts = []
    for check, rows in map_tiers().items():
        bonus = " bonus" if check == "map.bonus" else ""
        parts.append(" / ".join(f"{t:g}" for t, _ in rows) + " give" + (" " if len(rows) > 1 else "s ")
                     + " / ".join(f"{share * points[check]:g}" for _, share in rows) + f"{bonus} point(s)")
    return "thresholds " + ", ".join(parts)


def _coco_eval(results: list[dict], ground_truth: dict) -> float:
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    if not results:
        return 0.0
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = json.loads(json.dumps(ground_truth))
        gt.createIndex()
        dt = gt.loadRes(results)
        ev = COCOeval(gt, dt, "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return max(0.0, float(ev.stats[0]))


def _results(detections: torch.Tensor) -> list[dict]:
    return [{"image_id": int(r[0]), "category_id": int(r[1]), "bbox": r[2:6], "score": r[6]}
            for r in detections.tolist()]


def map_of_detections(detections: torch.Tensor, ground_truth: dict) -> float:
    """mAP@[.5:.95] (pycocotools) of an (N, 7) table [image_id, category_id, x, y, w, h, score]
    (rows of unknown images or categories, or without a positive size, are left out)."""
    return _coco_eval(_results(scorable(detections, ground_truth)[0]), ground_truth)


def scorable(det: torch.Tensor, ground_truth: dict, per_image: int = 100):
    """The rows pycocotools scores, and what was left out: ``(table, notes, refusal)``.

    Unknown image ids refuse the whole file (pycocotools' ``loadRes`` does); unknown categories and
    boxes without a positive width and height are dropped; at most ``per_image`` detections per
    image, the best scores first (computed here, whatever the worker did)."""
    notes: list[str] = []
    n = int(det.shape[0])
    image_ids = sorted(im["id"] for im in ground_truth["images"])
    category_ids = sorted(c["id"] for c in ground_truth["categories"])
    if n == 0:
        return det, notes, None
    img = det[:, 0].round().long()
    known_img = torch.isin(img, torch.tensor(image_ids))
    if not bool(known_img.all()):
        bad = img[~known_img]
        hint = ""
        if int(img.min()) == image_ids[0] - 1 and int(img.max()) <= image_ids[-1] - 1:
            hint = " (image ids start at 1: take them from test_images.json, not the position in the list)"
        return det[:0], notes, (f"{int((~known_img).sum())} of {n} detections have an image_id that is not in the test "
                                f"split (ids {image_ids[0]}..{image_ids[-1]} in test_images.json; yours range "
                                f"{int(bad.min())}..{int(bad.max())}){hint}; pycocotools refuses such a file "
                                f"(\"Results do not correspond to current coco set\")")
    cat = det[:, 1].round().long()
    known_cat = torch.isin(cat, torch.tensor(category_ids))
    if not bool(known_cat.all()):
        hint = ""
        if int(cat.min()) == 0:
            names = ", ".join(f"{c['id']} {c['name']}" for c in ground_truth["categories"])
            hint = f": category ids start at 1 ({names}), yours include 0"
        notes.append(f"{int((~known_cat).sum())} detections with a category id outside "
                     f"{category_ids[0]}..{category_ids[-1]} were left out{hint}")
    sized = (det[:, 4] > 0) & (det[:, 5] > 0)
    if not bool(sized.all()):
        notes.append(f"{int((~sized & known_cat).sum())} detections without a positive width and height were left "
                     f"out (bbox is [x, y, width, height])")
    det = det[known_cat & sized]
    if det.shape[0]:
        order = torch.argsort(det[:, 6], descending=True, stable=True)
        keep: list[int] = []
        counts: dict[int, int] = {}
        for i in order.tolist():
            k = int(det[i, 0])
            if counts.get(k, 0) < per_image:
                counts[k] = counts.get(k, 0) + 1
                keep.append(i)
        if len(keep) < det.shape[0]:
            notes.append(f"{det.shape[0] - len(keep)} detections beyond the best {per_image} of an image were left out")
        det = det[torch.tensor(sorted(keep), dtype=torch.long)]
    return det, notes, None


def _format_readings(det: torch.Tensor, width: float, height: float):
    """Other readings of the bbox columns, for the hint: ``[(description, table), ...]``."""
    x, y, a, b = det[:, 2], det[:, 3], det[:, 4], det[:, 5]
    readings = []
    if bool(((a >= x) & (b >= y)).float().mean() > 0.95):
        readings.append(("[x1, y1, x2, y2] corners", torch.stack([x, y, a - x, b - y], 1)))
    readings.append(("[cx, cy, w, h] centres", torch.stack([x - a / 2, y - b / 2, a, b], 1)))
    if float(det[:, 2:6].abs().max()) <= 1.5:
        scale = torch.tensor([width, height, width, height], dtype=det.dtype)
        readings.append(("normalised [x, y, w, h] (fractions of the image size)", det[:, 2:6] * scale))
        readings.append(("normalised [cx, cy, w, h] (YOLO's format)",
                         torch.stack([x - a / 2, y - b / 2, a, b], 1) * scale))
    out = []
    for name, boxes in readings:
        table = det.clone()
        table[:, 2:6] = boxes
        out.append((name, table))
    return out


_MAP_CACHE: dict[tuple, tuple] = {}
MAX_ROWS = 200_000


def _map_from(actual) -> tuple[float, str, str | None]:
    """``(mAP, message, refusal)`` of the probe's detections (evaluated once for both checks)."""
    det = actual.get("detections") if isinstance(actual, dict) else None
    if not isinstance(det, torch.Tensor) or det.dim() != 2 or det.shape[1] != 7 or det.shape[0] > MAX_ROWS:
        return 0.0, "", "malformed detections: expected at most 200 000 rows [image_id, category_id, x, y, w, h, score]"
    det = det.double()
    if not bool(torch.isfinite(det).all()):
        return 0.0, "", "the detections hold NaN or infinite numbers"
    gt = hidden_test_annotations()
    key = (gt["info"].get("images_fingerprint"), gt["info"].get("seed_fingerprint"), tuple(det.shape),
           hash(det.numpy().tobytes()), actual.get("read"))
    if key in _MAP_CACHE:
        return _MAP_CACHE[key]
    table, notes, refusal = scorable(det, gt)
    if refusal:
        _MAP_CACHE.clear()
        _MAP_CACHE[key] = (0.0, "", refusal)
        return _MAP_CACHE[key]
    value = _coco_eval(_results(table), gt)
    read = actual.get("read")
    if isinstance(read, int) and read > MAX_ROWS:
        notes.insert(0, f"only the first {MAX_ROWS:,} of the file's {read:,} entries were read "
                        f"(the cut-off)".replace(",", " "))
    if value < max(t for rows in map_tiers().values() for t, _ in rows) and table.shape[0]:
        width = float(gt["images"][0].get("width", 160))
        height = float(gt["images"][0].get("height", 160))
        best = None
        for name, other in _format_readings(table, width, height):
            other_value = _coco_eval(_results(other), gt)
            if other_value > max(2 * value, value + 0.02) and (best is None or other_value > best[1]):
                best = (name, other_value)
        if best is not None:
            notes.append(f"hint: your boxes look like {best[0]}: read that way they would score {best[1]:.4f}; "
                         f"COCO's bbox is [x_min, y_min, width, height] in pixels")
    text = (f"mAP@[.5:.95] on the hidden test split: {value:.4f} ({int(table.shape[0])} detections scored; "
            f"{_tiers_text()})")
    if notes:
        text += "; " + "; ".join(notes)
    _MAP_CACHE.clear()
    _MAP_CACHE[key] = (value, text, None)
    return _MAP_CACHE[key]


def _map_verdict(actual, grade) -> Verdict:
    try:
        value, text, refusal = _map_from(actual)
    except HiddenDataFault as exc:
        return api.grader_fault(f"mAP challenge not graded: {exc}")
    if refusal:
        return failed(refusal)
    return grade(value, text)


@CHECKS.verdict("map.regular", probe="map_predictions",
                description="mAP@[.5:.95] of predictions_test.json on the hidden test split: >= 0.05 half, "
                            ">= 0.1 full",
                # the verdict may build the hidden annotations (about 3 s) and score up to 30 000 detections
                # in up to five box readings (about 15 s on a busy 2-core machine): a generous budget
                verdict_budget=300.0)
@_shaped({"detections": _T})
def verdict_map_regular(actual, expected) -> Verdict:
    return _map_verdict(actual, lambda value, text: _tiered(value, text, map_tiers()["map.regular"]))


@CHECKS.verdict("map.bonus", probe="map_predictions",
                description="mAP@[.5:.95] >= 0.2: 3 bonus points", verdict_budget=300.0)
@_shaped({"detections": _T})
def verdict_map_bonus(actual, expected) -> Verdict:
    return _map_verdict(actual, lambda value, text: _tiered(value, text, map_tiers()["map.bonus"]))


def _tiered(value: float, text: str, rows) -> Verdict:
    share = _tier_share(value, rows)
    if share >= 1:
        return passed(text)
    return partial(share, text) if share > 0 else failed(text)
