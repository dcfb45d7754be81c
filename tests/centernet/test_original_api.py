"""Drop-in compatibility with the original course's API (issue 10, item 3; CENTERNET.md,
"Compatibility with the original course").

* A solution written in the original's API style (tests/centernet/original_style: kernel side S with
  the staticmethod ``_gaussian_2d``, ``smooth_points_heatmap`` on the whole ``[B, C+4, H, W]`` map,
  ``PointsToObjects.top_k`` / ``.min_conf``, the original signatures of ``UpscaleTwiceLayer`` and
  ``CenterNetLoss``, the original's given forwards) grades full marks on the automatic component
  checks, next to the project's given data/train/plot modules.
* Where the project is stricter than the original (per-image losses, offsets in [0, 1], the score as
  confidence, per-class NMS), the original's laxer behaviour loses points in its own component only,
  and a failing check names the difference from the original course.
* The reference and the generated stubs expose the original API: signatures (names and defaults),
  the attribute names, ``_gaussian_2d`` with sigma ``(S // 2 + 1) / 3`` against a hand formula.
"""

from __future__ import annotations

import importlib
import inspect
import itertools
import math
import shutil
import sys
from pathlib import Path

import pytest
import torch

from grader.core.engine import CachedExecutor, InProcessExecutor, RunSecrets, grade

ROOT = Path(__file__).resolve().parents[2]
ORIGINAL_STYLE = Path(__file__).resolve().parent / "original_style" / "centernet"
GIVEN_MODULES = ("data.py", "train.py", "plot.py", "train_full.py")  # the project's given code
_counter = itertools.count()


def _write_package(root: Path, name: str, edit=None) -> str:
    """The original-style modules plus the project's given modules as ``<name>.centernet`` under
    ``root``; ``edit`` = (file, old, new) changes one text (it must occur exactly once)."""
    target = root / name / "centernet"
    target.parent.mkdir()
    (target.parent / "__init__.py").write_text("")
    shutil.copytree(ORIGINAL_STYLE, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for module in GIVEN_MODULES:
        shutil.copy(ROOT / "student" / "centernet" / module, target / module)
    if edit is not None:
        file, old, new = edit
        text = (target / file).read_text(encoding="utf-8")
        assert text.count(old) == 1, f"{file}: the text to replace occurs {text.count(old)} times: {old!r}"
        (target / file).write_text(text.replace(old, new), encoding="utf-8")
    return name


@pytest.fixture(scope="module")
def package_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("centernet_original_style")
    sys.path.insert(0, str(root))
    yield root
    sys.path.remove(str(root))


@pytest.fixture(scope="module")
def original(package_root):
    """The original-style package, imported (``original.convert`` etc.)."""
    name = _write_package(package_root, f"cn_original_style_{next(_counter)}")
    return importlib.import_module(f"{name}.centernet")


def _components(centernet) -> list:
    training = set(centernet.checks_module.TRAINING_COMPONENTS)  # training: tests/centernet/test_training.py
    return [c.name for c in centernet.rubric.components if c.name not in training]


def _grade(centernet, name: str, root: Path, reference_executor) -> dict:
    executor = CachedExecutor(InProcessExecutor(name, path=root))
    return {c.name: c for c in grade(centernet, executor, reference_executor, only=_components(centernet))}


def _summary(results) -> str:
    lines = []
    for comp in results.values():
        bad = [f"{c.id}: {c.status}: {c.message[:300]}" for c in comp.checks if c.status != "passed"]
        lines.append(f"{comp.name} {comp.score:.3g}/{comp.max_score:g}" + "".join(f"\n    {b}" for b in bad))
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# an original-course-style solution
# --------------------------------------------------------------------------------------------

def test_original_style_solution_gets_full_component_marks(centernet, reference_executor, package_root):
    name = _write_package(package_root, f"cn_original_graded_{next(_counter)}")
    results = _grade(centernet, name, package_root, reference_executor)
    assert len(results) == 7
    assert sum(c.score for c in results.values()) == pytest.approx(18.0), _summary(results)
    assert all(chk.status == "passed" for comp in results.values() for chk in comp.checks), _summary(results)


# Secret draws measured to cost the original-style solution points before the draws were fixed:
# (5, 6) put two centres of different classes side by side, where the original's given forward
# ("class values sum to >= 1") marks more real pixels than "some class has its 1"; the process's
# own secret once left its background head at 0.21 (the limit was 0.2).
@pytest.mark.parametrize("seed", [5, 6, 4242])
def test_original_style_solution_keeps_full_marks_whatever_the_draw(centernet, package_root, seed):
    name = _write_package(package_root, f"cn_original_draw_{next(_counter)}")
    executor = CachedExecutor(InProcessExecutor(name, path=package_root))
    reference = CachedExecutor(InProcessExecutor("reference"))
    results = {c.name: c for c in grade(centernet, executor, reference, only=_components(centernet),
                                        run=RunSecrets(seed, seed + 1))}
    assert sum(c.score for c in results.values()) == pytest.approx(18.0), _summary(results)


def test_original_style_solution_runs_with_the_given_training_code(original):
    """The project's given make_centernet and an explicit target builder work with the original's
    loss, whose default ObjectsToPoints is built once for 64x64 maps and 2 classes."""
    train, convert, loss = (importlib.import_module(f"{original.__name__}.{m}") for m in ("train", "convert", "loss"))
    net = train.make_centernet(3, seed=0).eval()
    with torch.no_grad():
        maps = net(torch.rand(2, 3, 64, 64))
    assert maps.shape == (2, 3 + 4, 16, 16)
    objects = torch.zeros(2, 3, 6)
    objects[0, 0] = torch.tensor([20.0, 30.0, 8.0, 12.0, 2.0, 1.0])  # image pixels; image 1 has no object
    criterion = loss.CenterNetLoss(obj_to_points=convert.ObjectsToPoints(hw=16, num_classes=3))
    terms = criterion(maps, objects)
    assert terms.shape == (2, 3) and bool(torch.isfinite(terms).all())
    assert terms[1, 1:].abs().sum() == 0  # no object: no offset or size term


# The original course accepted these; the project's contract does not. Each loses points in its own
# component only, and a failing check says how the project differs from the original.
LAXER_THAN_THE_PROJECT = {
    "confidence_flag": ("PointsToObjects", ("convert.py", "cls_idx.float(), scores], dim=-1)",
                                            "cls_idx.float(), (scores >= self.min_conf).float()], dim=-1)")),
    "nms_over_classes": ("PointsNonMaxSuppression", ("network.py", "pooled = F.max_pool2d(scores,",
                                                     "pooled = F.max_pool2d(scores.amax(dim=1, keepdim=True),")),
    "unbounded_offsets": ("CenterNetHead", ("head.py", "offset_map = torch.sigmoid(self.offset(input_t))",
                                            "offset_map = self.offset(input_t)")),
    "focal_batch_total": ("CenterNetLoss", ("loss.py", "return -(pos_term + neg_term).sum(dim=(1, 2, 3))",
                                            "return -(pos_term + neg_term).sum()")),
    "l1_batch_total": ("CenterNetLoss", ("loss.py",
                                         "return ((predict - target).abs() * is_real_object).sum(dim=(1, 2, 3))",
                                         "return ((predict - target).abs() * is_real_object).sum()")),
}


@pytest.mark.parametrize("case", sorted(LAXER_THAN_THE_PROJECT))
def test_the_originals_laxer_behaviour_loses_its_points_and_names_the_difference(
        case, centernet, reference_executor, package_root):
    component, edit = LAXER_THAN_THE_PROJECT[case]
    name = _write_package(package_root, f"cn_original_{case}_{next(_counter)}", edit)
    results = _grade(centernet, name, package_root, reference_executor)
    own = results[component]
    assert own.score < own.max_score - 1e-9, f"{case} keeps full marks:\n{_summary(results)}"
    others = [comp for comp_name, comp in results.items() if comp_name != component]
    assert all(comp.score == pytest.approx(comp.max_score) for comp in others), _summary(results)
    messages = [chk.message for chk in own.checks if chk.status != "passed"]
    assert any("original course" in m for m in messages), (
        "no failing check names the difference:\n" + "\n".join(messages))


# --------------------------------------------------------------------------------------------
# the reference and the stubs expose the original API
# --------------------------------------------------------------------------------------------

def _parameters(fn) -> list:
    """[(name, default)] of the parameters after self/cls; defaults ``inspect.Parameter.empty`` when none."""
    params = list(inspect.signature(fn).parameters.values())
    if params and params[0].name in ("self", "cls"):
        params = params[1:]
    return [(p.name, p.default) for p in params if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)]


E = inspect.Parameter.empty
ORIGINAL_SIGNATURES = [
    ("backbone", "UpscaleTwiceLayer", "__init__",
     [("in_channels", E), ("out_channels", E), ("kernel_size", 3), ("padding", 1), ("output_padding", 0)]),
    ("head", "CenterNetHead", "__init__", [("k_in_channels", 64), ("c_classes", 2)]),
    ("head", "CenterNetHead", "forward", [("input_t", E)]),
    ("loss", "CenterNetLoss", "__init__",
     [("l_size_lambda", 0.1), ("l_offset_lambda", 1), ("r_scale", 4), ("obj_to_points", None)]),
    ("loss", "CenterNetLoss", "forward", [("pred_heatmaps", E), ("target_objects", E)]),
    ("loss", "CenterNetLoss", "loss_fl", [("predict_cyx", E), ("target_cyx", E), ("alpha", 2), ("beta", 4)]),
    ("loss", "CenterNetLoss", "loss_l1", [("predict", E), ("target", E), ("is_real_object", E)]),
    ("convert", "ObjectsToPoints", "__init__", [("hw", 64), ("num_classes", 2), ("smooth_kernel_size", 3)]),
    ("convert", "ObjectsToPoints", "create_default_heatmaps", [("b", E), ("hw", E), ("c", E)]),
    ("convert", "ObjectsToPoints", "smooth_points_heatmap", [("points_heatmap", E), ("smooth_kernel", E)]),
    ("convert", "ObjectsToPoints", "_gaussian_2d", [("kernel_size", E)]),
    ("convert", "PointsToObjects", "__init__", [("objects_per_image", 42), ("min_confidence", 0.1)]),
    ("network", "PointsNonMaxSuppression", "__init__", [("kernel_size", 3)]),
    ("network", "ScaleObjects", "__init__", [("scale", 4)]),
    ("network", "CenterNet", "forward", [("input_t", E), ("return_objects", False)]),
]


@pytest.mark.parametrize("package", ["reference", "student"])
@pytest.mark.parametrize("module, cls, method, want", ORIGINAL_SIGNATURES,
                         ids=[f"{c}.{m}" for _, c, m, _ in ORIGINAL_SIGNATURES])
def test_signatures_are_the_originals(package, module, cls, method, want):
    klass = getattr(importlib.import_module(f"{package}.centernet.{module}"), cls)
    assert _parameters(getattr(klass, method)) == want


def test_the_original_style_solution_has_the_same_signatures(original):
    for module, cls, method, want in ORIGINAL_SIGNATURES:
        if (cls, method) == ("ObjectsToPoints", "create_default_heatmaps"):
            continue  # the original named the class count with a Cyrillic letter; any name works positionally
        klass = getattr(importlib.import_module(f"{original.__name__}.{module}"), cls)
        assert _parameters(getattr(klass, method)) == want, f"{cls}.{method}"


def test_centernet_keeps_the_original_keyword_names():
    from reference.centernet.network import CenterNet

    names = [n for n, _ in _parameters(CenterNet.__init__)]
    assert names == ["pretrained", "head_kwargs", "nms_kwargs", "points_to_objects_kwargs"]


@pytest.mark.parametrize("package", ["reference", "original"])
def test_points_to_objects_keeps_top_k_and_min_conf(package, original):
    module = original.convert if package == "original" else importlib.import_module("reference.centernet.convert")
    decoder = module.PointsToObjects(7, 0.25)
    assert (decoder.top_k, decoder.min_conf) == (7, 0.25)
    default = module.PointsToObjects()
    assert (default.top_k, default.min_conf) == (42, 0.1)


def hand_gaussian(side: int) -> list:
    """The original's kernel written out: side S = 2K + 1, sigma = (K + 1) / 3, peak 1."""
    k = side // 2
    sigma = (k + 1) / 3
    return [[math.exp(-((i - k) ** 2 + (j - k) ** 2) / (2 * sigma**2)) for j in range(side)] for i in range(side)]


@pytest.mark.parametrize("side", [1, 3, 5, 7, 9])
def test_gaussian_2d_is_the_originals(side, original):
    from reference.centernet.convert import ObjectsToPoints

    assert isinstance(inspect.getattr_static(ObjectsToPoints, "_gaussian_2d"), staticmethod)
    want = torch.tensor(hand_gaussian(side))
    kernel = ObjectsToPoints._gaussian_2d(side)
    assert kernel.shape == (side, side) and kernel.dtype == torch.float32
    torch.testing.assert_close(kernel, want, atol=1e-6, rtol=1e-6)
    assert kernel[side // 2, side // 2] == 1
    # smooth_kernel_size is that side, in the reference and in the original-style solution
    torch.testing.assert_close(ObjectsToPoints(hw=8, num_classes=1, smooth_kernel_size=side).smooth_kernel, want,
                               atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(original.convert.ObjectsToPoints._gaussian_2d(side), want, atol=1e-6, rtol=1e-6)


def test_three_means_three_by_three_with_sigma_two_thirds():
    from reference.centernet.convert import ObjectsToPoints

    kernel = ObjectsToPoints(smooth_kernel_size=3).smooth_kernel
    assert kernel.shape == (3, 3)
    assert float(kernel[1, 2]) == pytest.approx(math.exp(-1 / (2 * (2 / 3) ** 2)), rel=1e-6)  # exp(-9/8)
    assert ObjectsToPoints(smooth_kernel_size=0).smooth_kernel is None


@pytest.mark.parametrize("side", [2, 4, -1])
def test_a_kernel_side_that_is_not_odd_is_refused_in_one_line(side):
    from reference.centernet.convert import ObjectsToPoints

    with pytest.raises(ValueError, match=r"^smooth_kernel_size must be an odd side") as info:
        ObjectsToPoints(smooth_kernel_size=side)
    assert "\n" not in str(info.value)


def test_smooth_points_heatmap_takes_the_whole_map(original):
    """The whole [B, C+4, H, W] map in, the whole map out; the reference smooths the class channels
    only, the original-style solution all of them: the same where dy, dx, h, w are zero."""
    from reference.centernet.convert import ObjectsToPoints

    g = torch.Generator().manual_seed(5)
    points = torch.zeros(2, 3 + 4, 9, 9)
    points[:, :3] = (torch.rand(2, 3, 9, 9, generator=g) < 0.1).float()
    kernel = ObjectsToPoints._gaussian_2d(5)
    ours = ObjectsToPoints.smooth_points_heatmap(points.clone(), kernel)
    theirs = original.convert.ObjectsToPoints.smooth_points_heatmap(points.clone(), kernel)
    assert ours.shape == points.shape
    torch.testing.assert_close(ours, theirs)
    assert not ours[:, 3:].any()
    # one peak: its channel holds the kernel around it, the other channels stay zero
    single = torch.zeros(1, 2 + 4, 7, 7)
    single[0, 1, 3, 3] = 1.0
    single[0, 2:, 3, 3] = torch.tensor([0.5, 0.25, 2.0, 3.0])  # box channels pass through unchanged
    out = ObjectsToPoints.smooth_points_heatmap(single, kernel)
    torch.testing.assert_close(out[0, 1, 1:6, 1:6], kernel)
    assert not out[0, 0].any()
    torch.testing.assert_close(out[:, 2:], single[:, 2:])


@pytest.mark.parametrize("h, w", [(1, 1), (3, 5), (8, 7)])
def test_upscale_with_the_original_defaults_is_exactly_twice(h, w):
    from reference.centernet.backbone import UpscaleTwiceLayer

    torch.manual_seed(0)
    x = torch.randn(2, 4, h, w)
    for kwargs in ({}, {"kernel_size": 4, "padding": 1}, {"output_padding": 1}):
        assert UpscaleTwiceLayer(4, 3, **kwargs)(x).shape == (2, 3, 2 * h, 2 * w), kwargs
