"""Verdicts of the "detection" assignment (parent side: never imports student code).

Public verdicts carry their own expected values (hand-built cases, torchvision as the course's
outside opinion), computed here on inputs rebuilt here with the probes' own builders: nothing the
worker reports about its inputs, counts or flags is trusted. Hidden checks draw their inputs from
the run's secret seed and compare with the reference's run of the same probe (``differential``);
their messages leave out the reference's values (``api.value`` / the engine's hidden context).
The mAP challenge is scored here against the hidden test annotations (made from the grading
machine's secret seed, see ``hidden_test_annotations``), from the detections the probe read from
the submission's ``predictions_test.json``.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import os
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

from grader.core import api
from grader.core.api import Check, Verdict, compare_number, compare_tensors, failed, partial, passed, verdict_from



def _course_data() -> Path:
    """The course's data folder (``grader.core.course``: never where the grader is installed)."""
    from grader.core import course as course_mod

    return course_mod.current().data


def _detection_dir() -> Path:
    """``data/generated/detection`` of the course. Its ``hidden/test.json`` holds the test split's
    annotations; ``hidden/released/`` what `grader release` kept of the students' split."""
    return _course_data() / "generated" / "detection"


RUBRIC_SETTINGS = ("map",)  # the rubric's [map] table: the mAP challenge's tiers (map_tiers)


def _rubric_file() -> Path:
    return Path(__file__).with_name("rubric.toml")


def map_tiers() -> dict:
    """The mAP challenge's score tiers, from the rubric's ``[map]`` table (the only place they are
    written): ``{"map.regular": [(threshold, share), ...], "map.bonus": [...]}``, thresholds rising.
    A check earns the share of its component's points of the highest threshold reached."""
    import tomllib

    table = tomllib.loads(_rubric_file().read_text(encoding="utf-8")).get("map", {})
    tiers = {}
    for check in ("map.regular", "map.bonus"):
        rows = sorted((float(t), float(share)) for t, share in table.get(check.split(".")[1], []))
        if not rows or any(not 0 < share <= 1 for _, share in rows):
            raise RuntimeError(f"grader set-up: rubric [map] {check.split('.')[1]} needs (threshold, share in (0, 1]) rows")
        tiers[check] = rows
    return tiers


def _tier_share(value: float, rows) -> float:
    """The share of the highest threshold ``value`` reaches (0 below them all)."""
    return max((share for threshold, share in rows if value >= threshold), default=0.0)


def _tiers_text() -> str:
    """e.g. "thresholds 0.05 / 0.1 give 1 / 2 points, 0.2 gives 3 bonus points": from the rubric."""
    import tomllib

    data = tomllib.loads(_rubric_file().read_text(encoding="utf-8"))
    points = {chk["id"]: comp["points"] for comp in data.get("components", []) for chk in comp.get("checks", [])}
    parts = []
    for check, rows in map_tiers().items():
        bonus = " bonus" if check == "map.bonus" else ""
        parts.append(" / ".join(f"{t:g}" for t, _ in rows) + " give" + (" " if len(rows) > 1 else "s ")
                     + " / ".join(f"{share * points[check]:g}" for _, share in rows) + f"{bonus} point(s)")
    return "thresholds " + ", ".join(parts)


def _shaped(template):
    """Decorator: the verdict runs only on output with ``template``'s structure (dict keys; a tensor
    where ``template`` has one; None: anything), else the check fails with one line: a forged or
    truncated output is the submission's failure, not a verdict's crash."""
    def wrap(verdict):
        def checked(actual, expected):
            problem = api.structure_problem(actual, template, "your output", rule="keys")
            if problem:
                return failed(f"incomplete or malformed output: {problem}")
            return verdict(actual, expected)

        checked.__name__ = verdict.__name__
        checked.__doc__ = verdict.__doc__
        return checked
    return wrap


_T = torch.zeros(0)  # a tensor slot in a template
_ASSIGNMENT = {"gt_index": _T, "labels": _T, "boxes": _T, "scores": _T}
_BACKBONE_CASE = {"all": None, "trainable": None, "outside": None}


def _probes():
    """The probes module, loaded here to rebuild the public checks' inputs in the parent."""
    if "_detection_probes_for_checks" not in sys.modules:
        spec = importlib.util.spec_from_file_location("_detection_probes_for_checks",
                                                      Path(__file__).resolve().parent / "probes.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        sys.modules[spec.name] = module
    return sys.modules["_detection_probes_for_checks"]


# --------------------------------------------------------------------------------------------
# Backbone
# --------------------------------------------------------------------------------------------

def _names_problem(label: str, actual, expected) -> str | None:
    actual, expected = set(actual), set(expected)
    if actual == expected:
        return None
    missing, extra = sorted(expected - actual), sorted(actual - expected)
    parts = []
    # in a hidden check the names would tell which parameters the reference trains: counts only
    if missing:
        parts.append(f"{len(missing)} parameter(s) should be trainable but are frozen"
                     + ("" if api.is_hidden() else f", e.g. {missing[:3]}"))
    if extra:
        parts.append(f"{len(extra)} parameter(s) should be frozen but are trainable"
                     + ("" if api.is_hidden() else f", e.g. {extra[:3]}"))
    hint = " (a stage is what one feature level of feature_info adds: see feature_stages)" if api.is_hidden() else ""
    return f"{label}: " + "; ".join(parts) + hint


_TIMM_NAMES: dict[str, list[str]] = {}


def timm_parameter_names(model_name: str) -> list[str]:
    """Parameter names of timm's ``features_only`` model, built here (random weights)."""
    if model_name not in _TIMM_NAMES:
        import timm

        model = timm.create_model(model_name, features_only=True, out_indices=(-1, -2, -3))
        _TIMM_NAMES[model_name] = [n for n, _ in model.named_parameters()]
    return _TIMM_NAMES[model_name]


@_shaped({"forward": {"shapes": None, "out_channels": None}, "k0": _BACKBONE_CASE, "k1": _BACKBONE_CASE, "k5": _BACKBONE_CASE})
def verdict_backbone_public(actual, expected) -> Verdict:
    problems = []
    fwd = actual["forward"]
    names = timm_parameter_names("resnet18")
    want = [[2, 512, 3, 4], [2, 256, 6, 8], [2, 128, 12, 16]]
    if fwd["shapes"] != want:
        problems.append(f"resnet18 on a (2, 3, 96, 128) batch: feature shapes {fwd['shapes']}, expected {want} "
                        f"(the three deepest levels, deepest first)")
    if fwd["out_channels"] != [512, 256, 128]:
        problems.append(f"resnet18: out_channels {fwd['out_channels']}, expected [512, 256, 128] (deepest first)")
    for k, case in (("k0", actual["k0"]), ("k1", actual["k1"]), ("k5", actual["k5"])):
        if case["outside"]:
            problems.append(f"parameters outside the timm model: {case['outside'][:3]} (the Backbone holds only the "
                            f"timm model)")
    for k in ("k0", "k1", "k5"):
        if sorted(actual[k]["all"]) != sorted(names):
            problems.append(f"resnet18: the timm model's parameters are not those of timm.create_model('resnet18', "
                            f"features_only=True) (e.g. {sorted(set(names) - set(actual[k]['all']))[:2]} missing)")
            break
    problems.append(_names_problem("resnet18, unfreeze_last=0", actual["k0"]["trainable"], []))
    problems.append(_names_problem("resnet18, unfreeze_last=1", actual["k1"]["trainable"],
                                   [n for n in names if n.startswith("layer4.")]))
    problems.append(_names_problem("resnet18, unfreeze_last=5", actual["k5"]["trainable"], names))
    return verdict_from(problems, "shapes, order and frozen/trainable parameters are right")


def verdict_backbone_models(actual, expected) -> Verdict:
    problems = []
    if not isinstance(actual, dict):
        return failed("expected a dict of models")
    for model_name, cases in expected.items():
        got = actual.get(model_name)
        if not isinstance(got, dict):
            problems.append(f"{model_name}: no result")
            continue
        if got["forward"] != cases["forward"]:
            problems.append(f"{model_name}: feature shapes {got['forward']['shapes']} / out_channels "
                            f"{got['forward']['out_channels']}, expected {api.value(cases['forward']['shapes'])} / "
                            f"{api.value(cases['forward']['out_channels'])}")
        for k in sorted(c for c in cases if c.startswith("k")):
            trainable = got.get(k, {}).get("trainable") if isinstance(got.get(k), dict) else None
            if not isinstance(trainable, list) or not all(isinstance(n, str) for n in trainable):
                problems.append(f"{model_name}, unfreeze_last={k[1:]}: no list of trainable parameter names")
                continue
            problems.append(_names_problem(f"{model_name}, unfreeze_last={k[1:]}", trainable, cases[k]["trainable"]))
    return verdict_from(problems, "resnet18 and efficientnet_b0: every setting of unfreeze_last is right")


# --------------------------------------------------------------------------------------------
# Neck
# --------------------------------------------------------------------------------------------

NECK_IN = [40, 24, 12]
NECK_OUT = 16
NECK_SIZES = [(3, 4), (6, 8), (12, 16)]


@_shaped({"shapes": None, "depends": None, "convs": None, "other_param_layers": None, "values": None, "role_problem": None})
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
    P = _probes()
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


# --------------------------------------------------------------------------------------------
# Head
# --------------------------------------------------------------------------------------------

@_shaped({"shapes": {"False": None, "True": None}, "params": None, "obj_params": None, "obj_cls": None, "obj_channels": None})
def verdict_head(actual, expected) -> Verdict:
    problems = []
    want = {"False": [[2, 10, 6, 8], [2, 8, 6, 8]], "True": [[2, 10, 6, 8], [2, 10, 6, 8]]}
    for key, shapes in want.items():
        if actual["shapes"][key] != shapes:
            problems.append(f"objectness={key}: output shapes {actual['shapes'][key]}, expected {shapes} "
                            f"(16 input channels, 5 classes, 2 anchors, a 6x8 map)")
    params = actual["params"]
    cls_only = [p for p in params if p["cls"] and not p["box"]]
    box_only = [p for p in params if p["box"] and not p["cls"]]

    def has_tower(ps):
        return any(len(p["shape"]) == 4 and (p["shape"][2] > 1 or p["shape"][3] > 1) for p in ps)

    if not has_tower(cls_only):
        problems.append("the class logits have no 3x3 convolution of their own: the classification branch must be "
                        "a separate tower (params only the class logits depend on: "
                        f"{[p['name'] for p in cls_only][:4]})")
    if not has_tower(box_only):
        problems.append("the box map has no 3x3 convolution of its own: the regression branch must be a separate "
                        f"tower (params only the box map depends on: {[p['name'] for p in box_only][:4]})")
    problems += _objectness_problems(actual)
    return verdict_from(problems, "shapes right; classification and regression branches are separate; objectness "
                                  "from the regression tower, 5 channels per anchor")


def _objectness_problems(actual) -> list:
    """With ``objectness=True`` (2 anchors): channel ``a*5+4`` of the box map is anchor ``a``'s
    objectness, computed from the regression tower; channels ``a*5 .. a*5+3`` its deltas."""
    names, channels, cls = actual["obj_params"], actual["obj_channels"], actual["obj_cls"]
    if len(channels) != 10 or any(len(c) != len(names) for c in channels) or len(cls) != len(names):
        return ["objectness=True: the box map must have 2 x 5 channels (2 anchors: 4 deltas and 1 objectness each)"]
    deps = [frozenset(n for n, d in zip(names, c) if d) for c in channels]
    obj_idx = [a * 5 + 4 for a in range(2)]
    delta_idx = [c for c in range(10) if c not in obj_idx]
    obj, delta = [deps[c] for c in obj_idx], [deps[c] for c in delta_idx]
    cls_set = frozenset(n for n, d in zip(names, cls) if d)
    problems = []
    all_delta = frozenset().union(*delta)
    from_cls = sorted(frozenset().union(*obj) & (cls_set - all_delta))
    if from_cls:
        problems.append(f"objectness=True: the objectness logits depend on the classification branch ({from_cls[:2]}): "
                        f"compute them from the regression tower, as YOLOX does")
    if len(set(obj)) == 1 and len(set(delta)) == 1 and obj[0] == delta[0]:
        return problems  # one conv gives deltas and objectness: the layout cannot be seen from the parameters
    if len(set(obj)) != 1 or len(set(delta)) != 1 or obj[0] == delta[0]:
        looks_like_obj = [c for c in range(10) if deps[c] != deps[0]] or []
        problems.append(f"objectness=True: channels a*5+4 = {obj_idx} must be the anchors' objectness and channels "
                        f"a*5 .. a*5+3 their 4 deltas (5 channels per anchor); the channels computed like objectness "
                        f"are {looks_like_obj} (an [all deltas, all objectness] layout?)")
    return problems


# --------------------------------------------------------------------------------------------
# TAL
# --------------------------------------------------------------------------------------------

def _iou(a, b):
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


# The soft score's normalisation t * max_iou_j / max_t_j, with the usual placements of an eps:
# none (the spec's formula), ultralytics' + 1e-9, mmdetection TOOD's + 1e-8, clamp(min=eps).
NORMALISATIONS = (
    ("t * max_iou / max_t", lambda t, m_iou, m_t: t * m_iou / m_t),
    ("t * max_iou / (max_t + 1e-9)", lambda t, m_iou, m_t: t * m_iou / (m_t + 1e-9)),
    ("t * max_iou / (max_t + 1e-8)", lambda t, m_iou, m_t: t * m_iou / (m_t + 1e-8)),
    ("t * max_iou / max_t.clamp(min=1e-9)", lambda t, m_iou, m_t: t * m_iou / m_t.clamp(min=1e-9)),
    ("t * max_iou / max_t.clamp(min=1e-8)", lambda t, m_iou, m_t: t * m_iou / m_t.clamp(min=1e-8)),
    ("t / (max_t + 1e-8) * max_iou", lambda t, m_iou, m_t: t / (m_t + 1e-8) * m_iou),
)


def normalised_scores(gt_index: torch.Tensor, t: torch.Tensor, iou: torch.Tensor) -> list[tuple[str, torch.Tensor]]:
    """Per eps placement, the soft scores of an assignment (``gt_index`` (A,), alignment ``t`` and
    IoU with the assigned GT (A,), 0 for background): ``[(formula, scores (A,) float64), ...]``."""
    t, iou = t.double(), iou.double()
    pos = gt_index >= 0
    max_t, max_iou = torch.zeros_like(t), torch.zeros_like(t)
    for j in gt_index[pos].unique().tolist():
        mine = gt_index == j
        max_t[mine], max_iou[mine] = t[mine].max(), iou[mine].max()
    out = []
    for name, fn in NORMALISATIONS:
        s = torch.where(pos, fn(t, max_iou, torch.where(pos, max_t, torch.ones_like(max_t))), torch.zeros_like(t))
        out.append((name, s))
    return out


def _scores_problem(name: str, got, candidates, raw_t=None, atol=1e-5, rtol=1e-4):
    """None when ``got`` matches the soft scores of one of the normalisations; else a message that
    names the normalisation (with the spec's formula as the expected value)."""
    if not isinstance(got, torch.Tensor):
        return f"{name}: scores: expected a tensor, got {type(got).__name__}"
    for _, want in candidates:
        if compare_tensors(name, got, want, atol=atol, rtol=rtol, check_dtype=False) is None:
            return None
    detail = compare_tensors(f"{name}: scores", got, candidates[0][1], atol=atol, rtol=rtol, check_dtype=False)
    hint = ""
    if raw_t is not None and compare_tensors("t", got, raw_t.to(torch.float64), atol=atol, rtol=rtol,
                                             check_dtype=False) is None:
        hint = " (these are the raw alignments t: normalise them)"
    return (f"{detail}; the soft scores' normalisation differs{hint}: per GT j, over the anchors finally assigned "
            f"to it, score = t * max_iou_j / max_t_j, so that its best anchor gets that GT's best IoU (an eps "
            f"in the denominator, added or as a clamp, is accepted)")


def _check_assignment(name, got, gt_index, labels, boxes, t, iou, atol=1e-5):
    """Compare one hand-built case; ``t`` and ``iou`` per anchor (of the assigned GT, 0 for
    background) give the expected soft scores under every accepted normalisation."""
    gt_index = torch.tensor(gt_index, dtype=torch.long)
    problems = [
        compare_tensors(f"{name}: gt_index", got["gt_index"], gt_index),
        compare_tensors(f"{name}: labels", got["labels"], torch.tensor(labels, dtype=torch.long)),
    ]
    if problems[0] is None:
        problems.append(compare_tensors(f"{name}: boxes", got["boxes"], torch.tensor(boxes, dtype=torch.float32),
                                        atol=atol, check_dtype=False))
        t, iou = torch.tensor(t, dtype=torch.float64), torch.tensor(iou, dtype=torch.float64)
        problems.append(_scores_problem(name, got["scores"], normalised_scores(gt_index, t, iou), raw_t=t, atol=atol))
    return problems


@_shaped({case: _ASSIGNMENT for case in ("inside", "topk", "conflict", "normalise", "empty", "no_candidate")})
def verdict_tal_cases(actual, expected) -> Verdict:
    p = []
    # 1. centre strictly inside: anchors 0 and 5, IoU 0.64, score 0.5
    u = 0.64
    p += _check_assignment("centre-inside case (only anchors 0 and 5 have their centre strictly inside the GT; "
                           "centres on the border do not count)", actual["inside"],
                           [0, -1, -1, -1, -1, 0], [0, 2, 2, 2, 2, 0],
                           [[0, 0, 10, 10], [0] * 4, [0] * 4, [0] * 4, [0] * 4, [0, 0, 10, 10]],
                           [0.5 * u ** 6, 0, 0, 0, 0, 0.5 * u ** 6], [u, 0, 0, 0, 0, u])
    # 2. top-k (the shuffle is rebuilt here, never taken from the submission's output)
    perm = _probes().topk_permutation().tolist()
    ious = [(100 - 5 * i) / 100 for i in range(12)] + [1.0] * 3
    chosen = [perm[k] < 5 for k in range(15)]
    p += _check_assignment("top-k case (topk=5: the 5 candidates with the largest t; anchors outside the GT are "
                           "never candidates, however large their t)", actual["topk"],
                           [0 if c else -1 for c in chosen], [2 if c else 3 for c in chosen],
                           [[0, 0, 100, 100] if c else [0] * 4 for c in chosen],
                           [0.5 * ious[perm[k]] ** 6 if c else 0.0 for k, c in enumerate(chosen)],
                           [ious[perm[k]] if c else 0.0 for k, c in enumerate(chosen)])
    # 3. conflict -> highest IoU
    i_a0 = _iou([1, 1, 19, 19], [0, 0, 20, 20])
    i_a1 = _iou([0, 0, 18, 18], [0, 0, 20, 20])
    i_b2 = _iou([6, 6, 30, 30], [5, 5, 30, 30])
    p += _check_assignment("conflict case (anchor 0 is chosen by both GTs and must go to the one with the highest "
                           "IoU, GT 0, although its alignment with GT 1 is higher)", actual["conflict"],
                           [0, 0, 1], [0, 0, 1], [[0, 0, 20, 20], [0, 0, 20, 20], [5, 5, 30, 30]],
                           [1e-4 * i_a0 ** 6, 0.6 * i_a1 ** 6, 0.7 * i_b2 ** 6], [i_a0, i_a1, i_b2])
    # 4. normalisation, exponents' roles (score ** 1 * IoU ** 6)
    t = [0.5 * 1.0, 0.9 * 0.5 ** 6, 0.6 * 0.8 ** 6, 0.3 * 0.8 ** 6, 0.9 * 0.5 ** 6]
    p += _check_assignment("normalisation case (t = score ** 1 * IoU ** 6 by default; each GT's best anchor gets "
                           "that GT's best IoU: t * max_iou / max_t)", actual["normalise"],
                           [0, 0, 0, 1, 1], [0, 0, 0, 1, 1], [[0, 0, 10, 10]] * 3 + [[100, 100, 110, 110]] * 2,
                           t, [1.0, 0.5, 0.8, 0.8, 0.5])
    # 5. no GT
    p += _check_assignment("no-GT case (every anchor is background)", actual["empty"], [-1] * 7, [4] * 7,
                           [[0, 0, 0, 0]] * 7, [0.0] * 7, [0.0] * 7)
    # 6. GT without candidates; GT 1's anchors all have IoU 1/16, so t is tiny (3e-8): the spec's
    #    formula gives them 1/16, an eps of 1e-8 in the denominator about 0.047: both are accepted
    u_no = 0.0625
    inside = []
    for k in range(64):
        x, y = (k % 8) * 4 + 2, (k // 8) * 4 + 2
        inside.append(12 < x < 24 and 12 < y < 24)
    p += _check_assignment("GT-without-candidate case (GT 0 contains no anchor centre and gets no anchor)",
                           actual["no_candidate"], [1 if c else -1 for c in inside], [0 if c else 2 for c in inside],
                           [[12, 12, 24, 24] if c else [0] * 4 for c in inside],
                           [0.5 * u_no ** 6 if c else 0.0 for c in inside], [u_no if c else 0.0 for c in inside])
    return verdict_from(p, "all six hand-built cases are right")


def verdict_tal_random(actual, expected) -> Verdict:
    problems = []
    for case, want in expected.items():
        got = actual.get(case)
        if got is None:
            problems.append(f"{case}: no result")
            continue
        problem = first_problem_of([
            compare_tensors(f"{case}: gt_index", got["gt_index"], want["gt_index"]),
            compare_tensors(f"{case}: labels", got["labels"], want["labels"]),
            compare_tensors(f"{case}: boxes", got["boxes"], want["boxes"], atol=1e-4, check_dtype=False),
        ])
        if problem is None:  # the soft scores, under every accepted eps placement (the reference's t and IoU)
            problem = _scores_problem(case, got["scores"], normalised_scores(want["gt_index"], want["t"], want["iou"]),
                                      raw_t=want["t"], atol=1e-5, rtol=1e-3)
        problems.append(problem)
    return verdict_from(problems, f"{len(expected)} random images with 1-12 GTs and 3 settings agree with the reference")


def first_problem_of(messages):
    for m in messages:
        if m:
            return m
    return None


# --------------------------------------------------------------------------------------------
# DIoU / CIoU: the course's own check against torchvision
# --------------------------------------------------------------------------------------------

def _box_loss_verdict(actual, tv_loss, name: str, positive: bool, positive_only_note: str = "") -> Verdict:
    """The course's check: the submission's values against torchvision's, computed here on the
    probe's public inputs rebuilt here (``probes.box_loss_inputs``)."""
    inputs = _probes().box_loss_inputs(positive)
    pred, gt = inputs["pred"], inputs["gt"]
    problems = []
    ref32 = tv_loss(pred.float(), gt.float(), reduction="none")
    ref64 = tv_loss(pred.double(), gt.double(), reduction="none")
    for key, ref, tol, dtype in (("int64", ref32, 1e-5, torch.float32), ("int32", ref32, 1e-5, torch.float32),
                                 ("float32", ref32, 1e-5, torch.float32), ("float64", ref64, 1e-9, torch.float64),
                                 ("float16", ref32, 2e-3, torch.float32)):
        value = actual[f"mean_{key}"]
        if not isinstance(value, torch.Tensor) or value.numel() != 1:
            problems.append(f"{name} on {key} boxes: expected a scalar tensor, got {type(value).__name__} "
                            f"{tuple(getattr(value, 'shape', ()))}")
            continue
        if value.dtype != dtype:
            problems.append(f"{name} on {key} boxes: result dtype {value.dtype}, expected {dtype} (integer and "
                            f"float16 boxes are computed in float32, float64 in float64)")
            continue
        problems.append(compare_number(f"{name} on 1000 random {key} box pairs (mean)", float(value),
                                       float(ref.mean()), atol=tol, rtol=tol))
    problems.append(compare_tensors(f"{name} of single pairs (pair k = boxes k of the 1000)", actual["per_pair"],
                                    ref32[:200], atol=1e-5, rtol=1e-4, check_dtype=False))
    special, sp, sg = actual["special"], inputs["special_pred"], inputs["special_gt"]
    if not isinstance(special, torch.Tensor) or special.shape != (len(sp),):
        problems.append(f"{name} of single degenerate pairs: expected {len(sp)} scalars")
    elif not torch.isfinite(special).all():
        bad = int(torch.nonzero(~torch.isfinite(special))[0])
        problems.append(f"{name} of the pair {sp[bad].tolist()} / {sg[bad].tolist()}"
                        f" is {float(special[bad])}: zero-area boxes must not give NaN (eps = 1e-7 in the denominators)")
    else:
        ref = tv_loss(sp, sg, reduction="none")
        ok = torch.isfinite(ref)
        problems.append(compare_tensors(f"{name} of degenerate/identical pairs {sp.tolist()} vs "
                                        f"{sg.tolist()}", special[ok], ref[ok], atol=1e-5, check_dtype=False))
    large_ref = float(tv_loss(inputs["large_pred"].float(), inputs["large_gt"].float(), reduction="mean"))
    for key in ("large_float16", "large_float32"):
        value = actual[key]
        dtype_name = key.split("_")[1]
        if not isinstance(value, torch.Tensor) or value.numel() != 1:
            problems.append(f"{name} on 64 large {dtype_name} boxes: expected a scalar tensor")
        elif value.dtype != torch.float32:
            problems.append(f"{name} on 64 large (200-300 px) {dtype_name} boxes: result dtype {value.dtype}, expected "
                            f"torch.float32: compute float16 boxes in float32 (their areas overflow float16)")
        elif not torch.isfinite(value).all():
            problems.append(f"{name} on 64 large (200-300 px) {dtype_name} boxes is {float(value)}: areas and squared "
                            f"diagonals above 65504 overflow float16; upcast to float32 first")
        else:
            problems.append(compare_number(f"{name} on 64 large (200-300 px) {dtype_name} boxes (mean)", float(value),
                                           large_ref, atol=2e-3 if dtype_name == "float16" else 1e-5, rtol=1e-3))
    grads = actual["grads"]
    if not isinstance(grads, (list, tuple)) or len(grads) != 2 or any(g is None for g in grads):
        problems.append(f"{name}: no gradient reaches the predicted boxes")
    elif any(not isinstance(g, torch.Tensor) or g.shape != (n, 4) for g, n in zip(grads, (len(sp), 50 + len(sp)))):
        problems.append(f"{name}: the gradient has the wrong shape")
    elif not all(bool(torch.isfinite(g).all()) for g in grads):
        problems.append(f"{name}: NaN or Inf in the gradient (with zero-area boxes among the pairs)")
    elif float(grads[1][:50].abs().sum()) == 0:
        problems.append(f"{name}: the gradient w.r.t. the predicted boxes is zero")
    empty = actual["empty"]
    if not isinstance(empty, torch.Tensor) or empty.numel() != 1 or not bool(torch.isfinite(empty).all()):
        problems.append(f"{name} of no pairs (N = 0): expected a finite scalar (0), got {empty!r}"[:300])
    return verdict_from(problems, f"equals torchvision on 1000 random integer pairs, all dtypes, degenerate and large "
                                  f"boxes; finite gradients{positive_only_note}")


@_shaped({**{f"mean_{k}": _T for k in ("int64", "int32", "float32", "float64", "float16")}, "per_pair": _T, "special": _T, "large_float16": _T, "large_float32": _T, "grads": None, "empty": _T})
def verdict_diou(actual, expected) -> Verdict:
    from torchvision.ops import distance_box_iou_loss

    return _box_loss_verdict(actual, distance_box_iou_loss, "diou_loss", positive=False)


@_shaped({**{f"mean_{k}": _T for k in ("int64", "int32", "float32", "float64", "float16")}, "per_pair": _T, "special": _T, "large_float16": _T, "large_float32": _T, "grads": None, "empty": _T})
def verdict_ciou(actual, expected) -> Verdict:
    from torchvision.ops import complete_box_iou_loss

    return _box_loss_verdict(actual, complete_box_iou_loss, "ciou_loss", True, " (boxes of positive size)")


# --------------------------------------------------------------------------------------------
# mAP challenge
# --------------------------------------------------------------------------------------------

class HiddenDataFault(Exception):
    """The challenge cannot be graded on this machine (one line; the check becomes ``grader_error``)."""


def _generator():
    """``data/detection/make_dataset.py``, loaded here (the parent: the worker never sees it)."""
    if "_detection_make_dataset" not in sys.modules:
        make_dataset = _course_data() / "detection" / "make_dataset.py"
        if not make_dataset.is_file():
            raise HiddenDataFault(f"{make_dataset} is missing: the grader cannot build the test split's annotations")
        spec = importlib.util.spec_from_file_location("_detection_make_dataset", make_dataset)
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # dataclasses need the module registered
        spec.loader.exec_module(module)
    return sys.modules["_detection_make_dataset"]


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise HiddenDataFault(f"cannot read {path}: {exc}") from None
    if not isinstance(data, dict):
        raise HiddenDataFault(f"{path} is not a COCO file")
    return data


def released_test_images() -> tuple[dict | None, str]:
    """The students' test split record (``test_images.json`` of the bundle, with its images'
    fingerprint): ``$DETECTION_RELEASED_TEST_IMAGES``, else the copy ``grader release`` keeps in
    ``hidden/released/``, else the checkout's own ``data/generated/detection/test_images.json``;
    ``(None, "")`` when there is none."""
    explicit = os.environ.get("DETECTION_RELEASED_TEST_IMAGES", "").strip()
    if explicit:
        if not Path(explicit).is_file():
            raise HiddenDataFault(f"DETECTION_RELEASED_TEST_IMAGES={explicit}: no such file")
        return _read_json(Path(explicit)), explicit
    for path in (_detection_dir() / "hidden" / "released" / "test_images.json", _detection_dir() / "test_images.json"):
        if path.is_file():
            return _read_json(path), str(path)
    return None, ""


_HIDDEN_CACHE: dict[tuple, dict] = {}


def hidden_test_annotations() -> dict:
    """The test split's COCO annotations (grader only), for the grading machine's secret seed.

    The seed: ``$DETECTION_TEST_SEED`` or the file ``$DETECTION_TEST_SEED_FILE`` (parent only);
    unset or the generator's public default: ``HiddenDataFault`` (the challenge is not graded).
    The annotations: ``$DETECTION_HIDDEN_TEST`` (must match the seed), else the first of
    ``hidden/released/test.json`` and ``hidden/test.json`` whose ``seed_fingerprint`` matches; else
    regenerated from the seed (no images written; the released split's size and knobs) into
    ``$DETECTION_HIDDEN_TEST`` or ``hidden/test.json`` (a stale file, e.g. made with the public
    seed, is replaced). Last, the annotations' images fingerprint must equal the released test
    images' (``released_test_images``): annotations of other images stop grading."""
    mk = _generator()
    try:
        seed = mk.secret_test_seed()
    except mk.SeedError as exc:
        raise HiddenDataFault(str(exc)) from None
    if seed is None:
        raise HiddenDataFault("the test split's secret seed is not set on the grading machine: set "
                              "DETECTION_TEST_SEED (or DETECTION_TEST_SEED_FILE) to the seed the student bundle was "
                              "built with; the mAP challenge is not graded without it")
    if seed == mk.DEFAULT_TEST_SEED:
        raise HiddenDataFault("DETECTION_TEST_SEED is the generator's public default, from which anyone can rebuild "
                              "the test annotations: build the bundle with a private seed and grade with it")
    want = mk.seed_fingerprint(seed)
    bundle, bundle_path = released_test_images()
    explicit = os.environ.get("DETECTION_HIDDEN_TEST", "").strip()
    key = (want, explicit, bundle_path, bundle.get("info", {}).get("images_fingerprint") if bundle else None)
    if key in _HIDDEN_CACHE:
        return _HIDDEN_CACHE[key]
    coco = None
    hidden = _detection_dir() / "hidden"
    for path in ([Path(explicit)] if explicit else [hidden / "released" / "test.json", hidden / "test.json"]):
        if not path.is_file():
            continue
        data = _read_json(path)
        if data.get("info", {}).get("seed_fingerprint") == want:
            coco = data
            break
        if explicit:
            raise HiddenDataFault(f"DETECTION_HIDDEN_TEST={explicit} was made with another test seed than "
                                  f"DETECTION_TEST_SEED (seed fingerprints differ)")
    if coco is None:
        count, knobs = 300, mk.Knobs()
        if bundle is not None:
            count = len(bundle.get("images", [])) or count
            try:
                knobs = mk.Knobs(**bundle.get("info", {}).get("knobs", {}))
            except TypeError:
                raise HiddenDataFault(f"{bundle_path}: its knobs are not this generator's") from None
        coco = mk.hidden_test_annotations(knobs, count, test_seed=seed)
        target = Path(explicit) if explicit else hidden / "test.json"
        target.parent.mkdir(parents=True, exist_ok=True)
        partial_file = target.with_name(f".{target.name}.{os.getpid()}.tmp")  # atomic: graders may run at once
        partial_file.write_text(json.dumps(coco))
        os.replace(partial_file, target)
    if bundle is not None:
        released = bundle.get("info", {}).get("images_fingerprint")
        made = coco.get("info", {}).get("images_fingerprint")
        if released != made:
            raise HiddenDataFault(f"the hidden test annotations do not belong to the students' test images ({bundle_path}: "
                                  f"images fingerprint {str(released)[:12]}, annotations' {str(made)[:12]}): "
                                  f"DETECTION_TEST_SEED is not the seed that bundle was built with")
    _HIDDEN_CACHE[key] = coco
    return coco


def _coco_eval(results: list[dict], ground_truth: dict) -> float:
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    if not results:
        return 0.0
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = json.loads(json.dumps(ground_truth))
        gt.createIndex()
        dt = gt.loadRes(results)
        ev = COCOeval(gt, dt, "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return max(0.0, float(ev.stats[0]))


def _results(detections: torch.Tensor) -> list[dict]:
    return [{"image_id": int(r[0]), "category_id": int(r[1]), "bbox": r[2:6], "score": r[6]}
            for r in detections.tolist()]


def map_of_detections(detections: torch.Tensor, ground_truth: dict) -> float:
    """mAP@[.5:.95] (pycocotools) of an (N, 7) table [image_id, category_id, x, y, w, h, score]
    (rows of unknown images or categories, or without a positive size, are left out)."""
    return _coco_eval(_results(scorable(detections, ground_truth)[0]), ground_truth)


def scorable(det: torch.Tensor, ground_truth: dict, per_image: int = 100):
    """The rows pycocotools scores, and what was left out: ``(table, notes, refusal)``.

    Unknown image ids refuse the whole file (pycocotools' ``loadRes`` does); unknown categories and
    boxes without a positive width and height are dropped; at most ``per_image`` detections per
    image, the best scores first (computed here, whatever the worker did)."""
    notes = []
    n = int(det.shape[0])
    image_ids = sorted(im["id"] for im in ground_truth["images"])
    category_ids = sorted(c["id"] for c in ground_truth["categories"])
    if n == 0:
        return det, notes, None
    img = det[:, 0].round().long()
    known_img = torch.isin(img, torch.tensor(image_ids))
    if not bool(known_img.all()):
        bad = img[~known_img]
        hint = ""
        if int(img.min()) == image_ids[0] - 1 and int(img.max()) <= image_ids[-1] - 1:
            hint = " (image ids start at 1: take them from test_images.json, not the position in the list)"
        return det[:0], notes, (f"{int((~known_img).sum())} of {n} detections have an image_id that is not in the test "
                                f"split (ids {image_ids[0]}..{image_ids[-1]} in test_images.json; yours range "
                                f"{int(bad.min())}..{int(bad.max())}){hint}; pycocotools refuses such a file "
                                f"(\"Results do not correspond to current coco set\")")
    cat = det[:, 1].round().long()
    known_cat = torch.isin(cat, torch.tensor(category_ids))
    if not bool(known_cat.all()):
        hint = ""
        if int(cat.min()) == 0:
            names = ", ".join(f"{c['id']} {c['name']}" for c in ground_truth["categories"])
            hint = f": category ids start at 1 ({names}), yours include 0"
        notes.append(f"{int((~known_cat).sum())} detections with a category id outside "
                     f"{category_ids[0]}..{category_ids[-1]} were left out{hint}")
    sized = (det[:, 4] > 0) & (det[:, 5] > 0)
    if not bool(sized.all()):
        notes.append(f"{int((~sized & known_cat).sum())} detections without a positive width and height were left "
                     f"out (bbox is [x, y, width, height])")
    det = det[known_cat & sized]
    if det.shape[0]:
        order = torch.argsort(det[:, 6], descending=True, stable=True)
        keep, counts = [], {}
        for i in order.tolist():
            k = int(det[i, 0])
            if counts.get(k, 0) < per_image:
                counts[k] = counts.get(k, 0) + 1
                keep.append(i)
        if len(keep) < det.shape[0]:
            notes.append(f"{det.shape[0] - len(keep)} detections beyond the best {per_image} of an image were left out")
        det = det[torch.tensor(sorted(keep), dtype=torch.long)]
    return det, notes, None


def _format_readings(det: torch.Tensor, width: float, height: float):
    """Other readings of the bbox columns, for the hint: ``[(description, table), ...]``."""
    x, y, a, b = det[:, 2], det[:, 3], det[:, 4], det[:, 5]
    readings = []
    if bool(((a >= x) & (b >= y)).float().mean() > 0.95):
        readings.append(("[x1, y1, x2, y2] corners", torch.stack([x, y, a - x, b - y], 1)))
    readings.append(("[cx, cy, w, h] centres", torch.stack([x - a / 2, y - b / 2, a, b], 1)))
    if float(det[:, 2:6].abs().max()) <= 1.5:
        scale = torch.tensor([width, height, width, height], dtype=det.dtype)
        readings.append(("normalised [x, y, w, h] (fractions of the image size)", det[:, 2:6] * scale))
        readings.append(("normalised [cx, cy, w, h] (YOLO's format)",
                         torch.stack([x - a / 2, y - b / 2, a, b], 1) * scale))
    out = []
    for name, boxes in readings:
        table = det.clone()
        table[:, 2:6] = boxes
        out.append((name, table))
    return out


_MAP_CACHE: dict[tuple, tuple] = {}
MAX_ROWS = 200_000


def _map_from(actual) -> tuple[float, str, str | None]:
    """``(mAP, message, refusal)`` of the probe's detections (evaluated once for both checks)."""
    det = actual.get("detections") if isinstance(actual, dict) else None
    if not isinstance(det, torch.Tensor) or det.dim() != 2 or det.shape[1] != 7 or det.shape[0] > MAX_ROWS:
        return 0.0, "", "malformed detections: expected at most 200 000 rows [image_id, category_id, x, y, w, h, score]"
    det = det.double()
    if not bool(torch.isfinite(det).all()):
        return 0.0, "", "the detections hold NaN or infinite numbers"
    gt = hidden_test_annotations()
    key = (gt["info"].get("images_fingerprint"), gt["info"].get("seed_fingerprint"), tuple(det.shape),
           hash(det.numpy().tobytes()), actual.get("read"))
    if key in _MAP_CACHE:
        return _MAP_CACHE[key]
    table, notes, refusal = scorable(det, gt)
    if refusal:
        _MAP_CACHE.clear()
        _MAP_CACHE[key] = (0.0, "", refusal)
        return _MAP_CACHE[key]
    value = _coco_eval(_results(table), gt)
    read = actual.get("read")
    if isinstance(read, int) and read > MAX_ROWS:
        notes.insert(0, f"only the first {MAX_ROWS:,} of the file's {read:,} entries were read (the cut-off)".replace(",", " "))
    if value < max(t for rows in map_tiers().values() for t, _ in rows) and table.shape[0]:
        width = float(gt["images"][0].get("width", 160))
        height = float(gt["images"][0].get("height", 160))
        best = None
        for name, other in _format_readings(table, width, height):
            other_value = _coco_eval(_results(other), gt)
            if other_value > max(2 * value, value + 0.02) and (best is None or other_value > best[1]):
                best = (name, other_value)
        if best is not None:
            notes.append(f"hint: your boxes look like {best[0]}: read that way they would score {best[1]:.4f}; "
                         f"COCO's bbox is [x_min, y_min, width, height] in pixels")
    text = (f"mAP@[.5:.95] on the hidden test split: {value:.4f} ({int(table.shape[0])} detections scored; "
            f"{_tiers_text()})")
    if notes:
        text += "; " + "; ".join(notes)
    _MAP_CACHE.clear()
    _MAP_CACHE[key] = (value, text, None)
    return _MAP_CACHE[key]


def _map_verdict(actual, grade) -> Verdict:
    try:
        value, text, refusal = _map_from(actual)
    except HiddenDataFault as exc:
        return api.grader_fault(f"mAP challenge not graded: {exc}")
    if refusal:
        return failed(refusal)
    return grade(value, text)


@_shaped({"detections": _T})
def verdict_map_regular(actual, expected) -> Verdict:
    return _map_verdict(actual, lambda value, text: _tiered(value, text, map_tiers()["map.regular"]))


@_shaped({"detections": _T})
def verdict_map_bonus(actual, expected) -> Verdict:
    return _map_verdict(actual, lambda value, text: _tiered(value, text, map_tiers()["map.bonus"]))


def _tiered(value: float, text: str, rows) -> Verdict:
    share = _tier_share(value, rows)
    if share >= 1:
        return passed(text)
    return partial(share, text) if share > 0 else failed(text)


# --------------------------------------------------------------------------------------------
# Written answers: shown to the reviewer (0 points here; the three manual components hold the review)
# --------------------------------------------------------------------------------------------

_CONTROL = dict.fromkeys(c for c in range(32) if c not in (9, 10))


@_shaped({"answers": None})
def verdict_answers(actual, expected) -> Verdict:
    answers = actual.get("answers") if isinstance(actual, dict) else None
    if not isinstance(answers, list) or len(answers) != 3 or not all(isinstance(a, str) for a in answers):
        return failed("ANSWERS.md could not be read as three answers (keep the '## Question 1..3' headings)")
    answers = [a.translate(_CONTROL)[:6000] for a in answers]
    lines, full = [], []
    for k, text in enumerate(answers, 1):
        words = len(text.split())
        excerpt = " ".join(text.split())
        excerpt = excerpt if len(excerpt) <= 400 else excerpt[:400] + " ..."
        lines.append(f"Question {k}: " + (f"({words} words) {excerpt}" if words else "(no answer)"))
        full.append(f"Question {k}\n{'-' * 11}\n{text or '(no answer)'}\n")
    path = api.attachment_path("detection-written-answers.txt")
    path.write_text("\n".join(full), encoding="utf-8")
    attachments = (api.attachment_name("detection-written-answers.txt"),)
    missing = [k for k, a in enumerate(answers, 1) if not a]
    message = "written answers, for the reviewer (full text attached):\n" + "\n".join(lines)
    if missing:
        return Verdict(0.0, f"no answer yet to question(s) {missing}; " + message, attachments)
    return Verdict(1.0, message, attachments)


CHECKS = [
    Check("backbone.resnet", "Backbone", "backbone_public", verdict_backbone_public,
          "resnet18: feature shapes deepest first; trainable parameters for unfreeze_last = 0, 1, 5"),
    Check("backbone.models", "Backbone", "backbone_models", verdict_backbone_models,
          "resnet18 and efficientnet_b0: trainable parameters for every unfreeze_last", differential=True,
          timeout_factor=10.0, timeout_floor=60.0, structure="none"),  # name lists differ in length when wrong
    Check("neck.structure", "Neck", "neck_structure", verdict_neck_structure,
          "FPN: output shapes and order, top-down dependencies, 1x1 lateral and 3x3 output convs"),
    Check("neck.values", "Neck", "neck_values", verdict_neck_values,
          "FPN: outputs equal the FPN formula with known weights", differential=True, structure="none"),
    Check("head.decoupled", "Head", "head_probe", verdict_head,
          "decoupled head: output shapes; separate classification and regression towers"),
    Check("tal.cases", "TAL", "tal_cases", verdict_tal_cases,
          "TAL on hand-built cases: centre inside, top-k, conflicts, normalisation, no GT, GT without candidates"),
    Check("tal.random", "TAL", "tal_random", verdict_tal_random,
          "TAL on random images agrees with the reference", differential=True),
    Check("diou.torchvision", "DIoU", "diou_probe", verdict_diou,
          "diou_loss equals torchvision.ops.distance_box_iou_loss (the course's check)"),
    Check("ciou.torchvision", "CIoU", "ciou_probe", verdict_ciou,
          "ciou_loss equals torchvision.ops.complete_box_iou_loss"),
    # the verdict may build the hidden annotations (about 3 s) and score up to 30 000 detections in up
    # to five box readings (about 15 s on a busy 2-core machine): a generous budget
    Check("map.regular", "mAP challenge", "map_predictions", verdict_map_regular,
          "mAP@[.5:.95] of predictions_test.json on the hidden test split: >= 0.05 half, >= 0.1 full",
          verdict_budget=300.0),
    Check("map.bonus", "mAP challenge bonus", "map_predictions", verdict_map_bonus,
          "mAP@[.5:.95] >= 0.2: 3 bonus points", verdict_budget=300.0),
    Check("answers.text", "Written answers (text)", "written_answers", verdict_answers,
          "the three written answers of ANSWERS.md, shown to the reviewer"),
]
