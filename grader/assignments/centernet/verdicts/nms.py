"""Verdicts of PointsNonMaxSuppression."""

from __future__ import annotations

import math
from typing import Mapping, Optional

import torch

import torch.nn.functional as F

from grader.core import api
from grader.core.api import Verdict, compare_tensors, failed, passed

from .common import CHECKS, Bad, P, _call_tensor, _get, student_verdict


def local_maxima(scores: torch.Tensor, kernel_size: int) -> torch.Tensor:
    """Scores that equal the maximum of their kernel_size x kernel_size neighbourhood in their own
    channel (outside the map counts as -inf), others 0. Written with unfold, independent of max_pool2d."""
    b, c, h, w = scores.shape
    r = kernel_size // 2
    padded = F.pad(scores.double(), (r, r, r, r), value=-math.inf)
    windows = F.unfold(padded.reshape(b * c, 1, h + 2 * r, w + 2 * r), kernel_size)  # [B*C, k*k, H*W]
    best = windows.max(dim=1).values.reshape(b, c, h, w)
    return torch.where(scores.double() == best, scores.double(), torch.zeros_like(best)).to(scores.dtype)


def _box_channels_problem(what: str, inputs: torch.Tensor, output: torch.Tensor, c: int) -> Optional[str]:
    """dy, dx, h, w: unchanged at every kept peak (a positive surviving score); elsewhere unchanged or 0.
    The input's values are shown through ``api.value`` (hidden in a hidden check)."""
    kept = (output[:, :c] > 0).any(dim=1, keepdim=True).expand(-1, 4, -1, -1)
    box_in, box_out = inputs[:, c:], output[:, c:]
    changed = box_out != box_in
    bad_peak = changed & kept
    if bad_peak.any():
        b, ch, y, x = (int(i) for i in torch.nonzero(bad_peak)[0])
        return (f"{what}: channel {c + ch} ({('dy', 'dx', 'h', 'w')[ch]}) at the kept peak (image {b}, {y}, {x}) is "
                f"{float(box_out[b, ch, y, x]):.6g}, expected the input {api.value(float(box_in[b, ch, y, x]))}: "
                "offsets and sizes must survive at every peak (stricter than the original course, which did not "
                "check them)")
    bad_other = changed & ~kept & (box_out != 0)
    if bad_other.any():
        b, ch, y, x = (int(i) for i in torch.nonzero(bad_other)[0])
        return (f"{what}: channel {c + ch} at (image {b}, {y}, {x}) is {float(box_out[b, ch, y, x]):.6g}; away from "
                f"peaks the offsets and sizes must be passed through ({api.value(float(box_in[b, ch, y, x]))}) or "
                "zeroed")
    return None


NMS_HINT = (" A score survives only where it equals the maximum of its kernel_size x kernel_size neighbourhood "
            "in its own class channel (max-pool, stride 1, padding kernel_size // 2); peaks are found for each "
            "class independently, never across classes (stricter than the original course, whose tests also passed a "
            "maximum over classes)")


# PointsNonMaxSuppression partial credit (rubric.toml: partial = true on the checks with kernel 3).
# Each case is scored by the documented properties it meets:
#   suppress  every score that is not the maximum of its neighbourhood in its own class is 0
#   keep      every maximum of its own class's neighbourhood keeps its score (classes never
#             suppress each other; equal neighbours are both maxima)
#   boxes     dy, dx, h, w survive at every kept peak (elsewhere: passed through or 0)
NMS_PROPERTIES = ("suppress", "keep", "boxes")
NMS_PROPERTY_TEXT = {
    "suppress": "scores that are not a local maximum in their own class channel must become 0",
    "keep": "every local maximum of its own class channel keeps its score: peaks are found for each class "
            "independently, never across classes (and equal neighbours are both maxima)",
    "boxes": "offsets and sizes must survive at every peak",
}


def nms_case_score(what: str, inputs: torch.Tensor, output: torch.Tensor, want_scores: torch.Tensor, c: int):
    """(the NMS_PROPERTIES missed, message or None) for one case."""
    got = output[:, :c]
    missed, details = [], []
    if bool((got[want_scores == 0] != 0).any()):
        missed.append("suppress")
    if bool((got[want_scores != 0] != want_scores[want_scores != 0]).any()):
        missed.append("keep")
    if missed:
        details.append(compare_tensors(f"{what}: class channels", got, want_scores, atol=0, rtol=0))
    box = _box_channels_problem(what, inputs, output, c)
    if box:
        missed.append("boxes")
        details.append(box)
    if not missed:
        return [], None
    text = (details[0] or what) + ". Wrong: " + "; ".join(NMS_PROPERTY_TEXT[p] for p in missed) + "." + NMS_HINT
    return missed, text


def _nms_scored(scores) -> Verdict:
    """``scores``: (missed properties, message) per case, or a Bad message (misses all). Partial
    credit: the share of the properties met in every case."""
    missed_all, problems = set(), []
    for score in scores:
        missed, message = score if isinstance(score, tuple) else (NMS_PROPERTIES, score)
        missed_all.update(missed)
        if message:
            problems.append(message)
    if not problems:
        return passed("exactly the local maxima of each class survive; offsets and sizes kept at peaks")
    more = f" (+{len(problems) - 1} more case(s))" if len(problems) > 1 else ""
    return api.partial(1.0 - len(missed_all) / len(NMS_PROPERTIES), problems[0] + more)


# Hand case (P.build_nms_hand), kernel 3:
#   class 0: 0.9 at (1, 1) is the maximum of its neighbourhood -> kept; 0.5 at (1, 2) is next to 0.9 -> 0;
#            0.3 at (3, 3): its neighbourhood (rows 2-3, columns 2-3 of class 0) holds nothing larger -> kept
#   class 1: 0.7 at (1, 2) -> kept (0.9 is in class 0: classes do not suppress each other);
#            0.2 at (2, 2) is next to 0.7 -> 0
def _nms_hand_expected() -> torch.Tensor:
    want = torch.zeros(1, 2, 4, 4)
    want[0, 0, 1, 1], want[0, 0, 3, 3], want[0, 1, 1, 2] = 0.9, 0.3, 0.7
    return want


@CHECKS.verdict("nms.hand", probe="nms_hand", description="peaks per class on a hand-computed case")
@student_verdict
def verdict_nms_hand(actual: Mapping, expected: Optional[Mapping] = None) -> Verdict:
    inputs = P.build_nms_hand()
    what = "PointsNonMaxSuppression(3) on the hand case [1, 6, 4, 4]"
    output = _call_tensor(what, _get(actual, "hand", what), list(inputs.shape))
    return _nms_scored([nms_case_score(what, inputs, output, _nms_hand_expected(), 2)])


@CHECKS.verdict("nms.properties", probe="nms_properties",
                description="exactly the local maxima survive; offsets and sizes kept at peaks")
@student_verdict
def verdict_nms_properties(actual: Mapping, expected: Optional[Mapping] = None) -> Verdict:
    inputs = P.build_nms_random(**P.NMS_PROPERTY_CASE)
    c = P.NMS_PROPERTY_CASE["c"]
    what = f"PointsNonMaxSuppression(3) on random maps {list(inputs.shape)}"
    output = _call_tensor(what, _get(actual, "random", what), list(inputs.shape))
    return _nms_scored([nms_case_score(what, inputs, output, local_maxima(inputs[:, :c], 3), c)])


def _nms_differential(actual: Mapping, expected: Mapping) -> list:
    scores = []
    for name, want in expected.items():
        # the secret maps as the reference's run drew them (same seed), never the worker's copy
        inputs, k = want["points"], int(want["kernel_size"])
        c = inputs.shape[1] - 4
        what = f"PointsNonMaxSuppression({k}) on random maps {list(inputs.shape)} [case '{name}']"
        try:
            output = _call_tensor(what, actual[name], list(inputs.shape))
        except Bad as exc:
            scores.append(str(exc))
            continue
        scores.append(nms_case_score(what, inputs, output, want["value"][:, :c], c))
    return scores


@CHECKS.verdict("nms.random", probe="nms_random", description="peaks on random maps (a plateau of equal maxima)",
                differential=True)
@student_verdict
def verdict_nms_random(actual: Mapping, expected: Optional[Mapping]) -> Verdict:
    assert expected is not None  # differential: the engine always passes the reference's output
    return _nms_scored(_nms_differential(actual, expected))


@CHECKS.verdict("nms.kernel_sizes", probe="nms_kernel_sizes", description="kernel_size 5 and 1 (C=1, odd maps)",
                differential=True)
@student_verdict
def verdict_nms_kernel_sizes(actual: Mapping, expected: Optional[Mapping]) -> Verdict:
    assert expected is not None  # differential: the engine always passes the reference's output
    # one property, the kernel size: all or nothing (rubric.toml: no partial credit)
    verdict = _nms_scored(_nms_differential(actual, expected))
    if verdict.passed:
        return passed("peaks match with kernel_size 5 and 1 (C=1, odd maps)")
    return failed(verdict.message + " (kernel_size sets the neighbourhood: max-pool with kernel_size, stride 1, "
                                    "padding kernel_size // 2)")
