"""Reports a hostile submission cannot subvert (issue 9.6, 9.10, 9.11, 9.12).

* student-controlled text (messages, output tails, submission and member names) is neutralised in
  every format: no terminal escapes, no Markdown element it did not have, no CSV formula, valid
  JUnit and JSON;
* member names never collide with the grader's own files in a class run;
* one submission that cannot be graded (corrupt zip, sandbox copy cap, a grader exception) is its
  own gradebook row, the others are graded;
* a ``grader_error`` check is "grader fault, not your code" everywhere, exit status 3 with one line;
* a hidden check's output tail never reaches a student-facing report;
* every report step has bounded input and a time budget; a failing one costs only itself.
"""

from __future__ import annotations

import collections
import csv
import functools
import io
import json
import re
import time
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import mistune

from grader import cli, commands
from grader.core import report as rep
from grader.core import sandbox
from grader.core.engine import CheckResult, ComponentResult

from grader_testkit import FIXTURES, SUBS, TOYREF, copy_package, run_cli, toy_args

HOSTILE = ("\x1b[31mred\x1b[0m \x1b]8;;http://evil.example\x07click\x1b]8;;\x07 \x1b[2J\x1b[H **bold** _it_ "
           "[link](http://evil.example) ![img](http://evil.example/x.png) <img src=x onerror=alert(1)> "
           "<script>alert(1)</script> <a href='http://evil.example'>a</a> | cell | `code` ~~del~~ $x^2$ "
           "www.evil.example https://evil.example/p mail@evil.example @teacher #12 \\*esc\\* &amp; &lt;b&gt; "
           "=HYPERLINK(\"http://evil.example\",\"x\") \r\n\u202eevil\u202c \x07\x08\x7f\x9b31m \ud800 end")
BENIGN = "plain words\nsecond line"  # as many line breaks as HOSTILE (one <br> in Markdown)
NAME_HOSTILE = "=HYPERLINK(\"http://evil\")\x1b[31m_*x*_ <b>|"


def _report(text: str, name: str, *, output: str = "", status: str = "failed") -> rep.Report:
    """A hand-built report whose every student-controlled field is ``text``."""
    checks = [CheckResult("a.values", "A", "a matches", status, 0.0, 2.0, text, "public", 0.1, [], output or text),
              CheckResult("a.hidden", "A", "a, hidden inputs", "failed", 0.0, 1.0, text, "hidden", 0.1, [],
                          output or text)]
    comp = ComponentResult("toy", "A", 3.0, checks=checks)
    summary = rep.AssignmentSummary("toy", "Toy", 3.0, 0.0, 0.0, 0.0, 0.0, 0.0,
                                    {"cap": None, "capped": False, "bonus_forfeited": False})
    return rep.Report({"name": name, "source": text, "kind": "zip"}, [comp], [summary],
                      isolation={"mode": "isolated"}, grader_version="test", error=None)


def _every_format(report: rep.Report, tmp_path: Path) -> dict[str, str]:
    return {"terminal": rep.terminal_summary(report) + "\n" + "\n".join(
                rep.progress_line("toy", "A", c) + "\n" + rep.output_lines(c) for _, c in report.checks()),
            "json": rep.to_json(report), "gradescope": rep.gradescope_json(report), "junit": rep.to_junit(report),
            "markdown": rep.to_markdown(report, tmp_path, tmp_path / "r.md"), "csv": rep.to_csv([report]),
            "class_markdown": rep.class_markdown([report]), "class_json": rep.class_json([report])}


CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def test_no_escape_or_control_character_reaches_any_format(tmp_path):
    for fmt, text in _every_format(_report(HOSTILE, NAME_HOSTILE), tmp_path).items():
        assert "\x1b" not in text and "\x9b" not in text, fmt
        assert not CONTROL.search(text), (fmt, CONTROL.search(text))
        text.encode("utf-8")  # writable: no lone surrogate


def _tags(html: str) -> collections.Counter:
    return collections.Counter(re.findall(r"<\s*([a-zA-Z][a-zA-Z0-9]*)", html))


def test_markdown_gains_no_element_from_student_text(tmp_path):
    """Rendered (GitHub-like: tables, bare URLs, strikethrough, math, raw HTML allowed), the hostile
    report has exactly the elements of the same report with plain words."""
    render = mistune.create_markdown(escape=False, plugins=["table", "url", "strikethrough", "math"])
    hostile = rep.to_markdown(_report(HOSTILE, NAME_HOSTILE), tmp_path, tmp_path / "r.md")
    benign = rep.to_markdown(_report(BENIGN, "alice"), tmp_path, tmp_path / "r.md")
    assert _tags(render(hostile)) == _tags(render(benign))
    for md in (hostile, rep.class_markdown([_report(HOSTILE, NAME_HOSTILE)])):
        # what GitHub links without markup: URLs, www. names, e-mail and @mentions, #123
        assert "://" not in md and "www." not in md and not re.search(r"@\w|#\d", md)
        assert "<script" not in md and "<img" not in md
        assert not re.search(r"(?<!\\)[\[\]]", md.split("### Attachments")[0].replace("[cut:", ""))  # brackets escaped
    assert "evil.example" in hostile and "HYPERLINK" in hostile  # shown, as text


def test_markdown_attachment_links_are_local(tmp_path):
    report = _report(BENIGN, "alice")
    report.components[0].checks[0].attachments = ["attachments/fit.png", "http://evil.example/x.png",
                                                  "/etc/passwd", "attachments/a b(c).png"]
    md = rep.to_markdown(report, tmp_path, tmp_path / "r.md")
    links = re.findall(r"\]\(([^)]*)\)", md)
    assert links == ["attachments/fit.png", "attachments/a%20b%28c%29.png"]


def test_csv_cells_are_never_formulas():
    reports = [_report(HOSTILE, name) for name in (NAME_HOSTILE, "+1+1", "-2+3", "@SUM(A1)", "\t=1", "\r=1",
                                                     "\uff1dSUM(1)", "alice")]
    reports[0].error = "=cmd|' /C calc'!A0"
    rows = list(csv.reader(io.StringIO(rep.to_csv(reports))))
    assert len(rows) == 1 + len(reports)
    for row in rows:
        for cell in row:
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r", "\uff1d")), cell
    assert [r[0] for r in rows[1:]][-1] == "alice"
    assert rows[1][0].startswith("'=HYPERLINK")


def test_junit_and_json_stay_valid(tmp_path):
    formats = _every_format(_report(HOSTILE, NAME_HOSTILE), tmp_path)
    root = ET.fromstring(formats["junit"].split("\n", 1)[1])
    assert root.find("testsuite/testcase/failure") is not None
    for key in ("json", "gradescope", "class_json"):
        json.loads(formats[key])


def test_terminal_shows_no_escapes_end_to_end(tmp_path, capsys):
    pkg = copy_package(SUBS / "wrong", tmp_path / "sub")
    ops = pkg / "toy" / "ops.py"
    ops.write_text(ops.read_text().replace("return a - b", f"raise ValueError({HOSTILE.replace(chr(0xd800), '')!r})"))
    code, out, err = run_cli(toy_args(str(pkg), "--in-process", "--only", "Add"), capsys)
    assert code == 0, err
    assert "ValueError" in out and "\x1b" not in out and not CONTROL.search(out)


# ----------------------------------------------------------------------------------------------
# Class runs: folder names, one bad archive
# ----------------------------------------------------------------------------------------------

def _zip_of(package: Path, path: Path) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for f in package.rglob("*.py"):
            zf.write(f, "student/" + str(f.relative_to(package)))
    return path


def test_member_names_cannot_shadow_the_grader_files(tmp_path, capsys):
    klass = tmp_path / "class"
    klass.mkdir()
    _zip_of(SUBS / "wrong", klass / "gradebook.csv.zip")
    for name in ("gradebook.csv", "submissions", '=HYPERLINK("x")', "evil\x1b[31m", "Alice", "alice"):
        copy_package(SUBS / "wrong", klass / name)
    out_dir = tmp_path / "out"
    code, out, err = run_cli(toy_args("--class", str(klass), "--in-process", "-q", "--report-dir", str(out_dir)),
                             capsys)
    assert code == 0, err
    assert "Traceback" not in err and "\x1b" not in out + err
    assert (out_dir / "gradebook.csv").is_file()
    # only the grader's own files at the top (the class run's cache, results and statistics); the
    # members' folders are all under submissions/
    assert sorted(p.name for p in out_dir.iterdir()) == ["cache", "class-results.json", "gradebook.csv",
                                                          "histogram.png", "stats.csv", "stats.md", "submissions"]
    rows = list(csv.DictReader(io.StringIO((out_dir / "gradebook.csv").read_text())))
    assert len(rows) == 7 and {r["status"] for r in rows} == {"graded"} and {r["score"] for r in rows} == {"3.5"}
    assert all(not r["submission"].startswith("=") for r in rows)
    folders = sorted(p.name for p in (out_dir / "submissions").iterdir())
    assert len(folders) == 7 and len({f.lower() for f in folders}) == 7
    assert all(re.fullmatch(r"[A-Za-z0-9._-]+", f) and not f.startswith(".") for f in folders), folders
    for f in folders:
        assert {p.name for p in (out_dir / "submissions" / f).iterdir()} >= {"report.json", "results.json", "report.md"}


def test_one_bad_archive_never_stops_a_class_run(tmp_path, capsys, monkeypatch):
    """Isolated (the sandbox copy cap only applies there): a corrupt zip, a submission over the
    copy cap (lowered to 256 KiB here) and a good one."""
    monkeypatch.setattr(sandbox, "_copy_package", functools.partial(sandbox._copy_package, max_bytes=256 * 1024))
    klass = tmp_path / "class"
    klass.mkdir()
    (klass / "broken.zip").write_bytes(b"PK\x03\x04 not really a zip")
    big = copy_package(SUBS / "wrong", klass / "big")
    (big / "toy" / "weights.bin").write_bytes(b"\0" * (1024 * 1024))
    copy_package(TOYREF, klass / "good")
    out_dir = tmp_path / "out"
    code, out, err = run_cli(toy_args("--class", str(klass), "-q", "--report-dir", str(out_dir)), capsys)
    assert code == 0, err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 2, err  # one line per submission that could not be graded
    rows = {r["submission"]: r for r in csv.DictReader(io.StringIO((out_dir / "gradebook.csv").read_text()))}
    assert set(rows) == {"big", "broken", "good"}
    assert rows["good"]["status"] == "graded" and (rows["good"]["score"], rows["good"]["total"]) == ("5", "6")
    assert rows["broken"]["status"].startswith("error:") and "not a valid zip" in rows["broken"]["status"]
    assert rows["big"]["status"].startswith("error:") and "too large" in rows["big"]["status"]
    assert rows["big"]["score"] == "0"


def test_a_grader_exception_on_one_submission_is_its_row_and_exit_3(tmp_path, capsys, monkeypatch):
    real = cli.grade_submission

    def flaky(submission, *args, **kwargs):
        if submission.name == "bob":
            raise KeyError("grader bug")
        return real(submission, *args, **kwargs)

    monkeypatch.setattr(commands, "grade_submission", flaky)
    klass = tmp_path / "class"
    klass.mkdir()
    for name in ("alice", "bob", "carol"):
        copy_package(SUBS / "wrong", klass / name)
    code, out, err = run_cli(toy_args("--class", str(klass), "--in-process", "-q", "--report-dir",
                                      str(tmp_path / "out")), capsys)
    assert code == cli.EXIT_GRADER_FAULT
    rows = {r["submission"]: r for r in csv.DictReader(io.StringIO((tmp_path / "out" / "gradebook.csv").read_text()))}
    assert (rows["alice"]["score"], rows["carol"]["score"]) == ("3.5", "3.5")
    assert rows["bob"]["status"].startswith("grader fault: KeyError")
    assert err.strip().splitlines()[-1].startswith("grader: grader fault in grading bob (not the student's")


# ----------------------------------------------------------------------------------------------
# grader_error: the grader's fault, never the student's
# ----------------------------------------------------------------------------------------------

FAULT = "grader fault, not your code: the reference failed this probe: FileNotFoundError: make_dataset.py"


def _faulty_report() -> rep.Report:
    report = _report(BENIGN, "alice")
    comp = report.components[0]
    comp.checks[0] = CheckResult("a.values", "A", "a matches", "passed", 2.0, 2.0, "ok", "public")
    comp.checks[1] = CheckResult("a.hidden", "A", "a, hidden", "grader_error", 0.0, 1.0, FAULT, "hidden", 0.1, [],
                                 "printed by the code")
    report.assignments[0].raw_score = report.assignments[0].score = 2.0
    return report


def test_grader_fault_is_never_the_students_failure(tmp_path):
    report = _faulty_report()
    terminal = rep.terminal_summary(report)
    assert "failed" not in terminal and "grader fault, not your code" in terminal and "toy/a.hidden" in terminal
    line = rep.progress_line("toy", "A", report.components[0].checks[1], width=400)
    assert "grader fault, not your code" in line
    md = rep.to_markdown(report, tmp_path, tmp_path / "r.md")
    assert "❌" not in md and "| failed" not in md and "Checks that lost points" not in md
    assert "grader fault, not your code" in md and "a.hidden" in md
    gs = rep.to_gradescope(report)
    test = next(t for t in gs["tests"] if "a.hidden" in t["name"])
    assert test["visibility"] == "hidden" and "grader fault, not your code" in test["output"]
    assert "Grading incomplete" in gs["output"]
    assert "printed by the code" not in test["output"]
    junit = ET.fromstring(rep.to_junit(report).split("\n", 1)[1])
    case = next(c for c in junit.iter("testcase") if c.get("name") == "a.hidden")
    assert case.find("failure") is None and case.find("error").get("type") == "grader_error"
    assert case.find("error").get("message").startswith("grader fault, not your code")
    row = next(csv.DictReader(io.StringIO(rep.to_csv([report]))))
    assert row["status"] == "grader fault (re-run): toy/a.hidden"
    assert json.loads(rep.to_json(report))["grader_faults"] == ["toy/a.hidden"]
    assert json.loads(rep.to_json(_report(BENIGN, "bob")))["grader_faults"] == []


def _with_fault(monkeypatch, check_id: str):
    real = cli.grade_submission

    def faulty(*args, **kwargs):
        report = real(*args, **kwargs)
        for _, chk in report.checks():
            if chk.id == check_id:
                chk.status, chk.score, chk.message = "grader_error", 0.0, FAULT
        return report

    monkeypatch.setattr(commands, "grade_submission", faulty)


def test_grader_fault_exits_3_with_one_line(tmp_path, capsys, monkeypatch):
    _with_fault(monkeypatch, "scale.values")
    code, out, err = run_cli(toy_args(str(SUBS / "wrong"), "--in-process", "--json", str(tmp_path / "r.json"),
                                      "--fail-under", "1"), capsys)
    assert code == 3
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err
    assert lines[0].startswith("grader: grader fault in toy/scale.values (not the student's): the reference failed")
    assert lines[0].endswith("; fix the grader and re-run")
    assert json.loads((tmp_path / "r.json").read_text())["grader_faults"] == ["toy/scale.values"]
    assert "grader fault, not your code" in out


def test_engine_grader_fault_end_to_end(tmp_path, capsys):
    """The engine's own grader_error (a verdict that raises on the reference's output too: the
    ctxtoy fixture's ``faulty.verdict``) through the CLI: exit 3, one line, full marks elsewhere."""
    code, out, err = run_cli(["run", "--assignment", str(FIXTURES / "ctxtoy"), "--reference-dir", str(TOYREF),
                              str(TOYREF), "--in-process", "--only", "faulty.verdict,Add",
                              "--markdown", str(tmp_path / "r.md")], capsys)
    assert code == 3
    assert err.strip().splitlines() == [err.strip()]
    assert err.startswith("grader: grader fault in ctxtoy/faulty.verdict (not the student's): the verdict raised")
    assert "grader fault, not your code" in out and "failed" not in out
    assert "Not graded: grader fault, not your code" in (tmp_path / "r.md").read_text()


def test_grader_fault_in_a_class_run_is_one_line(tmp_path, capsys, monkeypatch):
    _with_fault(monkeypatch, "scale.values")
    klass = tmp_path / "class"
    klass.mkdir()
    for name in ("alice", "bob"):
        copy_package(SUBS / "wrong", klass / name)
    code, out, err = run_cli(toy_args("--class", str(klass), "--in-process", "-q", "--report-dir",
                                      str(tmp_path / "out")), capsys)
    assert code == 3
    assert err.strip().splitlines() == [err.strip()]
    assert "toy/scale.values (not the student's; 2 submissions)" in err
    assert (tmp_path / "out" / "gradebook.csv").is_file()


# ----------------------------------------------------------------------------------------------
# Hidden checks' output tails
# ----------------------------------------------------------------------------------------------

def test_hidden_check_output_stays_out_of_student_reports(tmp_path):
    report = _report("wrong values", "alice", output="HIDDEN-INPUT-ECHO 0.123")
    public, hidden = report.components[0].checks
    public.output = "public output line"
    gs = rep.to_gradescope(report)
    by_id = {t["name"].split(" / ")[2].split(":")[0]: t for t in gs["tests"]}
    assert "public output line" in by_id["a.values"]["output"]
    assert "HIDDEN-INPUT-ECHO" not in json.dumps(gs) and rep.HIDDEN_OUTPUT_NOTE in by_id["a.hidden"]["output"]
    assert "HIDDEN-INPUT-ECHO" not in rep.to_junit(report)
    assert "HIDDEN-INPUT-ECHO" not in rep.to_markdown(report, tmp_path, tmp_path / "r.md")
    assert "HIDDEN-INPUT-ECHO" in rep.to_json(report)  # the instructor's full record


# ----------------------------------------------------------------------------------------------
# Bounded report steps
# ----------------------------------------------------------------------------------------------

def test_huge_messages_and_lists_are_bounded_in_every_format(tmp_path):
    huge = ("*_[x](<y>)| \x1b[31m" * 200_000)[: 2 * 1024 * 1024]
    report = _report(huge, "n" * 100_000, output=huge)
    report.components[0].checks[0].attachments = [f"attachments/p{i}.png" for i in range(200_000)]
    report.error = huge
    for fmt, text in _every_format(report, tmp_path).items():
        assert len(text) < 120_000, (fmt, len(text))
    chk = report.components[0].checks[0]
    assert len(chk.message) <= rep.MESSAGE_LIMIT and "more characters]" in chk.message
    assert "199980 more attachment(s) not listed" in chk.message
    assert len(chk.attachments) == rep.ATTACHMENT_LIMIT


def test_a_hanging_writer_costs_only_its_report(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(rep, "WRITER_BUDGET", 0.5)
    monkeypatch.setattr(rep, "to_junit", lambda report: time.sleep(30) or "")

    def broken(report):
        raise RuntimeError("writer bug")

    monkeypatch.setattr(rep, "gradescope_json", lambda report, hidden="after_due_date": broken(report))
    paths = {k: tmp_path / f"r.{k}" for k in ("json", "junit", "gradescope", "md", "csv")}
    code, out, err = run_cli(toy_args(str(SUBS / "wrong"), "--in-process", "-q", "--json", str(paths["json"]),
                                      "--junit", str(paths["junit"]), "--gradescope", str(paths["gradescope"]),
                                      "--markdown", str(paths["md"]), "--csv", str(paths["csv"])), capsys)
    assert code == cli.EXIT_ERROR
    lines = err.strip().splitlines()
    assert len(lines) == 2 and "Traceback" not in err
    assert lines[0].startswith(f"grader: error: --gradescope {paths['gradescope']} not written: RuntimeError")
    assert lines[1].startswith(f"grader: error: --junit {paths['junit']} not written: ReportStepTimeout")
    assert json.loads(paths["json"].read_text())["score"] == 3.5
    assert paths["md"].is_file() and paths["csv"].is_file()
    assert not paths["junit"].exists() and not paths["gradescope"].exists()
