"""Calibration of the TinyCoco training checks and the bonus check (DESIGN.md principles 2 and 5).

* The reference passes both TinyCoco checks with a wide margin: on the graded seed by default, on five
  more seeds with ``-m slow``. The margins are asserted, not just the pass.
* Plausible wrong solutions fail: the focal loss that takes only ``target == 0`` as negatives (the
  submission a human reviewer once marked down: its loss fell but it never fitted the set) fails
  "fits"; a loss that becomes NaN, a softmax head and a converter with dy/dx swapped each fail at
  least one of the two.
* The loss verdict on hand-made curves; the pictures land in the report directory.
* The bonus pipeline end to end on a small generated CocoGen with a quickly trained reference model
  (lowered threshold), and missing / garbage / wrong-shape weights files.

Variants come from tests/centernet/variants.py (text edits of a copy of reference/centernet).
"""

from __future__ import annotations

import importlib
import importlib.util
import itertools
import math
import sys
from pathlib import Path

import pytest
import torch

from grader.core import api
from grader.core import assignment as assignment_mod
from grader.core.engine import CachedExecutor, InProcessExecutor, grade
from grader.core.probe_runtime import run_probe

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT / "reference" / "centernet"
TRAINING_COMPONENT = "Training on TinyCoco"
BONUS_COMPONENT = "Full training"
_counter = itertools.count()


def _load(name: str, path: Path):
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses look their module up while the file executes
        spec.loader.exec_module(module)
    return sys.modules[name]


variants = _load("_centernet_test_variants", Path(__file__).with_name("variants.py"))
T = _load("_centernet_test_training_verdicts", ROOT / "grader" / "assignments" / "centernet" / "training.py")
P = T.P

# A loss whose L1 terms are divided by the number of objects: NaN (0/0) on TinyCoco's empty image.
NAN_LOSS = variants.Variant("l1_divided_by_count", "CenterNetLoss", (variants.Edit(
    "loss.py", "return error.sum(dim=(1, 2, 3))",
    "return error.sum(dim=(1, 2, 3)) / is_real_object.sum(dim=(1, 2, 3))"),))


def _variant(name: str):
    return next(v for v in variants.ALL if v.name == name)


@pytest.fixture(scope="module")
def centernet():
    return assignment_mod.load("centernet")


@pytest.fixture(scope="module")
def variant_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("training_variants")
    sys.path.insert(0, str(root))
    yield root
    sys.path.remove(str(root))


@pytest.fixture(autouse=True)
def report_dir(tmp_path):
    api.set_report_dir(tmp_path / "report")
    yield tmp_path / "report"
    api.set_report_dir(None)


def build_variant(variant, root: Path):
    """The variant as the importable package ``<unique>.centernet``; returns that module."""
    name = f"tr_variant_{next(_counter)}_{variant.name}"
    (root / name).mkdir()
    (root / name / "__init__.py").write_text("")
    variants.apply(variant, REFERENCE, root / name / "centernet")
    return importlib.import_module(f"{name}.centernet")


def train_probe(pkg, seed: int = P.TRAINING_CONFIG["seed"]) -> dict:
    """The training probe as the grader runs it (run_probe: one thread, seeded), on another seed."""
    status, data, message, _, _ = run_probe(lambda p: P.run_tinycoco_training(p, seed=seed), pkg, threads=1)
    assert status == "ok", message
    return data


def verdicts(data: dict) -> tuple:
    return T.verdict_loss_decreases(data), T.verdict_fits_tinycoco(data)


def margins(data: dict) -> dict:
    """How far the run is from every threshold (positive: on the passing side)."""
    s = T.loss_summary(data["history"])
    m = T.fit_metrics(data["maps"].float(), T._reference(), P.TRAINING_CONFIG["image_size"])
    pk = m["peaks"]
    n = len(m["ids"])
    return {
        "loss_ratio": T.LOSS_MAX_RATIO - s["loss"]["final"] / s["loss"]["first"],
        **{f"{k}_ratio": T.TERM_MAX_RATIO - s[k]["final"] / s[k]["first"] for k in ("lk", "loff", "lsize")},
        "ap50": m["ap"]["AP50"] - T.FIT_MIN_AP50,
        "peak_recall": pk["recall"] - T.FIT_MIN_PEAK_RECALL,
        "peak_contrast": pk["contrast"] - T.FIT_MIN_PEAK_CONTRAST,
        "stray_per_image": T.FIT_MAX_STRAY_PEAKS - pk["stray"] / n,
        "centre_error": T.FIT_MAX_CENTRE_ERROR - pk["centre_error"],
    }


# Wide margins the reference must keep on every seed (in the units of each threshold).
REFERENCE_MARGINS = {"loss_ratio": 0.3, "lk_ratio": 0.5, "loff_ratio": 0.3, "lsize_ratio": 0.3, "ap50": 0.3,
                     "peak_recall": 0.15, "peak_contrast": 0.4, "stray_per_image": 0.3, "centre_error": 0.1}


def assert_wide_margins(data: dict, seed: int):
    m = margins(data)
    narrow = {k: round(v, 3) for k, v in m.items() if v < REFERENCE_MARGINS[k]}
    assert not narrow, f"seed {seed}: margins narrower than {REFERENCE_MARGINS}: {narrow} (all: {m})"


# ------------------------------------------------------------------------------------------------
# The reference, through the engine (the graded configuration)
# ------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def reference_run(centernet, tmp_path_factory):
    """The reference graded on the two TinyCoco checks as the grader does it: one executor for the
    submission, memoised, so both checks share one training run."""
    report = tmp_path_factory.mktemp("reference_report")
    api.set_report_dir(report)
    try:
        executor = CachedExecutor(InProcessExecutor("reference"))
        (component,) = grade(centernet, executor, None, only=[TRAINING_COMPONENT])
    finally:
        api.set_report_dir(None)
    return component, executor, report


@pytest.fixture(scope="module")
def reference_data(reference_run):
    (outcome,) = reference_run[1].cache.values()
    return outcome.data


def test_reference_passes_both_checks_through_the_engine(reference_run):
    component, executor, report = reference_run
    assert component.max_score == 2 and component.score == 2, [(c.id, c.message) for c in component.checks]
    assert [c.status for c in component.checks] == ["passed", "passed"]
    assert len(executor.cache) == 1, "the two checks must share one training run"
    cfg = P.TRAINING_CONFIG
    for check in component.checks:
        assert f"{cfg['steps']} steps of batch {cfg['batch_size']} at {cfg['image_size']}x{cfg['image_size']} px" \
            in check.message
        assert check.attachments, f"{check.id} attached no picture"
        for name in check.attachments:
            path = report / name
            assert path.is_file() and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name


def test_reference_margins_on_the_graded_seed(reference_data):
    assert_wide_margins(reference_data, P.TRAINING_CONFIG["seed"])


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_reference_passes_with_wide_margins_on_other_seeds(seed):
    data = train_probe(importlib.import_module("reference.centernet"), seed=seed)
    loss, fit = verdicts(data)
    assert loss.passed and fit.passed, (loss.message, fit.message)
    assert_wide_margins(data, seed)


def test_stubs_are_not_attempted(centernet):
    results = grade(centernet, CachedExecutor(InProcessExecutor("student")), None, only=[TRAINING_COMPONENT])
    assert {c.status for c in results[0].checks} == {"not_attempted"}


# ------------------------------------------------------------------------------------------------
# Wrong solutions
# ------------------------------------------------------------------------------------------------

def test_focal_loss_without_the_near_centre_pixels_does_not_fit(variant_root):
    """The reviewer's case: the loss falls, but the heatmaps are blobs, not peaks."""
    data = train_probe(build_variant(_variant("focal_negatives_target0"), variant_root))
    loss, fit = verdicts(data)
    assert not fit.passed, fit.message
    assert "0 < target < 1" in fit.message
    assert fit.attachments


@pytest.mark.parametrize("variant, failing", [
    (NAN_LOSS, "loss"),  # cheap: no step is taken
    pytest.param(_variant("head_softmax"), "both", marks=pytest.mark.slow),
    pytest.param(_variant("offsets_dy_dx_swapped"), "fit", marks=pytest.mark.slow),
], ids=["nan_loss", "softmax_head", "dy_dx_swapped"])
def test_broken_components_fail_a_training_check(variant, failing, variant_root):
    data = train_probe(build_variant(variant, variant_root))
    loss, fit = verdicts(data)
    if failing in ("loss", "both"):
        assert not loss.passed, loss.message
    if failing in ("fit", "both"):
        assert not fit.passed, fit.message
    for v in (loss, fit):
        assert v.message and ("steps of batch" in v.message)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2])
def test_focal_variant_fails_on_other_seeds(seed, variant_root):
    data = train_probe(build_variant(_variant("focal_negatives_target0"), variant_root), seed=seed)
    assert not T.verdict_fits_tinycoco(data).passed


# ------------------------------------------------------------------------------------------------
# The loss verdict on hand-made curves (no training)
# ------------------------------------------------------------------------------------------------

def _curve(total, lk=None, skipped=()):
    steps = P.TRAINING_CONFIG["steps"]
    total = list(total)
    lk = list(lk) if lk is not None else [0.8 * v for v in total]
    kept = [s for s in range(1, steps + 1) if s not in skipped][: len(total)]
    return {"history": {"step": kept, "loss": total, "lk": lk, "loff": [0.1 * v for v in total],
                        "lsize": [v - a - 0.1 * v for v, a in zip(total, lk)], "skipped": list(skipped)},
            "seconds": 1.0}


def _falling(steps=P.TRAINING_CONFIG["steps"]):
    return [2.0 * math.exp(-4 * i / steps) + 0.05 for i in range(steps)]


def test_loss_verdict_passes_a_falling_curve():
    v = T.verdict_loss_decreases(_curve(_falling()))
    assert v.passed, v.message
    assert "falls steadily" in v.message and v.attachments


@pytest.mark.parametrize("make, words", [
    (lambda: _curve(_falling()[:-3], skipped=(5, 9, 30)), "NaN or Inf at 3 of"),
    (lambda: _curve([2.0 + 0.01 * math.sin(i) for i in range(P.TRAINING_CONFIG["steps"])]), "did not fall enough"),
    (lambda: _curve(_falling()[:20] + [0.2 * 1.15 ** i for i in range(P.TRAINING_CONFIG["steps"] - 20)]),
     "did not fall enough"),
    (lambda: _curve([2.0] * 10 + [8.0] * 20 + [0.3] * (P.TRAINING_CONFIG["steps"] - 30)), "diverged"),
    (lambda: _curve(_falling(), lk=[1.5] * P.TRAINING_CONFIG["steps"]), "term lk did not fall"),
    (lambda: _curve(_falling()[:10]), "10 losses recorded"),
    (lambda: {"history": "nonsense"}, "did not return the history"),
], ids=["nan", "flat", "rebound", "spike", "term_flat", "short", "garbage"])
def test_loss_verdict_rejects(make, words):
    v = T.verdict_loss_decreases(make())
    assert not v.passed and words in v.message, v.message


def test_fit_verdict_rejects_malformed_maps(reference_data):
    cfg = P.TRAINING_CONFIG
    bad_shape = dict(reference_data, maps=reference_data["maps"][:, :, :-1])
    assert "shape" in T.verdict_fits_tinycoco(bad_shape).message
    nan = reference_data["maps"].clone()
    nan[0, 0, 0, 0] = float("nan")
    assert "NaN" in T.verdict_fits_tinycoco(dict(reference_data, maps=nan)).message
    assert "not a tensor" in T.verdict_fits_tinycoco(dict(reference_data, maps=None, maps_type="list")).message
    blank = torch.zeros_like(reference_data["maps"])
    v = T.verdict_fits_tinycoco(dict(reference_data, maps=blank))
    assert not v.passed and "did not fit" in v.message and f"{cfg['steps']} steps" in v.message


# ------------------------------------------------------------------------------------------------
# Alternative correct solutions (slow: one training each)
# ------------------------------------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("name", ["bare_transposed_conv", "upsample_then_conv", "max_merge_smoothing",
                                  "loss_masks_log_eps", "loop_converter"])
def test_alternative_correct_solutions_pass(name, variant_root):
    data = train_probe(build_variant(_variant(name), variant_root))
    loss, fit = verdicts(data)
    assert loss.passed and fit.passed, (loss.message, fit.message)


@pytest.mark.slow
def test_a_head_without_the_prior_bias_trains_too_slowly_and_is_told_why(variant_root):
    """Known limit (docs/TRAINING.md): class probabilities starting at 0.5 need far more than the
    budget. The loss still falls; "fits" fails with a hint about the initialisation."""
    data = train_probe(build_variant(_variant("head_exp_sizes_plain_init"), variant_root))
    loss, fit = verdicts(data)
    assert loss.passed, loss.message
    assert not fit.passed and "bias about -2.2" in fit.message, fit.message
