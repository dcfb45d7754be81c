"""Verdicts of ObjectsToPoints: its helper classmethods and the given forward."""

from __future__ import annotations

from typing import Mapping, Optional

import torch

from grader.core.api import Verdict, compare_tensors, verdict_from

from .common import CHECKS, Bad, P, _call_tensor, _case_list, _close_to_any, _get, _tensor_problem, student_verdict


@CHECKS.verdict("o2p.default_heatmaps", probe="o2p_default_heatmaps",
                description="create_default_heatmaps gives zeros [b, c+4, hw, hw]")
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


@CHECKS.verdict("o2p.locations", probe="o2p_locations", description="compute_objects_locations on a hand-computed case")
@student_verdict
def verdict_locations(actual: Mapping, expected: Optional[Mapping] = None) -> Verdict:
    return _helper_verdict(actual, "locations", "compute_objects_locations(objects [2, 3, 6])", HAND_LOCATIONS,
                           torch.int64)


@CHECKS.verdict("o2p.offsets", probe="o2p_offsets", description="compute_objects_offsets on a hand-computed case")
@student_verdict
def verdict_offsets(actual: Mapping, expected: Optional[Mapping] = None) -> Verdict:
    return _helper_verdict(actual, "offsets", "compute_objects_offsets(objects [2, 3, 6])", HAND_OFFSETS, torch.float32)


@CHECKS.verdict("o2p.sizes", probe="o2p_sizes", description="compute_objects_sizes on a hand-computed case")
@student_verdict
def verdict_sizes(actual: Mapping, expected: Optional[Mapping] = None) -> Verdict:
    return _helper_verdict(actual, "sizes", "compute_objects_sizes(objects [2, 3, 6])", HAND_SIZES, torch.float32)


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
    problems: list[Optional[str]] = []
    for name, heat, s in cases:
        call = f"smooth_points_heatmap(points {list(heat.shape)}, kernel {s}x{s}) [case '{name}']"
        try:
            value = _call_tensor(call, _get(actual, name, call), list(heat.shape))
        except Bad as exc:
            problems.append(str(exc))
            continue
        kernel = P.build_gaussian_kernel(s)
        candidates = {"sum-merged": stamp_gaussians(heat, kernel, "sum"),
                      "max-merged": stamp_gaussians(heat, kernel, "max")}
        message = _close_to_any(call, value, candidates, atol=1e-5, rtol=1e-4)
        if message:
            message += (". As in the original course it receives and returns the whole map [B, C+4, H, W] (dy, dx, "
                        "h, w still zero); each class channel is convolved with the kernel on its own (same "
                        "padding, zeros outside the map; a grouped convolution with groups=C): channels must not mix")
        problems.append(message)
    return verdict_from(problems, "every channel smoothed on its own (sum or max of overlapping gaussians)")


@CHECKS.verdict("o2p.smooth", probe="o2p_smooth",
                description="smooth_points_heatmap on small cases (overlap: sum or max accepted)")
@student_verdict
def verdict_smooth(actual: Mapping, expected: Optional[Mapping] = None) -> Verdict:
    return _smooth_verdict(actual, P.build_smooth_public())


@CHECKS.verdict("o2p.helpers_random", probe="o2p_helpers_random",
                description="the compute_* helpers on random objects (borders, shared locations, padding)",
                differential=True)
@student_verdict
def verdict_helpers_random(actual: Mapping, expected: Optional[Mapping]) -> Verdict:
    assert expected is not None  # differential: the engine always passes the reference's output
    problems: list[Optional[str]] = []
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


@CHECKS.verdict("o2p.smooth_random", probe="o2p_smooth_random",
                description="smooth_points_heatmap on random peaks (C=1, kernel sizes 1, 5, 7)", differential=True)
@student_verdict
def verdict_smooth_random(actual: Mapping, expected: Optional[Mapping]) -> Verdict:
    assert expected is not None  # differential: the engine always passes the reference's output
    # the secret cases as the reference's run drew them (same seed), never the worker's copy
    return _smooth_verdict(actual, [(name, case["heat"], int(case["k"])) for name, case in expected.items()])


@CHECKS.verdict("o2p.forward", probe="o2p_forward",
                description="the given forward with your helpers (empty image, borders, no smoothing)",
                differential=True)
@student_verdict
def verdict_o2p_forward(actual: Mapping, expected: Optional[Mapping]) -> Verdict:
    assert expected is not None  # differential: the engine always passes the reference's output
    problems: list[Optional[str]] = []
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
