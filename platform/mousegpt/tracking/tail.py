"""The tail: stripping it from the body, finding its pieces, its tip and where it leaves the body.

The tail is much thinner than the body; an opening removes it, and the thin pieces of the
silhouette left outside the body (at a lower threshold, since tails are paler) are the tail
and, from below, the paws.
"""

from __future__ import annotations

import cv2
import numpy as np

from mousegpt.tracking.shapes import _farthest, _filled, _largest_outline


def _strip_tail(blob: np.ndarray) -> tuple[np.ndarray, float, float, np.ndarray]:
    """The body without the tail; the body's half-width and the opening radius (px); and
    each pixel's distance from the body's core (px).

    The tail is much thinner than the body: an opening with a disc of about half the
    body's half-width removes it and leaves the body. Openings and dilations are done with
    distance transforms, whose cost does not grow with the disc's radius.
    """
    inside = cv2.distanceTransform(blob, cv2.DIST_L2, 3)
    half_width = float(inside.max())
    radius = max(1.0, 0.5 * half_width)
    core = (inside > radius).astype(np.uint8)
    from_core = cv2.distanceTransform(1 - core, cv2.DIST_L2, 3)
    body = ((from_core <= radius) & (blob > 0)).astype(np.uint8)
    outline = _largest_outline(body)
    return (blob if outline is None else _filled(outline, body.shape)), half_width, radius, from_core


def _thin_pieces(
    silhouette: np.ndarray, from_core: np.ndarray, radius: float, half_width: float
) -> tuple[np.ndarray, np.ndarray]:
    """Pixels (x, y) of the thin pieces of ``silhouette`` attached to the body (the tail;
    paws seen from below), and the label of the piece each belongs to.

    Pieces are looked for outside a margin around the body that holds its shadow. Shadows
    and wall reflections are thick or apart from the body, and are left out.
    """
    # The body is the core dilated by ``radius``: beyond it by d means from_core > radius + d.
    outside = silhouette & (from_core > 2 * radius + 1).astype(np.uint8)
    n, labels = cv2.connectedComponents(outside, connectivity=8)
    if n <= 1:
        return np.empty((0, 2), np.float32), np.empty(0, np.int32)
    xy = cv2.findNonZero(outside).reshape(-1, 2)
    xs, ys = xy[:, 0], xy[:, 1]
    piece = labels[ys, xs]
    near = from_core[ys, xs] <= 3 * radius + 3
    touches = np.bincount(piece, weights=near, minlength=n) > 0
    # Thickness is measured away from the body: at its root the tail merges with the
    # body's shadow and blur, and looks as wide as neither.
    thickness = np.where(near, 0, cv2.distanceTransform(outside, cv2.DIST_L2, 3)[ys, xs])
    # Thickest point of each piece: a max per label, by sorting once (ufunc.at is slow).
    order = np.argsort(piece, kind="stable")
    labels_sorted = piece[order]
    starts = np.flatnonzero(np.r_[True, labels_sorted[1:] != labels_sorted[:-1]])
    thickest = np.zeros(n)
    thickest[labels_sorted[starts]] = np.maximum.reduceat(thickness[order], starts)
    thin = touches & (thickest <= max(2.0, 0.4 * half_width))
    keep = thin[piece]
    return xy[keep].astype(np.float32), piece[keep]


def _tail_tip(
    points: np.ndarray, piece: np.ndarray, nose: np.ndarray, tail_base: np.ndarray, half_width: float
) -> tuple[np.ndarray, np.ndarray]:
    """Far end of the tail: of the thin pieces that leave the body nearer its tail_base than
    its nose, the one reaching farthest from tail_base; NaN when none reaches beyond a body
    width (a hind paw does not). Also the tail's pixels (x, y), none when no tail is found.
    """
    none = np.full(2, np.nan, np.float32), np.empty((0, 2), np.float32)
    to_base = np.linalg.norm(points - tail_base, axis=1)
    near_tail = np.bincount(piece, weights=to_base < np.linalg.norm(points - nose, axis=1))
    candidates = near_tail[piece] > 0
    if not candidates.any():
        return none
    reach = np.where(candidates, to_base, -1.0)
    tail = piece == piece[np.argmax(reach)]
    far = to_base[tail]
    if far.max() < 2 * half_width:
        return none
    return points[tail][far >= far.max() - 2].mean(axis=0), points[tail]


def _tail_root(
    body: np.ndarray, tail: np.ndarray, from_core: np.ndarray, centre: np.ndarray, tail_base: np.ndarray
) -> np.ndarray:
    """Where the ``tail`` (its pixels, x and y) leaves the ``body``: the body's end in the
    direction from its ``centre`` to the tail's root. A mouse curled to a side ends its long
    axis beside its rump, not at the tail base; the tail shows which way the rump lies.
    ``tail_base`` (the axis's end) is kept when no tail is seen.
    """
    if not len(tail):
        return tail_base
    depth = from_core[tail[:, 1].astype(int), tail[:, 0].astype(int)]
    towards = tail[depth <= depth.min() + 1].mean(axis=0) - centre
    if np.linalg.norm(towards) < 1:
        return tail_base
    inside = cv2.findNonZero(body).reshape(-1, 2).astype(np.float32)
    return _farthest(inside, inside @ (towards / np.linalg.norm(towards)))
