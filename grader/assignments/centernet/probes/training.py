"""Probes of the training checks (worker side; the bonus probe is in ``bonus.py``).

Worker side of the components "Training on TinyCoco" and "Full training". These probes train or
run the whole network of the implementation under test with the COURSE'S given code (the loop
and net factory of train.py, the loader of data.py: ``_given``), and send back raw data only:
the loss curve and the raw head outputs on images the PARENT sends after training
(``late_inputs``). The verdicts (verdicts/training_*.py, parent side) decode and score those outputs
themselves with the reference decoder, against annotations the parent reads itself.

Data: TinyCoco is the folder $GRADER_TINYCOCO_DIR (the parent sets it: `grader run --data DIR`
or the rubric's [training] data), else data/tinycoco under $GRADER_DATA_DIR / $COURSE_DATA_DIR /
the first data/ above the package. Both layouts are read: the project's (annotations.json +
images/) and the original course's (instances_*.json + one folder of images).
"""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import torch

from .common import _mod, _plain
from .course import GraderDataMissing, _given, find_data


# The TinyCoco training budget: in steps (never seconds), seeded (the seed is the grading run's
# secret ctx.seed when the engine passes a context). Every step is the whole set (batch 16: the
# BatchNorm statistics of training and evaluation agree). Measured margins: docs/TRAINING.md.
TRAINING_CONFIG: dict = {"data": "tinycoco", "image_size": 64, "steps": 40, "batch_size": 16, "lr": 1e-3, "seed": 0}
TRAINING_SMOOTH_KERNEL = 7  # side of the target gaussian in the training run (see run_tinycoco_training)


# Amplitude of the uniform noise the parent adds to the evaluation images (late inputs): invisible
# to a trained net, but the images are no longer byte-equal to the files the worker can read.
LATE_NOISE = 1.0 / 255


def tinycoco_layout(folder):
    """``(annotation file, image folder)`` of a TinyCoco folder, or None.

    Layouts: ``annotations.json`` + ``images/`` (this project), or one ``instances_*.json`` + one
    folder of images (the original course: ``instances_train2017_small.json`` + ``train_2017_small/``)."""
    folder = Path(folder)
    if (folder / "annotations.json").is_file() and (folder / "images").is_dir():
        return folder / "annotations.json", folder / "images"
    jsons = sorted(folder.glob("instances_*.json")) if folder.is_dir() else []
    dirs = sorted(d for d in folder.iterdir() if d.is_dir() and not d.name.startswith((".", "hidden"))) \
        if folder.is_dir() else []
    if len(jsons) == 1 and len(dirs) == 1:
        return jsons[0], dirs[0]
    return None


def tinycoco_folder(pkg=None, relative: str = TRAINING_CONFIG["data"]):
    """The TinyCoco folder: $GRADER_TINYCOCO_DIR, else ``<data dir>/tinycoco`` (find_data)."""
    if os.environ.get("GRADER_TINYCOCO_DIR"):
        return Path(os.environ["GRADER_TINYCOCO_DIR"])
    return find_data(relative, pkg)


def data_fingerprint(annotation_file, image_dir) -> str:
    """sha256 (16 hex digits) of the annotation file's bytes and of every image's name and size:
    the worker and the verdict each compute it, so a report can prove they read the same set."""
    h = hashlib.sha256(Path(annotation_file).read_bytes())
    for p in sorted(Path(image_dir).iterdir()):
        if p.is_file():
            h.update(f"{p.name}:{p.stat().st_size};".encode())
    return h.hexdigest()[:16]


def _training_history(history) -> dict:
    """What ``train`` returned, as plain lists (floats; NaN/Inf kept as they are)."""
    if not isinstance(history, dict):
        return {"type": type(history).__name__}
    out: dict[str, list[int] | list[float] | None] = {}
    for key in ("step", "loss", "lk", "loff", "lsize", "skipped"):
        values = history.get(key, [])
        try:
            out[key] = [int(v) for v in values] if key in ("step", "skipped") else [float(v) for v in values]
        except (TypeError, ValueError):
            out[key] = None
    return out


class NotGraded(Exception):
    """A component the training checks rest on breaks its contract: the checks are not graded."""


def _shape(value) -> str:
    return f"a tensor of shape {list(value.shape)}" if isinstance(value, torch.Tensor) else f"a {type(value).__name__}"


def _precheck(net, criterion, images, objects, num_classes: int) -> None:
    """The contracts the given loop relies on, on one batch, before training: the network's output
    ``[B, C+4, S/4, S/4]`` and the loss's per-image terms ``[B, 3]``. Raises NotGraded with the
    component to fix first (instead of a traceback from inside the given loop)."""
    b, s = images.shape[0], images.shape[-1]
    want = [b, num_classes + 4, s // 4, s // 4]
    try:
        with torch.no_grad():
            maps = net(images)
    except NotImplementedError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise NotGraded(f"CenterNet must run on a batch [B, 3, {s}, {s}] first: it raised "
                        f"{type(exc).__name__}: {str(exc)[:200]}") from None
    if not isinstance(maps, torch.Tensor) or list(maps.shape) != want:
        raise NotGraded(f"CenterNet must return [B, C+4, S/4, S/4] = {want} first (C = {num_classes} classes of "
                        f"this data set); it returned {_shape(maps)}")
    try:
        terms = criterion(maps, objects)
    except NotImplementedError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise NotGraded(f"CenterNetLoss must accept points {want} and objects {list(objects.shape)} first: it raised "
                        f"{type(exc).__name__}: {str(exc)[:200]}") from None
    if not isinstance(terms, torch.Tensor) or list(terms.shape) != [b, 3]:
        raise NotGraded(f"CenterNetLoss must return [B, 3] first (one row (lk, loff, lsize) per image; the given "
                        f"loop takes the batch mean itself); it returned {_shape(terms)}")


def default_late_inputs(images: torch.Tensor) -> dict:
    """The evaluation plan without a parent to ask (old engine, local calls): every image in order."""
    return {"token": None, "order": list(range(images.shape[0])), "images": images}


def build_late_inputs(images: torch.Tensor, rng: torch.Generator, noise: float = LATE_NOISE) -> dict:
    """PARENT side: the training images in a secret order, with secret uniform noise of +-``noise``.

    ``token`` names the plan, so the verdict finds what was sent (verdicts/training_setup.py keeps the plans)."""
    order = torch.randperm(images.shape[0], generator=rng).tolist()
    jitter = (torch.rand(images.shape, generator=rng) * 2 - 1) * noise
    sent = (images[order] + jitter[order]).clamp(0, 1).contiguous()
    token = int(torch.randint(1, 2**62, (1,), generator=rng))
    return {"token": token, "order": order, "images": sent}


def _late_inputs(ctx, images: torch.Tensor):
    """Adapter: the parent's evaluation inputs when the engine offers ``ctx.late_inputs()``, else
    the default plan. Returns ``(token, images [K, 3, S, S])``."""
    late = getattr(ctx, "late_inputs", None) if ctx is not None else None
    try:
        plan = late() if callable(late) else default_late_inputs(images)
    except RuntimeError as exc:  # a context without late inputs (local calls, calibration)
        if "no late inputs" not in str(exc):
            raise
        plan = default_late_inputs(images)
    sent = plan.get("images") if isinstance(plan, dict) else None
    if not isinstance(sent, torch.Tensor) or sent.dim() != 4:
        raise GraderDataMissing("the grader sent no evaluation images after training (a grader fault)")
    return plan.get("token"), sent.float()


def run_tinycoco_training(pkg, ctx=None, **overrides) -> dict:
    """Train the submission's network on TinyCoco with the course's given loop and factory; then
    return the loss curve and the raw head output ``[K, C+4, S/4, S/4]`` (eval mode) on the images
    the parent sends after training (``ctx.late_inputs()``; without a context: every training image).

    ``overrides`` change TRAINING_CONFIG (the calibration trains with other seeds, sets, budgets);
    ``data_dir`` names the TinyCoco folder. A broken contract of a component the loop rests on
    returns ``{"not_graded": reason}``."""
    cfg = {**TRAINING_CONFIG, **overrides}
    # The training seed stays the calibrated one (the same score on every run, docs/DESIGN.md principle
    # 5); what a forger cannot know in advance is the evaluation input, sent only after training.
    folder = Path(cfg["data_dir"]) if cfg.get("data_dir") else tinycoco_folder(pkg, cfg["data"])
    layout = tinycoco_layout(folder) if folder is not None and folder.exists() else None
    if layout is None:
        raise GraderDataMissing(f"TinyCoco is not available (looked for {folder or 'data/' + cfg['data']}: "
                                "annotations.json + images/, or instances_*.json + one image folder): "
                                "a set-up problem of the grader, not of your code")
    ann, image_dir = layout
    base = {"config": {k: v for k, v in cfg.items() if k != "data_dir"}, "data_name": folder.name,
            "data_fingerprint": data_fingerprint(ann, image_dir)}
    data_mod, train_mod = _given(pkg, "data"), _given(pkg, "train")
    dataset = data_mod.CocoDetection(ann, image_dir, image_size=cfg["image_size"])
    net = train_mod.make_centernet(dataset.num_classes, seed=cfg["seed"])
    # The calibrated targets: a 7x7 gaussian (smooth_kernel_size is the kernel SIDE, as in the original
    # course; the 3x3 default lets a focal loss without the 0 < target < 1 negatives fit the set). Built
    # explicitly for these maps, so that a loss written for the original course (its default
    # ObjectsToPoints is for 64x64 maps and 2 classes) trains here too.
    targets = _mod(pkg, "convert").ObjectsToPoints(hw=cfg["image_size"] // 4, num_classes=dataset.num_classes,
                                                   smooth_kernel_size=TRAINING_SMOOTH_KERNEL)
    criterion = _mod(pkg, "loss").CenterNetLoss(obj_to_points=targets)
    image_list, object_list = zip(*(dataset[i] for i in range(len(dataset))))
    images, objects = torch.stack(image_list), torch.stack(object_list)
    base.update(num_classes=int(dataset.num_classes), image_ids=[int(i["id"]) for i in dataset.image_infos])
    try:
        _precheck(net, criterion, images[: cfg["batch_size"]], objects[: cfg["batch_size"]], dataset.num_classes)
    except NotGraded as exc:
        return {**base, "not_graded": str(exc)}
    torch.manual_seed(cfg["seed"])
    start = time.perf_counter()
    history = train_mod.train(dataset, net=net, criterion=criterion, batch_size=cfg["batch_size"], lr=cfg["lr"],
                              steps=cfg["steps"], seed=cfg["seed"], log_every=0)
    seconds = time.perf_counter() - start
    net.eval()
    token, sent = _late_inputs(ctx, images)
    with torch.no_grad():
        maps = torch.cat([net(sent[i:i + cfg["batch_size"]]) for i in range(0, sent.shape[0], cfg["batch_size"])]) \
            if sent.shape[0] else torch.zeros(0)
    return {
        **base,
        "history": _training_history(history),
        "maps": _plain(maps) if isinstance(maps, torch.Tensor) else None,
        "maps_type": type(maps).__name__,
        "late_token": token,
        "seconds": float(seconds),
        "threads": int(torch.get_num_threads()),
    }


def train_tinycoco(pkg, ctx=None) -> dict:
    """Both TinyCoco checks share this probe (one training run): see run_tinycoco_training."""
    return run_tinycoco_training(pkg, ctx)
