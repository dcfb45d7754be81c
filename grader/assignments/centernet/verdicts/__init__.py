"""Verdicts of the centernet assignment (parent side; see docs/CONVENTIONS.md).

Trust rules (issue 9):
- a verdict never trusts a count, flag, shape description or case list sent back by the worker: it
  judges the concrete tensors the probe returned (values, gradients, outputs after an SGD step);
- public checks rebuild their fixed inputs with the ``build_*`` functions of the probes (plain
  torch code of ours, never the submission's) and need no reference: their expectations are
  hand-computed (the arithmetic is in the comments) or follow from the contract;
- hidden checks draw their inputs from the probe context's secret seed. They are differential: the
  reference ran the same probe with the same seed here, in the parent, so the cases (and the
  inputs, which the hidden probes return) are read from ``expected``; the engine's structure rule
  makes every expected case present in ``actual``;
- hidden checks' messages never show the reference's values: ``compare_tensors`` redacts itself
  inside a hidden check, and every message written here shows a reference value only through
  ``api.value``.

Points and visibility are in ``rubric.toml``.

Layout: one module per graded component (``upscale``, ``resnet``, ``head``, ``loss``,
``objects_to_points``, ``points_to_objects``, ``nms``; the training checks in ``training_loss``,
``training_fit`` and ``bonus``, what they share in ``training_setup``, the calibration in
``calibration``), the registry and the shared helpers in ``common``. Importing a module registers its
verdicts in ``CHECKS`` (in the order below); the component of each check comes from rubric.toml.
"""

from __future__ import annotations

from . import upscale, resnet, head, loss, objects_to_points, points_to_objects, nms  # noqa: F401 - registers
from . import training_loss, training_fit, bonus  # noqa: F401 - registers the training verdicts
from . import training  # noqa: F401 - the training verdicts' names in one module (tests, docs)
from .calibration import calibrate
from .common import CHECKS

# ================================================================================================
# --- training checks ---
# Components "Training on TinyCoco" and "Full training": verdicts in training_loss.py,
# training_fit.py and bonus.py, probes in the probes package's training.py and bonus.py. Both
# TinyCoco checks name the same probe: one training run when the submission's executor memoises
# probe outcomes (CachedExecutor).
# ================================================================================================

TRAINING_COMPONENTS = ("Training on TinyCoco", "Full training")
RUBRIC_SETTINGS = ("training",)  # the rubric's [training] table: data folder, budget, thresholds (training_setup.py)
CALIBRATE = calibrate  # `grader calibrate --assignment centernet`

__all__ = ["CALIBRATE", "CHECKS", "RUBRIC_SETTINGS", "TRAINING_COMPONENTS"]
