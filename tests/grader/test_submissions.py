"""What was handed in -> the package to grade: checkouts, packages, archives of either."""

from __future__ import annotations

import shutil
import tarfile
import zipfile
from pathlib import Path

import pytest

from grader.core.report import strip_volatile
from grader.core.submission import SubmissionError, class_members, resolve, safe_member_path, submission_name

from grader_testkit import SUBS, copy_package, grade_in_process


def _checkout(tmp_path: Path) -> Path:
    """A student's checkout: README plus the student/ package (the `wrong` answers)."""
    root = tmp_path / "checkout"
    root.mkdir()
    (root / "README.md").write_text("my homework")
    copy_package(SUBS / "wrong", root / "student")
    return root


def _zip_dir(src: Path, dest: Path, prefix: str = "") -> Path:
    with zipfile.ZipFile(dest, "w") as zf:
        for p in sorted(src.rglob("*")):
            zf.write(p, prefix + str(p.relative_to(src)))
    return dest


def _tar_dir(src: Path, dest: Path, prefix: str = "") -> Path:
    with tarfile.open(dest, "w:gz") as tf:
        for p in sorted(src.rglob("*")):
            tf.add(p, prefix + str(p.relative_to(src)), recursive=False)
    return dest


@pytest.fixture(scope="module")
def variants(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("variants")
    checkout = _checkout(tmp)
    package = copy_package(SUBS / "wrong", tmp / "package")
    return {
        "checkout dir": checkout,
        "package dir": package,
        "checkout zip": _zip_dir(checkout, tmp / "checkout.zip"),
        "checkout tar.gz": _tar_dir(checkout, tmp / "checkout.tar.gz"),
        "package zip": _zip_dir(package, tmp / "package.zip"),
        "package tar.gz": _tar_dir(package, tmp / "package.tgz"),
        "wrapped checkout zip": _zip_dir(checkout, tmp / "wrapped.zip", prefix="homework-main/"),
    }


def _graded(report) -> dict:
    d = strip_volatile(report.to_dict())
    d.pop("submission")
    return d


def test_archives_of_checkouts_and_packages_grade_the_same(variants, toy, toy_reference):
    reports = {name: grade_in_process(path, toy, toy_reference) for name, path in variants.items()}
    baseline = _graded(reports["checkout dir"])
    assert baseline["score"] == 3.5  # the `wrong` answers: Add 1 + Scale 2 + Relu 0.5
    for name, report in reports.items():
        assert _graded(report) == baseline, name


def test_resolve_kinds(variants):
    kinds = {}
    for name, path in variants.items():
        sub = resolve(path, ["toy"])
        try:
            assert (sub.package_dir / "toy" / "ops.py").is_file(), name
            kinds[name] = sub.kind
        finally:
            sub.cleanup()
    assert kinds["checkout dir"] == "checkout" and kinds["package dir"] == "package"
    assert kinds["checkout zip"] == "zip" and kinds["package tar.gz"] == "tar.gz"


def test_archive_is_extracted_privately_and_cleaned_up(variants):
    sub = resolve(variants["checkout zip"], ["toy"])
    extracted = sub.package_dir
    assert oct(extracted.parents[1].stat().st_mode & 0o777) == "0o700"
    assert sub.sha256 and len(sub.sha256) == 64
    sub.cleanup()
    assert not extracted.exists()


def test_package_without_init_is_found_by_assignment_name(tmp_path):
    pkg = copy_package(SUBS / "wrong", tmp_path / "pkg")
    (pkg / "__init__.py").unlink()
    assert resolve(pkg, ["toy"]).package_dir == pkg.resolve()
    with pytest.raises(SubmissionError, match="no student package found"):
        resolve(pkg, ["other"])


def test_symlinks_in_a_directory_submission_are_not_followed(tmp_path, toy, toy_reference):
    """A link to a secret file is skipped when the submission is copied into the sandbox."""
    from grader.core.sandbox import _copy_package

    pkg = copy_package(SUBS / "wrong", tmp_path / "pkg")
    secret = tmp_path / "secret.txt"
    secret.write_text("expected values")
    (pkg / "toy" / "leak.txt").symlink_to(secret)
    _copy_package(pkg, tmp_path / "copy")
    assert (tmp_path / "copy" / "toy" / "ops.py").is_file()
    assert not (tmp_path / "copy" / "toy" / "leak.txt").exists()


@pytest.mark.parametrize("name, ok", [
    ("student/toy/ops.py", True), ("./student/x.py", True), ("a\\b.py", True),
    ("../x.py", False), ("student/../../x.py", False), ("/abs.py", False), ("C:/win.py", False),
])
def test_safe_member_path(name, ok):
    if ok:
        assert safe_member_path(name, Path("a.zip")) is not None
    else:
        with pytest.raises(SubmissionError):
            safe_member_path(name, Path("a.zip"))


def test_class_members_and_names(tmp_path):
    (tmp_path / "alice").mkdir()
    (tmp_path / "bob.zip").write_bytes(b"")
    (tmp_path / "carol.tar.gz").write_bytes(b"")
    (tmp_path / "notes.txt").write_text("not a submission")
    (tmp_path / ".hidden").mkdir()
    members = class_members(tmp_path)
    assert [submission_name(p) for p in members] == ["alice", "bob", "carol"]
    shutil.rmtree(tmp_path / "alice")
    (tmp_path / "bob.zip").unlink()
    (tmp_path / "carol.tar.gz").unlink()
    with pytest.raises(SubmissionError, match="no submissions"):
        class_members(tmp_path)
