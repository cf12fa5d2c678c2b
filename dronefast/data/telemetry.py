"""DJI flight telemetry from the ``.SRT`` subtitle file a DJI drone writes beside each video (same stem).

Each subtitle block covers a time span of the video and holds the drone's state then. The models write it in
different styles; these are read (anything else is left unknown, never guessed):

* newer (Mavic 3, Mini 3, Air 2S, ...): ``[latitude: 47.071234] [longitude: 15.438765] [rel_alt: 20.000
  abs_alt: 385.123]`` (Mini 2 spells ``longtitude``), and on some models ``[gb_yaw: 0.0 gb_pitch: -90.0 ...]``;
* older (Mavic Air, Mavic 2, Mavic Mini): ``GPS (15.4388, 47.0712, 20), D 3.2m, H 20.00m``;
* Phantom 4: ``GPS(15.4388,47.0712,19) BAROMETER:20.0``.

``GPS(...)`` lists longitude first. ``rel_alt``, ``H`` and ``BAROMETER`` are heights above the take-off point in
metres (``height_m``); ``abs_alt`` is the height above sea level (``abs_alt_m``). A position of exactly (0, 0) is
DJI's "no GPS fix" and is read as unknown. The gimbal's yaw is the direction the frame's top edge faces.

:func:`telemetry_camera` gives a record as the :class:`~dronefast.data.camera.CameraInfo` of a frame (sources
"srt"); the SRT does not give the lens, so a ground scale needs the focal length and sensor width as flags.
"""
from __future__ import annotations

import bisect
import re
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Union

from ..errors import DatasetError
from .camera import CameraInfo, with_overrides

__all__ = ["TELEMETRY_FIELDS", "read_srt", "parse_srt", "telemetry_at", "srt_beside", "telemetry_camera"]

PathLike = Union[str, Path]
#: Keys of a telemetry record besides ``start_s`` / ``end_s`` (each None when the block does not say).
TELEMETRY_FIELDS = ("frame", "lat", "lon", "height_m", "abs_alt_m", "pitch_deg", "yaw_deg")

_NUM = r"([-+]?\d+(?:\.\d+)?)"
_TIME = re.compile(r"(\d+):(\d{2}):(\d{2})[,.](\d{1,3})\s*-->\s*(\d+):(\d{2}):(\d{2})[,.](\d{1,3})")
_TAG = re.compile(r"<[^>]*>")
_PATTERNS = {
    "frame": [re.compile(r"FrameCnt\s*:\s*(\d+)")],
    "lat": [re.compile(r"\[\s*latitude\s*:\s*" + _NUM)],
    "lon": [re.compile(r"\[\s*longt?itude\s*:\s*" + _NUM)],
    "height_m": [re.compile(r"rel_alt\s*:\s*" + _NUM), re.compile(r"(?<![\w.])H\s+" + _NUM + r"\s*m\b"),
                 re.compile(r"BAROMETER\s*:\s*" + _NUM)],
    "abs_alt_m": [re.compile(r"abs_alt\s*:\s*" + _NUM)],
    "pitch_deg": [re.compile(r"gb_pitch\s*:\s*" + _NUM)],
    "yaw_deg": [re.compile(r"gb_yaw\s*:\s*" + _NUM)],
}
_GPS = re.compile(r"(?<![A-Za-z])GPS\s*\(\s*" + _NUM + r"\s*,\s*" + _NUM)  # GPS(lon, lat, ...)


def _seconds(h: str, m: str, s: str, ms: str) -> float:
    return int(h) * 3600 + int(m) * 60 + int(s) + int(ms.ljust(3, "0")) / 1000


def _fields(text: str) -> Dict[str, Any]:
    """The telemetry values of one block's text (tags removed); None for each one it does not hold."""
    out: Dict[str, Any] = {}
    for key, patterns in _PATTERNS.items():
        found = next((m.group(1) for p in patterns for m in [p.search(text)] if m), None)
        out[key] = None if found is None else (int(found) if key == "frame" else float(found))
    gps = _GPS.search(text)
    if gps and out["lat"] is None and out["lon"] is None:
        out["lon"], out["lat"] = float(gps.group(1)), float(gps.group(2))
    if out["lat"] == 0 and out["lon"] == 0:  # DJI writes (0, 0) before the GPS has a fix
        out["lat"] = out["lon"] = None
    return out


def parse_srt(text: str) -> List[Dict[str, Any]]:
    """The telemetry blocks of an SRT file's text, in file order: one dict per block with ``start_s``,
    ``end_s`` (seconds of video) and :data:`TELEMETRY_FIELDS` (degrees, metres; None where unknown)."""
    records = []
    lines = text.splitlines()
    starts = [(i, m) for i, line in enumerate(lines) for m in [_TIME.search(line)] if m]
    for k, (i, m) in enumerate(starts):
        end = starts[k + 1][0] if k + 1 < len(starts) else len(lines)
        body = _TAG.sub(" ", "\n".join(lines[i + 1:end]))
        g = m.groups()
        records.append({"start_s": _seconds(*g[:4]), "end_s": _seconds(*g[4:]), **_fields(body)})
    return records


def read_srt(path: PathLike) -> List[Dict[str, Any]]:
    """:func:`parse_srt` of a file, sorted by start time.

    Raises:
        DatasetError: naming the file when it cannot be read or holds no subtitle time line
            (``HH:MM:SS,mmm --> HH:MM:SS,mmm``).
    """
    try:
        text = Path(path).read_text(encoding="utf-8-sig", errors="replace")
    except OSError as e:
        raise DatasetError(f"cannot read the telemetry file ({e.strerror or e})", path) from None
    records = parse_srt(text)
    if not records:
        raise DatasetError("not an SRT telemetry file: no 'HH:MM:SS,mmm --> HH:MM:SS,mmm' time line", path)
    return sorted(records, key=lambda r: r["start_s"])


def telemetry_at(records: Sequence[Dict[str, Any]], time_s: float) -> Optional[Dict[str, Any]]:
    """The record of `records` (sorted by ``start_s``) in force at `time_s` seconds of video: the last one that
    starts at or before it, if it has not ended before it; None otherwise."""
    i = bisect.bisect_right([r["start_s"] for r in records], time_s + 1e-9) - 1
    if i < 0 or records[i]["end_s"] + 1e-9 < time_s:
        return None
    return records[i]


def srt_beside(video: PathLike) -> Optional[Path]:
    """The telemetry file DJI writes beside a video (``<stem>.SRT`` or ``<stem>.srt``), or None."""
    video = Path(video)
    for suffix in (".SRT", ".srt"):
        cand = video.with_suffix(suffix)
        if cand.is_file():
            return cand
    return None


#: Telemetry record keys and the :class:`CameraInfo` fields they fill.
_CAMERA_FIELDS = {"height_m": "height_m", "lat": "lat", "lon": "lon", "yaw_deg": "yaw_deg", "pitch_deg": "pitch_deg"}


def telemetry_camera(record: Optional[Dict[str, Any]], size: Sequence[int]) -> CameraInfo:
    """The camera of a video frame of ``size = (height, width)`` px from its telemetry `record` (None: no
    telemetry): image size (source "video") and the record's height, position and gimbal (source "srt"); a value
    a camera cannot hold (a height of 0 or less before take-off) stays unknown."""
    cam = with_overrides(CameraInfo(), "video", image_width_px=int(size[1]), image_height_px=int(size[0]))
    for key, name in _CAMERA_FIELDS.items():
        value = None if record is None else record.get(key)
        try:
            cam = with_overrides(cam, "srt", **{name: value})
        except ValueError:
            continue
    return cam
