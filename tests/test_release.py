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
        text = (bundle / "grader" / "assignments" / name / "probes.py").read_text()
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
