"""Mouse-centred, heading-aligned crops of each segment: the pixels MouseGPT-tiny looks at.

A crop is a square around body_center, ``CROP_BODY_LENGTHS`` stretched body lengths wide,
rotated so the animal faces up (tail_base -> nose points to the crop's top) and, for a
bottom-view camera, mirrored so the animal's left is on the crop's left as seen from above.
It holds how far each pixel is from the empty arena (``|frame - background|``, the frame's
brightness matched to the background's first), scaled so the mouse's strongest difference
is 255, with everything not connected to the mouse removed (``keep_mouse``): the
silhouette, the same for black, white and agouti mice on any floor. A frame without a
position gives an all-zero crop.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import xarray as xr

from mousegpt import video
from mousegpt.segments import Window
from mousegpt.tracking import Background

CROP_FRAMES = 8
"""Crops per segment, evenly spread over its window."""
CROP_SIZE = 64
"""Crop side in pixels."""
CROP_BODY_LENGTHS = 2.0
"""Crop side in stretched nose-to-tail-base lengths: room for a stretched mouse in any pose."""


MOUSE_LEVEL = 64
"""Crop level (of 255) above which a pixel can belong to the mouse, for ``keep_mouse``."""


def keep_mouse(crop: np.ndarray) -> np.ndarray:
    """``crop`` with everything but the mouse set to 0: the connected region above
    MOUSE_LEVEL that covers the crop's centre, grown by one pixel for its soft edge. Real
    arenas leave more than the mouse in a difference image (shadows, cables, a wall's edge).
    """
    above = (crop > MOUSE_LEVEL).astype(np.uint8)
    count, labels = cv2.connectedComponents(above, connectivity=8)
    if count <= 1:
        return np.zeros_like(crop)
    h, w = crop.shape
    centre = labels[h // 2 - 4 : h // 2 + 4, w // 2 - 4 : w // 2 + 4]
    ids, hits = np.unique(centre[centre > 0], return_counts=True)
    if not len(ids):
        return np.zeros_like(crop)
    mask = cv2.dilate((labels == ids[np.argmax(hits)]).astype(np.uint8), np.ones((3, 3), np.uint8))
    return crop * mask


def window_frames(window: Window, n: int = CROP_FRAMES) -> np.ndarray:
    """The ``n`` frame indices a segment's crops come from, evenly spread over its window."""
    return np.round(np.linspace(window.start_frame, window.end_frame - 1, n)).astype(int)


def _affine(centre: np.ndarray, forward: np.ndarray, side_px: float, size: int, mirror: bool) -> np.ndarray:
    """The 2x3 matrix taking image pixels to crop pixels: ``centre`` to the middle, ``forward``
    to the crop's up, ``side_px`` image pixels to ``size`` crop pixels.
    """
    scale = size / side_px
    up = np.array([0.0, -1.0])
    # Rotation taking the unit vector ``forward`` to ``up``.
    cos, sin = forward @ up, forward[0] * up[1] - forward[1] * up[0]
    rotation = np.array([[cos, -sin], [sin, cos]]) * scale
    if mirror:  # seen from below: flip the crop's x so the animal's left stays left
        rotation = np.array([[-1.0, 0.0], [0.0, 1.0]]) @ rotation
    offset = np.array([size / 2, size / 2]) - rotation @ centre
    return np.hstack([rotation, offset[:, None]])


def _axis(ds: xr.Dataset, individual: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per frame: body centre, nose-from-tail-base vector, and its length (pixels; NaN where unknown)."""
    position = ds.position.isel(individuals=individual).transpose("time", "keypoints", "space")
    names = list(position.keypoints.values)
    points = position.values
    centre, nose, tail = (points[:, names.index(k)] for k in ("body_center", "nose", "tail_base"))
    axis = nose - tail
    return centre, axis, np.linalg.norm(axis, axis=1)


def side_px(ds: xr.Dataset, individual: int = 0) -> float:
    """A crop's side in image pixels: CROP_BODY_LENGTHS of the mouse stretched out (the 85th
    percentile of its nose-to-tail-base length over the session); NaN with no length known.
    """
    lengths = _axis(ds, individual)[2]
    return CROP_BODY_LENGTHS * (np.nanpercentile(lengths, 85) if np.isfinite(lengths).any() else np.nan)


def extract(
    path: str | Path,
    ds: xr.Dataset,
    windows: list[Window],
    background: Background,
    view: str = "top",
    individual: int = 0,
    n: int = CROP_FRAMES,
    size: int = CROP_SIZE,
    side: float | None = None,
    first_frame: int = 0,
) -> np.ndarray:
    """Crops (segment, frame, y, x) uint8 of ``windows`` from the video at ``path``, placed by
    the cleaned poses ``ds`` (pixels, platform keypoints; its first time is video frame
    ``first_frame``). Only the frames from the first to the last that some window needs are
    decoded, in chunks, and only those are cropped; so parts of a session can be cut apart,
    in parallel, given the session's ``side`` (``side_px``; measured from ``ds`` when None).
    """
    centre, axis, lengths = _axis(ds, individual)
    side = side_px(ds, individual) if side is None else side
    wanted = np.stack([window_frames(w, n) for w in windows]) if windows else np.zeros((0, n), int)
    crops = np.zeros((len(windows), n, size, size), np.uint8)
    if not np.isfinite(side) or not len(windows):
        return crops
    where: dict[int, list[tuple[int, int]]] = {}
    for w, frames in enumerate(wanted):
        for k, frame in enumerate(frames):
            where.setdefault(int(frame), []).append((w, k))
    empty = background.image
    for first, chunk in video.iter_chunks(path, start=int(wanted.min()), stop=int(wanted.max()) + 1):
        for offset, frame in enumerate(chunk):
            if first + offset not in where:
                continue
            index = first + offset - first_frame
            if not 0 <= index < len(centre):
                continue
            if not (
                np.isfinite(centre[index]).all() and np.isfinite(axis[index]).all() and lengths[index] > 0
            ):
                continue
            diff = np.abs(background.relit(frame).astype(np.float32) - empty)
            shrink = 1.0
            while side / shrink > 3 * size:  # halve first: resampling by more than ~2x aliases
                diff, shrink = cv2.pyrDown(diff), 2 * shrink
            matrix = _affine(
                centre[index] / shrink, axis[index] / lengths[index], side / shrink, size, view == "bottom"
            )
            diff = cv2.warpAffine(
                diff, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT
            )
            peak = np.percentile(diff, 99)
            crop = keep_mouse(
                np.clip(diff * (255.0 / max(peak, background.threshold)), 0, 255).astype(np.uint8)
            )
            for w, k in where[first + offset]:
                crops[w, k] = crop
    return crops
