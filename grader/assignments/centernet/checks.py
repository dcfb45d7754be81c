"""Verdicts of the centernet assignment (parent side; see docs/CONVENTIONS.md).

Trust rules (issue 9):
- a verdict never trusts a count, flag, shape description or case list sent back by the worker: it
  judges the concrete tensors the probe returned (values, gradients, outputs after an SGD step);
- public checks rebuild their fixed inputs with the ``build_*`` functions of ``probes.py`` (plain
  torch code of ours, never the submission's) and need no reference: their expectations are
  hand-computed (the arithmetic is in the comments) or follow from the contract;
- hidden checks draw their inputs from the probe context's secret seed. They are differential: the
  reference ran the same probe with the same seed here, in the parent, so the cases (and the
  inputs, which the hidden probes return) are read from ``expected``; the engine's structure rule
  makes every expected case present in ``actual``;
- hidden checks' messages never show the reference's values: ``compare_tensors`` redacts itself
  inside a hidden check, and every message written here shows a reference value only through
  ``api.value``.

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

from grader.core import api
from grader.core.api import Check, Verdict, compare_tensors, failed, passed, verdict_from
from grader.core.assignment import import_path


P = import_path(Path(__file__).resolve().parent / "probes", "_grader_centernet_probe_builders")


# ------------------------------------------------------------------------------------------------
# Small helpers
# ------------------------------------------------------------------------------------------------

class Bad(ValueError):
    """A problem with the submission's output, for its message (see ``student_verdict``)."""


def student_verdict(fn):
    """A verdict whose helpers raise ``Bad(message)`` for a malformed or wrong output: that is a
    failed check with the message (any other exception is left to the engine, which tells a
    malformed output from a grader fault)."""

    @functools.wraps(fn)
    def wrapper(actual, expected=None):
        try:
            return fn(actual, expected)
        except Bad as exc:
            return failed(str(exc))

    return wrapper


def _get(mapping, key, what: str = "your output"):
    """``mapping[key]``, or Bad when the output lacks it."""
    if not isinstance(mapping, Mapping) or key not in mapping:
        raise Bad(f"{what}: incomplete output (no result for {key!r})")
    return mapping[key]


def _case_list(actual, key: str, count: int, what: str) -> list:
    """``actual[key]``: a list of exactly ``count`` results (every case present)."""
    cases = _get(actual, key, what)
    if not isinstance(cases, list) or len(cases) != count:
        got = len(cases) if isinstance(cases, list) else type(cases).__name__
        raise Bad(f"{what}: expected results for {count} cases, got {got} (every case must be present)")
    return cases


def _tensor_problem(what: str, value, shape=None, dtype=torch.float32, finite: bool = True,
                    type_name: Optional[str] = None) -> Optional[str]:
    """Problems of a returned tensor: not a tensor, shape (``shape`` a list; None: any), dtype
    (None: any), NaN/Inf (if ``finite``)."""
    if not isinstance(value, torch.Tensor):
        got = type_name or ("nothing" if value is None else type(value).__name__)
        want = f" of shape {list(shape)}" if shape is not None else ""
        return f"{what}: expected a tensor{want}, got {got}"
    if shape is not None and list(value.shape) != list(shape):
        return f"{what}: shape {list(value.shape)}, expected {list(shape)}"
    if dtype is not None and value.dtype != dtype:
        return f"{what}: dtype {value.dtype}, expected {dtype}"
    if finite and value.is_floating_point() and not torch.isfinite(value).all():
        return f"{what}: contains NaN or Inf"
    return None


def _call_tensor(what: str, result, shape=None, dtype=torch.float32, finite: bool = True) -> torch.Tensor:
    """The tensor of one call's result (probes._result), or Bad with the error it raised or its problem."""
    if not isinstance(result, Mapping):
        raise Bad(f"{what}: no result")
    if result.get("error"):
        raise Bad(f"{what} raised {str(result['error'])[:600]}")
    value = result.get("value")
    problem = _tensor_problem(what, value, shape, dtype, finite, type_name=result.get("type") if value is None else None)
    if problem:
        raise Bad(problem)
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


def _learning_problem(what: str, result, out_shape_ok, input_shape, projection_seed: int, part: str) -> Optional[str]:
    """One SGD step on the module's parameters must lower ``sum(output * projection)`` (the
    projection is drawn here, as the probe drew it), and the input must receive a gradient.

    ``out_shape_ok(shape) -> None or a message`` judges the output's shape."""
    before = _get(result, "before", what)
    problem = _tensor_problem(what, before, dtype=None)
    if problem:
        return problem
    shape_problem = out_shape_ok(list(before.shape))
    if shape_problem:
        return f"{what}: {shape_problem}"
    after = result.get("after")
    if not isinstance(after, torch.Tensor) or after.shape != before.shape:
        return f"{what}: after one SGD step the output is not a tensor of the same shape"
    projection = torch.randn(before.shape, generator=P._gen(projection_seed)).double()
    start, end = float((before.double() * projection).sum()), float((after.double() * projection).sum())
    if not (end < start - 1e-6 * (1.0 + abs(start))):
        return (f"{what}: one SGD step on the parameters did not lower a random projection of the {part} "
                f"(from {start:.6g} to {end:.6g}): the {part} must depend on trainable parameters that receive "
                "gradients (no parameters, detached outputs or constants?)")
    grad = result.get("input_grad")
    if not isinstance(grad, torch.Tensor) or list(grad.shape) != list(input_shape) or not bool((grad != 0).any()):
        return f"{what}: no gradient reaches the input after backward(); the {part} must depend on it"
    return None


# ================================================================================================
# UpscaleTwiceLayer
# ================================================================================================

def _upscale_case_problem(result, case) -> Optional[str]:
    cin, cout, b, h, w = case
    what = f"UpscaleTwiceLayer({cin}, {cout}) on input [{b}, {cin}, {h}, {w}]"
    expected = [b, cout, 2 * h, 2 * w]
    try:
        _call_tensor(what, result, expected, dtype=None)
    except Bad as exc:
        problem = str(exc)
        value = result.get("value") if isinstance(result, Mapping) else None
        shape = list(value.shape) if isinstance(value, torch.Tensor) else None
        if shape and len(shape) == 4 and shape[2:] == [2 * h - 1, 2 * w - 1]:
            problem += (": 2H-1 instead of 2H. A transposed convolution gives (H-1)*stride - 2*padding + "
                        "kernel_size + output_padding; with kernel 3, stride 2, padding 1 you need "
                        "output_padding=1 (or use kernel 4, stride 2, padding 1)")
        elif shape and shape[:2] == expected[:2]:
            problem += ": the output must be exactly twice the input size for every H and W, odd ones included"
        return problem
    return None


def _upscale_cases_verdict(actual, cases) -> Verdict:
    results = _case_list(actual, "cases", len(cases), "UpscaleTwiceLayer")
    problems = [_upscale_case_problem(r, c) for r, c in zip(results, cases)]
    return verdict_from(problems, f"output [B, Cout, 2H, 2W] for {len(cases)} input sizes")


@student_verdict
def verdict_upscale_shapes(actual: Mapping, expected: Optional[Mapping] = None) -> Verdict:
    return _upscale_cases_verdict(actual, P.UPSCALE_PUBLIC_CASES)


@student_verdict
def verdict_upscale_more_shapes(actual: Mapping, expected: Optional[Mapping]) -> Verdict:
    # the secret sizes: from the reference's run (same seed), never from the worker's "case" fields
    return _upscale_cases_verdict(actual, [tuple(c["case"]) for c in expected["cases"]])


@student_verdict
def verdict_upscale_learnable(actual: Mapping, expected: Optional[Mapping] = None) -> Verdict:
    cfg = P.UPSCALE_LEARNABLE
    what = f"UpscaleTwiceLayer({cfg['cin']}, {cfg['cout']}) on {list(cfg['input_shape'])} (train mode)"

    def shape_ok(shape):
        b = cfg["input_shape"][0]
        if len(shape) != 4 or shape[:2] != [b, cfg["cout"]]:
            return f"expected an output [{b}, {cfg['cout']}, H', W'], got shape {shape}"
        return None

    problem = _learning_problem(what, actual, shape_ok, cfg["input_shape"], cfg["projection_seed"], "output")
    if problem:
        return failed(problem + (" It must be learnable (a transposed convolution, or an upsampling followed by "
                                 "a convolution)." if "SGD" in problem else ""))
    return passed("the output depends on trainable parameters that receive gradients, and on the input")


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
def _torchvision_digest() -> dict:
    """The digest (probes.state_digest) of the public checks' torchvision weights, computed here."""
    return P.state_digest(P.torchvision_resnet34_state_dict())


@functools.lru_cache(maxsize=1)
def _torchvision_features() -> torch.Tensor:
    """Features of the probe's torchvision resnet34 (eval mode), up to layer4, computed here."""
    net = P.build_torchvision_resnet34().eval()
    x = P.build_resnet_images(21, P.RESNET_FEATURE_INPUT)
    with torch.no_grad():
        x = net.maxpool(net.relu(net.bn1(net.conv1(x))))
        return net.layer4(net.layer3(net.layer2(net.layer1(x))))


@student_verdict
def verdict_resnet_shapes(actual: Mapping, expected: Optional[Mapping] = None) -> Verdict:
    results = _case_list(actual, "shapes", len(P.RESNET_SHAPE_INPUTS), "HeadlessResnet34")
    problems = []
    for result, (b, _, h, w) in zip(results, P.RESNET_SHAPE_INPUTS):
        what = f"HeadlessResnet34() on input {[b, 3, h, w]} (eval mode)"
        try:
            _call_tensor(what, result, [b, 512, h // 32, w // 32], dtype=None, finite=False)
        except Bad as exc:
            problem = str(exc)
            value = result.get("value") if isinstance(result, Mapping) else None
            if isinstance(value, torch.Tensor) and value.dim() != 4:
                problem += ": the output is the feature map of layer4, without avgpool, flatten and fc"
            elif isinstance(value, torch.Tensor) and list(value.shape[2:]) == [1, 1]:
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


STAGES = ("layer1", "layer2", "layer3", "layer4")


def keys_hint(got_keys) -> str:
    """What differs in the naming of a state_dict from torchvision's resnet34 (without fc), in one
    sentence. ``got_keys`` is the submission's own list, used for this hint only."""
    want = _torchvision_keys()
    got = [k for k in got_keys if isinstance(k, str)]
    tops = sorted({k.split(".")[0] for k in got})
    missing_stages = [s for s in STAGES if s not in tops]
    if missing_stages:
        others = [t for t in tops if t not in ("conv1", "bn1") and t not in STAGES]
        found = ", ".join(others[:6]) + (", ..." if len(others) > 6 else "") if others else "none"
        return (f"expected torchvision's names (conv1, bn1, layer1..layer4); found {found}. Name the stages "
                "layer1..layer4 (nn.Sequential of blocks), as torchvision does")
    missing = [k for k in want if k not in got]
    extra = [k for k in got if k not in want]
    got_blocks, want_blocks = _blocks_per_stage(got), _blocks_per_stage(want)
    text = (f"{len(missing)} missing (e.g. {', '.join(missing[:3]) or '-'}), "
            f"{len(extra)} unexpected (e.g. {', '.join(extra[:3]) or '-'})")
    if got_blocks != want_blocks:
        counts = "-".join(str(got_blocks.get(s, 0)) for s in STAGES)
        return f"{text}. Your stages have {counts} blocks; ResNet-34 has 3-4-6-3 (2-2-2-2 is ResNet-18)"
    return (f"{text}. Name the submodules as torchvision does: conv1, bn1, layer1..layer4 (nn.Sequential of "
            "blocks with conv1, bn1, conv2, bn2 and an optional downsample = Sequential(conv, bn))")


def _load_problem(actual: Mapping) -> Optional[str]:
    error = actual.get("load_error") if isinstance(actual, Mapping) else "no result"
    if error:
        keys = actual.get("keys")
        if isinstance(actual.get("key_names"), str):
            keys = actual["key_names"].split(",")
        hint = keys_hint(list(keys)) if isinstance(keys, (Mapping, list)) else ""
        return ("loading a torchvision resnet34 state_dict (without fc.*) with strict=True failed"
                + (f": {hint}" if hint else f": {str(error)[:600]}"))
    return None


@student_verdict
def verdict_resnet_keys(actual: Mapping, expected: Optional[Mapping] = None) -> Verdict:
    problem = _load_problem(actual)
    if problem:
        return failed(problem)
    want = _torchvision_digest()
    got = _get(actual, "digest", "HeadlessResnet34")
    if not isinstance(got, Mapping):
        return failed("HeadlessResnet34: no state_dict after loading torchvision's weights")
    if set(got) != set(want):
        return failed(f"after load_state_dict, the state_dict keys differ from torchvision's resnet34: {keys_hint(list(got))}")
    for key, (shape, total, squares) in want.items():
        entry = got[key]
        if not (isinstance(entry, (list, tuple)) and len(entry) == 3 and list(entry[0]) == shape):
            return failed(f"state_dict entry {key}: shape {entry[0] if isinstance(entry, (list, tuple)) else entry}, "
                          f"expected {shape}")
        if any(not isinstance(v, (int, float)) or abs(v - w) > 1e-6 * (1 + abs(w)) for v, w in zip(entry[1:], (total, squares))):
            return failed(f"state_dict entry {key} does not hold the loaded weights after load_state_dict "
                          "(is a parameter shared, re-created or overwritten after loading?)")
    return passed(f"the {len(want)} state_dict keys and shapes match torchvision's resnet34 without fc, and hold "
                  "the weights loaded into them")


@student_verdict
def verdict_resnet_features(actual: Mapping, expected: Optional[Mapping] = None) -> Verdict:
    problem = _load_problem(actual)
    if problem:
        return failed(problem)
    results = _case_list(actual, "shapes", len(P.RESNET_SHAPE_INPUTS), "HeadlessResnet34")
    what = "features of HeadlessResnet34 with torchvision's weights (eval mode)"
    value = _call_tensor(what, results[0], dtype=None, finite=False)
    want = _torchvision_features()
    scale = float(want.abs().max())
    message = compare_tensors(what, value, want, atol=1e-4 * scale, rtol=1e-3)
    if message:
        return failed(message + ". With the same weights the features must equal torchvision's: check the order "
                                "conv -> bn -> relu, where the stride sits (conv1 of the first block of a stage and "
                                "its downsample), the maxpool after the stem, and the skip connection")
    return passed("same features as torchvision's resnet34 with the same weights")


@student_verdict
def verdict_resnet_train(actual: Mapping, expected: Optional[Mapping]) -> Verdict:
    problem = _load_problem(actual)
    if problem:
        return failed(problem)
    problems = []
    for key, what in (("features", "features in train mode on an odd input size"),
                      ("input_grad", "gradient w.r.t. the input in train mode")):
        want = expected[key]
        scale = float(want.abs().max())
        problems.append(compare_tensors(what, actual.get(key), want, atol=1e-4 * scale, rtol=1e-3))
    return verdict_from(problems, "features and gradients match in train mode on an odd input size")


# ================================================================================================
# CenterNetHead
# ================================================================================================

@student_verdict
def verdict_head_shapes(actual: Mapping, expected: Optional[Mapping] = None) -> Verdict:
    results = _case_list(actual, "cases", len(P.HEAD_SHAPE_CASES), "CenterNetHead")
    problems = []
    for result, (k, c, shape) in zip(results, P.HEAD_SHAPE_CASES):
        args = "CenterNetHead()" if k is None else f"CenterNetHead(k_in_channels={k}, c_classes={c})"
        c = 2 if c is None else c
        try:
            _call_tensor(f"{args} on input {list(shape)}", result, [shape[0], c + 4, shape[2], shape[3]])
        except Bad as exc:
            problems.append(f"{exc}: the output is cat([class_heatmap (C), offsets (2), sizes (2)], dim=1), "
                            "same H and W as the input")
    return verdict_from(problems, "output [B, C+4, H, W] for C = 3, 2 (default) and 1")


def _head_output(actual: Mapping, c: int) -> torch.Tensor:
    what = f"CenterNetHead(8, {c}) on [2, 8, 9, 9]"
    value = _get(actual, f"c{c}", what)
    problem = _tensor_problem(what, value, [2, c + 4, 9, 9])
    if problem:
        raise Bad(problem)
    return value


def _range_problem(what: str, values: torch.Tensor, hint: str) -> Optional[str]:
    lo, hi = float(values.min()), float(values.max())
    if lo < 0 or hi > 1:
        return f"{what}: values must lie in [0, 1], got min {lo:.6g}, max {hi:.6g}; {hint}"
    return None


@student_verdict
def verdict_head_ranges(actual: Mapping, expected: Optional[Mapping] = None) -> Verdict:
    problems = []
    for c in (3, 1):
        out = _head_output(actual, c)
        problems.append(_range_problem(f"class channels 0..{c - 1} (C={c})", out[:, :c],
                                       "apply a sigmoid to the class logits"))
        problems.append(_range_problem(f"offset channels {c}, {c + 1} (C={c})", out[:, c:c + 2],
                                       "offsets are sub-pixel positions: a sigmoid fits (stricter than the original "
                                       "course, which did not bound them)"))
    return verdict_from(problems, "class probabilities and offsets in [0, 1], inputs of a large spread")


@student_verdict
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


@student_verdict
def verdict_head_learnable(actual: Mapping, expected: Optional[Mapping] = None) -> Verdict:
    problems = []
    b, _, h, w = P.HEAD_LEARNABLE["input_shape"]
    for i, (name, (lo, hi)) in enumerate(P.HEAD_GROUPS.items()):
        what = f"CenterNetHead(8, 2) on [{b}, 8, {h}, {w}], {name} channels {lo}..{hi - 1}"
        want = [b, hi - lo, h, w]

        def shape_ok(shape, want=want):
            return None if shape == want else f"expected the output [{b}, 6, {h}, {w}] (this group: {want}), got {shape}"

        problems.append(_learning_problem(what, _get(actual, name, what), shape_ok, P.HEAD_LEARNABLE["input_shape"],
                                          34 + i, f"{name} channels"))
    return verdict_from(problems, "class, offset and size channels all learnable and input-dependent")


# A sigmoid head trained towards 'no object' ends far below this (measured: 0.01-0.21 over secret
# draws, PyTorch's default init included); a softmax over the 2 classes cannot go below 0.5.
HEAD_BACKGROUND_MAX = 0.4


@student_verdict
def verdict_head_background(actual: Mapping, expected: Optional[Mapping]) -> Verdict:
    shape = list(expected["end"].shape)
    start = _get(actual, "start", "class channels")
    end = _get(actual, "end", "class channels")
    for label, t in (("before training", start), ("after training", end)):
        problem = _tensor_problem(f"class channels {label}", t, shape, finite=False)
        if problem:
            return failed(problem)
    if not torch.isfinite(end).all():
        return failed("the class probabilities became NaN/Inf while training the head towards 'no object'")
    worst = float(end.max())
    if worst >= HEAD_BACKGROUND_MAX:
        sums = float((end.sum(dim=1) - 1).abs().max())
        hint = (" The class probabilities of each pixel still sum to 1: a softmax over classes cannot say "
                "'no object'; use a sigmoid per class." if sums < 1e-3 else "")
        return failed(f"after {P.HEAD_BACKGROUND_STEPS} Adam steps (lr 0.1) minimising the mean class probability, "
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
        message = compare_tensors(what, value, torch.tensor(FOCAL_HAND[key]), atol=FOCAL_ATOL, rtol=FOCAL_RTOL, check_dtype=False)
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
                "logarithms (e.g. log(p.clamp(min=eps))); a torch.where over an infinite branch still gives NaN gradients")
    return None


@student_verdict
def verdict_focal_exact(actual: Mapping, expected: Optional[Mapping] = None) -> Verdict:
    what = "loss_fl with predictions exactly 0 or 1"
    result = _get(actual, "exact", what)
    summed = _batch_sum_verdict(what, [result], [None])
    if summed:
        return summed if _grad_problem(what, result, [2, 1, 1, 3]) is None else failed(_grad_problem(what, result, [2, 1, 1, 3]))
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


@student_verdict
def verdict_focal_random(actual: Mapping, expected: Optional[Mapping]) -> Verdict:
    keys = ("default", "alpha3_beta2", "benign_exact")
    summed = _batch_sum_verdict("loss_fl on random heatmaps", [actual[k] for k in keys], [expected[k]["value"] for k in keys])
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


# Hand-computed L1 (P.build_l1_hand): |predict - target| summed over the 2 channels at real objects
#   image 0, object at (0, 1): |0.5 - 0.25| + |2 - 3|                                 = 1.25
#   image 1, objects at (0, 0) and (1, 1): (|1 - 0.5| + |0 - 2|) + (|3 - 1| + |0.5 - 0.5|) = 2.5 + 2 = 4.5
#   image 2, no object                                                                  = 0
# Everywhere else predict = 7 and target = 0: counting those pixels adds 14 per pixel.
L1_HAND = [1.25, 4.5, 0.0]


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


@student_verdict
def verdict_l1_random(actual: Mapping, expected: Optional[Mapping]) -> Verdict:
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
                        atol=1e-6, rtol=1e-5, check_dtype=False) if isinstance(result.get("grad"), torch.Tensor) else None,
    ], "loss_l1 values and gradients match")


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


@student_verdict
def verdict_loss_forward_shape(actual: Mapping, expected: Optional[Mapping] = None) -> Verdict:
    what = "CenterNetLoss()(pred [3, 6, 8, 8], objects [3, 4, 6])"
    value = _forward_value(actual, what, 3)
    if (value < 0).any():
        return failed(f"{what}: negative loss terms {value.tolist()}: the focal loss and the L1 sums are >= 0")
    if (value[:, 0] <= 0).any():
        return failed(f"{what}: the focal term must be > 0 for predictions strictly between 0 and 1, got {value[:, 0].tolist()}")
    if (value[2, 1:] != 0).any():
        return failed(f"{what}: image 2 has no object, so its offset and size terms must be 0; got {value[2, 1:].tolist()}. "
                      "loss_l1 counts only pixels where is_real_object is True")
    return passed("forward gives [B, 3], non-negative, zero L1 terms for an image without objects")


@student_verdict
def verdict_loss_forward(actual: Mapping, expected: Optional[Mapping]) -> Verdict:
    b = expected["value"].shape[0]
    what = "CenterNetLoss()(pred, objects) per image (focal, offset, size) with prepared targets"
    value = _forward_value(actual, what, b)
    return verdict_from([compare_tensors(what, value, expected["value"], atol=1e-3, rtol=2e-3)],
                        "the loss of a batch matches (focal, offset and size terms)")


# ================================================================================================
# ObjectsToPoints helpers
# ================================================================================================

@student_verdict
def verdict_default_heatmaps(actual: Mapping, expected: Optional[Mapping] = None) -> Verdict:
    results = _case_list(actual, "cases", len(P.DEFAULT_HEATMAP_CASES), "create_default_heatmaps")
    problems = []
    for value, (b, hw, c) in zip(results, P.DEFAULT_HEATMAP_CASES):
        what = f"create_default_heatmaps(b={b}, hw={hw}, c={c})"
        problem = _tensor_problem(what, value, [b, c + 4, hw, hw])
        if problem is None and bool((value != 0).any()):
            problem = f"{what}: must be all zeros"
        problems.append(problem)
    return verdict_from(problems, "zeros [b, c+4, hw, hw]")


def _helper_values(actual: Mapping, name: str, what: str, count: int) -> list:
    result = _get(actual, name, what)
    if result.get("error"):
        raise Bad(f"{what} raised {result['error']}")
    values = result.get("values")
    if not isinstance(values, list) or len(values) != count or not all(isinstance(v, torch.Tensor) for v in values):
        raise Bad(f"{what}: expected a tuple of {count} tensors")
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


@student_verdict
def verdict_locations(actual: Mapping, expected: Optional[Mapping] = None) -> Verdict:
    return _helper_verdict(actual, "locations", "compute_objects_locations(objects [2, 3, 6])", HAND_LOCATIONS, torch.int64)


@student_verdict
def verdict_offsets(actual: Mapping, expected: Optional[Mapping] = None) -> Verdict:
    return _helper_verdict(actual, "offsets", "compute_objects_offsets(objects [2, 3, 6])", HAND_OFFSETS, torch.float32)


@student_verdict
def verdict_sizes(actual: Mapping, expected: Optional[Mapping] = None) -> Verdict:
    return _helper_verdict(actual, "sizes", "compute_objects_sizes(objects [2, 3, 6])", HAND_SIZES, torch.float32)


@student_verdict
def verdict_helpers_random(actual: Mapping, expected: Optional[Mapping]) -> Verdict:
    problems = []
    parts = {"locations": ("batch_idx", "y_idx", "x_idx"), "offsets": ("dy", "dx"), "sizes": ("h", "w")}
    for name, names in parts.items():
        call = f"compute_objects_{name}(random objects [4, 6, 6])"
        try:
            values = _helper_values(actual, name, call, len(names))
        except Bad as exc:
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
    for name, heat, s in cases:
        call = f"smooth_points_heatmap(points {list(heat.shape)}, kernel {s}x{s}) [case '{name}']"
        try:
            value = _call_tensor(call, _get(actual, name, call), list(heat.shape))
        except Bad as exc:
            problems.append(str(exc))
            continue
        kernel = P.build_gaussian_kernel(s)
        candidates = {"sum-merged": stamp_gaussians(heat, kernel, "sum"), "max-merged": stamp_gaussians(heat, kernel, "max")}
        message = _close_to_any(call, value, candidates, atol=1e-5, rtol=1e-4)
        if message:
            message += (". As in the original course it receives and returns the whole map [B, C+4, H, W] (dy, dx, h, w "
                        "still zero); each class channel is convolved with the kernel on its own (same padding, zeros "
                        "outside the map; a grouped convolution with groups=C): channels must not mix")
        problems.append(message)
    return verdict_from(problems, "every channel smoothed on its own (sum or max of overlapping gaussians)")


@student_verdict
def verdict_smooth(actual: Mapping, expected: Optional[Mapping] = None) -> Verdict:
    return _smooth_verdict(actual, P.build_smooth_public())


@student_verdict
def verdict_smooth_random(actual: Mapping, expected: Optional[Mapping]) -> Verdict:
    # the secret cases as the reference's run drew them (same seed), never the worker's copy
    return _smooth_verdict(actual, [(name, case["heat"], int(case["k"])) for name, case in expected.items()])


@student_verdict
def verdict_o2p_forward(actual: Mapping, expected: Optional[Mapping]) -> Verdict:
    problems = []
    for name, kwargs, _, _, _ in P.O2P_FORWARD_CONFIGS:
        want = expected[name]["value"]
        call = f"ObjectsToPoints({', '.join(f'{k}={v}' for k, v in kwargs.items())})(objects, {want.shape[0]} images)"
        try:
            value = _call_tensor(call + " (the given forward calls your helpers)", actual[name], list(want.shape))
        except Bad as exc:
            problems.append(str(exc))
            continue
        message = compare_tensors(call, value, want, atol=1e-5, rtol=1e-4)
        if message:
            message += " (channels: C classes, then dy, dx, h, w; padding rows (confidence 0) must not be drawn)"
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
            f"{float(actual[b, k, col]):.6g}; expected row {api.value(_fmt_row(want[b, k]))}, got {_fmt_row(actual[b, k])}")
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
    expected; order: the expected rows in the expected order, no padding row before a scored row; box and confidence: judged on
    the rows that match an expected row."""
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
    missed_all, problems = set(), []
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


@student_verdict
def verdict_p2o_hand(actual: Mapping, expected: Optional[Mapping] = None) -> Verdict:
    what = "PointsToObjects(objects_per_image=3, min_confidence=0.1) on the hand case [1, 6, 3, 3]"
    return _p2o_scored([(what, _decoded_or_message(_get(actual, "hand", what), what, 1, 3), torch.tensor(P2O_HAND))])


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
@student_verdict
def verdict_p2o_min_confidence(actual: Mapping, expected: Optional[Mapping] = None) -> Verdict:
    what = "PointsToObjects(objects_per_image=4, min_confidence=0.5) on a map with two scores >= 0.5"
    objects = _decoded(_get(actual, "threshold", what), what, 1, 4)
    if (objects[0, 2:] != 0).any():
        return failed(f"{what}: rows 2 and 3 (scores 0.45 and 0.4) must be all zeros, got {_fmt_row(objects[0, 2])} and "
                      f"{_fmt_row(objects[0, 3])}: rows below min_confidence are zeroed like padding rows")
    if not bool((objects[0, :2] != 0).any(dim=1).all()):
        return failed(f"{what}: rows 0 and 1 (scores 0.8 and 0.6 >= min_confidence) must be kept, got "
                      f"{_fmt_row(objects[0, 0])} and {_fmt_row(objects[0, 1])}")
    return passed("rows below min_confidence are all zeros, the others kept")


@student_verdict
def verdict_p2o_random(actual: Mapping, expected: Optional[Mapping]) -> Verdict:
    cases = []
    for name, want_result in expected.items():
        want = want_result["value"]
        what = f"PointsToObjects(objects_per_image={want.shape[1]}) on random maps [case '{name}']"
        cases.append((what, _decoded_or_message(actual[name], what, *want.shape[:2]), want))
    return _p2o_scored(cases)


@student_verdict
def verdict_p2o_round_trip(actual: Mapping, expected: Optional[Mapping]) -> Verdict:
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
                f"peaks the offsets and sizes must be passed through ({api.value(float(box_in[b, ch, y, x]))}) or zeroed")
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


@student_verdict
def verdict_nms_hand(actual: Mapping, expected: Optional[Mapping] = None) -> Verdict:
    inputs = P.build_nms_hand()
    what = "PointsNonMaxSuppression(3) on the hand case [1, 6, 4, 4]"
    output = _call_tensor(what, _get(actual, "hand", what), list(inputs.shape))
    return _nms_scored([nms_case_score(what, inputs, output, _nms_hand_expected(), 2)])


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


@student_verdict
def verdict_nms_random(actual: Mapping, expected: Optional[Mapping]) -> Verdict:
    return _nms_scored(_nms_differential(actual, expected))


@student_verdict
def verdict_nms_kernel_sizes(actual: Mapping, expected: Optional[Mapping]) -> Verdict:
    # one property, the kernel size: all or nothing (rubric.toml: no partial credit)
    verdict = _nms_scored(_nms_differential(actual, expected))
    if verdict.passed:
        return passed("peaks match with kernel_size 5 and 1 (C=1, odd maps)")
    return failed(verdict.message + " (kernel_size sets the neighbourhood: max-pool with kernel_size, stride 1, "
                                    "padding kernel_size // 2)")


# ================================================================================================
# The checks (ids referenced by rubric.toml)
# ================================================================================================

CHECKS = [
    # UpscaleTwiceLayer
    Check("upscale.shapes", "UpscaleTwiceLayer", "upscale_shapes", verdict_upscale_shapes,
          "output is exactly [B, Cout, 2H, 2W], odd H and W included"),
    Check("upscale.learnable", "UpscaleTwiceLayer", "upscale_learnable", verdict_upscale_learnable,
          "trainable parameters that receive gradients: one SGD step lowers a projection of the output"),
    Check("upscale.more_shapes", "UpscaleTwiceLayer", "upscale_more_shapes", verdict_upscale_more_shapes,
          "exact doubling on more sizes (1-pixel wide, odd, eval mode)", differential=True),
    # HeadlessResnet34
    Check("resnet34.output_shape", "HeadlessResnet34", "resnet34_eval", verdict_resnet_shapes,
          "output [B, 512, H/32, W/32]"),
    Check("resnet34.state_dict_keys", "HeadlessResnet34", "resnet34_eval", verdict_resnet_keys,
          "loads torchvision's resnet34 state_dict (without fc) strictly and holds its weights under its names"),
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
          "a few optimiser steps can drive every class probability towards 0", differential=True),
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
    Check("loss.forward_values", "CenterNetLoss", "loss_forward_random", verdict_loss_forward,
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
          "smooth_points_heatmap on random peaks (C=1, kernel sizes 1, 5, 7)", differential=True),
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
          "objects drawn onto maps decode back to themselves", differential=True),
    # PointsNonMaxSuppression
    Check("nms.hand", "PointsNonMaxSuppression", "nms_hand", verdict_nms_hand,
          "peaks per class on a hand-computed case"),
    Check("nms.properties", "PointsNonMaxSuppression", "nms_properties", verdict_nms_properties,
          "exactly the local maxima survive; offsets and sizes kept at peaks"),
    Check("nms.random", "PointsNonMaxSuppression", "nms_random", verdict_nms_random,
          "peaks on random maps (a plateau of equal maxima)", differential=True),
    Check("nms.kernel_sizes", "PointsNonMaxSuppression", "nms_kernel_sizes", verdict_nms_kernel_sizes,
          "kernel_size 5 and 1 (C=1, odd maps)", differential=True),
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
RUBRIC_SETTINGS = ("training",)  # the rubric's [training] table: data folder, budget, thresholds (training.py)
TRAINING_CHECKS = TRAINING.make_checks(Check)
CALIBRATE = TRAINING.calibrate  # `grader calibrate --assignment centernet`

CHECKS += TRAINING_CHECKS
