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

Both import ``student.centernet``; the environment variable ``COURSE_IMPL=reference`` switches them to
the reference (instructors, tests). Further environment variables shrink the budgets for tests.
"""

from __future__ import annotations

import argparse
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

CHECKS_CELLS = [
    ("md", """\
# CenterNet: checks of every component

This notebook walks through the assignment in the order the data flows: a sample of TinyCoco, each
component on its shapes, the targets, the loss, a short training run and inference. Run it from top to
bottom after each component you write: **the first cell that fails names the component to work on
next** (a stub raises `NotImplementedError("<Component> is not implemented yet")`).

It uses your package `student.centernet`. (Instructors: `COURSE_IMPL=reference` runs the reference.)
The graded checks are stricter than these cells: run `grader run --public-only --in-process` too."""),
    ("code", SETUP),
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
print(f"{len(dataset)} images, classes {dataset.class_names}; image {tuple(image.shape)}, objects {tuple(objects.shape)}")
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
assert y.shape == (2, 4, 10, 14), f"UpscaleTwiceLayer: expected (2, 4, 10, 14), got {tuple(y.shape)}"'''),
    ("code", '''\
encoder = cn.HeadlessResnet34()
features = encoder(torch.rand(2, 3, 128, 128))
print("HeadlessResnet34:", (2, 3, 128, 128), "->", tuple(features.shape))
assert features.shape == (2, 512, 4, 4), f"HeadlessResnet34: expected (2, 512, 4, 4), got {tuple(features.shape)}"
backbone = cn.ResnetBackbone()  # given: the encoder + three UpscaleTwiceLayers
print("ResnetBackbone:", (2, 3, 128, 128), "->", tuple(backbone(torch.rand(2, 3, 128, 128)).shape))'''),
    ("md", """\
## Head

`CenterNetHead` turns features `[B, 64, H', W']` into points `[B, C+4, H', W']`: C class
probabilities (independent, in [0, 1]), then offsets `dy, dx` in [0, 1], then sizes `h, w`."""),
    ("code", '''\
head = cn.CenterNetHead(64, dataset.num_classes)
points = head(torch.randn(2, 64, 16, 16))
c = dataset.num_classes
print("CenterNetHead:", (2, 64, 16, 16), "->", tuple(points.shape))
assert points.shape == (2, c + 4, 16, 16)
assert 0 <= points[:, :c].min() and points[:, :c].max() <= 1, "class probabilities must be in [0, 1]"
assert 0 <= points[:, c:c + 2].min() and points[:, c:c + 2].max() <= 1, "offsets must be in [0, 1]"'''),
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
plot.show_heatmap(target[0], image=image, title="target heatmap (max over classes)")'''),
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
assert len(decoded) == len(real), f"expected {len(real)} objects back, got {len(decoded)}"'''),
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
assert losses.shape == (4, 3) and torch.isfinite(losses).all()'''),
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
    print(f"{OUT}: {size_mb:.0f} MiB, val mAP@0.5 after reloading: {reloaded_map:.3f} (the bonus needs >= 0.7 on the test split)")
else:
    print("no weights saved (set TRAIN_FULL_OUT)")'''),
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


NOTEBOOKS = {"centernet_checks.ipynb": CHECKS_CELLS, "train_full.ipynb": TRAIN_FULL_CELLS}


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
