"""The arena's floor in a background image, and its local average grey level.

What lies beyond the floor (walls, the room, the reflection of a mouse in a transparent
wall) is taken for the mouse only when nothing on the floor can be
(``segmentation._mouse_outline``); a mouse hidden in the background is looked for on it
(``resting``).
"""

from __future__ import annotations

import cv2
import numpy as np

from mousegpt.tracking.shapes import _largest_outline


def _floor_level(image: np.ndarray, floor: np.ndarray, sigma: float) -> np.ndarray:
    """The floor's local average grey level, float32 (y, x): a Gaussian average of the
    pixels of ``image`` where ``floor`` is set, and of those only (walls and the surround
    stay out of it, so it holds up to the floor's edge).
    """
    weights = cv2.GaussianBlur(floor.astype(np.float32), (0, 0), sigma)
    total = cv2.GaussianBlur(image * floor, (0, 0), sigma)
    return total / np.maximum(weights, 1e-3)


def _floor_region(image: np.ndarray) -> np.ndarray | None:
    """The arena's floor in a background image: the convex hull of its largest uniform
    region (of either Otsu class), uint8 (y, x); None when no region covers 15% of the
    image. The hull takes back what a mouse resting on the floor cuts out of it.
    """
    grey = cv2.GaussianBlur(np.clip(image, 0, 255).astype(np.uint8), (5, 5), 0)
    _, bright = cv2.threshold(grey, 0, 1, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    best, best_area = None, 0.15 * grey.size
    for mask in (bright, 1 - bright):
        count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=4)
        if count > 1:
            i = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
            if stats[i, cv2.CC_STAT_AREA] > best_area:
                best, best_area = (labels == i).astype(np.uint8), stats[i, cv2.CC_STAT_AREA]
    if best is None:
        return None
    hull = np.zeros_like(grey)
    cv2.fillConvexPoly(hull, cv2.convexHull(_largest_outline(best)), 1)
    return hull
