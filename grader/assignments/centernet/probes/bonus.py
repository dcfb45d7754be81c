"""Probe of the component "Full training": the submission's trained weights on the held-out
CocoGen test images."""

from __future__ import annotations

import time
from pathlib import Path

import torch

from .course import GraderDataMissing, _given, find_data


# The bonus: the submission's trained weights (a state_dict of ``make_centernet(3)``, loadable with
# ``torch.load(..., weights_only=True)``) are run on the held-out CocoGen test images at this size.
BONUS_CONFIG: dict = {"data": "generated/cocogen", "image_size": 128, "weights": "weights.pt", "num_classes": 3,
                      "batch_size": 25, "max_images": 500}


def _bonus_weights(pkg) -> Path:
    return Path(pkg.__file__).resolve().parent / BONUS_CONFIG["weights"]


def run_bonus_evaluation(pkg, **overrides) -> dict:
    """Load the submission's trained weights into its ``make_centernet`` and return its raw head output
    on the held-out test images (file names sorted; annotations are not visible here).

    No weights file: NotImplementedError (the bonus was not attempted). A file that does not load:
    ``{"load_error": message}`` (the verdict fails with it)."""
    cfg = {**BONUS_CONFIG, **overrides}
    weights = _bonus_weights(pkg)
    if not weights.is_file():
        raise NotImplementedError(f"no trained weights: put the state_dict of your trained network in "
                                  f"{pkg.__name__.split('.')[-1]}/{cfg['weights']} to try for the bonus")
    try:
        state = torch.load(weights, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - a damaged or non-tensor file is the submission's failure
        return {"load_error": f"{cfg['weights']} could not be read with torch.load(..., weights_only=True): "
                              f"{type(exc).__name__}: {str(exc)[:300]}"}
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        return {"load_error": f"{cfg['weights']} must hold a state_dict (a dict of tensors: "
                              f"torch.save(net.state_dict(), path)), got {type(state).__name__}"}
    net = _given(pkg, "train").make_centernet(cfg["num_classes"], seed=0)
    try:
        net.load_state_dict(state, strict=True)
    except (RuntimeError, KeyError, ValueError, TypeError) as exc:
        return {"load_error": f"{cfg['weights']} does not fit make_centernet({cfg['num_classes']}): "
                              f"{str(exc).strip()[:600]}"}
    root = find_data(cfg["data"], pkg)
    image_dir = root / "test" / "images" if root is not None else None
    if image_dir is None or not image_dir.is_dir():
        raise GraderDataMissing(f"the held-out test images are not available (data/{cfg['data']}/test/images): "
                                "the grader must generate them (python data/cocogen/make_dataset.py)")
    names = sorted(p.name for p in image_dir.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    names = names[: cfg["max_images"]]
    data_mod = _given(pkg, "data")
    net.eval()
    size = cfg["image_size"]
    start = time.perf_counter()
    maps = []
    with torch.no_grad():
        for i in range(0, len(names), cfg["batch_size"]):
            batch = []
            for name in names[i:i + cfg["batch_size"]]:
                img = data_mod.load_rgb_image(image_dir / name).resize((size, size), resample=2)  # 2: bilinear
                batch.append(data_mod.image_to_tensor(img))
            out = net(torch.stack(batch))
            if not isinstance(out, torch.Tensor):
                return {"load_error": f"the network returned a {type(out).__name__}, not a tensor"}
            maps.append(out.detach().float())
    return {"file_names": names, "maps": torch.cat(maps) if maps else torch.zeros(0),
            "image_size": size, "seconds": float(time.perf_counter() - start)}


def evaluate_bonus_weights(pkg) -> dict:
    """The bonus probe: see run_bonus_evaluation."""
    return run_bonus_evaluation(pkg)
