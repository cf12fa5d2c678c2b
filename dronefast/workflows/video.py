"""Landing spots along a drone video: ``python -m dronefast.predict MODEL FLIGHT.mp4 --out DIR``.

Every `every`-th frame (default: one frame per second of video, from the stream's frame rate) is predicted like a
photo (class map and the model's P(safe)) and analysed for landing spots (:mod:`dronefast.landing`). Two files are
written per video, each atomically (temporary name, then renamed):

* ``<stem>.landing.mp4``: the predicted frames (at the video's rate divided by `every`) with the class overlay,
  the spots (numbered yellow circles of their free radius, the model's mean P(safe) beside each, a cyan disc of
  the required clearance) and, on a band at the top, the time and the top spot's P(safe) or why there is none;
* ``<stem>.frames.jsonl``: one JSON object per predicted frame: ``frame`` (index in the video), ``time_s``,
  ``size``, ``clearance_px``, ``clearance_m``, ``gsd_m``, ``verdict``, ``spots`` (as in ``<stem>.landing.json``),
  ``held`` (see below), ``camera_shift_px`` and, when a DJI ``<stem>.SRT`` lies beside the video, ``telemetry``
  (the drone's GPS, height and gimbal at that time, :mod:`dronefast.data.telemetry`) and ``camera`` (each value
  with its source), plus ``warnings`` when there are any.

A frame's camera is its telemetry (height, GPS, gimbal yaw and pitch, source "srt") with the landing options'
values winning (``altitude_m``, ``focal_mm``, ``sensor_mm``, ...). The SRT does not name the lens, so the ground
scale needs the focal length and sensor width as options; with it the spots get metres (and with the gimbal's yaw
and the GPS, ``east_m``, ``north_m``, ``lat``, ``lon``: :mod:`dronefast.landing.geo`). A video without telemetry
gets pixel spots, as photos without EXIF do.

**Temporal smoothing (hysteresis of the top spot).** Noise makes the best spot of a frame jump between areas that
are about as good. The rule: take the previous predicted frame's top spot and its free disc (the circle of its free
radius: the open area it stood in), moved by the camera's motion between the two frames (estimated by phase
correlation of the frames). When this frame has spots inside that disc whose score is at least ``1 - hysteresis``
times the frame's best score (default hysteresis 0.2: within 20 % of the best), the best of them takes rank 1 and
the line says ``"held": true``; otherwise the frame's own best spot is the top spot. ``hysteresis=0`` turns it
off. The jitter of the top spot (:func:`top_spot_jitter`: mean displacement between predicted frames beyond the
camera motion) is measured with and without it in ``tests/workflows/test_video.py``.

PyAV (FFmpeg in its wheels) is an optional extra: ``pip install "dronefast[video]"``.
"""
from __future__ import annotations

import json
import math
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np
from PIL import Image, ImageDraw

from ..data.classes import ClassTable
from ..data.masks import ids_to_colour
from ..data.telemetry import read_srt, srt_beside, telemetry_at, telemetry_camera
from ..errors import DatasetError, DronefastError
from ..inference.predict_files import VIDEO_OUTPUT_SUFFIXES
from ..landing.options import LandingOptions, ScaleError
from ..landing.pictures import landing_overlay
from ..landing.policy import resolve_policy
from ..landing.spots import LandingSpot, spots_to_json
from ..landing.writer import analyse_landing
from ..outputs import atomic_path
from ..sizes import format_size

if TYPE_CHECKING:
    from ..inference.predictor import Predictor

__all__ = ["INSTALL", "DEFAULT_HYSTERESIS", "CLEARANCE_COLOUR", "VideoOptions", "VideoResult", "require_av",
           "video_output_paths", "frame_step", "camera_shift", "hold_top_spot", "top_spot_jitter", "annotate_frame",
           "predict_video"]

PathLike = Union[str, Path]
Point = Tuple[float, float]
#: How to install the optional extra.
INSTALL = 'pip install "dronefast[video]"'
#: Default share of the best score within which the previous top spot is kept.
DEFAULT_HYSTERESIS = 0.2
#: Colour of the required clearance disc drawn around each spot.
CLEARANCE_COLOUR = (0, 255, 255)
#: Spots analysed per frame before the hysteresis picks the top one (then cut to ``top_k``).
CANDIDATES = 50


def require_av() -> Any:
    """The ``av`` module (PyAV); a one-line DronefastError saying how to install it when it is missing."""
    try:
        import av
    except ImportError:
        raise DronefastError(f"reading videos needs PyAV: {INSTALL}") from None
    return av


@dataclass(frozen=True, kw_only=True)
class VideoOptions:
    """How a video is predicted.

    Args:
        landing: the landing analysis of each predicted frame.
        every: predict every N-th frame (None: one frame per second of video, from the stream's frame rate).
        hysteresis: keep the previous top spot while a spot near it scores at least ``1 - hysteresis`` of the best
            (0: off; see the module docstring).
        alpha: class overlay strength 0..1 in the annotated video.
    """

    landing: LandingOptions
    every: Optional[int] = None
    hysteresis: float = DEFAULT_HYSTERESIS
    alpha: float = 0.5

    def __post_init__(self) -> None:
        if self.every is not None and not (isinstance(self.every, int) and self.every >= 1):
            raise ValueError(f"every must be a positive whole number, got {self.every!r}")
        if not 0 <= self.hysteresis < 1:
            raise ValueError(f"hysteresis must be in [0, 1), got {self.hysteresis!r}")
        if not 0 <= self.alpha <= 1:
            raise ValueError(f"alpha must be in [0, 1], got {self.alpha!r}")


@dataclass
class VideoResult:
    """What :func:`predict_video` did: the frame step and rate (frames per second, None when the video does not
    say), the indices of the predicted frames, their top spots ``(x, y)`` (None: no spot), the camera shifts
    ``(dx, dy)`` px estimated between consecutive predicted frames (the first is ``(0, 0)``), how many top spots
    were held, and the telemetry file used."""

    step: int
    fps: Optional[float]
    frames: List[int] = field(default_factory=list)
    tops: List[Optional[Point]] = field(default_factory=list)
    shifts: List[Point] = field(default_factory=list)
    held: int = 0
    telemetry: Optional[Path] = None

    def summary(self) -> str:
        """One line saying what was done."""
        found = sum(t is not None for t in self.tops)
        jitter = top_spot_jitter(self.tops, self.shifts)
        moves = "" if math.isnan(jitter) else f", top-spot jitter {jitter:.1f} px beyond the camera motion"
        return (f"{len(self.frames)} frame(s) predicted (every {self.step}), a landing spot in {found}, top spot held "
                f"{self.held} time(s){moves}"
                + (f"; telemetry from {self.telemetry.name}" if self.telemetry else "; no telemetry (pixel spots)"))


def video_output_paths(video: PathLike, out: PathLike) -> Dict[str, Path]:
    """``{"video": <out>/<stem>.landing.mp4, "frames": <out>/<stem>.frames.jsonl}``."""
    return {k: Path(out) / f"{Path(video).stem}{s}" for k, s in VIDEO_OUTPUT_SUFFIXES.items()}


def frame_step(fps: Optional[float], every: Optional[int]) -> int:
    """Frames between predictions: `every`, else one frame per second (``round(fps)``, at least 1).

    Raises:
        ValueError: neither is known.
    """
    if every is not None:
        return int(every)
    if fps is None or not fps > 0:
        raise ValueError("the video does not state its frame rate; give --every N")
    return max(1, int(round(fps)))


def _grey(rgb: np.ndarray, max_side: int) -> Tuple[np.ndarray, float]:
    """A frame as float grey, at most `max_side` px on its longer side, and the factor back to full size."""
    im = Image.fromarray(np.asarray(rgb, dtype=np.uint8)).convert("L")
    f = min(1.0, max_side / max(im.size))
    if f < 1:
        im = im.resize((max(8, round(im.width * f)), max(8, round(im.height * f))), Image.Resampling.BILINEAR)
    return np.asarray(im, dtype=np.float64), rgb.shape[1] / im.width


def camera_shift(previous: np.ndarray, current: np.ndarray, max_side: int = 256) -> Point:
    """``(dx, dy)`` px: how far the ground moved in the picture from frame `previous` to `current` (both
    ``(H, W, 3)`` uint8), by phase correlation of the grey frames (Hann-windowed, at most `max_side` px); a whole
    number of (downscaled) pixels, for motion below half a frame."""
    a, f = _grey(previous, max_side)
    b, _ = _grey(current, max_side)
    win = np.outer(np.hanning(a.shape[0]), np.hanning(a.shape[1]))
    fa, fb = np.fft.fft2((a - a.mean()) * win), np.fft.fft2((b - b.mean()) * win)
    cross = fb * np.conj(fa)
    corr = np.fft.ifft2(cross / (np.abs(cross) + 1e-12)).real
    dy, dx = np.unravel_index(int(np.argmax(corr)), corr.shape)
    h, w = corr.shape
    dy, dx = (dy - h if dy > h // 2 else dy), (dx - w if dx > w // 2 else dx)
    return float(dx * f), float(dy * f)


def hold_top_spot(spots: Sequence[LandingSpot], previous: Optional[LandingSpot],
                  hysteresis: float = DEFAULT_HYSTERESIS) -> Tuple[List[LandingSpot], bool]:
    """The hysteresis of the module docstring: `spots` (ranked, best first) reordered so that the best of them
    inside the free disc of `previous` (the last top spot, moved into this frame's pixels; None: none) comes first
    when it scores at least ``(1 - hysteresis)`` times the frame's best; ``(spots, held)``."""
    spots = list(spots)
    if previous is None or not spots or hysteresis <= 0:
        return spots, False
    floor = (1 - hysteresis) * spots[0].score
    inside = [i for i, s in enumerate(spots)
              if math.hypot(s.x - previous.x, s.y - previous.y) <= previous.radius_px and s.score >= floor]
    if not inside or inside[0] == 0:
        return spots, False
    i = inside[0]
    return [spots[i]] + spots[:i] + spots[i + 1:], True


def top_spot_jitter(tops: Sequence[Optional[Point]], shifts: Sequence[Point]) -> float:
    """Mean distance (px) between each top spot and the previous frame's top spot moved by the camera:
    ``|top[t] - (top[t-1] + shifts[t])|`` over consecutive frames that both have one (``shifts[t]``: how far the
    ground moved in the picture from frame t-1 to t); NaN when no two consecutive frames have a spot."""
    d = [math.hypot(b[0] - a[0] - s[0], b[1] - a[1] - s[1])
         for a, b, s in zip(tops[:-1], tops[1:], shifts[1:]) if a is not None and b is not None]
    return float(np.mean(d)) if d else float("nan")


def annotate_frame(rgb: np.ndarray, ids: np.ndarray, spots: Sequence[LandingSpot], classes: ClassTable,
                   landing: LandingOptions, clearance_px: float, note: str, alpha: float = 0.5) -> Image.Image:
    """One frame of the annotated video: `rgb` ``(H, W, 3)`` blended with the class colours of `ids` at `alpha`,
    the spots as :func:`~dronefast.landing.pictures.landing_overlay` draws them (free radius, rank, mean P(safe)),
    each one's clearance disc in :data:`CLEARANCE_COLOUR`, and `note` on a band at the top."""
    colour = Image.fromarray(ids_to_colour(ids, classes), "RGB")
    base = Image.blend(Image.fromarray(np.asarray(rgb, dtype=np.uint8), "RGB"), colour, alpha)
    img = landing_overlay(base, ids, spots, classes, landing.safe, landing.hazards, alpha=0.0, note=note)
    draw = ImageDraw.Draw(img)
    lw = max(1, round(min(ids.shape) / 250))
    for sp in spots:
        r = clearance_px
        draw.ellipse((sp.x - r, sp.y - r, sp.x + r, sp.y + r), outline=CLEARANCE_COLOUR, width=lw)
    return img


def _open(av: Any, path: Path) -> Tuple[Any, Any, Optional[Fraction]]:
    """``(container, video stream, frames per second or None)``; DatasetError naming the file otherwise."""
    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError, ValueError) as e:
        raise DatasetError(f"cannot open the video ({e})", path) from None
    if not container.streams.video:
        container.close()
        raise DatasetError("holds no video stream", path)
    stream = container.streams.video[0]
    stream.thread_type = "AUTO"
    rate = stream.average_rate or stream.guessed_rate
    return container, stream, (Fraction(rate) if rate else None)


def _frames(av: Any, container: Any, stream: Any, step: int, fps: Optional[float],
            path: Path) -> Iterator[Tuple[int, float, np.ndarray]]:
    """``(frame index, time s from the first frame, (H, W, 3) uint8)`` of every `step`-th decoded frame."""
    t0, i = None, -1
    try:
        for i, frame in enumerate(container.decode(stream)):
            if i % step:
                continue
            t = frame.time if frame.time is not None else i / (fps or 1.0)
            t0 = t if t0 is None else t0
            yield i, float(t - t0), frame.to_ndarray(format="rgb24")
    except av.error.FFmpegError as e:
        raise DatasetError(f"cannot decode frame {i + 1} of the video ({e})", path) from None


@contextmanager
def _writer(av: Any, path: Path, rate: Fraction) -> Iterator[Any]:
    """A function writing PIL frames to an H.264 MP4 at `path` (MPEG-4 Part 2 where the FFmpeg build lacks
    libx264), opened at the first frame and cropped to even sizes (yuv420p needs them); flushed and closed on
    success."""
    state: Dict[str, Any] = {}

    def write(img: Image.Image) -> None:
        if not state:
            state["out"] = out = av.open(str(path), mode="w", format="mp4")
            codec = "libx264" if "libx264" in av.codecs_available else "mpeg4"
            stream = out.add_stream(codec, rate=rate)
            stream.width, stream.height, stream.pix_fmt = img.width // 2 * 2, img.height // 2 * 2, "yuv420p"
            state["stream"] = stream
        stream = state["stream"]
        frame = av.VideoFrame.from_ndarray(np.asarray(img)[:stream.height, :stream.width], format="rgb24")
        for packet in stream.encode(frame):
            state["out"].mux(packet)

    try:
        yield write
        if state:
            for packet in state["stream"].encode():
                state["out"].mux(packet)
    finally:
        if state:
            state["out"].close()


def _frame_line(index: int, time_s: float, ids: np.ndarray, spots: Sequence[LandingSpot], meta: Dict[str, Any],
                held: bool, shift: Point, record: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    """The JSON object of one predicted frame (see the module docstring)."""
    line = {"frame": index, "time_s": round(time_s, 3), "size": format_size(ids.shape),
            "clearance_px": meta["clearance_px"], "clearance_m": meta["clearance_m"], "gsd_m": meta["gsd_m"],
            "verdict": meta["verdict"], "held": held, "camera_shift_px": [round(shift[0], 1), round(shift[1], 1)],
            "spots": spots_to_json(spots)["spots"]}
    if record is not None:
        line["telemetry"] = {k: v for k, v in record.items() if k not in ("start_s", "end_s")}
        line["camera"] = meta["camera"]
    if meta["warnings"]:
        line["warnings"] = meta["warnings"]
    return line


def _note(time_s: float, index: int, spots: Sequence[LandingSpot], meta: Dict[str, Any], held: bool) -> str:
    if not spots:
        return f"{time_s:.1f} s, frame {index}: {meta['verdict']['reason']}"
    top = spots[0]
    p = "" if top.p_safe_mean is None else f" P(safe) mean {top.p_safe_mean:.2f} min {top.p_safe_min:.2f}"
    place = "" if top.lat is None else f" at {top.lat:.6f}, {top.lon:.6f}"
    return f"{time_s:.1f} s, frame {index}: top spot{p}{place}{' (held)' if held else ''}"


@dataclass
class _Track:
    """The hysteresis's memory: the last predicted frame and its top spot."""

    frame: Optional[np.ndarray] = None
    top: Optional[LandingSpot] = None


def _analyse(predictor: Predictor, rgb: np.ndarray, safe_ids: List[int], options: VideoOptions, track: _Track,
             record: Optional[Dict[str, Any]]) -> Tuple[np.ndarray, List[LandingSpot], Dict[str, Any], bool, Point]:
    """Predict and analyse one frame (its camera from the telemetry `record`), apply the hysteresis and move
    `track` on; ``(ids, spots, meta, held, camera shift)``. ScaleError: a clearance in metres without a scale."""
    pred = predictor.predict_confidence(rgb, safe_ids, p_class=False)
    lo = options.landing
    spots, meta = analyse_landing(pred.ids, predictor.classes, lo.replace(top_k=max(lo.top_k, CANDIDATES)),
                                  p_safe=pred.p_safe, camera=telemetry_camera(record, rgb.shape[:2]),
                                  photo_size=rgb.shape[:2])
    meta["top_k"] = lo.top_k
    shift = (0.0, 0.0) if track.frame is None else camera_shift(track.frame, rgb)
    moved = None if track.top is None else replace(track.top, x=track.top.x + shift[0], y=track.top.y + shift[1])
    spots, held = hold_top_spot(spots, moved, options.hysteresis)
    spots = spots[:lo.top_k]
    track.frame, track.top = rgb, (spots[0] if spots else None)
    return pred.ids, spots, meta, held, shift


def predict_video(predictor: Predictor, video: PathLike, paths: Dict[str, Path],
                  options: VideoOptions) -> VideoResult:
    """Predict every ``options.every``-th frame of `video` and write ``paths["video"]`` (annotated MP4) and
    ``paths["frames"]`` (JSON lines), see the module docstring; the telemetry of a DJI ``<stem>.SRT`` beside the
    video goes into each line.

    Raises:
        DronefastError: PyAV is missing (how to install it).
        DatasetError: naming the file when the video or its telemetry cannot be read (nothing is written then).
    """
    av, video = require_av(), Path(video)
    srt = srt_beside(video)
    records = read_srt(srt) if srt is not None else None
    safe_ids = resolve_policy(predictor.classes, options.landing.safe, options.landing.hazards)[0]
    container, stream, rate = _open(av, video)
    fps = None if rate is None else float(rate)
    try:
        try:
            step = frame_step(fps, options.every)
        except ValueError as e:
            raise DatasetError(str(e), video) from None
        result, track, lines = VideoResult(step=step, fps=fps, telemetry=srt), _Track(), []
        rate = (rate or Fraction(1)) / step
        with atomic_path(paths["frames"]) as frames_tmp, atomic_path(paths["video"]) as video_tmp, \
                _writer(av, video_tmp, rate) as write:
            for index, time_s, rgb in _frames(av, container, stream, step, fps, video):
                record = None if records is None else telemetry_at(records, time_s)
                try:
                    ids, spots, meta, held, shift = _analyse(predictor, rgb, safe_ids, options, track, record)
                except ScaleError as e:  # a clearance in metres where the frame has no ground scale
                    raise DatasetError(f"frame {index} ({time_s:.1f} s): {e}", video) from None
                write(annotate_frame(rgb, ids, spots, predictor.classes, options.landing, meta["clearance_map_px"],
                                     _note(time_s, index, spots, meta, held), options.alpha))
                lines.append(json.dumps(_frame_line(index, time_s, ids, spots, meta, held, shift, record)))
                result.frames.append(index)
                result.tops.append(None if track.top is None else (track.top.x, track.top.y))
                result.shifts.append(shift)
                result.held += held
            if not lines:
                raise DatasetError("no frame could be decoded", video)
            frames_tmp.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    finally:
        container.close()
    return result
