"""Pictures for notebooks and reports: boxes on images, heatmaps, loss curves.

The helpers build ``matplotlib.figure.Figure`` objects directly (no pyplot), so they work without a
display (servers, CI) and never change the global backend. In a notebook the returned figure is
shown by ending a cell with it; ``save_figure(fig, "x.png")`` writes a PNG. Every helper also
accepts an existing ``ax`` to draw into.
"""

from __future__ import annotations

import os
from typing import Mapping, Optional, Sequence, Union

import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

PathLike = Union[str, os.PathLike]


def _new_axes(ax: Optional[Axes], figsize=(5, 5)) -> Axes:
    if ax is not None:
        return ax
    return Figure(figsize=figsize).add_subplot()


def _image_hwc(image: torch.Tensor):
    """``[3, H, W]`` (or ``[H, W]``) tensor in [0, 1] -> numpy array matplotlib can show."""
    image = image.detach().cpu().float()
    if image.dim() == 3:
        image = image.permute(1, 2, 0)
    return image.clamp(0, 1).numpy()


def _draw_boxes(ax: Axes, objects: torch.Tensor, color: str, class_names, min_confidence: float, show_score: bool):
    for y, x, h, w, cls, conf in objects.detach().cpu().tolist():
        if conf <= 0 or conf < min_confidence:
            continue
        ax.add_patch(Rectangle((x - w / 2, y - h / 2), w, h, fill=False, edgecolor=color, linewidth=1.5))
        name = class_names[int(cls)] if class_names is not None else str(int(cls))
        label = f"{name} {conf:.2f}" if show_score else name
        ax.text(x - w / 2, y - h / 2, label, color="white", fontsize=7, va="bottom",
                bbox=dict(facecolor=color, alpha=0.7, pad=1, edgecolor="none"))


def save_figure(fig: Figure, path: PathLike, dpi: int = 100) -> None:
    """Write ``fig`` as PNG (folders created as needed)."""
    folder = os.path.dirname(os.fspath(path))
    if folder:
        os.makedirs(folder, exist_ok=True)
    fig.savefig(path, dpi=dpi, bbox_inches="tight")


def draw_objects(
    image: torch.Tensor,
    true_objects: Optional[torch.Tensor] = None,
    pred_objects: Optional[torch.Tensor] = None,
    *,
    class_names: Optional[Sequence[str]] = None,
    min_confidence: float = 0.0,
    title: Optional[str] = None,
    ax: Optional[Axes] = None,
) -> Figure:
    """Show an image ``[3, H, W]`` with true boxes (green) and predicted boxes (red, with scores).

    Objects are ``[N, 6]`` rows (y, x, h, w, cls, confidence) in pixels of this image; rows with
    confidence 0 (padding) or below ``min_confidence`` are not drawn.
    """
    ax = _new_axes(ax)
    ax.imshow(_image_hwc(image), cmap="gray")
    if true_objects is not None:
        _draw_boxes(ax, true_objects, "tab:green", class_names, 0.0, show_score=False)
    if pred_objects is not None:
        _draw_boxes(ax, pred_objects, "tab:red", class_names, min_confidence, show_score=True)
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    return ax.figure


def show_heatmap(
    points: torch.Tensor,
    *,
    channel: Optional[int] = None,
    image: Optional[torch.Tensor] = None,
    title: Optional[str] = None,
    ax: Optional[Axes] = None,
) -> Figure:
    """Show one class heatmap of points ``[C+4, H', W']`` (or ``[H', W']``).

    ``channel=None`` shows the maximum over the class channels. With ``image`` ``[3, H, W]``, the
    heatmap is drawn half-transparent over it (stretched to the image size).
    """
    points = points.detach().cpu().float()
    if points.dim() == 3:
        classes = points[:-4] if points.shape[0] > 4 else points
        heat = classes.max(dim=0).values if channel is None else points[channel]
    else:
        heat = points
    ax = _new_axes(ax)
    if image is not None:
        h, w = image.shape[-2:]
        ax.imshow(_image_hwc(image), cmap="gray")
        ax.imshow(heat.numpy(), cmap="magma", alpha=0.5, vmin=0, vmax=1, extent=(0, w, h, 0))
    else:
        mappable = ax.imshow(heat.numpy(), cmap="magma", vmin=0, vmax=1)
        ax.figure.colorbar(mappable, ax=ax, fraction=0.046)
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    return ax.figure


def plot_losses(
    history: Mapping[str, Sequence[float]],
    path: Optional[PathLike] = None,
    *,
    log_scale: bool = True,
    title: Optional[str] = None,
    ax: Optional[Axes] = None,
) -> Figure:
    """Plot the total loss and its terms (lk, loff, lsize) against the step; save a PNG if ``path``.

    ``history`` is what ``train`` returns: lists under "step", "loss", "lk", "loff", "lsize".
    """
    ax = _new_axes(ax, figsize=(6, 4))
    steps = history.get("step") or list(range(1, len(history["loss"]) + 1))
    for key, style in (("loss", "k-"), ("lk", "C0-"), ("loff", "C1-"), ("lsize", "C2-")):
        values = history.get(key)
        if values:
            ax.plot(steps, values, style, label=key, linewidth=2 if key == "loss" else 1)
    if log_scale:
        ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.grid(True, alpha=0.3)
    ax.legend()
    if title:
        ax.set_title(title)
    fig = ax.figure
    if path is not None:
        save_figure(fig, path)
    return fig
