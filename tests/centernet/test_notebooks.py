"""The course notebooks run from top to bottom (nbclient), and stop where a student has work to do.

* against the reference (``COURSE_IMPL=reference``) with small budgets, both notebooks run to the end;
* against the generated stubs they stop at the first unimplemented component, and the error names it;
* the committed notebooks are what ``notebooks/build_notebooks.py`` writes, with no outputs;
* every cell that draws shows its picture in the executed notebook (``cells_without_pictures``).
"""

from __future__ import annotations

import importlib.util
import os
import sys
import time
from pathlib import Path

import nbformat
import pytest
import torch

nbclient = pytest.importorskip("nbclient")
from nbclient.exceptions import CellExecutionError  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
CHECKS = NOTEBOOKS / "centernet_checks.ipynb"
TRAIN_FULL = NOTEBOOKS / "train_full.ipynb"


def _builder():
    spec = importlib.util.spec_from_file_location("_build_notebooks", NOTEBOOKS / "build_notebooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _load_cocogen():
    spec = importlib.util.spec_from_file_location("_make_cocogen", ROOT / "data" / "cocogen" / "make_dataset.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def execute(path: Path, env: dict, timeout: int = 240):
    """Run a notebook in a fresh kernel from the repository root; return (notebook, seconds)."""
    nb = nbformat.read(path, as_version=4)
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)  # the kernel inherits this process's environment
    try:
        client = nbclient.NotebookClient(nb, timeout=timeout, kernel_name="python3",
                                         resources={"metadata": {"path": str(ROOT)}})
        start = time.perf_counter()
        client.execute()
        return nb, time.perf_counter() - start
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _outputs_text(nb) -> str:
    parts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            parts.append(out.get("text", "") or str(out.get("data", {}).get("text/plain", "")))
    return "\n".join(parts)


def _images(nb) -> int:
    return sum("image/png" in out.get("data", {}) for cell in nb.cells for out in cell.get("outputs", []))


def plotting_cells_without_images(nb) -> list[str]:
    return _builder().cells_without_pictures(nb)


BASE_ENV = {"OMP_NUM_THREADS": "2"}


def test_committed_notebooks_are_built_and_clean():
    builder = _builder()
    assert not builder.stale(), "notebooks are stale: run `python notebooks/build_notebooks.py`"
    committed = {p.name for p in NOTEBOOKS.glob("*.ipynb")}
    assert committed == set(builder.NOTEBOOKS), (
        f"not written by build_notebooks.py: {committed - set(builder.NOTEBOOKS)}")
    for path in sorted(NOTEBOOKS.glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
        for cell in nb.cells:
            if cell.cell_type == "code":
                assert not cell.outputs and cell.execution_count is None, f"{path.name}: outputs are not cleared"


def test_checks_notebook_runs_on_the_reference():
    env = {**BASE_ENV, "COURSE_IMPL": "reference", "CENTERNET_NOTEBOOK_STEPS": "8"}
    nb, seconds = execute(CHECKS, env)
    text = _outputs_text(nb)
    assert "using reference.centernet" in text
    assert "8 steps in" in text and "skipped (NaN/Inf) steps: []" in text
    assert "detections: (4, 42, 6)" in text
    # the sample, the target heatmap, the loss curve and the detections are pictures
    assert _images(nb) >= 4, f"expected at least 4 pictures, got {_images(nb)}"
    assert not plotting_cells_without_images(nb)
    assert "the 4 public check(s) pass" in text  # the head cell ran the head's public checks
    print(f"centernet_checks.ipynb on the reference: {seconds:.1f} s")


def test_checks_notebook_stops_at_the_first_stub():
    env = {**BASE_ENV, "COURSE_IMPL": "student", "CENTERNET_NOTEBOOK_STEPS": "2"}
    with pytest.raises(CellExecutionError) as info:
        execute(CHECKS, env)
    message = str(info.value)
    assert "NotImplementedError" in message
    assert "UpscaleTwiceLayer" in message, message[-2000:]


@pytest.fixture(scope="module")
def small_cocogen(tmp_path_factory):
    """A small CocoGen under <tmp>/generated/cocogen (what $COURSE_DATA_DIR points at)."""
    root = tmp_path_factory.mktemp("course_data")
    _load_cocogen().make_dataset(root / "generated" / "cocogen", {"train": 24, "val": 8, "test": 8})
    return root


def test_train_full_notebook_runs_on_the_reference(small_cocogen, tmp_path):
    out = tmp_path / "weights.pt"
    env = {**BASE_ENV, "COURSE_IMPL": "reference", "COURSE_DATA_DIR": str(small_cocogen),
           "TRAIN_FULL_STEPS": "3", "TRAIN_FULL_BATCH_SIZE": "4", "TRAIN_FULL_EVAL_EVERY": "2",
           "TRAIN_FULL_MAX_VAL_IMAGES": "8", "TRAIN_FULL_OUT": str(out)}
    nb, seconds = execute(TRAIN_FULL, env)
    text = _outputs_text(nb)
    assert "val mAP@0.5" in text and "after reloading" in text, text[-2000:]
    state = torch.load(out, weights_only=True)
    assert any(k.startswith("backbone.encoder.") for k in state) and any(k.startswith("head.") for k in state)
    assert _images(nb) >= 3 and not plotting_cells_without_images(nb)
    print(f"train_full.ipynb on the reference: {seconds:.1f} s")


def test_train_full_notebook_stops_at_the_first_stub(small_cocogen, tmp_path):
    env = {**BASE_ENV, "COURSE_IMPL": "student", "COURSE_DATA_DIR": str(small_cocogen),
           "TRAIN_FULL_STEPS": "1", "TRAIN_FULL_OUT": str(tmp_path / "weights.pt")}
    with pytest.raises(CellExecutionError) as info:
        execute(TRAIN_FULL, env)
    message = str(info.value)
    # building the network constructs the encoder first
    assert "HeadlessResnet34" in message and "NotImplementedError" in message, message[-2000:]
    assert not (tmp_path / "weights.pt").exists()


def _variants():
    spec = importlib.util.spec_from_file_location("_centernet_notebook_variants",
                                                  Path(__file__).with_name("variants.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def softmax_packages(tmp_path_factory):
    """A folder holding ``softmax_submission.centernet``: the reference with a softmax over the classes."""
    variants = _variants()
    root = tmp_path_factory.mktemp("pkgs")
    (root / "softmax_submission").mkdir()
    (root / "softmax_submission" / "__init__.py").write_text("")
    softmax = next(v for v in variants.WRONG if v.name == "head_softmax")
    variants.apply(softmax, ROOT / "reference" / "centernet", root / "softmax_submission" / "centernet")
    return root


def test_notebook_checks_are_the_public_checks(softmax_packages, monkeypatch):
    """``public_checks("CenterNetHead")`` fails a softmax head with the public verdict's message."""
    from grader.public_tests import PublicCheckFailed, notebook_checks

    monkeypatch.syspath_prepend(str(softmax_packages))
    try:
        with pytest.raises(PublicCheckFailed) as info:
            notebook_checks("centernet", "softmax_submission")("CenterNetHead")
        assert "head.independent_classes" in str(info.value) and "sum to 1" in str(info.value)
        notebook_checks("centernet", "softmax_submission")("UpscaleTwiceLayer")  # the rest is the reference's
    finally:
        for name in [n for n in sys.modules if n.split(".")[0] == "softmax_submission"]:
            del sys.modules[name]


def test_checks_notebook_head_cell_rejects_a_softmax_head(softmax_packages, tmp_path):
    """The notebook, run up to its head cell on a softmax head, stops in that cell (it passed before)."""
    nb = nbformat.read(CHECKS, as_version=4)
    head = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code" and "cn.CenterNetHead(" in c.source)
    nb.cells = nb.cells[:head + 1]
    trimmed = tmp_path / "up_to_the_head.ipynb"
    nbformat.write(nb, trimmed)
    pythonpath = os.pathsep.join([str(softmax_packages), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env = {**BASE_ENV, "COURSE_IMPL": "softmax_submission", "PYTHONPATH": pythonpath}
    with pytest.raises(CellExecutionError) as info:
        execute(trimmed, env)
    message = str(info.value)
    assert "cn.CenterNetHead(" in message and "sum to 1" in message, message[-2000:]
