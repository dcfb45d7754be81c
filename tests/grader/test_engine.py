"""The engine's two paths: sequential (in-process executors) and pipelined (``submit``/``collect``,
the isolated executor): same results, each probe once, and the pipeline runs the reference of a
check while the worker runs the submission's probe of the same check."""

from __future__ import annotations

from pathlib import Path

import pytest

from grader.core.api import Check, failed, passed
from grader.core.assignment import Assignment
from grader.core.engine import ProbeOutcome, grade
from grader.core.rubric import parse_rubric

RUBRIC = {
    "schema": 1, "assignment": "mem", "package": "mem", "max_score": 3,
    "components": [
        {"name": "A", "points": 2, "checks": [{"id": "a1"}, {"id": "a2"}]},
        {"name": "B", "points": 1, "checks": [{"id": "b1"}, {"id": "b2", "visibility": "public"}]},
    ],
}


def _verdict(actual, expected):
    return passed() if actual == expected else failed(f"{actual} != {expected}")


@pytest.fixture
def mem_assignment():
    checks = {
        "a1": Check("a1", "A", "shared", _verdict, differential=True),
        "a2": Check("a2", "A", "shared", _verdict, differential=True),  # same probe: one run
        "b1": Check("b1", "B", "p_b", _verdict, differential=True),
        "b2": Check("b2", "B", "p_c", lambda a, e: passed() if a == {"v": "p_c"} else failed("no")),
    }
    rubric = parse_rubric(RUBRIC, "<mem>", known_checks=set(checks))
    return Assignment("mem", Path("."), rubric, checks, Path("unused_probes.py"))


class Recorder:
    """Reference and submission executors that log what the engine asks of them."""

    def __init__(self, events: list, who: str, wrong: tuple = ()):
        self.events, self.who, self.wrong = events, who, wrong

    def run(self, assignment, probe, *, threads=1, timeout=0, **_secrets):
        self.events.append((self.who, "run", probe))
        return ProbeOutcome("ok", {"v": "wrong" if probe in self.wrong else probe}, seconds=0.01)


class PipelinedRecorder(Recorder):
    def submit(self, assignment, probe, *, threads=1, timeout=0, **_secrets):
        self.events.append((self.who, "submit", probe))
        return probe

    def done(self, job, wait):
        return False  # still running: the reference is computed meanwhile

    def set_timeout(self, job, seconds):
        self.events.append((self.who, "limit", job))

    def collect(self, job):
        self.events.append((self.who, "collect", job))
        return ProbeOutcome("ok", {"v": "wrong" if job in self.wrong else job}, seconds=0.01)


def _flat(results):
    return [(c.component, c.id, c.status) for cr in results for c in cr.checks]


def test_pipelined_matches_sequential_and_runs_each_probe_once(mem_assignment):
    seq_events, pipe_events = [], []
    seq = grade(mem_assignment, Recorder(seq_events, "sub", wrong=("p_b",)), Recorder(seq_events, "ref"))
    pipe = grade(mem_assignment, PipelinedRecorder(pipe_events, "sub", wrong=("p_b",)), Recorder(pipe_events, "ref"))
    expected = [("A", "a1", "passed"), ("A", "a2", "passed"), ("B", "b1", "failed"), ("B", "b2", "passed")]
    assert _flat(seq) == _flat(pipe) == expected
    assert [cr.score for cr in pipe] == [2.0, 0.5]
    assert [p for who, what, p in seq_events if who == "sub"] == ["shared", "p_b", "p_c"]
    assert [p for who, what, p in pipe_events if what == "submit"] == ["shared", "p_b", "p_c"]


def test_pipeline_overlaps_the_reference_with_the_running_probe(mem_assignment):
    events = []
    grade(mem_assignment, PipelinedRecorder(events, "sub"), Recorder(events, "ref"))
    position = {}
    for i, e in enumerate(events):
        position.setdefault(e, i)  # first occurrence
    for probe in ("shared", "p_b", "p_c"):
        # the submission's probe starts, the reference of the same probe runs meanwhile, then the
        # real limit (relative to the reference's time) is set, and only then is the probe awaited
        assert position[("sub", "submit", probe)] < position[("ref", "run", probe)] \
            < position[("sub", "limit", probe)] < position[("sub", "collect", probe)], probe
    jobs = [(what, p) for who, what, p in events if who == "sub" and what != "limit"]
    assert jobs == [("submit", "shared"), ("collect", "shared"), ("submit", "p_b"), ("collect", "p_b"),
                    ("submit", "p_c"), ("collect", "p_c")]  # one job at a time


def test_progress_reports_in_rubric_order(mem_assignment):
    seen = []
    grade(mem_assignment, PipelinedRecorder([], "sub"), Recorder([], "ref"),
          progress=lambda a, comp, res: seen.append((comp, res.id)))
    assert seen == [("A", "a1"), ("A", "a2"), ("B", "b1"), ("B", "b2")]


def test_public_only_without_reference(mem_assignment):
    results = grade(mem_assignment, PipelinedRecorder([], "sub"), None, public_only=True)
    assert _flat(results) == [("B", "b2", "passed")]
    assert results[0].max_score == 0.5


class FastFailing(PipelinedRecorder):
    """Probes that end at once without data (the untouched stubs)."""

    def done(self, job, wait):
        return True

    def collect(self, job):
        self.events.append((self.who, "collect", job))
        return ProbeOutcome("not_attempted", message="not attempted: stub")


def test_no_reference_work_for_probes_that_fail_at_once(mem_assignment):
    events = []
    results = grade(mem_assignment, FastFailing(events, "sub"), Recorder(events, "ref"))
    assert {c.status for cr in results for c in cr.checks} == {"not_attempted"}
    assert not [e for e in events if e[0] == "ref"]


@pytest.mark.parametrize("entry, problem", [
    ({"generator": "/etc/make.py", "folder": "x"}, "inside the course"),
    ({"generator": "data/../../make.py", "folder": "x"}, "inside the course"),
    ({"generator": "data/x/make.sh", "folder": "x"}, "inside the course"),
    ({"generator": "data/x/make.py", "folder": "a/b"}, "plain folder name"),
    ({"generator": "data/x/make.py"}, "folder"),
    ({"generator": "data/x/make.py", "folder": "x", "seed": 1}, "seed"),
])
def test_data_sets_and_outputs_are_checked_rubric_keys(entry, problem):
    from grader.core.rubric import RubricError

    with pytest.raises(RubricError, match=problem):
        parse_rubric({**RUBRIC, "data_sets": [entry]}, "<mem>")
    good = parse_rubric({**RUBRIC, "data_sets": [{"generator": "data/x/make.py", "folder": "x"}],
                         "outputs": ["weights.pt"]}, "<mem>")
    assert good.data_sets == (("data/x/make.py", "x"),) and good.outputs == ("weights.pt",)
    with pytest.raises(RubricError, match="outputs"):
        parse_rubric({**RUBRIC, "outputs": ["../weights.pt"]}, "<mem>")


def test_the_course_rubrics_name_their_outputs_and_data_sets():
    """What generate and release use comes from the rubrics (no assignment's file names in their code)."""
    from grader import generate, release

    assert generate.SUBMISSION_OUTPUTS == {"weights.pt", "predictions_test.json"}
    assert set(release.DATA_SETS) == {("data/detection/make_dataset.py", "detection"),
                                      ("data/cocogen/make_dataset.py", "cocogen")}
    for path in (Path(generate.__file__), Path(release.__file__)):
        text = path.read_text()
        assert "weights.pt" not in text and "make_dataset.py\"" not in text, path
