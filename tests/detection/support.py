"""Helpers for the detection tests: temporary copies of the reference with edits, grading."""

from __future__ import annotations

import importlib.util
import itertools
import re
import shutil
import sys
from pathlib import Path

from grader.core import assignment as assignment_mod
from grader.core import engine
from grader.generate import SUBMISSION_OUTPUTS

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT / "reference" / "detection"
REFERENCE_PREDICTIONS = REFERENCE / "predictions_test.json"  # committed; never copied into student/
MAP_COMPONENTS = ("mAP challenge", "mAP challenge bonus")
ANSWERS_COMPONENT = "Written answers (text)"
# The test-only stand-in for the grading machine's secret seed (see conftest.py); public, never
# for a real class. reference/detection/predictions_test.json predicts this seed's test images.
TEST_SEED = 5150811
_counter = itertools.count()


def make_dataset_module():
    """``data/detection/make_dataset.py`` as a module (the grader's copy, loaded once)."""
    name = "_detection_make_dataset"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, ROOT / "data" / "detection" / "make_dataset.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses need the module registered
        spec.loader.exec_module(module)
    return sys.modules[name]


def load_assignment():
    return assignment_mod.load("detection")


def replace_region(text: str, qualname: str, body: str) -> str:
    """Replace the first solution region after ``def <last part of qualname>(`` with ``body``."""
    name = qualname.rsplit(".", 1)[-1]
    start = re.search(rf"def {re.escape(name)}\(", text)
    assert start, f"no function {qualname}"
    begin = text.index("# BEGIN SOLUTION", start.end())
    end = text.index("# END SOLUTION", begin)
    line_end = text.index("\n", begin) + 1
    indent_start = text.rfind("\n", 0, end) + 1
    return text[:line_end] + body.strip("\n") + "\n" + text[indent_start:]


def apply_edits(directory: Path, edits) -> None:
    for file, old, new in edits:
        path = directory / file
        text = path.read_text()
        if old.startswith("@@"):
            text = replace_region(text, old[2:], new)
        else:
            count = text.count(old)
            assert count == 1, f"{file}: {old!r} occurs {count} times (expected once)"
            text = text.replace(old, new)
        path.write_text(text)


SAMPLE_ANSWERS = (
    "TAL trained better: validation mAP 0.41 against 0.33 with the fixed IoU threshold; its targets follow "
    "what the network already predicts well.",
    "The FPN helped most (+0.06 mAP): heads are small, and P3 sees them at stride 8.",
    "DIoU instead of the L1 box loss changed nothing measurable: with TAL's soft targets the boxes were "
    "already well aligned.",
)


def filled_answers(answers=SAMPLE_ANSWERS) -> str:
    """The stubs' ANSWERS.md with ``answers`` written under the three questions."""
    text = (REFERENCE / "ANSWERS.md").read_text()
    parts = text.split("*Your answer here.*")
    assert len(parts) == 4, "ANSWERS.md must hold three placeholders"
    return parts[0] + "".join(a + p for a, p in zip(answers, parts[1:]))


def package_copy(tmp_root: Path, edits=(), predictions: Path | None = None, source: Path = REFERENCE,
                 answers: str | None = None):
    """Copy ``source`` to ``tmp_root/<unique>/detection``, apply edits, add a predictions file and
    an ANSWERS.md text; return an executor for it."""
    name = f"detvariant{next(_counter)}"
    target = tmp_root / name / "detection"
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", *SUBMISSION_OUTPUTS))
    apply_edits(target, edits)
    if predictions is not None:
        shutil.copy(predictions, target / "predictions_test.json")
    if answers is not None:
        (target / "ANSWERS.md").write_text(answers)
    return engine.InProcessExecutor(name, path=tmp_root), target


def by_component(results) -> dict:
    return {r.name: r for r in results}
