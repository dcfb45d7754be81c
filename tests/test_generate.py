"""The student package is generated from the reference; these tests keep that true."""

import textwrap

import pytest

from grader import generate


def test_student_package_is_up_to_date():
    problems = generate.stale_files()
    assert not problems, "student/ is stale; run `grader generate`: " + "; ".join(problems[:10])


def test_region_in_function_becomes_not_implemented():
    src = textwrap.dedent('''
        class Layer:
            def forward(self, x):
                """Doubles x."""
                # BEGIN SOLUTION
                return 2 * x
                # END SOLUTION
    ''')
    stub = generate.strip_solutions(src)
    assert "return 2 * x" not in stub
    assert 'raise NotImplementedError("Layer.forward is not implemented yet")' in stub
    assert '"""Doubles x."""' in stub


def test_region_at_module_level_is_removed():
    src = textwrap.dedent('''
        # BEGIN SOLUTION
        def _helper():
            return 1
        # END SOLUTION
        X = 1
    ''')
    stub = generate.strip_solutions(src)
    assert "_helper" not in stub and "NotImplementedError" not in stub and "X = 1" in stub


@pytest.mark.parametrize("src, problem", [
    ("def f():\n    # BEGIN SOLUTION\n    return 1\n", "without"),
    ("def f():\n    return 1\n    # END SOLUTION\n", "without"),
    ("def f():\n    # BEGIN SOLUTION\n    # BEGIN SOLUTION\n    return 1\n    # END SOLUTION\n", "nested"),
])
def test_malformed_markers_are_reported(src, problem):
    with pytest.raises(generate.MarkerError, match=problem):
        generate.strip_solutions(src)


def test_stale_detection(tmp_path):
    ref = tmp_path / "reference" / "pkg"
    ref.mkdir(parents=True)
    (ref / "__init__.py").write_text("")
    (ref / "m.py").write_text("def f():\n    # BEGIN SOLUTION\n    return 1\n    # END SOLUTION\n")
    student = tmp_path / "student"
    generate.write(tmp_path / "reference", student)
    assert generate.stale_files(tmp_path / "reference", student) == []
    (student / "pkg" / "m.py").write_text("def f():\n    return 1\n")
    assert generate.stale_files(tmp_path / "reference", student) == ["stale pkg/m.py"]
    (student / "pkg" / "extra.py").write_text("")
    assert "extra pkg/extra.py" in generate.stale_files(tmp_path / "reference", student)
