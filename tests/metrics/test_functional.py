"""Tests of dronefast.metrics.functional with hand-computed numbers on tiny tensors."""
import json
import math

import pytest
import torch

from dronefast.metrics.functional import (
    accuracy_mask,
    class_accuracy,
    confusion_matrix,
    dice_per_class,
    iou_per_class,
    mean_iou,
    pixel_accuracy,
    pixel_accuracy_from_cm,
    scores_from_confusion,
)
from tests.metrics.cases import (
    CM,
    DEVICES,
    PRED,
    TARG,
    assert_close_nan,
    logits_for,
    nan,
)

# ------------------------------------------------------------------------------------------------ functions

@pytest.mark.parametrize("void_code, expected", [(-1, 4 / 6), (None, 4 / 6), (0, 3 / 5), (1, 2 / 3)])
def test_accuracy_mask_known_values(void_code, expected):
    inp = logits_for(PRED[None], 5)
    assert float(accuracy_mask(inp, TARG[None], void_code)) == pytest.approx(expected)
    # (B, 1, H, W) targets are squeezed as in the reference notebook
    assert float(accuracy_mask(inp, TARG[None, None], void_code)) == pytest.approx(expected)


def test_accuracy_mask_default_is_reference_void_minus_one_and_pixel_accuracy():
    inp = logits_for(PRED[None], 5)
    assert float(accuracy_mask(inp, TARG[None])) == pytest.approx(4 / 6)
    assert float(pixel_accuracy(inp, TARG[None])) == pytest.approx(4 / 6)


def test_accuracy_mask_accepts_fastai_tensor_types():
    from fastai.torch_core import TensorBase, TensorMask
    inp = TensorBase(logits_for(PRED[None], 5))
    assert float(accuracy_mask(inp, TensorMask(TARG[None]), 0)) == pytest.approx(3 / 5)


@pytest.mark.parametrize("device", DEVICES)
def test_confusion_matrix_by_hand(device):
    cm = confusion_matrix(PRED.to(device), TARG.to(device), 5)
    assert cm.dtype == torch.long and cm.device.type == device
    assert torch.equal(cm.cpu(), CM)


def test_confusion_matrix_void_and_out_of_range_targets_are_ignored():
    cm = confusion_matrix(PRED, TARG, 5, void_code=0)
    expected = CM.clone()
    expected[0, 0] = 0
    assert torch.equal(cm, expected)
    # targets outside [0, C) (a 255 ignore value, -1, 7) are not counted anywhere
    targ = torch.tensor([[0, 1, 1, 255], [2, 2, 1, -1], [7, 7, 7, 7]])
    pred = torch.tensor([[0, 1, 2, 1], [2, 3, 1, 0], [0, 1, 2, 3]])
    assert torch.equal(confusion_matrix(pred, targ, 5), CM)


def test_confusion_matrix_rejects_bad_predictions_and_shapes():
    with pytest.raises(ValueError, match=r"\[0, 5\)"):
        confusion_matrix(torch.tensor([0, 5]), torch.tensor([0, 1]), 5)
    with pytest.raises(ValueError, match="shape"):
        confusion_matrix(torch.zeros(2, 3, dtype=torch.long), torch.zeros(3, 2, dtype=torch.long), 5)


def test_scores_by_hand_without_void():
    assert_close_nan(iou_per_class(CM), [1, 2 / 3, 1 / 3, 0, nan])      # 3 only predicted: 0; 4 absent: NaN
    assert_close_nan(dice_per_class(CM), [1, 0.8, 0.5, 0, nan])
    assert_close_nan(class_accuracy(CM), [1, 2 / 3, 0.5, nan, nan])       # recall: NaN if not in truth
    assert mean_iou(CM) == pytest.approx(0.5)                              # (1 + 2/3 + 1/3 + 0) / 4
    assert pixel_accuracy_from_cm(CM) == pytest.approx(4 / 6)


def test_scores_by_hand_with_void_zero():
    assert_close_nan(iou_per_class(CM, 0), [nan, 2 / 3, 1 / 3, 0, nan])
    assert_close_nan(dice_per_class(CM, 0), [nan, 0.8, 0.5, 0, nan])
    assert_close_nan(class_accuracy(CM, 0), [nan, 2 / 3, 0.5, nan, nan])
    assert mean_iou(CM, 0) == pytest.approx(1 / 3)                         # (2/3 + 1/3 + 0) / 3
    assert pixel_accuracy_from_cm(CM, 0) == pytest.approx(3 / 5)


def test_predictions_on_void_pixels_do_not_count():
    # the void pixel is predicted as class 3: without void handling class 3 is a false positive (IoU 0)
    # and class 0 a miss (IoU 0); with void 0 both drop out and only class 1 (perfect) is scored.
    cm = confusion_matrix(torch.tensor([[3, 1]]), torch.tensor([[0, 1]]), 4)
    assert_close_nan(iou_per_class(cm), [0, 1, nan, 0])
    assert mean_iou(cm) == pytest.approx(1 / 3)
    assert_close_nan(iou_per_class(cm, 0), [nan, 1, nan, nan])
    assert mean_iou(cm, 0) == pytest.approx(1.0)
    # predicting the void class on a labelled pixel is still a miss for the true class
    cm = confusion_matrix(torch.tensor([[0, 1]]), torch.tensor([[2, 1]]), 3)
    assert_close_nan(iou_per_class(cm, 0), [nan, 1, 0])


def test_empty_matrix_gives_nan():
    cm = torch.zeros(3, 3, dtype=torch.long)
    assert math.isnan(mean_iou(cm)) and math.isnan(pixel_accuracy_from_cm(cm))
    assert all(math.isnan(x) for x in iou_per_class(cm).tolist())


def test_scores_from_confusion_is_json_ready():
    names = ["unlabeled", "grass", "roof", "car", "dog"]
    s = scores_from_confusion(CM, names, void_code=0)
    assert s["pixel_accuracy"] == pytest.approx(4 / 6)
    assert s["accuracy_mask"] == pytest.approx(3 / 5)
    assert s["miou"] == pytest.approx(1 / 3)
    assert s["mean_dice"] == pytest.approx((0.8 + 0.5 + 0) / 3)
    assert s["void_class"] == "unlabeled" and s["void_code"] == 0
    assert s["miou_classes"] == ["grass", "roof", "car"]
    assert s["iou"]["unlabeled"] is None and s["iou"]["dog"] is None and s["iou"]["car"] == 0.0
    assert s["iou"]["grass"] == pytest.approx(2 / 3)
    assert s["dice"]["roof"] == pytest.approx(0.5)
    assert s["class_accuracy"]["car"] is None
    assert s["support"] == {"unlabeled": 1, "grass": 3, "roof": 2, "car": 0, "dog": 0}
    assert s["n_pixels"] == 6 and s["n_scored_pixels"] == 5
    json.dumps(s, allow_nan=False)  # no NaN left
    with pytest.raises(ValueError, match="class names"):
        scores_from_confusion(CM, names[:3])


def test_scores_without_void_and_default_names():
    s = scores_from_confusion(CM, void_code=None)
    assert s["miou"] == pytest.approx(0.5) and s["accuracy_mask"] == pytest.approx(4 / 6)
    assert s["miou_classes"] == ["0", "1", "2", "3"] and s["void_class"] is None
