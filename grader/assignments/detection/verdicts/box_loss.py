"""Verdicts of DIoU and CIoU: the course's own check against torchvision, on the probe's public
inputs rebuilt here."""

from __future__ import annotations

import torch

from grader.core.api import Verdict, compare_number, compare_tensors, verdict_from

from .common import _T, CHECKS, P, _shaped


def _box_loss_verdict(actual, tv_loss, name: str, positive: bool, positive_only_note: str = "") -> Verdict:
    """The course's check: the submission's values against torchvision's, computed here on the
    probe's public inputs rebuilt here (``probes.box_loss_inputs``)."""
    inputs = P.box_loss_inputs(positive)
    pred, gt = inputs["pred"], inputs["gt"]
    problems: list[str | None] = []
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
                        f" is {float(special[bad])}: zero-area boxes must not give NaN "
                        f"(eps = 1e-7 in the denominators)")
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


@CHECKS.verdict("diou.torchvision", probe="diou_probe",
                description="diou_loss equals torchvision.ops.distance_box_iou_loss (the course's check)")
@_shaped({**{f"mean_{k}": _T for k in ("int64", "int32", "float32", "float64", "float16")}, "per_pair": _T,
          "special": _T, "large_float16": _T, "large_float32": _T, "grads": None, "empty": _T})
def verdict_diou(actual, expected) -> Verdict:
    from torchvision.ops import distance_box_iou_loss

    return _box_loss_verdict(actual, distance_box_iou_loss, "diou_loss", positive=False)


@CHECKS.verdict("ciou.torchvision", probe="ciou_probe",
                description="ciou_loss equals torchvision.ops.complete_box_iou_loss")
@_shaped({**{f"mean_{k}": _T for k in ("int64", "int32", "float32", "float64", "float16")}, "per_pair": _T,
          "special": _T, "large_float16": _T, "large_float32": _T, "grads": None, "empty": _T})
def verdict_ciou(actual, expected) -> Verdict:
    from torchvision.ops import complete_box_iou_loss

    return _box_loss_verdict(actual, complete_box_iou_loss, "ciou_loss", True, " (boxes of positive size)")
