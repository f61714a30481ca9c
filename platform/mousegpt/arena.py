"""Arena geometry: where the walls are, and which zone (wall, centre, corner) a point is in.

Arenas are found in the tracker's background image (the floor is the largest uniform region,
brighter or darker than its surroundings), or, for pose-only input, from the extent of the
animal's path. Coordinates are pixels (x right, y down).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class Arena:
    """An arena floor in image pixels: a rectangle or a circle centred at (``cx``, ``cy``).

    ``width`` and ``height`` are in pixels; a circle's are both its diameter.
    """

    shape: str
    """``"rect"`` or ``"circle"``."""
    cx: float
    cy: float
    width: float
    """Rect: side along x. Circle: diameter."""
    height: float

    def wall_distance(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Distance in pixels from each point to the nearest wall (negative outside); NaN stays NaN."""
        if self.shape == "circle":
            return self.width / 2 - np.hypot(x - self.cx, y - self.cy)
        return np.minimum(self.width / 2 - np.abs(x - self.cx), self.height / 2 - np.abs(y - self.cy))

    def zones(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Open-field zones: ``"centre"`` is the central 25% of the arena's area (the inner half
        of each side; inside half the radius for a circle), ``"corner"`` is the outer band of
        two walls at once, ``"wall"`` the rest of the outer band; None where x or y is NaN.
        """
        if self.shape == "circle":
            zone = np.where(np.hypot(x - self.cx, y - self.cy) < self.width / 4, "centre", "wall").astype(
                object
            )
        else:
            outer_x = np.abs(x - self.cx) >= self.width / 4
            outer_y = np.abs(y - self.cy) >= self.height / 4
            zone = np.where(outer_x | outer_y, "wall", "centre").astype(object)
            zone[outer_x & outer_y] = "corner"
        zone[np.isnan(x) | np.isnan(y)] = None
        return zone


def from_background(background: np.ndarray) -> Arena | None:
    """The floor as the largest Otsu region of the background image; None if none is plausible."""
    grey = cv2.GaussianBlur(background.astype(np.uint8), (9, 9), 0)
    _, bright = cv2.threshold(grey, 0, 1, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    best = None
    for mask in (bright, 1 - bright):
        n, _, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=4)
        if n > 1:
            i = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
            if best is None or stats[i, cv2.CC_STAT_AREA] > best[cv2.CC_STAT_AREA]:
                best = stats[i]
    if best is None or best[cv2.CC_STAT_AREA] < 0.15 * grey.size:
        return None
    x, y, w, h, area = (float(v) for v in best)
    # A disc fills pi/4 of its bounding box, a rectangle all of it.
    shape = "circle" if area / (w * h) < 0.88 and abs(w - h) < 0.15 * max(w, h) else "rect"
    return Arena(shape=shape, cx=x + w / 2, cy=y + h / 2, width=w, height=h)


def from_track(x: np.ndarray, y: np.ndarray, pad_px: float) -> Arena | None:
    """Bounding box of the path (0.5-99.5 percentiles) padded by ``pad_px``: a fallback
    estimate; None when the path or the padding is unknown (all NaN).
    """
    if not (np.isfinite(pad_px) and np.isfinite(x).any() and np.isfinite(y).any()):
        return None
    x0, x1 = np.nanpercentile(x, [0.5, 99.5])
    y0, y1 = np.nanpercentile(y, [0.5, 99.5])
    return Arena(
        shape="rect",
        cx=(x0 + x1) / 2,
        cy=(y0 + y1) / 2,
        width=x1 - x0 + 2 * pad_px,
        height=y1 - y0 + 2 * pad_px,
    )
