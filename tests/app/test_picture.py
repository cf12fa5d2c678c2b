"""The page's landing pictures on hand-made maps: green only where the decision may land (safe class and P(safe) at
or above the threshold), hazards red, the rest grey, each spot's clearance disc; the P(safe) map; the banner."""
from __future__ import annotations

import json

import numpy as np
import pytest

from dronefast.app.picture import (
    DISC_COLOUR,
    banner_html,
    decision_picture,
    p_safe_picture,
)
from dronefast.data.masks import ids_to_colour
from dronefast.inference.predict_files import probability_png
from dronefast.landing.options import LandingOptions
from tests.app.support import require

# A uniform grey photo (100, 100, 100): tinted pixels are 100 x 0.45 + tint x 0.55, rounded half up; grey ones
# 100 x 0.8.
GREEN, RED, GREY = (45, 155, 45), (172, 45, 45), (80, 80, 80)


def hand_made(classes):
    """``(photo, ids, p_safe)`` 30x40: grass, a person in the top-left corner, an unlabeled strip at the bottom;
    P(safe) 0.95, but 0.3 over the right quarter."""
    ids = np.full((30, 40), classes.id_of("grass"), np.uint8)
    ids[:5, :5] = classes.id_of("person")
    ids[27:, :] = classes.id_of("unlabeled")
    p = np.full((30, 40), 0.95, np.float32)
    p[:, 30:] = 0.3
    return np.full((30, 40, 3), 100, np.uint8), ids, p


def test_decision_picture_colours_what_the_decision_uses(classes):
    photo, ids, p = hand_made(classes)
    img = np.asarray(decision_picture(photo, ids, p, classes, LandingOptions(clearance_px=5, min_p_safe=0.5), [], 5))
    assert tuple(img[2, 2]) == RED                       # a hazard
    assert tuple(img[10, 10]) == GREEN                   # grass the model is sure of
    assert tuple(img[10, 35]) == GREY                    # grass below the threshold: not landable, not green
    assert tuple(img[28, 10]) == GREY                    # unknown ground
    img = np.asarray(decision_picture(photo, ids, p, classes, LandingOptions(clearance_px=5, min_p_safe=0.2), [], 5))
    assert tuple(img[10, 35]) == GREEN                   # a lower threshold makes it landable
    img = np.asarray(decision_picture(photo, ids, None, classes, LandingOptions(clearance_px=5), [], 5))
    assert tuple(img[10, 35]) == GREEN                   # without a confidence map, the class decides


def test_decision_picture_draws_each_clearance_disc(classes):
    photo, ids, p = hand_made(classes)
    spot = {"rank": 1, "x": 20, "y": 15, "p_safe_mean": 0.95}
    img = np.asarray(decision_picture(photo, ids, p, classes, LandingOptions(clearance_px=5), [spot], 6))
    assert tuple(img[15, 20]) == DISC_COLOUR                                  # the centre
    for y, x in ((15, 14), (15, 26), (9, 20), (21, 20)):                       # the disc's edge, 6 px out
        assert tuple(img[y, x]) == DISC_COLOUR, (y, x)
    assert tuple(img[15, 17]) == tuple(img[18, 20]) == GREEN                  # inside it: the ground shows


def test_p_safe_picture():
    p = np.array([[1.0, 0.2, 0.6]])
    img = np.asarray(p_safe_picture(p, 0.5))
    # 0.2 is below the threshold: grey 51 x 0.6 + (0, 60, 160) x 0.4
    assert img[0].tolist() == [[255, 255, 255], [31, 55, 95], [153, 153, 153]]


def test_banner_says_no_landing_spot_and_why():
    no = banner_html({"abstained": True, "reason": "the model is unsure: <1%"}, "unused")
    assert no == '<div class="df-banner df-banner-no" role="alert">NO LANDING SPOT: the model is unsure: &lt;1%</div>'
    assert banner_html({"abstained": False, "reason": None}, "LAND AT SPOT 1") == \
        '<div class="df-banner df-banner-ok">LAND AT SPOT 1</div>'


@pytest.fixture
def hand_result(classes, tmp_path):
    require("gradio", 'pip install -e ".[app]"')
    from dronefast.app.handlers import PhotoResult

    photo, ids, p = hand_made(classes)
    png = probability_png(p)
    return PhotoResult(name="hand", ids=ids, photo=photo, small_ids=ids, colour=ids_to_colour(ids, classes),
                       folder=tmp_path, paths={"landing_json": tmp_path / "hand.landing.json"}, p_safe=png,
                       small_p_safe=png)


def test_landing_view_draws_the_decision_and_abstains_with_a_banner(hand_result, classes):
    from dronefast.app.handlers import landing_view

    view = landing_view(hand_result, classes, LandingOptions(clearance_px=4, min_p_safe=0.5, top_k=1))
    spot = json.loads(view.json_path.read_text())["spots"][0]
    img = np.asarray(view.picture)
    assert spot["radius_px"] > 6 and tuple(img[spot["y"], spot["x"] - 4]) == DISC_COLOUR  # the clearance, not
    assert tuple(img[10, 35]) == GREY and tuple(img[2, 2]) == RED                           # the free radius
    assert view.banner.startswith('<div class="df-banner df-banner-ok">LAND AT SPOT 1: ')
    view = landing_view(hand_result, classes, LandingOptions(clearance_px=4, min_p_safe=0.99))
    assert len(view.table) == 0 and tuple(np.asarray(view.picture)[10, 10]) == GREY
    assert view.banner.startswith('<div class="df-banner df-banner-no" role="alert">NO LANDING SPOT: the model is '
                                  'unsure: only 0.0% of the photo is safe ground with P(safe) &gt;= 0.99')
