"""Verdict of ``training.loss_decreases``: the loss curve of the training run."""

from __future__ import annotations

import math
from typing import Any, Mapping, Optional

from grader.core.api import Verdict, attachment_name, attachment_path, failed

from .common import CHECKS
from .training_setup import (DIVERGENCE_RATIO, LOSS_WINDOW, TRAINING_CONFIG, _limit, _mean, _prepare,
                             _reference, _Stop, parent_loss_ratio, training_check_options)


def moving_average(values, window: int) -> list:
    """Means of every ``window`` consecutive values (``len(values) - window + 1`` of them)."""
    if len(values) < window:
        return [_mean(values)] if values else []
    out, acc = [], sum(values[:window])
    out.append(acc / window)
    for i in range(window, len(values)):
        acc += values[i] - values[i - window]
        out.append(acc / window)
    return out


def loss_summary(history: Mapping, window: int = LOSS_WINDOW) -> dict:
    """First and final window means of the total and of each term, and the smoothed maximum."""
    out: dict[str, dict[str, float] | float] = {}
    for key in ("loss", "lk", "loff", "lsize"):
        values = list(history.get(key) or [])
        if values:
            w = min(window, len(values))
            out[key] = {"first": _mean(values[:w]), "final": _mean(values[-w:])}
    smoothed = moving_average(list(history.get("loss") or []), window)
    out["smoothed_max"] = max(smoothed) if smoothed else float("nan")
    return out


def _save_loss_plot(history: Mapping, cfg: Mapping, title: str) -> Optional[str]:
    """Total loss and its terms against the step (log scale), smoothed total on top; returns the
    attachment name, or None when nothing could be drawn."""
    steps = list(history.get("step") or [])
    total = list(history.get("loss") or [])
    if not total or len(steps) != len(total):
        return None
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 4.2))
    ax = fig.add_subplot()
    for key, style, label in (("loss", "k-", "total"), ("lk", "C0-", "lk (heatmap focal loss)"),
                              ("loff", "C1-", "loff (offsets, weighted)"), ("lsize", "C2-", "lsize (sizes, weighted)")):
        values = list(history.get(key) or [])
        if len(values) == len(steps):
            ax.plot(steps, [v if v > 0 and math.isfinite(v) else float("nan") for v in values], style,
                    label=label, linewidth=1.6 if key == "loss" else 1.0, alpha=0.55 if key == "loss" else 0.9)
    smoothed = moving_average(total, LOSS_WINDOW)
    if len(total) >= LOSS_WINDOW:
        ax.plot(steps[LOSS_WINDOW - 1:], smoothed, "k-", linewidth=2.5, label=f"total, mean of {LOSS_WINDOW} steps")
    for skipped in history.get("skipped") or []:
        ax.axvline(skipped, color="red", alpha=0.3, linewidth=1)
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("loss (batch mean)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(title, fontsize=9)
    name = "centernet-training-loss.png"
    fig.savefig(attachment_path(name), dpi=90, bbox_inches="tight")
    return attachment_name(name)


@CHECKS.verdict("training.loss_decreases", probe="train_tinycoco",
                description=f"TinyCoco, {TRAINING_CONFIG['steps']} seeded steps with the given loop: the total loss "
                            "falls steadily, no NaN; confirmed on the trained outputs",
                **training_check_options())
def verdict_loss_decreases(actual: Mapping[str, Any], expected: Optional[Mapping] = None) -> Verdict:
    """The course's words: the TOTAL loss falls steadily (finite at every step, its last steps well
    below its first, no divergence), and the parent's own measurement agrees: the reference loss of
    the trained maps on the images sent after training is well below that of a map that learnt
    nothing. Per-term behaviour is a remark, unless a term is broken (negative or not finite)."""
    cfg = TRAINING_CONFIG
    try:
        prep = _prepare(actual)
    except _Stop as stop:
        return stop.verdict
    ran, limits = prep["ran"], prep["limits"]
    history = actual.get("history")
    if not isinstance(history, Mapping) or any(history.get(k) is None
                                               for k in ("loss", "lk", "loff", "lsize", "skipped")):
        return failed(f"train() did not return the history of losses it should ({ran})")
    total, skipped = list(history["loss"]), list(history["skipped"])
    attachments = []
    picture = _save_loss_plot(history, cfg, f"{prep['where']}: {ran}")
    if picture:
        attachments.append(picture)

    def verdict(ok: bool, message: str) -> Verdict:
        return Verdict(1.0 if ok else 0.0, message, tuple(attachments))

    if skipped:
        return verdict(False, (
            f"the loss or its gradient was NaN or Inf at {len(skipped)} of {cfg['steps']} steps (first at step "
            f"{skipped[0]}); the training loop skipped them. Look for a log of 0 (clamp the probabilities in "
            f"loss_fl) and for divisions by a count that can be 0 (TinyCoco has an image without objects). "
            f"Ran {ran}"))
    if len(total) != cfg["steps"]:
        return verdict(False, f"{len(total)} losses recorded for {cfg['steps']} steps ({ran})")
    bad = [k for k in ("loss", "lk", "loff", "lsize") if not all(math.isfinite(v) for v in history[k])]
    if bad:
        return verdict(False, f"the loss term(s) {', '.join(bad)} are not finite at some step ({ran})")

    s = loss_summary(history)
    first, final = s["loss"]["first"], s["loss"]["final"]
    ratio_limit = _limit(limits, "loss_ratio")
    parent = parent_loss_ratio(prep["maps"], prep["set"]["targets"], _reference())
    parent_limit = _limit(limits, "parent_loss_ratio")
    numbers = (f"total {first:.3g} -> {final:.3g} (x{final / first if first > 0 else float('nan'):.2f}, needs <= "
               f"x{ratio_limit:.2f}; means of the first and last {LOSS_WINDOW} steps); measured here on the "
               f"images sent after training: reference loss {parent['measured']:.3g}, x{parent['ratio']:.2f} of a "
               f"net that learnt nothing ({parent['baseline']:.3g}; needs <= x{parent_limit:.2f}); "
               f"{prep['source']}")
    problems = []
    if first <= 0:
        problems.append(f"the total loss starts at {first:.3g}: a focal loss of an untrained net is positive")
    elif final > ratio_limit * first:
        problems.append(f"the total loss did not fall enough: its last {LOSS_WINDOW} steps average "
                        f"{final / first:.2f} of its first {LOSS_WINDOW} (needs <= {ratio_limit:.2f})")
    for key, what in (("lk", "heatmap (focal)"), ("loff", "offset"), ("lsize", "size")):
        if min(history[key]) < 0:
            problems.append(f"the {what} term {key} is negative at some step ({min(history[key]):.3g}): "
                            "a loss term cannot be below 0")
    if first > 0 and s["smoothed_max"] > DIVERGENCE_RATIO * first:
        problems.append(f"the smoothed loss rose to {s['smoothed_max']:.3g}, above {DIVERGENCE_RATIO:g} x its start "
                        f"({first:.3g}): training diverged")
    if not (parent["ratio"] <= parent_limit):
        problems.append("the trained network's outputs do not have the low loss the reported curve claims: on the "
                        "images sent after training the reference loss is x{:.2f} of a net that learnt "
                        "nothing".format(parent["ratio"]))
    remarks = [f"{k} {s[k]['first']:.3g} -> {s[k]['final']:.3g}" for k in ("lk", "loff", "lsize")]
    flat = [k for k in ("lk", "loff", "lsize") if s[k]["final"] > 0.8 * s[k]["first"] + 0.02]
    remark = f" Terms: {', '.join(remarks)}" + (
        f" (remark, no deduction: {', '.join(flat)} hardly fell)" if flat else "")
    if problems:
        more = f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""
        return verdict(False, f"{problems[0]}{more}. {numbers}.{remark}. Ran {ran} on {prep['where']}")
    return verdict(True, f"the loss falls steadily: {numbers}.{remark}. Ran {ran} on {prep['where']}")
