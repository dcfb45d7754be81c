"""Build the student bundle: what students receive, and nothing the instructor keeps.

``grader release OUT [--zip] [--skip-data]`` writes OUT/ (and OUT.zip) with:

- ``student/``: the generated stubs (refused when stale: run ``grader generate`` first);
- ``tests/public/``, ``notebooks/``, ``data/tinycoco/``, ``README.md`` (the student README), ``pyproject.toml``;
- ``grader/``: the grader itself, so ``grader run --public-only`` and the public tests work, with every
  rubric reduced to its public checks and the hidden probes removed from ``probes.py``;
- ``data/generated/<set>/``: the larger generated data sets, produced by their generators directly into
  the bundle, minus their ``hidden/`` folders (the held-out test annotations). The generators
  themselves stay with the instructor: they hold the test split's seed.

Never in the bundle: ``reference/``, the project's own tests, benchmarks, hidden annotations.
"""

from __future__ import annotations

import argparse
import ast
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

from . import generate
from .core import assignment as assignment_mod

ROOT = Path(__file__).resolve().parent.parent
COPY_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", ".ipynb_checkpoints")
# Generated data sets: (generator script, folder under data/generated/).
DATA_SETS = (("data/detection/make_dataset.py", "detection"), ("data/cocogen/make_dataset.py", "cocogen"))
FORBIDDEN = ("reference", "hidden")


class ReleaseError(RuntimeError):
    """The bundle cannot be built; one line."""


def _copy(src: Path, dst: Path) -> None:
    if src.is_dir():
        shutil.copytree(src, dst, ignore=COPY_IGNORE, dirs_exist_ok=True)
    elif src.is_file():
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dst)


def public_rubric_text(text: str) -> str:
    """The rubric with the hidden checks' tables removed (line-based, comments kept)."""
    data = tomllib.loads(text)
    hidden = {chk["id"] for comp in data.get("components", []) for chk in comp.get("checks", [])
              if chk.get("visibility", "hidden") != "public"}
    out, block, block_hidden = [], [], False

    def flush():
        if not block_hidden:
            out.extend(block)

    for line in text.splitlines(keepends=True):
        stripped = line.strip()
        if stripped.startswith("["):
            flush()
            block, block_hidden = [line], False
            continue
        block.append(line)
        if stripped.split("=", 1)[0].strip() == "id":
            try:
                value = tomllib.loads(stripped).get("id")
            except tomllib.TOMLDecodeError:
                value = None
            if value in hidden and any(b.strip() == "[[components.checks]]" for b in block[:1]):
                block_hidden = True
    flush()
    header = "# Student bundle: the public checks only; the hidden checks stay with the instructor.\nreleased = true\n"
    return header + "".join(out)


def strip_probes(source: str, remove: set[str]) -> str:
    """Remove the top-level functions named in ``remove`` from a probes module."""
    tree = ast.parse(source)
    lines = source.splitlines(keepends=True)
    drop: set[int] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name in remove:
            start = min([node.lineno] + [d.lineno for d in node.decorator_list])
            drop.update(range(start - 1, node.end_lineno))
    return "".join(line for i, line in enumerate(lines) if i not in drop)


def _public_assignment(src: Path, dst: Path) -> None:
    """Copy one assignment directory with its hidden checks and hidden-only probes removed."""
    loaded = assignment_mod.load(src)
    public_probes, hidden_probes = set(), set()
    for comp, rc in loaded.rubric.all_checks():
        (public_probes if rc.visibility == "public" else hidden_probes).add(loaded.check(rc.id).probe)
    _copy(src, dst)
    (dst / "rubric.toml").write_text(public_rubric_text((src / "rubric.toml").read_text()))
    probes = dst / "probes.py"
    probes.write_text(strip_probes(probes.read_text(), hidden_probes - public_probes))
    assignment_mod.load(dst)  # the reduced assignment must still load


def keep_released_split(target: Path, name: str, root: Path = ROOT) -> Path | None:
    """Before the bundle's ``hidden/`` folder of data set ``name`` is removed, keep it with the
    grader as ``data/generated/<name>/hidden/released/`` (with the bundle's ``test_images.json``):
    the annotations of exactly the images students received, which the grader checks against its
    secret seed. Returns the folder, or None when the set has no hidden part."""
    hidden = target / "hidden"
    if not hidden.is_dir():
        return None
    kept = root / "data" / "generated" / name / "hidden" / "released"
    shutil.rmtree(kept, ignore_errors=True)
    shutil.copytree(hidden, kept)
    if (target / "test_images.json").is_file():
        shutil.copy2(target / "test_images.json", kept / "test_images.json")
    return kept


def build(out: Path, *, with_data: bool = True) -> Path:
    """Write the bundle to ``out`` (must not exist); return it."""
    if out.exists():
        raise ReleaseError(f"{out} already exists; choose a new folder")
    problems = generate.stale_files()
    if problems:
        raise ReleaseError(f"student/ is stale ({problems[0]}); run `grader generate` first")
    out.mkdir(parents=True)
    for rel in ("student", "tests/public", "notebooks", "data/tinycoco", "pyproject.toml"):
        _copy(ROOT / rel, out / rel)
    _copy(ROOT / "docs" / "STUDENT_README.md", out / "README.md")
    grader_dst = out / "grader"
    shutil.copytree(ROOT / "grader", grader_dst, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "assignments"))
    for name in assignment_mod.available():
        _public_assignment(assignment_mod.ASSIGNMENTS_DIR / name, grader_dst / "assignments" / name)
    if with_data:
        for script, name in DATA_SETS:
            if not (ROOT / script).is_file():
                continue
            target = out / "data" / "generated" / name
            subprocess.run([sys.executable, str(ROOT / script), "--out", str(target)], check=True,
                           stdout=subprocess.DEVNULL)
            keep_released_split(target, name)
            shutil.rmtree(target / "hidden", ignore_errors=True)
    leaks = [p for p in out.rglob("*") if p.name in FORBIDDEN]
    if leaks:
        raise ReleaseError(f"refusing to release: {leaks[0].relative_to(out)} is instructor material")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="grader release", description="build the student bundle")
    parser.add_argument("out", type=Path, help="new folder for the bundle")
    parser.add_argument("--zip", action="store_true", help="also write OUT.zip")
    parser.add_argument("--skip-data", action="store_true", help="leave out the generated data sets")
    args = parser.parse_args(argv)
    try:
        out = build(args.out, with_data=not args.skip_data)
    except (ReleaseError, subprocess.CalledProcessError) as exc:
        print(f"grader release: {exc}", file=sys.stderr)
        return 2
    if args.zip:
        shutil.make_archive(str(out), "zip", root_dir=out)
    print(f"student bundle written to {out}" + (f" and {out}.zip" if args.zip else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
