"""Verdicts of the task-aligned assigner (TAL): hand-built cases with known answers, random images
against the reference; every usual placement of the normalisation's eps is accepted."""

from __future__ import annotations

import torch

from grader.core.api import Verdict, compare_tensors, verdict_from

from .common import _ASSIGNMENT, CHECKS, P, _shaped


def _iou(a, b):
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


# The soft score's normalisation t * max_iou_j / max_t_j, with the usual placements of an eps:
# none (the spec's formula), ultralytics' + 1e-9, mmdetection TOOD's + 1e-8, clamp(min=eps).
NORMALISATIONS = (
    ("t * max_iou / max_t", lambda t, m_iou, m_t: t * m_iou / m_t),
    ("t * max_iou / (max_t + 1e-9)", lambda t, m_iou, m_t: t * m_iou / (m_t + 1e-9)),
    ("t * max_iou / (max_t + 1e-8)", lambda t, m_iou, m_t: t * m_iou / (m_t + 1e-8)),
    ("t * max_iou / max_t.clamp(min=1e-9)", lambda t, m_iou, m_t: t * m_iou / m_t.clamp(min=1e-9)),
    ("t * max_iou / max_t.clamp(min=1e-8)", lambda t, m_iou, m_t: t * m_iou / m_t.clamp(min=1e-8)),
    ("t / (max_t + 1e-8) * max_iou", lambda t, m_iou, m_t: t / (m_t + 1e-8) * m_iou),
)


def normalised_scores(gt_index: torch.Tensor, t: torch.Tensor, iou: torch.Tensor) -> list[tuple[str, torch.Tensor]]:
    """Per eps placement, the soft scores of an assignment (``gt_index`` (A,), alignment ``t`` and
    IoU with the assigned GT (A,), 0 for background): ``[(formula, scores (A,) float64), ...]``."""
    t, iou = t.double(), iou.double()
    pos = gt_index >= 0
    max_t, max_iou = torch.zeros_like(t), torch.zeros_like(t)
    for j in gt_index[pos].unique().tolist():
        mine = gt_index == j
        max_t[mine], max_iou[mine] = t[mine].max(), iou[mine].max()
    out = []
    for name, fn in NORMALISATIONS:
        s = torch.where(pos, fn(t, max_iou, torch.where(pos, max_t, torch.ones_like(max_t))), torch.zeros_like(t))
        out.append((name, s))
    return out


def _scores_problem(name: str, got, candidates, raw_t=None, atol=1e-5, rtol=1e-4):
    """None when ``got`` matches the soft scores of one of the normalisations; else a message that
    names the normalisation (with the spec's formula as the expected value)."""
    if not isinstance(got, torch.Tensor):
        return f"{name}: scores: expected a tensor, got {type(got).__name__}"
    for _, want in candidates:
        if compare_tensors(name, got, want, atol=atol, rtol=rtol, check_dtype=False) is None:
            return None
    detail = compare_tensors(f"{name}: scores", got, candidates[0][1], atol=atol, rtol=rtol, check_dtype=False)
    hint = ""
    if raw_t is not None and compare_tensors("t", got, raw_t.to(torch.float64), atol=atol, rtol=rtol,
                                             check_dtype=False) is None:
        hint = " (these are the raw alignments t: normalise them)"
    return (f"{detail}; the soft scores' normalisation differs{hint}: per GT j, over the anchors finally assigned "
            f"to it, score = t * max_iou_j / max_t_j, so that its best anchor gets that GT's best IoU (an eps "
            f"in the denominator, added or as a clamp, is accepted)")


def _check_assignment(name, got, gt_index, labels, boxes, t, iou, atol=1e-5):
    """Compare one hand-built case; ``t`` and ``iou`` per anchor (of the assigned GT, 0 for
    background) give the expected soft scores under every accepted normalisation."""
    gt_index = torch.tensor(gt_index, dtype=torch.long)
    problems = [
        compare_tensors(f"{name}: gt_index", got["gt_index"], gt_index),
        compare_tensors(f"{name}: labels", got["labels"], torch.tensor(labels, dtype=torch.long)),
    ]
    if problems[0] is None:
        problems.append(compare_tensors(f"{name}: boxes", got["boxes"], torch.tensor(boxes, dtype=torch.float32),
                                        atol=atol, check_dtype=False))
        t, iou = torch.tensor(t, dtype=torch.float64), torch.tensor(iou, dtype=torch.float64)
        problems.append(_scores_problem(name, got["scores"], normalised_scores(gt_index, t, iou), raw_t=t, atol=atol))
    return problems


@CHECKS.verdict("tal.cases", probe="tal_cases",
                description="TAL on hand-built cases: centre inside, top-k, conflicts, normalisation, no GT, "
                            "GT without candidates")
@_shaped({case: _ASSIGNMENT for case in ("inside", "topk", "conflict", "normalise", "empty", "no_candidate")})
def verdict_tal_cases(actual, expected) -> Verdict:
    p = []
    # 1. centre strictly inside: anchors 0 and 5, IoU 0.64, score 0.5
    u = 0.64
    p += _check_assignment("centre-inside case (only anchors 0 and 5 have their centre strictly inside the GT; "
                           "centres on the border do not count)", actual["inside"],
                           [0, -1, -1, -1, -1, 0], [0, 2, 2, 2, 2, 0],
                           [[0, 0, 10, 10], [0] * 4, [0] * 4, [0] * 4, [0] * 4, [0, 0, 10, 10]],
                           [0.5 * u ** 6, 0, 0, 0, 0, 0.5 * u ** 6], [u, 0, 0, 0, 0, u])
    # 2. top-k (the shuffle is rebuilt here, never taken from the submission's output)
    perm = P.topk_permutation().tolist()
    ious = [(100 - 5 * i) / 100 for i in range(12)] + [1.0] * 3
    chosen = [perm[k] < 5 for k in range(15)]
    p += _check_assignment("top-k case (topk=5: the 5 candidates with the largest t; anchors outside the GT are "
                           "never candidates, however large their t)", actual["topk"],
                           [0 if c else -1 for c in chosen], [2 if c else 3 for c in chosen],
                           [[0, 0, 100, 100] if c else [0] * 4 for c in chosen],
                           [0.5 * ious[perm[k]] ** 6 if c else 0.0 for k, c in enumerate(chosen)],
                           [ious[perm[k]] if c else 0.0 for k, c in enumerate(chosen)])
    # 3. conflict -> highest IoU
    i_a0 = _iou([1, 1, 19, 19], [0, 0, 20, 20])
    i_a1 = _iou([0, 0, 18, 18], [0, 0, 20, 20])
    i_b2 = _iou([6, 6, 30, 30], [5, 5, 30, 30])
    p += _check_assignment("conflict case (anchor 0 is chosen by both GTs and must go to the one with the highest "
                           "IoU, GT 0, although its alignment with GT 1 is higher)", actual["conflict"],
                           [0, 0, 1], [0, 0, 1], [[0, 0, 20, 20], [0, 0, 20, 20], [5, 5, 30, 30]],
                           [1e-4 * i_a0 ** 6, 0.6 * i_a1 ** 6, 0.7 * i_b2 ** 6], [i_a0, i_a1, i_b2])
    # 4. normalisation, exponents' roles (score ** 1 * IoU ** 6)
    t = [0.5 * 1.0, 0.9 * 0.5 ** 6, 0.6 * 0.8 ** 6, 0.3 * 0.8 ** 6, 0.9 * 0.5 ** 6]
    p += _check_assignment("normalisation case (t = score ** 1 * IoU ** 6 by default; each GT's best anchor gets "
                           "that GT's best IoU: t * max_iou / max_t)", actual["normalise"],
                           [0, 0, 0, 1, 1], [0, 0, 0, 1, 1], [[0, 0, 10, 10]] * 3 + [[100, 100, 110, 110]] * 2,
                           t, [1.0, 0.5, 0.8, 0.8, 0.5])
    # 5. no GT
    p += _check_assignment("no-GT case (every anchor is background)", actual["empty"], [-1] * 7, [4] * 7,
                           [[0, 0, 0, 0]] * 7, [0.0] * 7, [0.0] * 7)
    # 6. GT without candidates; GT 1's anchors all have IoU 1/16, so t is tiny (3e-8): the spec's
    #    formula gives them 1/16, an eps of 1e-8 in the denominator about 0.047: both are accepted
    u_no = 0.0625
    inside = []
    for k in range(64):
        x, y = (k % 8) * 4 + 2, (k // 8) * 4 + 2
        inside.append(12 < x < 24 and 12 < y < 24)
    p += _check_assignment("GT-without-candidate case (GT 0 contains no anchor centre and gets no anchor)",
                           actual["no_candidate"], [1 if c else -1 for c in inside], [0 if c else 2 for c in inside],
                           [[12, 12, 24, 24] if c else [0] * 4 for c in inside],
                           [0.5 * u_no ** 6 if c else 0.0 for c in inside], [u_no if c else 0.0 for c in inside])
    return verdict_from(p, "all six hand-built cases are right")


@CHECKS.verdict("tal.random", probe="tal_random",
                description="TAL on random images agrees with the reference", differential=True)
def verdict_tal_random(actual, expected) -> Verdict:
    problems = []
    for case, want in expected.items():
        got = actual.get(case)
        if got is None:
            problems.append(f"{case}: no result")
            continue
        problem = first_problem_of([
            compare_tensors(f"{case}: gt_index", got["gt_index"], want["gt_index"]),
            compare_tensors(f"{case}: labels", got["labels"], want["labels"]),
            compare_tensors(f"{case}: boxes", got["boxes"], want["boxes"], atol=1e-4, check_dtype=False),
        ])
        if problem is None:  # the soft scores, under every accepted eps placement (the reference's t and IoU)
            problem = _scores_problem(case, got["scores"], normalised_scores(want["gt_index"], want["t"], want["iou"]),
                                      raw_t=want["t"], atol=1e-5, rtol=1e-3)
        problems.append(problem)
    return verdict_from(problems, f"{len(expected)} random images with 1-12 GTs and 3 settings agree with "
                                  f"the reference")


def first_problem_of(messages):
    for m in messages:
        if m:
            return m
    return None
