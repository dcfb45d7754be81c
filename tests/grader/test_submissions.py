"""What was handed in -> the package to grade: checkouts, packages, archives of either."""

from __future__ import annotations

import shutil
import tarfile
import zipfile
from pathlib import Path

import pytest

from grader.core.report import strip_volatile
from grader.core.submission import (SubmissionError, SubmissionLinkError, class_members, resolve, safe_member_path,
                                   submission_name)

from grader_testkit import SUBS, TOYREF, copy_package, grade_in_process, run_cli, toy_args


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


def test_symlink_to_a_file_outside_is_refused_by_the_sandbox_copy(tmp_path):
    """A link to a secret file is never followed into the sandbox: the copy refuses it."""
    from grader.core.sandbox import _copy_package

    pkg = copy_package(SUBS / "wrong", tmp_path / "pkg")
    secret = tmp_path / "secret.txt"
    secret.write_text("expected values")
    (pkg / "toy" / "leak.txt").symlink_to(secret)
    with pytest.raises(SubmissionLinkError, match="toy/leak.txt"):
        _copy_package(pkg, tmp_path / "copy")
    with pytest.raises(SubmissionLinkError, match="leak.txt` is a symbolic link to outside"):
        resolve(pkg, ["toy"])


def test_links_inside_the_submission_are_copied_as_their_targets(tmp_path):
    from grader.core.sandbox import _copy_package

    root = tmp_path / "checkout"
    copy_package(SUBS / "wrong", root / "mywork")
    (root / "student").symlink_to("mywork")
    (root / "mywork" / "toy" / "again.py").symlink_to("ops.py")
    (root / "mywork" / "loop").symlink_to(".")
    sub = resolve(root, ["toy"])
    _copy_package(sub.package_dir, tmp_path / "copy")
    assert (tmp_path / "copy" / "toy" / "again.py").read_text() == (root / "mywork" / "toy" / "ops.py").read_text()
    assert not (tmp_path / "copy" / "loop").exists()


@pytest.mark.parametrize("link", ["student", "student/toy", "student/toy/ops.py"])
def test_checkout_whose_package_is_a_link_outside_is_refused(tmp_path, link, toy, toy_reference):
    """issue #9.9: `student/` (or an assignment package, or a file) linked to the reference or a
    classmate is refused with the link's name, never graded as its target (which scores here)."""
    elsewhere = copy_package(TOYREF, tmp_path / "classmate")  # a full-marks package
    root = tmp_path / "checkout"
    copy_package(SUBS / "stub", root / "student")
    target = elsewhere
    for part in link.split("/")[1:]:
        target = target / part
    victim = root / link
    shutil.rmtree(victim) if victim.is_dir() else victim.unlink()
    victim.symlink_to(target)
    with pytest.raises(SubmissionLinkError, match=f"`{link}` is a symbolic link to outside the submission"):
        resolve(root, ["toy"])


def test_class_run_gives_a_linked_submission_its_error_row(tmp_path, capsys):
    """The linked member gets an error row naming the link; its classmate is graded."""
    cls = tmp_path / "class"
    copy_package(SUBS / "wrong", cls / "bob" / "student")
    (cls / "alice").mkdir()
    (cls / "alice" / "student").symlink_to(TOYREF)
    code, out, err = run_cli(
        toy_args("--class", str(cls), "--in-process", "--report-dir", str(tmp_path / "reports"), "-q"), capsys)
    assert "alice" in err and "`student` is a symbolic link to outside the submission" in err, err
    rows = (tmp_path / "reports" / "gradebook.csv").read_text()
    assert "bob" in rows and "alice" in rows


def test_archive_link_members_leaving_the_archive_are_refused(tmp_path):

    for kind in ("tar.gz", "zip"):
        path = tmp_path / f"sub.{kind}"
        if kind == "tar.gz":
            with tarfile.open(path, "w:gz") as tf:
                info = tarfile.TarInfo("student")
                info.type, info.linkname = tarfile.SYMTYPE, str(TOYREF)
                tf.addfile(info)
        else:
            with zipfile.ZipFile(path, "w") as zf:
                info = zipfile.ZipInfo("student")
                info.external_attr = (0o120777 << 16)
                zf.writestr(info, "../../reference")
        with pytest.raises(SubmissionError, match="member 'student' is a link pointing outside"):
            resolve(path, ["toy"])


def test_copy_over_the_cap_is_a_submission_error(tmp_path):
    """issue #9.10: too large for the sandbox copy -> SubmissionTooLarge (a SubmissionError, the
    submission's own error row), not a SandboxError (a grader fault)."""
    from grader.core.sandbox import SandboxError, _copy_package
    from grader.core.submission import SubmissionTooLarge

    pkg = copy_package(SUBS / "wrong", tmp_path / "pkg")
    (pkg / "toy" / "big.bin").write_bytes(b"x" * 3 * 2 ** 20)
    with pytest.raises(SubmissionTooLarge, match="too large") as info:
        _copy_package(pkg, tmp_path / "copy", max_bytes=2 * 2 ** 20)
    assert isinstance(info.value, SubmissionError) and not isinstance(info.value, SandboxError)


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


def test_oversize_member_of_a_class_gets_its_error_row(tmp_path, capsys, monkeypatch):
    """issue #9.10: a package over the sandbox-copy cap is refused when it is resolved (before the
    sandbox is built), so the class run gives it an error row, grades the others, writes the
    gradebook."""
    from grader.core import submission as sub_mod

    monkeypatch.setattr(sub_mod, "MAX_PACKAGE_BYTES", 2 * 2 ** 20)
    cls = tmp_path / "class"
    copy_package(SUBS / "wrong", cls / "bob" / "student")
    big = copy_package(SUBS / "wrong", cls / "carol" / "student")
    (big / "toy" / "weights.bin").write_bytes(b"x" * 3 * 2 ** 20)
    code, out, err = run_cli(toy_args("--class", str(cls), "--in-process", "--report-dir", str(tmp_path / "reports"),
                                      "-q"), capsys)
    assert code == 0, err
    assert "carol" in err and "too large to grade" in err, err
    rows = (tmp_path / "reports" / "gradebook.csv").read_text()
    assert "bob" in rows and "carol" in rows
