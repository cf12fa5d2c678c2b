"""Hand-made metric cases shared by the metric tests."""
import math

import pytest
import torch
import torch.nn.functional as F

nan = math.nan
DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no GPU"))]

# The 2x3 example, 5 classes: class 3 is only predicted, class 4 occurs nowhere.
TARG = torch.tensor([[0, 1, 1], [2, 2, 1]])
PRED = torch.tensor([[0, 1, 2], [2, 3, 1]])
CM = torch.tensor([[1, 0, 0, 0, 0],    # truth 0: predicted 0 once
                   [0, 2, 1, 0, 0],    # truth 1: 1, 1 right; once as 2
                   [0, 0, 1, 1, 0],    # truth 2: once right, once as 3
                   [0, 0, 0, 0, 0],
                   [0, 0, 0, 0, 0]])


def logits_for(pred_ids, n_classes):
    """Logits (B, C, H, W) whose argmax over dim 1 is `pred_ids` (B, H, W)."""
    return F.one_hot(pred_ids, n_classes).permute(0, 3, 1, 2).float() * 3.0 - 1.0


def assert_close_nan(actual, expected):
    actual = [float(a) for a in actual]
    assert len(actual) == len(expected)
    for a, e in zip(actual, expected):
        if math.isnan(e):
            assert math.isnan(a), (actual, expected)
        else:
            assert a == pytest.approx(e), (actual, expected)
