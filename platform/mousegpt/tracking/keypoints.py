"""One frame's keypoints and body ellipse, measured on the segmented mouse.

The body is the blob without its tail (``tail``); its second moments give the long axis and
the body ellipse, the axis's ends the nose and tail base. Which end is the head is voted on
by where the tail attaches, by the previous frame's assignment and by the direction of
movement; the nose is then refined on the whole silhouette (``snout``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from mousegpt.tracking.snout import _snout_tip
from mousegpt.tracking.tail import _strip_tail, _tail_root, _tail_tip, _thin_pieces


@dataclass
class _Pose:
    """One frame's mouse, in pixels of the whole image: each point is (x, y)."""

    nose: np.ndarray
    """The snout's tip, pixels."""
    centre: np.ndarray
    """The body centre: the middle of the tail-stripped body's cross-section through its centroid."""
    tail_base: np.ndarray
    """Where the tail leaves the body (the body's far end when no tail is seen), pixels."""
    tail_tip: np.ndarray
    """NaN when no tail is seen."""
    confidence: float
    """Of the head/tail assignment: 0.5 (a guess) to 1."""
    tail_confidence: float
    """Of the tail tip: 0 when no tail is seen, at most ``confidence``."""
    ellipse: tuple[float, float, float, float]
    """The values of BODY_ELLIPSE, in its order."""


def _spine_points(
    body: np.ndarray, axis: np.ndarray, centroid: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Tips of the body at both ends of its long ``axis`` (mean of the pixels within 3 px of
    each extreme), and the middle of the body's cross-section through its ``centroid``.

    That middle is the body centre: the centroid of a body bent into a C lies off the
    spine, towards the inside of the bend, but the cross-section is centred on it.
    """
    points = (
        cv2.findNonZero(body).reshape(-1, 2).astype(np.float32) - centroid
    )  # (x, y); faster than np.nonzero
    along = points @ axis
    plus = points[along >= along.max() - 3].mean(axis=0)
    minus = points[along <= along.min() + 3].mean(axis=0)
    normal = np.array([-axis[1], axis[0]], dtype=np.float32)
    across = points[np.abs(along) < 1.5] @ normal
    middle = 0.5 * (across.min() + across.max()) * normal
    return plus + centroid, minus + centroid, middle + centroid


def _measure(
    blob: np.ndarray,
    silhouette: np.ndarray,
    diff: np.ndarray,
    threshold: float,
    previous: _Pose | None,
    shift: np.ndarray,
) -> _Pose | None:
    """Keypoints and body ellipse of the mouse ``blob``; ``silhouette`` is the mouse at the
    tail's lower threshold, ``diff`` the contrast image around both and ``shift`` its
    position in the frame.
    """
    body, half_width, radius, from_core = _strip_tail(blob)
    m = cv2.moments(body, binaryImage=True)
    if m["m00"] == 0:
        return None
    centroid = np.array([m["m10"] / m["m00"], m["m01"] / m["m00"]], dtype=np.float32)
    angle = 0.5 * np.arctan2(2 * m["mu11"], m["mu20"] - m["mu02"])
    axis = np.array([np.cos(angle), np.sin(angle)], dtype=np.float32)
    plus, minus, centre = _spine_points(body, axis, centroid)

    # Which end is the head? Three votes, each > 0 for "plus is the nose":
    # 1. the tail attaches at the other end;
    points, piece = _thin_pieces(silhouette, from_core, radius, half_width)
    tail_vote = float(np.clip(-((points - centre) @ axis).sum() / (half_width * half_width * 20 + 1), -2, 2))
    # 2. temporal consistency with the previous frame's assignment;
    # 3. a mouse moving fast moves head first.
    continuity = motion = 0.0
    if previous is not None:
        prev_nose, prev_tail = previous.nose - shift, previous.tail_base - shift
        keep = np.linalg.norm(plus - prev_nose) + np.linalg.norm(minus - prev_tail)
        swap = np.linalg.norm(minus - prev_nose) + np.linalg.norm(plus - prev_tail)
        continuity = float(np.tanh((swap - keep) / (half_width + 1)))
        step = centre - (previous.centre - shift)
        if np.linalg.norm(step) > 0.25 * half_width:
            motion = 0.5 * float(np.sign(step @ axis))
    vote = tail_vote + continuity + motion
    nose, tail_base = (plus, minus) if vote >= 0 else (minus, plus)
    nose = _snout_tip(blob, diff, threshold, nose, centre, half_width)
    confidence = float(min(1.0, 0.5 + abs(vote) / 2))

    tail_tip, tail = _tail_tip(points, piece, nose, tail_base, half_width)
    tail_base = _tail_root(body, tail, from_core, centre, tail_base)
    # A short visible tail is likelier a stub or a paw than the tail's end.
    tail_reach = float(np.linalg.norm(tail_tip - tail_base) / (np.linalg.norm(nose - tail_base) + 1))
    tail_confidence = min(confidence, tail_reach) if np.isfinite(tail_reach) else 0.0
    return _Pose(
        nose=nose + shift,
        centre=centre + shift,
        tail_base=tail_base + shift,
        tail_tip=tail_tip + shift,
        confidence=confidence,
        tail_confidence=tail_confidence,
        ellipse=_ellipse(m, axis, nose - centre),
    )


def _ellipse(m: dict, axis: np.ndarray, towards_nose: np.ndarray) -> tuple[float, float, float, float]:
    """BODY_ELLIPSE from the body's image moments ``m``: full axes of the ellipse with the
    same second moments (px), the area (px^2) and the axis's direction towards the nose
    (degrees from +x towards +y).
    """
    n = m["m00"]
    xx, xy, yy = m["mu20"] / n, m["mu11"] / n, m["mu02"] / n
    spread = math.hypot((xx - yy) / 2, xy)
    major, minor = (xx + yy) / 2 + spread, max(0.0, (xx + yy) / 2 - spread)
    if axis @ towards_nose < 0:
        axis = -axis
    # The second modulo folds the 360.0 that rounding gives for tiny negative angles.
    orientation = math.degrees(math.atan2(axis[1], axis[0])) % 360.0 % 360.0
    return 4 * math.sqrt(major), 4 * math.sqrt(minor), n, orientation
