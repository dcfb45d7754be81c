# This file is generated from the course's solution, with the solution parts taken out.
# Fill in the parts that raise NotImplementedError; keep the given code (everything else) as it is.
"""Label assignment: the task-aligned assigner (TAL) of TOOD (part "TAL", 3 points).

Feng et al., "TOOD: Task-aligned One-stage Object Detection", arXiv 2108.07755, sec. 3.2.

Which anchors should learn to predict a ground-truth box? Fixed rules (IoU of the *anchor* with
the GT, or a centre region) ignore what the network already does well. TAL asks the network: an
anchor is a good match for GT ``j`` when it *both* classifies ``j``'s class well and already
regresses a box close to ``j``. For anchor ``i`` and GT ``j``:

    s_ij = predicted probability of GT j's class at anchor i
    u_ij = IoU(predicted box i, GT box j)
    t_ij = s_ij ** score_exponent * u_ij ** iou_exponent        (the alignment metric)

TOOD (and ultralytics, mmdetection, PaddleDetection) use score exponent 1 and IoU exponent 6.
The homework text writes the same formula as ``s ** alpha * u ** beta`` with "alpha = 6,
beta = 1": that swaps the two. Here the exponents are named by their role.

Steps for one image:
  1. candidates: anchor ``i`` is a candidate for GT ``j`` only if the anchor's centre lies
     *strictly* inside box ``j`` (``x1 < cx < x2`` and ``y1 < cy < y2``);
  2. each GT takes its ``topk`` candidates with the largest ``t_ij`` (all of them if it has fewer);
  3. an anchor taken by several GTs goes to the one of those GTs with the highest IoU ``u_ij``;
  4. soft targets: for each GT ``j``, over the anchors finally assigned to it, the best one gets
     the best IoU of those anchors: ``score_i = t_ij * max_iou_j / (max_t_j + eps)``.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torchvision.ops import box_iou


class TALAssignment(NamedTuple):
    """What TAL gives every anchor (``A`` anchors, ``C`` classes).

    gt_index: ``(A,)`` int64, the index of the assigned GT, ``-1`` for background.
    labels:   ``(A,)`` int64, the assigned GT's class, ``C`` (= ``num_classes``) for background.
    boxes:    ``(A, 4)`` the assigned GT box (xyxy), zeros for background.
    scores:   ``(A,)`` the soft target score (normalised alignment), 0 for background.
    """

    gt_index: torch.Tensor
    labels: torch.Tensor
    boxes: torch.Tensor
    scores: torch.Tensor


def centers_inside_boxes(points: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
    """Which points lie strictly inside which boxes.

    Args:
        points: ``(A, 2)`` anchor centres ``(x, y)``.
        boxes: ``(G, 4)`` boxes ``(x1, y1, x2, y2)``.

    Returns:
        ``(G, A)`` bool: ``[j, i]`` is true when ``x1_j < x_i < x2_j`` and ``y1_j < y_i < y2_j``
        (a centre on the border is *not* inside).
    """
    raise NotImplementedError("centers_inside_boxes is not implemented yet")


def alignment_metric(pred_scores: torch.Tensor, pred_boxes: torch.Tensor, gt_labels: torch.Tensor,
                     gt_boxes: torch.Tensor, score_exponent: float = 1.0, iou_exponent: float = 6.0):
    """The alignment metric ``t`` and the IoUs ``u`` of every (GT, anchor) pair.

    Args:
        pred_scores: ``(A, C)`` predicted class probabilities (after the sigmoid).
        pred_boxes: ``(A, 4)`` predicted boxes, xyxy.
        gt_labels: ``(G,)`` int64 classes in ``[0, C)``.
        gt_boxes: ``(G, 4)`` GT boxes, xyxy.
        score_exponent: exponent of the class score (TOOD's alpha = 1).
        iou_exponent: exponent of the IoU (TOOD's beta = 6).

    Returns:
        ``(t, u)``, both ``(G, A)``: ``t[j, i] = s[j, i] ** score_exponent * u[j, i] ** iou_exponent``
        with ``s[j, i] = pred_scores[i, gt_labels[j]]`` and ``u = box_iou(gt_boxes, pred_boxes)``.
    """
    raise NotImplementedError("alignment_metric is not implemented yet")


def select_topk_candidates(metric: torch.Tensor, candidates: torch.Tensor, topk: int) -> torch.Tensor:
    """Each GT (row) keeps its ``topk`` candidates with the largest metric.

    Args:
        metric: ``(G, A)`` alignment metric.
        candidates: ``(G, A)`` bool, from :func:`centers_inside_boxes`.
        topk: how many anchors each GT may take.

    Returns:
        ``(G, A)`` bool: the chosen (GT, anchor) pairs. Only candidates are ever chosen; a GT with
        at most ``topk`` candidates takes all of them (ties are broken arbitrarily).
    """
    raise NotImplementedError("select_topk_candidates is not implemented yet")


def resolve_conflicts(chosen: torch.Tensor, ious: torch.Tensor) -> torch.Tensor:
    """Give every anchor at most one GT: among the GTs that chose it, the one with the highest IoU.

    Args:
        chosen: ``(G, A)`` bool from :func:`select_topk_candidates`.
        ious: ``(G, A)`` IoU of GT ``j`` with predicted box ``i``.

    Returns:
        ``(A,)`` int64: the GT index of each anchor, ``-1`` when no GT chose it. Equal IoUs go
        to the lower GT index.
    """
    raise NotImplementedError("resolve_conflicts is not implemented yet")


@torch.no_grad()
def task_aligned_assign(pred_scores: torch.Tensor, pred_boxes: torch.Tensor, anchor_points: torch.Tensor,
                        gt_labels: torch.Tensor, gt_boxes: torch.Tensor, topk: int = 13,
                        score_exponent: float = 1.0, iou_exponent: float = 6.0,
                        eps: float = 1e-9) -> TALAssignment:
    """Assign GTs to the anchors of one image with TAL (see the module docstring).

    Args:
        pred_scores: ``(A, C)`` predicted class probabilities (after the sigmoid), detached.
        pred_boxes: ``(A, 4)`` predicted (decoded) boxes, xyxy, detached.
        anchor_points: ``(A, 2)`` anchor centres ``(x, y)``.
        gt_labels: ``(G,)`` int64 classes in ``[0, C)``; ``G`` may be 0.
        gt_boxes: ``(G, 4)`` xyxy.
        topk: anchors per GT (13 as in TOOD; 5 is common too).
        score_exponent: exponent of the class score in ``t`` (TOOD: 1). The homework's "beta".
        iou_exponent: exponent of the IoU in ``t`` (TOOD: 6). The homework's "alpha".
        eps: added to ``max_t_j`` in the normalisation.

    Returns:
        :class:`TALAssignment` with, per anchor, the GT index (-1 = background), the class
        (``C`` = background), the GT box (zeros) and the soft score
        ``t_ij * max_iou_j / (max_t_j + eps)`` (0), where the maxima run over the anchors
        finally assigned to GT ``j``.
    """
    raise NotImplementedError("task_aligned_assign is not implemented yet")


class TaskAlignedAssigner:
    """``task_aligned_assign`` with its settings fixed: ``assigner(pred_scores, pred_boxes,
    anchor_points, gt_labels, gt_boxes) -> TALAssignment``."""

    def __init__(self, topk: int = 13, score_exponent: float = 1.0, iou_exponent: float = 6.0, eps: float = 1e-9):
        self.topk, self.score_exponent, self.iou_exponent, self.eps = topk, score_exponent, iou_exponent, eps

    def __call__(self, pred_scores, pred_boxes, anchor_points, gt_labels, gt_boxes) -> TALAssignment:
        return task_aligned_assign(pred_scores, pred_boxes, anchor_points, gt_labels, gt_boxes, self.topk,
                                   self.score_exponent, self.iou_exponent, self.eps)
