"""Verdicts of HeadlessResnet34."""

from __future__ import annotations

import functools
from typing import Mapping, Optional

import torch

from grader.core.api import Verdict, compare_tensors, failed, passed, verdict_from

from .common import CHECKS, Bad, P, _call_tensor, _case_list, _get, student_verdict


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


@CHECKS.verdict("resnet34.output_shape", probe="resnet34_eval", description="output [B, 512, H/32, W/32]")
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
    stages: dict[str, set[int]] = {}
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


@CHECKS.verdict("resnet34.state_dict_keys", probe="resnet34_eval",
                description="loads torchvision's resnet34 state_dict (without fc) strictly and holds its weights "
                            "under its names")
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
        return failed(f"after load_state_dict, the state_dict keys differ from torchvision's resnet34: "
                      f"{keys_hint(list(got))}")
    for key, (shape, total, squares) in want.items():
        entry = got[key]
        if not (isinstance(entry, (list, tuple)) and len(entry) == 3 and list(entry[0]) == shape):
            return failed(f"state_dict entry {key}: shape {entry[0] if isinstance(entry, (list, tuple)) else entry}, "
                          f"expected {shape}")
        if any(not isinstance(v, (int, float)) or abs(v - w) > 1e-6 * (1 + abs(w))
               for v, w in zip(entry[1:], (total, squares))):
            return failed(f"state_dict entry {key} does not hold the loaded weights after load_state_dict "
                          "(is a parameter shared, re-created or overwritten after loading?)")
    return passed(f"the {len(want)} state_dict keys and shapes match torchvision's resnet34 without fc, and hold "
                  "the weights loaded into them")


@CHECKS.verdict("resnet34.torchvision_features", probe="resnet34_eval",
                description="loads torchvision weights strictly and reproduces torchvision's features")
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


@CHECKS.verdict("resnet34.train_mode", probe="resnet34_train_mode",
                description="features and input gradients in train mode on an odd input size", differential=True)
@student_verdict
def verdict_resnet_train(actual: Mapping, expected: Optional[Mapping]) -> Verdict:
    assert expected is not None  # differential: the engine always passes the reference's output
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
