"""Class maps for photos of any size: :class:`Predictor`.

Two ways to run the network over a photo of ``H x W`` pixels, both giving an ``(H, W)`` uint8 class map:

* **whole-image**: the photo is resized to the model's training size ``info.size`` (squished, as in
  training), predicted in one forward pass, and the logits are upsampled bilinearly to ``H x W`` and
  argmaxed.
* **tiled**: the photo is resized by `scale` (aspect ratio kept), and windows of the training size step
  over it (:mod:`dronefast.models.tiling`); overlapping logits are blended, then upsampled to ``H x W`` like
  whole-image logits.

``tile="auto"`` (default) tiles when the photo is more than
:data:`~dronefast.inference.predict_options.AUTO_TILE_FACTOR` times the model size in either dimension. The default
`scale` brings the photo to the number of pixels the model saw a whole photo at: ``info.work_size`` for
object-scale training, else the model input ``info.size`` (``sqrt(h*w / (H*W))``). That keeps objects at their
training size only when the photo covers as much ground as a training photo did: for a crop or a mosaic, give
`scale` yourself, e.g. ``scale_for(size of the full photo it was cut from)``.

The model's probability is ``softmax(logits / temperature)`` (its calibration temperature, 1 if it has none),
averaged over the test-time views with TTA (:func:`~dronefast.metrics.calibration.probabilities`; probabilities are
averaged, never logits) and blended over the tiles; every output (:meth:`Predictor.predict_proba`, P(safe),
P(class)) is made of it, and with TTA the class map is its argmax.

Memory: logits are only ever held at the working resolution (``C x h x w`` float32: 5.8 MB for 24 classes at
300x200, 144 MB at scale 0.25 of a 6000x4000 photo); upsampling to full size goes in horizontal strips of at
most `strip_mb` MiB, each argmaxed straight into the uint8 output.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from fastai.torch_core import default_device
from PIL import Image
from torch import nn

from ..data.images import RESAMPLE, image_size, read_image, to_rgb
from ..errors import ModelFileError
from ..metrics.calibration import probabilities
from ..models.grid import window_boxes
from ..models.modelfile import ModelInfo, load_model
from ..models.normalise import normalise_photos
from ..models.tiling import blend_window, iter_upsampled, pad_to, tiled_logits, upsample_argmax
from ..sizes import format_size
from .engines import TorchEngine
from .memory import check_prediction_memory
from .onnx import engine_for
from .predict_options import AUTO_TILE_FACTOR, PredictOptions

__all__ = ["Predictor", "Prediction", "ModelLike", "ImageLike"]

PathLike = Union[str, Path]
ImageLike = Union[PathLike, Image.Image, np.ndarray]
ModelLike = Union[PathLike, Tuple[nn.Module, ModelInfo]]


def _as_pil(image: Union[Image.Image, np.ndarray]) -> Image.Image:
    if isinstance(image, Image.Image):
        return to_rgb(image)
    arr = np.asarray(image)
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.dtype != np.uint8:
        raise ValueError(f"expected an (H, W, 3) uint8 RGB array, got shape {arr.shape} dtype {arr.dtype}")
    return Image.fromarray(arr, "RGB")


@dataclass
class Prediction:
    """A class map with the model's confidence, each ``(H, W)`` at the photo's size.

    Attributes:
        ids: class ids, uint8.
        p_safe: probability that the pixel is a safe landing surface (summed probability of the safe classes),
            float32 in [0, 1].
        p_class: probability of the predicted class, float32 in [0, 1] (None when it was not asked for).
    """

    ids: np.ndarray
    p_safe: np.ndarray
    p_class: Optional[np.ndarray] = None


class Predictor:
    """Runs a segmentation model over photos of any size (see the module docstring for the two modes).

    Args:
        model: a saved model (a training run folder, ``model.json`` / ``.safetensors`` / the common stem; a
            fastai ``.pkl`` export only with ``allow_pickle``) or a ``(network, ModelInfo)`` pair.
        options: a :class:`~dronefast.inference.predict_options.PredictOptions`; keyword `changes` set single options
            (``Predictor(model, tile="auto", tta=True)``).

    An ONNX export folder (``model.onnx`` and no ``model.safetensors``) or ``.onnx`` file given with the default
    engine ``"torch"`` runs on ONNX Runtime: ``options.engine`` then says ``"onnxruntime"`` and `engine_note` says
    why in one line (None otherwise).
    """

    def __init__(self, model: ModelLike, options: Optional[PredictOptions] = None, **changes: Any):
        opts = options or PredictOptions()
        self.options = opts = opts.replace(**changes) if changes else opts
        self.device = torch.device(opts.device) if opts.device is not None else default_device()
        engine, self.engine_note = engine_for(model, opts.engine)
        if engine != opts.engine:   # an ONNX export given with the default engine: what is there decides
            self.options = opts = self._switch(model, opts, engine)
        self.engine, self.info = self._engine(model, opts)
        self.tile, self.scale, self.overlap = opts.tile, opts.scale, float(opts.overlap)
        self.batch_size, self.tta = opts.batch_size, opts.tta
        self.strip_bytes = int(opts.strip_mb * (1 << 20))
        self._window = blend_window(self.tile_size).to(self.device)
        #: divides the logits before the softmax (the model's calibration, 1: none); the class map is unchanged
        self.temperature = float(getattr(self.info, "temperature", None) or 1.0)

    @staticmethod
    def _switch(model: ModelLike, opts: PredictOptions, engine: str) -> PredictOptions:
        try:
            return opts.replace(engine=engine)
        except ValueError as e:   # bf16, a PyTorch autocast
            raise ModelFileError(f"{model}: an ONNX export, run with ONNX Runtime: {e}") from None

    def _engine(self, model: ModelLike, opts: PredictOptions):
        if opts.engine == "onnxruntime":
            from .onnx import (
                OnnxEngine,  # the optional extra; says how to install it when missing
            )

            return OnnxEngine.from_path(model, threads=opts.threads, device=self.device)
        if isinstance(model, (str, Path)):
            net, info = load_model(model, self.device, allow_pickle=opts.allow_pickle)
        else:
            net, info = model
        if opts.threads is not None:
            torch.set_num_threads(opts.threads)
        return TorchEngine(net, self.device, opts.bf16), info

    @property
    def model(self) -> nn.Module:
        """The PyTorch network (torch engine only)."""
        return self.engine.model

    @property
    def classes(self):
        """The model's :class:`~dronefast.data.classes.ClassTable`."""
        return self.info.classes

    @property
    def tile_size(self) -> Tuple[int, int]:
        """``(height, width)`` of the model input (training size) = one window."""
        return tuple(int(v) for v in self.info.size)

    def scale_for(self, size: Tuple[int, int]) -> float:
        """Scale applied before tiling a photo of ``size = (H, W)``: `scale` when given, else the one that brings a
        photo covering the ground of a training photo to the training object scale (see the module docstring)."""
        if self.scale is not None:
            return float(self.scale)
        # object-scale training: the photo goes to the working scale; else to the model input's pixel count
        h, w = self.info.work_size if self.info.work_size is not None else self.tile_size
        return math.sqrt(h * w / (float(size[0]) * float(size[1])))

    def plan(self, size: Tuple[int, int]) -> Tuple[bool, Tuple[int, int]]:
        """``(tiled, working (h, w))`` for a photo of ``size = (H, W)``: the mode used and the resolution the
        logits are computed at. A model trained on windows of photos at a working scale is always tiled."""
        H, W = size
        th, tw = self.tile_size
        auto = self.info.work_size is not None or H > AUTO_TILE_FACTOR * th or W > AUTO_TILE_FACTOR * tw
        tiled = self.tile if self.tile != "auto" else auto
        if not tiled:
            return False, (th, tw)
        s = self.scale_for(size)
        return True, (max(1, int(round(H * s))), max(1, int(round(W * s))))

    def _load(self, image: ImageLike, probs: bool = False) -> Tuple[np.ndarray, Tuple[int, int], bool]:
        """``(working image (h, w, 3) uint8, full size (H, W), tiled)``; JPEG paths use draft decoding. A photo
        whose prediction would not fit in memory is refused before it is decoded (MemoryLimitError)."""
        if isinstance(image, (str, Path)):
            full = image_size(image)
            tiled, work = self.plan(full)
            self._check_memory(image, full, work, probs)
            return np.array(read_image(image, work)), full, tiled
        pil = _as_pil(image)
        full = (pil.height, pil.width)
        tiled, (h, w) = self.plan(full)
        self._check_memory("the photo", full, (h, w), probs)
        if pil.size != (w, h):
            pil = pil.resize((w, h), RESAMPLE, reducing_gap=None)  # as images.read_image does
        return np.array(pil), full, tiled

    def _check_memory(self, name, full: Tuple[int, int], work: Tuple[int, int], probs: bool) -> None:
        check_prediction_memory(name, full, work, self.tile_size, len(self.classes), self.batch_size,
                                str(self.device), arch=getattr(self.info, "arch", None), confidence=probs,
                                tta=self.tta)

    def _normalise(self, batch: torch.Tensor) -> torch.Tensor:
        """``(B, h, w, 3)`` uint8 photos -> ``(B, 3, h, w)`` float32 normalised, on the device."""
        return normalise_photos(batch, self.info.mean, self.info.std, self.device)

    def _views(self, x: torch.Tensor) -> List[torch.Tensor]:
        """The engine's logits ``(B, C, h, w)`` of normalised photos, and with TTA of their flips (flipped back)."""
        views = [self.engine(x)]
        if self.tta:
            views += [self.engine(x.flip(3)).flip(3), self.engine(x.flip(2)).flip(2)]
        if views[0].ndim != 4 or views[0].shape[1] != len(self.classes):
            raise ModelFileError(f"the network gave output of shape {tuple(views[0].shape)}, expected "
                                 f"(batch, {len(self.classes)}, h, w) for {len(self.classes)} classes")
        return views

    def _net(self, x: torch.Tensor, probs: bool = False) -> torch.Tensor:
        """Logits ``(B, C, h, w)`` float32 of normalised photos; with `probs`, ``(B, 2C, h, w)``: the logits, then
        the model's probability (:func:`~dronefast.metrics.calibration.probabilities` of the views). With TTA
        the logits are ``temperature * log(probability)``, so that their argmax and ``softmax(logits /
        temperature)`` are those of the averaged probability."""
        views = self._views(x)
        if len(views) == 1 and not probs:
            return views[0]
        p = probabilities(views, self.temperature)
        logits = views[0] if len(views) == 1 else self.temperature * p.clamp_min(torch.finfo(p.dtype).tiny).log()
        return torch.cat([logits, p], 1) if probs else logits

    def _tiled_logits(self, arr: np.ndarray, probs: bool = False) -> torch.Tensor:
        h, w = arr.shape[:2]
        th, tw = self.tile_size
        x = self._normalise(torch.from_numpy(np.ascontiguousarray(pad_to(arr, th, tw)))[None])
        net = (lambda v: self._net(v, probs=True)) if probs else self._net
        return tiled_logits(net, x, (th, tw), self.overlap, self.batch_size, self._window)[0, :, :h, :w]

    def _logits(self, image: ImageLike, probs: bool = False) -> Tuple[torch.Tensor, Tuple[int, int]]:
        arr, full, tiled = self._load(image, probs)
        if tiled:
            return self._tiled_logits(arr, probs), full
        x = self._normalise(torch.from_numpy(np.ascontiguousarray(arr))[None])
        return self._net(x, probs)[0], full

    def predict_logits(self, image: ImageLike) -> torch.Tensor:
        """Blended logits ``(C, h, w)`` float32 (CPU) at the working resolution :meth:`plan` gives (with TTA,
        ``temperature * log`` of the averaged probability: see :meth:`_net`).

        `image`: a path, a PIL image or an ``(H, W, 3)`` uint8 RGB array.
        """
        return self._logits(image)[0].cpu()

    def predict_proba(self, image: ImageLike) -> np.ndarray:
        """The model's class probabilities ``(C, h, w)`` float32 at the working resolution: ``softmax(logits /
        temperature)``, averaged over the TTA views and blended over the tiles, as P(safe) and P(class) are made
        (whole-image without TTA: ``softmax(predict_logits / temperature)``). Upsample with
        :func:`~dronefast.models.tiling.iter_upsampled` when full size is needed."""
        return self._logits(image, probs=True)[0][len(self.classes):].cpu().numpy()

    def predict(self, image: ImageLike) -> np.ndarray:
        """Class map ``(H, W)`` uint8 at the full size of `image` (a path, PIL image or ``(H, W, 3)`` uint8
        array).

        Raises:
            CorruptImageError: naming the file, when a path cannot be decoded.
        """
        logits, full = self._logits(image)
        return upsample_argmax(logits, full, self.strip_bytes)

    def predict_confidence(self, image: ImageLike, safe: Sequence[int],
                           size: Optional[Tuple[int, int]] = None, p_class: bool = True) -> "Prediction":
        """Class map with the model's confidence, all ``(H, W)`` at the full size of `image` (or at ``size =
        (h, w)``, resampled straight from the working resolution: e.g. a small map for landing analysis).

        The probabilities are ``softmax(logits / temperature)`` (the model's calibration temperature, 1 if it has
        none), averaged over the TTA views and blended over the tiles like the logits; they are held at the
        working resolution only and upsampled bilinearly in strips, so a 6000x4000 photo never has a full-size
        map per class.

        Args:
            image: a path, PIL image or ``(H, W, 3)`` uint8 array.
            safe: class ids whose summed probability is ``p_safe`` (the landing policy's safe classes:
                :func:`~dronefast.landing.policy.resolve_policy`).
            size: ``(h, w)`` of the maps (default: the photo's).
            p_class: also the probability of the predicted class (one more full-size float map; else None).
        """
        out, full = self._logits(image, probs=True)
        return self._confidence(out, tuple(size) if size is not None else full, safe, p_class)

    def predict_with_confidence(self, image: ImageLike, size: Tuple[int, int], safe: Sequence[int]
                                ) -> Tuple[np.ndarray, "Prediction"]:
        """The full-size class map of `image` (as :meth:`predict`) and, from the same forward passes, the class
        map and confidence at ``size = (h, w)`` (as :meth:`predict_confidence` with `size`): one tiled prediction
        where the two calls would run it twice."""
        out, full = self._logits(image, probs=True)
        ids = upsample_argmax(out[:len(self.classes)], full, self.strip_bytes)
        return ids, self._confidence(out, tuple(size), safe, p_class=False)

    def _confidence(self, out: torch.Tensor, size: Tuple[int, int], safe: Sequence[int],
                    p_class: bool) -> "Prediction":
        """:class:`Prediction` at `size` from ``(2C, h, w)`` logits and probabilities (:meth:`_net` with probs)."""
        c = len(self.classes)
        logits, p = out[:c], out[c:]
        top = logits.max(0).indices
        maps = [p[list(safe)].sum(0)] + ([p.gather(0, top[None])[0]] if p_class else [])
        up = np.empty((len(maps), *size), dtype=np.float32)
        for rows, strip in iter_upsampled(torch.stack(maps), size, self.strip_bytes):
            up[:, rows] = strip.clamp(0, 1).cpu().numpy()
        return Prediction(upsample_argmax(logits, size, self.strip_bytes), up[0], up[1] if p_class else None)

    def describe(self, size: Tuple[int, int]) -> str:
        """One line saying how a photo of ``size = (H, W)`` is predicted."""
        tiled, work = self.plan(size)
        if not tiled:
            return f"whole-image at {format_size(work)}"
        th, tw = self.tile_size
        n = len(window_boxes((max(work[0], th), max(work[1], tw)), (th, tw), self.overlap))
        return (f"tiled at scale {self.scale_for(size):.4g} ({format_size(work)}): {n} window(s) of "
                f"{format_size((th, tw))}, overlap {self.overlap:g}")

