"""student/detection is generated from reference/detection and up to date; its stubs keep the API."""

from __future__ import annotations

import inspect

from grader.generate import stale_files


def test_student_detection_is_fresh():
    problems = [p for p in stale_files() if "detection/" in p]
    assert not problems, f"run `python -m grader.generate`: {problems}"


def test_stubs_keep_signatures_and_docstrings():
    import reference.detection as ref
    import student.detection as stu

    for name in ("Backbone", "Neck", "DecoupledHead", "task_aligned_assign", "diou_loss", "ciou_loss"):
        r, s = getattr(ref, name), getattr(stu, name)
        assert inspect.signature(r) == inspect.signature(s), name
        assert inspect.getdoc(r) == inspect.getdoc(s), name


def test_reference_writes_no_predictions_into_the_package():
    import pytest

    from reference.detection.train import parser, predictions_path

    with pytest.raises(SystemExit):
        predictions_path(parser().parse_args(["--predict-test"]))
