"""Write the course notebooks from the cell texts below (nbformat), outputs cleared.

Usage: ``python notebooks/build_notebooks.py`` (``--check``: only report whether the committed
notebooks are up to date). Edit the cells here, not in Jupyter, then rebuild; the tests fail when a
committed notebook differs from what this script writes.

Notebooks:
  * ``centernet_checks.ipynb``: a sample with its boxes, every component on its shapes, a target
    heatmap, the loss on a head output, a short training on TinyCoco with the loss falling, and
    inference with ``return_objects=True``.
  * ``train_full.ipynb``: the bonus: full training on CocoGen (GPU if present, CPU otherwise),
    the validation mAP@0.5 as the grader computes it on the test split, heatmaps and top boxes.
  * ``detection_homework.ipynb``: the detection homework: the data, augmentation, the model's parts,
    TAL, DIoU, training, validation mAP, and the three written questions.

Every notebook of ``notebooks/`` is written here (a test fails on one that is not). They import
``student.<assignment>``; the environment variable ``COURSE_IMPL=reference`` switches them to the
reference (instructors, tests). Further environment variables shrink the budgets for tests.
Figures are shown inline (``%matplotlib inline``; never another backend: the executed notebook must
hold every picture). Each component's cell ends with ``public_checks("<component>")``, the graded
public checks of the component (``grader.public_tests.notebook_checks``). Data is read from
``data/generated/`` of the repository (the bundle ships it there); no notebook runs a generator.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent

SETUP = '''\
%matplotlib inline
import importlib
import os
import sys
import time
from pathlib import Path

import torch

# The repository root: the first folder upwards that holds data/tinycoco.
ROOT = next(p for p in [Path.cwd(), *Path.cwd().parents] if (p / "data" / "tinycoco").is_dir())
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

IMPL = os.environ.get("COURSE_IMPL", "student")  # "reference" for the instructors' solution
cn = importlib.import_module(f"{IMPL}.centernet")
plot = importlib.import_module(f"{IMPL}.centernet.plot")
torch.manual_seed(0)
print(f"using {cn.__name__} from {Path(cn.__file__).parent}")'''

# The component cells end with the component's public checks: the same checks, on the same code, as
# `grader run --public-only --only <component> --in-process`, so a cell passes only what they pass.
PUBLIC_CHECKS = '''\
from grader.public_tests import notebook_checks

public_checks = notebook_checks("centernet", IMPL)  # public_checks("<component>"): its graded public checks'''

CHECKS_CELLS = [
    ("md", """\
# CenterNet: checks of every component

This notebook walks through the assignment in the order the data flows: a sample of TinyCoco, each
component on its shapes, the targets, the loss, a short training run and inference. Run it from top to
bottom after each component you write: **the first cell that fails names the component to work on
next** (a stub raises `NotImplementedError("<Component> is not implemented yet")`).

It uses your package `student.centernet`. (Instructors: `COURSE_IMPL=reference` runs the reference.)
Each component's cell ends with `public_checks("<component>")`: the graded public checks of that
component (the same as `grader run --public-only --only <component> --in-process`). The grader adds
hidden checks (other inputs, edge cases), so test edge cases yourself too."""),
    ("code", SETUP + "\n" + PUBLIC_CHECKS),
    ("code", '''\
# Budgets (the tests shrink them with environment variables).
IMAGE_SIZE = int(os.environ.get("CENTERNET_NOTEBOOK_IMAGE_SIZE", 64))
TRAIN_STEPS = int(os.environ.get("CENTERNET_NOTEBOOK_STEPS", 40))
TINY = ROOT / "data" / "tinycoco"'''),
    ("md", """\
## A sample of TinyCoco

The loader (given) resizes each image to a square and returns `objects [N, 6]`: rows
`(y, x, h, w, cls, confidence)` in pixels of the resized image, zero rows as padding."""),
    ("code", '''\
dataset = cn.CocoDetection(TINY / "annotations.json", TINY / "images", image_size=IMAGE_SIZE)
image, objects = dataset[0]
real = objects[objects[:, 5] > 0]
print(f"{len(dataset)} images, classes {dataset.class_names}; "
      f"image {tuple(image.shape)}, objects {tuple(objects.shape)}")
print(real)
plot.draw_objects(image, objects, class_names=dataset.class_names, title="sample 0: true boxes")'''),
    ("md", """\
## Backbone

`UpscaleTwiceLayer` doubles the height and width exactly (odd sizes included);
`HeadlessResnet34` maps `[B, 3, H, W]` to `[B, 512, H/32, W/32]`."""),
    ("code", '''\
layer = cn.UpscaleTwiceLayer(8, 4)
x = torch.randn(2, 8, 5, 7)
y = layer(x)
print("UpscaleTwiceLayer:", tuple(x.shape), "->", tuple(y.shape))
assert y.shape == (2, 4, 10, 14), f"UpscaleTwiceLayer: expected (2, 4, 10, 14), got {tuple(y.shape)}"
public_checks("UpscaleTwiceLayer")'''),
    ("code", '''\
encoder = cn.HeadlessResnet34()
features = encoder(torch.rand(2, 3, 128, 128))
print("HeadlessResnet34:", (2, 3, 128, 128), "->", tuple(features.shape))
assert features.shape == (2, 512, 4, 4), f"HeadlessResnet34: expected (2, 512, 4, 4), got {tuple(features.shape)}"
backbone = cn.ResnetBackbone()  # given: the encoder + three UpscaleTwiceLayers
print("ResnetBackbone:", (2, 3, 128, 128), "->", tuple(backbone(torch.rand(2, 3, 128, 128)).shape))
public_checks("HeadlessResnet34")'''),
    ("md", """\
## Head

`CenterNetHead` turns features `[B, 64, H', W']` into points `[B, C+4, H', W']`: C class
probabilities (independent, in [0, 1]: a sigmoid per class, not a softmax over the classes), then
offsets `dy, dx` in [0, 1], then sizes `h, w`."""),
    ("code", '''\
head = cn.CenterNetHead(64, dataset.num_classes)
points = head(torch.randn(2, 64, 16, 16))
c = dataset.num_classes
print("CenterNetHead:", (2, 64, 16, 16), "->", tuple(points.shape))
assert points.shape == (2, c + 4, 16, 16)
assert 0 <= points[:, :c].min() and points[:, :c].max() <= 1, "class probabilities must be in [0, 1]"
assert 0 <= points[:, c:c + 2].min() and points[:, c:c + 2].max() <= 1, "offsets must be in [0, 1]"
assert (points[:, :c].sum(1) - 1).abs().max() > 1e-3, (
    "the class probabilities sum to 1: a softmax, not a sigmoid per class")
public_checks("CenterNetHead")'''),
    ("md", """\
## Targets: objects to points

`ObjectsToPoints` draws the objects (already divided by the stride R = 4) onto maps: a 1 at each
centre of its class channel, smoothed by a gaussian, and the offsets and sizes at the centre."""),
    ("code", '''\
hw = IMAGE_SIZE // 4
to_points = cn.ObjectsToPoints(hw=hw, num_classes=c)
in_map_pixels = objects.clone()[None]
in_map_pixels[..., :4] /= 4
target = to_points(in_map_pixels)
print("ObjectsToPoints:", tuple(in_map_pixels.shape), "->", tuple(target.shape))
assert target.shape == (1, c + 4, hw, hw)
assert int((target[0, :c] == 1).sum()) == len(real), "one exact 1 per object centre"
public_checks("ObjectsToPoints")
plot.show_heatmap(target[0], image=image, title="target heatmap (max over classes)")  # last: the cell shows it'''),
    ("md", """\
## Decoding: non-maximum suppression and points to objects

Decoding the targets must give the objects back (in map pixels): NMS keeps the peaks, then
`PointsToObjects` takes the top K scores."""),
    ("code", '''\
peaks = cn.PointsNonMaxSuppression(3)(target)
assert peaks.shape == target.shape
decoded = cn.PointsToObjects(objects_per_image=10)(peaks)[0]
decoded = decoded[decoded[:, 5] > 0]
print("decoded (map pixels):")
print(decoded)
assert len(decoded) == len(real), f"expected {len(real)} objects back, got {len(decoded)}"
public_checks("PointsNonMaxSuppression")
public_checks("PointsToObjects")'''),
    ("md", """\
## The loss on a head output

`CenterNetLoss` returns per image `(lk, l_offset_lambda * loff, l_size_lambda * lsize)`.
An untrained network has a large, finite loss."""),
    ("code", '''\
net = cn.make_centernet(dataset.num_classes, seed=0)  # given: backbone + head, C = 3
images = torch.stack([dataset[i][0] for i in range(4)])
targets = torch.stack([dataset[i][1] for i in range(4)])
criterion = cn.CenterNetLoss()
losses = criterion(net(images), targets)
print("loss per image (lk, loff, lsize):")
print(losses)
assert losses.shape == (4, 3) and torch.isfinite(losses).all()
public_checks("CenterNetLoss")'''),
    ("md", """\
## Training on TinyCoco

The given loop (`train`) with your components. The loss must fall steadily; the graded check trains
the same way (40 steps of the 16 images at 64x64) and also checks that the net then finds the objects
of its training images: sharp heatmap peaks on the true centres, boxes that match."""),
    ("code", '''\
start = time.perf_counter()
history = cn.train(dataset, net=net, batch_size=16, lr=1e-3, steps=TRAIN_STEPS, seed=0, log_every=10)
print(f"{TRAIN_STEPS} steps in {time.perf_counter() - start:.1f} s; skipped (NaN/Inf) steps: {history['skipped']}")
assert not history["skipped"], "some steps had a NaN or Inf loss"
assert history["loss"][-1] < history["loss"][0], "the loss did not fall"
plot.plot_losses(history, title="TinyCoco training")'''),
    ("md", """\
The graded public check of the training: it trains again, the same way (about half a minute on a CPU)."""),
    ("code", '''public_checks("Training on TinyCoco")'''),
    ("md", """\
## Inference

`return_objects=True` runs NMS, `PointsToObjects` and the x4 scaling: detections in image pixels,
sorted by score. Red: detections with a score of at least 0.3; green: the truth."""),
    ("code", '''\
net.eval()
with torch.no_grad():
    detections = net(images, return_objects=True)
print("detections:", tuple(detections.shape))
print(detections[0, :5])
from matplotlib.figure import Figure
fig = Figure(figsize=(12, 3.2))
for i, ax in enumerate(fig.subplots(1, 4)):
    plot.draw_objects(images[i], targets[i], detections[i], class_names=dataset.class_names, min_confidence=0.3, ax=ax)
fig'''),
]

TRAIN_FULL_CELLS = [
    ("md", """\
# Bonus: full training on CocoGen

CocoGen is a larger generated data set in TinyCoco's format (thousands of images of discs, squares and
triangles). Train your CenterNet on its train split and save the weights as
`student/centernet/weights.pt`; the grader runs them on a held-out test split it keeps to itself and
gives the bonus for **mAP@0.5 >= 0.7** (COCO rules, 128x128 input).

Runs on the GPU when there is one, else on the CPU. On 2 CPU cores the reference took 71 min for the
default 3000 steps (test mAP@0.5 0.90) and crossed 0.7 after about 1100 steps (27 min). Everything
here is given code; it uses your components through `student.centernet`."""),
    ("code", SETUP),
    ("code", '''\
train_full = importlib.import_module(f"{IMPL}.centernet.train_full")  # given: the loop of this notebook
from_env = os.environ.get
STEPS = int(from_env("TRAIN_FULL_STEPS", 3000))
BATCH_SIZE = int(from_env("TRAIN_FULL_BATCH_SIZE", 16))
EVAL_EVERY = int(from_env("TRAIN_FULL_EVAL_EVERY", 500))
MAX_TRAIN_IMAGES = int(from_env("TRAIN_FULL_MAX_TRAIN_IMAGES", 0)) or None  # 0: all
MAX_VAL_IMAGES = int(from_env("TRAIN_FULL_MAX_VAL_IMAGES", 200)) or None
DATA = Path(from_env("COCOGEN_DIR") or train_full.default_data_dir())
OUT = from_env("TRAIN_FULL_OUT") or (str(ROOT / "student" / "centernet" / "weights.pt") if IMPL == "student" else None)
DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
print(f"data {DATA}\\nweights -> {OUT}\\n{STEPS} steps of batch {BATCH_SIZE} on {DEVICE}")'''),
    ("md", """\
## The data set

CocoGen comes with the course's bundle in `data/generated/cocogen/` (train, val and the test images;
the test annotations stay with the grader). Set `COCOGEN_DIR` if you keep it elsewhere."""),
    ("code", '''\
val_set = train_full.load_split(DATA, "val", max_images=MAX_VAL_IMAGES)
image, objects = val_set[0]
print(f"val images used: {len(val_set)}")
plot.draw_objects(image, objects, class_names=["disc", "square", "triangle"], title="a validation image")'''),
    ("md", """\
## Training

Prints the losses every 50 steps and the validation mAP@0.5 every `EVAL_EVERY` steps."""),
    ("code", '''\
net, history, val_map = train_full.train_full(
    DATA, OUT, steps=STEPS, batch_size=BATCH_SIZE, device=DEVICE, eval_every=EVAL_EVERY,
    max_train_images=MAX_TRAIN_IMAGES, max_val_images=MAX_VAL_IMAGES)
plot.plot_losses(history, title=f"CocoGen: {STEPS} steps, val mAP@0.5 {val_map:.3f}")'''),
    ("md", "## Heatmap and top boxes of a validation image"),
    ("code", '''\
from matplotlib.figure import Figure

net.eval()
images = torch.stack([val_set[i][0] for i in range(4)]).to(DEVICE)
with torch.no_grad():
    points = net(images).cpu()
    detections = net(images, return_objects=True).cpu()
fig = Figure(figsize=(12, 6))
axes = fig.subplots(2, 4)
for i in range(4):
    plot.draw_objects(images[i].cpu(), val_set[i][1], detections[i][:10], min_confidence=0.3, ax=axes[0][i],
                      class_names=["disc", "square", "triangle"])
    plot.show_heatmap(points[i], image=images[i].cpu(), ax=axes[1][i])
fig'''),
    ("md", """\
## As the grader sees it

The grader loads the saved file with `torch.load(path, weights_only=True)` into a fresh
`make_centernet(3)` and evaluates at 128x128. This cell does the same on the validation split."""),
    ("code", '''\
if OUT is not None:
    fresh = cn.make_centernet(3)
    fresh.load_state_dict(torch.load(OUT, map_location="cpu", weights_only=True), strict=True)
    reloaded_map = train_full.evaluate_map50(fresh, val_set, device="cpu")
    size_mb = Path(OUT).stat().st_size / 2**20
    print(f"{OUT}: {size_mb:.0f} MiB, val mAP@0.5 after reloading: {reloaded_map:.3f} "
          "(the bonus needs >= 0.7 on the test split)")
else:
    print("no weights saved (set TRAIN_FULL_OUT)")'''),
]

DETECTION_SETUP = '''\
%matplotlib inline
import importlib
import os
import sys
from pathlib import Path

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
import matplotlib.pyplot as plt
import numpy as np
import torch

# The repository root: the first folder upwards that holds student/ and data/.
REPO = next(p for p in [Path.cwd(), *Path.cwd().parents] if (p / "student").is_dir() and (p / "data").is_dir())
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

IMPL = os.environ.get("COURSE_IMPL", "student")  # "reference" for the instructors' solution
STEPS = int(os.environ.get("DETECTION_NOTEBOOK_STEPS", "700"))
IMAGE_SIZE = int(os.environ.get("DETECTION_NOTEBOOK_IMAGE_SIZE", "160"))
BACKBONE = os.environ.get("DETECTION_NOTEBOOK_BACKBONE", "test_efficientnet")
THREADS = int(os.environ.get("DETECTION_NOTEBOOK_THREADS", "2"))

det = importlib.import_module(f"{IMPL}.detection")
data = importlib.import_module(f"{IMPL}.detection.data")
train_mod = importlib.import_module(f"{IMPL}.detection.train")
evaluate_mod = importlib.import_module(f"{IMPL}.detection.evaluate")
torch.manual_seed(0)
torch.set_num_threads(THREADS)
DATA = data.data_root()  # data/generated/detection of the repository, or $DETECTION_DATA
if not (DATA / "train.json").is_file():
    raise FileNotFoundError(f"no data in {DATA}: it comes with the course's bundle in data/generated/detection/ "
                            "(set DETECTION_DATA if you keep it elsewhere)")

from grader.public_tests import notebook_checks

public_checks = notebook_checks("detection", IMPL)  # public_checks("<component>"): its graded public checks
print("implementation:", det.__name__, "| data:", DATA, "| steps:", STEPS)'''

DETECTION_CELLS = [
    ("md", """\
# Homework: improving an anchor-based detector

You start from the seminar's single-level anchor detector and improve it part by part:

| part | points | where |
|---|---|---|
| Backbone: a timm feature extractor, last stages trainable | 1 | `backbone.py` |
| Neck: a Feature Pyramid Network | 2 | `neck.py` |
| Head: a YOLOX-style decoupled head | 1 | `head.py` |
| Label assignment: TAL (task-aligned assigner) | 3 | `assigner.py` |
| Box loss: DIoU (and CIoU, no points) | 1 | `losses.py` |
| mAP challenge: mAP@[.5:.95] on the hidden test split >= 0.05 / 0.1 / 0.2 | 1 / 2 / 5 | `predictions_test.json` |
| Written answers (the questions at the end of this notebook) | reviewed by hand | `ANSWERS.md` |

Maximum: 10, plus 3 bonus. Fill in the parts of `student/detection/` that raise `NotImplementedError`.
Each component's cell ends with `public_checks("<component>")`: the graded public checks of that
component (the same as `grader run --public-only --assignment detection --only <component> --in-process`;
all of them: `pytest tests/public/test_detection.py`). The grader adds hidden checks on top.

Settings (environment variables): `COURSE_IMPL` (`student` by default; `reference` for instructors),
`DETECTION_NOTEBOOK_STEPS` (training steps), `DETECTION_NOTEBOOK_THREADS` (torch threads; 1 on a busy machine),
`DETECTION_NOTEBOOK_IMAGE_SIZE`, `DETECTION_NOTEBOOK_BACKBONE`,
`DETECTION_DATA` (data folder; default `data/generated/detection/`, which comes with the bundle)."""),
    ("code", DETECTION_SETUP),
    ("md", """\
## 1. The data

A stand-in for the course's game screenshots: figures with a body and a head, two teams told apart by colour
(enemies red/orange, friends blue/cyan), varied sizes, occlusion, clutter. Four classes, COCO category ids
1 enemy, 2 enemy-head, 3 friendly, 4 friendly-head (the model uses `category_id - 1`). The test split's
annotations are hidden: you get its images only (`test_images.json`)."""),
    ("code", '''\
raw = data.DetectionDataset(DATA / "train.json", DATA)
colours = {0: "red", 1: "orange", 2: "blue", 3: "cyan"}

def show(ax, image, boxes, labels, title=""):
    ax.imshow(image)
    for (x1, y1, x2, y2), c in zip(boxes, labels):
        ax.add_patch(plt.Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, color=colours[int(c)], lw=1.5))
    ax.set_title(title)
    ax.axis("off")

fig, axes = plt.subplots(1, 4, figsize=(14, 4))
for i, ax in enumerate(axes):
    image = raw.load_image(i)
    anns = raw.by_image[raw.images[i]["id"]]
    boxes = [[a["bbox"][0], a["bbox"][1], a["bbox"][0] + a["bbox"][2], a["bbox"][1] + a["bbox"][3]] for a in anns]
    show(ax, image, boxes, [a["category_id"] - 1 for a in anns], f"{len(anns)} boxes")
plt.show()
print("train images:", len(raw), "| boxes per class:",
      np.bincount([a["category_id"] for a in raw.coco["annotations"]], minlength=5)[1:])'''),
    ("md", """\
## 2. Augmentation with albumentations

`BboxParams(format="pascal_voc", label_fields=["labels"], min_visibility=0.3)`: boxes follow flips, scaling and
shifts; boxes pushed mostly out of the image are dropped with their labels. No hue shift: colour *is* the team."""),
    ("code", '''\
aug = data.DetectionDataset(DATA / "train.json", DATA, data.train_transforms(IMAGE_SIZE))
fig, axes = plt.subplots(1, 4, figsize=(14, 4))
for k, ax in enumerate(axes):
    torch.manual_seed(k); np.random.seed(k)
    x, target = aug[0]
    image = (x * torch.tensor(data.STD)[:, None, None] + torch.tensor(data.MEAN)[:, None, None]).clamp(0, 1)
    show(ax, image.permute(1, 2, 0).numpy(), target["boxes"].tolist(), target["labels"].tolist(), f"augmented #{k}")
plt.show()'''),
    ("md", """\
## 3. The model: backbone -> FPN -> decoupled heads

`Backbone` returns the three deepest feature maps, deepest first; `Neck` turns `[C5, C4, C3]` into `[P3, P4, P5]`;
one `DecoupledHead` per level predicts class logits and box deltas for every anchor (torchvision's
`AnchorGenerator`, one anchor per location of size 4 x stride)."""),
    ("code", '''\
model = det.AnchorDetector(num_classes=4, backbone=BACKBONE, unfreeze_last=1)
x = torch.randn(2, 3, IMAGE_SIZE, IMAGE_SIZE)
with torch.no_grad():
    feats = model.backbone(x)
    pyramid = model.neck(feats)
    print("backbone (deepest first):", [tuple(f.shape) for f in feats])
    print("neck (shallowest first):  ", [tuple(p.shape) for p in pyramid])
    print("head on P3:               ", [tuple(t.shape) for t in model.heads[0](pyramid[0])])
    out = model(x)
print("anchors:", tuple(out["anchors"].shape), "| logits:", tuple(out["cls_logits"].shape))
trainable = sum(p.numel() for p in model.backbone.parameters() if p.requires_grad)
total = sum(p.numel() for p in model.backbone.parameters())
print(f"backbone parameters trainable with unfreeze_last=1: {trainable} of {total}")
public_checks("Backbone")
public_checks("Neck")
public_checks("Head")'''),
    ("md", """\
## 4. Label assignment: TAL

`t = s ** 1 * u ** 6` (score exponent 1, IoU exponent 6 as in TOOD; the homework text's "alpha = 6, beta = 1"
swaps them). Candidates: anchors whose centre is strictly inside the GT; each GT takes its top-k by `t`; an anchor
claimed twice goes to the GT with the higher IoU; soft targets `t * max_iou / max_t`."""),
    ("code", '''\
x, target = data.DetectionDataset(DATA / "train.json", DATA, data.eval_transforms(IMAGE_SIZE))[0]
with torch.no_grad():
    out = model(x[None])
centres = (out["anchors"][:, :2] + out["anchors"][:, 2:]) / 2
a = det.task_aligned_assign(out["cls_logits"][0].sigmoid(), out["boxes"][0], centres,
                            target["labels"], target["boxes"], topk=13)
positive = a.gt_index >= 0
print(f"{int(positive.sum())} positive anchors for {len(target['boxes'])} GTs; "
      f"soft scores in [{float(a.scores[positive].min()):.3g}, {float(a.scores[positive].max()):.3g}]")
fig, ax = plt.subplots(figsize=(5, 5))
image = (x * torch.tensor(data.STD)[:, None, None] + torch.tensor(data.MEAN)[:, None, None]).clamp(0, 1)
show(ax, image.permute(1, 2, 0).numpy(), target["boxes"].tolist(), target["labels"].tolist(), "TAL positives")
ax.scatter(centres[positive, 0], centres[positive, 1], c=[colours[int(l)] for l in a.labels[positive]], s=12)
plt.show()
public_checks("TAL")'''),
    ("md", """\
## 5. DIoU loss

`1 - IoU + d^2 / c^2`; the course's check: equal to `torchvision.ops.distance_box_iou_loss` on random integer
boxes. (CIoU is offered for no points: `public_checks("CIoU")` checks yours.)"""),
    ("code", '''\
import torchvision
g = torch.Generator().manual_seed(0)
xy = torch.randint(0, 100, (1000, 2), generator=g)
p = torch.cat([xy, xy + torch.randint(0, 60, (1000, 2), generator=g)], 1)
xy = torch.randint(0, 100, (1000, 2), generator=g)
q = torch.cat([xy, xy + torch.randint(0, 60, (1000, 2), generator=g)], 1)
ours, theirs = det.diou_loss(p, q), torchvision.ops.distance_box_iou_loss(p, q, reduction="mean")
print(f"diou_loss {float(ours):.6f} | torchvision {float(theirs):.6f}")
assert torch.allclose(ours, theirs, atol=1e-5)
public_checks("DIoU")'''),
    ("md", """\
## 6. Training

The given runner (`train.py`): AdamW, warm-up and cosine decay, TAL + quality focal loss + DIoU, the best state
on the validation split kept. The reference reaches mAP@[.5:.95] 0.42 on the test split with the default budget
(about 12 minutes on 2 CPU cores) (`python -m student.detection.train --steps 700 --image-size 160
--backbone test_efficientnet --neck-channels 48 --head-width 48 --predict-test`)."""),
    ("code", '''\
args = train_mod.parser().parse_args([
    "--steps", str(STEPS), "--image-size", str(IMAGE_SIZE), "--backbone", BACKBONE,
    "--eval-every", "0", "--log-every", str(max(1, STEPS // 10)),
    "--batch-size", os.environ.get("DETECTION_NOTEBOOK_BATCH", "16"),
    "--data", str(DATA), "--threads", str(THREADS)])
result = train_mod.train(args)
model = result["model"]
plt.figure(figsize=(6, 3))
plt.plot(result["history"]["step"], result["history"]["loss"], label="loss")
plt.plot(result["history"]["step"], result["history"]["cls"], label="cls (QFL)")
plt.plot(result["history"]["step"], result["history"]["box"], label="box (DIoU)")
plt.xlabel("step"); plt.legend(); plt.show()'''),
    ("md", """\
## 7. Validation with torchmetrics

`torchmetrics.detection.MeanAveragePrecision` wraps the COCO rules (pycocotools semantics); `map` is
mAP@[.5:.95], the challenge's metric."""),
    ("code", '''\
from torchmetrics.detection import MeanAveragePrecision

val = data.DetectionDataset(DATA / "val.json", DATA, data.eval_transforms(IMAGE_SIZE))
loader = torch.utils.data.DataLoader(val, batch_size=16, collate_fn=data.collate)
metric = MeanAveragePrecision(box_format="xyxy", iou_type="bbox", backend="faster_coco_eval")
model.eval()
with torch.no_grad():
    for images, targets in loader:
        preds = model.predict(images)
        metric.update([{k: v for k, v in p.items()} for p in preds],
                      [{"boxes": t["boxes"], "labels": t["labels"]} for t in targets])
scores = metric.compute()
print(f"validation mAP@[.5:.95] = {float(scores['map']):.4f} | mAP@.5 = {float(scores['map_50']):.4f}")'''),
    ("md", """\
To enter the challenge, write your predictions on the test images next to your code:
`python -m student.detection.train ... --predict-test` (or `evaluate.write_predictions(...)` with
`evaluate.predict_dataset(model, test_set)`) creates `student/detection/predictions_test.json`."""),
]

DETECTION_QUESTIONS = [
    ("Question 1", """\
Which label assignment trains better: the seminar's fixed IoU-threshold assignment, or TAL? Compare the
validation mAP and the loss curves, and explain why."""),
    ("Question 2", "Which of your improvements (unfreezing backbone stages, FPN, decoupled head, TAL, DIoU) "
                   "helped most, and why?"),
    ("Question 3", "Which change made no difference (or made things worse), and why do you think so?"),
]
for _label, _question in DETECTION_QUESTIONS:
    DETECTION_CELLS += [
        ("md", f"## {_label} (reviewed by hand)\n\n{_question}"),
        ("md", f"Write your answer in `student/detection/ANSWERS.md`, under \"{_label}\": that file is part of your "
               "submission and the reviewer reads it there (this notebook is not graded)."),
    ]


def build(cells) -> nbformat.NotebookNode:
    nb = new_notebook()
    nb.metadata = {
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    }
    for i, (kind, text) in enumerate(cells):
        cell = new_markdown_cell(text) if kind == "md" else new_code_cell(text)
        cell["id"] = f"cell-{i:02d}"  # stable ids: the files only change when the cells do
        nb.cells.append(cell)
    nbformat.validate(nb)
    return nb


NOTEBOOKS = {"centernet_checks.ipynb": CHECKS_CELLS, "train_full.ipynb": TRAIN_FULL_CELLS,
             "detection_homework.ipynb": DETECTION_CELLS}


# A cell draws when it calls pyplot, the course's plot helpers (``plot.``) or builds a Figure.
DRAWS = re.compile(r"\bplt\.(show|subplots|figure|imshow|plot)\(|\bplot\.\w+\(|\bFigure\(")
# What would hide the pictures: another matplotlib backend than the inline one.
OTHER_BACKEND = re.compile(r"matplotlib\.use\(|%matplotlib\s+(?!inline\b)\w|MPLBACKEND"
                           r"|pyplot\.switch_backend|plt\.switch_backend")


def cells_without_pictures(nb) -> list:
    """The first line of every executed code cell of ``nb`` that draws but shows no picture."""
    return [cell.source.splitlines()[0] for cell in nb.cells
            if cell.cell_type == "code" and DRAWS.search(cell.source)
            and not any("image/png" in out.get("data", {}) for out in cell.get("outputs", []))]


def render(cells) -> str:
    return nbformat.writes(build(cells)) + "\n"


def stale(directory: Path = HERE) -> list:
    """Notebooks whose committed text differs from what this script writes."""
    return [name for name, cells in NOTEBOOKS.items()
            if not (directory / name).is_file() or (directory / name).read_text(encoding="utf-8") != render(cells)]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report stale notebooks")
    args = parser.parse_args(argv)
    if args.check:
        problems = stale()
        print("stale: " + ", ".join(problems) if problems else "notebooks are up to date")
        return 1 if problems else 0
    for name, cells in NOTEBOOKS.items():
        (HERE / name).write_text(render(cells), encoding="utf-8")
        print(f"wrote notebooks/{name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
