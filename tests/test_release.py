"""The student bundle carries what students need and none of the instructor's material."""

import subprocess
import sys
import textwrap

import pytest

from grader import release


def test_public_rubric_drops_hidden_checks_only():
    text = textwrap.dedent('''
        schema = 1
        assignment = "a"
        max_score = 1

        [[components]]
        name = "C"
        points = 1

        [[components.checks]]
        id = "c.public"
        visibility = "public"

        [[components.checks]]
        id = "c.hidden"
        visibility = "hidden"
        weight = 2

        [[components.checks]]
        id = "c.default_hidden"
    ''')
    out = release.public_rubric_text(text)
    assert "c.public" in out
    assert "c.hidden" not in out and "c.default_hidden" not in out and "weight = 2" not in out


def test_strip_probes_removes_only_named_functions():
    src = "import torch\n\ndef keep(pkg):\n    return {}\n\n\ndef secret(pkg):\n    x = 1\n    return {'x': x}\n"
    out = release.strip_probes(src, {"secret"})
    assert "def keep" in out and "def secret" not in out and "x = 1" not in out
    compile(out, "probes.py", "exec")


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    return release.build(tmp_path_factory.mktemp("rel") / "bundle", with_data=False)


def test_bundle_has_no_instructor_material(bundle):
    names = {p.relative_to(bundle).as_posix() for p in bundle.rglob("*")}
    assert "student/centernet/__init__.py" in names
    assert "README.md" in names and "tests/public/test_centernet.py" in names
    assert not any(n.startswith(("reference", "tests/centernet", "tests/grader", "benchmarks")) for n in names)
    assert not any("/hidden" in n or n.startswith("hidden") for n in names)
    assert not any(n.endswith("make_dataset.py") for n in names)


def test_bundle_rubrics_are_public_only_and_load(bundle):
    from grader.core import assignment as assignment_mod

    for name in assignment_mod.available():
        reduced = assignment_mod.load(bundle / "grader" / "assignments" / name)
        visibilities = {rc.visibility for _, rc in reduced.rubric.all_checks()}
        assert visibilities <= {"public"}
        full = assignment_mod.load(name)
        hidden_only = {full.check(rc.id).probe for _, rc in full.rubric.all_checks() if rc.visibility == "hidden"} - {
            full.check(rc.id).probe for _, rc in full.rubric.all_checks() if rc.visibility == "public"}
        released = bundle / "grader" / "assignments" / name
        package = released / "probes"
        files = sorted(package.rglob("*.py")) if package.is_dir() else [released / "probes.py"]
        text = "".join(path.read_text() for path in files)
        for probe in hidden_only:
            assert f"def {probe}(" not in text


def test_release_refuses_existing_folder(tmp_path):
    (tmp_path / "x").mkdir()
    proc = subprocess.run([sys.executable, "-m", "grader.release", str(tmp_path / "x")],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "already exists" in proc.stderr and "Traceback" not in proc.stderr


def _comment_runs_above_kept_tables(text: str) -> list[str]:
    """The comment lines right above each table header that the bundle keeps (not a hidden check's)."""
    import tomllib

    data = tomllib.loads(text)
    hidden = {chk["id"] for comp in data.get("components", []) for chk in comp.get("checks", [])
              if chk.get("visibility", "hidden") != "public"}
    lines, runs = text.splitlines(), []
    for i, line in enumerate(lines):
        if not line.strip().startswith("["):
            continue
        following = "\n".join(lines[i + 1:i + 4])
        if line.strip() == "[[components.checks]]" and any(f'id = "{h}"' in following for h in hidden):
            continue
        j = i
        while j > 0 and lines[j - 1].lstrip().startswith("#"):
            j -= 1
        runs.extend(lines[j:i])
    return runs


def test_public_rubric_keeps_the_comments_above_a_table_after_a_hidden_check():
    text = textwrap.dedent('''
        schema = 1
        assignment = "a"
        max_score = 1

        [[components]]
        name = "C"
        points = 1

        [[components.checks]]
        id = "c.public"
        visibility = "public"

        [[components.checks]]
        id = "c.hidden"
        visibility = "hidden"

        # Instructors set their own dates here.
        [policy]
        deadline = "2026-12-06T23:59:00+00:00"
    ''')
    out = release.public_rubric_text(text)
    assert "c.hidden" not in out
    assert "# Instructors set their own dates here.\n[policy]\n" in out


@pytest.mark.parametrize("name", ["centernet", "detection"])
def test_released_rubrics_keep_every_comment_of_what_they_keep(name):
    from grader.core import assignment as assignment_mod

    text = (assignment_mod.ASSIGNMENTS_DIR / name / "rubric.toml").read_text()
    out = release.public_rubric_text(text)
    runs = _comment_runs_above_kept_tables(text)
    assert any("[policy]" in text and "Instructors set their own dates" in r for r in runs)
    missing = [r for r in runs if r not in out.splitlines()]
    assert not missing, f"{name}: the released rubric loses {missing[0]!r}"


# --- every command and path the student material names works inside the bundle (issue 13) ---

import importlib.util  # noqa: E402
import json  # noqa: E402
import re  # noqa: E402
import shlex  # noqa: E402
from pathlib import Path  # noqa: E402

from grader.generate import SUBMISSION_OUTPUTS  # noqa: E402

BUNDLE_TOPS = ("student", "tests", "notebooks", "data", "grader")
PATH = re.compile(r"(?<![\w./-])((?:%s)/[\w./-]*)" % "|".join(BUNDLE_TOPS))
COMMAND = re.compile(r"(?<![\w/-])(?:\.venv/bin/)?(python3?\s+\S.*|pytest\s+\S.*|grader\s+[a-z]+\b.*)")
# a path built in code: ROOT / "data" / "cocogen" / "make_dataset.py"
JOINED = re.compile(r"""["'](?:%s)["'](?:\s*/\s*["'][\w.-]+["'])+""" % "|".join(BUNDLE_TOPS))
END = re.compile(r"`|\s#\s|\s{2,}#|\)$|\\$")  # a command ends at a backtick, a comment, or a line break


def student_texts(bundle: Path) -> dict[str, str]:
    """``{bundle path: text}`` of what students read: the READMEs, the notebooks' cells, the stubs
    (docstrings, comments, messages) and the public tests."""
    out = {}
    for path in sorted(bundle.rglob("*")):
        rel = path.relative_to(bundle).as_posix()
        if not path.is_file() or rel.startswith("grader/"):
            continue
        if path.suffix == ".ipynb":
            cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
            out[rel] = "\n".join("".join(c["source"]) for c in cells)
        elif path.suffix in (".md", ".py") and rel.startswith(("student/", "tests/public/", "README", "data/")):
            out[rel] = path.read_text(encoding="utf-8")
    return out


def _subcommands() -> set[str]:
    from grader import cli

    parser = cli.build_parser()
    return {name for action in parser._actions if hasattr(action, "choices") and isinstance(action.choices, dict)
            for name in action.choices}


def commands(text: str) -> list[str]:
    """The commands a text tells its reader to run (``grader <word>`` only for a real subcommand:
    "the grader runs these checks" is prose)."""
    found, subcommands = [], _subcommands()
    for line in text.splitlines():
        for match in COMMAND.finditer(line):
            command = END.split(match.group(1), maxsplit=1)[0].strip().rstrip(".,;:")
            words = command.split()
            if words[0] == "grader" and words[1] not in subcommands:
                continue
            found += [part.strip() for part in command.split("&&")]
    return found


def _exists(bundle: Path, rel: str) -> bool:
    rel = rel.rstrip(".,;:")
    parts = rel.rstrip("/").split("/")
    if (bundle / rel).exists() or parts[-1] in SUBMISSION_OUTPUTS:
        return True
    # the generated data sets: the bundle carries them (a fixture built with_data=False leaves them out)
    return parts[:2] == ["data", "generated"] and (len(parts) == 2 or parts[2] in {n for _, n in release.DATA_SETS})


def command_problem(bundle: Path, command: str) -> str | None:
    """Why ``command`` would not work in the bundle (None when it would)."""
    from grader import cli
    from grader.core import assignment as assignment_mod

    try:
        words = shlex.split(command.replace("\\", " "))
    except ValueError:  # an unbalanced quote of the prose around it
        words = command.replace("\\", " ").split()
    words[0] = words[0].removeprefix(".venv/bin/")
    if words[0] in ("python", "python3") and words[1:2] == ["-m"]:
        module = words[2]
        if module == "pytest":
            words = ["pytest", *words[3:]]
        elif (release._root() / module.split(".")[0]).is_dir():  # the project's own code: in the bundle?
            if module.split(".")[0] == "grader":
                words = ["grader", *words[3:]]
            elif not any((bundle / (module.replace(".", "/") + s)).is_file() for s in (".py", "/__main__.py")):
                return f"no module {module} in the bundle"
            else:
                return None
        else:
            return None if importlib.util.find_spec(module) else f"no module {module} installed"
    elif words[0] in ("python", "python3"):
        return None if _exists(bundle, words[1]) else f"no {words[1]} in the bundle"
    if words[0] == "pytest":
        args, skip = [], False
        for w in words[1:]:
            if skip or w.startswith("-"):
                skip = w in ("-k", "-m")
                continue
            args.append(w)
        missing = [a for a in args if not _exists(bundle, a)]
        return f"no {missing[0]} in the bundle" if missing else None
    if words[0] == "grader":
        if words[1] != "run":
            return f"`grader {words[1]}` needs the instructor's material (students run `grader run`)"
        try:
            args = cli.build_parser().parse_args(words[1:])
        except (cli.UsageError, SystemExit) as exc:
            return f"the grader refuses it: {exc}"
        bundled = {p.name for p in (bundle / "grader" / "assignments").iterdir() if (p / "rubric.toml").is_file()}
        names = [n for v in args.assignment for n in v.split(",")] or sorted(bundled)
        if not set(names) <= bundled:
            return f"no assignment {sorted(set(names) - bundled)} in the bundle"
        known = set()
        for n in names:
            rubric = assignment_mod.load(bundle / "grader" / "assignments" / n).rubric
            known |= {c.name for c in rubric.components} | {rc.id for _, rc in rubric.all_checks()}
        only = [o for v in (args.only or []) for o in v.split(",") if "<" not in o]
        if not set(only) <= known:
            return f"no component {sorted(set(only) - known)} in the bundle's rubrics"
    return None


def test_every_command_and_path_students_read_works_in_the_bundle(bundle):
    texts = student_texts(bundle)
    assert {"README.md", "notebooks/train_full.ipynb", "student/detection/data.py"} <= set(texts)
    problems, seen = [], 0
    for rel, text in texts.items():
        for command in commands(text):
            seen += 1
            problem = command_problem(bundle, command)
            if problem:
                problems.append(f"{rel}: `{command}`: {problem}")
        paths = [m.group(1) for m in PATH.finditer(text) if "<" not in text[m.end():m.end() + 1]]
        paths += ["/".join(re.findall(r"""["']([\w.-]+)["']""", m.group(0))) for m in JOINED.finditer(text)]
        problems += [f"{rel}: {p} is not in the bundle" for p in paths if not _exists(bundle, p)]
    assert seen >= 8, f"only {seen} commands found: the scan is broken"
    assert not problems, "\n".join(problems)


def test_the_bundle_scan_finds_what_students_cannot_run(bundle):
    """The scan is not blind: commands and paths of the instructor's checkout are refused."""
    assert commands("Generate it: ``python data/detection/make_dataset.py`` (once)") == [
        "python data/detection/make_dataset.py"]
    wrong = ["python data/detection/make_dataset.py", "python -m reference.centernet.train_full",
             "grader generate", "pytest tests/centernet/test_notebooks.py", "grader run --only NoSuchPart --in-process",
             "grader run --assignment nosuch", "grader run --no-such-flag"]
    assert all(command_problem(bundle, c) for c in wrong), [c for c in wrong if not command_problem(bundle, c)]
    right = ["python -m student.detection.train --steps 7", "pytest tests/public/test_centernet.py -k head",
             "grader run --public-only --only PointsToObjects --in-process", "python3 -m venv .venv"]
    assert not any(command_problem(bundle, c) for c in right), [command_problem(bundle, c) for c in right]
    assert not _exists(bundle, "data/cocogen/make_dataset.py") and _exists(bundle, "data/generated/cocogen/train")
    code = 'subprocess.run([sys.executable, str(ROOT / "data" / "cocogen" / "make_dataset.py")])'
    assert ["/".join(re.findall(r"""["']([\w.-]+)["']""", m.group(0))) for m in JOINED.finditer(code)] == [
        "data/cocogen/make_dataset.py"]
