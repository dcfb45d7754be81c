"""Messages that lead to the cause (issue 10.4): a stage naming that is not torchvision's is named
as such; a check that depends on another component's contract says "not graded: ... first"."""

from __future__ import annotations

import pytest

from grader.core.engine import CachedExecutor, InProcessExecutor, grade

from .test_discrimination import _build, variants


def _messages(centernet, name, tmp_path):
    variant = next(v for v in variants.WRONG if v.name == name)
    package = _build(variant, tmp_path)
    [comp] = grade(centernet, CachedExecutor(InProcessExecutor(package, path=tmp_path)),
                   CachedExecutor(InProcessExecutor("reference")), only=[variant.component])
    return {c.id: c for c in comp.checks}


def test_stage_names_not_torchvision_are_named(centernet, tmp_path):
    checks = _messages(centernet, "resnet_stage_names", tmp_path)
    for check_id in ("resnet34.state_dict_keys", "resnet34.torchvision_features", "resnet34.train_mode"):
        message = checks[check_id].message
        assert checks[check_id].status == "failed"
        assert ("expected torchvision's names (conv1, bn1, layer1..layer4); "
                "found block1, block2, block3, block4") in message
        assert "blocks;" not in message and "Missing key" not in message


def test_the_forward_checks_wait_for_per_image_losses(centernet, tmp_path):
    checks = _messages(centernet, "loss_batch_scalar", tmp_path)
    for check_id in ("loss.forward_shape", "loss.forward_values"):
        message = checks[check_id].message
        assert message.startswith("not graded: CenterNetLoss.loss_fl and loss_l1 must return one loss per image, "
                                  "shape [B], first"), message
        assert "loss_fl returns []" in message and "IndexError" not in message and "Traceback" not in message
    assert "instead of one loss per image [B]" in checks["loss.focal_hand"].message
    assert checks["loss.focal_hand"].score == pytest.approx(checks["loss.focal_hand"].max_score / 2)
