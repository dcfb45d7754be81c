"""Generate CocoGen: a larger synthetic detection set in the COCO format of TinyCoco.

Usage::

    python data/cocogen/make_dataset.py                  # default sizes, into data/generated/cocogen
    python data/cocogen/make_dataset.py --train 500 --val 100 --test 100 --out /tmp/cocogen

Writes (``data/generated/`` is git-ignored; the files are regenerated on demand, byte for byte)::

    <out>/train/images/*.jpg   <out>/train/annotations.json
    <out>/val/images/*.jpg     <out>/val/annotations.json
    <out>/test/images/*.jpg                                   the held-out test images
    <out>/hidden/test_annotations.json                        their annotations: for the grader only

The images are drawn like TinyCoco's (``data/tinycoco/make_tinycoco.py``: the same three categories,
colours and textured backgrounds, ids 1 "disc", 3 "square", 7 "triangle"), with 1 to 6 objects of
random size, some overlapping, some touching the border, and a few images without objects.

The held-out test split: the grader's sandbox never shows a directory named ``hidden`` to the code
under test, so a submission sees the test images but not their annotations, and ``grader release``
ships the generated images without ``hidden/`` and without this script. The generator is
deterministic, so wherever it may become public the test split has a seed of its own,
``--test-seed`` (default: the environment variable ``COCOGEN_TEST_SEED``, else a public value): an
instructor who grades for real sets a private one when generating the grader's copy; the images then
come from the same distribution as the training images but cannot be recomputed from the default.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import random
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
DEFAULT_OUT = ROOT / "data" / "generated" / "cocogen"
DEFAULT_SIZES = {"train": 4000, "val": 500, "test": 500}
SPLIT_SEEDS = {"train": 1, "val": 2}
PUBLIC_TEST_SEED = 3
FORMAT_VERSION = 1  # bump when the drawing changes: a stamp file makes stale copies visible


def _tinycoco():
    """TinyCoco's generator module: its categories, colours and drawing functions are reused."""
    spec = importlib.util.spec_from_file_location("_make_tinycoco", ROOT / "data" / "tinycoco" / "make_tinycoco.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


TC = _tinycoco()
CATEGORY_IDS = [c["id"] for c in TC.CATEGORIES]


def image_seed(split_seed: int, index: int) -> int:
    """A seed of its own for every image (stable across Python versions: no ``hash()``)."""
    digest = hashlib.sha256(f"cocogen/{FORMAT_VERSION}/{split_seed}/{index}".encode()).digest()
    return int.from_bytes(digest[:8], "little")


def random_objects(rng: random.Random, width: int, height: int):
    """1 to 6 objects ``(category, x, y, w, h)``; about 5 % of the images get none."""
    if rng.random() < 0.05:
        return []
    count = 1 + int(rng.random() * 6)
    objects = []
    for _ in range(count):
        category = CATEGORY_IDS[int(rng.random() * len(CATEGORY_IDS))]
        side = min(width, height)
        w = int(side * (0.12 + 0.38 * rng.random()))
        h = max(8, min(height, int(w * (0.7 + 0.6 * rng.random()))))
        if rng.random() < 0.1:  # touching a border
            x = 0 if rng.random() < 0.5 else width - w
        else:
            x = int(rng.random() * (width - w + 1))
        y = int(rng.random() * (height - h + 1))
        objects.append((category, x, y, w, h))
    return objects


def make_image(seed: int):
    """One image: ``(PIL RGB image, [(category, x, y, w, h), ...])``."""
    rng = random.Random(seed)
    np_rng = np.random.default_rng(seed)
    width = 160 + 16 * int(rng.random() * 9)   # 160 .. 288
    height = 160 + 16 * int(rng.random() * 9)
    objects = random_objects(rng, width, height)
    canvas = Image.fromarray(TC.background(np_rng, rng, width, height), "RGB")
    draw = ImageDraw.Draw(canvas)
    for category, x, y, w, h in objects:
        TC.draw_shape(draw, category, x, y, w, h, TC.jitter_colour(rng, TC.COLOURS[category]))
    return canvas, objects


def make_split(out_dir: Path, split: str, count: int, split_seed: int) -> dict:
    """Write the images of one split; return its COCO dictionary."""
    image_dir = out_dir / split / "images"
    image_dir.mkdir(parents=True, exist_ok=True)
    images, annotations = [], []
    for index in range(count):
        canvas, objects = make_image(image_seed(split_seed, index))
        name = f"{split}_{index:05d}.jpg"
        canvas.save(image_dir / name, quality=90, optimize=False)
        image_id = index + 1
        images.append({"id": image_id, "file_name": name, "width": canvas.width, "height": canvas.height})
        for category, x, y, w, h in objects:
            outline = TC.polygon(category, x, y, w, h)
            annotations.append({
                "id": len(annotations) + 1, "image_id": image_id, "category_id": category,
                "bbox": [float(x), float(y), float(w), float(h)], "area": TC._r(TC.polygon_area(outline)),
                "iscrowd": 0, "segmentation": [[TC._r(v) for point in outline for v in point]],
            })
    return {
        "info": {"description": f"CocoGen {split}: synthetic shapes in COCO instances format "
                                f"(data/cocogen/make_dataset.py, format {FORMAT_VERSION})", "version": "1.0"},
        "images": images, "annotations": annotations, "categories": TC.CATEGORIES,
    }


def make_dataset(out_dir=DEFAULT_OUT, sizes=None, test_seed=None) -> Path:
    """Generate every split under ``out_dir``; return ``out_dir``.

    ``sizes``: ``{"train": n, "val": n, "test": n}`` (missing keys: the defaults).
    ``test_seed``: seed of the held-out split (default: ``$COCOGEN_TEST_SEED`` or the public one).
    """
    out_dir = Path(out_dir)
    sizes = {**DEFAULT_SIZES, **(sizes or {})}
    if test_seed is None:
        test_seed = int(os.environ.get("COCOGEN_TEST_SEED", PUBLIC_TEST_SEED))
    for split in ("train", "val"):
        coco = make_split(out_dir, split, sizes[split], SPLIT_SEEDS[split])
        (out_dir / split / "annotations.json").write_text(json.dumps(coco) + "\n", encoding="utf-8")
    coco = make_split(out_dir, "test", sizes["test"], 1000 + test_seed)
    (out_dir / "hidden").mkdir(parents=True, exist_ok=True)
    (out_dir / "hidden" / "test_annotations.json").write_text(json.dumps(coco) + "\n", encoding="utf-8")
    stamp = {"format": FORMAT_VERSION, "sizes": sizes, "public_test_seed": test_seed == PUBLIC_TEST_SEED}
    (out_dir / "cocogen.json").write_text(json.dumps(stamp, indent=1) + "\n", encoding="utf-8")
    return out_dir


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(DEFAULT_OUT), help=f"output folder (default {DEFAULT_OUT})")
    for split, n in DEFAULT_SIZES.items():
        parser.add_argument(f"--{split}", type=int, default=n, help=f"images in the {split} split (default {n})")
    parser.add_argument("--test-seed", type=int, default=None,
                        help="seed of the held-out test split (default: $COCOGEN_TEST_SEED, else public)")
    args = parser.parse_args(argv)
    out = make_dataset(args.out, {"train": args.train, "val": args.val, "test": args.test}, args.test_seed)
    print(f"wrote CocoGen under {out} (train {args.train}, val {args.val}, test {args.test} images)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
