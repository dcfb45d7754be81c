"""Probes of the centernet assignment (worker side; see docs/CONVENTIONS.md).

Each probe exercises ONE graded component of the implementation under test and returns plain data
(tensors, numbers, strings, lists and dicts of those). Inputs come from the ``build_*`` functions
below: deterministic (a local ``torch.Generator`` with a fixed seed), so the parent rebuilds the very
same inputs for its verdicts instead of trusting what the worker sends back.

A probe never goes through another graded component: the loss probes call ``loss_fl``/``loss_l1``
on prepared tensors and give ``forward`` a fixed target builder; the PointsToObjects probes build
their input maps here; so a broken component never costs another component's points.

Imports: stdlib, torch, torchvision only. Never ``grader``, never ``reference``.
"""

from __future__ import annotations

import importlib

import torch
from torch import nn


def _mod(pkg, name: str):
    """A submodule of the package under test (``<pkg>.convert``)."""
    return importlib.import_module(f"{pkg.__name__}.{name}")


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _attempt(fn):
    """``(fn(), None)``, or ``(None, "TypeError: ...")`` when it raises. NotImplementedError propagates
    (the engine reports it as "not attempted")."""
    try:
        return fn(), None
    except NotImplementedError:
        raise
    except Exception as exc:  # noqa: BLE001 - reported by the verdict, with the case that raised
        return None, f"{type(exc).__name__}: {exc}"[:600]


def _plain(t: torch.Tensor) -> torch.Tensor:
    return t.detach().cpu().clone().contiguous()


def _describe(value) -> dict:
    """Shape, dtype and finiteness of a tensor-like result (anything else: its type name)."""
    if not isinstance(value, torch.Tensor):
        return {"type": type(value).__name__}
    return {"type": "Tensor", "shape": list(value.shape), "dtype": str(value.dtype),
            "finite": bool(torch.isfinite(value).all()) if value.is_floating_point() else True}


def _grad_norms(module: nn.Module) -> list:
    return [0.0 if p.grad is None else float(p.grad.detach().abs().sum()) for p in module.parameters() if p.requires_grad]


# ================================================================================================
# UpscaleTwiceLayer
# ================================================================================================

# (in_channels, out_channels, batch, H, W); odd sizes included; the layer is built with the two
# positional arguments alone.
UPSCALE_PUBLIC_CASES = [(8, 4, 2, 4, 4), (8, 4, 2, 5, 7), (3, 5, 1, 1, 1), (4, 4, 2, 3, 8)]
UPSCALE_HIDDEN_CASES = [(16, 8, 1, 9, 11), (2, 3, 3, 2, 13), (5, 1, 1, 7, 1), (6, 6, 2, 15, 15)]


def _upscale_cases(pkg, cases, eval_mode: bool) -> dict:
    layer_cls = _mod(pkg, "backbone").UpscaleTwiceLayer
    g = _gen(11)
    out = []
    for cin, cout, b, h, w in cases:
        x = torch.randn(b, cin, h, w, generator=g)
        torch.manual_seed(0)
        layer = layer_cls(cin, cout)
        layer.train(not eval_mode)
        with torch.no_grad():
            y, error = _attempt(lambda: layer(x))
        out.append({"case": [cin, cout, b, h, w], "error": error, **(_describe(y) if error is None else {})})
    return {"cases": out, "eval_mode": eval_mode}


def upscale_shapes(pkg) -> dict:
    """Output shapes of UpscaleTwiceLayer(cin, cout) on even and odd sizes (train mode)."""
    return _upscale_cases(pkg, UPSCALE_PUBLIC_CASES, eval_mode=False)


def upscale_more_shapes(pkg) -> dict:
    """More sizes (odd, 1-pixel wide, larger), in eval mode."""
    return _upscale_cases(pkg, UPSCALE_HIDDEN_CASES, eval_mode=True)


def upscale_learnable(pkg) -> dict:
    """Parameters of UpscaleTwiceLayer(6, 3) and the gradients a random projection of its output gives."""
    layer_cls = _mod(pkg, "backbone").UpscaleTwiceLayer
    g = _gen(12)
    torch.manual_seed(0)
    layer = layer_cls(6, 3)
    x = torch.randn(2, 6, 5, 5, generator=g).requires_grad_(True)
    y = layer(x)
    projection = torch.randn(y.shape, generator=g) if isinstance(y, torch.Tensor) else None
    if projection is not None:
        (y * projection).sum().backward()
    params = [p for p in layer.parameters() if p.requires_grad]
    return {
        "num_parameters": int(sum(p.numel() for p in params)),
        "param_grad_norms": _grad_norms(layer),
        "input_grad_norm": 0.0 if x.grad is None else float(x.grad.abs().sum()),
        "output": _describe(y),
    }


# ================================================================================================
# HeadlessResnet34
# ================================================================================================

RESNET_SEED = 1234
RESNET_FEATURE_INPUT = (2, 3, 64, 64)
RESNET_SHAPE_INPUTS = [RESNET_FEATURE_INPUT, (1, 3, 96, 32)]
RESNET_TRAIN_INPUT = (2, 3, 70, 45)  # odd sizes: 70x45 -> 3x2 features


def build_torchvision_resnet34(seed: int = RESNET_SEED) -> nn.Module:
    """A random torchvision resnet34 whose BatchNorms are not the identity.

    Built on the meta device and filled from a local generator (fast, and independent of the order
    in which torchvision initialises): He-normal convolutions, random BatchNorm parameters and
    running statistics, so features in eval mode depend on where every BatchNorm sits.
    """
    import torchvision

    with torch.device("meta"):
        net = torchvision.models.resnet34(weights=None)
    net = net.to_empty(device="cpu")
    g = _gen(seed)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.Conv2d):
                fan_out = m.out_channels * m.kernel_size[0] * m.kernel_size[1]
                m.weight.normal_(0.0, (2.0 / fan_out) ** 0.5, generator=g)
            elif isinstance(m, nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.2, generator=g)
                m.bias.normal_(0.0, 0.1, generator=g)
                m.running_mean.normal_(0.0, 0.1, generator=g)
                m.running_var.uniform_(0.8, 1.5, generator=g)
                m.num_batches_tracked.zero_()
            elif isinstance(m, nn.Linear):
                m.weight.zero_()
                m.bias.zero_()
    return net


_TORCHVISION_STATE: dict = {}


def torchvision_resnet34_state_dict(seed: int = RESNET_SEED) -> dict:
    """The state_dict of build_torchvision_resnet34 without fc.* (built once per process; read-only)."""
    if seed not in _TORCHVISION_STATE:
        state = build_torchvision_resnet34(seed).state_dict()
        _TORCHVISION_STATE[seed] = {k: v for k, v in state.items() if not k.startswith("fc.")}
    return _TORCHVISION_STATE[seed]


def build_resnet_images(seed: int, shape) -> torch.Tensor:
    return torch.rand(*shape, generator=_gen(seed)) * 2 - 1


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


def _load_torchvision(net: nn.Module):
    """Load torchvision's weights strictly; the error message when that fails, else None."""
    try:
        net.load_state_dict(torchvision_resnet34_state_dict(), strict=True)
    except RuntimeError as exc:
        return str(exc)[:1500]
    return None


def resnet34_eval(pkg) -> dict:
    """HeadlessResnet34: state_dict names and shapes; output shapes in eval mode; and, with a random
    torchvision resnet34's weights (minus fc) loaded strictly, the features of a batch."""
    net = _submission_resnet(pkg)
    keys = {k: list(v.shape) for k, v in net.state_dict().items()}
    load_error = _load_torchvision(net)
    net.eval()
    shapes = []
    features = None
    for i, shape in enumerate(RESNET_SHAPE_INPUTS):
        with torch.no_grad():
            y, error = _attempt(lambda: net(build_resnet_images(21 + i, shape)))
        shapes.append({"input": list(shape), "error": error, **(_describe(y) if error is None else {})})
        if i == 0 and load_error is None and isinstance(y, torch.Tensor):
            features = _plain(y)
    return {"keys": keys, "shapes": shapes, "load_error": load_error, "features": features}


def resnet34_train_mode(pkg) -> dict:
    """Same weights, train mode (batch statistics), odd input size: features and input gradient."""
    net = _submission_resnet(pkg)
    load_error = _load_torchvision(net)
    if load_error is not None:
        return {"load_error": load_error}
    net.train()
    x = build_resnet_images(23, RESNET_TRAIN_INPUT).requires_grad_(True)
    y = net(x)
    if not isinstance(y, torch.Tensor):
        return {"load_error": None, "features": None, "output": _describe(y)}
    projection = torch.randn(y.shape, generator=_gen(24))
    (y * projection).sum().backward()
    return {"load_error": None, "features": _plain(y), "input_grad": _plain(x.grad), "output": _describe(y)}


# ================================================================================================
# CenterNetHead
# ================================================================================================

def build_head_input(seed: int, shape, scale: float = 3.0) -> torch.Tensor:
    return torch.randn(*shape, generator=_gen(seed)) * scale


# (k_in_channels or None for the default 64, c_classes or None for the default 2, input shape)
HEAD_SHAPE_CASES = [(16, 3, (2, 16, 5, 7)), (None, None, (1, 64, 8, 8)), (8, 1, (2, 8, 6, 6))]


def _make_head(pkg, k, c):
    head_cls = _mod(pkg, "head").CenterNetHead
    torch.manual_seed(0)
    kwargs = {}
    if k is not None:
        kwargs["k_in_channels"] = k
    if c is not None:
        kwargs["c_classes"] = c
    return head_cls(**kwargs)


def head_shapes(pkg) -> dict:
    """Output shapes of CenterNetHead for C = 3, the defaults (K=64, C=2) and C = 1."""
    out = []
    for i, (k, c, shape) in enumerate(HEAD_SHAPE_CASES):
        head = _make_head(pkg, k, c)
        with torch.no_grad():
            y, error = _attempt(lambda: head(build_head_input(30 + i, shape)))
        out.append({"k": k, "c": c, "input": list(shape), "error": error, **(_describe(y) if error is None else {})})
    return {"cases": out}


def head_outputs(pkg) -> dict:
    """Raw outputs of CenterNetHead(8, C) for C = 3 and C = 1 on inputs of a large spread."""
    out = {}
    for c, seed in ((3, 31), (1, 32)):
        head = _make_head(pkg, 8, c)
        with torch.no_grad():
            y = head(build_head_input(seed, (2, 8, 9, 9), scale=4.0))
        out[f"c{c}"] = _plain(y) if isinstance(y, torch.Tensor) else None
        out[f"c{c}_output"] = _describe(y)
    return out


def head_learnable(pkg) -> dict:
    """Gradients of a random projection of each output group (classes, offsets, sizes) w.r.t. the
    head's parameters and input."""
    c = 2
    groups = {"class": slice(0, c), "offset": slice(c, c + 2), "size": slice(c + 2, c + 4)}
    out = {"groups": {}}
    for i, (name, channels) in enumerate(groups.items()):
        head = _make_head(pkg, 8, c)
        x = build_head_input(33, (2, 8, 6, 6)).requires_grad_(True)
        y = head(x)
        out["output"] = _describe(y)
        if not isinstance(y, torch.Tensor) or y.dim() != 4 or y.shape[1] != c + 4:
            return out
        projection = torch.randn(y[:, channels].shape, generator=_gen(34 + i))
        (y[:, channels] * projection).sum().backward()
        out["groups"][name] = {
            "num_parameters": int(sum(p.numel() for p in head.parameters() if p.requires_grad)),
            "param_grad": float(sum(_grad_norms(head))),
            "input_grad": 0.0 if x.grad is None else float(x.grad.abs().sum()),
        }
    return out


HEAD_BACKGROUND_STEPS = 30


def head_background(pkg) -> dict:
    """Train CenterNetHead(8, 2) for a few Adam steps to say "no object" everywhere (minimise the
    mean class probability); report the class probabilities before and after."""
    head = _make_head(pkg, 8, 2)
    x = build_head_input(35, (1, 8, 6, 6), scale=1.0)
    optimizer = torch.optim.Adam(head.parameters(), lr=0.1)
    with torch.no_grad():
        start = head(x)[:, :2]
    for _ in range(HEAD_BACKGROUND_STEPS):
        optimizer.zero_grad()
        head(x)[:, :2].mean().backward()
        optimizer.step()
    with torch.no_grad():
        end = head(x)[:, :2]
    return {"start": _plain(start), "end": _plain(end), "steps": HEAD_BACKGROUND_STEPS}


# ================================================================================================
# CenterNetLoss
# ================================================================================================

def build_focal_hand() -> dict:
    """Hand-computed focal-loss case: B=2, C=1, H=1, W=3 (see checks.py for the arithmetic)."""
    predict = torch.tensor([[[[0.5, 0.5, 0.25]]], [[[0.5, 0.125, 0.0]]]])
    target = torch.tensor([[[[1.0, 0.5, 0.0]]], [[[0.0, 0.75, 0.0]]]])
    return {"predict": predict, "target": target}


def build_focal_exact() -> dict:
    """Predictions exactly 0 or 1. Image 0: the "right" extremes (1 at the centre, 0 elsewhere): the
    loss is 0. Image 1: the "wrong" extremes (0 at the centre, 1 elsewhere): the true loss is +inf; a
    clamped logarithm keeps it finite."""
    predict = torch.tensor([[[[1.0, 0.0, 0.0]]], [[[0.0, 1.0, 1.0]]]])
    target = torch.tensor([[[[1.0, 0.5, 0.0]]], [[[1.0, 0.5, 0.0]]]])
    return {"predict": predict, "target": target}


def build_heat_targets(seed: int, b: int, c: int, hw: int, peaks_per_image) -> torch.Tensor:
    """Target class heatmaps: exact 1 at a few centres, a gaussian around them (values in (0, 1)),
    0 far away. Built here, independent of the submission's ObjectsToPoints."""
    g = _gen(seed)
    heat = torch.zeros(b, c, hw, hw)
    r = torch.arange(hw, dtype=torch.float32)
    for bi in range(b):
        for _ in range(peaks_per_image[bi]):
            ci = int(torch.randint(c, (1,), generator=g))
            y, x = (int(v) for v in torch.randint(hw, (2,), generator=g))
            blob = torch.exp(-((r[:, None] - y) ** 2 + (r[None, :] - x) ** 2) / 2.0)
            heat[bi, ci] = torch.maximum(heat[bi, ci], blob * 0.999)
            heat[bi, ci, y, x] = 1.0
    return heat


def build_focal_random() -> dict:
    """B=3, C=2, 7x7: a busy image, a quiet one, one with no object; predictions in (0.05, 0.95)."""
    target = build_heat_targets(40, 3, 2, 7, peaks_per_image=[4, 1, 0])
    predict = torch.rand(target.shape, generator=_gen(41)) * 0.9 + 0.05
    return {"predict": predict, "target": target}


def build_focal_benign_exact() -> dict:
    """Random case where predictions are exactly 1 at every centre and exactly 0 at some negatives:
    the true loss is finite, and every clamped implementation agrees with it."""
    case = build_focal_random()
    predict, target = case["predict"].clone(), case["target"]
    predict[target == 1] = 1.0
    zero = torch.rand(target.shape, generator=_gen(42)) < 0.3
    predict[zero & (target < 1)] = 0.0
    return {"predict": predict, "target": target}


def _loss_module(pkg):
    return _mod(pkg, "loss").CenterNetLoss()


def _focal(loss, case, **kwargs):
    predict = case["predict"].clone().requires_grad_(True)
    value = loss.loss_fl(predict, case["target"].clone(), **kwargs)
    result = {"value": _plain(value) if isinstance(value, torch.Tensor) else value, "output": _describe(value)}
    if isinstance(value, torch.Tensor) and value.requires_grad:
        value.sum().backward()
        result["grad"] = None if predict.grad is None else _plain(predict.grad)
    else:
        result["grad"] = None
    return result


def loss_focal_hand(pkg) -> dict:
    """loss_fl on the hand-computed case, with the default exponents and with alpha=1, beta=2."""
    loss = _loss_module(pkg)
    case = build_focal_hand()
    return {"default": _focal(loss, case), "alpha1_beta2": _focal(loss, case, alpha=1, beta=2)}


def loss_focal_exact(pkg) -> dict:
    """loss_fl with predictions exactly 0 or 1: values and gradients."""
    return {"exact": _focal(_loss_module(pkg), build_focal_exact())}


def loss_focal_random(pkg) -> dict:
    """loss_fl on random heatmaps (default and alpha=3, beta=2) and on exact 0/1 predictions where
    the loss is finite; values and gradients."""
    loss = _loss_module(pkg)
    return {
        "default": _focal(loss, build_focal_random()),
        "alpha3_beta2": _focal(loss, build_focal_random(), alpha=3, beta=2),
        "benign_exact": _focal(loss, build_focal_benign_exact()),
    }


def build_l1_hand() -> dict:
    """Hand-computed L1 case, B=3, 2 channels, 2x2 maps (see checks.py for the arithmetic).

    Everywhere except the listed pixels predict = 7 and target = 0, so a loss that also counts
    pixels without a real object is off by 7 per channel and pixel.
    """
    predict = torch.full((3, 2, 2, 2), 7.0)
    target = torch.zeros(3, 2, 2, 2)
    mask = torch.zeros(3, 1, 2, 2, dtype=torch.bool)
    # image 0: one object at (0, 1)
    mask[0, 0, 0, 1] = True
    predict[0, :, 0, 1] = torch.tensor([0.5, 2.0])
    target[0, :, 0, 1] = torch.tensor([0.25, 3.0])
    # image 1: objects at (0, 0) and (1, 1)
    mask[1, 0, 0, 0] = True
    predict[1, :, 0, 0] = torch.tensor([1.0, 0.0])
    target[1, :, 0, 0] = torch.tensor([0.5, 2.0])
    mask[1, 0, 1, 1] = True
    predict[1, :, 1, 1] = torch.tensor([3.0, 0.5])
    target[1, :, 1, 1] = torch.tensor([1.0, 0.5])
    # image 2: no object at all
    return {"predict": predict, "target": target, "mask": mask}


def build_l1_random() -> dict:
    """B=3, 2 channels, 9x9: a few real-object pixels in images 0 and 1, none in image 2."""
    g = _gen(50)
    predict = torch.randn(3, 2, 9, 9, generator=g) * 3
    target = torch.randn(3, 2, 9, 9, generator=g) * 3
    mask = torch.rand(3, 1, 9, 9, generator=g) < 0.08
    mask[2] = False
    mask[0, 0, 0, 0] = True  # a corner
    mask[1, 0, 8, 8] = True  # the opposite corner
    return {"predict": predict, "target": target, "mask": mask}


def _l1(loss, case):
    predict = case["predict"].clone().requires_grad_(True)
    value = loss.loss_l1(predict, case["target"].clone(), case["mask"].clone())
    result = {"value": _plain(value) if isinstance(value, torch.Tensor) else value, "output": _describe(value)}
    if isinstance(value, torch.Tensor) and value.requires_grad:
        value.sum().backward()
    result["grad"] = None if predict.grad is None else _plain(predict.grad)
    return result


def loss_l1_hand(pkg) -> dict:
    """loss_l1 on the hand-computed case."""
    return {"l1": _l1(_loss_module(pkg), build_l1_hand())}


def loss_l1_random(pkg) -> dict:
    """loss_l1 on random maps with a sparse object mask (one image without objects); with gradients."""
    return {"l1": _l1(_loss_module(pkg), build_l1_random())}


class FixedTargets(nn.Module):
    """Stands in for ObjectsToPoints in CenterNetLoss: returns prepared target points, so the loss
    probes do not depend on the submission's converter."""

    def __init__(self, points: torch.Tensor):
        super().__init__()
        self.points = points

    def forward(self, objects: torch.Tensor) -> torch.Tensor:
        return self.points.clone().to(objects)


def build_loss_forward() -> dict:
    """Predictions [3, 2+4, 8, 8], target objects [3, 4, 6] (image pixels; image 2 has none) and the
    target points those objects give (built here: exact 1 at each centre, a gaussian around it)."""
    b, c, hw, r = 3, 2, 8, 4
    rows = {0: [(2.25, 5.5, 3.0, 2.0, 0), (6.75, 1.25, 1.5, 4.0, 1)], 1: [(4.5, 4.5, 2.0, 2.0, 1)], 2: []}
    objects = torch.zeros(b, 4, 6)
    points = torch.zeros(b, c + 4, hw, hw)
    ramp = torch.arange(hw, dtype=torch.float32)
    for bi, objs in rows.items():
        for n, (y, x, h, w, cls) in enumerate(objs):
            objects[bi, n] = torch.tensor([y * r, x * r, h * r, w * r, cls, 1.0])
            iy, ix = int(y), int(x)
            blob = torch.exp(-((ramp[:, None] - iy) ** 2 + (ramp[None, :] - ix) ** 2) / 2.0) * 0.999
            points[bi, cls] = torch.maximum(points[bi, cls], blob)
            points[bi, cls, iy, ix] = 1.0
            points[bi, c:, iy, ix] = torch.tensor([y - iy, x - ix, h, w])
    g = _gen(60)
    pred = torch.cat([torch.rand(b, c, hw, hw, generator=g) * 0.9 + 0.05,
                      torch.rand(b, 2, hw, hw, generator=g),
                      torch.rand(b, 2, hw, hw, generator=g) * 5], dim=1)
    return {"pred": pred, "objects": objects, "points": points}


def loss_forward(pkg) -> dict:
    """The given CenterNetLoss.forward ([B, 3]) with the prepared targets (no ObjectsToPoints)."""
    case = build_loss_forward()
    loss = _mod(pkg, "loss").CenterNetLoss(obj_to_points=FixedTargets(case["points"]))
    with torch.no_grad():
        value = loss(case["pred"].clone(), case["objects"].clone())
    return {"value": _plain(value) if isinstance(value, torch.Tensor) else None, "output": _describe(value)}


# ================================================================================================
# ObjectsToPoints (its helper classmethods)
# ================================================================================================

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


def build_objects_random() -> torch.Tensor:
    """[B=4, N=6, 6] on a 16x16 map: random centres, integer centres, centres on the borders, two
    objects sharing a location, padding rows, and an image (3) with padding only."""
    g = _gen(70)
    b, n, hw = 4, 6, 16
    objects = torch.zeros(b, n, 6)
    objects[:3, :, 0:2] = torch.rand(3, n, 2, generator=g) * hw
    objects[:3, :, 2:4] = torch.rand(3, n, 2, generator=g) * 10 + 0.5
    objects[:3, :, 4] = torch.randint(3, (3, n), generator=g).float()
    objects[:3, :, 5] = 1.0
    objects[0, 0, 0:2] = torch.tensor([5.0, 9.0])  # integer centre: offsets exactly 0
    objects[0, 1, 0:2] = torch.tensor([0.0, 15.999])  # top and right borders
    objects[0, 2, 0:2] = torch.tensor([15.5, 0.25])  # bottom and left borders
    objects[1, 1, 0:2] = objects[1, 0, 0:2]  # the same centre as row 0
    objects[1, 2, 0:2] = objects[1, 0, 0:2].floor() + torch.tensor([0.9, 0.05])  # same pixel
    objects[2, 4:] = 0.0  # padding rows
    return objects


def _plain_tuple(value):
    """A tuple/list of tensors as a list of plain tensors; anything else described."""
    if isinstance(value, (tuple, list)):
        return [_plain(v) if isinstance(v, torch.Tensor) else {"type": type(v).__name__} for v in value]
    return {"type": type(value).__name__}


def o2p_default_heatmaps(pkg) -> dict:
    """create_default_heatmaps(b, hw, c) for (2, 5, 3) and (1, 1, 1)."""
    o2p = _mod(pkg, "convert").ObjectsToPoints
    out = []
    for b, hw, c in ((2, 5, 3), (1, 1, 1)):
        value = o2p.create_default_heatmaps(b, hw, c)
        out.append({"args": [b, hw, c], "value": _plain(value) if isinstance(value, torch.Tensor) else None,
                    "output": _describe(value)})
    return {"cases": out}


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


def o2p_helpers_random(pkg) -> dict:
    """The three compute_* helpers on random objects with edge cases (borders, shared locations,
    padding, an empty image)."""
    out = {}
    for name in ("locations", "offsets", "sizes"):
        out.update(_helpers_one(pkg, name, build_objects_random()))
    return out


def build_gaussian_kernel(k: int) -> torch.Tensor:
    """``[2k+1, 2k+1]`` gaussian, sigma (k+1)/3, peak 1 (the formula of the assignment)."""
    if k == 0:
        return torch.ones(1, 1)
    sigma = (k + 1) / 3
    r = torch.arange(-k, k + 1, dtype=torch.float32)
    return torch.exp(-(r[:, None] ** 2 + r[None, :] ** 2) / (2 * sigma**2))


def build_smooth_public() -> list:
    """Small smoothing cases: (name, points heatmap [B, C, H, W], K)."""
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
    return [("single", single, 1), ("pair", pair, 1), ("corner", corner, 1), ("channels", channels, 1)]


def build_smooth_hidden() -> list:
    """Random sparse peaks: C=3 with K=2 (overlaps, borders), C=1 with K=3, and K=0 (1x1 kernel)."""
    g = _gen(80)
    cases = []
    for name, (b, c, h, w), k in (("c3_k2", (2, 3, 11, 11), 2), ("c1_k3", (1, 1, 9, 9), 3), ("k0", (1, 2, 6, 6), 0)):
        heat = (torch.rand(b, c, h, w, generator=g) < 0.08).float()
        heat[0, 0, 0, w - 1] = 1.0  # top-right corner
        heat[0, -1, h - 1, 1] = heat[0, -1, h - 1, 3] = 1.0  # bottom border, overlapping pair
        cases.append((name, heat, k))
    return cases


def _smooth(pkg, cases) -> dict:
    o2p = _mod(pkg, "convert").ObjectsToPoints
    out = {}
    for name, heat, k in cases:
        value, error = _attempt(lambda: o2p.smooth_points_heatmap(heat.clone(), build_gaussian_kernel(k)))
        out[name] = {"error": error, "value": _plain(value) if isinstance(value, torch.Tensor) else None,
                     "output": _describe(value) if error is None else None}
    return out


def o2p_smooth(pkg) -> dict:
    """smooth_points_heatmap on the small public cases."""
    return _smooth(pkg, build_smooth_public())


def o2p_smooth_random(pkg) -> dict:
    """smooth_points_heatmap on random sparse peaks (overlaps, borders, C=1, a 1x1 kernel)."""
    return _smooth(pkg, build_smooth_hidden())


def build_forward_objects() -> list:
    """Cases for the given ObjectsToPoints.forward: (name, kwargs, objects in map pixels).

    Objects of one class are at least 2K+1 pixels apart, so summed and max-merged gaussians agree;
    objects of different classes may be neighbours. No two objects share a location.
    """
    wide = torch.zeros(3, 4, 6)
    wide[0, 0] = torch.tensor([2.3, 3.7, 4.0, 3.0, 0.0, 1.0])
    wide[0, 1] = torch.tensor([2.6, 4.2, 2.0, 5.0, 1.0, 1.0])  # class 1, next to the class-0 object
    wide[0, 2] = torch.tensor([9.5, 9.25, 1.0, 1.0, 0.0, 1.0])
    wide[0, 3] = torch.tensor([12.0, 0.0, 6.0, 2.0, 2.0, 1.0])  # on the bottom border (clamped) and the left one
    wide[1, 0] = torch.tensor([0.0, 11.9, 3.0, 3.0, 2.0, 1.0])  # top-right corner
    wide[1, 1] = torch.tensor([6.0, 6.0, 1.5, 2.5, 1.0, 1.0])  # integer centre
    # image 2: padding only (an empty image)
    one_class = torch.zeros(2, 3, 6)
    one_class[0, 0] = torch.tensor([4.4, 2.2, 3.0, 1.0, 0.0, 1.0])
    one_class[0, 1] = torch.tensor([0.1, 8.8, 2.0, 2.0, 0.0, 1.0])
    one_class[1, 0] = torch.tensor([8.99, 0.5, 1.0, 4.0, 0.0, 1.0])
    return [("c3_k2", dict(hw=12, num_classes=3, smooth_kernel_size=2), wide),
            ("c1_k0", dict(hw=9, num_classes=1, smooth_kernel_size=0), one_class)]


def o2p_forward(pkg) -> dict:
    """The given ObjectsToPoints.forward (calls the helpers) on two configurations."""
    o2p = _mod(pkg, "convert").ObjectsToPoints
    out = {}
    for name, kwargs, objects in build_forward_objects():
        value, error = _attempt(lambda: o2p(**kwargs)(objects.clone()))
        out[name] = {"error": error, "value": _plain(value) if isinstance(value, torch.Tensor) else None,
                     "output": _describe(value) if error is None else None}
    return out


# ================================================================================================
# PointsToObjects
# ================================================================================================

def build_points_hand() -> torch.Tensor:
    """Hand case [B=1, C=2+4, 3, 3] (see checks.py for the expected rows).

    Class 1 scores 0.9 at (2, 1), class 0 scores 0.6 at (0, 2); the other 16 class scores are
    distinct values below 0.02 (all below min_confidence = 0.1).
    """
    points = torch.zeros(1, 6, 3, 3)
    points[0, :2] = (torch.arange(1, 19, dtype=torch.float32) * 0.001).reshape(2, 3, 3)
    points[0, 1, 2, 1] = 0.9
    points[0, 0, 0, 2] = 0.6
    points[0, 2:, 2, 1] = torch.tensor([0.25, 0.5, 3.0, 4.0])  # dy, dx, h, w at (2, 1)
    points[0, 2:, 0, 2] = torch.tensor([0.75, 0.0, 1.5, 2.0])  # dy, dx, h, w at (0, 2)
    return points


def build_points_random(seed: int, b: int, c: int, h: int, w: int) -> torch.Tensor:
    """Tie-free points [B, C+4, H, W]: the C*H*W scores of an image are a permutation of
    (k + 0.25) / (C*H*W), so no two are equal and none equals a round threshold such as 0.5."""
    g = _gen(seed)
    n = c * h * w
    scores = torch.stack([torch.randperm(n, generator=g) for _ in range(b)]).float()
    scores = ((scores + 0.25) / n).reshape(b, c, h, w)
    dydx = torch.rand(b, 2, h, w, generator=g) * 0.9
    sizes = torch.rand(b, 2, h, w, generator=g) * 9 + 1
    return torch.cat([scores, dydx, sizes], dim=1)


def build_points_min_confidence() -> torch.Tensor:
    """B=1, C=1, 3x3: only 0.8 at (0, 0) and 0.6 at (2, 1) reach min_confidence = 0.5."""
    points = torch.zeros(1, 5, 3, 3)
    points[0, 0] = torch.tensor([[0.8, 0.1, 0.2], [0.3, 0.4, 0.45], [0.05, 0.6, 0.15]])
    points[0, 1:] = torch.rand(4, 3, 3, generator=_gen(90)) * 0.9 + 0.05
    return points


def build_round_trip() -> list:
    """(name, C, hw, objects [B, N, 6], K): distinct scores, distinct locations, borders included.
    The probe draws the objects onto maps itself (no smoothing), as ObjectsToPoints would."""
    a = torch.tensor([
        [[3.25, 4.5, 2.0, 3.0, 2.0, 0.95], [0.0, 8.99, 1.0, 5.0, 0.0, 0.9], [8.5, 0.0, 4.0, 4.0, 3.0, 0.7],
         [5.75, 5.75, 2.5, 1.5, 1.0, 0.4]],
        [[7.1, 2.6, 3.0, 3.0, 3.0, 0.85], [7.9, 3.3, 1.0, 2.0, 1.0, 0.6], [0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
         [0.0, 0.0, 0.0, 0.0, 0.0, 0.0]],
    ])
    b = torch.tensor([[[1.5, 2.5, 1.0, 1.0, 0.0, 0.55], [4.2, 0.6, 3.0, 2.0, 0.0, 0.8]]])
    return [("c4_9x9", 4, 9, a, 6), ("c1_5x5", 1, 5, b, 3)]


def draw_objects(objects: torch.Tensor, c: int, hw: int) -> torch.Tensor:
    """Objects -> points without smoothing: score = confidence at (cls, floor(y), floor(x))."""
    points = torch.zeros(objects.shape[0], c + 4, hw, hw)
    for bi in range(objects.shape[0]):
        for y, x, h, w, cls, conf in objects[bi].tolist():
            if conf > 0:
                iy, ix = int(y), int(x)
                points[bi, int(cls), iy, ix] = conf
                points[bi, c:, iy, ix] = torch.tensor([y - iy, x - ix, h, w])
    return points


def _decode(pkg, points: torch.Tensor, **kwargs) -> dict:
    p2o = _mod(pkg, "convert").PointsToObjects(**kwargs)
    with torch.no_grad():
        value, error = _attempt(lambda: p2o(points.clone()))
    return {"kwargs": kwargs, "error": error, "value": _plain(value) if isinstance(value, torch.Tensor) else None,
            "output": _describe(value) if error is None else None}


def p2o_hand(pkg) -> dict:
    """PointsToObjects(objects_per_image=3, min_confidence=0.1) on the hand case."""
    return {"hand": _decode(pkg, build_points_hand(), objects_per_image=3, min_confidence=0.1)}


P2O_PROPERTY_CASE = dict(seed=91, b=2, c=3, h=6, w=6)


def p2o_properties(pkg) -> dict:
    """PointsToObjects(objects_per_image=10, min_confidence=0.0) on random tie-free maps."""
    return {"random": _decode(pkg, build_points_random(**P2O_PROPERTY_CASE), objects_per_image=10, min_confidence=0.0)}


def p2o_min_confidence(pkg) -> dict:
    """PointsToObjects(objects_per_image=4, min_confidence=0.5): two rows above, two below."""
    return {"threshold": _decode(pkg, build_points_min_confidence(), objects_per_image=4, min_confidence=0.5)}


def build_p2o_random_cases() -> list:
    """(name, points, kwargs) for the differential check; image 2 of the first case has no score
    above min_confidence (an empty image)."""
    first = build_points_random(92, 3, 3, 7, 7)
    first[2, :3] *= 0.4  # every score of image 2 below 0.5
    return [("c3_7x7", first, dict(objects_per_image=8, min_confidence=0.5)),
            ("c1_5x5", build_points_random(93, 2, 1, 5, 5), dict(objects_per_image=20, min_confidence=0.2)),
            ("c2_8x8_default", build_points_random(94, 1, 2, 8, 8), dict())]


def p2o_random(pkg) -> dict:
    """PointsToObjects on random tie-free maps (an empty image, C=1, odd sizes, the defaults)."""
    return {name: _decode(pkg, points, **kwargs) for name, points, kwargs in build_p2o_random_cases()}


def p2o_round_trip(pkg) -> dict:
    """Objects drawn onto maps (by the probe) and decoded back."""
    return {name: _decode(pkg, draw_objects(objects, c, hw), objects_per_image=k, min_confidence=0.1)
            for name, c, hw, objects, k in build_round_trip()}


# ================================================================================================
# PointsNonMaxSuppression
# ================================================================================================

def build_nms_hand() -> torch.Tensor:
    """Hand case [B=1, C=2+4, 4, 4] (see checks.py for the expected maps).

    class 0: 0.9 at (1, 1), 0.5 at (1, 2), 0.3 at (3, 3)
    class 1: 0.7 at (1, 2), 0.2 at (2, 2)
    dy, dx, h, w: distinct non-zero values everywhere.
    """
    points = torch.zeros(1, 6, 4, 4)
    points[0, 0, 1, 1], points[0, 0, 1, 2], points[0, 0, 3, 3] = 0.9, 0.5, 0.3
    points[0, 1, 1, 2], points[0, 1, 2, 2] = 0.7, 0.2
    points[0, 2:] = torch.arange(1, 65, dtype=torch.float32).reshape(4, 4, 4) / 64
    return points


def build_nms_random(seed: int, b: int, c: int, h: int, w: int, plateau: bool = True) -> torch.Tensor:
    """Random scores in (0, 1) (no ties), plus a plateau of two equal neighbours (both are maxima)."""
    g = _gen(seed)
    points = torch.cat([torch.rand(b, c, h, w, generator=g), torch.rand(b, 2, h, w, generator=g),
                        torch.rand(b, 2, h, w, generator=g) * 9 + 1], dim=1)
    if plateau:
        points[0, 0, 2, 2] = points[0, 0, 2, 3] = 1.0  # rand() < 1: nothing around is larger
    return points


NMS_PROPERTY_CASE = dict(seed=100, b=2, c=3, h=8, w=8, plateau=False)


def _nms(pkg, points: torch.Tensor, kernel_size: int) -> dict:
    nms = _mod(pkg, "network").PointsNonMaxSuppression(kernel_size=kernel_size)
    with torch.no_grad():
        value, error = _attempt(lambda: nms(points.clone()))
    return {"kernel_size": kernel_size, "error": error,
            "value": _plain(value) if isinstance(value, torch.Tensor) else None,
            "output": _describe(value) if error is None else None}


def nms_hand(pkg) -> dict:
    """PointsNonMaxSuppression(3) on the hand case."""
    return {"hand": _nms(pkg, build_nms_hand(), 3)}


def nms_properties(pkg) -> dict:
    """PointsNonMaxSuppression(3) on random maps."""
    return {"random": _nms(pkg, build_nms_random(**NMS_PROPERTY_CASE), 3)}


def build_nms_random_cases() -> list:
    """(name, points, kernel_size): kernel 3, C=3, with a plateau."""
    return [("c3_9x9_k3", build_nms_random(101, 2, 3, 9, 9), 3)]


def build_nms_kernel_cases() -> list:
    """(name, points, kernel_size): C=1 with kernel 5 on 7x9 maps; kernel 1 (nothing is suppressed)."""
    return [("c1_7x9_k5", build_nms_random(102, 1, 1, 7, 9), 5),
            ("c2_5x5_k1", build_nms_random(103, 1, 2, 5, 5), 1)]


def nms_random(pkg) -> dict:
    """PointsNonMaxSuppression(3) on random maps with a plateau."""
    return {name: _nms(pkg, points, k) for name, points, k in build_nms_random_cases()}


def nms_kernel_sizes(pkg) -> dict:
    """PointsNonMaxSuppression(5) and (1) on random maps (C=1, 7x9)."""
    return {name: _nms(pkg, points, k) for name, points, k in build_nms_kernel_cases()}


# ================================================================================================
# --- training checks ---
# Worker side of the components "Training on TinyCoco" and "Full training". These probes train or
# run the whole network of the implementation under test with the COURSE'S given code (the loop
# and net factory of train.py, the loader of data.py: ``_given``), and send back raw data only:
# the loss curve and the raw head outputs on images the PARENT sends after training
# (``late_inputs``). The verdicts (training.py, parent side) decode and score those outputs
# themselves with the reference decoder, against annotations the parent reads itself.
#
# Data: TinyCoco is the folder $GRADER_TINYCOCO_DIR (the parent sets it: `grader run --data DIR`
# or the rubric's [training] data), else data/tinycoco under $GRADER_DATA_DIR / $COURSE_DATA_DIR /
# the first data/ above the package. Both layouts are read: the project's (annotations.json +
# images/) and the original course's (instances_*.json + one folder of images).
# ================================================================================================

import hashlib
import importlib.util
import os
import sys
import time
from pathlib import Path

# The TinyCoco training budget: in steps (never seconds), seeded (the seed is the grading run's
# secret ctx.seed when the engine passes a context). Every step is the whole set (batch 16: the
# BatchNorm statistics of training and evaluation agree). Measured margins: docs/TRAINING.md.
TRAINING_CONFIG = {"data": "tinycoco", "image_size": 64, "steps": 40, "batch_size": 16, "lr": 1e-3, "seed": 0}

# The bonus: the submission's trained weights (a state_dict of ``make_centernet(3)``, loadable with
# ``torch.load(..., weights_only=True)``) are run on the held-out CocoGen test images at this size.
BONUS_CONFIG = {"data": "generated/cocogen", "image_size": 128, "weights": "weights.pt", "num_classes": 3,
                "batch_size": 25, "max_images": 500}

# Amplitude of the uniform noise the parent adds to the evaluation images (late inputs): invisible
# to a trained net, but the images are no longer byte-equal to the files the worker can read.
LATE_NOISE = 1.0 / 255


def find_data(relative: str, pkg=None):
    """The path ``<data dir>/<relative>``, or None. The data dir is $GRADER_DATA_DIR, else
    $COURSE_DATA_DIR (when one is set, nothing else is looked at), else the first ``data/`` folder
    above the package or the current directory."""
    for var in ("GRADER_DATA_DIR", "COURSE_DATA_DIR"):
        if os.environ.get(var):
            path = Path(os.environ[var]) / relative
            return path if path.exists() else None
    starts = [Path.cwd().resolve()]
    if pkg is not None and getattr(pkg, "__file__", None):
        starts.insert(0, Path(pkg.__file__).resolve().parent)
    candidates = []
    for start in starts:
        candidates += [parent / "data" for parent in (start, *start.parents)]
    for base in candidates:
        if (base / relative).exists():
            return base / relative
    return None


class GraderDataMissing(RuntimeError):
    """The data a training probe needs is not there (a set-up problem of the grader's machine)."""


def tinycoco_layout(folder):
    """``(annotation file, image folder)`` of a TinyCoco folder, or None.

    Layouts: ``annotations.json`` + ``images/`` (this project), or one ``instances_*.json`` + one
    folder of images (the original course: ``instances_train2017_small.json`` + ``train_2017_small/``)."""
    folder = Path(folder)
    if (folder / "annotations.json").is_file() and (folder / "images").is_dir():
        return folder / "annotations.json", folder / "images"
    jsons = sorted(folder.glob("instances_*.json")) if folder.is_dir() else []
    dirs = sorted(d for d in folder.iterdir() if d.is_dir() and not d.name.startswith((".", "hidden"))) \
        if folder.is_dir() else []
    if len(jsons) == 1 and len(dirs) == 1:
        return jsons[0], dirs[0]
    return None


def tinycoco_folder(pkg=None, relative: str = TRAINING_CONFIG["data"]):
    """The TinyCoco folder: $GRADER_TINYCOCO_DIR, else ``<data dir>/tinycoco`` (find_data)."""
    if os.environ.get("GRADER_TINYCOCO_DIR"):
        return Path(os.environ["GRADER_TINYCOCO_DIR"])
    return find_data(relative, pkg)


def data_fingerprint(annotation_file, image_dir) -> str:
    """sha256 (16 hex digits) of the annotation file's bytes and of every image's name and size:
    the worker and the verdict each compute it, so a report can prove they read the same set."""
    h = hashlib.sha256(Path(annotation_file).read_bytes())
    for p in sorted(Path(image_dir).iterdir()):
        if p.is_file():
            h.update(f"{p.name}:{p.stat().st_size};".encode())
    return h.hexdigest()[:16]


def course_copy_dir():
    """The course's own copy of the given files, when this probe file runs inside a grader checkout
    (in-process runs): ``reference/centernet`` beside ``grader/``. None in the worker, where the
    sandbox has already put the course's given files into the submission."""
    here = Path(__file__).resolve()
    if len(here.parents) < 4 or here.parents[0].name != "centernet" or here.parents[1].name != "assignments":
        return None
    folder = here.parents[3] / "reference" / "centernet"
    return folder if (folder / "train.py").is_file() else None


def _given(pkg, name: str):
    """The given module ``name`` (``train`` or ``data``) as the course ships it, bound to ``pkg``.

    The course's file is executed as ``<pkg>._given_<name>`` so that its relative imports
    (``from .network import CenterNet``) use the package under test; the submission's own copy of the
    given file is not used (issue 9.5). Without a course copy (the worker: the sandbox replaced the
    given files already) the package's module."""
    folder = course_copy_dir()
    own = Path(getattr(pkg, "__file__", "") or ".").resolve().parent / f"{name}.py"
    if folder is None or (own.is_file() and own.samefile(folder / f"{name}.py")):
        return _mod(pkg, name)
    full = f"{pkg.__name__}._given_{name}"
    if full not in sys.modules:
        spec = importlib.util.spec_from_file_location(full, folder / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        module.__package__ = pkg.__name__
        sys.modules[full] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[full]
            raise
    return sys.modules[full]


def _training_history(history) -> dict:
    """What ``train`` returned, as plain lists (floats; NaN/Inf kept as they are)."""
    if not isinstance(history, dict):
        return {"type": type(history).__name__}
    out = {}
    for key in ("step", "loss", "lk", "loff", "lsize", "skipped"):
        values = history.get(key, [])
        try:
            out[key] = [int(v) for v in values] if key in ("step", "skipped") else [float(v) for v in values]
        except (TypeError, ValueError):
            out[key] = None
    return out


class NotGraded(Exception):
    """A component the training checks rest on breaks its contract: the checks are not graded."""


def _shape(value) -> str:
    return f"a tensor of shape {list(value.shape)}" if isinstance(value, torch.Tensor) else f"a {type(value).__name__}"


def _precheck(net, criterion, images, objects, num_classes: int) -> None:
    """The contracts the given loop relies on, on one batch, before training: the network's output
    ``[B, C+4, S/4, S/4]`` and the loss's per-image terms ``[B, 3]``. Raises NotGraded with the
    component to fix first (instead of a traceback from inside the given loop)."""
    b, s = images.shape[0], images.shape[-1]
    want = [b, num_classes + 4, s // 4, s // 4]
    try:
        with torch.no_grad():
            maps = net(images)
    except NotImplementedError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise NotGraded(f"CenterNet must run on a batch [B, 3, {s}, {s}] first: it raised "
                        f"{type(exc).__name__}: {str(exc)[:200]}") from None
    if not isinstance(maps, torch.Tensor) or list(maps.shape) != want:
        raise NotGraded(f"CenterNet must return [B, C+4, S/4, S/4] = {want} first (C = {num_classes} classes of "
                        f"this data set); it returned {_shape(maps)}")
    try:
        terms = criterion(maps, objects)
    except NotImplementedError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise NotGraded(f"CenterNetLoss must accept points {want} and objects {list(objects.shape)} first: it raised "
                        f"{type(exc).__name__}: {str(exc)[:200]}") from None
    if not isinstance(terms, torch.Tensor) or list(terms.shape) != [b, 3]:
        raise NotGraded(f"CenterNetLoss must return [B, 3] first (one row (lk, loff, lsize) per image; the given "
                        f"loop takes the batch mean itself); it returned {_shape(terms)}")


def default_late_inputs(images: torch.Tensor) -> dict:
    """The evaluation plan without a parent to ask (old engine, local calls): every image in order."""
    return {"token": None, "order": list(range(images.shape[0])), "images": images}


def build_late_inputs(images: torch.Tensor, rng: torch.Generator, noise: float = LATE_NOISE) -> dict:
    """PARENT side: the training images in a secret order, with secret uniform noise of +-``noise``.

    ``token`` names the plan, so the verdict finds what was sent (training.py keeps the plans)."""
    order = torch.randperm(images.shape[0], generator=rng).tolist()
    jitter = (torch.rand(images.shape, generator=rng) * 2 - 1) * noise
    sent = (images[order] + jitter[order]).clamp(0, 1).contiguous()
    token = int(torch.randint(1, 2**62, (1,), generator=rng))
    return {"token": token, "order": order, "images": sent}


def _late_inputs(ctx, images: torch.Tensor):
    """Adapter: the parent's evaluation inputs when the engine offers ``ctx.late_inputs()``, else
    the default plan. Returns ``(token, images [K, 3, S, S])``."""
    late = getattr(ctx, "late_inputs", None) if ctx is not None else None
    try:
        plan = late() if callable(late) else default_late_inputs(images)
    except RuntimeError as exc:  # a context without late inputs (local calls, calibration)
        if "no late inputs" not in str(exc):
            raise
        plan = default_late_inputs(images)
    sent = plan.get("images") if isinstance(plan, dict) else None
    if not isinstance(sent, torch.Tensor) or sent.dim() != 4:
        raise GraderDataMissing("the grader sent no evaluation images after training (a grader fault)")
    return plan.get("token"), sent.float()


def run_tinycoco_training(pkg, ctx=None, **overrides) -> dict:
    """Train the submission's network on TinyCoco with the course's given loop and factory; then
    return the loss curve and the raw head output ``[K, C+4, S/4, S/4]`` (eval mode) on the images
    the parent sends after training (``ctx.late_inputs()``; without a context: every training image).

    ``overrides`` change TRAINING_CONFIG (the calibration trains with other seeds, sets, budgets);
    ``data_dir`` names the TinyCoco folder. A broken contract of a component the loop rests on
    returns ``{"not_graded": reason}``."""
    cfg = {**TRAINING_CONFIG, **overrides}
    if ctx is not None and getattr(ctx, "seed", None) is not None and "seed" not in overrides:
        cfg["seed"] = int(ctx.seed) % (2**31)
    folder = Path(cfg["data_dir"]) if cfg.get("data_dir") else tinycoco_folder(pkg, cfg["data"])
    layout = tinycoco_layout(folder) if folder is not None and folder.exists() else None
    if layout is None:
        raise GraderDataMissing(f"TinyCoco is not available (looked for {folder or 'data/' + cfg['data']}: "
                                "annotations.json + images/, or instances_*.json + one image folder): "
                                "a set-up problem of the grader, not of your code")
    ann, image_dir = layout
    base = {"config": {k: v for k, v in cfg.items() if k != "data_dir"}, "data_name": folder.name,
            "data_fingerprint": data_fingerprint(ann, image_dir)}
    data_mod, train_mod = _given(pkg, "data"), _given(pkg, "train")
    dataset = data_mod.CocoDetection(ann, image_dir, image_size=cfg["image_size"])
    net = train_mod.make_centernet(dataset.num_classes, seed=cfg["seed"])
    criterion = _mod(pkg, "loss").CenterNetLoss()
    images, objects = zip(*(dataset[i] for i in range(len(dataset))))
    images, objects = torch.stack(images), torch.stack(objects)
    base.update(num_classes=int(dataset.num_classes), image_ids=[int(i["id"]) for i in dataset.image_infos])
    try:
        _precheck(net, criterion, images[: cfg["batch_size"]], objects[: cfg["batch_size"]], dataset.num_classes)
    except NotGraded as exc:
        return {**base, "not_graded": str(exc)}
    torch.manual_seed(cfg["seed"])
    start = time.perf_counter()
    history = train_mod.train(dataset, net=net, criterion=criterion, batch_size=cfg["batch_size"], lr=cfg["lr"],
                              steps=cfg["steps"], seed=cfg["seed"], log_every=0)
    seconds = time.perf_counter() - start
    net.eval()
    token, sent = _late_inputs(ctx, images)
    with torch.no_grad():
        maps = torch.cat([net(sent[i:i + cfg["batch_size"]]) for i in range(0, sent.shape[0], cfg["batch_size"])]) \
            if sent.shape[0] else torch.zeros(0)
    return {
        **base,
        "history": _training_history(history),
        "maps": _plain(maps) if isinstance(maps, torch.Tensor) else None,
        "maps_type": type(maps).__name__,
        "late_token": token,
        "seconds": float(seconds),
        "threads": int(torch.get_num_threads()),
    }


def train_tinycoco(pkg, ctx=None) -> dict:
    """Both TinyCoco checks share this probe (one training run): see run_tinycoco_training."""
    return run_tinycoco_training(pkg, ctx)


def _bonus_weights(pkg) -> Path:
    return Path(pkg.__file__).resolve().parent / BONUS_CONFIG["weights"]


def run_bonus_evaluation(pkg, **overrides) -> dict:
    """Load the submission's trained weights into its ``make_centernet`` and return its raw head output
    on the held-out test images (file names sorted; annotations are not visible here).

    No weights file: NotImplementedError (the bonus was not attempted). A file that does not load:
    ``{"load_error": message}`` (the verdict fails with it)."""
    cfg = {**BONUS_CONFIG, **overrides}
    weights = _bonus_weights(pkg)
    if not weights.is_file():
        raise NotImplementedError(f"no trained weights: put the state_dict of your trained network in "
                                  f"{pkg.__name__.split('.')[-1]}/{cfg['weights']} to try for the bonus")
    try:
        state = torch.load(weights, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - a damaged or non-tensor file is the submission's failure
        return {"load_error": f"{cfg['weights']} could not be read with torch.load(..., weights_only=True): "
                              f"{type(exc).__name__}: {str(exc)[:300]}"}
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        return {"load_error": f"{cfg['weights']} must hold a state_dict (a dict of tensors: "
                              f"torch.save(net.state_dict(), path)), got {type(state).__name__}"}
    net = _given(pkg, "train").make_centernet(cfg["num_classes"], seed=0)
    try:
        net.load_state_dict(state, strict=True)
    except (RuntimeError, KeyError, ValueError, TypeError) as exc:
        return {"load_error": f"{cfg['weights']} does not fit make_centernet({cfg['num_classes']}): "
                              f"{str(exc).strip()[:600]}"}
    root = find_data(cfg["data"], pkg)
    image_dir = root / "test" / "images" if root is not None else None
    if image_dir is None or not image_dir.is_dir():
        raise GraderDataMissing(f"the held-out test images are not available (data/{cfg['data']}/test/images): "
                                "the grader must generate them (python data/cocogen/make_dataset.py)")
    names = sorted(p.name for p in image_dir.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    names = names[: cfg["max_images"]]
    data_mod = _given(pkg, "data")
    net.eval()
    size = cfg["image_size"]
    start = time.perf_counter()
    maps = []
    with torch.no_grad():
        for i in range(0, len(names), cfg["batch_size"]):
            batch = []
            for name in names[i:i + cfg["batch_size"]]:
                img = data_mod.load_rgb_image(image_dir / name).resize((size, size), resample=2)  # 2: bilinear
                batch.append(data_mod.image_to_tensor(img))
            out = net(torch.stack(batch))
            if not isinstance(out, torch.Tensor):
                return {"load_error": f"the network returned a {type(out).__name__}, not a tensor"}
            maps.append(out.detach().float())
    return {"file_names": names, "maps": torch.cat(maps) if maps else torch.zeros(0),
            "image_size": size, "seconds": float(time.perf_counter() - start)}


def evaluate_bonus_weights(pkg) -> dict:
    """The bonus probe: see run_bonus_evaluation."""
    return run_bonus_evaluation(pkg)
