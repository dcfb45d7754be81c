"""Probes of ObjectsToPoints: its helper classmethods and the given forward."""

from __future__ import annotations

import torch

from .common import _attempt, _int, _mod, _result, _value


def build_objects_hand() -> torch.Tensor:
    """Hand case [B=2, N=3, 6] (map pixels); rows (y, x, h, w, cls, confidence), padding all zero."""
    return torch.tensor([
        [[2.75, 1.25, 3.0, 4.0, 1.0, 1.0],
         [0.0, 4.5, 1.0, 1.5, 0.0, 1.0],
         [0.0, 0.0, 0.0, 0.0, 0.0, 0.0]],
        [[3.5, 0.75, 2.0, 2.5, 0.0, 1.0],
         [0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
         [0.0, 0.0, 0.0, 0.0, 0.0, 0.0]],
    ])


def draw_objects_random(g: torch.Generator) -> torch.Tensor:
    """[B=4, N=6, 6] on a hw x hw map (hw in 12..20): random centres, an integer centre, centres on
    the borders, two objects sharing a location and two a pixel, padding rows, and an image (3)
    with padding only."""
    b, n, hw = 4, 6, _int(g, 12, 20)
    objects = torch.zeros(b, n, 6)
    objects[:3, :, 0:2] = torch.rand(3, n, 2, generator=g) * hw
    objects[:3, :, 2:4] = torch.rand(3, n, 2, generator=g) * 10 + 0.5
    objects[:3, :, 4] = torch.randint(3, (3, n), generator=g).float()
    objects[:3, :, 5] = 1.0
    objects[0, 0, 0:2] = torch.tensor([float(_int(g, 1, hw - 2)), float(_int(g, 1, hw - 2))])  # offsets exactly 0
    objects[0, 1, 0:2] = torch.tensor([0.0, hw - 0.001])  # top and right borders
    objects[0, 2, 0:2] = torch.tensor([hw - 0.5, float(torch.rand(1, generator=g)) * 0.5])  # bottom and left
    objects[1, 1, 0:2] = objects[1, 0, 0:2]  # the same centre as row 0
    objects[1, 2, 0:2] = objects[1, 0, 0:2].floor() + torch.rand(2, generator=g) * 0.98 + 0.01  # same pixel
    objects[2, _int(g, 3, 5):] = 0.0  # padding rows
    return objects


def _plain_tuple(value):
    """A tuple/list of tensors as a list of plain tensors; anything else its type name."""
    if isinstance(value, (tuple, list)):
        return [_value(v) for v in value]
    return None


DEFAULT_HEATMAP_CASES = ((2, 5, 3), (1, 1, 1))  # (b, hw, c)


def o2p_default_heatmaps(pkg) -> dict:
    """create_default_heatmaps(b, hw, c) for (2, 5, 3) and (1, 1, 1)."""
    o2p = _mod(pkg, "convert").ObjectsToPoints
    return {"cases": [_value(o2p.create_default_heatmaps(b, hw, c)) for b, hw, c in DEFAULT_HEATMAP_CASES]}


def o2p_locations(pkg) -> dict:
    """compute_objects_locations on the hand case."""
    return _helpers_one(pkg, "locations", build_objects_hand())


def o2p_offsets(pkg) -> dict:
    """compute_objects_offsets on the hand case."""
    return _helpers_one(pkg, "offsets", build_objects_hand())


def o2p_sizes(pkg) -> dict:
    """compute_objects_sizes on the hand case."""
    return _helpers_one(pkg, "sizes", build_objects_hand())


def _helpers_one(pkg, name: str, objects: torch.Tensor) -> dict:
    o2p = _mod(pkg, "convert").ObjectsToPoints
    fn = {"locations": o2p.compute_objects_locations, "offsets": o2p.compute_objects_offsets,
          "sizes": o2p.compute_objects_sizes}[name]
    value, error = _attempt(lambda: fn(objects.clone()))
    return {name: {"error": error, "values": _plain_tuple(value) if error is None else None}}


def o2p_helpers_random(pkg, ctx) -> dict:
    """The three compute_* helpers on secret random objects with edge cases (borders, shared
    locations, padding, an empty image)."""
    objects = draw_objects_random(ctx.generator("o2p.helpers_random"))
    out = {}
    for name in ("locations", "offsets", "sizes"):
        out.update(_helpers_one(pkg, name, objects))
    return out


def build_gaussian_kernel(s: int) -> torch.Tensor:
    """``[s, s]`` gaussian (s = 2k+1 odd, the side, as ObjectsToPoints._gaussian_2d), sigma (k+1)/3, peak 1."""
    k = s // 2
    sigma = (k + 1) / 3
    r = torch.arange(-k, k + 1, dtype=torch.float32)
    return torch.exp(-(r[:, None] ** 2 + r[None, :] ** 2) / (2 * sigma**2))


def _with_box_channels(heat: torch.Tensor) -> torch.Tensor:
    """Class channels [B, C, H, W] -> the whole map [B, C+4, H, W] with dy, dx, h, w still zero, as
    the given forward passes it to smooth_points_heatmap (the original course's call)."""
    return torch.cat([heat, torch.zeros(heat.shape[0], 4, *heat.shape[2:])], dim=1)


def build_smooth_public() -> list:
    """Small smoothing cases: (name, points heatmap [B, C+4, H, W], kernel side S)."""
    single = torch.zeros(1, 1, 5, 5)
    single[0, 0, 2, 2] = 1.0  # one peak in the middle
    pair = torch.zeros(1, 1, 3, 5)
    pair[0, 0, 1, 1] = pair[0, 0, 1, 3] = 1.0  # two peaks 2 pixels apart: their gaussians overlap at (1, 2)
    corner = torch.zeros(1, 1, 4, 4)
    corner[0, 0, 0, 0] = 1.0  # a peak in the corner: the gaussian is cut by the border
    channels = torch.zeros(2, 2, 5, 5)
    channels[0, 0, 1, 1] = 1.0  # image 0, class 0
    channels[0, 1, 3, 3] = 1.0  # image 0, class 1: must not light up class 0
    channels[1, 1, 2, 1] = 1.0  # image 1, class 1 only
    return [(name, _with_box_channels(heat), 3)
            for name, heat in (("single", single), ("pair", pair), ("corner", corner), ("channels", channels))]


def draw_smooth_cases(g: torch.Generator) -> list:
    """Secret sparse peaks: C=3 with a 5x5 kernel (overlaps, borders), C=1 with 7x7, and a 1x1
    kernel; sizes drawn around 11x11, 9x9 and 6x6 (odd and even). Kernels are given by their side."""
    cases = []
    for name, (b, c, h, w), s in (("c3_s5", (2, 3, _int(g, 9, 12), _int(g, 9, 12)), 5),
                                  ("c1_s7", (1, 1, _int(g, 7, 10), _int(g, 7, 10)), 7),
                                  ("s1", (1, 2, _int(g, 5, 7), _int(g, 5, 7)), 1)):
        heat = (torch.rand(b, c, h, w, generator=g) < 0.08).float()
        heat[0, 0, 0, w - 1] = 1.0  # top-right corner
        heat[0, -1, h - 1, 1] = heat[0, -1, h - 1, 3] = 1.0  # bottom border, overlapping pair
        cases.append((name, _with_box_channels(heat), s))
    return cases


def call_smooth(o2p, heat: torch.Tensor, side: int):
    """``smooth_points_heatmap`` of the class under test on a whole ``[B, C+4, H, W]`` map with a
    ``side`` x ``side`` kernel (one place to adapt when the helper's calling convention changes)."""
    return o2p.smooth_points_heatmap(heat.clone(), build_gaussian_kernel(side))


def _smooth(pkg, cases, with_inputs: bool) -> dict:
    o2p = _mod(pkg, "convert").ObjectsToPoints
    out = {}
    for name, heat, s in cases:
        value, error = _attempt(lambda: call_smooth(o2p, heat, s))
        out[name] = _result(value, error)
        if with_inputs:
            out[name].update(heat=heat, k=s)
    return out


def o2p_smooth(pkg) -> dict:
    """smooth_points_heatmap on the small public cases."""
    return _smooth(pkg, build_smooth_public(), with_inputs=False)


def o2p_smooth_random(pkg, ctx) -> dict:
    """smooth_points_heatmap on secret sparse peaks (overlaps, borders, C=1, a 1x1 kernel); the
    cases are returned with the results (the verdict reads the reference's)."""
    return _smooth(pkg, draw_smooth_cases(ctx.generator("o2p.smooth_random")), with_inputs=True)


# Configurations of the given ObjectsToPoints.forward: (name, constructor kwargs, batch, objects per
# image, minimum distance between two objects of one class (so summed and max-merged gaussians agree)).
O2P_FORWARD_CONFIGS = [("c3_s5", dict(hw=12, num_classes=3, smooth_kernel_size=5), 3, 4, 5),
                       ("c1_s0", dict(hw=9, num_classes=1, smooth_kernel_size=0), 2, 3, 1)]


def draw_forward_objects(g: torch.Generator) -> list:
    """Secret cases for the given ObjectsToPoints.forward: (name, kwargs, objects in map pixels).

    Objects of one class are at least ``gap`` pixels apart (Chebyshev distance of their pixels),
    objects of different classes may be neighbours, no two objects share a pixel; one object sits
    on the bottom border (y = hw: clamped), one on a border column; the last image is empty.
    """
    cases = []
    for name, kwargs, b, n, gap in O2P_FORWARD_CONFIGS:
        hw, c = kwargs["hw"], kwargs["num_classes"]
        objects = torch.zeros(b, n, 6)
        for bi in range(b - 1):
            placed: list[tuple[int, int, int]] = []
            for tries in range(200):
                if len(placed) == n:
                    break
                if not placed:
                    # on the last row (the original course did not clamp y = hw)
                    y, x = hw - 0.01, float(torch.rand(1, generator=g)) * hw
                elif len(placed) == 1:
                    y, x = float(torch.rand(1, generator=g)) * hw, 0.0  # on the left border
                else:
                    y, x = (float(v) for v in torch.rand(2, generator=g) * hw)
                cls = _int(g, 0, c - 1)
                iy, ix = min(int(y), hw - 1), min(int(x), hw - 1)
                if any((iy, ix) == (py, px) or (cls == pc and max(abs(iy - py), abs(ix - px)) < gap)
                       for py, px, pc in placed):
                    continue
                placed.append((iy, ix, cls))
                h, w = (float(v) for v in torch.rand(2, generator=g) * 5 + 0.5)
                objects[bi, len(placed) - 1] = torch.tensor([y, x, h, w, float(cls), 1.0])
        cases.append((name, kwargs, objects))  # the last image: padding only
    return cases


def o2p_forward(pkg, ctx) -> dict:
    """The given ObjectsToPoints.forward (calls the helpers) on two configurations, secret objects."""
    o2p = _mod(pkg, "convert").ObjectsToPoints
    out = {}
    for name, kwargs, objects in draw_forward_objects(ctx.generator("o2p.forward")):
        value, error = _attempt(lambda: o2p(**kwargs)(objects.clone()))
        out[name] = _result(value, error)
    return out
