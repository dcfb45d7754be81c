"""Reports (docs/DESIGN.md principle 7): JSON schema, Gradescope, JUnit, Markdown, CSV, terminal; overrides,
deadline caps and determinism."""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import io
import json
import re
import xml.etree.ElementTree as ET

import pytest

from grader import cli
from grader.core.overrides import Override
from grader.core import report as rep
from grader.core.engine import CheckResult
from grader.core.report import strip_volatile, to_gradescope

from grader_testkit import ALL_STATUSES, SUBS, TOYREF, copy_package, grade_in_process, run_cli, toy_args

OVERRIDES = """
schema = 1
reviewer = "Head TA"

[[override]]
assignment = "toy"
component = "Report"
score = 1.5
remark = "clear plots, one answer missing"

[[override]]
assignment = "toy"
component = "Add"
remark = "subtracts instead of adding"
reviewer = "Second TA"
"""


@pytest.fixture(scope="module")
def cli_runs(tmp_path_factory):
    """Two identical isolated CLI runs of the `wrong` submission, every report format."""
    tmp = tmp_path_factory.mktemp("reports")
    (tmp / "overrides.toml").write_text(OVERRIDES)
    runs = []
    for i in range(2):
        d = tmp / f"run{i}"
        argv = toy_args(str(SUBS / "wrong"), "--overrides", str(tmp / "overrides.toml"),
                        "--submitted-at", "2026-01-05T12:00:00+00:00", "--report-dir", str(d / "report"),
                        "--json", str(d / "r.json"), "--gradescope", str(d / "results.json"),
                        "--junit", str(d / "junit.xml"), "--markdown", str(d / "r.md"), "--csv", str(d / "r.csv"))
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            code = cli.main(argv)
        runs.append({"dir": d, "code": code, "stdout": out.getvalue(),
                     "json": json.loads((d / "r.json").read_text())})
    return runs


def test_exit_zero_whatever_the_score(cli_runs):
    assert [r["code"] for r in cli_runs] == [0, 0]


def test_json_schema(cli_runs):
    r = cli_runs[0]["json"]
    assert r["schema_version"] == 1
    for key in ("grader_version", "submission", "score", "max_score", "bonus_score", "bonus_max_score",
                "assignments", "components", "isolation", "options", "started_at", "timings", "error"):
        assert key in r, key
    assert r["isolation"]["mode"] == "isolated"
    assert r["timings"]["total_seconds"] > 0 and "toy" in r["timings"]["assignments"]
    assert r["submission"]["name"] == "wrong"
    # wrong: Add 1 (add.shape) + Scale 2 + Relu 0.5 (partial) + Report 1.5 (reviewed); Cube (bonus) 0
    assert (r["score"], r["max_score"], r["bonus_score"], r["bonus_max_score"]) == (5.0, 7.0, 0.0, 1.0)
    for comp in r["components"]:
        for key in ("assignment", "name", "score", "max_score", "checks", "status"):
            assert key in comp
        assert comp["status"] in ALL_STATUSES
        for chk in comp["checks"]:
            for key in ("name", "status", "score", "max_score", "message"):
                assert key in chk
            assert chk["status"] in ALL_STATUSES
    by_name = {c["name"]: c for c in r["components"]}
    assert by_name["Relu"]["score"] == 0.5 and by_name["Relu"]["checks"][0]["status"] == "failed"
    assert by_name["Report"]["override"] == {"score": 1.5, "remark": "clear plots, one answer missing",
                                             "reviewer": "Head TA"}
    assert by_name["Report"]["status"] == "failed" and by_name["Report"]["score"] == 1.5
    assert by_name["Add"]["score"] == 1.0 and by_name["Add"]["override"]["remark"] == "subtracts instead of adding"


def test_determinism(cli_runs):
    a, b = (strip_volatile(r["json"]) for r in cli_runs)
    assert a == b


def test_terminal_progress_and_table(cli_runs):
    out = cli_runs[0]["stdout"]
    lines = out.splitlines()
    assert lines[0].startswith("grading wrong")
    for check in ("add.values", "add.shape", "scale.values", "relu.values", "cube.values"):
        assert any(check in line and line.lstrip().split()[0] in ALL_STATUSES for line in lines), check
    assert "toy / Report (manual)" in out and "(reviewed)" in out
    assert "review: toy / Add" in out and "subtracts instead of adding" in out
    assert "results of wrong" in lines  # the table names its submission (also with -q)
    assert lines[-1] == "TOTAL 5 / 7 + bonus 0 / 1 = 5"
    assert "\x1b[" not in out  # plain text for CI logs


GRADESCOPE_TOP = {"score": (int, float), "execution_time": (int,), "output": (str,), "visibility": (str,),
                  "stdout_visibility": (str,), "tests": (list,)}
PENDING_OPTIONAL = ("score", "max_score", "status")  # absent from a pending manual item only
GRADESCOPE_TEST = {"name": (str,), "score": (int, float), "max_score": (int, float), "status": (str,),
                   "output": (str,), "visibility": (str,)}
VISIBILITIES = {"visible", "hidden", "after_due_date", "after_published"}


def test_gradescope_fields(cli_runs):
    gs = json.loads((cli_runs[0]["dir"] / "results.json").read_text())
    for key, types in GRADESCOPE_TOP.items():
        assert isinstance(gs[key], types), key
    assert gs["visibility"] in VISIBILITIES and gs["stdout_visibility"] in VISIBILITIES
    assert gs["score"] == 5.0
    for test in gs["tests"]:
        assert set(test) <= set(GRADESCOPE_TEST) | {"number", "tags", "extra_data", "name_format", "output_format"}
        for key, types in GRADESCOPE_TEST.items():
            assert key in PENDING_OPTIONAL or isinstance(test[key], types), (key, test)
        assert test.get("status", "passed") in ("passed", "failed") and test["visibility"] in VISIBILITIES
        if "max_score" in test:
            assert 0 <= test["score"] <= test["max_score"]
    names = [t["name"] for t in gs["tests"]]
    assert any(n.startswith("toy / Add / add.values") for n in names)
    assert "toy / Report (reviewed)" in names
    hidden = [t for t in gs["tests"] if "scale.values" in t["name"]][0]
    assert hidden["visibility"] == "after_due_date"
    public = [t for t in gs["tests"] if "add.shape" in t["name"]][0]
    assert public["visibility"] == "visible"
    assert any("subtracts instead of adding" in t["output"] for t in gs["tests"])


def test_junit_parses(cli_runs):
    root = ET.parse(cli_runs[0]["dir"] / "junit.xml").getroot()
    assert root.tag == "testsuites"
    suite = root.find("testsuite")
    assert suite.get("name") == "toy"
    cases = suite.findall("testcase")
    assert len(cases) == 6  # five checks + the manual component
    assert int(suite.get("tests")) == 6 and int(root.get("tests")) == 6
    failures = [c for c in cases if c.find("failure") is not None]
    assert {c.get("name") for c in failures} == {"add.values", "relu.values", "cube.values", "Report (manual review)"}
    assert int(suite.get("failures")) == 4 and int(suite.get("errors")) == 0
    props = {p.get("name"): p.get("value") for p in suite.find("properties")}
    assert props["score"] == "5"


def test_markdown_table(cli_runs):
    md = (cli_runs[0]["dir"] / "r.md").read_text()
    assert "| Assignment | Component | Status | Score |" in md
    assert "| toy | Scale | ✅ passed | 2 / 2 |" in md
    assert "| toy | Report (manual) | ❌ failed (reviewed) | 1.5 / 2 |" in md
    assert "**Score: 5 / 7 + bonus 0 / 1 = 5**" in md
    assert "| **toy** | **total** | | **5 / 7 + bonus 0 / 1 = 5** |" in md
    assert "subtracts instead of adding" in md and "`relu.values`" in md


def test_csv_row(cli_runs):
    rows = list(csv.DictReader(io.StringIO((cli_runs[0]["dir"] / "r.csv").read_text())))
    assert len(rows) == 1
    row = rows[0]
    assert [row[k] for k in ("submission", "score", "max_score", "bonus_score", "bonus_max_score", "total")] \
        == ["wrong", "5", "7", "0", "1", "5"]
    assert [row[f"toy {k}"] for k in ("score", "max_score", "bonus_score", "bonus_max_score", "total")] \
        == ["5", "7", "0", "1", "5"]
    assert row["toy/Relu"] == "0.5" and row["toy/Report"] == "1.5"
    assert "subtracts instead of adding" in row["notes"]


# ----------------------------------------------------------------------------------------------
# Policy and overrides (in-process: no worker needed)
# ----------------------------------------------------------------------------------------------

def _at(text):
    return dt.datetime.fromisoformat(text)


@pytest.mark.parametrize("submitted, score, capped, forfeited", [
    ("2026-01-05T00:00:00+00:00", 4.5, False, False),   # before every deadline: 3.5 + bonus 1
    ("2026-01-15T00:00:00+00:00", 4.0, True, False),    # after the first cap: 3 + bonus 1
    ("2026-01-25T00:00:00+00:00", 1.0, True, False),    # after the second: 0 + bonus 1
    ("2026-02-15T00:00:00+00:00", 0.0, True, True),     # and after the bonus deadline: 0
])
def test_deadline_caps(tmp_path, toy, toy_reference, submitted, score, capped, forfeited):
    pkg = copy_package(SUBS / "wrong", tmp_path / "sub")
    (pkg / "toy" / "ops.py").write_text((pkg / "toy" / "ops.py").read_text().replace("x ** 2", "x ** 3"))
    report = grade_in_process(pkg, toy, toy_reference, submitted_at=_at(submitted))
    summary = report.assignments[0]
    assert (report.score, summary.policy["capped"], summary.policy["bonus_forfeited"]) == (score, capped, forfeited)
    assert summary.raw_score == 3.5 and summary.raw_bonus == 1.0


def test_no_submission_time_no_cap(toy, toy_reference):
    report = grade_in_process(SUBS / "wrong", toy, toy_reference)
    assert report.score == 3.5 and report.assignments[0].policy["cap"] is None


def test_remark_costs_nothing_and_manual_waits_for_review(toy, toy_reference):
    remark_only = [Override("toy", "Scale", remark="nice"), Override("toy", "Report", remark="seen, not graded yet")]
    report = grade_in_process(SUBS / "wrong", toy, toy_reference, overrides=remark_only)
    comps = {c.name: c for c in report.components}
    assert comps["Scale"].score == 2 and comps["Scale"].status == "passed"
    assert comps["Report"].status == "pending_review" and comps["Report"].score == 0
    assert report.score == 3.5


def test_override_for_another_submission_does_not_apply(toy, toy_reference):
    entries = [Override("toy", "Report", score=2, submission="someone-else"),
               Override("toy", "Add", score=2, submission="wrong")]
    report = grade_in_process(SUBS / "wrong", toy, toy_reference, overrides=entries)
    comps = {c.name: c for c in report.components}
    assert comps["Report"].status == "pending_review"
    assert comps["Add"].score == 2 and comps["Add"].status == "passed"


def test_gradescope_caps_show_in_output(toy, toy_reference):
    report = grade_in_process(SUBS / "wrong", toy, toy_reference, submitted_at=_at("2026-01-15T00:00:00+00:00"))
    gs = to_gradescope(report)
    assert gs["score"] == 3.0 and "capped at 3" in gs["output"]


def test_fail_under(capsys):
    code, _, _ = run_cli(toy_args(str(SUBS / "wrong"), "--in-process", "-q", "--fail-under", "50%"), capsys)
    assert code == 0  # 3.5 of 7
    code, _, _ = run_cli(toy_args(str(SUBS / "wrong"), "--in-process", "-q", "--fail-under", "3.6"), capsys)
    assert code == 1


# ----------------------------------------------------------------------------------------------
# Attachments: every report's are its own (fixtures/pictoy: two verdicts write the same file name)
# ----------------------------------------------------------------------------------------------

PICTOY = SUBS.parent / "pictoy"


def _pictoy_run(capsys, target, report_dir, *extra):
    argv = ["run", "--assignment", str(PICTOY), "--reference-dir", str(TOYREF), "--in-process", "-q",
            "--report-dir", str(report_dir), *extra]
    return run_cli([*argv[:1], str(target), *argv[1:]] if target else argv, capsys)


def _attached(report: dict, report_dir) -> dict:
    """check id -> the text of its attachment, read where the report says it is."""
    return {chk["name"]: (report_dir / chk["attachments"][0]).read_text()
            for comp in report["components"] for chk in comp["checks"]}


def test_single_runs_into_one_report_dir_keep_their_own_attachments(tmp_path, capsys):
    alice = copy_package(TOYREF, tmp_path / "alice")
    bob = copy_package(SUBS / "wrong", tmp_path / "bob")
    out = tmp_path / "grader-report"
    for who in (alice, bob):
        code, _, err = _pictoy_run(capsys, who, out, "--json", str(tmp_path / f"{who.name}.json"),
                                   "--markdown", str(tmp_path / f"{who.name}.md"))
        assert code == 0, err
    seen = {who: _attached(json.loads((tmp_path / f"{who}.json").read_text()), out) for who in ("alice", "bob")}
    assert seen["alice"] == {"add.picture": "add: [1.0, 2.0, 3.0]\n", "relu.picture": "relu: [0.0, 0.0, 1.0]\n"}
    assert seen["bob"] == {"add.picture": "add: [-1.0, 0.0, 1.0]\n", "relu.picture": "relu: [1.0, 0.0, 1.0]\n"}
    md = (tmp_path / "alice.md").read_text()
    links = re.findall(r"\]\(([^)]*)\)", md)
    assert sorted((tmp_path / link).read_text() for link in links) == sorted(seen["alice"].values())
    names = [n for r in ("alice", "bob") for c in json.loads((tmp_path / f"{r}.json").read_text())["components"]
             for n in c["checks"][0]["attachments"]]
    assert all(re.fullmatch(rf"attachments/{r}-picture-[0-9a-f]{{12}}\.txt", n)
               for r, n in zip(["alice"] * 2 + ["bob"] * 2, names)), names


def test_class_run_attachments_are_each_submissions_own(tmp_path, capsys):
    klass = tmp_path / "class"
    copy_package(TOYREF, klass / "alice")
    copy_package(SUBS / "wrong", klass / "bob")
    out = tmp_path / "out"
    code, _, err = _pictoy_run(capsys, None, out, "--class", str(klass))
    assert code == 0, err
    for who, add in (("alice", "add: [1.0, 2.0, 3.0]\n"), ("bob", "add: [-1.0, 0.0, 1.0]\n")):
        folder = out / "submissions" / who
        seen = _attached(json.loads((folder / "report.json").read_text()), folder)
        assert seen["add.picture"] == add and seen["relu.picture"].startswith("relu:")


# ----------------------------------------------------------------------------------------------
# Totals: regular points out of the regular maximum, then the bonus out of its own
# ----------------------------------------------------------------------------------------------

def test_totals_keep_the_bonus_apart_in_every_format(toy, toy_reference, tmp_path):
    report = grade_in_process(TOYREF, toy, toy_reference)  # regular 5 of 7 (Report pending), bonus 1 of 1
    totals = "5 / 7 + bonus 1 / 1 = 6"
    assert rep.terminal_summary(report).splitlines()[-1] == f"TOTAL {totals}"
    assert "toy total" in rep.terminal_summary(report) and totals in rep.terminal_summary(report).splitlines()[-2]
    md = rep.to_markdown(report, tmp_path, tmp_path / "r.md")
    assert f"**Score: {totals}**" in md and f"| **toy** | **total** | | **{totals}** |" in md
    gs = to_gradescope(report)
    assert gs["score"] == 6 and gs["output"].startswith(f"Score: {totals}")
    js = json.loads(rep.to_json(report))
    assert (js["score"], js["regular_score"], js["max_score"], js["bonus_score"],
            js["bonus_max_score"]) == (6, 5, 7, 1, 1)
    assert (js["assignments"][0]["regular_score"], js["assignments"][0]["score"]) == (5, 6)
    props = {p.get("name"): p.get("value")
             for p in ET.fromstring(rep.to_junit(report).split("\n", 1)[1]).iter("property")}
    assert props == {"score": "6", "regular_score": "5", "max_score": "7", "bonus_score": "1", "bonus_max_score": "1"}
    (row,) = csv.DictReader(io.StringIO(rep.to_csv([report])))
    assert [row[k] for k in ("score", "max_score", "bonus_score", "bonus_max_score", "total")] \
        == ["5", "7", "1", "1", "6"]
    assert [row[f"toy {k}"] for k in ("score", "max_score", "bonus_score", "bonus_max_score", "total")] \
        == ["5", "7", "1", "1", "6"]
    assert "| toyref | 5 / 7 | 1 / 1 | 6 | graded |" in rep.class_markdown([report])


def test_the_cap_note_counts_only_the_capped_regular_points(tmp_path, toy, toy_reference):
    pkg = copy_package(SUBS / "wrong", tmp_path / "sub")
    (pkg / "toy" / "ops.py").write_text((pkg / "toy" / "ops.py").read_text().replace("x ** 2", "x ** 3"))
    report = grade_in_process(pkg, toy, toy_reference, submitted_at=_at("2026-01-15T00:00:00+00:00"))
    (note,) = rep.policy_notes(report.assignments[0])  # regular 3.5 capped at 3, bonus 1 on top
    assert "regular score capped at 3 (before the cap: 3.5; the bonus is not capped)" in note, note
    assert rep.terminal_summary(report).splitlines()[-1] == "TOTAL 3 / 7 + bonus 1 / 1 = 4"


# ----------------------------------------------------------------------------------------------
# Messages: whole in the terminal (wrapped) and in Markdown (in a details block)
# ----------------------------------------------------------------------------------------------

LONG = ("the class heatmaps light up around and away from the true centres instead of peaking only on them; "
        * 4 + "use a sigmoid per class, not a softmax over the classes")


def _check(status: str, message: str) -> CheckResult:
    return CheckResult("head.activation", "Head", "head", status, 0.0, 1.0, message, "public")


def test_the_terminal_shows_a_failed_checks_whole_message_wrapped():
    text = rep.progress_line("centernet", "Head", _check("failed", LONG + "\nsecond line"), width=60)
    lines = text.splitlines()
    assert len(lines) > 3 and all(len(line) <= 60 for line in lines), lines
    assert " ".join(" ".join(lines[1:]).split()) == " ".join((LONG + " second line").split())
    assert lines[-1].strip() == "second line"  # the message's own lines are kept


def test_passed_checks_show_their_message_with_verbose_only(capsys):
    assert rep.progress_line("toy", "Add", _check("passed", "shape ok")).splitlines() == \
        [rep.progress_line("toy", "Add", _check("passed", ""))]
    assert "shape ok" in rep.progress_line("toy", "Add", _check("passed", "shape ok"), verbose=True)
    quiet_ones = {}
    for flag in ("-v", None):
        code, out, err = run_cli(
            toy_args(str(SUBS / "wrong"), "--in-process", "--only", "Add", *([flag] if flag else [])), capsys)
        assert code == 0, err
        quiet_ones[flag] = out
    assert "shape ok" in quiet_ones["-v"] and "shape ok" not in quiet_ones[None]
    assert "out of tolerance" in quiet_ones[None]  # the failed check's message, always
    code, _, err = run_cli(toy_args(str(SUBS / "wrong"), "--in-process", "-q", "-v"), capsys)
    assert code == 2 and err.startswith("grader: error:") and len(err.splitlines()) == 1


def test_markdown_holds_whole_messages_in_a_details_block(toy, toy_reference, tmp_path):
    report = grade_in_process(SUBS / "wrong", toy, toy_reference)
    report.components[0].checks[0].message = LONG + "\nsecond line"
    md = rep.to_markdown(report, tmp_path, tmp_path / "r.md")
    details = md[md.index("<details>"):md.index("</details>")]
    assert LONG in details and "<br>second line" in details


# ----------------------------------------------------------------------------------------------
# Names: `grader run .`, class runs with -q
# ----------------------------------------------------------------------------------------------

def test_run_dot_names_the_submission_after_its_folder(tmp_path, capsys, monkeypatch):
    pkg = copy_package(SUBS / "wrong", tmp_path / "alice")
    monkeypatch.chdir(pkg)
    code, out, err = run_cli(toy_args(".", "--in-process", "--json", str(tmp_path / "r.json"), "--only", "Add"), capsys)
    assert code == 0, err
    assert json.loads((tmp_path / "r.json").read_text())["submission"]["name"] == "alice"
    assert out.startswith("grading alice ") and "results of alice" in out


def test_a_quiet_class_run_names_every_table(tmp_path, capsys):
    klass = tmp_path / "class"
    copy_package(SUBS / "wrong", klass / "alice")
    copy_package(TOYREF, klass / "bob")
    code, out, err = run_cli(toy_args("--class", str(klass), "--in-process", "-q", "--report-dir", str(tmp_path / "o"),
                                      "--only", "Add"), capsys)
    assert code == 0, err
    tables = [block for block in out.split("results of ")[1:]]
    assert [t.split("\n", 1)[0] for t in tables] == ["alice", "bob"]
    assert all("TOTAL" in t for t in tables)


# ----------------------------------------------------------------------------------------------
# Public-only runs say what their score is out of
# ----------------------------------------------------------------------------------------------

def test_public_only_scores_say_what_they_are_out_of(toy, toy_reference, tmp_path):
    report = grade_in_process(SUBS / "wrong", toy, None, public_only=True)
    assert (report.max_score, report.bonus_max_score) == (2, 0)  # Add's public checks only
    said = "is out of the 2 point(s) of the public checks (--public-only); the whole assignment is out of 7 + bonus 1"
    hidden = "the hidden checks and the reviewed components add to this score"
    terminal = rep.terminal_summary(report)
    assert said in terminal and hidden in terminal and "part of the rubric" in terminal.splitlines()[-1]
    for text in (rep.to_markdown(report, tmp_path, tmp_path / "r.md"), to_gradescope(report)["output"],
                 next(csv.DictReader(io.StringIO(rep.to_csv([report]))))["notes"]):
        assert said in text and hidden in text
    assert json.loads(rep.to_json(report))["assignments"][0]["rubric_max_score"] == 7


def test_a_whole_run_has_no_scope_note(toy, toy_reference):
    assert rep.scope_notes(grade_in_process(SUBS / "wrong", toy, toy_reference)) == []


# ----------------------------------------------------------------------------------------------
# Gradescope: a manual item nobody scored yet is pending, neither failed nor promising points
# ----------------------------------------------------------------------------------------------

def _pending_test(report):
    (test,) = [t for t in to_gradescope(report)["tests"] if "manual review" in t["name"]]
    return test


def test_gradescope_pending_manual_items_are_neither_failed_nor_scored(toy, toy_reference):
    report = grade_in_process(SUBS / "wrong", toy, toy_reference)
    test = _pending_test(report)
    assert "status" not in test and "score" not in test and "max_score" not in test, test
    assert test["name"] == "toy / Report (manual review: pending)"
    assert "its 2 point(s) are not in this score yet" in test["output"]
    assert "toy / Report (2 point(s), not in this score yet)" in to_gradescope(report)["output"]
    report.components[-1].max_score = 0.0  # a written answer reviewed for no points (detection)
    test = _pending_test(report)
    assert "point" not in test["output"].replace("(no points)", "") and "status" not in test, test
    assert "not in this score yet" not in to_gradescope(report)["output"]
