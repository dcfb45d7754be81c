"""Class runs at scale (issue 12.3-12.5): parallel jobs, the results cache, shards and merging,
submission times, class statistics. On the toy assignment (fast); the recipes of
docs/CLASS_RUNS.md are read from the page itself."""

from __future__ import annotations

import csv
import datetime as _dt
import io
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

from grader.core import classrun, report as rep, stats as class_stats, subtime

from grader_testkit import ROOT_DIR, SUBS, TOY, TOYREF, copy_package, grade_in_process, run_cli, toy_args

DOC = ROOT_DIR / "docs" / "CLASS_RUNS.md"
PY = sys.executable


def _exiter(dst: Path) -> Path:
    """Correct code whose package calls os._exit when imported."""
    copy_package(TOYREF, dst)
    with open(dst / "toy" / "__init__.py", "a") as f:
        f.write("\nimport os\nos._exit(7)\n")
    return dst


def _looper(dst: Path) -> Path:
    """Correct code but `cube`, which never returns."""
    copy_package(TOYREF, dst)
    with open(dst / "toy" / "ops.py", "a") as f:
        f.write("\n\ndef cube(x):\n    while True:\n        pass\n")
    return dst


def _zip(src: Path, dst: Path) -> Path:
    with zipfile.ZipFile(dst, "w") as zf:
        for p in sorted(src.rglob("*")):
            if p.is_file() and "__pycache__" not in p.parts:
                zf.write(p, p.relative_to(src.parent))
    return dst


def _toy_class(root: Path, hostile: bool = False) -> Path:
    cls = root / "class"
    cls.mkdir()
    copy_package(TOYREF, cls / "ref")
    copy_package(SUBS / "stub", cls / "stub")
    copy_package(SUBS / "wrong", cls / "wrong")
    copy_package(SUBS / "import_error", cls / "broken")
    _zip(TOYREF, cls / "refzip.zip")
    (cls / "corrupt.zip").write_bytes(b"not a zip archive")
    if hostile:
        _exiter(cls / "exiter")
        _looper(cls / "looper")
    return cls


def _rows(path: Path) -> dict:
    return {r["submission"]: r for r in csv.DictReader(io.StringIO(Path(path).read_text()))}


# ----------------------------------------------------------------------------------------------
# Reports read back, the cache key's inputs
# ----------------------------------------------------------------------------------------------

def test_report_state_round_trip_keeps_every_format(toy, toy_reference):
    """A report read back from its state writes the same JSON, CSV and Markdown; to_dict's
    rounded copy would not be enough (a third of a point)."""
    report = grade_in_process(SUBS / "wrong", toy, toy_reference)
    report.components[0].checks[0].score = 1.0 / 3.0  # a partial score with many digits
    back = classrun.report_from_state(json.loads(json.dumps(classrun.report_state(report))))
    assert rep.to_json(back) == rep.to_json(report)
    assert rep.to_csv([back]) == rep.to_csv([report])
    assert rep.to_markdown(back) == rep.to_markdown(report)
    assert back.score == report.score  # full precision (to_dict rounds to 4 places)


def test_content_hash_follows_the_files(tmp_path):
    a = copy_package(SUBS / "wrong", tmp_path / "a")
    before = classrun.content_hash(a)
    (a / "toy" / "__pycache__").mkdir(exist_ok=True)
    (a / "toy" / "__pycache__" / "ops.cpython-311.pyc").write_bytes(b"compiled")
    assert classrun.content_hash(a) == before  # compiled files do not count
    (a / "toy" / "ops.py").write_text((a / "toy" / "ops.py").read_text() + "\n# changed\n")
    assert classrun.content_hash(a) != before


# ----------------------------------------------------------------------------------------------
# --jobs: parallel, isolated, one broken or hostile submission never stops the batch
# ----------------------------------------------------------------------------------------------

def test_parallel_isolated_class_with_hostile_and_broken_members(tmp_path, capsys):
    """Eight members, two jobs, isolated workers: the reference copies get full marks, the
    os._exit-at-import and the endless loop cost their checks only, the corrupt archive is an
    error row, every member has its progress line, the reference ran once (in the parent), and
    the statistics describe the class."""
    cls = _toy_class(tmp_path, hostile=True)
    out_dir = tmp_path / "reports"
    code, out, err = run_cli(toy_args("--class", str(cls), "--jobs", "2", "--report-dir", str(out_dir)), capsys)
    assert code == 0, err
    rows = _rows(out_dir / "gradebook.csv")
    assert sorted(rows) == ["broken", "corrupt", "exiter", "looper", "ref", "refzip", "stub", "wrong"]
    assert rows["ref"]["total"] == rows["refzip"]["total"] == "6"
    assert rows["stub"]["total"] == rows["broken"]["total"] == rows["exiter"]["total"] == "0"
    assert rows["looper"]["toy/Cube"] == "0" and rows["looper"]["toy/Add"] == "2"
    assert rows["corrupt"]["status"].startswith("error: ")
    looper = json.loads((out_dir / "submissions" / "looper" / "report.json").read_text())
    assert {c["status"] for comp in looper["components"] if comp["name"] == "Cube"
            for c in comp["checks"]} == {"timeout"}
    progress = re.findall(r"^\[(\d)/8\] (\S+) ", out, re.M)
    assert sorted(n for _, n in progress) == sorted(rows) and sorted(int(k) for k, _ in progress) == list(range(1, 9))
    assert "2 jobs" in out and "; 0 reference probe(s) re-run in jobs" in out  # not "; 10 ..."
    stats = {(r["level"], r["check"] or r["component"]): r for r in csv.DictReader(io.StringIO(
        (out_dir / "stats.csv").read_text()))}
    # cube.values: passed by ref and refzip only, of the 7 graded members (the corrupt archive is apart)
    assert (stats[("check", "cube.values")]["passed"], stats[("check", "cube.values")]["graded"]) == ("2", "7")
    assert stats[("check", "cube.values")]["mostly_failed"] == "1"
    assert (out_dir / "histogram.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "Checks most students fail" in (out_dir / "stats.md").read_text()


def test_a_job_that_dies_costs_its_member_only(tmp_path, capsys):
    """--in-process runs student code inside the grading job: os._exit there kills the job; that
    member gets its error row, a fresh job grades the rest, the run completes."""
    cls = tmp_path / "class"
    cls.mkdir()
    _exiter(cls / "a_exiter")
    for name in ("b_ref", "c_ref", "d_ref"):
        copy_package(TOYREF, cls / name)
    out_dir = tmp_path / "r"
    code, out, err = run_cli(toy_args("--class", str(cls), "--in-process", "--jobs", "2", "--report-dir",
                                      str(out_dir)), capsys)
    assert code == 0, err
    rows = _rows(out_dir / "gradebook.csv")
    assert rows["a_exiter"]["status"].startswith("error: grading stopped: the grading process exited (7)")
    assert [rows[n]["total"] for n in ("b_ref", "c_ref", "d_ref")] == ["6", "6", "6"]


# ----------------------------------------------------------------------------------------------
# The results cache: resume, changed submissions, --force
# ----------------------------------------------------------------------------------------------

def test_resume_skips_unchanged_members_and_regrades_changed_ones(tmp_path, capsys):
    cls = tmp_path / "class"
    cls.mkdir()
    copy_package(SUBS / "wrong", cls / "alice")
    copy_package(TOYREF, cls / "bob")
    out_dir = tmp_path / "r"
    args = toy_args("--class", str(cls), "--in-process", "--report-dir", str(out_dir))
    code, out, _ = run_cli(args, capsys)
    assert code == 0 and "grading alice" in out and "grading bob" in out
    first = (out_dir / "gradebook.csv").read_text()

    code, out, _ = run_cli(args, capsys)  # nothing changed: nothing graded
    assert code == 0 and "grading " not in out
    assert re.search(r"^\[\d/2\] alice 3\.5/7 \(cached\)$", out, re.M)
    assert (out_dir / "gradebook.csv").read_text() == first

    shutil.rmtree(cls / "alice")
    copy_package(TOYREF, cls / "alice")  # alice hands in again
    code, out, _ = run_cli(args, capsys)
    assert "grading alice" in out and "grading bob" not in out
    assert _rows(out_dir / "gradebook.csv")["alice"]["total"] == "6"

    code, out, _ = run_cli(args + ["--force"], capsys)
    assert "grading alice" in out and "grading bob" in out


def test_grader_faults_are_not_cached():
    report = rep.Report({"name": "x"}, error="boom", error_is_grader_fault=True)
    assert not classrun.cacheable(report)
    assert classrun.cacheable(rep.Report({"name": "x"}, error="corrupt archive"))


# ----------------------------------------------------------------------------------------------
# Shards and merge
# ----------------------------------------------------------------------------------------------

def test_shard_selection_is_a_partition():
    picked = [[i for i in range(10) if classrun.in_shard(i, (s, 3))] for s in range(3)]
    assert picked == [[0, 3, 6, 9], [1, 4, 7], [2, 5, 8]]
    for bad in ("3/3", "1", "a/b", "0/0", "-1/2"):
        with pytest.raises(classrun.ClassRunError):
            classrun.parse_shard(bad)


def _grader(*argv: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT_DIR)}
    return subprocess.run([PY, "-m", "grader", *argv], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_shards_as_separate_processes_merge_to_the_unsharded_gradebook(tmp_path):
    cls = _toy_class(tmp_path)
    (cls / "wrong-2").mkdir()  # two members named alike after cleaning would be deduplicated over the class
    copy_package(SUBS / "wrong", cls / "wrong-2" / "student")
    toy = ["--assignment", str(TOY), "--reference-dir", str(TOYREF), "--in-process", "-q"]
    full = _grader("run", *toy, "--class", str(cls), "--report-dir", "full", cwd=tmp_path)
    assert full.returncode == 0, full.stderr
    for i in range(3):
        r = _grader("run", *toy, "--class", str(cls), "--shard", f"{i}/3", "--report-dir", f"s{i}", cwd=tmp_path)
        assert r.returncode == 0, r.stderr
        assert len(json.loads((tmp_path / f"s{i}" / "class-results.json").read_text())["members"]) in (2, 3)
    merged = _grader("merge", "s0/class-results.json", "s1/class-results.json", "s2/class-results.json",
                     "--csv", "merged.csv", "--report-dir", "m", cwd=tmp_path)
    assert merged.returncode == 0, merged.stderr
    assert (tmp_path / "merged.csv").read_text() == (tmp_path / "full" / "gradebook.csv").read_text()
    assert (tmp_path / "m" / "stats.csv").read_text() == (tmp_path / "full" / "stats.csv").read_text()

    missing = _grader("merge", "s0/class-results.json", "s2/class-results.json", "--csv", "x.csv", cwd=tmp_path)
    assert missing.returncode == 2 and "(shard 1/3)" in missing.stderr and "Traceback" not in missing.stderr
    twice = _grader("merge", "s0/class-results.json", "s0/class-results.json", cwd=tmp_path)
    assert twice.returncode == 2 and "is in both" in twice.stderr
    (tmp_path / "bad.json").write_text("{}")
    bad = _grader("merge", "bad.json", cwd=tmp_path)
    assert bad.returncode == 2 and bad.stderr.startswith("grader: error: ") and len(bad.stderr.splitlines()) == 1


def _recipe(name: str) -> str:
    """The fenced block after ``<!-- recipe: NAME -->`` in docs/CLASS_RUNS.md."""
    m = re.search(rf"<!-- recipe: {re.escape(name)} -->\s*```\w*\n(.*?)```", DOC.read_text(), re.S)
    assert m, f"recipe {name} not found in {DOC}"
    return m.group(1)


def _shim(tmp_path: Path) -> dict:
    """A ``grader`` command on PATH that runs this checkout's grader (as ``pip install -e .``)."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "grader").write_text(f"#!/bin/sh\nexec {PY} -m grader \"$@\"\n")
    (bindir / "grader").chmod(0o755)
    toy = f"--assignment {TOY} --reference-dir {TOYREF} --in-process"
    return {**os.environ, "PATH": f"{bindir}:{os.environ['PATH']}", "PYTHONPATH": str(ROOT_DIR), "GRADER_ARGS": toy}


def _bash(script: str, cwd: Path, env: dict) -> None:
    r = subprocess.run(["bash", "-c", script], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, f"{script}\n{r.stdout}\n{r.stderr}"


def _unsharded(cwd: Path, env: dict) -> str:
    _bash("grader run $GRADER_ARGS --class submissions --report-dir full -q", cwd, env)  # as the recipes name it
    return (cwd / "full" / "gradebook.csv").read_text()


def test_github_actions_matrix_recipe_runs_as_written(tmp_path):
    """The workflow's grading and merge steps, with the matrix expressions substituted as Actions
    does and the artifacts laid out as download-artifact does (shards/<artifact name>/)."""
    workflow = yaml.safe_load(_recipe("github-actions"))
    shard_job, merge_job = workflow["jobs"]["shard"], workflow["jobs"]["merge"]
    shards = shard_job["strategy"]["matrix"]["shard"]
    grade = next(s["run"] for s in shard_job["steps"] if s.get("name") == "Grade shard")
    upload = next(s["with"] for s in shard_job["steps"] if s.get("uses", "").startswith("actions/upload-artifact"))
    download = next(s["with"] for s in merge_job["steps"] if s.get("uses", "").startswith("actions/download-artifact"))
    merge = next(s["run"] for s in merge_job["steps"] if s.get("name") == "Merge")
    env = _shim(tmp_path)
    cls = _toy_class(tmp_path)
    (tmp_path / "submissions").symlink_to(cls)

    def expand(text: str, shard) -> str:
        return text.replace("${{ matrix.shard }}", str(shard)).replace("${{ strategy.job-total }}", str(len(shards)))

    for shard in shards:  # each matrix job: its own runner; the artifact is its report folder
        _bash(expand(grade, shard), tmp_path, env)
        artifact = tmp_path / download["path"] / expand(upload["name"], shard)
        shutil.copytree(tmp_path / expand(upload["path"], shard), artifact)
    assert "${{" not in expand(grade, 0)
    _bash(merge, tmp_path, env)
    assert (tmp_path / "gradebook.csv").read_text() == _unsharded(tmp_path, env)


def test_slurm_array_recipe_runs_as_written(tmp_path):
    """shard.sh once per array task (Slurm's variables set as sbatch --array=0-3 sets them), then
    merge.sh; the gradebook is the unsharded one."""
    shard_sh, merge_sh = _recipe("slurm-shard"), _recipe("slurm-merge")
    array = re.search(r"#SBATCH --array=(\d+)-(\d+)", shard_sh)
    tasks = list(range(int(array.group(1)), int(array.group(2)) + 1))
    env = _shim(tmp_path)
    cls = _toy_class(tmp_path)
    (tmp_path / "submissions").symlink_to(cls)
    for task in tasks:
        _bash(shard_sh, tmp_path, {**env, "SLURM_ARRAY_TASK_ID": str(task), "SLURM_ARRAY_TASK_COUNT": str(len(tasks)),
                                   "SLURM_CPUS_PER_TASK": "1"})
    _bash(merge_sh, tmp_path, env)
    assert (tmp_path / "gradebook.csv").read_text() == _unsharded(tmp_path, env)


# ----------------------------------------------------------------------------------------------
# Submission times
# ----------------------------------------------------------------------------------------------

def _at(text: str) -> _dt.datetime:
    return _dt.datetime.fromisoformat(text)


def _git(repo: Path, when: str) -> None:
    env = {**os.environ, "GIT_COMMITTER_DATE": when, "GIT_AUTHOR_DATE": "2020-01-01T00:00:00+00:00",
           "GIT_AUTHOR_NAME": "s", "GIT_AUTHOR_EMAIL": "s@x", "GIT_COMMITTER_NAME": "s", "GIT_COMMITTER_EMAIL": "s@x"}
    for cmd in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "hand in"]):
        subprocess.run(["git", "-C", str(repo), *cmd], check=True, env=env, capture_output=True)


def test_submission_time_sources(tmp_path):
    repo = copy_package(SUBS / "wrong", tmp_path / "repo")
    _git(repo, "2026-01-15T12:00:00+00:00")
    assert subtime.resolve_time(repo, "auto") == (_at("2026-01-15T12:00:00+00:00"), subtime.SOURCE_GIT)
    plain = copy_package(SUBS / "wrong", tmp_path / "plain")
    os.utime(plain, (1768478400, 1768478400))  # 2026-01-15T12:00:00Z
    assert subtime.resolve_time(plain, "auto") == (_at("2026-01-15T12:00:00+00:00"), subtime.SOURCE_MTIME)
    inside = repo / "toy"  # inside a repository, not one of its own: the folder's time
    assert subtime.resolve_time(inside, "auto")[1] == subtime.SOURCE_MTIME
    assert subtime.resolve_time(repo, None) == (None, subtime.NONE)
    assert subtime.resolve_time(repo, "none") == (None, subtime.NONE)
    assert subtime.resolve_time(repo, "2026-01-02T00:00Z")[1] == subtime.SOURCE_OPTION
    times = {"repo": _at("2026-01-01T00:00:00+00:00")}
    assert subtime.resolve_time(repo, "auto", times, "repo") == (times["repo"], subtime.SOURCE_TIMES)


def test_git_time_caps_and_the_report_names_the_source(tmp_path, capsys):
    """A member committed after the toy's first cap (3 points) is capped; the JSON policy and the
    cap note say the time came from the last git commit."""
    cls = tmp_path / "class"
    cls.mkdir()
    late = copy_package(TOYREF, cls / "late")
    _git(late, "2026-01-15T12:00:00+00:00")
    out_dir = tmp_path / "r"
    code, _, err = run_cli(toy_args("--class", str(cls), "--in-process", "--submitted-at", "auto", "--report-dir",
                                    str(out_dir), "-q"), capsys)
    assert code == 0, err
    report = json.loads((out_dir / "submissions" / "late" / "report.json").read_text())
    policy = report["assignments"][0]["policy"]
    assert (policy["submitted_at"], policy["submitted_at_source"], policy["capped"]) == (
        "2026-01-15T12:00:00+00:00", "last git commit", True)
    assert report["score"] == 3 + 1  # capped at 3, the bonus still counts before its deadline
    assert "(last git commit), after 2026-01-10T23:59:00+00:00: regular score capped at 3" in \
        _rows(out_dir / "gradebook.csv")["late"]["notes"]


def test_times_csv_gives_each_member_its_time(tmp_path, capsys):
    cls = tmp_path / "class"
    cls.mkdir()
    for name in ("alice", "bob", "carol"):
        copy_package(TOYREF, cls / name)
    times = tmp_path / "times.csv"
    times.write_text("Student,Submitted At\nalice,2026-01-05T10:00:00+01:00\nbob,2026-01-15T10:00:00Z\n"
                     "dave,2026-01-05T10:00:00Z\n")
    out_dir = tmp_path / "r"
    code, _, err = run_cli(toy_args("--class", str(cls), "--in-process", "--times", str(times), "--report-dir",
                                    str(out_dir), "-q"), capsys)
    assert code == 0, err
    rows = _rows(out_dir / "gradebook.csv")
    assert (rows["alice"]["total"], rows["bob"]["total"], rows["carol"]["total"]) == ("6", "4", "6")
    assert "(--times file)" in rows["bob"]["notes"]
    assert "1 submission(s) have no row (carol)" in err and "1 row(s) name no submission (dave)" in err


@pytest.mark.parametrize("text, message", [
    ("alice,2026-01-05T10:00:00\n", "times.csv:1: 2026-01-05T10:00:00 needs a time zone"),
    ("name,submitted_at\nalice,yesterday\n", "times.csv:2: not an ISO date-time: 'yesterday'"),
    ("name,submitted_at\nalice\n", "times.csv:2: expected a name and a time, got 1 column(s)"),
    ("alice,2026-01-05T10:00Z\nalice,2026-01-06T10:00Z\n", "times.csv:2: 'alice' appears twice"),
    ("", "no rows"),
])
def test_a_malformed_times_file_is_one_line(tmp_path, capsys, text, message):
    cls = tmp_path / "class"
    cls.mkdir()
    copy_package(TOYREF, cls / "alice")
    (tmp_path / "times.csv").write_text(text)
    code, out, err = run_cli(toy_args("--class", str(cls), "--in-process", "--times", str(tmp_path / "times.csv"),
                                      "--report-dir", str(tmp_path / "r")), capsys)
    assert code == 2 and message in err and err.startswith("grader: error: ") and len(err.splitlines()) == 1
    assert "grading" not in out  # refused before anything was graded


def test_times_and_shard_need_a_class_run(tmp_path, capsys):
    code, _, err = run_cli(toy_args(str(TOYREF), "--in-process", "--shard", "0/2"), capsys)
    assert code == 2 and "take a class run" in err


# ----------------------------------------------------------------------------------------------
# Statistics
# ----------------------------------------------------------------------------------------------

def _fake(name: str, outcomes: dict, error: str | None = None) -> rep.Report:
    from grader.core.engine import CheckResult, ComponentResult

    comp = ComponentResult("a", "C", 2.0)
    for cid, status in outcomes.items():
        comp.checks.append(CheckResult(cid, "C", "", status, 1.0 if status == "passed" else 0.0, 1.0, "", "public"))
    summary = rep.AssignmentSummary("a", "A", 2.0, 0.0, comp.score, 0.0, comp.score, 0.0, {})
    return rep.Report({"name": name}, components=[] if error else [comp], assignments=[] if error else [summary],
                      error=error)


def test_statistics_count_rates_histogram_and_flags():
    reports = [_fake("s1", {"x": "passed", "y": "failed"}), _fake("s2", {"x": "passed", "y": "timeout"}),
               _fake("s3", {"x": "failed", "y": "grader_error"}), _fake("s4", {"x": "passed", "y": "passed"}),
               _fake("s5", {}, error="corrupt")]
    s = class_stats.compute(reports)
    rates = {r.check: r for r in s.checks}
    assert (s.graded, s.not_graded) == (4, 1)
    assert (rates["x"].passed, rates["x"].graded) == (3, 4)
    assert (rates["y"].passed, rates["y"].graded) == (1, 3)  # the grader fault counts for nobody
    assert [r.check for r in s.mostly_failed] == ["y"]
    assert s.components[0].passed == 1  # only s4 passed both
    assert sorted(s.scores) == [0.0, 50.0, 50.0, 100.0]
    assert [n for _, _, n in s.histogram] == [1, 0, 0, 0, 0, 2, 0, 0, 0, 1]  # 100 % is in the last bin
    text = class_stats.to_markdown(s)
    flagged = text.split("### Checks most students fail")[1].split("###")[0]
    assert "`y`" in flagged and "`x`" not in flagged
