"""Probes of the "detection" assignment (worker side).

Each probe exercises one part of the implementation under test (``pkg`` is the imported
assignment package, e.g. ``submission.detection``) and returns plain data. Public probes use
hand-made or fixed-seed inputs (the verdict rebuilds them in the parent with the same builders);
hidden probes take the grading run's context (``def probe(pkg, ctx)``) and draw their inputs from
``ctx.generator(tag)``, a secret seed drawn per grading run, so nothing learnt from an earlier run
helps. Only the standard library, torch, numpy, timm and torchvision are imported here: never the
grader, never the reference.

The probes live in one module per component; this package's namespace holds every probe (the
worker takes them from here) and the input builders the verdicts rebuild public inputs with.
"""

from __future__ import annotations

from .answers import ANSWER_PLACEHOLDER, ANSWER_QUESTIONS, ANSWERS_FILE, MAX_ANSWER_CHARS, written_answers
from .backbone import backbone_models, backbone_public
from .box_loss import box_loss_inputs, ciou_probe, diou_probe
from .head import head_probe
from .neck import NECK_IN, NECK_OUT, NECK_SIZES, _neck_inputs, neck_role_weights, neck_structure, neck_values
from .predictions import MAX_DETECTIONS, MAX_FILE_BYTES, MAX_PER_IMAGE, PREDICTIONS_FILE, map_predictions
from .tal import anchor_centres, tal_cases, tal_random, topk_permutation

__all__ = [
    # probes
    "backbone_public", "backbone_models", "neck_structure", "neck_values", "head_probe", "tal_cases",
    "tal_random", "diou_probe", "ciou_probe", "map_predictions", "written_answers",
    # what the verdicts rebuild public inputs with (and the tests read)
    "NECK_IN", "NECK_OUT", "NECK_SIZES", "_neck_inputs", "neck_role_weights", "topk_permutation",
    "anchor_centres", "box_loss_inputs",
    # the submission's files
    "PREDICTIONS_FILE", "MAX_FILE_BYTES", "MAX_PER_IMAGE", "MAX_DETECTIONS",
    "ANSWERS_FILE", "ANSWER_QUESTIONS", "MAX_ANSWER_CHARS", "ANSWER_PLACEHOLDER",
]
