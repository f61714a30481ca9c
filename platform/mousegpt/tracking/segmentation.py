"""Finding the mouse in one frame: foreground against the background, and which blob it is.

The frame's contrast with the background is thresholded; of the blobs, the mouse is the
largest, or of several of similar size the one with the most contrast that stands on the
floor (reflections are fainter and lie beyond it). The search starts near the previous
frame's mouse.
"""

from __future__ import annotations

import cv2
import numpy as np

from mousegpt.tracking.background import Background
from mousegpt.tracking.config import TrackerConfig
from mousegpt.tracking.keypoints import _measure, _Pose
from mousegpt.tracking.shapes import _SQUARE_3, _filled, _open_2x2


def _search_box(previous: _Pose, shape: tuple[int, int]) -> tuple[int, int, int, int]:
    """Where to look first in the next frame (x0, y0, x1, y1): around the last mouse and its
    tail, widened by about as far as a mouse moves in a frame.
    """
    length = float(np.linalg.norm(previous.nose - previous.tail_base))
    # A tail not seen may reappear anywhere behind the body, up to about a body length.
    tail = (
        previous.tail_tip if np.isfinite(previous.tail_tip).all() else 2 * previous.tail_base - previous.nose
    )
    points = np.stack([previous.nose, previous.centre, previous.tail_base, tail])
    margin = 0.3 * length + 15
    (x0, y0), (x1, y1) = points.min(axis=0) - margin, points.max(axis=0) + margin
    return max(0, int(x0)), max(0, int(y0)), min(shape[1], int(x1) + 1), min(shape[0], int(y1) + 1)


def _segment(
    frame: np.ndarray, bg: Background, config: TrackerConfig, previous: _Pose | None
) -> _Pose | None:
    """Find the mouse in one grey frame; None when nothing mouse-sized differs from the background."""
    # Search near the last position first (cheap), the whole frame when the mouse is lost.
    if previous is not None:
        x0, y0, x1, y1 = _search_box(previous, frame.shape)
        pose = _segment_window(frame[y0:y1, x0:x1], bg, config, previous, (x0, y0))
        if pose is not None:
            return pose
    return _segment_window(frame, bg, config, previous, (0, 0))


def _segment_window(
    window: np.ndarray, bg: Background, config: TrackerConfig, previous: _Pose | None, offset: tuple[int, int]
) -> _Pose | None:
    """The mouse in ``window``, the part of the frame whose top-left corner is ``offset``."""
    diff = bg.contrast(window, *offset)
    mask = cv2.morphologyEx((diff > bg.threshold).astype(np.uint8), cv2.MORPH_OPEN, _SQUARE_3)
    outline = _mouse_outline(mask, diff, bg.floor, offset, config)
    if outline is None:
        return None
    # Tails are paler and thinner than the body, so they are looked for with a lower
    # threshold. The rest works in the box around the faint silhouette that holds the
    # mouse (filled with 2 to tell it from other faint pixels): body, tail and shadow.
    faint = _open_2x2((diff > 0.35 * bg.threshold).astype(np.uint8))
    x, y, w, h = cv2.floodFill(faint, None, tuple(int(v) for v in outline[0, 0]), 2, flags=8)[3]
    # A margin of background, so that distance transforms see where the silhouette ends.
    x0, y0 = max(0, x - 2), max(0, y - 2)
    crop = slice(y0, y + h + 2), slice(x0, x + w + 2)
    blob = _filled(outline, mask[crop].shape, (-x0, -y0))
    if cv2.countNonZero(blob) < config.min_area_px:
        return None
    silhouette = (faint[crop] == 2).astype(np.uint8)
    return _measure(
        blob,
        silhouette,
        diff[crop],
        bg.threshold,
        previous,
        np.array([offset[0] + x0, offset[1] + y0], np.float32),
    )


RIVAL_AREA = 0.25
"""Blobs smaller than this fraction of the largest in view do not compete with it to be the mouse."""
OFF_FLOOR_WEIGHT = 0.25
"""How much a blob whose centre lies beyond the arena's floor counts against one on it."""


def _mouse_outline(
    mask: np.ndarray,
    diff: np.ndarray,
    floor: np.ndarray | None,
    offset: tuple[int, int],
    config: TrackerConfig,
) -> np.ndarray | None:
    """The outer contour of the blob of ``mask`` that is the mouse; None when the mask is empty.

    Usually there is one blob, or one much larger than the rest. When blobs of similar
    size compete, the one with the most contrast (``diff`` summed over it) wins: a
    reflection in a transparent wall or a clear floor is a mirrored copy of the mouse, as
    large but fainter. A blob whose centre lies beyond the arena's ``floor`` (the window's
    top-left corner is ``offset`` in it) counts for OFF_FLOOR_WEIGHT of its contrast: a
    mouse stands on the floor, its reflections are seen beyond the walls.
    """
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    if len(contours) <= 1:
        return contours[0] if contours else None
    areas = np.array([cv2.contourArea(c) for c in contours])
    rivals = [c for c, a in zip(contours, areas) if a >= max(config.min_area_px, RIVAL_AREA * areas.max())]
    if len(rivals) <= 1:
        return contours[int(np.argmax(areas))]
    scores = []
    for contour in rivals:
        x, y, w, h = cv2.boundingRect(contour)
        inside = _filled(contour, (h, w), (-x, -y))
        score = float(diff[y : y + h, x : x + w][inside > 0].sum(dtype=np.float64))
        if floor is not None:
            m = cv2.moments(contour)
            cx, cy = (int(m["m10"] / m["m00"]), int(m["m01"] / m["m00"])) if m["m00"] else (x, y)
            if not floor[min(cy + offset[1], floor.shape[0] - 1), min(cx + offset[0], floor.shape[1] - 1)]:
                score *= OFF_FLOOR_WEIGHT
        scores.append(score)
    return rivals[int(np.argmax(scores))]
