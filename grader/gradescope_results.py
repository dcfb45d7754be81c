"""Gradescope's ``results.json`` specification (cited in ``docs/GRADESCOPE.md``): its documented
values, what in a results file does not follow it, and the file written when the grader wrote none.
"""

from __future__ import annotations

# Gradescope's documented values (docs/GRADESCOPE.md).
VISIBILITIES = ("hidden", "after_due_date", "after_published", "visible")
OUTPUT_FORMATS = ("text", "html", "simple_format", "md", "ansi")
TEST_STATUSES = ("passed", "failed")


def fallback_results(message: str) -> dict:
    """results.json when the grader wrote none: nothing graded, the reason shown to the student."""
    return {"score": 0.0, "output": f"Not graded: {message}", "output_format": "text", "visibility": "visible",
            "stdout_visibility": "hidden", "tests": []}



def results_problems(data) -> list[str]:
    """What in a results.json does not follow Gradescope's specification (docs/GRADESCOPE.md): the
    types of ``score``, ``execution_time``, ``output``, ``output_format``, the visibilities, and
    of each test ``name``, ``score``, ``max_score``, ``output``, ``status``, ``visibility``; a
    top-level score or a score on every test is required. An empty list: it follows it."""
    out: list[str] = []

    def number(v):
        return isinstance(v, (int, float)) and not isinstance(v, bool) and v == v and abs(v) != float("inf")

    if not isinstance(data, dict):
        return ["the top level is not an object"]
    tests = data.get("tests", [])
    if "score" in data and not number(data["score"]):
        out.append("score is not a number")
    if "execution_time" in data and not number(data["execution_time"]):
        out.append("execution_time is not a number of seconds")
    for key in ("output",):
        if key in data and not isinstance(data[key], str):
            out.append(f"{key} is not a string")
    for key in ("output_format", "test_output_format", "test_name_format"):
        if key in data and data[key] not in OUTPUT_FORMATS:
            out.append(f"{key} {data[key]!r} is not one of {', '.join(OUTPUT_FORMATS)}")
    for key in ("visibility", "stdout_visibility"):
        if key in data and data[key] not in VISIBILITIES:
            out.append(f"{key} {data[key]!r} is not one of {', '.join(VISIBILITIES)}")
    if not isinstance(tests, list):
        return out + ["tests is not a list"]
    if "score" not in data and (not tests or any(not isinstance(t, dict) or "score" not in t for t in tests)):
        out.append("no top-level score and not every test has one")
    for i, t in enumerate(tests):
        where = f"tests[{i}]"
        if not isinstance(t, dict):
            out.append(f"{where} is not an object")
            continue
        for key in ("score", "max_score"):
            if key in t and not number(t[key]):
                out.append(f"{where}.{key} is not a number")
        for key in ("name", "output", "number"):
            if key in t and not isinstance(t[key], str):
                out.append(f"{where}.{key} is not a string")
        if "status" in t and t["status"] not in TEST_STATUSES:
            out.append(f"{where}.status {t['status']!r} is not passed or failed")
        if "visibility" in t and t["visibility"] not in VISIBILITIES:
            out.append(f"{where}.visibility {t['visibility']!r} is not one of {', '.join(VISIBILITIES)}")
        for key in ("output_format", "name_format"):
            if key in t and t[key] not in OUTPUT_FORMATS:
                out.append(f"{where}.{key} {t[key]!r} is not one of {', '.join(OUTPUT_FORMATS)}")
        if number(t.get("score")) and number(t.get("max_score")) and not 0 <= t["score"] <= t["max_score"] + 1e-9:
            out.append(f"{where}: score {t['score']} outside 0..max_score {t['max_score']}")
    return out

