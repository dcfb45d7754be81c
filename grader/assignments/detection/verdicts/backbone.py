"""Verdicts of the Backbone: shapes and order, frozen and trainable parameters."""

from __future__ import annotations

from grader.core import api
from grader.core.api import Verdict, failed, verdict_from

from .common import _BACKBONE_CASE, CHECKS, _shaped


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


@CHECKS.verdict("backbone.resnet", probe="backbone_public",
                description="resnet18: feature shapes deepest first; trainable parameters for unfreeze_last = 0, 1, 5")
@_shaped({"forward": {"shapes": None, "out_channels": None},
          "k0": _BACKBONE_CASE, "k1": _BACKBONE_CASE, "k5": _BACKBONE_CASE})
def verdict_backbone_public(actual, expected) -> Verdict:
    problems: list[str | None] = []
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


@CHECKS.verdict("backbone.models", probe="backbone_models",
                description="resnet18 and efficientnet_b0: trainable parameters for every unfreeze_last",
                differential=True, timeout_factor=10.0, timeout_floor=60.0,
                structure="none")  # name lists differ in length when wrong
def verdict_backbone_models(actual, expected) -> Verdict:
    problems: list[str | None] = []
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
