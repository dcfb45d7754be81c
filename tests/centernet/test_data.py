"""The COCO loader of the centernet kit and the TinyCoco generator.

The loader must read what real COCO files contain: grayscale and CMYK images, iscrowd regions,
non-contiguous category ids, images without annotations, boxes touching or crossing the border.
Exact numbers come from small hand-made annotation files; TinyCoco checks the real thing.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from reference.centernet.data import CocoDetection, coco_box_to_object, collate, load_rgb_image

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "data" / "tinycoco"


def tiny(image_size=64, **kwargs) -> CocoDetection:
    return CocoDetection(TINY / "annotations.json", TINY / "images", image_size=image_size, **kwargs)


def index_of(ds: CocoDetection, file_name: str) -> int:
    return [info["file_name"] for info in ds.image_infos].index(file_name)


def real_rows(objects: torch.Tensor) -> torch.Tensor:
    return objects[objects[:, 5] > 0]


# --------------------------------------------------------------------------------------------
# Hand-made COCO files with hand-computed expectations
# --------------------------------------------------------------------------------------------

def write_coco(folder: Path, images, annotations, categories) -> Path:
    """Write images (name -> PIL image) and a COCO JSON; return the JSON path."""
    (folder / "img").mkdir(parents=True, exist_ok=True)
    infos = []
    for image_id, (name, img) in enumerate(images.items(), start=1):
        img.save(folder / "img" / name)
        infos.append({"id": image_id, "file_name": name, "width": img.width, "height": img.height})
    anns = [{"id": i, "area": 1.0, "iscrowd": 0, **a} for i, a in enumerate(annotations, start=1)]
    path = folder / "ann.json"
    path.write_text(json.dumps({"images": infos, "annotations": anns, "categories": categories}))
    return path


@pytest.fixture
def handmade(tmp_path):
    """Image 1: 200x100 RGB with five annotations; image 2: 50x50 without annotations."""
    images = {"a.png": Image.new("RGB", (200, 100), (10, 20, 30)), "b.png": Image.new("RGB", (50, 50))}
    categories = [{"id": 2, "name": "two"}, {"id": 5, "name": "five"}, {"id": 11, "name": "eleven"}]
    annotations = [
        {"image_id": 1, "category_id": 5, "bbox": [20, 10, 40, 30]},       # inside
        {"image_id": 1, "category_id": 11, "bbox": [180, 90, 40, 20]},     # crosses right/bottom border
        {"image_id": 1, "category_id": 2, "bbox": [-5, -5, 15, 10]},       # crosses left/top border
        {"image_id": 1, "category_id": 2, "bbox": [50, 50, 0, 10]},        # degenerate: dropped
        {"image_id": 1, "category_id": 2, "bbox": [250, 10, 10, 10]},      # outside the image: dropped
        {"image_id": 1, "category_id": 5, "bbox": [60, 20, 30, 30], "iscrowd": 1},  # crowd: dropped
    ]
    path = write_coco(tmp_path, images, annotations, categories)
    return path, tmp_path / "img"


def test_resize_scales_boxes_hand_computed(handmade):
    path, image_dir = handmade
    ds = CocoDetection(path, image_dir, image_size=64, max_objects=5)
    image, objects = ds[0]
    assert image.shape == (3, 64, 64) and image.dtype == torch.float32
    assert objects.shape == (5, 6) and objects.dtype == torch.float32
    # 200x100 -> 64x64: x scale 0.32, y scale 0.64. Default map: ids 2, 5, 11 -> 0, 1, 2.
    # bbox [20, 10, 40, 30] (id 5): centre (x 40, y 25) -> (12.8, 16.0); w 40 -> 12.8, h 30 -> 19.2
    # bbox [180, 90, 40, 20] (id 11) clipped to x 180..200, y 90..100 -> centre (60.8, 60.8), 6.4 x 6.4
    # bbox [-5, -5, 15, 10] (id 2) clipped to x 0..10, y 0..5 -> centre (1.6, 1.6), 3.2 x 3.2
    expected = torch.tensor([
        [16.0, 12.8, 19.2, 12.8, 1, 1],
        [60.8, 60.8, 6.4, 6.4, 2, 1],
        [1.6, 1.6, 3.2, 3.2, 0, 1],
        [0, 0, 0, 0, 0, 0],
        [0, 0, 0, 0, 0, 0],
    ])
    torch.testing.assert_close(objects, expected, atol=1e-4, rtol=0)
    # the pixels are resized too, values in [0, 1]
    torch.testing.assert_close(image[:, 30, 30], torch.tensor([10, 20, 30]) / 255.0, atol=1e-6, rtol=0)


def test_category_map_drops_unmapped_ids(handmade):
    path, image_dir = handmade
    ds = CocoDetection(path, image_dir, image_size=64, category_map={11: 0}, max_objects=5)
    assert ds.num_classes == 1 and ds.class_names == ["eleven"]
    rows = real_rows(ds[0][1])
    assert rows.shape == (1, 6)
    torch.testing.assert_close(rows[0], torch.tensor([60.8, 60.8, 6.4, 6.4, 0, 1]), atol=1e-4, rtol=0)


def test_image_without_annotations_gives_zero_objects(handmade):
    path, image_dir = handmade
    ds = CocoDetection(path, image_dir, image_size=32, max_objects=7)
    image, objects = ds[1]
    assert image.shape == (3, 32, 32)
    assert objects.shape == (7, 6) and not objects.any()


def test_max_objects_truncates(handmade):
    path, image_dir = handmade
    ds = CocoDetection(path, image_dir, image_size=64, max_objects=2)
    assert ds[0][1].shape == (2, 6) and (ds[0][1][:, 5] == 1).all()


def test_coco_box_to_object_rejects_empty_boxes():
    assert coco_box_to_object([10, 10, 0, 5], 100, 100, 1, 1) is None
    assert coco_box_to_object([10, 10, 5, -1], 100, 100, 1, 1) is None
    assert coco_box_to_object([100, 10, 5, 5], 100, 100, 1, 1) is None  # starts on the right edge
    assert coco_box_to_object([0, 0, 100, 100], 100, 100, 0.5, 2) == (100.0, 25.0, 200.0, 50.0)


@pytest.mark.parametrize("mode", ["L", "CMYK", "RGBA", "P", "I;16"])
def test_load_rgb_image_converts_modes(tmp_path, mode):
    rgb = Image.new("RGB", (8, 6), (200, 40, 40))
    img = rgb.convert(mode) if mode != "I;16" else Image.new("I;16", (8, 6), 100)
    path = tmp_path / ("x.jpg" if mode in ("L", "CMYK") else "x.png")
    img.save(path)
    out = load_rgb_image(path)
    assert out.mode == "RGB" and out.size == (8, 6)


# --------------------------------------------------------------------------------------------
# TinyCoco itself
# --------------------------------------------------------------------------------------------

def test_tinycoco_loads_every_image():
    ds = tiny(image_size=64)
    assert len(ds) == 16
    assert ds.num_classes == 3 and ds.class_names == ["disc", "square", "triangle"]
    images, objects = collate([ds[i] for i in range(len(ds))])
    assert images.shape == (16, 3, 64, 64) and objects.shape == (16, 100, 6)
    assert images.dtype == torch.float32 and 0 <= images.min() and images.max() <= 1
    real = objects[objects[..., 5] > 0]
    # 47 annotations: the crowd region and the zero-width box are dropped
    assert real.shape[0] == 45
    assert set(real[:, 4].tolist()) == {0.0, 1.0, 2.0}
    assert (real[:, 2:4] > 0).all()
    # boxes stay inside the image after clipping
    assert (real[:, 0] - real[:, 2] / 2 >= -1e-4).all() and (real[:, 0] + real[:, 2] / 2 <= 64 + 1e-4).all()
    assert (real[:, 1] - real[:, 3] / 2 >= -1e-4).all() and (real[:, 1] + real[:, 3] / 2 <= 64 + 1e-4).all()
    # padding rows are all zeros
    assert not objects[objects[..., 5] == 0].any()


def test_tinycoco_has_the_real_coco_features():
    coco = json.loads((TINY / "annotations.json").read_text())
    ids = sorted(c["id"] for c in coco["categories"])
    assert len(ids) >= 3 and ids != list(range(ids[0], ids[0] + len(ids)))  # non-contiguous
    assert [a["id"] for a in coco["annotations"]] == list(range(1, len(coco["annotations"]) + 1))
    assert any(a["iscrowd"] for a in coco["annotations"])
    modes = {Image.open(TINY / "images" / im["file_name"]).mode for im in coco["images"]}
    assert {"L", "CMYK", "RGB"} <= modes
    annotated = {a["image_id"] for a in coco["annotations"]}
    assert any(im["id"] not in annotated for im in coco["images"])
    assert len({im["width"] / im["height"] for im in coco["images"]}) >= 3
    for im in coco["images"]:  # the JSON sizes are the stored sizes
        assert Image.open(TINY / "images" / im["file_name"]).size == (im["width"], im["height"])


def test_tinycoco_grayscale_image_has_equal_channels():
    ds = tiny(image_size=64)
    image, objects = ds[index_of(ds, "004_gray.jpg")]
    assert image.shape == (3, 64, 64)
    torch.testing.assert_close(image[0], image[1])
    torch.testing.assert_close(image[0], image[2])
    assert real_rows(objects).shape[0] == 3


def test_tinycoco_cmyk_colours_survive():
    """The disc of the CMYK image (bbox [170, 60, 80, 80] in 288x288) is red after loading."""
    ds = tiny(image_size=96)
    image, objects = ds[index_of(ds, "005_cmyk.jpg")]
    # centre (210, 100) * 96/288 = (70, 33.3): row 33, column 70
    r, g, b = image[:, 33, 70].tolist()
    assert r > 0.8 and g < 0.5 and b < 0.5, (r, g, b)
    disc = real_rows(objects)[real_rows(objects)[:, 4] == 0]
    torch.testing.assert_close(disc[0, :4], torch.tensor([100.0, 210.0, 80.0, 80.0]) / 3, atol=1e-4, rtol=0)


def test_tinycoco_crowd_dropped_and_border_boxes_clipped():
    ds = tiny(image_size=64)
    crowd = real_rows(ds[index_of(ds, "007_crowd.jpg")][1])
    assert sorted(crowd[:, 4].tolist()) == [1.0, 2.0]  # the crowd of discs is not an object
    border = real_rows(ds[index_of(ds, "013_border.jpg")][1])
    assert border.shape[0] == 3  # the zero-width box is dropped
    triangle = border[border[:, 4] == 2][0]  # bbox [186, 100, 70.6, 70] in 256x200: crosses by 0.6 px
    torch.testing.assert_close(triangle[1] + triangle[3] / 2, torch.tensor(64.0), atol=1e-4, rtol=0)
    torch.testing.assert_close(triangle[3], torch.tensor(70 * 64 / 256), atol=1e-4, rtol=0)
    empty = ds[index_of(ds, "006_empty.jpg")][1]
    assert not empty.any()


# --------------------------------------------------------------------------------------------
# The generator is deterministic and the committed files are its output
# --------------------------------------------------------------------------------------------

def load_generator():
    spec = importlib.util.spec_from_file_location("make_tinycoco", TINY / "make_tinycoco.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def all_bytes(folder: Path) -> dict:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_generator_is_deterministic_and_matches_committed_json(tmp_path):
    generator = load_generator()
    generator.make_tinycoco(tmp_path / "one")
    generator.make_tinycoco(tmp_path / "two")
    one, two = all_bytes(tmp_path / "one"), all_bytes(tmp_path / "two")
    assert one.keys() == two.keys() and len(one) == 17
    assert [k for k in one if one[k] != two[k]] == []
    assert one["annotations.json"] == (TINY / "annotations.json").read_bytes()
    committed = {p.name for p in (TINY / "images").iterdir()}
    assert committed == {k.split("/")[1] for k in one if k.startswith("images/")}
    # Lossless RGB(A) PNG pixels do not depend on the encoder: compare them with the committed files
    # (JPEG bytes and palette quantisation may differ between Pillow builds, so they are not compared).
    for name in sorted(committed):
        committed_image = Image.open(TINY / "images" / name)
        if name.endswith(".png") and committed_image.mode in ("RGB", "RGBA"):
            fresh = np.asarray(Image.open(tmp_path / "one" / "images" / name))
            assert np.array_equal(fresh, np.asarray(committed_image)), name
