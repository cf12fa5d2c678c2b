"""Distances on a class map: ground sampling distance, the exact Euclidean distance transform and local maxima.

Distances run from pixel centre to pixel centre. The distance transform is SciPy's exact one
(``scipy.ndimage.distance_transform_edt``, Maurer's algorithm), and local maxima come from
``scipy.ndimage.maximum_filter``.

Clearances may be given in metres with the ground sampling distance (GSD, metres per pixel) of the map:
``GSD = altitude_m * sensor_width_mm / (focal_length_mm * image_width_px)``, where ``image_width_px`` is the
width of the map actually analysed (so a map downscaled from the photo gets a proportionally larger GSD) and
the map is assumed to span the whole sensor width of a nadir camera over flat ground.
"""
from __future__ import annotations

import math

import numpy as np
from scipy import ndimage

__all__ = ["ground_sampling_distance", "distance_transform", "local_maxima"]


def ground_sampling_distance(altitude_m: float, focal_length_mm: float, sensor_width_mm: float,
                             image_width_px: int) -> float:
    """Ground sampling distance (metres per pixel) of a nadir photo over flat ground.

    ``GSD = altitude_m * sensor_width_mm / (focal_length_mm * image_width_px)``.

    Args:
        altitude_m: height of the camera above the ground (m).
        focal_length_mm: real (not 35 mm-equivalent) focal length of the lens (mm).
        sensor_width_mm: width of the sensor along the image width (mm).
        image_width_px: width of the map being analysed (px): use the downscaled width for a downscaled map.
    """
    for name, v in (("altitude_m", altitude_m), ("focal_length_mm", focal_length_mm),
                    ("sensor_width_mm", sensor_width_mm), ("image_width_px", image_width_px)):
        if not (isinstance(v, (int, float, np.integer, np.floating)) and math.isfinite(v) and v > 0):
            raise ValueError(f"{name} must be a positive number, got {v!r}")
    return float(altitude_m) * float(sensor_width_mm) / (float(focal_length_mm) * float(image_width_px))


def distance_transform(unsafe: np.ndarray, border_is_unsafe: bool = True) -> np.ndarray:
    """Exact Euclidean distance transform: for each pixel of a ``(H, W)`` bool mask, the distance in pixels
    from its centre to the centre of the nearest True (unsafe) pixel.

    Args:
        unsafe: ``(H, W)`` bool array, True where a pixel is unsafe.
        border_is_unsafe: treat the ring of pixels just outside the image as unsafe (a pixel on the edge then
            has distance 1).

    Returns:
        ``(H, W)`` float64 array: 0 on unsafe pixels, inf where no unsafe pixel exists.
    """
    unsafe = np.asarray(unsafe, dtype=bool)
    if unsafe.ndim != 2:
        raise ValueError(f"expected a 2-D mask, got shape {unsafe.shape}")
    if unsafe.size == 0:
        return np.zeros(unsafe.shape)
    if border_is_unsafe:
        return ndimage.distance_transform_edt(~np.pad(unsafe, 1, constant_values=True))[1:-1, 1:-1]
    if not unsafe.any():
        return np.full(unsafe.shape, np.inf)
    return ndimage.distance_transform_edt(~unsafe)


def local_maxima(a: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Bool mask of `valid` pixels whose value is >= every valid 8-neighbour's (plateaus included)."""
    a = np.where(valid, a, -np.inf)
    m = ndimage.maximum_filter(a, size=3, mode="constant", cval=-np.inf)
    return valid & (a >= m)
