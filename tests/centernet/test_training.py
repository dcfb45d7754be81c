"""The TinyCoco training checks (docs/DESIGN.md principles 2 and 5; issues 9 and 10; docs/TRAINING.md).

Default run (one shared reference training through the engine, the rest without training or with
a 2-step budget):

* the reference passes both checks through the engine; the messages name the data set and its
  fingerprint; a worker that read another folder is a grader fault;
* the verdict scores the maps of the images the parent sent after training, in the parent's secret
  order (a result for another order fails; a missing plan fails once the engine sends plans);
* a component that breaks the loop's contract (a loss returning ``[3]``) makes both checks "not
  graded: CenterNetLoss must return [B, 3] first", not a traceback from the given loop;
* the given loop and loader are the course's copy, not the submission's;
* the given ``make_centernet`` starts every class at the prior 0.1, whatever the head's init;
* the real TinyCoco (80 categories, the original course's layout) is read and its (16, 84, 16, 16)
  maps are accepted; ``calibrate`` runs on both data sets (tiny budget) and writes a rubric;
* the loss verdict on hand-made curves.

``-m slow``: the sweep of docs/TRAINING.md, every training variant x both data sets x 5 seeds:
correct ones (the reference, PyTorch's default init, exp sizes and the alternative solutions of
variants.py) pass both points; broken ones (focal loss with ``target == 0`` negatives, softmax over
classes, softmax over space, dy/dx swapped, a loss that ignores the offsets) fail "fits".

The real TinyCoco lives in ../shared/data/tinycoco-coco2017 (never copied into the project); the
tests that need it skip when it is absent.
"""

from __future__ import annotations

import importlib
import importlib.util
import itertools
import math
import os
import sys
from pathlib import Path

import pytest
import torch

from grader.core import api
from grader.core.assignment import import_path
from grader.core.engine import CachedExecutor, InProcessExecutor, grade
from grader.core.runtime import ProbeContext, run_probe

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT / "reference" / "centernet"
SYNTHETIC = ROOT / "data" / "tinycoco"
REAL = ROOT.parent / "shared" / "data" / "tinycoco-coco2017"
if not REAL.is_dir():  # a worktree beside the main checkout: /work/wt/<name> and /work/shared
    REAL = ROOT.parents[1] / "shared" / "data" / "tinycoco-coco2017"
needs_real = pytest.mark.skipif(not REAL.is_dir(), reason=f"the real TinyCoco is not there ({REAL}: "
                                "../shared/data/tinycoco-coco2017 beside the checkout)")
TRAINING_COMPONENT = "Training on TinyCoco"
_counter = itertools.count()


def _load(name: str, path: Path):
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses look their module up while the file executes
        spec.loader.exec_module(module)
    return sys.modules[name]


variants = _load("_centernet_test_variants", Path(__file__).with_name("variants.py"))
VERDICTS = "_centernet_test_verdicts"  # the verdicts package, loaded by path once for both test files
T = (sys.modules.get(VERDICTS)
     or import_path(ROOT / "grader" / "assignments" / "centernet" / "verdicts", VERDICTS)).training
P = T.P
VARIANTS = {v.name: v for v in variants.ALL + variants.TRAINING_EXTRA}

# A loss that averages over the batch itself: [3] instead of [B, 3] (issue 10.4).
BATCH_MEAN_LOSS = variants.Variant("loss_batch_mean", "CenterNetLoss", (variants.Edit(
    "loss.py", "return losses / (n + 1)[:, None]", "return (losses / (n + 1)[:, None]).mean(dim=0)"),))
# A submission whose given training loop is rewritten to report a falling loss (issue 9.5).
FORGED_LOOP = variants.Variant("forged_train_loop", "Training on TinyCoco", (variants.Edit(
    "train.py", "    device = torch.device(device or \"cpu\")\n",
    "    return {'step': list(range(1, steps + 1)), 'loss': [1 / s for s in range(1, steps + 1)],\n"
    "            'lk': [1 / s for s in range(1, steps + 1)], 'loff': [0.0] * steps, 'lsize': [0.0] * steps,\n"
    "            'skipped': []}\n    device = torch.device(device or \"cpu\")\n"),))


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


@pytest.fixture
def use_data(monkeypatch):
    """Select a TinyCoco folder for the parent and the probe, as `grader run --data DIR` does."""
    def select(folder: Path):
        monkeypatch.setenv("GRADER_TINYCOCO_DIR", str(folder))
    return select


def build_variant(variant, root: Path):
    """The variant as the importable package ``<unique>.centernet``; returns that module."""
    name = f"tr_variant_{next(_counter)}_{variant.name}"
    (root / name).mkdir()
    (root / name / "__init__.py").write_text("")
    variants.apply(variant, REFERENCE, root / name / "centernet")
    return importlib.import_module(f"{name}.centernet")


def train_probe(pkg, folder: Path = SYNTHETIC, seed: int = P.TRAINING_CONFIG["seed"], **budget) -> dict:
    """The training probe as the grader runs it (run_probe: one thread; the parent's late inputs
    for ``folder``), on a data set and seed."""
    saved = os.environ.get("GRADER_TINYCOCO_DIR")
    os.environ["GRADER_TINYCOCO_DIR"] = str(folder)
    try:
        ctx = ProbeContext(seed, lambda: T.late_inputs(torch.Generator().manual_seed(1000 + seed)))
        status, data, message, _, _ = run_probe(
            lambda p, c: P.run_tinycoco_training(p, c, seed=seed, data_dir=str(folder), **budget), pkg, threads=1,
            ctx=ctx)
    finally:
        if saved is None:
            os.environ.pop("GRADER_TINYCOCO_DIR", None)
        else:
            os.environ["GRADER_TINYCOCO_DIR"] = saved
    assert status == "ok", message
    return data


def in_dataset_order(data: dict) -> torch.Tensor:
    """The maps of a probe result rearranged into the data set's order (the plan the parent kept)."""
    order = T._LATE_PLANS[data["late_token"]]
    maps = torch.empty_like(data["maps"])
    maps[torch.tensor(order)] = data["maps"]
    return maps


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


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_every_training_variant_still_applies_to_the_reference(name, tmp_path):
    """The sweep's variants (run by hand, -m sweep) are edits of the reference's text: one the
    reference no longer contains would only show when the sweep runs (head_exp_sizes did, after a
    rename in head.py). Applying them is cheap, so the default suite does it for every one."""
    variants.apply(VARIANTS[name], REFERENCE, tmp_path / "centernet")
    assert (tmp_path / "centernet" / "__init__.py").is_file()


def test_reference_passes_both_checks_through_the_engine(reference_run):
    component, executor, report = reference_run
    assert component.max_score == 2 and component.score == 2, [(c.id, c.message) for c in component.checks]
    assert [c.status for c in component.checks] == ["passed", "passed"]
    assert len(executor.cache) == 1, "the two checks must share one training run"
    cfg = P.TRAINING_CONFIG
    fingerprint = P.data_fingerprint(*P.tinycoco_layout(SYNTHETIC))
    for check in component.checks:
        assert f"{cfg['steps']} steps of batch {cfg['batch_size']} at {cfg['image_size']}x{cfg['image_size']} px" \
            in check.message
        assert f"TinyCoco 'tinycoco' (16 images, 3 classes, data {fingerprint})" in check.message, check.message
        assert check.attachments, f"{check.id} attached no picture"
        for name in check.attachments:
            path = report / name
            assert path.is_file() and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name


def test_reference_clears_every_threshold_with_a_margin(reference_data):
    values = T.run_values(reference_data, SYNTHETIC)
    limits, _ = T.thresholds(SYNTHETIC, reference_data["data_fingerprint"], P.TRAINING_CONFIG)
    for name, value in values.items():
        assert T.criterion_ok(name, value, limits[name]), (name, value, limits[name])
        assert abs(value - limits[name]) >= 0.05, f"{name}: {value:.3f} is within 0.05 of {limits[name]:.3f}"


def test_a_worker_that_read_another_data_set_is_a_grader_fault(reference_data):
    other = dict(reference_data, data_fingerprint="0123456789abcdef", data_name="elsewhere")
    for verdict in (T.verdict_loss_decreases, T.verdict_fits_tinycoco):
        v = verdict(other)
        assert not v.passed and v.grader_fault and "0123456789abcdef" in v.message, v.message
        assert "grader run --data DIR" in v.message


def test_the_verdict_scores_the_images_in_the_order_the_parent_sent(reference_data):
    """The maps must belong to the parent's secret order: the same maps in the data set's order fail."""
    rng = torch.Generator().manual_seed(1234)
    plan = T.late_inputs(rng)
    order = plan["order"]
    assert sorted(order) == list(range(16)) and order != list(range(16))
    assert not torch.equal(plan["images"], T.parent_set(SYNTHETIC, 64)["images"][order])  # noise on top
    assert (plan["images"] - T.parent_set(SYNTHETIC, 64)["images"][order]).abs().max() <= P.LATE_NOISE + 1e-6
    maps = in_dataset_order(reference_data)
    honest = dict(reference_data, maps=maps[order], late_token=plan["token"])
    assert T.verdict_fits_tinycoco(honest).passed
    unordered = dict(reference_data, maps=maps, late_token=plan["token"])
    v = T.verdict_fits_tinycoco(unordered)
    assert not v.passed, v.message
    for verdict in (T.verdict_loss_decreases, T.verdict_fits_tinycoco):
        v = verdict(dict(reference_data, late_token=None))
        assert not v.passed and "evaluation images the grader sent" in v.message, v.message


def test_stubs_are_not_attempted(centernet):
    results = grade(centernet, CachedExecutor(InProcessExecutor("student")), None, only=[TRAINING_COMPONENT])
    assert {c.status for c in results[0].checks} == {"not_attempted"}


# ------------------------------------------------------------------------------------------------
# Given code, contracts, initialisation (no training)
# ------------------------------------------------------------------------------------------------

def test_a_broken_loss_contract_is_not_graded_with_the_reason(variant_root):
    data = train_probe(build_variant(BATCH_MEAN_LOSS, variant_root))
    assert "history" not in data
    for verdict in (T.verdict_loss_decreases, T.verdict_fits_tinycoco):
        v = verdict(data)
        assert not v.passed and v.message.startswith("not graded: CenterNetLoss must return [B, 3] first"), v.message
        assert "Traceback" not in v.message and "IndexError" not in v.message


def test_the_course_copy_of_the_given_loop_is_used(variant_root):
    pkg = build_variant(FORGED_LOOP, variant_root)
    given = P._given(pkg, "train")
    assert Path(given.__file__).resolve() == (REFERENCE / "train.py").resolve()
    assert given.__package__ == pkg.__name__  # its relative imports use the submission's components
    assert "forged" not in Path(given.__file__).read_text() and "1 / s" not in Path(given.__file__).read_text()
    assert P._given(pkg, "data").__file__ == str(REFERENCE / "data.py")
    assert P._given(importlib.import_module("reference.centernet"), "train") is importlib.import_module(
        "reference.centernet.train")


def test_make_centernet_starts_every_class_at_the_prior(variant_root):
    pkg = build_variant(VARIANTS["head_plain_init"], variant_root)
    own = pkg.network.CenterNet(pretrained=False, head_kwargs={"c_classes": 3}).eval()
    net = P._given(pkg, "train").make_centernet(3, seed=0).eval()
    x = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        before, after = own(x)[:, :3].mean(), net(x)[:, :3].mean()
    assert abs(float(before) - 0.5) < 0.1 and abs(float(after) - 0.1) < 0.03, (before, after)
    softmax = P._given(build_variant(VARIANTS["head_softmax"], variant_root), "train")
    assert not softmax.set_class_prior(softmax.make_centernet(3, seed=0), 3)  # a shared shift moves no softmax


# ------------------------------------------------------------------------------------------------
# Data-driven: the real TinyCoco, calibration
# ------------------------------------------------------------------------------------------------

@needs_real
def test_the_real_tinycoco_is_read_with_its_80_classes(use_data):
    layout = P.tinycoco_layout(REAL)
    assert layout and layout[0].name == "instances_train2017_small.json" and layout[1].name == "train_2017_small"
    use_data(REAL)
    s = T.parent_set(REAL, 64)
    assert s["dataset"].num_classes == 80 and len(s["ids"]) == 16
    plan = T.late_inputs(torch.Generator().manual_seed(3))
    assert plan["images"].shape == (16, 3, 64, 64)
    data = {"data_fingerprint": s["fingerprint"], "data_name": REAL.name, "maps": torch.zeros(16, 84, 16, 16),
            "maps_type": "Tensor", "late_token": plan["token"], "history": {}, "config": dict(P.TRAINING_CONFIG)}
    v = T.verdict_fits_tinycoco(data)
    assert not v.passed and "shape" not in v.message and "did not fit" in v.message, v.message
    assert f"TinyCoco '{REAL.name}' (16 images, 80 classes" in v.message


@pytest.mark.slow  # about a minute each: in CI's slow stage (.ci/run), not in the default run
@pytest.mark.parametrize("folder", [SYNTHETIC, pytest.param(REAL, marks=needs_real)], ids=["synthetic", "real"])
def test_calibration_writes_thresholds_that_apply(folder, tmp_path, use_data):
    """Mechanics on a 2-step budget (the real calibration: docs/TRAINING.md)."""
    use_data(folder)
    rubric = tmp_path / "rubric.toml"
    rubric.write_text((ROOT / "grader" / "assignments" / "centernet" / "rubric.toml").read_text())
    lines = []
    out = T.calibrate(folder, 1, rubric_path=rubric, log=lines.append, steps=2)
    assert any("reference min" in line for line in lines) and any("margin 0.5" in line for line in lines)
    entry = T.rubric_training(rubric)["calibrated"][folder.name]
    assert entry["fingerprint"] == T.parent_set(folder, 64)["fingerprint"] and entry["steps"] == 2
    for name, (direction, nothing, _) in T.CRITERIA.items():
        worst = out["stats"][name][0 if direction == "min" else 1]
        assert math.isclose(entry[name], T.threshold_from(name, [worst]), rel_tol=1e-3, abs_tol=1e-3)
    cfg = dict(P.TRAINING_CONFIG, steps=2)
    limits, source = T.thresholds(folder, entry["fingerprint"], cfg, T.rubric_training(rubric))
    assert source.startswith("calibrated") and limits["ap50"] == pytest.approx(entry["ap50"], abs=1e-4)
    _, other = T.thresholds(folder, entry["fingerprint"], P.TRAINING_CONFIG, T.rubric_training(rubric))
    assert "budget changed" in other
    T.calibrate(folder, 1, rubric_path=rubric, log=lines.append, steps=2)  # a second run replaces the entry
    assert rubric.read_text().count(f'[training.calibrated."{folder.name}"]') == 1
    assert rubric.read_text().count("[[components]]") == (ROOT / "grader/assignments/centernet/rubric.toml") \
        .read_text().count("[[components]]")


def test_calibrate_command_refuses_a_missing_folder(tmp_path, capsys):
    from grader import cli

    assert cli.main(["calibrate", "--assignment", "centernet", "--data", str(tmp_path / "nope"), "--seeds", "1"]) == 2
    assert "--data: not a folder" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------------
# The loss verdict on hand-made curves (the reference's maps, no training)
# ------------------------------------------------------------------------------------------------

def _curve(data, total, lk=None, skipped=()):
    steps = P.TRAINING_CONFIG["steps"]
    total = list(total)
    lk = list(lk) if lk is not None else [0.8 * v for v in total]
    kept = [s for s in range(1, steps + 1) if s not in skipped][: len(total)]
    return dict(data, history={"step": kept, "loss": total, "lk": lk, "loff": [0.1 * v for v in total],
                               "lsize": [v - a - 0.1 * v for v, a in zip(total, lk)], "skipped": list(skipped)})


def _falling(steps=P.TRAINING_CONFIG["steps"]):
    return [2.0 * math.exp(-4 * i / steps) + 0.05 for i in range(steps)]


def test_loss_verdict_passes_a_falling_curve_and_only_remarks_on_a_flat_term(reference_data):
    v = T.verdict_loss_decreases(_curve(reference_data, _falling()))
    assert v.passed and "falls steadily" in v.message and v.attachments, v.message
    lk = _falling()
    steps = P.TRAINING_CONFIG["steps"]
    flat = dict(reference_data, history={"step": list(range(1, steps + 1)), "lk": lk, "loff": [0.3] * steps,
                                         "lsize": [0.05 * v for v in lk], "skipped": [],
                                         "loss": [1.05 * v + 0.3 for v in lk]})
    flat_loff = T.verdict_loss_decreases(flat)
    assert flat_loff.passed and "remark, no deduction: loff" in flat_loff.message, flat_loff.message


@pytest.mark.parametrize("make, words", [
    (lambda d: _curve(d, _falling()[:-3], skipped=(5, 9, 30)), "NaN or Inf at 3 of"),
    (lambda d: _curve(d, [2.0 + 0.01 * math.sin(i) for i in range(P.TRAINING_CONFIG["steps"])]), "did not fall enough"),
    (lambda d: _curve(d, _falling()[:20] + [0.2 * 1.15 ** i for i in range(P.TRAINING_CONFIG["steps"] - 20)]),
     "did not fall enough"),
    (lambda d: _curve(d, [2.0] * 10 + [8.0] * 20 + [0.3] * (P.TRAINING_CONFIG["steps"] - 30)), "diverged"),
    (lambda d: _curve(d, _falling(), lk=[-0.1] * P.TRAINING_CONFIG["steps"]), "term lk is negative"),
    (lambda d: _curve(d, _falling()[:10]), "10 losses recorded"),
    (lambda d: dict(d, history="nonsense"), "did not return the history"),
    (lambda d: _curve(dict(d, maps=torch.zeros_like(d["maps"])), _falling()), "do not have the low loss"),
], ids=["nan", "flat", "rebound", "spike", "negative_term", "short", "garbage", "forged_curve"])
def test_loss_verdict_rejects(make, words, reference_data):
    v = T.verdict_loss_decreases(make(reference_data))
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


def test_the_offset_hints_follow_the_evidence(reference_data):
    """Swapped offset channels get the dy/dx hint; offsets stuck at 0.5 the "never learnt" hint; the
    reference gets neither."""
    c = reference_data["maps"].shape[1] - 4
    swapped = reference_data["maps"].clone()
    swapped[:, [c, c + 1]] = swapped[:, [c + 1, c]]
    v = T.verdict_fits_tinycoco(dict(reference_data, maps=swapped))
    assert not v.passed and "dy and dx exchanged" in v.message, v.message
    stuck = reference_data["maps"].clone()
    stuck[:, c:c + 2] = 0.5
    v = T.verdict_fits_tinycoco(dict(reference_data, maps=stuck))
    assert not v.passed and "never been learnt" in v.message, v.message
    ok = T.verdict_fits_tinycoco(reference_data)
    assert ok.passed and "offsets" not in ok.message.split(".")[0]


def _marks(ax, label: str) -> list:
    """The (x, y) points of the markers labelled ``label`` on ``ax``."""
    return [(float(x), float(y)) for line in ax.get_lines() if line.get_label() == label
            for x, y in zip(line.get_xdata(), line.get_ydata())]


def test_the_fit_picture_draws_what_its_captions_count():
    """One image with a found object and a stray peak of score 0.25 (counted from STRAY_SCORE 0.2,
    below the 0.3 from which detections are drawn as boxes), one image whose object has no peak:
    the caption's "stray 1" and "missed 1" are marks on the picture, where they were counted."""
    ref = T._reference()
    c, hw, stride = 2, 8, 4
    maps = torch.zeros(2, c + 4, hw, hw)
    maps[:, c:c + 2] = 0.5
    maps[:, c + 2:] = 2.0
    maps[0, 0, 2, 2] = 0.9   # on the true centre of image 0 (10, 10): found
    maps[0, 0, 6, 6] = 0.25  # far from it: stray, never a drawn box
    targets = torch.tensor([[[10.0, 10.0, 8.0, 8.0, 0.0, 1.0]], [[18.0, 22.0, 8.0, 8.0, 1.0, 1.0]]])
    analysis = T.peak_analysis(maps, targets, [[], []], ref)
    assert [(p["missed"], p["stray"]) for p in analysis["per_image"]] == [(0, 1), (1, 0)]
    assert T.STRAY_SCORE < 0.25 < T.PEAK_SCORE
    images = torch.rand(2, 3, hw * stride, hw * stride)
    fig = T.fit_panel(images, targets, maps, T.decode(maps, ref), [7, 8], analysis, ["a", "b"], ref, "fit")
    first, second = fig.axes[0], fig.axes[3]
    assert first.get_title() == "image 7: missed 0, stray 1" and second.get_title() == "image 8: missed 1, stray 0"
    assert _marks(first, "stray") == [(26.0, 26.0)] and _marks(first, "missed") == []
    assert _marks(second, "missed") == [(22.0, 18.0)] and _marks(second, "stray") == []
    caption = fig._suptitle.get_text()
    assert f"stray (orange crosses): class peaks >= {T.STRAY_SCORE:g}" in caption
    assert f"no class peak >= {T.PEAK_SCORE:g} within 1 map pixel" in caption


# ------------------------------------------------------------------------------------------------
# The sweep (slow): every training variant x both data sets x 5 seeds (docs/TRAINING.md)
# ------------------------------------------------------------------------------------------------

SWEEP_CORRECT = ["reference", "head_plain_init", "head_exp_sizes", "head_exp_sizes_plain_init", "loop_converter",
                 "max_merge_smoothing", "bare_transposed_conv", "upsample_then_conv", "loss_masks_log_eps"]
SWEEP_WRONG = ["focal_negatives_target0", "head_softmax", "head_softmax_space", "offsets_dy_dx_swapped",
               "loss_ignores_offsets"]
SEEDS = [0, 1, 2, 3, 4]
DATASETS = [pytest.param(SYNTHETIC, id="synthetic"), pytest.param(REAL, id="real", marks=needs_real)]


def _sweep_verdicts(name, folder, seed, variant_root, monkeypatch):
    monkeypatch.setenv("GRADER_TINYCOCO_DIR", str(folder))
    pkg = importlib.import_module("reference.centernet") if name == "reference" else \
        build_variant(VARIANTS[name], variant_root)
    data = train_probe(pkg, folder, seed)
    data = dict(data, config=dict(data["config"]))
    return T.verdict_loss_decreases(data), T.verdict_fits_tinycoco(data)


@pytest.mark.slow
@pytest.mark.sweep
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("folder", DATASETS)
@pytest.mark.parametrize("name", SWEEP_CORRECT)
def test_correct_solutions_get_both_training_points(name, folder, seed, variant_root, monkeypatch):
    loss, fit = _sweep_verdicts(name, folder, seed, variant_root, monkeypatch)
    assert loss.passed and fit.passed, (loss.message, fit.message)


# Measured gaps (docs/TRAINING.md): at 40 steps and 64 px "fits" does not catch these broken
# variants on these sets; they lose their points in their own component's checks. Known, not hidden.
FIT_GAPS = {("focal_negatives_target0", "real"), ("head_softmax", "real"), ("head_softmax_space", "real"),
            ("head_softmax_space", "synthetic")}


@pytest.mark.slow
@pytest.mark.sweep
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("folder", DATASETS)
@pytest.mark.parametrize("name", SWEEP_WRONG)
def test_broken_solutions_do_not_fit(name, folder, seed, variant_root, monkeypatch):
    _loss, fit = _sweep_verdicts(name, folder, seed, variant_root, monkeypatch)
    # a known gap is an expected failure only once the variant has trained: an error building or
    # training it (a stale variant text) fails the test like any other
    if fit.passed and (name, "real" if folder == REAL else "synthetic") in FIT_GAPS:
        pytest.xfail("measured gap of the training budget (docs/TRAINING.md)")
    assert not fit.passed, fit.message


@pytest.mark.slow
@pytest.mark.parametrize("folder", [SYNTHETIC], ids=["synthetic"])  # the real photos all hold objects: no 0/0
def test_nan_loss_fails_the_loss_check(folder, variant_root, monkeypatch):
    nan_loss = variants.Variant("l1_divided_by_count", "CenterNetLoss", (variants.Edit(
        "loss.py", "return error.sum(dim=(1, 2, 3))",
        "return error.sum(dim=(1, 2, 3)) / is_real_object.sum(dim=(1, 2, 3))"),))
    monkeypatch.setenv("GRADER_TINYCOCO_DIR", str(folder))
    data = train_probe(build_variant(nan_loss, variant_root), folder)
    v = T.verdict_loss_decreases(data)
    assert not v.passed and "NaN or Inf" in v.message, v.message
