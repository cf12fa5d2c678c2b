"""Tests of the DJI SRT telemetry reader on hand-written files in the styles DJI drones write."""
import pytest

from dronefast.data.telemetry import parse_srt, read_srt, srt_beside, telemetry_at
from dronefast.errors import DatasetError

NEW_STYLE = """1
00:00:00,000 --> 00:00:00,033
<font size="28">FrameCnt: 1, DiffTime: 33ms
2023-05-02 10:31:52.288
[iso: 100] [shutter: 1/1250.0] [fnum: 1.7] [ev: 0] [focal_len: 24.00] [latitude: 47.071234] [longitude: 15.438765] [rel_alt: 20.000 abs_alt: 385.123] [gb_yaw: 90.5 gb_pitch: -89.9 gb_roll: 0.0] </font>

2
00:00:00,033 --> 00:00:00,066
<font size="28">FrameCnt: 2, DiffTime: 33ms
2023-05-02 10:31:52.321
[iso: 100] [latitude: 47.071300] [longtitude: 15.438800] [rel_alt: 20.500 abs_alt: 385.623] </font>
"""

OLD_STYLE = """1
00:00:00,000 --> 00:00:01,000
F/2.8, SS 320, ISO 100, EV 0, GPS (15.4388, 47.0712, 20), D 3.2m, H 20.00m, H.S 1.50m/s, V.S 0.00m/s

2
00:00:01,000 --> 00:00:02,000
F/2.8, SS 320, ISO 100, EV 0, GPS (0.0, 0.0, 0), D 3.2m, H 21.50m, H.S 1.50m/s, V.S 0.00m/s
"""

PHANTOM = """1
00:00:00,000 --> 00:00:01,000
HOME(149.0251,-20.2532) 2017.08.05 14:11:51
GPS(149.0260,-20.2540,16) BAROMETER:1.9
ISO:100 Shutter:60 EV: Fnum:2.2
"""


def test_new_style_gives_gps_heights_gimbal_and_times():
    a, b = parse_srt(NEW_STYLE)
    assert a == {"start_s": 0.0, "end_s": 0.033, "frame": 1, "lat": 47.071234, "lon": 15.438765, "height_m": 20.0,
                 "abs_alt_m": 385.123, "pitch_deg": -89.9, "yaw_deg": 90.5}
    assert (b["start_s"], b["end_s"], b["frame"]) == (0.033, 0.066, 2)
    assert (b["lat"], b["lon"], b["height_m"], b["abs_alt_m"]) == (47.0713, 15.4388, 20.5, 385.623)  # "longtitude"
    assert b["pitch_deg"] is None and b["yaw_deg"] is None


def test_old_style_reads_gps_longitude_first_and_h_and_no_fix_as_unknown():
    a, b = parse_srt(OLD_STYLE)
    assert (a["lat"], a["lon"], a["height_m"], a["abs_alt_m"], a["frame"]) == (47.0712, 15.4388, 20.0, None, None)
    assert (a["start_s"], a["end_s"]) == (0.0, 1.0)
    assert b["lat"] is None and b["lon"] is None and b["height_m"] == 21.5   # GPS (0, 0): no fix


def test_phantom_style_takes_gps_not_home_and_barometer_height():
    (a,) = parse_srt(PHANTOM)
    assert (a["lat"], a["lon"], a["height_m"]) == (-20.254, 149.026, 1.9)


def test_telemetry_at_picks_the_block_in_force():
    records = parse_srt(OLD_STYLE)
    assert telemetry_at(records, 0.0)["height_m"] == 20.0
    assert telemetry_at(records, 0.999)["height_m"] == 20.0
    assert telemetry_at(records, 1.0)["height_m"] == 21.5
    assert telemetry_at(records, 2.0)["height_m"] == 21.5
    assert telemetry_at(records, 2.5) is None and telemetry_at(records, -1) is None


def test_read_srt_finds_the_file_beside_a_video_and_refuses_other_text(tmp_path):
    video = tmp_path / "DJI_0001.MP4"
    video.write_bytes(b"")
    assert srt_beside(video) is None
    (tmp_path / "DJI_0001.SRT").write_text("\ufeff" + OLD_STYLE.replace("\n", "\r\n"), encoding="utf-8")
    srt = srt_beside(video)
    assert srt.name == "DJI_0001.SRT"
    assert [r["height_m"] for r in read_srt(srt)] == [20.0, 21.5]
    bad = tmp_path / "notes.srt"
    bad.write_text("hello\nworld\n")
    with pytest.raises(DatasetError, match="notes.srt: not an SRT telemetry file"):
        read_srt(bad)
    with pytest.raises(DatasetError, match="missing.srt: cannot read"):
        read_srt(tmp_path / "missing.srt")


def test_telemetry_camera_gives_the_frame_size_and_the_srt_values():
    from dronefast.data.telemetry import telemetry_camera

    (a,) = parse_srt(NEW_STYLE.split("\n\n")[0])
    cam = telemetry_camera({**a, "pitch_deg": -90.0}, (1080, 1920))
    assert (cam.image_width_px, cam.image_height_px, cam.height_m, cam.lat, cam.lon, cam.yaw_deg, cam.pitch_deg) == (
        1920, 1080, 20.0, 47.071234, 15.438765, 90.5, -90.0)
    assert cam.sources == {"image_width_px": "video", "image_height_px": "video", "height_m": "srt", "lat": "srt",
                           "lon": "srt", "yaw_deg": "srt", "pitch_deg": "srt"}
    assert cam.gsd_m is None                               # the SRT does not give the lens
    on_ground = telemetry_camera({**a, "height_m": 0.0, "yaw_deg": -90.0}, (1080, 1920))
    assert on_ground.height_m is None and on_ground.yaw_deg == 270.0 and "height_m" not in on_ground.sources
    none = telemetry_camera(None, (64, 96))
    assert (none.image_width_px, none.height_m, none.lat) == (96, None, None)
