"""How each class looks in the synthetic photos: colour variants and texture amplitudes.

Per class: colour variants (one is picked per drawn object, then jittered by the canvas) and texture amplitudes
(fine grain, medium blotches, coarse patches: relative brightness; chroma: RGB units).
"""
from __future__ import annotations

from typing import Dict, List, NamedTuple, Tuple

__all__ = ["Look", "LOOKS", "CLOTHES", "CAR_PAINT", "HAIR", "Colour"]

Colour = Tuple[int, int, int]


class Look(NamedTuple):
    """Colour variants of a class and its texture amplitudes ``(fine, medium, coarse, chroma)``."""
    colours: List[Colour]
    texture: Tuple[float, float, float, float]


CLOTHES: List[Colour] = [(200, 40, 40), (40, 70, 170), (230, 230, 225), (30, 30, 35), (230, 190, 40),
                         (60, 140, 70), (220, 110, 30), (120, 60, 150), (240, 120, 170), (90, 160, 210)]
CAR_PAINT: List[Colour] = [(236, 236, 236), (28, 28, 32), (165, 168, 172), (176, 28, 30), (32, 62, 146),
                           (70, 70, 76), (206, 182, 40), (40, 96, 64), (120, 24, 40)]
HAIR: List[Colour] = [(40, 30, 24), (20, 18, 16), (150, 110, 60), (90, 60, 40)]

LOOKS: Dict[str, Look] = {
    "unlabeled": Look([(92, 80, 98), (60, 52, 48)], (0.12, 0.20, 0.10, 12.0)),
    "paved-area": Look([(152, 147, 141), (130, 128, 126), (172, 162, 150)], (0.04, 0.05, 0.07, 3.0)),
    "dirt": Look([(148, 110, 72), (126, 94, 62)], (0.06, 0.12, 0.12, 8.0)),
    "grass": Look([(88, 132, 52), (102, 142, 60), (72, 116, 46)], (0.07, 0.12, 0.12, 10.0)),
    "gravel": Look([(180, 170, 152), (162, 157, 150)], (0.18, 0.06, 0.05, 4.0)),
    "water": Look([(48, 78, 92), (38, 66, 72)], (0.015, 0.04, 0.08, 4.0)),
    "rocks": Look([(122, 116, 108), (102, 98, 94)], (0.10, 0.25, 0.08, 5.0)),
    "pool": Look([(72, 176, 206), (92, 192, 212)], (0.01, 0.03, 0.03, 2.0)),
    "vegetation": Look([(62, 98, 38), (76, 106, 40)], (0.10, 0.22, 0.10, 12.0)),
    "roof": Look([(180, 88, 64), (142, 74, 58), (98, 98, 110)], (0.03, 0.04, 0.04, 2.0)),
    "wall": Look([(228, 216, 198), (206, 200, 190)], (0.02, 0.02, 0.03, 2.0)),
    "window": Look([(44, 56, 78)], (0.03, 0.03, 0.0, 2.0)),
    "door": Look([(114, 72, 42)], (0.03, 0.03, 0.0, 2.0)),
    "fence": Look([(198, 182, 150), (172, 172, 166)], (0.03, 0.03, 0.02, 2.0)),
    "fence-pole": Look([(80, 78, 76)], (0.02, 0.0, 0.0, 0.0)),
    "person": Look(CLOTHES, (0.03, 0.02, 0.0, 0.0)),
    "dog": Look([(122, 86, 50), (42, 38, 36), (222, 212, 192)], (0.05, 0.05, 0.0, 2.0)),
    "car": Look(CAR_PAINT, (0.015, 0.01, 0.0, 0.0)),
    "bicycle": Look([(30, 30, 34), (150, 30, 40), (40, 70, 150)], (0.03, 0.0, 0.0, 0.0)),
    "tree": Look([(46, 84, 30), (56, 92, 36), (40, 72, 34)], (0.10, 0.28, 0.08, 10.0)),
    "bald-tree": Look([(134, 120, 100)], (0.15, 0.20, 0.10, 6.0)),
    "ar-marker": Look([(236, 236, 236)], (0.01, 0.0, 0.0, 0.0)),
    "obstacle": Look([(126, 98, 156), (88, 110, 168), (150, 132, 176)], (0.03, 0.05, 0.03, 4.0)),
    "conflicting": Look([(255, 0, 0)], (0.0, 0.0, 0.0, 0.0)),
}
