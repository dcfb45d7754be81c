"""Probes of HeadlessResnet34 (and the random torchvision resnet34 whose weights it loads)."""

from __future__ import annotations

import torch
from torch import nn

from .common import _attempt, _gen, _int, _mod, _odd, _plain, _result, _value


RESNET_SEED = 1234  # the public checks' weights (the hidden check draws its own from the context)
RESNET_FEATURE_INPUT = (2, 3, 64, 64)
RESNET_SHAPE_INPUTS = [RESNET_FEATURE_INPUT, (1, 3, 96, 32)]


def build_torchvision_resnet34(seed: int = RESNET_SEED, generator: torch.Generator | None = None) -> nn.Module:
    """A random torchvision resnet34 whose BatchNorms are not the identity.

    Built on the meta device and filled from a local generator (``generator``, else one seeded with
    ``seed``; fast, and independent of the order in which torchvision initialises): He-normal
    convolutions, random BatchNorm parameters and running statistics, so features in eval mode
    depend on where every BatchNorm sits.
    """
    import torchvision

    with torch.device("meta"):
        net = torchvision.models.resnet34(weights=None)
    net = net.to_empty(device="cpu")
    g = generator if generator is not None else _gen(seed)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.Conv2d):
                fan_out = m.out_channels * m.kernel_size[0] * m.kernel_size[1]
                m.weight.normal_(0.0, (2.0 / fan_out) ** 0.5, generator=g)
            elif isinstance(m, nn.BatchNorm2d):
                # torchvision's BatchNorm2d keeps running statistics (track_running_stats=True)
                assert m.running_mean is not None and m.running_var is not None
                assert m.num_batches_tracked is not None
                m.weight.uniform_(0.5, 1.2, generator=g)
                m.bias.normal_(0.0, 0.1, generator=g)
                m.running_mean.normal_(0.0, 0.1, generator=g)
                m.running_var.uniform_(0.8, 1.5, generator=g)
                m.num_batches_tracked.zero_()
            elif isinstance(m, nn.Linear):
                m.weight.zero_()
                m.bias.zero_()
    return net


def headless_state_dict(net: nn.Module) -> dict:
    """A torchvision resnet34's state_dict without fc.*."""
    return {k: v for k, v in net.state_dict().items() if not k.startswith("fc.")}


_TORCHVISION_STATE: dict = {}


def torchvision_resnet34_state_dict(seed: int = RESNET_SEED) -> dict:
    """The state_dict of build_torchvision_resnet34(seed) without fc.* (built once per process; read-only)."""
    if seed not in _TORCHVISION_STATE:
        _TORCHVISION_STATE[seed] = headless_state_dict(build_torchvision_resnet34(seed))
    return _TORCHVISION_STATE[seed]


def state_digest(state: dict) -> dict:
    """Per entry of a state_dict: its shape, the sum and the sum of squares of its values (float64).

    What a verdict compares to prove that a network holds given weights under given names, without
    shipping 21 million numbers."""
    out = {}
    for key, value in state.items():
        t = value.detach().double()
        out[key] = [list(value.shape), float(t.sum()), float((t * t).sum())]
    return out


def build_resnet_images(seed, shape) -> torch.Tensor:
    """Images in [-1, 1]; ``seed`` is an int or a ``torch.Generator``."""
    g = seed if isinstance(seed, torch.Generator) else _gen(seed)
    return torch.rand(*shape, generator=g) * 2 - 1


def _submission_resnet(pkg) -> nn.Module:
    """The submission's HeadlessResnet34 with all parameters and buffers zero.

    Built on the meta device and materialised (skips its random initialisation, which costs more than
    everything the probes do); falls back to a plain construction when the code cannot run on meta.
    Its weights are either replaced by torchvision's (load_state_dict) or only used for shapes.
    """
    cls = _mod(pkg, "backbone").HeadlessResnet34
    try:
        with torch.device("meta"):
            net = cls()
        net = net.to_empty(device="cpu")
    except NotImplementedError:
        raise
    except Exception:  # noqa: BLE001 - e.g. .item() on a meta tensor: build it the ordinary way
        net = cls()
    with torch.no_grad():
        for t in list(net.parameters()) + list(net.buffers()):
            t.zero_()
    return net


def _load_torchvision(net: nn.Module, state: dict):
    """Load torchvision's weights strictly; the error message when that fails, else None."""
    try:
        net.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        return str(exc)[:1500]
    return None


def resnet34_eval(pkg) -> dict:
    """HeadlessResnet34 with a random torchvision resnet34's weights (minus fc) loaded strictly:
    the digest of its state_dict afterwards (names, shapes, values), its outputs in eval mode
    (two input sizes), and its state_dict names (for the messages only)."""
    net = _submission_resnet(pkg)
    keys = {k: list(v.shape) for k, v in net.state_dict().items()}
    load_error = _load_torchvision(net, torchvision_resnet34_state_dict())
    net.eval()
    shapes = []
    for i, shape in enumerate(RESNET_SHAPE_INPUTS):
        with torch.no_grad():
            y, error = _attempt(lambda: net(build_resnet_images(21 + i, shape)))
        shapes.append({"input": list(shape), **_result(y, error)})
    return {"keys": keys, "load_error": load_error, "shapes": shapes,
            "digest": state_digest(net.state_dict()) if load_error is None else None}


def draw_resnet_train_input(g: torch.Generator) -> tuple:
    """A batch of 2 with odd sizes (H in 65..79, W in 33..63: features 3x2 or 2x1 and so on)."""
    return (2, 3, _odd(g, 65, 79), _odd(g, 33, 63))


def resnet34_train_mode(pkg, ctx) -> dict:
    """Secret torchvision weights, train mode (batch statistics), a secret odd input size: features
    and the gradient w.r.t. the input."""
    g = ctx.generator("resnet34.train_mode")
    state = headless_state_dict(build_torchvision_resnet34(generator=g))
    shape = draw_resnet_train_input(g)
    x = build_resnet_images(g, shape).requires_grad_(True)
    projection_seed = _int(g, 0, 2**31 - 1)
    net = _submission_resnet(pkg)
    load_error = _load_torchvision(net, state)
    if load_error is not None:  # the names, for the message only (one string: any structure matches)
        return {"load_error": load_error, "features": None, "input_grad": None,
                "key_names": ",".join(net.state_dict())}
    net.train()
    y = net(x)
    if not isinstance(y, torch.Tensor):
        return {"load_error": None, "features": _value(y), "input_grad": None, "key_names": None}
    projection = torch.randn(y.shape, generator=_gen(projection_seed))
    (y * projection).sum().backward()
    return {"load_error": None, "features": _plain(y), "input_grad": None if x.grad is None else _plain(x.grad),
            "key_names": None}
