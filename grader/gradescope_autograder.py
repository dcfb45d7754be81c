"""Inside the Gradescope autograder (``grader.gradescope`` builds it): ``prepare``, the last step
of ``setup.sh`` (hidden data, permissions), and ``run``, what ``run_autograder`` does for each
submission (pick it, grade it with `grader run --gradescope`, make sure a results.json exists).

Both scripts run ``python -m grader.gradescope prepare|run``, which calls ``_inner_main`` here.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Optional

from .gradescope import CONFIG, COURSE, EXTRA_ARGS_ENV, SECRETS_FILE, BuildError
from .gradescope_results import fallback_results, results_problems


def _source_dir(root: Path) -> Path:
    return root / "source"


def load_config(root: Path) -> dict:
    path = _source_dir(root) / CONFIG
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BuildError(f"cannot read {path}: {exc}") from None


def load_secrets(root: Path, environ=None) -> list[str]:
    """Put the shipped seeds (``secrets/env``) into ``environ`` (this process only: the grader's
    worker gets an environment built from scratch); a variable already set there wins. Returns
    the names set."""
    environ = os.environ if environ is None else environ
    path = _source_dir(root) / SECRETS_FILE
    if not path.is_file():
        return []
    names = []
    for line in path.read_text(encoding="utf-8").splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip() and not environ.get(key.strip()):
            environ[key.strip()] = value.strip()
            names.append(key.strip())
    return names


def _lock_down(root: Path) -> None:
    """Owner-only permissions on the secrets and the hidden data (the grader's worker runs as
    another user when it cannot build its own file system view)."""
    secrets = _source_dir(root) / "secrets"
    targets = [secrets] + [p for p in (_source_dir(root) / COURSE / "data").rglob("hidden") if p.is_dir()]
    for top in targets:
        if not top.exists():
            continue
        for dirpath, _, filenames in os.walk(top):
            os.chmod(dirpath, 0o700)
            for f in filenames:
                os.chmod(os.path.join(dirpath, f), 0o600)


def prepare(root: Path) -> int:
    """setup.sh's last step: generate the hidden data from the secret seeds and check them against
    the released test split; lock the secrets down."""
    config = load_config(root)
    load_secrets(root)
    course = _source_dir(root) / COURSE
    status = 0
    if "detection" in config["assignments"]:
        if not os.environ.get("DETECTION_TEST_SEED") and not os.environ.get("DETECTION_TEST_SEED_FILE"):
            print("setup: no DETECTION_TEST_SEED yet: the hidden test annotations will be generated at the first "
                  "grading (the grading environment must set it)")
        else:
            from .core import assignment as assignment_mod

            checks = assignment_mod.load("detection").checks_module
            if checks is None:
                raise BuildError("the detection assignment has no verdicts module (hidden_test_annotations)")
            try:
                coco = checks.hidden_test_annotations()
                print(f"setup: hidden test annotations of the detection challenge generated "
                      f"({len(coco.get('images', []))} images)")
            except checks.HiddenDataFault as exc:
                print(f"setup: error: {exc}", file=sys.stderr)
                status = 1
    if "centernet" in config["assignments"] and os.environ.get("COCOGEN_TEST_SEED"):
        out = subprocess.run([sys.executable, str(course / "data" / "cocogen" / "make_dataset.py")],
                             cwd=course, stdout=subprocess.DEVNULL)
        if out.returncode:
            print("setup: error: generating CocoGen (the centernet bonus' test split) failed", file=sys.stderr)
            status = 1
        else:
            print("setup: CocoGen generated with the course's test seed (centernet bonus)")
    _lock_down(root)
    return status


def submitted_at(root: Path) -> Optional[str]:
    """The submission time from Gradescope's ``submission_metadata.json`` (``created_at``), as an
    ISO date-time with a zone, or None."""
    path = root / "submission_metadata.json"
    try:
        text = json.loads(path.read_text(encoding="utf-8")).get("created_at")
        t = _dt.datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except (OSError, ValueError, TypeError, AttributeError):
        return None
    return t.isoformat() if t.tzinfo else None


def pick_submission(folder: Path, packages: list[str]) -> Path:
    """What to grade in Gradescope's submission folder: the folder itself when it holds the
    package (``student/``, the package's contents, one wrapping folder), else its only archive
    (``student.zip`` uploaded as is), else the folder (the grader then says what is missing)."""
    from .core.submission import SubmissionError, find_package, is_archive

    try:
        find_package(folder, tuple(packages))
        return folder
    except (SubmissionError, OSError):
        pass
    try:
        archives = [p for p in folder.iterdir() if p.is_file() and is_archive(p)]
    except OSError:
        return folder
    return archives[0] if len(archives) == 1 else folder



def run(root: Path) -> int:
    """run_autograder: grade the submission with `grader run --gradescope`; make sure a
    results.json exists (a submission that cannot be graded gets one that says why)."""
    config = load_config(root)
    load_secrets(root)
    results = root / "results" / "results.json"
    results.parent.mkdir(parents=True, exist_ok=True)
    results.unlink(missing_ok=True)
    target = pick_submission(root / "submission", config.get("packages", []))
    report_dir = Path(tempfile.mkdtemp(prefix="grader-report-"))
    cmd = [sys.executable, "-m", "grader", "run", str(target), "--assignment", ",".join(config["assignments"]),
           "--gradescope", str(results), "--gradescope-hidden", config.get("hidden_visibility", "after_due_date"),
           "--report-dir", str(report_dir)]
    when = submitted_at(root)
    if when:
        cmd += ["--submitted-at", when]
    cmd += shlex.split(os.environ.get(EXTRA_ARGS_ENV, ""))
    print("run_autograder:", " ".join(shlex.quote(c) for c in cmd), flush=True)
    proc = subprocess.run(cmd, cwd=_source_dir(root) / COURSE, stderr=subprocess.PIPE, text=True, errors="replace")
    sys.stderr.write(proc.stderr)
    print(f"run_autograder: grader exit status {proc.returncode}", flush=True)
    shutil.rmtree(report_dir, ignore_errors=True)
    if not results.is_file():
        lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("grader: error: ")]
        message = (lines[-1][len("grader: error: "):] if lines else
                   "the autograder failed before grading (your instructor has been shown why and will re-run it)")
        results.write_text(json.dumps(fallback_results(message), indent=2) + "\n", encoding="utf-8")
    try:
        problems = results_problems(json.loads(results.read_text(encoding="utf-8")))
    except (OSError, ValueError) as exc:
        problems = [f"unreadable: {exc}"]
    for p in problems:
        print(f"run_autograder: results.json: {p}", flush=True)
    return 0



def _inner_main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grader.gradescope")
    parser.add_argument("step", choices=("prepare", "run"))
    parser.add_argument("--root", type=Path, default=Path(os.environ.get("AUTOGRADER_ROOT") or "/autograder"))
    args = parser.parse_args(argv)
    try:
        return prepare(args.root) if args.step == "prepare" else run(args.root)
    except BuildError as exc:
        print(f"{args.step}: error: {exc}", file=sys.stderr)
        return 1

