"""The homework notebook runs end to end against the reference on a tiny budget, with its pictures
and the public checks of each component."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "notebooks" / "detection_homework.ipynb"


def test_notebook_runs_with_the_reference(tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    spec = importlib.util.spec_from_file_location("_make_dataset_nb", ROOT / "data" / "detection" / "make_dataset.py")
    mk = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mk
    spec.loader.exec_module(mk)
    mk.main(["--out", str(tmp_path / "data"), "--train", "16", "--val", "8", "--test", "4"])
    env = {"COURSE_IMPL": "reference", "DETECTION_NOTEBOOK_STEPS": "2", "DETECTION_NOTEBOOK_IMAGE_SIZE": "96",
           "DETECTION_NOTEBOOK_BATCH": "4", "DETECTION_DATA": str(tmp_path / "data"), "NO_ALBUMENTATIONS_UPDATE": "1",
           "DETECTION_NOTEBOOK_THREADS": "1"}
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("MPLBACKEND", raising=False)  # the kernel's own default: what a student sees
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=120, kernel_name="python3",
                                     resources={"metadata": {"path": str(ROOT)}})
    client.execute()
    text = "\n".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert "implementation: reference.detection" in text
    assert "validation mAP@[.5:.95]" in text
    for component in ("Backbone", "Neck", "Head", "TAL", "DIoU"):
        assert f"{component}: the 1 public check(s) pass" in text, component
    spec = importlib.util.spec_from_file_location("_build_notebooks_det", ROOT / "notebooks" / "build_notebooks.py")
    builder = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(builder)
    assert not builder.cells_without_pictures(nb), "cells that draw but show no picture"
    questions = [c for c in nb.cells if c.cell_type == "markdown" and c.source.startswith("## Question")]
    assert len(questions) == 3
