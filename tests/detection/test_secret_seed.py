"""The test split's seed is a secret of the grading machine (issue 9.4).

- the grader refuses to grade the challenge without a seed or with the generator's public default:
  both mAP checks are ``grader_error`` (not graded, never the student's 0);
- the hidden annotations record the seed's fingerprint; a stale file (made with another seed, e.g.
  the public one on a first run) is replaced, never used (the ``DETECTION_TEST_SEED=424242 grader
  release`` story of the issue);
- annotations of other images than the released ones stop grading with one line;
- the generator is hidden from the worker; the bundle's record carries no seed fingerprint.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from grader import release
from grader.core import engine, sandbox

from .support import MAP_COMPONENTS, REFERENCE_PREDICTIONS, ROOT, TEST_SEED, by_component, \
    make_dataset_module, package_copy


@pytest.fixture(scope="module")
def checks(assignment):
    return assignment.checks_module


def _grade_map(assignment, tmp_path):
    executor, _ = package_copy(tmp_path, predictions=REFERENCE_PREDICTIONS)
    reference = engine.InProcessExecutor("reference")
    return by_component(engine.grade(assignment, executor, reference, only=list(MAP_COMPONENTS)))


@pytest.mark.parametrize("seed", [None, "public"])
def test_challenge_not_graded_without_a_private_seed(assignment, tmp_path, monkeypatch, seed):
    mk = make_dataset_module()
    monkeypatch.delenv("DETECTION_TEST_SEED", raising=False)
    monkeypatch.delenv("DETECTION_TEST_SEED_FILE", raising=False)
    if seed == "public":
        monkeypatch.setenv("DETECTION_TEST_SEED", str(mk.DEFAULT_TEST_SEED))
    results = _grade_map(assignment, tmp_path)
    for name in MAP_COMPONENTS:
        (check,) = results[name].checks
        assert check.status == "grader_error" and check.score == 0, (check.status, check.message)
        assert "grader fault, not your code" in check.message and "\n" not in check.message
        assert "DETECTION_TEST_SEED" in check.message
        assert ("public default" in check.message) == (seed == "public")


def test_seed_from_a_file_outside_the_repository(tmp_path, monkeypatch):
    mk = make_dataset_module()
    (tmp_path / "seed").write_text(f"{TEST_SEED}\n")
    env = {"DETECTION_TEST_SEED_FILE": str(tmp_path / "seed")}
    assert mk.secret_test_seed(env) == TEST_SEED
    assert mk.secret_test_seed({}) is None
    with pytest.raises(mk.SeedError):
        mk.secret_test_seed({"DETECTION_TEST_SEED": "not a number"})
    with pytest.raises(mk.SeedError):
        mk.secret_test_seed({"DETECTION_TEST_SEED_FILE": str(tmp_path / "missing")})


def test_private_seed_replaces_a_stale_public_seed_file(checks, tmp_path, monkeypatch):
    """The issue's story: the grader's first run made hidden/test.json with the public seed; then
    ``DETECTION_TEST_SEED=424242 grader release`` built the bundle with the private one. The
    grader must now score against the bundle's images, not keep the stale file."""
    mk = make_dataset_module()
    small = ["--train", "0", "--val", "0", "--test", "5"]
    grader_data = tmp_path / "grader-data"
    monkeypatch.delenv("DETECTION_TEST_SEED", raising=False)
    mk.main(["--out", str(grader_data), *small])  # public seed: the stale file
    stale = json.loads((grader_data / "hidden" / "test.json").read_text())
    assert stale["info"]["public_seed"] is True
    monkeypatch.setenv("DETECTION_TEST_SEED", "424242")
    mk.main(["--out", str(tmp_path / "bundle"), *small])  # what `grader release` does
    bundle_hidden = json.loads((tmp_path / "bundle" / "hidden" / "test.json").read_text())
    public = json.loads((tmp_path / "bundle" / "test_images.json").read_text())
    assert "seed_fingerprint" not in public["info"] and "seed" not in public["info"]  # nothing to brute-force
    assert public["info"]["images_fingerprint"] == bundle_hidden["info"]["images_fingerprint"]
    assert bundle_hidden["info"]["images_fingerprint"] != stale["info"]["images_fingerprint"]

    monkeypatch.setattr(checks.challenge_data, "_detection_dir", lambda: grader_data)
    monkeypatch.delenv("DETECTION_HIDDEN_TEST")
    monkeypatch.setenv("DETECTION_RELEASED_TEST_IMAGES", str(tmp_path / "bundle" / "test_images.json"))
    got = checks.hidden_test_annotations()
    assert got["annotations"] == bundle_hidden["annotations"]
    assert got["info"]["seed_fingerprint"] == mk.seed_fingerprint(424242)
    rewritten = json.loads((grader_data / "hidden" / "test.json").read_text())
    assert rewritten["info"]["seed_fingerprint"] == mk.seed_fingerprint(424242)  # the stale file is gone

    # grading with another seed than the bundle's: one line, never a score
    monkeypatch.setenv("DETECTION_TEST_SEED", "424243")
    with pytest.raises(checks.HiddenDataFault) as info:
        checks.hidden_test_annotations()
    assert "do not belong to the students' test images" in str(info.value) and "\n" not in str(info.value)

    # an explicit DETECTION_HIDDEN_TEST made with another seed is refused, not overwritten
    monkeypatch.setenv("DETECTION_HIDDEN_TEST", str(tmp_path / "bundle" / "hidden" / "test.json"))
    with pytest.raises(checks.HiddenDataFault, match="another test seed"):
        checks.hidden_test_annotations()


def test_release_keeps_the_bundles_split_with_the_grader(checks, tmp_path, monkeypatch):
    mk = make_dataset_module()
    monkeypatch.setenv("DETECTION_TEST_SEED", "424242")
    target = tmp_path / "bundle" / "data" / "generated" / "detection"
    mk.main(["--out", str(target), "--train", "0", "--val", "0", "--test", "4"])
    kept = release.keep_released_split(target, "detection", root=tmp_path / "checkout")
    assert (kept / "test.json").read_text() == (target / "hidden" / "test.json").read_text()
    assert (kept / "test_images.json").read_text() == (target / "test_images.json").read_text()
    # the grader uses exactly these annotations (no regeneration needed)
    data = tmp_path / "checkout" / "data" / "generated" / "detection"
    assert kept == data / "hidden" / "released"
    monkeypatch.setattr(checks.challenge_data, "_detection_dir", lambda: data)
    monkeypatch.delenv("DETECTION_HIDDEN_TEST")
    monkeypatch.delenv("DETECTION_RELEASED_TEST_IMAGES")
    got = checks.hidden_test_annotations()
    assert got == json.loads((kept / "test.json").read_text())
    assert not (data / "hidden" / "test.json").exists()


def test_generator_is_hidden_from_the_worker():
    hidden = sandbox.hidden_data_dirs(ROOT / "data")
    assert any(Path(d) == ROOT / "data" / "detection" for d in hidden), hidden
    assert str(ROOT / "grader") in sandbox.default_secrets()
