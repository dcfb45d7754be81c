"""Verdicts of CenterNetHead."""

from __future__ import annotations

from typing import Mapping, Optional

import torch

from grader.core.api import Verdict, failed, passed, verdict_from

from .common import CHECKS, Bad, P, _call_tensor, _case_list, _get, _learning_problem, _tensor_problem, student_verdict


@CHECKS.verdict("head.shapes", probe="head_shapes", description="output [B, C+4, H, W]")
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


@CHECKS.verdict("head.value_ranges", probe="head_outputs", description="class probabilities and offsets in [0, 1]")
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


@CHECKS.verdict("head.independent_classes", probe="head_outputs",
                description="class probabilities independent per class (no softmax over classes)")
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
        return failed(f"with C=1 the class channel is the constant {float(one.mean()):.6g}: it must depend on the "
                      "input")
    return passed("class probabilities are independent per class (they do not sum to 1; C=1 is not constant)")


@CHECKS.verdict("head.learnable", probe="head_learnable",
                description="every output group depends on learnable parameters and on the input")
@student_verdict
def verdict_head_learnable(actual: Mapping, expected: Optional[Mapping] = None) -> Verdict:
    problems = []
    b, _, h, w = P.HEAD_LEARNABLE["input_shape"]
    for i, (name, (lo, hi)) in enumerate(P.HEAD_GROUPS.items()):
        what = f"CenterNetHead(8, 2) on [{b}, 8, {h}, {w}], {name} channels {lo}..{hi - 1}"
        want = [b, hi - lo, h, w]

        def shape_ok(shape, want=want):
            if shape == want:
                return None
            return f"expected the output [{b}, 6, {h}, {w}] (this group: {want}), got {shape}"

        problems.append(_learning_problem(what, _get(actual, name, what), shape_ok, P.HEAD_LEARNABLE["input_shape"],
                                          34 + i, f"{name} channels"))
    return verdict_from(problems, "class, offset and size channels all learnable and input-dependent")


# A sigmoid head trained towards 'no object' ends far below this (measured: 0.01-0.21 over secret
# draws, PyTorch's default init included); a softmax over the 2 classes cannot go below 0.5.
HEAD_BACKGROUND_MAX = 0.4


@CHECKS.verdict("head.can_predict_background", probe="head_background",
                description="a few optimiser steps can drive every class probability towards 0", differential=True)
@student_verdict
def verdict_head_background(actual: Mapping, expected: Optional[Mapping]) -> Verdict:
    assert expected is not None  # differential: the engine always passes the reference's output
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
