"""The nose's exact position: the tip of the snout beyond the opened body's end.

The opening that strips the tail also blunts the snout; its tip is looked for again on the
whole silhouette, on a head turned well to a side, and along the snout's pale end.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from mousegpt.tracking.shapes import _farthest


def _snout_tip(
    blob: np.ndarray,
    diff: np.ndarray,
    threshold: float,
    nose: np.ndarray,
    centre: np.ndarray,
    half_width: float,
) -> np.ndarray:
    """The nose on the whole silhouette: the opening that strips the tail also blunts the
    thin snout, so the tip is looked for again beyond the opened body's end, along the
    centre-to-nose direction and within a body half-width of it (never the tail, which
    leaves the other end).
    """
    direction = nose - centre
    length = float(np.linalg.norm(direction))
    if length < 1:
        return nose
    direction = direction / length
    points = cv2.findNonZero(blob).reshape(-1, 2).astype(np.float32) - centre
    along = points @ direction
    across = np.abs(points @ np.array([-direction[1], direction[0]], dtype=np.float32))
    ahead = (along > length - half_width) & (across < half_width)
    if not ahead.any() or along[ahead].max() > length + 2 * half_width:
        return _turned_snout(blob, diff, threshold, nose, centre, half_width, nose)
    tip = _farthest(points[ahead], along[ahead]) + centre
    return _turned_snout(
        blob, diff, threshold, nose, centre, half_width, _pale_tip(diff, threshold, tip, centre, half_width)
    )


TURNED_HEAD_REACH = 1.1
"""A turned head's snout lies at least this many times farther from the body centre than the
end of the body's long axis. The ears of a real mouse seen from above bulge about as far as
the axis's end (0.96-1.06 of it on the real open-field video), so they never qualify."""
TURNED_HEAD_CONE = math.cos(math.radians(80))
"""Cosine of the widest angle between a turned snout and the body's centre-to-nose direction."""
TURNED_HEAD_SHARPER = 0.08
"""How much less of a disc around a turned snout's tip the body fills than around the tip
found along the axis: a snout tapers, the shoulder or ear at the axis's end is round."""


def _turned_snout(
    blob: np.ndarray,
    diff: np.ndarray,
    threshold: float,
    nose: np.ndarray,
    centre: np.ndarray,
    half_width: float,
    tip: np.ndarray,
) -> np.ndarray:
    """The snout of a mouse that holds its head turned well to a side (a resting or freezing
    mouse often does): the body's long axis then ends at the shoulder or an ear, and the snout
    is a sharper tip of the outline beyond it and to the side. ``tip`` (found along the axis)
    is kept unless such a tip exists.
    """
    length = float(np.linalg.norm(nose - centre))
    contours, _ = cv2.findContours(blob, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    if length < 1 or not contours:
        return tip
    outline = max(contours, key=cv2.contourArea).reshape(-1, 2)
    offset = outline.astype(np.float32) - centre
    reach = np.linalg.norm(offset, axis=1)
    beyond = (reach > TURNED_HEAD_REACH * length) & (
        offset @ ((nose - centre) / length) > TURNED_HEAD_CONE * reach
    )
    if not beyond.any():
        return tip
    # How much of a disc around each outline point the body fills: low at a tapering tip.
    r = max(2, round(0.6 * half_width))
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1)).astype(np.float32)
    fill = cv2.filter2D(blob.astype(np.float32), -1, disc / disc.sum(), borderType=cv2.BORDER_CONSTANT)
    candidates = np.flatnonzero(beyond)
    best = candidates[np.argmin(fill[outline[candidates, 1], outline[candidates, 0]])]
    tx, ty = np.clip(np.round(tip).astype(int), 0, [blob.shape[1] - 1, blob.shape[0] - 1])
    if fill[outline[best, 1], outline[best, 0]] >= fill[ty, tx] - TURNED_HEAD_SHARPER:
        return tip
    snout = outline[best].astype(np.float32)
    # The snout points away from the head behind it, not from the body centre.
    body = cv2.findNonZero(blob).reshape(-1, 2).astype(np.float32)
    head = body[np.linalg.norm(body - snout, axis=1) < 2 * r].mean(axis=0)
    return _pale_tip(diff, threshold, snout, head, half_width)


def _pale_tip(
    diff: np.ndarray, threshold: float, tip: np.ndarray, centre: np.ndarray, half_width: float
) -> np.ndarray:
    """The snout tapers to a point narrower than the blur, so its very end (and a pink nose
    on a brown coat) is paler than the body: it is followed on from the blob's ``tip`` at
    half the threshold, along the snout's line, in a band (and at most that band's width
    beyond the tip) narrow enough to leave out the head's shadow and blur beside it.
    """
    band = 0.3 * half_width
    direction = (tip - centre) / max(1e-6, float(np.linalg.norm(tip - centre)))
    x0, y0 = (max(0, int(v - band - 2)) for v in tip)
    x1, y1 = (int(v + band + 3) for v in tip)
    found = cv2.findNonZero((diff[y0:y1, x0:x1] > 0.5 * threshold).astype(np.uint8))
    if found is None:
        return tip
    points = found.reshape(-1, 2).astype(np.float32) + np.array([x0, y0], np.float32) - tip
    along = points @ direction
    across = np.abs(points @ np.array([-direction[1], direction[0]], dtype=np.float32))
    band_points = (along > -2) & (across < band)
    if not band_points.any():
        return tip
    return _farthest(points[band_points], along[band_points]) + tip
