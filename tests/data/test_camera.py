"""Camera geometry read from a photo's EXIF and XMP (dronefast.data.camera), on JPEGs the tests write themselves."""
import struct
from pathlib import Path
from typing import Mapping, Optional

import pytest
from PIL import Image
from PIL.TiffImagePlugin import IFDRational

from dronefast.data.camera import CameraInfo, read_camera, read_xmp, with_overrides
from dronefast.errors import CorruptImageError

XMP_NS = b"http://ns.adobe.com/xap/1.0/\x00"


def xmp_packet(values: Mapping[str, str], elements: bool = False) -> bytes:
    """A DJI-style XMP packet with `values` as drone-dji attributes (or as elements)."""
    if elements:
        body = "".join(f"<drone-dji:{k}>{v}</drone-dji:{k}>" for k, v in values.items())
        desc = f'<rdf:Description xmlns:drone-dji="http://www.dji.com/drone-dji/1.0/">{body}</rdf:Description>'
    else:
        attrs = " ".join(f'drone-dji:{k}="{v}"' for k, v in values.items())
        desc = f'<rdf:Description xmlns:drone-dji="http://www.dji.com/drone-dji/1.0/" {attrs}/>'
    return (f'<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta xmlns:x="adobe:ns:meta/">'
            f'<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">{desc}</rdf:RDF></x:xmpmeta>'
            f'<?xpacket end="w"?>').encode()


def _dms(deg: float):
    d = int(deg)
    m = int((deg - d) * 60)
    s = round(((deg - d) * 60 - m) * 60 * 1000)
    return (IFDRational(d, 1), IFDRational(m, 1), IFDRational(s, 1000))


def drone_jpeg(path: Path, size=(1500, 1000), focal_mm: Optional[float] = 8.8, focal_35mm: Optional[int] = 24,
               lat: Optional[float] = None, lon: Optional[float] = None,
               xmp: Optional[Mapping[str, str]] = None, elements: bool = False, orientation: int = 1) -> Path:
    """Write a JPEG with EXIF (focal lengths, GPS) and, with `xmp`, an XMP packet in its own APP1 segment."""
    exif = Image.Exif()
    if orientation != 1:
        exif[0x0112] = orientation
    sub = exif.get_ifd(0x8769)
    if focal_mm is not None:
        sub[0x920A] = IFDRational(round(focal_mm * 10), 10)
    if focal_35mm is not None:
        sub[0xA405] = focal_35mm
    if lat is not None:
        gps = exif.get_ifd(0x8825)
        gps[1], gps[2] = ("N" if lat >= 0 else "S"), _dms(abs(lat))
        gps[3], gps[4] = ("E" if lon >= 0 else "W"), _dms(abs(lon))
    Image.new("RGB", size, (90, 140, 60)).save(path, exif=exif)
    if xmp is not None:
        data = path.read_bytes()
        payload = XMP_NS + xmp_packet(xmp, elements)
        app1 = b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload
        path.write_bytes(data[:2] + app1 + data[2:])  # right after SOI
    return path


DJI = {"RelativeAltitude": "+20.00", "GimbalPitchDegree": "-89.9", "GimbalYawDegree": "+90.0",
       "FlightYawDegree": "+12.0", "AbsoluteAltitude": "+420.5"}


def test_reads_exif_and_xmp_and_gives_the_issue_gsd(tmp_path):
    p = drone_jpeg(tmp_path / "DJI_0001.JPG", lat=47.5, lon=-8.25, xmp=DJI)
    cam = read_camera(p)
    assert (cam.image_width_px, cam.image_height_px) == (1500, 1000)
    assert cam.focal_mm == pytest.approx(8.8) and cam.focal_35mm == 24
    assert cam.lat == pytest.approx(47.5, abs=1e-6) and cam.lon == pytest.approx(-8.25, abs=1e-6)
    assert cam.height_m == 20.0 and cam.pitch_deg == pytest.approx(-89.9)
    assert cam.yaw_deg == 90.0  # the gimbal's heading wins over the drone's
    # sensor = 36 * 8.8 / 24 = 13.2 mm; gsd = 20 * 13.2 / (8.8 * 1500) = 0.02 m/px
    assert cam.sensor_mm == pytest.approx(13.2)
    assert cam.gsd_m == pytest.approx(0.02)
    from dronefast.landing.options import LandingOptions  # a 300x200 map of the photo: 5x coarser
    assert LandingOptions().scale_for((200, 300), (1000, 1500), cam).gsd_map_m == pytest.approx(0.1)
    assert cam.sources == {"image_width_px": "photo", "image_height_px": "photo", "focal_mm": "exif",
                           "focal_35mm": "exif", "lat": "exif", "lon": "exif", "height_m": "xmp",
                           "pitch_deg": "xmp", "yaw_deg": "xmp"}
    js = cam.to_json()
    assert js["height_m"] == {"value": 20.0, "source": "xmp"}
    assert js["sensor_width_mm"]["source"] == "derived" and js["gsd_m"] == pytest.approx(0.02)


def test_xmp_elements_and_flight_yaw_fallback(tmp_path):
    p = drone_jpeg(tmp_path / "a.jpg", xmp={"RelativeAltitude": "35.5", "FlightYawDegree": "-90"}, elements=True)
    cam = read_camera(p)
    assert cam.height_m == 35.5 and cam.yaw_deg == 270.0 and cam.pitch_deg is None
    assert read_xmp(b"no packet here") == {}


def test_unknown_values_stay_none(tmp_path):
    p = tmp_path / "plain.png"
    Image.new("RGB", (40, 30)).save(p)
    cam = read_camera(p)
    assert cam == CameraInfo(image_width_px=40, image_height_px=30,
                             sources={"image_width_px": "photo", "image_height_px": "photo"})
    assert cam.gsd_m is None and cam.sensor_mm is None and cam.warning is None


def test_flags_override_the_photo_and_are_recorded(tmp_path):
    cam = read_camera(drone_jpeg(tmp_path / "a.jpg", xmp=DJI))
    cam2 = with_overrides(cam, height_m=10.0, sensor_width_mm=None, yaw_deg=-45)
    assert cam2.height_m == 10.0 and cam2.sources["height_m"] == "flag"
    assert cam2.yaw_deg == 315.0 and cam2.sources["yaw_deg"] == "flag"
    assert cam2.gsd_m == pytest.approx(0.01) and "sensor_width_mm" not in cam2.sources
    with pytest.raises(ValueError, match="height_m"):
        with_overrides(cam, height_m=-3)
    with pytest.raises(ValueError, match="lat"):
        with_overrides(cam, lat=91)
    with pytest.raises(ValueError, match="unknown camera value"):
        with_overrides(cam, altitude=3)


def test_oblique_photo_has_no_scale(tmp_path):
    cam = read_camera(drone_jpeg(tmp_path / "a.jpg", xmp={**DJI, "GimbalPitchDegree": "-75.0"}))
    assert cam.oblique and cam.gsd_m is None and "-75" in cam.warning
    nadir = with_overrides(cam, pitch_deg=-81)  # 9 degrees off: still nadir
    assert not nadir.oblique and nadir.gsd_m == pytest.approx(0.02)


def test_turned_photo_drops_the_heading_and_keeps_the_scale(tmp_path):
    cam = read_camera(drone_jpeg(tmp_path / "a.jpg", xmp=DJI, orientation=6))
    assert (cam.image_width_px, cam.image_height_px) == (1000, 1500)
    assert cam.yaw_deg is None and cam.gsd_m == pytest.approx(0.02)


def test_not_an_image_names_the_file(tmp_path):
    p = tmp_path / "x.jpg"
    p.write_text("hello")
    with pytest.raises(CorruptImageError, match="x.jpg"):
        read_camera(p)
