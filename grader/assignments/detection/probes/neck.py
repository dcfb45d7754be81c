"""Probes of the Neck (FPN): structure and dependencies, values with every convolution's weights
set by its role (public seeds, or the run's secret seed)."""

from __future__ import annotations

import math

import torch
from torch import nn

from .common import _mod, _seeded


NECK_IN = [40, 24, 12]       # C5, C4, C3 channels
NECK_OUT = 16
NECK_SIZES = [(3, 4), (6, 8), (12, 16)]   # C5, C4, C3 (H, W)


def _neck_inputs(batch: int = 2, g: torch.Generator | None = None) -> list[torch.Tensor]:
    """``[C5, C4, C3]`` of shapes ``(batch, NECK_IN[i], *NECK_SIZES[i])``."""
    g = g if g is not None else _seeded(7)
    return [torch.randn(batch, c, h, w, generator=g) for c, (h, w) in zip(NECK_IN, NECK_SIZES)]


def _as_list(x):
    if isinstance(x, torch.Tensor):
        return [x]
    return list(x)


def neck_structure(pkg) -> dict:
    """Output shapes and order; which output depends on which input; the convolutions (these
    three for the message only); the outputs with every conv's weights set by its role from
    public seeds (what the verdict judges)."""
    Neck = _mod(pkg, "neck").Neck
    torch.manual_seed(0)
    neck = Neck(list(NECK_IN), out_channels=NECK_OUT)
    inputs = [x.clone().requires_grad_(True) for x in _neck_inputs()]
    outputs = _as_list(neck(inputs))
    depends = []
    for k, out in enumerate(outputs):
        weight = torch.randn(out.shape, generator=_seeded(100 + k))
        grads = torch.autograd.grad((out * weight).sum(), inputs, retain_graph=True, allow_unused=True)
        depends.append([bool(g is not None and g.abs().sum() > 0) for g in grads])
    convs = [[int(m.kernel_size[0]), int(m.kernel_size[1]), int(m.in_channels), int(m.out_channels)]
             for m in neck.modules() if isinstance(m, nn.Conv2d)]
    other = sorted({type(m).__name__ for m in neck.modules() if any(True for _ in m.parameters(recurse=False))
                    and not isinstance(m, nn.Conv2d)})
    # values: the public role weights (the verdict recomputes the FPN on the same public inputs)
    try:
        _set_neck_weights(neck, _neck_inputs(), _public_role_generator)
        with torch.no_grad():
            values, role_problem = _as_list(neck(_neck_inputs())), ""
    except TypeError as exc:
        values, role_problem = None, str(exc)
    return {"shapes": [list(o.shape) for o in outputs], "depends": depends, "convs": convs,
            "other_param_layers": other, "values": values, "role_problem": role_problem}


def _public_role_generator(role: str) -> torch.Generator:
    level = int(role[-1])
    return _seeded(1000 + 10 * level + (0 if role.startswith("lateral") else 5))


def _role_weights(shape, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """The weight (``shape``) and bias (``shape[0]``) a convolution of a role gets."""
    w = torch.randn(shape, generator=g) / math.sqrt(math.prod(shape[1:]))
    b = torch.randn(shape[0], generator=g) * 0.1
    return w, b


def neck_role_weights(generator_for=_public_role_generator) -> dict:
    """The weights every role gets in a Neck(NECK_IN, NECK_OUT) (what the verdict recomputes the
    FPN with): ``{"lateral0": {"weight", "bias"}, ..., "output2": ...}``."""
    out = {}
    for level, c in enumerate(NECK_IN):
        for role, shape in ((f"lateral{level}", (NECK_OUT, c, 1, 1)), (f"output{level}", (NECK_OUT, NECK_OUT, 3, 3))):
            w, b = _role_weights(shape, generator_for(role))
            out[role] = {"weight": w, "bias": b}
    return out


def _set_neck_weights(neck: nn.Module, inputs, generator_for) -> dict:
    """Give every conv of the neck the weights of its role (1x1 lateral of level i: by its input
    channels; 3x3 output conv of level i: by the size of its input); TypeError when a conv has
    no role or two convs have the same one."""
    seen: dict[nn.Module, tuple] = {}
    def remember(mod, inp, out):
        seen.setdefault(mod, tuple(inp[0].shape[-2:]))

    hooks = [m.register_forward_hook(remember) for m in neck.modules() if isinstance(m, nn.Conv2d)]
    with torch.no_grad():
        neck(inputs)
    for h in hooks:
        h.remove()
    weights = {}
    with torch.no_grad():
        for m in neck.modules():
            if not isinstance(m, nn.Conv2d):
                continue
            k = m.kernel_size[0]
            if k == 1 and m.in_channels in NECK_IN:
                level = NECK_IN.index(m.in_channels)
                role = f"lateral{level}"
            elif k == 3 and m in seen and tuple(seen[m]) in [tuple(s) for s in NECK_SIZES]:
                level = [tuple(s) for s in NECK_SIZES].index(tuple(seen[m]))
                role = f"output{level}"
            else:
                raise TypeError(f"unexpected convolution in the neck: {m}")
            if role in weights:
                raise TypeError(f"two convolutions look like {role}: {m}")
            w, b = _role_weights(tuple(m.weight.shape), generator_for(role))
            m.weight.copy_(w)
            if m.bias is not None:
                m.bias.copy_(b)
            weights[role] = {"weight": w, "bias": b if m.bias is not None else torch.zeros(m.out_channels)}
    return weights


def neck_values(pkg, ctx) -> dict:
    """Set every conv's weights by its role from the run's secret seed, run on inputs drawn from
    it, return the inputs, the weights set and the outputs. The verdict recomputes the FPN from
    the *reference's* run of this probe (same seed, so the same inputs and weights)."""
    Neck = _mod(pkg, "neck").Neck
    torch.manual_seed(0)
    neck = Neck(list(NECK_IN), out_channels=NECK_OUT)
    inputs = _neck_inputs(g=ctx.generator("neck:inputs"))
    weights = _set_neck_weights(neck, inputs, lambda role: ctx.generator(f"neck:{role}"))
    with torch.no_grad():
        outputs = _as_list(neck(inputs))
    return {"inputs": inputs, "weights": weights, "outputs": outputs}
