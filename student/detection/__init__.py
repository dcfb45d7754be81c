"""Assignment "detection": improving an anchor-based detector.

Parts you write (see each docstring): ``Backbone`` (backbone.py), ``Neck`` (neck.py),
``DecoupledHead`` (head.py), TAL (assigner.py), ``diou_loss`` / ``ciou_loss`` (losses.py).
Given: the detector (detector.py), data (data.py), the loss and training (losses.py, train.py),
evaluation and the challenge's predictions file (evaluate.py).
"""

from .assigner import TALAssignment, TaskAlignedAssigner, task_aligned_assign
from .backbone import Backbone, feature_stages
from .detector import AnchorDetector
from .head import DecoupledHead
from .losses import DetectionLoss, ciou_loss, diou_loss
from .neck import Neck

__all__ = [
    "AnchorDetector", "Backbone", "DecoupledHead", "DetectionLoss", "Neck", "TALAssignment",
    "TaskAlignedAssigner", "ciou_loss", "diou_loss", "feature_stages", "task_aligned_assign",
]
