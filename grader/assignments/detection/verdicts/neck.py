"""Verdicts of the Neck (FPN): structure, top-down path, layers and values against the FPN formula."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from grader.core.api import Verdict, compare_tensors, failed, passed, verdict_from

from .common import CHECKS, P, _shaped

NECK_IN = [40, 24, 12]
NECK_OUT = 16
NECK_SIZES = [(3, 4), (6, 8), (12, 16)]


@CHECKS.verdict("neck.structure", probe="neck_structure",
                description="FPN: output shapes and order, top-down dependencies, 1x1 lateral and 3x3 output convs")
@_shaped({"shapes": None, "depends": None, "convs": None, "other_param_layers": None, "values": None,
          "role_problem": None})
def verdict_neck_structure(actual, expected) -> Verdict:
    want_shapes = [[2, NECK_OUT, h, w] for h, w in reversed(NECK_SIZES)]
    if actual["shapes"] != want_shapes:
        if actual["shapes"] == want_shapes[::-1]:
            return failed(f"outputs are deepest first {actual['shapes']}; return [P3, P4, P5], shallowest first")
        return failed(f"output shapes {actual['shapes']}, expected {want_shapes} ([P3, P4, P5] for inputs "
                      f"[C5, C4, C3] of sizes {NECK_SIZES})")
    # depends[k][j]: output k (P3, P4, P5) depends on input j (C5, C4, C3)
    want = [[True, True, True], [True, True, False], [True, False, False]]
    names_out, names_in = ["P3", "P4", "P5"], ["C5", "C4", "C3"]
    problems = []
    for k in range(3):
        for j in range(3):
            if actual["depends"][k][j] != want[k][j]:
                if want[k][j]:
                    hint = " (the top-down path: upsample the deeper merged map and add it to the lateral)"
                    problems.append(f"{names_out[k]} does not depend on {names_in[j]}{hint}")
                else:
                    problems.append(f"{names_out[k]} depends on {names_in[j]}: an FPN has no bottom-up path")
    convs = sorted(tuple(c) for c in actual["convs"])
    want_convs = sorted([(1, 1, c, NECK_OUT) for c in NECK_IN] + [(3, 3, NECK_OUT, NECK_OUT)] * 3)
    if convs != want_convs:
        problems.append(f"convolutions (kernel h, w, in, out) {convs}, expected {want_convs}: one 1x1 lateral "
                        f"per level and one 3x3 output conv per level")
    if actual["other_param_layers"]:
        problems.append(f"layers with parameters besides the convolutions: {actual['other_param_layers']}")
    # what passes the check: the values, on the public inputs with every conv set by its role (rebuilt
    # here); the dependencies and the convolutions reported above only explain a failure
    values = actual.get("values")
    if values is None:
        problems.append(f"the convolutions cannot be given the FPN's roles: {actual.get('role_problem', '')}")
    else:
        problem = _fpn_problem(values, P._neck_inputs(), P.neck_role_weights())
        if problem:
            problems.append(f"with your convolutions' weights set to known values, the outputs differ from "
                            f"P_i = conv3x3(lateral_i(C_i) + upsample(M_(i+1))): {problem}")
    return verdict_from(problems, "shapes, order, top-down path, layers and values are right")


def _fpn_problem(outputs, inputs, weights) -> str | None:
    """None when ``outputs`` equal the FPN formula (nearest, nearest-exact or bilinear upsampling;
    every conv with its bias, or none with a bias), else the first difference."""
    if not isinstance(outputs, (list, tuple)) or len(outputs) != 3 or not all(isinstance(o, torch.Tensor)
                                                                             for o in outputs):
        return "expected 3 output tensors [P3, P4, P5]"
    unbiased = {role: {"weight": w["weight"], "bias": torch.zeros_like(w["bias"])} for role, w in weights.items()}
    first = None
    for ws in (weights, unbiased):
        for mode in ("nearest", "nearest-exact", "bilinear"):
            want = _fpn(inputs, ws, mode)
            problem = None
            for name, a, e in zip(("P3", "P4", "P5"), outputs, want):
                problem = problem or compare_tensors(name, a, e, atol=1e-4, rtol=1e-4)
            if problem is None:
                return None
            first = first or problem
    return first


def _fpn(inputs, weights, mode: str):
    merged, outs = None, []
    for level, x in enumerate(inputs):
        lat = F.conv2d(x, weights[f"lateral{level}"]["weight"], weights[f"lateral{level}"]["bias"])
        if merged is not None:
            kw = {} if mode.startswith("nearest") else {"align_corners": False}
            lat = lat + F.interpolate(merged, size=lat.shape[-2:], mode=mode, **kw)
        merged = lat
        outs.append(F.conv2d(lat, weights[f"output{level}"]["weight"], weights[f"output{level}"]["bias"], padding=1))
    return outs[::-1]


@CHECKS.verdict("neck.values", probe="neck_values",
                description="FPN: outputs equal the FPN formula with known weights", differential=True,
                structure="none")
@_shaped({"outputs": None})
def verdict_neck_values(actual, expected) -> Verdict:
    """The FPN formula on the reference's run of the probe (same secret seed, so the inputs and the
    weights by role the submission's probe set): what the submission reports about them is ignored."""
    outputs = actual.get("outputs") if isinstance(actual, dict) else None
    problem = _fpn_problem(outputs, expected["inputs"], expected["weights"])
    if problem is None:
        return passed("outputs equal the FPN formula on inputs and weights drawn for this run")
    return failed(f"with your convolutions' weights set to known values, the outputs differ from "
                  f"P_i = conv3x3(lateral_i(C_i) + upsample(M_(i+1))): {problem}")
