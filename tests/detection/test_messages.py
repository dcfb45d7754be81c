"""Messages that lead to the cause (issue 10.6): TAL's normalisation, DIoU in float16, the
objectness branch and layout, and the mAP challenge's file problems each get their own hint."""

from __future__ import annotations

import pytest
import torch

from grader.core import engine

from .support import by_component, package_copy
from .variants import WRONG


def _messages(assignment, reference, tmp_path, name):
    variant = next(v for v in WRONG if v.name == name)
    executor, _ = package_copy(tmp_path, variant.edits)
    results = by_component(engine.grade(assignment, executor, reference, only=[variant.component]))
    return [c.message for c in results[variant.component].checks]


def test_tal_message_names_the_normalisation(assignment, reference, tmp_path):
    cases, random = _messages(assignment, reference, tmp_path, "tal_without_normalisation")
    for message in (cases, random):
        assert "normalisation differs" in message and "raw alignments t" in message, message
        assert "eps" in message  # and says where the eps may go


def test_diou_float16_message(assignment, reference, tmp_path):
    (message,) = _messages(assignment, reference, tmp_path, "diou_float16_without_upcast")
    assert "float16" in message and "float32" in message, message


@pytest.mark.parametrize("name, words", [("head_objectness_from_cls_tower", "classification branch"),
                                         ("head_objectness_all_deltas_first", "all deltas, all objectness")])
def test_head_objectness_messages(assignment, reference, tmp_path, name, words):
    (message,) = _messages(assignment, reference, tmp_path, name)
    assert words in message, message


# ---------------------------------------------------------------------------------------------
# mAP challenge
# ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def ground_truth(assignment):
    return assignment.checks_module.hidden_test_annotations()


def _table(rows):
    return torch.tensor(rows, dtype=torch.float64).reshape(-1, 7)


def _perfect(gt, category_offset=0):
    return [[a["image_id"], a["category_id"] + category_offset, *a["bbox"], 1.0] for a in gt["annotations"]]


def _verdict(assignment, rows, read=None):
    detections = _table(rows)
    data = {"detections": detections, "read": len(rows) if read is None else read, "kept": len(rows)}
    return engine.judge(assignment.check("map.regular"), data, None, hidden=True)


def _convert(rows, fn):
    return [[r[0], r[1], *fn(*r[2:6]), r[6]] for r in rows]


@pytest.mark.parametrize("label, fn, words", [
    ("xyxy", lambda x, y, w, h: (x, y, x + w, y + h), "[x1, y1, x2, y2]"),
    ("cxcywh", lambda x, y, w, h: (x + w / 2, y + h / 2, w, h), "[cx, cy, w, h]"),
    ("normalised", lambda x, y, w, h: (x / 160, y / 160, w / 160, h / 160), "normalised [x, y, w, h]"),
])
def test_map_box_format_hints(assignment, ground_truth, label, fn, words):
    status, verdict = _verdict(assignment, _convert(_perfect(ground_truth), fn))
    assert status == "failed", verdict.message
    assert "hint: your boxes look like" in verdict.message and words in verdict.message, verdict.message
    # the right format gets no hint
    status, verdict = _verdict(assignment, _perfect(ground_truth))
    assert status == "passed" and "hint" not in verdict.message


def test_map_unknown_image_ids_are_refused_with_the_count(assignment, ground_truth):
    rows = _perfect(ground_truth)
    shifted = [[r[0] - 1, *r[1:]] for r in rows]  # ids from 0
    status, verdict = _verdict(assignment, shifted)
    first = sum(1 for r in rows if r[0] == 1)
    assert status == "failed" and verdict.fraction == 0
    assert f"{first} of {len(rows)} detections have an image_id that is not in the test split" in verdict.message
    assert "image ids start at 1" in verdict.message and "pycocotools refuses" in verdict.message


def test_map_category_ids_from_zero(assignment, ground_truth):
    status, verdict = _verdict(assignment, _perfect(ground_truth, category_offset=-1))
    assert status == "failed"
    assert "category ids start at 1" in verdict.message and "yours include 0" in verdict.message, verdict.message


def test_map_counts_only_scored_detections_and_states_the_cut_off(assignment, ground_truth):
    rows = _perfect(ground_truth)
    extra = [[1, 9, 10, 10, 5, 5, 0.5]] * 7 + [[2, 1, 10, 10, 0, 5, 0.5]] * 3
    status, verdict = _verdict(assignment, rows + extra, read=250_000)
    assert status == "passed"
    assert f"({len(rows)} detections scored" in verdict.message, verdict.message
    assert "7 detections with a category id outside 1..4 were left out" in verdict.message
    assert "3 detections without a positive width and height were left out" in verdict.message
    assert "only the first 200 000 of the file's 250 000 entries were read" in verdict.message
    status, verdict = _verdict(assignment, rows)
    assert "cut-off" not in verdict.message and "left out" not in verdict.message
