"""Verdicts of PointsToObjects."""

from __future__ import annotations

import math
from typing import Mapping, Optional

import torch

from grader.core import api
from grader.core.api import Verdict, compare_tensors, failed, passed

from .common import CHECKS, Bad, P, _call_tensor, _get, student_verdict


COLUMNS = ("y", "x", "h", "w", "cls", "confidence")
COLUMN_HINTS = {
    "y": "y = row + dy, with dy in channel C",
    "x": "x = column + dx, with dx in channel C+1",
    "h": "h is channel C+2 at the location, as it is (map pixels)",
    "w": "w is channel C+3 at the location, as it is (map pixels)",
    "cls": "cls is the class channel of the score, as a float",
    "confidence": "confidence is the score itself (not a 0/1 flag, which the original course's round-trip test "
                  "also passed); rows in descending score order, "
                  "the top K over all classes and locations together",
}


def _fmt_row(row: torch.Tensor) -> str:
    return "(" + ", ".join(f"{float(v):.4g}" for v in row) + ")"


def compare_objects(what: str, actual, want: torch.Tensor, *, atol: float = 1e-5) -> Optional[str]:
    """Compare objects [B, K, 6]; the message names the image, row and column of the first mismatch
    (and, in a public check only, the expected row)."""
    message = compare_tensors(what, actual, want, atol=atol, rtol=1e-5)
    if message is None or tuple(actual.shape) != tuple(want.shape) or actual.dtype != want.dtype:
        return message
    bad = (actual.double() - want.double()).abs() > atol + 1e-5 * want.double().abs()
    bad |= torch.isnan(actual)
    b, k, col = (int(i) for i in torch.nonzero(bad)[0])
    name = COLUMNS[col]
    text = (f"{what}: image {b}, row {k}, column '{name}': expected {api.value(float(want[b, k, col]))}, got "
            f"{float(actual[b, k, col]):.6g}; expected row {api.value(_fmt_row(want[b, k]))}, got "
            f"{_fmt_row(actual[b, k])}")
    elsewhere = [j for j in range(want.shape[1]) if j != k and bool((want[b, j] != 0).any())
                 and bool(((actual[b, k].double() - want[b, j].double()).abs()
                           <= atol + 1e-5 * want[b, j].double().abs()).all())]
    if bool((want[b, k] == 0).all()):
        text += ". Rows whose score is below min_confidence must be all zeros"
    elif elsewhere:
        text += (f". Your row {k} is the expected row {elsewhere[0]}: the rows must be the top K scores over all "
                 "classes and locations together, in descending order of confidence")
    else:
        text += f". ({COLUMN_HINTS[name]})"
    return f"{text} [{int(bad.sum())} wrong values in all]"


def _decoded(result, what: str, b: int, k: int) -> torch.Tensor:
    return _call_tensor(what, result, [b, k, 6])


# Hand case (P.build_points_hand), C = 2, 3x3, K = 3, min_confidence = 0.1:
#   the best score is 0.9 (class 1 at row 2, column 1) with dy, dx, h, w = 0.25, 0.5, 3, 4
#       -> (2 + 0.25, 1 + 0.5, 3, 4, 1, 0.9)
#   then 0.6 (class 0 at row 0, column 2) with dy, dx, h, w = 0.75, 0, 1.5, 2
#       -> (0 + 0.75, 2 + 0, 1.5, 2, 0, 0.6)
#   the third best score is below 0.02 < min_confidence -> a row of zeros
P2O_HAND = [[[2.25, 1.5, 3.0, 4.0, 1.0, 0.9], [0.75, 2.0, 1.5, 2.0, 0.0, 0.6], [0.0] * 6]]


def decode_expected(points: torch.Tensor, k: int, min_confidence: float) -> torch.Tensor:
    """The decoding the contract describes, written out here for the public checks' fixed maps
    (tie-free): the top ``k`` scores over all classes and locations of each image, descending;
    rows below ``min_confidence`` zero."""
    b, channels, h, w = points.shape
    c = channels - 4
    out = torch.zeros(b, k, 6)
    for bi in range(b):
        scores, idx = points[bi, :c].flatten().topk(min(k, c * h * w))
        for row, (score, i) in enumerate(zip(scores.tolist(), idx.tolist())):
            if score < min_confidence:
                break
            cls, y, x = i // (h * w), (i % (h * w)) // w, i % w
            dy, dx, bh, bw = points[bi, c:, y, x].tolist()
            out[bi, row] = torch.tensor([y + dy, x + dx, bh, bw, float(cls), score])
    return out


# PointsToObjects partial credit (rubric.toml: partial = true on the checks that decode whole maps).
# A decoding is scored by the documented properties it meets, each on every image of the case:
#   selection  the expected rows (top K over all classes together) are all there    (weight 1)
#   order      the rows in descending order of score, zero rows last                (0.5)
#   box        y = row + dy, x = column + dx, h, w at the location                  (1)
#   confidence the confidence column is the score itself                            (1)
#   threshold  only the rows reaching min_confidence are non-zero                   (0.5)
# A row is identified by (floor(y), floor(x), cls), which a wrong offset or confidence keeps.
P2O_PROPERTIES = {"selection": 1.0, "order": 0.5, "box": 1.0, "confidence": 1.0, "threshold": 0.5}
P2O_PROPERTY_TEXT = {
    "selection": "the rows must be the top K scores over all classes and locations together",
    "order": "rows in descending order of score",
    "box": "y = row + dy, x = column + dx (dy, dx in channels C, C+1), h and w as they are (channels C+2, C+3)",
    "confidence": "the confidence column is the score itself, not a 0/1 flag",
    "threshold": "rows whose score is below min_confidence are all zeros",
}


def _row_id(row: torch.Tensor) -> tuple:
    return (math.floor(float(row[0])), math.floor(float(row[1])), round(float(row[4]), 3))


def p2o_property_failures(value: torch.Tensor, want: torch.Tensor, atol: float = 1e-5) -> list:
    """The properties (P2O_PROPERTIES) that the decoding ``value`` [B, K, 6] misses against ``want``.

    selection: every expected row is among the non-zero rows; threshold: as many non-zero rows as
    expected; order: the expected rows in the expected order, no padding row before a scored row; box and
    confidence: judged on the rows that match an expected row."""
    failures, matched, wanted = set(), 0, 0
    for bi in range(want.shape[0]):
        want_rows = want[bi][(want[bi] != 0).any(dim=1)]
        nonzero = (value[bi] != 0).any(dim=1)
        got_rows = value[bi][nonzero]
        want_ids = [_row_id(r) for r in want_rows]
        got_ids = [_row_id(r) for r in got_rows]
        if not set(want_ids) <= set(got_ids):
            failures.add("selection")
        if len(got_ids) != len(want_ids):
            failures.add("threshold")
        common = [i for i in got_ids if i in want_ids]
        # a padding row (all zeros) before a row that has a score: out of order. A kept row whose
        # score is 0 (a threshold mistake) is not an ordering mistake.
        scored = value[bi, :, 5] > 0
        zero_first = any(bool(scored[i + 1:].any()) for i in range(len(nonzero)) if not nonzero[i])
        if zero_first or common != [i for i in want_ids if i in common]:
            failures.add("order")
        by_id = dict(zip(want_ids, want_rows))
        wanted += len(want_ids)
        for got_id, row in zip(got_ids, got_rows):
            if got_id not in by_id:
                continue
            matched += 1
            target = by_id[got_id]
            close = (row.double() - target.double()).abs() <= atol + 1e-5 * target.double().abs()
            if not bool(close[:4].all()):
                failures.add("box")
            if not bool(close[5]):
                failures.add("confidence")
    if wanted and not matched:  # nothing decoded from the right place: no property can be credited
        return list(P2O_PROPERTIES)
    return [p for p in P2O_PROPERTIES if p in failures]


def _p2o_scored(cases) -> Verdict:
    """``cases``: (what, value or a Bad message, want). Partial credit: the share of the properties
    met in every case (a case that cannot be judged meets none); the message names the missed
    properties and the first mismatch."""
    missed_all: set[str] = set()
    problems: list[str] = []
    for what, value, want in cases:
        if isinstance(value, str):
            missed_all.update(P2O_PROPERTIES)
            problems.append(value)
            continue
        missed = p2o_property_failures(value, want)
        missed_all.update(missed)
        if missed:
            detail = compare_objects(what, value, want) or what
            problems.append(f"{detail}. Wrong: {'; '.join(P2O_PROPERTY_TEXT[p] for p in missed)}")
    if not problems:
        return passed("decoded objects match: selection, order, boxes, confidence and threshold")
    fraction = 1.0 - sum(P2O_PROPERTIES[p] for p in missed_all) / sum(P2O_PROPERTIES.values())
    more = f" (+{len(problems) - 1} more case(s))" if len(problems) > 1 else ""
    return api.partial(fraction, problems[0] + more)


def _decoded_or_message(result, what: str, b: int, k: int):
    try:
        return _decoded(result, what, b, k)
    except Bad as exc:
        return str(exc)


@CHECKS.verdict("p2o.hand", probe="p2o_hand", description="decodes a hand-computed case")
@student_verdict
def verdict_p2o_hand(actual: Mapping, expected: Optional[Mapping] = None) -> Verdict:
    what = "PointsToObjects(objects_per_image=3, min_confidence=0.1) on the hand case [1, 6, 3, 3]"
    return _p2o_scored([(what, _decoded_or_message(_get(actual, "hand", what), what, 1, 3), torch.tensor(P2O_HAND))])


@CHECKS.verdict("p2o.properties", probe="p2o_properties",
                description="top-K over all classes, descending, confidence = score, rows consistent with the maps")
@student_verdict
def verdict_p2o_properties(actual: Mapping, expected: Optional[Mapping] = None) -> Verdict:
    points = P.build_points_random(**P.P2O_PROPERTY_CASE)
    b, k = points.shape[0], 10
    what = f"PointsToObjects(objects_per_image={k}, min_confidence=0) on random maps {list(points.shape)}"
    return _p2o_scored([(what, _decoded_or_message(_get(actual, "random", what), what, b, k),
                         decode_expected(points, k, 0.0))])


# P.build_points_min_confidence, K = 4, min_confidence = 0.5: only 0.8 (row 0, column 0) and 0.6
# (row 2, column 1) reach the threshold; rows 2 and 3 must be all zeros. This check grades the
# threshold alone (the other properties are graded by the other checks).
@CHECKS.verdict("p2o.min_confidence", probe="p2o_min_confidence", description="rows below min_confidence are all zeros")
@student_verdict
def verdict_p2o_min_confidence(actual: Mapping, expected: Optional[Mapping] = None) -> Verdict:
    what = "PointsToObjects(objects_per_image=4, min_confidence=0.5) on a map with two scores >= 0.5"
    objects = _decoded(_get(actual, "threshold", what), what, 1, 4)
    if (objects[0, 2:] != 0).any():
        return failed(f"{what}: rows 2 and 3 (scores 0.45 and 0.4) must be all zeros, got "
                      f"{_fmt_row(objects[0, 2])} and "
                      f"{_fmt_row(objects[0, 3])}: rows below min_confidence are zeroed like padding rows")
    if not bool((objects[0, :2] != 0).any(dim=1).all()):
        return failed(f"{what}: rows 0 and 1 (scores 0.8 and 0.6 >= min_confidence) must be kept, got "
                      f"{_fmt_row(objects[0, 0])} and {_fmt_row(objects[0, 1])}")
    return passed("rows below min_confidence are all zeros, the others kept")


@CHECKS.verdict("p2o.random", probe="p2o_random",
                description="decoded objects on random maps (empty image, C=1, odd sizes)", differential=True)
@student_verdict
def verdict_p2o_random(actual: Mapping, expected: Optional[Mapping]) -> Verdict:
    assert expected is not None  # differential: the engine always passes the reference's output
    cases = []
    for name, want_result in expected.items():
        want = want_result["value"]
        what = f"PointsToObjects(objects_per_image={want.shape[1]}) on random maps [case '{name}']"
        cases.append((what, _decoded_or_message(actual[name], what, *want.shape[:2]), want))
    return _p2o_scored(cases)


@CHECKS.verdict("p2o.round_trip", probe="p2o_round_trip",
                description="objects drawn onto maps decode back to themselves", differential=True)
@student_verdict
def verdict_p2o_round_trip(actual: Mapping, expected: Optional[Mapping]) -> Verdict:
    assert expected is not None  # differential: the engine always passes the reference's output
    cases = []
    for name, want_result in expected.items():
        objects, k = want_result["objects"], want_result["value"].shape[1]
        what = f"PointsToObjects(objects_per_image={k}) on objects drawn onto maps [case '{name}']"
        # computed here from the drawn objects (not the reference's decoding): the real rows by score
        want = torch.zeros(objects.shape[0], k, 6)
        for bi in range(objects.shape[0]):
            real = objects[bi][objects[bi, :, 5] > 0]
            real = real[real[:, 5].argsort(descending=True)]
            want[bi, :len(real)] = real
        cases.append((what, _decoded_or_message(actual[name], what, objects.shape[0], k), want))
    return _p2o_scored(cases)
