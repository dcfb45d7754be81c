"""Probes of the centernet assignment (worker side; see docs/CONVENTIONS.md).

Each probe exercises ONE graded component of the implementation under test and returns plain data
(tensors, numbers, strings, lists and dicts of those): the component's concrete outputs, never a
description of them (no counts, flags or shapes a verdict would have to believe).

Inputs:
- public checks use the fixed cases below (they ship to students; ``build_*_public`` and the hand
  cases), so the parent rebuilds them for its verdicts;
- hidden checks take a second argument, the probe context: ``ctx.generator(tag)`` is a
  ``torch.Generator`` seeded from a secret drawn per grading run, and every hidden case (shapes
  and values) is drawn from it (``draw_*``). The parent runs the reference on the same probe with
  the same seed, and the hidden probes return the inputs they drew, so a verdict reads the cases
  from the reference's result (computed in the parent), never from the worker's.

A probe never goes through another graded component: the loss probes call ``loss_fl``/``loss_l1``
on prepared tensors and give ``forward`` a fixed target builder; the PointsToObjects probes build
their input maps here; so a broken component never costs another component's points.

Layout: one module per graded component (``upscale``, ``resnet``, ``head``, ``loss``,
``objects_to_points``, ``points_to_objects``, ``nms``, ``training``, ``bonus``), their shared helpers in
``common`` and the course's data and given code in ``course``. This ``__init__`` re-exports every probe
(the worker looks them up here) and every builder and constant the parent's verdicts read.

Imports: stdlib, torch, torchvision only. Never ``grader``, never ``reference``; the modules import each
other relatively.
"""

from __future__ import annotations

from .common import _gen
from .upscale import (draw_upscale_cases, UPSCALE_LEARNABLE, upscale_learnable, upscale_more_shapes,
                      UPSCALE_PUBLIC_CASES, upscale_shapes)
from .resnet import (build_resnet_images, build_torchvision_resnet34, draw_resnet_train_input, headless_state_dict,
                     resnet34_eval, resnet34_train_mode, RESNET_FEATURE_INPUT, RESNET_SEED, RESNET_SHAPE_INPUTS,
                     state_digest, torchvision_resnet34_state_dict)
from .head import (build_head_input, head_background, HEAD_BACKGROUND_STEPS, HEAD_GROUPS, HEAD_LEARNABLE,
                   head_learnable, head_outputs, HEAD_SHAPE_CASES, head_shapes)
from .loss import (build_focal_exact, build_focal_hand, build_heat_targets, build_l1_hand, build_loss_forward,
                   draw_focal_benign_exact, draw_focal_random, draw_l1_random, draw_loss_forward, FixedTargets,
                   loss_focal_exact, loss_focal_hand, loss_focal_random, loss_forward, loss_forward_random,
                   loss_l1_hand, loss_l1_random)
from .objects_to_points import (build_gaussian_kernel, build_objects_hand, build_smooth_public, call_smooth,
                                DEFAULT_HEATMAP_CASES, draw_forward_objects, draw_objects_random, draw_smooth_cases,
                                o2p_default_heatmaps, o2p_forward, O2P_FORWARD_CONFIGS, o2p_helpers_random,
                                o2p_locations, o2p_offsets, o2p_sizes, o2p_smooth, o2p_smooth_random)
from .points_to_objects import (build_points_hand, build_points_min_confidence, build_points_random, draw_objects,
                                draw_p2o_random_cases, draw_round_trip, p2o_hand, p2o_min_confidence, p2o_properties,
                                P2O_PROPERTY_CASE, p2o_random, p2o_round_trip)
from .nms import (build_nms_hand, build_nms_random, draw_nms_kernel_cases, draw_nms_random_cases, nms_hand,
                  nms_kernel_sizes, nms_properties, NMS_PROPERTY_CASE, nms_random)
from .course import _given, course_copy_dir, find_data, GraderDataMissing
from .training import (build_late_inputs, data_fingerprint, default_late_inputs, LATE_NOISE, NotGraded,
                       run_tinycoco_training, tinycoco_folder, tinycoco_layout, train_tinycoco, TRAINING_CONFIG,
                       TRAINING_SMOOTH_KERNEL)
from .bonus import BONUS_CONFIG, evaluate_bonus_weights, run_bonus_evaluation

__all__ = [
    "_gen", "UPSCALE_PUBLIC_CASES", "draw_upscale_cases", "upscale_shapes", "upscale_more_shapes",
    "UPSCALE_LEARNABLE", "upscale_learnable", "RESNET_SEED", "RESNET_FEATURE_INPUT", "RESNET_SHAPE_INPUTS",
    "build_torchvision_resnet34", "headless_state_dict", "torchvision_resnet34_state_dict", "state_digest",
    "build_resnet_images", "resnet34_eval", "draw_resnet_train_input", "resnet34_train_mode", "build_head_input",
    "HEAD_SHAPE_CASES", "head_shapes", "head_outputs", "HEAD_GROUPS", "HEAD_LEARNABLE", "head_learnable",
    "HEAD_BACKGROUND_STEPS", "head_background", "build_focal_hand", "build_focal_exact", "build_heat_targets",
    "draw_focal_random", "draw_focal_benign_exact", "loss_focal_hand", "loss_focal_exact", "loss_focal_random",
    "build_l1_hand", "draw_l1_random", "loss_l1_hand", "loss_l1_random", "FixedTargets", "build_loss_forward",
    "draw_loss_forward", "loss_forward", "loss_forward_random", "build_objects_hand", "draw_objects_random",
    "DEFAULT_HEATMAP_CASES", "o2p_default_heatmaps", "o2p_locations", "o2p_offsets", "o2p_sizes",
    "o2p_helpers_random", "build_gaussian_kernel", "build_smooth_public", "draw_smooth_cases", "call_smooth",
    "o2p_smooth", "o2p_smooth_random", "O2P_FORWARD_CONFIGS", "draw_forward_objects", "o2p_forward",
    "build_points_hand", "build_points_random", "build_points_min_confidence", "draw_round_trip", "draw_objects",
    "p2o_hand", "P2O_PROPERTY_CASE", "p2o_properties", "p2o_min_confidence", "draw_p2o_random_cases", "p2o_random",
    "p2o_round_trip", "build_nms_hand", "build_nms_random", "NMS_PROPERTY_CASE", "nms_hand", "nms_properties",
    "draw_nms_random_cases", "draw_nms_kernel_cases", "nms_random", "nms_kernel_sizes", "find_data",
    "GraderDataMissing", "course_copy_dir", "_given", "TRAINING_CONFIG", "TRAINING_SMOOTH_KERNEL", "LATE_NOISE",
    "tinycoco_layout", "tinycoco_folder", "data_fingerprint", "NotGraded", "default_late_inputs",
    "build_late_inputs", "run_tinycoco_training", "train_tinycoco", "BONUS_CONFIG", "run_bonus_evaluation",
    "evaluate_bonus_weights",
]
