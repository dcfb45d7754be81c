"""Variants of the centernet reference: plausible wrong solutions and alternative correct ones.

Each variant is a list of exact text replacements applied to a copy of ``reference/centernet``.
``apply`` insists that every ``old`` text occurs exactly ``count`` times, so a refactor of the
reference cannot silently turn a variant into a copy of the reference: the test then fails and
names the replacement to update.

``component`` is the graded component the variant must lose points in (and only there);
``None`` marks an alternative correct solution, which must get full marks.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from grader.generate import SUBMISSION_OUTPUTS


@dataclass(frozen=True)
class Edit:
    file: str  # relative to the centernet package, e.g. "head.py"
    old: str
    new: str
    count: int = 1  # occurrences of ``old`` the reference must have


@dataclass(frozen=True)
class Variant:
    name: str
    component: str | None  # None: a correct alternative
    edits: tuple[Edit, ...]
    note: str = ""


class VariantError(AssertionError):
    """A replacement no longer matches the reference."""


def apply(variant: Variant, source: Path, target: Path) -> None:
    """Copy the package ``source`` to ``target`` and apply the variant's edits there."""
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", *SUBMISSION_OUTPUTS))
    for edit in variant.edits:
        path = target / edit.file
        text = path.read_text(encoding="utf-8")
        found = text.count(edit.old)
        if found != edit.count:
            raise VariantError(f"variant '{variant.name}': {edit.file} contains the text to replace {found} time(s), "
                               f"expected {edit.count}; update tests/centernet/variants.py for the reference. "
                               f"Text: {edit.old!r}")
        if edit.old == edit.new:
            raise VariantError(f"variant '{variant.name}': an edit of {edit.file} changes nothing")
        path.write_text(text.replace(edit.old, edit.new), encoding="utf-8")


def _v(name: str, component: str | None, *edits: tuple, note: str = "") -> Variant:
    return Variant(name, component, tuple(Edit(*e) for e in edits), note)


# ------------------------------------------------------------------------------------------------
# Plausible wrong solutions: each must lose points in ``component`` only.
# ------------------------------------------------------------------------------------------------

WRONG = [
    # UpscaleTwiceLayer
    _v("upscale_2h_minus_1", "UpscaleTwiceLayer",
       ("backbone.py", "return self.relu(self.bn(self.conv(x, output_size=(2 * h, 2 * w))))",
        "return self.relu(self.bn(self.conv(x)))"),
       note="the original's defaults as they are: kernel 3, stride 2, padding 1, output_padding 0 gives 2H-1"),
    # HeadlessResnet34
    _v("resnet18_blocks", "HeadlessResnet34",
       ("backbone.py", "_make_stage(64, 64, num_blocks=3, stride=1)",
        "_make_stage(64, 64, num_blocks=2, stride=1)"),
       ("backbone.py", "_make_stage(64, 128, num_blocks=4, stride=2)",
        "_make_stage(64, 128, num_blocks=2, stride=2)"),
       ("backbone.py", "_make_stage(128, 256, num_blocks=6, stride=2)",
        "_make_stage(128, 256, num_blocks=2, stride=2)"),
       ("backbone.py", "_make_stage(256, 512, num_blocks=3, stride=2)",
        "_make_stage(256, 512, num_blocks=2, stride=2)"),
       note="ResNet-18 block counts 2-2-2-2"),
    _v("resnet_stride_in_conv2", "HeadlessResnet34",
       ("backbone.py", "self.conv1 = _conv3x3(in_channels, out_channels, stride)",
        "self.conv1 = _conv3x3(in_channels, out_channels)"),
       ("backbone.py", "self.conv2 = _conv3x3(out_channels, out_channels)",
        "self.conv2 = _conv3x3(out_channels, out_channels, stride)"),
       note="same keys and shapes, different features"),
    _v("resnet_stage_names", "HeadlessResnet34",
       *[("backbone.py", f"self.layer{i} = _make_stage", f"self.block{i} = _make_stage") for i in range(1, 5)],
       ("backbone.py", "        x = self.layer1(x)\n        x = self.layer2(x)\n        x = self.layer3(x)\n"
                       "        return self.layer4(x)\n",
        "        x = self.block1(x)\n        x = self.block2(x)\n        x = self.block3(x)\n"
        "        return self.block4(x)\n"),
       note="stages named block1..block4: torchvision's state_dict does not load (issue 10.4's message)"),
    # CenterNetHead
    _v("head_softmax", "CenterNetHead",
       ("head.py", "class_heatmap = torch.sigmoid(self.class_branch(input_t))",
        "class_heatmap = torch.softmax(self.class_branch(input_t), dim=1)"),
       note="softmax over classes instead of a sigmoid per class"),
    _v("head_raw_offsets", "CenterNetHead",
       ("head.py", "offset_map = torch.sigmoid(self.offset_branch(input_t))",
        "offset_map = self.offset_branch(input_t)"),
       note="offsets without an activation leave [0, 1]"),
    # CenterNetLoss
    _v("focal_negatives_target0", "CenterNetLoss",
       ("loss.py", "loss = torch.where(positive, positive_loss, negative_loss)",
        "loss = torch.where(positive, positive_loss,\n"
        "                           torch.where(target == 0, negative_loss, torch.zeros_like(negative_loss)))"),
       note="negatives taken as target == 0 only"),
    _v("focal_no_clamp", "CenterNetLoss",
       ("loss.py", "log_p = torch.log(predict.clamp(min=eps))", "log_p = torch.log(predict)"),
       ("loss.py", "log_not_p = torch.log((1 - predict).clamp(min=eps))", "log_not_p = torch.log(1 - predict)"),
       note="no clamp: inf/NaN for predictions exactly 0 or 1"),
    _v("loss_batch_scalar", "CenterNetLoss",
       ("loss.py", "return -loss.sum(dim=(1, 2, 3))", "return -loss.sum()"),
       note="loss_fl summed over the batch too: one number instead of [B] (the forward then fails)"),
    _v("focal_mean", "CenterNetLoss",
       ("loss.py", "return -loss.sum(dim=(1, 2, 3))", "return -loss.mean(dim=(1, 2, 3))"),
       note="mean over pixels instead of the sum"),
    _v("l1_all_pixels", "CenterNetLoss",
       ("loss.py", "        error = torch.where(is_real_object, error, torch.zeros_like(error))\n", ""),
       note="L1 summed over all pixels instead of the object centres"),
    # ObjectsToPoints
    _v("locations_round", "ObjectsToPoints",
       ("convert.py", "y_idx = objects[..., 0].reshape(-1).floor().long()",
        "y_idx = objects[..., 0].reshape(-1).round().long()"),
       ("convert.py", "x_idx = objects[..., 1].reshape(-1).floor().long()",
        "x_idx = objects[..., 1].reshape(-1).round().long()"),
       note="round() instead of floor() for the locations"),
    _v("offsets_dy_dx_swapped", "ObjectsToPoints",
       ("convert.py", "return y - y.floor(), x - x.floor()", "return x - x.floor(), y - y.floor()")),
    _v("offsets_half_pixel", "ObjectsToPoints",
       ("convert.py", "return y - y.floor(), x - x.floor()", "return y - (y.floor() + 0.5), x - (x.floor() + 0.5)"),
       note="offsets measured from the pixel centre (+0.5 shift)"),
    _v("sizes_times_r", "ObjectsToPoints",
       ("convert.py", "return objects[..., 2].reshape(-1), objects[..., 3].reshape(-1)",
        "return objects[..., 2].reshape(-1) * 4, objects[..., 3].reshape(-1) * 4"),
       note="sizes multiplied by R although the objects are already in map pixels"),
    _v("smooth_mixes_channels", "ObjectsToPoints",
       ("convert.py", "weight = smooth_kernel.to(points_heatmap).expand(c, 1, s, s)  # one 1-channel kernel per group\n"
                      "        smoothed = F.conv2d(classes, weight, padding=s // 2, groups=c)",
        "weight = smooth_kernel.to(points_heatmap).expand(c, c, s, s)\n"
        "        smoothed = F.conv2d(classes, weight, padding=s // 2)"),
       note="convolution without groups: classes bleed into each other"),
    _v("padding_drawn", "ObjectsToPoints",
       ("convert.py", "real = objects[..., 5].reshape(-1) > 0", "real = objects[..., 5].reshape(-1) > -1"),
       note="padding rows drawn at (0, 0) as class 0"),
    # PointsToObjects
    _v("decode_dy_dx_swapped", "PointsToObjects",
       ("convert.py", "[y_idx.to(points.dtype) + dy, x_idx.to(points.dtype) + dx,",
        "[y_idx.to(points.dtype) + dx, x_idx.to(points.dtype) + dy,")),
    _v("confidence_flag", "PointsToObjects",
       ("convert.py", "class_idx.to(points.dtype), top_scores],",
        "class_idx.to(points.dtype), (top_scores >= self.min_conf).to(points.dtype)],"),
       note="confidence written as a 0/1 flag"),
    _v("topk_per_class", "PointsToObjects",
       ("convert.py",
        "        top_scores, top_idx = scores.topk(k, dim=1)  # [B, k], sorted descending\n",
        "        per_class = min(k, h * w)\n"
        "        class_scores, class_top = points[:, :c].reshape(b, c, h * w).topk(per_class, dim=2)\n"
        "        class_top = class_top + torch.arange(c)[None, :, None] * (h * w)\n"
        "        top_scores = class_scores.reshape(b, -1)[:, :k]\n"
        "        top_idx = class_top.reshape(b, -1)[:, :k]\n"),
       note="top K of each class, concatenated class by class"),
    _v("unsorted_rows", "PointsToObjects",
       ("convert.py",
        "        top_scores, top_idx = scores.topk(k, dim=1)  # [B, k], sorted descending\n",
        "        top_scores, top_idx = scores.topk(k, dim=1)  # [B, k], sorted descending\n"
        "        top_idx, order = top_idx.sort(dim=1)  # rows in map order\n"
        "        top_scores = top_scores.gather(1, order)\n"),
       note="rows in the order of the map, not by score"),
    _v("min_confidence_ignored", "PointsToObjects",
       ("convert.py", "keep = (top_scores >= self.min_conf)[..., None]", "keep = (top_scores >= 0)[..., None]")),
    # PointsNonMaxSuppression
    _v("nms_across_classes", "PointsNonMaxSuppression",
       ("network.py", "local_max = F.max_pool2d(scores, self.kernel_size,",
        "local_max = F.max_pool2d(scores.amax(dim=1, keepdim=True), self.kernel_size,"),
       note="maximum over all class channels"),
    _v("nms_kernel_ignored", "PointsNonMaxSuppression",
       ("network.py", "F.max_pool2d(scores, self.kernel_size, stride=1, padding=self.kernel_size // 2)",
        "F.max_pool2d(scores, 3, stride=1, padding=1)"),
       note="kernel_size hard-coded to 3"),
]

# ------------------------------------------------------------------------------------------------
# Alternative correct solutions: each must get full marks.
# ------------------------------------------------------------------------------------------------

_LOOP_LOCATIONS = '''\
        import math

        batch, ys, xs = [], [], []
        for b in range(objects.shape[0]):
            for row in objects[b].tolist():
                batch.append(b)
                ys.append(math.floor(row[0]))
                xs.append(math.floor(row[1]))
        return (torch.tensor(batch, dtype=torch.int64), torch.tensor(ys, dtype=torch.int64),
                torch.tensor(xs, dtype=torch.int64))
'''
_LOOP_OFFSETS = '''\
        dy, dx = [], []
        for row in objects.reshape(-1, objects.shape[-1]):
            dy.append(row[0] - torch.floor(row[0]))
            dx.append(row[1] - torch.floor(row[1]))
        return torch.stack(dy), torch.stack(dx)
'''
_LOOP_SIZES = '''\
        rows = list(objects.reshape(-1, objects.shape[-1]))
        return torch.stack([row[2] for row in rows]), torch.stack([row[3] for row in rows])
'''
_LOOP_SMOOTH = '''\
        kernel = smooth_kernel.to(points_heatmap)[None, None]
        channels = [F.conv2d(points_heatmap[:, i:i + 1], kernel, padding=kernel.shape[-1] // 2)
                    for i in range(points_heatmap.shape[1] - 4)]
        return torch.cat(channels + [points_heatmap[:, -4:]], dim=1)
'''
_VECTOR_LOCATIONS = '''\
        b, n, _ = objects.shape
        batch_idx = torch.arange(b, device=objects.device).repeat_interleave(n)
        y_idx = objects[..., 0].reshape(-1).floor().long()
        x_idx = objects[..., 1].reshape(-1).floor().long()
        return batch_idx, y_idx, x_idx
'''
_VECTOR_OFFSETS = '''\
        y = objects[..., 0].reshape(-1)
        x = objects[..., 1].reshape(-1)
        return y - y.floor(), x - x.floor()
'''
_VECTOR_SIZES = '''\
        return objects[..., 2].reshape(-1), objects[..., 3].reshape(-1)
'''
_VECTOR_SMOOTH = '''\
        classes, boxes = points_heatmap[:, :-4], points_heatmap[:, -4:]
        c = classes.shape[1]
        s = smooth_kernel.shape[-1]
        weight = smooth_kernel.to(points_heatmap).expand(c, 1, s, s)  # one 1-channel kernel per group
        smoothed = F.conv2d(classes, weight, padding=s // 2, groups=c)
        return torch.cat([smoothed, boxes], dim=1)
'''
_MAX_MERGE_SMOOTH = '''\
        b, c, h, w = points_heatmap.shape
        s = smooth_kernel.shape[-1]
        patches = F.unfold(points_heatmap.reshape(b * c, 1, h, w), s, padding=s // 2)  # [B*C, S*S, H*W]
        weights = smooth_kernel.to(points_heatmap).flip(0, 1).reshape(1, s * s, 1)
        return (patches * weights).amax(dim=1).reshape(b, c, h, w)
'''
_FOCAL_WHERE = '''\
        eps = 1e-6
        log_p = torch.log(predict.clamp(min=eps))
        log_not_p = torch.log((1 - predict).clamp(min=eps))
        positive = target == 1
        positive_loss = (1 - predict) ** alpha * log_p
        negative_loss = (1 - target) ** beta * predict**alpha * log_not_p
        loss = torch.where(positive, positive_loss, negative_loss)
        return -loss.sum(dim=(1, 2, 3))
'''
_FOCAL_MASKS = '''\
        eps = 1e-6
        pos = target.eq(1).float()
        neg = 1.0 - pos
        pos_loss = pos * (1 - predict) ** alpha * torch.log(predict + eps)
        neg_loss = neg * (1 - target) ** beta * predict**alpha * torch.log(1 - predict + eps)
        return -(pos_loss + neg_loss).flatten(1).sum(dim=1)
'''
_UPSCALE_INIT = '''\
        self.conv = nn.ConvTranspose2d(in_channels, out_channels, kernel_size, stride=2, padding=padding,
                                       output_padding=output_padding, bias=False)  # BatchNorm has the bias
        self.bn = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
'''
_UPSCALE_FORWARD = "return self.relu(self.bn(self.conv(x, output_size=(2 * h, 2 * w))))"
_RESNET_FORWARD = '''\
        x = self.layer1(x)
        x = self.layer2(x)
        x = self.layer3(x)
        return self.layer4(x)
'''

CORRECT = [
    _v("loop_converter", None,
       ("convert.py", _VECTOR_LOCATIONS, _LOOP_LOCATIONS), ("convert.py", _VECTOR_OFFSETS, _LOOP_OFFSETS),
       ("convert.py", _VECTOR_SIZES, _LOOP_SIZES), ("convert.py", _VECTOR_SMOOTH, _LOOP_SMOOTH),
       note="Python loops over objects in compute_*, a loop over channels in smooth_points_heatmap"),
    _v("max_merge_smoothing", None, ("convert.py", _VECTOR_SMOOTH, _MAX_MERGE_SMOOTH),
       note="overlapping gaussians merged by their maximum (the paper)"),
    _v("bare_transposed_conv", None,
       ("backbone.py", _UPSCALE_INIT,
        "        self.conv = nn.ConvTranspose2d(in_channels, out_channels, kernel_size=4, stride=2, padding=1)\n"),
       ("backbone.py", _UPSCALE_FORWARD, "return self.conv(x)"),
       note="ConvTranspose2d(k=4, s=2, p=1) alone (a review remark, no deduction)"),
    _v("upsample_then_conv", None,
       ("backbone.py", _UPSCALE_INIT,
        "        self.up = nn.Upsample(scale_factor=2, mode=\"nearest\")\n"
        "        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1, bias=False)\n"
        "        self.bn = nn.BatchNorm2d(out_channels)\n"
        "        self.relu = nn.ReLU(inplace=True)\n"),
       ("backbone.py", _UPSCALE_FORWARD, "return self.relu(self.bn(self.conv(self.up(x))))"),
       note="nearest upsampling followed by a 3x3 convolution"),
    _v("resnet_modulelist_inplace_add", None,
       ("backbone.py", "return nn.Sequential(*blocks)", "return nn.ModuleList(blocks)"),
       ("backbone.py", _RESNET_FORWARD,
        "        for stage in (self.layer1, self.layer2, self.layer3, self.layer4):\n"
        "            for block in stage:\n"
        "                x = block(x)\n"
        "        return x\n"),
       ("backbone.py", "        return self.relu(out + identity)\n",
        "        out += identity\n        return self.relu(out)\n"),
       note="stages as ModuleList looped in forward; in-place residual add"),
    _v("head_exp_sizes_plain_init", None,
       ("head.py", "size_map = self.size_branch(input_t)  # no activation, as in the paper",
        "size_map = torch.exp(self.size_branch(input_t))"),
       ("head.py", "        nn.init.constant_(self.class_branch[-1].bias, -math.log((1 - prior) / prior))\n", ""),
       note="exp on the sizes; class probabilities start at 0.5 (no prior bias)"),
    _v("loss_masks_log_eps", None,
       ("loss.py", _FOCAL_WHERE, _FOCAL_MASKS),
       ("loss.py", "        error = torch.where(is_real_object, error, torch.zeros_like(error))\n"
                   "        return error.sum(dim=(1, 2, 3))\n",
        "        return (error * is_real_object.float()).flatten(1).sum(dim=1)\n"),
       note="float masks instead of torch.where, log(p + eps) instead of a clamp"),
    _v("argsort_decoder", None,
       ("convert.py", "        top_scores, top_idx = scores.topk(k, dim=1)  # [B, k], sorted descending\n",
        "        top_idx = scores.argsort(dim=1, descending=True)[:, :k]\n"
        "        top_scores = scores.gather(1, top_idx)\n"),
       ("convert.py", "class_idx = top_idx // (h * w)",
        "class_idx = torch.div(top_idx, h * w, rounding_mode=\"floor\")"),
       note="a full argsort instead of topk"),
    _v("nms_zeroes_boxes", None,
       ("network.py", "return torch.cat([peaks, points[:, c:]], dim=1)",
        "is_peak = (peaks > 0).any(dim=1, keepdim=True)\n"
        "        return torch.cat([peaks, points[:, c:] * is_peak], dim=1)"),
       note="offsets and sizes zeroed away from peaks"),
]

ALL = WRONG + CORRECT

# ------------------------------------------------------------------------------------------------
# The points each wrong variant loses in its component (18-point components only; issue 10.5): a
# variant wrong in one documented property keeps the points of the properties it meets. The
# reasoning per component is in grader/assignments/centernet/rubric.toml; tests/centernet/
# test_discrimination.py asserts these exactly (on a fresh secret seed each run).
# ------------------------------------------------------------------------------------------------

POINTS_LOST = {
    "upscale_2h_minus_1": 1.5,  # shapes (2 + 1 of 4 weight); still learnable
    "resnet18_blocks": 1.75,  # keys, features, train mode; the output shape is right
    "resnet_stride_in_conv2": 1.5,
    "resnet_stage_names": 1.75,  # nothing loads: keys, features, train mode; the output shape is right
    "head_softmax": 8 / 7,  # independent classes (3 of 7) and 'no object' (1 of 7)
    "head_raw_offsets": 2 / 7,  # value ranges (1 of 7)
    "focal_negatives_target0": 1.0,  # focal hand, focal random, forward values (4 of 8)
    "focal_no_clamp": 0.5,  # exact 0/1 and random (with its exact case) (2 of 8)
    "loss_batch_scalar": 1.0,  # half of focal hand/exact/random (the batch sum is right), no forward check
    "focal_mean": 1.0,  # focal hand, focal random, forward values
    "l1_all_pixels": 1.0,  # l1 hand, forward shape, l1 random, forward values
    "locations_round": 1.25,  # locations (2 of 12), helpers random (2), forward (1)
    "offsets_dy_dx_swapped": 1.25,
    "offsets_half_pixel": 1.25,
    "sizes_times_r": 1.0,  # sizes (1), helpers random (2), forward (1)
    "smooth_mixes_channels": 1.0,  # smooth (2), smooth random (1), forward (1)
    "padding_drawn": 0.25,  # forward (1 of 12)
    "decode_dy_dx_swapped": 0.875,  # the 'box' property (1 of 4) of the decoding checks (3.5 points)
    "confidence_flag": 0.875,  # the 'confidence' property (1 of 4) of the decoding checks
    "topk_per_class": 1.0625,  # 'selection' (1 of 4) everywhere; 'order' (0.5 of 4) where K > H*W (random, round trip)
    "unsorted_rows": 0.9375,  # 'order' (0.5 of 4) of the decoding checks (3.5 points), min_confidence (0.5)
    "min_confidence_ignored": 0.8125,  # 'threshold' (0.5 of 4 of 3.5 points) and min_confidence (0.5 points)
    "nms_across_classes": 4 / 3,  # 'keep' (1 of 3) of the kernel-3 checks (2.5 points), kernel sizes (0.5)
    "nms_kernel_ignored": 0.5,  # kernel sizes (1 of 6 weight)
}


# Variants for the training checks only (tests/centernet/test_training.py): what the component
# checks grade of them is not settled here (e.g. the head check asks for the prior bias), so they
# stay out of ALL. ``component`` None: must pass both training points; else: must fail "fits".
# ------------------------------------------------------------------------------------------------

TRAINING_WRONG = [
    _v("head_softmax_space", "CenterNetHead",
       ("head.py", "class_heatmap = torch.sigmoid(self.class_branch(input_t))",
        "logits = self.class_branch(input_t)\n"
        "        class_heatmap = torch.softmax(logits.flatten(2), dim=2).reshape(logits.shape)"),
       note="softmax over the pixels of each class map instead of a sigmoid per pixel"),
    _v("loss_ignores_offsets", "CenterNetLoss",
       ("loss.py", "losses = torch.stack([lk, self.l_offset_lambda * loff, self.l_size_lambda * lsize], dim=1)",
        "losses = torch.stack([lk, 0 * loff, self.l_size_lambda * lsize], dim=1)"),
       note="the offset term is left out of the loss (weighted by 0)"),
]

TRAINING_CORRECT = [
    _v("head_plain_init", None,
       ("head.py", "        nn.init.constant_(self.class_branch[-1].bias, -math.log((1 - prior) / prior))\n", ""),
       note="PyTorch's default initialisation: class probabilities start near 0.5 (no prior bias)"),
    _v("head_exp_sizes", None,
       ("head.py", "size_map = self.size_branch(input_t)  # no activation, as in the paper",
        "size_map = torch.exp(self.size_branch(input_t))"),
       note="sizes predicted through exp (with the prior bias)"),
]

TRAINING_EXTRA = TRAINING_WRONG + TRAINING_CORRECT
