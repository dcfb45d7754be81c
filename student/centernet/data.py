"""A COCO-instances data set that yields ``(image [3, S, S] in [0, 1], objects [max_objects, 6])``.

COCO "instances" annotation files (``annotations.json``) look like::

    {"images":      [{"id": 1, "file_name": "a.jpg", "width": 640, "height": 480}, ...],
     "annotations": [{"id": 1, "image_id": 1, "category_id": 3, "bbox": [x, y, w, h],
                      "area": 123.0, "iscrowd": 0, "segmentation": ...}, ...],
     "categories":  [{"id": 1, "name": "person"}, ...]}

``bbox`` is ``[x_left, y_top, width, height]`` in pixels of the original image. This module turns
it into CenterNet's object rows ``(y_center, x_center, h, w, cls, confidence=1)`` in pixels of the
resized square image.

What real COCO files contain and how it is handled here:
  * grayscale ("L"), CMYK, palette and RGBA images: converted to RGB with PIL;
  * ``iscrowd == 1`` regions (a crowd in one box): dropped;
  * category ids are not contiguous (COCO's 80 classes use ids 1..90): mapped to 0..C-1;
  * images without annotations: all-zero objects;
  * boxes touching or (by rounding) crossing the border: clipped to the image; boxes with no area
    left are dropped.
EXIF orientation tags are ignored on purpose: COCO annotations refer to the stored pixels.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from typing import Dict, List, Mapping, Optional, Tuple, Union

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

PathLike = Union[str, os.PathLike]


def load_rgb_image(path: PathLike) -> Image.Image:
    """Open an image and convert it to 8-bit RGB (grayscale, CMYK, palette and RGBA included)."""
    with Image.open(path) as img:
        img.load()
        if img.mode == "P" and "transparency" in img.info:
            img = img.convert("RGBA")  # PIL warns when converting transparent palettes directly
        return img.convert("RGB")


def image_to_tensor(img: Image.Image) -> torch.Tensor:
    """PIL RGB image ``(W, H)`` -> float32 tensor ``[3, H, W]`` with values in [0, 1]."""
    array = np.asarray(img, dtype=np.float32) / 255.0
    return torch.from_numpy(array).permute(2, 0, 1).contiguous()


def coco_box_to_object(
    bbox: List[float], image_w: float, image_h: float, scale_x: float, scale_y: float
) -> Optional[Tuple[float, float, float, float]]:
    """COCO ``[x, y, w, h]`` -> ``(y_center, x_center, h, w)`` after clipping and scaling.

    The box is clipped to the image ``[0, image_w] x [0, image_h]`` first; ``None`` when nothing
    (or only a line) is left. Then x and w are multiplied by ``scale_x``, y and h by ``scale_y``.
    """
    x0, y0, w, h = (float(v) for v in bbox)
    x1, y1 = min(x0 + w, image_w), min(y0 + h, image_h)
    x0, y0 = max(x0, 0.0), max(y0, 0.0)
    if x1 - x0 <= 0 or y1 - y0 <= 0:
        return None
    x0, x1 = x0 * scale_x, x1 * scale_x
    y0, y1 = y0 * scale_y, y1 * scale_y
    return (y0 + y1) / 2, (x0 + x1) / 2, y1 - y0, x1 - x0


class CocoDetection(Dataset):
    """COCO-instances data set for CenterNet.

    Args:
        annotation_file: path of the COCO instances JSON.
        image_dir: folder of the images (``file_name`` is relative to it).
        image_size: side S of the square images returned (aspect ratio is not kept; the boxes are
            scaled with the image). A multiple of 32 for the ResNet backbone.
        category_map: ``{coco_category_id: class_index}``; annotations of other ids are dropped.
            Default: every category of the file in increasing id order -> 0..C-1.
        max_objects: N, the number of object rows per image (zero rows pad the rest; extra
            objects beyond N are dropped).

    Item ``i``: ``(image, objects)`` with ``image`` float32 ``[3, S, S]`` in [0, 1] and
    ``objects`` float32 ``[max_objects, 6]``, rows ``(y, x, h, w, cls, 1.0)`` then zero rows.
    Attributes: ``num_classes``, ``class_names`` (by class index), ``image_infos``.
    """

    def __init__(
        self,
        annotation_file: PathLike,
        image_dir: PathLike,
        image_size: int = 256,
        category_map: Optional[Mapping[int, int]] = None,
        max_objects: int = 100,
    ):
        with open(annotation_file, "r", encoding="utf-8") as f:
            coco = json.load(f)
        self.image_dir = os.fspath(image_dir)
        self.image_size = int(image_size)
        self.max_objects = int(max_objects)

        categories = {int(c["id"]): c.get("name", str(c["id"])) for c in coco.get("categories", [])}
        if category_map is None:
            category_map = {cat_id: i for i, cat_id in enumerate(sorted(categories))}
        self.category_map: Dict[int, int] = {int(k): int(v) for k, v in category_map.items()}
        self.num_classes = max(self.category_map.values(), default=-1) + 1
        self.class_names = [str(i) for i in range(self.num_classes)]
        for cat_id, index in self.category_map.items():
            if cat_id in categories:
                self.class_names[index] = categories[cat_id]

        self.image_infos = sorted(coco["images"], key=lambda im: im["id"])
        self._annotations = defaultdict(list)
        for ann in coco.get("annotations", []):
            self._annotations[ann["image_id"]].append(ann)

    def __len__(self) -> int:
        return len(self.image_infos)

    def objects_of(self, index: int, image_w: float, image_h: float) -> torch.Tensor:
        """Object rows ``[max_objects, 6]`` of image ``index`` whose original size is (w, h)."""
        info = self.image_infos[index]
        scale_x, scale_y = self.image_size / image_w, self.image_size / image_h
        rows = []
        for ann in self._annotations[info["id"]]:
            if ann.get("iscrowd", 0):
                continue
            cls = self.category_map.get(int(ann["category_id"]))
            if cls is None:
                continue
            box = coco_box_to_object(ann["bbox"], image_w, image_h, scale_x, scale_y)
            if box is None:
                continue
            rows.append([*box, float(cls), 1.0])
        objects = torch.zeros(self.max_objects, 6)
        rows = rows[: self.max_objects]
        if rows:
            objects[: len(rows)] = torch.tensor(rows, dtype=torch.float32)
        return objects

    def __getitem__(self, index: int) -> Tuple[torch.Tensor, torch.Tensor]:
        info = self.image_infos[index]
        img = load_rgb_image(os.path.join(self.image_dir, info["file_name"]))
        image_w, image_h = img.size  # the stored pixels; annotations refer to them
        objects = self.objects_of(index, image_w, image_h)
        img = img.resize((self.image_size, self.image_size), Image.Resampling.BILINEAR)
        return image_to_tensor(img), objects


def collate(batch):
    """Stack ``(image, objects)`` pairs into ``([B, 3, S, S], [B, N, 6])`` (what the default collate does)."""
    images, objects = zip(*batch)
    return torch.stack(images), torch.stack(objects)
