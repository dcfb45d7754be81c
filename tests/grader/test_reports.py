"""Reports (DESIGN.md principle 6): JSON schema, Gradescope, JUnit, Markdown, CSV, terminal; overrides,
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
    assert lines[-1] == "TOTAL 5 / 7 (bonus included: 0)"
    assert "\x1b[" not in out  # plain text for CI logs


GRADESCOPE_TOP = {"score": (int, float), "execution_time": (int,), "output": (str,), "visibility": (str,),
                  "stdout_visibility": (str,), "tests": (list,)}
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
            assert isinstance(test[key], types), (key, test)
        assert test["status"] in ("passed", "failed") and test["visibility"] in VISIBILITIES
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
    assert "**Score: 5 / 7**" in md
    assert "subtracts instead of adding" in md and "`relu.values`" in md


def test_csv_row(cli_runs):
    rows = list(csv.DictReader(io.StringIO((cli_runs[0]["dir"] / "r.csv").read_text())))
    assert len(rows) == 1
    row = rows[0]
    assert (row["submission"], row["score"], row["max_score"], row["bonus_score"]) == ("wrong", "5", "7", "0")
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
