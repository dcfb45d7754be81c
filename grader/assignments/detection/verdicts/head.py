"""Verdict of the decoupled head: shapes, separate towers, objectness from the regression tower."""

from __future__ import annotations

from grader.core.api import Verdict, verdict_from

from .common import CHECKS, _shaped


@CHECKS.verdict("head.decoupled", probe="head_probe",
                description="decoupled head: output shapes; separate classification and regression towers")
@_shaped({"shapes": {"False": None, "True": None}, "params": None, "obj_params": None, "obj_cls": None,
          "obj_channels": None})
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
