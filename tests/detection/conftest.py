"""The detection tests grade the mAP challenge against a TEST-ONLY secret seed.

The grader refuses the generator's public default seed (issue 9.4), so every test here runs with
``DETECTION_TEST_SEED = TEST_SEED`` (public, like everything in the project's tests: it stands for
the grading machine's private seed and must never be used for a real class). The hidden
annotations and the "released" test-images record are written to a temporary folder (never to
the checkout's ``data/generated``, whose images may come from another seed).
``reference/detection/predictions_test.json`` holds the reference's predictions on these images.
"""

from __future__ import annotations

import json
import os

import pytest

from grader.core import engine

from .support import TEST_SEED, load_assignment, make_dataset_module

ENV = ("DETECTION_TEST_SEED", "DETECTION_TEST_SEED_FILE", "DETECTION_HIDDEN_TEST", "DETECTION_RELEASED_TEST_IMAGES")


@pytest.fixture(scope="session", autouse=True)
def detection_test_seed(tmp_path_factory):
    saved = {k: os.environ.get(k) for k in ENV}
    folder = tmp_path_factory.mktemp("detection-hidden")
    mk = make_dataset_module()
    test = mk.hidden_test_annotations(test_seed=TEST_SEED)
    (folder / "test.json").write_text(json.dumps(test))
    (folder / "test_images.json").write_text(json.dumps(mk.public_test_images(test)))
    os.environ.pop("DETECTION_TEST_SEED_FILE", None)
    os.environ.update({"DETECTION_TEST_SEED": str(TEST_SEED), "DETECTION_HIDDEN_TEST": str(folder / "test.json"),
                       "DETECTION_RELEASED_TEST_IMAGES": str(folder / "test_images.json")})
    yield folder
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture(scope="module")
def assignment():
    """The detection assignment (rubric, checks, probes), loaded once per test module."""
    return load_assignment()


@pytest.fixture(scope="module")
def reference():
    """The reference, in this process, cached like the CLI's (once per test module)."""
    return engine.CachedExecutor(engine.InProcessExecutor("reference"))
