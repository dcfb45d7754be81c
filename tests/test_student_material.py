"""What students receive, checked as a class (issue 13): the notebooks, and where generated data lives.

* every notebook of ``notebooks/`` shows its figures inline: none switches matplotlib to another
  backend (the executed-notebook tests check each drawing cell holds its picture);
* every graded component with public checks has them run in a notebook of its assignment
  (``public_checks("<component>")``), so the notebooks catch at least what the public checks catch;
* generated data has one place, ``data/generated/<set>/`` of the repository, whatever the current
  directory: the generators write there, the packages and the grader read there, git ignores it.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from grader import release
from grader.core import assignment as assignment_mod

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def _load(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def _code_cells(path: Path) -> list[str]:
    nb = json.loads(path.read_text(encoding="utf-8"))
    return ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_shows_its_figures_inline(path):
    builder = _load(ROOT / "notebooks" / "build_notebooks.py", "_build_notebooks_material")
    cells = _code_cells(path)
    assert cells[0].startswith("%matplotlib inline\n"), (
        f"{path.name}: the first cell does not select the inline backend")
    hiding = [line for cell in cells for line in cell.splitlines() if builder.OTHER_BACKEND.search(line)]
    assert not hiding, f"{path.name} switches to another backend: {hiding[0]!r}"


def test_the_backend_pattern_finds_what_hides_figures():
    builder = _load(ROOT / "notebooks" / "build_notebooks.py", "_build_notebooks_material")
    for line in ('matplotlib.use("Agg")', "%matplotlib agg", 'os.environ["MPLBACKEND"] = "Agg"',
                 'plt.switch_backend("agg")'):
        assert builder.OTHER_BACKEND.search(line), line
    assert not builder.OTHER_BACKEND.search("%matplotlib inline")


CALL = re.compile(r"""public_checks\(\s*["']([^"'<]+)["']\s*\)""")  # not the "<component>" of a comment
BINDS = re.compile(r"""notebook_checks\(\s*["'](\w+)["']""")


@pytest.mark.parametrize("name", assignment_mod.available())
def test_every_graded_component_runs_its_public_checks_in_a_notebook(name):
    rubric = assignment_mod.load(name).rubric
    graded = [comp.name for comp in rubric.components if comp.points > 0 and not comp.manual
              and any(c.visibility == "public" for c in comp.checks)]
    called: set[str] = set()
    for path in NOTEBOOKS:
        text = "\n".join(_code_cells(path))
        if name in BINDS.findall(text):
            called |= set(CALL.findall(text))
    known = {comp.name for comp in rubric.components}
    assert called <= known, f"{name}: notebooks call public_checks of unknown components {sorted(called - known)}"
    missing = [c for c in graded if c not in called]
    assert not missing, f"{name}: no notebook runs the public checks of {missing}"


# --- generated data: one place ---------------------------------------------------------------

def test_generated_data_has_one_place_whatever_the_current_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # as a notebook does: it runs in notebooks/, not the repository root
    for var in ("COURSE_DATA_DIR", "GRADER_DATA_DIR", "DETECTION_DATA"):
        monkeypatch.delenv(var, raising=False)
    generated = ROOT / "data" / "generated"
    for impl in ("reference", "student"):
        train_full = importlib.import_module(f"{impl}.centernet.train_full")
        assert train_full.default_data_dir() == generated / "cocogen", impl
        data = importlib.import_module(f"{impl}.detection.data")
        assert data.data_root() == generated / "detection", impl
    for script, name in release.DATA_SETS:
        generator = _load(ROOT / script, f"_generator_{name}")
        assert Path(generator.DEFAULT_OUT) == generated / name, script
    training = importlib.import_module("grader.assignments.centernet.verdicts.training")
    assert training.data_root() / training.BONUS_CONFIG["data"] == generated / "cocogen"


def test_generated_data_is_ignored_by_git():
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    for name in ("cocogen", "detection", "anything"):
        path = f"data/generated/{name}/train/annotations.json"
        ignored = subprocess.run(["git", "check-ignore", "-q", path], cwd=ROOT).returncode == 0
        assert ignored, f"{path} is not git-ignored"
    # the ignore rule is the repository's data/generated/, not any folder of that name
    stray = "notebooks/data/generated/cocogen/train/annotations.json"
    assert subprocess.run(["git", "check-ignore", "-q", stray], cwd=ROOT).returncode == 1


# --- install: the CPU-only command matches the pins --------------------------------------------

@pytest.mark.parametrize("doc", ["README.md", "docs/STUDENT_README.md"])
def test_the_cpu_install_installs_the_pinned_versions(doc):
    import tomllib

    pins = [d for d in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
            if d.split("==")[0] in ("torch", "torchvision")]
    assert len(pins) == 2 and all("==" in p for p in pins), pins
    text = (ROOT / doc).read_text()
    cpu = [line for line in text.splitlines() if "--index-url https://download.pytorch.org/whl/cpu" in line]
    assert cpu, f"{doc}: no CPU-only install command"
    assert all(sorted(w for w in line.split() if "==" in w) == sorted(pins) for line in cpu), (cpu, pins)
    assert 'pip install -e ".[dev]"' in text  # the pinned default next to it
