"""A simplified CenterNet ("Objects as Points", Zhou et al., arXiv 1904.07850).

Formats used everywhere in this package (R = 4 is the output stride):

* images: ``[B, 3, H, W]`` float32 in [0, 1], H and W multiples of 32.
* objects: ``[B, N, 6]``, one row per object ``(y, x, h, w, cls, confidence)``: box centre and
  size in pixels of the image the tensor refers to, class index 0..C-1 stored as float,
  confidence 1 for ground truth and the score for detections. Padding rows are all zeros.
* points: ``[B, C+4, H/R, W/R]``: C class probability maps, then ``dy, dx`` (sub-pixel offsets of
  the centre, in [0, 1)) and ``h, w`` (box size in map pixels). An object's map location is
  ``(floor(y / R), floor(x / R))``.

Modules: ``backbone`` (ResNet-34 + upsampling), ``head``, ``loss``, ``convert`` (objects <-> points),
``network`` (NMS and the assembled CenterNet), ``data`` (COCO loader), ``train``, ``plot``.
"""

from .backbone import HeadlessResnet34, ResnetBackbone, UpscaleTwiceLayer, load_resnet34_state_dict
from .convert import ObjectsToPoints, PointsToObjects, objects_count
from .data import CocoDetection, collate, load_rgb_image
from .head import CenterNetHead
from .loss import CenterNetLoss
from .network import CenterNet, PointsNonMaxSuppression, ScaleObjects
from .train import make_centernet, resize_batch, train

__all__ = [
    "UpscaleTwiceLayer",
    "HeadlessResnet34",
    "ResnetBackbone",
    "load_resnet34_state_dict",
    "CenterNetHead",
    "CenterNetLoss",
    "ObjectsToPoints",
    "PointsToObjects",
    "objects_count",
    "PointsNonMaxSuppression",
    "ScaleObjects",
    "CenterNet",
    "CocoDetection",
    "collate",
    "load_rgb_image",
    "train",
    "make_centernet",
    "resize_batch",
]
