"""Probes of the "detection" assignment (worker side).

Each probe exercises one part of the implementation under test (``pkg`` is the imported
assignment package, e.g. ``submission.detection``) and returns plain data. Public probes use
hand-made or fixed-seed inputs (the verdict rebuilds them in the parent with the same builders);
hidden probes take the grading run's context (``def probe(pkg, ctx)``) and draw their inputs from
``ctx.generator(tag)``, a secret seed drawn per grading run, so nothing learnt from an earlier run
helps. Only the standard library, torch, numpy, timm and torchvision are imported here: never the
grader, never the reference.
"""

from __future__ import annotations

import importlib
import json
import math
from pathlib import Path

import torch
from torch import nn


def _mod(pkg, name: str):
    return importlib.import_module(pkg.__name__ + "." + name)


def _seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# --------------------------------------------------------------------------------------------
# Backbone
# --------------------------------------------------------------------------------------------

def _timm_body(module: nn.Module) -> tuple[str, nn.Module]:
    """The timm feature model inside the student's Backbone (the submodule with ``feature_info``)."""
    for name, sub in module.named_modules():
        if sub is not module and hasattr(sub, "feature_info"):
            return name, sub
    raise TypeError("the Backbone holds no timm model with `feature_info` (build it with timm.create_model(..., "
                    "features_only=True))")


def _backbone_case(Backbone, model_name: str, unfreeze_last: int) -> dict:
    torch.manual_seed(0)
    bb = Backbone(model_name, unfreeze_last=unfreeze_last)
    prefix, body = _timm_body(bb)
    outside = sorted(n for n, p in bb.named_parameters() if not n.startswith(prefix + "."))
    names = [n for n, _ in body.named_parameters()]
    trainable = [n for n, p in body.named_parameters() if p.requires_grad]
    return {"all": names, "trainable": trainable, "outside": outside}


def _backbone_forward(Backbone, model_name: str, g: torch.Generator | None = None) -> dict:
    torch.manual_seed(0)
    bb = Backbone(model_name)
    bb.eval()
    with torch.no_grad():
        feats = bb(torch.randn(2, 3, 96, 128, generator=g if g is not None else _seeded(1)))
    return {
        "shapes": [list(f.shape) for f in feats] if isinstance(feats, (list, tuple)) else str(type(feats)),
        "out_channels": [int(c) for c in getattr(bb, "out_channels", [])],
    }


def backbone_public(pkg) -> dict:
    """resnet18: output shapes and order; trainable names for unfreeze_last = 0, 1, 5."""
    Backbone = _mod(pkg, "backbone").Backbone
    out = {"forward": _backbone_forward(Backbone, "resnet18")}
    for k in (0, 1, 5):
        out[f"k{k}"] = _backbone_case(Backbone, "resnet18", k)
    return out


def backbone_models(pkg, ctx) -> dict:
    """resnet18 and efficientnet_b0: trainable names for unfreeze_last = 0, 1, 2, all; shapes
    (on an input drawn from the run's secret seed)."""
    Backbone = _mod(pkg, "backbone").Backbone
    out = {}
    for model_name in ("resnet18", "efficientnet_b0"):
        out[model_name] = {"forward": _backbone_forward(Backbone, model_name, ctx.generator(f"backbone:{model_name}"))}
        for k in (0, 1, 2, 5):
            case = _backbone_case(Backbone, model_name, k)
            out[model_name][f"k{k}"] = {"trainable": case["trainable"], "outside": case["outside"]}
    return out


# --------------------------------------------------------------------------------------------
# Neck
# --------------------------------------------------------------------------------------------

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


# --------------------------------------------------------------------------------------------
# Head
# --------------------------------------------------------------------------------------------

def head_probe(pkg) -> dict:
    """Shapes with and without objectness; which parameters each output depends on; with
    objectness, which parameters each channel of the box map depends on (the 5-per-anchor layout
    and the objectness's branch)."""
    DecoupledHead = _mod(pkg, "head").DecoupledHead
    torch.manual_seed(0)
    x = torch.randn(2, 16, 6, 8, generator=_seeded(3))
    out = {"shapes": {}}
    for objectness in (False, True):
        head = DecoupledHead(16, num_classes=5, num_anchors=2, width=24, objectness=objectness)
        res = head(x)
        out["shapes"][str(objectness)] = [list(t.shape) for t in res]
    head = DecoupledHead(16, num_classes=5, num_anchors=2, width=24)
    head.train()
    cls_logits, box = head(x)
    params = [(n, p) for n, p in head.named_parameters() if p.requires_grad]
    def deps(t, seed):
        w = torch.randn(t.shape, generator=_seeded(seed))
        grads = torch.autograd.grad((t * w).sum(), [p for _, p in params], retain_graph=True, allow_unused=True)
        return [bool(g is not None and g.abs().sum() > 0) for g in grads]
    cls_dep, box_dep = deps(cls_logits, 11), deps(box, 12)
    out["params"] = [{"name": n, "shape": list(p.shape), "cls": c, "box": b}
                     for (n, p), c, b in zip(params, cls_dep, box_dep)]
    # objectness: per channel of the box map, the parameters it depends on
    torch.manual_seed(0)
    head = DecoupledHead(16, num_classes=5, num_anchors=2, width=24, objectness=True)
    head.train()
    cls_logits, box = head(x)
    params = [(n, p) for n, p in head.named_parameters() if p.requires_grad]
    out["obj_params"] = [n for n, _ in params]
    out["obj_cls"] = deps(cls_logits, 13)
    out["obj_channels"] = [deps(box[:, c], 20 + c) for c in range(box.shape[1])] if box.dim() == 4 else []
    return out


# --------------------------------------------------------------------------------------------
# TAL
# --------------------------------------------------------------------------------------------

def _alignment_of(scores, pred_boxes, gt_labels, gt_boxes, gt_index, score_exponent=1.0, iou_exponent=6.0):
    """Per anchor, ``t`` and IoU with the GT ``gt_index`` gives it (0 for background): computed
    here from the inputs, not by the code under test. The verdict uses them only from the
    reference's run (the parent's), to accept every usual placement of the normalisation's eps."""
    from torchvision.ops import box_iou

    a = scores.shape[0]
    t, u = torch.zeros(a, dtype=torch.float64), torch.zeros(a, dtype=torch.float64)
    if not (isinstance(gt_index, torch.Tensor) and gt_index.shape == (a,) and not gt_index.is_floating_point()):
        return t, u
    pos = (gt_index >= 0) & (gt_index < gt_boxes.shape[0])
    if pos.any():
        j = gt_index[pos].long()
        ious = box_iou(gt_boxes.double(), pred_boxes.double())  # (G, A)
        u[pos] = ious[j, pos.nonzero().squeeze(1)]
        s = scores.double()[pos.nonzero().squeeze(1), gt_labels[j]]
        t[pos] = s ** score_exponent * u[pos] ** iou_exponent
    return t, u


def _assign(pkg, scores, pred_boxes, points, gt_labels, gt_boxes, **kw) -> dict:
    fn = _mod(pkg, "assigner").task_aligned_assign
    res = fn(scores, pred_boxes, points, gt_labels, gt_boxes, **kw)
    gt_index, labels, boxes, soft = res
    exponents = {k: kw[k] for k in ("score_exponent", "iou_exponent") if k in kw}
    t, u = _alignment_of(scores, pred_boxes, gt_labels, gt_boxes, gt_index, **exponents)
    return {"gt_index": gt_index, "labels": labels, "boxes": boxes, "scores": soft, "t": t, "iou": u}


def _t(rows, dtype=torch.float32):
    return torch.tensor(rows, dtype=dtype)


def topk_permutation() -> torch.Tensor:
    """The fixed shuffle of the top-k case's 15 anchors (public; the verdict rebuilds it)."""
    return torch.randperm(15, generator=_seeded(5))


def tal_cases(pkg) -> dict:
    """Hand-built cases (the verdict knows the answers)."""
    out = {}
    # 1. centre strictly inside: 6 anchors, one GT [0,0,10,10]; every predicted box overlaps it
    points = _t([[5, 5], [10, 5], [0, 5], [5, 10], [12, 5], [3, 3]])
    preds = _t([[1, 1, 9, 9]] * 6)
    scores = torch.full((6, 2), 0.5)
    out["inside"] = _assign(pkg, scores, preds, points, torch.tensor([0]), _t([[0, 0, 10, 10]]))
    # 2. top-k: 12 candidates of one GT, predicted boxes of decreasing IoU, equal scores; k = 5;
    #    3 more anchors outside the GT with perfect boxes (never candidates, whatever their t)
    points = _t([[50 + i, 50] for i in range(12)] + [[150, 50], [50, 100], [-3, 20]])
    preds = _t([[0, 0, 100, 100 - 5 * i] for i in range(12)] + [[0, 0, 100, 100]] * 3)
    perm = topk_permutation()
    out["topk"] = _assign(pkg, torch.full((15, 3), 0.5), preds[perm], points[perm], torch.tensor([2]),
                          _t([[0, 0, 100, 100]]), topk=5)
    # 3. conflict: anchor 0 lies in GTs A (class 0) and B (class 1); its box overlaps A more, but
    #    its score for B's class is much higher (t_B > t_A): it must go to A (highest IoU)
    points = _t([[10, 10], [3, 3], [25, 25]])
    preds = _t([[1, 1, 19, 19], [0, 0, 18, 18], [6, 6, 30, 30]])
    scores = _t([[1e-4, 0.9999], [0.6, 0.1], [0.1, 0.7]])
    out["conflict"] = _assign(pkg, scores, preds, points, torch.tensor([0, 1]), _t([[0, 0, 20, 20], [5, 5, 30, 30]]))
    # 4. normalisation and the exponents' roles: GT 0 with IoUs 1, .5, .8; GT 1 with IoUs .8, .5
    points = _t([[5, 5], [4, 4], [6, 6], [105, 105], [104, 104]])
    preds = _t([[0, 0, 10, 10], [0, 0, 10, 5], [0, 0, 10, 8], [100, 100, 110, 108], [100, 100, 110, 105]])
    scores = _t([[0.5, 0.0], [0.9, 0.0], [0.6, 0.0], [0.0, 0.3], [0.0, 0.9]])
    out["normalise"] = _assign(pkg, scores, preds, points, torch.tensor([0, 1]),
                               _t([[0, 0, 10, 10], [100, 100, 110, 110]]))
    # 5. no GT at all
    g = _seeded(9)
    points = torch.rand(7, 2, generator=g) * 50
    preds = torch.cat([points - 3, points + 3], dim=1)
    out["empty"] = _assign(pkg, torch.rand(7, 4, generator=g), preds, points, torch.zeros(0, dtype=torch.long),
                           torch.zeros(0, 4))
    # 6. a GT without any candidate (between anchor centres) next to a normal one
    ys, xs = torch.meshgrid(torch.arange(8) * 4 + 2.0, torch.arange(8) * 4 + 2.0, indexing="ij")
    points = torch.stack([xs.flatten(), ys.flatten()], dim=1)
    preds = torch.cat([points - 1.5, points + 1.5], dim=1)
    scores = torch.full((64, 2), 0.5)
    out["no_candidate"] = _assign(pkg, scores, preds, points, torch.tensor([1, 0]),
                                  _t([[2.5, 2.5, 5.5, 5.5], [12, 12, 24, 24]]))
    return out


def anchor_centres(image: int, strides=(8, 16, 32)) -> torch.Tensor:
    """Centres ``(x, y)`` of the anchor points of a square image on every level: ``[A, 2]`` float32,
    level by level, row-major within a level (the layout TAL sees)."""
    points = []
    for stride in strides:
        n = image // stride
        ys, xs = torch.meshgrid(torch.arange(n) * stride + stride / 2, torch.arange(n) * stride + stride / 2,
                                indexing="ij")
        points.append(torch.stack([xs.flatten(), ys.flatten()], 1))
    return torch.cat(points).float()


def _random_tal_case(seed: int, num_gt: int, num_classes: int = 4, image: int = 128,
                     g: torch.Generator | None = None):
    """One random image's TAL inputs; ``seed`` picks the variant (odd: GT corners on the anchor
    grid), ``g`` draws the values (default: seeded from ``seed``)."""
    g = g if g is not None else _seeded(seed)
    points = anchor_centres(image)
    a = points.shape[0]
    # predicted boxes contain their anchor point: every candidate overlaps its GT (t > 0, no ties)
    left_top = points - torch.rand(a, 2, generator=g) * 30 - 1
    right_bottom = points + torch.rand(a, 2, generator=g) * 30 + 1
    preds = torch.cat([left_top, right_bottom], 1)
    scores = torch.rand(a, num_classes, generator=g) * 0.9 + 0.05
    xy = torch.rand(num_gt, 2, generator=g) * (image - 20)
    wh = torch.rand(num_gt, 2, generator=g) * 60 + 8
    gt_boxes = torch.cat([xy, (xy + wh).clamp(max=image)], 1)
    if seed % 2:  # corners on the grid of anchor centres: centres on a GT's border are not inside
        gt_boxes = (gt_boxes / 4).round() * 4
    gt_labels = torch.randint(0, num_classes, (num_gt,), generator=g)
    return scores, preds, points, gt_labels, gt_boxes


def tal_random(pkg, ctx) -> dict:
    """Random images drawn from the run's secret seed (336 anchors on 3 levels, 1-12 GTs),
    several settings; compared with the reference on the same inputs."""
    out = {}
    settings = [dict(), dict(topk=5), dict(topk=9, score_exponent=0.5, iou_exponent=4.0)]
    for seed in range(12):
        num_gt = [1, 3, 6, 12][seed % 4]
        case = _random_tal_case(seed, num_gt, g=ctx.generator(f"tal:case{seed}"))
        kw = settings[seed % 3]
        out[f"case{seed}"] = _assign(pkg, *case, **kw)
    return out


# --------------------------------------------------------------------------------------------
# DIoU / CIoU
# --------------------------------------------------------------------------------------------

def _random_int_boxes(g, n: int, positive: bool) -> torch.Tensor:
    xy = torch.randint(0, 100, (n, 2), generator=g)
    wh = torch.randint(1 if positive else 0, 60, (n, 2), generator=g)
    return torch.cat([xy, xy + wh], dim=1)


def box_loss_inputs(positive: bool) -> dict:
    """The DIoU/CIoU probe's public inputs (the verdict rebuilds them in the parent):
    1000 random integer pairs, degenerate/identical pairs, and large (up to 320 px) boxes whose
    areas and squared diagonals overflow float16 (max 65504) unless computed in float32."""
    g = _seeded(2024)
    pred, gt = _random_int_boxes(g, 1000, positive), _random_int_boxes(g, 1000, positive)
    special_pred = _t([[0, 0, 0, 0], [5, 5, 5, 5], [0, 0, 10, 10], [3, 4, 3, 9], [0, 0, 10, 10], [2, 2, 8, 2]])
    special_gt = _t([[0, 0, 0, 0], [0, 0, 10, 10], [0, 0, 10, 10], [3, 4, 3, 9], [20, 20, 30, 30], [2, 2, 8, 2]])
    g = _seeded(2025)
    xy = torch.randint(0, 40, (64, 2), generator=g)
    large_pred = torch.cat([xy, xy + torch.randint(200, 300, (64, 2), generator=g)], 1)
    xy = torch.randint(0, 40, (64, 2), generator=g)
    large_gt = torch.cat([xy, xy + torch.randint(200, 300, (64, 2), generator=g)], 1)
    return {"pred": pred, "gt": gt, "special_pred": special_pred, "special_gt": special_gt,
            "large_pred": large_pred, "large_gt": large_gt}


def _box_loss_probe(fn, positive: bool) -> dict:
    inputs = box_loss_inputs(positive)
    pred, gt = inputs["pred"], inputs["gt"]
    special_pred, special_gt = inputs["special_pred"], inputs["special_gt"]
    out = {}
    out["mean_int64"] = fn(pred, gt)
    out["mean_int32"] = fn(pred.int(), gt.int())
    out["mean_float32"] = fn(pred.float(), gt.float())
    out["mean_float64"] = fn(pred.double(), gt.double())
    out["mean_float16"] = fn(pred.half(), gt.half())
    out["per_pair"] = torch.stack([torch.as_tensor(fn(pred[i:i + 1].float(), gt[i:i + 1].float())).reshape(())
                                   for i in range(200)])
    # degenerate and identical boxes
    out["special"] = torch.stack([torch.as_tensor(fn(special_pred[i:i + 1], special_gt[i:i + 1])).reshape(())
                                  for i in range(len(special_pred))])
    # large boxes in float16: the float32 result the docstring promises, no overflow
    out["large_float16"] = fn(inputs["large_pred"].half(), inputs["large_gt"].half())
    out["large_float32"] = fn(inputs["large_pred"].float(), inputs["large_gt"].float())
    p = special_pred.clone().requires_grad_(True)
    q = torch.cat([pred[:50].float(), special_pred]).requires_grad_(True)
    loss = fn(p, special_gt) + fn(q, torch.cat([gt[:50].float(), special_gt]))
    grads = torch.autograd.grad(loss, [p, q], allow_unused=True)
    out["grads"] = [gr if gr is not None else None for gr in grads]  # the gradients themselves
    out["empty"] = fn(torch.zeros(0, 4), torch.zeros(0, 4))
    return out


def diou_probe(pkg) -> dict:
    return _box_loss_probe(_mod(pkg, "losses").diou_loss, positive=False)


def ciou_probe(pkg) -> dict:
    return _box_loss_probe(_mod(pkg, "losses").ciou_loss, positive=True)


# --------------------------------------------------------------------------------------------
# mAP challenge: the submitted predictions file
# --------------------------------------------------------------------------------------------

PREDICTIONS_FILE = "predictions_test.json"
MAX_FILE_BYTES = 64 * 1024 * 1024
MAX_PER_IMAGE = 100
MAX_DETECTIONS = 200_000


def map_predictions(pkg) -> dict:
    """Read ``predictions_test.json`` from the package's folder; validate; return an (N, 7)
    float64 tensor ``[image_id, category_id, x, y, w, h, score]`` (at most 100 per image, the
    best-scoring ones). No file: not attempted."""
    path = Path(pkg.__file__).resolve().parent / PREDICTIONS_FILE
    if not path.is_file():
        raise NotImplementedError(f"no {PREDICTIONS_FILE} in your package: write it with "
                                  f"`python -m student.detection.train --predict-test` (see evaluate.py)")
    if path.stat().st_size > MAX_FILE_BYTES:
        raise ValueError(f"{PREDICTIONS_FILE} is larger than {MAX_FILE_BYTES // 2**20} MiB")
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, list):
        raise ValueError(f"{PREDICTIONS_FILE} must hold a JSON list of detections, got {type(data).__name__}")
    rows = []
    for i, d in enumerate(data[:MAX_DETECTIONS]):
        if not isinstance(d, dict):
            raise ValueError(f"{PREDICTIONS_FILE}[{i}] is not an object")
        try:
            image_id, category_id = d["image_id"], d["category_id"]
            bbox, score = d["bbox"], d["score"]
        except KeyError as exc:
            raise ValueError(f"{PREDICTIONS_FILE}[{i}] has no {exc.args[0]!r} (keys: image_id, category_id, bbox, "
                             f"score)") from None
        if not (isinstance(image_id, int) and isinstance(category_id, int)) or isinstance(image_id, bool):
            raise ValueError(f"{PREDICTIONS_FILE}[{i}]: image_id and category_id must be integers")
        if not (isinstance(bbox, list) and len(bbox) == 4 and all(isinstance(v, (int, float)) for v in bbox)):
            raise ValueError(f"{PREDICTIONS_FILE}[{i}]: bbox must be [x, y, w, h]")
        if not isinstance(score, (int, float)):
            raise ValueError(f"{PREDICTIONS_FILE}[{i}]: score must be a number")
        row = [float(image_id), float(category_id), *map(float, bbox), float(score)]
        if not all(math.isfinite(v) for v in row):
            raise ValueError(f"{PREDICTIONS_FILE}[{i}]: not a finite number")
        rows.append(row)
    table = torch.tensor(rows, dtype=torch.float64).reshape(-1, 7)
    # at most MAX_PER_IMAGE per image, best scores first
    keep = []
    if len(table):
        order = torch.argsort(table[:, 6], descending=True, stable=True)
        counts: dict[int, int] = {}
        for i in order.tolist():
            img = int(table[i, 0])
            if counts.get(img, 0) < MAX_PER_IMAGE:
                counts[img] = counts.get(img, 0) + 1
                keep.append(i)
    table = table[torch.tensor(sorted(keep), dtype=torch.long)] if keep else table[:0]
    return {"detections": table, "read": len(data), "kept": int(table.shape[0])}


# --------------------------------------------------------------------------------------------
# Written answers: the text of ANSWERS.md, for the reviewer
# --------------------------------------------------------------------------------------------

ANSWERS_FILE = "ANSWERS.md"
ANSWER_QUESTIONS = 3
MAX_ANSWER_CHARS = 6000


def written_answers(pkg) -> dict:
    """Read ``ANSWERS.md`` from the package's folder: ``{"answers": [text of question 1, 2, 3]}``
    (the text under each ``## Question k`` heading, the question's own lines and the placeholder
    left out; at most 6000 characters each). Not attempted when the file is missing or no
    question has an answer."""
    path = Path(pkg.__file__).resolve().parent / ANSWERS_FILE
    if not path.is_file():
        raise NotImplementedError(f"no {ANSWERS_FILE} in your package (it comes with the stubs: write your answers "
                                  f"there)")
    if path.stat().st_size > 1024 * 1024:
        raise ValueError(f"{ANSWERS_FILE} is larger than 1 MiB")
    text = path.read_text(encoding="utf-8", errors="replace")
    sections: dict[int, list[str]] = {}
    current = None
    for line in text.splitlines():
        head = line.strip().lower()
        if head.startswith("## question"):
            words = head[len("## question"):].strip().split()
            number = words[0].rstrip(".:)") if words else ""
            current = int(number) if number.isdigit() and 1 <= int(number) <= ANSWER_QUESTIONS else None
            if current is not None:
                sections.setdefault(current, [])
            continue
        if current is not None:
            sections[current].append(line)
    answers = []
    for k in range(1, ANSWER_QUESTIONS + 1):
        lines = [line for line in sections.get(k, []) if not line.lstrip().startswith(">")]  # the question
        body = "\n".join(lines).replace(ANSWER_PLACEHOLDER, "").strip()
        answers.append(body[:MAX_ANSWER_CHARS])
    if not any(answers):
        raise NotImplementedError(f"no written answers yet: write them in {ANSWERS_FILE} under each question")
    return {"answers": answers}


ANSWER_PLACEHOLDER = "*Your answer here.*"
