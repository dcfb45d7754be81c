"""What the training verdicts share (parent side): the settings and thresholds of the rubric's
[training] table, the data folders, the reference package, the parent's own copy of TinyCoco and
the evaluation inputs it sends after training, and the checks every training verdict makes first."""

from __future__ import annotations

import importlib
import json
import os
import sys
import types
from pathlib import Path
from typing import Any, Mapping, Optional, cast

import torch

from grader.core.api import Verdict, failed, grader_fault

from .common import P

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
RUBRIC = Path(__file__).resolve().parents[1] / "rubric.toml"


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


def _limit(limits: Mapping, name: str) -> float:
    return float(limits[name])


# ================================================================================================
# The parent's own copy of TinyCoco, the evaluation inputs it sends after training
# ================================================================================================

_SETS: dict = {}
# token -> order of the images sent (parent side; see late_inputs). One registry per process, shared
# by every copy of this module (the assignment's loader and the tests load the verdicts package by
# path, each its own copy).
# (a namespace, not a module: sys.modules holds it like any other object; typeshed wants modules)
_LATE_PLANS: dict = sys.modules.setdefault(
    "_grader_centernet_late_plans", cast(types.ModuleType, types.SimpleNamespace(plans={}))).plans


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
    crowd: dict[int, list[tuple[int, list[float]]]] = {im_id: [] for im_id in infos}
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
    where = (f"TinyCoco '{folder.name}' ({len(s['ids'])} images, {s['dataset'].num_classes} classes, "
             f"data {s['fingerprint']})")
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


def training_check_options() -> dict:
    """The options both TinyCoco checks are registered with: time limits, and the late inputs where
    the engine can send them."""
    late = {"late_inputs": late_inputs} if engine_sends_late_inputs() else {}
    return dict(timeout_factor=5.0, timeout_floor=180.0, timeout_ceiling=600.0, **late)
