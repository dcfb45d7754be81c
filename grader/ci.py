"""Pull-request grading for GitHub Classroom: ``grader init-ci [DIR]`` (docs/CI.md).

Writes ``DIR/.github/workflows/grade.yml`` (DIR: a student repository, default ``.``), a GitHub
Actions workflow that grades each pull request with the course's full grader, writes the Markdown
report to the job summary, posts or updates one comment on the pull request, uploads the JSON and
Markdown reports as an artifact, and fails the check when the total is below ``--fail-under``.

Trust model (the student controls the pull request; details in docs/CI.md):

- ``pull_request_target``: the workflow file and its steps come from the base branch, never from
  the pull request; the PR's code is checked out as data (``submission/``, no credentials kept) and
  only ever runs inside the grader's isolated worker (the grader runs as root on the runner, so the
  worker gets its namespaces, its own uid and its file allow-list);
- the grader, the reference and the hidden checks come from the course's private repository, at a
  pinned commit, through a read-only token; that token and the secret seed are secrets of a GitHub
  Environment (``grading``) restricted to the default branch, given as environment variables to the
  grader's parent process only (the worker's environment is built from scratch);
- the grading job has a read-only token; commenting is a second job that runs no student code;
- every action is pinned to a full commit SHA, the course to a commit SHA, torch/torchvision to the
  course's pins; no ``${{ github.event.* }}`` value is interpolated into a shell script (they reach
  the scripts as environment variables).
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path
from typing import Optional

ROOT = Path(__file__).resolve().parent.parent
WORKFLOW = Path(".github") / "workflows" / "grade.yml"
MARKER = "<!-- grader-report -->"
# Actions pinned to full commit SHAs (a tag can be moved; a SHA cannot).
ACTIONS = {
    "checkout": ("actions/checkout", "11bd71901bbe5b1630ceea73d27597364c9af683", "v4.2.2"),
    "upload": ("actions/upload-artifact", "ea165f8d65b6e75b540449e92b4886f43607fa02", "v4.6.2"),
    "download": ("actions/download-artifact", "d3f86a106a0bac45b974a628896c90dbdf5c8093", "v4.3.0"),
}
SHA = re.compile(r"[0-9a-f]{40}")
REPO = re.compile(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+")
ASSIGNMENT = re.compile(r"[A-Za-z0-9_,-]+")
FAIL_UNDER = re.compile(r"[0-9]+(\.[0-9]+)?%?")


class InitError(RuntimeError):
    """The workflow cannot be written; one line."""


def _uses(key: str) -> str:
    name, sha, tag = ACTIONS[key]
    return f"{name}@{sha}  # {tag}"


TEMPLATE = """\
# Grades each pull request with the course's grader (written by `grader init-ci`; docs/CI.md).
# Trust model: this file runs from the base branch (pull_request_target); the pull request's code
# is checked out as data and runs only inside the grader's isolated worker; the course token and
# the secret seed are secrets of the "grading" environment (restricted to the default branch) and
# reach only the grader's parent process; the grader, the actions and torch are pinned.
name: grade

on:
  pull_request_target:
    types: [opened, synchronize, reopened]

permissions: {}

concurrency:
  group: grade-${{ github.event.pull_request.number }}
  cancel-in-progress: true

env:
  COURSE_REPOSITORY: __COURSE_REPO__
  COURSE_REF: __COURSE_REF__  # the grader's pinned commit
  ASSIGNMENTS: __ASSIGNMENTS__
  FAIL_UNDER: "__FAIL_UNDER__"
  GRADER_ARGS: ""  # more `grader run` options, split on spaces (e.g. --memory-limit 4096)
  TORCH_INDEX_URL: https://download.pytorch.org/whl/cpu
  MARKER: "__MARKER__"

jobs:
  grade:
    runs-on: ubuntu-24.04
    environment: grading
    permissions:
      contents: read
    timeout-minutes: 30
    steps:
      - name: Check out the course's grader (pinned)
        uses: __CHECKOUT__
        with:
          repository: ${{ env.COURSE_REPOSITORY }}
          ref: ${{ env.COURSE_REF }}
          token: ${{ secrets.COURSE_REPO_TOKEN }}
          path: course
          persist-credentials: false
      - name: Check out the pull request as data (never run outside the grader's worker)
        uses: __CHECKOUT__
        with:
          repository: ${{ github.event.pull_request.head.repo.full_name }}
          ref: ${{ github.event.pull_request.head.sha }}
          path: submission
          persist-credentials: false
      - name: Install the grader's dependencies
        id: install
        run: |
          set -euo pipefail
          VENV="$RUNNER_TEMP/venv"
          echo "VENV=$VENV" >> "$GITHUB_ENV"
          (cd course && python3 -c 'import sys, pathlib
          from grader.gradescope import requirements_text
          sys.stdout.write(requirements_text(pathlib.Path("pyproject.toml")))') > "$RUNNER_TEMP/requirements.txt"
          [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
          INDEX=()
          if [ -n "$TORCH_INDEX_URL" ]; then INDEX=(--extra-index-url "$TORCH_INDEX_URL"); fi
          "$VENV/bin/python" -m pip install --disable-pip-version-check ${INDEX[@]+"${INDEX[@]}"} \\
            -r "$RUNNER_TEMP/requirements.txt"
      - name: Grade (the pull request's code runs only in the isolated worker)
        id: grade
        env:
          DETECTION_TEST_SEED: ${{ secrets.DETECTION_TEST_SEED }}
        run: |
          set +e -uo pipefail  # GitHub starts the shell with -e: the grader's exit status is recorded, not fatal here
          REPORT="$RUNNER_TEMP/grader-report"
          mkdir -p "$REPORT"
          echo "REPORT=$REPORT" >> "$GITHUB_ENV"
          AS_ROOT=()
          if [ "$(id -u)" != 0 ]; then AS_ROOT=(sudo --preserve-env=DETECTION_TEST_SEED); fi
          cd course
          # shellcheck disable=SC2086  # GRADER_ARGS: several options, split on purpose
          ${AS_ROOT[@]+"${AS_ROOT[@]}"} "$VENV/bin/python" -m grader run "$GITHUB_WORKSPACE/submission" \\
            --assignment "$ASSIGNMENTS" --fail-under "$FAIL_UNDER" --report-dir "$REPORT" \\
            --json "$REPORT/report.json" --markdown "$REPORT/report.md" $GRADER_ARGS 2> "$REPORT/stderr.txt"
          status=$?
          cat "$REPORT/stderr.txt" >&2
          echo "status=$status" >> "$GITHUB_OUTPUT"
          if [ ! -s "$REPORT/report.md" ]; then
            { echo "## Not graded"; echo; echo "The grader stopped before writing a report (exit status $status):"
              echo; echo '```'; tail -n 5 "$REPORT/stderr.txt"; echo '```'; } > "$REPORT/report.md"
          fi
          rm -f "$REPORT/stderr.txt"
      - name: Job summary
        if: ${{ always() && steps.install.outcome == 'success' }}
        run: cat "$REPORT/report.md" >> "$GITHUB_STEP_SUMMARY"
      - name: Upload the reports
        if: ${{ always() && steps.install.outcome == 'success' }}
        uses: __UPLOAD__
        with:
          name: grader-report
          path: ${{ runner.temp }}/grader-report
          retention-days: 30
      - name: Pass or fail per --fail-under
        env:
          STATUS: ${{ steps.grade.outputs.status }}
        run: |
          case "$STATUS" in
            0) echo "graded: at or above $FAIL_UNDER" ;;
            1) echo "::error::the total is below $FAIL_UNDER (see the job summary)"; exit 1 ;;
            3) echo "::error::a grader fault, not your code: your instructor will re-run it"; exit 1 ;;
            *) echo "::error::not graded (exit status $STATUS): see the job summary"; exit 1 ;;
          esac

  comment:
    needs: grade
    if: ${{ always() && needs.grade.result != 'cancelled' && needs.grade.result != 'skipped' }}
    runs-on: ubuntu-24.04
    permissions:
      pull-requests: write
    steps:
      - name: Download the report
        id: download
        continue-on-error: true
        uses: __DOWNLOAD__
        with:
          name: grader-report
          path: report
      - name: Post or update the pull request's grading comment
        env:
          GH_TOKEN: ${{ github.token }}
          REPO: ${{ github.repository }}
          PR: ${{ github.event.pull_request.number }}
          RUN_URL: ${{ github.server_url }}/${{ github.repository }}/actions/runs/${{ github.run_id }}
        run: |
          set -euo pipefail
          body="$RUNNER_TEMP/comment.md"
          {
            echo "$MARKER"
            if [ -s report/report.md ]; then head -c 60000 report/report.md; else echo "The grader wrote no report."; fi
            echo
            echo "Full report (JSON, pictures): the grader-report artifact of [this run]($RUN_URL)."
          } > "$body"
          gh api --paginate --slurp "repos/$REPO/issues/$PR/comments" > "$RUNNER_TEMP/comments.json"
          id=$(python3 - "$RUNNER_TEMP/comments.json" <<'PY'
          import json, os, sys
          pages = json.load(open(sys.argv[1]))
          for c in (c for page in pages for c in page):
              if (c.get("user", {}).get("login") == "github-actions[bot]"
                      and c.get("body", "").startswith(os.environ["MARKER"])):
                  print(c["id"])
                  break
          PY
          )
          if [ -n "$id" ]; then
            gh api --method PATCH "repos/$REPO/issues/comments/$id" -F "body=@$body" > /dev/null
          else
            gh api --method POST "repos/$REPO/issues/$PR/comments" -F "body=@$body" > /dev/null
          fi
"""


def render(course_repo: str, course_ref: str, assignments: str, fail_under: str) -> str:
    """The workflow text; every value is checked to be plain (it lands in YAML and in env)."""
    if not REPO.fullmatch(course_repo or ""):
        raise InitError(f"--course-repo: expected OWNER/NAME, got {course_repo!r}")
    if not SHA.fullmatch(course_ref or ""):
        raise InitError(f"--ref: expected a full 40-character commit SHA (the grader's pinned version), got "
                        f"{course_ref!r}")
    if not ASSIGNMENT.fullmatch(assignments or ""):
        raise InitError(f"--assignment: expected names like centernet or centernet,detection, got {assignments!r}")
    if not FAIL_UNDER.fullmatch(fail_under or ""):
        raise InitError(f"--fail-under: expected points or a percentage (e.g. 60%), got {fail_under!r}")
    text = TEMPLATE
    for key, value in (("__COURSE_REPO__", course_repo), ("__COURSE_REF__", course_ref),
                       ("__ASSIGNMENTS__", assignments), ("__FAIL_UNDER__", fail_under), ("__MARKER__", MARKER),
                       ("__CHECKOUT__", _uses("checkout")), ("__UPLOAD__", _uses("upload")),
                       ("__DOWNLOAD__", _uses("download"))):
        text = text.replace(key, value)
    return text


def _head_commit() -> Optional[str]:
    try:
        out = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return None
    sha = out.stdout.strip()
    return sha if out.returncode == 0 and SHA.fullmatch(sha) else None


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):
        raise InitError(message)


def main(argv: Optional[list[str]] = None) -> int:
    parser = _Parser(prog="grader init-ci", description="Write the pull-request grading workflow (docs/CI.md).")
    parser.add_argument("dir", nargs="?", default=".", type=Path, help="the student repository (default .)")
    parser.add_argument("--course-repo", required=True, metavar="OWNER/NAME",
                        help="the course's private repository holding the full grader and the reference")
    parser.add_argument("--ref", metavar="SHA", help="the grader's commit to pin (default: this checkout's HEAD)")
    parser.add_argument("--assignment", default="centernet,detection", metavar="NAMES",
                        help="assignments to grade (default centernet,detection)")
    parser.add_argument("--fail-under", default="50%", metavar="SCORE",
                        help="the check fails below SCORE points or N%% (default 50%%)")
    parser.add_argument("--force", action="store_true", help="replace an existing workflow")
    try:
        args = parser.parse_args(argv)
        ref = args.ref or _head_commit()
        if ref is None:
            raise InitError("--ref SHA is required (this checkout has no git commit to pin)")
        text = render(args.course_repo, ref, args.assignment, args.fail_under)
        if not args.dir.is_dir():
            raise InitError(f"{args.dir}: not a folder")
        target = args.dir / WORKFLOW
        if target.exists() and not args.force:
            raise InitError(f"{target} already exists (--force replaces it)")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    except (InitError, OSError) as exc:
        message = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        print(f"grader: error: {' '.join(str(message).split())}", file=sys.stderr)
        return 2
    print(f"wrote {target} (grader {ref[:12]} from {args.course_repo}); set up the 'grading' environment: "
          f"docs/CI.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
