"""Verdicts of the centernet assignment (parent side; see docs/CONVENTIONS.md).

A verdict never trusts inputs or scores sent back by the worker: it rebuilds the probe's inputs with
the same deterministic ``build_*`` functions of ``probes.py`` (plain torch code of ours, never the
submission's) and recomputes what it needs. Public checks need no reference: their expectations are
hand-computed (the arithmetic is in the comments) or follow from the contract. Hidden checks compare
with the reference's output for the same probe (``differential=True``) or with an expectation
computed here.

Points and visibility are in ``rubric.toml``.
"""

from __future__ import annotations

import functools
import importlib.util
import math
from pathlib import Path
from typing import Mapping, Optional

import torch
import torch.nn.functional as F

from grader.core.api import Check, Verdict, compare_tensors, failed, passed, verdict_from


def _load_probe_builders():
    """probes.py, for its deterministic input builders (it imports only torch/torchvision)."""
    spec = importlib.util.spec_from_file_location("_grader_centernet_probe_builders",
                                                  Path(__file__).with_name("probes.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


P = _load_probe_builders()


# ------------------------------------------------------------------------------------------------
# Small helpers
# ------------------------------------------------------------------------------------------------

def _described_problem(what: str, described: Optional[Mapping], shape, dtype: str = "torch.float32",
                       finite: bool = True) -> Optional[str]:
    """Problems with a result described by probes._describe: type, shape, dtype (unless ""),
    finiteness (if ``finite``)."""
    if described is None:
        return f"{what}: no result"
    if described.get("type") != "Tensor":
        return f"{what}: expected a tensor of shape {list(shape)}, got {described.get('type')}"
    if list(described["shape"]) != list(shape):
        return f"{what}: shape {described['shape']}, expected {list(shape)}"
    if dtype and described["dtype"] != dtype:
        return f"{what}: dtype {described['dtype']}, expected {dtype}"
    if finite and not described.get("finite", True):
        return f"{what}: contains NaN or Inf"
    return None


def _tensor(value, what: str):
    """``value`` when it is a tensor, else raise a ValueError the engine reports to the student."""
    if not isinstance(value, torch.Tensor):
        raise ValueError(f"{what}: expected a tensor, got {type(value).__name__}")
    return value


def _close_to_any(name: str, actual, candidates: Mapping[str, torch.Tensor], *, atol: float, rtol: float) -> Optional[str]:
    """None when ``actual`` matches one of the candidates, else the message for the closest one."""
    messages = {}
    for label, expected in candidates.items():
        message = compare_tensors(name, actual, expected, atol=atol, rtol=rtol)
        if message is None:
            return None
        messages[label] = message
    if isinstance(actual, torch.Tensor) and all(tuple(actual.shape) == tuple(e.shape) for e in candidates.values()):
        closest = min(candidates, key=lambda k: float((actual.double() - candidates[k].double()).abs().max()))
    else:
        closest = next(iter(candidates))
    labels = " or ".join(candidates)
    return f"{messages[closest]} [compared with the {closest} version; accepted: {labels}]"


# ================================================================================================
# UpscaleTwiceLayer
# ================================================================================================

def _upscale_case_problem(case: Mapping) -> Optional[str]:
    cin, cout, b, h, w = case["case"]
    what = f"UpscaleTwiceLayer({cin}, {cout}) on input [{b}, {cin}, {h}, {w}]"
    if case["error"]:
        return f"{what} raised {case['error']}"
    expected = [b, cout, 2 * h, 2 * w]
    problem = _described_problem(what, case, expected)
    if problem and case.get("shape") and list(case["shape"][2:]) == [2 * h - 1, 2 * w - 1]:
        problem += (": 2H-1 instead of 2H. A transposed convolution gives (H-1)*stride - 2*padding + "
                    "kernel_size + output_padding; with kernel 3, stride 2, padding 1 you need "
                    "output_padding=1 (or use kernel 4, stride 2, padding 1)")
    elif problem and case.get("shape") and case["shape"][:2] == expected[:2]:
        problem += ": the output must be exactly twice the input size for every H and W, odd ones included"
    return problem


def verdict_upscale_shapes(actual: Mapping, expected: Optional[Mapping] = None) -> Verdict:
    problems = [_upscale_case_problem(case) for case in actual["cases"]]
    return verdict_from(problems, f"output [B, Cout, 2H, 2W] for {len(problems)} input sizes")


def verdict_upscale_learnable(actual: Mapping, expected: Optional[Mapping] = None) -> Verdict:
    what = "UpscaleTwiceLayer(6, 3) on [2, 6, 5, 5]"
    out = actual["output"]
    if out.get("type") != "Tensor" or len(out["shape"]) != 4 or out["shape"][:2] != [2, 3]:
        return failed(f"{what}: expected a tensor [2, 3, H', W'], got {out.get('shape', out.get('type'))}")
    if not out["finite"]:
        return failed(f"{what}: the output contains NaN or Inf")
    if actual["num_parameters"] == 0:
        return failed(f"{what}: the layer has no trainable parameters; it must be learnable "
                      "(a transposed convolution, or an upsampling followed by a convolution)")
    if sum(actual["param_grad_norms"]) == 0:
        return failed(f"{what}: no gradient reaches the layer's parameters after backward(); "
                      "is the output detached, or computed without the parameters?")
    if actual["input_grad_norm"] == 0:
        return failed(f"{what}: no gradient reaches the input after backward(); the output must depend on it")
    return passed(f"{actual['num_parameters']} trainable parameters, all gradients flow")


# ================================================================================================
# HeadlessResnet34
# ================================================================================================

@functools.lru_cache(maxsize=1)
def _torchvision_keys() -> dict:
    import torchvision

    with torch.device("meta"):
        net = torchvision.models.resnet34(weights=None)
    return {k: list(v.shape) for k, v in net.state_dict().items() if not k.startswith("fc.")}


@functools.lru_cache(maxsize=1)
def _torchvision_features() -> torch.Tensor:
    """Features of the probe's torchvision resnet34 (eval mode), up to layer4, computed here."""
    net = P.build_torchvision_resnet34().eval()
    x = P.build_resnet_images(21, P.RESNET_FEATURE_INPUT)
    with torch.no_grad():
        x = net.maxpool(net.relu(net.bn1(net.conv1(x))))
        return net.layer4(net.layer3(net.layer2(net.layer1(x))))


def verdict_resnet_shapes(actual: Mapping, expected: Optional[Mapping] = None) -> Verdict:
    problems = []
    for case in actual["shapes"]:
        b, _, h, w = case["input"]
        what = f"HeadlessResnet34() on input {case['input']} (eval mode)"
        if case["error"]:
            problems.append(f"{what} raised {case['error']}")
            continue
        problem = _described_problem(what, case, [b, 512, h // 32, w // 32], dtype="", finite=False)
        if problem and case.get("shape") and len(case["shape"]) != 4:
            problem += ": the output is the feature map of layer4, without avgpool, flatten and fc"
        elif problem and case.get("shape") and case["shape"][2:] == [1, 1]:
            problem += ": looks like an average pooling is still there; the headless net ends at layer4"
        problems.append(problem)
    return verdict_from(problems, "output [B, 512, H/32, W/32]")


def _blocks_per_stage(keys) -> dict:
    stages = {}
    for key in keys:
        parts = key.split(".")
        if parts[0].startswith("layer") and len(parts) > 1 and parts[1].isdigit():
            stages.setdefault(parts[0], set()).add(int(parts[1]))
    return {stage: len(blocks) for stage, blocks in sorted(stages.items())}


def verdict_resnet_keys(actual: Mapping, expected: Optional[Mapping] = None) -> Verdict:
    want = _torchvision_keys()
    got = actual["keys"]
    missing = [k for k in want if k not in got]
    extra = [k for k in got if k not in want]
    if missing or extra:
        msg = (f"state_dict keys differ from torchvision's resnet34 (without fc.*): "
               f"{len(missing)} missing (e.g. {', '.join(missing[:3]) or '-'}), "
               f"{len(extra)} unexpected (e.g. {', '.join(extra[:3]) or '-'})")
        got_blocks, want_blocks = _blocks_per_stage(got), _blocks_per_stage(want)
        if got_blocks != want_blocks:
            counts = "-".join(str(got_blocks.get(f"layer{i}", 0)) for i in range(1, 5))
            msg += (f". Your stages have {counts} blocks; ResNet-34 has 3-4-6-3 "
                    "(2-2-2-2 is ResNet-18)")
        else:
            msg += (". Name the submodules as torchvision does: conv1, bn1, layer1..layer4 (nn.Sequential of "
                    "blocks with conv1, bn1, conv2, bn2 and an optional downsample = Sequential(conv, bn))")
        return failed(msg)
    shapes = [f"{k}: {got[k]} instead of {want[k]}" for k in want if list(got[k]) != list(want[k])]
    if shapes:
        return failed(f"{len(shapes)} state_dict entries have the wrong shape, e.g. {shapes[0]}")
    return passed(f"the {len(want)} state_dict keys and shapes match torchvision's resnet34 without fc")


def _load_error_message(actual: Mapping) -> Optional[str]:
    if actual.get("load_error"):
        return ("loading a torchvision resnet34 state_dict (without fc.*) with strict=True failed: "
                f"{actual['load_error'][:600]}")
    return None


def verdict_resnet_features(actual: Mapping, expected: Optional[Mapping] = None) -> Verdict:
    problem = _load_error_message(actual)
    if problem:
        return failed(problem)
    if actual["shapes"][0]["error"]:
        return failed(f"HeadlessResnet34 with torchvision's weights raised {actual['shapes'][0]['error']}")
    want = _torchvision_features()
    scale = float(want.abs().max())
    message = compare_tensors("features of HeadlessResnet34 with torchvision's weights (eval mode)",
                              actual["features"], want, atol=1e-4 * scale, rtol=1e-3)
    if message:
        return failed(message + ". With the same weights the features must equal torchvision's: check the order "
                                "conv -> bn -> relu, where the stride sits (conv1 of the first block of a stage and "
                                "its downsample), the maxpool after the stem, and the skip connection")
    return passed("same features as torchvision's resnet34 with the same weights")


def verdict_resnet_train(actual: Mapping, expected: Optional[Mapping]) -> Verdict:
    problem = _load_error_message(actual)
    if problem:
        return failed(problem)
    problems = []
    for key, what in (("features", "features in train mode on a 70x45 input"),
                      ("input_grad", "gradient w.r.t. the input in train mode")):
        want = expected[key]
        scale = float(want.abs().max())
        problems.append(compare_tensors(what, actual.get(key), want, atol=1e-4 * scale, rtol=1e-3))
    return verdict_from(problems, "features and gradients match in train mode on an odd input size")


# ================================================================================================
# CenterNetHead
# ================================================================================================

def verdict_head_shapes(actual: Mapping, expected: Optional[Mapping] = None) -> Verdict:
    problems = []
    for case in actual["cases"]:
        k, c, shape = case["k"], case["c"], case["input"]
        args = "CenterNetHead()" if k is None else f"CenterNetHead(k_in_channels={k}, c_classes={c})"
        c = 2 if c is None else c
        what = f"{args} on input {shape}"
        if case["error"]:
            problems.append(f"{what} raised {case['error']}")
            continue
        problem = _described_problem(what, case, [shape[0], c + 4, shape[2], shape[3]])
        if problem:
            problem += ": the output is cat([class_heatmap (C), offsets (2), sizes (2)], dim=1), same H and W as the input"
        problems.append(problem)
    return verdict_from(problems, "output [B, C+4, H, W] for C = 3, 2 (default) and 1")


def _head_output(actual: Mapping, c: int) -> torch.Tensor:
    what = f"CenterNetHead(8, {c}) on [2, 8, 9, 9]"
    problem = _described_problem(what, actual[f"c{c}_output"], [2, c + 4, 9, 9])
    if problem:
        raise ValueError(problem)
    return _tensor(actual[f"c{c}"], what)


def _range_problem(what: str, values: torch.Tensor, hint: str) -> Optional[str]:
    lo, hi = float(values.min()), float(values.max())
    if lo < 0 or hi > 1:
        return f"{what}: values must lie in [0, 1], got min {lo:.6g}, max {hi:.6g}; {hint}"
    return None


def verdict_head_ranges(actual: Mapping, expected: Optional[Mapping] = None) -> Verdict:
    problems = []
    for c in (3, 1):
        out = _head_output(actual, c)
        problems.append(_range_problem(f"class channels 0..{c - 1} (C={c})", out[:, :c],
                                       "apply a sigmoid to the class logits"))
        problems.append(_range_problem(f"offset channels {c}, {c + 1} (C={c})", out[:, c:c + 2],
                                       "offsets are sub-pixel positions: a sigmoid fits"))
    return verdict_from(problems, "class probabilities and offsets in [0, 1], inputs of a large spread")


def verdict_head_independent(actual: Mapping, expected: Optional[Mapping] = None) -> Verdict:
    three = _head_output(actual, 3)[:, :3]
    sums = three.sum(dim=1)
    if float((sums - 1).abs().max()) < 1e-3:
        return failed("with C=3 the class probabilities of every pixel sum to 1 (a softmax over classes?). "
                      "Classes are independent: use a sigmoid per channel, so the net can say "
                      "'no object here' (all close to 0)")
    one = _head_output(actual, 1)[:, 0]
    if float((one - 1).abs().max()) < 1e-4:
        return failed("with C=1 the class channel is 1 everywhere (a softmax over a single channel is constant): "
                      "use a sigmoid per class channel")
    if float(one.max() - one.min()) < 1e-6:
        return failed(f"with C=1 the class channel is the constant {float(one.mean()):.6g}: it must depend on the input")
    return passed("class probabilities are independent per class (they do not sum to 1; C=1 is not constant)")


def verdict_head_learnable(actual: Mapping, expected: Optional[Mapping] = None) -> Verdict:
    problem = _described_problem("CenterNetHead(8, 2) on [2, 8, 6, 6]", actual["output"], [2, 6, 6, 6])
    if problem:
        return failed(problem)
    problems = []
    for name, g in actual["groups"].items():
        if g["num_parameters"] == 0:
            problems.append("the head has no trainable parameters")
        elif g["param_grad"] == 0:
            problems.append(f"no gradient reaches the head's parameters from the {name} channels "
                            "(are they detached or constant?)")
        elif g["input_grad"] == 0:
            problems.append(f"the {name} channels do not depend on the input (zero gradient w.r.t. the features)")
    return verdict_from(problems, "class, offset and size channels all learnable and input-dependent")


HEAD_BACKGROUND_MAX = 0.2


def verdict_head_background(actual: Mapping, expected: Optional[Mapping] = None) -> Verdict:
    start, end = _tensor(actual["start"], "class channels"), _tensor(actual["end"], "class channels")
    if not torch.isfinite(end).all():
        return failed("the class probabilities became NaN/Inf while training the head towards 'no object'")
    worst = float(end.max())
    if worst >= HEAD_BACKGROUND_MAX:
        sums = float((end.sum(dim=1) - 1).abs().max())
        hint = (" The class probabilities of each pixel still sum to 1: a softmax over classes cannot say "
                "'no object'; use a sigmoid per class." if sums < 1e-3 else "")
        return failed(f"after {actual['steps']} Adam steps (lr 0.1) minimising the mean class probability, "
                      f"the largest is still {worst:.4g} (started at {float(start.max()):.4g}; "
                      f"needs < {HEAD_BACKGROUND_MAX}): the head cannot predict 'no object' everywhere.{hint}")
    return passed(f"the head learns to say 'no object' everywhere (max class probability {worst:.3g})")


# ================================================================================================
# CenterNetLoss
# ================================================================================================

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
FOCAL_HAND_ZERO_ONLY = {"default": [0.2020973 - 0.0108304, 0.1732868], "alpha1_beta2": [0.5051375 - 0.0866434, 0.3465736]}
FOCAL_ATOL, FOCAL_RTOL = 5e-4, 1e-3  # room for any reasonable clamp of the logarithms


def _loss_value(result: Mapping, what: str, b: int, finite: bool = True) -> torch.Tensor:
    problem = _described_problem(what, result["output"], [b], dtype="", finite=finite)
    if problem:
        if result["output"].get("shape") == []:
            problem += ": return one loss per image (sum over C, H, W only, not over the batch)"
        raise ValueError(problem)
    return _tensor(result["value"], what)


def verdict_focal_hand(actual: Mapping, expected: Optional[Mapping] = None) -> Verdict:
    problems = []
    for key, args in (("default", ""), ("alpha1_beta2", ", alpha=1, beta=2")):
        what = f"loss_fl(predict, target{args}) on the 2-image hand case"
        value = _loss_value(actual[key], what, 2)
        message = compare_tensors(what, value, torch.tensor(FOCAL_HAND[key]), atol=FOCAL_ATOL, rtol=FOCAL_RTOL, check_dtype=False)
        if message and compare_tensors("", value, torch.tensor(FOCAL_HAND_ZERO_ONLY[key]), atol=FOCAL_ATOL,
                                       rtol=FOCAL_RTOL, check_dtype=False) is None:
            message += (". Your value leaves out the pixels with 0 < target < 1: every pixel with target != 1 is a "
                        "negative, weighted by (1 - target)^beta, not only those with target == 0")
        problems.append(message)
    return verdict_from(problems, "loss_fl matches the hand-computed values (both exponent settings)")


def _grad_problem(what: str, result: Mapping, shape) -> Optional[str]:
    grad = result.get("grad")
    if grad is None:
        return f"{what}: no gradient w.r.t. predict (is the loss detached or computed with .item()/numpy?)"
    if list(grad.shape) != list(shape):
        return f"{what}: gradient of shape {list(grad.shape)}, expected {list(shape)}"
    if not torch.isfinite(grad).all():
        idx = tuple(int(i) for i in torch.nonzero(~torch.isfinite(grad))[0])
        return (f"{what}: the gradient w.r.t. predict is NaN/Inf at index {idx}. Clamp the arguments of the "
                "logarithms (e.g. log(p.clamp(min=eps))); a torch.where over an infinite branch still gives NaN gradients")
    return None


def verdict_focal_exact(actual: Mapping, expected: Optional[Mapping] = None) -> Verdict:
    result = actual["exact"]
    what = "loss_fl with predictions exactly 0 or 1"
    value = _loss_value(result, what, 2, finite=False)
    if not torch.isfinite(value).all():
        return failed(f"{what}: got {value.tolist()}; the loss must stay finite: clamp p and 1 - p "
                      "before taking logarithms (e.g. p.clamp(min=1e-6))")
    # image 0: p = 1 at the centre ((1-1)^2 * log 1 = 0) and p = 0 elsewhere (0^2 * log 1 = 0): loss 0
    if abs(float(value[0])) > 1e-3:
        return failed(f"{what}: image 0 predicts 1 at the centre and 0 elsewhere, its loss is 0; got {float(value[0]):.6g}")
    # image 1: p = 0 at the centre and 1 elsewhere: infinite without clamping, large with it
    if float(value[1]) < 1.0:
        return failed(f"{what}: image 1 predicts 0 at the centre and 1 elsewhere (as wrong as it gets); "
                      f"its loss must be large, got {float(value[1]):.6g}")
    return verdict_from([_grad_problem(what, result, [2, 1, 1, 3])],
                        "finite values and gradients for predictions exactly 0 or 1")


def verdict_focal_random(actual: Mapping, expected: Optional[Mapping]) -> Verdict:
    problems = []
    for key, args in (("default", ""), ("alpha3_beta2", ", alpha=3, beta=2"), ("benign_exact", "")):
        what = f"loss_fl(predict, target{args}) on random [3, 2, 7, 7] heatmaps" + (
            " with predictions exactly 1 at the centres and 0 at some negatives" if key == "benign_exact" else "")
        value = _loss_value(actual[key], what, 3)
        problems.append(compare_tensors(what, value, expected[key]["value"], atol=1e-3, rtol=2e-3, check_dtype=False))
        problems.append(_grad_problem(what, actual[key], [3, 2, 7, 7]))
        if key != "benign_exact" and actual[key].get("grad") is not None:
            problems.append(compare_tensors(f"gradient of the sum of {what} w.r.t. predict", actual[key]["grad"],
                                            expected[key]["grad"], atol=1e-3, rtol=2e-3, check_dtype=False))
    return verdict_from(problems, "loss_fl values and gradients match on random heatmaps")


# Hand-computed L1 (P.build_l1_hand): |predict - target| summed over the 2 channels at real objects
#   image 0, object at (0, 1): |0.5 - 0.25| + |2 - 3|                                 = 1.25
#   image 1, objects at (0, 0) and (1, 1): (|1 - 0.5| + |0 - 2|) + (|3 - 1| + |0.5 - 0.5|) = 2.5 + 2 = 4.5
#   image 2, no object                                                                  = 0
# Everywhere else predict = 7 and target = 0: counting those pixels adds 14 per pixel.
L1_HAND = [1.25, 4.5, 0.0]


def verdict_l1_hand(actual: Mapping, expected: Optional[Mapping] = None) -> Verdict:
    what = "loss_l1(predict, target, is_real_object) on the 3-image hand case"
    value = _loss_value(actual["l1"], what, 3)
    message = compare_tensors(what, value, torch.tensor(L1_HAND), atol=1e-5, rtol=1e-5, check_dtype=False)
    if message and float(value[2]) != 0:
        message += (". Image 2 has no real object, so its loss must be 0: count only the pixels where "
                    "is_real_object is True (padding objects and empty pixels contribute 0)")
    return verdict_from([message, _grad_problem(what, actual["l1"], [3, 2, 2, 2])],
                        "loss_l1 matches the hand-computed values")


def verdict_l1_random(actual: Mapping, expected: Optional[Mapping]) -> Verdict:
    what = "loss_l1 on random [3, 2, 9, 9] maps with a sparse is_real_object mask"
    value = _loss_value(actual["l1"], what, 3)
    return verdict_from([
        compare_tensors(what, value, expected["l1"]["value"], atol=1e-4, rtol=1e-5, check_dtype=False),
        _grad_problem(what, actual["l1"], [3, 2, 9, 9]),
        compare_tensors(f"gradient of {what}", actual["l1"].get("grad"), expected["l1"]["grad"],
                        atol=1e-6, rtol=1e-5, check_dtype=False) if actual["l1"].get("grad") is not None else None,
    ], "loss_l1 values and gradients match")


def verdict_loss_forward_shape(actual: Mapping, expected: Optional[Mapping] = None) -> Verdict:
    what = "CenterNetLoss()(pred [3, 6, 8, 8], objects [3, 4, 6])"
    problem = _described_problem(what, actual["output"], [3, 3])
    if problem:
        return failed(problem + ": forward returns per image (focal, offset, size); loss_fl and loss_l1 must "
                                "return one value per image, shape [B]")
    value = _tensor(actual["value"], what)
    if (value < 0).any():
        return failed(f"{what}: negative loss terms {value.tolist()}: the focal loss and the L1 sums are >= 0")
    if (value[:, 0] <= 0).any():
        return failed(f"{what}: the focal term must be > 0 for predictions strictly between 0 and 1, got {value[:, 0].tolist()}")
    if (value[2, 1:] != 0).any():
        return failed(f"{what}: image 2 has no object, so its offset and size terms must be 0; got {value[2, 1:].tolist()}. "
                      "loss_l1 counts only pixels where is_real_object is True")
    return passed("forward gives [B, 3], non-negative, zero L1 terms for an image without objects")


def verdict_loss_forward(actual: Mapping, expected: Optional[Mapping]) -> Verdict:
    what = "CenterNetLoss()(pred, objects) per image (focal, offset, size) with prepared targets"
    problem = _described_problem(what, actual["output"], [3, 3])
    if problem:
        return failed(problem)
    return verdict_from([compare_tensors(what, actual["value"], expected["value"], atol=1e-3, rtol=2e-3)],
                        "the loss of a batch matches (focal, offset and size terms)")


# ================================================================================================
# ObjectsToPoints helpers
# ================================================================================================

def verdict_default_heatmaps(actual: Mapping, expected: Optional[Mapping] = None) -> Verdict:
    problems = []
    for case in actual["cases"]:
        b, hw, c = case["args"]
        what = f"create_default_heatmaps(b={b}, hw={hw}, c={c})"
        problem = _described_problem(what, case["output"], [b, c + 4, hw, hw])
        if problem is None and bool((case["value"] != 0).any()):
            problem = f"{what}: must be all zeros"
        problems.append(problem)
    return verdict_from(problems, "zeros [b, c+4, hw, hw]")


def _helper_values(actual: Mapping, name: str, what: str, count: int) -> list:
    result = actual[name]
    if result["error"]:
        raise ValueError(f"{what} raised {result['error']}")
    values = result["values"]
    if not isinstance(values, list) or len(values) != count:
        raise ValueError(f"{what}: expected a tuple of {count} tensors, got {values}")
    return values


# Hand objects (P.build_objects_hand), rows (y, x, h, w, cls, confidence), padding rows all zero:
#   image 0: (2.75, 1.25, 3, 4, 1, 1), (0, 4.5, 1, 1.5, 0, 1), padding
#   image 1: (3.5, 0.75, 2, 2.5, 0, 1), padding, padding
# Flattened [B*N] = 6 rows, padding included:
HAND_LOCATIONS = {"batch_idx": [0, 0, 0, 1, 1, 1], "y_idx": [2, 0, 0, 3, 0, 0], "x_idx": [1, 4, 0, 0, 0, 0]}
HAND_OFFSETS = {"dy": [0.75, 0.0, 0.0, 0.5, 0.0, 0.0], "dx": [0.25, 0.5, 0.0, 0.75, 0.0, 0.0]}
HAND_SIZES = {"h": [3.0, 1.0, 0.0, 2.0, 0.0, 0.0], "w": [4.0, 1.5, 0.0, 2.5, 0.0, 0.0]}
HELPER_HINTS = {
    "y_idx": "the location is (floor(y), floor(x)), not round()",
    "x_idx": "the location is (floor(y), floor(x)), not round()",
    "batch_idx": "batch_idx is the image index of each row, [B*N] in row-major order of objects",
    "dy": "offsets are y - floor(y) and x - floor(x), in [0, 1): no +0.5 shift",
    "dx": "offsets are y - floor(y) and x - floor(x), in [0, 1): no +0.5 shift",
    "h": "sizes are the h and w columns as they are (the objects are already in map pixels)",
    "w": "sizes are the h and w columns as they are (the objects are already in map pixels)",
}


def _helper_verdict(actual: Mapping, name: str, call: str, want: Mapping[str, list], dtype) -> Verdict:
    values = _helper_values(actual, name, call, len(want))
    problems = []
    for value, (part, numbers) in zip(values, want.items()):
        message = compare_tensors(f"{call}: {part}", value, torch.tensor(numbers, dtype=dtype), atol=1e-6, rtol=1e-6)
        problems.append(f"{message} ({HELPER_HINTS[part]})" if message else None)
    return verdict_from(problems, f"{call} matches the hand-computed values")


def verdict_locations(actual: Mapping, expected: Optional[Mapping] = None) -> Verdict:
    return _helper_verdict(actual, "locations", "compute_objects_locations(objects [2, 3, 6])", HAND_LOCATIONS, torch.int64)


def verdict_offsets(actual: Mapping, expected: Optional[Mapping] = None) -> Verdict:
    return _helper_verdict(actual, "offsets", "compute_objects_offsets(objects [2, 3, 6])", HAND_OFFSETS, torch.float32)


def verdict_sizes(actual: Mapping, expected: Optional[Mapping] = None) -> Verdict:
    return _helper_verdict(actual, "sizes", "compute_objects_sizes(objects [2, 3, 6])", HAND_SIZES, torch.float32)


def verdict_helpers_random(actual: Mapping, expected: Optional[Mapping]) -> Verdict:
    problems = []
    parts = {"locations": ("batch_idx", "y_idx", "x_idx"), "offsets": ("dy", "dx"), "sizes": ("h", "w")}
    for name, names in parts.items():
        call = f"compute_objects_{name}(random objects [4, 6, 6])"
        try:
            values = _helper_values(actual, name, call, len(names))
        except ValueError as exc:
            problems.append(str(exc))
            continue
        for value, want, part in zip(values, expected[name]["values"], names):
            message = compare_tensors(f"{call}: {part}", value, want, atol=1e-6, rtol=1e-6)
            problems.append(f"{message} ({HELPER_HINTS[part]})" if message else None)
    return verdict_from(problems, "the three helpers match on random objects (borders, shared locations, padding)")


def stamp_gaussians(heat: torch.Tensor, kernel: torch.Tensor, merge: str) -> torch.Tensor:
    """The expected smoothing, written out: every non-zero pixel stamps value * kernel around itself;
    overlapping stamps are summed (``merge="sum"``) or the maximum is kept (``"max"``)."""
    out = torch.zeros_like(heat, dtype=torch.float64)
    r = kernel.shape[0] // 2
    _, _, h, w = heat.shape
    for b, c, y, x in torch.nonzero(heat).tolist():
        y0, y1, x0, x1 = max(0, y - r), min(h, y + r + 1), max(0, x - r), min(w, x + r + 1)
        stamp = float(heat[b, c, y, x]) * kernel[y0 - y + r:y1 - y + r, x0 - x + r:x1 - x + r].double()
        region = out[b, c, y0:y1, x0:x1]
        out[b, c, y0:y1, x0:x1] = region + stamp if merge == "sum" else torch.maximum(region, stamp)
    return out.to(heat.dtype)


def _smooth_verdict(actual: Mapping, cases) -> Verdict:
    problems = []
    for name, heat, k in cases:
        result = actual[name]
        call = f"smooth_points_heatmap(points {list(heat.shape)}, kernel {2 * k + 1}x{2 * k + 1}) [case '{name}']"
        if result["error"]:
            problems.append(f"{call} raised {result['error']}")
            continue
        kernel = P.build_gaussian_kernel(k)
        candidates = {"sum-merged": stamp_gaussians(heat, kernel, "sum"), "max-merged": stamp_gaussians(heat, kernel, "max")}
        message = _close_to_any(call, result["value"], candidates, atol=1e-5, rtol=1e-4)
        if message:
            message += (". Each channel is convolved with the kernel on its own (same padding, zeros outside the "
                        "map; a grouped convolution with groups=C): channels must not mix")
        problems.append(message)
    return verdict_from(problems, "every channel smoothed on its own (sum or max of overlapping gaussians)")


def verdict_smooth(actual: Mapping, expected: Optional[Mapping] = None) -> Verdict:
    return _smooth_verdict(actual, P.build_smooth_public())


def verdict_smooth_random(actual: Mapping, expected: Optional[Mapping] = None) -> Verdict:
    return _smooth_verdict(actual, P.build_smooth_hidden())


def verdict_o2p_forward(actual: Mapping, expected: Optional[Mapping]) -> Verdict:
    problems = []
    for name, kwargs, objects in P.build_forward_objects():
        call = f"ObjectsToPoints({', '.join(f'{k}={v}' for k, v in kwargs.items())})(objects {list(objects.shape)})"
        result = actual[name]
        if result["error"]:
            problems.append(f"{call} raised {result['error']} (the given forward calls your helpers)")
            continue
        message = compare_tensors(call, result["value"], expected[name]["value"], atol=1e-5, rtol=1e-4)
        if message:
            message += (" (channels: C classes, then dy, dx, h, w; padding rows (confidence 0) must not be drawn)")
        problems.append(message)
    return verdict_from(problems, "the given forward builds the right target maps with your helpers")


# ================================================================================================
# PointsToObjects
# ================================================================================================

COLUMNS = ("y", "x", "h", "w", "cls", "confidence")
COLUMN_HINTS = {
    "y": "y = row + dy, with dy in channel C",
    "x": "x = column + dx, with dx in channel C+1",
    "h": "h is channel C+2 at the location, as it is (map pixels)",
    "w": "w is channel C+3 at the location, as it is (map pixels)",
    "cls": "cls is the class channel of the score, as a float",
    "confidence": "confidence is the score itself (not a 0/1 flag); rows in descending score order, "
                  "the top K over all classes and locations together",
}


def _fmt_row(row: torch.Tensor) -> str:
    return "(" + ", ".join(f"{float(v):.4g}" for v in row) + ")"


def compare_objects(what: str, actual, want: torch.Tensor, *, atol: float = 1e-5) -> Optional[str]:
    """Compare objects [B, K, 6]; the message names the image, row and column of the first mismatch."""
    message = compare_tensors(what, actual, want, atol=atol, rtol=1e-5)
    if message is None or tuple(actual.shape) != tuple(want.shape) or actual.dtype != want.dtype:
        return message
    bad = (actual.double() - want.double()).abs() > atol + 1e-5 * want.double().abs()
    bad |= torch.isnan(actual)
    b, k, col = (int(i) for i in torch.nonzero(bad)[0])
    name = COLUMNS[col]
    text = (f"{what}: image {b}, row {k}, column '{name}': expected {float(want[b, k, col]):.6g}, got "
            f"{float(actual[b, k, col]):.6g}; expected row {_fmt_row(want[b, k])}, got {_fmt_row(actual[b, k])}")
    elsewhere = [j for j in range(want.shape[1]) if j != k and bool((want[b, j] != 0).any())
                 and bool(((actual[b, k].double() - want[b, j].double()).abs() <= atol + 1e-5 * want[b, j].double().abs()).all())]
    if bool((want[b, k] == 0).all()):
        text += ". Rows whose score is below min_confidence must be all zeros"
    elif elsewhere:
        text += (f". Your row {k} is the expected row {elsewhere[0]}: the rows must be the top K scores over all "
                 "classes and locations together, in descending order of confidence")
    else:
        text += f". ({COLUMN_HINTS[name]})"
    return f"{text} [{int(bad.sum())} wrong values in all]"


def _decoded(result: Mapping, what: str, b: int, k: int) -> torch.Tensor:
    if result["error"]:
        raise ValueError(f"{what} raised {result['error']}")
    problem = _described_problem(what, result["output"], [b, k, 6])
    if problem:
        raise ValueError(problem)
    return result["value"]


# Hand case (P.build_points_hand), C = 2, 3x3, K = 3, min_confidence = 0.1:
#   the best score is 0.9 (class 1 at row 2, column 1) with dy, dx, h, w = 0.25, 0.5, 3, 4
#       -> (2 + 0.25, 1 + 0.5, 3, 4, 1, 0.9)
#   then 0.6 (class 0 at row 0, column 2) with dy, dx, h, w = 0.75, 0, 1.5, 2
#       -> (0 + 0.75, 2 + 0, 1.5, 2, 0, 0.6)
#   the third best score is below 0.02 < min_confidence -> a row of zeros
P2O_HAND = [[[2.25, 1.5, 3.0, 4.0, 1.0, 0.9], [0.75, 2.0, 1.5, 2.0, 0.0, 0.6], [0.0] * 6]]


def verdict_p2o_hand(actual: Mapping, expected: Optional[Mapping] = None) -> Verdict:
    what = "PointsToObjects(objects_per_image=3, min_confidence=0.1) on the hand case [1, 6, 3, 3]"
    value = _decoded(actual["hand"], what, 1, 3)
    return verdict_from([compare_objects(what, value, torch.tensor(P2O_HAND))], "matches the hand-decoded objects")


def verdict_p2o_properties(actual: Mapping, expected: Optional[Mapping] = None) -> Verdict:
    points = P.build_points_random(**P.P2O_PROPERTY_CASE)
    b, channels, h, w = points.shape
    c, k = channels - 4, 10
    what = "PointsToObjects(objects_per_image=10, min_confidence=0) on random maps [2, 7, 6, 6]"
    objects = _decoded(actual["random"], what, b, k)
    for bi in range(b):
        conf = objects[bi, :, 5]
        if (conf[1:] > conf[:-1]).any():
            return failed(f"{what}: image {bi}: confidences {[round(v, 4) for v in conf.tolist()]} are not in "
                          "descending order")
        top = points[bi, :c].flatten().topk(k).values
        if compare_tensors("", conf, top, atol=1e-6, rtol=0) is not None:
            return failed(f"{what}: image {bi}: confidences {[round(v, 4) for v in conf.tolist()]}, expected the "
                          f"{k} best scores over all classes and locations {[round(v, 4) for v in top.tolist()]} "
                          f"({COLUMN_HINTS['confidence']})")
        for row in range(k):
            problem = _row_problem(points[bi], objects[bi, row], c)
            if problem:
                return failed(f"{what}: image {bi}, row {row} {_fmt_row(objects[bi, row])}: {problem}")
    return passed("top-K scores over all classes, descending, each row decoded from its own location")


def _row_problem(points: torch.Tensor, row: torch.Tensor, c: int) -> Optional[str]:
    """Is the row (y, x, h, w, cls, confidence) consistent with the maps of one image?"""
    y, x, h, w, cls, conf = row.tolist()
    if cls != int(cls) or not 0 <= cls < c:
        return f"cls {cls} is not a class index 0..{c - 1}"
    iy, ix = math.floor(y), math.floor(x)
    if not (0 <= iy < points.shape[1] and 0 <= ix < points.shape[2]):
        return f"(floor(y), floor(x)) = ({iy}, {ix}) is outside the map"
    if abs(points[int(cls), iy, ix] - conf) > 1e-6:
        return (f"the score of class {int(cls)} at ({iy}, {ix}) is {float(points[int(cls), iy, ix]):.6g}, not the "
                f"confidence {conf:.6g}. ({COLUMN_HINTS['y']}; {COLUMN_HINTS['x']})")
    want = [iy + float(points[c, iy, ix]), ix + float(points[c + 1, iy, ix]), float(points[c + 2, iy, ix]),
            float(points[c + 3, iy, ix])]
    for name, got, exp in zip(COLUMNS, (y, x, h, w), want):
        if abs(got - exp) > 1e-5:
            return f"column '{name}' is {got:.6g}, expected {exp:.6g} ({COLUMN_HINTS[name]})"
    return None


# P.build_points_min_confidence, K = 4, min_confidence = 0.5: only 0.8 (row 0, column 0) and 0.6
# (row 2, column 1) reach the threshold; rows 2 and 3 must be all zeros.
def verdict_p2o_min_confidence(actual: Mapping, expected: Optional[Mapping] = None) -> Verdict:
    what = "PointsToObjects(objects_per_image=4, min_confidence=0.5) on a map with two scores >= 0.5"
    objects = _decoded(actual["threshold"], what, 1, 4)
    conf = objects[0, :, 5]
    if (conf[1:] > conf[:-1]).any():
        return failed(f"{what}: confidences {[round(v, 4) for v in conf.tolist()]} are not in descending order "
                      "(zeroed rows come last)")
    if (objects[0, 2:] != 0).any():
        return failed(f"{what}: rows 2 and 3 (scores 0.45 and 0.4) must be all zeros, got {_fmt_row(objects[0, 2])} and "
                      f"{_fmt_row(objects[0, 3])}: rows below min_confidence are zeroed like padding rows")
    conf = objects[0, :2, 5].tolist()
    if [round(v, 6) for v in conf] != [0.8, 0.6]:
        return failed(f"{what}: rows 0 and 1 must keep their scores 0.8 and 0.6 as confidence, got {conf}")
    return passed("rows below min_confidence are all zeros, the others kept")


def verdict_p2o_random(actual: Mapping, expected: Optional[Mapping]) -> Verdict:
    problems = []
    for name, points, kwargs in P.build_p2o_random_cases():
        args = ", ".join(f"{k}={v}" for k, v in kwargs.items())
        what = f"PointsToObjects({args}) on random maps {list(points.shape)} [case '{name}']"
        want = expected[name]["value"]
        try:
            value = _decoded(actual[name], what, *want.shape[:2])
        except ValueError as exc:
            problems.append(str(exc))
            continue
        problems.append(compare_objects(what, value, want))
    return verdict_from(problems, "decoded objects match on random maps (an empty image, C=1, odd sizes)")


def verdict_p2o_round_trip(actual: Mapping, expected: Optional[Mapping] = None) -> Verdict:
    problems = []
    for name, c, hw, objects, k in P.build_round_trip():
        what = f"PointsToObjects(objects_per_image={k}) on objects drawn onto {hw}x{hw} maps, C={c} [case '{name}']"
        try:
            value = _decoded(actual[name], what, objects.shape[0], k)
        except ValueError as exc:
            problems.append(str(exc))
            continue
        want = torch.zeros(objects.shape[0], k, 6)
        for bi in range(objects.shape[0]):
            real = objects[bi][objects[bi, :, 5] > 0]
            real = real[real[:, 5].argsort(descending=True)]
            want[bi, :len(real)] = real
        problems.append(compare_objects(what, value, want))
    return verdict_from(problems, "objects survive the round trip (borders, C=1)")


# ================================================================================================
# PointsNonMaxSuppression
# ================================================================================================

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
    """dy, dx, h, w: unchanged at every kept peak (a positive surviving score); elsewhere unchanged or 0."""
    kept = (output[:, :c] > 0).any(dim=1, keepdim=True).expand(-1, 4, -1, -1)
    box_in, box_out = inputs[:, c:], output[:, c:]
    changed = box_out != box_in
    bad_peak = changed & kept
    if bad_peak.any():
        b, ch, y, x = (int(i) for i in torch.nonzero(bad_peak)[0])
        return (f"{what}: channel {c + ch} ({('dy', 'dx', 'h', 'w')[ch]}) at the kept peak (image {b}, {y}, {x}) is "
                f"{float(box_out[b, ch, y, x]):.6g}, expected the input {float(box_in[b, ch, y, x]):.6g}: "
                "offsets and sizes must survive at every peak")
    bad_other = changed & ~kept & (box_out != 0)
    if bad_other.any():
        b, ch, y, x = (int(i) for i in torch.nonzero(bad_other)[0])
        return (f"{what}: channel {c + ch} at (image {b}, {y}, {x}) is {float(box_out[b, ch, y, x]):.6g}; away from "
                f"peaks the offsets and sizes must be passed through ({float(box_in[b, ch, y, x]):.6g}) or zeroed")
    return None


def _nms_output(result: Mapping, what: str, shape) -> torch.Tensor:
    if result["error"]:
        raise ValueError(f"{what} raised {result['error']}")
    problem = _described_problem(what, result["output"], list(shape))
    if problem:
        raise ValueError(problem)
    return result["value"]


NMS_HINT = (" A score survives only where it equals the maximum of its kernel_size x kernel_size neighbourhood "
            "in its own class channel (max-pool, stride 1, padding kernel_size // 2); peaks are found for each "
            "class independently, never across classes")


def _nms_verdict(what: str, inputs: torch.Tensor, output: torch.Tensor, want_scores: torch.Tensor, c: int) -> Optional[str]:
    message = compare_tensors(f"{what}: class channels", output[:, :c], want_scores, atol=0, rtol=0)
    if message:
        return message + "." + NMS_HINT
    return _box_channels_problem(what, inputs, output, c)


# Hand case (P.build_nms_hand), kernel 3:
#   class 0: 0.9 at (1, 1) is the maximum of its neighbourhood -> kept; 0.5 at (1, 2) is next to 0.9 -> 0;
#            0.3 at (3, 3): its neighbourhood (rows 2-3, columns 2-3 of class 0) holds nothing larger -> kept
#   class 1: 0.7 at (1, 2) -> kept (0.9 is in class 0: classes do not suppress each other);
#            0.2 at (2, 2) is next to 0.7 -> 0
def _nms_hand_expected() -> torch.Tensor:
    want = torch.zeros(1, 2, 4, 4)
    want[0, 0, 1, 1], want[0, 0, 3, 3], want[0, 1, 1, 2] = 0.9, 0.3, 0.7
    return want


def verdict_nms_hand(actual: Mapping, expected: Optional[Mapping] = None) -> Verdict:
    inputs = P.build_nms_hand()
    what = "PointsNonMaxSuppression(3) on the hand case [1, 6, 4, 4]"
    output = _nms_output(actual["hand"], what, inputs.shape)
    return verdict_from([_nms_verdict(what, inputs, output, _nms_hand_expected(), 2)], "matches the hand-computed peaks")


def verdict_nms_properties(actual: Mapping, expected: Optional[Mapping] = None) -> Verdict:
    inputs = P.build_nms_random(**P.NMS_PROPERTY_CASE)
    c = P.NMS_PROPERTY_CASE["c"]
    what = "PointsNonMaxSuppression(3) on random maps [2, 7, 8, 8]"
    output = _nms_output(actual["random"], what, inputs.shape)
    return verdict_from([_nms_verdict(what, inputs, output, local_maxima(inputs[:, :c], 3), c)],
                        "exactly the local maxima of each class survive; offsets and sizes kept at peaks")


def _nms_differential(actual: Mapping, expected: Mapping, cases) -> list:
    problems = []
    for name, inputs, k in cases:
        c = inputs.shape[1] - 4
        what = f"PointsNonMaxSuppression({k}) on random maps {list(inputs.shape)} [case '{name}']"
        try:
            output = _nms_output(actual[name], what, inputs.shape)
        except ValueError as exc:
            problems.append(str(exc))
            continue
        problems.append(_nms_verdict(what, inputs, output, expected[name]["value"][:, :c], c))
    return problems


def verdict_nms_random(actual: Mapping, expected: Optional[Mapping]) -> Verdict:
    return verdict_from(_nms_differential(actual, expected, P.build_nms_random_cases()),
                        "peaks match on random maps (a plateau of two equal maxima included)")


def verdict_nms_kernel_sizes(actual: Mapping, expected: Optional[Mapping]) -> Verdict:
    return verdict_from(_nms_differential(actual, expected, P.build_nms_kernel_cases()),
                        "peaks match with kernel_size 5 and 1 (C=1, 7x9 maps)")


# ================================================================================================
# The checks (ids referenced by rubric.toml)
# ================================================================================================

CHECKS = [
    # UpscaleTwiceLayer
    Check("upscale.shapes", "UpscaleTwiceLayer", "upscale_shapes", verdict_upscale_shapes,
          "output is exactly [B, Cout, 2H, 2W], odd H and W included"),
    Check("upscale.learnable", "UpscaleTwiceLayer", "upscale_learnable", verdict_upscale_learnable,
          "has trainable parameters that receive gradients"),
    Check("upscale.more_shapes", "UpscaleTwiceLayer", "upscale_more_shapes", verdict_upscale_shapes,
          "exact doubling on more sizes (1-pixel wide, odd, eval mode)"),
    # HeadlessResnet34
    Check("resnet34.output_shape", "HeadlessResnet34", "resnet34_eval", verdict_resnet_shapes,
          "output [B, 512, H/32, W/32]"),
    Check("resnet34.state_dict_keys", "HeadlessResnet34", "resnet34_eval", verdict_resnet_keys,
          "state_dict keys and shapes of torchvision's resnet34 without fc"),
    Check("resnet34.torchvision_features", "HeadlessResnet34", "resnet34_eval", verdict_resnet_features,
          "loads torchvision weights strictly and reproduces torchvision's features"),
    Check("resnet34.train_mode", "HeadlessResnet34", "resnet34_train_mode", verdict_resnet_train,
          "features and input gradients in train mode on an odd input size", differential=True),
    # CenterNetHead
    Check("head.shapes", "CenterNetHead", "head_shapes", verdict_head_shapes, "output [B, C+4, H, W]"),
    Check("head.value_ranges", "CenterNetHead", "head_outputs", verdict_head_ranges,
          "class probabilities and offsets in [0, 1]"),
    Check("head.independent_classes", "CenterNetHead", "head_outputs", verdict_head_independent,
          "class probabilities independent per class (no softmax over classes)"),
    Check("head.learnable", "CenterNetHead", "head_learnable", verdict_head_learnable,
          "every output group depends on learnable parameters and on the input"),
    Check("head.can_predict_background", "CenterNetHead", "head_background", verdict_head_background,
          "a few optimiser steps can drive every class probability towards 0"),
    # CenterNetLoss
    Check("loss.focal_hand", "CenterNetLoss", "loss_focal_hand", verdict_focal_hand,
          "loss_fl on a hand-computed case (soft negatives, two exponent settings)"),
    Check("loss.focal_exact_01", "CenterNetLoss", "loss_focal_exact", verdict_focal_exact,
          "loss_fl finite (values and gradients) for predictions exactly 0 or 1"),
    Check("loss.l1_hand", "CenterNetLoss", "loss_l1_hand", verdict_l1_hand,
          "loss_l1 on a hand-computed case (only real objects count)"),
    Check("loss.forward_shape", "CenterNetLoss", "loss_forward", verdict_loss_forward_shape,
          "forward gives [B, 3]; no L1 terms for an image without objects"),
    Check("loss.focal_random", "CenterNetLoss", "loss_focal_random", verdict_focal_random,
          "loss_fl values and gradients on random heatmaps", differential=True),
    Check("loss.l1_random", "CenterNetLoss", "loss_l1_random", verdict_l1_random,
          "loss_l1 values and gradients on random maps", differential=True),
    Check("loss.forward_values", "CenterNetLoss", "loss_forward", verdict_loss_forward,
          "forward values with prepared targets (an empty image included)", differential=True),
    # ObjectsToPoints
    Check("o2p.default_heatmaps", "ObjectsToPoints", "o2p_default_heatmaps", verdict_default_heatmaps,
          "create_default_heatmaps gives zeros [b, c+4, hw, hw]"),
    Check("o2p.locations", "ObjectsToPoints", "o2p_locations", verdict_locations,
          "compute_objects_locations on a hand-computed case"),
    Check("o2p.offsets", "ObjectsToPoints", "o2p_offsets", verdict_offsets,
          "compute_objects_offsets on a hand-computed case"),
    Check("o2p.sizes", "ObjectsToPoints", "o2p_sizes", verdict_sizes, "compute_objects_sizes on a hand-computed case"),
    Check("o2p.smooth", "ObjectsToPoints", "o2p_smooth", verdict_smooth,
          "smooth_points_heatmap on small cases (overlap: sum or max accepted)"),
    Check("o2p.helpers_random", "ObjectsToPoints", "o2p_helpers_random", verdict_helpers_random,
          "the compute_* helpers on random objects (borders, shared locations, padding)", differential=True),
    Check("o2p.smooth_random", "ObjectsToPoints", "o2p_smooth_random", verdict_smooth_random,
          "smooth_points_heatmap on random peaks (C=1, kernel sizes 1, 5, 7)"),
    Check("o2p.forward", "ObjectsToPoints", "o2p_forward", verdict_o2p_forward,
          "the given forward with your helpers (empty image, borders, no smoothing)", differential=True),
    # PointsToObjects
    Check("p2o.hand", "PointsToObjects", "p2o_hand", verdict_p2o_hand, "decodes a hand-computed case"),
    Check("p2o.properties", "PointsToObjects", "p2o_properties", verdict_p2o_properties,
          "top-K over all classes, descending, confidence = score, rows consistent with the maps"),
    Check("p2o.min_confidence", "PointsToObjects", "p2o_min_confidence", verdict_p2o_min_confidence,
          "rows below min_confidence are all zeros"),
    Check("p2o.random", "PointsToObjects", "p2o_random", verdict_p2o_random,
          "decoded objects on random maps (empty image, C=1, odd sizes)", differential=True),
    Check("p2o.round_trip", "PointsToObjects", "p2o_round_trip", verdict_p2o_round_trip,
          "objects drawn onto maps decode back to themselves"),
    # PointsNonMaxSuppression
    Check("nms.hand", "PointsNonMaxSuppression", "nms_hand", verdict_nms_hand,
          "peaks per class on a hand-computed case"),
    Check("nms.properties", "PointsNonMaxSuppression", "nms_properties", verdict_nms_properties,
          "exactly the local maxima survive; offsets and sizes kept at peaks"),
    Check("nms.random", "PointsNonMaxSuppression", "nms_random", verdict_nms_random,
          "peaks on random maps (a plateau of equal maxima)", differential=True),
    Check("nms.kernel_sizes", "PointsNonMaxSuppression", "nms_kernel_sizes", verdict_nms_kernel_sizes,
          "kernel_size 5 and 1 (C=1, 7x9 maps)", differential=True),
]


# ================================================================================================
# --- training checks ---
# Components "Training on TinyCoco" and "Full training": verdicts in training.py (parent
# side, loaded by path like probes.py), probes in probes.py's "training checks" section. Both
# TinyCoco checks name the same probe: one training run when the submission's executor memoises
# probe outcomes (CachedExecutor).
# ================================================================================================

def _load_training_verdicts():
    spec = importlib.util.spec_from_file_location("_grader_centernet_training", Path(__file__).with_name("training.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


TRAINING = _load_training_verdicts()
TRAINING_COMPONENTS = ("Training on TinyCoco", "Full training")
TRAINING_CHECKS = TRAINING.make_checks(Check)
CALIBRATE = TRAINING.calibrate  # `grader calibrate --assignment centernet`

CHECKS += TRAINING_CHECKS
