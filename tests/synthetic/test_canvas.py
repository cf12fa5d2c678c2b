"""Tests of dronefast.synthetic.canvas (the three canvases of a scene) and render (canvases to a photo)."""
import numpy as np
import pytest

from dronefast.synthetic.canvas import MAX_OBJECTS, UNIT, Scene
from dronefast.synthetic.photo import render, smooth_noise
from dronefast.synthetic.shapes import rect
from dronefast.synthetic.shot import View


def _scene(seed=0, h=60, w=90):
    view = View(w=w, h=h, ppm=3.0, altitude=22.0, theta=0.0, sun=(1.0, 0.0), sun_len=0.5)
    return Scene(view, np.random.default_rng(seed))


def test_draw_writes_class_object_and_shade():
    sc = _scene()
    sc.ground("grass")
    car = sc.obj("polygon", rect(45, 30, 20, 10, 0.0), "car", shade=UNIT // 2)
    ids, inst, shade = (np.asarray(a) for a in (sc.ids_img, sc.inst_img, sc.shade_img))
    assert ids[30, 45] == sc.C["car"] and inst[30, 45] == car == 1 and shade[30, 45] == UNIT // 2
    assert ids[2, 2] == sc.C["grass"] and inst[2, 2] == 0 and shade[2, 2] == UNIT
    assert sc.class_at(45, 30) == "car" and sc.class_at(-1, 5) is None
    sc.shadow("rectangle", [0, 0, 10, 10], 0.5)  # appearance only
    assert np.asarray(sc.ids_img)[5, 5] == sc.C["grass"] and np.asarray(sc.shade_img)[5, 5] == UNIT // 2


def test_pick_keeps_to_allowed_classes_margins_and_clearance():
    sc = _scene()
    sc.ground("grass")
    sc.obj("rectangle", [0, 0, 44, 59], "paved-area")
    pts = sc.pick(["paved-area"], 50, margin=5)
    assert all(sc.class_at(x, y) == "paved-area" and x >= 5 and y >= 5 for x, y in pts)
    clear = sc.pick(["paved-area"], 50, clear=8)
    assert sum(x < 36 for x, _ in clear) >= 45  # kept 8 px away from the grass (a few give up after 6 tries)
    assert all(sc.class_at(*p) == "paved-area" for p in clear)
    assert len(sc.pick(["water"], 3)) == 3  # no such pixels: anywhere


def test_object_indices_run_out_gracefully():
    sc = _scene()
    idx = [sc.new("person") for _ in range(MAX_OBJECTS + 5)]
    assert idx[:3] == [1, 2, 3] and max(idx) == MAX_OBJECTS and sc.n_obj == MAX_OBJECTS


def test_render_colours_shading_and_determinism():
    imgs = []
    for _ in range(2):
        sc = _scene(seed=4)
        sc.ground("paved-area")
        sc.obj("rectangle", [50, 0, 89, 59], "grass")
        sc.shadow("rectangle", [0, 30, 89, 59], 0.5)
        imgs.append(render(sc))
    img = imgs[0].astype(float)
    assert imgs[0].shape == (60, 90, 3) and imgs[0].dtype == np.uint8
    assert np.array_equal(imgs[0], imgs[1])
    grass, paved = img[:30, 55:].mean((0, 1)), img[:30, :45].mean((0, 1))
    assert grass[1] - grass[[0, 2]].mean() > paved[1] - paved[[0, 2]].mean() + 20  # green against grey-beige
    assert img[35:, :45].mean() < 0.7 * img[:30, :45].mean()  # in the shadow


@pytest.mark.parametrize("channels", [1, 3])
def test_smooth_noise_shapes(channels):
    out = smooth_noise(np.random.default_rng(0), 20, 30, 5.0, channels)
    assert out.shape == ((20, 30) if channels == 1 else (20, 30, 3)) and out.dtype == np.float32
