"""Verdicts of the centernet training checks (parent side; see docs/CONVENTIONS.md and docs/TRAINING.md).

The probes (``probes.py``, section "training checks") train or run the submission's whole network in
the worker and send back raw data: the loss curve and the raw head output ``[N, C+4, h, w]``. Here,
in the parent, nothing the worker claims about quality is trusted: the maps are decoded with the
REFERENCE non-maximum suppression and decoder, scored with COCO rules (pycocotools) against
annotations this process reads itself, and the pictures for the report are drawn here.

Checks (component "Training on TinyCoco", 1 point each, one shared training run):

* ``training.loss_decreases`` (public): every step finite, the smoothed total loss and each of its
  terms end well below where they started, no divergence.
* ``training.fits_tinycoco`` (hidden): after the budget, the detections on the training images match
  the ground truth (AP50), the class heatmaps peak on the true centres and nowhere else, and the
  decoded centres sit where the objects are.

Check (component "Full training", 3 points): ``bonus.full_training`` (hidden): the submitted
weights reach mAP@0.5 on the held-out CocoGen test images.

The public check needs no reference; the hidden ones import ``reference.centernet`` (given code: the
loader and plotting; solution code: NMS and the decoder) lazily.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import math
import os
from pathlib import Path
from typing import Any, Mapping, Optional

import torch

from grader.core.api import Verdict, attachment_name, attachment_path, failed, passed

ROOT = Path(__file__).resolve().parents[3]


def _load_probes():
    spec = importlib.util.spec_from_file_location("_grader_centernet_training_probes", Path(__file__).with_name("probes.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


P = _load_probes()
TRAINING_CONFIG = P.TRAINING_CONFIG
BONUS_CONFIG = P.BONUS_CONFIG

# --- thresholds of "loss decreases steadily" (calibration: tests/centernet/test_training.py) ---
LOSS_WINDOW = 6            # steps per smoothing window (moving average)
LOSS_MAX_RATIO = 0.5       # final window of the total loss <= this x its first window
TERM_MAX_RATIO = 0.8       # each term: final window <= this x its first window (+ TERM_SLACK)
TERM_SLACK = 0.02
DIVERGENCE_RATIO = 1.5     # the smoothed total never exceeds this x its first window

# --- thresholds of "fits the tiny set" ---
FIT_MIN_AP50 = 0.5             # COCO AP at IoU 0.5 on the training images
FIT_PEAK_SCORE = 0.3           # a heatmap peak counts from this score on
FIT_MIN_PEAK_RECALL = 0.8      # share of true centres with a peak of their class within 1 map pixel
FIT_MIN_PEAK_CONTRAST = 0.25   # mean (score at a true centre - mean score of the 8 pixels around it)
FIT_STRAY_SCORE = 0.2          # a peak away from every true centre counts as stray from this score on
FIT_MAX_STRAY_PEAKS = 0.5      # stray peaks per image
FIT_MAX_CENTRE_ERROR = 0.2     # mean distance, map pixels, of the decoded centre from the true one
SLOW_LK = 0.1                  # a final heatmap loss above this means "still learning" (for the hint only)

MAX_BOXES_DRAWN = 10          # detections drawn per image in the pictures (the best ones)

# --- the bonus ---
# Calibrated on one reference run (python -m reference.centernet.train_full, seed 0, 128 px, batch 16,
# CPU; docs/TRAINING.md "Timings of the reference and the threshold"): held-out test mAP@0.5 0.34 after 750 steps,
# 0.63 after 1000, 0.84 after 1250 and 0.90 after the default 3000. 0.7 asks for a run
# past the plateau's knee and leaves the reference a wide margin at the default budget.
BONUS_MIN_MAP50 = 0.7


# ================================================================================================
# Where the parent reads data
# ================================================================================================

def data_root() -> Path:
    """The data folder the parent reads: $GRADER_DATA_DIR, else $COURSE_DATA_DIR, else the checkout's."""
    for var in ("GRADER_DATA_DIR", "COURSE_DATA_DIR"):
        if os.environ.get(var):
            return Path(os.environ[var])
    return ROOT / "data"


def _reference():
    """The reference package's modules the hidden verdicts use (imported lazily: students have none)."""
    import importlib

    try:
        return {name: importlib.import_module(f"reference.centernet.{name}")
                for name in ("data", "convert", "network", "plot")}
    except ImportError as exc:
        raise RuntimeError(f"grader set-up: this hidden check needs the reference package ({exc})") from None


def _what_ran(data: Mapping, cfg: Mapping) -> str:
    seconds = data.get("seconds")
    took = f" in {float(seconds):.1f} s" if isinstance(seconds, (int, float)) else ""
    return (f"{cfg['steps']} steps of batch {cfg['batch_size']} at {cfg['image_size']}x{cfg['image_size']} px, "
            f"Adam lr {cfg['lr']:g}, seed {cfg['seed']}{took}")


# ================================================================================================
# Loss curve
# ================================================================================================

def _mean(values) -> float:
    return sum(values) / len(values) if values else float("nan")


def moving_average(values, window: int) -> list:
    """Means of every ``window`` consecutive values (``len(values) - window + 1`` of them)."""
    if len(values) < window:
        return [_mean(values)] if values else []
    out, acc = [], sum(values[:window])
    out.append(acc / window)
    for i in range(window, len(values)):
        acc += values[i] - values[i - window]
        out.append(acc / window)
    return out


def loss_summary(history: Mapping, window: int = LOSS_WINDOW) -> dict:
    """First and final window means of the total and of each term, and the smoothed maximum."""
    out = {}
    for key in ("loss", "lk", "loff", "lsize"):
        values = list(history.get(key) or [])
        if values:
            w = min(window, len(values))
            out[key] = {"first": _mean(values[:w]), "final": _mean(values[-w:])}
    smoothed = moving_average(list(history.get("loss") or []), window)
    out["smoothed_max"] = max(smoothed) if smoothed else float("nan")
    return out


def _save_loss_plot(history: Mapping, cfg: Mapping, title: str) -> Optional[str]:
    """Total loss and its terms against the step (log scale), smoothed total on top; returns the
    attachment name, or None when nothing could be drawn."""
    steps = list(history.get("step") or [])
    total = list(history.get("loss") or [])
    if not total or len(steps) != len(total):
        return None
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 4.2))
    ax = fig.add_subplot()
    for key, style, label in (("loss", "k-", "total"), ("lk", "C0-", "lk (heatmap focal loss)"),
                              ("loff", "C1-", "loff (offsets, weighted)"), ("lsize", "C2-", "lsize (sizes, weighted)")):
        values = list(history.get(key) or [])
        if len(values) == len(steps):
            ax.plot(steps, [v if v > 0 and math.isfinite(v) else float("nan") for v in values], style,
                    label=label, linewidth=1.6 if key == "loss" else 1.0, alpha=0.55 if key == "loss" else 0.9)
    smoothed = moving_average(total, LOSS_WINDOW)
    if len(total) >= LOSS_WINDOW:
        ax.plot(steps[LOSS_WINDOW - 1:], smoothed, "k-", linewidth=2.5, label=f"total, mean of {LOSS_WINDOW} steps")
    for skipped in history.get("skipped") or []:
        ax.axvline(skipped, color="red", alpha=0.3, linewidth=1)
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("loss (batch mean)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(title, fontsize=9)
    name = "centernet-training-loss.png"
    fig.savefig(attachment_path(name), dpi=90, bbox_inches="tight")
    return attachment_name(name)


def verdict_loss_decreases(actual: Mapping[str, Any], expected: Optional[Mapping] = None) -> Verdict:
    """The TinyCoco loss curve: finite at every step, falling well below its start, no divergence."""
    cfg = TRAINING_CONFIG
    history = actual.get("history")
    ran = _what_ran(actual, cfg)
    if not isinstance(history, Mapping) or any(history.get(k) is None for k in ("loss", "lk", "loff", "lsize", "skipped")):
        return failed(f"train() did not return the history of losses it should ({ran})")
    total, skipped = list(history["loss"]), list(history["skipped"])
    attachments = []
    picture = _save_loss_plot(history, cfg, f"TinyCoco training: {ran}")
    if picture:
        attachments.append(picture)

    def verdict(ok: bool, message: str) -> Verdict:
        return Verdict(1.0 if ok else 0.0, message, tuple(attachments))

    if skipped:
        return verdict(False, (
            f"the loss or its gradient was NaN or Inf at {len(skipped)} of {cfg['steps']} steps (first at step "
            f"{skipped[0]}); the training loop skipped them. Look for a log of 0 (clamp the probabilities in "
            f"loss_fl) and for divisions by a count that can be 0 (TinyCoco has an image without objects). "
            f"Ran {ran}"))
    if len(total) != cfg["steps"]:
        return verdict(False, f"{len(total)} losses recorded for {cfg['steps']} steps ({ran})")
    bad = [k for k in ("loss", "lk", "loff", "lsize") if not all(math.isfinite(v) for v in history[k])]
    if bad:
        return verdict(False, f"the loss term(s) {', '.join(bad)} are not finite at some step ({ran})")

    s = loss_summary(history)
    parts = [f"total {s['loss']['first']:.3g} -> {s['loss']['final']:.3g} "
             f"(x{s['loss']['final'] / s['loss']['first']:.2f}, needs <= x{LOSS_MAX_RATIO:g})"]
    parts += [f"{k} {s[k]['first']:.3g} -> {s[k]['final']:.3g}" for k in ("lk", "loff", "lsize")]
    numbers = "; ".join(parts) + f" (means of the first and last {LOSS_WINDOW} steps)"
    problems = []
    first, final = s["loss"]["first"], s["loss"]["final"]
    if first <= 0:
        problems.append(f"the total loss starts at {first:.3g}: a focal loss of an untrained net is positive")
    elif final > LOSS_MAX_RATIO * first:
        problems.append(f"the total loss did not fall enough: its last {LOSS_WINDOW} steps average "
                        f"{final / first:.2f} of its first {LOSS_WINDOW} (needs <= {LOSS_MAX_RATIO:g})")
    for key, what in (("lk", "heatmap (focal)"), ("loff", "offset"), ("lsize", "size")):
        t = s[key]
        if t["final"] > TERM_MAX_RATIO * t["first"] + TERM_SLACK:
            problems.append(f"the {what} term {key} did not fall: {t['first']:.3g} -> {t['final']:.3g} "
                            f"(needs <= {TERM_MAX_RATIO:g} x start + {TERM_SLACK:g})")
        if min(history[key]) < 0:
            problems.append(f"the {what} term {key} is negative at some step ({min(history[key]):.3g}): "
                            "a loss term cannot be below 0")
    if first > 0 and s["smoothed_max"] > DIVERGENCE_RATIO * first:
        problems.append(f"the smoothed loss rose to {s['smoothed_max']:.3g}, above {DIVERGENCE_RATIO:g} x its start "
                        f"({first:.3g}): training diverged")
    if problems:
        more = f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""
        return verdict(False, f"{problems[0]}{more}. {numbers}. Ran {ran}")
    return verdict(True, f"the loss falls steadily: {numbers}. Ran {ran}")


# ================================================================================================
# Fit of the tiny set
# ================================================================================================

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
        d = {"image_id": image_id, "category_id": int(cls),
             "bbox": [(x - w / 2) * sx, (y - h / 2) * sy, max(w, 0.0) * sx, max(h, 0.0) * sy]}
        if score:
            d["score"] = float(conf)
        else:
            d["iscrowd"] = 0
            d["area"] = d["bbox"][2] * d["bbox"][3]
        out.append(d)
    return out


def decode(maps: torch.Tensor, ref: Mapping, objects_per_image: int = 100, min_confidence: float = 0.01) -> torch.Tensor:
    """Raw head output ``[B, C+4, h, w]`` -> detections ``[B, K, 6]`` in image pixels (reference NMS,
    reference decoder, x4)."""
    nms = ref["network"].PointsNonMaxSuppression(3)
    to_objects = ref["convert"].PointsToObjects(objects_per_image=objects_per_image, min_confidence=min_confidence)
    with torch.no_grad():
        return ref["network"].ScaleObjects(4)(to_objects(nms(maps)))


def peak_analysis(maps: torch.Tensor, targets: torch.Tensor, crowd_boxes: list, ref: Mapping,
                  peak_score: float = FIT_PEAK_SCORE, stray_score: float = FIT_STRAY_SCORE, stride: int = 4) -> dict:
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
    Returns totals, means and per-image counts."""
    c = maps.shape[1] - 4
    peaks = ref["network"].PointsNonMaxSuppression(3)(maps)[:, :c]
    found, total, errors, stray, contrasts = 0, 0, [], 0, []
    per_image = []
    for b in range(maps.shape[0]):
        centres = []
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
                continue
            found += 1
            flat = int(window.argmax())
            py, px = y0 + flat // window.shape[1], x0 + flat % window.shape[1]
            dy, dx = float(maps[b, c, py, px]), float(maps[b, c + 1, py, px])
            errors.append(math.hypot(py + dy - cy, px + dx - cx))
        strays = 0
        for k, py, px in (peaks[b] >= stray_score).nonzero().tolist():
            if any(kk == k and abs(py - gy) <= 1 and abs(px - gx) <= 1 for kk, gy, gx in centres):
                continue
            if any(kk == k and x0 <= (px + 0.5) * stride <= x0 + w and y0 <= (py + 0.5) * stride <= y0 + h
                   for kk, (x0, y0, w, h) in crowd_boxes[b]):
                continue
            strays += 1
        stray += strays
        per_image.append({"missed": missed, "stray": strays})
    return {"found": found, "total": total, "recall": found / total if total else 1.0,
            "centre_error": _mean(errors) if errors else float("nan"), "stray": stray,
            "contrast": _mean(contrasts) if contrasts else float("nan"), "per_image": per_image}


def _tinycoco(ref: Mapping, image_size: int):
    """The parent's own copy of the targets: TinyCoco read with the reference (given) loader."""
    root = data_root() / TRAINING_CONFIG["data"]
    dataset = ref["data"].CocoDetection(root / "annotations.json", root / "images", image_size=image_size)
    images, targets = zip(*(dataset[i] for i in range(len(dataset))))
    coco = json.loads((root / "annotations.json").read_text(encoding="utf-8"))
    infos = {im["id"]: im for im in coco["images"]}
    crowd = {im_id: [] for im_id in infos}
    for a in coco["annotations"]:
        if a.get("iscrowd", 0):
            info = infos[a["image_id"]]
            sx, sy = image_size / info["width"], image_size / info["height"]
            x, y, w, h = a["bbox"]
            cls = dataset.category_map.get(int(a["category_id"]))
            if cls is not None:
                crowd[a["image_id"]].append((cls, [x * sx, y * sy, w * sx, h * sy]))
    ids = [int(info["id"]) for info in dataset.image_infos]
    return dataset, torch.stack(images), torch.stack(targets), ids, [crowd[i] for i in ids]


def _save_fit_panel(images, targets, maps, detections, ids, analysis, class_names, ref, title: str) -> str:
    """Up to 8 training images (those with the most problems first): true (green) vs predicted (red)
    boxes, true vs predicted heatmaps (max over classes)."""
    from matplotlib.figure import Figure

    n = images.shape[0]
    badness = [(-(p["missed"] + p["stray"]), i) for i, p in enumerate(analysis["per_image"])]
    chosen = sorted(i for _, i in sorted(badness)[: min(8, n)])
    c = maps.shape[1] - 4
    hw = maps.shape[-1]
    target_maps = ref["convert"].ObjectsToPoints(hw=hw, num_classes=c)(
        torch.cat([targets[..., :4] / 4, targets[..., 4:]], dim=-1))
    rows = (len(chosen) + 1) // 2
    fig = Figure(figsize=(13, 2.3 * rows + 0.6))
    axes = fig.subplots(rows, 6, squeeze=False)
    for slot, i in enumerate(chosen):
        r, col = slot // 2, 3 * (slot % 2)
        p = analysis["per_image"][i]
        ref["plot"].draw_objects(images[i], targets[i], detections[i][:MAX_BOXES_DRAWN], class_names=class_names,
                                 min_confidence=FIT_PEAK_SCORE, ax=axes[r][col])
        axes[r][col].set_title(f"image {ids[i]}: missed {p['missed']}, stray {p['stray']}", fontsize=8)
        ref["plot"].show_heatmap(target_maps[i], image=images[i], ax=axes[r][col + 1])
        axes[r][col + 1].set_title("true heatmap", fontsize=8)
        ref["plot"].show_heatmap(maps[i], image=images[i], ax=axes[r][col + 2])
        axes[r][col + 2].set_title("predicted heatmap", fontsize=8)
    for slot in range(len(chosen), rows * 2):
        for k in range(3):
            axes[slot // 2][3 * (slot % 2) + k].set_axis_off()
    fig.suptitle(title + f"\ngreen: true boxes, red: the {MAX_BOXES_DRAWN} best detections with score >= "
                 f"{FIT_PEAK_SCORE:g}", fontsize=9)
    fig.subplots_adjust(left=0.01, right=0.99, bottom=0.01, top=1 - 0.9 / fig.get_figheight(), wspace=0.05, hspace=0.25)
    name = "centernet-training-fit.png"
    fig.savefig(attachment_path(name), dpi=80)
    return attachment_name(name)


def fit_metrics(maps: torch.Tensor, ref: Mapping, image_size: int) -> dict:
    """Everything "fits the tiny set" measures, computed here from the raw maps (also used by tests)."""
    dataset, images, targets, ids, crowd = _tinycoco(ref, image_size)
    detections = decode(maps, ref)
    coco_images = [{"id": i, "width": image_size, "height": image_size} for i in ids]
    gts, dets = [], []
    for b, image_id in enumerate(ids):
        gts += _objects_to_coco(targets[b], image_id)
        gts += [{"image_id": image_id, "category_id": cls, "bbox": box, "iscrowd": 1, "area": box[2] * box[3]}
                for cls, box in crowd[b]]  # COCO rules: detections inside a crowd region are ignored
        dets += _objects_to_coco(detections[b], image_id, score=True)
    ap = coco_ap(coco_images, gts, dets, dataset.num_classes)
    analysis = peak_analysis(maps, targets, crowd, ref)
    return {"dataset": dataset, "images": images, "targets": targets, "ids": ids, "detections": detections,
            "ap": ap, "peaks": analysis}


def verdict_fits_tinycoco(actual: Mapping[str, Any], expected: Optional[Mapping] = None) -> Verdict:
    """After the budget the net has fitted TinyCoco: AP50, heatmap peaks, centre positions."""
    cfg = TRAINING_CONFIG
    ran = _what_ran(actual, cfg)
    maps = actual.get("maps")
    size = cfg["image_size"]
    ref = _reference()
    root = data_root() / cfg["data"]
    n_images = len(json.loads((root / "annotations.json").read_text(encoding="utf-8"))["images"])
    if not isinstance(maps, torch.Tensor):
        return failed(f"the network returned a {actual.get('maps_type')}, not a tensor of points ({ran})")
    c = int(actual.get("num_classes") or 0)
    want = (n_images, 3 + 4, size // 4, size // 4)
    if tuple(maps.shape) != want:
        return failed(f"the network's output has shape {tuple(maps.shape)}, expected {want} "
                      f"([images, C+4, {size}/4, {size}/4]) ({ran})")
    if c != 3:
        return failed(f"the loader reported {c} classes, TinyCoco has 3 ({ran})")
    maps = maps.float()
    if not torch.isfinite(maps).all():
        return failed(f"the network's output after training contains NaN or Inf ({ran})")
    m = fit_metrics(maps, ref, size)
    if list(actual.get("image_ids") or []) != m["ids"]:
        return failed(f"the training images came in another order than TinyCoco's ({ran})")
    ap, pk = m["ap"], m["peaks"]
    n = len(m["ids"])
    stray_limit = FIT_MAX_STRAY_PEAKS * n
    numbers = (f"AP50 {ap['AP50']:.2f} (COCO rules, needs >= {FIT_MIN_AP50:g}); true centres with a heatmap peak "
               f">= {FIT_PEAK_SCORE:g} within 1 map pixel {pk['found']}/{pk['total']} (needs >= "
               f"{FIT_MIN_PEAK_RECALL:.0%}); peak contrast {pk['contrast']:.2f} (score at the centre minus the mean "
               f"of its 8 neighbours, needs >= {FIT_MIN_PEAK_CONTRAST:g}); stray peaks >= {FIT_STRAY_SCORE:g} away from every "
               f"true centre {pk['stray']} (needs <= "
               f"{stray_limit:g}); mean centre error {pk['centre_error']:.2f} map px (needs <= {FIT_MAX_CENTRE_ERROR:g})")
    problems = []
    if pk["recall"] < FIT_MIN_PEAK_RECALL:
        hint = ""
        history = actual.get("history") if isinstance(actual.get("history"), Mapping) else {}
        lk = [v for v in (history.get("lk") or []) if isinstance(v, (int, float)) and math.isfinite(v)]
        if len(lk) >= LOSS_WINDOW and _mean(lk[-LOSS_WINDOW:]) > SLOW_LK:
            hint = (f" (the heatmap loss lk still averages {_mean(lk[-LOSS_WINDOW:]):.2g} at the end: the net trains "
                    "too slowly; start the class logits negative, bias about -2.2 (probability 0.1), as the "
                    "CenterNetHead docstring suggests)")
        problems.append("the class heatmaps do not peak on most true centres: the net did not learn to find the "
                        "objects of its own training set" + hint)
    if not (pk["contrast"] >= FIT_MIN_PEAK_CONTRAST) or pk["stray"] > stray_limit:
        problems.append("the class heatmaps light up around and away from the true centres instead of peaking "
                        "only on them: this is what a focal loss does that ignores the pixels with 0 < target < 1 "
                        "(they must count as negatives, weighted by (1 - target)^beta), or a head whose class "
                        "probabilities are not independent sigmoids")
    if not (pk["centre_error"] <= FIT_MAX_CENTRE_ERROR):  # NaN (nothing found) fails too
        problems.append("the decoded centres are off the true ones: check how ObjectsToPoints writes the offsets "
                        "(dy in channel C, dx in channel C+1) and how the locations are computed")
    if ap["AP50"] < FIT_MIN_AP50:
        problems.append("the detections do not match the ground truth of the training images")
    title = f"TinyCoco after training ({ran}): AP50 {ap['AP50']:.2f}"
    picture = _save_fit_panel(m["images"], m["targets"], maps, m["detections"], m["ids"], pk,
                              m["dataset"].class_names, ref, title)
    if problems:
        return Verdict(0.0, f"the net did not fit the tiny training set: {problems[0]}"
                            + (f" (+{len(problems) - 1} more)" if len(problems) > 1 else "")
                            + f". {numbers}. Ran {ran}", (picture,))
    return Verdict(1.0, f"the net fits the tiny set: {numbers}. Ran {ran}", (picture,))


# ================================================================================================
# Bonus: full training
# ================================================================================================

def test_annotations_path() -> Path:
    return data_root() / BONUS_CONFIG["data"] / "hidden" / "test_annotations.json"


def bonus_map50(maps: torch.Tensor, file_names: list, ref: Mapping, image_size: int) -> dict:
    """mAP@0.5 (COCO rules) of the raw maps on the held-out test set, in original image pixels."""
    coco = json.loads(test_annotations_path().read_text(encoding="utf-8"))
    by_name = {im["file_name"]: im for im in coco["images"]}
    detections = decode(maps, ref)
    dets = []
    for b, name in enumerate(file_names):
        info = by_name[name]
        dets += _objects_to_coco(detections[b], info["id"], info["width"] / image_size,
                                 info["height"] / image_size, score=True)
    ids = {by_name[n]["id"] for n in file_names}
    images = [im for im in coco["images"] if im["id"] in ids]
    annotations = [a for a in coco["annotations"] if a["image_id"] in ids]
    cat_ids = sorted(c["id"] for c in coco["categories"])
    for d in dets:  # class index -> COCO category id, in increasing id order (the loader's default map)
        d["category_id"] = cat_ids[d["category_id"]] if 0 <= d["category_id"] < len(cat_ids) else -1
    dets = [d for d in dets if d["category_id"] >= 0]
    return {"ap": coco_ap(images, annotations, dets, 0), "detections": detections, "coco": coco}


def make_bonus_verdict(min_map50: float = BONUS_MIN_MAP50):
    """The bonus verdict with its threshold (tests lower it for a quick reference model)."""

    def verdict_bonus(actual: Mapping[str, Any], expected: Optional[Mapping] = None) -> Verdict:
        if actual.get("load_error"):
            return failed(f"your weights could not be used: {actual['load_error']}")
        cfg = BONUS_CONFIG
        size = cfg["image_size"]
        path = test_annotations_path()
        if not path.is_file():
            return failed(f"grader set-up: the held-out annotations {path} are missing "
                          "(python data/cocogen/make_dataset.py generates them)")
        coco = json.loads(path.read_text(encoding="utf-8"))
        wanted = sorted(im["file_name"] for im in coco["images"])[: cfg["max_images"]]
        names = list(actual.get("file_names") or [])
        maps = actual.get("maps")
        if names != wanted:
            return failed(f"the network was not run on the {len(wanted)} test images (got {len(names)} results)")
        want = (len(wanted), cfg["num_classes"] + 4, size // 4, size // 4)
        if not isinstance(maps, torch.Tensor) or tuple(maps.shape) != want:
            shape = tuple(maps.shape) if isinstance(maps, torch.Tensor) else type(maps).__name__
            return failed(f"the network's output has shape {shape}, expected {want}")
        maps = maps.float()
        if not torch.isfinite(maps).all():
            return failed("the network's output on the test images contains NaN or Inf")
        ref = _reference()
        result = bonus_map50(maps, names, ref, size)
        ap = result["ap"]
        secs = actual.get("seconds")
        took = f" in {float(secs):.0f} s" if isinstance(secs, (int, float)) else ""
        message = (f"mAP@0.5 {ap['AP50']:.3f} on {len(names)} held-out CocoGen test images at {size}x{size} px "
                   f"(COCO rules; needs >= {min_map50:g}; AP@[.5:.95] {ap['AP']:.3f}){took}")
        picture = _save_bonus_panel(names, maps, result, ref, size, f"held-out test images: mAP@0.5 {ap['AP50']:.3f}")
        if ap["AP50"] >= min_map50:
            return Verdict(1.0, message, (picture,))
        return Verdict(0.0, f"not enough for the bonus: {message}", (picture,))

    return verdict_bonus


def _save_bonus_panel(names, maps, result, ref, size: int, title: str) -> str:
    """The first 6 test images with true (green) and predicted (red) boxes, at the network's size."""
    from matplotlib.figure import Figure

    root = data_root() / BONUS_CONFIG["data"] / "test" / "images"
    coco = result["coco"]
    by_name = {im["file_name"]: im for im in coco["images"]}
    cat_index = {c["id"]: i for i, c in enumerate(sorted(coco["categories"], key=lambda c: c["id"]))}
    class_names = [c["name"] for c in sorted(coco["categories"], key=lambda c: c["id"])]
    k = min(6, len(names))
    fig = Figure(figsize=(2.4 * max(k, 1), 2.8))
    axes = fig.subplots(1, max(k, 1), squeeze=False)[0]
    for i in range(k):
        info = by_name[names[i]]
        img = ref["data"].load_rgb_image(root / names[i]).resize((size, size), resample=2)
        sx, sy = size / info["width"], size / info["height"]
        rows = [[(a["bbox"][1] + a["bbox"][3] / 2) * sy, (a["bbox"][0] + a["bbox"][2] / 2) * sx,
                 a["bbox"][3] * sy, a["bbox"][2] * sx, cat_index[a["category_id"]], 1.0]
                for a in coco["annotations"] if a["image_id"] == info["id"]]
        truth = torch.tensor(rows) if rows else torch.zeros(0, 6)
        ref["plot"].draw_objects(ref["data"].image_to_tensor(img), truth, result["detections"][i][:MAX_BOXES_DRAWN],
                                 class_names=class_names, min_confidence=0.3, ax=axes[i])
    if k == 0:
        axes[0].set_axis_off()
    fig.suptitle(title + " (green: truth, red: detections >= 0.3)", fontsize=9)
    name = "centernet-bonus-test.png"
    fig.savefig(attachment_path(name), dpi=80, bbox_inches="tight")
    return attachment_name(name)
