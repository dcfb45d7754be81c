"""Bad invocations and grader errors: exit status 2, ONE line on stderr, no traceback."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from grader_testkit import ROOT_DIR, SUBS, TOY, run_cli, toy_args


def _assert_one_line_error(code: int, err: str, *needles: str) -> None:
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("grader: error: "), err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in lines[0], lines[0]


def _zip(path: Path, members: dict) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def _tar(path: Path, members: dict, links: dict = ()) -> Path:
    with tarfile.open(path, "w:gz") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
        for name, target in dict(links).items():
            info = tarfile.TarInfo(name)
            info.type = tarfile.SYMTYPE
            info.linkname = target
            tf.addfile(info)
    return path


GOOD_MEMBER = {"student/__init__.py": b"", "student/toy/__init__.py": b""}


@pytest.mark.parametrize("case, needle", [
    ("missing", "no such file"),
    ("corrupt_zip", "not a valid zip"),
    ("corrupt_tar", "not a valid .tar.gz"),
    ("fifo_zip", "not a regular file"),
    ("dotdot_zip", "outside the archive"),
    ("absolute_zip", "absolute path"),
    ("dotdot_tar", "outside the archive"),
    ("absolute_tar", "absolute path"),
    ("symlink_tar", "link pointing outside"),
    ("symlink_zip", "link pointing outside"),
    ("no_package_dir", "no student package found"),
    ("no_package_zip", "no student package found"),
    ("text_file", "not a directory, .zip"),
])
def test_bad_submission(case, needle, tmp_path, capsys):
    path = tmp_path / "sub"
    if case == "missing":
        path = tmp_path / "nothing-here"
    elif case == "corrupt_zip":
        path = tmp_path / "x.zip"
        path.write_bytes(b"PK\x03\x04 this is not really a zip file")
    elif case == "corrupt_tar":
        path = tmp_path / "x.tar.gz"
        path.write_bytes(b"\x1f\x8b\x08\x00garbage")
    elif case == "fifo_zip":
        path = tmp_path / "x.zip"
        os.mkfifo(path)
    elif case == "dotdot_zip":
        path = _zip(tmp_path / "x.zip", {**GOOD_MEMBER, "student/../../evil.py": b"x"})
    elif case == "absolute_zip":
        path = _zip(tmp_path / "x.zip", {**GOOD_MEMBER, "/etc/evil.py": b"x"})
    elif case == "dotdot_tar":
        path = _tar(tmp_path / "x.tar.gz", {**GOOD_MEMBER, "../evil.py": b"x"})
    elif case == "absolute_tar":
        path = _tar(tmp_path / "x.tar.gz", {**GOOD_MEMBER, "/tmp/evil.py": b"x"})
    elif case == "symlink_tar":
        path = _tar(tmp_path / "x.tar.gz", GOOD_MEMBER, {"student/toy/secret.py": "../../../../etc/passwd"})
    elif case == "symlink_zip":
        path = tmp_path / "x.zip"
        with zipfile.ZipFile(path, "w") as zf:
            for name, data in GOOD_MEMBER.items():
                zf.writestr(name, data)
            info = zipfile.ZipInfo("student/toy/link.py")
            info.external_attr = (0o120777 << 16)
            zf.writestr(info, "/etc/passwd")
    elif case == "no_package_dir":
        (path / "a").mkdir(parents=True)
        (path / "b").mkdir()
    elif case == "no_package_zip":
        path = _zip(tmp_path / "x.zip", {"notes/readme.txt": b"hello", "other/readme.txt": b"x"})
    elif case == "text_file":
        path = tmp_path / "sub.txt"
        path.write_text("hello")
    code, _, err = run_cli(toy_args(str(path)), capsys)
    _assert_one_line_error(code, err, needle)
    assert not (tmp_path / "evil.py").exists() and not Path("/tmp/evil.py").exists()


def _broken_rubric(tmp_path: Path, old: str, new: str) -> Path:
    d = tmp_path / "toy_broken"
    d.mkdir()
    for f in ("checks.py", "probes.py"):
        (d / f).write_text((TOY / f).read_text())
    (d / "rubric.toml").write_text((TOY / "rubric.toml").read_text().replace(old, new, 1))
    return d


@pytest.mark.parametrize("old, new, needle", [
    ("max_score = 7", "max_score = 9", "max_score is 9"),
    ('id = "scale.values"', 'id = "scale.nope"', "no such check"),
    ("points = 2", "points = 'two'", "must be a number"),
    ("[[components]]", "[[components]\n", "not valid TOML"),
])
def test_malformed_rubric(tmp_path, capsys, old, new, needle):
    d = _broken_rubric(tmp_path, old, new)
    code, _, err = run_cli(["run", "--assignment", str(d), str(SUBS / "wrong")], capsys)
    _assert_one_line_error(code, err, needle)


@pytest.mark.parametrize("text, needle", [
    ("[[override]\n", "not valid TOML"),
    ('[[override]]\nassignment = "toy"\ncomponent = "Relux"\nscore = 1\n',
     "no component 'Relux' (valid, closest first: Relu, "),
    ('[[override]]\nassignment = "toyy"\ncomponent = "Add"\nscore = 1\n',
     "unknown assignment 'toyy' (graded in this run; valid, closest first: toy)"),
    ('[[override]]\nassignment = "toy"\ncomponent = "Add"\nscore = 5\n', "outside 0..2"),
    ('[[override]]\nassignment = "toy"\ncomponent = "Add"\n', "needs a 'score', a 'remark'"),
    ('[[override]]\nassignment = "toy"\ncomponent = "Add"\nscore = 1\nremarks = "red"\n',
     "unknown key 'remarks' (valid, closest first: remark, "),
    ('reviwer = "A"\n', "unknown key 'reviwer' (valid, closest first: reviewer, "),
])
def test_malformed_overrides(tmp_path, capsys, text, needle):
    f = tmp_path / "overrides.toml"
    f.write_text(text)
    code, _, err = run_cli(toy_args(str(SUBS / "wrong"), "--overrides", str(f)), capsys)
    _assert_one_line_error(code, err, needle)


def test_missing_overrides_file(tmp_path, capsys):
    code, _, err = run_cli(toy_args(str(SUBS / "wrong"), "--overrides", str(tmp_path / "none.toml")), capsys)
    _assert_one_line_error(code, err, "overrides file not found")


@pytest.mark.parametrize("argv, needle", [
    (["run", "--assignment", "centernett", str(SUBS / "wrong")],
     "unknown assignment 'centernett' (valid, closest first: centernet, detection)"),
    (toy_args(str(SUBS / "wrong"), "--only", "Relux"), "--only: unknown component or check 'Relux' (valid, closest "
                                                       "first: Relu, relu.values, "),
    (toy_args(str(SUBS / "wrong"), "--only", "Add,scale.valus"), "'scale.valus' (valid, closest first: scale.values, "),
    (toy_args(str(SUBS / "wrong"), "--submitted-at", "2026-01-01T10:00"), "needs a time zone"),
    (toy_args(str(SUBS / "wrong"), "--submitted-at", "yesterday"), "not an ISO date-time"),
    (toy_args(str(SUBS / "wrong"), "--fail-under", "lots"), "--fail-under"),
    (toy_args(str(SUBS / "wrong"), "--no-such-option"), "unrecognized arguments"),
    (toy_args("--reference", str(SUBS / "wrong")), "--reference grades the reference"),
    (toy_args(str(SUBS / "wrong"), str(SUBS / "stub"), "--gradescope", "x.json"), "--gradescope and --junit"),
    (["run", "--assignment", str(TOY), "--reference-dir", "/no/such/reference", str(SUBS / "wrong")],
     "reference solution is not available"),
    (["frobnicate"], "invalid choice"),
])
def test_bad_invocation(argv, needle, capsys):
    code, _, err = run_cli(argv, capsys)
    _assert_one_line_error(code, err, needle)


def test_entry_point_prints_one_line_without_traceback(tmp_path):
    """The installed command, end to end, in a subprocess."""
    proc = subprocess.run([sys.executable, "-m", "grader.cli", "run", str(tmp_path / "missing")],
                          capture_output=True, text=True, cwd=ROOT_DIR, timeout=300)
    _assert_one_line_error(proc.returncode, proc.stderr, "no such file")


def test_generate_dispatches_to_the_generator(monkeypatch):
    from grader import cli, generate

    seen = []
    monkeypatch.setattr(generate, "main", lambda argv=None: seen.append(argv) or 0)
    assert cli.main(["generate", "--check"]) == 0
    assert seen == [["--check"]]


def test_help_and_usage_errors_do_not_import_torch():
    """`grader --help` and a usage error answer before torch is imported (issue 11.5); the grading
    machinery (grader.commands) is imported only when a command grades."""
    import subprocess
    import sys

    code = ("import sys\nfrom grader import cli\n"
            "for argv in (['--help'], ['run', '--help'], ['run', '--bogus'], ['merge']):\n"
            "    try:\n        cli.main(argv)\n    except SystemExit:\n        pass\n"
            "print(sorted(m for m in ('torch', 'grader.commands') if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT_DIR, timeout=120)
    assert proc.stdout.strip().splitlines()[-1] == "[]", proc.stdout[-500:] + proc.stderr[-500:]
