"""Class maps for photos of any size: ``python -m dronefast.predict MODEL INPUT... --out DIR``.

Two ways to run the network over a photo of ``H x W`` pixels, both giving an ``(H, W)`` uint8 class map:

* **whole-image**: the photo is resized to the model's training size ``info.size`` (squished, as in
  training), predicted in one forward pass, and the logits are upsampled bilinearly to ``H x W`` and
  argmaxed.
* **tiled**: the photo is resized by `scale` (aspect ratio kept), and windows of the training size step
  over it with `overlap`; the last window of a row or column is aligned to the edge, and an image smaller
  than a window is padded by reflection (bottom/right). Overlapping logits are blended with a 2-D Hann
  window raised to a floor of :data:`WINDOW_FLOOR` (so pixels at the image edge, seen by one window only,
  still get weight), then upsampled to ``H x W`` like whole-image logits.

``tile="auto"`` (default) tiles when the photo is more than :data:`AUTO_TILE_FACTOR` times the model size in
either dimension. The default `scale` keeps objects the size they had in training: the model was trained
on whole photos squished to ``info.size``, so a photo is scaled to the same number of pixels as the model
input (``sqrt(h*w / (H*W))``); when the model description records the full size of its training photos
(``info.extra["source_size"] = [h, w]``) the scale is ``sqrt(h*w / (source_h*source_w))`` instead, which
also fits mosaics larger than a training photo. A photo of the training photos' shape then needs a single
window (tiling only spares it the squish for other aspect ratios); pass a larger `scale` for more detail
when the model was trained at a higher resolution than it is applied.

Memory: logits are only ever held at the working resolution (``C x h x w`` float32: 5.8 MB for 24 classes at
300x200, 144 MB at scale 0.25 of a 6000x4000 photo); upsampling to full size goes in horizontal strips of at
most `strip_mb` MiB, each argmaxed straight into the uint8 output. See the README paragraph for measured peaks.

Outputs per photo (``--out DIR``, same size as the photo, written atomically): ``<stem>.mask.png`` (class
ids, mode L), ``<stem>.colour.png`` (class colours), ``<stem>.overlay.jpg`` (photo blended with the colours),
and with ``--landing`` ``<stem>.landing.json`` + ``<stem>.landing.png`` (see :mod:`dronefast.landing`).
"""
from __future__ import annotations

import argparse
import math
import sys
from contextlib import nullcontext
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from .cli import format_size, positive_float, positive_int, run_main
from .errors import DatasetError, DronefastError, ModelFileError, UsageError
from .images import IMAGE_SUFFIXES, RESAMPLE, image_size, read_image
from .masks import ids_to_colour
from .modelfile import ModelInfo, load_model
from .outputs import ensure_outside, save_image

__all__ = ["Predictor", "predict_image", "tile_positions", "blend_window", "iter_upsampled", "upsample_argmax",
           "default_device", "parse_device", "list_inputs", "output_paths", "OUTPUT_SUFFIXES", "AUTO_TILE_FACTOR",
           "WINDOW_FLOOR", "DEFAULT_OVERLAP", "DENSE_SHARE", "build_parser", "main"]

PathLike = Union[str, Path]
ImageLike = Union[PathLike, Image.Image, np.ndarray]
ModelLike = Union[PathLike, Tuple[nn.Module, ModelInfo]]

#: ``tile="auto"`` tiles photos more than this many times the model size in height or width.
AUTO_TILE_FACTOR = 2.0
#: Weight of a tile's border pixels in the blend (its centre has weight 1).
WINDOW_FLOOR = 0.1
DEFAULT_OVERLAP = 0.25
#: :func:`upsample_argmax` interpolates every pixel when more than this share of source cells mix classes.
DENSE_SHARE = 0.6
#: Output kinds and their file name endings (``<stem><suffix>``).
OUTPUT_SUFFIXES: Dict[str, str] = {"mask": ".mask.png", "colour": ".colour.png", "overlay": ".overlay.jpg",
                                   "landing_json": ".landing.json", "landing_png": ".landing.png"}


# ------------------------------------------------------------------------------------------ tiling helpers

def tile_positions(length: int, tile: int, overlap: float = DEFAULT_OVERLAP) -> List[int]:
    """Start offsets of windows of `tile` px covering `length` px with at least `overlap` (0..1) of a window
    shared by neighbours: evenly spaced, the first at 0, the last at ``length - tile`` (``[0]`` when the
    window covers everything)."""
    if tile < 1 or not 0 <= overlap < 1:
        raise ValueError(f"need tile >= 1 and 0 <= overlap < 1, got tile={tile}, overlap={overlap}")
    if length <= tile:
        return [0]
    stride = max(1, int(math.floor(tile * (1 - overlap) + 0.5)))
    n = math.ceil((length - tile) / stride) + 1
    return [int(math.floor(i * (length - tile) / (n - 1) + 0.5)) for i in range(n)]


def blend_window(size: Tuple[int, int], floor: float = WINDOW_FLOOR) -> torch.Tensor:
    """Blending weights of one window, ``(h, w)`` float32: a separable Hann window (1 at the centre)
    raised to `floor` at the borders, ``floor + (1 - floor) * sin(pi * (i + 0.5) / n) ** 2`` per axis."""
    def ramp(n: int) -> torch.Tensor:
        t = (torch.arange(n, dtype=torch.float64) + 0.5) / n
        return floor + (1 - floor) * torch.sin(math.pi * t) ** 2

    h, w = size
    return torch.outer(ramp(h), ramp(w)).float()


def _pad_to(arr: np.ndarray, h: int, w: int) -> np.ndarray:
    """Pad an ``(H, W, 3)`` image to at least ``(h, w)`` at the bottom/right by reflection."""
    ph, pw = max(0, h - arr.shape[0]), max(0, w - arr.shape[1])
    if not (ph or pw):
        return arr
    # numpy's reflect repeats the reflection when the pad exceeds the image; a 1-pixel axis can only repeat
    mode = "reflect" if min(arr.shape[:2]) > 1 else "edge"
    return np.pad(arr, ((0, ph), (0, pw), (0, 0)), mode=mode)


def _bilinear_taps(n_in: int, n_out: int, device) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Source indices ``i0, i1`` and weight of ``i1`` for each output position, as torch's bilinear
    interpolation with ``align_corners=False`` computes them."""
    scale = n_in / n_out
    src = ((torch.arange(n_out, dtype=torch.float64) + 0.5) * scale - 0.5).clamp(min=0)
    i0 = src.floor().long().clamp(max=n_in - 1)
    i1 = (i0 + 1).clamp(max=n_in - 1)
    lam = (src - i0).float()
    return i0.to(device), i1.to(device), lam.to(device)


def iter_upsampled(logits: torch.Tensor, size: Tuple[int, int], max_bytes: int = 64 << 20
                   ) -> Iterator[Tuple[slice, torch.Tensor]]:
    """Upsample ``(C, h, w)`` logits bilinearly (``align_corners=False``) to ``size = (H, W)`` in horizontal
    strips: yields ``(row slice, strip (C, rows, W) float32)`` with each strip at most about `max_bytes`."""
    c, h, w = logits.shape
    H, W = size
    rows = max(1, int(max_bytes // (4 * c * W)))
    if (h, w) == (H, W):
        for r in range(0, H, rows):
            s = slice(r, min(H, r + rows))
            yield s, logits[:, s]
        return
    y0, y1, wy = _bilinear_taps(h, H, logits.device)
    for r in range(0, H, rows):
        s = slice(r, min(H, r + rows))
        ly = wy[s][None, :, None]
        a = logits.index_select(1, y0[s]) * (1 - ly) + logits.index_select(1, y1[s]) * ly   # (C, n, w): rows
        n = a.shape[1]
        if w == W:
            yield s, a
        else:  # columns: torch's vectorised 1-D kernel over all C*n rows at once (the bulk of the work)
            yield s, F.interpolate(a.reshape(1, c * n, w), size=W, mode="linear", align_corners=False).view(c, n, W)


def upsample_argmax(logits: torch.Tensor, size: Tuple[int, int], max_bytes: int = 64 << 20) -> np.ndarray:
    """Class map ``(H, W)`` uint8 of ``(C, h, w)`` logits upsampled bilinearly to ``size = (H, W)``, computed
    strip by strip so that full-size float logits are never held (peak extra memory about 2 x `max_bytes`
    plus one copy of `logits`). Ties go to the lowest class id.

    Only pixels whose four source pixels disagree on their class are interpolated: where all four taps
    share class ``k``, the bilinear value of every class is the same convex combination of its four values,
    so ``k`` stays the largest (and the lowest id among equals). Inside class regions, most of a photo, the
    class is copied from the working resolution: 2 to 3 times faster than interpolating every class at every
    pixel, with the same result up to float rounding at near-ties. Maps whose class changes almost
    everywhere (more than :data:`DENSE_SHARE` of the cells) are interpolated in full.
    """
    c, h, w = logits.shape
    H, W = (int(v) for v in size)
    out = np.empty((H, W), dtype=np.uint8)
    low = logits.max(0).indices   # max(0) is ~3x faster than argmax(0)
    if (h, w) == (H, W):
        out[:] = low.to(torch.uint8).cpu().numpy()
        return out
    # taps (i, i + 1) clamped at the last row/column, as _bilinear_taps computes them: replicate-pad by one
    lp = torch.cat([low, low[-1:]], 0)
    lp = torch.cat([lp, lp[:, -1:]], 1)
    first = lp[:-1, :-1]
    mixed = (first != lp[:-1, 1:]) | (first != lp[1:, :-1]) | (first != lp[1:, 1:])   # (h, w) per tap cell
    if float(mixed.float().mean()) > DENSE_SHARE:
        for s, strip in iter_upsampled(logits, (H, W), max_bytes):
            out[s] = strip.max(0).indices.to(torch.uint8).cpu().numpy()
        return out
    dev = logits.device
    y0, y1, wy = _bilinear_taps(h, H, dev)
    x0, x1, wx = _bilinear_taps(w, W, dev)
    low8 = low.to(torch.uint8)
    lt = logits.permute(1, 2, 0).contiguous()   # (h, w, C): a pixel's classes side by side for fast gathers
    rows = max(1, int(max_bytes // (2 * 4 * c * W)))
    for r in range(0, H, rows):
        s = slice(r, min(H, r + rows))
        ys = y0[s]
        strip = low8.index_select(0, ys).index_select(1, x0)             # (n, W): the class of the taps' cell
        rr, cc = mixed.index_select(0, ys).index_select(1, x0).nonzero(as_tuple=True)
        if rr.numel():  # rows first (n, w, C), then columns at the mixed pixels only, as iter_upsampled does
            ly = wy[s][:, None, None]
            a = lt.index_select(0, ys).mul_(1 - ly).addcmul_(lt.index_select(0, y1[s]), ly).view(-1, c)
            base, lx = rr * w, wx[cc][:, None]
            val = a.index_select(0, base + x0[cc]).mul_(1 - lx).addcmul_(a.index_select(0, base + x1[cc]), lx)
            strip[rr, cc] = val.max(1).indices.to(torch.uint8)
        out[s] = strip.cpu().numpy()
    return out


def default_device() -> torch.device:
    """The first of CUDA, Apple MPS, CPU that is available."""
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def _as_pil(image: Union[Image.Image, np.ndarray]) -> Image.Image:
    if isinstance(image, Image.Image):
        return image.convert("RGB")
    arr = np.asarray(image)
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.dtype != np.uint8:
        raise ValueError(f"expected an (H, W, 3) uint8 RGB array, got shape {arr.shape} dtype {arr.dtype}")
    return Image.fromarray(arr, "RGB")


# ------------------------------------------------------------------------------------------ predictor

class Predictor:
    """Runs a segmentation model over photos of any size (see the module docstring for the two modes).

    Args:
        model: a saved model (``model.json`` / ``.safetensors`` / the common stem; a fastai ``.pkl`` export
            only with `allow_pickle`) or a ``(network, ModelInfo)`` pair (the network is moved to `device`
            and put in eval mode).
        device: torch device; None picks CUDA, then MPS, then CPU.
        tile: True (always tile), False (always whole-image) or ``"auto"``.
        scale: factor applied to the photo before tiling (None: the training object scale, see the module
            docstring). Ignored in whole-image mode.
        overlap: share (0..1) of a window shared by neighbouring windows.
        batch_size: windows per forward pass.
        tta: also predict the horizontally and the vertically flipped photo and average the three logits.
        bf16: bfloat16 autocast on CUDA or CPU (ignored elsewhere); on CPUs with native bf16 (AMX) the forward
            is about 2.4x faster, with class maps that differ from fp32 only at near-ties.
        allow_pickle: accept a fastai ``.pkl`` export (runs pickled code: only for files you trust).
        strip_mb: memory budget (MiB) of one strip of full-size logits during upsampling.
    """

    def __init__(self, model: ModelLike, device: Optional[Union[str, torch.device]] = None,
                 tile: Union[bool, str] = "auto", scale: Optional[float] = None,
                 overlap: float = DEFAULT_OVERLAP, batch_size: int = 8, tta: bool = False, bf16: bool = False,
                 allow_pickle: bool = False, strip_mb: float = 64):
        if tile not in (True, False, "auto"):
            raise ValueError(f"tile must be True, False or 'auto', got {tile!r}")
        if scale is not None and not (math.isfinite(scale) and scale > 0):
            raise ValueError(f"scale must be a positive number, got {scale!r}")
        if not 0 <= overlap < 1:
            raise ValueError(f"overlap must be in [0, 1), got {overlap!r}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size!r}")
        self.device = torch.device(device) if device is not None else default_device()
        if isinstance(model, (str, Path)):
            self.model, self.info = load_model(model, self.device, allow_pickle=allow_pickle)
        else:
            net, self.info = model
            self.model = net.to(self.device).eval()
        self.tile, self.scale, self.overlap = tile, scale, float(overlap)
        self.batch_size, self.tta = int(batch_size), bool(tta)
        self.bf16 = bool(bf16) and self.device.type in ("cuda", "cpu")
        # channels-last weights match the input (a permuted NHWC batch): no weight reorder per call on CPU, and
        # tensor-core kernels with bf16 on GPUs
        self._fmt = torch.channels_last if (self.device.type == "cpu" or self.bf16) else torch.contiguous_format
        self.model = self.model.to(memory_format=self._fmt)
        self.strip_bytes = int(strip_mb * (1 << 20))
        self._mean = torch.tensor(self.info.mean, dtype=torch.float32, device=self.device).view(1, 3, 1, 1)
        self._std = torch.tensor(self.info.std, dtype=torch.float32, device=self.device).view(1, 3, 1, 1)
        self._window = blend_window(self.tile_size).to(self.device)

    @property
    def classes(self):
        """The model's :class:`~dronefast.classes.ClassTable`."""
        return self.info.classes

    @property
    def tile_size(self) -> Tuple[int, int]:
        """``(height, width)`` of the model input (training size) = one window."""
        return tuple(int(v) for v in self.info.size)

    def scale_for(self, size: Tuple[int, int]) -> float:
        """Scale applied before tiling a photo of ``size = (H, W)`` (see `scale` in the class docstring)."""
        if self.scale is not None:
            return float(self.scale)
        th, tw = self.tile_size
        src = self.info.extra.get("source_size") or size
        return math.sqrt(th * tw / (float(src[0]) * float(src[1])))

    def plan(self, size: Tuple[int, int]) -> Tuple[bool, Tuple[int, int]]:
        """``(tiled, working (h, w))`` for a photo of ``size = (H, W)``: the mode used and the resolution the
        logits are computed at."""
        H, W = size
        th, tw = self.tile_size
        tiled = self.tile if self.tile != "auto" else (H > AUTO_TILE_FACTOR * th or W > AUTO_TILE_FACTOR * tw)
        if not tiled:
            return False, (th, tw)
        s = self.scale_for(size)
        return True, (max(1, int(round(H * s))), max(1, int(round(W * s))))

    def _load(self, image: ImageLike) -> Tuple[np.ndarray, Tuple[int, int], bool]:
        """``(working image (h, w, 3) uint8, full size (H, W), tiled)``; JPEG paths use draft decoding."""
        if isinstance(image, (str, Path)):
            full = image_size(image)
            tiled, work = self.plan(full)
            return np.array(read_image(image, work)), full, tiled
        pil = _as_pil(image)
        full = (pil.height, pil.width)
        tiled, (h, w) = self.plan(full)
        if pil.size != (w, h):
            pil = pil.resize((w, h), RESAMPLE, reducing_gap=None)  # as images.read_image does
        return np.array(pil), full, tiled

    def _net(self, x: torch.Tensor) -> torch.Tensor:
        # fastai's layers return TensorBase subclasses; plain float32 tensors keep the blending cheap and simple
        return self.model(x).as_subclass(torch.Tensor).float()

    def _forward(self, batch: torch.Tensor) -> torch.Tensor:
        """Logits ``(B, C, h, w)`` float32 of a ``(B, h, w, 3)`` uint8 batch (normalised, TTA if asked)."""
        x = batch.to(self.device).permute(0, 3, 1, 2).float().div(255)
        x = (x - self._mean) / self._std
        x = x.contiguous(memory_format=self._fmt)
        amp = torch.autocast(self.device.type, dtype=torch.bfloat16) if self.bf16 else nullcontext()
        with torch.inference_mode(), amp:
            out = self._net(x)
            if self.tta:
                out = (out + self._net(x.flip(3)).flip(3) + self._net(x.flip(2)).flip(2)) / 3
        if out.ndim != 4 or out.shape[1] != len(self.classes):
            raise ModelFileError(f"the network gave output of shape {tuple(out.shape)}, expected "
                                 f"(batch, {len(self.classes)}, h, w) for {len(self.classes)} classes")
        return out

    def _tiled_logits(self, arr: np.ndarray) -> torch.Tensor:
        h, w = arr.shape[:2]
        th, tw = self.tile_size
        arr = _pad_to(arr, th, tw)
        ph, pw = arr.shape[:2]
        boxes = [(y, x) for y in tile_positions(ph, th, self.overlap) for x in tile_positions(pw, tw, self.overlap)]
        src = torch.from_numpy(np.ascontiguousarray(arr))
        if len(boxes) == 1:  # one window: its logits as they are (no blending round-off)
            return self._forward(src[None, :th, :tw])[0, :, :h, :w]
        acc = wsum = None
        for i in range(0, len(boxes), self.batch_size):
            chunk = boxes[i:i + self.batch_size]
            out = self._forward(torch.stack([src[y:y + th, x:x + tw] for y, x in chunk]))
            if acc is None:
                acc = torch.zeros((out.shape[1], ph, pw), dtype=torch.float32, device=out.device)
                wsum = torch.zeros((ph, pw), dtype=torch.float32, device=out.device)
            for (y, x), o in zip(chunk, out):
                acc[:, y:y + th, x:x + tw] += o * self._window
                wsum[y:y + th, x:x + tw] += self._window
        acc /= wsum
        return acc[:, :h, :w]

    def _logits(self, image: ImageLike) -> Tuple[torch.Tensor, Tuple[int, int]]:
        arr, full, tiled = self._load(image)
        if tiled:
            return self._tiled_logits(arr), full
        return self._forward(torch.from_numpy(np.ascontiguousarray(arr))[None])[0], full

    def predict_logits(self, image: ImageLike) -> torch.Tensor:
        """Blended logits ``(C, h, w)`` float32 (CPU) at the working resolution :meth:`plan` gives.

        `image`: a path, a PIL image or an ``(H, W, 3)`` uint8 RGB array.
        """
        return self._logits(image)[0].cpu()

    def predict_proba(self, image: ImageLike) -> np.ndarray:
        """Class probabilities ``(C, h, w)`` float32 (softmax of :meth:`predict_logits`) at the working
        resolution; upsample with :func:`iter_upsampled` when full size is needed."""
        return torch.softmax(self._logits(image)[0], 0).cpu().numpy()

    def predict(self, image: ImageLike) -> np.ndarray:
        """Class map ``(H, W)`` uint8 at the full size of `image` (a path, PIL image or ``(H, W, 3)`` uint8
        array).

        Raises:
            CorruptImageError: naming the file, when a path cannot be decoded.
        """
        logits, full = self._logits(image)
        return upsample_argmax(logits, full, self.strip_bytes)

    def describe(self, size: Tuple[int, int]) -> str:
        """One line saying how a photo of ``size = (H, W)`` is predicted."""
        tiled, work = self.plan(size)
        if not tiled:
            return f"whole-image at {format_size(work)}"
        th, tw = self.tile_size
        n = len(tile_positions(max(work[0], th), th, self.overlap)) * len(
            tile_positions(max(work[1], tw), tw, self.overlap))
        return (f"tiled at scale {self.scale_for(size):.4g} ({format_size(work)}): {n} window(s) of "
                f"{format_size((th, tw))}, overlap {self.overlap:g}")


def predict_image(model: ModelLike, image: ImageLike, **kwargs) -> np.ndarray:
    """Class map ``(H, W)`` uint8 of one photo: ``Predictor(model, **kwargs).predict(image)``; build a
    :class:`Predictor` once instead when predicting many photos."""
    return Predictor(model, **kwargs).predict(image)


# ------------------------------------------------------------------------------------------ command line

def _is_own_output(path: Path) -> bool:
    return any(path.name.endswith(s) for s in OUTPUT_SUFFIXES.values())


def list_inputs(paths: Sequence[PathLike]) -> Tuple[List[Path], List[str]]:
    """Photos named by `paths` (files as given; folders: their image files, non-recursive, sorted, skipping
    dronefast's own outputs), and one problem line per path that is missing or an empty folder."""
    files, problems = [], []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(f for f in p.iterdir() if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES
                           and not f.name.startswith(".") and not _is_own_output(f))
            if not found:
                problems.append(f"{p}: no images ({', '.join(IMAGE_SUFFIXES)}) in this folder")
            files += found
        elif p.is_file():
            files.append(p)
        else:
            problems.append(f"{p}: file not found")
    return files, problems


def output_paths(image: PathLike, out: PathLike, landing: bool = False) -> Dict[str, Path]:
    """Output files of one photo: ``{"mask", "colour", "overlay"[, "landing_json", "landing_png"]}``."""
    stem = Path(image).stem
    kinds = [k for k in OUTPUT_SUFFIXES if landing or not k.startswith("landing")]
    return {k: Path(out) / f"{stem}{OUTPUT_SUFFIXES[k]}" for k in kinds}


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m dronefast.predict``."""
    from .landing import add_landing_arguments

    p = argparse.ArgumentParser(
        prog="python -m dronefast.predict",
        description="Predict class maps for photos of any size; writes <stem>.mask.png (class ids), "
                    "<stem>.colour.png and <stem>.overlay.jpg per photo into --out, at the photo's size.")
    p.add_argument("model", type=Path, metavar="MODEL",
                   help="model.json / model.safetensors from dronefast.train (a fastai .pkl needs --pickle)")
    p.add_argument("inputs", nargs="+", type=Path, metavar="INPUT", help="photos or folders of photos")
    p.add_argument("--out", required=True, type=Path, metavar="DIR", help="output folder")
    p.add_argument("--pickle", action="store_true",
                   help="allow loading a fastai .pkl export (it can run arbitrary code: only files you trust)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--tiled", dest="tile", action="store_const", const=True, default="auto",
                      help="always tile (default: tile photos more than 2x the model size)")
    mode.add_argument("--whole-image", dest="tile", action="store_const", const=False,
                      help="always predict the whole photo resized to the model size")
    p.add_argument("--scale", type=positive_float, metavar="S",
                   help="resize factor before tiling (default: the training object scale)")
    p.add_argument("--overlap", type=float, default=DEFAULT_OVERLAP, metavar="F",
                   help=f"share of a window overlapping its neighbour, 0..1 (default {DEFAULT_OVERLAP})")
    p.add_argument("--batch-size", type=positive_int, default=8, metavar="N", help="windows per forward pass")
    p.add_argument("--tta", action="store_true", help="average with horizontally and vertically flipped photos")
    p.add_argument("--bf16", action="store_true",
                   help="bfloat16 autocast on CUDA or CPU (fast on CPUs with AMX; classes differ only at near-ties)")
    p.add_argument("--device", default=None, help="torch device (default: cuda if available, else cpu)")
    p.add_argument("--alpha", type=float, default=0.5, metavar="A", help="overlay colour strength 0..1 (0.5)")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    p.add_argument("--skip-existing", action="store_true", help="skip photos whose outputs all exist already")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    g = p.add_argument_group("landing spots (see python -m dronefast.landing)")
    g.add_argument("--landing", action="store_true",
                   help="also write <stem>.landing.json and <stem>.landing.png (needs a clearance)")
    add_landing_arguments(g, "photo", required=False)
    return p


def _check_landing_args(args: argparse.Namespace) -> None:
    from .landing import check_landing_args

    given = [n for n in ("clearance_px", "clearance_m", "gsd", "altitude", "focal_mm", "sensor_mm", "safe",
                         "hazards", "min_separation_px") if getattr(args, n) is not None]
    if not args.landing:
        if given:
            raise UsageError(f"--{given[0].replace('_', '-')} is a landing option; add --landing")
        return
    if args.clearance_px is None and args.clearance_m is None:
        raise UsageError("--landing needs --clearance-px or --clearance-m")
    check_landing_args(args)


def _write_landing(args, ids: np.ndarray, photo: Image.Image, classes, image: Path, paths: Dict[str, Path]) -> str:
    from .landing import write_landing

    spots, clearance_px = write_landing(args, ids, photo, classes, paths["landing_json"], paths["landing_png"],
                                        {"image": str(image), "mask": str(paths["mask"])})
    if not spots:
        return f"no landing spot with {clearance_px:.1f} px clearance"
    return f"{len(spots)} landing spot(s), best at x={spots[0].x} y={spots[0].y} on {spots[0].surface}"


def parse_device(text: Optional[str]) -> Optional[torch.device]:
    """``--device`` as a torch device (None: automatic); UsageError when unknown or unavailable."""
    if text is None:
        return None
    try:
        dev = torch.device(text)
    except RuntimeError as e:
        raise UsageError(f"unknown device {text!r} ({e})") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise UsageError(f"device {text!r} asked for, but CUDA is not available here")
    return dev


def _run(args: argparse.Namespace) -> int:
    from .landing import _resolve_policy

    if not 0 <= args.overlap < 1:
        raise UsageError(f"--overlap must be in [0, 1), got {args.overlap}")
    if not 0 <= args.alpha <= 1:
        raise UsageError(f"--alpha must be in [0, 1], got {args.alpha}")
    _check_landing_args(args)
    if args.overwrite and args.skip_existing:
        raise UsageError("--overwrite and --skip-existing exclude each other")
    for p in args.inputs:
        if p.is_dir():
            try:
                ensure_outside(args.out, p)
            except ValueError as e:
                raise UsageError(f"{e} (outputs would be read back as photos)") from None
    files, problems = list_inputs(args.inputs)
    for line in problems:
        print(f"error: {line}", file=sys.stderr)

    outputs: Dict[Path, Dict[str, Path]] = {}
    stems: Dict[str, Path] = {}
    inputs = {f.resolve() for f in files}
    for f in files:
        if f.stem in stems and stems[f.stem].resolve() != f.resolve():
            raise UsageError(f"{stems[f.stem]} and {f} share the name {f.stem!r}; their outputs would collide")
        stems[f.stem] = f
        paths = output_paths(f, args.out, args.landing)
        if any(o.resolve() in inputs for o in paths.values()):
            raise UsageError(f"an output of {f} would overwrite an input")
        outputs[f] = paths
    if args.skip_existing:
        done = [f for f, ps in outputs.items() if all(o.exists() for o in ps.values())]
        if done:
            print(f"skipping {len(done)} photo(s) whose outputs exist already")
        outputs = {f: ps for f, ps in outputs.items() if f not in done}
    if not outputs:
        if problems:
            print("no photo could be read", file=sys.stderr)
            return 1
        print("nothing to do")
        return 0
    existing = [o for ps in outputs.values() for o in ps.values() if o.exists()]
    if existing and not args.overwrite:
        more = f" and {len(existing) - 3} more" if len(existing) > 3 else ""
        raise DronefastError(f"refusing to overwrite {', '.join(map(str, existing[:3]))}{more} "
                             "(use --overwrite, or --skip-existing to skip finished photos)")

    device = parse_device(args.device)
    predictor = Predictor(args.model, device=device, tile=args.tile, scale=args.scale, overlap=args.overlap,
                          batch_size=args.batch_size, tta=args.tta, bf16=args.bf16, allow_pickle=args.pickle)
    classes = predictor.classes
    if args.landing:
        try:
            _resolve_policy(classes, args.safe, args.hazards)
        except ValueError as e:
            raise UsageError(str(e)) from None

    todo = list(outputs.items())
    if not args.no_progress and todo:
        from fastprogress.fastprogress import progress_bar
        todo = progress_bar(todo)
    failures, written = len(problems), 0
    for image, paths in todo:
        try:
            ids = predictor.predict(image)
            photo = read_image(image)
        except DatasetError as e:
            print(f"error: {e}", file=sys.stderr)
            failures += 1
            continue
        save_image(ids, paths["mask"])
        colour = Image.fromarray(ids_to_colour(ids, classes), "RGB")
        save_image(colour, paths["colour"])
        save_image(Image.blend(photo, colour, args.alpha), paths["overlay"], quality=90)
        note = predictor.describe(ids.shape)
        if args.landing:
            note += "; " + _write_landing(args, ids, photo, classes, image, paths)
        print(f"{image}: {format_size(ids.shape)}, {note}")
        written += 1
    total = written + failures
    print(f"wrote outputs of {written} of {total} photo(s) to {args.out}")
    if failures:
        print(f"{failures} input(s) failed", file=sys.stderr)
    return 1 if failures else 0


def main(argv: Optional[List[str]] = None) -> int:
    """Command-line entry point; returns the exit code (0 ok, 1 an input or the model failed, 2 bad usage)."""
    return run_main(_run, build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
