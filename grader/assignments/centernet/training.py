"""Verdicts of the centernet training checks (parent side; see docs/CONVENTIONS.md and docs/TRAINING.md).

The probe (``probes.py``, section "training checks") trains the submission's network in the worker
with the course's given loop (``train.py``, ``data.py``: the course's copy, never the submission's)
and sends back raw data: the loss curve and, after training, the raw head output ``[K, C+4, h, w]``
on the evaluation images the PARENT sends then (``ctx.late_inputs()``: the training images in a
secret order with secret noise; ``late_inputs`` here). Nothing the worker claims is trusted beyond
the advisory: the maps are decoded with the REFERENCE non-maximum suppression and decoder, scored
with COCO rules (pycocotools) and the reference loss against annotations this process reads
itself, and the pictures for the report are drawn here.

Everything is data-driven: the TinyCoco folder (``tinycoco_dir``: ``grader run --data DIR`` or the
rubric's [training] ``data``), its class count and image ids come from the folder; the thresholds
from the rubric's [training] tables, written by ``grader calibrate`` per data set (``calibrate``).
Worker and verdict prove they read the same folder: both compute its fingerprint, and the check
messages name it.

Checks (component "Training on TinyCoco", 1 point each, one shared training run):

* ``training.loss_decreases`` (public): the course's words, the total loss falls steadily (finite,
  its last steps well below its first, no divergence), confirmed here: the reference loss of the
  trained maps is well below that of a net that learnt nothing. Per-term behaviour is a remark.
* ``training.fits_tinycoco`` (hidden): the detections match the ground truth (AP50), the class
  heatmaps peak on the true centres and nowhere else, the decoded centres sit where the objects are.

A broken contract of a component the loop rests on (e.g. a loss returning ``[3]`` instead of
``[B, 3]``) makes both checks "not graded: <component> must ... first", never a traceback.

Check (component "Full training", 3 points): ``bonus.full_training`` (hidden): the submitted
weights reach mAP@0.5 on the held-out CocoGen test images.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import io
import json
import math
import os
import sys
import types
from pathlib import Path
from typing import Any, Mapping, Optional

import torch

from grader.core.api import Verdict, attachment_name, attachment_path, failed


from grader.core.api import grader_fault
from grader.core.assignment import import_path



P = import_path(Path(__file__).resolve().parent / "probes", "_grader_centernet_training_probes")
TRAINING_CONFIG = P.TRAINING_CONFIG
BONUS_CONFIG = P.BONUS_CONFIG

# ================================================================================================
# Settings: the rubric's [training] table (data folder, thresholds; docs/TRAINING.md)
# ================================================================================================

LOSS_WINDOW = 6      # steps per smoothing window (moving average)
PEAK_SCORE = 0.3     # a heatmap peak counts from this score on
STRAY_SCORE = 0.2    # a peak away from every true centre counts as stray from this score on
MAX_BOXES_DRAWN = 10  # detections drawn per image in the pictures (the best ones)

# Criteria: name -> (direction, value of a net that learnt nothing, default threshold). "min": the
# run needs at least the threshold, "max": at most. The defaults hold for a data set nobody
# calibrated; `grader calibrate` writes measured ones into [training.calibrated."<folder>"].
CRITERIA = {
    "loss_ratio": ("max", 1.0, 0.5),             # total loss, mean of its last / first LOSS_WINDOW steps
    "parent_loss_ratio": ("max", 1.0, 0.6),      # the reference loss of the returned maps / that of a prior-only map
    "ap50": ("min", 0.0, 0.3),                   # COCO AP at IoU 0.5 on the training images
    "peak_recall": ("min", 0.0, 0.6),            # true centres with a class peak >= PEAK_SCORE within 1 map pixel
    "peak_contrast": ("min", 0.0, 0.2),          # mean (score at a true centre - mean of its 8 neighbours)
    "stray_per_image": ("max", None, 1.0),       # peaks >= STRAY_SCORE away from every true centre, per image
    "centre_error_ratio": ("max", 1.0, 0.6),     # decoded centre error / the error of offsets that never learnt (0.5)
}
DIVERGENCE_RATIO = 1.5  # the smoothed total never exceeds this x its first window (not calibrated)
CALIBRATION_MARGIN = 0.5  # threshold = worst seed + this x (value of a net that learnt nothing - worst seed)
STRAY_SLACK = 0.5         # stray peaks: threshold = worst seed x (1 + margin) + this
RUBRIC = Path(__file__).with_name("rubric.toml")

# The bonus. Calibrated on one reference run (python -m reference.centernet.train_full, seed 0, 128 px,
# batch 16, CPU; docs/TRAINING.md "Timings of the reference and the threshold"): held-out test mAP@0.5
# 0.34 after 750 steps, 0.63 after 1000, 0.84 after 1250 and 0.90 after the default 3000. 0.7 asks for
# a run past the plateau's knee and leaves the reference a wide margin at the default budget.
BONUS_MIN_MAP50 = 0.7


def rubric_training(path: Optional[Path] = None) -> dict:
    """The rubric's [training] table ({} when there is none)."""
    import tomllib

    try:
        return dict(tomllib.loads(Path(path or RUBRIC).read_text(encoding="utf-8")).get("training") or {})
    except (OSError, ValueError):
        return {}


def data_root() -> Path:
    """The data folder the parent reads: $GRADER_DATA_DIR, else $COURSE_DATA_DIR, else the course's."""
    from grader.core import course as course_mod

    for var in ("GRADER_DATA_DIR", "COURSE_DATA_DIR"):
        if os.environ.get(var):
            return Path(os.environ[var])
    return course_mod.current().data


def tinycoco_dir(rubric: Optional[Mapping] = None) -> Path:
    """The TinyCoco folder of this grading run: $GRADER_TINYCOCO_DIR (`grader run --data DIR` sets
    it, and the worker reads the same variable), else the rubric's [training] ``data``, relative to
    the data folder (default ``tinycoco``)."""
    if os.environ.get("GRADER_TINYCOCO_DIR"):
        return Path(os.environ["GRADER_TINYCOCO_DIR"])
    rubric = rubric_training() if rubric is None else rubric
    folder = Path(str(rubric.get("data") or TRAINING_CONFIG["data"]))
    return folder if folder.is_absolute() else data_root() / folder


def dataset_key(folder: Path) -> str:
    return Path(folder).name


def thresholds(folder: Path, fingerprint: Optional[str], cfg: Mapping, rubric: Optional[Mapping] = None):
    """``(thresholds, source)`` for a data set: its calibrated entry of the rubric when the folder's
    fingerprint and the budget match, else the rubric's [training.thresholds] over the defaults."""
    rubric = rubric_training() if rubric is None else rubric
    values = {k: v[2] for k, v in CRITERIA.items()}
    values.update({k: float(v) for k, v in (rubric.get("thresholds") or {}).items() if k in CRITERIA})
    entry = (rubric.get("calibrated") or {}).get(dataset_key(folder))
    budget = {k: cfg[k] for k in ("image_size", "steps", "batch_size", "lr")}
    if isinstance(entry, Mapping):
        same_budget = all(entry.get(k) == v for k, v in budget.items())
        if entry.get("fingerprint") == fingerprint and same_budget:
            values.update({k: float(v) for k, v in entry.items() if k in CRITERIA})
            return values, f"calibrated for {dataset_key(folder)} ({entry.get('seeds', '?')} reference seeds)"
        why = "its files changed" if entry.get("fingerprint") != fingerprint else "the budget changed"
        return values, f"default thresholds: the calibration of {dataset_key(folder)} does not apply ({why})"
    return values, f"default thresholds ({dataset_key(folder)} was never calibrated: grader calibrate)"


def _reference_package():
    """The course's reference ``centernet`` package (``--reference-dir`` respected), imported under
    the reference executor's alias, whatever the folder is called."""
    from grader.core import course as course_mod
    from grader.core.engine import InProcessExecutor
    from grader.core.runner import REFERENCE_ALIAS

    return InProcessExecutor.for_directory(course_mod.current().reference, REFERENCE_ALIAS).import_module("centernet")


def _reference():
    """The reference package's modules the verdicts use (imported lazily: students have none)."""
    try:
        package = _reference_package()
        return {name: importlib.import_module(f"{package.__name__}.{name}")
                for name in ("data", "convert", "network", "plot", "loss")}
    except ImportError as exc:
        raise RuntimeError(f"grader set-up: this check needs the reference package ({exc})") from None


def _what_ran(data: Mapping, cfg: Mapping) -> str:
    seconds = data.get("seconds")
    took = f" in {float(seconds):.1f} s" if isinstance(seconds, (int, float)) else ""
    seed = data.get("config", {}).get("seed", cfg["seed"]) if isinstance(data.get("config"), Mapping) else cfg["seed"]
    return (f"{cfg['steps']} steps of batch {cfg['batch_size']} at {cfg['image_size']}x{cfg['image_size']} px, "
            f"Adam lr {cfg['lr']:g}, seed {seed}{took}")


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

# ================================================================================================
# The parent's own copy of TinyCoco, the evaluation inputs it sends after training
# ================================================================================================

_SETS: dict = {}
# token -> order of the images sent (parent side; see late_inputs). One registry per process, shared
# by every copy of this module (checks.py and the tests load it by path, each its own copy).
_LATE_PLANS: dict = sys.modules.setdefault("_grader_centernet_late_plans", types.SimpleNamespace(plans={})).plans


def parent_set(folder: Path, image_size: int, ref: Optional[Mapping] = None) -> dict:
    """TinyCoco read here with the reference (given) loader: images ``[N, 3, S, S]``, targets
    ``[N, M, 6]``, image ids, crowd regions per image, the fingerprint. Memoised per folder and size."""
    key = (str(Path(folder).resolve()), int(image_size))
    if key in _SETS:
        return _SETS[key]
    ref = ref or _reference()
    layout = P.tinycoco_layout(folder) if Path(folder).is_dir() else None
    if layout is None:
        raise FileNotFoundError(f"no TinyCoco in {folder} (annotations.json + images/, or instances_*.json + "
                                "one image folder)")
    ann, image_dir = layout
    dataset = ref["data"].CocoDetection(ann, image_dir, image_size=image_size)
    images, targets = zip(*(dataset[i] for i in range(len(dataset))))
    coco = json.loads(Path(ann).read_text(encoding="utf-8"))
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
    _SETS[key] = {"folder": Path(folder), "dataset": dataset, "images": torch.stack(images),
                  "targets": torch.stack(targets), "ids": ids, "crowd": [crowd[i] for i in ids],
                  "fingerprint": P.data_fingerprint(ann, image_dir)}
    return _SETS[key]


def late_inputs(rng: torch.Generator) -> dict:
    """PARENT side of ``ctx.late_inputs()`` (built only when the probe asks, i.e. after training):
    the training images in a secret order with secret noise; the plan is kept for the verdict."""
    s = parent_set(tinycoco_dir(), TRAINING_CONFIG["image_size"])
    plan = P.build_late_inputs(s["images"], rng)
    _LATE_PLANS[plan["token"]] = list(plan["order"])
    return plan


def engine_sends_late_inputs() -> bool:
    """Whether this engine's Check takes ``late_inputs`` (the core's probe context)."""
    from grader.core.api import Check

    return "late_inputs" in getattr(Check, "__dataclass_fields__", {})


class _Stop(Exception):
    def __init__(self, verdict: Verdict):
        self.verdict = verdict


def _prepare(actual: Mapping[str, Any]) -> dict:
    """What both verdicts need, checked: the run was graded on the parent's data set, the maps are
    the parent's evaluation images', in the data set's order. Raises _Stop(verdict) otherwise."""
    cfg = TRAINING_CONFIG
    ran = _what_ran(actual, cfg)
    folder = tinycoco_dir()
    try:
        s = parent_set(folder, cfg["image_size"])
    except FileNotFoundError as exc:
        raise _Stop(grader_fault(f"{exc}")) from None
    where = f"TinyCoco '{folder.name}' ({len(s['ids'])} images, {s['dataset'].num_classes} classes, data {s['fingerprint']})"
    if actual.get("not_graded"):
        raise _Stop(failed(f"not graded: {actual['not_graded']} ({where})"))
    if actual.get("data_fingerprint") != s["fingerprint"]:
        raise _Stop(grader_fault(f"the worker trained on data {actual.get('data_fingerprint')} "
                                 f"('{actual.get('data_name')}'), this verdict reads {where}: "
                                 "give both the same folder (grader run --data DIR)"))
    maps = actual.get("maps")
    if not isinstance(maps, torch.Tensor):
        raise _Stop(failed(f"the network returned a {actual.get('maps_type')}, not a tensor of points ({ran})"))
    token = actual.get("late_token")
    if token is None and not engine_sends_late_inputs():
        order = list(range(len(s["ids"])))
    elif token in _LATE_PLANS:
        order = _LATE_PLANS[token]
    else:
        raise _Stop(failed(f"the trained network was not run on the evaluation images the grader sent after "
                           f"training ({ran})"))
    c = s["dataset"].num_classes
    size = cfg["image_size"]
    want = (len(order), c + 4, size // 4, size // 4)
    if tuple(maps.shape) != want:
        raise _Stop(failed(f"the network's output has shape {tuple(maps.shape)}, expected {want} "
                           f"([images, C+4, {size}/4, {size}/4] with C = {c} classes of {where}) ({ran})"))
    maps = maps.float()
    if not torch.isfinite(maps).all():
        raise _Stop(failed(f"the network's output after training contains NaN or Inf ({ran})"))
    in_order = torch.empty_like(maps)
    in_order[torch.tensor(order)] = maps
    limits, source = thresholds(folder, s["fingerprint"], cfg)
    return {"set": s, "maps": in_order, "ran": ran, "where": where, "limits": limits, "source": source}


def parent_loss_ratio(maps: torch.Tensor, targets: torch.Tensor, ref: Mapping) -> dict:
    """The REFERENCE loss (batch mean of the total) of the returned maps against the parent's targets,
    and of a map that learnt nothing (every class at the prior 0.1, offsets 0.5, sizes 0)."""
    c = maps.shape[1] - 4
    criterion = ref["loss"].CenterNetLoss()
    clean = torch.cat([maps[:, :c].clamp(0, 1), maps[:, c:]], dim=1)
    prior = torch.zeros_like(maps)
    prior[:, :c] = 0.1
    prior[:, c:c + 2] = 0.5
    with torch.no_grad():
        measured = float(criterion(clean, targets).sum(dim=1).mean())
        baseline = float(criterion(prior, targets).sum(dim=1).mean())
    return {"measured": measured, "baseline": baseline, "ratio": measured / baseline if baseline > 0 else float("nan")}


# ================================================================================================
# Loss curve
# ================================================================================================

def _limit(limits: Mapping, name: str) -> float:
    return float(limits[name])


def verdict_loss_decreases(actual: Mapping[str, Any], expected: Optional[Mapping] = None) -> Verdict:
    """The course's words: the TOTAL loss falls steadily (finite at every step, its last steps well
    below its first, no divergence), and the parent's own measurement agrees: the reference loss of
    the trained maps on the images sent after training is well below that of a map that learnt
    nothing. Per-term behaviour is a remark, unless a term is broken (negative or not finite)."""
    cfg = TRAINING_CONFIG
    try:
        prep = _prepare(actual)
    except _Stop as stop:
        return stop.verdict
    ran, limits = prep["ran"], prep["limits"]
    history = actual.get("history")
    if not isinstance(history, Mapping) or any(history.get(k) is None for k in ("loss", "lk", "loff", "lsize", "skipped")):
        return failed(f"train() did not return the history of losses it should ({ran})")
    total, skipped = list(history["loss"]), list(history["skipped"])
    attachments = []
    picture = _save_loss_plot(history, cfg, f"{prep['where']}: {ran}")
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
    first, final = s["loss"]["first"], s["loss"]["final"]
    ratio_limit = _limit(limits, "loss_ratio")
    parent = parent_loss_ratio(prep["maps"], prep["set"]["targets"], _reference())
    parent_limit = _limit(limits, "parent_loss_ratio")
    numbers = (f"total {first:.3g} -> {final:.3g} (x{final / first if first > 0 else float('nan'):.2f}, needs <= "
               f"x{ratio_limit:.2f}; means of the first and last {LOSS_WINDOW} steps); measured here on the "
               f"images sent after training: reference loss {parent['measured']:.3g}, x{parent['ratio']:.2f} of a "
               f"net that learnt nothing ({parent['baseline']:.3g}; needs <= x{parent_limit:.2f}); "
               f"{prep['source']}")
    problems = []
    if first <= 0:
        problems.append(f"the total loss starts at {first:.3g}: a focal loss of an untrained net is positive")
    elif final > ratio_limit * first:
        problems.append(f"the total loss did not fall enough: its last {LOSS_WINDOW} steps average "
                        f"{final / first:.2f} of its first {LOSS_WINDOW} (needs <= {ratio_limit:.2f})")
    for key, what in (("lk", "heatmap (focal)"), ("loff", "offset"), ("lsize", "size")):
        if min(history[key]) < 0:
            problems.append(f"the {what} term {key} is negative at some step ({min(history[key]):.3g}): "
                            "a loss term cannot be below 0")
    if first > 0 and s["smoothed_max"] > DIVERGENCE_RATIO * first:
        problems.append(f"the smoothed loss rose to {s['smoothed_max']:.3g}, above {DIVERGENCE_RATIO:g} x its start "
                        f"({first:.3g}): training diverged")
    if not (parent["ratio"] <= parent_limit):
        problems.append("the trained network's outputs do not have the low loss the reported curve claims: on the "
                        "images sent after training the reference loss is x{:.2f} of a net that learnt "
                        "nothing".format(parent["ratio"]))
    remarks = [f"{k} {s[k]['first']:.3g} -> {s[k]['final']:.3g}" for k in ("lk", "loff", "lsize")]
    flat = [k for k in ("lk", "loff", "lsize") if s[k]["final"] > 0.8 * s[k]["first"] + 0.02]
    remark = f" Terms: {', '.join(remarks)}" + (f" (remark, no deduction: {', '.join(flat)} hardly fell)" if flat else "")
    if problems:
        more = f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""
        return verdict(False, f"{problems[0]}{more}. {numbers}.{remark}. Ran {ran} on {prep['where']}")
    return verdict(True, f"the loss falls steadily: {numbers}.{remark}. Ran {ran} on {prep['where']}")


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
    lim = {k: _limit(limits, k) for k in ("ap50", "peak_recall", "peak_contrast", "stray_per_image", "centre_error_ratio")}
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
                            "learnt: check that the loss trains the offsets (loff) and what ObjectsToPoints writes there")
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
# ================================================================================================
# Calibration: `grader calibrate --assignment centernet [--data DIR] [--seeds N]`
# ================================================================================================

CALIBRATION_BEGIN = "# --- BEGIN calibrated training thresholds (written by `grader calibrate`; re-run it to change them) ---"
CALIBRATION_END = "# --- END calibrated training thresholds ---"


def threshold_from(name: str, values: list, margin: float = CALIBRATION_MARGIN) -> float:
    """The threshold for one criterion from the reference's values over seeds: its worst seed moved
    ``margin`` of the way towards the value of a net that learnt nothing (stray peaks: the worst x
    (1 + margin) + STRAY_SLACK). Values that could not be measured (NaN) are left out; with none
    left the rubric's default stays."""
    direction, nothing, default = CRITERIA[name]
    values = [float(v) for v in values if v is not None and not math.isnan(float(v))]
    if not values:  # not measurable on this budget (e.g. no centre matched after a few steps)
        return default
    worst = min(values) if direction == "min" else max(values)
    if nothing is None:
        return worst * (1 + margin) + STRAY_SLACK
    return worst + margin * (nothing - worst)


def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(round(float(v), 4)) if isinstance(v, float) else str(v)
    return json.dumps(str(v))


def write_calibration(path: Path, key: str, entry: Mapping) -> None:
    """Replace (or add) the ``[training.calibrated."<key>"]`` entry in the rubric's managed block."""
    text = Path(path).read_text(encoding="utf-8")
    entries = dict(rubric_training(path).get("calibrated") or {})
    entries[key] = dict(entry)
    block = [CALIBRATION_BEGIN]
    for k in sorted(entries):
        block.append(f"[training.calibrated.{json.dumps(k)}]")
        block += [f"{field} = {_toml_value(value)}" for field, value in entries[k].items()]
    block.append(CALIBRATION_END)
    if CALIBRATION_BEGIN in text and CALIBRATION_END in text:
        before, rest = text.split(CALIBRATION_BEGIN, 1)
        after = rest.split(CALIBRATION_END, 1)[1]
        text = before + "\n".join(block) + after
    else:
        text = text.rstrip("\n") + "\n\n" + "\n".join(block) + "\n"
    Path(path).write_text(text, encoding="utf-8")


def calibrate(folder: Optional[Path] = None, seeds: int = 5, *, rubric_path: Optional[Path] = None,
              package: Optional[str] = None, margin: float = CALIBRATION_MARGIN, log=print,
              write: bool = True, first_seed: int = 0, **budget) -> dict:
    """Train the reference on ``seeds`` seeds on the TinyCoco ``folder`` with the graded budget
    (``budget`` overrides it, e.g. ``steps=`` for a quick test), print the statistics of every
    criterion and write the thresholds into the rubric (``rubric_path``, default the assignment's).
    Returns ``{"values": [per seed], "stats": {name: (min, max)}, "thresholds": {...}, "entry": ...}``."""
    import importlib

    from grader.core.runtime import run_probe

    folder = Path(folder) if folder else tinycoco_dir()
    cfg = {**TRAINING_CONFIG, **budget}
    s = parent_set(folder, cfg["image_size"])
    pkg = importlib.import_module(package) if package else _reference_package()
    runs = []
    for seed in range(first_seed, first_seed + seeds):
        status, data, message, seconds, _ = run_probe(
            functools.partial(P.run_tinycoco_training, seed=seed, data_dir=str(folder), **budget), pkg, threads=1)
        if status != "ok" or data.get("not_graded"):
            raise RuntimeError(f"the reference failed to train on {folder} (seed {seed}): {message or data.get('not_graded')}")
        values = run_values(data, folder)
        runs.append(values)
        log(f"seed {seed}: " + ", ".join(f"{k} {v:.3f}" for k, v in values.items()) + f" ({seconds:.0f} s)")
    stats = {k: (min(r[k] for r in runs), max(r[k] for r in runs)) for k in CRITERIA}
    limits = {k: threshold_from(k, [r[k] for r in runs], margin) for k in CRITERIA}
    log(f"{folder.name}: {len(s['ids'])} images, {s['dataset'].num_classes} classes, data {s['fingerprint']}; "
        f"margin {margin:g} (threshold = worst seed + {margin:g} x (a net that learnt nothing - worst seed))")
    for k in CRITERIA:
        direction = ">=" if CRITERIA[k][0] == "min" else "<="
        log(f"  {k:20s} reference min {stats[k][0]:.3f} max {stats[k][1]:.3f} -> needs {direction} {limits[k]:.3f}")
    entry = {"fingerprint": s["fingerprint"], "seeds": seeds, "margin": margin,
             **{k: cfg[k] for k in ("image_size", "steps", "batch_size", "lr")}, **limits}
    if write:
        path = Path(rubric_path or RUBRIC)
        write_calibration(path, dataset_key(folder), entry)
        log(f"wrote [training.calibrated.\"{dataset_key(folder)}\"] into {path}")
    return {"values": runs, "stats": stats, "thresholds": limits, "entry": entry}


# ================================================================================================
# The checks (checks.py adds them to the assignment's)
# ================================================================================================

def make_checks(Check) -> list:
    """The training and bonus checks; the TinyCoco ones ask for late inputs where the engine can send them."""
    limits = dict(timeout_factor=5.0, timeout_floor=180.0, timeout_ceiling=600.0)
    late = {"late_inputs": late_inputs} if "late_inputs" in getattr(Check, "__dataclass_fields__", {}) else {}
    return [
        Check("training.loss_decreases", "Training on TinyCoco", "train_tinycoco", verdict_loss_decreases,
              f"TinyCoco, {TRAINING_CONFIG['steps']} seeded steps with the given loop: the total loss falls steadily, "
              "no NaN; confirmed on the trained outputs", **limits, **late),
        Check("training.fits_tinycoco", "Training on TinyCoco", "train_tinycoco", verdict_fits_tinycoco,
              "after the same run the net fits the training images: AP50, heatmap peaks on the true centres, "
              "decoded centres", **limits, **late),
        Check("bonus.full_training", "Full training", "evaluate_bonus_weights", make_bonus_verdict(),
              "your weights.pt on the held-out CocoGen test images: mAP@0.5", timeout_factor=5.0,
              timeout_floor=300.0, timeout_ceiling=900.0),
    ]


