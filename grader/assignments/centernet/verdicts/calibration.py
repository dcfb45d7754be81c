"""Calibration of the training thresholds: `grader calibrate --assignment centernet [--data DIR]
[--seeds N]`."""

from __future__ import annotations

import functools
import json
import math
from pathlib import Path
from typing import Mapping, Optional

from .common import P
from .training_fit import run_values
from .training_setup import (CALIBRATION_MARGIN, CRITERIA, RUBRIC, STRAY_SLACK, TRAINING_CONFIG,
                             _reference_package, dataset_key, parent_set, rubric_training, tinycoco_dir)


CALIBRATION_BEGIN = ("# --- BEGIN calibrated training thresholds (written by `grader calibrate`; re-run it to change "
                     "them) ---")
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
            raise RuntimeError(f"the reference failed to train on {folder} (seed {seed}): "
                               f"{message or data.get('not_graded')}")
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
