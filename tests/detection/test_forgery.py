"""Forged probe results earn nothing (issue 9.1-9.3).

A submission can patch the probe runtime in its worker and hand back made-up data. Each forgery
here is what such a worker can produce WITHOUT implementing the component (self-descriptions,
counts, flags, empty case lists, values consistent with inputs it chose itself, the test split
rebuilt from the public generator); every verdict must reject it. Hidden checks' messages never
show the reference's values.
"""

from __future__ import annotations


import torch

from grader.core import api, engine

from .support import make_dataset_module

SEED = 1234567


def _judge(assignment, reference, check_id, forged):
    check = assignment.check(check_id)
    rc = next(rc for _, rc in assignment.rubric.all_checks() if rc.id == check_id)
    expected = None
    if check.differential:
        outcome = reference.run(assignment, check.probe, threads=1, seed=SEED)
        assert outcome.status == "ok", outcome.message
        expected = outcome.data
    return engine.judge(check, forged, expected, hidden=rc.visibility != "public")


def _forged_fpn(inputs, weights):
    import torch.nn.functional as F

    merged, outs = None, []
    for level, x in enumerate(inputs):
        lat = F.conv2d(x, weights[f"lateral{level}"]["weight"], weights[f"lateral{level}"]["bias"])
        if merged is not None:
            lat = lat + F.interpolate(merged, size=lat.shape[-2:], mode="nearest")
        merged = lat
        outs.append(F.conv2d(lat, weights[f"output{level}"]["weight"], weights[f"output{level}"]["bias"], padding=1))
    return outs[::-1]


def _forgeries(assignment, reference):
    P = assignment.probes
    names_forward = {"shapes": [[2, 512, 3, 4], [2, 256, 6, 8], [2, 128, 12, 16]], "out_channels": [512, 256, 128]}
    empty_case = {"all": [], "trainable": [], "outside": []}
    # inputs and weights of the forger's own choosing, outputs consistent with them
    own_inputs = [torch.zeros(2, c, h, w) for c, (h, w) in zip(P.NECK_IN, P.NECK_SIZES)]
    own_weights = P.neck_role_weights(lambda role: torch.Generator().manual_seed(1))
    ref_models = reference.run(assignment, "backbone_models", threads=1, seed=SEED).data
    no_trainable = {m: {**cases, **{k: {**v, "trainable": []} for k, v in cases.items() if k.startswith("k")}}
                    for m, cases in ref_models.items()}
    tal_ref = reference.run(assignment, "tal_random", threads=1, seed=SEED).data
    # the test split rebuilt in the worker from the public generator and its default seed
    mk = make_dataset_module()
    public = mk.hidden_test_annotations(test_seed=mk.DEFAULT_TEST_SEED)
    perfect = torch.tensor([[a["image_id"], a["category_id"], *a["bbox"], 1.0] for a in public["annotations"]],
                           dtype=torch.float64)
    return {
        "backbone.resnet": {"forward": names_forward, "k0": empty_case, "k1": empty_case, "k5": empty_case},
        "backbone.models": no_trainable,
        "neck.structure": {"shapes": [[2, 16, 12, 16], [2, 16, 6, 8], [2, 16, 3, 4]],
                           "depends": [[True, True, True], [True, True, False], [True, False, False]],
                           "convs": [[1, 1, c, 16] for c in P.NECK_IN] + [[3, 3, 16, 16]] * 3,
                           "other_param_layers": [], "values": [torch.zeros(2, 16, 12, 16), torch.zeros(2, 16, 6, 8),
                                                                torch.zeros(2, 16, 3, 4)], "role_problem": ""},
        "neck.values": {"inputs": own_inputs, "weights": own_weights, "outputs": _forged_fpn(own_inputs, own_weights)},
        "tal.cases": {},
        "tal.random": {},
        "tal.random/shuffled": {k: tal_ref[k2] for k, k2 in zip(tal_ref, list(tal_ref)[1:] + list(tal_ref)[:1])},
        "diou.torchvision": {"grads_finite": True, "grads_present": True},
        "map.regular": {"detections": perfect, "read": len(perfect), "kept": len(perfect)},
        "map.bonus": {"detections": perfect, "read": len(perfect), "kept": len(perfect)},
    }


def test_every_forgery_is_rejected(assignment, reference):
    forgeries = _forgeries(assignment, reference)
    for label, forged in forgeries.items():
        check_id = label.split("/")[0]
        status, verdict = _judge(assignment, reference, check_id, forged)
        assert status == "failed" and verdict.fraction == 0, (label, status, verdict.message)
    # the control: the reference's own outputs pass the same verdicts (the forgeries fail for the forgery)
    for check_id in ("backbone.models", "neck.values", "tal.random"):
        data = reference.run(assignment, assignment.check(check_id).probe, threads=1, seed=SEED).data
        status, verdict = _judge(assignment, reference, check_id, data)
        assert status == "passed", (check_id, verdict.message)


def test_hidden_inputs_change_with_the_run_seed(assignment, reference):
    """The hidden probes' inputs come from the run's secret seed: another seed, other inputs, so a
    table of answers learnt in one run fails the next."""
    a = reference.run(assignment, "tal_random", threads=1, seed=SEED).data
    b = reference.run(assignment, "tal_random", threads=1, seed=SEED + 1).data
    assert not torch.equal(a["case0"]["boxes"], b["case0"]["boxes"]) or not torch.equal(a["case0"]["scores"],
                                                                                        b["case0"]["scores"])
    check = assignment.check("tal.random")
    status, verdict = engine.judge(check, a, b, hidden=True)
    assert status == "failed"
    n1 = reference.run(assignment, "neck_values", threads=1, seed=SEED).data
    n2 = reference.run(assignment, "neck_values", threads=1, seed=SEED + 1).data
    assert not torch.equal(n1["inputs"][0], n2["inputs"][0])
    status, _ = engine.judge(assignment.check("neck.values"), n1, n2, hidden=True)
    assert status == "failed"


def test_hidden_messages_leak_no_expected_values(assignment, reference):
    """A wrong TAL on the hidden cases: the message says what is wrong, never the reference's numbers."""
    ref = reference.run(assignment, "tal_random", threads=1, seed=SEED).data
    wrong = {k: {**v, "scores": v["scores"] * 0.5} for k, v in ref.items()}
    status, verdict = _judge(assignment, reference, "tal.random", wrong)
    assert status == "failed"
    assert "normalisation" in verdict.message
    assert "(hidden)" in verdict.message or "expected" not in verdict.message
    worst = next(float(v["scores"].max()) for v in ref.values() if float(v["scores"].max()) > 0)
    assert f"{worst:.6g}" not in verdict.message
    # the same verdict on a public (unhidden) run shows the values
    with api.hidden_context(False):
        public = assignment.check("tal.random").verdict(wrong, ref)
    assert "expected" in public.message


def test_hidden_backbone_message_names_no_expected_parameter(assignment, reference):
    ref = reference.run(assignment, "backbone_models", threads=1, seed=SEED).data
    wrong = {m: {**cases, "k1": {**cases["k1"], "trainable": cases["k2"]["trainable"]}} for m, cases in ref.items()}
    status, verdict = _judge(assignment, reference, "backbone.models", wrong)
    assert status == "failed" and "should be frozen but are trainable" in verdict.message
    assert not any(name in verdict.message for cases in ref.values() for name in cases["k2"]["trainable"])
