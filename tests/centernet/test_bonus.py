"""The bonus ("Full training"): CocoGen, the evaluation probe and its verdict, bad weights files.

The real bonus needs a long training run (docs/TRAINING.md); here the pipeline is checked end to end
with a model that overfits the few test images of a small generated CocoGen: it must pass with the
real threshold, while the same network untrained must fail. Missing, damaged, foreign and
wrong-shape weights files give "not attempted" or a failure with a clear message, never a crash.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import importlib.util
import json
import shutil
import sys
from pathlib import Path

import pytest
import torch

from grader.core import api
from grader.core.assignment import import_path
from grader.core.engine import CachedExecutor, InProcessExecutor, grade
from grader.generate import SUBMISSION_OUTPUTS

ROOT = Path(__file__).resolve().parents[2]
BONUS = "Full training"


def _load(name: str, path: Path):
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


VERDICTS = "_centernet_test_verdicts"  # the verdicts package, loaded by path once for both test files
T = (sys.modules.get(VERDICTS)
     or import_path(ROOT / "grader" / "assignments" / "centernet" / "verdicts", VERDICTS)).training
cocogen = _load("_centernet_test_make_cocogen", ROOT / "data" / "cocogen" / "make_dataset.py")
SIZES = {"train": 6, "val": 4, "test": 8}
EVAL_SIZE = 64  # the graded size is 128; 64 keeps this test fast (the pipeline is the same)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    """<tmp>/generated/cocogen with a small CocoGen; the grader's data dir for these tests."""
    root = tmp_path_factory.mktemp("grader_data")
    cocogen.make_dataset(root / "generated" / "cocogen", SIZES)
    return root


@pytest.fixture
def graded(data_dir, tmp_path, monkeypatch, centernet):
    """The environment of a grading run: data dir, report dir, evaluation size (of the probe module
    the engine runs and of the verdicts these tests use)."""
    monkeypatch.setenv("GRADER_DATA_DIR", str(data_dir))
    monkeypatch.setitem(centernet.probes.BONUS_CONFIG, "image_size", EVAL_SIZE)
    monkeypatch.setitem(T.BONUS_CONFIG, "image_size", EVAL_SIZE)  # T.BONUS_CONFIG is T.P.BONUS_CONFIG
    api.set_report_dir(tmp_path / "report")
    yield tmp_path / "report"
    api.set_report_dir(None)


_made = [0]


def submission(tmp_path: Path, weights=None) -> tuple[str, Path]:
    """A copy of the reference as ``<name>.centernet`` under tmp_path, with ``weights`` written to
    centernet/weights.pt (bytes, or an object for torch.save); returns (package name, path)."""
    _made[0] += 1
    name = f"bonus_sub_{_made[0]}"
    pkg = tmp_path / name / "centernet"
    shutil.copytree(ROOT / "reference" / "centernet", pkg,
                    ignore=shutil.ignore_patterns("__pycache__", *SUBMISSION_OUTPUTS))
    (tmp_path / name / "__init__.py").write_text("")
    if isinstance(weights, bytes):
        (pkg / "weights.pt").write_bytes(weights)
    elif weights is not None:
        torch.save(weights, pkg / "weights.pt")
    return name, tmp_path


def grade_bonus(centernet, name: str, path: Path, threshold: float = T.BONUS_MIN_MAP50):
    """Grade the bonus of a submission; the verdict is this module's T (whose BONUS_CONFIG the
    fixture ``graded`` patched), with the real threshold unless told otherwise."""
    check = centernet.check("bonus.full_training")
    centernet.checks["bonus.full_training"] = dataclasses.replace(check, verdict=T.make_bonus_verdict(threshold))
    try:
        (component,) = grade(centernet, CachedExecutor(InProcessExecutor(name, path=path)), None, only=[BONUS])
    finally:
        centernet.checks["bonus.full_training"] = check
    (result,) = component.checks
    return component, result


@pytest.fixture(scope="module")
def overfitted_state(data_dir):
    """make_centernet(3) overfitted on the 8 test images at EVAL_SIZE (a stand-in for a long run)."""
    ref = importlib.import_module("reference.centernet")
    root = data_dir / "generated" / "cocogen"
    dataset = ref.CocoDetection(root / "hidden" / "test_annotations.json", root / "test" / "images",
                                image_size=EVAL_SIZE)
    torch.manual_seed(0)
    net = ref.make_centernet(3, seed=0)
    ref.train(dataset, net=net, batch_size=8, lr=1e-3, steps=40, seed=0, log_every=0)
    return {k: v.detach().clone() for k, v in net.state_dict().items()}


# ------------------------------------------------------------------------------------------------

def test_cocogen_is_deterministic_and_keeps_test_annotations_hidden(tmp_path, monkeypatch):
    monkeypatch.delenv("COCOGEN_TEST_SEED", raising=False)
    a = cocogen.make_dataset(tmp_path / "a", {"train": 5, "val": 2, "test": 3})
    b = cocogen.make_dataset(tmp_path / "b", {"train": 5, "val": 2, "test": 3})

    def digest(root):
        return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
                for p in sorted(root.rglob("*")) if p.is_file()}

    assert digest(a) == digest(b)
    assert not (a / "test" / "annotations.json").exists(), "test annotations must live in hidden/ only"
    coco = json.loads((a / "hidden" / "test_annotations.json").read_text())
    assert sorted(p.name for p in (a / "test" / "images").iterdir()) == sorted(i["file_name"] for i in coco["images"])
    assert [c["id"] for c in coco["categories"]] == [1, 3, 7]
    train = json.loads((a / "train" / "annotations.json").read_text())
    assert all(0 <= ann["bbox"][0] and ann["bbox"][0] + ann["bbox"][2] <= next(
        i["width"] for i in train["images"] if i["id"] == ann["image_id"]) for ann in train["annotations"])
    # A private test seed changes the test split only.
    c = cocogen.make_dataset(tmp_path / "c", {"train": 5, "val": 2, "test": 3}, test_seed=12345)
    dc = digest(c)
    assert {k: v for k, v in dc.items() if k.startswith("train/")} == {k: v for k, v in digest(a).items()
                                                                        if k.startswith("train/")}
    assert dc["hidden/test_annotations.json"] != digest(a)["hidden/test_annotations.json"]


def test_no_weights_file_is_not_attempted(centernet, graded, tmp_path):
    _, result = grade_bonus(centernet, *submission(tmp_path))
    assert result.status == "not_attempted" and "weights.pt" in result.message


@pytest.mark.parametrize("weights, words", [
    (b"this is not a torch file", "could not be read"),
    (b"", "could not be read"),
    ({"a": 1, "b": "x"}, "must hold a state_dict"),
    ([torch.zeros(3)], "must hold a state_dict"),
    (torch.nn.Linear(2, 2), "could not be read"),  # a pickled module: refused by weights_only, never run
    ({"backbone.encoder.conv1.weight": torch.zeros(64, 3, 7, 7)}, "does not fit make_centernet(3)"),
], ids=["garbage", "empty", "plain_dict", "list", "pickled_module", "missing_keys"])
def test_bad_weights_files_fail_with_a_clear_message(weights, words, centernet, graded, tmp_path):
    _, result = grade_bonus(centernet, *submission(tmp_path, weights))
    assert result.status == "failed", (result.status, result.message)
    assert words in result.message and result.score == 0


def test_weights_of_another_shape_fail(centernet, graded, tmp_path):
    ref = importlib.import_module("reference.centernet")
    two_classes = ref.make_centernet(2, seed=0).state_dict()
    _, result = grade_bonus(centernet, *submission(tmp_path, two_classes))
    assert result.status == "failed" and "size mismatch" in result.message and "head." in result.message


def test_a_trained_model_earns_the_bonus_and_an_untrained_one_does_not(centernet, graded, tmp_path,
                                                                       overfitted_state):
    component, result = grade_bonus(centernet, *submission(tmp_path, overfitted_state))
    assert result.status == "passed", result.message
    assert component.bonus and component.score == component.max_score == 3
    assert f"needs >= {T.BONUS_MIN_MAP50:g}" in result.message and "8 held-out" in result.message
    assert result.attachments and (graded / result.attachments[0]).is_file()
    # The number the verdict computed agrees with the given evaluation code (another path: the
    # network's own return_objects=True decoding, pycocotools on the annotation file).
    ref = importlib.import_module("reference.centernet")
    train_full = importlib.import_module("reference.centernet.train_full")
    net = ref.make_centernet(3)
    net.load_state_dict(overfitted_state)
    data = Path(T.data_root()) / "generated" / "cocogen"
    ds = ref.CocoDetection(data / "hidden" / "test_annotations.json", data / "test" / "images", image_size=EVAL_SIZE)
    expected = train_full.evaluate_map50(net, ds, annotation_file=data / "hidden" / "test_annotations.json")
    assert f"mAP@0.5 {expected:.3f}" in result.message, (expected, result.message)

    untrained = ref.make_centernet(3, seed=0).state_dict()
    _, result = grade_bonus(centernet, *submission(tmp_path, untrained))
    assert result.status == "failed" and "not enough for the bonus" in result.message


def test_missing_test_images_is_a_grader_problem(centernet, graded, tmp_path, monkeypatch, overfitted_state):
    monkeypatch.setenv("GRADER_DATA_DIR", str(tmp_path / "nothing"))
    _, result = grade_bonus(centernet, *submission(tmp_path, overfitted_state))
    assert result.status == "error" and "make_dataset.py" in result.message


def test_the_threshold_students_read_is_the_one_the_grader_applies(centernet):
    """The rubric line (shown in every report), the training notebook and the given train_full state
    the bonus threshold; they must say the number the verdict uses, or a student aims at the wrong
    target."""
    wanted = f"mAP@0.5 >= {T.BONUS_MIN_MAP50:g}"
    component = next(c for c in centernet.rubric.components if c.name == BONUS)
    assert wanted in component.description, component.description
    notebook = json.loads((ROOT / "notebooks" / "train_full.ipynb").read_text(encoding="utf-8"))
    markdown = "".join("".join(cell["source"]) for cell in notebook["cells"] if cell["cell_type"] == "markdown")
    code = "".join("".join(cell["source"]) for cell in notebook["cells"] if cell["cell_type"] == "code")
    assert f"**{wanted}**" in markdown
    assert f"the bonus needs >= {T.BONUS_MIN_MAP50:g}" in code
    given = importlib.import_module("reference.centernet.train_full").__doc__  # copied to student/
    assert f"The bonus needs {wanted}" in given
