"""Tests of landing spots along a video: short clips generated here (a synthetic scene panned a few pixels a frame,
plus noise, encoded with PyAV), predicted with the tiny untrained model of ``run_folder``."""
import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest

from dronefast.cli.predict import main
from dronefast.errors import DatasetError
from dronefast.landing.options import LandingOptions
from dronefast.landing.policy import resolve_policy
from dronefast.landing.spots import LandingSpot, spots_to_json
from dronefast.landing.writer import analyse_landing
from dronefast.synthetic.scene import render_scene
from dronefast.workflows.video import (
    VideoOptions,
    camera_shift,
    frame_step,
    hold_top_spot,
    predict_video,
    top_spot_jitter,
    video_output_paths,
)

av = pytest.importorskip("av")

H, W = 64, 96
PAN = (3, 1)  # camera motion per frame (px right, px down): the ground moves by (-3, -1) in the picture
SRT = """1
00:00:00,000 --> 00:00:00,600
<font size="28">FrameCnt: 1, DiffTime: 100ms
[iso: 100] [latitude: 47.070000] [longitude: 15.430000] [rel_alt: 20.000 abs_alt: 385.000] [gb_yaw: 90.0 gb_pitch: -90.0 gb_roll: 0.0] </font>

2
00:00:00,600 --> 00:00:01,200
<font size="28">FrameCnt: 7, DiffTime: 100ms
[iso: 100] [latitude: 47.071000] [longitude: 15.431000] [rel_alt: 30.000 abs_alt: 395.000] [gb_yaw: 90.0 gb_pitch: -90.0 gb_roll: 0.0] </font>
"""


def panned_frames(n, pan=PAN, noise=8.0, seed=3):
    """`n` frames (H, W, 3) uint8 of one synthetic scene, the camera moving by `pan` px a frame, with noise."""
    dx, dy = pan
    scene, _ = render_scene((H + n * abs(dy), W + n * abs(dx)), seed=seed)
    rng = np.random.default_rng(seed)
    x0, y0 = (0 if dx >= 0 else n * -dx), (0 if dy >= 0 else n * -dy)
    return [np.clip(scene[y0 + i * dy:y0 + i * dy + H, x0 + i * dx:x0 + i * dx + W].astype(np.float64)
                    + rng.normal(0, noise, (H, W, 3)), 0, 255).astype(np.uint8) for i in range(n)]


def write_clip(path: Path, frames, fps=10) -> Path:
    """An H.264 MP4 of `frames` (near-lossless: crf 12)."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        stream.options = {"crf": "12"}
        for f in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def decode(path: Path):
    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        return [f.to_ndarray(format="rgb24") for f in c.decode(stream)], float(stream.average_rate)


@pytest.fixture(scope="module")
def predictor(run_folder):
    from dronefast.inference.predictor import Predictor

    return Predictor(run_folder, device="cpu")


LANDING = LandingOptions(clearance_px=1, min_p_safe=0)  # untrained: P(safe) about 0.2 everywhere, narrow safe areas


def test_frame_step_is_one_frame_a_second_by_default():
    assert [frame_step(29.97, None), frame_step(25.0, None), frame_step(0.4, None), frame_step(30.0, 7)] == [
        30, 25, 1, 7]
    with pytest.raises(ValueError, match="--every"):
        frame_step(None, None)


@pytest.mark.parametrize("pan", [(3, 1), (-4, 6)])
def test_camera_shift_finds_the_pan(pan):
    a, b = panned_frames(2, pan=pan)
    assert camera_shift(a, b) == (-pan[0], -pan[1])
    if pan[0] % 2 == 0 and pan[1] % 2 == 0:  # at half size (48x32), in whole half-size pixels
        assert camera_shift(a, b, max_side=48) == (-pan[0], -pan[1])


def spot(x, y, score, radius=None):
    return LandingSpot(x=x, y=y, radius_px=radius or score, radius_m=None, score=score, surface="grass")


def test_hold_top_spot_keeps_the_previous_area_within_the_tolerance():
    best, near, far = spot(50, 50, 10.0), spot(20, 20, 8.5), spot(80, 10, 9.5)
    previous = spot(22, 21, 9.0, radius=5.0)                      # (20, 20) lies 2.2 px away, inside its free disc
    assert hold_top_spot([best, far, near], previous, 0.2) == ([near, best, far], True)   # 8.5 >= 0.8 * 10
    assert hold_top_spot([best, far, near], previous, 0.1) == ([best, far, near], False)  # 8.5 < 0.9 * 10
    assert hold_top_spot([best, far, near], spot(40, 40, 9.0, radius=5.0), 0.2)[1] is False  # nothing inside
    assert hold_top_spot([best, far, near], None, 0.2)[1] is False
    assert hold_top_spot([best, far, near], previous, 0.0)[1] is False
    assert hold_top_spot([near, best], previous, 0.2) == ([near, best], False)  # already on top: not "held"


def test_top_spot_jitter_is_the_motion_corrected_displacement():
    tops = [(10, 10), (7, 9), None, (1, 1), (0, 2)]
    shifts = [(0, 0), (-3, -1), (-3, -1), (-3, -1), (-1, 0)]
    assert top_spot_jitter(tops, shifts) == 0.5          # pairs: (10,10)->(7,9): 0; (1,1)->(0,2): 1
    assert math.isnan(top_spot_jitter([(1, 1), None], [(0, 0), (0, 0)]))


def test_video_gives_annotated_frames_and_one_line_per_predicted_frame(predictor, tmp_path):
    clip = write_clip(tmp_path / "DJI_0007.MP4", panned_frames(12))
    paths = video_output_paths(clip, tmp_path / "out")
    result = predict_video(predictor, clip, paths, VideoOptions(landing=LANDING))   # 10 fps: frames 0 and 10
    assert (result.step, result.fps, result.frames, result.telemetry) == (10, 10.0, [0, 10], None)
    lines = [json.loads(line) for line in paths["frames"].read_text().splitlines()]
    assert [(d["frame"], d["time_s"], d["size"], d["held"], d["gsd_m"]) for d in lines] == [
        (0, 0.0, "96x64", False, None), (10, 1.0, "96x64", False, None)]
    assert "telemetry" not in lines[0] and "camera" not in lines[0]     # no SRT: pixel spots
    source, _ = decode(clip)
    pred = predictor.predict_confidence(source[0], resolve_policy(predictor.classes, None, None)[0], p_class=False)
    spots, meta = analyse_landing(pred.ids, predictor.classes, LANDING, p_safe=pred.p_safe)
    assert spots and lines[0]["spots"] == json.loads(json.dumps(spots_to_json(spots)["spots"]))   # no history yet
    assert lines[0]["verdict"] == meta["verdict"] and lines[0]["clearance_px"] == 1
    assert all(sp["east_m"] is None and sp["lat"] is None for sp in lines[0]["spots"])
    assert lines[1]["camera_shift_px"] == [-30.0, -10.0]   # ten frames of (-3, -1)
    annotated, rate = decode(paths["video"])
    assert len(annotated) == 2 and annotated[0].shape == (H, W, 3) and rate == 1.0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["DJI_0007.frames.jsonl", "DJI_0007.landing.mp4"]


def test_srt_telemetry_gives_each_frame_its_camera_and_the_spots_places(predictor, tmp_path):
    clip = write_clip(tmp_path / "DJI_0008.MP4", panned_frames(12))
    (tmp_path / "DJI_0008.SRT").write_text(SRT)
    paths = video_output_paths(clip, tmp_path / "out")
    lens = LANDING.replace(focal_mm=4.5, sensor_mm=6.4)     # the SRT does not name the lens
    result = predict_video(predictor, clip, paths, VideoOptions(landing=lens))
    assert result.telemetry == tmp_path / "DJI_0008.SRT"
    lines = [json.loads(line) for line in paths["frames"].read_text().splitlines()]
    for d, height, lat in zip(lines, (20.0, 30.0), (47.07, 47.071)):
        assert (d["telemetry"]["height_m"], d["telemetry"]["lat"], d["telemetry"]["frame"]) == (
            height, lat, 1 if height == 20 else 7)
        assert d["camera"]["height_m"] == {"value": height, "source": "srt"}
        assert d["camera"]["yaw_deg"] == {"value": 90.0, "source": "srt"}
        gsd = height * 6.4 / (4.5 * W)                      # m per px: height x sensor / (focal x width)
        assert d["gsd_m"] == pytest.approx(gsd)
        assert d["spots"]
        for sp in d["spots"]:                              # facing east: up is east, right is south
            assert sp["east_m"] == pytest.approx(((H - 1) / 2 - sp["y"]) * gsd)
            assert sp["north_m"] == pytest.approx(-(sp["x"] - (W - 1) / 2) * gsd)
            assert sp["lat"] == pytest.approx(lat + math.degrees(sp["north_m"] / 6378137.0))
    bare = write_clip(tmp_path / "DJI_0009.MP4", panned_frames(2))     # no SRT, no scale: metres cannot be met
    with pytest.raises(DatasetError, match="DJI_0009.MP4: frame 0 .*clearance in metres needs the ground scale"):
        predict_video(predictor, bare, video_output_paths(bare, tmp_path / "o2"),
                      VideoOptions(landing=LandingOptions(clearance_m=2.0, min_p_safe=0)))
    assert not (tmp_path / "o2").exists() or not any((tmp_path / "o2").iterdir())


def test_hysteresis_lowers_the_jitter_of_the_top_spot(predictor, tmp_path, capsys):
    n = 20
    clip = write_clip(tmp_path / "pan.mp4", panned_frames(n))
    true_shift = [(0.0, 0.0)] + [(-float(PAN[0]), -float(PAN[1]))] * (n - 1)
    jitter = {}
    for h in (0.0, 0.2):
        r = predict_video(predictor, clip, video_output_paths(clip, tmp_path / f"h{h}"),
                          VideoOptions(landing=LANDING, every=1, hysteresis=h))
        assert r.shifts == true_shift                          # the camera motion is estimated right
        assert all(t is not None for t in r.tops) and (r.held > 0) is (h > 0)
        jitter[h] = top_spot_jitter(r.tops, true_shift)
    with capsys.disabled():
        print(f"\ntop-spot jitter over {n} frames: {jitter[0.0]:.1f} px without hysteresis, "
              f"{jitter[0.2]:.1f} px with hysteresis 0.2")
    assert jitter[0.2] < jitter[0.0]


def test_video_decoding_errors_name_the_file(predictor, tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"junk" * 50)
    with pytest.raises(DatasetError, match="bad.mp4: cannot"):
        predict_video(predictor, bad, video_output_paths(bad, tmp_path / "out"), VideoOptions(landing=LANDING))
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


# ------------------------------------------------------------------------------------------------ command line

def test_cli_predicts_videos_and_photos_of_a_folder_tree(run_folder, tmp_path, capsys):
    root = tmp_path / "DCIM"
    (root / "101MEDIA").mkdir(parents=True)
    write_clip(root / "101MEDIA" / "DJI_0002.MP4", panned_frames(6))
    (root / "101MEDIA" / "DJI_0002.SRT").write_text(SRT)
    from PIL import Image

    Image.fromarray(panned_frames(1)[0]).save(root / "DJI_0001.JPG")
    Image.fromarray(panned_frames(1)[0]).save(root / "101MEDIA" / "DJI_0004.JPG")
    (root / "DJI_0001.DNG").write_bytes(b"raw")
    (root / "101MEDIA" / "DJI_0003.MP4").write_bytes(b"not a video")
    out = tmp_path / "out"
    args = [str(run_folder), str(root), "--out", str(out), "--no-progress", "--device", "cpu"]
    rc = main(args)
    captured = capsys.readouterr()
    assert rc == 0, captured.err                              # without --recursive: the photo only
    assert sorted(p.name for p in out.iterdir()) == ["DJI_0001.colour.png", "DJI_0001.mask.png",
                                                     "DJI_0001.overlay.jpg"]
    assert f"not predicted: 1 file(s) that are neither photos nor videos: {root / 'DJI_0001.DNG'}" in captured.out

    rc = main(args + ["--recursive", "--skip-existing", "--clearance-px", "1", "--min-p-safe", "0", "--every", "5"])
    captured = capsys.readouterr()
    assert rc == 1 and "DJI_0003.MP4: cannot open the video" in captured.err   # named, the others go on
    assert f"not predicted: 1 file(s) that are neither photos nor videos: {root / 'DJI_0001.DNG'}\n" in captured.out
    assert "skipping 1 photo(s)" in captured.out          # the SRT is read with its video, not named
    assert "2 frame(s) predicted (every 5)" in captured.out and "telemetry from DJI_0002.SRT" in captured.out
    lines = [json.loads(line) for line in (out / "DJI_0002.frames.jsonl").read_text().splitlines()]
    assert [(d["frame"], d["time_s"], d["telemetry"]["height_m"]) for d in lines] == [(0, 0.0, 20.0), (5, 0.5, 20.0)]
    assert len(decode(out / "DJI_0002.landing.mp4")[0]) == 2
    assert (out / "DJI_0004.mask.png").is_file()             # the photo of the subfolder too
    assert not (out / "DJI_0003.frames.jsonl").exists() and not (out / "DJI_0003.landing.mp4").exists()


def test_cli_video_default_clearance_and_pyav_missing(run_folder, tmp_path, capsys, monkeypatch):
    clip = write_clip(tmp_path / "clip.mp4", panned_frames(2))
    out = tmp_path / "out"
    args = [str(run_folder), str(clip), "--out", str(out), "--no-progress", "--device", "cpu"]
    monkeypatch.setitem(sys.modules, "av", None)               # PyAV not installed
    assert main(args) == 1
    err = capsys.readouterr().err
    assert err.strip().splitlines() == ['error: reading videos needs PyAV: pip install "dronefast[video]"']
    assert not out.exists()
    monkeypatch.delitem(sys.modules, "av")
    assert main(args + ["--hysteresis", "1"]) == 2
    assert "--hysteresis must be in [0, 1)" in capsys.readouterr().err
    assert main(args) == 0                                     # no clearance given: 40 px of the frame, no scale
    assert "1 frame(s) predicted (every 10), a landing spot in 0" in capsys.readouterr().out
    (line,) = [json.loads(t) for t in (out / "clip.frames.jsonl").read_text().splitlines()]
    assert line["clearance_px"] == 40 and line["spots"] == [] and line["verdict"]["abstained"] is True
