"""The mAP challenge's hidden data (parent only): the test split's annotations for the grading
machine's secret seed, checked against the test images students received."""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path


def _course_data() -> Path:
    """The course's data folder (``grader.core.course``: never where the grader is installed)."""
    from grader.core import course as course_mod

    return course_mod.current().data


def _detection_dir() -> Path:
    """``data/generated/detection`` of the course. Its ``hidden/test.json`` holds the test split's
    annotations; ``hidden/released/`` what `grader release` kept of the students' split."""
    return _course_data() / "generated" / "detection"


class HiddenDataFault(Exception):
    """The challenge cannot be graded on this machine (one line; the check becomes ``grader_error``)."""


def _generator():
    """``data/detection/make_dataset.py``, loaded here (the parent: the worker never sees it)."""
    if "_detection_make_dataset" not in sys.modules:
        make_dataset = _course_data() / "detection" / "make_dataset.py"
        if not make_dataset.is_file():
            raise HiddenDataFault(f"{make_dataset} is missing: the grader cannot build the test split's annotations")
        spec = importlib.util.spec_from_file_location("_detection_make_dataset", make_dataset)
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # dataclasses need the module registered
        spec.loader.exec_module(module)
    return sys.modules["_detection_make_dataset"]


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise HiddenDataFault(f"cannot read {path}: {exc}") from None
    if not isinstance(data, dict):
        raise HiddenDataFault(f"{path} is not a COCO file")
    return data


def released_test_images() -> tuple[dict | None, str]:
    """The students' test split record (``test_images.json`` of the bundle, with its images'
    fingerprint): ``$DETECTION_RELEASED_TEST_IMAGES``, else the copy ``grader release`` keeps in
    ``hidden/released/``, else the checkout's own ``data/generated/detection/test_images.json``;
    ``(None, "")`` when there is none."""
    explicit = os.environ.get("DETECTION_RELEASED_TEST_IMAGES", "").strip()
    if explicit:
        if not Path(explicit).is_file():
            raise HiddenDataFault(f"DETECTION_RELEASED_TEST_IMAGES={explicit}: no such file")
        return _read_json(Path(explicit)), explicit
    for path in (_detection_dir() / "hidden" / "released" / "test_images.json", _detection_dir() / "test_images.json"):
        if path.is_file():
            return _read_json(path), str(path)
    return None, ""


_HIDDEN_CACHE: dict[tuple, dict] = {}


def hidden_test_annotations() -> dict:
    """The test split's COCO annotations (grader only), for the grading machine's secret seed.

    The seed: ``$DETECTION_TEST_SEED`` or the file ``$DETECTION_TEST_SEED_FILE`` (parent only);
    unset or the generator's public default: ``HiddenDataFault`` (the challenge is not graded).
    The annotations: ``$DETECTION_HIDDEN_TEST`` (must match the seed), else the first of
    ``hidden/released/test.json`` and ``hidden/test.json`` whose ``seed_fingerprint`` matches; else
    regenerated from the seed (no images written; the released split's size and knobs) into
    ``$DETECTION_HIDDEN_TEST`` or ``hidden/test.json`` (a stale file, e.g. made with the public
    seed, is replaced). Last, the annotations' images fingerprint must equal the released test
    images' (``released_test_images``): annotations of other images stop grading."""
    mk = _generator()
    try:
        seed = mk.secret_test_seed()
    except mk.SeedError as exc:
        raise HiddenDataFault(str(exc)) from None
    if seed is None:
        raise HiddenDataFault("the test split's secret seed is not set on the grading machine: set "
                              "DETECTION_TEST_SEED (or DETECTION_TEST_SEED_FILE) to the seed the student bundle was "
                              "built with; the mAP challenge is not graded without it")
    if seed == mk.DEFAULT_TEST_SEED:
        raise HiddenDataFault("DETECTION_TEST_SEED is the generator's public default, from which anyone can rebuild "
                              "the test annotations: build the bundle with a private seed and grade with it")
    want = mk.seed_fingerprint(seed)
    bundle, bundle_path = released_test_images()
    explicit = os.environ.get("DETECTION_HIDDEN_TEST", "").strip()
    key = (want, explicit, bundle_path, bundle.get("info", {}).get("images_fingerprint") if bundle else None)
    if key in _HIDDEN_CACHE:
        return _HIDDEN_CACHE[key]
    coco = None
    hidden = _detection_dir() / "hidden"
    for path in ([Path(explicit)] if explicit else [hidden / "released" / "test.json", hidden / "test.json"]):
        if not path.is_file():
            continue
        data = _read_json(path)
        if data.get("info", {}).get("seed_fingerprint") == want:
            coco = data
            break
        if explicit:
            raise HiddenDataFault(f"DETECTION_HIDDEN_TEST={explicit} was made with another test seed than "
                                  f"DETECTION_TEST_SEED (seed fingerprints differ)")
    if coco is None:
        count, knobs = 300, mk.Knobs()
        if bundle is not None:
            count = len(bundle.get("images", [])) or count
            try:
                knobs = mk.Knobs(**bundle.get("info", {}).get("knobs", {}))
            except TypeError:
                raise HiddenDataFault(f"{bundle_path}: its knobs are not this generator's") from None
        coco = mk.hidden_test_annotations(knobs, count, test_seed=seed)
        target = Path(explicit) if explicit else hidden / "test.json"
        target.parent.mkdir(parents=True, exist_ok=True)
        partial_file = target.with_name(f".{target.name}.{os.getpid()}.tmp")  # atomic: graders may run at once
        partial_file.write_text(json.dumps(coco))
        os.replace(partial_file, target)
    if bundle is not None:
        released = bundle.get("info", {}).get("images_fingerprint")
        made = coco.get("info", {}).get("images_fingerprint")
        if released != made:
            raise HiddenDataFault(f"the hidden test annotations do not belong to the students' test images "
                                  f"({bundle_path}: images fingerprint {str(released)[:12]}, annotations' "
                                  f"{str(made)[:12]}): "
                                  f"DETECTION_TEST_SEED is not the seed that bundle was built with")
    _HIDDEN_CACHE[key] = coco
    return coco
