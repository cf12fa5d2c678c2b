"""Calibration: ECE by hand, and temperature scaling that makes a miscalibrated toy model honest."""
import math

import pytest
import torch

from dronefast.metrics.calibration import CalibrationTally, expected_calibration_error, fit_temperature, nll


def test_ece_by_hand():
    t = CalibrationTally(bins=2)
    # bin [0, 0.5): confidences 0.2, 0.4 with outcomes 0, 1 -> accuracy 0.5, confidence 0.3
    # bin [0.5, 1]: confidences 0.9, 0.9 with outcomes 1, 1 -> accuracy 1.0, confidence 0.9
    t.add(torch.tensor([0.2, 0.4, 0.9, 0.9]), torch.tensor([0, 1, 1, 1]))
    assert t.n == 4
    assert t.ece() == pytest.approx(2 / 4 * abs(0.5 - 0.3) + 2 / 4 * abs(1.0 - 0.9))
    d = t.as_dict()
    assert [b["pixels"] for b in d["bins"]] == [2, 2] and d["bins"][1]["accuracy"] == 1.0
    assert math.isnan(expected_calibration_error(torch.zeros(3), torch.zeros(3), torch.zeros(3)))
    assert CalibrationTally().as_dict()["ece"] is None


def test_temperature_scaling_lowers_the_error_of_an_over_confident_model():
    torch.manual_seed(0)
    z = torch.randn(20000, 5) * 1.5                      # the true logits
    targets = torch.multinomial(torch.softmax(z, 1), 1)[:, 0]
    over = 3 * z                                         # a model three times too sure of itself
    t = fit_temperature(over, targets)
    assert t == pytest.approx(3.0, rel=0.05)
    before, after = CalibrationTally(), CalibrationTally()
    for tally, temp in ((before, 1.0), (after, t)):
        p = torch.softmax(over / temp, 1)
        tally.add(p.max(1).values, p.argmax(1) == targets)
    assert before.ece() > 0.2 and after.ece() < 0.02
    assert nll(over, targets, t) < nll(over, targets)
    assert (torch.softmax(over / t, 1).argmax(1) == over.argmax(1)).all()   # the classes do not change
    assert fit_temperature(torch.zeros(0, 5), torch.zeros(0)) == 1.0


def test_probabilities_average_the_views_probabilities_not_their_logits():
    """By hand: views (ln 3, 0) and (0, 0) give (0.75, 0.25) and (0.5, 0.5), mean (0.625, 0.375) (averaging the
    logits would give sqrt(3) / (sqrt(3) + 1) = 0.634); at T = 2, (ln 9, 0) alone gives (0.75, 0.25)."""
    from dronefast.metrics.calibration import probabilities

    views = [torch.tensor([[math.log(3), 0.0]]), torch.zeros(1, 2)]
    torch.testing.assert_close(probabilities(views), torch.tensor([[0.625, 0.375]]))
    torch.testing.assert_close(probabilities([torch.tensor([[math.log(9)], [0.0]])], 2.0, dim=0),
                               torch.tensor([[0.75], [0.25]]))
