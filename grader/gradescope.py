"""The Gradescope autograder package: ``grader gradescope-autograder OUT.zip --assignment NAME``.

Gradescope's autograder specification (cited in ``docs/GRADESCOPE.md``): the zip holds ``setup.sh``
and ``run_autograder`` at its root; Gradescope unpacks it into ``/autograder/source``, runs
``setup.sh`` once as root when it builds the image, copies ``run_autograder`` to
``/autograder/run_autograder`` and runs it for each submission (working directory ``/autograder``),
with the student's files in ``/autograder/submission``; the results go to
``/autograder/results/results.json``.

The zip::

    setup.sh            installs Python packages into a virtual environment, generates the hidden data
    run_autograder      grades /autograder/submission with `grader run --gradescope`
    autograder.json     what was built: assignments, grader version and commit, which secrets
    requirements.txt    the pinned dependencies (torch==2.14.1, torchvision==0.29.1, ...)
    secrets/env         the course's secret seeds (NAME=integer), when given at build time
    course/             the grader's checkout subset: grader/ (the chosen assignments only, hidden
                        checks included), reference/ (the solution packages), student/ (the course's
                        given files), data/ (TinyCoco, the generators), pyproject.toml

Never in the zip: a student bundle, the project's tests, benchmarks, generated data sets, hidden
annotations (setup.sh generates them from the seed). The zip is instructor material: upload it to
Gradescope only.

Both scripts take the root from ``$AUTOGRADER_ROOT`` (default ``/autograder``) and the virtual
environment from ``$AUTOGRADER_VENV`` (default ``$AUTOGRADER_ROOT/venv``), so a test can run them in
a temporary folder; pip's own variables (``PIP_NO_INDEX``, ``PIP_FIND_LINKS``) select a local package
cache. The module's other entry points run inside those scripts (they are in
``grader.gradescope_autograder``; Gradescope's results.json specification is in
``grader.gradescope_results``)::

    python -m grader.gradescope prepare   (setup.sh: hidden data, permissions)
    python -m grader.gradescope run       (run_autograder: pick the submission, grade, results.json)
"""

from __future__ import annotations

import argparse
import datetime as _dt
import importlib.metadata
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import tomllib
import zipfile
from pathlib import Path
from typing import Optional

# Gradescope's results.json specification (grader.gradescope_results), here too
from .gradescope_results import OUTPUT_FORMATS as OUTPUT_FORMATS, TEST_STATUSES as TEST_STATUSES
from .gradescope_results import VISIBILITIES
from .gradescope_results import fallback_results as fallback_results, results_problems as results_problems


def _root() -> Path:
    """The course directory the autograder is built from (``grader.core.course``)."""
    from .core import course as course_mod

    return course_mod.current().root

COURSE = "course"
CONFIG = "autograder.json"
SECRETS_FILE = "secrets/env"
COPY_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", ".ipynb_checkpoints", ".pytest_cache")
# Files a reference folder may hold that are outputs, not code; weights.pt is about 85 MB and only
# serves `grader run --reference` for the centernet bonus.
LEFT_OUT_OF_REFERENCE = {"weights.pt"}
# The secret seeds each assignment's hidden material comes from: (variable, required). The
# detection challenge is not graded without its seed; the centernet bonus' CocoGen test split is
# generated only when its seed is given.
SECRETS = {"detection": (("DETECTION_TEST_SEED", True),), "centernet": (("COCOGEN_TEST_SEED", False),)}
DETECTION_DATA = Path("data") / "generated" / "detection"
EXTRA_ARGS_ENV = "AUTOGRADER_GRADER_ARGS"  # extra `grader run` arguments (tests: --only ...)
SCRIPT_MODE = 0o755


class BuildError(RuntimeError):
    """The autograder zip cannot be built; one line."""


# ----------------------------------------------------------------------------------------------
# Build
# ----------------------------------------------------------------------------------------------

def _git_commit(root: Path) -> str:
    try:
        out = subprocess.run(["git", "-C", str(root), "describe", "--always", "--dirty", "--abbrev=12"],
                             capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return ""
    return out.stdout.strip() if out.returncode == 0 else ""


def requirements_text(pyproject: Path) -> str:
    """``requirements.txt`` from ``[project].dependencies``: pins kept as written (torch==2.14.1,
    torchvision==0.29.1, ...); an unpinned one is pinned to the version installed where the zip is
    built (the one the instructor tested), or left as written when it is not installed here."""
    deps = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["dependencies"]
    lines = ["# The grader's dependencies, written by `grader gradescope-autograder` from pyproject.toml;",
             "# unpinned ones are pinned to the versions of the machine that built this zip."]
    for dep in deps:
        match = re.match(r"[A-Za-z0-9._-]+", dep)
        if match is None:
            raise BuildError(f"{pyproject}: not a dependency: {dep!r}")
        name = match.group(0)
        if re.search(r"[=<>!~]", dep):
            lines.append(dep)
            continue
        try:
            lines.append(f"{name}=={importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            lines.append(dep)
    return "\n".join(lines) + "\n"


def _secret_values(names: list[tuple[str, bool]], seed_from_env: bool) -> dict[str, str]:
    """The secret seeds to ship (``names``: ``(NAME, required)``): from the environment (``NAME`` or
    the file ``NAME_FILE``) of the instructor building the zip. A required one that is missing is an
    error unless ``seed_from_env`` (the grading environment will set it)."""
    values: dict[str, str] = {}
    for name, required in names:
        text = os.environ.get(name, "").strip()
        source = name
        if not text and os.environ.get(f"{name}_FILE", "").strip():
            source = os.environ[f"{name}_FILE"].strip()
            try:
                text = (Path(source).read_text(encoding="utf-8").split() or [""])[0]
            except OSError as exc:
                raise BuildError(f"cannot read the seed file {source} ({name}_FILE): {exc.strerror}") from None
        if not text:
            if required and not seed_from_env:
                raise BuildError(f"no {name}: set {name} or {name}_FILE to the course's secret seed (the one the "
                                 f"student bundle was built with), or pass --seed-from-env when the grading "
                                 f"environment sets it")
            continue
        if not re.fullmatch(r"-?[0-9]+", text):
            raise BuildError(f"the seed in {source} must be an integer")
        values[name] = text
    return values


def _check_detection_seed(seed: str) -> None:
    """Refuse the public default and a seed that is not the released bundle's (when the record of
    the release, with its seed fingerprint, is here)."""
    import importlib.util

    generator = _root() / "data" / "detection" / "make_dataset.py"
    spec = importlib.util.spec_from_file_location("_gs_make_dataset", generator)
    if spec is None or spec.loader is None:
        raise BuildError(f"cannot import the detection data generator {generator}")
    mk = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mk
    spec.loader.exec_module(mk)
    if int(seed) == mk.DEFAULT_TEST_SEED:
        raise BuildError("DETECTION_TEST_SEED is the generator's public default: build the bundle and the "
                         "autograder with a private seed")
    kept = _root() / DETECTION_DATA / "hidden" / "released" / "test.json"
    if kept.is_file():
        try:
            made = json.loads(kept.read_text(encoding="utf-8")).get("info", {}).get("seed_fingerprint")
        except (OSError, ValueError):
            made = None
        if made and made != mk.seed_fingerprint(int(seed)):
            raise BuildError(f"DETECTION_TEST_SEED is not the seed the student bundle was built with "
                             f"({kept.relative_to(_root())} records another seed fingerprint)")


def _released_record(assignment) -> Optional[Path]:
    """The students' test split record (test_images.json) the detection grader checks its hidden
    annotations against, as the grader finds it (``checks.released_test_images``)."""
    fn = getattr(assignment.checks_module, "released_test_images", None)
    if fn is None:
        return None
    try:
        _, path = fn()
    except Exception as exc:  # noqa: BLE001 - HiddenDataFault: one line
        raise BuildError(str(exc)) from None
    return Path(path) if path else None


def _copy(src: Path, dst: Path, ignore=COPY_IGNORE) -> None:
    if src.is_dir():
        shutil.copytree(src, dst, ignore=ignore, dirs_exist_ok=True)
    elif src.is_file():
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dst)


def _stage_course(stage: Path, assignments: list, reference_dir: Path) -> list[str]:
    """Copy the course material into ``stage/course``; return notes for the instructor."""
    from . import generate

    notes: list[str] = []
    course = stage / COURSE
    shutil.copytree(Path(__file__).resolve().parent, course / "grader", ignore=shutil.ignore_patterns(
        "__pycache__", "*.pyc", "assignments"))
    for a in assignments:
        _copy(a.directory, course / "grader" / "assignments" / a.name)
    packages = [a.rubric.package for a in assignments]
    _copy(reference_dir / "__init__.py", course / "reference" / "__init__.py")
    for pkg in packages:
        src = reference_dir / pkg
        if not src.is_dir():
            raise BuildError(f"the reference has no package {pkg}/ ({reference_dir})")
        _copy(src, course / "reference" / pkg, ignore=shutil.ignore_patterns(
            "__pycache__", "*.pyc", *LEFT_OUT_OF_REFERENCE))
        if any((src / n).exists() for n in LEFT_OUT_OF_REFERENCE):
            notes.append(f"left out reference/{pkg}/{', '.join(sorted(LEFT_OUT_OF_REFERENCE))} (trained weights: "
                         f"only `grader run --reference` needs them)")
    # The course's given files (replaced into every submission before it is imported).
    _copy(_root() / "student" / "__init__.py", course / "student" / "__init__.py")
    for pkg in packages:
        _copy(_root() / "student" / pkg, course / "student" / pkg,
              ignore=shutil.ignore_patterns("__pycache__", "*.pyc", *generate.SUBMISSION_OUTPUTS))
    generators = [str(Path(script).parent) for a in assignments for script, _ in a.rubric.data_sets]
    for rel in dict.fromkeys(["pyproject.toml", "data/tinycoco", *generators]):  # the rubrics' data_sets
        _copy(_root() / rel, course / rel)
    for a in assignments:
        record = _released_record(a) if a.name == "detection" else None
        if a.name == "detection":
            if record is None:
                notes.append("no record of the released test split (run `grader release` first): the grader "
                             "cannot check that the hidden annotations belong to the students' images")
            else:
                _copy(record, course / DETECTION_DATA / "hidden" / "released" / "test_images.json")
    return notes


SETUP_SH = r"""#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder image (written by
# `grader gradescope-autograder`). Environment (all optional):
#   AUTOGRADER_ROOT            the autograder folder (default /autograder)
#   AUTOGRADER_VENV            the virtual environment to create or reuse (default $AUTOGRADER_ROOT/venv)
#   AUTOGRADER_PYTHON          the Python (3.11 or newer) that creates it (default: the newest python3.x found)
#   AUTOGRADER_TORCH_INDEX_URL extra package index for the CPU build of torch
#                              (default https://download.pytorch.org/whl/cpu; empty: none)
#   PIP_NO_INDEX, PIP_FIND_LINKS, ...  pip's own settings (a local package cache)
#   DETECTION_TEST_SEED, COCOGEN_TEST_SEED  the secret seeds, when they were not given at build time
set -euo pipefail
ROOT="${AUTOGRADER_ROOT:-/autograder}"
SOURCE="$ROOT/source"
VENV="${AUTOGRADER_VENV:-$ROOT/venv}"
TORCH_INDEX="${AUTOGRADER_TORCH_INDEX_URL-https://download.pytorch.org/whl/cpu}"

new_enough() { "$1" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; }
if [ ! -x "$VENV/bin/python" ]; then
    PY="${AUTOGRADER_PYTHON:-}"
    if [ -z "$PY" ]; then
        for candidate in python3.13 python3.12 python3.11 python3; do
            if command -v "$candidate" >/dev/null && new_enough "$candidate"; then PY="$candidate"; break; fi
        done
    fi
    if [ -z "$PY" ]; then
        apt-get install -y python3.11 python3.11-venv
        PY=python3.11
    fi
    "$PY" -m venv "$VENV" || { apt-get install -y "$(basename "$PY")-venv" && "$PY" -m venv "$VENV"; }
fi
new_enough "$VENV/bin/python" || { echo "setup.sh: error: $VENV/bin/python is older than Python 3.11" >&2; exit 1; }
PIP_ARGS=(--disable-pip-version-check)
if [ -n "$TORCH_INDEX" ]; then PIP_ARGS+=(--extra-index-url "$TORCH_INDEX"); fi
"$VENV/bin/python" -m pip install "${PIP_ARGS[@]}" -r "$SOURCE/requirements.txt"
cd "$SOURCE/__COURSE__"
exec "$VENV/bin/python" -m grader.gradescope prepare --root "$ROOT"
"""

RUN_AUTOGRADER = r"""#!/usr/bin/env bash
# Gradescope runs this for each submission (written by `grader gradescope-autograder`): grades
# $AUTOGRADER_ROOT/submission (default /autograder/submission) and writes results/results.json.
# $AUTOGRADER_GRADER_ARGS: extra `grader run` arguments (e.g. --only COMPONENT), for tests.
set -uo pipefail
ROOT="${AUTOGRADER_ROOT:-/autograder}"
VENV="${AUTOGRADER_VENV:-$ROOT/venv}"
cd "$ROOT/source/__COURSE__" || exit 1
exec "$VENV/bin/python" -m grader.gradescope run --root "$ROOT"
"""


def build(out: Path, assignment_names: list[str], *, reference_dir: Optional[Path] = None,
          seed_from_env: bool = False, hidden_visibility: str = "after_due_date") -> tuple[Path, list[str]]:
    """Write the autograder zip to ``out`` (must not exist); return it and notes for the instructor."""
    from . import generate
    from .core import assignment as assignment_mod

    if out.exists():
        raise BuildError(f"{out} already exists; choose a new file name")
    if out.suffix.lower() != ".zip":
        raise BuildError(f"{out}: the autograder must be a .zip file")
    if not assignment_names:
        raise BuildError("--assignment NAME is required (e.g. --assignment centernet)")
    problems = generate.stale_files()
    if problems:
        raise BuildError(f"student/ is stale ({problems[0]}); run `grader generate` first")
    assignments, seen = [], set()
    for name in assignment_names:
        a = assignment_mod.load(name)
        if a.name not in seen:
            seen.add(a.name)
            assignments.append(a)
    reference_dir = Path(reference_dir) if reference_dir else _root() / "reference"
    if not reference_dir.is_dir():
        raise BuildError(f"the reference solution is not available ({reference_dir} is missing)")
    wanted = [s for a in assignments for s in SECRETS.get(a.name, ())]
    secrets = _secret_values(wanted, seed_from_env)
    if "DETECTION_TEST_SEED" in secrets:
        _check_detection_seed(secrets["DETECTION_TEST_SEED"])
    with tempfile.TemporaryDirectory(prefix="grader-gradescope-") as tmp:
        stage = Path(tmp)
        notes = _stage_course(stage, assignments, reference_dir)
        from . import __version__

        config = {"format": 1, "assignments": [a.name for a in assignments],
                  "packages": [a.rubric.package for a in assignments], "hidden_visibility": hidden_visibility,
                  "grader_version": __version__, "commit": _git_commit(_root()),
                  "built_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                  "secrets": sorted(secrets), "secrets_from_environment": sorted(
                      n for n, _ in wanted if n not in secrets)}
        files: dict[str, tuple[bytes, int]] = {
            "setup.sh": (SETUP_SH.replace("__COURSE__", COURSE).encode(), SCRIPT_MODE),
            "run_autograder": (RUN_AUTOGRADER.replace("__COURSE__", COURSE).encode(), SCRIPT_MODE),
            CONFIG: ((json.dumps(config, indent=2) + "\n").encode(), 0o644),
            "requirements.txt": (requirements_text(_root() / "pyproject.toml").encode(), 0o644),
        }
        if secrets:
            files[SECRETS_FILE] = ("".join(f"{k}={v}\n" for k, v in sorted(secrets.items())).encode(), 0o600)
        record = (DETECTION_DATA / "hidden" / "released" / "test_images.json").as_posix()
        leaks = [p for p in (stage / COURSE).rglob("*")
                 if p.is_file() and "hidden" in p.relative_to(stage / COURSE).parts
                 and p.relative_to(stage / COURSE).as_posix() != record]
        if leaks:
            raise BuildError(f"refusing to build: {leaks[0].relative_to(stage)} is hidden data "
                             f"(setup.sh generates it from the seed)")
        out.parent.mkdir(parents=True, exist_ok=True)
        partial = out.with_name(f".{out.name}.{os.getpid()}.tmp")
        try:
            with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as zf:
                for name, (data, mode) in files.items():
                    info = zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0))
                    info.external_attr = (stat.S_IFREG | mode) << 16
                    info.compress_type = zipfile.ZIP_DEFLATED
                    zf.writestr(info, data)
                for path in sorted((stage / COURSE).rglob("*")):
                    if path.is_file():
                        zf.write(path, path.relative_to(stage).as_posix())
            os.replace(partial, out)
        finally:
            partial.unlink(missing_ok=True)
    return out, notes


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (``grader: error: ...``), no usage dump."""

    def error(self, message: str):
        raise BuildError(message)


def main(argv: Optional[list[str]] = None) -> int:
    parser = _Parser(prog="grader gradescope-autograder",
                                     description="Build the Gradescope autograder zip (docs/GRADESCOPE.md).")
    parser.add_argument("out", type=Path, metavar="OUT.zip", help="the zip to write (must not exist)")
    parser.add_argument("--assignment", action="append", default=[], metavar="NAME",
                        help="assignment to grade (repeatable or comma list)")
    parser.add_argument("--reference-dir", type=Path, metavar="DIR", help="the reference package (default reference/)")
    parser.add_argument("--seed-from-env", action="store_true",
                        help="ship no secret seed: the grading environment sets DETECTION_TEST_SEED")
    parser.add_argument("--gradescope-hidden", default="after_due_date", choices=VISIBILITIES[:3],
                        help="Gradescope visibility of hidden checks (default after_due_date)")
    try:
        args = parser.parse_args(argv)
        names = [n.strip() for item in args.assignment for n in item.split(",") if n.strip()]
        out, notes = build(args.out, names, reference_dir=args.reference_dir, seed_from_env=args.seed_from_env,
                           hidden_visibility=args.gradescope_hidden)
    except Exception as exc:  # noqa: BLE001 - BuildError, RubricError, OSError: one line
        text = str(exc) if isinstance(exc, (BuildError, OSError)) or type(exc).__name__ == "RubricError" \
            else f"{type(exc).__name__}: {exc}"
        print(f"grader: error: {' '.join(text.split())}", file=sys.stderr)
        return 2
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    print(f"Gradescope autograder written to {out}: upload it as the assignment's autograder "
          f"(instructor material: it holds the reference and the secret seeds)")
    return 0


# ----------------------------------------------------------------------------------------------
# Inside the autograder: prepare (setup.sh) and run (run_autograder), in grader.gradescope_autograder;
# their names are here too (loaded when first asked for: that module imports this one)
# ----------------------------------------------------------------------------------------------

_AUTOGRADER_NAMES = ("load_config", "load_secrets", "prepare", "submitted_at", "pick_submission", "run",
                     "_source_dir", "_lock_down", "_inner_main")


def __getattr__(name: str):
    if name in _AUTOGRADER_NAMES:
        from . import gradescope_autograder

        return getattr(gradescope_autograder, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


if __name__ == "__main__":
    from .gradescope_autograder import _inner_main

    sys.exit(_inner_main())
