"""Generate the student package from the reference (docs/DESIGN.md principle 1).

Solution regions in ``reference/`` are marked with ``# BEGIN SOLUTION`` / ``# END SOLUTION`` lines.
A region inside a function body becomes ``raise NotImplementedError(...)``; a region at module or
class level is removed. Everything else is copied verbatim.

Usage: ``python -m grader.generate [--check]`` (``grader generate``).
"""

from __future__ import annotations

import argparse
import ast
import shutil
import sys
from pathlib import Path

BEGIN = "# BEGIN SOLUTION"
END = "# END SOLUTION"
SKIP_NAMES = {"__pycache__"}


def rubric_entries(key: str) -> list:
    """The values of the top-level ``key`` of every assignment's rubric (read as TOML: nothing of
    the assignments is imported), in assignment order."""
    import tomllib

    out = []
    for rubric in sorted((Path(__file__).resolve().parent / "assignments").glob("*/rubric.toml")):
        out.extend(tomllib.loads(rubric.read_text(encoding="utf-8")).get(key, []))
    return out


# Files a submission adds on purpose (the rubrics' ``outputs``: trained weights, test-set
# predictions): never copied from the reference into the stubs, never "extra" in a stale check, left
# out of the tests' copies of the reference.
SUBMISSION_OUTPUTS = frozenset(rubric_entries("outputs"))
STUDENT_HEADER = (
    "# This file is generated from the course's solution, with the solution parts taken out.\n"
    "# Fill in the parts that raise NotImplementedError; keep the given code (everything else) as it is.\n"
)


class MarkerError(ValueError):
    """A malformed solution region."""


def _enclosing_functions(tree: ast.AST) -> list[tuple[int, int, str]]:
    """(def line, last line, qualname) of every function, innermost last when sorted by start."""
    out: list[tuple[int, int, str]] = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                q = f"{prefix}{child.name}"
                out.append((child.lineno, child.end_lineno or child.lineno, q))
                visit(child, q + ".")
            elif isinstance(child, ast.ClassDef):
                visit(child, f"{prefix}{child.name}.")
            else:
                visit(child, prefix)

    visit(tree, "")
    return out


def strip_solutions(source: str, filename: str = "<reference>") -> str:
    """Return the stub text of one reference module."""
    if BEGIN not in source and END not in source:
        return source
    tree = ast.parse(source, filename)
    functions = _enclosing_functions(tree)
    lines = source.splitlines(keepends=True)
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        if stripped.startswith(END):
            raise MarkerError(f"{filename}:{i + 1}: '{END}' without '{BEGIN}'")
        if not stripped.startswith(BEGIN):
            out.append(line)
            i += 1
            continue
        indent = line[: len(line) - len(line.lstrip())]
        start = i
        j = i + 1
        while j < len(lines) and not lines[j].strip().startswith(END):
            if lines[j].strip().startswith(BEGIN):
                raise MarkerError(f"{filename}:{j + 1}: nested '{BEGIN}'")
            j += 1
        if j == len(lines):
            raise MarkerError(f"{filename}:{start + 1}: '{BEGIN}' without '{END}'")
        lineno = start + 1
        inside = [f for f in functions if f[0] < lineno <= f[1]]
        if inside:
            qualname = max(inside, key=lambda f: f[0])[2]
            out.append(f'{indent}raise NotImplementedError("{qualname} is not implemented yet")\n')
        i = j + 1
    text = "".join(out)
    ast.parse(text, filename)  # the stub must stay valid Python
    return text


def generate(reference: Path, student: Path) -> dict[str, str]:
    """Map of relative path -> stub text for every file under ``reference``."""
    files: dict[str, str] = {}
    for path in sorted(reference.rglob("*")):
        if any(part in SKIP_NAMES for part in path.parts) or path.is_dir() or path.name in SUBMISSION_OUTPUTS:
            continue
        rel = path.relative_to(reference).as_posix()
        if path.suffix == ".py":
            text = path.read_text(encoding="utf-8")
            stub = strip_solutions(text, str(path))
            if stub != text:
                stub = STUDENT_HEADER + stub
            files[rel] = stub
        else:
            files[rel] = path.read_bytes().decode("latin-1")
    return files


def _course_paths(reference: Path | None, student: Path | None) -> tuple[Path, Path]:
    """``reference/`` and ``student/`` of the course directory (``grader.core.course``) unless given."""
    from .core import course as course_mod

    course = course_mod.current()
    return (reference or course.root / "reference"), (student or course.student)


def stale_files(reference: Path | None = None, student: Path | None = None) -> list[str]:
    """Files whose generated text differs from ``student/`` (missing, changed or extra)."""
    reference, student = _course_paths(reference, student)
    wanted = generate(reference, student)
    problems = []
    for rel, text in wanted.items():
        target = student / rel
        if not target.exists():
            problems.append(f"missing {rel}")
        elif target.read_bytes().decode("latin-1" if not rel.endswith(".py") else "utf-8") != text:
            problems.append(f"stale {rel}")
    for path in student.rglob("*"):
        if path.is_file() and not any(p in SKIP_NAMES for p in path.parts):
            rel = path.relative_to(student).as_posix()
            if rel not in wanted and path.name not in SUBMISSION_OUTPUTS:
                problems.append(f"extra {rel}")
    return problems


def write(reference: Path | None = None, student: Path | None = None) -> list[str]:
    """Regenerate ``student/`` from ``reference/``; return the written paths."""
    reference, student = _course_paths(reference, student)
    files = generate(reference, student)
    if student.exists():
        shutil.rmtree(student)
    for rel, text in files.items():
        target = student / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if rel.endswith(".py"):
            target.write_text(text, encoding="utf-8")
        else:
            target.write_bytes(text.encode("latin-1"))
    return sorted(files)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="grader generate", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report whether student/ is stale")
    args = parser.parse_args(argv)
    try:
        if args.check:
            problems = stale_files()
            for p in problems:
                print(p)
            print("student/ is up to date" if not problems else "student/ is stale: run `grader generate`")
            return 1 if problems else 0
        written = write()
    except (MarkerError, OSError) as exc:  # student/ is left as it was: generate() runs before any write
        print(f"grader: error: generate: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {len(written)} files under student/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
