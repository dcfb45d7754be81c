"""Build the student bundle: what students receive, and nothing the instructor keeps.

``grader release OUT [--zip] [--skip-data]`` writes OUT/ (and OUT.zip) with:

- ``student/``: the generated stubs (refused when stale: run ``grader generate`` first);
- ``tests/public/``, ``notebooks/``, ``data/tinycoco/``, ``README.md`` (the student README), ``pyproject.toml``;
- ``grader/``: the grader itself, so ``grader run --public-only`` and the public tests work, with every
  rubric reduced to its public checks and, in every assignment module, the hidden checks, their
  probes, verdicts, input builders and constants removed (``public_sources``);
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
from pathlib import Path, PurePosixPath

from . import generate
from .core import assignment as assignment_mod
from .core import course as course_mod



def _root() -> Path:
    """The course directory the bundle is built from (``grader.core.course``)."""
    return course_mod.current().root

COPY_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", ".ipynb_checkpoints")
# Generated data sets: (generator script, folder under data/generated/).
DATA_SETS = tuple((d["generator"], d["folder"]) for d in generate.rubric_entries("data_sets"))  # the rubrics' data_sets
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
    """The rubric with the hidden checks' tables removed (line-based, comments kept).

    The comment and blank lines right above a table header belong to that header (they describe
    what follows), so removing a hidden check's table never removes the comments of the next one."""
    data = tomllib.loads(text)
    hidden = {chk["id"] for comp in data.get("components", []) for chk in comp.get("checks", [])
              if chk.get("visibility", "hidden") != "public"}
    out: list[str] = []
    block: list[str] = []
    block_hidden, header = False, ""

    def flush():
        if not block_hidden:
            out.extend(block)

    for line in text.splitlines(keepends=True):
        stripped = line.strip()
        if stripped.startswith("["):
            lead = len(block)  # the trailing run of comment and blank lines moves to the new header
            while lead > 0 and (not block[lead - 1].strip() or block[lead - 1].lstrip().startswith("#")):
                lead -= 1
            block, carried = block[:lead], block[lead:]
            flush()
            block, block_hidden, header = carried + [line], False, stripped
            continue
        block.append(line)
        if stripped.split("=", 1)[0].strip() == "id":
            try:
                value = tomllib.loads(stripped).get("id")
            except tomllib.TOMLDecodeError:
                value = None
            if value in hidden and header == "[[components.checks]]":
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
            drop.update(_node_lines(node))
    return "".join(line for i, line in enumerate(lines) if i not in drop)


def _node_lines(node: ast.stmt) -> range:
    decorators = getattr(node, "decorator_list", [])
    start = min([node.lineno] + [d.lineno for d in decorators])
    return range(start - 1, _end(node))


def _end(node: ast.stmt | ast.expr) -> int:
    """The last line of a parsed node (1-based; ``ast.parse`` always sets it)."""
    return node.end_lineno if node.end_lineno is not None else node.lineno


def _defined_name(node: ast.stmt) -> str | None:
    """The one name a top-level def, class or plain ``NAME = ...`` binds (None for other statements)."""
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return node.name
    if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
        return node.targets[0].id
    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
        return node.target.id
    return None


def _referenced(nodes) -> set[str]:
    """Names a list of statements uses: ``name`` and ``module.name`` both count as ``name``."""
    used: set[str] = set()
    for node in nodes:
        for sub in ast.walk(node):
            if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Load):
                used.add(sub.id)
            elif isinstance(sub, ast.Attribute):
                used.add(sub.attr)
    return used


def _call_with_id(node: ast.AST, names: tuple[str, ...]) -> str | None:
    """The check id of a call ``NAME("<id>", ...)`` or ``obj.NAME("<id>", ...)`` with NAME in
    ``names`` (None for any other node)."""
    if not isinstance(node, ast.Call) or getattr(node.func, "id", getattr(node.func, "attr", None)) not in names:
        return None
    first = node.args[0] if node.args else None
    return first.value if isinstance(first, ast.Constant) and isinstance(first.value, str) else None


def _is_hidden_check(node: ast.expr, hidden: set[str]) -> bool:
    """``Check("<hidden id>", ...)`` in a list literal."""
    return _call_with_id(node, ("Check",)) in hidden


def _registered_id(node: ast.stmt) -> str | None:
    """The check id a top-level statement registers with ``Checks``: a function decorated with
    ``@CHECKS.verdict("<id>", ...)`` or a statement ``CHECKS.register("<id>", ...)``."""
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        ids = [_call_with_id(d, ("verdict",)) for d in node.decorator_list]
        return next((i for i in ids if i is not None), None)
    if isinstance(node, ast.Expr):
        return _call_with_id(node.value, ("register",))
    return None


def public_sources(sources: dict[str, str], hidden_checks: set[str], roots: set[str]) -> dict[str, str]:
    """The modules of an assignment (``{file name: source}``: checks.py, probes.py and the modules
    they load) without the hidden checks and without every top-level definition only they need.

    1. ``Check("<hidden id>", ...)`` entries leave the list literals they sit in, and verdicts
       registered for a hidden id (``@CHECKS.verdict("<id>", ...)``, ``CHECKS.register("<id>", ...)``)
       leave their module; a verdict registered for a public id is kept;
    2. then, until nothing changes, a top-level def, class or ``NAME = ...`` goes when no other kept
       statement of any of the modules uses its name (``P.name`` counts: the modules load each
       other by path) and it is not one of ``roots`` (the public probes, ``CHECKS``).
    So no hidden verdict, hidden probe, hidden input builder or constant only they use ships."""
    trees = {name: ast.parse(text) for name, text in sources.items()}
    drop: dict[str, set[int]] = {name: set() for name in sources}
    for name, tree in trees.items():
        lines = sources[name].splitlines(keepends=True)
        for node in ast.walk(tree):
            if isinstance(node, ast.List):
                for elt in node.elts:
                    if _is_hidden_check(elt, hidden_checks):
                        span = set(range(elt.lineno - 1, _end(elt)))
                        # whole lines only: a Check call that shares a line with a kept one stays
                        if all(lines[i].strip() and _only_this(elt, node, i) for i in span):
                            drop[name].update(span)
                            node.elts = [e for e in node.elts if e is not elt]
    kept = {name: list(tree.body) for name, tree in trees.items()}
    registered_roots = set()  # public verdicts registered with Checks: kept though nothing names them
    for name in kept:
        for node in list(kept[name]):
            check_id = _registered_id(node)
            if check_id in hidden_checks:
                kept[name].remove(node)
                drop[name].update(_node_lines(node))
            elif check_id is not None and isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                registered_roots.add(node.name)
    roots = roots | registered_roots
    changed = True
    while changed:
        changed = False
        for name in kept:
            for node in list(kept[name]):
                defined = _defined_name(node)
                if defined is None or defined in roots or defined.startswith("__"):
                    continue
                others = [n for mod in kept.values() for n in mod if n is not node]
                if defined not in _referenced(others):
                    kept[name].remove(node)
                    drop[name].update(_node_lines(node))
                    changed = True
    removed = {name: {n for n in map(_defined_name, tree.body) if n is not None}
               - {_defined_name(k) for k in kept[name]} for name, tree in trees.items()}
    out = {}
    for name, text in sources.items():
        lines = text.splitlines(keepends=True)
        replaced = _without_removed_names(name, kept[name], removed)  # {first line: new text}
        for node in kept[name]:
            if _node_lines(node).start in replaced:
                drop[name].update(_node_lines(node))
        out[name] = "".join(replaced.get(i, line) for i, line in enumerate(lines)
                            if i not in drop[name] or i in replaced)
    return out


def _imported_from(module: str, node: ast.stmt, removed: dict[str, set[str]]) -> set[str]:
    """The names removed from the file that ``from .x import ...`` in file ``module`` reads (``x.py``
    or ``x/__init__.py`` beside it; an empty set for any other statement)."""
    if not isinstance(node, ast.ImportFrom) or not node.level or not node.module:
        return set()
    folder = PurePosixPath(module).parent
    for _ in range(node.level - 1):
        folder = folder.parent
    base = folder.joinpath(*node.module.split("."))
    return removed.get(f"{base}.py", set()) | removed.get(f"{base}/__init__.py", set())


def _without_removed_names(module: str, nodes: list[ast.stmt], removed: dict[str, set[str]]) -> dict[int, str]:
    """Rewrite the kept statements of ``module`` that name a definition the release removed: a
    relative ``from .x import a, b`` (the package's modules import each other) loses the names
    removed from ``x``, an ``__all__`` list loses the names removed here or from where this module
    imports them; a statement left with nothing is removed. Returns the new text by the
    statement's first line (0-based); the caller drops the statement's other lines."""
    out: dict[int, str] = {}
    gone = set(removed.get(module, ()))
    for node in nodes:
        source = _imported_from(module, node, removed)
        if not source:
            continue
        assert isinstance(node, ast.ImportFrom)
        gone |= {a.asname or a.name for a in node.names if a.name in source}
        names = [a for a in node.names if a.name not in source]
        if len(names) != len(node.names):
            new = ast.ImportFrom(module=node.module, names=names, level=node.level)
            out[_node_lines(node).start] = ast.unparse(new) + "\n" if names else ""
    for node in nodes:
        if (_defined_name(node) == "__all__" and isinstance(node, ast.Assign)
                and isinstance(node.value, (ast.List, ast.Tuple))):
            elts = [e for e in node.value.elts if not (isinstance(e, ast.Constant) and e.value in gone)]
            if len(elts) != len(node.value.elts):
                out[_node_lines(node).start] = f"__all__ = {ast.unparse(ast.List(elts=elts))}\n"
    return out


def _only_this(elt: ast.expr, parent: ast.List, line: int) -> bool:
    """No other element of ``parent`` has code on ``line`` (0-based)."""
    return not any(e is not elt and e.lineno - 1 <= line <= _end(e) - 1 for e in parent.elts)


def _public_assignment(src: Path, dst: Path) -> None:
    """Copy one assignment directory with its hidden checks, hidden probes and every definition only
    they use removed from its Python modules (``public_sources``)."""
    loaded = assignment_mod.load(src)
    public_probes, hidden_checks = set(), set()
    for comp, rc in loaded.rubric.all_checks():
        if rc.visibility == "public":
            public_probes.add(loaded.check(rc.id).probe)
        else:
            hidden_checks.add(rc.id)
    _copy(src, dst)
    (dst / "rubric.toml").write_text(public_rubric_text((src / "rubric.toml").read_text()))
    modules = {p.relative_to(dst).as_posix(): p.read_text() for p in sorted(dst.rglob("*.py"))}
    for name, text in public_sources(modules, hidden_checks, public_probes | {"CHECKS", "RUBRIC_SETTINGS"}).items():
        (dst / name).write_text(text)
    assignment_mod.load(dst)  # the reduced assignment must still load


def keep_released_split(target: Path, name: str, root: Path | None = None) -> Path | None:
    """Before the bundle's ``hidden/`` folder of data set ``name`` is removed, keep it with the
    grader as ``data/generated/<name>/hidden/released/`` (with the bundle's ``test_images.json``):
    the annotations of exactly the images students received, which the grader checks against its
    secret seed. Returns the folder, or None when the set has no hidden part."""
    hidden = target / "hidden"
    if not hidden.is_dir():
        return None
    kept = (root or _root()) / "data" / "generated" / name / "hidden" / "released"
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
    root = _root()
    for rel in ("student", "tests/public", "notebooks", "data/tinycoco", "pyproject.toml"):
        _copy(root / rel, out / rel)
    _copy(root / "docs" / "STUDENT_README.md", out / "README.md")
    grader_dst = out / "grader"
    shutil.copytree(course_mod.GRADER_PACKAGE, grader_dst,
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "assignments"))
    for name in assignment_mod.available():
        _public_assignment(assignment_mod.ASSIGNMENTS_DIR / name, grader_dst / "assignments" / name)
    if with_data:
        for script, name in DATA_SETS:
            if not (root / script).is_file():
                continue
            target = out / "data" / "generated" / name
            subprocess.run([sys.executable, str(root / script), "--out", str(target)], check=True,
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
        print(f"grader: error: release: {exc}", file=sys.stderr)
        return 2
    if args.zip:
        shutil.make_archive(str(out), "zip", root_dir=out)
    print(f"student bundle written to {out}" + (f" and {out}.zip" if args.zip else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
