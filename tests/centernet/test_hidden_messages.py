"""Hidden checks' messages leak none of the reference's values (issue 9.3).

For wrong variants that fail hidden checks, each failed hidden check is judged on the variant's and
the reference's output for one seed; every number in the message with a decimal point must not be
one of the reference's output values (unless the variant's own output holds it too: "got X" shows
the student's own number). The same verdict judged as a public check does show reference values,
so the scan can fail.
"""

from __future__ import annotations

import math
import re

import pytest
import torch

from grader.core.engine import InProcessExecutor, judge

from .test_discrimination import _build, variants

NUMBER = re.compile(r"-?\d+\.\d+(?:e[-+]?\d+)?")
# variants whose failures reach hidden checks of every kind (values, gradients, decoded rows, peaks, maps)
VARIANTS = ["focal_mean", "l1_all_pixels", "locations_round", "smooth_mixes_channels", "padding_drawn",
            "decode_dy_dx_swapped", "confidence_flag", "nms_across_classes", "resnet_stride_in_conv2"]
SEED = 5


def _numbers(value) -> list:
    if isinstance(value, torch.Tensor):
        return value.detach().double().flatten().tolist()
    if isinstance(value, dict):
        return [x for v in value.values() for x in _numbers(v)]
    if isinstance(value, (list, tuple)):
        return [x for v in value for x in _numbers(v)]
    return []


def leaked(message: str, expected, actual) -> list:
    """Numbers of ``message`` that are values of ``expected`` and not of ``actual``."""
    want = torch.tensor(_numbers(expected) or [float("nan")], dtype=torch.float64)
    own = torch.tensor(_numbers(actual) or [float("nan")], dtype=torch.float64)
    found = []
    for token in NUMBER.findall(message):
        x = float(token)
        digits = len(token.lstrip("-").split("e")[0].replace(".", "").lstrip("0"))
        if digits < 3 or x == 0:
            continue  # 0.5, 1.0: round numbers of the contract (tolerances, thresholds)
        tol = 0.5 * 10 ** (math.floor(math.log10(abs(x))) - digits + 1)  # half a unit of the last digit shown
        if bool(((want - x).abs() <= tol).any()) and not bool(((own - x).abs() <= tol).any()):
            found.append(token)
    return found


@pytest.fixture(scope="module")
def variant_root(tmp_path_factory):
    return tmp_path_factory.mktemp("centernet_hidden_messages")


@pytest.mark.parametrize("name", VARIANTS)
def test_hidden_messages_show_no_reference_value(name, centernet, variant_root):
    variant = next(v for v in variants.WRONG if v.name == name)
    package = _build(variant, variant_root)
    student, reference = InProcessExecutor(package, path=variant_root), InProcessExecutor("reference")
    failed_hidden, public_leaks = 0, 0
    for comp, rc in centernet.rubric.all_checks():
        check = centernet.check(rc.id)
        if comp.name != variant.component or rc.visibility == "public":
            continue
        actual = student.run(centernet, check.probe, seed=SEED)
        expected = reference.run(centernet, check.probe, seed=SEED).data
        if actual.status != "ok":
            continue
        status, verdict = judge(check, actual.data, expected, hidden=True, witness=expected)
        if status == "passed":
            continue
        failed_hidden += 1
        assert not leaked(verdict.message, expected, actual.data), (rc.id, verdict.message)
        _, shown = judge(check, actual.data, expected, hidden=False, witness=expected)
        public_leaks += bool(leaked(shown.message, expected, actual.data))
    assert failed_hidden, f"{name} fails no hidden check of {variant.component}"
    if name in ("focal_mean", "decode_dy_dx_swapped"):
        assert public_leaks, "the same messages in a public check show reference values (the scan can fail)"
