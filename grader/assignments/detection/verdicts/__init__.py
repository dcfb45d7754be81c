"""Verdicts of the "detection" assignment (parent side: never imports student code).

Public verdicts carry their own expected values (hand-built cases, torchvision as the course's
outside opinion), computed here on inputs rebuilt here with the probes' own builders: nothing the
worker reports about its inputs, counts or flags is trusted. Hidden checks draw their inputs from
the run's secret seed and compare with the reference's run of the same probe (``differential``);
their messages leave out the reference's values (``api.value`` / the engine's hidden context).
The mAP challenge is scored here against the hidden test annotations (made from the grading
machine's secret seed, see ``hidden_test_annotations``), from the detections the probe read from
the submission's ``predictions_test.json``.

One module per component registers its verdicts in ``CHECKS`` by check id (the component of each
check comes from rubric.toml); they are imported here in the rubric's order.
"""

from __future__ import annotations

# in the rubric's order: the order of registration is the order of the checks
from . import backbone, neck, head, tal, box_loss, map_challenge, answers  # noqa: F401 - importing registers them
from .common import CHECKS
from .challenge_data import HiddenDataFault, hidden_test_annotations, released_test_images
from .map_challenge import RUBRIC_SETTINGS, map_of_detections, map_tiers, scorable

__all__ = ["CHECKS", "RUBRIC_SETTINGS", "HiddenDataFault", "hidden_test_annotations", "map_of_detections",
           "map_tiers", "released_test_images", "scorable"]
