"""Generate the stand-in data set of the "detection" assignment (deterministic).

The course's data set (video-game screenshots with 4 classes: enemy, enemy-head, friendly,
friendly-head) cannot be downloaded here, so this script draws a stand-in with the same
structure: figures with a body and a head (wearing a helmet), two teams told apart by colour
(enemies red/orange, friends blue/cyan; both vary), varied sizes, occlusion by other figures
and by clutter in front, clutter in the background (some of it in team colours), noise.

Layout (under ``--out``, default ``data/generated/detection``, git-ignored)::

    train/000001.jpg ...   val/...   test/...      images
    train.json, val.json                           COCO annotations (ids start at 1)
    test_images.json                               COCO "images" and "categories" only, and
                                                   info.images_fingerprint (see below)
    hidden/test.json                               COCO annotations of the test split, and
                                                   info.seed_fingerprint / images_fingerprint

``hidden/`` belongs to the grader: the student bundle ships the images, ``train.json``,
``val.json`` and ``test_images.json``, never ``hidden/``. The grader's mAP check reads
``hidden/test.json`` (``--annotations-only`` regenerates just that file).

The test split's seed is a secret of the grading machine: ``DETECTION_TEST_SEED`` (an integer) or
``DETECTION_TEST_SEED_FILE`` (a file outside the repository holding it), given to the generator
when the bundle is built and to the grader's parent process when it grades, never to students or
the grader's worker. Without one the generator uses ``DEFAULT_TEST_SEED``, which is public (it is
in this file): the grader refuses to grade the challenge against it.

Fingerprints: ``seed_fingerprint(seed)`` is a SHA-256 of the seed and ``GENERATOR_VERSION`` (in
the grader's ``hidden/test.json`` only: a small seed could be found from it by trying them all);
``images_fingerprint`` a SHA-256 of the rendered test images' pixels (before JPEG), the knobs and
the generator version, in both files. The grader compares the two files' images fingerprints, so
annotations made with another seed than the students' images stop grading with one line.

Classes (COCO category ids): 1 enemy, 2 enemy-head, 3 friendly, 4 friendly-head. A body box
covers the visible pixels of the whole figure (head included); a head box the visible head.
Parts less than ``--min-visible`` visible are not annotated.

Usage::

    python data/detection/make_dataset.py                 # default sizes and difficulty
    python data/detection/make_dataset.py --annotations-only   # only hidden/test.json
    python data/detection/make_dataset.py --help          # difficulty knobs
"""

from __future__ import annotations

import argparse
import colorsys
import hashlib
import json
import os
import sys
from dataclasses import dataclass, asdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_OUT = ROOT / "data" / "generated" / "detection"
CATEGORIES = [
    {"id": 1, "name": "enemy", "supercategory": "enemy"},
    {"id": 2, "name": "enemy-head", "supercategory": "enemy"},
    {"id": 3, "name": "friendly", "supercategory": "friendly"},
    {"id": 4, "name": "friendly-head", "supercategory": "friendly"},
]
SPLIT_SALT = {"train": 11, "val": 23, "test": 37}
DEFAULT_TEST_SEED = 20260611  # PUBLIC: the grader refuses to grade the challenge against it
GENERATOR_VERSION = "detection-generator-2"
SEED_ENV, SEED_FILE_ENV = "DETECTION_TEST_SEED", "DETECTION_TEST_SEED_FILE"


class SeedError(ValueError):
    """The secret seed is malformed or unreadable (one line)."""


def secret_test_seed(environ=None) -> int | None:
    """The test split's secret seed from ``$DETECTION_TEST_SEED`` or the file named by
    ``$DETECTION_TEST_SEED_FILE`` (first whitespace-separated word); None when neither is set."""
    environ = os.environ if environ is None else environ
    text, where = environ.get(SEED_ENV, "").strip(), SEED_ENV
    if not text and environ.get(SEED_FILE_ENV, "").strip():
        where = environ[SEED_FILE_ENV].strip()
        try:
            text = Path(where).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise SeedError(f"cannot read the seed file {where} ({SEED_FILE_ENV}): {exc.strerror}") from None
        text = text.split()[0] if text else ""
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        raise SeedError(f"the test split's seed ({where}) must be an integer") from None


def test_seed_or_default(environ=None) -> int:
    seed = secret_test_seed(environ)
    return DEFAULT_TEST_SEED if seed is None else seed


def seed_fingerprint(test_seed: int) -> str:
    """SHA-256 of the test seed and the generator version (kept with the grader only)."""
    return hashlib.sha256(f"{GENERATOR_VERSION}|test-seed|{int(test_seed)}".encode()).hexdigest()


@dataclass
class Knobs:
    """Difficulty knobs (all sizes in pixels of an ``image_size`` square image)."""

    image_size: int = 160
    min_figures: int = 1
    max_figures: int = 6
    min_height: int = 18          # figure height range (the head box is about a quarter of it)
    max_height: int = 88
    hue_spread: float = 0.08      # spread of team hues (0.5 would make the teams indistinguishable)
    clutter: int = 8              # clutter shapes per image (background and foreground)
    team_coloured_clutter: float = 0.4   # share of clutter drawn in a team's colour
    occluders: float = 0.45       # chance that a foreground shape is drawn over a figure
    overlap: float = 0.5          # chance that a figure is placed next to (overlapping) another
    noise: float = 10.0           # std of Gaussian pixel noise (0..255)
    min_visible: float = 0.3      # parts less visible than this are not annotated


def _team_colour(rng, team: int, spread: float):
    base = 0.0 if team == 0 else 0.6  # red-ish / blue-ish
    h = (base + rng.normal(0, spread)) % 1.0
    s = rng.uniform(0.55, 1.0)
    v = rng.uniform(0.55, 1.0)
    r, g, b = colorsys.hsv_to_rgb(h, s, v)
    return (int(b * 255), int(g * 255), int(r * 255))  # BGR for cv2


def _random_colour(rng):
    return tuple(int(c) for c in rng.integers(0, 256, 3))


def _background(rng, size):
    import cv2

    top = rng.integers(40, 170, 3).astype(np.float32)
    bottom = rng.integers(40, 170, 3).astype(np.float32)
    t = np.linspace(0, 1, size, dtype=np.float32)[:, None, None]
    img = (top * (1 - t) + bottom * t) * np.ones((1, size, 1), np.float32)
    img = img.astype(np.uint8)
    for _ in range(rng.integers(2, 6)):  # walls and floor patches
        x1, y1 = rng.integers(0, size, 2)
        w, h = rng.integers(size // 8, size // 2, 2)
        colour = tuple(int(c) for c in rng.integers(30, 200, 3))
        cv2.rectangle(img, (int(x1), int(y1)), (int(x1 + w), int(y1 + h)), colour, -1)
    return img


def _draw_clutter(rng, img, owner, knobs: Knobs, spread, region=None):
    """One random shape; drawn over ``owner`` as -1 (occluding whatever is below)."""
    import cv2

    size = knobs.image_size
    if rng.random() < knobs.team_coloured_clutter:
        colour = _team_colour(rng, int(rng.integers(0, 2)), spread)
    else:
        colour = _random_colour(rng)
    if region is not None:
        x1, y1, x2, y2 = region
        cx, cy = rng.uniform(x1, x2), rng.uniform(y1, y2)
        scale = max(6.0, 0.45 * max(x2 - x1, (y2 - y1) * 0.6))
    else:
        cx, cy = rng.uniform(0, size, 2)
        scale = rng.uniform(6, size / 5)
    kind = rng.integers(0, 3)
    mask = np.zeros(owner.shape, np.uint8)
    if kind == 0:  # box / crate
        w, h = rng.uniform(0.4, 1.0, 2) * scale
        p1 = (int(cx - w / 2), int(cy - h / 2))
        p2 = (int(cx + w / 2), int(cy + h / 2))
        cv2.rectangle(mask, p1, p2, 1, -1)
    elif kind == 1:  # barrel / rock
        cv2.ellipse(mask, (int(cx), int(cy)), (int(scale * rng.uniform(0.2, 0.5)) + 1,
                    int(scale * rng.uniform(0.2, 0.5)) + 1), float(rng.uniform(0, 180)), 0, 360, 1, -1)
    else:  # pole / branch
        ang = rng.uniform(0, np.pi)
        dx, dy = np.cos(ang) * scale, np.sin(ang) * scale
        cv2.line(mask, (int(cx - dx), int(cy - dy)), (int(cx + dx), int(cy + dy)), 1, int(rng.integers(2, 5)))
    sel = mask.astype(bool)
    img[sel] = colour
    owner[sel] = -1


def _figure_parts(rng, x, y, h, team, spread):
    """Shapes of one figure whose box top-left is (x, y) and height h; returns a draw function."""
    import cv2

    body_colour = _team_colour(rng, team, spread)
    dark = tuple(int(c * 0.55) for c in body_colour)
    skin = tuple(int(c) for c in rng.integers(90, 230, 3))
    w = h * rng.uniform(0.38, 0.5)
    r = h * rng.uniform(0.11, 0.14)          # head radius
    cx = x + w / 2
    head_c = (cx + rng.uniform(-0.1, 0.1) * w, y + r)
    torso = (cx - w * 0.3, y + 2 * r, cx + w * 0.3, y + 2 * r + 0.4 * h)
    leg_top = torso[3]
    stance = rng.uniform(0.05, 0.25) * w
    facing = rng.choice([-1, 1])

    def draw(body_mask, head_mask, img):
        t = max(1, int(round(h * 0.07)))
        # legs, arms (body)
        for sx in (-1, 1):
            p1 = (int(cx + sx * w * 0.15), int(leg_top))
            p2 = (int(cx + sx * (w * 0.15 + stance)), int(y + h - 1))
            cv2.line(img, p1, p2, dark, t + 1)
            cv2.line(body_mask, p1, p2, 1, t + 1)
        arm_y = int(torso[1] + 0.1 * h)
        for sx in (-1, 1):
            reach = w * 0.5 if sx == facing else w * 0.4
            p1 = (int(cx + sx * w * 0.25), arm_y)
            p2 = (int(cx + sx * reach), int(arm_y + 0.2 * h))
            cv2.line(img, p1, p2, body_colour, t)
            cv2.line(body_mask, p1, p2, 1, t)
        # torso
        p1, p2 = (int(torso[0]), int(torso[1])), (int(torso[2]), int(torso[3]))
        cv2.rectangle(img, p1, p2, body_colour, -1)
        cv2.rectangle(body_mask, p1, p2, 1, -1)
        # head: skin, with a helmet in the team's colour
        c, rr = (int(round(head_c[0])), int(round(head_c[1]))), max(2, int(round(r)))
        cv2.circle(img, c, rr, skin, -1)
        cv2.ellipse(img, c, (rr, rr), 0, 180, 360, dark, -1)
        cv2.circle(head_mask, c, rr, 1, -1)

    return draw


def render_image(rng, knobs: Knobs):
    """One image (H, W, 3) uint8 BGR and its annotations [(category_id, [x, y, w, h]), ...]."""
    size = knobs.image_size
    img = _background(rng, size)
    owner = np.zeros((size, size), np.int32)  # 0 background, -1 clutter, 2k+1 body of k, 2k+2 head of k
    n_back = int(rng.integers(0, knobs.clutter + 1))
    for _ in range(n_back):
        _draw_clutter(rng, img, owner, knobs, knobs.hue_spread)
    figures = []
    n = int(rng.integers(knobs.min_figures, knobs.max_figures + 1))
    # far figures first (small, higher up) so that near ones occlude them
    heights = np.sort(np.exp(rng.uniform(np.log(knobs.min_height), np.log(knobs.max_height), n)))
    full_masks = []
    for k, h in enumerate(heights):
        h = float(h)
        w = h * 0.5
        if figures and rng.random() < knobs.overlap:
            px, py, ph = figures[int(rng.integers(0, len(figures)))]
            x = px + rng.uniform(-0.6, 0.6) * ph * 0.5
            y = py + ph - h + rng.uniform(-0.15, 0.15) * h
        else:
            x = rng.uniform(-0.1 * w, size - 0.9 * w)
            y = rng.uniform(-0.05 * h, size - 0.95 * h)
        team = int(rng.integers(0, 2))
        draw = _figure_parts(rng, x, y, h, team, knobs.hue_spread)
        body_mask = np.zeros((size, size), np.uint8)
        head_mask = np.zeros((size, size), np.uint8)
        draw(body_mask, head_mask, img)
        body_mask |= head_mask
        owner[body_mask.astype(bool)] = 2 * k + 1
        owner[head_mask.astype(bool)] = 2 * k + 2
        full_masks.append((team, body_mask.astype(bool), head_mask.astype(bool)))
        figures.append((x, y, h))
        if rng.random() < knobs.occluders:  # something in front of this figure
            _draw_clutter(rng, img, owner, knobs, knobs.hue_spread, region=(x, y, x + w, y + h))
    # a little foreground clutter anywhere
    for _ in range(int(rng.integers(0, max(1, knobs.clutter // 3) + 1))):
        _draw_clutter(rng, img, owner, knobs, knobs.hue_spread)
    if knobs.noise > 0:
        noisy = img.astype(np.float32) + rng.normal(0, knobs.noise, img.shape).astype(np.float32)
        img = np.clip(noisy, 0, 255).astype(np.uint8)

    annotations = []
    for k, (team, body_full, head_full) in enumerate(full_masks):
        body_vis = (owner == 2 * k + 1) | (owner == 2 * k + 2)
        head_vis = owner == 2 * k + 2
        for cat, full, vis in ((1 + 2 * team, body_full, body_vis), (2 + 2 * team, head_full, head_vis)):
            total = int(full.sum())
            if total == 0 or vis.sum() < knobs.min_visible * total:
                continue
            ys, xs = np.nonzero(vis)
            x1, y1, x2, y2 = int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1
            if x2 - x1 < 2 or y2 - y1 < 2:
                continue
            annotations.append((cat, [x1, y1, x2 - x1, y2 - y1]))
    return img, annotations


def split_seed(split: str, seed: int, test_seed: int) -> int:
    return test_seed if split == "test" else seed * 1000 + SPLIT_SALT[split]


def generate_split(split: str, count: int, knobs: Knobs, seed: int, test_seed: int, out: Path | None):
    """Render ``count`` images; write them under ``out/split`` when ``out`` is given; return COCO dict."""
    import cv2

    rng = np.random.default_rng(split_seed(split, seed, test_seed))
    images, annotations = [], []
    pixels = hashlib.sha256(f"{GENERATOR_VERSION}|{json.dumps(asdict(knobs), sort_keys=True)}|{count}".encode())
    if out is not None:
        (out / split).mkdir(parents=True, exist_ok=True)
    for i in range(1, count + 1):
        img, anns = render_image(rng, knobs)
        pixels.update(np.ascontiguousarray(img).tobytes())
        name = f"{split}/{i:06d}.jpg"
        if out is not None:
            cv2.imwrite(str(out / name), img, [cv2.IMWRITE_JPEG_QUALITY, 92])
        images.append({"id": i, "file_name": name, "width": knobs.image_size, "height": knobs.image_size})
        for cat, box in anns:
            annotations.append({"id": len(annotations) + 1, "image_id": i, "category_id": cat,
                                "bbox": [float(v) for v in box], "area": float(box[2] * box[3]), "iscrowd": 0})
    info = {"description": f"detection stand-in, split {split}", "knobs": asdict(knobs),
            "generator_version": GENERATOR_VERSION, "images_fingerprint": pixels.hexdigest()}
    if split == "test":
        info["seed"] = seed
        info["seed_fingerprint"] = seed_fingerprint(test_seed)
        info["public_seed"] = test_seed == DEFAULT_TEST_SEED
    return {"info": info, "images": images, "annotations": annotations, "categories": CATEGORIES}


def public_test_images(test: dict) -> dict:
    """What the student bundle gets of the test split: images and categories, and the images'
    fingerprint (never the seed's)."""
    info = {k: v for k, v in test["info"].items() if k not in ("seed_fingerprint", "public_seed", "seed")}
    return {"info": info, "images": test["images"], "categories": test["categories"]}


def hidden_test_annotations(knobs: Knobs | None = None, count: int = 300, seed: int = 0,
                            test_seed: int | None = None) -> dict:
    """The test split's COCO annotations, without writing images (what the grader needs)."""
    knobs = knobs or Knobs()
    test_seed = test_seed if test_seed is not None else test_seed_or_default()
    return generate_split("test", count, knobs, seed, test_seed, None)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--train", type=int, default=3000)
    parser.add_argument("--val", type=int, default=300)
    parser.add_argument("--test", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0, help="seed of the train and val splits")
    parser.add_argument("--test-seed", type=int, default=None,
                        help=f"seed of the test split (keep yours private; default ${SEED_ENV} or the file "
                             f"${SEED_FILE_ENV}, else the PUBLIC {DEFAULT_TEST_SEED}, which the grader refuses)")
    parser.add_argument("--annotations-only", action="store_true", help="only write hidden/test.json")
    for name, value in asdict(Knobs()).items():
        parser.add_argument("--" + name.replace("_", "-"), type=type(value), default=value)
    args = parser.parse_args(argv)
    if args.test_seed is None:
        try:
            args.test_seed = test_seed_or_default()
        except SeedError as exc:
            parser.exit(2, f"make_dataset.py: {exc}\n")
    knobs = Knobs(**{k: getattr(args, k) for k in asdict(Knobs())})
    out: Path = args.out
    (out / "hidden").mkdir(parents=True, exist_ok=True)
    if args.annotations_only:
        test = generate_split("test", args.test, knobs, args.seed, args.test_seed, None)
    else:
        for split, count in (("train", args.train), ("val", args.val)):
            coco = generate_split(split, count, knobs, args.seed, args.test_seed, out)
            (out / f"{split}.json").write_text(json.dumps(coco))
            print(f"{split}: {len(coco['images'])} images, {len(coco['annotations'])} boxes")
        test = generate_split("test", args.test, knobs, args.seed, args.test_seed, out)
        (out / "test_images.json").write_text(json.dumps(public_test_images(test)))
    (out / "hidden" / "test.json").write_text(json.dumps(test))
    print(f"test: {len(test['images'])} images, {len(test['annotations'])} boxes (hidden/test.json)")
    if args.test_seed == DEFAULT_TEST_SEED:
        print(f"note: the test split uses the PUBLIC default seed; set {SEED_ENV} (or {SEED_FILE_ENV}) to a "
              f"private one for a real class: the grader refuses to grade the challenge against the default",
              file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
