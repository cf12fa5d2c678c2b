"""What the web page does, as plain functions and one :class:`Handlers` object whose methods the page's events call.

A photo goes in (the path of a Gradio upload): it is checked (:func:`load_photo`), predicted by the commands'
:class:`~dronefast.inference.predictor.Predictor`, written as the id mask and colour mask PNGs of ``predict``
(:func:`~dronefast.inference.predict_files.write_class_maps`), and kept in the session as a :class:`PhotoResult`, so
that
the opacity and the landing settings re-render without predicting again. Pictures for the page are made at most
:data:`~dronefast.app.settings.DISPLAY_SIDE` pixels on the long side; the files and the landing analysis keep the
photo's full size.

The landing spots come from :func:`landing_view` alone (the landing module's
:func:`~dronefast.landing.writer.analyse_landing` and :func:`~dronefast.landing.spots.spots_to_json`, and the
page's own pictures of the decision, :mod:`.picture`): extend it there.

Bad input never shows a trace: a non-image, a corrupt file or a photo over the pixel limit raises ``gr.Error`` with
a message for the page, without server paths; landing settings that do not go together are said in the landing
note and leave the class map in place.
"""
from __future__ import annotations

import math
import re
import shutil
import time
import uuid
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple

import gradio as gr
import numpy as np
import pandas as pd
from PIL import Image, UnidentifiedImageError

from ..data.camera import CameraInfo, read_camera
from ..data.classes import ClassTable
from ..data.images import read_image
from ..data.masks import count_ids, ids_to_colour, resize_mask
from ..errors import CorruptImageError, DronefastError
from ..inference.predict_files import output_paths, png_probability, probability_png, write_class_maps
from ..inference.predictor import Predictor
from ..landing.geo import geojson_path, write_geojson
from ..landing.options import LandingOptions, ScaleError
from ..landing.policy import resolve_policy
from ..landing.spots import spots_to_json
from ..landing.writer import analyse_landing
from ..outputs import write_json
from ..sizes import format_size
from .about import camera_line, judged_line
from .picture import banner_html, decision_picture, p_safe_picture
from .settings import DEFAULT_MAX_PIXELS, UNITS, AppSettings

__all__ = ["PhotoResult", "LandingView", "Shown", "Relanded", "Handlers", "geo_uri", "load_photo", "readable_errors",
           "safe_name", "class_shares", "legend_html", "overlay", "page_landing_options", "landing_view",
           "spots_table", "forget", "SHARE_COLUMNS", "SPOT_COLUMNS"]

SHARE_COLUMNS = ["class", "share (%)"]
SPOT_COLUMNS = ["rank", "map", "surface", "P(safe) mean", "free radius (px)", "free radius (m)", "x", "y",
                "east (m)", "north (m)", "lat", "lon"]
_LABELS = {"clearance_px": "the clearance", "clearance_m": "the clearance", "altitude_m": "the altitude",
           "min_p_safe": "the P(safe) threshold",
           "focal_mm": "the focal length", "sensor_mm": "the sensor width", "gsd_m": "the GSD"}


@dataclass
class PhotoResult:
    """One predicted photo, kept in the page's session state.

    Attributes:
        name: file name stem of the photo (sanitised), used for the downloads.
        ids: ``(H, W)`` uint8 class map at the photo's size.
        photo: the photo at display size ``(h, w, 3)`` uint8.
        small_ids: the class map at display size.
        colour: the class colours at display size.
        folder: this photo's private folder (its files; removed by :func:`forget`).
        paths: ``{"mask", "colour", "landing_json"}`` files in `folder`.
        p_safe: ``(H, W)`` uint8, the model's probability that each pixel is safe ground, x 255 (None: unknown).
        small_p_safe: the same at display size.
        judged: the line saying at which resolution the model saw the photo (:func:`~.about.judged_line`).
        camera: what the photo's EXIF and XMP say of its camera (:func:`~dronefast.data.camera.read_camera`).
    """

    name: str
    ids: np.ndarray
    photo: np.ndarray
    small_ids: np.ndarray
    colour: np.ndarray
    folder: Path
    paths: Dict[str, Path]
    p_safe: Optional[np.ndarray] = None
    small_p_safe: Optional[np.ndarray] = None
    judged: str = ""
    camera: Optional[CameraInfo] = None

    @property
    def size(self) -> Tuple[int, int]:
        """``(H, W)`` of the photo."""
        return tuple(self.ids.shape)


class LandingView(NamedTuple):
    """What the page shows of a landing analysis: the decision picture, the spots table, the JSON file (None when
    the settings were refused), one line saying what was found (or what is wrong with the settings), the verdict
    banner (HTML: "NO LANDING SPOT: why" when the analysis abstained) and the model's P(safe) map (None without
    one)."""

    picture: Optional[Image.Image]
    table: pd.DataFrame
    json_path: Optional[Path]
    note: str
    banner: str = ""
    p_safe_map: Optional[Image.Image] = None


class Relanded(NamedTuple):
    """The outputs of new landing settings, in the order of the page's outputs."""

    landing: Optional[Image.Image]
    spots: pd.DataFrame
    files: Optional[List[str]]
    landing_note: str
    banner: str
    p_safe_map: Optional[Image.Image]


class Shown(NamedTuple):
    """The outputs of a prediction, in the order of the page's outputs."""

    result: Optional[PhotoResult]
    class_map: Optional[Image.Image]
    overlay: Optional[Image.Image]
    shares: pd.DataFrame
    landing: Optional[Image.Image]
    spots: pd.DataFrame
    files: Optional[List[str]]
    status: str
    landing_note: str
    banner: str
    p_safe_map: Optional[Image.Image]


# ---- photos --------------------------------------------------------------------------------------------------
def _unreadable(e: Exception, path: Path) -> gr.Error:
    problem = e.problem if isinstance(e, CorruptImageError) else type(e).__name__
    problem = problem.replace(str(path), path.name)  # never show the server's folders
    return gr.Error(f"Not a readable image: {problem}.", title="Not a readable image")


def _too_large(w: Optional[int], h: Optional[int], max_pixels: int) -> gr.Error:
    got = f"{w}x{h} = {w * h / 1e6:.1f} megapixels" if w else "more pixels than Pillow allows"
    return gr.Error(f"Photo too large: {got}; this page takes photos of up to {max_pixels / 1e6:g} megapixels.",
                    title="Photo too large")


def load_photo(path: str, max_pixels: int = DEFAULT_MAX_PIXELS) -> Image.Image:
    """The uploaded photo at `path` as upright 8-bit RGB (decoded as the commands do,
    :func:`~dronefast.data.images.read_image`), after checking its header: ``gr.Error`` for a file that is not an
    image, is corrupt, or has more than `max_pixels` pixels (refused before decoding)."""
    p = Path(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # the limit here is max_pixels
            with Image.open(p) as im:
                w, h = im.size
    except Image.DecompressionBombError:
        raise _too_large(None, None, max_pixels) from None
    except UnidentifiedImageError:
        raise gr.Error("Not a readable image: not a photo format Pillow can read.",
                       title="Not a readable image") from None
    except (OSError, SyntaxError, ValueError) as e:
        raise _unreadable(e, p) from None
    if w * h > max_pixels:
        raise _too_large(w, h, max_pixels)
    try:
        return read_image(p)
    except CorruptImageError as e:
        raise _unreadable(e, p) from None


def readable_errors(component: gr.Image) -> gr.Image:
    """Make the upload's own checks (Gradio opens the file's header) fail as a ``gr.Error`` for the page, not as
    a hidden exception. Patched on the instance: a subclass of a Gradio component writes a ``.pyi`` file next to
    its source."""
    inner = component.preprocess

    def preprocess(payload):
        try:
            return inner(payload)
        except gr.Error:
            raise
        except Image.DecompressionBombError:
            raise gr.Error("Photo too large: more pixels than Pillow allows.", title="Photo too large") from None
        except Exception as e:  # its message may hold server paths: only its kind is shown
            raise gr.Error(f"Not a readable image ({type(e).__name__}).", title="Not a readable image") from None

    component.preprocess = preprocess
    return component


def safe_name(path: str) -> str:
    """The stem of an uploaded file, reduced to letters, digits, ``.``, ``-`` and ``_`` (for download names)."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(path).stem).strip("._")[:80]
    return stem or "photo"


def _display_size(size: Tuple[int, int], side: int) -> Tuple[int, int]:
    h, w = size
    f = min(1.0, side / max(h, w))
    return max(1, round(h * f)), max(1, round(w * f))


def _new_folder(work_dir: Optional[Path]) -> Path:
    if work_dir is None:
        from gradio.utils import get_upload_folder

        work_dir = Path(get_upload_folder()) / "dronefast"
    folder = Path(work_dir) / uuid.uuid4().hex
    folder.mkdir(parents=True)
    return folder


def _make_result(ids: np.ndarray, photo: Image.Image, classes: ClassTable, name: str,
                 settings: AppSettings, p_safe: Optional[np.ndarray] = None, judged: str = "") -> PhotoResult:
    """Write the id and colour masks of a prediction and keep what the page re-renders from."""
    folder = _new_folder(settings.work_dir)
    paths = output_paths(f"{name}.png", folder, landing=True)
    write_class_maps(ids, None, classes, paths)
    h, w = _display_size(ids.shape, settings.display_side)
    small = photo if photo.size == (w, h) else photo.resize((w, h), Image.Resampling.BILINEAR, reducing_gap=2.0)
    small_ids = resize_mask(ids, (h, w))
    png = None if p_safe is None else probability_png(p_safe)
    small_p = None if png is None else np.asarray(Image.fromarray(png).resize((w, h), Image.Resampling.BILINEAR))
    return PhotoResult(name=name, ids=ids, photo=np.asarray(small), small_ids=small_ids,
                       colour=ids_to_colour(small_ids, classes), folder=folder,
                       paths={k: paths[k] for k in ("mask", "colour", "landing_json")}, p_safe=png,
                       small_p_safe=small_p, judged=judged)


def forget(result: Optional[PhotoResult]) -> None:
    """Remove a result's files (a new photo replaced it, or its session ended)."""
    if isinstance(result, PhotoResult):
        shutil.rmtree(result.folder, ignore_errors=True)


# ---- what the page shows --------------------------------------------------------------------------------------
def class_shares(ids: np.ndarray, classes: ClassTable) -> pd.DataFrame:
    """Share of the photo (percent) of each class present, largest first."""
    counts = count_ids(ids, len(classes))
    order = sorted((i for i in range(len(classes)) if counts[i]), key=lambda i: (-counts[i], i))
    rows = [(classes.names[i], round(100.0 * counts[i] / max(1, ids.size), 2)) for i in order]
    return pd.DataFrame(rows, columns=SHARE_COLUMNS)


def legend_html(classes: ClassTable) -> str:
    """The class legend in the table's colours (HTML)."""
    import html

    items = "".join(
        f'<span class="df-legend-item" style="display:inline-flex;align-items:center;margin:0 1em .3em 0">'
        f'<span style="width:1em;height:1em;display:inline-block;margin-right:.35em;border:1px solid #888;'
        f'background:rgb({r},{g},{b})"></span>{html.escape(name)}</span>'
        for name, (r, g, b) in zip(classes.names, classes.palette.tolist()))
    return f'<div class="df-legend">{items}</div>'


def overlay(result: PhotoResult, opacity: float) -> Image.Image:
    """The photo with the class colours over it at `opacity` (0: photo, 1: colours), as ``predict`` blends."""
    alpha = min(1.0, max(0.0, float(opacity)))
    return Image.blend(Image.fromarray(result.photo), Image.fromarray(result.colour), alpha)


def geo_uri(lat: float, lon: float) -> str:
    """A ``geo:`` URI (RFC 5870) of a place, in degrees to 7 decimals (about a centimetre): phones open it in
    their map app; nothing is fetched."""
    return f"geo:{lat:.7f},{lon:.7f}"


def _num(v: Optional[float], digits: int = 2) -> Optional[float]:
    if v is None:
        return None
    return round(float(v), digits) if math.isfinite(v) else math.inf


def spots_table(spots: Sequence[dict]) -> pd.DataFrame:
    """The spots, best first (the ``spots`` of the landing JSON: ``rank``, ``x``, ``y``, ``radius_px`` ...), as
    the page lists them. A column only when some spot has its value: the radius in metres when the GSD is known,
    the model's mean P(safe) with a confidence map, and, when the photo says where it was taken, the place:
    metres east and north of the point below the camera, latitude and longitude, and a ``geo:`` link."""
    rows = []
    for s in spots:
        lat, lon = s.get("lat"), s.get("lon")
        link = f"[map]({geo_uri(lat, lon)})" if lat is not None and lon is not None else ""
        radius = math.inf if s.get("radius_px") is None else s["radius_px"]
        rows.append((s["rank"], link, s["surface"], _num(s.get("p_safe_mean")), _num(radius), _num(s.get("radius_m")),
                     s["x"], s["y"], _num(s.get("east_m"), 1), _num(s.get("north_m"), 1), _num(lat, 7), _num(lon, 7)))
    table = pd.DataFrame(rows, columns=SPOT_COLUMNS)
    optional = ["map", "P(safe) mean", "free radius (m)", "east (m)", "north (m)", "lat", "lon"]
    return table.drop(columns=[c for c in optional if (table[c].isna() | table[c].eq("")).all()])


def page_landing_options(base: LandingOptions, unit: str, clearance_px: Optional[float],
                         clearance_m: Optional[float], altitude_m: Optional[float] = None,
                         focal_mm: Optional[float] = None, sensor_mm: Optional[float] = None,
                         min_p_safe: Optional[float] = None) -> LandingOptions:
    """`base` with the page's clearance (in `unit`, one of :data:`~dronefast.app.settings.UNITS`), camera values
    and P(safe) threshold (None: `base`'s); ValueError in the page's words when they do not go together. Each camera
    value given overrides what the photo says (and `base`'s GSD); a clearance in metres needs a ground scale, from
    them, the photo or `base` (said when the spots are looked for)."""
    camera = dict(altitude_m=altitude_m, focal_mm=focal_mm, sensor_mm=sensor_mm)
    given = any(v is not None for v in camera.values())
    changes = dict(clearance_px=None, clearance_m=None, gsd_m=None if given else base.gsd_m, **camera,
                   min_p_safe=base.min_p_safe if min_p_safe is None else min_p_safe)
    if unit == "metres":
        changes["clearance_m"] = clearance_m
    elif unit == "pixels":
        changes["clearance_px"] = clearance_px
    else:
        raise ValueError(f"the clearance unit must be one of {', '.join(UNITS)}, got {unit!r}")
    try:
        return base.replace(**changes)
    except (ValueError, TypeError) as e:
        raise ValueError(_in_page_words(e)) from None


def _in_page_words(e: Exception) -> str:
    msg = str(e)
    for name, label in _LABELS.items():
        msg = msg.replace(name, label)
    return msg


def _display_spots(spots: Sequence[dict], result: PhotoResult) -> List[dict]:
    """The spots in the display picture's pixels (pixel centres scaled: ``(x + 0.5) * f - 0.5``)."""
    (H, W), (h, w) = result.size, result.small_ids.shape
    fx, fy = w / W, h / H
    return [{**s, "x": (s["x"] + 0.5) * fx - 0.5, "y": (s["y"] + 0.5) * fy - 0.5} for s in spots]


def _summary(spots: Sequence[dict], meta: dict) -> Tuple[str, str]:
    """``(banner line, note)`` of an analysis with spots."""
    clearance = f"{meta['clearance_px']:.1f} px" + (f" ({meta['clearance_m']:.2f} m)" if meta["gsd_m"] else "")
    best = spots[0]
    where = f"x={best['x']}, y={best['y']} on {best['surface']}"
    if best.get("east_m") is not None:
        where += f", {best['east_m']:.1f} m east and {best['north_m']:.1f} m north of the point below the camera"
    banner = f"LAND AT SPOT 1: {where}" + ("" if best.get("p_safe_mean") is None else
                                          f" (mean P(safe) {best['p_safe_mean']:.2f})")
    return banner, f"{len(spots)} landing spot(s) with {clearance} clearance; the best at {where}."


def landing_view(result: PhotoResult, classes: ClassTable, options: LandingOptions) -> LandingView:
    """Landing spots of a predicted photo under `options`, found as the landing command finds them
    (:func:`~dronefast.landing.writer.analyse_landing`): the spots JSON written as the command writes it
    (:func:`~dronefast.landing.spots.spots_to_json`: settings as resolved, verdict, ranked spots), the decision
    picture and the P(safe) map at display size (:mod:`.picture`), the banner, the table and one line for the
    page."""
    p_safe = None if result.p_safe is None else png_probability(result.p_safe)
    spots, meta = analyse_landing(result.ids, classes, options, p_safe, camera=result.camera,
                                  photo_size=result.size)
    verdict = meta.pop("verdict", None)
    meta = {"image": result.name, **meta, "classes": Path(str(meta["classes"])).name}  # no server paths
    data = spots_to_json(spots, meta, verdict)
    json_path = write_json(result.paths["landing_json"], data)
    write_geojson(spots, geojson_path(json_path))  # when the spots have a position; a stale one removed otherwise
    small_p = None if result.small_p_safe is None else png_probability(result.small_p_safe)
    scale = result.small_ids.shape[1] / result.size[1]  # display pixels per map pixel (the map is the photo's size)
    picture = decision_picture(result.photo, result.small_ids, small_p, classes, options,
                               _display_spots(data["spots"], result), meta["clearance_map_px"] * scale)
    p_map = None if small_p is None else p_safe_picture(small_p, options.min_p_safe)
    if data["spots"]:
        banner, note = _summary(data["spots"], meta)
    else:
        clearance = f"{meta['clearance_px']:.1f} px" + (f" ({meta['clearance_m']:.2f} m)" if meta["gsd_m"] else "")
        banner = note = f"No landing spot with {clearance} clearance: " \
                        f"{(verdict or {}).get('reason') or 'no safe area is wide enough'}."
    return LandingView(picture, spots_table(data["spots"]), json_path, note, banner_html(verdict, banner), p_map)


def _refused(result: PhotoResult, e: ValueError) -> LandingView:
    """An empty view saying why the page's landing settings were refused (and no spots file for them)."""
    result.paths["landing_json"].unlink(missing_ok=True)
    geojson_path(result.paths["landing_json"]).unlink(missing_ok=True)
    return LandingView(None, spots_table([]), None, f"Landing: {_in_page_words(e)}.")


def _files(result: PhotoResult, view: LandingView) -> List[str]:
    files = [result.paths["mask"], result.paths["colour"]]
    if view.json_path:
        files += [view.json_path] + [p for p in (geojson_path(view.json_path),) if p.is_file()]
    return [str(p) for p in files]


def _camera(path: Path) -> Optional[CameraInfo]:
    """What the photo says of its camera (None when its EXIF or XMP cannot be read: the page works without)."""
    try:
        return read_camera(path)
    except (DronefastError, OSError, ValueError):
        return None


class Handlers:
    """The page's event handlers over one loaded model. The landing inputs come last in every handler, in the
    order of the page's landing controls: clearance unit, clearance in pixels, in metres, altitude, focal length,
    sensor width, P(safe) threshold.

    Args:
        predictor: the model, loaded once (the commands' :class:`~dronefast.inference.predictor.Predictor`).
        settings: the operator's :class:`AppSettings`.
    """

    def __init__(self, predictor: Predictor, settings: Optional[AppSettings] = None):
        self.predictor = predictor
        self.settings = settings or AppSettings()
        self.classes: ClassTable = predictor.classes

    def landing(self, result: PhotoResult, unit: str, clearance_px: Optional[float], clearance_m: Optional[float],
                altitude_m: Optional[float] = None, focal_mm: Optional[float] = None,
                sensor_mm: Optional[float] = None, min_p_safe: Optional[float] = None) -> LandingView:
        """:func:`landing_view` under the page's settings; refused settings give an empty view saying why."""
        try:
            options = page_landing_options(self.settings.landing, unit, clearance_px, clearance_m, altitude_m,
                                           focal_mm, sensor_mm, min_p_safe)
        except ValueError as e:
            return _refused(result, e)
        try:
            return landing_view(result, self.classes, options)
        except ScaleError as e:  # metres without a ground scale: the page's settings, not a bug
            return _refused(result, e)

    def predict(self, photo: Optional[str], previous: Optional[PhotoResult], opacity: float, unit: str,
                clearance_px: Optional[float], clearance_m: Optional[float], altitude_m: Optional[float] = None,
                focal_mm: Optional[float] = None, sensor_mm: Optional[float] = None,
                min_p_safe: Optional[float] = None, progress=gr.Progress()) -> Shown:
        """A new photo (a path; None when cleared): class map, overlay, shares, landing spots, files, status,
        verdict banner and P(safe) map."""
        if not photo:
            forget(previous)
            return Shown(None, None, None, pd.DataFrame(columns=SHARE_COLUMNS), None, spots_table([]), None, "",
                         "", "", None)
        progress(0.0, desc="Reading the photo")
        image = load_photo(photo, self.settings.max_pixels)
        size = (image.height, image.width)
        how = self.predictor.describe(size)
        tiled, work = self.predictor.plan(size)
        progress(0.1, desc=f"Predicting {format_size(size)}: {how}")
        start = time.perf_counter()
        safe = resolve_policy(self.classes, self.settings.landing.safe, self.settings.landing.hazards)[0]
        pred = self.predictor.predict_confidence(Path(photo), safe, p_class=False)  # from the file (JPEG drafts)
        seconds = time.perf_counter() - start
        progress(0.8, desc="Drawing the class map")
        result = _make_result(pred.ids, image, self.classes, safe_name(photo), self.settings, pred.p_safe,
                              judged_line(work, size, tiled))
        result.camera = _camera(Path(photo))
        progress(0.9, desc="Finding landing spots")
        view = self.landing(result, unit, clearance_px, clearance_m, altitude_m, focal_mm, sensor_mm, min_p_safe)
        forget(previous)
        windows = f" {how[0].upper()}{how[1:]}." if tiled else ""
        status = (f"**{result.name}**: {format_size(size)} px. {result.judged}{windows} Predicted in {seconds:.1f} s."
                  f" {camera_line(result.camera)}")
        return Shown(result, Image.fromarray(result.colour), overlay(result, opacity),
                     class_shares(pred.ids, self.classes), view.picture, view.table, _files(result, view), status,
                     view.note, view.banner, view.p_safe_map)

    def restyle(self, result: Optional[PhotoResult], opacity: float) -> Optional[Image.Image]:
        """The overlay at a new opacity, from the kept prediction (nothing is predicted again)."""
        return None if result is None else overlay(result, opacity)

    def reland(self, result: Optional[PhotoResult], unit: str, clearance_px: Optional[float],
               clearance_m: Optional[float], altitude_m: Optional[float] = None, focal_mm: Optional[float] = None,
               sensor_mm: Optional[float] = None, min_p_safe: Optional[float] = None) -> Relanded:
        """New landing settings: picture, spots table, files, note, banner and P(safe) map, from the kept
        prediction."""
        if result is None:
            return Relanded(None, spots_table([]), None, "", "", None)
        view = self.landing(result, unit, clearance_px, clearance_m, altitude_m, focal_mm, sensor_mm, min_p_safe)
        return Relanded(view.picture, view.table, _files(result, view), view.note, view.banner, view.p_safe_map)
