"""A small, seeded training loop for CenterNet."""

from __future__ import annotations

import math
import warnings
from typing import Callable, Dict, List, Optional, Union

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

from .loss import CenterNetLoss
from .network import CenterNet

History = Dict[str, List[float]]


def make_centernet(num_classes: int, *, seed: Optional[int] = 0, pretrained=False, **kwargs) -> CenterNet:
    """The CenterNet the training checks use: ResNet-34, 64 decoder channels, ``num_classes`` classes.

    ``seed`` fixes the initialisation (None leaves the global RNG alone). Extra keyword arguments go
    to CenterNet (``nms_kwargs``, ``points_to_objects_kwargs``). The network is the full one; the
    checks keep it fast with small images (64 to 128 px).
    """
    if seed is not None:
        torch.manual_seed(seed)
    return CenterNet(pretrained=pretrained, head_kwargs={"c_classes": num_classes}, **kwargs)


def resize_batch(images: torch.Tensor, objects: torch.Tensor, size: int):
    """Resize images ``[B, 3, H, W]`` to ``size x size`` and scale objects ``[B, N, 6]`` with them."""
    h, w = images.shape[-2:]
    if (h, w) == (size, size):
        return images, objects
    images = F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    factors = objects.new_tensor([size / h, size / w, size / h, size / w, 1.0, 1.0])
    return images, objects * factors


def train(
    dataset: Dataset,
    *,
    net: Optional[torch.nn.Module] = None,
    criterion: Optional[torch.nn.Module] = None,
    batch_size: int = 8,
    lr: float = 1e-3,
    steps: Optional[int] = None,
    epochs: Optional[int] = None,
    image_size: Optional[int] = None,
    device: Union[str, torch.device, None] = None,
    seed: int = 0,
    log_every: Optional[int] = 10,
    callback: Optional[Callable[[int, Dict[str, float]], Optional[bool]]] = None,
) -> History:
    """Train ``net`` on ``dataset`` with Adam; return the per-step losses.

    Args:
        dataset: yields ``(image [3, S, S], objects [N, 6])`` (e.g. CocoDetection).
        net: the network, changed in place. Default: ``make_centernet(dataset.num_classes, seed=seed)``
            (pass your own to keep a handle on the trained weights).
        criterion: default ``CenterNetLoss()``; must return per-image terms ``[B, 3]``.
        batch_size, lr: of the DataLoader and of Adam.
        steps: number of optimisation steps; wins over ``epochs``. If both are None, one epoch.
        epochs: number of passes over the data set.
        image_size: if given, images (and their objects) are resized to this square size.
        device: "cpu" (default) or e.g. "cuda".
        seed: seeds the default net's initialisation and the shuffling of the batches.
        log_every: print the losses every that many steps (None or 0: silent).
        callback: called as ``callback(step, losses)`` after every step; returning True stops.

    Returns:
        ``{"step": [...], "loss": [...], "lk": [...], "loff": [...], "lsize": [...], "skipped": [...]}``:
        per step the total loss (batch mean of the sum of the three terms) and each weighted term;
        ``skipped`` lists the steps whose loss or gradient was NaN/Inf (no update, a warning).
    """
    device = torch.device(device or "cpu")
    if net is None:
        num_classes = getattr(dataset, "num_classes", None)
        if num_classes is None:
            raise ValueError("pass net=..., or a dataset with a num_classes attribute")
        net = make_centernet(num_classes, seed=seed)
    criterion = CenterNetLoss() if criterion is None else criterion
    net.to(device).train()
    criterion.to(device)

    generator = torch.Generator().manual_seed(seed)
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=True, generator=generator, num_workers=0)
    if len(loader) == 0:
        raise ValueError("the data set is empty")
    total_steps = steps if steps is not None else (epochs or 1) * len(loader)
    optimizer = torch.optim.Adam(net.parameters(), lr=lr)

    history: History = {"step": [], "loss": [], "lk": [], "loff": [], "lsize": [], "skipped": []}
    step = 0
    while step < total_steps:
        for images, objects in loader:
            if step >= total_steps:
                break
            step += 1
            if image_size is not None:
                images, objects = resize_batch(images, objects, image_size)
            images, objects = images.to(device), objects.to(device)

            terms = criterion(net(images), objects).mean(dim=0)  # [3]: lk, loff, lsize
            loss = terms.sum()
            optimizer.zero_grad(set_to_none=True)
            finite = bool(torch.isfinite(loss))
            if finite:
                loss.backward()
                grad_norm = torch.nn.utils.clip_grad_norm_(net.parameters(), max_norm=math.inf)  # no clipping
                finite = bool(torch.isfinite(grad_norm))
            if not finite:
                warnings.warn(f"step {step}: loss {loss.item()} or its gradient is not finite; step skipped")
                optimizer.zero_grad(set_to_none=True)
                history["skipped"].append(step)
                continue
            optimizer.step()

            record = {"loss": loss.item(), "lk": terms[0].item(), "loff": terms[1].item(), "lsize": terms[2].item()}
            history["step"].append(step)
            for key, value in record.items():
                history[key].append(value)
            if log_every and step % log_every == 0:
                print(f"step {step:5d}  loss {record['loss']:.4f}  lk {record['lk']:.4f}  "
                      f"loff {record['loff']:.4f}  lsize {record['lsize']:.4f}")
            if callback is not None and callback(step, record):
                return history
    return history
