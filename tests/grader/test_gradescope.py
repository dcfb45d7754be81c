"""The Gradescope autograder zip (`grader gradescope-autograder`, docs/GRADESCOPE.md).

The zip is built once from this checkout (both assignments, the detection seed given at build
time), unpacked into a temporary root laid out like Gradescope's (source/, submission/,
results/), `setup.sh` runs against the local package cache (`PIP_NO_INDEX=1`, into a virtual
environment that sees this interpreter's packages through a .pth file, so nothing is
downloaded and torch is not reinstalled), then `run_autograder` grades the reference, the stubs
(uploaded as student.zip), a broken submission (an import error), a submission that tries to
read the secrets, and an upload without a package; every results.json is validated against
Gradescope's documented fields. `--only UpscaleTwiceLayer` (via $AUTOGRADER_GRADER_ARGS) keeps
each grading run to one worker start (about 5 s).
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from grader import gradescope as gs

from grader_testkit import ROOT_DIR

SEED = "5150811"  # tests/detection/support.py TEST_SEED: public, test-only, not the generator's default
ENV = {**os.environ, "NO_ALBUMENTATIONS_UPDATE": "1", "YOLO_OFFLINE": "1", "YOLO_CONFIG_DIR": "/tmp/yolo"}
ONLY = "--only UpscaleTwiceLayer"
UPSCALE_POINTS = 2.0


def _build(out: Path, *args: str, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "grader", "gradescope-autograder", str(out), *args],
                          cwd=ROOT_DIR, env=env or ENV, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def layout(tmp_path_factory):
    """(root, venv, zip path): the zip unpacked into root/source and set up."""
    tmp = tmp_path_factory.mktemp("gradescope")
    zpath = tmp / "autograder.zip"
    env = {**ENV, "DETECTION_TEST_SEED": SEED}
    env.pop("DETECTION_TEST_SEED_FILE", None)
    env.pop("COCOGEN_TEST_SEED", None)
    built = _build(zpath, "--assignment", "centernet,detection", env=env)
    assert built.returncode == 0, built.stderr
    root = tmp / "autograder"
    for d in ("source", "submission", "results"):
        (root / d).mkdir(parents=True)
    with zipfile.ZipFile(zpath) as zf:
        zf.extractall(root / "source")
        for info in zf.infolist():  # extractall drops the modes; Gradescope keeps them
            mode = (info.external_attr >> 16) & 0o777
            if mode:
                os.chmod(root / "source" / info.filename, mode)
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    site = Path(sysconfig.get_path("purelib", vars={"base": str(venv)}))
    (site / "course-kit-packages.pth").write_text(sysconfig.get_path("purelib") + "\n")
    setup_env = {**ENV, "AUTOGRADER_ROOT": str(root), "AUTOGRADER_VENV": str(venv), "AUTOGRADER_TORCH_INDEX_URL": "",
                 "PIP_NO_INDEX": "1"}
    for name in ("DETECTION_TEST_SEED", "DETECTION_TEST_SEED_FILE", "COCOGEN_TEST_SEED"):
        setup_env.pop(name, None)  # the seed comes from the zip
    done = subprocess.run(["bash", str(root / "source" / "setup.sh")], env=setup_env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "hidden test annotations of the detection challenge generated" in done.stdout
    return root, venv, zpath


def _grade(layout, make_submission) -> tuple[dict, subprocess.CompletedProcess]:
    root, venv, _ = layout
    sub = root / "submission"
    shutil.rmtree(sub)
    sub.mkdir()
    make_submission(sub)
    # Gradescope copies run_autograder to /autograder/run_autograder and runs it from /autograder.
    shutil.copy2(root / "source" / "run_autograder", root / "run_autograder")
    env = {**ENV, "AUTOGRADER_ROOT": str(root), "AUTOGRADER_VENV": str(venv), gs.EXTRA_ARGS_ENV: ONLY}
    for name in ("DETECTION_TEST_SEED", "DETECTION_TEST_SEED_FILE"):
        env.pop(name, None)
    done = subprocess.run([str(root / "run_autograder")], cwd=root, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    results = json.loads((root / "results" / "results.json").read_text())
    assert gs.results_problems(results) == [], results
    return results, done


def _package(dst: Path, src: Path = ROOT_DIR / "reference") -> Path:
    dst.mkdir(parents=True, exist_ok=True)
    shutil.copy2(src / "__init__.py", dst / "__init__.py")
    for pkg in ("centernet", "detection"):
        shutil.copytree(src / pkg, dst / pkg, ignore=shutil.ignore_patterns("__pycache__", "weights.pt"))
    return dst


# ----------------------------------------------------------------------------------------------
# The zip
# ----------------------------------------------------------------------------------------------

def test_zip_layout_is_gradescopes_and_holds_no_student_bundle_or_hidden_annotations(layout):
    _, _, zpath = layout
    with zipfile.ZipFile(zpath) as zf:
        infos = {i.filename: i for i in zf.infolist()}
    names = set(infos)
    for script in ("setup.sh", "run_autograder"):  # at the root, executable (the spec)
        assert script in names
        assert (infos[script].external_attr >> 16) & stat.S_IXUSR
    assert (infos[gs.SECRETS_FILE].external_attr >> 16) & 0o077 == 0  # the seed file: owner only
    for needed in ("course/grader/assignments/detection/verdicts/__init__.py", "course/reference/centernet/head.py",
                   "course/student/centernet/train.py", "course/data/detection/make_dataset.py",
                   "course/data/tinycoco/annotations.json", "requirements.txt", gs.CONFIG):
        assert needed in names, needed
    for name in names:
        parts = name.split("/")
        assert parts[1:2] not in (["tests"], ["notebooks"], ["benchmarks"]), name  # no student bundle, no tests
        # the one hidden-folder file allowed: the record of the image names students received
        # (written by `grader release`), never annotations
        record = f"course/{Path(gs.DETECTION_DATA).as_posix()}/hidden/released/test_images.json"
        assert not (name.endswith(".json") and "hidden" in parts) or name == record, name
        assert "weights.pt" not in parts, name
    reqs = zipfile.ZipFile(zpath).read("requirements.txt").decode()
    assert "torch==2.14.1" in reqs.splitlines() and "torchvision==0.29.1" in reqs.splitlines()


def test_seed_travels_in_the_secrets_file_only(layout):
    root, _, zpath = layout
    assert (root / "source" / gs.SECRETS_FILE).read_text() == f"DETECTION_TEST_SEED={SEED}\n"
    config = json.loads((root / "source" / gs.CONFIG).read_text())
    assert config["secrets"] == ["DETECTION_TEST_SEED"] and SEED not in json.dumps(config)
    with zipfile.ZipFile(zpath) as zf:
        holders = [n for n in zf.namelist() if SEED.encode() in zf.read(n)]
    # the seed also appears in the project's own test-only support files, never shipped
    assert holders == [gs.SECRETS_FILE]
    # setup.sh locked down the secrets and the hidden annotations it generated
    assert stat.S_IMODE((root / "source" / "secrets").stat().st_mode) == 0o700
    hidden = root / "source" / "course" / "data" / "generated" / "detection" / "hidden"
    assert stat.S_IMODE(hidden.stat().st_mode) == 0o700 and (hidden / "test.json").is_file()


def test_build_refuses_without_the_seed_and_with_the_public_default(tmp_path):
    env = {k: v for k, v in ENV.items() if not k.startswith("DETECTION_TEST_SEED")}
    out = _build(tmp_path / "a.zip", "--assignment", "detection", env=env)
    assert out.returncode == 2 and out.stderr.startswith("grader: error: no DETECTION_TEST_SEED")
    assert len(out.stderr.strip().splitlines()) == 1 and not (tmp_path / "a.zip").exists()
    sys.path.insert(0, str(ROOT_DIR / "data" / "detection"))
    try:
        import make_dataset
    finally:
        sys.path.pop(0)
    out = _build(tmp_path / "b.zip", "--assignment", "detection",
                 env={**env, "DETECTION_TEST_SEED": str(make_dataset.DEFAULT_TEST_SEED)})
    assert out.returncode == 2 and "public default" in out.stderr and not (tmp_path / "b.zip").exists()
    out = _build(tmp_path / "c.zip", "--assignment", "detection", "--seed-from-env", env=env)
    assert out.returncode == 0, out.stderr
    assert gs.SECRETS_FILE not in zipfile.ZipFile(tmp_path / "c.zip").namelist()


@pytest.mark.parametrize("args, message", [
    (["--assignment", "nope"], "unknown assignment 'nope'"),
    ([], "--assignment NAME is required"),
    (["--assignment", "centernet", "--bogus"], "unrecognized arguments: --bogus"),
])
def test_bad_build_invocations_are_one_line(tmp_path, args, message):
    out = _build(tmp_path / "x.zip", *args)
    assert out.returncode == 2 and out.stderr.startswith("grader: error: ") and message in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1 and "Traceback" not in out.stderr


# ----------------------------------------------------------------------------------------------
# Grading in the simulated layout
# ----------------------------------------------------------------------------------------------

def test_reference_gets_full_marks(layout):
    results, done = _grade(layout, lambda sub: _package(sub / "student"))
    assert results["score"] == UPSCALE_POINTS
    assert results["tests"] and all(t["status"] == "passed" for t in results["tests"])
    assert sum(t["max_score"] for t in results["tests"]) == UPSCALE_POINTS
    assert {t["visibility"] for t in results["tests"]} <= {"visible", "after_due_date"}
    assert "--submitted-at" not in done.stdout  # no submission_metadata.json here


def test_stubs_uploaded_as_a_zip_score_zero(layout):
    root = layout[0]

    def make(sub):
        with zipfile.ZipFile(sub / "student.zip", "w") as zf:
            for path in sorted((ROOT_DIR / "student").rglob("*")):
                if path.is_file() and "__pycache__" not in path.parts:
                    zf.write(path, "student/" + path.relative_to(ROOT_DIR / "student").as_posix())
        (root / "submission_metadata.json").write_text(json.dumps({"created_at": "2026-11-20T10:00:00.5-08:00"}))

    try:
        results, done = _grade(layout, make)
    finally:
        (root / "submission_metadata.json").unlink()
    assert results["score"] == 0 and results["tests"]
    assert all(t["status"] == "failed" and t["score"] == 0 for t in results["tests"])
    assert all("not implemented" in t["output"].lower() or "not attempted" in t["output"].lower()
               for t in results["tests"]), [t["output"] for t in results["tests"]]
    assert "student.zip" in done.stdout and "--submitted-at 2026-11-20T10:00:00.500000-08:00" in done.stdout


def test_broken_submission_is_graded_zero_with_the_import_error(layout):
    def make(sub):
        pkg = _package(sub / "student")
        backbone = pkg / "centernet" / "backbone.py"  # __init__.py is given code: the course's copy replaces it
        backbone.write_text(backbone.read_text() + "\nimport a_module_that_does_not_exist\n")

    results, _ = _grade(layout, make)
    assert results["score"] == 0 and results["tests"]
    assert all(t["status"] == "failed" for t in results["tests"])
    assert all("a_module_that_does_not_exist" in t["output"] for t in results["tests"]), results["tests"]


def test_student_code_cannot_read_the_secrets(layout):
    root = layout[0]
    secret_files = [root / "source" / gs.SECRETS_FILE,
                    root / "source" / "course" / "data" / "generated" / "detection" / "hidden" / "test.json",
                    root / "source" / "course" / "reference" / "centernet" / "head.py"]

    def make(sub):
        pkg = _package(sub / "student", ROOT_DIR / "student")
        backbone = pkg / "centernet" / "backbone.py"
        backbone.write_text(
            "import os\nseen = []\n"
            f"for p in {[str(p) for p in secret_files]!r}:\n"
            "    try:\n        seen.append(open(p).read()[:200])\n"
            "    except OSError as e:\n        seen.append(type(e).__name__)\n"
            "raise RuntimeError('SNOOP ' + repr(seen) + ' ENV ' + repr(os.environ.get('DETECTION_TEST_SEED')))\n")

    results, _ = _grade(layout, make)
    text = json.dumps(results)
    assert "SNOOP" in text  # the probe ran and reported
    assert SEED not in text and "ENV None" in text
    assert "class CenterNetHead" not in text and "seed_fingerprint" not in text


def test_upload_without_a_package_gets_a_results_file_saying_why(layout):
    results, done = _grade(layout, lambda sub: (sub / "notes.txt").write_text("hello"))
    assert results["score"] == 0 and results["tests"] == []
    assert results["output"].startswith("Not graded: ") and "no student package found" in results["output"]
    assert "grader exit status 2" in done.stdout


# ----------------------------------------------------------------------------------------------
# The validator itself
# ----------------------------------------------------------------------------------------------

GOOD = {"score": 3.0, "execution_time": 4, "output": "x", "output_format": "text", "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": [{"name": "a", "score": 1.0, "max_score": 2.0, "status": "failed", "output": "o",
                   "visibility": "after_due_date"}]}


@pytest.mark.parametrize("mutate, problem", [
    (lambda d: d.update(score="3"), "score is not a number"),
    (lambda d: d.update(output_format="markdown"), "output_format 'markdown'"),
    (lambda d: d.update(visibility="public"), "visibility 'public'"),
    (lambda d: d["tests"][0].update(status="error"), "status 'error'"),
    (lambda d: d["tests"][0].update(visibility="public"), "tests[0].visibility"),
    (lambda d: d["tests"][0].update(score=3.0), "outside 0..max_score"),
    (lambda d: d["tests"][0].update(output=["o"]), "tests[0].output is not a string"),
    (lambda d: (d.pop("score"), d["tests"][0].pop("score")), "no top-level score"),
    (lambda d: d.update(tests={}), "tests is not a list"),
])
def test_results_validator_catches_each_departure_from_the_spec(mutate, problem):
    assert gs.results_problems(json.loads(json.dumps(GOOD))) == []
    data = json.loads(json.dumps(GOOD))
    mutate(data)
    assert any(problem in p for p in gs.results_problems(data)), gs.results_problems(data)
