"""Data (given code): the COCO-format data set, albumentations augmentation, batching.

The data: ``data/generated/detection/`` of the repository (it comes with the course's bundle), or
``$DETECTION_DATA``. Labels: the model uses ``category_id - 1`` (classes 0..3);
predictions go back to COCO category ids with ``+ 1``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import torch

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

DEFAULT_ROOT = Path(__file__).resolve().parents[2] / "data" / "generated" / "detection"
CLASS_NAMES = ("enemy", "enemy-head", "friendly", "friendly-head")
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


def data_root() -> Path:
    """``$DETECTION_DATA`` or ``data/generated/detection`` of the repository."""
    return Path(os.environ.get("DETECTION_DATA", DEFAULT_ROOT))


def train_transforms(image_size: int):
    """Augmentation for training: flips, scale/shift, colour jitter. Boxes follow the image
    (``BboxParams`` in pascal_voc = xyxy pixels); boxes less than 30 % visible are dropped.

    No hue shift: the team is told apart by colour."""
    import albumentations as A

    return A.Compose(
        [
            A.HorizontalFlip(p=0.5),
            A.Affine(scale=(0.75, 1.25), translate_percent=(-0.1, 0.1), p=0.7, border_mode=0),
            A.RandomBrightnessContrast(0.2, 0.2, p=0.5),
            A.GaussNoise(std_range=(0.0, 0.04), p=0.3),
            A.Resize(image_size, image_size),
        ],
        bbox_params=A.BboxParams(format="pascal_voc", label_fields=["labels"], min_visibility=0.3, min_area=4),
    )


def eval_transforms(image_size: int):
    import albumentations as A

    return A.Compose([A.Resize(image_size, image_size)],
                     bbox_params=A.BboxParams(format="pascal_voc", label_fields=["labels"]))


class DetectionDataset(torch.utils.data.Dataset):
    """One split of a COCO-format data set.

    ``ds[i]`` is ``(image, target)``: ``image`` a normalised float tensor ``(3, S, S)``,
    ``target`` ``{"boxes": (G, 4) float xyxy pixels, "labels": (G,) int64 in [0, 4),
    "image_id": int}``. ``annotations`` may be a COCO file without annotations (test images).
    """

    def __init__(self, annotations: str | Path, image_dir: str | Path | None = None, transforms=None):
        annotations = Path(annotations)
        self.coco = json.loads(annotations.read_text())
        self.image_dir = Path(image_dir) if image_dir is not None else annotations.parent
        self.images = self.coco["images"]
        self.transforms = transforms
        self.by_image: dict[int, list] = {im["id"]: [] for im in self.images}
        for ann in self.coco.get("annotations", []):
            self.by_image[ann["image_id"]].append(ann)

    def __len__(self) -> int:
        return len(self.images)

    def load_image(self, i: int) -> np.ndarray:
        """RGB uint8 ``(H, W, 3)``."""
        from PIL import Image

        with Image.open(self.image_dir / self.images[i]["file_name"]) as im:
            return np.asarray(im.convert("RGB"))

    def __getitem__(self, i: int):
        info = self.images[i]
        image = self.load_image(i)
        anns = self.by_image[info["id"]]
        boxes = [[a["bbox"][0], a["bbox"][1], a["bbox"][0] + a["bbox"][2], a["bbox"][1] + a["bbox"][3]] for a in anns]
        labels = [a["category_id"] - 1 for a in anns]
        if self.transforms is not None:
            out = self.transforms(image=image, bboxes=np.array(boxes, dtype=np.float32).reshape(-1, 4), labels=labels)
            image, boxes, labels = out["image"], out["bboxes"], out["labels"]
        x = torch.from_numpy(np.array(image, dtype=np.float32)).permute(2, 0, 1) / 255.0  # a writable copy
        x = (x - torch.tensor(MEAN)[:, None, None]) / torch.tensor(STD)[:, None, None]
        target = {
            "boxes": torch.as_tensor(np.asarray(boxes, dtype=np.float32)).reshape(-1, 4),
            "labels": torch.as_tensor(np.asarray(labels, dtype=np.int64)).reshape(-1),
            "image_id": int(info["id"]),
            "orig_size": (int(info["height"]), int(info["width"])),
        }
        return x, target


def collate(batch):
    images, targets = zip(*batch)
    return torch.stack(images), list(targets)
