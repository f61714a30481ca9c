"""A mouse that rested in one place through (nearly) all of a clip, found in its background.

Such a mouse is part of the per-pixel percentile that is the background. It is found there
as a compact, mouse-sized blob that differs from the floor around it while no mouse is seen
anywhere else in most of the samples, and the floor's local average is put in its place
(``background.estimate_background``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from mousegpt.tracking.config import TrackerConfig
from mousegpt.tracking.floor import _floor_level, _floor_region
from mousegpt.tracking.shapes import _SQUARE_3, _largest_outline

HIDDEN_WORK_SIDE = 240
"""Short side (px) of the reduced image in which a mouse hidden in the background is looked for."""
FLOOR_SCALE = 0.1
"""Reach (Gaussian sigma) of the floor's local average, as a fraction of the image's short
side: a mouse's body covers only a small part of it."""
MOUSE_AREA = (0.0005, 0.06)
"""Smallest and largest area of a mouse's body, as fractions of the image."""
SEEN_ELSEWHERE = 0.5
"""A blob in the background is the mouse only if the mouse is seen elsewhere in fewer than
this fraction of the samples; otherwise it is part of the arena (an object, a stain)."""


@dataclass(frozen=True)
class _Resting:
    """A mouse-sized blob that differs from the floor around it in a background image."""

    blob: np.ndarray
    """Its pixels, uint8 (y, x) of the full image."""
    sign: int
    """-1 when darker than the floor, +1 when lighter."""
    on_floor: np.ndarray
    """The floor, uint8, at the reduced scale the search works at."""
    small: np.ndarray
    """The image at that scale."""


def _resized(image: np.ndarray, shape: tuple[int, ...], interpolation: int) -> np.ndarray:
    """``image`` at ``shape`` (rows, columns); itself when it has that shape already."""
    return image if image.shape == shape else cv2.resize(image, shape[::-1], interpolation=interpolation)


def _resting_blob(image: np.ndarray, config: TrackerConfig) -> _Resting | None:
    """The strongest compact, mouse-sized blob on the arena's floor in a background
    ``image``, clear of the image's border, darker or lighter than the floor's local average
    (``_floor_level``) by more than the floor's texture and the sensor noise make it vary;
    None when there is none. The average is taken twice, the second time without what the
    first found far from it, so that a mouse does not make the floor beside it look lighter
    (or darker).
    """
    h, w = image.shape
    scale = max(1, min(h, w) // HIDDEN_WORK_SIDE)
    small = _resized(image, (h // scale, w // scale), cv2.INTER_AREA)
    sigma = FLOOR_SCALE * min(small.shape)
    on_floor = _floor_region(small)
    if on_floor is None:
        on_floor = np.ones(small.shape, np.uint8)
    residual = small - _floor_level(small, on_floor, sigma)
    values = residual[on_floor > 0]
    level = max(config.min_threshold, 5 * 1.4826 * float(np.median(np.abs(values - np.median(values)))))
    residual = small - _floor_level(small, on_floor & (np.abs(residual) <= level), sigma)
    smallest, largest = (f * small.size for f in MOUSE_AREA)
    best = None
    for sign in (-1, 1):
        mask = cv2.morphologyEx(
            ((residual * sign > level) & (on_floor > 0)).astype(np.uint8), cv2.MORPH_OPEN, _SQUARE_3
        )
        count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
        for i in range(1, count):
            x, y, bw, bh, area = stats[i]
            if (
                not smallest <= area <= largest
                or x == 0
                or y == 0
                or x + bw == mask.shape[1]
                or y + bh == mask.shape[0]
            ):
                continue
            blob = (labels == i).astype(np.uint8)
            strength = float(residual[blob > 0].sum()) * sign
            if (best is None or strength > best[0]) and _compact(blob):
                best = (strength, sign, blob)
    if best is None:
        return None
    _, sign, blob = best
    return _Resting(blob=_resized(blob, (h, w), cv2.INTER_NEAREST), sign=sign, on_floor=on_floor, small=small)


def _hidden_mouse(
    image: np.ndarray, samples: np.ndarray, polarity: int, threshold: float, config: TrackerConfig
) -> tuple[np.ndarray, int, np.ndarray] | None:
    """A mouse that the percentile background ``image`` holds, because it rested in one
    place through (nearly) all the ``samples``: (its mask, uint8 (y, x); its polarity; the
    floor's estimate, float32 (y, x), to put in its place), or None.

    The candidate is ``_resting_blob``. It is taken for the mouse only when the samples show
    no mouse elsewhere (with the motion's ``polarity`` and ``threshold``) in most of them: a
    mouse that moves about is seen away from a dark object that sits on the floor. The
    floor put in its place is the average of the floor around it.
    """
    resting = _resting_blob(image, config)
    if (
        resting is None
        or _seen_elsewhere(samples, image, resting.blob, polarity, threshold) >= SEEN_ELSEWHERE
    ):
        return None
    small, on_floor = resting.small, resting.on_floor
    # The blur and the faint edge of the fur around the blob go too, but only on the floor:
    # beyond its edge lies something else, that the floor's average does not describe. The
    # floor is found again with the blob filled in: a mouse in a corner cut it off before.
    reach = max(2, int(round(0.15 * math.sqrt(cv2.countNonZero(resting.blob)))))
    mask = cv2.dilate(
        resting.blob, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * reach + 1, 2 * reach + 1))
    )
    floor_level = _floor_level(
        small, on_floor & (1 - _resized(mask, small.shape, cv2.INTER_NEAREST)), FLOOR_SCALE * min(small.shape)
    )
    refound = _floor_region(
        np.where(_resized(resting.blob, small.shape, cv2.INTER_NEAREST) > 0, floor_level, small)
    )
    mask &= _resized(refound if refound is not None else on_floor, image.shape, cv2.INTER_NEAREST)
    return mask, resting.sign, _resized(floor_level, image.shape, cv2.INTER_LINEAR).astype(np.float32)


def _compact(blob: np.ndarray) -> bool:
    """Whether a blob could be a mouse's body: mostly convex (a curled or bent mouse is) and
    at most five times as long as wide.
    """
    outline = _largest_outline(blob)
    hull = cv2.contourArea(cv2.convexHull(outline))
    (_, _), (a, b), _ = cv2.minAreaRect(outline)
    return hull > 0 and cv2.countNonZero(blob) / hull >= 0.5 and max(a, b) <= 5 * max(1.0, min(a, b))


def _seen_elsewhere(
    samples: np.ndarray, image: np.ndarray, blob: np.ndarray, polarity: int, threshold: float
) -> float:
    """Fraction of ``samples`` in which a mouse-sized blob differs from ``image`` (by more
    than ``threshold`` in the direction ``polarity``) away from ``blob``: outside a body
    length's reach of it, where a resting mouse's moving head and tail stay.
    """
    h, w = image.shape
    reach = int(2 * math.sqrt(cv2.countNonZero(blob)))
    near = cv2.dilate(blob, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * reach + 1, 2 * reach + 1)))
    away = near == 0
    background = np.clip(np.round(image), 0, 255).astype(np.uint8)
    smallest = MOUSE_AREA[0] * h * w
    five = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))  # leaves a body, not a tail
    seen = 0
    for sample in samples:
        diff = cv2.subtract(background, sample) if polarity < 0 else cv2.subtract(sample, background)
        mask = cv2.morphologyEx(((diff > threshold) & away).astype(np.uint8), cv2.MORPH_OPEN, five)
        outline = _largest_outline(mask)
        seen += outline is not None and cv2.contourArea(outline) >= smallest
    return seen / len(samples)
