"""Verdict of the hidden TinyCoco check: does the trained net fit the tiny training set (COCO AP50
and the heatmap peaks, measured here on the raw maps), with its picture; ``run_values`` for the
calibration. The id of the check (hidden, so not named here) is in its registration below."""

from __future__ import annotations

import contextlib
import io
import math
from pathlib import Path
from typing import Any, Mapping, Optional

import torch

from grader.core.api import Verdict, attachment_name, attachment_path

from .common import CHECKS
from .training_loss import loss_summary
from .training_setup import (CRITERIA, MAX_BOXES_DRAWN, PEAK_SCORE, STRAY_SCORE, TRAINING_CONFIG, _LATE_PLANS,
                             _limit, _mean, _prepare, _reference, _Stop, parent_loss_ratio, parent_set,
                             tinycoco_dir, training_check_options)


def coco_ap(images: list, annotations: list, detections: list, num_categories: int) -> dict:
    """COCO bbox evaluation (pycocotools); returns AP (0.5:0.95), AP50, AP75 and recall@100.

    ``images``: ``[{"id", "width", "height"}]``; ``annotations``: COCO annotations (bbox xywh,
    ``iscrowd`` regions are ignore regions, as in COCO); ``detections``:
    ``[{"image_id", "category_id", "bbox", "score"}]``. Categories are ``0..num_categories-1``
    unless the annotations use other ids."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    cat_ids = sorted({a["category_id"] for a in annotations} | set(range(num_categories)))
    gt = COCO()
    gt.dataset = {"images": [dict(i) for i in images], "categories": [{"id": c} for c in cat_ids],
                  "annotations": [dict(a, id=k + 1, area=a.get("area", a["bbox"][2] * a["bbox"][3]))
                                  for k, a in enumerate(annotations)]}
    with contextlib.redirect_stdout(io.StringIO()):
        gt.createIndex()
        if not detections:
            return {"AP": 0.0, "AP50": 0.0, "AP75": 0.0, "AR100": 0.0}
        dt = gt.loadRes([dict(d) for d in detections])
        ev = COCOeval(gt, dt, "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    stats = [max(0.0, float(v)) for v in ev.stats]  # -1 means "no ground truth": count as 0
    return {"AP": stats[0], "AP50": stats[1], "AP75": stats[2], "AR100": stats[8]}


def _objects_to_coco(objects: torch.Tensor, image_id: int, sx: float = 1.0, sy: float = 1.0, score: bool = False):
    """Rows (y, x, h, w, cls, conf) -> COCO dicts (bbox xywh), scaled by (sx, sy)."""
    out = []
    for y, x, h, w, cls, conf in objects.tolist():
        if conf <= 0:
            continue
        d: dict[str, Any] = {"image_id": image_id, "category_id": int(cls),
                             "bbox": [(x - w / 2) * sx, (y - h / 2) * sy, max(w, 0.0) * sx, max(h, 0.0) * sy]}
        if score:
            d["score"] = float(conf)
        else:
            d["iscrowd"] = 0
            d["area"] = d["bbox"][2] * d["bbox"][3]
        out.append(d)
    return out


def decode(maps: torch.Tensor, ref: Mapping, objects_per_image: int = 100,
           min_confidence: float = 0.01) -> torch.Tensor:
    """Raw head output ``[B, C+4, h, w]`` -> detections ``[B, K, 6]`` in image pixels (reference NMS,
    reference decoder, x4)."""
    nms = ref["network"].PointsNonMaxSuppression(3)
    to_objects = ref["convert"].PointsToObjects(objects_per_image=objects_per_image, min_confidence=min_confidence)
    with torch.no_grad():
        return ref["network"].ScaleObjects(4)(to_objects(nms(maps)))


def peak_analysis(maps: torch.Tensor, targets: torch.Tensor, crowd_boxes: list, ref: Mapping,
                  peak_score: float = PEAK_SCORE, stray_score: float = STRAY_SCORE, stride: int = 4) -> dict:
    """Do the class heatmaps peak on the true centres, and only there?

    A true object is *found* when its class channel has a peak (a local maximum of its 3x3
    neighbourhood, score >= ``peak_score``) within 1 map pixel of its location ``(floor(y/4),
    floor(x/4))``; the *centre error* is the distance, in map pixels, from the true centre to the
    centre that peak decodes to (location + offsets). A *stray* peak (score >= ``stray_score``) is
    one farther than 1 map pixel from every true centre of its class (peaks inside an ``iscrowd``
    region of their class are not counted). ``crowd_boxes[b]``: ``[(class, [x, y, w, h]), ...]`` in image pixels.
    The *contrast* of an object is its class score at its location minus the mean score of the 8
    pixels around it: a peak has a high contrast, a blob (what a focal loss produces that ignores
    the pixels with 0 < target < 1) almost none.
    Returns totals, means and per image the counts and where they are (what the fit picture draws):
    ``missed_at`` ``[(class, y, x)]`` (the true centres, image pixels), ``stray_at`` ``[(class, y, x,
    score)]`` (the stray peaks' map-pixel centres, in image pixels)."""
    c = maps.shape[1] - 4
    peaks = ref["network"].PointsNonMaxSuppression(3)(maps)[:, :c]
    found, total, errors, stray, contrasts = 0, 0, [], 0, []
    swapped, unlearnt = [], []
    per_image = []
    for b in range(maps.shape[0]):
        centres, missed_at, stray_at = [], [], []
        missed = 0
        for y, x, _h, _w, cls, conf in targets[b].tolist():
            if conf <= 0:
                continue
            total += 1
            cy, cx, k = y / stride, x / stride, int(cls)
            iy, ix = int(math.floor(cy)), int(math.floor(cx))
            centres.append((k, iy, ix))
            y0, x0 = max(iy - 1, 0), max(ix - 1, 0)
            around = maps[b, k, y0:iy + 2, x0:ix + 2]
            if 0 <= iy < maps.shape[2] and 0 <= ix < maps.shape[3] and around.numel() > 1:
                centre = float(maps[b, k, iy, ix])
                contrasts.append(centre - (float(around.sum()) - centre) / (around.numel() - 1))
            window = peaks[b, k, y0:iy + 2, x0:ix + 2]
            if window.numel() == 0 or float(window.max()) < peak_score:
                missed += 1
                missed_at.append((k, y, x))
                continue
            found += 1
            flat = int(window.argmax())
            py, px = y0 + flat // window.shape[1], x0 + flat % window.shape[1]
            dy, dx = float(maps[b, c, py, px]), float(maps[b, c + 1, py, px])
            errors.append(math.hypot(py + dy - cy, px + dx - cx))
            swapped.append(math.hypot(py + dx - cy, px + dy - cx))  # what dy/dx swapped somewhere would give
            unlearnt.append(math.hypot(py + 0.5 - cy, px + 0.5 - cx))  # offsets never learnt (0.5)
        strays = 0
        for k, py, px in (peaks[b] >= stray_score).nonzero().tolist():
            if any(kk == k and abs(py - gy) <= 1 and abs(px - gx) <= 1 for kk, gy, gx in centres):
                continue
            if any(kk == k and x0 <= (px + 0.5) * stride <= x0 + w and y0 <= (py + 0.5) * stride <= y0 + h
                   for kk, (x0, y0, w, h) in crowd_boxes[b]):
                continue
            strays += 1
            stray_at.append((k, (py + 0.5) * stride, (px + 0.5) * stride, float(peaks[b, k, py, px])))
        stray += strays
        per_image.append({"missed": missed, "stray": strays, "missed_at": missed_at, "stray_at": stray_at})
    return {"found": found, "total": total, "recall": found / total if total else 1.0,
            "centre_error": _mean(errors) if errors else float("nan"), "stray": stray,
            "centre_error_swapped": _mean(swapped) if swapped else float("nan"),
            "centre_error_unlearnt": _mean(unlearnt) if unlearnt else float("nan"),
            "contrast": _mean(contrasts) if contrasts else float("nan"), "per_image": per_image}


FIT_LEGEND = (f"green: true boxes; red: the {MAX_BOXES_DRAWN} best detections with score >= {PEAK_SCORE:g}; "
              f"missed (yellow circles): true centres with no class peak >= {PEAK_SCORE:g} within 1 map pixel; "
              f"stray (orange crosses): class peaks >= {STRAY_SCORE:g} farther than 1 map pixel from every true "
              f"centre of their class")


def _mark_counted(ax, p: Mapping) -> None:
    """Draw what the caption counts: each missed true centre (circle) and each stray peak (cross)."""
    if p["missed_at"]:
        ax.plot([x for _, _, x in p["missed_at"]], [y for _, y, _ in p["missed_at"]], "o", markersize=9,
                markerfacecolor="none", markeredgecolor="yellow", markeredgewidth=1.5, label="missed")
    if p["stray_at"]:
        ax.plot([x for _, _, x, _ in p["stray_at"]], [y for _, y, _, _ in p["stray_at"]], "x", markersize=7,
                color="tab:orange", markeredgewidth=1.8, label="stray")


def fit_panel(images, targets, maps, detections, ids, analysis, class_names, ref, title: str):
    """Up to 8 training images (those with the most problems first): true (green) vs predicted (red)
    boxes with the missed centres and stray peaks the caption counts marked, true vs predicted
    heatmaps (max over classes). Returns the figure."""
    from matplotlib.figure import Figure

    n = images.shape[0]
    badness = [(-(p["missed"] + p["stray"]), i) for i, p in enumerate(analysis["per_image"])]
    chosen = sorted(i for _, i in sorted(badness)[: min(8, n)])
    c = maps.shape[1] - 4
    hw = maps.shape[-1]
    target_maps = ref["convert"].ObjectsToPoints(hw=hw, num_classes=c)(
        torch.cat([targets[..., :4] / 4, targets[..., 4:]], dim=-1))
    rows = (len(chosen) + 1) // 2
    fig = Figure(figsize=(13, 2.3 * rows + 0.8))
    axes = fig.subplots(rows, 6, squeeze=False)
    for slot, i in enumerate(chosen):
        r, col = slot // 2, 3 * (slot % 2)
        p = analysis["per_image"][i]
        ref["plot"].draw_objects(images[i], targets[i], detections[i][:MAX_BOXES_DRAWN], class_names=class_names,
                                 min_confidence=PEAK_SCORE, ax=axes[r][col])
        _mark_counted(axes[r][col], p)
        axes[r][col].set_title(f"image {ids[i]}: missed {p['missed']}, stray {p['stray']}", fontsize=8)
        ref["plot"].show_heatmap(target_maps[i], image=images[i], ax=axes[r][col + 1])
        axes[r][col + 1].set_title("true heatmap", fontsize=8)
        ref["plot"].show_heatmap(maps[i], image=images[i], ax=axes[r][col + 2])
        axes[r][col + 2].set_title("predicted heatmap", fontsize=8)
    for slot in range(len(chosen), rows * 2):
        for k in range(3):
            axes[slot // 2][3 * (slot % 2) + k].set_axis_off()
    fig.suptitle(title + "\n" + FIT_LEGEND, fontsize=8, wrap=True)
    fig.subplots_adjust(left=0.01, right=0.99, bottom=0.01, top=1 - 1.1 / fig.get_figheight(), wspace=0.05, hspace=0.25)
    return fig


def _save_fit_panel(*args, **kwargs) -> str:
    """``fit_panel`` saved as an attachment; returns its name."""
    name = "centernet-training-fit.png"
    fit_panel(*args, **kwargs).savefig(attachment_path(name), dpi=80)
    return attachment_name(name)


def fit_metrics(maps: torch.Tensor, s: Mapping, ref: Optional[Mapping] = None) -> dict:
    """Everything "fits the tiny set" measures, computed here from the raw maps ``[N, C+4, h, w]``
    in the data set's order (also used by calibration and tests). ``s``: ``parent_set``."""
    ref = ref or _reference()
    dataset, targets, ids, crowd = s["dataset"], s["targets"], s["ids"], s["crowd"]
    size = s["images"].shape[-1]
    detections = decode(maps, ref)
    coco_images = [{"id": i, "width": size, "height": size} for i in ids]
    gts, dets = [], []
    for b, image_id in enumerate(ids):
        gts += _objects_to_coco(targets[b], image_id)
        gts += [{"image_id": image_id, "category_id": cls, "bbox": box, "iscrowd": 1, "area": box[2] * box[3]}
                for cls, box in crowd[b]]  # COCO rules: detections inside a crowd region are ignored
        dets += _objects_to_coco(detections[b], image_id, score=True)
    ap = coco_ap(coco_images, gts, dets, dataset.num_classes)
    pk = peak_analysis(maps, targets, crowd, ref)
    n = max(len(ids), 1)
    unlearnt = pk["centre_error_unlearnt"]
    values = {"ap50": ap["AP50"], "peak_recall": pk["recall"], "peak_contrast": pk["contrast"],
              "stray_per_image": pk["stray"] / n,
              "centre_error_ratio": pk["centre_error"] / unlearnt if unlearnt and unlearnt > 0 else float("nan")}
    return {"detections": detections, "ap": ap, "peaks": pk, "values": values}


def criterion_ok(name: str, value: float, limit: float) -> bool:
    direction = CRITERIA[name][0]
    return bool(value >= limit) if direction == "min" else bool(value <= limit)  # NaN fails both


@CHECKS.verdict("training.fits_tinycoco", probe="train_tinycoco",
                description="after the same run the net fits the training images: AP50, heatmap peaks on the true "
                            "centres, decoded centres",
                **training_check_options())
def verdict_fits_tinycoco(actual: Mapping[str, Any], expected: Optional[Mapping] = None) -> Verdict:
    """After the budget the net has fitted TinyCoco, measured here on the maps of the images sent
    after training: AP50, heatmap peaks on the true centres and nowhere else, centre positions."""
    try:
        prep = _prepare(actual)
    except _Stop as stop:
        return stop.verdict
    ran, limits, s = prep["ran"], prep["limits"], prep["set"]
    ref = _reference()
    maps = prep["maps"]
    m = fit_metrics(maps, s, ref)
    v, pk = m["values"], m["peaks"]
    lim = {k: _limit(limits, k)
           for k in ("ap50", "peak_recall", "peak_contrast", "stray_per_image", "centre_error_ratio")}
    numbers = (f"AP50 {v['ap50']:.2f} (COCO rules, needs >= {lim['ap50']:.2f}); true centres with a heatmap peak "
               f">= {PEAK_SCORE:g} within 1 map pixel {pk['found']}/{pk['total']} ({v['peak_recall']:.0%}, needs >= "
               f"{lim['peak_recall']:.0%}); peak contrast {v['peak_contrast']:.2f} (score at the centre minus the mean "
               f"of its 8 neighbours, needs >= {lim['peak_contrast']:.2f}); stray peaks >= {STRAY_SCORE:g} away from "
               f"every true centre {v['stray_per_image']:.2f} per image (needs <= {lim['stray_per_image']:.2f}); "
               f"mean centre error {pk['centre_error']:.2f} map px, x{v['centre_error_ratio']:.2f} of offsets that "
               f"never learnt (needs <= x{lim['centre_error_ratio']:.2f}); {prep['source']}")
    problems = []
    if not criterion_ok("peak_recall", v["peak_recall"], lim["peak_recall"]):
        problems.append("the class heatmaps do not peak on most true centres: the net did not learn to find the "
                        "objects of its own training set")
    if not criterion_ok("peak_contrast", v["peak_contrast"], lim["peak_contrast"]) or \
            not criterion_ok("stray_per_image", v["stray_per_image"], lim["stray_per_image"]):
        problems.append("the class heatmaps light up around and away from the true centres instead of peaking "
                        "only on them: this is what a focal loss does that ignores the pixels with 0 < target < 1 "
                        "(they must count as negatives, weighted by (1 - target)^beta), or a head whose class "
                        "probabilities are not independent sigmoids")
    if not criterion_ok("centre_error_ratio", v["centre_error_ratio"], lim["centre_error_ratio"]):
        swapped, error = pk["centre_error_swapped"], pk["centre_error"]
        if swapped < 0.5 * error:  # the evidence: read the other way round, the offsets fit
            problems.append("the decoded centres are off the true ones, and would fit with dy and dx exchanged: check "
                            "the order of the offsets (dy in channel C, dx in channel C+1) in ObjectsToPoints")
        elif pk["centre_error_unlearnt"] > 0 and error >= 0.8 * pk["centre_error_unlearnt"]:
            problems.append("the decoded centres are off the true ones as much as if the offsets had never been "
                            "learnt: check that the loss trains the offsets (loff) and what ObjectsToPoints writes "
                            "there")
        else:
            problems.append("the decoded centres are off the true ones")
    if not criterion_ok("ap50", v["ap50"], lim["ap50"]):
        problems.append("the detections do not match the ground truth of the training images")
    title = f"{prep['where']} after training ({ran}): AP50 {v['ap50']:.2f}"
    picture = _save_fit_panel(s["images"], s["targets"], maps, m["detections"], s["ids"], pk,
                              s["dataset"].class_names, ref, title)
    if problems:
        return Verdict(0.0, f"the net did not fit the tiny training set: {problems[0]}"
                            + (f" (+{len(problems) - 1} more)" if len(problems) > 1 else "")
                            + f". {numbers}. Ran {ran} on {prep['where']}", (picture,))
    return Verdict(1.0, f"the net fits the tiny set: {numbers}. Ran {ran} on {prep['where']}", (picture,))


def run_values(data: Mapping, folder: Optional[Path] = None) -> dict:
    """Every criterion's value of one probe result (calibration, tests, docs/TRAINING.md)."""
    folder = folder or tinycoco_dir()
    s = parent_set(folder, TRAINING_CONFIG["image_size"] if not data.get("config") else data["config"]["image_size"])
    maps = data["maps"].float()
    order = _LATE_PLANS.get(data.get("late_token")) or list(range(maps.shape[0]))
    in_order = torch.empty_like(maps)
    in_order[torch.tensor(order)] = maps
    summary = loss_summary(data["history"])
    values = dict(fit_metrics(in_order, s)["values"])
    values["loss_ratio"] = summary["loss"]["final"] / summary["loss"]["first"]
    values["parent_loss_ratio"] = parent_loss_ratio(in_order, s["targets"], _reference())["ratio"]
    return values
