"""Probes of UpscaleTwiceLayer."""

from __future__ import annotations

import torch

from .common import _attempt, _gen, _int, _mod, _odd, _result, _step_and_compare


# (in_channels, out_channels, batch, H, W); odd sizes included; the layer is built with the two
# positional arguments alone.
UPSCALE_PUBLIC_CASES = [(8, 4, 2, 4, 4), (8, 4, 2, 5, 7), (3, 5, 1, 1, 1), (4, 4, 2, 3, 8)]


def draw_upscale_cases(g: torch.Generator) -> list:
    """Hidden sizes: larger odd maps, a 2-row map, a 1-pixel-wide map, a larger odd square."""
    return [
        (_int(g, 8, 16), _int(g, 4, 8), 1, _odd(g, 7, 13), _odd(g, 7, 13)),
        (_int(g, 2, 4), _int(g, 2, 4), 3, 2, _odd(g, 9, 15)),
        (_int(g, 3, 6), 1, 1, _odd(g, 5, 9), 1),
        (_int(g, 4, 8), _int(g, 4, 8), 2, *([_odd(g, 11, 15)] * 2)),
    ]


def _upscale_cases(pkg, cases, eval_mode: bool, g: torch.Generator) -> dict:
    layer_cls = _mod(pkg, "backbone").UpscaleTwiceLayer
    out = []
    for cin, cout, b, h, w in cases:
        x = torch.randn(b, cin, h, w, generator=g)
        torch.manual_seed(0)
        layer = layer_cls(cin, cout)
        layer.train(not eval_mode)
        with torch.no_grad():
            y, error = _attempt(lambda: layer(x))
        out.append({"case": [cin, cout, b, h, w], **_result(y, error)})
    return {"cases": out}


def upscale_shapes(pkg) -> dict:
    """Outputs of UpscaleTwiceLayer(cin, cout) on even and odd sizes (train mode)."""
    return _upscale_cases(pkg, UPSCALE_PUBLIC_CASES, eval_mode=False, g=_gen(11))


def upscale_more_shapes(pkg, ctx) -> dict:
    """Secret sizes (odd, 1-pixel wide, larger), in eval mode."""
    g = ctx.generator("upscale.more_shapes")
    return _upscale_cases(pkg, draw_upscale_cases(g), eval_mode=True, g=g)


UPSCALE_LEARNABLE: dict = dict(cin=6, cout=3, input_shape=(2, 6, 5, 5), projection_seed=13, lr=0.05)


def upscale_learnable(pkg) -> dict:
    """UpscaleTwiceLayer(6, 3) in train mode: its output before and after one SGD step on its
    parameters (minimising a random projection of the output), and the gradient w.r.t. the input."""
    cfg = UPSCALE_LEARNABLE
    layer_cls = _mod(pkg, "backbone").UpscaleTwiceLayer
    torch.manual_seed(0)
    layer = layer_cls(cfg["cin"], cfg["cout"])
    base = torch.randn(*cfg["input_shape"], generator=_gen(12))

    def forward():
        x = base.clone().requires_grad_(True)
        return x, layer(x)

    return _step_and_compare(layer, forward, cfg["projection_seed"], cfg["lr"])
