"""Verdicts of UpscaleTwiceLayer."""

from __future__ import annotations

from typing import Mapping, Optional

import torch

from grader.core.api import Verdict, failed, passed, verdict_from

from .common import CHECKS, Bad, P, _call_tensor, _case_list, _learning_problem, student_verdict


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


@CHECKS.verdict("upscale.shapes", probe="upscale_shapes",
                description="output is exactly [B, Cout, 2H, 2W], odd H and W included")
@student_verdict
def verdict_upscale_shapes(actual: Mapping, expected: Optional[Mapping] = None) -> Verdict:
    return _upscale_cases_verdict(actual, P.UPSCALE_PUBLIC_CASES)


@CHECKS.verdict("upscale.learnable", probe="upscale_learnable",
                description="trainable parameters that receive gradients: one SGD step lowers a projection of the "
                            "output")
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


@CHECKS.verdict("upscale.more_shapes", probe="upscale_more_shapes",
                description="exact doubling on more sizes (1-pixel wide, odd, eval mode)", differential=True)
@student_verdict
def verdict_upscale_more_shapes(actual: Mapping, expected: Optional[Mapping]) -> Verdict:
    assert expected is not None  # differential: the engine always passes the reference's output
    # the secret sizes: from the reference's run (same seed), never from the worker's "case" fields
    return _upscale_cases_verdict(actual, [tuple(c["case"]) for c in expected["cases"]])
