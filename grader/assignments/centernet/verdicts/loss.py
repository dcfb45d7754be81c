"""Verdicts of CenterNetLoss."""

from __future__ import annotations

from typing import Mapping, Optional

import torch

from grader.core import api
from grader.core.api import Verdict, compare_tensors, failed, passed, verdict_from

from .common import CHECKS, Bad, _call_tensor, _get, student_verdict


# Hand-computed focal loss (P.build_focal_hand), p = prediction, t = target:
#   positive (t == 1):  -(1 - p)^alpha * log(p)
#   negative (t != 1):  -(1 - t)^beta * p^alpha * log(1 - p)
# alpha=2, beta=4
#   image 0, t = [1, 0.5, 0], p = [0.5, 0.5, 0.25]
#     0.5^2 * ln 2                 = 0.1732868
#     0.5^4 * 0.5^2 * ln 2         = 0.0108304
#     1 * 0.25^2 * -ln(0.75)       = 0.0179801      sum 0.2020973
#   image 1, t = [0, 0.75, 0], p = [0.5, 0.125, 0]
#     1 * 0.5^2 * ln 2             = 0.1732868
#     0.25^4 * 0.125^2 * -ln 0.875 = 0.0000082
#     p = 0 exactly                = 0              sum 0.1732949
# alpha=1, beta=2
#   image 0: 0.5 * ln 2 + 0.5^2 * 0.5 * ln 2 + 0.25 * -ln 0.75         = 0.3465736 + 0.0866434 + 0.0719205 = 0.5051375
#   image 1: 0.5 * ln 2 + 0.25^2 * 0.125 * -ln 0.875 + 0               = 0.3465736 + 0.0010432             = 0.3476168
FOCAL_HAND = {"default": [0.2020973, 0.1732949], "alpha1_beta2": [0.5051375, 0.3476168]}
# The same with the pixels 0 < t < 1 left out (the "target == 0 only" mistake):
FOCAL_HAND_ZERO_ONLY = {"default": [0.2020973 - 0.0108304, 0.1732868],
                        "alpha1_beta2": [0.5051375 - 0.0866434, 0.3465736]}
FOCAL_ATOL, FOCAL_RTOL = 5e-4, 1e-3  # room for any reasonable clamp of the logarithms
PER_IMAGE_HINT = (": return one loss per image (sum over C, H, W only, not over the batch; stricter than the original "
                  "course, whose forward also ran on a batch total)")


# A loss that returns the batch's sum (one number) instead of [B] is right in meaning (the original
# course's loss did) and wrong in one documented property of this project's contract (per image):
# the loss checks give it this share when the number is the sum of the right per-image values
# (rubric.toml: partial = true on them); the forward checks, which need [B], are "not graded".
BATCH_SUM_CREDIT = 0.5


def _batch_sum_verdict(what: str, results, wants) -> Optional[Verdict]:
    """Partial credit when every result is a 0-d tensor equal to the sum of its expected per-image
    values (``wants``: tensors, or None for "finite and >= 1" (the exact 0/1 case)); else None."""
    for result, want in zip(results, wants):
        value = result.get("value") if isinstance(result, Mapping) else None
        if not (isinstance(value, torch.Tensor) and value.dim() == 0 and torch.isfinite(value)):
            return None
        if want is None:
            if float(value) < 1.0:
                return None
        elif api.compare_number(what, float(value), float(want.double().sum()), atol=1e-3 * want.numel(), rtol=2e-3):
            return None
    return api.partial(BATCH_SUM_CREDIT, f"{what}: one number, the sum over the batch, instead of one loss per image "
                       "[B]: the value is right, the reduction is not. Sum over C, H, W only (this project's "
                       "contract is stricter than the original course here: the training loop weighs images)")


def _loss_value(result, what: str, b: int, finite: bool = True) -> torch.Tensor:
    if isinstance(result, Mapping) and isinstance(result.get("value"), torch.Tensor) and result["value"].dim() == 0:
        raise Bad(f"{what}: shape [], expected [{b}]{PER_IMAGE_HINT}")
    if isinstance(result, Mapping) and result.get("value") is None and result.get("type") in ("float", "int"):
        raise Bad(f"{what}: expected a tensor of shape [{b}], got a Python {result['type']}{PER_IMAGE_HINT}; "
                  "keep it a tensor (no .item()) so it has gradients")
    return _call_tensor(what, result, [b], dtype=None, finite=finite)


@CHECKS.verdict("loss.focal_hand", probe="loss_focal_hand",
                description="loss_fl on a hand-computed case (soft negatives, two exponent settings)")
@student_verdict
def verdict_focal_hand(actual: Mapping, expected: Optional[Mapping] = None) -> Verdict:
    summed = _batch_sum_verdict("loss_fl on the 2-image hand case", [_get(actual, k) for k in FOCAL_HAND],
                                [torch.tensor(v) for v in FOCAL_HAND.values()])
    if summed:
        return summed
    problems = []
    for key, args in (("default", ""), ("alpha1_beta2", ", alpha=1, beta=2")):
        what = f"loss_fl(predict, target{args}) on the 2-image hand case"
        value = _loss_value(_get(actual, key, what), what, 2)
        message = compare_tensors(what, value, torch.tensor(FOCAL_HAND[key]), atol=FOCAL_ATOL, rtol=FOCAL_RTOL,
                                  check_dtype=False)
        if message and compare_tensors("", value, torch.tensor(FOCAL_HAND_ZERO_ONLY[key]), atol=FOCAL_ATOL,
                                       rtol=FOCAL_RTOL, check_dtype=False) is None:
            message += (". Your value leaves out the pixels with 0 < target < 1: every pixel with target != 1 is a "
                        "negative, weighted by (1 - target)^beta, not only those with target == 0")
        problems.append(message)
    return verdict_from(problems, "loss_fl matches the hand-computed values (both exponent settings)")


def _grad_problem(what: str, result: Mapping, shape) -> Optional[str]:
    grad = result.get("grad")
    if not isinstance(grad, torch.Tensor):
        return f"{what}: no gradient w.r.t. predict (is the loss detached or computed with .item()/numpy?)"
    if list(grad.shape) != list(shape):
        return f"{what}: gradient of shape {list(grad.shape)}, expected {list(shape)}"
    if not torch.isfinite(grad).all():
        idx = tuple(int(i) for i in torch.nonzero(~torch.isfinite(grad))[0])
        return (f"{what}: the gradient w.r.t. predict is NaN/Inf at index {idx}. Clamp the arguments of the "
                "logarithms (e.g. log(p.clamp(min=eps))); a torch.where over an infinite branch still gives NaN "
                "gradients")
    return None


@CHECKS.verdict("loss.focal_exact_01", probe="loss_focal_exact",
                description="loss_fl finite (values and gradients) for predictions exactly 0 or 1")
@student_verdict
def verdict_focal_exact(actual: Mapping, expected: Optional[Mapping] = None) -> Verdict:
    what = "loss_fl with predictions exactly 0 or 1"
    result = _get(actual, "exact", what)
    summed = _batch_sum_verdict(what, [result], [None])
    if summed:
        grad_problem = _grad_problem(what, result, [2, 1, 1, 3])
        return summed if grad_problem is None else failed(grad_problem)
    value = _loss_value(result, what, 2, finite=False)
    if not torch.isfinite(value).all():
        return failed(f"{what}: got {value.tolist()}; the loss must stay finite: clamp p and 1 - p "
                      "before taking logarithms (e.g. p.clamp(min=1e-6))")
    # image 0: p = 1 at the centre ((1-1)^2 * log 1 = 0) and p = 0 elsewhere (0^2 * log 1 = 0): loss 0
    if abs(float(value[0])) > 1e-3:
        return failed(f"{what}: image 0 predicts 1 at the centre and 0 elsewhere, its loss is 0; got "
                      f"{float(value[0]):.6g}")
    # image 1: p = 0 at the centre and 1 elsewhere: infinite without clamping, large with it
    if float(value[1]) < 1.0:
        return failed(f"{what}: image 1 predicts 0 at the centre and 1 elsewhere (as wrong as it gets); "
                      f"its loss must be large, got {float(value[1]):.6g}")
    return verdict_from([_grad_problem(what, result, [2, 1, 1, 3])],
                        "finite values and gradients for predictions exactly 0 or 1")


# Hand-computed L1 (P.build_l1_hand): |predict - target| summed over the 2 channels at real objects
#   image 0, object at (0, 1): |0.5 - 0.25| + |2 - 3|                                 = 1.25
#   image 1, objects at (0, 0) and (1, 1): (|1 - 0.5| + |0 - 2|) + (|3 - 1| + |0.5 - 0.5|) = 2.5 + 2 = 4.5
#   image 2, no object                                                                  = 0
# Everywhere else predict = 7 and target = 0: counting those pixels adds 14 per pixel.
L1_HAND = [1.25, 4.5, 0.0]


@CHECKS.verdict("loss.l1_hand", probe="loss_l1_hand",
                description="loss_l1 on a hand-computed case (only real objects count)")
@student_verdict
def verdict_l1_hand(actual: Mapping, expected: Optional[Mapping] = None) -> Verdict:
    what = "loss_l1(predict, target, is_real_object) on the 3-image hand case"
    result = _get(actual, "l1", what)
    summed = _batch_sum_verdict(what, [result], [torch.tensor(L1_HAND)])
    if summed:
        return summed
    value = _loss_value(result, what, 3)
    message = compare_tensors(what, value, torch.tensor(L1_HAND), atol=1e-5, rtol=1e-5, check_dtype=False)
    if message and float(value[2]) != 0:
        message += (". Image 2 has no real object, so its loss must be 0: count only the pixels where "
                    "is_real_object is True (padding objects and empty pixels contribute 0)")
    return verdict_from([message, _grad_problem(what, result, [3, 2, 2, 2])],
                        "loss_l1 matches the hand-computed values")


def _forward_value(actual, what: str, b: int) -> torch.Tensor:
    """The [B, 3] of the given forward; when it is not there because loss_fl or loss_l1 do not return
    [B], the message says so ("not graded: ... first") instead of the given code's traceback."""
    shapes = actual.get("term_shapes") if isinstance(actual, Mapping) else None
    value = actual.get("value") if isinstance(actual, Mapping) else None
    if not (isinstance(value, torch.Tensor) and list(value.shape) == [b, 3]) and isinstance(shapes, Mapping):
        wrong = [f"{name} returns {shape if str(shape).startswith('[') else f'a {shape}, not a tensor'}"
                 for name, shape in shapes.items() if str(shape) != f"[{b}]"]
        if wrong:
            raise Bad(f"not graded: CenterNetLoss.loss_fl and loss_l1 must return one loss per image, shape [B], "
                      f"first ({'; '.join(wrong)} for B = {b}); the given forward stacks them into [B, 3]")
    return _call_tensor(what, actual, [b, 3], dtype=None)


@CHECKS.verdict("loss.forward_shape", probe="loss_forward",
                description="forward gives [B, 3]; no L1 terms for an image without objects")
@student_verdict
def verdict_loss_forward_shape(actual: Mapping, expected: Optional[Mapping] = None) -> Verdict:
    what = "CenterNetLoss()(pred [3, 6, 8, 8], objects [3, 4, 6])"
    value = _forward_value(actual, what, 3)
    if (value < 0).any():
        return failed(f"{what}: negative loss terms {value.tolist()}: the focal loss and the L1 sums are >= 0")
    if (value[:, 0] <= 0).any():
        return failed(f"{what}: the focal term must be > 0 for predictions strictly between 0 and 1, got "
                      f"{value[:, 0].tolist()}")
    if (value[2, 1:] != 0).any():
        return failed(f"{what}: image 2 has no object, so its offset and size terms must be 0; got "
                      f"{value[2, 1:].tolist()}. "
                      "loss_l1 counts only pixels where is_real_object is True")
    return passed("forward gives [B, 3], non-negative, zero L1 terms for an image without objects")


@CHECKS.verdict("loss.focal_random", probe="loss_focal_random",
                description="loss_fl values and gradients on random heatmaps", differential=True)
@student_verdict
def verdict_focal_random(actual: Mapping, expected: Optional[Mapping]) -> Verdict:
    assert expected is not None  # differential: the engine always passes the reference's output
    keys = ("default", "alpha3_beta2", "benign_exact")
    summed = _batch_sum_verdict("loss_fl on random heatmaps", [actual[k] for k in keys],
                                [expected[k]["value"] for k in keys])
    if summed:
        return summed
    problems = []
    for key, args in (("default", ""), ("alpha3_beta2", ", alpha=3, beta=2"), ("benign_exact", "")):
        shape = list(expected[key]["grad"].shape)
        what = f"loss_fl(predict, target{args}) on random {shape} heatmaps" + (
            " with predictions exactly 1 at the centres and 0 at some negatives" if key == "benign_exact" else "")
        result = actual[key]
        value = _loss_value(result, what, shape[0])
        problems.append(compare_tensors(what, value, expected[key]["value"], atol=1e-3, rtol=2e-3, check_dtype=False))
        problems.append(_grad_problem(what, result, shape))
        if key != "benign_exact" and isinstance(result.get("grad"), torch.Tensor):
            problems.append(compare_tensors(f"gradient of the sum of {what} w.r.t. predict", result["grad"],
                                            expected[key]["grad"], atol=1e-3, rtol=2e-3, check_dtype=False))
    return verdict_from(problems, "loss_fl values and gradients match on random heatmaps")


@CHECKS.verdict("loss.l1_random", probe="loss_l1_random", description="loss_l1 values and gradients on random maps",
                differential=True)
@student_verdict
def verdict_l1_random(actual: Mapping, expected: Optional[Mapping]) -> Verdict:
    assert expected is not None  # differential: the engine always passes the reference's output
    shape = list(expected["l1"]["grad"].shape)
    what = f"loss_l1 on random {shape} maps with a sparse is_real_object mask"
    result = actual["l1"]
    summed = _batch_sum_verdict(what, [result], [expected["l1"]["value"]])
    if summed:
        return summed
    value = _loss_value(result, what, shape[0])
    return verdict_from([
        compare_tensors(what, value, expected["l1"]["value"], atol=1e-4, rtol=1e-5, check_dtype=False),
        _grad_problem(what, result, shape),
        compare_tensors(f"gradient of {what}", result.get("grad"), expected["l1"]["grad"],
                        atol=1e-6, rtol=1e-5, check_dtype=False)
        if isinstance(result.get("grad"), torch.Tensor) else None,
    ], "loss_l1 values and gradients match")


@CHECKS.verdict("loss.forward_values", probe="loss_forward_random",
                description="forward values with prepared targets (an empty image included)", differential=True)
@student_verdict
def verdict_loss_forward(actual: Mapping, expected: Optional[Mapping]) -> Verdict:
    assert expected is not None  # differential: the engine always passes the reference's output
    b = expected["value"].shape[0]
    what = "CenterNetLoss()(pred, objects) per image (focal, offset, size) with prepared targets"
    value = _forward_value(actual, what, b)
    return verdict_from([compare_tensors(what, value, expected["value"], atol=1e-3, rtol=2e-3)],
                        "the loss of a batch matches (focal, offset and size terms)")
