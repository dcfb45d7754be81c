"""The student bundle ships no hidden check: no hidden verdict, probe, input builder or constant
only they use (issue 9, "Also required"), and what it ships still grades the public checks.

The scan is line-based, not only on ``def`` lines: every line of hidden material that is unique in
the assignment's modules (so it cannot be public code too) must be absent from every file of the
bundle. ``test_the_scan_finds_hidden_code_in_an_unstripped_copy`` shows the scan fails when the
hidden code is there.
"""

from __future__ import annotations

import ast
import inspect
import shutil
import textwrap
from collections import Counter
from pathlib import Path

import pytest

from grader import release
from grader.core import assignment as assignment_mod
from grader.core.engine import CachedExecutor, InProcessExecutor, grade

MIN_LINE = 30  # shorter lines (``return out``) say nothing about where they came from


def _source(fn) -> str:
    return inspect.getsource(inspect.unwrap(fn))


def _modules(directory: Path) -> list[Path]:
    """An assignment's Python modules: checks.py and probes.py, or the modules of its packages."""
    return sorted(p for p in directory.rglob("*.py") if "__pycache__" not in p.parts)


def hidden_material(name: str) -> dict[str, str]:
    """``{label: source}`` of an assignment's hidden material: the verdicts of its hidden checks,
    the probes only hidden checks use, and the top-level definitions (functions, constants) that
    these use and no public check's verdict or probe does."""
    a = assignment_mod.load(name)
    probes = a.probes
    public, hidden = {}, {}
    public_probes = {a.check(rc.id).probe for _, rc in a.rubric.all_checks() if rc.visibility == "public"}
    visibility = {rc.id: rc.visibility for _, rc in a.rubric.all_checks()}
    public_code = {inspect.unwrap(a.check(i).verdict).__code__ for i, v in visibility.items() if v == "public"}
    for check_id, vis in visibility.items():
        check = a.check(check_id)
        side = public if vis == "public" else hidden
        if vis == "public" or inspect.unwrap(check.verdict).__code__ not in public_code:  # a shared wrapper is public
            side[f"verdict of {check_id}"] = _source(check.verdict)
        if vis == "public" or check.probe not in public_probes:
            side[f"probe {check.probe}"] = _source(getattr(probes, check.probe))
    # the Check(...) entries and registrations themselves (a verdict made by a factory names its
    # arguments there; a registered verdict's whole definition, which a shared wrapper may hide from
    # ``check.verdict``, belongs to its check's side)
    checks_file = assignment_mod.source(a.directory, "verdicts", "checks.py")
    for path in _modules(checks_file) if checks_file.is_dir() else [checks_file]:
        checks_text = path.read_text()
        tree = ast.parse(checks_text)
        entries = [(release._call_with_id(node, ("Check", "register", "verdict")), node) for node in ast.walk(tree)]
        entries += [(release._registered_id(node), node) for node in tree.body]
        for check_id, node in entries:
            if check_id in visibility:
                side = public if visibility[check_id] == "public" else hidden
                side[f"entry of {check_id} at line {node.lineno}"] = ast.get_source_segment(checks_text, node)

    def used(sources) -> set:
        names = set()
        for text in sources:
            for node in ast.walk(ast.parse(textwrap.dedent(text))):
                if isinstance(node, ast.Name):
                    names.add(node.id)
                elif isinstance(node, ast.Attribute):
                    names.add(node.attr)
        return names

    definitions = {}  # top-level name -> (file name, source), over the assignment's modules
    for path in _modules(a.directory):
        text = path.read_text()
        for node in ast.parse(text).body:
            defined = release._defined_name(node)
            if defined:
                definitions[defined] = (path.relative_to(a.directory).as_posix(),
                                        ast.get_source_segment(text, node, padded=False))

    def closure(sources) -> set:
        names, todo = set(), set(used(sources))
        while todo:
            name = todo.pop()
            if name in names:
                continue
            names.add(name)
            if name in definitions:
                todo |= used([definitions[name][1]]) - names
        return names

    public_names = closure(public.values())
    for defined in sorted(closure(hidden.values()) - public_names):
        if defined in definitions:
            file_name, text = definitions[defined]
            hidden[f"{file_name}: {defined}"] = text
    return hidden


ROOT = Path(__file__).resolve().parents[2]
SHIPPED_ELSEWHERE = ("grader/core", "grader", "student", "notebooks", "tests/public", "docs")


def _lines_outside_assignments() -> set:
    """Lines of the files the bundle ships besides the assignments (idioms such as
    ``spec.loader.exec_module(module)`` are no sign of a leak)."""
    lines = set()
    for rel in SHIPPED_ELSEWHERE:
        base = ROOT / rel
        paths = base.glob("*") if rel == "grader" else base.rglob("*")
        for path in paths:
            if path.is_file() and path.suffix in (".py", ".md", ".ipynb", ".toml") and "assignments" not in path.parts:
                lines |= {line.strip() for line in path.read_text(errors="ignore").splitlines()}
    return lines


def distinctive_lines(name: str) -> dict[str, str]:
    """``{line: label}``: the lines of hidden material that occur once in the assignment's modules
    and nowhere else in what the bundle ships (other assignments' modules included: a line such as
    ``ROOT = Path(__file__)...`` may be hidden in one and public in another)."""
    directory = assignment_mod.load(name).directory
    counts = Counter(line.strip() for path in _modules(directory) for line in path.read_text().splitlines())
    elsewhere = set(_lines_outside_assignments())
    for other in assignment_mod.available():
        if other != name:
            elsewhere |= {line.strip() for path in _modules(assignment_mod.load(other).directory)
                          for line in path.read_text().splitlines()}
    out = {}
    for label, text in hidden_material(name).items():
        for line in text.splitlines():
            line = line.strip()
            if len(line) >= MIN_LINE and counts[line] == 1 and line not in elsewhere and not line.startswith("#"):
                out.setdefault(line, label)  # the first label: a verdict before the definitions it uses
    return out


def leaks(root: Path, name: str) -> list[tuple]:
    """(file, label, line) for each hidden line of assignment ``name`` found in a text file under ``root``."""
    lines = distinctive_lines(name)
    found = []
    for path in root.rglob("*"):
        if not path.is_file() or path.suffix not in (".py", ".toml", ".md", ".txt", ".json", ".ipynb", ".cfg", ""):
            continue
        present = {line.strip() for line in path.read_text(errors="ignore").splitlines()}
        found += [(str(path.relative_to(root)), label, line) for line, label in lines.items() if line in present]
    return found


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    return release.build(tmp_path_factory.mktemp("scan") / "bundle", with_data=False)


@pytest.mark.parametrize("name", assignment_mod.available())
def test_the_bundle_ships_no_hidden_code_or_constant(bundle, name):
    assert distinctive_lines(name), f"{name}: nothing hidden to look for (the scan would prove nothing)"
    found = leaks(bundle, name)
    assert not found, f"{len(found)} hidden line(s) of {name} in the bundle, e.g.\n" + "\n".join(
        f"{f}: {label}: {line[:80]}" for f, label, line in found[:10])


@pytest.mark.parametrize("name", assignment_mod.available())
def test_the_scan_finds_hidden_code_in_an_unstripped_copy(tmp_path, name):
    shutil.copytree(assignment_mod.ASSIGNMENTS_DIR / name, tmp_path / name)
    labels = {label for _, label, _ in leaks(tmp_path, name)}
    hidden_verdicts = {label for label in hidden_material(name) if label.startswith("verdict of")}
    # every hidden verdict has lines of its own, and the scan sees each of them in the full copy
    assert hidden_verdicts <= labels, sorted(hidden_verdicts - labels)
    assert labels == set(distinctive_lines(name).values())


def test_public_sources_drops_hidden_checks_and_what_only_they_use():
    checks = (
        "from x import Check\n"
        "P = load()\n"
        "SECRET_LIMIT = 0.123456\n"
        "def helper_public(a):\n    return a\n"
        "def helper_secret(a):\n    return a * SECRET_LIMIT\n"
        "def verdict_pub(a, e=None):\n    return helper_public(a)\n"
        "def verdict_hid(a, e):\n    return helper_secret(P.secret_builder())\n"
        "CHECKS = [\n"
        "    Check('c.pub', 'C', 'probe_pub', verdict_pub),\n"
        "    Check('c.hid', 'C', 'probe_hid',\n          verdict_hid, differential=True),\n"
        "]\n"
    )
    probes = ("def secret_builder():\n    return [(16, 8, 1, 9, 11)]\n"
              "def probe_pub(pkg):\n    return {}\n"
              "def probe_hid(pkg, ctx):\n    return secret_builder()\n")
    out = release.public_sources({"checks.py": checks, "probes.py": probes}, {"c.hid"}, {"probe_pub", "CHECKS"})
    for text in out.values():
        compile(text, "m.py", "exec")
    assert "verdict_pub" in out["checks.py"] and "helper_public" in out["checks.py"]
    for gone in ("verdict_hid", "helper_secret", "SECRET_LIMIT", "0.123456", "c.hid"):
        assert gone not in out["checks.py"], gone
    assert "probe_pub" in out["probes.py"]
    for gone in ("probe_hid", "secret_builder", "(16, 8, 1, 9, 11)"):
        assert gone not in out["probes.py"], gone


def test_the_bundle_still_grades_the_public_centernet_checks(bundle):
    released = assignment_mod.load(bundle / "grader" / "assignments" / "centernet")
    training = set(assignment_mod.load("centernet").checks_module.TRAINING_COMPONENTS)
    components = [c.name for c in released.rubric.components if c.name not in training]
    results = grade(released, CachedExecutor(InProcessExecutor("reference")), None, only=components, public_only=True)
    checks = [chk for comp in results for chk in comp.checks]
    assert checks and all(chk.status == "passed" for chk in checks), [(c.id, c.status, c.message[:200]) for c in checks]
    assert all(rc.visibility == "public" for _, rc in released.rubric.all_checks())
