"""Variants of the reference solution of "detection", as text edits of a temporary copy.

WRONG variants: plausible mistakes; each must lose the points of its own component (all of
them) and nothing else. CORRECT variants: other valid solutions; they must get full marks.
Each edit is ``(file, old, new)``: ``old`` must occur exactly once in the reference file.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Variant:
    name: str
    component: str          # the component it breaks (WRONG) or exercises (CORRECT)
    edits: tuple            # ((file, old, new), ...)
    why: str = ""


WRONG = [
    Variant("backbone_unfreezes_first_stages", "Backbone", (
        ("backbone.py", "stages[len(stages) - min(unfreeze_last, len(stages)):]",
         "stages[:min(unfreeze_last, len(stages))]"),
    ), "unfreezes the first (shallowest) stages instead of the last"),
    Variant("neck_without_top_down", "Neck", (
        ("neck.py", "m = m + F.interpolate(merged, size=m.shape[-2:], mode=\"nearest\")", "m = m"),
    ), "laterals only: no top-down addition"),
    Variant("neck_outputs_deepest_first", "Neck", (
        ("neck.py", "return outputs[::-1]", "return outputs"),
    ), "returns [P5, P4, P3]"),
    Variant("neck_concat_instead_of_add", "Neck", (
        ("neck.py", "nn.Conv2d(out_channels, out_channels, kernel_size=3, padding=1) for _ in in_channels_list",
         "nn.Conv2d(out_channels * (2 if i else 1), out_channels, kernel_size=3, padding=1) "
         "for i, _ in enumerate(in_channels_list)"),
        ("neck.py", "m = m + F.interpolate(merged, size=m.shape[-2:], mode=\"nearest\")",
         "m = torch.cat([m, F.interpolate(merged[:, : m.shape[1]], size=m.shape[-2:], mode=\"nearest\")], 1)"),
        ("neck.py", "merged = m\n", "merged = m[:, : self.out_channels]\n"),
    ), "concatenates the upsampled map instead of adding it"),
    Variant("head_shared_branch", "Head", (
        ("head.py", "reg_features = self.reg_tower(x)", "reg_features = self.cls_tower(x)"),
    ), "box deltas computed from the classification tower: one shared branch"),
    Variant("head_objectness_from_cls_tower", "Head", (
        ("head.py", "obj = self.obj_pred(reg_features)", "obj = self.obj_pred(self.cls_tower(x))"),
    ), "objectness computed from the classification tower (YOLOX: from the regression branch)"),
    Variant("head_objectness_all_deltas_first", "Head", (
        ("head.py", "box = torch.cat([deltas.view(b, self.num_anchors, 4, h, w), "
                    "obj.view(b, self.num_anchors, 1, h, w)], dim=2)",
         "box = torch.cat([deltas, obj], dim=1)"),
    ), "[all deltas, all objectness] instead of 5 channels per anchor"),
    Variant("tal_swapped_exponents", "TAL", (
        ("assigner.py", "scores.pow(score_exponent) * ious.pow(iou_exponent)",
         "scores.pow(iou_exponent) * ious.pow(score_exponent)"),
    ), "the homework's alpha = 6 on the score, beta = 1 on the IoU"),
    Variant("tal_without_centre_rule", "TAL", (
        ("assigner.py", "candidates = centers_inside_boxes(anchor_points, gt_boxes)",
         "candidates = torch.ones_like(metric, dtype=torch.bool)"),
    ), "every anchor is a candidate of every GT"),
    Variant("tal_centre_on_border_counts", "TAL", (
        ("assigner.py", "return (x > x1) & (x < x2) & (y > y1) & (y < y2)",
         "return (x >= x1) & (x <= x2) & (y >= y1) & (y <= y2)"),
    ), "centres on the border count as inside"),
    Variant("tal_conflict_by_score", "TAL", (
        ("assigner.py", "gt_index = resolve_conflicts(chosen, ious)", "gt_index = resolve_conflicts(chosen, metric)"),
    ), "conflicts go to the highest alignment t instead of the highest IoU"),
    Variant("tal_conflict_by_class_score", "TAL", (
        ("assigner.py", "gt_index = resolve_conflicts(chosen, ious)",
         "gt_index = resolve_conflicts(chosen, pred_scores[:, gt_labels].T)"),
    ), "conflicts go to the GT whose class has the highest predicted score"),
    Variant("tal_without_normalisation", "TAL", (
        ("assigner.py", "(metric[j, positive.nonzero().squeeze(1)] * max_iou[j] / (max_t[j] + eps))",
         "(metric[j, positive.nonzero().squeeze(1)])"),
    ), "soft scores are the raw t"),
    Variant("tal_topk_over_all_anchors", "TAL", (
        ("assigner.py", "chosen = select_topk_candidates(metric, candidates, topk)",
         "chosen = select_topk_candidates(metric, torch.ones_like(candidates), topk) & candidates"),
    ), "top-k over all anchors, then the centre rule: a GT gets fewer than k anchors"),
    Variant("diou_iou_only", "DIoU", (
        ("losses.py", "loss, _iou = _diou_and_iou(pred_boxes, gt_boxes, eps)",
         "_, _iou = _diou_and_iou(pred_boxes, gt_boxes, eps)\n    loss = 1 - _iou"),
    ), "IoU loss: no distance term"),
    Variant("diou_enclosing_area", "DIoU", (
        ("losses.py", "loss, _iou = _diou_and_iou(pred_boxes, gt_boxes, eps)",
         "_, _iou = _diou_and_iou(pred_boxes, gt_boxes, eps)\n"
         "    p, g = pred_boxes, gt_boxes\n"
         "    cw = torch.max(p[:, 2], g[:, 2]) - torch.min(p[:, 0], g[:, 0])\n"
         "    ch = torch.max(p[:, 3], g[:, 3]) - torch.min(p[:, 1], g[:, 1])\n"
         "    d2 = ((p[:, 0] + p[:, 2] - g[:, 0] - g[:, 2]) / 2) ** 2 "
         "+ ((p[:, 1] + p[:, 3] - g[:, 1] - g[:, 3]) / 2) ** 2\n"
         "    loss = 1 - _iou + d2 / (cw * ch + eps)"),
    ), "divides by the enclosing box's area instead of its squared diagonal"),
    Variant("diou_float16_without_upcast", "DIoU", (
        ("losses.py", "@@diou_loss", """
    up = lambda b: b if b.is_floating_point() else b.float()  # float16 stays float16
    loss, _iou = _diou_and_iou(up(pred_boxes), up(gt_boxes), eps)
    return loss.mean() if loss.numel() > 0 else 0.0 * loss.sum()
"""),
    ), "float16 boxes computed in float16: 300 px boxes overflow (NaN), a float16 result where float32 is promised"),
    Variant("diou_without_eps", "DIoU", (
        ("losses.py", "loss, _iou = _diou_and_iou(pred_boxes, gt_boxes, eps)",
         "loss, _iou = _diou_and_iou(pred_boxes, gt_boxes, 0.0)"),
    ), "no eps: zero-area boxes give NaN"),
]

LOOP_TAL = '''
    num_anchors, num_classes = pred_scores.shape
    gt_index = torch.full((num_anchors,), -1, dtype=torch.long)
    labels = torch.full((num_anchors,), num_classes, dtype=torch.long)
    boxes = torch.zeros((num_anchors, 4), dtype=pred_boxes.dtype)
    scores = torch.zeros((num_anchors,), dtype=pred_scores.dtype)
    num_gt = gt_boxes.shape[0]
    t = {}
    u = {}
    choosers = {}
    for j in range(num_gt):
        x1, y1, x2, y2 = gt_boxes[j].tolist()
        cands = []
        for i in range(num_anchors):
            px, py = anchor_points[i].tolist()
            if x1 < px < x2 and y1 < py < y2:
                iou = float(box_iou(gt_boxes[j:j + 1], pred_boxes[i:i + 1])[0, 0])
                s = float(pred_scores[i, int(gt_labels[j])])
                t[j, i] = s ** score_exponent * iou ** iou_exponent
                u[j, i] = iou
                cands.append(i)
        cands.sort(key=lambda i: -t[j, i])
        for i in cands[:topk]:
            choosers.setdefault(i, []).append(j)
    final = {}
    for i, js in choosers.items():
        best = max(js, key=lambda j: (u[j, i], -j))
        final[i] = best
    for j in range(num_gt):
        mine = [i for i, jj in final.items() if jj == j]
        if not mine:
            continue
        max_t = max(t[j, i] for i in mine)
        max_u = max(u[j, i] for i in mine)
        for i in mine:
            gt_index[i] = j
            labels[i] = int(gt_labels[j])
            boxes[i] = gt_boxes[j]
            scores[i] = t[j, i] * max_u / (max_t + eps)
    return TALAssignment(gt_index, labels, boxes, scores)
'''

ALT_DIOU = '''
    p = pred_boxes.double() if pred_boxes.dtype == torch.float64 else pred_boxes.float()
    g = gt_boxes.double() if gt_boxes.dtype == torch.float64 else gt_boxes.float()
    # centre / size form
    pc, pw = (p[:, :2] + p[:, 2:]) / 2, p[:, 2:] - p[:, :2]
    gc, gw = (g[:, :2] + g[:, 2:]) / 2, g[:, 2:] - g[:, :2]
    lo = torch.maximum(pc - pw / 2, gc - gw / 2)
    hi = torch.minimum(pc + pw / 2, gc + gw / 2)
    inter = (hi - lo).clamp(min=0).prod(dim=1)
    union = pw.prod(dim=1) + gw.prod(dim=1) - inter
    enclosing = torch.maximum(p[:, 2:], g[:, 2:]) - torch.minimum(p[:, :2], g[:, :2])
    per_pair = 1 - inter / (union + eps) + ((pc - gc) ** 2).sum(1) / ((enclosing ** 2).sum(1) + eps)
    if per_pair.numel() == 0:
        return per_pair.sum()
    return per_pair.sum() / per_pair.numel()
'''

_TAL_NORM = "(metric[j, positive.nonzero().squeeze(1)] * max_iou[j] / (max_t[j] + eps))"

CORRECT = [
    Variant("tal_norm_without_eps", "TAL", (("assigner.py", _TAL_NORM,
                                             "(metric[j, positive.nonzero().squeeze(1)] * max_iou[j] / max_t[j])"),),
            "the spec's formula as written, no eps"),
    Variant("tal_norm_clamp_eps", "TAL", (("assigner.py", _TAL_NORM,
                                           "(metric[j, positive.nonzero().squeeze(1)] * max_iou[j] / "
                                           "max_t[j].clamp(min=eps))"),),
            "clamp(min=eps) instead of + eps"),
    Variant("tal_norm_mmdet_tood", "TAL", (("assigner.py", _TAL_NORM,
                                            "(metric[j, positive.nonzero().squeeze(1)] / (max_t[j] + 1e-8) * "
                                            "max_iou[j])"),),
            "mmdetection TOOD's placement: t / (max_t + 1e-8) * max_iou"),
    Variant("tal_loops", "TAL", (("assigner.py", "@@task_aligned_assign", LOOP_TAL),),
            "plain Python loops over GTs and anchors"),
    Variant("diou_centre_size_form", "DIoU", (("losses.py", "@@diou_loss", ALT_DIOU),),
            "centre/size formulation, sum / count"),
    Variant("neck_bilinear_upsampling", "Neck", (
        ("neck.py", "m = m + F.interpolate(merged, size=m.shape[-2:], mode=\"nearest\")",
         "m = m + F.interpolate(merged, size=m.shape[-2:], mode=\"bilinear\", align_corners=False)"),
    ), "bilinear instead of nearest upsampling (accepted)"),
    Variant("backbone_requires_grad_loop", "Backbone", (("backbone.py", "@@Backbone.set_trainable", '''
        self.body.requires_grad_(False)
        if unfreeze_last > 0:
            for stage in feature_stages(self.body)[-unfreeze_last:]:
                for name in stage:
                    self.body.get_parameter(name).requires_grad_(True)
'''),), "requires_grad_ on the module, then get_parameter per name"),
]
