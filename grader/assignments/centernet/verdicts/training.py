"""Verdicts of the centernet training checks (parent side; see docs/CONVENTIONS.md and docs/TRAINING.md).

The probe (the probes package, ``probes/training.py``) trains the submission's network in the worker
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
* the hidden fit check (``training_fit``): the detections match the ground truth (AP50), the class
  heatmaps peak on the true centres and nowhere else, the decoded centres sit where the objects are.

A broken contract of a component the loop rests on (e.g. a loss returning ``[3]`` instead of
``[B, 3]``) makes both checks "not graded: <component> must ... first", never a traceback.

Check (component "Full training", 3 points, hidden; ``bonus``): the submitted
weights reach mAP@0.5 on the held-out CocoGen test images.

Layout (this module re-exports their names: the tests and the calibration use them here):
``training_setup`` (settings, data, reference package, late inputs), ``training_loss`` (the loss
curve), ``training_fit`` (the fit of the tiny set), ``bonus`` (full training), ``calibration``.
"""

from __future__ import annotations

from .common import P
from .training_setup import (_LATE_PLANS, _limit, _mean, _prepare, _reference, _reference_package, _SETS, _Stop,
                            _what_ran, BONUS_CONFIG, CALIBRATION_MARGIN, CRITERIA, data_root, dataset_key,
                            DIVERGENCE_RATIO, engine_sends_late_inputs, late_inputs, LOSS_WINDOW, MAX_BOXES_DRAWN,
                            parent_loss_ratio, parent_set, PEAK_SCORE, RUBRIC, rubric_training, STRAY_SCORE,
                            STRAY_SLACK, thresholds, tinycoco_dir, training_check_options, TRAINING_CONFIG)
from .training_loss import _save_loss_plot, loss_summary, moving_average, verdict_loss_decreases
from .training_fit import (_mark_counted, _objects_to_coco, _save_fit_panel, coco_ap, criterion_ok, decode, FIT_LEGEND,
                          fit_metrics, fit_panel, peak_analysis, run_values, verdict_fits_tinycoco)
from .bonus import _save_bonus_panel, bonus_map50, BONUS_MIN_MAP50, make_bonus_verdict, test_annotations_path
from .calibration import _toml_value, calibrate, CALIBRATION_BEGIN, CALIBRATION_END, threshold_from, write_calibration

__all__ = [
    "P", "TRAINING_CONFIG", "BONUS_CONFIG", "LOSS_WINDOW", "PEAK_SCORE", "STRAY_SCORE", "MAX_BOXES_DRAWN",
    "CRITERIA", "DIVERGENCE_RATIO", "CALIBRATION_MARGIN", "STRAY_SLACK", "RUBRIC", "rubric_training", "data_root",
    "tinycoco_dir", "dataset_key", "thresholds", "_reference_package", "_reference", "_what_ran", "_mean", "_limit",
    "_SETS", "_LATE_PLANS", "parent_set", "late_inputs", "engine_sends_late_inputs", "_Stop", "_prepare",
    "parent_loss_ratio", "training_check_options", "moving_average", "loss_summary", "_save_loss_plot",
    "verdict_loss_decreases", "coco_ap", "_objects_to_coco", "decode", "peak_analysis", "FIT_LEGEND",
    "_mark_counted", "fit_panel", "_save_fit_panel", "fit_metrics", "criterion_ok", "verdict_fits_tinycoco",
    "run_values", "BONUS_MIN_MAP50", "test_annotations_path", "bonus_map50", "make_bonus_verdict",
    "_save_bonus_panel", "CALIBRATION_BEGIN", "CALIBRATION_END", "threshold_from", "_toml_value",
    "write_calibration", "calibrate",
]
