"""Tests of the painters: perspective and placement of buildings, people, poles and cars."""
import numpy as np

from dronefast.synthetic.buildings import face_quad, visible_faces
from dronefast.synthetic.canvas import Scene
from dronefast.synthetic.clutter import draw_obstacle
from dronefast.synthetic.fences import paint_posts
from dronefast.synthetic.people import draw_person
from dronefast.synthetic.shapes import rect
from dronefast.synthetic.shot import View
from dronefast.synthetic.stats import region_sizes
from dronefast.synthetic.vehicles import draw_bicycle, draw_car


def _scene(seed=0):
    view = View(w=300, h=200, ppm=10.0, altitude=22.0, theta=0.0, sun=(0.0, 1.0), sun_len=0.5)  # a 30 m frame
    sc = Scene(view, np.random.default_rng(seed))
    sc.ground("paved-area")
    return sc


def _box(sc, name):
    ys, xs = np.nonzero(np.asarray(sc.ids_img) == sc.C[name])
    return xs.min(), xs.max(), ys.min(), ys.max()


def test_only_walls_facing_the_camera_are_seen():
    sc = _scene()
    base = rect(250, 100, 40, 40, 0.0)  # right of the centre
    faces = visible_faces(sc, base)
    assert len(faces) == 1 and {faces[0][0][0], faces[0][1][0]} == {230}  # its left wall only
    quad = face_quad(sc, *faces[0], 0.0, 1.0, 0.0, 6.0)
    assert quad[0][0] == 230 and quad[2][0] > 230  # the top of the wall leans outward


def test_a_person_leans_away_from_the_centre_and_is_about_real_size():
    sc = _scene()
    draw_person(sc, (270, 100), facing=0.0, height=1.8)  # 12 m right of nadir
    x0, x1, y0, y1 = _box(sc, "person")
    assert x0 >= 265 and x1 > 280  # the head is further out than the feet
    assert 10 <= x1 - x0 <= 25 and y1 - y0 <= 8  # 1 to 2.5 m long, well under a metre wide
    sc2 = _scene()
    draw_person(sc2, (150, 100), facing=0.0, height=1.8)  # straight below: shoulders only
    x0, x1, y0, y1 = _box(sc2, "person")
    assert max(x1 - x0, y1 - y0) <= 10


def test_cars_are_four_to_five_metres_and_bicycles_under_two():
    sc = _scene(seed=1)
    draw_car(sc, 150, 100, 0.0)
    x0, x1, y0, y1 = _box(sc, "car")
    assert 34 <= x1 - x0 <= 130 and 16 <= y1 - y0 <= 32  # a car, van or truck: lengths 3.4 to 11 m
    sc = _scene()
    draw_bicycle(sc, (150, 100), 0.0)
    x0, x1, y0, y1 = _box(sc, "bicycle")
    assert 15 <= x1 - x0 <= 20 and y1 - y0 <= 6


def test_posts_and_obstacles_are_prisms_in_perspective():
    sc = _scene(seed=3)
    draw_obstacle(sc, (60, 100), 2.0)  # 9 m left of nadir
    x0, x1, _, _ = _box(sc, "obstacle")
    assert x0 < 60 - 10 and x1 - x0 >= 20  # leans outward, at least the 2 m of its length
    extents = []
    for seed in range(20):
        sc = _scene(seed)
        paint_posts(sc)
        extents += region_sizes(np.asarray(sc.ids_img), sc.C["fence-pole"])[0].tolist()
    # 2 to 4.5 m posts lean at most 4.6 m in the corners of a 30 m frame flown at 22 m
    assert len(extents) >= 5 and max(extents) <= 60 and min(extents) >= 1
