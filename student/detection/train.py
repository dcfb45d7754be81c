"""Training runner (given code): seeded, CPU by default, budgeted in steps.

    python -m student.detection.train --steps 700 --image-size 160 --backbone test_efficientnet \
        --neck-channels 48 --head-width 48 --predict-test   # + predictions_test.json for the challenge

These defaults are the calibrated budget: the reference reaches mAP@[.5:.95] >= 0.2 on the test split
with them on 2 CPU cores. Try a bigger backbone (``--backbone resnet18``), more steps, ...

Each step is one batch; AdamW with a linear warm-up and cosine decay; the best state on the
validation split (mAP@[.5:.95], evaluated every ``--eval-every`` steps) is kept.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import time
from pathlib import Path

import numpy as np
import torch

from .data import DetectionDataset, collate, data_root, eval_transforms, train_transforms
from .detector import AnchorDetector
from .evaluate import PREDICTIONS_FILE, evaluate, predict_dataset, write_predictions
from .losses import DetectionLoss


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def build_model(args) -> AnchorDetector:
    return AnchorDetector(num_classes=4, backbone=args.backbone, unfreeze_last=args.unfreeze_last,
                          neck_channels=args.neck_channels, head_width=args.head_width)


def infinite(loader):
    while True:
        yield from loader


def predictions_path(args) -> Path:
    """``--predictions`` or ``predictions_test.json`` next to this file (where the grader reads it)."""
    package_dir = Path(__file__).resolve().parent
    if not args.predictions and package_dir.parent.name == "reference":
        raise SystemExit("the reference writes its predictions elsewhere (--predictions PATH): the student "
                         "package is generated from reference/ with every file in it")
    return Path(args.predictions) if args.predictions else package_dir / PREDICTIONS_FILE


def train(args) -> dict:
    if args.predict_test:
        predictions_path(args)  # fail now, not after training
    seed_everything(args.seed)
    torch.set_num_threads(args.threads)
    root = Path(args.data) if args.data else data_root()
    train_set = DetectionDataset(root / "train.json", root, train_transforms(args.image_size))
    val_set = DetectionDataset(root / "val.json", root, eval_transforms(args.image_size))
    if args.val_images:
        val_set.images = val_set.images[: args.val_images]
    g = torch.Generator().manual_seed(args.seed)
    loader = torch.utils.data.DataLoader(train_set, batch_size=args.batch_size, shuffle=True, collate_fn=collate,
                                         generator=g, num_workers=args.workers, drop_last=True,
                                         worker_init_fn=lambda w: np.random.seed(args.seed * 100 + w),
                                         persistent_workers=args.workers > 0)
    model = build_model(args).to(args.device)
    criterion = DetectionLoss(num_classes=4)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=args.weight_decay)
    warmup = max(1, min(args.warmup, args.steps // 5))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * min(s, args.steps) / args.steps)))
    history = {"step": [], "loss": [], "cls": [], "box": [], "val_map": []}
    best, best_state = -1.0, None
    start = time.time()
    batches = infinite(loader)
    for step in range(1, args.steps + 1):
        model.train()
        images, targets = next(batches)
        images = images.to(args.device)
        targets = [{k: (v.to(args.device) if torch.is_tensor(v) else v) for k, v in t.items()} for t in targets]
        out = model(images)
        losses = criterion(out["cls_logits"], out["boxes"], out["anchors"], targets)
        opt.zero_grad(set_to_none=True)
        losses["loss"].backward()
        torch.nn.utils.clip_grad_norm_(params, 10.0)
        opt.step()
        sched.step()
        history["step"].append(step)
        for k in ("loss", "cls", "box"):
            history[k].append(float(losses[k].detach()))
        if step % args.log_every == 0:
            print(f"step {step}/{args.steps} loss {history['loss'][-1]:.4f} cls {history['cls'][-1]:.4f} "
                  f"box {history['box'][-1]:.4f} pos {losses['positives']} ({time.time() - start:.0f}s)", flush=True)
        if (args.eval_every and step % args.eval_every == 0) or step == args.steps:
            m = evaluate(model, val_set)["map"]
            history["val_map"].append((step, m))
            print(f"step {step}: val mAP@[.5:.95] {m:.4f}", flush=True)
            if m > best:
                best = m
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    if best_state is not None:
        model.load_state_dict(best_state)
    result = {"best_val_map": best, "seconds": time.time() - start, "history": history}
    if args.out:
        out_dir = Path(args.out)
        out_dir.mkdir(parents=True, exist_ok=True)
        torch.save(model.state_dict(), out_dir / "model.pt")
        (out_dir / "history.json").write_text(json.dumps({**result, "args": vars(args)}))
    if args.predict_test:
        test_set = DetectionDataset(root / "test_images.json", root, eval_transforms(args.image_size))
        target = predictions_path(args)
        write_predictions(predict_dataset(model, test_set), target)
        print(f"wrote {target}")
    result["model"] = model
    return result


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Train the anchor detector")
    p.add_argument("--data", default=None, help="data folder (default: $DETECTION_DATA or data/generated/detection)")
    p.add_argument("--steps", type=int, default=700)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--image-size", type=int, default=160)
    p.add_argument("--backbone", default="test_efficientnet")
    p.add_argument("--unfreeze-last", type=int, default=5, help="stages of the backbone to train (5 = all)")
    p.add_argument("--neck-channels", type=int, default=48)
    p.add_argument("--head-width", type=int, default=48)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--weight-decay", type=float, default=0.05)
    p.add_argument("--warmup", type=int, default=50)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--workers", type=int, default=0)
    p.add_argument("--device", default="cpu")
    p.add_argument("--eval-every", type=int, default=350)
    p.add_argument("--val-images", type=int, default=0, help="evaluate on the first N validation images (0 = all)")
    p.add_argument("--log-every", type=int, default=50)
    p.add_argument("--out", default=None, help="folder for model.pt and history.json")
    p.add_argument("--predict-test", action="store_true", help="write the challenge's predictions file")
    p.add_argument("--predictions", default=None,
                   help=f"where to write it (default: {PREDICTIONS_FILE} next to this file)")
    return p


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    result = train(args)
    print(f"best val mAP@[.5:.95] {result['best_val_map']:.4f} in {result['seconds']:.0f}s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
