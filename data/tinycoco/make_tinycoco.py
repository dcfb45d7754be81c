"""Generate TinyCoco: 16 synthetic images with COCO "instances" annotations.

Usage: ``python data/tinycoco/make_tinycoco.py [--out DIR]`` (default: next to this script).
Writes ``DIR/images/*.jpg|png`` and ``DIR/annotations.json``. Deterministic: the same Python,
numpy and Pillow give the same bytes; the JSON depends on this file only (geometry comes from
hand-written layouts and ``random.Random``, whose ``random()`` stream is stable across versions).

Three categories with non-contiguous COCO ids, each a bright shape of its own colour on a muted
textured background, so a small CenterNet can learn them from 16 images:

    id 1 "disc"      red ellipses
    id 3 "square"    green rectangles
    id 7 "triangle"  blue upward triangles

The set exercises what real COCO files contain: images of different sizes and aspect ratios, a
grayscale JPEG, a CMYK JPEG, a palette PNG and an RGBA PNG, an image with no annotations, an
``iscrowd`` region (RLE segmentation), boxes touching the border, a box crossing the border by a
rounding error, a degenerate (zero-width) box, tiny and large objects, overlapping objects of the
same class.
"""

from __future__ import annotations

import argparse
import json
import math
import random
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

SEED = 20240611
CATEGORIES = [
    {"id": 1, "name": "disc", "supercategory": "shape"},
    {"id": 3, "name": "square", "supercategory": "shape"},
    {"id": 7, "name": "triangle", "supercategory": "shape"},
]
COLOURS = {1: (250, 70, 60), 3: (70, 230, 90), 7: (70, 120, 255)}
DISC, SQUARE, TRIANGLE = 1, 3, 7

# Layouts: (file name, width, height, how it is stored, objects). An object is
# (category id, x, y, w, h): the pixels x..x+w-1, y..y+h-1 it covers, i.e. COCO bbox [x, y, w, h].
LAYOUTS = [
    ("000_rgb.jpg", 320, 240, "RGB",
     [(DISC, 40, 50, 60, 60), (SQUARE, 150, 40, 70, 70), (TRIANGLE, 230, 130, 70, 60)]),
    ("001_portrait.jpg", 240, 320, "RGB",
     [(DISC, 30, 30, 80, 80), (TRIANGLE, 120, 170, 90, 80), (SQUARE, 40, 220, 60, 60)]),
    ("002_square.png", 256, 256, "RGB",
     [(SQUARE, 30, 150, 80, 70), (DISC, 150, 40, 70, 90), (TRIANGLE, 150, 160, 60, 60)]),
    # touching the left, right and bottom borders
    ("003_wide.jpg", 400, 200, "RGB", [(SQUARE, 0, 60, 70, 70), (DISC, 340, 40, 60, 60), (TRIANGLE, 170, 130, 80, 70)]),
    ("004_gray.jpg", 256, 192, "L", [(DISC, 20, 20, 70, 70), (SQUARE, 120, 90, 60, 60), (TRIANGLE, 180, 20, 60, 56)]),
    ("005_cmyk.jpg", 288, 288, "CMYK",
     [(TRIANGLE, 30, 30, 100, 90), (DISC, 170, 60, 80, 80), (SQUARE, 90, 180, 80, 80)]),
    ("006_empty.jpg", 224, 224, "RGB", []),
    ("007_crowd.jpg", 320, 256, "RGB", [(SQUARE, 20, 150, 70, 70), (TRIANGLE, 230, 160, 70, 70)]),
    # overlapping objects of the same class
    ("008_overlap.jpg", 256, 256, "RGB",
     [(SQUARE, 30, 30, 90, 90), (SQUARE, 80, 80, 90, 90), (DISC, 150, 150, 70, 70), (DISC, 185, 170, 60, 60)]),
    # tiny objects and a medium one
    ("009_tiny.jpg", 320, 320, "RGB",
     [(DISC, 20, 20, 8, 8), (SQUARE, 280, 40, 10, 10), (TRIANGLE, 60, 270, 12, 10), (DISC, 200, 250, 6, 6),
      (SQUARE, 110, 110, 90, 90)]),
    # one large object with a small one on top of it
    ("010_large.jpg", 256, 256, "RGB", [(DISC, 8, 8, 240, 240), (TRIANGLE, 100, 100, 50, 44)]),
    ("011_palette.png", 200, 160, "P", [(SQUARE, 20, 30, 60, 60), (TRIANGLE, 110, 60, 70, 64)]),
    ("012_rgba.png", 192, 192, "RGBA", [(DISC, 20, 100, 60, 60), (SQUARE, 110, 20, 60, 60)]),
    # a disc cut by the top border and a triangle touching the right border
    ("013_border.jpg", 256, 200, "RGB",
     [(DISC, 90, 0, 70, 50), (TRIANGLE, 186, 100, 70, 70), (SQUARE, 10, 120, 60, 60)]),
    ("014_random.jpg", 288, 224, "RGB", "random"),
    ("015_random.jpg", 224, 288, "RGB", "random"),
]
CROWD_IMAGE = "007_crowd.jpg"
CROWD_ORIGIN = (70, 20)  # top-left of a 7 x 4 grid of small discs, annotated once with iscrowd=1
DISC_CUT_BY_BORDER = ("013_border.jpg", 0)  # drawn from y = -20: only its lower part is visible
ROUNDING_ERROR_BOX = ("013_border.jpg", 1, 0.6)  # annotation crosses the right border by 0.6 px
DEGENERATE_BOX = ("013_border.jpg", [120.0, 150.0, 0.0, 12.0], SQUARE)  # zero width, as a few COCO boxes


def random_layout(rng: random.Random, width: int, height: int, count: int):
    """``count`` objects of random class, size and place, fully inside the image."""
    objects = []
    for _ in range(count):
        category = (DISC, SQUARE, TRIANGLE)[int(rng.random() * 3)]
        w = 24 + int(rng.random() * 60)
        h = max(16, int(w * (0.7 + 0.6 * rng.random())))
        h = min(h, height)
        x = int(rng.random() * (width - w))
        y = int(rng.random() * (height - h))
        objects.append((category, x, y, w, h))
    return objects


def background(np_rng: np.random.Generator, rng: random.Random, width: int, height: int) -> np.ndarray:
    """A muted texture: a base colour, soft diagonal stripes and a little noise. ``[H, W, 3]`` uint8."""
    base = np.array([40 + 60 * rng.random(), 40 + 60 * rng.random(), 40 + 60 * rng.random()])
    angle = math.pi * rng.random()
    period = 12 + 30 * rng.random()
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    stripes = np.sin((xx * math.cos(angle) + yy * math.sin(angle)) * 2 * math.pi / period)
    noise = np_rng.normal(0.0, 3.0, size=(height, width, 1))
    image = base[None, None, :] + 12.0 * stripes[..., None] + noise
    return np.clip(image, 0, 255).astype(np.uint8)


def jitter_colour(rng: random.Random, colour):
    return tuple(int(min(255, max(0, c + 30 * (rng.random() - 0.5)))) for c in colour)


def draw_shape(draw: ImageDraw.ImageDraw, category: int, x: float, y: float, w: float, h: float, colour) -> None:
    """Fill the pixels x..x+w-1, y..y+h-1 with the shape of ``category``."""
    x1, y1 = x + w - 1, y + h - 1
    if category == DISC:
        draw.ellipse([x, y, x1, y1], fill=colour)
    elif category == SQUARE:
        draw.rectangle([x, y, x1, y1], fill=colour)
    else:
        draw.polygon([(x + (w - 1) / 2, y), (x, y1), (x1, y1)], fill=colour)


def polygon(category: int, x: float, y: float, w: float, h: float):
    """Outline of the shape in continuous pixel coordinates (COCO polygon ``[x1, y1, x2, y2, ...]``)."""
    if category == DISC:
        points = [
            (x + w / 2 + w / 2 * math.cos(2 * math.pi * k / 16), y + h / 2 + h / 2 * math.sin(2 * math.pi * k / 16))
            for k in range(16)
        ]
    elif category == SQUARE:
        points = [(x, y), (x + w, y), (x + w, y + h), (x, y + h)]
    else:
        points = [(x + w / 2, y), (x + w, y + h), (x, y + h)]
    return points


def clip_polygon_y(points, y_min: float):
    return [(px, max(py, y_min)) for px, py in points]


def polygon_area(points) -> float:
    """Shoelace formula."""
    s = 0.0
    for (x0, y0), (x1, y1) in zip(points, points[1:] + points[:1]):
        s += x0 * y1 - x1 * y0
    return abs(s) / 2


def rle_uncompressed(mask: np.ndarray):
    """COCO's uncompressed RLE: run lengths over the column-major (Fortran order) pixels, starting with 0s."""
    flat = mask.flatten(order="F").astype(np.uint8)
    counts, current, run = [], 0, 0
    for value in flat.tolist():
        if value == current:
            run += 1
        else:
            counts.append(run)
            current, run = value, 1
    counts.append(run)
    return {"counts": counts, "size": [int(mask.shape[0]), int(mask.shape[1])]}


def _r(v: float) -> float:
    return round(float(v), 2)


def make_tinycoco(out_dir) -> Path:
    """Write the images and ``annotations.json`` under ``out_dir``; return the JSON path."""
    out_dir = Path(out_dir)
    (out_dir / "images").mkdir(parents=True, exist_ok=True)
    rng = random.Random(SEED)
    np_rng = np.random.default_rng(SEED)
    images, annotations = [], []

    def annotate(image_id, category, bbox, segmentation, area, iscrowd=0):
        annotations.append({
            "id": len(annotations) + 1, "image_id": image_id, "category_id": category,
            "bbox": [_r(v) for v in bbox], "area": _r(area), "iscrowd": iscrowd, "segmentation": segmentation,
        })

    for image_id, (name, width, height, mode, objects) in enumerate(LAYOUTS, start=1):
        if objects == "random":
            objects = random_layout(rng, width, height, count=3 + int(rng.random() * 3))
        canvas = Image.fromarray(background(np_rng, rng, width, height), "RGB")
        draw = ImageDraw.Draw(canvas)

        if name == CROWD_IMAGE:  # a crowd of small discs, annotated once with iscrowd=1
            cx, cy = CROWD_ORIGIN
            mask = Image.new("L", (width, height), 0)
            mask_draw = ImageDraw.Draw(mask)
            for row in range(4):
                for col in range(7):
                    d = 14 + int(rng.random() * 6)
                    px = cx + col * 26 + int(rng.random() * 4)
                    py = cy + row * 27 + int(rng.random() * 4)
                    colour = jitter_colour(rng, COLOURS[DISC])
                    draw_shape(draw, DISC, px, py, d, d, colour)
                    draw_shape(mask_draw, DISC, px, py, d, d, 255)
            mask_array = np.asarray(mask) > 0
            ys, xs = np.nonzero(mask_array)
            bbox = [xs.min(), ys.min(), xs.max() + 1 - xs.min(), ys.max() + 1 - ys.min()]
            annotate(image_id, DISC, bbox, rle_uncompressed(mask_array), mask_array.sum(), iscrowd=1)

        for index, (category, x, y, w, h) in enumerate(objects):
            colour = jitter_colour(rng, COLOURS[category])
            outline = polygon(category, x, y, w, h)
            bbox = [x, y, w, h]
            if (name, index) == DISC_CUT_BY_BORDER:
                # draw the full disc 20 px higher: the border cuts it; box and polygon are clipped
                draw_shape(draw, category, x, y - 20, w, h + 20, colour)
                outline = clip_polygon_y(polygon(category, x, y - 20, w, h + 20), 0.0)
            else:
                draw_shape(draw, category, x, y, w, h, colour)
            if (name, index) == ROUNDING_ERROR_BOX[:2]:
                bbox = [x, y, w + ROUNDING_ERROR_BOX[2], h]
            segmentation = [[_r(v) for point in outline for v in point]]
            annotate(image_id, category, bbox, segmentation, polygon_area(outline))

        if name == DEGENERATE_BOX[0]:
            bx, by, bw, bh = DEGENERATE_BOX[1]
            annotate(image_id, DEGENERATE_BOX[2], DEGENERATE_BOX[1], [[bx, by, bx, by + bh, bx, by + bh]], 0.0)

        path = out_dir / "images" / name
        if mode == "P":
            canvas.quantize(colors=64, dither=Image.Dither.NONE).save(path, optimize=False)
        elif mode == "RGBA":
            rgba = canvas.convert("RGBA")
            alpha = np.full((height, width), 255, np.uint8)
            alpha[: height // 4] = 128  # a half-transparent band at the top
            rgba.putalpha(Image.fromarray(alpha, "L"))
            rgba.save(path, optimize=False)
        elif path.suffix == ".png":
            canvas.convert(mode).save(path, optimize=False)
        else:
            canvas.convert(mode).save(path, quality=85, optimize=False)
        images.append({"id": image_id, "file_name": name, "width": width, "height": height, "license": 1})

    coco = {
        "info": {
            "description": "TinyCoco: synthetic shapes in COCO instances format (generated by make_tinycoco.py)",
            "version": "1.0",
            "year": 2024,
            "contributor": "detection-course-kit",
            "date_created": "2024-06-11",
        },
        "licenses": [{"id": 1, "name": "CC0 1.0", "url": "https://creativecommons.org/publicdomain/zero/1.0/"}],
        "images": images,
        "annotations": annotations,
        "categories": CATEGORIES,
    }
    json_path = out_dir / "annotations.json"
    json_path.write_text(json.dumps(coco, indent=1) + "\n", encoding="utf-8")
    return json_path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent), help="output folder")
    args = parser.parse_args(argv)
    path = make_tinycoco(args.out)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
