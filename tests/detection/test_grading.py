"""The detection rubric grades the reference, the stubs and plausible variants as it should.

- the reference gets every point (mAP: with the committed predictions of a calibrated run);
- the generated stubs get 0, every check "not_attempted";
- each WRONG variant loses all points of its own component and nothing else;
- each CORRECT variant (another valid solution) gets full marks.
"""

from __future__ import annotations

import json

import pytest

from grader.core import api, engine

from .support import (ANSWERS_COMPONENT, MAP_COMPONENTS, REFERENCE_PREDICTIONS, SAMPLE_ANSWERS, by_component,
                      filled_answers, package_copy)
from .variants import CORRECT, WRONG


def _components(assignment, skip=()):
    return [c.name for c in assignment.rubric.components if not c.manual and c.name not in skip]


def test_rubric_points(assignment):
    rubric = assignment.rubric
    assert rubric.max_score == 10
    assert rubric.bonus_points == 3
    points = {c.name: c.points for c in rubric.components}
    assert points["Backbone"] == 1 and points["Neck"] == 2 and points["Head"] == 1
    assert points["TAL"] == 3 and points["DIoU"] == 1
    assert points["mAP challenge"] + points["mAP challenge bonus"] == 5
    assert sum(1 for c in rubric.components if c.manual) == 3
    # public checks never need the reference
    for comp, chk in rubric.all_checks():
        if chk.visibility == "public":
            assert not assignment.check(chk.id).differential, chk.id


def test_reference_gets_every_point(assignment, reference, tmp_path):
    """With the committed predictions (of the test seed's images, see conftest.py) and answers."""
    api.set_report_dir(tmp_path / "report")
    executor, _ = package_copy(tmp_path, predictions=REFERENCE_PREDICTIONS, answers=filled_answers())
    results = by_component(engine.grade(assignment, executor, reference))
    (answers,) = results[ANSWERS_COMPONENT].checks
    for text in SAMPLE_ANSWERS:  # the reviewer sees every answer: in the message and the attachment
        assert text[:60] in " ".join(answers.message.split())
        assert text in (tmp_path / "report" / answers.attachments[0]).read_text()
    api.set_report_dir(None)
    for comp in assignment.rubric.components:
        r = results[comp.name]
        if comp.manual:
            assert r.status == "pending_review"
            continue
        assert r.status == "passed", (comp.name, [(c.id, c.message) for c in r.checks])
        assert r.score == pytest.approx(comp.points)
    total = sum(r.score for r in results.values() if not r.bonus)
    bonus = sum(r.score for r in results.values() if r.bonus)
    assert (total, bonus) == (10, 3)


def test_stubs_score_zero_not_attempted(assignment, reference):
    results = engine.grade(assignment, engine.InProcessExecutor("student"), reference)
    for r in results:
        if r.manual:
            continue
        assert r.score == 0, r.name
        assert [c.status for c in r.checks] == ["not_attempted"] * len(r.checks), (
            r.name, [c.message for c in r.checks])


def _grade_variant(assignment, reference, tmp_path, variant):
    executor, _ = package_copy(tmp_path, variant.edits)
    # the Backbone's probes are the slow ones (timm models); only backbone.py can change their result
    skip = MAP_COMPONENTS + (ANSWERS_COMPONENT,) + (() if variant.component == "Backbone" else ("Backbone",))
    return by_component(engine.grade(assignment, executor, reference, only=_components(assignment, skip)))


@pytest.mark.parametrize("variant", WRONG, ids=[v.name for v in WRONG])
def test_wrong_variant_loses_only_its_component(assignment, reference, tmp_path, variant):
    results = _grade_variant(assignment, reference, tmp_path, variant)
    own = results[variant.component]
    assert own.score == 0, [(c.id, c.status, c.message) for c in own.checks]
    assert all(c.status == "failed" for c in own.checks), [(c.id, c.status, c.message) for c in own.checks]
    for name, r in results.items():
        if name != variant.component:
            assert r.status == "passed" and r.score == r.max_score, (name, [c.message for c in r.checks])


@pytest.mark.parametrize("variant", CORRECT, ids=[v.name for v in CORRECT])
def test_correct_variant_gets_full_marks(assignment, reference, tmp_path, variant):
    results = _grade_variant(assignment, reference, tmp_path, variant)
    for name, r in results.items():
        assert r.status == "passed" and r.score == r.max_score, (name, [(c.id, c.message) for c in r.checks])


def test_messages_are_actionable(assignment, reference, tmp_path):
    """A wrong TAL names the failing case; a wrong DIoU names the dtype and the tolerance."""
    tal = next(v for v in WRONG if v.name == "tal_conflict_by_score")
    results = _grade_variant(assignment, reference, tmp_path, tal)
    message = results["TAL"].checks[0].message
    assert "conflict case" in message and "expected" in message
    diou = next(v for v in WRONG if v.name == "diou_iou_only")
    results = _grade_variant(assignment, reference, tmp_path, diou)
    message = results["DIoU"].checks[0].message
    assert "tolerance" in message


def _write_predictions(path, rows):
    path.write_text(json.dumps(rows))


def test_map_challenge_thresholds(assignment, reference, tmp_path):
    """Perfect detections get 2 + 3; none get 0; shifted boxes land between; bad files are errors."""
    det_checks = assignment.checks_module
    gt = det_checks.hidden_test_annotations()
    perfect = [{"image_id": a["image_id"], "category_id": a["category_id"], "bbox": a["bbox"], "score": 1.0}
               for a in gt["annotations"]]
    def shifted(rows):  # every box shifted right by a quarter of its width: IoU 0.6
        return [{**d, "bbox": [d["bbox"][0] + d["bbox"][2] * 0.25, *d["bbox"][1:]]} for d in rows]

    bodies = [d for d in perfect if d["category_id"] in (1, 3)]
    enemies = [d for d in perfect if d["category_id"] == 1]
    cases = {
        "perfect": (perfect, 2.0, 3.0),                 # mAP 1
        "enemy_bodies": (enemies, 2.0, 3.0),            # one class of four perfect: 0.25
        "bodies_shifted": (shifted(bodies), 2.0, 0.0),  # two classes at IoU 0.6: about 0.15
        "enemy_bodies_shifted": (shifted(enemies), 1.0, 0.0),  # about 0.075
        "empty": ([], 0.0, 0.0),
    }
    for name, (rows, regular, bonus) in cases.items():
        p = tmp_path / f"{name}.json"
        _write_predictions(p, rows)
        executor, _ = package_copy(tmp_path / name, predictions=p)
        results = by_component(engine.grade(assignment, executor, reference, only=list(MAP_COMPONENTS)))
        got = (results["mAP challenge"].score, results["mAP challenge bonus"].score)
        assert got == (regular, bonus), (name, [c.message for r in results.values() for c in r.checks])
    p = tmp_path / "bad.json"
    p.write_text(json.dumps({"not": "a list"}))
    executor, _ = package_copy(tmp_path / "bad", predictions=p)
    results = by_component(engine.grade(assignment, executor, reference, only=list(MAP_COMPONENTS)))
    check = results["mAP challenge"].checks[0]
    assert check.status == "error" and "list" in check.message


# The hidden checks draw their inputs from a secret seed per grading run: no verdict on a variant may
# depend on the draw. Every variant is graded again under two more secrets (the reference too, since
# its cached outcomes belong to one draw); the Backbone's slow probes only for the Backbone's variants.
DRAWS = (engine.RunSecrets(1035, 5005), engine.RunSecrets(4242, 4243))


def test_verdicts_do_not_depend_on_the_secret_draw(assignment, tmp_path):
    problems = []
    for variant, wrong in [(v, True) for v in WRONG] + [(v, False) for v in CORRECT]:
        skip = MAP_COMPONENTS + (ANSWERS_COMPONENT,) + (() if variant.component == "Backbone" else ("Backbone",))
        for run in DRAWS:
            reference = engine.CachedExecutor(engine.InProcessExecutor("reference"))
            executor, _ = package_copy(tmp_path, variant.edits)
            results = engine.grade(assignment, executor, reference, only=_components(assignment, skip), run=run)
            for r in results:
                want = 0 if wrong and r.name == variant.component else r.max_score
                if abs(r.score - want) > 1e-9:
                    problems.append(f"{variant.name}, seed {run.seed}: {r.name} {r.score:g}/{r.max_score:g} "
                                    f"(expected {want:g}): "
                                    f"{[c.message[:120] for c in r.checks if c.status != 'passed']}")
    assert not problems, "\n".join(problems)


def test_map_tiers_come_from_the_rubric_only(assignment, reference, tmp_path, monkeypatch):
    """The tiers are the rubric's [map] table: other tiers there grade the same detections otherwise
    (no threshold is written in the code), and the message quotes them."""
    det_checks = assignment.checks_module
    assert det_checks.map_tiers() == {"map.regular": [(0.05, 0.5), (0.1, 1.0)], "map.bonus": [(0.2, 1.0)]}
    gt = det_checks.hidden_test_annotations()
    enemies = [{"image_id": a["image_id"], "category_id": a["category_id"], "bbox": a["bbox"], "score": 1.0}
               for a in gt["annotations"] if a["category_id"] == 1]  # mAP 0.25: 2 + 3 with the course's tiers
    p = tmp_path / "enemies.json"
    _write_predictions(p, enemies)
    rubric = tmp_path / "rubric.toml"
    text = (assignment.directory / "rubric.toml").read_text()
    rubric.write_text(text.replace("regular = [[0.05, 0.5], [0.1, 1.0]]", "regular = [[0.3, 0.25], [0.9, 1.0]]")
                          .replace("bonus = [[0.2, 1.0]]", "bonus = [[0.5, 1.0]]"))
    monkeypatch.setattr(det_checks.map_challenge, "_rubric_file", lambda: rubric)
    executor, _ = package_copy(tmp_path / "pkg", predictions=p)
    results = by_component(engine.grade(assignment, executor, reference, only=list(MAP_COMPONENTS)))
    assert (results["mAP challenge"].score, results["mAP challenge bonus"].score) == (0.0, 0.0)
    assert "thresholds 0.3 / 0.9 give 0.5 / 2 point(s), 0.5 gives 3 bonus point(s)" in \
        results["mAP challenge"].checks[0].message


def test_a_rubric_table_no_checks_module_declares_is_refused(assignment, tmp_path):
    from grader.core.rubric import RubricError, load_rubric

    text = (assignment.directory / "rubric.toml").read_text()
    path = tmp_path / "rubric.toml"
    path.write_text(text)
    with pytest.raises(RubricError, match=r"unknown key\(s\) map"):
        load_rubric(path)  # the core knows no assignment's settings
    assert load_rubric(path, settings={"map"}).assignment == "detection"
    path.write_text(text.replace("[map]\n", "[mpa]\n"))
    with pytest.raises(RubricError, match="mpa"):
        load_rubric(path, settings={"map"})  # a typo is refused, not ignored
    path.write_text('map = 1\n' + text.replace("[map]\n", "[mapx]\n"))
    with pytest.raises(RubricError, match="must be a table"):
        load_rubric(path, settings={"map", "mapx"})
