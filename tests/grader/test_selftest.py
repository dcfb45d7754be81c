"""``grader selftest``: the suites are sorted into wrong / alternative / hostile and counted, and
anything that does not behave as expected is listed with a non-zero exit status.

Runs the plugin on small throw-away suites (the real ones take minutes; ``grader selftest --quick``
runs them)."""

from __future__ import annotations

from grader import cli, selftest

SUITE = '''
import pytest

@pytest.mark.parametrize("variant", ["sub", "mul", "div"])
def test_wrong_variant_loses_points(variant):
    assert variant != "div", "div keeps full marks"  # a wrong variant the grader misses

@pytest.mark.parametrize("variant", ["loop", "vectorised"])
def test_alternative_correct_variant_gets_full_marks(variant):
    pass

@pytest.mark.selftest_hostile
def test_fork_bomb_is_contained():
    pass

@pytest.mark.selftest_hostile
def test_socket_is_contained():
    pytest.skip("needs a network namespace")

@pytest.mark.selftest_alt
def test_marked_alternative():
    raise RuntimeError("grader crashed")

@pytest.mark.selftest_hostile
@pytest.mark.xfail(strict=True, reason="worker fix pending")
def test_known_gap():
    raise AssertionError("forged flags pass")

def test_helper_not_in_any_suite():
    raise AssertionError("never run")
'''


def _suite(tmp_path):
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_fake_suite.py").write_text(SUITE)
    return tmp_path


def test_outcomes_are_sorted_and_counted(tmp_path):
    root = _suite(tmp_path)
    results = selftest.run_suites(["tests/test_fake_suite.py"], quick=False, root=root)
    by_name = {k.split("::")[1]: v for k, v in results["tests"].items()}
    assert "test_helper_not_in_any_suite" not in by_name
    assert by_name["test_wrong_variant_loses_points[sub]"] == {"suite": "wrong", "outcome": "passed", "reason": ""}
    assert by_name["test_wrong_variant_loses_points[div]"]["outcome"] == "failed"
    assert by_name["test_marked_alternative"]["suite"] == "alt"
    assert by_name["test_socket_is_contained"]["outcome"] == "skipped"
    assert by_name["test_known_gap"] == {"suite": "hostile", "outcome": "xfailed", "reason": "worker fix pending"}
    lines, ok = selftest.summarize(results)
    assert not ok
    text = "\n".join(lines)
    assert "caught        2 / 3" in text and "accepted      2 / 3" in text and "contained     1 / 1" in text
    assert "NOT as expected (2):" in text and "known gaps, marked xfail (1):" in text
    assert "test_wrong_variant_loses_points[div]: failed: AssertionError: div keeps full marks" in text
    assert "test_marked_alternative: failed: RuntimeError: grader crashed" in text


def test_quick_runs_the_first_cases_only(tmp_path):
    root = _suite(tmp_path)
    results = selftest.run_suites(["tests/test_fake_suite.py"], quick=True, root=root)
    wrong = [k for k, v in results["tests"].items() if v["suite"] == "wrong"]
    assert [k.split("[")[1] for k in wrong] == ["sub]", "mul]"]
    assert selftest.summarize(results)[1] is False  # the crashing marked alternative still runs


def test_cli_exit_status(tmp_path, monkeypatch, capsys):
    root = _suite(tmp_path)
    monkeypatch.setattr(selftest, "_course_root", lambda: root)
    monkeypatch.setattr(selftest, "SUITE_FILES", ["tests/test_fake_suite.py"])
    real = selftest.run_suites
    monkeypatch.setattr(selftest, "run_suites", lambda files, quick, extra=(): real(files, quick, extra, root=root))
    assert cli.main(["selftest", "-k", "sub or loop or fork"]) == 0
    out = capsys.readouterr().out
    assert "caught        1 / 1" in out and "all as expected" in out
    assert cli.main(["selftest"]) == 1
    assert "NOT as expected" in capsys.readouterr().out
