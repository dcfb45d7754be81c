"""A small, seeded training loop for CenterNet."""

from __future__ import annotations

import math
import warnings
from typing import TYPE_CHECKING, Callable, Dict, List, Optional, Union

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

if TYPE_CHECKING:  # for the annotations only: make_centernet imports it when called
    from .network import CenterNet

History = Dict[str, List[float]]

CLASS_PRIOR = 0.1  # initial probability of "an object centre here" that make_centernet sets up


def make_centernet(num_classes: int, *, seed: Optional[int] = 0, pretrained=False, **kwargs) -> CenterNet:
    """The CenterNet the training checks use: ResNet-34, 64 decoder channels, ``num_classes`` classes.

    ``seed`` fixes the initialisation (None leaves the global RNG alone). Extra keyword arguments go
    to CenterNet (``nms_kwargs``, ``points_to_objects_kwargs``). The network is the full one; the
    checks keep it fast with small images (64 to 128 px).
    """
    from .network import CenterNet  # imported here: the training loop itself needs only torch

    if seed is not None:
        torch.manual_seed(seed)
    net = CenterNet(pretrained=pretrained, head_kwargs={"c_classes": num_classes}, **kwargs)
    set_class_prior(net, num_classes)
    return net


def set_class_prior(net: torch.nn.Module, num_classes: int, prior: float = CLASS_PRIOR) -> bool:
    """Start every class probability of ``net`` at ``prior`` (CenterNet's initialisation).

    Given code, so that the training runs do not depend on how a head was initialised: PyTorch's
    default initialisation starts every class at probability 0.5, where the focal loss of the
    thousands of background pixels dominates and training is several times slower.

    The class logits come from a ``Conv2d`` with ``num_classes`` output channels and a bias. Of the
    convolutions of that width, the one whose bias moves the class channels ``[:, :C]`` of the
    output ``[B, C+4, H', W']`` and nothing else is taken; its bias is set to
    ``log(prior / (1 - prior))`` (about -2.2 for 0.1; the head applies a sigmoid). Returns whether
    such a convolution was found (a head built otherwise is left as it is). Works in eval mode on a
    fixed 64x64 input; the training mode of ``net`` is restored.
    """
    candidates = [m for m in net.modules()
                  if isinstance(m, torch.nn.Conv2d) and m.out_channels == num_classes and m.bias is not None]
    if not candidates:
        return False
    was_training = net.training
    net.eval()
    x = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    try:
        with torch.no_grad():
            base = net(x)
            if not isinstance(base, torch.Tensor) or base.dim() != 4 or base.shape[1] != num_classes + 4:
                return False
            for conv in reversed(candidates):  # the head comes after the backbone
                conv.bias.add_(1.0)
                moved = (net(x) - base).abs().amax(dim=(0, 2, 3))
                conv.bias.sub_(1.0)
                if bool((moved[:num_classes] > 1e-4).all()) and bool((moved[num_classes:] <= 1e-6).all()):
                    conv.bias.fill_(math.log(prior / (1 - prior)))
                    return True
        return False
    except Exception:  # noqa: BLE001 - a head that cannot run yet fails in training, with its own message
        return False
    finally:
        net.train(was_training)


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
    if criterion is None:
        from .loss import CenterNetLoss

        criterion = CenterNetLoss()
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
